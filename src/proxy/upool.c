#include "proxy/upool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "base/check.h"
#include "base/hostname.h"
#include "base/kh_limits.h"

struct parked {
	struct kh_endpoint ep; /* ep.io.cb is parked_io while here */
	struct kh_upool *pool;
	struct parked *newer, *older; /* LRU list while in use; free list via older */
	char host[KH_HOST_BUF];
	uint16_t port;
	bool tls;
	bool in_use;
	unsigned long generation;
	uint64_t expires_ms;
};

struct kh_upool {
	struct kh_loop *loop;
	struct kh_timer timer;
	struct parked *newest, *oldest; /* in use */
	struct parked *free;
	unsigned n;
	struct parked slots[KH_UPSTREAM_POOL_MAX];
};

static void unlink_entry(struct kh_upool *p, struct parked *e)
{
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		p->newest = e->older;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		p->oldest = e->newer;
	e->newer = NULL;
	e->older = p->free;
	p->free = e;
	e->in_use = false;
	p->n--;
}

static void drop(struct kh_upool *p, struct parked *e)
{
	kh_ep_close(p->loop, &e->ep);
	unlink_entry(p, e);
}

static void arm(struct kh_upool *p)
{
	uint64_t now = kh_loop_now(p->loop);

	if (p->oldest == NULL)
		kh_timer_cancel(p->loop, &p->timer);
	else
		kh_timer_after(p->loop, &p->timer,
			       p->oldest->expires_ms > now ? p->oldest->expires_ms - now : 1);
}

static void expire(struct kh_timer *t)
{
	struct kh_upool *p = container_of(t, struct kh_upool, timer);
	uint64_t now = kh_loop_now(p->loop);

	while (p->oldest != NULL && p->oldest->expires_ms <= now)
		drop(p, p->oldest);
	arm(p);
}

/* Nothing is expected from a parked connection: readable means the server
 * closed it or sent something unasked, either way it is done. The peek tells
 * a stale event (queued before the socket changed hands) from a real one. */
static void parked_io(struct kh_io *io, uint32_t events)
{
	struct parked *e = container_of(io, struct parked, ep.io);
	char b;

	if (!e->in_use || !(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return;
	if (recv(io->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	drop(e->pool, e);
	arm(e->pool);
}

struct kh_upool *kh_upool_new(struct kh_loop *l)
{
	struct kh_upool *p = calloc(1, sizeof *p);

	if (p == NULL)
		return NULL;
	p->loop = l;
	p->timer.cb = expire;
	for (size_t i = 0; i < KH_UPSTREAM_POOL_MAX; i++) {
		p->slots[i].pool = p;
		p->slots[i].older = p->free;
		p->free = &p->slots[i];
	}
	return p;
}

void kh_upool_clear(struct kh_upool *p)
{
	while (p != NULL && p->oldest != NULL)
		drop(p, p->oldest);
	if (p != NULL)
		kh_timer_cancel(p->loop, &p->timer);
}

void kh_upool_free(struct kh_upool *p)
{
	kh_upool_clear(p);
	free(p);
}

static bool matches(const struct parked *e, const struct kh_upool_key *k)
{
	return e->port == k->port && e->tls == k->tls && e->generation == k->generation &&
	       strcmp(e->host, k->host) == 0;
}

void kh_upool_put(struct kh_upool *p, const struct kh_upool_key *key, struct kh_endpoint *ep,
		  void (*cb)(struct kh_io *, uint32_t))
{
	struct parked *e;

	if (p->free == NULL)
		drop(p, p->oldest);
	e = p->free;
	p->free = e->older;
	e->ep = *ep;
	e->ep.io.cb = parked_io;
	kh_ep_moved(&e->ep);
	if (kh_loop_rebind(p->loop, &e->ep.io) != 0) {
		kh_ep_close(p->loop, &e->ep);
		e->older = p->free;
		p->free = e;
		goto done;
	}
	snprintf(e->host, sizeof e->host, "%s", key->host);
	e->port = key->port;
	e->tls = key->tls;
	e->generation = key->generation;
	e->expires_ms = kh_loop_now(p->loop) + KH_UPSTREAM_POOL_IDLE_MS;
	e->in_use = true;
	e->newer = NULL;
	e->older = p->newest;
	if (p->newest != NULL)
		p->newest->newer = e;
	else
		p->oldest = e;
	p->newest = e;
	p->n++;
	arm(p);
done:
	kh_ep_init(ep, cb);
}

bool kh_upool_take(struct kh_upool *p, const struct kh_upool_key *key, struct kh_endpoint *ep)
{
	void (*cb)(struct kh_io *, uint32_t) = ep->io.cb;

	KH_CHECK(ep->io.fd < 0);
	for (struct parked *e = p->newest; e != NULL; e = e->older) {
		if (!matches(e, key))
			continue;
		*ep = e->ep;
		ep->io.cb = cb;
		kh_ep_moved(ep);
		e->ep.io.fd = -1;
		e->ep.ssl = NULL;
		unlink_entry(p, e);
		arm(p);
		if (kh_loop_rebind(p->loop, &ep->io) == 0)
			return true;
		kh_ep_close(p->loop, ep);
		kh_ep_init(ep, cb);
		return false;
	}
	return false;
}

unsigned kh_upool_count(const struct kh_upool *p)
{
	return p ? p->n : 0;
}
