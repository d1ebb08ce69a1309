/* HTTP/1.1 exchanges between the client and the upstream, one at a time:
 * the kh_relay_h1 protocol (relay.h, proto.h). */
#include "proxy/relay.h"

#include <stdatomic.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy/audit.h"
#include "proxy/auditgate.h"
#include "swap/bodyshare.h"
#include "base/check.h"
#include "base/clock.h"
#include "proxy/conn.h"
#include "proxy/exchange.h"
#include "base/log.h"
#include "proxy/route.h"
#include "swap/resign.h"
#include "swap/respscrub.h"
#include "swap/rewrite.h"
#include "swap/sigv4.h"
#include "base/version.h"

/* The protocol's state: its one exchange and the parse state of cin. */
struct h1 {
	struct kh_exchange ex;
	struct kh_head_scan head; /* the next request head in cin */
	/* cin grown past its usual cap to hold a whole request body that SigV4
	 * re-signing must hash before the head can go out */
	struct h1_sigbody {
		size_t room; /* bytes added to cin's cap (counted in a daemon-wide budget) */
		char source[KH_BODYSHARE_KEY_MAX]; /* whose share room counts against */
		bool waiting; /* a parsed head waits in cin for the rest of its body */
		bool continue_sent; /* "100 Continue" already answered for it */
	} sigbody;
};

static struct h1 *h1_of(const struct kh_conn *c)
{
	return c->proto_state;
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* --- starting a request --- */

/* --- SigV4 bodies ---
 * A SigV4 request signed without x-amz-content-sha256 covers the hash of its
 * body, so keyhole must hold all of it before it can check the signature and
 * re-sign the head. Before holding anything, the head must pass every check
 * it can pass alone (kh_resign_precheck: key id, scope and destination,
 * date, size, ...), so junk is refused at once. The body then waits in cin,
 * grown for that one request; the growth counts against a daemon-wide
 * budget, of which each client (its sandbox, else its address) may hold only
 * a share, so one client holding bodies open cannot starve the others. The
 * header timeout keeps running while the body arrives. */

static struct kh_bodyshare sigbody_share = KH_BODYSHARE_INIT(KH_SIGV4_BODY_BUDGET,
							     KH_SIGV4_BODY_SHARE);

static void release_body_room(struct kh_conn *c)
{
	struct h1_sigbody *sb = &h1_of(c)->sigbody;
	size_t base = c->cin.cap - sb->room;

	if (sb->room == 0 || kh_buf_len(&c->cin) > base || kh_buf_set_cap(&c->cin, base) != 0)
		return;
	kh_bodyshare_give(&sigbody_share, sb->source, sb->room);
	sb->room = 0;
}

/* Whose share a held body counts against: the connection's source (its
 * sandbox, else the client's address whatever its source port), kept apart
 * by kind so a label can never stand for an address. */
static void body_source(const struct kh_conn *c, char out[KH_BODYSHARE_KEY_MAX])
{
	char source[KH_SOURCE_MAX];

	kh_conn_source(c, source, sizeof source);
	kh_fmt(out, KH_BODYSHARE_KEY_MAX, "%s:%s", c->sandbox_label[0] ? "sandbox" : "addr",
	       source);
}

/* Refuses a head before it is routed: the exchange is begun for its record. */
static void refuse_head(struct kh_conn *c, const struct kh_http_head *h, int status,
			const char *reason, const char *detail)
{
	kh_route_begin(c, h);
	kh_exchange_set_path(c->ex, c->policy, h->target);
	kh_conn_fail(c, status, reason, detail);
}

static int grow_cin(struct kh_conn *c, const struct kh_http_head *h, size_t need)
{
	struct h1_sigbody *sb = &h1_of(c)->sigbody;
	size_t add = need - c->cin.cap;
	char detail[KH_DETAIL_MAX];
	int rc;

	if (sb->room == 0)
		body_source(c, sb->source);
	rc = kh_bodyshare_take(&sigbody_share, sb->source, add);
	if (rc == KH_BODYSHARE_OK && kh_buf_set_cap(&c->cin, need) == 0) {
		sb->room += add;
		return 0;
	}
	if (rc == KH_BODYSHARE_OK)
		kh_bodyshare_give(&sigbody_share, sb->source, add);
	if (rc == KH_BODYSHARE_SHARE) {
		kh_fmt(detail, sizeof detail,
		       "this client (%s) already holds its share of request bodies that keyhole "
		       "must read whole to check their SigV4 signature (%u MiB of %u MiB for all "
		       "clients); finish or close those requests, or send x-amz-content-sha256 "
		       "so bodies need not be held",
		       sb->source, KH_SIGV4_BODY_SHARE >> 20, KH_SIGV4_BODY_BUDGET >> 20);
		refuse_head(c, h, 429, "sigv4_body_share", detail);
	} else {
		refuse_head(c, h, 503, "sigv4_busy",
			    "keyhole is holding too many request bodies for SigV4 hashing right "
			    "now; retry");
	}
	return -1;
}

/* Checks a SigV4 head before anything of its body is held. 1: its body
 * must be held whole; 0: it need not be; -1: refused (answered). */
static int sigv4_precheck(struct kh_conn *c, const struct kh_http_head *h)
{
	struct kh_rw_ctx ctx = { c->policy, c->host,     c->port,
				 443,       true,        false,
				 h->target, { NULL, 0 }, (int64_t)time(NULL) };
	struct kh_rw_result res;
	int rc;

	/* Only a Content-Length body is ever held, and only inside a TLS tunnel
	 * for an origin-form target; any other request is judged (and a SigV4
	 * one refused if it must be) when it is routed, with nothing held. */
	if (h->body != KH_BODY_LENGTH || c->mode != KH_MODE_MITM || h->target.len == 0 ||
	    h->target.ptr[0] != '/')
		return 0;
	rc = kh_resign_precheck(&ctx, h, &res);
	if (rc < 0)
		refuse_head(c, h, res.status, res.reason, res.detail);
	return rc;
}

/* 1: the head can be routed; 0: it must wait for the rest of its body
 * (*progress tells whether anything changed); -1: refused (answered). */
static int sigv4_body_ready(struct kh_conn *c, const struct kh_http_head *h, bool *progress)
{
	struct h1_sigbody *sb = &h1_of(c)->sigbody;
	size_t need = h->head_len + (size_t)h->content_length;
	int rc;

	*progress = false;
	if (!sb->waiting && (rc = sigv4_precheck(c, h)) <= 0)
		return rc < 0 ? -1 : 1;
	if (kh_buf_len(&c->cin) >= need) {
		sb->waiting = false;
		return 1;
	}
	if (c->cin.cap < need) {
		if (grow_cin(c, h, need) != 0)
			return -1;
		*progress = true; /* the client's socket may be readable again */
	}
	if (h->expect_continue && !sb->continue_sent &&
	    kh_buf_append_str(&c->cout, "HTTP/1.1 100 Continue\r\n\r\n") == 0) {
		sb->continue_sent = true;
		*progress = true;
	}
	sb->waiting = true;
	h1_of(c)->head.pending = true; /* the header timeout covers the body too */
	return 0;
}

/* The whole Content-Length body, when it is already in cin. */
static struct kh_slice body_in_cin(const struct kh_conn *c, const struct kh_http_head *h)
{
	size_t have = kh_buf_len(&c->cin) - h->head_len;

