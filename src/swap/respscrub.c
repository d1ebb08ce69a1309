#include "swap/respscrub.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <zlib.h>

#include "base/buf.h"
#include "base/check.h"
#include "http/http1.h"
#include "policy/policy.h"

/* Chunks we write are at most MAX_CHUNK bytes, so the size line fits in
 * "XXXX\r\n" (leading zeros are valid chunk-size digits). */
#define MAX_CHUNK      0xffff
#define FRAME_HEAD     6
#define FRAME_TAIL     2
#define LAST_CHUNK     "0\r\n\r\n"
#define LAST_CHUNK_LEN (sizeof LAST_CHUNK - 1)

enum decode { DEC_NONE, DEC_GZIP, DEC_DEFLATE };

struct kh_rscrub {
	struct kh_policy *policy; /* reference: st uses its matcher */
	struct kh_scrub_stream st;
	bool body; /* a body is being scrubbed */
	bool chunked_out; /* else the body ends when we close */
	bool done; /* the whole body is in out */
	enum kh_body_kind src; /* how the upstream frames the body */
	uint64_t src_left; /* KH_BODY_LENGTH: bytes not yet read */
	struct kh_chunked chunked; /* KH_BODY_CHUNKED: the framing parser */
	bool chunk_done; /* chunked source: last chunk and trailers read */
	bool src_closed; /* close-delimited source: upstream EOF seen */
	enum decode dec;
	z_stream z;
	bool z_ready, z_end;
	uint8_t zhead[1]; /* deflate: the first header byte, when it came alone */
	size_t zhead_len;
	uint8_t *zbuf; /* KH_SCRUB_DECODE_BUF inflated bytes */
	size_t zoff, zlen;
};

/* The response plan: what the head says about the body we will send. */
struct plan {
	bool body;
	bool chunked_out, close_out;
	bool keep_length; /* Content-Length stays: scrubbing cannot change it */
	bool conn_close; /* the client connection ends after this response */
	enum decode dec;
};

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

bool kh_rscrub_enabled(const struct kh_policy *p)
{
	return p->scrub.n > 0;
}

void kh_rscrub_free(struct kh_rscrub *rs)
{
	if (rs == NULL)
		return;
	kh_scrub_stream_free(&rs->st);
	if (rs->z_ready)
		inflateEnd(&rs->z);
	if (rs->zbuf != NULL) {
		OPENSSL_cleanse(rs->zbuf, KH_SCRUB_DECODE_BUF); /* plaintext of the body */
		free(rs->zbuf);
	}
	kh_policy_unref(rs->policy);
	free(rs);
}

struct kh_rscrub *kh_rscrub_new(struct kh_policy *p)
{
	struct kh_rscrub *rs = calloc(1, sizeof *rs);

	if (rs == NULL)
		return NULL;
	if (kh_scrub_stream_init(&rs->st, &p->scrub) != 0) {
		free(rs);
		return NULL;
	}
	rs->policy = kh_policy_ref(p);
	return rs;
}

size_t kh_rscrub_held(const struct kh_rscrub *rs)
{
	return kh_scrub_stream_pending(&rs->st);
}

size_t kh_rscrub_tally(const struct kh_rscrub *rs, const char **names, uint64_t *counts, size_t max)
{
	size_t n = 0;

	for (; rs != NULL && n < rs->st.n_tally && n < max; n++) {
		names[n] = rs->policy->scrub.names[rs->st.tally[n].secret];
		counts[n] = rs->st.tally[n].count;
	}
	return n;
}

/* --- head --- */

/* Every coding applied to the body, content codings (Content-Encoding) and
 * transfer codings (Transfer-Encoding; chunked is framing, undone by
 * src_next), taken together must be at most one gzip or deflate: that one
 * is inflated, whichever field named it. -1 for anything else (br, zstd,
 * compress, unknown tokens, two codings stacked): the body cannot be read. */
static int coding(const struct kh_http_head *h, enum decode *dec)
{
	size_t n = 0;

	*dec = DEC_NONE;
	for (size_t i = 0; i < h->n_headers; i++) {
		struct kh_slice v = h->headers[i].value, tok;
		bool te = kh_slice_eq_cstr_nocase(h->headers[i].name, "transfer-encoding");

		if (!te && !kh_slice_eq_cstr_nocase(h->headers[i].name, "content-encoding"))
			continue;
		while (kh_http_list_next(&v, &tok)) {
			if (kh_slice_eq_cstr_nocase(tok, "identity") ||
			    (te && kh_slice_eq_cstr_nocase(tok, "chunked")))
				continue;
			n++;
			if (kh_slice_eq_cstr_nocase(tok, "gzip") ||
			    kh_slice_eq_cstr_nocase(tok, "x-gzip"))
				*dec = DEC_GZIP;
			else if (kh_slice_eq_cstr_nocase(tok, "deflate"))
				*dec = DEC_DEFLATE;
			else
				return -1;
		}
	}
	return n > 1 ? -1 : 0;
}

