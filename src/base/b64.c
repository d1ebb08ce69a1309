#include "base/b64.h"

#include <string.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of a base64 character (url-safe ones too when loose), or -1. */
static int value_of(char c, bool loose)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || (loose && c == '-'))
		return 62;
	if (c == '/' || (loose && c == '_'))
		return 63;
	return -1;
}

long kh_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	uint32_t acc = 0;
	size_t o = 0, bits = 0, pad = 0;

	while (len > 0 && in[len - 1] == '=' && pad < 2) {
		len--;
		pad++;
	}
	if ((len + pad) % 4 != 0 && pad != 0)
		return -1;
	if (len % 4 == 1)
		return -1; /* one character cannot finish a byte */
	for (size_t i = 0; i < len; i++) {
		int v = value_of(in[i], false);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == cap)
				return -1;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* Non-canonical trailing bits ("QQ" vs "QR") are accepted as servers do. */
	return (long)o;
}

size_t kh_b64_decode_loose(const char *in, size_t len, unsigned skip, uint8_t *out, size_t cap)
{
	uint32_t acc = 0;
	size_t o = 0, bits = 0;

	for (size_t i = 0; i < len && o < cap; i++) {
		int v = value_of(in[i], true);

		if (v < 0)
			continue;
		if (skip > 0) {
			skip--;
			continue;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return o;
}

void kh_b64_enc_init(struct kh_b64_enc *e, void (*emit)(void *, const char *, size_t), void *arg)
{
	memset(e, 0, sizeof *e);
	e->emit = emit;
	e->arg = arg;
}

static void quad(struct kh_b64_enc *e, const uint8_t *b, size_t n)
{
	char q[4];
	uint32_t v = (uint32_t)b[0] << 16 | (n > 1 ? (uint32_t)b[1] << 8 : 0) | (n > 2 ? b[2] : 0);

	q[0] = alphabet[v >> 18 & 63];
	q[1] = alphabet[v >> 12 & 63];
	q[2] = n > 1 ? alphabet[v >> 6 & 63] : '=';
	q[3] = n > 2 ? alphabet[v & 63] : '=';
	e->emit(e->arg, q, 4);
}

void kh_b64_enc_put(struct kh_b64_enc *e, const void *p, size_t n)
{
	const uint8_t *s = p;

	for (size_t i = 0; i < n; i++) {
		e->carry[e->n++] = s[i];
		if (e->n == 3) {
			quad(e, e->carry, 3);
			e->n = 0;
		}
	}
}

void kh_b64_enc_finish(struct kh_b64_enc *e)
{
	if (e->n > 0)
		quad(e, e->carry, e->n);
	e->n = 0;
	memset(e->carry, 0, sizeof e->carry); /* it held secret bytes */
}
