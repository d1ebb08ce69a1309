/* Upstream connection setup: name -> addresses (pin, literal or resolver),
 * each address checked against the deny list right before connecting (so a
 * name that re-resolves to a private address is still refused), TCP connect
 * with fallback to the next address, then a verified TLS handshake. */
#include "proxy/dial.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "event/mempipe.h"
#include "policy/admit.h"
#include "policy/cidr.h"
#include "proxy/metrics.h"
#include "proxy/upool.h"
#include "tls/tlsctx.h"

/* Ends the dial: the policy was lent for the dial only, so it is forgotten
 * before the owner (which may drop it once told) hears the outcome. */
static void report(struct kh_upstream *up, bool ok, int status, const char *reason,
		   const char *detail)
{
	up->policy = NULL;
	up->ops->done(up, ok, status, reason, detail);
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static socklen_t literal_addr(const char *host, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		return sizeof *s4;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		return sizeof *s6;
	}
	return 0;
}

/* Closes the upstream connection (or cancels its lookup) but keeps uout,
 * which may already hold the next request's head. */
static void close_upstream(struct kh_upstream *up)
{

	if (up->job != NULL) {
		if (kh_resolver_cancel(up->job)) /* else freed when its lookup ends */
			free(up->job);
		up->job = NULL;
	}
	kh_ep_close(up->cx->loop, &up->ep);
	kh_ep_init(&up->ep, up->ops->io);
	up->state = KH_UP_NONE;
	up->used = false;
	up->n_addrs = up->next_addr = 0;
	up->last_error[0] = '\0';
	kh_buf_free(up->in); /* bytes from the old connection mean nothing now */
}

void kh_dial_reset(struct kh_upstream *up)
{
	close_upstream(up);
	kh_buf_free(up->out);
}

static int open_socket(struct kh_upstream *up, struct sockaddr_storage *ss, socklen_t len)
{
	struct sockaddr_storage v4;
	int one = 1, fd;

	if (kh_sockaddr_unmap((struct sockaddr *)ss,
			      &v4)) { /* connect to ::ffff:a.b.c.d as a.b.c.d */
		*ss = v4;
		len = sizeof(struct sockaddr_in);
	}
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)ss, len) != 0 && errno != EINPROGRESS) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	up->ep.io.fd = fd;
	if (kh_loop_add(up->cx->loop, &up->ep.io) != 0) {
		up->ep.io.fd = -1;
		close(fd);
		return -1;
	}
	return 0;
}

static void connect_next(struct kh_upstream *up)
{
	struct kh_verdict v, denied = { .admitted = true };

	while (up->next_addr < up->n_addrs) {
		struct sockaddr_storage *ss = &up->addrs[up->next_addr];
		socklen_t len = up->addrlens[up->next_addr++];

		if (!kh_admit_addr(up->policy, up->host, up->is_ip, (struct sockaddr *)ss, &v)) {
			denied = v; /* said only if no other address could be tried */
			continue;
		}
		set_port(ss, up->port);
		if (open_socket(up, ss, len) == 0) {
			up->state = KH_UP_CONNECTING;
			return;
		}
		kh_fmt(up->last_error, sizeof up->last_error, "connect to %s:%u: %s", up->host,
		       up->port, kh_strerror(errno));
	}
	if (!denied.admitted && up->last_error[0] == '\0')
		report(up, false, denied.status, denied.reason, denied.detail);
	else
		report(up, false, 502, "upstream_connect_failed",
		       up->last_error[0] ? up->last_error : "no address to connect to");
}

/* The answer (from DNS or the cache) is in: connect, or say why not. */
static void use_answer(struct kh_upstream *up, const struct kh_dns_answer *a)
{
	char detail[KH_DETAIL_MAX];

	if (a->error != NULL) {
		kh_fmt(detail, sizeof detail, "cannot resolve %s: %s", up->host, a->error);
		report(up, false, 502, "dns_failed", detail);
		return;
	}
	memcpy(up->addrs, a->addrs, sizeof up->addrs);
	memcpy(up->addrlens, a->addrlens, sizeof up->addrlens);
	up->n_addrs = a->n_addrs;
	connect_next(up);
}

static void resolved(struct kh_task *t)
{
	struct kh_resolve_job *job = (struct kh_resolve_job *)t;
	struct kh_upstream *up = job->owner;

	if (job->cancelled) {
		free(job);
		return;
	}
	up->job = NULL;
	use_answer(up, &job->ans);
	free(job);
	up->ops->resumed(up);
}

