/* The key holder's side of front processes (privsep: true; front_proc.h,
 * docs/design/privsep.md): it starts one front per worker from keyhole's
 * own binary with a clean environment, hands it its listeners and one end
 * of a control channel, and starts it again when it dies. A front holds no
 * file: its refusal records come on the channel, and this process checks
 * and writes them (auditrelay.h).
 * Worker i watches front i's channel on its loop: each stream a front
 * sends becomes a key-holder connection there (kh_conn_accept_stream). Leaf
 * certificates come from the CA signer process (signerctl.h), started
 * before the fronts; each front gets its own channel to it (ctlmsg SIGNER),
 * a new one whenever either restarts. This process holds no CA key.
 *
 * Threads: init, spawn, reap, signal and stop run on the daemon's main
 * thread; the channel callbacks on the workers'. */
#ifndef KH_FRONTS_H
#define KH_FRONTS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <pthread.h>

#include "base/err.h"
#include "base/home.h"
#include "base/kh_limits.h"
#include "event/loop.h"
#include "policy/policyfiles.h"
#include "privsep/confine.h"
#include "privsep/connslots.h"
#include "proxy/signerctl.h"
#include "proxy/auditrelay.h"
#include "proxy/childlog.h"
#include "proxy/worker.h"

struct kh_front_slot {
	/* A channel per front start: whoever holds an end of the one before
	 * (a taken front may pass its end on) is no longer read. chan is the
	 * running front's, which senders use (under the fronts' policy_lock);
	 * io reads it on the worker's loop once the worker has taken it over
	 * (take_channel: chan_next under lock, one posted task). */
	int chan;
	struct kh_io io; /* worker thread only */
	bool io_on; /* io is on the worker's loop (off once its front hung up) */
	int chan_next; /* not yet taken over by the worker, or -1 */
	bool take_posted;
	struct kh_task take;
	struct kh_wctx *cx;
	int tcp[KH_MAX_LISTENERS + 1];
	size_t n_tcp;
	_Atomic pid_t pid; /* 0 while not running; read by other threads */
	atomic_uint streams; /* key-holder connections of its streams, open now */
	uint64_t restart_at_ms; /* when it died: start again then */
	unsigned id;
	/* what the running front reported (frontstat.h); lock guards these,
	 * and chan_next and take_posted */
	pthread_mutex_t lock;
	struct kh_confine_report confined;
	bool have_confined;
	unsigned restarts; /* times this slot's front was started again */
	atomic_uint active; /* its client connections, as it last said */
	/* on the slot's worker thread only: a front may not report faster than
	 * it is meant to, nor have its complaints fill the log */
	uint64_t last_metrics_ms, last_warn_ms;
	unsigned warns_held; /* warnings not written since last_warn_ms */
	struct kh_auditrelay audit; /* its records' byte budget, kept across restarts */
	struct kh_childlog log; /* its stdout and stderr (childlog.h) */
	struct kh_io log_io; /* log.rd on the worker's loop */
	/* the container bridge listeners this front was sent (guarded by the
	 * fronts' policy_lock): by slot, the generation sent and whether it
	 * holds one; ready once its start messages are queued */
	unsigned bridge_sent[KH_MAX_BRIDGES];
	bool bridge_on[KH_MAX_BRIDGES];
	bool bridge_ready, bridge_warned;
};

struct kh_fronts {
	struct kh_front_slot s[KH_MAX_WORKERS];
	/* config.yaml, mappings.json and grants.json as last sent (a sealed
	 * memfd, see kh_fronts_send_policy); policy_lock guards it, the bridge
	 * listeners below and every send but a mint's answer */
	pthread_mutex_t policy_lock;
	int policy_fd;
	/* container bridge listeners (kh_fronts_set_bridge): this process's
	 * copies by slot (-1: none) and a generation bumped on each change */
	int bridge_fds[KH_MAX_BRIDGES];
	unsigned bridge_gen[KH_MAX_BRIDGES];
	unsigned n;
	int unix_fds[3]; /* by enum kh_listen_kind, -1 for none */
	char home[KH_MAX_PATH], config[KH_MAX_PATH];
	struct kh_signerctl signer; /* the CA signer process */
	atomic_uint_fast64_t restarts;
	bool stopping;
	/* one limits.max_connections for all fronts: a slot each, zeroed when
	 * the daemon reaps its front (connslots.h); conns_fd is sent to each */
	struct kh_connslots conns;
	int conns_fd;
	struct kh_shared *sh;
};

/* Takes the listeners of front i (tcp, per front, and the shared Unix ones);
 * each start of it gets a channel read on workers[i]. sh is the daemon's policy (the
 * length of its shortest key goes to the fronts with theirs). */
int kh_fronts_init(struct kh_fronts *fs, struct kh_worker *workers, unsigned n,
		   int tcp[][KH_MAX_LISTENERS + 1], size_t n_tcp, const int unix_fds[3],
		   const struct kh_paths *paths, struct kh_shared *sh, struct kh_err *err);

/* Sends the bytes of config.yaml and mappings.json the daemon's policy was
 * built from (files), and grants.json's as it holds the grants now, to every
 * front (started ones now, later ones at start) and the signer, which build
 * their policy from them: neither they nor the confined daemon open these
 * files. Call after a reload and after sandbox tokens were issued, under
 * the daemon's build lock (which orders the calls). */
int kh_fronts_send_policy(struct kh_fronts *fs, const struct kh_policy_files *files,
			  struct kh_err *err);

/* Container bridge slot's listener is now fd (-1: gone; bridgewatch.h):
 * keeps a copy (fd stays the caller's) and sends it to every running front
 * (LISTEN_ADD, or LISTEN_DEL for -1), which accepts on it; a front started
 * later gets every listener of the moment. A send that fails (a full
 * channel) is tried again by kh_fronts_tend. Any thread. */
void kh_fronts_set_bridge(struct kh_fronts *fs, size_t slot, int fd);

/* Starts the CA signer, then every front (fork + exec of keyhole's binary),
 * and waits until each has said it is confined (KH_FRONT_START_WAIT_MS at most):
 * -1 when one did not start. */
int kh_fronts_start(struct kh_fronts *fs, const struct kh_policy_files *files, struct kh_err *err);

/* Collects fronts that exited and starts them again when due (call on
 * SIGCHLD and about once a second). */
void kh_fronts_tend(struct kh_fronts *fs);

/* How many fronts run now (any thread; a racy but harmless read). */
unsigned kh_fronts_running(const struct kh_fronts *fs);

/* Client connections open in the fronts, as they last reported (any thread). */
uint64_t kh_fronts_connections(struct kh_fronts *fs);

/* The "privsep" object of the control socket's status answer (any thread):
 * {"mode":"processes","fronts":[{"id","pid","restarts","confined":bool,
 * and when confined "uid","gid","no_new_privs","seccomp","landlock_abi",
 * "rlimits","uid_dropped"}...],"signer":{the same but "id"}}. fs NULL:
 * {"mode":"off"}. */
struct json_t *kh_fronts_status_json(struct kh_fronts *fs);

/* SIGTERM to every front, then waits up to grace_ms for them to exit
 * (SIGKILL after that); then stops the CA signer. */
void kh_fronts_stop(struct kh_fronts *fs, unsigned grace_ms);

/* Closes what init took. */
void kh_fronts_free(struct kh_fronts *fs);

#endif
