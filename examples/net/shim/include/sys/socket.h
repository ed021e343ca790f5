/*
 * Cloister's socket shim, compile-time half: wasi-libc's <sys/socket.h> with the declarations it
 * leaves out (WASI preview1 has no socket, bind, connect, listen, getsockname, getpeername,
 * setsockopt, sendto, recvfrom). Put this directory first on the include path (-isystem) and link cloister_socket.c.
 */
#include_next <sys/socket.h>

#ifndef CLOISTER_SOCKET_SHIM_H
#define CLOISTER_SOCKET_SHIM_H
#ifdef __cplusplus
extern "C" {
#endif
int socket(int, int, int);
int bind(int, const struct sockaddr *, socklen_t);
int connect(int, const struct sockaddr *, socklen_t);
int listen(int, int);
int getsockname(int, struct sockaddr *__restrict, socklen_t *__restrict);
int getpeername(int, struct sockaddr *__restrict, socklen_t *__restrict);
int setsockopt(int, int, int, const void *, socklen_t);
ssize_t sendto(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
ssize_t recvfrom(int, void *__restrict, size_t, int, struct sockaddr *__restrict, socklen_t *__restrict);
#ifdef __cplusplus
}
#endif
#endif
