/*
 * Cloister's socket shim: getaddrinfo() and friends, which wasi-libc does not have. Names resolve
 * inside the enclave only: numeric IPv4 addresses, "localhost" and the names of the [Hosts] section
 * of the measured network configuration; the tunnel has no DNS.
 */
#ifndef CLOISTER_NETDB_H
#define CLOISTER_NETDB_H
#include <sys/socket.h>
#ifdef __cplusplus
extern "C" {
#endif

struct addrinfo {
	int ai_flags;
	int ai_family;
	int ai_socktype;
	int ai_protocol;
	socklen_t ai_addrlen;
	struct sockaddr *ai_addr;
	char *ai_canonname;
	struct addrinfo *ai_next;
};

#define AI_PASSIVE 0x01
#define AI_CANONNAME 0x02
#define AI_NUMERICHOST 0x04
#define AI_NUMERICSERV 0x400

#define EAI_BADFLAGS -1
#define EAI_NONAME -2
#define EAI_FAMILY -6
#define EAI_SOCKTYPE -7
#define EAI_SERVICE -8
#define EAI_MEMORY -10
#define EAI_SYSTEM -11

int getaddrinfo(const char *__restrict, const char *__restrict, const struct addrinfo *__restrict,
		struct addrinfo **__restrict);
void freeaddrinfo(struct addrinfo *);
const char *gai_strerror(int);

#ifdef __cplusplus
}
#endif
#endif
