/* Endpoints over a socketpair. Plain: would-block, a short read marking the
 * socket drained (but not after the peer's FIN), EOF, a full socket buffer,
 * shutdown, writing to a closed peer (an error, never SIGPIPE). TLS, with a
 * throwaway CA and keyhole's own contexts, on a real event loop: both
 * handshakes non-blocking, a megabyte each way at once, small reads of
 * records OpenSSL already holds, close_notify against a bare FIN, a reset, and
 * an endpoint moved to a new address mid-connection (as the upstream pool
 * does). A wrong readiness flag stalls a run, and a stall is a failure. */
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/check.h"
#include "tap.h"
#include "tmpdir.h"
#include "ep_pair.h"
#include "tls_fixture.h"

#define HOST "upstream.test"

static struct kh_loop *loop;
static struct tls_fixture fx;
static bool tls_ok;

static bool both_eof(const struct ep_pair *p)
{
	return p->a.got_eof && p->b.got_eof;
}

static bool both_handshaken(const struct ep_pair *p)
{
	return !p->a.handshaking && !p->b.handshaking;
}

static bool b_got_all(const struct ep_pair *p)
{
	return p->b.rx_len == p->a.tx_len;
}

static bool b_eof(const struct ep_pair *p)
{
	return p->b.got_eof;
}

static void plain_would_block_and_drain(void)
{
	struct kh_endpoint ep;
	int fds[2];
	char buf[100];

	CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
	kh_ep_init(&ep, NULL);
	CHECK(!kh_ep_can_read(&ep) && !kh_ep_can_write(&ep)); /* no fd yet */
	ep.io.fd = fds[0];
	kh_ep_on_events(&ep, EPOLLOUT);
	CHECK(kh_ep_can_write(&ep));
	CHECK(!kh_ep_can_read(&ep));
	kh_ep_on_events(&ep, EPOLLIN);
	CHECK(kh_ep_can_read(&ep));
	CHECK_INT(kh_ep_read(&ep, buf, sizeof buf), KH_IO_AGAIN);
	CHECK(!kh_ep_can_read(&ep));
	CHECK(!ep.eof && !ep.failed);

	/* a short read drained the socket: not ready until the next event */
	CHECK_INT(write(fds[1], "0123456789", 10), 10);
	kh_ep_on_events(&ep, EPOLLIN);
	CHECK_INT(kh_ep_read(&ep, buf, sizeof buf), 10);
	CHECK(memcmp(buf, "0123456789", 10) == 0);
	CHECK(!kh_ep_can_read(&ep));

	/* a full read may have left bytes: still ready */
	CHECK_INT(write(fds[1], "abcdefghij", 10), 10);
	kh_ep_on_events(&ep, EPOLLIN);
	CHECK_INT(kh_ep_read(&ep, buf, 4), 4);
	CHECK(kh_ep_can_read(&ep));
	CHECK_INT(kh_ep_read(&ep, buf, 6), 6);
	CHECK(memcmp(buf, "efghij", 6) == 0);
	CHECK(kh_ep_can_read(&ep));
	CHECK_INT(kh_ep_read(&ep, buf, sizeof buf), KH_IO_AGAIN);
	CHECK(!kh_ep_can_read(&ep));
	kh_ep_close(loop, &ep);
	close(fds[1]);
}

/* After the peer's FIN a short read does not mean drained: EOF comes with
 * no further event, so reads go on until it. */
static void plain_fin_and_eof(void)
{
	struct kh_endpoint ep;
	int fds[2];
	char buf[100];

	CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
	kh_ep_init(&ep, NULL);
	ep.io.fd = fds[0];
	CHECK_INT(write(fds[1], "last words", 10), 10);
	CHECK_INT(shutdown(fds[1], SHUT_WR), 0);
	kh_ep_on_events(&ep, EPOLLIN | EPOLLRDHUP | EPOLLOUT);
	CHECK(ep.peer_shut);
	CHECK_INT(kh_ep_read(&ep, buf, sizeof buf), 10);
	CHECK(kh_ep_can_read(&ep));
	CHECK_INT(kh_ep_read(&ep, buf, sizeof buf), 0);
	CHECK(ep.eof && !ep.failed);
	CHECK(!kh_ep_can_read(&ep));
	CHECK(kh_ep_can_write(&ep)); /* half-closed: we may still send */
	CHECK_INT(kh_ep_write(&ep, "ok", 2), 2);
	CHECK_INT(read(fds[1], buf, sizeof buf), 2);

	/* the peer is gone: writing fails (EPIPE, without a SIGPIPE) */
	close(fds[1]);
	kh_ep_on_events(&ep, EPOLLHUP | EPOLLERR);
	CHECK_INT(kh_ep_write(&ep, "more", 4), KH_IO_ERROR);
	CHECK(ep.failed);
	CHECK(!kh_ep_can_write(&ep) && !kh_ep_can_read(&ep));
	kh_ep_close(loop, &ep);
	CHECK_INT(ep.io.fd, -1);
	kh_ep_close(loop, &ep); /* twice is harmless */
}

