/* Two endpoints (endpoint.h) on the ends of a non-blocking socketpair,
 * driven by a real event loop the way a connection drives them: an
 * operation is tried only when kh_ep_can_*() says so, so a readiness flag
 * that is wrong shows up as a stall, which the bounded run reports.
 *
 * Each side optionally handshakes (TLS), sends tx_len bytes of a pattern in
 * chunks of wr_chunk, optionally shuts its write side after that, and reads
 * in chunks of rd_chunk, checking every byte against the peer's pattern,
 * until EOF. The run ends when done() says so, on an error, or after
 * EP_PAIR_LIMIT_MS (then timed_out is set). Include after tap.h, once. */
#ifndef KH_EP_PAIR_H
#define KH_EP_PAIR_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "event/loop.h"
#include "tls/endpoint.h"

#define EP_PAIR_LIMIT_MS 20000 /* a bound for a stall, never a timing assertion */

struct ep_side {
	struct kh_endpoint ep; /* first: the loop hands back &ep.io */
	struct ep_pair *pair;
	uint8_t seed; /* this side's pattern */
	bool handshaking; /* TLS handshake still to finish */
	int hs_result; /* 1 done, KH_IO_ERROR failed, 0 not yet */
	size_t tx_len, tx_off, wr_chunk;
	bool shut_after_send;
	size_t rx_len, rd_chunk;
	bool rx_bad; /* a byte differed from the peer's pattern */
	bool got_eof;
	int rd_error, wr_error; /* KH_IO_ERROR seen */
	unsigned reads; /* successful reads, for the tests' own checks */
};

struct ep_pair {
	struct kh_loop *loop;
	struct ep_side a, b;
	struct kh_timer limit;
	bool lazy; /* ends watched for EPOLLOUT only while a write waits (kh_ep_watch_lazily) */
	bool timed_out;
	bool (*done)(const struct ep_pair *p);
};

static inline uint8_t ep_pattern(uint8_t seed, size_t i)
{
	return (uint8_t)(i * 131u + (i >> 9) + seed);
}

static bool ep_side_step(struct ep_side *s, const struct ep_side *peer)
{
	uint8_t buf[65536];
	bool progress = false;
	ssize_t n;

	if (s->handshaking) {
		if (!kh_ep_can_handshake(&s->ep))
			return false;
		s->hs_result = kh_ep_handshake(&s->ep);
		if (s->hs_result == 0)
			return false;
		s->handshaking = false;
		return true;
	}
	if (s->hs_result < 0)
		return false;
	while (s->tx_off < s->tx_len && kh_ep_can_write(&s->ep)) {
		size_t want = s->tx_len - s->tx_off;

		if (want > s->wr_chunk)
			want = s->wr_chunk;
		for (size_t i = 0; i < want; i++)
			buf[i] = ep_pattern(s->seed, s->tx_off + i);
		n = kh_ep_write(&s->ep, buf, want);
		if (n == KH_IO_AGAIN)
			break;
		if (n < 0) {
			s->wr_error = 1;
			break;
		}
		s->tx_off += (size_t)n;
		progress = true;
	}
	if (s->tx_off == s->tx_len && s->shut_after_send && !s->ep.write_shut) {
		kh_ep_shutdown_write(&s->ep);
		progress = true;
	}
	while (kh_ep_can_read(&s->ep)) {
		n = kh_ep_read(&s->ep, buf, s->rd_chunk);
		if (n == KH_IO_AGAIN)
			break;
		if (n < 0) {
			s->rd_error = 1;
			break;
		}
		if (n == 0) {
			s->got_eof = true;
			progress = true;
			break;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != ep_pattern(peer->seed, s->rx_len + (size_t)i))
				s->rx_bad = true;
		s->rx_len += (size_t)n;
		s->reads++;
		progress = true;
	}
	return progress;
}

static bool ep_side_broken(const struct ep_side *s)
{
	return s->hs_result < 0 || s->rd_error || s->wr_error || s->rx_bad;
}

static void ep_pair_drive(struct ep_pair *p)
{
	bool progress = true;

	while (progress) {
		progress = ep_side_step(&p->a, &p->b);
		progress = ep_side_step(&p->b, &p->a) || progress;
	}
	if (ep_side_broken(&p->a) || ep_side_broken(&p->b) || p->done(p))
		kh_loop_stop(p->loop);
}

static void ep_pair_io(struct kh_io *io, uint32_t events)
{
	struct ep_side *s = (struct ep_side *)io;

	kh_ep_on_events(&s->ep, events);
	ep_pair_drive(s->pair);
}

static void ep_pair_limit(struct kh_timer *t)
{
	struct ep_pair *p = (struct ep_pair *)((char *)t - offsetof(struct ep_pair, limit));

	p->timed_out = true;
	kh_loop_stop(p->loop);
}

/* A socketpair, both ends non-blocking, as endpoints a and b (plain). */
static inline int ep_pair_init(struct ep_pair *p, struct kh_loop *loop)
{
	int fds[2];

	memset(p, 0, sizeof *p);
	p->loop = loop;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
		return -1;
	kh_ep_init(&p->a.ep, ep_pair_io);
	kh_ep_init(&p->b.ep, ep_pair_io);
	p->a.ep.io.fd = fds[0];
	p->b.ep.io.fd = fds[1];
	p->a.pair = p->b.pair = p;
	p->a.seed = 0x11;
	p->b.seed = 0x5a;
	p->a.wr_chunk = p->b.wr_chunk = 16384;
	p->a.rd_chunk = p->b.rd_chunk = 16384;
	p->a.hs_result = p->b.hs_result = 1;
	p->limit.cb = ep_pair_limit;
	return 0;
}

/* Registers both ends and runs the loop until done (or an error, or the limit). */
static inline int ep_pair_watch(struct ep_pair *p, struct kh_endpoint *ep)
{
	if (ep->io.fd < 0)
		return 0;
	return p->lazy ? kh_ep_watch_lazily(ep, p->loop) : kh_loop_add(p->loop, &ep->io);
}

static inline int ep_pair_run(struct ep_pair *p)
{
	if (ep_pair_watch(p, &p->a.ep) != 0 || ep_pair_watch(p, &p->b.ep) != 0)
		return -1;
	kh_timer_after(p->loop, &p->limit, EP_PAIR_LIMIT_MS);
	if (p->lazy)
		ep_pair_drive(p); /* no first EPOLLOUT comes to start the writers */
	kh_loop_run(p->loop);
	kh_timer_cancel(p->loop, &p->limit);
	return p->timed_out ? -1 : 0;
}

/* Runs once more (both ends already registered). */
static inline int ep_pair_rerun(struct ep_pair *p)
{
	kh_timer_after(p->loop, &p->limit, EP_PAIR_LIMIT_MS);
	ep_pair_drive(p);
	kh_loop_run(p->loop);
	kh_timer_cancel(p->loop, &p->limit);
	return p->timed_out ? -1 : 0;
}

static inline void ep_pair_close(struct ep_pair *p)
{
	kh_ep_close(p->loop, &p->a.ep);
	kh_ep_close(p->loop, &p->b.ep);
}

#endif
