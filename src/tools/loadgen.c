#include "tools/loadgen.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "base/buf.h"
#include "tls/endpoint.h"
#include "http/http1.h"
#include "event/loop.h"
#include "tls/tlsctx.h"
#include "base/version.h"
#include "base/kh_limits.h"

#define RUN_BUDGET 64 /* I/O steps before a connection yields */
#define TICK_NS    2000000 /* controller polling period */
#define NS_PER_MS  1000000u

/* --- histogram --- */

static unsigned msb64(uint64_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

static size_t hist_index(uint64_t v)
{
	unsigned shift;

	if (v < 2 * KH_LG_HIST_SUB)
		return (size_t)v;
	shift = msb64(v) - 6; /* v >> shift lands in [64, 128) */
	return (size_t)shift * KH_LG_HIST_SUB + (size_t)(v >> shift);
}

/* Midpoint of bucket i: the error is at most half a bucket. */
static uint64_t hist_value(size_t i)
{
	unsigned shift;
	uint64_t lo;

	if (i < 2 * KH_LG_HIST_SUB)
		return i;
	shift = (unsigned)(i / KH_LG_HIST_SUB) - 1;
	lo = (uint64_t)(i % KH_LG_HIST_SUB + KH_LG_HIST_SUB) << shift;
	return lo + ((UINT64_C(1) << shift) >> 1);
}

void kh_lg_hist_add(struct kh_lg_hist *h, uint64_t ns)
{
	h->counts[hist_index(ns)]++;
	if (h->n == 0 || ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
	h->n++;
	h->sum += ns;
}

void kh_lg_hist_merge(struct kh_lg_hist *into, const struct kh_lg_hist *from)
{
	if (from->n == 0)
		return;
	for (size_t i = 0; i < KH_LG_HIST_BUCKETS; i++)
		into->counts[i] += from->counts[i];
	if (into->n == 0 || from->min < into->min)
		into->min = from->min;
	if (from->max > into->max)
		into->max = from->max;
	into->n += from->n;
	into->sum += from->sum;
}

uint64_t kh_lg_hist_quantile(const struct kh_lg_hist *h, uint32_t q)
{
	uint64_t rank, seen = 0;

	if (h->n == 0)
		return 0;
	/* rank = ceil(n * q / 100000), at least 1; n stays far below 2^44. */
	rank = (h->n * q + 99999) / 100000;
	if (rank == 0)
		rank = 1;
	for (size_t i = 0; i < KH_LG_HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			uint64_t v = hist_value(i);

			return v < h->min ? h->min : (v > h->max ? h->max : v);
		}
	}
	return h->max;
}

static const char *const error_names[KH_LGE_COUNT] = {
	[KH_LGE_CONNECT] = "connect",     [KH_LGE_PROXY] = "proxy",   [KH_LGE_TLS] = "tls",
	[KH_LGE_WRITE] = "write",         [KH_LGE_READ] = "read",     [KH_LGE_CLOSED] = "closed",
	[KH_LGE_PARSE] = "parse",         [KH_LGE_STATUS] = "status", [KH_LGE_TIMEOUT] = "timeout",
	[KH_LGE_IDLE_DROP] = "idle_drop",
};

const char *kh_lg_error_name(enum kh_lg_error e)
{
	return (unsigned)e < KH_LGE_COUNT ? error_names[e] : "?";
}

uint64_t kh_lg_errors_total(const struct kh_lg_result *r)
{
	uint64_t n = 0;

	for (int i = 0; i < KH_LGE_COUNT; i++)
		n += r->errors[i];
	return n;
}

int kh_lg_raise_nofile(uint64_t need, struct kh_err *err)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		kh_err_set(err, "getrlimit(RLIMIT_NOFILE): %s", kh_strerror(errno));
		return -1;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need) {
		rl.rlim_cur = need;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			return 0;
	}
	rl.rlim_cur = rl.rlim_max = need; /* raising the hard limit needs privilege */
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		return 0;
	kh_err_set(err,
		   "need %llu file descriptors but RLIMIT_NOFILE allows %llu; raise it "
		   "(ulimit -n %llu) or use fewer connections",
		   (unsigned long long)need, (unsigned long long)rl.rlim_max,
		   (unsigned long long)need);
	return -1;
}

/* --- state --- */

/* Read-only after setup, plus the counters every thread shares. */
struct lg_shared {
	const struct kh_lg_opts *o;
	struct kh_buf req; /* request head + the first part of the body */
	uint64_t req_total; /* head + whole body */
	struct kh_buf connect_req;
	uint8_t *block; /* body pattern beyond what req holds */
	volatile int *stop;
	atomic_bool measuring;
	atomic_uint_fast64_t issued;
	atomic_uint idle_done; /* idle mode: connections held or failed */
	atomic_uint firsts_over; /* first setups finished, well or not */
	atomic_uint threads_done;
};

