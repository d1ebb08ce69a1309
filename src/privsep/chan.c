/* The channel codec (chan.h). One table of field readers per type; the
 * encoder writes the same fields and then decodes its own frame, so there
 * is one definition of what is valid. */
#include "privsep/chan.h"

#include <string.h>

#include "base/le.h"
#include "base/slice.h"

/* Character classes of string fields. */
enum cls {
	CLS_TOKEN, /* [a-z0-9_]+: reasons */
	CLS_WORD, /* visible ASCII, no space: labels, sources, addresses, names */
	CLS_TEXT, /* printable ASCII with space: details */
};

struct rd {
	const uint8_t *p;
	size_t n, off;
	struct kh_err *err;
};

static const char *const type_names[KH_CHAN_TYPE_END] = {
	[KH_CHAN_HELLO] = "HELLO",         [KH_CHAN_OPEN] = "OPEN",
	[KH_CHAN_OPEN_OK] = "OPEN_OK",     [KH_CHAN_OPEN_FAIL] = "OPEN_FAIL",
	[KH_CHAN_REQ_HEAD] = "REQ_HEAD",   [KH_CHAN_REQ_BODY] = "REQ_BODY",
	[KH_CHAN_REQ_END] = "REQ_END",     [KH_CHAN_RESP_HEAD] = "RESP_HEAD",
	[KH_CHAN_RESP_BODY] = "RESP_BODY", [KH_CHAN_RESP_END] = "RESP_END",
	[KH_CHAN_FAIL] = "FAIL",           [KH_CHAN_WINDOW] = "WINDOW",
	[KH_CHAN_DATA] = "DATA",           [KH_CHAN_SHUT] = "SHUT",
	[KH_CHAN_CLOSE] = "CLOSE",         [KH_CHAN_RST] = "RST",
	[KH_CHAN_SIGN_LEAF] = "SIGN_LEAF", [KH_CHAN_LEAF] = "LEAF",
	[KH_CHAN_LEAF_FAIL] = "LEAF_FAIL",
};

static const uint16_t type_flags[KH_CHAN_TYPE_END] = {
	[KH_CHAN_RESP_HEAD] = KH_CHAN_F_INTERIM | KH_CHAN_F_CLOSE | KH_CHAN_F_UPGRADE,
	[KH_CHAN_FAIL] = KH_CHAN_F_ABORT,
};

/* Types that belong to the channel, not to a stream: they ride stream 0. */
static bool on_stream0(uint16_t type)
{
	return type == KH_CHAN_HELLO || type == KH_CHAN_SIGN_LEAF || type == KH_CHAN_LEAF ||
	       type == KH_CHAN_LEAF_FAIL;
}

const char *kh_chan_type_name(uint16_t type)
{
	return type > 0 && type < KH_CHAN_TYPE_END ? type_names[type] : "?";
}

void kh_chan_hdr_read(const uint8_t *p, struct kh_chan_hdr *h)
{
	h->type = (uint16_t)kh_le_get(p, 2);
	h->flags = (uint16_t)kh_le_get(p + 2, 2);
	h->len = (uint32_t)kh_le_get(p + 4, 4);
	h->stream = kh_le_get(p + 8, 8);
}

/* --- reading --- */

static int rd_int(struct rd *r, size_t size, uint64_t *v, const char *what)
{
	if (r->n - r->off < size) {
		kh_err_set(r->err, "%s: frame too short", what);
		return -1;
	}
	*v = kh_le_get(r->p + r->off, size);
	r->off += size;
	return 0;
}

static int rd_u8(struct rd *r, uint8_t *v, const char *what)
{
	uint64_t x;

	if (rd_int(r, 1, &x, what) < 0)
		return -1;
	*v = (uint8_t)x;
	return 0;
}

static int rd_u16(struct rd *r, uint16_t *v, const char *what)
{
	uint64_t x;

	if (rd_int(r, 2, &x, what) < 0)
		return -1;
	*v = (uint16_t)x;
	return 0;
}

