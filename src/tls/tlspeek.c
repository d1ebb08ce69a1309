#include "tls/tlspeek.h"

#include <stdbool.h>
#include <string.h>

#define RECORD_HEADER   5
#define TYPE_HANDSHAKE  0x16
#define HS_CLIENT_HELLO 0x01
#define EXT_SERVER_NAME 0x0000

/* A bounds-checked reader over a byte range. */
struct rd {
	const uint8_t *p;
	size_t len, pos;
	bool bad;
};

static uint32_t get(struct rd *r, size_t n)
{
	uint32_t v = 0;

	if (r->bad || n > r->len - r->pos) {
		r->bad = true;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		v = (v << 8) | r->p[r->pos++];
	return v;
}

static void skip(struct rd *r, size_t n)
{
	if (r->bad || n > r->len - r->pos)
		r->bad = true;
	else
		r->pos += n;
}

/* A sub-reader over the next n bytes (the parent skips them). */
static struct rd sub(struct rd *r, size_t n)
{
	struct rd s = { r->p + r->pos, n, 0, false };

	if (r->bad || n > r->len - r->pos) {
		r->bad = true;
		s.bad = true;
		s.len = 0;
		return s;
	}
	r->pos += n;
	return s;
}

/* Raw bytes a ClientHello may span: room for KH_CLIENT_HELLO_MAX handshake
 * bytes in four records. The callers peek at more than this, so a hello that
 * fits is always seen whole. */
#define PEEK_WINDOW (KH_CLIENT_HELLO_MAX + 4 * RECORD_HEADER)

static size_t hs_length(const uint8_t *hs)
{
	return ((size_t)hs[1] << 16) | ((size_t)hs[2] << 8) | hs[3];
}

/* Concatenates handshake bytes from consecutive records into out.
 * Returns bytes gathered, or -1 if a record is not a handshake record or the
 * message cannot complete within PEEK_WINDOW bytes and cap. That is decided
 * from the bytes alone, never from how many have arrived, so every way of
 * cutting the same stream gets the same verdict. */
static long gather(const uint8_t *p, size_t len, uint8_t *out, size_t cap, bool *complete)
{
	size_t pos = 0, n = 0;

	*complete = false;
	while (pos + RECORD_HEADER <= len) {
		size_t rl = ((size_t)p[pos + 3] << 8) | p[pos + 4];

		if (p[pos] != TYPE_HANDSHAKE || p[pos + 1] != 3 || rl == 0 || rl > 16384 + 2048 ||
		    n + rl > cap || pos + RECORD_HEADER + rl > PEEK_WINDOW)
			return -1;
		if (pos + RECORD_HEADER + rl > len)
			break; /* record not complete yet */
		memcpy(out + n, p + pos + RECORD_HEADER, rl);
		n += rl;
		pos += RECORD_HEADER + rl;
		if (n >= 4 && hs_length(out) > cap - 4)
			return -1; /* announces more than we would wait for */
		if (n >= 4 && n >= 4 + hs_length(out)) {
			*complete = true;
			break;
		}
		if (pos + RECORD_HEADER >= PEEK_WINDOW)
			return -1; /* no room left for another record */
	}
	return (long)n;
}

static enum kh_tlspeek_result server_name(struct rd *ext, char host[KH_HOST_BUF])
{
	struct rd list = sub(ext, get(ext, 2));

	while (!list.bad && list.pos < list.len) {
		uint32_t type = get(&list, 1);
		struct rd name = sub(&list, get(&list, 2));

		if (list.bad)
			break;
		if (type == 0) /* host_name */
			return kh_host_normalize(kh_slice_make(name.p, name.len), host) ==
					       KH_HOST_NAME
				       ? KH_TLSPEEK_SNI
				       : KH_TLSPEEK_BAD;
	}
	return KH_TLSPEEK_BAD;
}

static enum kh_tlspeek_result client_hello(struct rd *r, char host[KH_HOST_BUF])
{
	struct rd exts;

	skip(r, 2 + 32); /* legacy_version, random */
	skip(r, get(r, 1)); /* legacy_session_id */
	skip(r, get(r, 2)); /* cipher_suites */
	skip(r, get(r, 1)); /* legacy_compression_methods */
	if (r->bad)
		return KH_TLSPEEK_BAD;
	if (r->pos == r->len)
		return KH_TLSPEEK_NO_SNI; /* no extensions at all */
	exts = sub(r, get(r, 2));
	while (!exts.bad && exts.pos < exts.len) {
		uint32_t type = get(&exts, 2);
		struct rd ext = sub(&exts, get(&exts, 2));

		if (!exts.bad && type == EXT_SERVER_NAME)
			return server_name(&ext, host);
	}
	return exts.bad ? KH_TLSPEEK_BAD : KH_TLSPEEK_NO_SNI;
}

enum kh_tlspeek_result kh_tlspeek_sni(const uint8_t *p, size_t len, char host[KH_HOST_BUF])
{
	uint8_t hs[KH_CLIENT_HELLO_MAX];
	bool complete;
	long n;
	struct rd r;

	if ((len >= 1 && p[0] != TYPE_HANDSHAKE) || (len >= 6 && p[5] != HS_CLIENT_HELLO))
		return KH_TLSPEEK_BAD;
	n = gather(p, len, hs, sizeof hs, &complete);
	if (n < 0 || (n >= 1 && hs[0] != HS_CLIENT_HELLO))
		return KH_TLSPEEK_BAD;
	if (!complete)
		return KH_TLSPEEK_MORE; /* gather refused what cannot complete: len < PEEK_WINDOW */
	r = (struct rd){ hs + 4, hs_length(hs), 0, false };
	return client_hello(&r, host);
}