static void plain_full_buffer_and_shutdown(void)
{
	struct kh_endpoint ep;
	int fds[2];
	char buf[4096] = { 0 };
	size_t sent = 0, got = 0;
	ssize_t n;

	CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
	kh_ep_init(&ep, NULL);
	ep.io.fd = fds[0];
	kh_ep_on_events(&ep, EPOLLOUT);
	for (int i = 0; i < 100000 && (n = kh_ep_write(&ep, buf, sizeof buf)) > 0; i++)
		sent += (size_t)n;
	CHECK(sent > 0);
	CHECK(!kh_ep_can_write(&ep));
	CHECK_INT(kh_ep_write(&ep, buf, sizeof buf), KH_IO_AGAIN);
	while ((n = read(fds[1], buf, sizeof buf)) > 0)
		got += (size_t)n;
	CHECK_INT(got, sent);
	kh_ep_on_events(&ep, EPOLLOUT);
	CHECK(kh_ep_can_write(&ep));

	kh_ep_shutdown_write(&ep);
	CHECK(ep.write_shut);
	CHECK(!kh_ep_can_write(&ep));
	kh_ep_shutdown_write(&ep); /* idempotent */
	CHECK_INT(read(fds[1], buf, sizeof buf), 0); /* the peer sees our FIN */
	kh_ep_close(loop, &ep);
	close(fds[1]);
}

/* A megabyte each way through the loop, read 1000 bytes at a time; lazy:
 * both ends watched for EPOLLOUT only while a write waits, where the
 * socket fills many times and a room event that never came would stall. */
static void through_loop(bool lazy)
{
	struct ep_pair p;

	CHECK_INT(ep_pair_init(&p, loop), 0);
	p.lazy = lazy;
	p.a.tx_len = p.b.tx_len = 1 << 20;
	p.a.shut_after_send = p.b.shut_after_send = true;
	p.a.rd_chunk = p.b.rd_chunk = 1000;
	p.done = both_eof;
	CHECK_INT(ep_pair_run(&p), 0);
	CHECK_INT(p.a.rx_len, 1 << 20);
	CHECK_INT(p.b.rx_len, 1 << 20);
	CHECK(!ep_side_broken(&p.a) && !ep_side_broken(&p.b));
	ep_pair_close(&p);
}

static void plain_through_loop(void)
{
	through_loop(false);
}

static void plain_through_loop_lazily(void)
{
	through_loop(true);
}

struct counted_ep {
	struct kh_endpoint ep;
	unsigned events, outs;
};

static void count_events(struct kh_io *io, uint32_t events)
{
	struct counted_ep *c = container_of(io, struct counted_ep, ep.io);

	c->events++;
	if (events & EPOLLOUT)
		c->outs++;
	kh_ep_on_events(&c->ep, events);
	if (events & EPOLLOUT)
		kh_loop_stop(loop);
}

static void stop_loop(struct kh_timer *t)
{
	(void)t;
	kh_loop_stop(loop);
}

/* Runs the loop for ms (or until an EPOLLOUT). */
static void run_for(unsigned ms)
{
	struct kh_timer t = { .cb = stop_loop };

	kh_timer_after(loop, &t, ms);
	kh_loop_run(loop);
	kh_timer_cancel(loop, &t);
}

/* Linux wakes an AF_UNIX writer's epoll each time the peer reads. An end
 * watched lazily (a front's stream to the key holder, and the key holder's
 * end of it) must not be woken by that: it would cost each process a wakeup
 * per message the other takes. Room is still reported when a write waited. */
