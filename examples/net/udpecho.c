/*
 * A UDP echo server, written against POSIX sockets: udpecho PORT [COUNT] binds 0.0.0.0:PORT, waits
 * with poll() for each datagram, sends it back to where it came from with sendto(), and prints one
 * line per datagram; it exits 0 after COUNT datagrams (default: never). Built with examples/net/shim
 * (socket, bind, sendto, recvfrom, getaddrinfo for wasi-libc).
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: udpecho PORT [COUNT]\n");
		return 2;
	}
	long count = argc == 3 ? strtol(argv[2], NULL, 10) : -1;
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE}, *ai;
	int rc = getaddrinfo(NULL, argv[1], &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "udpecho: %s: %s\n", argv[1], gai_strerror(rc));
		return 1;
	}
	int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		perror("udpecho: socket/bind");
		return 1;
	}
	freeaddrinfo(ai);
	printf("udpecho: listening on UDP port %s\n", argv[1]);
	fflush(stdout);
	static char buf[65536];
	for (long n = 0; count < 0 || n < count; n++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, -1) != 1) {
			perror("udpecho: poll");
			return 1;
		}
		struct sockaddr_in from;
		socklen_t fromlen = sizeof from;
		ssize_t got = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fromlen);
		if (got < 0) {
			perror("udpecho: recvfrom");
			return 1;
		}
		if (sendto(fd, buf, (size_t)got, 0, (struct sockaddr *)&from, fromlen) != got) {
			perror("udpecho: sendto");
			return 1;
		}
		char addr[INET_ADDRSTRLEN];
		printf("udpecho: %zd bytes from %s:%u\n", got, inet_ntop(AF_INET, &from.sin_addr, addr, sizeof addr),
		       ntohs(from.sin_port));
		fflush(stdout);
	}
	return 0;
}
