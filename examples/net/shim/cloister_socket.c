/*
 * Cloister's socket shim, link-time half: socket(), bind(), listen(), connect(), getsockname(),
 * getpeername(), setsockopt(), sendto(), recvfrom() and getaddrinfo() over the enclave's `cloister_sock` import module
 * (src/enclave/net/socket-calls.ts), so that a C program written for POSIX sockets links against
 * Debian's wasi-libc unchanged. accept(), recv(), send(), shutdown(), read(), write(), poll() and
 * fcntl(O_NONBLOCK) are wasi-libc's own, over WASI preview1.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define IMPORT(name) __attribute__((import_module("cloister_sock"), import_name(name)))

/* The module's address: family, port (host order), IPv4 address (network order). */
struct cl_addr {
	uint16_t family;
	uint16_t port;
	uint8_t addr[4];
};

IMPORT("sock_open") uint32_t cl_sock_open(int32_t af, int32_t type, int32_t proto, int32_t *fd);
IMPORT("sock_bind") uint32_t cl_sock_bind(int32_t fd, const struct cl_addr *addr);
IMPORT("sock_listen") uint32_t cl_sock_listen(int32_t fd, int32_t backlog);
IMPORT("sock_connect") uint32_t cl_sock_connect(int32_t fd, const struct cl_addr *addr);
IMPORT("sock_addr_local") uint32_t cl_sock_addr_local(int32_t fd, struct cl_addr *addr);
IMPORT("sock_addr_peer") uint32_t cl_sock_addr_peer(int32_t fd, struct cl_addr *addr);
IMPORT("sock_set_opt_flag") uint32_t cl_sock_set_opt_flag(int32_t fd, int32_t option, int32_t flag);
IMPORT("sock_send_to")
uint32_t cl_sock_send_to(int32_t fd, const struct iovec *iovs, uint32_t iovs_len, uint32_t flags,
			 const struct cl_addr *addr, uint32_t *sent);
IMPORT("sock_recv_from")
uint32_t cl_sock_recv_from(int32_t fd, struct iovec *iovs, uint32_t iovs_len, uint32_t flags, uint32_t *received,
			   uint16_t *ro_flags, struct cl_addr *addr);
IMPORT("resolve")
uint32_t cl_resolve(const char *name, uint32_t name_len, uint32_t port, struct cl_addr *addrs, uint32_t naddrs,
		    uint32_t *count);

/* wasi-libc's errno values are WASI's: a call's result is the errno as it is. */
static int fail(uint32_t err) {
	if (err == 0)
		return 0;
	errno = (int)err;
	return -1;
}

static int from_sockaddr(const struct sockaddr *sa, socklen_t len, struct cl_addr *out) {
	const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
	if (!sa || len < sizeof(struct sockaddr_in)) {
		errno = EINVAL;
		return -1;
	}
	if (in->sin_family != AF_INET) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	out->family = 1;
	out->port = ntohs(in->sin_port);
	memcpy(out->addr, &in->sin_addr, 4);
	return 0;
}

static void to_sockaddr(const struct cl_addr *a, struct sockaddr *sa, socklen_t *len) {
	struct sockaddr_in in;
	memset(&in, 0, sizeof in);
	in.sin_family = AF_INET;
	in.sin_port = htons(a->port);
	memcpy(&in.sin_addr, a->addr, 4);
	socklen_t n = *len < sizeof in ? *len : sizeof in;
	memcpy(sa, &in, n);
	*len = sizeof in;
}

int socket(int domain, int type, int protocol) {
	int32_t fd = -1;
	if (fail(cl_sock_open(domain, type, protocol, &fd)))
		return -1;
	return fd;
}

int bind(int fd, const struct sockaddr *sa, socklen_t len) {
	struct cl_addr a;
	if (from_sockaddr(sa, len, &a))
		return -1;
	return fail(cl_sock_bind(fd, &a));
}

int listen(int fd, int backlog) { return fail(cl_sock_listen(fd, backlog)); }