enum cstate {
	C_OFF,
	C_BACKOFF,
	C_CONNECTING,
	C_PROXY_WRITE,
	C_PROXY_READ,
	C_HANDSHAKE,
	C_REQ_WRITE,
	C_RESP_HEAD,
	C_RESP_BODY,
	C_HOLD,
	C_DONE,
};

struct lg_thread;

struct lg_conn {
	struct kh_endpoint ep;
	struct kh_timer timer;
	struct kh_task task;
	struct lg_thread *t;
	enum cstate state;
	bool first; /* this slot's first setup (counts against the window) */
	bool queued; /* task is on the loop's deferred list */
	bool got_byte; /* first response byte (or body byte with --sse) seen */
	bool keep_alive;
	bool ok_status;
	struct kh_buf in; /* response head */
	size_t scan;
	uint64_t sent; /* bytes of the current outgoing message */
	uint64_t t_conn, t_req;
	enum kh_body_kind body;
	uint64_t body_left;
	unsigned status;
	struct kh_chunked chunked;
};

struct lg_thread {
	struct lg_shared *sh;
	const struct kh_lg_opts *o;
	struct kh_loop *loop;
	SSL_CTX *ctx;
	struct lg_conn *conns;
	uint32_t n, next_start, starting, window, active;
	bool in_start_more;
	uint8_t *scratch;
	struct kh_http_header hdrs[KH_LG_MAX_RESP_HEADERS];
	struct kh_lg_result *res;
	uint64_t last_done_ns;
	pthread_t tid;
	bool running;
};

enum step { S_WAIT, S_NEXT, S_GONE };

/* The connection that embeds member m at address p (via void * so the
 * alignment of the result is the struct's, not char's). */
#define CONN_OF(p, m) ((struct lg_conn *)(void *)((char *)(p)-offsetof(struct lg_conn, m)))

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool measuring(const struct lg_thread *t)
{
	return atomic_load_explicit(&t->sh->measuring, memory_order_relaxed);
}

/* Bytes count only inside the measured window, like requests, so bytes/s
 * is right for a stream that spans the end of the warmup. */
static void count_rx(struct lg_thread *t, uint64_t n)
{
	if (measuring(t))
		t->res->bytes_rx += n;
}

static void conn_start(struct lg_conn *c);
static void drive(struct lg_conn *c);

static void arm(struct lg_conn *c)
{
	kh_timer_after(c->t->loop, &c->timer, c->t->o->timeout_ms);
}

/* Claims one request against -n; false once the count is used up. */
static bool claim(struct lg_thread *t)
{
	if (t->o->max_requests == 0)
		return true;
	return atomic_fetch_add(&t->sh->issued, 1) < t->o->max_requests;
}

static void slot_done(struct lg_conn *c)
{
	struct lg_thread *t = c->t;

	c->state = C_DONE;
	kh_timer_cancel(t->loop, &c->timer);
	if (--t->active == 0) {
		t->last_done_ns = now_ns();
		atomic_fetch_add(&t->sh->threads_done, 1);
		kh_loop_stop(t->loop);
	}
}

/* Opens first connections while fewer than the window are being set up. */
static void start_more(struct lg_thread *t)
{
	if (t->in_start_more)
		return; /* the outer call keeps going; no recursion on instant failures */
	t->in_start_more = true;
	while (t->starting < t->window && t->next_start < t->n) {
		struct lg_conn *c = &t->conns[t->next_start++];

		c->first = true;
		t->starting++;
		conn_start(c);
	}
	t->in_start_more = false;
}

static void first_setup_over(struct lg_conn *c)
{
	if (!c->first)
		return;
	c->first = false;
	c->t->starting--;
	atomic_fetch_add(&c->t->sh->firsts_over, 1);
	start_more(c->t);
}

static void close_conn(struct lg_conn *c)
{
	kh_ep_close(c->t->loop, &c->ep);
	c->state = C_OFF;
}

static void idle_settled(struct lg_conn *c)
{
	atomic_fetch_add(&c->t->sh->idle_done, 1);
}

/* Counts the error and closes; keep-alive and new-connection slots retry
 * after a pause, idle slots give up (the run must settle at N). */
static void fail(struct lg_conn *c, enum kh_lg_error kind)
{
	struct lg_thread *t = c->t;

	t->res->errors[kind]++;
	close_conn(c);
	if (t->o->mode == KH_LG_IDLE) {
		idle_settled(c);
		slot_done(c);
		first_setup_over(c);
		return;
	}
	c->state = C_BACKOFF;
	kh_timer_after(t->loop, &c->timer, KH_LG_RETRY_MS);
	first_setup_over(c);
}

static void on_timer(struct kh_timer *tm)
{
	struct lg_conn *c = CONN_OF(tm, timer);

	if (c->state == C_BACKOFF)
		conn_start(c);
	else if (c->state != C_OFF && c->state != C_DONE && c->state != C_HOLD)
		fail(c, KH_LGE_TIMEOUT);
}

static void on_io(struct kh_io *io, uint32_t events)
{
	struct lg_conn *c = CONN_OF(io, ep.io);

	kh_ep_on_events(&c->ep, events);
	drive(c);
}

