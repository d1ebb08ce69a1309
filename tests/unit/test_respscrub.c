/* The response filter (respscrub.h) on its own: heads and bodies in, framed
 * scrubbed bytes and a verdict out, through a real policy's matcher and
 * real zlib streams. */
#include <stdlib.h>
#include <zlib.h>

#include "base/buf.h"
#include "http/http1.h"
#include "policy/policy.h"
#include "swap/respscrub.h"
#include "tap.h"

#define TOK    "keyhole-openai-0123456789abcdef0123456789abcdef"
#define SECRET "sk-REAL-openai-0000aaaa1111bbbb"

static struct kh_policy *policy;
static struct kh_http_header hdrs[64];
static struct kh_rscrub_verdict last; /* the verdict that ended the last run */

static const char *mappings_json =
	"{\"version\":1,\"tokens\":["
	"{\"proxy_token\":\"" TOK "\",\"env_name\":\"OPENAI_API_KEY\","
	"\"upstream_hosts\":[\"api.openai.com\"],\"match_headers\":[\"Authorization\"]}]}";

static void setup(void)
{
	static const char *names[] = { "OPENAI_API_KEY" };
	struct kh_secrets secrets;
	struct kh_config cfg;
	struct kh_mappings m;
	struct kh_err err;

	setenv("OPENAI_API_KEY", SECRET, 1);
	memset(&cfg, 0, sizeof cfg);
	cfg.scrub_responses = true;
	if (kh_secrets_load_env(&secrets, names, 1, &err) != 0 ||
	    kh_mappings_parse(mappings_json, strlen(mappings_json), &m, &err) != 0) {
		printf("# %s\n", err.msg);
		abort();
	}
	policy = kh_policy_build(&cfg, &m, &secrets, NULL, &err);
	kh_mappings_free(&m);
	if (policy == NULL || !kh_rscrub_enabled(policy))
		abort();
}

/* --- compressing test bodies --- */

