/* Base64 (RFC 4648 section 4, the alphabet of HTTP Basic credentials).
 * Decoding is strict: padding optional but never in the middle, no spaces.
 * The lenient decoder exists only to look for proxy tokens in values that
 * are not valid base64 (an upstream may decode more loosely than we do).
 * Encoding streams, so a long secret never needs a second buffer. Pure: no
 * I/O, no allocation. */
#ifndef KH_B64_H
#define KH_B64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes in into out (capacity cap). Returns the length, or -1 if in is not
 * valid base64 or the result does not fit. */
long kh_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap);

/* Decodes every 4 alphabet characters (either alphabet: + / or - _), skipping
 * everything else, starting at character offset skip (0-3) so that a token
 * encoded at any alignment is seen. Returns the length written (<= cap). */
size_t kh_b64_decode_loose(const char *in, size_t len, unsigned skip, uint8_t *out, size_t cap);

struct kh_b64_enc {
	uint8_t carry[3];
	size_t n; /* bytes waiting in carry */
	void (*emit)(void *arg, const char *p, size_t n);
	void *arg;
};

void kh_b64_enc_init(struct kh_b64_enc *e, void (*emit)(void *, const char *, size_t), void *arg);
void kh_b64_enc_put(struct kh_b64_enc *e, const void *p, size_t n);
void kh_b64_enc_finish(struct kh_b64_enc *e); /* flushes with '=' padding */

#endif
