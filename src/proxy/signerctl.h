/* The daemon's side of the CA signer process (privsep: true;
 * signer_proc.h, docs/design/privsep.md 2b): starts it (fork + exec of
 * keyhole's own binary, environment of PATH only, descriptor 3 its control
 * channel), sends it the policy and one channel per front, reads its
 * CONFINED report, starts it again when it dies, and kills one that has not
 * answered a PING for KH_SIGNER_HANG_MS (the watchdog, about once a
 * second at each tend). The daemon never holds the CA private key: it
 * opens ca.crt and ca.key before it confines itself (it may not open the
 * keyhole directory after) and never reads them; each signer it starts
 * reads ca.key from its copy of that descriptor.
 *
 * Threads: every call but kh_signerctl_status_json is made with the
 * fronts' policy_lock held (fronts.c), which orders the sends. */
#ifndef KH_SIGNERCTL_H
#define KH_SIGNERCTL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <pthread.h>

#include "base/err.h"
#include "base/home.h"
#include "base/kh_limits.h"
#include "privsep/confine.h"
#include "proxy/childlog.h"

struct kh_signerctl {
	int ctl; /* the daemon's end of its control channel */
	int ctl_child; /* the signer's, kept so a restarted signer gets it again */
	int ca_crt_fd, ca_key_fd; /* open, never read here: each signer's KH_SIGNER_CA_*_FD */
	_Atomic pid_t pid; /* 0 while not running */
	uint64_t restart_at_ms;
	unsigned n_fronts;
	char home[KH_MAX_PATH], config[KH_MAX_PATH];
	atomic_uint_fast64_t restarts_total; /* for /metrics (any thread) */
	pthread_mutex_t lock; /* guards what follows (status is read on another thread) */
	unsigned restarts;
	struct kh_confine_report confined;
	bool have_confined;
	struct kh_childlog log; /* its stdout and stderr, read at each tend */
	/* the watchdog (tend's thread only): the last PING's sequence, when it
	 * went, whether its PONG is still awaited, and when the last came */
	uint64_t ping_seq, ping_sent_ms, pong_ms, started_ms;
	bool ping_out, killed;
	atomic_uint_fast64_t hangs_total; /* signers killed for not answering */
};

/* Where a signer finds its channel and the CA pair when it starts. */
#define KH_SIGNER_CTL_FD    3
#define KH_SIGNER_CA_CRT_FD 4
#define KH_SIGNER_CA_KEY_FD 5

/* Opens ca.crt and ca.key (paths) for every signer to come, and the
 * control channel. */
int kh_signerctl_init(struct kh_signerctl *sc, const struct kh_paths *paths, unsigned n_fronts,
		      struct kh_err *err);

/* Starts the signer and queues the policy (a sealed memfd) as its first
 * message. */
int kh_signerctl_start(struct kh_signerctl *sc, int policy_fd, struct kh_err *err);

/* Waits (KH_FRONT_START_WAIT_MS at most) until the signer started says it
 * is confined, that is ready: at the daemon's start, so a CA key it cannot
 * load (it logs why) stops the start instead of a restart loop. */
int kh_signerctl_wait_ready(struct kh_signerctl *sc, struct kh_err *err);

/* A new channel for front id: the signer's end goes to the signer now, the
 * front's end is returned (the caller sends it to the front, then closes
 * it). -1 when the signer is not running or on failure (logged). */
int kh_signerctl_channel(struct kh_signerctl *sc, unsigned id);

/* A new policy (after a reload, new sandbox tokens). */
void kh_signerctl_send_policy(struct kh_signerctl *sc, int policy_fd);

/* Collects a signer that ended, reads its reports, and starts it again when
 * due (call on SIGCHLD and about once a second). True when it was started
 * again: every running front then needs a new channel. */
bool kh_signerctl_tend(struct kh_signerctl *sc, int policy_fd, bool stopping);

/* {"pid","restarts","confined":bool, and when confined the fields of the
 * fronts' (fronts.h)}. Any thread. */
struct json_t *kh_signerctl_status_json(struct kh_signerctl *sc);

/* The confinement fields of a status object (shared with fronts.c). */
struct json_t *kh_signerctl_confined_json(const struct kh_confine_report *r);

/* SIGTERM, then SIGKILL after grace_ms. */
void kh_signerctl_stop(struct kh_signerctl *sc, unsigned grace_ms);

void kh_signerctl_free(struct kh_signerctl *sc);

#endif
