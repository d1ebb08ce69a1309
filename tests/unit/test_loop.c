/* The event loop's busy polling on a real loop with real sockets: what a
 * handler learns from kh_loop_woke_soon() after an event that was already
 * there, one that came long after the loop began waiting (with and without a
 * spin first), and that busy_poll_us 0 turns it all off. The "late" events
 * come 200 ms after a spin window of at most 1 ms, so no timing is close. */
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "event/loop.h"
#include "tap.h"

struct probe {
	struct kh_io io;
	struct kh_loop *loop;
	int calls;
	bool expect; /* keep asking for a spin, as a connection awaiting its peer does */
	bool soon;
};

static void probe_cb(struct kh_io *io, uint32_t events)
{
	struct probe *p = (struct probe *)io;
	char buf[16];

	if (!(events & EPOLLIN)) { /* the first wait reports it writable */
		if (p->expect)
			kh_loop_expect_soon(p->loop);
		return;
	}
	while (read(io->fd, buf, sizeof buf) > 0)
		;
	p->calls++;
	p->soon = kh_loop_woke_soon(p->loop);
	kh_loop_stop(p->loop);
}

struct late_write {
	int fd;
	unsigned ms;
};

static void *write_later(void *arg)
{
	struct late_write *w = arg;
	struct timespec ts = { 0, (long)w->ms * 1000000L };

	nanosleep(&ts, NULL);
	(void)!write(w->fd, "x", 1);
	return NULL;
}

/* Runs one loop iteration that handles a byte written to the probe's socket
 * after ms (0: before the loop starts waiting); returns what the handler saw. */
static bool woke_soon(unsigned busy_us, bool expect, unsigned ms)
{
	struct kh_err err;
	struct kh_loop *l = kh_loop_new(&err);
	struct probe p = { .io = { .cb = probe_cb }, .loop = l, .expect = expect };
	struct late_write w;
	pthread_t t;
	int sv[2];

	CHECK(l != NULL);
	CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	p.io.fd = sv[0];
	CHECK_INT(kh_loop_add(l, &p.io), 0);
	kh_loop_set_busy_poll(l, busy_us);
	w = (struct late_write){ sv[1], ms };
	if (ms == 0)
		(void)!write(sv[1], "x", 1);
	else
		pthread_create(&t, NULL, write_later, &w);
	if (expect)
		kh_loop_expect_soon(l);
	kh_loop_run(l);
	if (ms != 0)
		pthread_join(t, NULL);
	CHECK_INT(p.calls, 1);
	kh_loop_free(l);
	close(sv[0]);
	close(sv[1]);
	return p.soon;
}

static void pending_event_is_soon(void)
{
	CHECK(woke_soon(1000, true, 0)); /* found by the spin */
	CHECK(woke_soon(1000, false, 0)); /* found by a wait that did not block */
}

static void late_event_is_not_soon(void)
{
	CHECK(!woke_soon(1000, true, 200)); /* the spin gave up, then it blocked */
	CHECK(!woke_soon(1000, false, 200)); /* blocked far longer than twice the window */
}

static void off_never_soon(void)
{
	CHECK(!woke_soon(0, true, 0));
	CHECK(!woke_soon(0, false, 200));
}

int main(void)
{
	RUN(pending_event_is_soon);
	RUN(late_event_is_not_soon);
	RUN(off_never_soon);
	TAP_DONE();
}
