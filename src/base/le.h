/* Little-endian integers of 1 to 8 bytes in byte buffers: the privsep
 * channels' frames, reports and messages, and the fronts' policy blob. */
#ifndef KH_LE_H
#define KH_LE_H

#include <stddef.h>
#include <stdint.h>

/* The n-byte (n <= 8) little-endian value at p. */
static inline uint64_t kh_le_get(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = n; i > 0; i--)
		v = v << 8 | p[i - 1];
	return v;
}

/* v's low n bytes (n <= 8) at p, little-endian. */
static inline void kh_le_put(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

#endif
