/* The ClientHello SNI peek (tlspeek.c) as the proxy and the sandbox use it:
 * called again on the whole buffer each time more bytes arrive. Byte 0 seeds
 * where the stream (the rest) is cut; every prefix is passed in a buffer of
 * exactly its size, so a read past it is an ASan report. Invariants: along
 * up to 64 prefixes the verdict is MORE, then one verdict that never changes
 * again (same name), and it is the verdict on the whole stream; MORE only
 * while the handshake message is not complete in the records seen (an
 * independent reassembly here) and below the peek window; a name is a
 * normalized host name (normalizing it again gives itself) and is the
 * lower-cased form of a length-prefixed run of the reassembled handshake. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tlspeek.h"
#include "fuzz_check.h"

#define WINDOW (KH_CLIENT_HELLO_MAX + 4 * 5) /* the peek's raw byte limit */

static uint8_t hs[1 << 20];

struct verdict {
	enum kh_tlspeek_result r;
	char host[KH_HOST_BUF];
};

/* Reassembles handshake records on their framing alone (type 22, a length).
 * Returns the prefix length at which the handshake message is complete, or 0
 * if it is not complete in len bytes; *hs_len gets the bytes gathered. */
static size_t complete_at(const uint8_t *p, size_t len, size_t *hs_len)
{
	size_t pos = 0, n = 0;

	while (pos + 5 <= len && p[pos] == 0x16) {
		size_t rl = (size_t)p[pos + 3] << 8 | p[pos + 4];

		if (pos + 5 + rl > len || n + rl > sizeof hs)
			break;
		memcpy(hs + n, p + pos + 5, rl);
		n += rl;
		pos += 5 + rl;
		if (n >= 4 && n - 4 >= ((size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3])) {
			*hs_len = n;
			return pos;
		}
	}
	*hs_len = n;
	return 0;
}

static struct verdict peek(const uint8_t *p, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct verdict v;

	CHECK(copy != NULL);
	memcpy(copy, p, len);
	memset(v.host, 0xAA, sizeof v.host);
	v.r = kh_tlspeek_sni(copy, len, v.host);
	free(copy);
	CHECK(v.r == KH_TLSPEEK_MORE || v.r == KH_TLSPEEK_SNI || v.r == KH_TLSPEEK_NO_SNI ||
	      v.r == KH_TLSPEEK_BAD);
	if (v.r != KH_TLSPEEK_SNI)
		v.host[0] = '\0';
	return v;
}

static bool same(const struct verdict *a, const struct verdict *b)
{
	return a->r == b->r && strcmp(a->host, b->host) == 0;
}

/* Is name the lower-cased bytes (one trailing dot allowed) of a run in h
 * that a two-byte length announces? */
static bool name_in(const char *name, const uint8_t *h, size_t n)
{
	size_t nl = strlen(name);

	for (size_t i = 2; i + nl <= n; i++) {
		size_t l = (size_t)h[i - 2] << 8 | h[i - 1];
		bool eq = l == nl || (l == nl + 1 && i + nl < n && h[i + nl] == '.');

		for (size_t k = 0; eq && k < nl; k++) {
			uint8_t c = h[i + k];

			eq = (uint8_t)name[k] == (c >= 'A' && c <= 'Z' ? c + 32 : c);
		}
		if (eq)
			return true;
	}
	return false;
}

static void check_name(const struct verdict *v, const uint8_t *p, size_t len)
{
	char again[KH_HOST_BUF];
	size_t hs_len;

	CHECK(memchr(v->host, '\0', sizeof v->host) != NULL);
	CHECK(kh_host_normalize(kh_slice_cstr(v->host), again) == KH_HOST_NAME);
	CHECK(strcmp(again, v->host) == 0);
	CHECK(complete_at(p, len, &hs_len) != 0);
	CHECK(name_in(v->host, hs, hs_len));
}

/* MORE only while the message can still complete: not yet complete in the
 * records seen (done is where the whole stream completes it, 0 if never; the
 * reassembly reads each record only once it is whole, so a prefix completes
 * it exactly when it reaches done), and below the window. */
static void check_more(size_t cut, size_t done)
{
	CHECK(cut < WINDOW);
	CHECK(done == 0 || cut < done);
}

#define MAX_CUTS 64

static int by_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static void add(size_t *cuts, size_t *n, size_t c, size_t len)
{
	if (c >= 1 && c <= len && *n < MAX_CUTS)
		cuts[(*n)++] = c;
}

/* Where to cut, at most MAX_CUTS places so a 16 KiB input stays fast: the
 * last bytes below the window, the edges (header seen, payload one byte
 * short, payload complete) of the first records and of some chosen by rng,
 * and random places. Sorted, duplicates kept (harmless). */
static size_t make_cuts(const uint8_t *p, size_t len, uint32_t rng, size_t *cuts)
{
	size_t n = 0, pos = 0, rec = 0;

	for (size_t w = WINDOW - 6; w <= WINDOW; w++)
		add(cuts, &n, w, len);
	while (pos + 5 <= len && n + 3 <= MAX_CUTS - 25) {
		size_t end = pos + 5 + ((size_t)p[pos + 3] << 8 | p[pos + 4]);

		rng = rng * 1103515245u + 12345u;
		if (rec++ < 4 || (rng >> 16) % 16 == 0) {
			add(cuts, &n, pos + 5, len);
			add(cuts, &n, end - 1, len);
			add(cuts, &n, end, len);
		}
		pos = end;
	}
	for (size_t k = 0; k < 24; k++) {
		rng = rng * 1103515245u + 12345u;
		add(cuts, &n, 1 + (size_t)(rng >> 8) % (len ? len : 1), len);
	}
	add(cuts, &n, len, len);
	qsort(cuts, n, sizeof *cuts, by_size);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 1;
	size_t len = size ? size - 1 : 0, cuts[MAX_CUTS], n, done, hs_len;
	uint32_t rng = size ? data[0] * 2654435761u + 1 : 1;
	struct verdict whole, v, first = { KH_TLSPEEK_MORE, "" };

	if (size == 0)
		return 0;
	whole = peek(p, len);
	done = complete_at(p, len, &hs_len);
	if (whole.r == KH_TLSPEEK_MORE)
		check_more(len, done);
	if (whole.r == KH_TLSPEEK_SNI)
		check_name(&whole, p, len);
	n = make_cuts(p, len, rng, cuts);
	for (size_t i = 0; i < n; i++) {
		v = peek(p, cuts[i]);
		if (v.r == KH_TLSPEEK_MORE) {
			CHECK(first.r == KH_TLSPEEK_MORE); /* never MORE after a verdict */
			check_more(cuts[i], done);
			continue;
		}
		if (first.r == KH_TLSPEEK_MORE)
			first = v;
		CHECK(same(&v, &first));
	}
	CHECK(same(&first, &whole));
	return 0;
}