static int rd_u32(struct rd *r, uint32_t *v, const char *what)
{
	uint64_t x;

	if (rd_int(r, 4, &x, what) < 0)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

static int rd_bool(struct rd *r, bool *v, const char *what)
{
	uint8_t x;

	if (rd_u8(r, &x, what) < 0)
		return -1;
	if (x > 1) {
		kh_err_set(r->err, "%s: %u is not 0 or 1", what, x);
		return -1;
	}
	*v = x == 1;
	return 0;
}

static bool in_class(uint8_t c, enum cls k)
{
	switch (k) {
	case CLS_TOKEN:
		return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
	case CLS_WORD:
		return c > 0x20 && c < 0x7f;
	case CLS_TEXT:
		return c >= 0x20 && c < 0x7f;
	}
	return false;
}

/* A u16-length string into out[cap] (NUL-terminated); empty only if allowed. */
static int rd_str(struct rd *r, char *out, size_t cap, enum cls k, bool empty_ok, const char *what)
{
	uint16_t len;

	if (rd_u16(r, &len, what) < 0)
		return -1;
	if (len >= cap || (len == 0 && !empty_ok)) {
		kh_err_set(r->err, "%s: length %u outside 1..%zu", what, len, cap - 1);
		return -1;
	}
	if (r->n - r->off < len) {
		kh_err_set(r->err, "%s: frame too short", what);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (!in_class(r->p[r->off + i], k)) {
			kh_err_set(r->err, "%s: byte 0x%02x at %zu not allowed", what,
				   r->p[r->off + i], i);
			return -1;
		}
	}
	memcpy(out, r->p + r->off, len);
	out[len] = '\0';
	r->off += len;
	return 0;
}

static int rd_host(struct rd *r, char out[KH_HOST_BUF])
{
	char norm[KH_HOST_BUF];

	if (rd_str(r, out, KH_HOST_BUF, CLS_WORD, false, "host") < 0)
		return -1;
	if (kh_host_normalize((struct kh_slice){ out, strlen(out) }, norm) < 0 ||
	    strcmp(norm, out) != 0) {
		kh_err_set(r->err, "host: not a host name in normal form");
		return -1;
	}
	return 0;
}

/* The rest of the payload, at least one byte. */
static int rd_rest(struct rd *r, struct kh_chan_bytes *b, const char *what)
{
	if (r->off == r->n) {
		kh_err_set(r->err, "%s: empty", what);
		return -1;
	}
	b->p = r->p + r->off;
	b->n = r->n - r->off;
	r->off = r->n;
	return 0;
}

static int range(struct rd *r, uint64_t v, uint64_t lo, uint64_t hi, const char *what)
{
	if (v < lo || v > hi) {
		kh_err_set(r->err, "%s: %llu outside %llu..%llu", what, (unsigned long long)v,
			   (unsigned long long)lo, (unsigned long long)hi);
		return -1;
	}
	return 0;
}

static int rd_hello(struct rd *r, struct kh_chan_hello *h)
{
	if (rd_u16(r, &h->version, "version") < 0 || rd_u16(r, &h->role, "role") < 0 ||
	    rd_u32(r, &h->front_id, "front id") < 0 ||
	    rd_u32(r, &h->max_streams, "max streams") < 0)
		return -1;
	if (h->version != KH_CHAN_VERSION) {
		kh_err_set(r->err, "version %u, this side speaks %u", h->version, KH_CHAN_VERSION);
		return -1;
	}
	return range(r, h->role, KH_CHAN_ROLE_FRONT, KH_CHAN_ROLE_PARENT, "role") < 0 ||
			       range(r, h->max_streams, 1, UINT32_MAX, "max streams") < 0
		       ? -1
		       : 0;
}

static int rd_open(struct rd *r, struct kh_chan_open *o)
{
	if (rd_u8(r, &o->entry, "entry") < 0 || rd_bool(r, &o->tls, "tls") < 0 ||
	    rd_bool(r, &o->lazy, "lazy") < 0 || rd_u16(r, &o->port, "port") < 0 ||
	    rd_host(r, o->host) < 0 ||
	    rd_str(r, o->label, sizeof o->label, CLS_WORD, true, "label") < 0 ||
	    rd_str(r, o->source, sizeof o->source, CLS_WORD, false, "source") < 0 ||
	    rd_str(r, o->client, sizeof o->client, CLS_WORD, false, "client") < 0)
		return -1;
	return range(r, o->entry, 0, KH_CHAN_ENTRY_COUNT - 1, "entry") < 0 ||
			       range(r, o->port, 1, UINT16_MAX, "port") < 0
		       ? -1
		       : 0;
}

static int rd_fail(struct rd *r, struct kh_chan_fail *f)
{
	if (rd_u16(r, &f->status, "status") < 0 ||
	    rd_str(r, f->reason, sizeof f->reason, CLS_TOKEN, false, "reason") < 0 ||
	    rd_str(r, f->detail, sizeof f->detail, CLS_TEXT, true, "detail") < 0)
		return -1;
	return range(r, f->status, 400, 599, "status");
}

static int rd_req_head(struct rd *r, struct kh_chan_req_head *q)
{
	uint64_t blen;

	if (rd_u32(r, &q->exchange, "exchange") < 0 || rd_u8(r, &q->entry, "entry") < 0 ||
	    rd_u8(r, &q->body, "body kind") < 0 || rd_u16(r, &q->bits, "bits") < 0 ||
	    rd_u16(r, &q->port, "port") < 0 || rd_int(r, 8, &blen, "body length") < 0 ||
	    rd_host(r, q->host) < 0 || rd_rest(r, &q->head, "head") < 0)
		return -1;
	q->body_len = blen;
	if (range(r, q->entry, 0, KH_CHAN_ENTRY_COUNT - 1, "entry") < 0 ||
	    range(r, q->body, KH_CHAN_BODY_NONE, KH_CHAN_BODY_CLOSE, "body kind") < 0 ||
	    range(r, q->bits, 0, KH_CHAN_R_ALL, "bits") < 0 ||
	    range(r, q->port, 1, UINT16_MAX, "port") < 0)
		return -1;
	if (q->body != KH_CHAN_BODY_LENGTH && q->body_len != 0) {
		kh_err_set(r->err, "body length %llu without a length body",
			   (unsigned long long)q->body_len);
		return -1;
	}
	return 0;
}

static int rd_resp_end(struct rd *r, struct kh_chan_resp_end *e)
{
	uint64_t up;

	if (rd_bool(r, &e->keep_alive, "keep-alive") < 0 ||
	    rd_bool(r, &e->admitted, "admitted") < 0 ||
	    rd_u16(r, &e->upstream_status, "upstream status") < 0 ||
	    rd_u32(r, &e->scrubbed, "scrubbed") < 0 || rd_int(r, 8, &up, "bytes up") < 0 ||
	    rd_str(r, e->names, sizeof e->names, CLS_WORD, true, "names") < 0 ||
	    rd_str(r, e->label, sizeof e->label, CLS_WORD, true, "label") < 0)
		return -1;
	e->bytes_up = up;
	if (e->upstream_status != 0)
		return range(r, e->upstream_status, 100, 599, "upstream status");
	return 0;
}

/* The rest of the payload, 1..max bytes. */
static int rd_rest_max(struct rd *r, struct kh_chan_bytes *b, size_t max, const char *what)
{
	if (rd_rest(r, b, what) < 0)
		return -1;
	if (b->n > max) {
		kh_err_set(r->err, "%s: %zu bytes, more than %zu", what, b->n, max);
		return -1;
	}
	return 0;
}

static int rd_sign_leaf(struct rd *r, struct kh_chan_sign_leaf *q)
{
	return rd_int(r, 8, &q->req, "request id") < 0 || rd_host(r, q->host) < 0 ||
			       rd_rest_max(r, &q->spki, KH_LEAF_SPKI_MAX, "key") < 0
		       ? -1
		       : 0;
}

static int rd_leaf(struct rd *r, struct kh_chan_leaf *l)
{
	return rd_int(r, 8, &l->req, "request id") < 0 ||
			       rd_rest_max(r, &l->der, KH_LEAF_DER_MAX, "certificate") < 0
		       ? -1
		       : 0;
}

static int rd_leaf_fail(struct rd *r, struct kh_chan_leaf_fail *f)
{
	return rd_int(r, 8, &f->req, "request id") < 0 ||
			       rd_str(r, f->reason, sizeof f->reason, CLS_TOKEN, false, "reason") <
				       0 ||
			       rd_str(r, f->detail, sizeof f->detail, CLS_TEXT, true, "detail") < 0
		       ? -1
		       : 0;
}

static int rd_payload(struct rd *r, struct kh_chan_msg *m)
{
	switch (m->type) {
	case KH_CHAN_HELLO:
		return rd_hello(r, &m->u.hello);
	case KH_CHAN_OPEN:
		return rd_open(r, &m->u.open);
	case KH_CHAN_OPEN_FAIL:
	case KH_CHAN_FAIL:
		return rd_fail(r, &m->u.fail);
	case KH_CHAN_REQ_HEAD:
		return rd_req_head(r, &m->u.req);
	case KH_CHAN_REQ_BODY:
	case KH_CHAN_RESP_HEAD:
	case KH_CHAN_RESP_BODY:
	case KH_CHAN_DATA:
		return rd_rest(r, &m->u.bytes, kh_chan_type_name(m->type));
	case KH_CHAN_RESP_END:
		return rd_resp_end(r, &m->u.end);
	case KH_CHAN_WINDOW:
		return rd_u32(r, &m->u.credit, "credit") < 0
			       ? -1
			       : range(r, m->u.credit, 1, UINT32_MAX, "credit");
	case KH_CHAN_RST:
		return rd_str(r, m->u.reason, sizeof m->u.reason, CLS_TOKEN, false, "reason");
	case KH_CHAN_SIGN_LEAF:
		return rd_sign_leaf(r, &m->u.sign);
	case KH_CHAN_LEAF:
		return rd_leaf(r, &m->u.leaf);
	case KH_CHAN_LEAF_FAIL:
		return rd_leaf_fail(r, &m->u.leaf_fail);
	default: /* OPEN_OK, REQ_END, SHUT, CLOSE: no payload */
		return 0;
	}
}

/* What the header alone can refuse. */
static int check_hdr(const struct kh_chan_hdr *h, size_t n, struct kh_err *err)
{
	if (h->type == 0 || h->type >= KH_CHAN_TYPE_END) {
		kh_err_set(err, "unknown frame type %u", h->type);
		return -1;
	}
	if (h->len > KH_CHAN_FRAME_MAX || h->len != n - KH_CHAN_HDR) {
		kh_err_set(err, "%s: length %u, frame holds %zu bytes (cap %u)",
			   type_names[h->type], h->len, n - KH_CHAN_HDR, KH_CHAN_FRAME_MAX);
		return -1;
	}
	if ((h->flags & ~type_flags[h->type]) != 0) {
		kh_err_set(err, "%s: flags 0x%x not defined", type_names[h->type], h->flags);
		return -1;
	}
	if (on_stream0(h->type) && h->stream != 0) {
		kh_err_set(err, "%s: stream %llu (%s is on stream 0)", type_names[h->type],
			   (unsigned long long)h->stream, type_names[h->type]);
		return -1;
	}
	if (!on_stream0(h->type) && h->stream == 0) {
		kh_err_set(err, "%s: stream 0 is the channel's", type_names[h->type]);
		return -1;
	}
	return 0;
}

int kh_chan_decode(const uint8_t *frame, size_t n, struct kh_chan_msg *m, struct kh_err *err)
{
	struct kh_chan_hdr h;
	struct rd r = { .p = frame + KH_CHAN_HDR, .err = err };

	memset(m, 0, sizeof *m);
	if (n < KH_CHAN_HDR) {
		kh_err_set(err, "frame of %zu bytes, shorter than its header", n);
		goto fail;
	}
	kh_chan_hdr_read(frame, &h);
	m->type = h.type;
	m->flags = h.flags;
	m->stream = h.stream;
	if (check_hdr(&h, n, err) < 0)
		goto fail;
	r.n = h.len;
	if (rd_payload(&r, m) < 0) {
		kh_err_prefix(err, "%s", type_names[h.type]);
		goto fail;
	}
	if (r.off != r.n) {
		kh_err_set(err, "%s: %zu bytes after the last field", type_names[h.type],
			   r.n - r.off);
		goto fail;
	}
	return 0;
fail:
	/* a refusal leaves only what identifies the stream to fail */
	memset(&m->u, 0, sizeof m->u);
	return -1;
}

/* --- writing --- */

struct wr {
	struct kh_buf *b;
	int bad; /* did not fit, or a string was not terminated within its field */
};

static void wr_bytes(struct wr *w, const void *p, size_t n)
{
	if (!w->bad && kh_buf_append(w->b, p, n) < 0)
		w->bad = 1;
}

static void wr_int(struct wr *w, uint64_t v, size_t size)
{
	uint8_t tmp[8];

	kh_le_put(tmp, v, size);
	wr_bytes(w, tmp, size);
}

static void wr_str(struct wr *w, const char *s, size_t cap)
{
	size_t len = strnlen(s, cap);

	if (len == cap) {
		w->bad = 1;
		return;
	}
	wr_int(w, len, 2);
	wr_bytes(w, s, len);
}

static void wr_open(struct wr *w, const struct kh_chan_open *o)
{
	wr_int(w, o->entry, 1);
	wr_int(w, o->tls, 1);
	wr_int(w, o->lazy, 1);
	wr_int(w, o->port, 2);
	wr_str(w, o->host, sizeof o->host);
	wr_str(w, o->label, sizeof o->label);
	wr_str(w, o->source, sizeof o->source);
	wr_str(w, o->client, sizeof o->client);
}

static void wr_req_head(struct wr *w, const struct kh_chan_req_head *q)
{
	wr_int(w, q->exchange, 4);
	wr_int(w, q->entry, 1);
	wr_int(w, q->body, 1);
	wr_int(w, q->bits, 2);
	wr_int(w, q->port, 2);
	wr_int(w, q->body_len, 8);
	wr_str(w, q->host, sizeof q->host);
	wr_bytes(w, q->head.p, q->head.n);
}

static void wr_resp_end(struct wr *w, const struct kh_chan_resp_end *e)
{
	wr_int(w, e->keep_alive, 1);
	wr_int(w, e->admitted, 1);
	wr_int(w, e->upstream_status, 2);
	wr_int(w, e->scrubbed, 4);
	wr_int(w, e->bytes_up, 8);
	wr_str(w, e->names, sizeof e->names);
	wr_str(w, e->label, sizeof e->label);
}

static void wr_payload(struct wr *w, const struct kh_chan_msg *m)
{
	const struct kh_chan_hello *h = &m->u.hello;

	switch (m->type) {
	case KH_CHAN_HELLO:
		wr_int(w, h->version, 2);
		wr_int(w, h->role, 2);
		wr_int(w, h->front_id, 4);
		wr_int(w, h->max_streams, 4);
		break;
	case KH_CHAN_OPEN:
		wr_open(w, &m->u.open);
		break;
	case KH_CHAN_OPEN_FAIL:
	case KH_CHAN_FAIL:
		wr_int(w, m->u.fail.status, 2);
		wr_str(w, m->u.fail.reason, sizeof m->u.fail.reason);
		wr_str(w, m->u.fail.detail, sizeof m->u.fail.detail);
		break;
	case KH_CHAN_REQ_HEAD:
		wr_req_head(w, &m->u.req);
		break;
	case KH_CHAN_REQ_BODY:
	case KH_CHAN_RESP_HEAD:
	case KH_CHAN_RESP_BODY:
	case KH_CHAN_DATA:
		wr_bytes(w, m->u.bytes.p, m->u.bytes.n);
		break;
	case KH_CHAN_RESP_END:
		wr_resp_end(w, &m->u.end);
		break;
	case KH_CHAN_WINDOW:
		wr_int(w, m->u.credit, 4);
		break;
	case KH_CHAN_RST:
		wr_str(w, m->u.reason, sizeof m->u.reason);
		break;
	case KH_CHAN_SIGN_LEAF:
		wr_int(w, m->u.sign.req, 8);
		wr_str(w, m->u.sign.host, sizeof m->u.sign.host);
		wr_bytes(w, m->u.sign.spki.p, m->u.sign.spki.n);
		break;
	case KH_CHAN_LEAF:
		wr_int(w, m->u.leaf.req, 8);
		wr_bytes(w, m->u.leaf.der.p, m->u.leaf.der.n);
		break;
	case KH_CHAN_LEAF_FAIL:
		wr_int(w, m->u.leaf_fail.req, 8);
		wr_str(w, m->u.leaf_fail.reason, sizeof m->u.leaf_fail.reason);
		wr_str(w, m->u.leaf_fail.detail, sizeof m->u.leaf_fail.detail);
		break;
	default:
		break;
	}
}

int kh_chan_encode(const struct kh_chan_msg *m, struct kh_buf *out, struct kh_err *err)
{
	size_t start = kh_buf_len(out), plen;
	struct wr w = { .b = out };
	struct kh_chan_msg check;

	wr_int(&w, m->type, 2);
	wr_int(&w, m->flags, 2);
	wr_int(&w, 0, 4); /* length, set below */
	wr_int(&w, m->stream, 8);
	wr_payload(&w, m);
	if (w.bad) {
		kh_err_set(err, "%s: does not fit the buffer, or a string is unterminated",
			   kh_chan_type_name(m->type));
		goto fail;
	}
	plen = kh_buf_len(out) - start - KH_CHAN_HDR;
	kh_le_put(out->data + out->off + start + 4, plen > UINT32_MAX ? UINT32_MAX : plen, 4);
	/* the decoder is the one definition of a valid frame */
	if (kh_chan_decode(kh_buf_data(out) + start, plen + KH_CHAN_HDR, &check, err) < 0)
		goto fail;
	return 0;
fail:
	kh_buf_truncate(out, start);
	return -1;
}

static bool bytes_eq(const struct kh_chan_bytes *a, const struct kh_chan_bytes *b)
{
	return a->n == b->n && (a->n == 0 || memcmp(a->p, b->p, a->n) == 0);
}

static bool open_eq(const struct kh_chan_open *a, const struct kh_chan_open *b)
{
	return a->entry == b->entry && a->tls == b->tls && a->lazy == b->lazy &&
	       a->port == b->port && strcmp(a->host, b->host) == 0 &&
	       strcmp(a->label, b->label) == 0 && strcmp(a->source, b->source) == 0 &&
	       strcmp(a->client, b->client) == 0;
}

static bool req_eq(const struct kh_chan_req_head *a, const struct kh_chan_req_head *b)
{
	return a->exchange == b->exchange && a->entry == b->entry && a->body == b->body &&
	       a->bits == b->bits && a->port == b->port && a->body_len == b->body_len &&
	       strcmp(a->host, b->host) == 0 && bytes_eq(&a->head, &b->head);
}

static bool end_eq(const struct kh_chan_resp_end *a, const struct kh_chan_resp_end *b)
{
	return a->keep_alive == b->keep_alive && a->admitted == b->admitted &&
	       a->upstream_status == b->upstream_status && a->scrubbed == b->scrubbed &&
	       a->bytes_up == b->bytes_up && strcmp(a->names, b->names) == 0 &&
	       strcmp(a->label, b->label) == 0;
}

bool kh_chan_msg_equal(const struct kh_chan_msg *a, const struct kh_chan_msg *b)
{
	const struct kh_chan_fail *fa = &a->u.fail, *fb = &b->u.fail;

	if (a->type != b->type || a->flags != b->flags || a->stream != b->stream)
		return false;
	switch (a->type) {
	case KH_CHAN_HELLO:
		return memcmp(&a->u.hello, &b->u.hello, sizeof a->u.hello) == 0;
	case KH_CHAN_OPEN:
		return open_eq(&a->u.open, &b->u.open);
	case KH_CHAN_OPEN_FAIL:
	case KH_CHAN_FAIL:
		return fa->status == fb->status && strcmp(fa->reason, fb->reason) == 0 &&
		       strcmp(fa->detail, fb->detail) == 0;
	case KH_CHAN_REQ_HEAD:
		return req_eq(&a->u.req, &b->u.req);
	case KH_CHAN_REQ_BODY:
	case KH_CHAN_RESP_HEAD:
	case KH_CHAN_RESP_BODY:
	case KH_CHAN_DATA:
		return bytes_eq(&a->u.bytes, &b->u.bytes);
	case KH_CHAN_RESP_END:
		return end_eq(&a->u.end, &b->u.end);
	case KH_CHAN_WINDOW:
		return a->u.credit == b->u.credit;
	case KH_CHAN_RST:
		return strcmp(a->u.reason, b->u.reason) == 0;
	case KH_CHAN_SIGN_LEAF:
		return a->u.sign.req == b->u.sign.req &&
		       strcmp(a->u.sign.host, b->u.sign.host) == 0 &&
		       bytes_eq(&a->u.sign.spki, &b->u.sign.spki);
	case KH_CHAN_LEAF:
		return a->u.leaf.req == b->u.leaf.req && bytes_eq(&a->u.leaf.der, &b->u.leaf.der);
	case KH_CHAN_LEAF_FAIL:
		return a->u.leaf_fail.req == b->u.leaf_fail.req &&
		       strcmp(a->u.leaf_fail.reason, b->u.leaf_fail.reason) == 0 &&
		       strcmp(a->u.leaf_fail.detail, b->u.leaf_fail.detail) == 0;
	default:
		return true;
	}
}

/* --- splitting a byte stream into frames --- */

void kh_chan_split_init(struct kh_chan_split *s)
{
	s->len = 0;
	s->handed = false;
	s->broken = false;
}

static void split_drop_handed(struct kh_chan_split *s)
{
	if (s->handed) {
		s->len = 0;
		s->handed = false;
	}
}

/* Bytes the frame being gathered still needs (0: complete). */
static size_t split_want(struct kh_chan_split *s)
{
	struct kh_chan_hdr h;

	if (s->len < KH_CHAN_HDR)
		return KH_CHAN_HDR - s->len;
	kh_chan_hdr_read(s->buf, &h);
	if (h.len > KH_CHAN_FRAME_MAX) {
		s->broken = true;
		return 0;
	}
	return KH_CHAN_HDR + h.len - s->len;
}

size_t kh_chan_split_feed(struct kh_chan_split *s, const uint8_t *p, size_t n)
{
	size_t used = 0, want;

	split_drop_handed(s);
	while (used < n && !s->broken && (want = split_want(s)) > 0) {
		if (want > n - used)
			want = n - used;
		memcpy(s->buf + s->len, p + used, want);
		s->len += want;
		used += want;
	}
	return used;
}

int kh_chan_split_next(struct kh_chan_split *s, const uint8_t **frame, size_t *n,
		       struct kh_err *err)
{
	split_drop_handed(s);
	if (!s->broken && split_want(s) > 0)
		return 0;
	if (s->broken) {
		kh_err_set(
			err,
			"channel: a frame announces more than %u bytes; the stream cannot resync",
			KH_CHAN_FRAME_MAX);
		return -1;
	}
	*frame = s->buf;
	*n = s->len;
	s->handed = true;
	return 1;
}
