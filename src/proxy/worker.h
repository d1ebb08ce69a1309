/* What the worker threads share, and what each one owns.
 *
 * kh_shared is built once by the daemon and read by every worker: the CA,
 * the leaf cache, both TLS contexts and the current policy (swapped under a
 * mutex on reload, refcounted so a request keeps the snapshot it started
 * with). kh_worker is one thread: its event loop, its SO_REUSEPORT copies of
 * the listening sockets and the connections it accepted. */
#ifndef KH_WORKER_H
#define KH_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "tls/ca.h"
#include "tls/certcache.h"
#include "http/http1.h"
#include "base/kh_limits.h"
#include "event/loop.h"
#include "policy/policy.h"

struct kh_shared {
	struct kh_ca ca;
	struct kh_certcache *certs;
	SSL_CTX *server_ctx;
	pthread_mutex_t policy_lock;
	struct kh_policy *policy; /* current snapshot; guarded by policy_lock */
	atomic_ulong policy_gen; /* bumped on every swap; read without the lock */
	atomic_size_t n_conns; /* across all workers, for max_connections */
	atomic_bool stopping;
	struct kh_grants *grants; /* sandbox tokens and bound sandbox pids; NULL in tests */
	uint64_t stop_deadline_ms; /* when stopping: abort what is still open */
	/* malloc_trim works on the whole process: see kh_worker_note_churn */
	atomic_uint_fast64_t last_churn_ms; /* any worker's last handshake or close */
	atomic_uint_fast64_t next_trim_ms; /* no trim before this; UINT64_MAX: one running */
	/* Container bridge listeners (bridgewatch.h), which come and go while
	 * the daemon runs: one fd per bridge slot (-1: none), owned by the
	 * daemon, watched by every worker. bridge_gen is bumped on each change;
	 * workers pick the set up in their loop and acknowledge the gen. */
	pthread_mutex_t bridge_lock;
	int bridge_fds[KH_MAX_BRIDGES]; /* guarded by bridge_lock */
	atomic_uint bridge_gen; /* 0: never set (bridge_fds unused) */
};

/* What a connection on a listener speaks. */
enum kh_listen_kind {
	KH_LISTEN_PROXY, /* HTTP proxy protocol: CONNECT / absolute-form */
	KH_LISTEN_TRANSPARENT_TLS, /* a TLS ClientHello straight away (sandbox :443) */
	KH_LISTEN_TRANSPARENT_HTTP, /* origin-form HTTP, routed by Host (sandbox :80) */
};

struct kh_listener {
	struct kh_io io;
	struct kh_worker *w;
	enum kh_listen_kind kind;
	bool shared; /* one fd watched by every worker; the daemon owns and closes it */
};

struct kh_conn;
struct kh_upool;

struct kh_worker {
	unsigned id;
	struct kh_shared *sh;
	struct kh_loop *loop;
	struct kh_listener lis[KH_MAX_LISTENERS + 4];
	size_t n_lis;
	struct kh_listener bridge[KH_MAX_BRIDGES]; /* sh->bridge_fds as last picked up */
	atomic_uint bridge_ack; /* the sh->bridge_gen this worker has picked up */
	struct kh_conn *conns; /* doubly linked list of open connections */
	size_t n_conns;
	struct kh_http_header *hdrs; /* parse scratch, KH_MAX_HEADERS_CEIL entries */
	int spare_fd; /* released to accept-and-close on EMFILE */
	struct kh_upool *upool; /* idle upstream connections (upool.h) */
	struct kh_timer accept_pause; /* out of fds and spare: listeners unwatched */
	bool accept_paused;
	struct kh_timer trim; /* gives freed heap memory back once quiet (kh_worker_note_churn) */
	struct kh_timer audit_fold; /* writes folded refusals' records when due (auditgate.h) */
	bool draining;
	pthread_t thread;
};

/* Current policy with a reference the caller must drop (kh_policy_unref). */
struct kh_policy *kh_shared_policy(struct kh_shared *sh);

/* Replaces the current policy (takes over the caller's reference). */
void kh_shared_set_policy(struct kh_shared *sh, struct kh_policy *p);

/* If a reload happened since *held was taken, swaps it for the current one. */
void kh_shared_refresh(struct kh_shared *sh, struct kh_policy **held);

/* --- worker.c --- */

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

/* Wakes the worker so it notices sh->stopping. Thread-safe. */
void kh_worker_wake(struct kh_worker *w);

/* A connection finished its handshake or closed, leaving freed buffers in
 * the middle of the heap: once no worker has seen any of that for
 * KH_TRIM_QUIET_MS, one of them gives the free pages back to the system
 * (malloc_trim, which covers every thread's heap), so an idle proxy's RSS is
 * what its open connections hold. Loop thread only. */
void kh_worker_note_churn(struct kh_worker *w);

/* A refusal of this worker's was folded (auditgate.h): makes sure a timer
 * writes the fold record when its window ends. Loop thread only. */
void kh_worker_audit_folded(struct kh_worker *w);

/* Publishes a new set of bridge listeners (fds[KH_MAX_BRIDGES], -1 for
 * none) and wakes the workers; returns the generation to wait for with
 * kh_worker_bridge_acked before closing any fd no longer in the set. */
unsigned kh_shared_set_bridges(struct kh_shared *sh, const int *fds);

/* Has w stopped watching every fd of generations before gen? Thread-safe. */
bool kh_worker_bridge_acked(const struct kh_worker *w, unsigned gen);

/* Joins the thread and frees the loop and scratch space. */
void kh_worker_join(struct kh_worker *w);
#endif
