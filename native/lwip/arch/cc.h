/* lwIP's platform header for Cloister's wasm32-wasi build: wasi-libc gives the C types; diagnostics
 * and randomness come from the embedder (glue.c), and a failed assertion traps (the enclave fails
 * closed rather than run a corrupted stack). */
#ifndef CLOISTER_LWIP_ARCH_CC_H
#define CLOISTER_LWIP_ARCH_CC_H

#include <stdint.h>
#include <stdlib.h>

#define BYTE_ORDER LITTLE_ENDIAN
#define LWIP_TIMEVAL_PRIVATE 0

void cl_assert_failed(const char *message, const char *file, int line) __attribute__((noreturn));
uint32_t cl_random32(void);

#define LWIP_PLATFORM_DIAG(x) \
	do {                      \
	} while (0)
#define LWIP_PLATFORM_ASSERT(x) cl_assert_failed((x), __FILE__, __LINE__)
#define LWIP_RAND() cl_random32()

#endif
