/* The response filter (respscrub.h) as a stream, gzip/deflate/chunked
 * included. Input layout:
 *   byte 0     mode: bits 0-1 coding (identity, gzip, zlib deflate, raw
 *              deflate), bit 2 chunked framing (else Content-Length, or
 *              close-delimited with bit 5), bit 3 an HTTP/1.0 client (the
 *              output is close-delimited, not chunked), bit 4 raw: the rest
 *              is sent as the upstream's body bytes exactly as given (any
 *              framing, any compressed stream), bit 6 two gzip members
 *   bytes 1-4  seed for where the body is cut, how big the chunks are and
 *              how small the client-bound buffer is
 *   the rest   the decoded body (the harness compresses and frames it), or
 *              with bit 4 the upstream's bytes
 * A body of Content-Length 0 is no body: the head alone goes out, its
 * framing as it was.
 * Checked on every run, with one secret whose edge bytes ('!') appear in
 * no replacement of any form: the token and its percent forms are
 * [a-z0-9-], its base64 forms [A-Za-z0-9+/=_-]. (With letters at its
 * edges, a base64 replacement ending in that letter followed by the rest
 * of the secret in the body would spell it: the filter replaces each
 * needle once, leftmost-longest, it does not rescan its own output. That
 * needs all of the secret but one byte in the body already, unscrubbed.)
 *  - built bodies are never refused and end, whatever the piece split and
 *    buffer size; the de-framed output equals a slow obvious
 *    leftmost-longest replacement over the set's needles of the decoded
 *    body;
 *  - raw bodies end or are refused (502 upstream_bad_response, aborting)
 *    within a bounded number of rounds;
 *  - the secret never comes out, in any piece split;
 *  - after every call fewer bytes are held back than the longest needle,
 *    and the client-bound buffer is never over its cap. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/buf.h"
#include "fuzz_check.h"
#include "scrub_reference.h"
#include "http/http1.h"
#include "policy/policy.h"
#include "swap/respscrub.h"

#define TOK    "keyhole-openai-0123456789abcdef0123456789abcdef"
#define SECRET "!sk-REAL/fuzz+secret=42!"

#define MAX_BODY 4096
#define WIRE_CAP (MAX_BODY * 2 + 4096)
#define OUT_CAP  (MAX_BODY * 8 + 4096)

static struct kh_policy *policy;
static struct kh_http_header hdrs[16];
static uint8_t wire[WIRE_CAP], zbuf[WIRE_CAP], out[OUT_CAP], body[OUT_CAP], ref[OUT_CAP];
static uint32_t rng;

static uint32_t next(void)
{
	rng = rng * 1103515245u + 12345u;
	return rng >> 8;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *names[] = { "OPENAI_API_KEY" };
	static const char json[] = "{\"version\":1,\"tokens\":[{\"proxy_token\":\"" TOK
				   "\",\"env_name\":"
				   "\"OPENAI_API_KEY\",\"upstream_hosts\":[\"api.openai.com\"]}]}";
	struct kh_secrets secrets;
	struct kh_config cfg;
	struct kh_mappings m;
	struct kh_err err;

	(void)argc;
	(void)argv;
	setenv("OPENAI_API_KEY", SECRET, 1);
	CHECK(kh_secrets_load_env(&secrets, names, 1, &err) == 0);
	CHECK(kh_mappings_parse(json, sizeof json - 1, &m, &err) == 0);
	memset(&cfg, 0, sizeof cfg);
	cfg.scrub_responses = true;
	policy = kh_policy_build(&cfg, &m, &secrets, NULL, &err);
	kh_mappings_free(&m);
	CHECK(policy != NULL && kh_rscrub_enabled(policy));
	return 0;
}

static size_t compress_into(const uint8_t *in, size_t n, int bits, uint8_t *to, size_t cap)
{
	z_stream z = { 0 };

	CHECK(deflateInit2(&z, 1 + (int)(next() % 9), Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY) ==
	      Z_OK);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = to;
	z.avail_out = (uInt)cap;
	CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
	deflateEnd(&z);
	return cap - z.avail_out;
}

/* The decoded body compressed as mode says (into zbuf). */
static size_t encode(uint8_t mode, const uint8_t *in, size_t n, const uint8_t **enc)
{
	static const int bits[] = { 0, 31, 15, -15 };
	size_t cut, len;

	if ((mode & 3) == 0) {
		*enc = in;
		return n;
	}
	*enc = zbuf;
	if ((mode & 3) != 1 || !(mode & 0x40))
		return compress_into(in, n, bits[mode & 3], zbuf, sizeof zbuf);
	cut = n ? next() % (n + 1) : 0; /* two gzip members */
	len = compress_into(in, cut, 31, zbuf, sizeof zbuf);
	return len + compress_into(in + cut, n - cut, 31, zbuf + len, sizeof zbuf - len);
}

