/* event/mempipe: the in-process stream between a front and the key holder
 * must behave like a socketpair for the endpoints on it: bytes in order,
 * room and EAGAIN, end of stream after a shutdown or close, and events
 * delivered after the batch, never inside a call. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "base/check.h"
#include "event/loop.h"
#include "event/mempipe.h"
#include "tap.h"

struct end {
	struct kh_io io;
	uint32_t got; /* events delivered so far */
	int calls;
	struct kh_mempipe *close_both; /* on its first event, close both ends */
};

static void on_events(struct kh_io *io, uint32_t ev)
{
	struct end *e = container_of(io, struct end, io);

	e->got |= ev;
	e->calls++;
	if (e->close_both != NULL) {
		struct kh_mempipe *p = e->close_both;

		e->close_both = NULL;
		kh_mempipe_close(p, 0);
		kh_mempipe_close(p, 1);
	}
}

static struct kh_loop *loop;

static void stop(struct kh_task *t)
{
	(void)t;
	kh_loop_stop(loop);
}

/* Runs one turn of the loop: what was deferred so far, and what that defers. */
static void turn(void)
{
	static struct kh_task t = { .cb = stop };

	kh_loop_defer(loop, &t);
	kh_loop_run(loop);
}

static struct kh_mempipe *pair(struct end *a, struct end *b, size_t cap)
{
	struct kh_mempipe *p = kh_mempipe_new(loop, cap);

	memset(a, 0, sizeof *a);
	memset(b, 0, sizeof *b);
	a->io = (struct kh_io){ .fd = -1, .cb = on_events };
	b->io = (struct kh_io){ .fd = -1, .cb = on_events };
	kh_mempipe_attach(p, 0, &a->io);
	kh_mempipe_attach(p, 1, &b->io);
	return p;
}

