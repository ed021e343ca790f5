/*
 * A small HTTP/1.0 client, written against POSIX sockets: fetch [-n] http://ADDRESS:PORT/PATH
 * prints the body and exits 0 on status 200. With -n it does everything non-blocking: connect()
 * returns EINPROGRESS, then poll() waits for the connection, for room to write and for data.
 * Built with examples/net/shim (socket, connect, getaddrinfo for wasi-libc).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int nonblocking;

static int wait_for(int fd, short events) {
	struct pollfd p = {.fd = fd, .events = events};
	int n = poll(&p, 1, 30000);
	if (n <= 0) {
		fprintf(stderr, "fetch: poll: %s\n", n == 0 ? "timed out" : strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv) {
	int arg = 1;
	if (arg < argc && strcmp(argv[arg], "-n") == 0) {
		nonblocking = 1;
		arg++;
	}
	char host[256], port[16] = "80", path[1024] = "/";
	if (arg >= argc || sscanf(argv[arg], "http://%255[^:/]:%15[0-9]%1023s", host, port, path) < 2) {
		fprintf(stderr, "usage: fetch [-n] http://ADDRESS:PORT/PATH\n");
		return 2;
	}
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "fetch: %s: %s\n", host, gai_strerror(rc));
		return 1;
	}
	int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
	if (fd < 0) {
		perror("fetch: socket");
		return 1;
	}
	if (nonblocking && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		perror("fetch: fcntl");
		return 1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (!(nonblocking && errno == EINPROGRESS) || wait_for(fd, POLLOUT) < 0) {
			perror("fetch: connect");
			return 1;
		}
	}
	freeaddrinfo(ai);
	char request[1400];
	int len = snprintf(request, sizeof request, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: cloister-fetch\r\n\r\n",
			   path, host);
	for (int done = 0; done < len;) {
		ssize_t n = write(fd, request + done, (size_t)(len - done));
		if (n < 0 && errno == EAGAIN && wait_for(fd, POLLOUT) == 0)
			continue;
		if (n < 0) {
			perror("fetch: write");
			return 1;
		}
		done += (int)n;
	}
	size_t cap = 1 << 16, used = 0;
	char *response = malloc(cap);
	for (;;) {
		if (used == cap)
			response = realloc(response, cap *= 2);
		if (!response) {
			fprintf(stderr, "fetch: out of memory\n");
			return 1;
		}
		ssize_t n = read(fd, response + used, cap - used);
		if (n < 0 && errno == EAGAIN) {
			if (wait_for(fd, POLLIN) < 0)
				return 1;
			continue;
		}
		if (n < 0) {
			perror("fetch: read");
			return 1;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	close(fd);
	char *body = NULL;
	for (size_t i = 0; i + 3 < used && !body; i++)
		if (memcmp(response + i, "\r\n\r\n", 4) == 0)
			body = response + i + 4;
	if (!body || used < 12 || memcmp(response + 8, " 200", 4) != 0) {
		fprintf(stderr, "fetch: no 200 response (%zu bytes)\n", used);
		return 1;
	}
	fwrite(body, 1, used - (size_t)(body - response), stdout);
	return 0;
}
