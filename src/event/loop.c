#include "event/loop.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/kh_limits.h"

#define SPIN_GAP_FACTOR 2 /* a blocked wait this many spin_us long still counts as soon */

struct kh_loop {
	int epfd;
	struct kh_io wake;
	uint64_t now;
	atomic_bool stop;
	struct kh_timer **heap;
	size_t heap_len, heap_cap;
	struct kh_task *deferred, **deferred_tail;
	pthread_mutex_t posted_lock;
	struct kh_task *posted;
	void (*idle_fn)(void *);
	void *idle_arg;
	void (*wait_fn)(void); /* before each wait */
	/* Adaptive busy polling: see wait_events(). */
	uint64_t spin_us; /* 0 = off */
	bool spin_wanted; /* a connection expects its peer soon: spin before blocking */
	bool woke_soon; /* the events being handled came within the window */
};

static void wake_cb(struct kh_io *io, uint32_t events)
{
	uint64_t v;

	(void)events;
	while (read(io->fd, &v, sizeof v) > 0)
		;
}

struct kh_loop *kh_loop_new(struct kh_err *err)
{
	struct kh_loop *l = calloc(1, sizeof *l);

	if (l == NULL) {
		kh_err_set(err, "out of memory");
		return NULL;
	}
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	l->wake.cb = wake_cb;
	l->deferred_tail = &l->deferred;
	l->now = kh_mono_ms();
	pthread_mutex_init(&l->posted_lock, NULL);
	if (l->epfd < 0 || l->wake.fd < 0 || kh_loop_add(l, &l->wake) != 0) {
		kh_err_set(err, "cannot create event loop: %s", kh_strerror(errno));
		kh_loop_free(l);
		return NULL;
	}
	return l;
}

void kh_loop_free(struct kh_loop *l)
{
	if (l == NULL)
		return;
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->wake.fd >= 0)
		close(l->wake.fd);
	pthread_mutex_destroy(&l->posted_lock);
	free(l->heap);
	free(l);
}

static int ctl(struct kh_loop *l, struct kh_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &ev);
}

int kh_loop_add(struct kh_loop *l, struct kh_io *io)
{
	return ctl(l, io, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
}

int kh_loop_add_lazy_out(struct kh_loop *l, struct kh_io *io)
{
	return ctl(l, io, EPOLLIN | EPOLLRDHUP | EPOLLET);
}

int kh_loop_watch_out(struct kh_loop *l, struct kh_io *io, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET | (on ? EPOLLOUT : 0),
				  .data.ptr = io };

	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev);
}

int kh_loop_rebind(struct kh_loop *l, struct kh_io *io)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				  .data.ptr = io };

	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev);
}

int kh_loop_add_listener(struct kh_loop *l, struct kh_io *io)
{
	return ctl(l, io, EPOLLIN);
}

int kh_loop_add_exclusive(struct kh_loop *l, struct kh_io *io)
{
	return ctl(l, io, EPOLLIN | EPOLLEXCLUSIVE);
}

