/* One event loop per worker thread: edge-triggered epoll, a min-heap of
 * timers, and a task queue other threads can post to (woken by an eventfd).
 *
 * Edge-triggered means a callback is told "became readable/writable" once;
 * whoever owns the fd keeps its own ready flags and clears them on EAGAIN.
 * Timers are lazy: moving a deadline later only stores it, and the heap
 * re-keys the timer when its old deadline comes up, so resetting an idle
 * timer on every read costs nothing. Everything except kh_loop_post() and
 * kh_loop_stop() must be called on the loop's own thread. */
#ifndef KH_LOOP_H
#define KH_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct kh_loop;

struct kh_io {
	void (*cb)(struct kh_io *io, uint32_t events);
	int fd;
};

struct kh_timer {
	void (*cb)(struct kh_timer *t);
	uint64_t deadline; /* wanted expiry, ms on the monotonic clock; 0 = off */
	uint64_t key; /* expiry the heap is ordered by (<= deadline) */
	size_t idx; /* 1-based heap slot, 0 when not queued */
};

struct kh_task {
	void (*cb)(struct kh_task *t);
	struct kh_task *next;
};

struct kh_loop *kh_loop_new(struct kh_err *err);
void kh_loop_free(struct kh_loop *l); /* NULL-safe */

/* Registers io->fd for EPOLLIN|EPOLLOUT|EPOLLRDHUP, edge-triggered. */
int kh_loop_add(struct kh_loop *l, struct kh_io *io);
/* io's fd, registered by kh_loop_add from another kh_io (the socket moved to a
 * new owner), now delivers its events to io. Edge-triggered readiness is
 * re-reported at once. */
int kh_loop_rebind(struct kh_loop *l, struct kh_io *io);
/* Registers io->fd for EPOLLIN|EPOLLRDHUP only, edge-triggered; EPOLLOUT
 * comes only while kh_loop_watch_out() asks for it. For AF_UNIX stream
 * sockets: Linux wakes a writer's epoll each time its peer reads, so a
 * socket always watched for EPOLLOUT costs its owner a wakeup per message
 * the other process takes (unix_write_space runs on every skb freed). */
int kh_loop_add_lazy_out(struct kh_loop *l, struct kh_io *io);
/* Adds (on) or removes EPOLLOUT for io, added by kh_loop_add_lazy_out. Adding
 * it to a writable socket reports EPOLLOUT at once. */
int kh_loop_watch_out(struct kh_loop *l, struct kh_io *io, bool on);
/* Registers a listening socket, level-triggered, read only. */
int kh_loop_add_listener(struct kh_loop *l, struct kh_io *io);
/* Same, for a socket several loops watch: only one of them wakes per event. */
int kh_loop_add_exclusive(struct kh_loop *l, struct kh_io *io);
void kh_loop_del(struct kh_loop *l, struct kh_io *io);

/* Current loop time (ms, monotonic), refreshed once per iteration. */
uint64_t kh_loop_now(const struct kh_loop *l);

/* Arms t to fire at now + ms (ms == 0 disarms). */
void kh_timer_after(struct kh_loop *l, struct kh_timer *t, uint64_t ms);
void kh_timer_cancel(struct kh_loop *l, struct kh_timer *t);

/* Runs t->cb on the loop thread after the current batch of events. */
void kh_loop_defer(struct kh_loop *l, struct kh_task *t);

/* Thread-safe: queues t for the loop thread and wakes it. */
void kh_loop_post(struct kh_loop *l, struct kh_task *t);

/* Busy polling: before blocking, a wait that kh_loop_expect_soon() asked
 * for polls without blocking for up to us µs (0, the default, turns it off).
 * It saves a sleep and a wakeup when a peer answers within that window. */
void kh_loop_set_busy_poll(struct kh_loop *l, unsigned us);
/* Called by a handler whose peer answered soon last time and is now awaited. */
void kh_loop_expect_soon(struct kh_loop *l);
/* Whether the events being handled arrived soon after the loop began waiting
 * (within the busy-poll window, or twice it when it blocked without polling). */
bool kh_loop_woke_soon(const struct kh_loop *l);

/* Runs until kh_loop_stop(), which it then consumes (a later call runs
 * again). Blocks. */
void kh_loop_run(struct kh_loop *l);

/* Thread-safe. */
void kh_loop_stop(struct kh_loop *l);

/* Thread-safe: wakes the loop so it re-checks its idle hook. */
void kh_loop_wake(struct kh_loop *l);

/* Called on the loop thread before each wait for events, when the
 * iteration's work is done (e.g. to write out what it batched). */
void kh_loop_set_wait_hook(struct kh_loop *l, void (*fn)(void));

/* Called once per iteration on the loop thread (e.g. to check for shutdown). */
void kh_loop_set_idle_hook(struct kh_loop *l, void (*fn)(void *arg), void *arg);

#endif