int connect(int fd, const struct sockaddr *sa, socklen_t len) {
	struct cl_addr a;
	if (from_sockaddr(sa, len, &a))
		return -1;
	return fail(cl_sock_connect(fd, &a));
}

int getsockname(int fd, struct sockaddr *restrict sa, socklen_t *restrict len) {
	struct cl_addr a;
	if (fail(cl_sock_addr_local(fd, &a)))
		return -1;
	to_sockaddr(&a, sa, len);
	return 0;
}

int getpeername(int fd, struct sockaddr *restrict sa, socklen_t *restrict len) {
	struct cl_addr a;
	if (fail(cl_sock_addr_peer(fd, &a)))
		return -1;
	to_sockaddr(&a, sa, len);
	return 0;
}

int setsockopt(int fd, int level, int name, const void *value, socklen_t len) {
	(void)level;
	int flag = value && len >= sizeof(int) ? *(const int *)value : 0;
	return fail(cl_sock_set_opt_flag(fd, name, flag));
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *sa, socklen_t salen) {
	if (!sa)
		return send(fd, buf, len, flags);
	struct cl_addr a;
	if (from_sockaddr(sa, salen, &a))
		return -1;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	uint32_t sent = 0;
	if (fail(cl_sock_send_to(fd, &iov, 1, (uint32_t)flags, &a, &sent)))
		return -1;
	return (ssize_t)sent;
}

ssize_t recvfrom(int fd, void *restrict buf, size_t len, int flags, struct sockaddr *restrict sa,
		 socklen_t *restrict salen) {
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct cl_addr a;
	uint32_t received = 0;
	uint16_t ro_flags = 0;
	if (fail(cl_sock_recv_from(fd, &iov, 1, (uint32_t)flags, &received, &ro_flags, &a)))
		return -1;
	if (sa && salen)
		to_sockaddr(&a, sa, salen);
	return (ssize_t)received;
}

int getaddrinfo(const char *restrict host, const char *restrict service, const struct addrinfo *restrict hints,
		struct addrinfo **restrict res) {
	if (hints && hints->ai_family != AF_UNSPEC && hints->ai_family != AF_INET)
		return EAI_FAMILY;
	int socktype = hints && hints->ai_socktype ? hints->ai_socktype : SOCK_STREAM;
	if (socktype != SOCK_STREAM && socktype != SOCK_DGRAM)
		return EAI_SOCKTYPE;
	long port = 0;
	if (service) {
		char *end;
		port = strtol(service, &end, 10);
		if (*end || port < 0 || port > 65535)
			return EAI_SERVICE;
	}
	const char *name = host ? host : (hints && (hints->ai_flags & AI_PASSIVE) ? "0.0.0.0" : "localhost");
	struct cl_addr a;
	uint32_t count = 0;
	uint32_t err = cl_resolve(name, (uint32_t)strlen(name), (uint32_t)port, &a, 1, &count);
	if (err || count == 0)
		return EAI_NONAME;
	struct {
		struct addrinfo info;
		struct sockaddr_in in;
	} *out = calloc(1, sizeof *out);
	if (!out)
		return EAI_MEMORY;
	socklen_t len = sizeof out->in;
	to_sockaddr(&a, (struct sockaddr *)&out->in, &len);
	out->info.ai_family = AF_INET;
	out->info.ai_socktype = socktype;
	out->info.ai_protocol = socktype == SOCK_DGRAM ? IPPROTO_UDP : IPPROTO_TCP;
	out->info.ai_addrlen = len;
	out->info.ai_addr = (struct sockaddr *)&out->in;
	*res = &out->info;
	return 0;
}

void freeaddrinfo(struct addrinfo *ai) {
	while (ai) {
		struct addrinfo *next = ai->ai_next;
		free(ai);
		ai = next;
	}
}

const char *gai_strerror(int code) {
	switch (code) {
	case EAI_NONAME:
		return "name does not resolve (the enclave knows numeric IPv4 addresses, localhost and the names in its configuration's [Hosts])";
	case EAI_SERVICE:
		return "bad port";
	case EAI_MEMORY:
		return "out of memory";
	default:
		return "getaddrinfo failed";
	}
}