void kh_loop_del(struct kh_loop *l, struct kh_io *io)
{
	if (io->fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

uint64_t kh_loop_now(const struct kh_loop *l)
{
	return l->now;
}

/* --- timer heap --- */

static void heap_set(struct kh_loop *l, size_t i, struct kh_timer *t)
{
	l->heap[i] = t;
	t->idx = i + 1;
}

static void sift_up(struct kh_loop *l, size_t i)
{
	struct kh_timer *t = l->heap[i];

	while (i > 0 && l->heap[(i - 1) / 2]->key > t->key) {
		heap_set(l, i, l->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(l, i, t);
}

static void sift_down(struct kh_loop *l, size_t i)
{
	struct kh_timer *t = l->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= l->heap_len)
			break;
		if (c + 1 < l->heap_len && l->heap[c + 1]->key < l->heap[c]->key)
			c++;
		if (l->heap[c]->key >= t->key)
			break;
		heap_set(l, i, l->heap[c]);
		i = c;
	}
	heap_set(l, i, t);
}

static void heap_remove(struct kh_loop *l, struct kh_timer *t)
{
	size_t i = t->idx - 1;
	struct kh_timer *last = l->heap[--l->heap_len];

	t->idx = 0;
	if (last == t)
		return;
	heap_set(l, i, last);
	sift_down(l, i);
	sift_up(l, last->idx - 1);
}

static int heap_push(struct kh_loop *l, struct kh_timer *t)
{
	if (l->heap_len == l->heap_cap) {
		size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
		struct kh_timer **h = realloc(l->heap, cap * sizeof *h);

		if (h == NULL)
			return -1;
		l->heap = h;
		l->heap_cap = cap;
	}
	t->key = t->deadline;
	heap_set(l, l->heap_len++, t);
	sift_up(l, l->heap_len - 1);
	return 0;
}

void kh_timer_cancel(struct kh_loop *l, struct kh_timer *t)
{
	t->deadline = 0;
	if (t->idx != 0)
		heap_remove(l, t);
}

void kh_timer_after(struct kh_loop *l, struct kh_timer *t, uint64_t ms)
{
	if (ms == 0) {
		kh_timer_cancel(l, t);
		return;
	}
	t->deadline = l->now + ms;
	if (t->idx == 0) {
		if (heap_push(l, t) != 0)
			kh_error(
				"out of memory arming a timer"); /* the idle sweep still bounds it */
		return;
	}
	if (t->deadline < t->key) {
		t->key = t->deadline;
		sift_up(l, t->idx - 1);
	}
	/* Later deadlines are picked up lazily when the old key expires. */
}

static void run_timers(struct kh_loop *l)
{
	while (l->heap_len > 0 && l->heap[0]->key <= l->now) {
		struct kh_timer *t = l->heap[0];

		if (t->deadline > l->now) {
			t->key = t->deadline;
			sift_down(l, 0);
			continue;
		}
		heap_remove(l, t);
		t->deadline = 0;
		t->cb(t);
	}
}

static int next_wait_ms(const struct kh_loop *l)
{
	uint64_t d;

	if (l->deferred != NULL)
		return 0;
	if (l->heap_len == 0)
		return KH_LOOP_MAX_WAIT_MS;
	d = l->heap[0]->key > l->now ? l->heap[0]->key - l->now : 0;
	return d > KH_LOOP_MAX_WAIT_MS ? KH_LOOP_MAX_WAIT_MS : (int)d;
}

/* --- tasks --- */

void kh_loop_defer(struct kh_loop *l, struct kh_task *t)
{
	t->next = NULL;
	*l->deferred_tail = t;
	l->deferred_tail = &t->next;
}

static void run_deferred(struct kh_loop *l)
{
	while (l->deferred != NULL) {
		struct kh_task *t = l->deferred;

		l->deferred = t->next;
		if (l->deferred == NULL)
			l->deferred_tail = &l->deferred;
		t->cb(t);
	}
}

void kh_loop_wake(struct kh_loop *l)
{
	uint64_t one = 1;

	if (write(l->wake.fd, &one, sizeof one) < 0 && errno != EAGAIN)
		kh_error("cannot wake event loop: %s", kh_strerror(errno));
}

void kh_loop_post(struct kh_loop *l, struct kh_task *t)
{
	pthread_mutex_lock(&l->posted_lock);
	t->next = l->posted;
	l->posted = t;
	pthread_mutex_unlock(&l->posted_lock);
	kh_loop_wake(l);
}

static void run_posted(struct kh_loop *l)
{
	struct kh_task *list, *rev = NULL;

	pthread_mutex_lock(&l->posted_lock);
	list = l->posted;
	l->posted = NULL;
	pthread_mutex_unlock(&l->posted_lock);
	while (list != NULL) { /* restore posting order */
		struct kh_task *n = list->next;

		list->next = rev;
		rev = list;
		list = n;
	}
	while (rev != NULL) {
		struct kh_task *n = rev->next;

		rev->cb(rev);
		rev = n;
	}
}

void kh_loop_stop(struct kh_loop *l)
{
	atomic_store(&l->stop, true);
	kh_loop_wake(l);
}

void kh_loop_set_idle_hook(struct kh_loop *l, void (*fn)(void *arg), void *arg)
{
	l->idle_fn = fn;
	l->idle_arg = arg;
}

void kh_loop_set_wait_hook(struct kh_loop *l, void (*fn)(void))
{
	l->wait_fn = fn;
}

void kh_loop_set_busy_poll(struct kh_loop *l, unsigned us)
{
	l->spin_us = us;
}

void kh_loop_expect_soon(struct kh_loop *l)
{
	l->spin_wanted = l->spin_us > 0;
}

bool kh_loop_woke_soon(const struct kh_loop *l)
{
	return l->woke_soon;
}

/* Blocking in epoll_wait costs a sleep and a wakeup; on a VM each is a
 * hypervisor round trip of tens of µs, more than a fast peer (an upstream or
 * client on the same host) takes to answer. So when a connection expects its
 * peer to answer soon (kh_loop_expect_soon), first ask without blocking for
 * up to spin_us. Whether this wait ended soon is kept for the connections to
 * learn from: a peer that takes longer (a remote API, a slow client) stops
 * being expected soon after one miss, so it costs at most one spin. */
static int wait_events(struct kh_loop *l, struct epoll_event *ev)
{
	bool spin = l->spin_wanted;
	uint64_t start;
	int n = 0, timeout = next_wait_ms(l);

	l->spin_wanted = false;
	l->woke_soon = false;
	if (l->spin_us == 0)
		return epoll_wait(l->epfd, ev, KH_LOOP_MAX_EVENTS, timeout);
	start = kh_mono_us();
	if (spin && timeout > 0) {
		/* Yielding between polls gives the CPU to whatever else is ready to
		 * run here (often the very peer we wait for): the spin only uses
		 * time nobody else wants. */
		while ((n = epoll_wait(l->epfd, ev, KH_LOOP_MAX_EVENTS, 0)) == 0 &&
		       kh_mono_us() - start < l->spin_us && !atomic_load(&l->stop))
			sched_yield();
		if (n != 0) {
			l->woke_soon = n > 0;
			return n;
		}
	}
	n = epoll_wait(l->epfd, ev, KH_LOOP_MAX_EVENTS, timeout);
	/* Blocked after a spin: the peer was slower than the window. Blocked
	 * without one: soon if within twice the window, since this gap also holds
	 * the wakeup a spin would have saved. */
	l->woke_soon = !spin && n > 0 && kh_mono_us() - start < SPIN_GAP_FACTOR * l->spin_us;
	return n;
}

void kh_loop_run(struct kh_loop *l)
{
	struct epoll_event ev[KH_LOOP_MAX_EVENTS];

	while (!atomic_load(&l->stop)) {
		int n;

		if (l->wait_fn != NULL)
			l->wait_fn();
		n = wait_events(l, ev);

		l->now = kh_mono_ms();
		if (n < 0 && errno != EINTR) {
			kh_error("epoll_wait: %s", kh_strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct kh_io *io = ev[i].data.ptr;

			io->cb(io, ev[i].events);
		}
		run_posted(l);
		run_timers(l);
		run_deferred(l);
		if (l->idle_fn != NULL)
			l->idle_fn(l->idle_arg);
		run_deferred(l);
	}
	atomic_store(&l->stop, false); /* consumed: the loop may run again */
}