static void lazy_out_not_woken_by_peer_reads(void)
{
	struct counted_ep c = { .events = 0 };
	char buf[4096] = { 0 };
	int fds[2];
	ssize_t n;

	CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
	kh_ep_init(&c.ep, count_events);
	c.ep.io.fd = fds[0];
	CHECK_INT(kh_ep_watch_lazily(&c.ep, loop), 0);
	CHECK(kh_ep_can_write(&c.ep)); /* a new socket has room */
	run_for(20);
	CHECK_INT(c.events, 0);

	/* the peer reads what we sent: no event */
	CHECK_INT(kh_ep_write(&c.ep, "request", 7), 7);
	CHECK_INT(read(fds[1], buf, sizeof buf), 7);
	run_for(50);
	CHECK_INT(c.events, 0);

	/* a write refused for room is told when room comes */
	while ((n = kh_ep_write(&c.ep, buf, sizeof buf)) > 0)
		;
	CHECK_INT(n, KH_IO_AGAIN);
	CHECK(!kh_ep_can_write(&c.ep) && c.ep.out_watched);
	while (read(fds[1], buf, sizeof buf) > 0)
		;
	run_for(2000);
	CHECK_INT(c.outs, 1);
	CHECK(kh_ep_can_write(&c.ep) && !c.ep.out_watched);

	/* and then no longer watched: reads by the peer wake nothing again */
	c.events = c.outs = 0;
	CHECK_INT(kh_ep_write(&c.ep, "again", 5), 5);
	CHECK_INT(read(fds[1], buf, sizeof buf), 5);
	run_for(50);
	CHECK_INT(c.events, 0);

	/* bytes from the peer still wake it */
	CHECK_INT(write(fds[1], "answer", 6), 6);
	run_for(50);
	CHECK_INT(c.events, 1);
	kh_ep_close(loop, &c.ep);
	close(fds[1]);
}

/* a: the TLS client verifying HOST; b: keyhole's server side with a leaf for HOST. */
static int tls_pair_init(struct ep_pair *p, struct kh_sni_check *sni, X509 **leaf)
{
	struct kh_err err = { "" };
	SSL *cs, *ss;

	if (ep_pair_init(p, loop) != 0)
		return -1;
	*leaf = kh_ca_mint_leaf(&fx.ca, HOST, &err);
	*sni = (struct kh_sni_check){ .expected = HOST };
	cs = kh_tls_client_ssl(fx.client, p->a.ep.io.fd, HOST, false);
	ss = *leaf ? kh_tls_server_ssl(fx.server, p->b.ep.io.fd, *leaf, fx.ca.leaf_key, sni) : NULL;
	if (cs == NULL || ss == NULL) {
		SSL_free(cs);
		SSL_free(ss);
		return -1;
	}
	kh_ep_attach_ssl(&p->a.ep, cs);
	kh_ep_attach_ssl(&p->b.ep, ss);
	p->a.handshaking = p->b.handshaking = true;
	p->a.hs_result = p->b.hs_result = 0;
	return 0;
}

static void tls_fixture_ready(void)
{
	CHECK(tls_ok);
}

static void tls_transfer(void)
{
	struct ep_pair p;
	struct kh_sni_check sni;
	X509 *leaf = NULL;
	const unsigned char *alpn = NULL;
	unsigned alpn_len = 0;

	if (!tls_ok)
		return;
	CHECK_INT(tls_pair_init(&p, &sni, &leaf), 0);
	/* the server side alone cannot finish: it waits for the client's hello */
	CHECK_INT(kh_ep_handshake(&p.b.ep), 0);
	CHECK(!kh_ep_can_handshake(&p.b.ep));
	kh_ep_on_events(&p.b.ep, EPOLLIN);
	CHECK(kh_ep_can_handshake(&p.b.ep));

	p.a.tx_len = p.b.tx_len = 1 << 20;
	p.a.shut_after_send = p.b.shut_after_send = true;
	p.done = both_eof;
	CHECK_INT(ep_pair_run(&p), 0);
	CHECK_INT(p.a.hs_result, 1);
	CHECK_INT(p.b.hs_result, 1);
	CHECK(!sni.mismatch);
	CHECK_STR(sni.got, HOST);
	SSL_get0_alpn_selected(p.a.ep.ssl, &alpn, &alpn_len);
	CHECK(alpn_len == 8 && memcmp(alpn, "http/1.1", 8) == 0);
	CHECK_INT(p.a.rx_len, 1 << 20);
	CHECK_INT(p.b.rx_len, 1 << 20);
	CHECK(!ep_side_broken(&p.a) && !ep_side_broken(&p.b));
	ep_pair_close(&p);
	X509_free(leaf);
}