static void on_task(struct kh_task *task)
{
	struct lg_conn *c = CONN_OF(task, task);

	c->queued = false;
	drive(c);
}

static int open_socket(const struct kh_lg_opts *o)
{
	int one = 1;
	int fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	/* Requests are small and latency is what we measure: no Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (const struct sockaddr *)&o->addr, o->addrlen) != 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

static void conn_start(struct lg_conn *c)
{
	struct lg_thread *t = c->t;
	int fd;

	if (t->o->mode != KH_LG_IDLE && !claim(t)) {
		c->state = C_OFF;
		slot_done(c);
		first_setup_over(c);
		return;
	}
	c->t_conn = now_ns();
	kh_ep_init(&c->ep, on_io);
	fd = open_socket(t->o);
	if (fd < 0) {
		fail(c, KH_LGE_CONNECT);
		return;
	}
	c->ep.io.fd = fd;
	if (kh_loop_add(t->loop, &c->ep.io) != 0) {
		fail(c, KH_LGE_CONNECT);
		return;
	}
	c->state = C_CONNECTING;
	arm(c);
}

/* --- requests and responses --- */

static void begin_request(struct lg_conn *c)
{
	c->state = C_REQ_WRITE;
	c->sent = 0;
	c->got_byte = false;
	/* A new-connection request costs its whole setup; a kept-alive one
	 * starts with its first byte. */
	c->t_req = c->t->o->mode == KH_LG_NEWCONN ? c->t_conn : now_ns();
	arm(c);
}

static void setup_done(struct lg_conn *c)
{
	struct lg_thread *t = c->t;

	if (measuring(t)) {
		kh_lg_hist_add(&t->res->setup, now_ns() - c->t_conn);
		t->res->connections_opened++;
	}
	first_setup_over(c);
	begin_request(c);
}

static void start_tls(struct lg_conn *c)
{
	const struct kh_lg_opts *o = c->t->o;

	c->ep.ssl = kh_tls_client_ssl(c->t->ctx, c->ep.io.fd, o->host, o->host_is_ip);
	if (c->ep.ssl == NULL) {
		fail(c, KH_LGE_TLS);
		return;
	}
	kh_ep_attach_ssl(&c->ep, c->ep.ssl);
	c->state = C_HANDSHAKE;
	arm(c);
}

static void hold(struct lg_conn *c)
{
	c->state = C_HOLD;
	kh_timer_cancel(c->t->loop, &c->timer);
	kh_buf_free(&c->in); /* an idle connection keeps no buffer */
	c->t->res->idle_established++;
	idle_settled(c);
}

static void record_response(struct lg_conn *c)
{
	struct lg_thread *t = c->t;

	if (!measuring(t))
		return;
	if (!c->ok_status) {
		t->res->errors[KH_LGE_STATUS]++;
		return;
	}
	t->res->requests++;
	kh_lg_hist_add(&t->res->latency, now_ns() - c->t_req);
}

/* The response ended: record it, then hold, reconnect or ask again. */
static enum step response_done(struct lg_conn *c)
{
	struct lg_thread *t = c->t;

	record_response(c);
	if (t->o->mode == KH_LG_IDLE) {
		hold(c);
		return S_WAIT;
	}
	if (t->o->mode == KH_LG_NEWCONN || !c->keep_alive || c->ep.eof) {
		close_conn(c);
		conn_start(c);
		return S_GONE;
	}
	if (!claim(t)) {
		close_conn(c);
		slot_done(c);
		return S_GONE;
	}
	begin_request(c);
	return S_NEXT;
}

static void note_first_byte(struct lg_conn *c)
{
	if (c->got_byte)
		return;
	c->got_byte = true;
	if (measuring(c->t))
		kh_lg_hist_add(&c->t->res->ttfb, now_ns() - c->t_req);
}

/* Feeds body bytes; 1 when the response ended, 0 for more, -1 on bad
 * framing or bytes past the end (nothing was asked for yet). */
static int body_take(struct lg_conn *c, const uint8_t *p, size_t n)
{
	struct kh_http_error herr;
	bool done = false;
	ssize_t used;

	if (n > 0 && c->t->o->sse)
		note_first_byte(c);
	switch (c->body) {
	case KH_BODY_LENGTH:
		used = (ssize_t)(n < c->body_left ? n : c->body_left);
		c->body_left -= (uint64_t)used;
		done = c->body_left == 0;
		break;
	case KH_BODY_CHUNKED:
		used = kh_chunked_feed(&c->chunked, p, n, &done, &herr);
		if (used < 0)
			return -1;
		break;
	case KH_BODY_CLOSE:
		return 0;
	default:
		used = 0;
		done = true;
		break;
	}
	return ((size_t)used < n) ? -1 : (done ? 1 : 0);
}

static int scan_head(struct lg_conn *c, size_t *hl)
{
	struct kh_http_error herr;
	ssize_t r = kh_http_scan_head(kh_buf_data(&c->in), kh_buf_len(&c->in), &c->scan,
				      KH_LG_HEAD_CAP, &herr);

	if (r < 0) {
		fail(c, KH_LGE_PARSE);
		return -1;
	}
	*hl = (size_t)r;
	return r > 0 ? 2 : 1;
}

/* Reads into the head buffer: 2 a head is complete (*hl), 1 bytes arrived,
 * 0 would block, -1 failed (already counted and closed). Bytes already held
 * (after an interim 1xx response) are scanned before reading more. */
static int read_head(struct lg_conn *c, enum kh_lg_error eof_kind, size_t *hl)
{
	size_t avail;
	uint8_t *p;
	ssize_t n;

	if (kh_buf_len(&c->in) > c->scan && scan_head(c, hl) == 2)
		return 2;
	p = kh_buf_tail(&c->in, &avail);
	if (p == NULL) {
		fail(c, KH_LGE_PARSE); /* head larger than KH_LG_HEAD_CAP */
		return -1;
	}
	n = kh_ep_read(&c->ep, p, avail);
	if (n == KH_IO_AGAIN)
		return 0;
	if (n <= 0) {
		fail(c, n == 0 ? eof_kind : KH_LGE_READ);
		return -1;
	}
	kh_buf_produced(&c->in, (size_t)n);
	count_rx(c->t, (uint64_t)n);
	arm(c);
	return scan_head(c, hl);
}

static int parse_head(struct lg_conn *c, size_t hl, bool head_req, struct kh_http_head *h)
{
	const struct kh_http_limits lim = { KH_LG_HEAD_CAP, KH_LG_MAX_RESP_HEADERS };
	struct kh_http_error herr;

	h->headers = c->t->hdrs;
	return kh_http_parse_response(kh_buf_data(&c->in), hl, &lim, head_req, h, &herr);
}

static void reset_head(struct lg_conn *c, size_t hl)
{
	kh_buf_consume(&c->in, hl);
	c->scan = 0;
}

static enum step step_proxy_read(struct lg_conn *c)
{
	struct kh_http_head h;
	size_t hl = 0;
	int r = read_head(c, KH_LGE_PROXY, &hl);

	if (r <= 1)
		return r < 0 ? S_GONE : (r == 0 ? S_WAIT : S_NEXT);
	if (parse_head(c, hl, true, &h) != 0 || h.status < 200 || h.status > 299 ||
	    kh_buf_len(&c->in) != hl) {
		/* A refusal, or bytes before our ClientHello: not a usable tunnel. */
		reset_head(c, kh_buf_len(&c->in));
		fail(c, KH_LGE_PROXY);
		return S_GONE;
	}
	reset_head(c, hl);
	start_tls(c);
	return c->state == C_HANDSHAKE ? S_NEXT : S_GONE;
}

/* Body bytes that arrived with the head. */
static enum step head_leftover(struct lg_conn *c)
{
	size_t n = kh_buf_len(&c->in);
	int r = body_take(c, kh_buf_data(&c->in), n);

	kh_buf_consume(&c->in, n);
	if (r < 0) {
		fail(c, KH_LGE_PARSE);
		return S_GONE;
	}
	if (r == 1)
		return response_done(c);
	c->state = C_RESP_BODY;
	return S_NEXT;
}

static enum step step_resp_head(struct lg_conn *c)
{
	const struct kh_lg_opts *o = c->t->o;
	struct kh_http_head h;
	size_t hl = 0;
	int r = read_head(c, KH_LGE_CLOSED, &hl);

	if (r >= 1 && !o->sse)
		note_first_byte(c);
	if (r <= 1)
		return r < 0 ? S_GONE : (r == 0 ? S_WAIT : S_NEXT);
	if (parse_head(c, hl, strcmp(o->method, "HEAD") == 0, &h) != 0) {
		fail(c, KH_LGE_PARSE);
		return S_GONE;
	}
	reset_head(c, hl);
	if (h.status < 200 && h.status != 101)
		return S_NEXT; /* interim response: the real one follows */
	c->status = h.status;
	c->ok_status = h.status >= 200 && h.status <= 399;
	c->keep_alive = h.keep_alive;
	c->body = h.body;
	c->body_left = h.content_length;
	if (h.body == KH_BODY_CHUNKED)
		kh_chunked_init(&c->chunked, KH_LG_HEAD_CAP);
	return head_leftover(c);
}

static enum step step_resp_body(struct lg_conn *c)
{
	struct lg_thread *t = c->t;
	ssize_t n = kh_ep_read(&c->ep, t->scratch, KH_LG_SCRATCH_SIZE);
	int r;

	if (n == KH_IO_AGAIN)
		return S_WAIT;
	if (n == 0 && c->body == KH_BODY_CLOSE)
		return response_done(c); /* EOF is this body's end */
	if (n <= 0) {
		fail(c, n == 0 ? KH_LGE_CLOSED : KH_LGE_READ);
		return S_GONE;
	}
	count_rx(t, (uint64_t)n);
	arm(c);
	r = body_take(c, t->scratch, (size_t)n);
	if (r < 0) {
		fail(c, KH_LGE_PARSE);
		return S_GONE;
	}
	return r == 1 ? response_done(c) : S_NEXT;
}

/* Next piece of the outgoing message: the prebuilt bytes, then the body
 * pattern block over and over. */
static enum step write_some(struct lg_conn *c, const struct kh_buf *msg, uint64_t total)
{
	const struct lg_shared *sh = c->t->sh;
	const uint8_t *p;
	uint64_t len;
	ssize_t n;

	if (c->sent < kh_buf_len(msg)) {
		p = kh_buf_data(msg) + c->sent;
		len = kh_buf_len(msg) - c->sent;
	} else {
		uint64_t off = (c->sent - kh_buf_len(msg)) % KH_LG_BODY_BLOCK;

		p = sh->block + off;
		len = KH_LG_BODY_BLOCK - off;
		if (len > total - c->sent)
			len = total - c->sent;
	}
	n = kh_ep_write(&c->ep, p, (size_t)len);
	if (n == KH_IO_AGAIN)
		return S_WAIT;
	if (n < 0) {
		fail(c, c->state == C_REQ_WRITE ? KH_LGE_WRITE : KH_LGE_PROXY);
		return S_GONE;
	}
	c->sent += (uint64_t)n;
	if (measuring(c->t))
		c->t->res->bytes_tx += (uint64_t)n;
	arm(c);
	return S_NEXT;
}

static enum step step_req_write(struct lg_conn *c)
{
	const struct lg_shared *sh = c->t->sh;
	enum step s;

	if (!kh_ep_can_write(&c->ep))
		return S_WAIT;
	s = write_some(c, &sh->req, sh->req_total);
	if (s == S_NEXT && c->sent == sh->req_total) {
		c->state = C_RESP_HEAD;
		c->scan = 0;
	}
	return s;
}

static enum step step_proxy_write(struct lg_conn *c)
{
	const struct kh_buf *m = &c->t->sh->connect_req;
	enum step s;

	if (!kh_ep_can_write(&c->ep))
		return S_WAIT;
	s = write_some(c, m, kh_buf_len(m));
	if (s == S_NEXT && c->sent == kh_buf_len(m))
		c->state = C_PROXY_READ;
	return s;
}

static enum step step_connecting(struct lg_conn *c)
{
	const struct kh_lg_opts *o = c->t->o;
	int soerr = 0;
	socklen_t len = sizeof soerr;

	if (!c->ep.wr_ready)
		return S_WAIT;
	if (getsockopt(c->ep.io.fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
		fail(c, KH_LGE_CONNECT);
		return S_GONE;
	}
	if (o->via_proxy && o->tls) {
		c->state = C_PROXY_WRITE;
		c->sent = 0;
		kh_buf_free(&c->in);
		c->scan = 0;
		return S_NEXT;
	}
	if (o->tls) {
		start_tls(c);
		return c->state == C_HANDSHAKE ? S_NEXT : S_GONE;
	}
	setup_done(c);
	return S_NEXT;
}

static enum step step_handshake(struct lg_conn *c)
{
	int r;

	if (!kh_ep_can_handshake(&c->ep))
		return S_WAIT;
	r = kh_ep_handshake(&c->ep);
	if (r == 0)
		return S_WAIT;
	if (r < 0) {
		fail(c, KH_LGE_TLS);
		return S_GONE;
	}
	setup_done(c);
	return S_NEXT;
}

/* A held connection should see nothing; anything but "would block" (a
 * close, a reset, unexpected bytes) means the peer dropped it. */
static enum step step_hold(struct lg_conn *c)
{
	ssize_t n;

	if (!kh_ep_can_read(&c->ep))
		return S_WAIT;
	n = kh_ep_read(&c->ep, c->t->scratch, KH_LG_SCRATCH_SIZE);
	if (n == KH_IO_AGAIN)
		return S_WAIT;
	c->t->res->errors[KH_LGE_IDLE_DROP]++;
	c->t->res->idle_established--;
	close_conn(c);
	slot_done(c);
	return S_GONE;
}

static enum step step(struct lg_conn *c)
{
	switch (c->state) {
	case C_CONNECTING:
		return step_connecting(c);
	case C_PROXY_WRITE:
		return step_proxy_write(c);
	case C_PROXY_READ:
		return kh_ep_can_read(&c->ep) ? step_proxy_read(c) : S_WAIT;
	case C_HANDSHAKE:
		return step_handshake(c);
	case C_REQ_WRITE:
		return step_req_write(c);
	case C_RESP_HEAD:
		return kh_ep_can_read(&c->ep) ? step_resp_head(c) : S_WAIT;
	case C_RESP_BODY:
		return kh_ep_can_read(&c->ep) ? step_resp_body(c) : S_WAIT;
	case C_HOLD:
		return step_hold(c);
	default:
		return S_GONE;
	}
}

/* Runs the state machine until it blocks; a connection that keeps having
 * work (a fast stream) yields after RUN_BUDGET steps so others get a turn. */
static void drive(struct lg_conn *c)
{
	for (int i = 0; i < RUN_BUDGET; i++)
		if (step(c) != S_NEXT)
			return;
	if (!c->queued) {
		c->queued = true;
		kh_loop_defer(c->t->loop, &c->task);
	}
}

/* --- the shared request bytes --- */

static void append_authority(struct kh_buf *b, const struct kh_lg_opts *o, bool force_port)
{
	char port[8];
	bool v6 = strchr(o->host, ':') != NULL;
	bool default_port = o->port == (o->tls ? 443 : 80);

	kh_buf_append_str(b, v6 ? "[" : "");
	kh_buf_append_str(b, o->host);
	kh_buf_append_str(b, v6 ? "]" : "");
	if (force_port || !default_port) {
		kh_fmt(port, sizeof port, ":%u", (unsigned)o->port);
		kh_buf_append_str(b, port);
	}
}

static bool method_has_body(const char *m)
{
	return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

static void append_fields(struct kh_buf *b, const struct kh_lg_opts *o)
{
	char cl[48];

	kh_buf_append_str(b, "\r\nUser-Agent: keyhole-bench/" KH_VERSION "\r\n");
	kh_buf_append_str(b, o->sse ? "Accept: text/event-stream\r\nCache-Control: no-cache\r\n"
				    : "Accept: */*\r\n");
	if (o->body_size > 0 || method_has_body(o->method)) {
		kh_fmt(cl, sizeof cl, "Content-Length: %llu\r\n", (unsigned long long)o->body_size);
		kh_buf_append_str(b, cl);
	}
	if (o->mode == KH_LG_NEWCONN)
		kh_buf_append_str(b, "Connection: close\r\n");
	for (size_t i = 0; i < o->n_headers; i++) {
		kh_buf_append_str(b, o->headers[i]);
		kh_buf_append_str(b, "\r\n");
	}
	kh_buf_append_str(b, "\r\n");
}

static int build_request(struct lg_shared *sh, const struct kh_lg_opts *o, struct kh_err *err)
{
	size_t cap = 1024 + KH_LG_MAX_PATH + 2 * KH_HOST_BUF + KH_LG_BODY_BLOCK;
	struct kh_buf *b = &sh->req;
	uint64_t prefix = o->body_size < KH_LG_BODY_BLOCK ? o->body_size : KH_LG_BODY_BLOCK;

	for (size_t i = 0; i < o->n_headers; i++)
		cap += strlen(o->headers[i]) + 2;
	kh_buf_init(b, cap);
	kh_buf_append_str(b, o->method);
	kh_buf_append_str(b, " ");
	if (o->via_proxy && !o->tls) { /* plain HTTP through a proxy: absolute-form */
		kh_buf_append_str(b, "http://");
		append_authority(b, o, false);
	}
	kh_buf_append_str(b, o->path);
	kh_buf_append_str(b, " HTTP/1.1\r\nHost: ");
	append_authority(b, o, false);
	append_fields(b, o);
	if (kh_buf_len(b) == 0 || kh_buf_append(b, sh->block, (size_t)prefix) != 0) {
		kh_err_set(err, "cannot build the request (out of memory)");
		return -1;
	}
	sh->req_total = kh_buf_len(b) - prefix + o->body_size;
	return 0;
}

static int build_connect(struct lg_shared *sh, const struct kh_lg_opts *o, struct kh_err *err)
{
	struct kh_buf *b = &sh->connect_req;

	kh_buf_init(b, 1024);
	kh_buf_append_str(b, "CONNECT ");
	append_authority(b, o, true);
	kh_buf_append_str(b, " HTTP/1.1\r\nHost: ");
	append_authority(b, o, true);
	if (kh_buf_append_str(b, "\r\nUser-Agent: keyhole-bench/" KH_VERSION "\r\n\r\n") != 0) {
		kh_err_set(err, "cannot build the CONNECT request");
		return -1;
	}
	return 0;
}

static int shared_init(struct lg_shared *sh, const struct kh_lg_opts *o, volatile int *stop,
		       struct kh_err *err)
{
	memset(sh, 0, sizeof *sh);
	sh->o = o;
	sh->stop = stop;
	sh->block = malloc(KH_LG_BODY_BLOCK);
	if (sh->block == NULL) {
		kh_err_set(err, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < KH_LG_BODY_BLOCK; i++)
		sh->block[i] = (uint8_t)('a' + i % 26);
	atomic_init(&sh->measuring, o->warmup_ms == 0 || o->mode == KH_LG_IDLE);
	atomic_init(&sh->issued, 0);
	atomic_init(&sh->idle_done, 0);
	atomic_init(&sh->firsts_over, 0);
	atomic_init(&sh->threads_done, 0);
	return build_request(sh, o, err) == 0 && build_connect(sh, o, err) == 0 ? 0 : -1;
}

static void shared_free(struct lg_shared *sh)
{
	kh_buf_free(&sh->req);
	kh_buf_free(&sh->connect_req);
	free(sh->block);
}

/* --- threads --- */

static SSL_CTX *client_ctx(const struct kh_lg_opts *o, struct kh_err *err)
{
	SSL_CTX *ctx;

	if (!o->tls)
		return NULL;
	ctx = kh_tls_client_ctx_new(o->cacert, err);
	if (ctx == NULL) {
		kh_err_prefix(err, "--cacert");
		return NULL;
	}
	/* Every handshake is a full one, as for a client seen for the first
	 * time: no session cache, no tickets. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	/* Releasing buffers costs a malloc per record; only idle mode wants it.
	 * Read-ahead lets one recv() fetch many records instead of two per
	 * record, so the generator is not what limits a stream. Safe with edge
	 * triggering: every read loop runs until SSL_read wants more. */
	if (o->mode != KH_LG_IDLE) {
		SSL_CTX_clear_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
		SSL_CTX_set_read_ahead(ctx, 1);
		SSL_CTX_set_default_read_buffer_len(ctx, KH_LG_READ_AHEAD_BUF);
	}
	return ctx;
}

static int thread_init(struct lg_thread *t, struct lg_shared *sh, uint32_t n, struct kh_err *err)
{
	const struct kh_lg_opts *o = sh->o;

	t->sh = sh;
	t->o = o;
	t->n = t->active = n;
	t->window = (o->ramp ? o->ramp : KH_LG_SETUP_WINDOW) / o->threads;
	if (t->window == 0)
		t->window = 1;
	t->res = calloc(1, sizeof *t->res);
	t->conns = calloc(n ? n : 1, sizeof *t->conns);
	t->scratch = malloc(KH_LG_SCRATCH_SIZE);
	if (t->res == NULL || t->conns == NULL || t->scratch == NULL) {
		kh_err_set(err, "out of memory for %u connections", n);
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) { /* before anything can fail: fd -1 */
		struct lg_conn *c = &t->conns[i];

		c->t = t;
		kh_ep_init(&c->ep, on_io);
		c->timer.cb = on_timer;
		c->task.cb = on_task;
		kh_buf_init(&c->in, KH_LG_HEAD_CAP);
	}
	t->loop = kh_loop_new(err);
	if (t->loop == NULL)
		return -1;
	if (o->tls && (t->ctx = client_ctx(o, err)) == NULL)
		return -1;
	return 0;
}

static void thread_free(struct lg_thread *t)
{
	if (t->conns != NULL) {
		for (uint32_t i = 0; i < t->n; i++) {
			kh_ep_close(t->loop, &t->conns[i].ep);
			kh_buf_free(&t->conns[i].in);
		}
	}
	free(t->conns);
	SSL_CTX_free(t->ctx);
	kh_loop_free(t->loop);
	free(t->scratch);
	free(t->res);
}

static void *thread_main(void *arg)
{
	struct lg_thread *t = arg;

	if (t->n == 0) {
		atomic_fetch_add(&t->sh->threads_done, 1);
		return NULL;
	}
	start_more(t);
	kh_loop_run(t->loop);
	/* Close here, on the loop's own thread, while the loop still exists. */
	for (uint32_t i = 0; i < t->n; i++)
		close_conn(&t->conns[i]);
	return NULL;
}

/* --- the controller (caller's thread) --- */

static void tick(void)
{
	struct timespec ts = { 0, TICK_NS };

	nanosleep(&ts, NULL);
}

struct run {
	struct lg_shared sh;
	struct lg_thread *threads;
	uint32_t n;
	uint64_t t_measure, t_end;
	bool by_count;
};

static bool stopped(const struct run *r)
{
	return *r->sh.stop != 0;
}

/* Warmup ends once it has lasted warmup_ms and every connection has been
 * set up (or failed), so a slow ramp of 256 handshakes is not measured as
 * steady state. Every setup is bounded by timeout_ms, so this ends. */
static bool warming(struct run *r, const struct kh_lg_opts *o, uint64_t now, uint64_t warm_end)
{
	return now < warm_end || atomic_load(&r->sh.firsts_over) < o->connections;
}

/* Keep-alive and new-connection runs: warmup, then the measured window,
 * until the duration passes, -n is used up everywhere, or a signal. Without
 * warmup the window starts at once and includes the setups (-n 1 measures
 * one cold connection). */
static void wait_load(struct run *r, const struct kh_lg_opts *o)
{
	uint64_t start = now_ns();
	uint64_t warm_end = start + o->warmup_ms * NS_PER_MS;
	uint64_t cap = o->duration_ms ? o->duration_ms : (uint64_t)KH_LG_MAX_SECONDS * 1000u;
	uint64_t end = warm_end + cap * NS_PER_MS;

	r->t_measure = o->warmup_ms == 0 ? start : 0;
	for (;;) {
		uint64_t now;

		tick();
		now = now_ns();
		if (r->t_measure == 0 && !warming(r, o, now, warm_end)) {
			atomic_store(&r->sh.measuring, true);
			r->t_measure = now;
			end = now + cap * NS_PER_MS;
		}
		if (atomic_load(&r->sh.threads_done) == r->n) {
			r->by_count = true;
			break;
		}
		if ((r->t_measure != 0 && now >= end) || stopped(r))
			break;
	}
	r->t_end = now_ns();
}

/* Idle mode: open them all, say so on stderr, hold for hold_ms. */
static void wait_idle(struct run *r, const struct kh_lg_opts *o)
{
	uint64_t start = now_ns();
	uint64_t cap = o->duration_ms ? o->duration_ms : KH_LG_IDLE_SETUP_CAP_MS;
	uint64_t deadline = start + cap * NS_PER_MS, hold_end;
	unsigned done;

	r->t_measure = start;
	while ((done = atomic_load(&r->sh.idle_done)) < o->connections && now_ns() < deadline &&
	       !stopped(r))
		tick();
	r->t_end = now_ns();
	fprintf(stderr, "keyhole bench: holding %u idle connections (%u settled) for %.1f s\n",
		o->connections, done, (double)o->hold_ms / 1000.0);
	fflush(stderr);
	hold_end = now_ns() + o->hold_ms * NS_PER_MS;
	while (now_ns() < hold_end && !stopped(r))
		tick();
}

static void merge(struct kh_lg_result *into, const struct kh_lg_result *from)
{
	into->requests += from->requests;
	for (int i = 0; i < KH_LGE_COUNT; i++)
		into->errors[i] += from->errors[i];
	into->bytes_rx += from->bytes_rx;
	into->bytes_tx += from->bytes_tx;
	into->connections_opened += from->connections_opened;
	into->idle_established += from->idle_established;
	kh_lg_hist_merge(&into->latency, &from->latency);
	kh_lg_hist_merge(&into->ttfb, &from->ttfb);
	kh_lg_hist_merge(&into->setup, &from->setup);
}

static void finish(struct run *r, struct kh_lg_result *out)
{
	uint64_t end = r->t_end;

	if (r->by_count) { /* the window ends with the last response, not the next tick */
		end = 0;
		for (uint32_t i = 0; i < r->n; i++)
			if (r->threads[i].last_done_ns > end)
				end = r->threads[i].last_done_ns;
	}
	for (uint32_t i = 0; i < r->n; i++)
		merge(out, r->threads[i].res);
	out->elapsed_ns = r->t_measure != 0 && end > r->t_measure ? end - r->t_measure : 0;
}

static int start_threads(struct run *r, struct kh_err *err)
{
	for (uint32_t i = 0; i < r->n; i++) {
		int e = pthread_create(&r->threads[i].tid, NULL, thread_main, &r->threads[i]);

		if (e != 0) {
			kh_err_set(err, "cannot start thread: %s", kh_strerror(e));
			return -1;
		}
		r->threads[i].running = true;
	}
	return 0;
}

static void stop_threads(struct run *r)
{
	for (uint32_t i = 0; i < r->n; i++)
		if (r->threads[i].loop != NULL)
			kh_loop_stop(r->threads[i].loop);
	for (uint32_t i = 0; i < r->n; i++)
		if (r->threads[i].running)
			pthread_join(r->threads[i].tid, NULL);
}

static int setup_threads(struct run *r, const struct kh_lg_opts *o, struct kh_err *err)
{
	r->n = o->threads;
	r->threads = calloc(r->n, sizeof *r->threads);
	if (r->threads == NULL) {
		kh_err_set(err, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < r->n; i++) {
		uint32_t share = o->connections / r->n + (i < o->connections % r->n ? 1 : 0);

		if (thread_init(&r->threads[i], &r->sh, share, err) != 0)
			return -1;
	}
	return 0;
}

int kh_lg_run(const struct kh_lg_opts *o, struct kh_lg_result *out, volatile int *stop,
	      struct kh_err *err)
{
	struct run r;
	int rc = -1;

	memset(&r, 0, sizeof r);
	if (o->threads == 0 || o->threads > KH_LG_MAX_THREADS || o->connections == 0 ||
	    o->connections > KH_LG_MAX_CONNECTIONS || o->timeout_ms == 0) {
		kh_err_set(err, "bad load shape (threads, connections or timeout)");
		return -1;
	}
	if (shared_init(&r.sh, o, stop, err) != 0 || setup_threads(&r, o, err) != 0)
		goto out;
	if (start_threads(&r, err) != 0) {
		stop_threads(&r);
		goto out;
	}
	if (o->mode == KH_LG_IDLE)
		wait_idle(&r, o);
	else
		wait_load(&r, o);
	stop_threads(&r);
	finish(&r, out);
	rc = 0;
out:
	for (uint32_t i = 0; r.threads != NULL && i < r.n; i++)
		thread_free(&r.threads[i]);
	free(r.threads);
	shared_free(&r.sh);
	return rc;
}