/* Frames p as chunks of seeded sizes into wire. */
static size_t chunk(const uint8_t *p, size_t n)
{
	size_t o = 0;

	while (n > 0) {
		size_t k = 1 + next() % 300;

		if (k > n)
			k = n;
		o += (size_t)snprintf((char *)wire + o, sizeof wire - o, "%zx\r\n", k);
		memcpy(wire + o, p, k);
		o += k;
		memcpy(wire + o, "\r\n", 2);
		o += 2;
		p += k;
		n -= k;
	}
	memcpy(wire + o, "0\r\n\r\n", 5);
	return o + 5;
}

/* Undoes the output's chunked framing in place; -1 if it is not one
 * well-formed chunked body. */
static long dechunk(uint8_t *p, size_t n)
{
	size_t i = 0, o = 0;

	for (;;) {
		size_t len = 0, digits = 0;

		while (i < n && digits < 8 &&
		       ((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) {
			len = len * 16 + (size_t)(p[i] <= '9' ? p[i] - '0' : p[i] - 'a' + 10);
			i++;
			digits++;
		}
		if (digits == 0 || n - i < 2 || memcmp(p + i, "\r\n", 2) != 0)
			return -1;
		i += 2;
		if (len == 0)
			return n - i == 2 && memcmp(p + i, "\r\n", 2) == 0 ? (long)o : -1;
		if (len > n - i || n - i - len < 2 || memcmp(p + i + len, "\r\n", 2) != 0)
			return -1;
		memmove(p + o, p + i, len);
		o += len;
		i += len + 2;
	}
}

static bool has_secret(const uint8_t *p, size_t n)
{
	return memmem(p, n, SECRET, sizeof SECRET - 1) != NULL;
}

struct job {
	const uint8_t *wire;
	size_t wire_len;
	bool close_source;
	size_t out_len;
	struct kh_rscrub_verdict v;
};

/* Runs the body through rs in seeded pieces and a seeded client buffer.
 * 1 done, -1 refused. */
static int pump(struct kh_rscrub *rs, struct job *j, struct kh_buf *in, struct kh_buf *cout)
{
	size_t at = 0;

	for (size_t round = 0; round < 8 * WIRE_CAP; round++) {
		size_t take = 1 + next() % 700, n;
		int r;

		if (take > j->wire_len - at)
			take = j->wire_len - at;
		if (take > kh_buf_room(in))
			take = kh_buf_room(in);
		if (take > 0)
			kh_buf_append(in, j->wire + at, take);
		at += take;
		if (at == j->wire_len && j->close_source)
			kh_rscrub_source_closed(rs);
		r = kh_rscrub_body(rs, in, cout, &j->v);
		CHECK(kh_rscrub_held(rs) < policy->scrub.max_len);
		CHECK(kh_buf_len(cout) <= cout->cap);
		n = kh_buf_len(cout);
		CHECK(n <= sizeof out - j->out_len);
		if (n > 0)
			memcpy(out + j->out_len, kh_buf_data(cout), n);
		j->out_len += n;
		kh_buf_consume(cout, n);
		if (r < 0)
			return -1;
		if (j->v.done)
			return 1;
		if (at == j->wire_len && r == 0)
			return 0; /* waits for bytes that never come: a truncated raw body */
	}
	CHECK(!"the filter did not finish in a bounded number of rounds");
	return 0;
}

static int run(uint8_t mode, struct job *j, size_t *head_len)
{
	char head[128];
	struct kh_http_limits lim = { KH_MAX_RESPONSE_HEAD, 16 };
	struct kh_http_head h = { .headers = hdrs };
	struct kh_http_error err;
	struct kh_rscrub_req req = { true, (mode & 8) != 0, false };
	static const char *const coding[] = { "identity", "gzip", "deflate", "deflate" };
	struct kh_rscrub *rs = kh_rscrub_new(policy);
	struct kh_buf in, cout;
	int rc, n;

	CHECK(rs != NULL);
	if (mode & 4)
		n = snprintf(head, sizeof head,
			     "HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\n"
			     "Transfer-Encoding: chunked\r\n\r\n",
			     coding[mode & 3]);
	else if (mode & 0x20)
		n = snprintf(head, sizeof head,
			     "HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nConnection: close\r\n\r\n",
			     coding[mode & 3]);
	else
		n = snprintf(
			head, sizeof head,
			"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %zu\r\n\r\n",
			coding[mode & 3], j->wire_len);
	j->close_source = !(mode & 4) && (mode & 0x20);
	CHECK(kh_http_parse_response((const uint8_t *)head, (size_t)n, &lim, false, &h, &err) == 0);
	kh_buf_init(&in, 1 + next() % 8192);
	kh_buf_init(&cout, 128 + next() % 16384);
	rc = kh_rscrub_head(rs, &req, &h, (const uint8_t *)head, &cout, &j->v);
	CHECK(rc == 1 && j->v.produced == kh_buf_len(&cout));
	*head_len = kh_buf_len(&cout);
	memcpy(out, kh_buf_data(&cout), *head_len);
	kh_buf_consume(&cout, *head_len);
	j->out_len = *head_len;
	rc = 2; /* Content-Length: 0: the head is all, its framing kept */
	if (h.body != KH_BODY_NONE)
		rc = pump(rs, j, &in, &cout);
	kh_buf_free(&in);
	kh_buf_free(&cout);
	kh_rscrub_free(rs);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct job j = { 0 };
	const uint8_t *enc;
	size_t n, head_len, plain;
	uint8_t mode;
	long got;
	int rc;

	if (size < 5 || size - 5 > MAX_BODY)
		return 0;
	mode = data[0];
	rng = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 |
	      (uint32_t)data[4] << 24;
	data += 5;
	size -= 5;
	if (mode & 0x10) { /* the upstream's bytes as given */
		j.wire = data;
		j.wire_len = size;
	} else {
		n = encode(mode, data, size, &enc);
		j.wire = enc;
		j.wire_len = n;
		if (mode & 4) {
			j.wire_len = chunk(enc, n);
			j.wire = wire;
		}
	}
	rc = run(mode, &j, &head_len);
	CHECK(!has_secret(out, j.out_len));
	if (rc < 0) {
		CHECK(j.v.refused && j.v.abort && j.v.status == 502);
		CHECK(strcmp(j.v.reason, "upstream_bad_response") == 0);
	}
	if (rc == 2) {
		CHECK(j.wire_len == 0 && j.out_len == head_len);
		CHECK(memmem(out, head_len, "Content-Length: 0\r\n", 19) != NULL);
		return 0;
	}
	if (mode & 0x10)
		return 0;
	CHECK(rc == 1); /* a well-formed body always ends */
	plain = j.out_len - head_len;
	memcpy(body, out + head_len, plain);
	got = (mode & 8) ? (long)plain : dechunk(body, plain);
	CHECK(got >= 0);
	n = scrub_reference(&policy->scrub, data, size, ref, NULL, NULL);
	CHECK((size_t)got == n && memcmp(body, ref, n) == 0);
	return 0;
}