	if (h->body != KH_BODY_LENGTH || have < h->content_length)
		return kh_slice_make(NULL, 0);
	return kh_slice_make(kh_buf_data(&c->cin) + h->head_len, (size_t)h->content_length);
}

static void forward(struct kh_conn *c, const struct kh_http_head *h, struct kh_slice target,
		    bool tls, bool absolute)
{
	struct kh_rw_ctx ctx = { c->policy, c->host, c->port,           tls ? 443 : 80,     tls,
				 absolute,  target,  body_in_cin(c, h), (int64_t)time(NULL) };
	struct kh_rw_result res;
	size_t before = kh_buf_len(&c->uout);

	if (c->policy->audit_refuse && kh_audit_failing(NULL)) { /* its record is the retry */
		kh_conn_fail(c, 503, "audit_unavailable",
			     "the audit log cannot be written (disk full?) and audit_failure is "
			     "refuse");
		return;
	}
	if (kh_rewrite_request(&ctx, h, &c->uout, &res) != 0) {
		memcpy(c->ex->sandbox, res.sandbox, sizeof c->ex->sandbox);
		kh_conn_fail(c, res.status, res.reason, res.detail);
		return;
	}
	memcpy(c->ex->sandbox, res.sandbox, sizeof c->ex->sandbox);
	if (res.body_sha256[0] != '\0' &&
	    (c->ex->req_hash = kh_sigv4_body_new(kh_slice_cstr(res.body_sha256))) == NULL) {
		kh_buf_truncate(&c->uout, before);
		kh_conn_fail(c, 503, "out_of_memory", "no memory to check the request body");
		return;
	}
	memcpy(c->ex->swapped, res.swapped, sizeof c->ex->swapped);
	c->ex->n_swapped = res.n_swapped;
	c->ex->upgrade = res.upgrade;
	c->ex->whole_response = res.whole_response;
	c->ex->req_body = h->body;
	c->ex->req_left = h->content_length;
	c->ex->req_done = h->body == KH_BODY_NONE;
	c->ex->req_keep_alive = h->keep_alive;
	kh_chunked_init(&c->ex->req_chunked, c->policy->limits.max_header_bytes);
	kh_buf_consume(&c->cin, h->head_len);
	c->phase_start_ms = kh_loop_now(c->cx->loop);
	if (kh_dial_matches(&c->up, c->policy, c->host, c->port, tls))
		c->ex->admitted = true; /* the head goes out on the connection it has */
	else
		kh_dial_start(&c->up, c->policy, c->host, c->port, tls, c->host_is_ip);
}

/* Finds, parses and routes the next request head in cin. */
static bool start_request(struct kh_conn *c)
{
	struct h1 *st = h1_of(c);
	struct kh_http_limits lim = { c->policy->limits.max_header_bytes +
					      (c->keyside ? KH_FRONT_HEAD_SLACK : 0),
				      c->policy->limits.max_headers };
	struct kh_http_head h = { .headers = c->cx->hdrs };
	struct kh_http_error err;
	bool progress;
	ssize_t n;

	if (!st->sigbody.waiting)
		release_body_room(c); /* back to the usual cap once drained */
	if (c->close_after || kh_buf_len(&c->cin) == 0 ||
	    kh_buf_room(&c->cout) < KH_ERROR_RESPONSE_MAX)
		return false; /* keep room so any answer, even an error, fits */
	kh_shared_refresh(c->cx->sh, &c->policy); /* a reload applies from the next request */
	n = kh_route_next_head(c, &st->head, lim.max_head, &err, &progress);
	if (n == 0)
		return progress;
	if (n < 0 || kh_http_parse_request(kh_buf_data(&c->cin), (size_t)n, &lim, &h, &err) != 0) {
		kh_route_fail_parse(c, &err);
		return true;
	}
	switch (sigv4_body_ready(c, &h, &progress)) {
	case 0:
		return progress;
	case -1:
		return true;
	default:
		break;
	}
	st->sigbody.continue_sent = false;
	kh_route_begin(c, &h);
	kh_route_request(c, &h, false, forward);
	return true;
}

/* --- bodies --- */

/* Feeds n bytes of a chunked body to its validator; when hash is set, the
 * chunk data among them (not the framing) is hashed too. */
static ssize_t feed_chunked(struct kh_chunked *ch, struct kh_sigv4_body *hash, const uint8_t *p,
			    size_t n, bool *done, struct kh_http_error *err)
{
	size_t i = 0;

	if (hash == NULL)
		return kh_chunked_feed(ch, p, n, done, err);
	*done = false;
	while (i < n && !*done) {
		uint64_t run = kh_chunked_data_run(ch);
		size_t take = run > 0 ? (size_t)(run < n - i ? run : n - i) : 1;
		ssize_t r = kh_chunked_feed(ch, p + i, take, done, err);

		if (r <= 0)
			return r < 0 ? -1 : (ssize_t)i;
		if (run > 0)
			kh_sigv4_body_update(hash, p + i, (size_t)r);
		i += (size_t)r;
	}
	return (ssize_t)i;
}

/* Moves framed body bytes from src to dst. Returns bytes moved, -1 on a
 * chunked framing error, -2 when the body ends without matching hash (the
 * request's declared SigV4 digest: its last bytes are then not moved, so the
 * upstream never gets a whole request). Sets *done at the end of the body. */
static ssize_t move_body(struct kh_buf *src, struct kh_buf *dst, enum kh_body_kind kind,
			 uint64_t *left, struct kh_chunked *ch, struct kh_sigv4_body *hash,
			 bool *done, struct kh_http_error *err)
{
	size_t n = min_size(kh_buf_len(src), kh_buf_room(dst));
	ssize_t r;

	*done = false;
	if (n == 0)
		return 0;
	switch (kind) {
	case KH_BODY_LENGTH:
		n = (size_t)(n < *left ? n : *left);
		if (hash != NULL)
			kh_sigv4_body_update(hash, kh_buf_data(src), n);
		*left -= n;
		*done = *left == 0;
		break;
	case KH_BODY_CHUNKED:
		r = feed_chunked(ch, hash, kh_buf_data(src), n, done, err);
		if (r < 0)
			return -1;
		n = (size_t)r;
		break;
	default: /* KH_BODY_CLOSE: everything until EOF */
		break;
	}
	if (*done && hash != NULL && !kh_sigv4_body_matches(hash)) {
		*err = (struct kh_http_error){ 400,
					       "the request body does not match the SHA-256 "
					       "that its x-amz-content-sha256 declares and "
					       "its SigV4 signature covers; the upstream was "
					       "not sent the whole request",
					       NULL };
		return -2;
	}
	kh_buf_append(dst, kh_buf_data(src), n);
	kh_buf_consume(src, n);
	return (ssize_t)n;
}

static bool request_body(struct kh_conn *c)
{
	struct kh_http_error err;
	bool moved = false, done;
	ssize_t n;

	while (c->ex->active && !c->ex->req_done && c->up.state == KH_UP_READY) {
		n = move_body(&c->cin, &c->uout, c->ex->req_body, &c->ex->req_left,
			      &c->ex->req_chunked, c->ex->req_hash, &done, &err);
		if (n < 0) {
			kh_conn_fail(c, err.status, n == -2 ? "sigv4_body_mismatch" : "bad_request",
				     err.why);
			return true;
		}
		if (n == 0 && !done)
			break;
		c->ex->bytes_in += (uint64_t)n;
		c->ex->req_done = done;
		moved = true;
	}
	return moved;
}

/* The response body through the scrubbing filter (respscrub.h): de-framed,
 * decoded, scrubbed, re-framed. */
static bool scrub_body(struct kh_conn *c)
{
	struct kh_rscrub_verdict v;
	int r;

	if (c->ex->resp_done)
		return false;
	r = kh_rscrub_body(c->ex->scrub, &c->uin, &c->cout, &v);
	c->ex->bytes_out += v.produced;
	if (r < 0) {
		kh_conn_fail(c, v.status, v.reason, v.detail); /* response started: aborts */
		return true;
	}
	c->ex->resp_done = v.done;
	return r > 0;
}

static bool response_body(struct kh_conn *c)
{
	struct kh_http_error err;
	bool moved = false, done;
	ssize_t n;

	if (c->ex->scrub != NULL && c->ex->active && c->ex->resp_head_done)
		return scrub_body(c);
	while (c->ex->active && c->ex->resp_head_done && !c->ex->resp_done) {
		n = move_body(&c->uin, &c->cout, c->ex->resp_body, &c->ex->resp_left,
			      &c->ex->resp_chunked, NULL, &done, &err);
		if (n < 0) {
			kh_conn_fail(c, 502, "upstream_bad_response", err.why);
			return true;
		}
		if (n == 0 && !done)
			break;
		c->ex->bytes_out += (uint64_t)n;
		c->ex->resp_done = done;
		moved = true;
	}
	return moved;
}

/* --- response head --- */

static void switch_to_tunnel(struct kh_conn *c)
{
	kh_conn_audit(c, c->ex, "allow", "upgraded", NULL);
	kh_rscrub_free(c->ex->scrub); /* tunnel bytes are not HTTP: not scrubbed */
	c->ex->scrub = NULL;
	c->ex->active = false;
	kh_conn_set_state(c, KH_CS_TUNNEL);
}

/* The client asked to close, but the upstream (which was not told, so its
 * connection can be pooled) answered as persistent: the client must read
 * from the head that this connection ends after the response. */
static bool must_announce_close(const struct kh_conn *c, const struct kh_http_head *h)
{
	return !c->ex->req_keep_alive && h->keep_alive && h->status >= 200 && h->status != 101;
}

#define CLOSE_FIELD "Connection: close\r\n\r\n"

static bool hop_field(struct kh_slice name)
{
	return kh_slice_eq_cstr_nocase(name, "connection") ||
	       kh_slice_eq_cstr_nocase(name, "keep-alive");
}

/* Length of the status line (the parser accepted its line end). */
static size_t status_line_len(const uint8_t *p, size_t n)
{
	size_t line = 0;

	while (line < n && p[line] != '\r' && p[line] != '\n')
		line++;
	return line;
}

/* Bytes forward_head_closing writes. */
static size_t closing_head_len(const struct kh_http_head *h, size_t line)
{
	size_t len = line + 2 + sizeof CLOSE_FIELD - 1;

	for (size_t i = 0; i < h->n_headers; i++)
		if (!hop_field(h->headers[i].name))
			len += h->headers[i].name.len + h->headers[i].value.len + 4;
	return len;
}

/* The head with its Connection and Keep-Alive fields replaced by
 * "Connection: close"; fields are rebuilt as "name: value\r\n". 1 done,
 * 0 no room yet, -1 refused. */
static int forward_head_closing(struct kh_conn *c, const struct kh_http_head *h, size_t n)
{
	const uint8_t *p = kh_buf_data(&c->uin);
	size_t line = status_line_len(p, n), need = closing_head_len(h, line), avail;
	struct kh_buf *b = &c->cout;

	if (need > b->cap) {
		kh_conn_fail(c, 502, "upstream_bad_response", "the response head is too large");
		return -1;
	}
	/* With storage and room for all of it, no append below can fail. */
	if (kh_buf_room(b) < need || kh_buf_tail_min(b, need, &avail) == NULL)
		return 0;
	kh_buf_append(b, p, line);
	kh_buf_append(b, "\r\n", 2);
	for (size_t i = 0; i < h->n_headers; i++) {
		const struct kh_http_header *f = &h->headers[i];

		if (hop_field(f->name))
			continue;
		kh_buf_append(b, f->name.ptr, f->name.len);
		kh_buf_append(b, ": ", 2);
		kh_buf_append(b, f->value.ptr, f->value.len);
		kh_buf_append(b, "\r\n", 2);
	}
	KH_CHECK(kh_buf_append_str(b, CLOSE_FIELD) == 0);
	c->ex->bytes_out += need;
	return 1;
}

/* The response head through the scrubbing filter (respscrub.h). 1 done,
 * 0 no room yet, -1 refused. */
static int scrub_head(struct kh_conn *c, const struct kh_http_head *h)
{
	struct kh_rscrub_req req = { c->ex->req_keep_alive, c->ex->req_http10,
				     c->ex->whole_response };
	struct kh_rscrub_verdict v;
	int r;

	if (c->ex->scrub == NULL && (c->ex->scrub = kh_rscrub_new(c->policy)) == NULL) {
		kh_conn_fail(c, 502, "internal_error", "out of memory scrubbing the response");
		return -1;
	}
	r = kh_rscrub_head(c->ex->scrub, &req, h, kh_buf_data(&c->uin), &c->cout, &v);
	if (r < 0) {
		kh_conn_fail(c, v.status, v.reason, v.detail);
		return -1;
	}
	c->ex->bytes_out += v.produced;
	if (v.close)
		c->ex->req_keep_alive = false; /* the body ends where we close */
	return r;
}

/* Copies the response head to cout, verbatim or scrubbed. 1 done, 0 no
 * room yet, -1 refused. */
static int forward_head(struct kh_conn *c, const struct kh_http_head *h, size_t n)
{
	if (kh_rscrub_enabled(c->policy))
		return scrub_head(c, h);
	if (must_announce_close(c, h))
		return forward_head_closing(c, h, n);
	if (kh_buf_room(&c->cout) < n)
		return 0;
	kh_buf_append(&c->cout, kh_buf_data(&c->uin), n);
	c->ex->bytes_out += (uint64_t)n;
	return 1;
}

static bool response_head(struct kh_conn *c)
{
	struct kh_http_limits lim = { KH_MAX_RESPONSE_HEAD, KH_MAX_HEADERS_CEIL };
	struct kh_http_head h = { .headers = c->cx->hdrs };
	struct kh_http_error err;
	ssize_t n;

	if (kh_buf_len(&c->uin) == 0)
		return false;
	n = kh_http_scan_head(kh_buf_data(&c->uin), kh_buf_len(&c->uin), &c->ex->resp_scan,
			      KH_MAX_RESPONSE_HEAD, &err);
	if (n == 0)
		return false;
	if (n < 0 || kh_http_parse_response(kh_buf_data(&c->uin), (size_t)n, &lim,
					    c->ex->head_method, &h, &err) != 0) {
		kh_conn_fail(c, 502, "upstream_bad_response", err.why);
		return true;
	}
	if (h.status == 101 && !c->ex->upgrade) {
		kh_conn_fail(c, 502, "upstream_bad_response",
			     "101 Switching Protocols without an upgrade");
		return true;
	}
	switch (forward_head(c, &h, (size_t)n)) {
	case 0:
		c->ex->resp_scan = 0; /* rescanned once cout has drained */
		return false;
	case -1:
		return true; /* refused: the connection already failed */
	default:
		break;
	}
	kh_buf_consume(&c->uin, (size_t)n);
	c->ex->resp_scan = 0;
	c->ex->resp_started = true;
	c->ex->status = (int)h.status;
	if (h.status == 101) {
		switch_to_tunnel(c);
		return true;
	}
	if (h.status < 200)
		return true; /* interim (100 Continue): the final response follows */
	c->ex->resp_head_done = true;
	c->ex->resp_body = h.body;
	c->ex->resp_left = h.content_length;
	c->ex->resp_done = h.body == KH_BODY_NONE;
	c->ex->resp_keep_alive = h.keep_alive;
	kh_chunked_init(&c->ex->resp_chunked, KH_MAX_RESPONSE_HEAD);
	return true;
}

/* --- completion and end-of-stream --- */

static bool complete_exchange(struct kh_conn *c)
{
	bool keep;

	if (!c->ex->active || !c->ex->req_done || !c->ex->resp_done)
		return false;
	kh_conn_audit(c, c->ex, "allow", "allowed", NULL);
	keep = c->ex->req_keep_alive && c->ex->resp_keep_alive;
	if (!c->ex->resp_keep_alive)
		kh_dial_reset(&c->up);
	else
		c->up.used = true;
	if (!keep)
		c->close_after = true;
	kh_exchange_reset(c->ex);
	c->phase_start_ms = kh_loop_now(c->cx->loop);
	return true;
}

static bool upstream_gone(const struct kh_conn *c)
{
	return c->up.ep.failed || (c->up.ep.eof && kh_buf_len(&c->uin) == 0);
}

/* Ends of stream and errors on either side. Returns true if it acted. */
static bool check_ends(struct kh_conn *c)
{
	if (c->cli.failed || (c->cli.eof && c->ex->active && !c->ex->req_done)) {
		if (c->ex->active)
			kh_conn_audit(c, c->ex, "error", "client_closed",
				      c->keyside ? "the front ended the stream mid-request (the "
						   "client went away, or the front refused the "
						   "rest: its record says why)"
						 : "the client went away mid-request");
		kh_conn_close(c);
		return true;
	}
	if (c->ex->active && c->up.state == KH_UP_READY && upstream_gone(c) && !c->ex->resp_done) {
		if (c->ex->resp_head_done && c->ex->resp_body == KH_BODY_CLOSE &&
		    !c->up.ep.failed) {
			if (c->ex->scrub != NULL) /* the scrubber still has to finish */
				return kh_rscrub_source_closed(c->ex->scrub);
			c->ex->resp_done = true; /* close-delimited body ended */
			return true;
		}
		if (kh_rscrub_source_done(c->ex->scrub, &c->uin))
			return false; /* all read: what is left is ours to send */
		kh_conn_fail(c, 502, "upstream_reset",
			     c->ex->resp_started
				     ? "the upstream closed the connection mid-response"
				     : "the upstream closed the connection without responding");
		return true;
	}
	if (c->ex->active && c->ex->resp_done && !c->ex->req_done && upstream_gone(c)) {
		/* Answered early and hung up (e.g. 413): the rest of the request body
		 * has nowhere to go, and leaving it in the stream would desynchronize. */
		kh_conn_audit(c, c->ex, "allow", "allowed",
			      "upstream answered before the request body ended");
		kh_exchange_reset(c->ex);
		kh_dial_reset(&c->up);
		c->close_after = true;
		return true;
	}
	if (!c->ex->active && c->up.state == KH_UP_READY && (c->up.ep.eof || c->up.ep.failed)) {
		kh_dial_reset(&c->up); /* an idle upstream connection went away: redial next time */
		return true;
	}
	if (!c->ex->active && c->cli.eof && !c->close_after) {
		c->close_after = true;
		return true;
	}
	return false;
}

/* --- driver --- */

static bool h1_step(struct kh_conn *c)
{
	bool p = false;

	p |= kh_conn_fill(c, &c->cli, &c->cin);
	if (!c->ex->active && start_request(c)) {
		p = true;
		if (c->dead || c->state != KH_CS_RELAY)
			return true;
	}
	p |= request_body(c);
	if (c->up.state == KH_UP_READY) {
		p |= kh_conn_flush(c, &c->up.ep, &c->uout);
		p |= kh_conn_fill(c, &c->up.ep, &c->uin);
	}
	if (c->ex->active && !c->ex->resp_head_done)
		p |= response_head(c);
	if (c->dead || c->state != KH_CS_RELAY)
		return true;
	p |= response_body(c);
	p |= kh_conn_flush(c, &c->cli, &c->cout);
	if (c->dead || c->state != KH_CS_RELAY)
		return true;
	p |= complete_exchange(c);
	p |= check_ends(c);
	if (!c->dead && c->state == KH_CS_RELAY && !c->ex->active && c->close_after) {
		/* The upstream goes back to the pool now, not after the client has
		 * read our last bytes and hung up: the next connection may want it. */
		kh_conn_park_upstream(c);
		kh_conn_set_state(c, KH_CS_CLOSING);
		p = true;
	}
	return p;
}

/* --- the protocol's ops --- */

static uint64_t h1_deadline(const struct kh_conn *c)
{
	const struct kh_timeouts *t = &c->policy->timeouts;

	if (c->ex->active) {
		if (c->up.state != KH_UP_READY)
			return c->phase_start_ms + kh_secs_ms(t->connect) +
			       kh_secs_ms(t->handshake);
		if (!c->ex->resp_head_done)
			return c->last_activity_ms + kh_secs_ms(t->response);
		return c->last_activity_ms + kh_secs_ms(t->idle);
	}
	if (kh_buf_len(&c->cin) > 0)
		return h1_of(c)->head.start_ms + kh_secs_ms(t->header);
	if (kh_conn_parkable(c))
		return c->phase_start_ms + KH_UPSTREAM_PARK_MS;
	return c->phase_start_ms + kh_secs_ms(t->keepalive);
}

static void h1_timeout(struct kh_conn *c)
{
	char detail[KH_DETAIL_MAX];
	const struct kh_timeouts *t = &c->policy->timeouts;

	if (!c->ex->active) {
		if (kh_buf_len(&c->cin) == 0 && kh_conn_park_upstream(c))
			return; /* idle client: its upstream goes back to the pool */
		if (kh_buf_len(&c->cin) == 0) {
			kh_conn_close(c); /* idle keep-alive connection */
			return;
		}
		kh_fmt(detail, sizeof detail, "request head not received within %u s", t->header);
		kh_conn_fail(c, 408, "header_timeout", detail);
		return;
	}
	if (c->up.state != KH_UP_READY || !c->ex->resp_head_done) {
		kh_fmt(detail, sizeof detail, "%s:%u did not %s within the timeout", c->up.host,
		       c->up.port,
		       c->up.state != KH_UP_READY ? "accept the connection" : "respond");
		kh_conn_fail(c, 504, "upstream_timeout", detail);
		return;
	}
	kh_conn_audit(c, c->ex, "error", "idle_timeout", "no data moved within timeouts.idle");
	kh_conn_close(c);
}

/* Between exchanges the client is awaited; with a request out, the upstream. */
static enum kh_proto_wait h1_waiting(const struct kh_conn *c)
{
	if (!c->ex->active)
		return KH_PROTO_WAIT_CLIENT;
	if (kh_buf_len(&c->uout) == 0 && !c->ex->resp_done)
		return KH_PROTO_WAIT_UPSTREAM;
	return KH_PROTO_WAIT_NONE;
}

static int h1_open(struct kh_conn *c)
{
	struct h1 *st = calloc(1, sizeof *st);

	if (st == NULL)
		return -1;
	c->proto_state = st;
	c->ex = &st->ex;
	return 0;
}

static void h1_close(struct kh_conn *c)
{
	release_body_room(c);
	kh_exchange_release(c->ex);
}

static void h1_free(struct kh_conn *c)
{
	free(c->proto_state);
	c->proto_state = NULL;
	c->ex = NULL;
}

const struct kh_proto_ops kh_relay_h1 = {
	.name = "http/1.1",
	.open = h1_open,
	.step = h1_step,
	.waiting = h1_waiting,
	.deadline = h1_deadline,
	.timeout = h1_timeout,
	.close = h1_close,
	.free = h1_free,
};