/* One way only: the writer fills the socket and must wait for it to drain,
 * with nothing to read meanwhile that would wake it by chance. */
static void tls_one_way(void)
{
	struct ep_pair p;
	struct kh_sni_check sni;
	X509 *leaf = NULL;

	if (!tls_ok)
		return;
	CHECK_INT(tls_pair_init(&p, &sni, &leaf), 0);
	p.a.tx_len = 2 << 20;
	p.a.shut_after_send = true;
	p.b.rd_chunk = 3000;
	p.done = b_eof;
	CHECK_INT(ep_pair_run(&p), 0);
	CHECK_INT(p.b.rx_len, 2 << 20);
	CHECK(!ep_side_broken(&p.a) && !ep_side_broken(&p.b));
	ep_pair_close(&p);
	X509_free(leaf);
}

/* Many small records read 7 bytes at a time: OpenSSL holds most of them
 * after the first socket read, and no epoll event will say so. */
static void tls_small_reads_of_held_records(void)
{
	struct ep_pair p;
	struct kh_sni_check sni;
	X509 *leaf = NULL;

	if (!tls_ok)
		return;
	CHECK_INT(tls_pair_init(&p, &sni, &leaf), 0);
	p.done = both_handshaken;
	CHECK_INT(ep_pair_run(&p), 0);
	CHECK(p.a.hs_result == 1 && p.b.hs_result == 1);
	/* queue 40 records on the socket before b looks */
	p.a.tx_len = 40 * 100;
	p.a.wr_chunk = 100;
	p.b.rd_chunk = 7;
	p.done = b_got_all;
	CHECK_INT(ep_pair_rerun(&p), 0);
	CHECK_INT(p.b.rx_len, 4000);
	CHECK(p.b.reads >= 4000 / 7);
	CHECK(!ep_side_broken(&p.a) && !ep_side_broken(&p.b));
	ep_pair_close(&p);
	X509_free(leaf);
}

/* A close with close_notify and a bare FIN both read as EOF: framing, not
 * TLS, decides whether a body was whole (SSL_OP_IGNORE_UNEXPECTED_EOF, which
 * also makes OpenSSL record the bare FIN as a received close_notify). */
static void tls_close_notify_and_bare_fin(void)
{
	struct ep_pair p;
	struct kh_sni_check sni;
	X509 *leaf = NULL;

	if (!tls_ok)
		return;
	CHECK_INT(tls_pair_init(&p, &sni, &leaf), 0);
	p.a.tx_len = 100;
	p.a.shut_after_send = true;
	p.done = b_eof;
	CHECK_INT(ep_pair_run(&p), 0);
	CHECK_INT(p.b.rx_len, 100);
	CHECK(p.b.got_eof && !p.b.ep.failed && !p.b.rd_error);
	ep_pair_close(&p);
	X509_free(leaf);

	CHECK_INT(tls_pair_init(&p, &sni, &leaf), 0);
	p.a.tx_len = 100;
	p.done = b_got_all;
	CHECK_INT(ep_pair_run(&p), 0);
	CHECK_INT(p.b.rx_len, 100);
	CHECK_INT(shutdown(p.a.ep.io.fd, SHUT_WR), 0); /* FIN, no close_notify */
	p.done = b_eof;
	CHECK_INT(ep_pair_rerun(&p), 0);
	CHECK(p.b.got_eof && !p.b.ep.failed && !p.b.rd_error);
	/* once the peer is gone, nothing can be sent to it */
	kh_ep_close(loop, &p.a.ep);
	kh_ep_on_events(&p.b.ep, EPOLLOUT);
	CHECK_INT(kh_ep_write(&p.b.ep, "late", 4), KH_IO_ERROR);
	CHECK(p.b.ep.failed && !kh_ep_can_write(&p.b.ep));
	ep_pair_close(&p);
	X509_free(leaf);
}

