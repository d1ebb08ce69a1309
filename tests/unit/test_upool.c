/* The idle upstream pool with real sockets (socket pairs) on a real loop:
 * keys, most-recent-first reuse, eviction when full, and dropping a parked
 * connection whose peer hung up. */
#include <sys/socket.h>
#include <unistd.h>

#include "base/kh_limits.h"
#include "event/loop.h"
#include "tap.h"
#include "proxy/upool.h"

static void owner_cb(struct kh_io *io, uint32_t events)
{
	(void)io;
	(void)events;
}

/* A registered endpoint whose other end is returned in *peer. */
static void make_ep(struct kh_loop *l, struct kh_endpoint *ep, int *peer)
{
	int sv[2];

	kh_ep_init(ep, owner_cb);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
		CHECK(0);
		return;
	}
	ep->io.fd = sv[0];
	ep->wr_ready = true;
	*peer = sv[1];
	CHECK_INT(kh_loop_add(l, &ep->io), 0);
}

static struct kh_loop *l_loop;

static void stop_soon(struct kh_timer *t)
{
	(void)t;
	kh_loop_stop(l_loop);
}

/* Runs the loop for about ms milliseconds. */
static void spin(struct kh_loop *l, uint64_t ms)
{
	struct kh_timer t = { .cb = stop_soon };

	l_loop = l;
	kh_timer_after(l, &t, ms);
	kh_loop_run(l);
}

static const struct kh_upool_key key_a = { "api.a.test", 443, true, 1 };

static void take_needs_the_same_key(void)
{
	struct kh_err err;
	struct kh_loop *l = kh_loop_new(&err);
	struct kh_upool *p = kh_upool_new(l);
	struct kh_endpoint ep, got;
	struct kh_upool_key other[] = { { "api.b.test", 443, true, 1 },
					{ "api.a.test", 8443, true, 1 },
					{ "api.a.test", 443, false, 1 },
					{ "api.a.test", 443, true, 2 } };
	int peer, fd;

	make_ep(l, &ep, &peer);
	fd = ep.io.fd;
	kh_upool_put(p, &key_a, &ep, owner_cb);
	CHECK_INT(ep.io.fd, -1); /* the pool owns the socket now */
	CHECK(ep.io.cb == owner_cb);
	CHECK_INT(kh_upool_count(p), 1);
	for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
		kh_ep_init(&got, owner_cb);
		CHECK(!kh_upool_take(p, &other[i], &got));
	}
	kh_ep_init(&got, owner_cb);
	CHECK(kh_upool_take(p, &key_a, &got));
	CHECK_INT(got.io.fd, fd);
	CHECK(got.io.cb == owner_cb);
	CHECK(got.wr_ready);
	CHECK_INT(kh_upool_count(p), 0);
	kh_ep_close(l, &got);
	close(peer);
	kh_upool_free(p);
	kh_loop_free(l);
}

static void most_recent_first(void)
{
	struct kh_err err;
	struct kh_loop *l = kh_loop_new(&err);
	struct kh_upool *p = kh_upool_new(l);
	struct kh_endpoint a, b, got;
	int pa, pb, fb;

	make_ep(l, &a, &pa);
	make_ep(l, &b, &pb);
	fb = b.io.fd;
	kh_upool_put(p, &key_a, &a, owner_cb);
	kh_upool_put(p, &key_a, &b, owner_cb);
	kh_ep_init(&got, owner_cb);
	CHECK(kh_upool_take(p, &key_a, &got));
	CHECK_INT(got.io.fd, fb);
	kh_ep_close(l, &got);
	close(pa);
	close(pb);
	kh_upool_free(p); /* closes the one still parked */
	kh_loop_free(l);
}

static void evicts_the_oldest_when_full(void)
{
	struct kh_err err;
	struct kh_loop *l = kh_loop_new(&err);
	struct kh_upool *p = kh_upool_new(l);
	int peers[KH_UPSTREAM_POOL_MAX + 1];
	char b;

	for (int i = 0; i <= KH_UPSTREAM_POOL_MAX; i++) {
		struct kh_endpoint ep;

		make_ep(l, &ep, &peers[i]);
		kh_upool_put(p, &key_a, &ep, owner_cb);
	}
	CHECK_INT(kh_upool_count(p), KH_UPSTREAM_POOL_MAX);
	CHECK_INT(recv(peers[0], &b, 1, MSG_DONTWAIT), 0); /* the first was closed */
	CHECK_INT(recv(peers[1], &b, 1, MSG_DONTWAIT), -1); /* the others are open */
	kh_upool_free(p);
	CHECK_INT(recv(peers[KH_UPSTREAM_POOL_MAX], &b, 1, MSG_DONTWAIT), 0);
	for (int i = 0; i <= KH_UPSTREAM_POOL_MAX; i++)
		close(peers[i]);
	kh_loop_free(l);
}

static void drops_a_connection_the_peer_closed(void)
{
	struct kh_err err;
	struct kh_loop *l = kh_loop_new(&err);
	struct kh_upool *p = kh_upool_new(l);
	struct kh_endpoint a, b, got;
	int pa, pb;

	make_ep(l, &a, &pa);
	make_ep(l, &b, &pb);
	kh_upool_put(p, &key_a, &a, owner_cb);
	kh_upool_put(p, &key_a, &b, owner_cb);
	spin(l, 30); /* writable events from the move must not drop anything */
	CHECK_INT(kh_upool_count(p), 2);
	close(pb);
	spin(l, 30);
	CHECK_INT(kh_upool_count(p), 1);
	CHECK_INT(write(pa, "x", 1), 1); /* bytes nobody asked for: done too */
	spin(l, 30);
	CHECK_INT(kh_upool_count(p), 0);
	kh_ep_init(&got, owner_cb);
	CHECK(!kh_upool_take(p, &key_a, &got));
	close(pa);
	kh_upool_free(p);
	kh_loop_free(l);
}

int main(void)
{
	RUN(take_needs_the_same_key);
	RUN(most_recent_first);
	RUN(evicts_the_oldest_when_full);
	RUN(drops_a_connection_the_peer_closed);
	TAP_DONE();
}
