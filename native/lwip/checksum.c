/* The Internet checksum lwIP computes for every segment it sends and checks for every one it
 * receives (lwipopts.h points LWIP_CHKSUM here): wasm SIMD adds eight 16-bit words per step, where
 * lwIP's own loop adds one 32-bit word and its carry at a time. That loop was the largest cost in
 * the wasm of a bulk TCP transfer.
 *
 * Contract, as lwIP's lwip_standard_chksum: the ones' complement sum, not inverted, of the bytes
 * from dataptr taken as 16-bit words in memory (host, little-endian) order, a trailing odd byte as
 * the low byte of a last word; dataptr may be at any address (wasm loads need no alignment, so the
 * pairing of bytes always starts at dataptr, which is what lwIP's byte swap for odd addresses
 * achieves). Ones' complement addition commutes with a byte swap of every word, so summing in host
 * order gives the byte-swapped network-order sum, which is how lwIP uses the result. */
#include <stdint.h>
#include <string.h>
#include <wasm_simd128.h>

#include "checksum.h"

/* Each 16-byte step adds at most 2 * 0xffff to a 32-bit lane: 32768 steps (512 KiB) cannot
 * overflow it, and lwIP never sums more than a 64 KiB packet at once; the bound keeps it exact
 * for any length. */
#define MAX_STEPS 32768

uint16_t cl_chksum(const void *dataptr, int len) {
	const uint8_t *p = dataptr;
	uint64_t sum = 0;
	while (len >= 16) {
		int steps = len / 16 < MAX_STEPS ? len / 16 : MAX_STEPS;
		v128_t a = wasm_i32x4_splat(0);
		v128_t b = wasm_i32x4_splat(0);
		int i = 0;
		/* Two accumulators: the adds of consecutive steps do not wait for each other. */
		for (; i + 2 <= steps; i += 2, p += 32) {
			a = wasm_i32x4_add(a, wasm_u32x4_extadd_pairwise_u16x8(wasm_v128_load(p)));
			b = wasm_i32x4_add(b, wasm_u32x4_extadd_pairwise_u16x8(wasm_v128_load(p + 16)));
		}
		if (i < steps) {
			a = wasm_i32x4_add(a, wasm_u32x4_extadd_pairwise_u16x8(wasm_v128_load(p)));
			p += 16;
		}
		len -= steps * 16;
		/* Both together are still under 2^32 per lane: at most MAX_STEPS steps went into them. */
		uint32_t lanes[4];
		wasm_v128_store(lanes, wasm_i32x4_add(a, b));
		sum += (uint64_t)lanes[0] + lanes[1] + lanes[2] + lanes[3];
	}
	for (; len >= 2; len -= 2, p += 2) {
		uint16_t w;
		memcpy(&w, p, 2);
		sum += w;
	}
	if (len > 0)
		sum += *p;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}
