/* A worker thread: the top of the data path. It accepts on its SO_REUSEPORT
 * copies of the listening sockets (and the shared Unix and bridge sockets),
 * enforces the global connection cap, hands each accepted socket to
 * kh_conn_accept with the protocol it speaks (relay.h), and walks its
 * connections through shutdown. What the connections need from their thread
 * (loop, shared state, pool) is its kh_wctx (wctx.h), below conn; what every
 * worker shares is kh_shared (shared.h). */
#ifndef KH_WORKER_H
#define KH_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/kh_limits.h"
#include "event/loop.h"
#include "proxy/conn.h"
#include "proxy/shared.h"
#include "proxy/wctx.h"

struct kh_listener {
	struct kh_io io;
	struct kh_worker *w;
	enum kh_listen_kind kind;
	bool shared; /* one fd watched by every worker; the daemon owns and closes it */
};

struct kh_worker {
	struct kh_wctx cx; /* what its connections run in (wctx.h) */
	unsigned id;
	struct kh_listener lis[KH_MAX_LISTENERS + 4];
	size_t n_lis;
	struct kh_listener bridge[KH_MAX_BRIDGES]; /* sh->bridge_fds as last picked up */
	atomic_uint bridge_ack; /* the sh->bridge_gen this worker has picked up */
	int spare_fd; /* released to accept-and-close on EMFILE */
	struct kh_timer accept_pause; /* out of fds and spare: listeners unwatched */
	bool accept_paused;
	pthread_t thread;
	bool ran_inline; /* kh_worker_run: no thread to join */
};

/* Creates the worker's loop and registers its listening sockets (fds are
 * owned by the worker from here on). */
int kh_worker_init(struct kh_worker *w, unsigned id, struct kh_shared *sh, const int *fds,
		   size_t n_fds, struct kh_err *err);

/* Also accepts on shared_fd (the Unix socket), which every worker watches
 * with EPOLLEXCLUSIVE so one of them wakes per connection. */
int kh_worker_add_shared(struct kh_worker *w, int shared_fd, enum kh_listen_kind kind,
			 struct kh_err *err);

/* Starts the thread running the loop. */
int kh_worker_start(struct kh_worker *w, struct kh_err *err);

/* Runs the loop in the calling thread until the worker has stopped (a
 * front process: one thread, all of it confined). */
void kh_worker_run(struct kh_worker *w);

/* Wakes the worker so it notices sh->stopping. Thread-safe. */
void kh_worker_wake(struct kh_worker *w);

/* Has w stopped watching every fd of generations before gen? Thread-safe. */
bool kh_worker_bridge_acked(const struct kh_worker *w, unsigned gen);

/* On w's own thread: picks up sh->bridge_fds now instead of at the end of
 * the loop's turn, so an fd that left the set is no longer watched when it
 * returns and may be closed (a front process, whose loop is its only
 * thread, owns its bridge listeners). */
void kh_worker_sync_bridges(struct kh_worker *w);

/* Joins the thread and frees the loop and scratch space. */
void kh_worker_join(struct kh_worker *w);
#endif
