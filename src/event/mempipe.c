/* Two byte-stream ends joined by memory on one loop (mempipe.h). */
#include "event/mempipe.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "base/buf.h"
#include "base/check.h"

struct pipe_end {
	struct kh_mempipe *p;
	struct kh_buf in; /* bytes the other end wrote, not read yet */
	struct kh_io *io; /* NULL until attached, and after close */
	struct kh_task kick; /* delivers pending to io->cb after the batch */
	uint32_t pending; /* epoll-style events not delivered yet */
	bool queued; /* kick is on the loop's deferred list */
	bool delivering; /* inside io->cb: the pipe must outlive it */
	bool open;
	bool shut; /* this end writes nothing more */
	bool writer_waits; /* the other end was refused for room: EPOLLOUT it on a read */
};

struct kh_mempipe {
	struct kh_loop *loop;
	struct pipe_end end[2];
};

static void maybe_free(struct kh_mempipe *p)
{
	for (unsigned i = 0; i < 2; i++)
		if (p->end[i].open || p->end[i].queued || p->end[i].delivering)
			return;
	kh_buf_free(&p->end[0].in);
	kh_buf_free(&p->end[1].in);
	free(p);
}

static void deliver(struct kh_task *t)
{
	struct pipe_end *e = container_of(t, struct pipe_end, kick);
	uint32_t ev = e->pending;

	e->queued = false;
	e->pending = 0;
	if (e->open && e->io != NULL && ev != 0) {
		e->delivering = true;
		e->io->cb(e->io, ev); /* may close either end */
		e->delivering = false;
	}
	maybe_free(e->p);
}

/* Queues events for end e, delivered after the current batch. */
static void notify(struct pipe_end *e, uint32_t ev)
{
	if (!e->open)
		return;
	e->pending |= ev;
	if (e->queued || e->io == NULL)
		return;
	e->queued = true;
	kh_loop_defer(e->p->loop, &e->kick);
}

struct kh_mempipe *kh_mempipe_new(struct kh_loop *l, size_t cap)
{
	struct kh_mempipe *p = calloc(1, sizeof *p);

	if (p == NULL)
		return NULL;
	p->loop = l;
	for (unsigned i = 0; i < 2; i++) {
		p->end[i].p = p;
		p->end[i].open = true;
		p->end[i].kick.cb = deliver;
		kh_buf_init(&p->end[i].in, cap);
	}
	return p;
}

void kh_mempipe_attach(struct kh_mempipe *p, unsigned side, struct kh_io *io)
{
	struct pipe_end *e = &p->end[side];

	KH_CHECK(side < 2 && e->open);
	e->io = io;
	notify(e, EPOLLOUT | e->pending); /* writable at once, like a new socket */
}

ssize_t kh_mempipe_read(struct kh_mempipe *p, unsigned side, void *buf, size_t len)
{
	struct pipe_end *e = &p->end[side], *other = &p->end[!side];
	size_t n = kh_buf_len(&e->in);

	if (n == 0) {
		if (other->shut || !other->open)
			return 0;
		errno = EAGAIN;
		return -1;
	}
	if (n > len)
		n = len;
	memcpy(buf, kh_buf_data(&e->in), n);
	kh_buf_consume(&e->in, n);
	kh_buf_release_if_empty(&e->in);
	if (e->writer_waits) {
		e->writer_waits = false;
		notify(other, EPOLLOUT);
	}
	return (ssize_t)n;
}

ssize_t kh_mempipe_write(struct kh_mempipe *p, unsigned side, const void *buf, size_t len)
{
	struct pipe_end *e = &p->end[side], *other = &p->end[!side];
	size_t room, n;
	uint8_t *t;

	if (e->shut || !other->open) {
		errno = EPIPE;
		return -1;
	}
	t = kh_buf_tail_min(&other->in, len, &room);
	if (t == NULL || room == 0) {
		other->writer_waits = true;
		errno = t == NULL && kh_buf_room(&other->in) > 0 ? ENOMEM : EAGAIN;
		return -1;
	}
	n = len < room ? len : room;
	memcpy(t, buf, n);
	kh_buf_produced(&other->in, n);
	notify(other, EPOLLIN);
	return (ssize_t)n;
}

void kh_mempipe_shutdown(struct kh_mempipe *p, unsigned side)
{
	struct pipe_end *e = &p->end[side];

	if (e->shut)
		return;
	e->shut = true;
	notify(&p->end[!side], EPOLLIN | EPOLLRDHUP);
}

void kh_mempipe_close(struct kh_mempipe *p, unsigned side)
{
	struct pipe_end *e = &p->end[side];

	if (!e->open)
		return;
	e->open = false;
	e->shut = true;
	e->io = NULL;
	e->pending = 0;
	kh_buf_free(&e->in);
	notify(&p->end[!side], EPOLLIN | EPOLLRDHUP | EPOLLHUP);
	maybe_free(p);
}