/* A peer that closes with bytes it never read resets the connection: that
 * is a failure, never a clean end of stream. */
static void tls_reset_is_an_error(void)
{
	struct ep_pair p;
	struct kh_sni_check sni;
	X509 *leaf = NULL;

	if (!tls_ok)
		return;
	CHECK_INT(tls_pair_init(&p, &sni, &leaf), 0);
	p.a.tx_len = 100;
	p.done = b_got_all;
	CHECK_INT(ep_pair_run(&p), 0);
	CHECK_INT(p.b.rx_len, 100);
	p.a.ep.rd_ready = false; /* a stops reading; b's bytes stay unread */
	p.a.ep.io.cb = NULL;
	kh_loop_del(loop, &p.a.ep.io);
	CHECK_INT(kh_ep_write(&p.b.ep, "unread", 6), 6);
	kh_ep_close(loop, &p.a.ep);
	p.done = b_eof;
	CHECK_INT(ep_pair_rerun(&p), 0);
	CHECK(p.b.rd_error && p.b.ep.failed && !p.b.got_eof);
	CHECK(!kh_ep_can_read(&p.b.ep) && !kh_ep_can_write(&p.b.ep));
	ep_pair_close(&p);
	X509_free(leaf);
}

/* The pool copies an idle upstream endpoint to a new address: the BIO
 * callback must follow it (ASan sees a write to the old one). */
static void tls_endpoint_moved(void)
{
	struct ep_pair *p = calloc(1, sizeof *p), *q = calloc(1, sizeof *q);
	struct kh_sni_check sni;
	X509 *leaf = NULL;

	if (!tls_ok || p == NULL || q == NULL) {
		free(p);
		free(q);
		return;
	}
	CHECK_INT(tls_pair_init(p, &sni, &leaf), 0);
	p->done = both_handshaken;
	CHECK_INT(ep_pair_run(p), 0);
	memcpy(q, p, sizeof *q);
	q->a.pair = q->b.pair = q;
	kh_ep_moved(&q->a.ep);
	kh_ep_moved(&q->b.ep);
	CHECK_INT(kh_loop_rebind(loop, &q->a.ep.io), 0);
	CHECK_INT(kh_loop_rebind(loop, &q->b.ep.io), 0);
	memset(p, 0xa5, sizeof *p);
	free(p);
	q->a.tx_len = q->b.tx_len = 300000;
	q->a.rd_chunk = q->b.rd_chunk = 50000;
	q->a.shut_after_send = q->b.shut_after_send = true;
	q->done = both_eof;
	CHECK_INT(ep_pair_rerun(q), 0);
	CHECK_INT(q->a.rx_len, 300000);
	CHECK_INT(q->b.rx_len, 300000);
	CHECK(!ep_side_broken(&q->a) && !ep_side_broken(&q->b));
	ep_pair_close(q);
	free(q);
	X509_free(leaf);
}

int main(void)
{
	struct kh_err err = { "" };

	loop = kh_loop_new(&err);
	if (loop == NULL || tmpdir_make("kh-endpoint") != 0) {
		printf("Bail out! no loop or scratch directory: %s\n", err.msg);
		return 1;
	}
	tls_ok = tls_fixture_init(&fx, "ca") == 0;
	RUN(plain_would_block_and_drain);
	RUN(plain_fin_and_eof);
	RUN(plain_full_buffer_and_shutdown);
	RUN(plain_through_loop);
	RUN(plain_through_loop_lazily);
	RUN(lazy_out_not_woken_by_peer_reads);
	/* as the daemon does (OpenSSL's socket BIO writes with write(), not
	 * send(MSG_NOSIGNAL)): a write to a closed peer under TLS is an error */
	signal(SIGPIPE, SIG_IGN);
	RUN(tls_fixture_ready);
	RUN(tls_transfer);
	RUN(tls_one_way);
	RUN(tls_small_reads_of_held_records);
	RUN(tls_close_notify_and_bare_fin);
	RUN(tls_reset_is_an_error);
	RUN(tls_endpoint_moved);
	tls_fixture_free(&fx);
	kh_loop_free(loop);
	tmpdir_remove();
	TAP_DONE();
}