static int refuse(struct kh_rscrub_verdict *v, int status, const char *reason, const char *why)
{
	v->refused = true;
	v->status = status;
	v->reason = reason;
	v->detail = why;
	return -1;
}

static int not_scrubbable(struct kh_rscrub_verdict *v, const char *why)
{
	return refuse(v, 502, "response_not_scrubbable", why);
}

static int make_plan(const struct kh_rscrub *rs, const struct kh_rscrub_req *req,
		     const struct kh_http_head *h, struct plan *pl, struct kh_rscrub_verdict *v)
{
	memset(pl, 0, sizeof *pl);
	/* The client asked to close; the upstream was not told (see rewrite.c). */
	pl->conn_close = !req->keep_alive && h->status >= 200 && h->status != 101;
	if (h->status == 206 && req->whole_response) {
		/* keyhole removed Range from this request (rewrite.h) */
		return not_scrubbable(
			v, "the upstream sent part of a response (206) to a request that carried a "
			   "real key; a key split across parts could not be removed, so keyhole "
			   "asks for whole responses and refuses partial ones");
	}
	if (h->status < 200 || h->body == KH_BODY_NONE)
		return 0; /* framing stays as it is: there is no body to change */
	if (coding(h, &pl->dec) != 0)
		return not_scrubbable(
			v, "the upstream encoded its response with a coding keyhole cannot decode "
			   "(it decodes one gzip or deflate, as Content-Encoding or "
			   "Transfer-Encoding), so secrets in it could not be removed; set "
			   "scrub_responses: false to pass such responses through");
	pl->body = true;
	if (h->body == KH_BODY_LENGTH && pl->dec == DEC_NONE && rs->policy->scrub.same_len) {
		pl->keep_length = true; /* no framing to add, nothing to count */
		return 0;
	}
	pl->chunked_out = !req->http10;
	pl->close_out = !pl->chunked_out;
	pl->conn_close |= pl->close_out;
	return 0;
}

static bool drop_field(const struct plan *pl, struct kh_slice name)
{
	if (pl->conn_close && (kh_slice_eq_cstr_nocase(name, "connection") ||
			       kh_slice_eq_cstr_nocase(name, "keep-alive")))
		return true; /* replaced by our own "Connection: close" */
	if (!pl->body)
		return false;
	if (kh_slice_eq_cstr_nocase(name, "content-length") ||
	    kh_slice_eq_cstr_nocase(name, "transfer-encoding"))
		return !pl->keep_length;
	if (pl->dec != DEC_NONE && kh_slice_eq_cstr_nocase(name, "content-encoding"))
		return true; /* the body goes out decoded */
	return false;
}

struct head_out {
	uint8_t *p;
	size_t len, cap;
	bool overflow;
	struct kh_scrub_stream *st;
};

