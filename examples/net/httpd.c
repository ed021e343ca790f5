/*
 * A small HTTP/1.0 server, written against POSIX sockets only: it serves on the listening socket it
 * is given as descriptor 3 (wasmtime's and cloister's `--tcplisten ADDR:PORT`), answers
 *   GET /            with a short page naming the path,
 *   GET /bytes/N     with N bytes (N up to 64 MiB) of a fixed pattern,
 * and closes each connection after its reply. It needs nothing from Cloister: the same .wasm runs
 * under `wasmtime run --tcplisten`. Usage: httpd [MAX_REQUESTS] (0 or none: serve forever).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_FD 3

static int write_all(int fd, const char *data, size_t len) {
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads until the end of the request head; returns its length or -1. */
static int read_head(int fd, char *buf, size_t size) {
	size_t used = 0;
	while (used + 1 < size) {
		ssize_t n = read(fd, buf + used, size - 1 - used);
		if (n <= 0)
			return -1;
		used += (size_t)n;
		buf[used] = 0;
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			return (int)used;
	}
	return -1;
}

static void serve(int conn) {
	char req[4096];
	char path[1024];
	char head[256];
	if (read_head(conn, req, sizeof req) < 0 || sscanf(req, "GET %1023s ", path) != 1) {
		const char *bad = "HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
		write_all(conn, bad, strlen(bad));
		return;
	}
	if (strncmp(path, "/bytes/", 7) == 0) {
		long n = strtol(path + 7, NULL, 10);
		if (n < 0 || n > 64L * 1024 * 1024)
			n = 0;
		int hl = snprintf(head, sizeof head,
				  "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n"
				  "Content-Length: %ld\r\n\r\n",
				  n);
		if (write_all(conn, head, (size_t)hl) < 0)
			return;
		static char block[16384];
		for (size_t i = 0; i < sizeof block; i++)
			block[i] = (char)('a' + i % 26);
		while (n > 0) {
			size_t chunk = n < (long)sizeof block ? (size_t)n : sizeof block;
			if (write_all(conn, block, chunk) < 0)
				return;
			n -= (long)chunk;
		}
		return;
	}
	char body[1200];
	int bl = snprintf(body, sizeof body, "hello from the enclave, you asked for %s\n", path);
	int hl = snprintf(head, sizeof head,
			  "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", bl);
	if (write_all(conn, head, (size_t)hl) == 0)
		write_all(conn, body, (size_t)bl);
}

int main(int argc, char **argv) {
	long max = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
	printf("httpd: serving on descriptor %d\n", LISTEN_FD);
	fflush(stdout);
	for (long served = 0; max == 0 || served < max; served++) {
		int conn = accept(LISTEN_FD, NULL, NULL);
		if (conn < 0) {
			perror("accept");
			return 1;
		}
		serve(conn);
		shutdown(conn, SHUT_WR);
		close(conn);
	}
	return 0;
}