static void start_lookup(struct kh_upstream *up)
{
	struct kh_resolve_job *job = calloc(1, sizeof *job);
	char detail[KH_DETAIL_MAX];

	if (job == NULL) {
		report(up, false, 502, "dns_failed", "out of memory");
		return;
	}
	job->task.cb = resolved;
	job->loop = up->cx->loop;
	job->owner = up;
	memcpy(job->host, up->host, sizeof job->host);
	up->ops->source(up, job->source, sizeof job->source);
	switch (kh_resolver_submit(job)) {
	case KH_RESOLVE_QUEUED:
		up->job = job;
		up->state = KH_UP_RESOLVING;
		return;
	case KH_RESOLVE_CACHED:
		use_answer(up, &job->ans);
		break;
	case KH_RESOLVE_SOURCE_BUSY:
		kh_fmt(detail, sizeof detail,
		       "this client already has %d name lookups waiting (and %d running); retry "
		       "when some have finished",
		       KH_RESOLVER_SOURCE_QUEUE, KH_RESOLVER_SOURCE_RUNNING);
		report(up, false, 429, "dns_busy", detail);
		break;
	default:
		report(up, false, 503, "dns_busy",
		       "too many name lookups in progress; retry shortly");
		break;
	}
	free(job);
}

static struct kh_upool_key pool_key(const struct kh_upstream *up)
{
	return (struct kh_upool_key){ up->host, up->dest_port, up->tls, up->generation };
}

bool kh_dial_clean(const struct kh_upstream *up)
{
	const struct kh_endpoint *ep = &up->ep;

	if (up->via_keyholder)
		return false; /* streams are not pooled: the key holder pools its upstreams */
	if (up->state != KH_UP_READY || up->cx->draining || ep->eof || ep->failed ||
	    ep->write_shut || ep->need_rd == KH_NEED_WRITE || ep->need_wr == KH_NEED_READ ||
	    ep->need_hs != KH_NEED_NATURAL || kh_buf_len(up->in) > 0 || kh_buf_len(up->out) > 0)
		return false;
	return ep->ssl == NULL ||
	       (!SSL_has_pending(ep->ssl) && !(SSL_get_shutdown(ep->ssl) & SSL_RECEIVED_SHUTDOWN));
}

void kh_dial_park(struct kh_upstream *up)
{
	struct kh_upool_key key = pool_key(up);

	kh_upool_put(up->cx->upool, &key, &up->ep, up->ops->io);
	close_upstream(up); /* the socket is the pool's now: this only resets state */
}

bool kh_dial_matches(const struct kh_upstream *up, const struct kh_policy *policy, const char *host,
		     uint16_t port, bool tls)
{
	if (up->via_keyholder && up->lazy) /* the key holder routes each request */
		return up->state == KH_UP_READY && !up->ep.eof && !up->ep.failed &&
		       !up->ep.write_shut;
	if (up->via_keyholder) /* a tunnel's stream: its generation is the key holder's */
		return up->state == KH_UP_READY && !up->ep.eof && !up->ep.failed &&
		       up->tls == tls && up->dest_port == port && strcmp(up->host, host) == 0;
	return up->state == KH_UP_READY && !up->ep.eof && !up->ep.failed && up->tls == tls &&
	       up->dest_port == port && up->generation == policy->generation &&
	       strcmp(up->host, host) == 0;
}

/* A parked connection to the same place, if the pool has one. */
static bool take_parked(struct kh_upstream *up)
{
	struct kh_upool_key key = pool_key(up);

	if (!kh_upool_take(up->cx->upool, &key, &up->ep))
		return false;
	up->state = KH_UP_READY;
	up->used = true;
	report(up, true, 0, NULL, NULL);
	return true;
}

/* --- via the key holder (a privsep front) ---
 * The front's upstream is a stream to the key holder: a socketpair whose
 * other end becomes a key-holder connection (cx->keyholder_stream). The
 * front writes one OPEN frame (privsep/chan.h) and reads one reply, OPEN_OK
 * or OPEN_FAIL; HTTP/1.1 follows. The key holder dials and checks on its
 * side everything a dial here would (names, deny list, pins, TLS). */

/* The stream did not open: the key holder's refusal, or a 502 of ours. */
static void stream_refused(struct kh_upstream *up, int status, const char *reason,
			   const char *detail)
{
	kh_ep_close(up->cx->loop, &up->ep);
	kh_ep_init(&up->ep, up->ops->io);
	up->state = KH_UP_NONE;
	report(up, false, status, reason, detail);
}

static void stream_fail(struct kh_upstream *up, const char *detail)
{
	stream_refused(up, 502, "internal_error", detail);
}

