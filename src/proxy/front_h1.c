/* HTTP/1.1 in a privsep front: the kh_front_h1 protocol (front_h1.h). */
#include "proxy/front_h1.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "proxy/conn.h"
#include "proxy/exchange.h"
#include "proxy/route.h"

struct fh1 {
	struct kh_exchange ex; /* the request being parsed or forwarded */
	struct kh_head_scan head; /* the next request head in cin */
	/* the body of the request last forwarded, still coming */
	bool in_body;
	enum kh_body_kind body;
	uint64_t body_left;
	struct kh_chunked chunked;
	bool upgrade; /* the request in_body asks for an upgrade: raw after its body */
	bool raw; /* an upgrade went out: what follows is not parsed here */
	/* keyhole must answer, but responses of the key holder may still be on
	 * their way: the stream is half-closed and the answer waits for its end.
	 * held: a head waits in cin to be routed again; else late_* is it. */
	bool held, late;
	int late_status;
	const char *late_reason;
	char late_why[KH_DETAIL_MAX];
};

static struct fh1 *fh1_of(const struct kh_conn *c)
{
	return c->proto_state;
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

static bool stream_open(const struct kh_conn *c)
{
	return c->up.state != KH_UP_NONE;
}

static bool stream_ready(const struct kh_conn *c)
{
	return c->up.state == KH_UP_READY;
}

/* --- forwarding a request --- */

/* The head the key holder gets: what the parser understood, written in one
 * canonical form, never the client's bytes as they came. */
static void put_head(struct kh_buf *b, const struct kh_http_head *h)
{
	kh_buf_append(b, h->method.ptr, h->method.len);
	kh_buf_append(b, " ", 1);
	kh_buf_append(b, h->target.ptr, h->target.len);
	kh_buf_append_str(b, h->version_minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
	for (size_t i = 0; i < h->n_headers; i++) {
		kh_buf_append(b, h->headers[i].name.ptr, h->headers[i].name.len);
		kh_buf_append(b, ": ", 2);
		kh_buf_append(b, h->headers[i].value.ptr, h->headers[i].value.len);
		kh_buf_append(b, "\r\n", 2);
	}
	kh_buf_append(b, "\r\n", 2);
}

/* Routing's forward (route.h): the head goes to the key holder's stream,
 * opened on the first request (the key holder routes and admits again). */
static void forward(struct kh_conn *c, const struct kh_http_head *h, struct kh_slice target,
		    bool tls, bool absolute)
{
	struct fh1 *st = fh1_of(c);

	(void)target;
	(void)absolute;
	put_head(&c->uout, h);
	kh_buf_consume(&c->cin, h->head_len);
	st->in_body = h->body != KH_BODY_NONE;
	st->body = h->body;
	st->body_left = h->content_length;
	kh_chunked_init(&st->chunked, c->policy->limits.max_header_bytes);
	st->upgrade = h->conn_upgrade && h->upgrade.len > 0;
	st->raw = st->upgrade && !st->in_body;
	if (!kh_dial_matches(&c->up, c->policy, c->host, c->port, tls))
		kh_dial_start(&c->up, c->policy, c->host, c->port, tls, c->host_is_ip);
	if (!st->in_body)
		kh_exchange_reset(c->ex); /* the key holder writes its record */
}

/* Keyhole's own answer once the stream has ended (see struct fh1). */
static void answer_late(struct kh_conn *c, int status, const char *reason, const char *why)
{
	struct fh1 *st = fh1_of(c);

	st->late = true;
	st->late_status = status;
	st->late_reason = reason;
	kh_fmt(st->late_why, sizeof st->late_why, "%s", why ? why : "");
}

/* Parses and routes the next head in cin. true on progress. */
static bool next_request(struct kh_conn *c)
{
	struct fh1 *st = fh1_of(c);
	struct kh_http_limits lim = { c->policy->limits.max_header_bytes,
				      c->policy->limits.max_headers };
	struct kh_http_head h = { .headers = c->cx->hdrs };
	struct kh_http_error err;
	bool defer = stream_open(c), progress;
	ssize_t n;

	if (st->held || st->late || c->close_after || kh_buf_len(&c->cin) == 0)
		return false;
	if (kh_buf_room(&c->cout) < KH_ERROR_RESPONSE_MAX ||
	    kh_buf_room(&c->uout) < lim.max_head + KH_FRONT_HEAD_SLACK)
		return false; /* room for any answer, and for the head written again */
	if (stream_open(c) && !stream_ready(c))
		return false; /* the first head waits for its stream */
	if (stream_open(c) && (c->up.ep.eof || c->up.ep.failed || c->up.ep.write_shut))
		return false; /* the stream is ending: its bytes go out first (stream_over) */
	kh_shared_refresh(c->cx->sh, &c->policy); /* a reload applies from the next request */
	n = kh_route_next_head(c, &st->head, lim.max_head, &err, &progress);
	if (n == 0)
		return progress;
	if (n < 0 || kh_http_parse_request(kh_buf_data(&c->cin), (size_t)n, &lim, &h, &err) != 0) {
		if (defer)
			st->held = true; /* answered by a fresh parse once the stream is over */
		else
			kh_route_fail_parse(c, &err);
		return true;
	}
	kh_route_begin(c, &h);
	if (kh_route_request(c, &h, defer, forward) == KH_ROUTE_DEFER)
		st->held = true;
	return true;
}

/* Moves body bytes of the forwarded request from cin to uout, checking its
 * framing on the way. true on progress. */
static bool request_body(struct kh_conn *c)
{
	struct fh1 *st = fh1_of(c);
	size_t n = min_size(kh_buf_len(&c->cin), kh_buf_room(&c->uout));
	struct kh_http_error err;
	bool done = false;
	ssize_t r;

	if (n == 0)
		return false;
	if (st->body == KH_BODY_LENGTH) {
		n = (size_t)min_size(n, st->body_left);
		st->body_left -= n;
		done = st->body_left == 0;
	} else if ((r = kh_chunked_feed(&st->chunked, kh_buf_data(&c->cin), n, &done, &err)) < 0) {
		st->in_body = false;
		answer_late(c, err.status, "bad_request", err.why);
		return true;
	} else {
		n = (size_t)r;
	}
	kh_buf_append(&c->uout, kh_buf_data(&c->cin), n);
	kh_buf_consume(&c->cin, n);
	if (done) {
		st->in_body = false;
		st->raw = st->upgrade;
		kh_exchange_reset(c->ex);
	}
	return n > 0 || done;
}

/* Client bytes toward the key holder: a body, raw bytes after an upgrade,
 * or the next request. true on progress. */
static bool requests(struct kh_conn *c)
{
	struct fh1 *st = fh1_of(c);
	size_t n;

	if (st->late)
		return false;
	if (st->raw) {
		n = min_size(kh_buf_len(&c->cin), kh_buf_room(&c->uout));
		kh_buf_append(&c->uout, kh_buf_data(&c->cin), n);
		kh_buf_consume(&c->cin, n);
		return n > 0;
	}
	if (st->in_body)
		return stream_ready(c) && request_body(c);
	return next_request(c);
}

/* The key holder's bytes are client-ready: they go to the client as they
 * are (straight from uin, cout holds only keyhole's own answers, which are
 * never written while a stream is open), never parsed here. */
static bool responses(struct kh_conn *c)
{
	bool p = kh_conn_flush(c, &c->cli, &c->cout);

	if (kh_buf_len(&c->cout) == 0)
		p |= kh_conn_flush(c, &c->cli, &c->uin);
	return p;
}

/* --- ends --- */

/* Nothing more goes to the key holder: it finishes what it has and ends
 * the stream. */
static bool shut_stream(struct kh_conn *c)
{
	if (!stream_ready(c) || c->up.ep.write_shut || kh_buf_len(&c->uout) > 0)
		return false;
	kh_ep_shutdown_write(&c->up.ep);
	return true;
}

/* The stream ended and all of it reached the client: keyhole's own answer,
 * or the routing of a held head, comes now; else the connection ends. */
static bool stream_over(struct kh_conn *c)
{
	struct fh1 *st = fh1_of(c);

	if (kh_buf_len(&c->uin) > 0 || kh_buf_len(&c->cout) > 0)
		return false;
	kh_dial_reset(&c->up);
	st->raw = false;
	st->in_body = false;
	if (st->late) {
		st->late = false;
		kh_conn_fail(c, st->late_status, st->late_reason,
			     st->late_why[0] ? st->late_why : NULL);
		return true;
	}
	if (st->held) {
		st->held = false; /* routed again, now with no stream open */
		return true;
	}
	kh_conn_set_state(c, KH_CS_CLOSING);
	return true;
}

static bool check_ends(struct kh_conn *c)
{
	struct fh1 *st = fh1_of(c);

	if (c->cli.failed || (stream_open(c) && c->up.ep.failed)) {
		kh_conn_close(c); /* the key holder recorded what it was doing */
		return true;
	}
	if (stream_ready(c) && c->up.ep.eof)
		return stream_over(c);
	if (st->held || st->late || (c->close_after && !st->in_body))
		return shut_stream(c);
	/* the client is done: all it sent went on, or what is left is part of
	 * a head that will never be whole */
	if (c->cli.eof && (kh_buf_len(&c->cin) == 0 || (!st->raw && !st->in_body))) {
		if (!stream_open(c)) {
			kh_conn_close(c); /* nothing in flight */
			return true;
		}
		return shut_stream(c);
	}
	return false;
}

/* --- driver --- */

static bool fh1_step(struct kh_conn *c)
{
	bool p = false;

	p |= kh_conn_fill(c, &c->cli, &c->cin);
	p |= requests(c);
	if (c->dead || c->state != KH_CS_RELAY)
		return true;
	if (stream_ready(c)) {
		p |= kh_conn_flush(c, &c->up.ep, &c->uout);
		p |= kh_conn_fill(c, &c->up.ep, &c->uin);
	}
	p |= responses(c);
	if (c->dead || c->state != KH_CS_RELAY)
		return true;
	p |= check_ends(c);
	return p;
}

/* --- the protocol's ops --- */

/* The key holder keeps the upstream's timeouts and answers them; the front
 * times the client's head and, with a stream open, only a silence longer
 * than any of the key holder's. */
static uint64_t fh1_deadline(const struct kh_conn *c)
{
	const struct kh_timeouts *t = &c->policy->timeouts;
	struct fh1 *st = fh1_of(c);

	if (st->head.pending)
		return st->head.start_ms + kh_secs_ms(t->header);
	if (stream_open(c))
		return c->last_activity_ms +
		       kh_secs_ms(t->connect + t->handshake + t->response + t->idle + t->keepalive);
	return c->phase_start_ms + kh_secs_ms(t->keepalive);
}

static void fh1_timeout(struct kh_conn *c)
{
	struct fh1 *st = fh1_of(c);
	char detail[KH_DETAIL_MAX];

	if (!st->head.pending || kh_buf_len(&c->cin) == 0) {
		kh_conn_close(c); /* idle, or the key holder went silent */
		return;
	}
	kh_fmt(detail, sizeof detail, "request head not received within %u s",
	       c->policy->timeouts.header);
	st->head.pending = false;
	if (stream_open(c)) {
		answer_late(c, 408, "header_timeout", detail);
		return;
	}
	kh_conn_fail(c, 408, "header_timeout", detail);
}

static enum kh_proto_wait fh1_waiting(const struct kh_conn *c)
{
	if (stream_open(c))
		return KH_PROTO_WAIT_UPSTREAM; /* the key holder says when it is idle */
	return kh_buf_len(&c->cin) == 0 ? KH_PROTO_WAIT_CLIENT : KH_PROTO_WAIT_NONE;
}

static int fh1_open(struct kh_conn *c)
{
	struct fh1 *st = calloc(1, sizeof *st);

	if (st == NULL)
		return -1;
	c->proto_state = st;
	c->ex = &st->ex;
	return 0;
}

static void fh1_close(struct kh_conn *c)
{
	kh_exchange_release(c->ex);
}

static void fh1_free(struct kh_conn *c)
{
	free(c->proto_state);
	c->proto_state = NULL;
	c->ex = NULL;
}

const struct kh_proto_ops kh_front_h1 = {
	.name = "http/1.1",
	.open = fh1_open,
	.step = fh1_step,
	.waiting = fh1_waiting,
	.deadline = fh1_deadline,
	.timeout = fh1_timeout,
	.close = fh1_close,
	.free = fh1_free,
};
