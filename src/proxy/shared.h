/* What every worker thread shares, built once by the daemon: the CA, the
 * leaf cache, the client-facing TLS context and the current policy (swapped
 * under a mutex on reload, refcounted so a request keeps the snapshot it
 * started with), the connection count, the shutdown flag and the set of
 * container bridge listeners.
 *
 * Contract: the daemon writes; workers and connections read. Fields marked
 * "guarded" are only touched under their mutex, atomics without it; the rest
 * is set before the workers start and then read-only. */
#ifndef KH_SHARED_H
#define KH_SHARED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "base/kh_limits.h"
#include "policy/policy.h"
#include "privsep/connslots.h"
#include "tls/ca.h"
#include "tls/certcache.h"

struct kh_grants;

struct kh_shared {
	struct kh_ca ca;
	struct kh_certcache *certs;
	SSL_CTX *server_ctx;
	pthread_mutex_t policy_lock;
	struct kh_policy *policy; /* current snapshot; guarded by policy_lock */
	atomic_ulong policy_gen; /* bumped on every swap; read without the lock */
	atomic_size_t n_conns; /* across all workers, for max_connections */
	/* A front process: limits.max_connections counts every front's
	 * connections (connslots.h), conn_slot is this one's; NULL otherwise */
	struct kh_connslots *conn_slots;
	unsigned conn_slot;
	atomic_bool stopping;
	struct kh_grants *grants; /* sandbox tokens and bound sandbox pids; NULL in tests */
	uint64_t stop_deadline_ms; /* when stopping: abort what is still open */
	/* malloc_trim works on the whole process: see kh_wctx_note_churn */
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

/* Current policy with a reference the caller must drop (kh_policy_unref). */
struct kh_policy *kh_shared_policy(struct kh_shared *sh);

/* Replaces the current policy (takes over the caller's reference). */
void kh_shared_set_policy(struct kh_shared *sh, struct kh_policy *p);

/* If a reload happened since *held was taken, swaps it for the current one. */
void kh_shared_refresh(struct kh_shared *sh, struct kh_policy **held);

/* One more client connection, if max allows (this process's count and,
 * in a front process, every front's together); false: nothing counted. */
bool kh_shared_conn_enter(struct kh_shared *sh, size_t max);

/* A client connection counted by kh_shared_conn_enter has closed. */
void kh_shared_conn_leave(struct kh_shared *sh);

/* Publishes a new set of bridge listeners (fds[KH_MAX_BRIDGES], -1 for
 * none) and wakes the workers; returns the generation to wait for with
 * kh_worker_bridge_acked before closing any fd no longer in the set. */
unsigned kh_shared_set_bridges(struct kh_shared *sh, const int *fds);

#endif