/* The largest OPEN frame: its fixed fields and each string at its cap with
 * its u16 length (chan.c's layout), so no stream open allocates a whole
 * KH_CHAN_FRAME_MAX for a frame of a few hundred bytes. */
#define OPEN_FRAME_MAX                                                                            \
	(KH_CHAN_HDR + 5 + 4 * 2 + sizeof(((struct kh_chan_open *)0)->host) +                     \
	 sizeof(((struct kh_chan_open *)0)->label) + sizeof(((struct kh_chan_open *)0)->source) + \
	 sizeof(((struct kh_chan_open *)0)->client))

/* The OPEN frame, written whole into the new stream's empty end. */
static int send_open(struct kh_upstream *up)
{
	struct kh_chan_msg m = { .type = KH_CHAN_OPEN, .stream = 1 };
	struct kh_buf frame;
	struct kh_err err;
	int rc = -1;

	up->ops->open_info(up, &m.u.open);
	up->lazy = m.u.open.lazy;
	m.u.open.tls = up->tls;
	m.u.open.port = up->dest_port;
	snprintf(m.u.open.host, sizeof m.u.open.host, "%s", up->host);
	kh_buf_init(&frame, OPEN_FRAME_MAX);
	if (kh_chan_encode(&m, &frame, &err) != 0)
		kh_error("cannot describe a stream to the key holder: %s", err.msg);
	else if (kh_ep_write(&up->ep, kh_buf_data(&frame), kh_buf_len(&frame)) ==
		 (ssize_t)kh_buf_len(&frame))
		rc = 0; /* a fresh socket or pipe takes a frame this small whole */
	kh_buf_free(&frame);
	return rc;
}

/* The key holder runs on this loop: the stream is a pipe in memory. */
static void pipe_open(struct kh_upstream *up)
{
	struct kh_mempipe *p = kh_mempipe_new(up->cx->loop, KH_STREAM_PIPE_BUF);

	if (p == NULL) {
		report(up, false, 503, "internal_error", "no stream to the key holder (memory)");
		return;
	}
	kh_ep_attach_pipe(&up->ep, p, 0);
	if (send_open(up) != 0) {
		kh_mempipe_close(p, 1);
		stream_fail(up, "cannot open a stream to the key holder");
		return;
	}
	up->state = KH_UP_CONNECTING;
	up->cx->keyholder_pipe(up->cx, p); /* answers after this batch, as a socket would */
}

static void stream_open(struct kh_upstream *up)
{
	int sv[2];

	if (up->cx->keyholder_pipe != NULL) {
		pipe_open(up);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
		report(up, false, 503, "internal_error", "no stream to the key holder (fds?)");
		return;
	}
	up->ep.io.fd = sv[0];
	if (send_open(up) != 0 || kh_ep_watch_lazily(&up->ep, up->cx->loop) != 0) {
		close(sv[1]);
		stream_fail(up, "cannot open a stream to the key holder");
		return;
	}
	up->state = KH_UP_CONNECTING;
	up->cx->keyholder_stream(up->cx, sv[1]); /* may answer at once: read on readiness */
}

/* Reads the key holder's answer to OPEN (only that: it sends nothing more
 * before the first request). True on progress. */
static bool stream_opened(struct kh_upstream *up)
{
	struct kh_chan_hdr h;
	struct kh_chan_msg m;
	struct kh_err err;
	size_t avail, need = 0;
	uint8_t *t;
	ssize_t n;

	while (kh_ep_can_read(&up->ep) && (t = kh_buf_tail(up->in, &avail)) != NULL) {
		n = kh_ep_read(&up->ep, t, avail);
		if (n <= 0)
			break; /* would block, or the end (after OPEN_FAIL, it comes at once) */
		kh_buf_produced(up->in, (size_t)n);
	}
	if (kh_buf_len(up->in) >= KH_CHAN_HDR) {
		kh_chan_hdr_read(kh_buf_data(up->in), &h);
		need = KH_CHAN_HDR + (size_t)h.len;
		if (h.len > KH_CHAN_FRAME_MAX || need > up->in->cap) {
			stream_fail(up, "the key holder's answer is too large");
			return true;
		}
	}
	if (kh_buf_len(up->in) < KH_CHAN_HDR || kh_buf_len(up->in) < need) {
		if (!up->ep.eof && !up->ep.failed)
			return false;
		stream_fail(up, "the key holder closed the stream");
		return true;
	}
	if (kh_chan_decode(kh_buf_data(up->in), need, &m, &err) != 0 ||
	    (m.type != KH_CHAN_OPEN_OK && m.type != KH_CHAN_OPEN_FAIL)) {
		kh_buf_free(up->in);
		stream_fail(up, "the key holder's answer to OPEN is malformed");
		return true;
	}
	if (m.type == KH_CHAN_OPEN_FAIL) {
		struct kh_chan_fail f = m.u.fail; /* m points into in, freed below */

		kh_buf_free(up->in);
		stream_refused(up, f.status, f.reason, f.detail[0] ? f.detail : NULL);
		return true;
	}
	kh_buf_consume(up->in, need);
	up->state = KH_UP_READY;
	report(up, true, 0, NULL, NULL);
	return true;
}

