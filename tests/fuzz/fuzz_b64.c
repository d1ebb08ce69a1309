/* Base64 (b64.c). Byte 0: bits 0-1 the loose decoder's skip, the rest seed
 * the encoder's piece sizes and a small cap; the rest of the input is both
 * bytes to encode and text to decode. Invariants:
 * - encoding in pieces = in one go, 4 * ceil(n / 3) characters of the
 *   standard alphabet with exactly the padding needed; the carry is wiped;
 *   strict decoding gives the bytes back (padded or not) into a buffer of
 *   exactly their size and refuses one a byte short; the loose decoder gives
 *   them back from the standard and the url alphabet.
 * - strict decoding of any text succeeds exactly when an independent
 *   validity check says so; then the length is what the text's size
 *   implies, the bytes re-encode to the text in canonical form (padding
 *   added, unused low bits cleared), and a one-byte-short buffer is refused.
 * - loose decoding ignores everything outside both alphabets, reads - and _
 *   as + and /, skips `skip` characters, yields 6 bits per character, and a
 *   smaller cap yields a prefix. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/b64.h"
#include "fuzz_check.h"

#define MAXIN 8192

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

struct sink {
	char buf[MAXIN / 3 * 4 + 8];
	size_t len;
};

static void collect(void *arg, const char *p, size_t n)
{
	struct sink *s = arg;

	CHECK(n <= sizeof s->buf - s->len);
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static int val(char c)
{
	const char *a = c ? strchr(alphabet, c) : NULL;

	return a ? (int)(a - alphabet) : -1;
}

/* strict decode into a heap buffer of exactly cap bytes */
static long decode_exact(const char *t, size_t n, uint8_t *copy_out, size_t cap)
{
	uint8_t *b = malloc(cap ? cap : 1);
	long r;

	CHECK(b != NULL);
	r = kh_b64_decode(t, n, b, cap);
	if (r > 0 && copy_out != NULL)
		memcpy(copy_out, b, (size_t)r);
	free(b);
	return r;
}

static void encode(const uint8_t *p, size_t n, uint32_t seed, struct sink *s)
{
	struct kh_b64_enc e;
	size_t off = 0;

	s->len = 0;
	kh_b64_enc_init(&e, collect, s);
	while (off < n) {
		size_t step = seed ? 1 + seed % 7 : n - off;

		seed = seed * 1103515245u + 12345u;
		if (step > n - off)
			step = n - off;
		kh_b64_enc_put(&e, p + off, step);
		off += step;
	}
	kh_b64_enc_finish(&e);
	CHECK(e.n == 0 && e.carry[0] == 0 && e.carry[1] == 0 && e.carry[2] == 0);
}

static void round_trip(const uint8_t *p, size_t n, uint32_t seed)
{
	static struct sink one, many;
	static uint8_t back[MAXIN];
	size_t pad = (3 - n % 3) % 3;

	encode(p, n, 0, &one);
	encode(p, n, seed | 1, &many);
	CHECK(one.len == many.len && memcmp(one.buf, many.buf, one.len) == 0);
	CHECK(one.len == (n + 2) / 3 * 4);
	for (size_t i = 0; i < one.len; i++)
		CHECK(i >= one.len - pad ? one.buf[i] == '=' : val(one.buf[i]) >= 0);
	CHECK(decode_exact(one.buf, one.len, back, n) == (long)n);
	CHECK(memcmp(back, p, n) == 0);
	CHECK(decode_exact(one.buf, one.len - pad, back, n) == (long)n); /* unpadded */
	CHECK(memcmp(back, p, n) == 0);
	if (n > 0)
		CHECK(decode_exact(one.buf, one.len, NULL, n - 1) == -1);
	CHECK(kh_b64_decode_loose(one.buf, one.len, 0, back, n) == n);
	CHECK(memcmp(back, p, n) == 0);
	for (size_t i = 0; i < one.len; i++) /* the url alphabet */
		one.buf[i] = one.buf[i] == '+' ? '-' : one.buf[i] == '/' ? '_' : one.buf[i];
	CHECK(kh_b64_decode_loose(one.buf, one.len, 0, back, n) == n);
	CHECK(memcmp(back, p, n) == 0);
}

/* RFC 4648 with optional padding, as b64.h promises. */
static bool valid(const char *t, size_t n, size_t *data_chars)
{
	size_t pad = 0;

	while (pad < 2 && n > 0 && t[n - 1] == '=') {
		n--;
		pad++;
	}
	*data_chars = n;
	for (size_t i = 0; i < n; i++)
		if (val(t[i]) < 0)
			return false;
	return n % 4 != 1 && (pad == 0 || (n + pad) % 4 == 0);
}

static void strict(const char *t, size_t n)
{
	static uint8_t out[MAXIN];
	static struct sink s;
	size_t chars, want;
	long r = decode_exact(t, n, out, MAXIN);
	char canon[4];

	if (!valid(t, n, &chars)) {
		CHECK(r == -1);
		return;
	}
	want = chars / 4 * 3 + (chars % 4 == 0 ? 0 : chars % 4 - 1);
	CHECK(r == (long)want && want <= n * 3 / 4);
	encode(out, want, 0, &s);
	CHECK(s.len == (chars + 3) / 4 * 4);
	CHECK(memcmp(s.buf, t, chars / 4 * 4) == 0);
	if (chars % 4 != 0) { /* the last group, padded, low bits cleared */
		int v = val(t[chars - 1]) & (chars % 4 == 2 ? 0x30 : 0x3C);

		memcpy(canon, t + chars / 4 * 4, chars % 4);
		canon[chars % 4 - 1] = alphabet[v];
		for (size_t i = chars % 4; i < 4; i++)
			canon[i] = '=';
		CHECK(memcmp(s.buf + chars / 4 * 4, canon, 4) == 0);
	}
	if (want > 0)
		CHECK(decode_exact(t, n, NULL, want - 1) == -1);
}

static void loose(const char *t, size_t n, unsigned skip, size_t small)
{
	static uint8_t a[MAXIN], b[MAXIN], c[MAXIN];
	static char filt[MAXIN];
	size_t m = 0, na, nb, nc;

	for (size_t i = 0; i < n; i++) {
		char ch = t[i] == '-' ? '+' : t[i] == '_' ? '/' : t[i];

		if (val(ch) >= 0)
			filt[m++] = ch;
	}
	na = kh_b64_decode_loose(t, n, skip, a, MAXIN);
	nb = kh_b64_decode_loose(filt, m, skip, b, MAXIN);
	CHECK(na == nb && memcmp(a, b, na) == 0);
	CHECK(na == (m > skip ? (m - skip) * 6 / 8 : 0));
	nc = kh_b64_decode_loose(t, n, skip, c, small);
	CHECK(nc == (small < na ? small : na) && memcmp(a, c, nc) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *t = (const char *)data + 1;
	size_t n;

	if (size == 0 || size - 1 > MAXIN)
		return 0;
	n = size - 1;
	round_trip(data + 1, n, data[0] >> 2);
	strict(t, n);
	loose(t, n, data[0] & 3, data[0] >> 2);
	return 0;
}