static void out_raw(struct head_out *o, const char *s)
{
	size_t n = strlen(s);

	if (o->overflow || n > o->cap - o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void out_scrubbed(struct head_out *o, const void *p, size_t n)
{
	ssize_t w;

	if (o->overflow)
		return;
	w = kh_scrub_oneshot(o->st, p, n, o->p + o->len, o->cap - o->len);
	if (w < 0)
		o->overflow = true;
	else
		o->len += (size_t)w;
}

static void write_head(struct head_out *o, const struct kh_http_head *h, const uint8_t *p,
		       const struct plan *pl)
{
	size_t line = 0;

	while (line < h->head_len && p[line] != '\r')
		line++; /* the status line (the parser accepted its CRLF) */
	out_scrubbed(o, p, line);
	out_raw(o, "\r\n");
	for (size_t i = 0; i < h->n_headers; i++) {
		const struct kh_http_header *f = &h->headers[i];

		if (drop_field(pl, f->name))
			continue;
		out_scrubbed(o, f->name.ptr, f->name.len);
		out_raw(o, ": ");
		out_scrubbed(o, f->value.ptr, f->value.len);
		out_raw(o, "\r\n");
	}
	if (pl->chunked_out)
		out_raw(o, "Transfer-Encoding: chunked\r\n");
	if (pl->conn_close)
		out_raw(o, "Connection: close\r\n");
	out_raw(o, "\r\n");
}

static int start_body(struct kh_rscrub *rs, const struct plan *pl, const struct kh_http_head *h)
{
	rs->body = true;
	rs->chunked_out = pl->chunked_out;
	rs->dec = pl->dec;
	rs->src = h->body;
	rs->src_left = h->content_length;
	kh_chunked_init(&rs->chunked, KH_MAX_RESPONSE_HEAD);
	if (pl->dec == DEC_NONE || rs->zbuf != NULL) /* a head written again: zbuf is there */
		return 0;
	rs->zbuf = malloc(KH_SCRUB_DECODE_BUF);
	return rs->zbuf != NULL ? 0 : -1;
}

int kh_rscrub_head(struct kh_rscrub *rs, const struct kh_rscrub_req *req,
		   const struct kh_http_head *h, const uint8_t *p, struct kh_buf *out,
		   struct kh_rscrub_verdict *v)
{
	struct kh_scrub_stream saved;
	struct head_out o;
	struct plan pl;
	size_t avail;
	uint8_t *t;

	memset(v, 0, sizeof *v);
	if (make_plan(rs, req, h, &pl, v) != 0)
		return -1;
	if (pl.body && start_body(rs, &pl, h) != 0)
		return refuse(v, 502, "internal_error", "out of memory scrubbing the response");
	t = kh_buf_tail_min(out, kh_buf_room(out), &avail);
	if (t == NULL)
		return 0;
	saved = rs->st; /* a head that does not fit yet is written again later */
	o = (struct head_out){ t, 0, avail, false, &rs->st };
	write_head(&o, h, p, &pl);
	if (o.overflow) {
		rs->st = saved;
		if (kh_buf_len(out) > 0)
			return 0;
		return refuse(v, 502, "upstream_bad_response",
			      "the response head is too large once secrets in it are replaced");
	}
	kh_buf_produced(out, o.len);
	v->produced = o.len;
	v->close = pl.close_out; /* the body ends where we close */
	return 1;
}

/* --- the upstream body (before decoding) --- */

static int src_fail(struct kh_rscrub_verdict *v, const char *why)
{
	return refuse(v, 502, "upstream_bad_response", why);
}

/* Points p at the next run of body bytes in in; the framing of a chunked
 * body is validated and dropped on the way. Sets *moved if it consumed any. */
static int src_next(struct kh_rscrub *rs, struct kh_buf *in, const uint8_t **p, size_t *n,
		    bool *moved, struct kh_rscrub_verdict *v)
{
	if (rs->src == KH_BODY_CHUNKED) {
		while (!rs->chunk_done && kh_chunked_data_run(&rs->chunked) == 0 &&
		       kh_buf_len(in) > 0) {
			struct kh_http_error err;
			bool done;

			if (kh_chunked_feed(&rs->chunked, kh_buf_data(in), 1, &done, &err) < 0)
				return src_fail(v, err.why);
			kh_buf_consume(in, 1);
			rs->chunk_done = done;
			*moved = true;
		}
	}
	*p = kh_buf_data(in);
	*n = kh_buf_len(in);
	if (rs->src == KH_BODY_LENGTH)
		*n = (size_t)min_size(*n, rs->src_left);
	else if (rs->src == KH_BODY_CHUNKED)
		*n = rs->chunk_done ? 0 : (size_t)min_size(*n, kh_chunked_data_run(&rs->chunked));
	return 0;
}

static void src_consume(struct kh_rscrub *rs, struct kh_buf *in, size_t n)
{
	struct kh_http_error err;
	bool done;

	if (n == 0)
		return;
	if (rs->src == KH_BODY_LENGTH)
		rs->src_left -= n;
	else if (rs->src == KH_BODY_CHUNKED)
		KH_CHECK(kh_chunked_feed(&rs->chunked, kh_buf_data(in), n, &done, &err) ==
			 (ssize_t)n); /* chunk data: src_next bounded n to the run */
	kh_buf_consume(in, n);
}

static bool src_done(const struct kh_rscrub *rs, const struct kh_buf *in)
{
	switch (rs->src) {
	case KH_BODY_LENGTH:
		return rs->src_left == 0;
	case KH_BODY_CHUNKED:
		return rs->chunk_done;
	default:
		return rs->src_closed && kh_buf_len(in) == 0;
	}
}

bool kh_rscrub_source_done(const struct kh_rscrub *rs, const struct kh_buf *in)
{
	return rs != NULL && rs->body && src_done(rs, in);
}

bool kh_rscrub_source_closed(struct kh_rscrub *rs)
{
	if (rs->src_closed)
		return false;
	rs->src_closed = true;
	return true;
}

/* --- decoding --- */

/* deflate is meant to be zlib-wrapped (RFC 9110), but some servers send raw
 * deflate: the zlib header's checksum tells them apart. Its two bytes may
 * come in two runs (chunks): the first then waits in zhead. */
static int z_start(struct kh_rscrub *rs, const uint8_t *p, size_t n)
{
	int bits = 15 + 16; /* gzip */

	if (rs->dec == DEC_DEFLATE) {
		uint8_t b0 = rs->zhead_len ? rs->zhead[0] : p[0];
		uint8_t b1 = rs->zhead_len ? (n > 0 ? p[0] : 0) : (n > 1 ? p[1] : 0);
		bool two = rs->zhead_len + n >= 2;

		bits = two && (b0 & 0x0f) == 8 && ((b0 << 8) | b1) % 31 == 0 ? 15 : -15;
	}
	if (inflateInit2(&rs->z, bits) != Z_OK)
		return -1;
	rs->z_ready = true;
	return 0;
}

/* Inflates p[0..n) into zbuf; from_in: those bytes are in's and consumed
 * from it. 0, or -1 when refused. */
static int z_run(struct kh_rscrub *rs, struct kh_buf *in, const uint8_t *p, size_t n, bool from_in,
		 bool *moved, struct kh_rscrub_verdict *v)
{
	size_t in_n = min_size(n, UINT_MAX);
	int zr;

	rs->z.next_in = (Bytef *)(uintptr_t)p;
	rs->z.avail_in = (uInt)in_n;
	rs->z.next_out = rs->zbuf;
	rs->z.avail_out = KH_SCRUB_DECODE_BUF;
	zr = inflate(&rs->z, Z_NO_FLUSH);
	if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
		return src_fail(v, "the compressed response body is corrupt");
	if (from_in)
		src_consume(rs, in, in_n - rs->z.avail_in);
	rs->zoff = 0;
	rs->zlen = KH_SCRUB_DECODE_BUF - rs->z.avail_out;
	*moved |= rs->zlen > 0 || rs->z.avail_in < in_n;
	rs->z_end = zr == Z_STREAM_END;
	if (rs->zlen == 0 && !rs->z_end && src_done(rs, in))
		return src_fail(v, "the compressed response body ended early");
	return 0;
}

/* Refills zbuf from the source. 0, or -1 when refused. */
static int inflate_more(struct kh_rscrub *rs, struct kh_buf *in, bool *moved,
			struct kh_rscrub_verdict *v)
{
	const uint8_t *p;
	size_t n;

	if (src_next(rs, in, &p, &n, moved, v) != 0)
		return -1;
	if (!rs->z_ready) {
		if (rs->dec == DEC_DEFLATE && rs->zhead_len == 0 && n == 1) {
			rs->zhead[rs->zhead_len++] = p[0]; /* the header's first byte alone */
			src_consume(rs, in, 1);
			*moved = true;
			return 0;
		}
		if (n == 0 && (rs->zhead_len == 0 || !src_done(rs, in)))
			return 0;
		if (z_start(rs, p, n) != 0)
			return refuse(v, 502, "internal_error",
				      "out of memory decoding the response");
		if (rs->zhead_len > 0) { /* the kept byte goes first */
			rs->zhead_len = 0;
			return z_run(rs, in, rs->zhead, 1, false, moved, v);
		}
	}
	if (rs->z_end) {
		if (n == 0)
			return 0;
		inflateReset(&rs->z); /* another gzip member follows (RFC 1952 allows it) */
		rs->z_end = false;
	}
	return z_run(rs, in, p, n, true, moved, v);
}

/* Plain (decoded) body bytes ready for the scrubber. */
static int plain_next(struct kh_rscrub *rs, struct kh_buf *in, const uint8_t **p, size_t *n,
		      bool *moved, struct kh_rscrub_verdict *v)
{
	if (rs->dec == DEC_NONE)
		return src_next(rs, in, p, n, moved, v);
	if (rs->zlen == 0 && inflate_more(rs, in, moved, v) != 0)
		return -1;
	*p = rs->zbuf + rs->zoff;
	*n = rs->zlen;
	return 0;
}

static void plain_consume(struct kh_rscrub *rs, struct kh_buf *in, size_t n)
{
	if (rs->dec == DEC_NONE) {
		src_consume(rs, in, n);
		return;
	}
	rs->zoff += n;
	rs->zlen -= n;
}

static bool plain_ended(const struct kh_rscrub *rs, const struct kh_buf *in)
{
	if (rs->dec == DEC_NONE)
		return src_done(rs, in);
	/* a kept header byte (inflate_more) is body still to decode */
	return rs->zlen == 0 && rs->zhead_len == 0 && src_done(rs, in) &&
	       (rs->z_end || !rs->z_ready);
}

/* --- the body we send --- */

/* Frames k.len scrubbed bytes at t + head (a chunk, or raw when the body is
 * close-delimited), then the last chunk if done. */
static size_t commit(struct kh_rscrub *rs, struct kh_buf *out, uint8_t *t, size_t len, bool done)
{
	size_t total = 0;

	if (rs->chunked_out) {
		if (len > 0) {
			static const char hex[] = "0123456789abcdef";

			for (size_t i = 0; i < 4; i++)
				t[i] = (uint8_t)hex[(len >> (12 - 4 * i)) & 15];
			memcpy(t + 4, "\r\n", 2);
			memcpy(t + FRAME_HEAD + len, "\r\n", FRAME_TAIL);
			total = FRAME_HEAD + len + FRAME_TAIL;
		}
		if (done) {
			memcpy(t + total, LAST_CHUNK, LAST_CHUNK_LEN);
			total += LAST_CHUNK_LEN;
		}
	} else {
		total = len;
	}
	if (total > 0)
		kh_buf_produced(out, total);
	return total;
}

/* One round: 1 progress, 0 blocked, -1 refused. */
static int body_step(struct kh_rscrub *rs, struct kh_buf *in, struct kh_buf *out,
		     struct kh_rscrub_verdict *v)
{
	size_t head = rs->chunked_out ? FRAME_HEAD : 0;
	size_t frame = head + FRAME_TAIL + LAST_CHUNK_LEN;
	size_t need = frame + rs->policy->scrub.max_rep, avail, n, used;
	struct kh_scrub_sink k;
	bool moved = false, done;
	const uint8_t *p;
	uint8_t *t;

	KH_CHECK(need <= out->cap); /* replacements are tokens: far below any buffer */
	t = kh_buf_tail_min(out, need, &avail);
	if (t == NULL || avail < need)
		return 0; /* the client is slow: wait for out to drain */
	avail = min_size(avail, MAX_CHUNK + frame);
	if (plain_next(rs, in, &p, &n, &moved, v) != 0)
		return -1;
	k = (struct kh_scrub_sink){ t + head, 0, avail - frame };
	used = kh_scrub_feed(&rs->st, p, n, false, &k);
	plain_consume(rs, in, used);
	done = used == n && plain_ended(rs, in);
	if (done) {
		kh_scrub_feed(&rs->st, NULL, 0, true, &k);
		done = kh_scrub_stream_pending(&rs->st) == 0;
	}
	v->produced += commit(rs, out, t, k.len, done);
	rs->done = done;
	return moved || used > 0 || k.len > 0 || done;
}

int kh_rscrub_body(struct kh_rscrub *rs, struct kh_buf *in, struct kh_buf *out,
		   struct kh_rscrub_verdict *v)
{
	int progress = 0, r;

	memset(v, 0, sizeof *v);
	while (rs->body && !rs->done && (r = body_step(rs, in, out, v)) != 0) {
		if (r < 0) {
			v->abort = true; /* the head is out: only cutting the connection is left */
			return -1;
		}
		progress = 1;
	}
	v->done = rs->done;
	return progress;
}

/* --- the request side: what we let the upstream choose --- */

static bool decodable(struct kh_slice coding)
{
	return kh_slice_eq_cstr_nocase(coding, "gzip") ||
	       kh_slice_eq_cstr_nocase(coding, "x-gzip") ||
	       kh_slice_eq_cstr_nocase(coding, "deflate") ||
	       kh_slice_eq_cstr_nocase(coding, "identity");
}

size_t kh_rscrub_accept_encoding(struct kh_slice in, char *out, size_t cap)
{
	struct kh_slice elem;
	size_t o = 0;

	while (kh_http_list_next(&in, &elem)) {
		struct kh_slice coding = elem;
		long semi = kh_slice_find(elem, ';');

		if (semi >= 0) /* "gzip;q=0.8": the parameters stay with it */
			coding = kh_slice_trim_ows(kh_slice_make(elem.ptr, (size_t)semi));
		if (!decodable(coding) || elem.len + 2 > cap - o)
			continue;
		if (o > 0) {
			memcpy(out + o, ", ", 2);
			o += 2;
		}
		memcpy(out + o, elem.ptr, elem.len);
		o += elem.len;
	}
	return o;
}