void kh_dial_init(struct kh_upstream *up, struct kh_wctx *cx, const struct kh_upstream_ops *ops,
		  struct kh_buf *in, struct kh_buf *out)
{
	up->cx = cx;
	up->ops = ops;
	up->in = in;
	up->out = out;
	kh_ep_init(&up->ep, ops->io);
}

void kh_dial_start(struct kh_upstream *up, struct kh_policy *policy, const char *host,
		   uint16_t port, bool tls, bool is_ip)
{
	const struct kh_pin *pin;

	close_upstream(up);
	up->policy = policy;
	up->start_ms = kh_loop_now(up->cx->loop);
	snprintf(up->host, sizeof up->host, "%s", host);
	up->port = up->dest_port = port;
	up->tls = tls;
	up->is_ip = is_ip;
	up->generation = up->policy->generation;
	if (up->via_keyholder) {
		stream_open(up);
		return;
	}
	if (take_parked(up))
		return;
	if (is_ip) {
		up->addrlens[0] = literal_addr(host, &up->addrs[0]);
		up->n_addrs = up->addrlens[0] ? 1 : 0;
	} else if ((pin = kh_policy_pin(up->policy, host)) != NULL) {
		up->addrs[0] = pin->addr;
		up->addrlens[0] = pin->addrlen;
		up->n_addrs = 1;
		if (pin->port != 0)
			up->port = pin->port;
	} else {
		start_lookup(up);
		return;
	}
	connect_next(up);
}

static bool finish_connect(struct kh_upstream *up)
{
	int soerr = 0;
	socklen_t len = sizeof soerr;

	if (!up->ep.wr_ready && !up->ep.failed)
		return false;
	getsockopt(up->ep.io.fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
	if (soerr != 0) {
		kh_fmt(up->last_error, sizeof up->last_error, "connect to %s:%u: %s", up->host,
		       up->port, kh_strerror(soerr));
		kh_ep_close(up->cx->loop, &up->ep);
		kh_ep_init(&up->ep, up->ops->io);
		connect_next(up);
		return true;
	}
	if (!up->tls) {
		up->state = KH_UP_READY;
		kh_metrics_since(KH_HIST_UPSTREAM_DIAL, up->start_ms, kh_loop_now(up->cx->loop));
		report(up, true, 0, NULL, NULL);
		return true;
	}
	up->ep.ssl = kh_tls_client_ssl(up->policy->client_ctx, up->ep.io.fd, up->host, up->is_ip);
	if (up->ep.ssl == NULL) {
		report(up, false, 502, "upstream_tls_failed", "cannot set up TLS");
		return true;
	}
	kh_ep_attach_ssl(&up->ep, up->ep.ssl);
	up->state = KH_UP_HANDSHAKE;
	return true;
}

static bool finish_handshake(struct kh_upstream *up)
{
	char detail[KH_DETAIL_MAX];
	int r;

	if (!kh_ep_can_handshake(&up->ep))
		return false;
	r = kh_ep_handshake(&up->ep);
	if (r == 0)
		return false;
	if (r < 0) {
		char why[KH_DETAIL_MAX / 2];

		kh_tls_describe_failure(up->ep.ssl, why, sizeof why);
		kh_fmt(detail, sizeof detail, "%s:%u: %s", up->host, up->port, why);
		kh_ep_close(up->cx->loop, &up->ep);
		report(up, false, 502, "upstream_tls_failed", detail);
		return true;
	}
	up->state = KH_UP_READY;
	kh_metrics_since(KH_HIST_UPSTREAM_DIAL, up->start_ms, kh_loop_now(up->cx->loop));
	report(up, true, 0, NULL, NULL);
	return true;
}

bool kh_dial_step(struct kh_upstream *up)
{
	switch (up->state) {
	case KH_UP_CONNECTING:
		return up->via_keyholder ? stream_opened(up) : finish_connect(up);
	case KH_UP_HANDSHAKE:
		return finish_handshake(up);
	default:
		return false;
	}
}