/* bits: 31 gzip, 15 zlib-wrapped deflate, -15 raw deflate. */
static size_t compress_body(const char *in, size_t n, int bits, uint8_t *out, size_t cap)
{
	z_stream z = { 0 };

	if (deflateInit2(&z, 6, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		abort();
	deflateEnd(&z);
	return cap - z.avail_out;
}

/* --- running a response through the filter --- */

struct run {
	struct kh_rscrub_req req;
	size_t piece; /* body bytes handed over per round (0: all at once) */
	size_t out_cap; /* the client-bound buffer (0: 32 KiB) */
	bool close_source; /* a close-delimited body: tell the filter at the end */
};

static char outbuf[1 << 17];
static size_t outlen;

static void drain(struct kh_buf *out)
{
	size_t n = kh_buf_len(out);

	if (n > sizeof outbuf - 1 - outlen)
		abort();
	if (n == 0)
		return; /* a buffer without storage has no data pointer */
	memcpy(outbuf + outlen, kh_buf_data(out), n);
	outlen += n;
	outbuf[outlen] = '\0';
	kh_buf_consume(out, n);
}

/* Feeds the body in pieces, draining out after every call. 1 when the
 * body was all sent, -1 when refused (last holds the verdict). */
static int run_body(struct kh_rscrub *rs, const uint8_t *body, size_t n, const struct run *o,
		    struct kh_buf *in, struct kh_buf *out)
{
	size_t at = 0, rounds = 0;

	for (; rounds < 4 * n + 64; rounds++) {
		size_t take = o->piece ? o->piece : n - at;
		int r;

		if (take > n - at)
			take = n - at;
		if (take > kh_buf_room(in))
			take = kh_buf_room(in);
		if (take > 0)
			kh_buf_append(in, body + at, take);
		at += take;
		if (at == n && o->close_source)
			kh_rscrub_source_closed(rs);
		r = kh_rscrub_body(rs, in, out, &last);
		drain(out);
		if (r < 0)
			return -1;
		if (last.done)
			return 1;
	}
	return 0; /* stuck: a test failure */
}

/* The response raw_head + body through a fresh filter; outbuf gets what
 * the client would get. Returns 1 sent, 0 stuck, -1 refused. */
static int run(const char *raw_head, const uint8_t *body, size_t n, const struct run *o)
{
	struct kh_http_limits lim = { KH_MAX_RESPONSE_HEAD, 64 };
	struct kh_http_head h = { .headers = hdrs };
	struct kh_http_error err;
	struct kh_rscrub *rs = kh_rscrub_new(policy);
	struct kh_buf in, out;
	int rc;

	outlen = 0;
	outbuf[0] = '\0';
	memset(&last, 0, sizeof last);
	if (rs == NULL || kh_http_parse_response((const uint8_t *)raw_head, strlen(raw_head), &lim,
						 false, &h, &err) != 0)
		abort();
	kh_buf_init(&in, 4096);
	kh_buf_init(&out, o->out_cap ? o->out_cap : 32768);
	rc = kh_rscrub_head(rs, &o->req, &h, (const uint8_t *)raw_head, &out, &last);
	drain(&out);
	if (rc == 1 && h.body != KH_BODY_NONE && h.status >= 200)
		rc = run_body(rs, body, n, o, &in, &out);
	kh_buf_free(&in);
	kh_buf_free(&out);
	kh_rscrub_free(rs);
	return rc;
}

static const struct run http11 = { { true, false, false }, 0, 0, false };

/* A chunk-size line's hex digits at *p (the filter writes lowercase). */
static size_t hex_len(const char **p)
{
	size_t n = 0;

	for (; (**p >= '0' && **p <= '9') || (**p >= 'a' && **p <= 'f'); (*p)++)
		n = n * 16 + (size_t)(**p <= '9' ? **p - '0' : **p - 'a' + 10);
	return n;
}

/* The body of a chunked output (outbuf after its head), de-chunked. */
static size_t dechunk(char *body, size_t cap)
{
	const char *p = strstr(outbuf, "\r\n\r\n"), *end = outbuf + outlen;
	size_t n = 0;

	if (p == NULL)
		return (size_t)-1;
	for (p += 4; p < end;) {
		const char *e = p;
		size_t len = hex_len(&e);

		if (e == p || e + 2 > end || memcmp(e, "\r\n", 2) != 0)
			return (size_t)-1;
		p = e + 2;
		if (len == 0)
			return memcmp(p, "\r\n", 2) == 0 && p + 2 == end ? n : (size_t)-1;
		if (len > (size_t)(end - p) || n + len > cap)
			return (size_t)-1;
		memcpy(body + n, p, len);
		n += len;
		p += len + 2;
	}
	return (size_t)-1;
}

static const char *plain_body(void)
{
	return "{\"echo\":\"" SECRET "\",\"again\":\"" SECRET "\"}";
}

static const char *scrubbed_body(void)
{
	return "{\"echo\":\"" TOK "\",\"again\":\"" TOK "\"}";
}

static bool chunked_body_is(const char *want)
{
	static char body[1 << 16];
	size_t n = dechunk(body, sizeof body);

	return n == strlen(want) && memcmp(body, want, n) == 0;
}

/* --- tests --- */

static void identity_length_body(void)
{
	const char *b = plain_body();
	char head[256];

	snprintf(head, sizeof head,
		 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nX-Echo: " SECRET "\r\n\r\n", strlen(b));
	CHECK_INT(run(head, (const uint8_t *)b, strlen(b), &http11), 1);
	CHECK(strstr(outbuf, SECRET) == NULL);
	CHECK(strstr(outbuf, "X-Echo: " TOK "\r\n") != NULL); /* the head is scrubbed too */
	CHECK(strstr(outbuf, "Transfer-Encoding: chunked\r\n") != NULL);
	CHECK(strstr(outbuf, "Content-Length") == NULL); /* the length changed */
	CHECK(chunked_body_is(scrubbed_body()));
}

static void chunked_split_across_chunks(void)
{
	/* the secret cut across two chunks, and the chunks fed a byte at a time */
	static const char body[] = "5\r\nabcsk\r\n19\r\n-REAL-openai-0000aaaa1111\r\n"
				   "6\r\nbbbbxy\r\n0\r\nTrailer: x\r\n\r\n";
	struct run o = http11;

	o.piece = 1;
	CHECK_INT(run("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		      (const uint8_t *)body, sizeof body - 1, &o),
		  1);
	CHECK(strstr(outbuf, "sk-REAL") == NULL);
	CHECK(chunked_body_is("abc" TOK "xy"));
	CHECK(strstr(outbuf, "Trailer") == NULL); /* upstream trailers are dropped */
}

static void held_back_until_decided(void)
{
	struct kh_http_limits lim = { KH_MAX_RESPONSE_HEAD, 64 };
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 41\r\n\r\n";
	struct kh_http_head h = { .headers = hdrs };
	struct kh_http_error err;
	struct kh_rscrub *rs = kh_rscrub_new(policy);
	struct kh_buf in, out;

	kh_buf_init(&in, 4096);
	kh_buf_init(&out, 32768);
	CHECK_INT(kh_http_parse_response((const uint8_t *)head, sizeof head - 1, &lim, false, &h,
					 &err),
		  0);
	CHECK_INT(kh_rscrub_head(rs, &http11.req, &h, (const uint8_t *)head, &out, &last), 1);
	kh_buf_consume(&out, kh_buf_len(&out));
	kh_buf_append_str(&in, "0123456789sk-REAL-op");
	CHECK_INT(kh_rscrub_body(rs, &in, &out, &last), 1);
	CHECK(!last.done);
	/* what may begin the secret is held back, the rest went out */
	CHECK_INT(kh_rscrub_held(rs), 10);
	CHECK(memmem(kh_buf_data(&out), kh_buf_len(&out), "0123456789", 10) != NULL);
	CHECK(memmem(kh_buf_data(&out), kh_buf_len(&out), "sk-", 3) == NULL);
	CHECK(!kh_rscrub_source_done(rs, &in));
	kh_buf_consume(&out, kh_buf_len(&out));
	kh_buf_append_str(&in, "enai-0000aaaa1111bbbb");
	CHECK_INT(kh_rscrub_body(rs, &in, &out, &last), 1);
	CHECK(last.done);
	CHECK(kh_rscrub_source_done(rs, &in));
	CHECK_INT(kh_rscrub_held(rs), 0);
	CHECK(memmem(kh_buf_data(&out), kh_buf_len(&out), TOK, strlen(TOK)) != NULL);
	{
		const char *names[2];
		uint64_t counts[2];

		CHECK_INT(kh_rscrub_tally(rs, names, counts, 2), 1);
		CHECK_STR(names[0], "OPENAI_API_KEY");
		CHECK_INT(counts[0], 1);
	}
	kh_buf_free(&in);
	kh_buf_free(&out);
	kh_rscrub_free(rs);
	CHECK_INT(kh_rscrub_tally(NULL, NULL, NULL, 0), 0);
}

static void coded_body(const char *coding, int bits, bool transfer)
{
	static uint8_t z[4096];
	const char *b = plain_body();
	size_t n = compress_body(b, strlen(b), bits, z, sizeof z);
	struct run o = http11;
	char head[256];

	if (transfer)
		snprintf(head, sizeof head,
			 "HTTP/1.1 200 OK\r\nTransfer-Encoding: %s, chunked\r\n\r\n", coding);
	else
		snprintf(head, sizeof head,
			 "HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %zu\r\n\r\n",
			 coding, n);
	o.piece = 7;
	if (transfer) { /* frame it: one chunk */
		static uint8_t framed[4200];
		int k = snprintf((char *)framed, sizeof framed, "%zx\r\n", n);

		memcpy(framed + k, z, n);
		memcpy(framed + k + n, "\r\n0\r\n\r\n", 7);
		CHECK_INT(run(head, framed, (size_t)k + n + 7, &o), 1);
	} else {
		CHECK_INT(run(head, z, n, &o), 1);
	}
	CHECK(strstr(outbuf, "Content-Encoding") == NULL); /* sent decoded */
	CHECK(strstr(outbuf, "gzip") == NULL && strstr(outbuf, "deflate") == NULL);
	CHECK(chunked_body_is(scrubbed_body()));
}

static void gzip_body(void)
{
	coded_body("gzip", 31, false);
	coded_body("x-gzip", 31, false);
	coded_body("gzip", 31, true); /* as a transfer coding */
}

static void deflate_body(void)
{
	coded_body("deflate", 15, false); /* zlib-wrapped, as RFC 9110 says */
	coded_body("deflate", -15, false); /* raw, as some servers send it */
}

/* deflate's first two bytes tell zlib-wrapped from raw; a chunked body may
 * carry them in two chunks (this used to stall until the idle timeout). */
static void deflate_header_split(int bits)
{
	static uint8_t z[4096], framed[4200];
	const char *b = plain_body();
	size_t n = compress_body(b, strlen(b), bits, z, sizeof z), k;
	struct run o = http11;

	k = (size_t)snprintf((char *)framed, sizeof framed, "1\r\n%c\r\n%zx\r\n", z[0], n - 1);
	memcpy(framed + k, z + 1, n - 1);
	memcpy(framed + k + n - 1, "\r\n0\r\n\r\n", 7);
	CHECK_INT(run("HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\n"
		      "Transfer-Encoding: chunked\r\n\r\n",
		      framed, k + n - 1 + 7, &o),
		  1);
	CHECK(chunked_body_is(scrubbed_body()));
}

static void deflate_header_across_chunks(void)
{
	deflate_header_split(15);
	deflate_header_split(-15);
}

static void gzip_members(void)
{
	static uint8_t z[4096];
	size_t n = compress_body("first " SECRET " ", 7 + strlen(SECRET), 31, z, sizeof z);
	char head[128];

	n += compress_body("second", 6, 31, z + n, sizeof z - n);
	snprintf(head, sizeof head,
		 "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", n);
	CHECK_INT(run(head, z, n, &http11), 1);
	CHECK(chunked_body_is("first " TOK " second"));
}

static void http10_close_delimited(void)
{
	static const char body[] = "a " SECRET " b";
	struct run o = { { true, true, false }, 3, 0, true };

	CHECK_INT(run("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n", (const uint8_t *)body,
		      sizeof body - 1, &o),
		  1);
	CHECK(strstr(outbuf, "Transfer-Encoding") == NULL); /* HTTP/1.0: no chunked */
	CHECK(strstr(outbuf, "keep-alive") == NULL);
	CHECK(strstr(outbuf, "Connection: close\r\n\r\na " TOK " b") != NULL);
}

static void http10_length_body_closes(void)
{
	struct kh_http_limits lim = { KH_MAX_RESPONSE_HEAD, 64 };
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n";
	struct kh_http_head h = { .headers = hdrs };
	struct kh_http_error err;
	struct kh_rscrub_req req = { true, true, false };
	struct kh_rscrub *rs = kh_rscrub_new(policy);
	struct kh_buf out;

	kh_buf_init(&out, 32768);
	kh_http_parse_response((const uint8_t *)head, sizeof head - 1, &lim, false, &h, &err);
	CHECK_INT(kh_rscrub_head(rs, &req, &h, (const uint8_t *)head, &out, &last), 1);
	CHECK(last.close); /* the caller must end the connection after this body */
	CHECK_INT(last.produced, kh_buf_len(&out));
	kh_buf_free(&out);
	kh_rscrub_free(rs);
}

static void refused(const char *head, const char *reason)
{
	CHECK_INT(run(head, NULL, 0, &http11), -1);
	CHECK(last.refused);
	CHECK(!last.abort);
	CHECK_INT(last.status, 502);
	CHECK_STR(last.reason, reason);
	CHECK(last.detail != NULL && last.detail[0] != '\0');
	CHECK_INT(outlen, 0); /* not a byte went out */
}

static void undecodable_codings(void)
{
	refused("HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 4\r\n\r\n",
		"response_not_scrubbable");
	refused("HTTP/1.1 200 OK\r\nContent-Encoding: zstd\r\nContent-Length: 4\r\n\r\n",
		"response_not_scrubbable");
	refused("HTTP/1.1 200 OK\r\nContent-Encoding: gzip, gzip\r\nContent-Length: 4\r\n\r\n",
		"response_not_scrubbable");
	refused("HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\n"
		"Transfer-Encoding: gzip, chunked\r\n\r\n",
		"response_not_scrubbable");
	CHECK(last.detail != NULL && strstr(last.detail, "scrub_responses: false") != NULL);
	/* without a body there is nothing to decode */
	CHECK_INT(
		run("HTTP/1.1 304 Not Modified\r\nContent-Encoding: br\r\n\r\n", NULL, 0, &http11),
		1);
	CHECK(strstr(outbuf, "Content-Encoding: br\r\n") != NULL);
}

static void partial_response(void)
{
	struct run o = http11;
	static const char head[] =
		"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-3/9\r\nContent-Length: "
		"4\r\n\r\n";

	CHECK_INT(run(head, (const uint8_t *)"abcd", 4, &o), 1); /* no key went upstream */
	o.req.whole_response = true;
	CHECK_INT(run(head, (const uint8_t *)"abcd", 4, &o), -1);
	CHECK_STR(last.reason, "response_not_scrubbable");
	CHECK(last.detail != NULL && strstr(last.detail, "206") != NULL);
}

static void oversize_head(void)
{
	static char head[40000];
	size_t n = (size_t)snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\n");
	struct run o = http11;

	/* under the response head limit as sent, over it once each secret
	 * grows into a token */
	for (int f = 0; f < 8; f++) {
		n += (size_t)snprintf(head + n, sizeof head - n, "X-A%d:", f);
		for (int k = 0; k < 110; k++)
			n += (size_t)snprintf(head + n, sizeof head - n, " %s", SECRET);
		n += (size_t)snprintf(head + n, sizeof head - n, "\r\n");
	}
	snprintf(head + n, sizeof head - n, "Content-Length: 0\r\n\r\n");
	o.out_cap = KH_MAX_RESPONSE_HEAD;
	CHECK_INT(run(head, NULL, 0, &o), -1);
	CHECK_STR(last.reason, "upstream_bad_response");
	CHECK(last.detail != NULL && strstr(last.detail, "too large") != NULL);
}

static void head_waits_for_room(void)
{
	struct kh_http_limits lim = { KH_MAX_RESPONSE_HEAD, 64 };
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
				   "Content-Length: 20\r\nX-Pad: 0123456789012345678901234567890123"
				   "456789\r\n\r\n";
	struct kh_http_head h = { .headers = hdrs };
	struct kh_http_error err;
	struct kh_rscrub *rs = kh_rscrub_new(policy);
	struct kh_buf out;

	kh_buf_init(&out, 64);
	kh_buf_append_str(&out, "bytes the client has not read yet");
	kh_http_parse_response((const uint8_t *)head, sizeof head - 1, &lim, false, &h, &err);
	/* no room: wait (and again: the head is prepared twice, allocated once) */
	CHECK_INT(kh_rscrub_head(rs, &http11.req, &h, (const uint8_t *)head, &out, &last), 0);
	CHECK_INT(kh_rscrub_head(rs, &http11.req, &h, (const uint8_t *)head, &out, &last), 0);
	CHECK(!last.refused);
	kh_buf_consume(&out, kh_buf_len(&out));
	CHECK_INT(kh_buf_set_cap(&out, 4096), 0);
	CHECK_INT(kh_rscrub_head(rs, &http11.req, &h, (const uint8_t *)head, &out, &last), 1);
	kh_buf_free(&out);
	kh_rscrub_free(rs);
}

static void aborted(const char *head, const uint8_t *body, size_t n, const char *why)
{
	CHECK_INT(run(head, body, n, &http11), -1);
	CHECK(last.refused);
	CHECK(last.abort); /* the head went out: all that is left is to cut */
	CHECK_INT(last.status, 502);
	CHECK_STR(last.reason, "upstream_bad_response");
	CHECK(last.detail != NULL && strstr(last.detail, why) != NULL);
}

static void corrupt_bodies(void)
{
	static uint8_t z[4096];
	size_t n = compress_body(plain_body(), strlen(plain_body()), 31, z, sizeof z);
	char head[128];

	snprintf(head, sizeof head,
		 "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", n);
	z[n / 2] ^= 0x55;
	z[n / 2 + 1] ^= 0x55;
	aborted(head, z, n, "corrupt");
	n = compress_body(plain_body(), strlen(plain_body()), 31, z, sizeof z);
	snprintf(head, sizeof head,
		 "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", n - 6);
	aborted(head, z, n - 6, "ended early");
	aborted("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		(const uint8_t *)"zz\r\nab\r\n", 8, "chunk");
	/* a deflate body of one byte is a header cut short, not an empty body
	 * (the byte is kept aside until the next one arrives) */
	aborted("HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: 1\r\n\r\n",
		(const uint8_t *)"\x78", 1, "ended early");
}

static void slow_client(void)
{
	/* a client-bound buffer with room for little more than one token and
	 * its framing: many rounds, each blocked on it, nothing lost */
	static char body[3000];
	struct run o = http11;
	char head[128];
	size_t n = 0;

	while (n + strlen(SECRET) + 3 < sizeof body)
		n += (size_t)snprintf(body + n, sizeof body - n, "%s, ", SECRET);
	snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
	o.out_cap = 128;
	o.piece = 100;
	CHECK_INT(run(head, (const uint8_t *)body, n, &o), 1);
	CHECK(strstr(outbuf, "sk-REAL") == NULL);
	CHECK(strstr(outbuf, TOK ", " TOK) != NULL);
}

int main(void)
{
	setup();
	RUN(identity_length_body);
	RUN(chunked_split_across_chunks);
	RUN(held_back_until_decided);
	RUN(gzip_body);
	RUN(deflate_body);
	RUN(deflate_header_across_chunks);
	RUN(gzip_members);
	RUN(http10_close_delimited);
	RUN(http10_length_body_closes);
	RUN(undecodable_codings);
	RUN(partial_response);
	RUN(oversize_head);
	RUN(head_waits_for_room);
	RUN(corrupt_bodies);
	RUN(slow_client);
	kh_policy_unref(policy);
	TAP_DONE();
}