static void test_bytes_in_order_and_events_after_the_batch(void)
{
	struct end a, b;
	struct kh_mempipe *p = pair(&a, &b, 64);
	char buf[16];

	turn();
	CHECK(a.got & EPOLLOUT); /* writable at once, like a new socket */
	b.got = 0;
	CHECK_INT(kh_mempipe_write(p, 0, "hello ", 6), 6);
	CHECK_INT(kh_mempipe_write(p, 0, "world", 5), 5);
	CHECK_INT(b.calls, 1); /* only the attach's EPOLLOUT: nothing inside the calls */
	turn();
	CHECK(b.got & EPOLLIN);
	CHECK_INT(b.calls, 2); /* two writes, one event */
	CHECK_INT(kh_mempipe_read(p, 1, buf, 5), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK_INT(kh_mempipe_read(p, 1, buf, sizeof buf), 6);
	CHECK(memcmp(buf, " world", 6) == 0);
	errno = 0;
	CHECK_INT(kh_mempipe_read(p, 1, buf, sizeof buf), -1);
	CHECK_INT(errno, EAGAIN);
	kh_mempipe_close(p, 0);
	kh_mempipe_close(p, 1);
	turn();
}

static void test_full_pipe_says_eagain_then_room(void)
{
	struct end a, b;
	struct kh_mempipe *p = pair(&a, &b, 8);
	char buf[8];

	turn();
	CHECK_INT(kh_mempipe_write(p, 0, "0123456789", 10), 8); /* up to the cap */
	errno = 0;
	CHECK_INT(kh_mempipe_write(p, 0, "89", 2), -1);
	CHECK_INT(errno, EAGAIN);
	turn();
	a.got = 0;
	CHECK_INT(kh_mempipe_read(p, 1, buf, 3), 3);
	CHECK_INT(a.got, 0); /* not inside the read */
	turn();
	CHECK(a.got & EPOLLOUT); /* the writer that waited hears of the room */
	CHECK_INT(kh_mempipe_write(p, 0, "89", 2), 2);
	CHECK_INT(kh_mempipe_read(p, 1, buf, sizeof buf), 7);
	CHECK(memcmp(buf, "3456789", 7) == 0);
	kh_mempipe_close(p, 1);
	kh_mempipe_close(p, 0);
	turn();
}

static void test_shutdown_reads_to_the_end(void)
{
	struct end a, b;
	struct kh_mempipe *p = pair(&a, &b, 64);
	char buf[8];

	turn();
	b.got = 0;
	CHECK_INT(kh_mempipe_write(p, 0, "last", 4), 4);
	kh_mempipe_shutdown(p, 0);
	errno = 0;
	CHECK_INT(kh_mempipe_write(p, 0, "x", 1), -1); /* shut: nothing more */
	CHECK_INT(errno, EPIPE);
	turn();
	CHECK(b.got & EPOLLIN);
	CHECK(b.got & EPOLLRDHUP);
	CHECK(!(b.got & EPOLLHUP));
	CHECK_INT(kh_mempipe_read(p, 1, buf, sizeof buf), 4);
	CHECK_INT(kh_mempipe_read(p, 1, buf, sizeof buf), 0);
	/* the other direction still works */
	CHECK_INT(kh_mempipe_write(p, 1, "ok", 2), 2);
	CHECK_INT(kh_mempipe_read(p, 0, buf, sizeof buf), 2);
	kh_mempipe_close(p, 0);
	kh_mempipe_close(p, 1);
	turn();
}

static void test_close_keeps_what_was_sent(void)
{
	struct end a, b;
	struct kh_mempipe *p = pair(&a, &b, 64);
	char buf[8];

	turn();
	CHECK_INT(kh_mempipe_write(p, 1, "bye", 3), 3);
	CHECK_INT(kh_mempipe_write(p, 0, "unread", 6), 6);
	kh_mempipe_close(p, 1); /* unlike a socket with unread input: no reset */
	a.got = 0;
	b.calls = 0;
	turn();
	CHECK(a.got & EPOLLHUP);
	CHECK_INT(b.calls, 0); /* a closed end hears nothing more */
	CHECK_INT(kh_mempipe_read(p, 0, buf, sizeof buf), 3);
	CHECK(memcmp(buf, "bye", 3) == 0);
	CHECK_INT(kh_mempipe_read(p, 0, buf, sizeof buf), 0);
	errno = 0;
	CHECK_INT(kh_mempipe_write(p, 0, "x", 1), -1);
	CHECK_INT(errno, EPIPE);
	kh_mempipe_close(p, 0); /* frees the pipe (ASan: no leak) */
	turn();
}

/* An end closed while its event is queued gets nothing, and the pipe lives
 * until the queued delivery ran (ASan: no use after free). */
static void test_close_with_an_event_queued(void)
{
	struct end a, b;
	struct kh_mempipe *p = pair(&a, &b, 64);

	turn();
	b.calls = 0;
	CHECK_INT(kh_mempipe_write(p, 0, "x", 1), 1);
	kh_mempipe_close(p, 1);
	kh_mempipe_close(p, 0);
	turn();
	CHECK_INT(b.calls, 0);
}

/* A callback that closes both ends from inside a delivery. */
static void test_callback_closes_both_ends(void)
{
	struct end a, b;
	struct kh_mempipe *p = pair(&a, &b, 64);

	turn();
	b.close_both = p;
	CHECK_INT(kh_mempipe_write(p, 0, "x", 1), 1);
	CHECK_INT(kh_mempipe_write(p, 1, "y", 1), 1); /* an event for a queued as well */
	a.calls = 0;
	turn();
	CHECK(b.close_both == NULL);
	CHECK_INT(a.calls, 0); /* closed before its turn came */
}

/* The last open end closes itself when it hears the other is gone: the
 * pipe is freed only after that delivery returned. */
static void test_callback_closes_the_last_end(void)
{
	struct end a, b;
	struct kh_mempipe *p = pair(&a, &b, 64);

	turn();
	kh_mempipe_close(p, 0);
	b.close_both = p; /* end 0 is closed already: closing it again is a no-op */
	turn();
	CHECK(b.close_both == NULL);
	CHECK(b.got & EPOLLHUP);
}

/* Events for an end not attached yet wait for it (the OPEN frame is
 * written before the key holder's end exists). */
static void test_events_wait_for_attach(void)
{
	struct kh_mempipe *p = kh_mempipe_new(loop, 64);
	struct end b = { .io = { .fd = -1, .cb = on_events } };
	char buf[4];

	CHECK_INT(kh_mempipe_write(p, 0, "open", 4), 4);
	turn();
	kh_mempipe_attach(p, 1, &b.io);
	CHECK_INT(b.calls, 0);
	turn();
	CHECK(b.got & EPOLLIN);
	CHECK(b.got & EPOLLOUT);
	CHECK_INT(kh_mempipe_read(p, 1, buf, sizeof buf), 4);
	kh_mempipe_close(p, 0);
	kh_mempipe_close(p, 1);
	turn();
}

int main(void)
{
	struct kh_err err;

	loop = kh_loop_new(&err);
	if (loop == NULL)
		return 1;
	RUN(test_bytes_in_order_and_events_after_the_batch);
	RUN(test_full_pipe_says_eagain_then_room);
	RUN(test_shutdown_reads_to_the_end);
	RUN(test_close_keeps_what_was_sent);
	RUN(test_close_with_an_event_queued);
	RUN(test_callback_closes_both_ends);
	RUN(test_callback_closes_the_last_end);
	RUN(test_events_wait_for_attach);
	kh_loop_free(loop);
	TAP_DONE();
}
