/* The monitor: the one part of the daemon that is not confined (as
 * OpenSSH's monitor is the part of sshd that keeps its privileges).
 *
 * The daemon holds the keys and, once started, confines itself
 * (kh_confine_keyholder: it may read files but write none and run no
 * program but keyhole). What it still needs done after that, a process
 * forked at the very start does for it, over a SOCK_SEQPACKET pair:
 *
 *   FETCH  a reload's new key values: the monitor reads config.yaml itself
 *          and runs the credential source it names (`bws`, an operator's
 *          command), so the daemon cannot choose what runs;
 *   SAVE   grants.json (sandbox tokens and their spent budgets), written
 *          atomically to its one path;
 *   OWNS   which of the daemon's sockets and files it created: the monitor
 *          removes them when the daemon has ended.
 *
 * The monitor never reads a sandbox's byte, nor anything a front sends; it
 * reads only the daemon's requests, whose fields it checks. It holds the
 * credential source's access secret (as the daemon did) and a fetched value
 * only until it is sent. */
#ifndef KH_MONITOR_H
#define KH_MONITOR_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "base/home.h"
#include "secret/secrets.h"

/* Files and sockets the daemon made, for the monitor to remove at its end. */
enum kh_monitor_owned {
	KH_MONITOR_OWN_PROXY_SOCK = 1u << 0,
	KH_MONITOR_OWN_TLS_SOCK = 1u << 1,
	KH_MONITOR_OWN_HTTP_SOCK = 1u << 2,
	KH_MONITOR_OWN_CONTROL = 1u << 3,
	KH_MONITOR_OWN_METRICS = 1u << 4,
};

struct kh_monitor {
	int sock; /* -1 when there is none */
	pid_t pid;
	uint32_t seq; /* of the last request, so a late answer is never taken for the next */
	pthread_mutex_t lock; /* one request at a time (reload, the grants saver, the stop) */
};

/* Forks the monitor. Call before any thread exists and before a key is
 * loaded: the child is a copy of the caller. The monitor wipes from its
 * environment the variables mappings.json names (their values are the
 * daemon's, given at start) and hides the credential source's access
 * secret as the daemon does. */
int kh_monitor_start(struct kh_monitor *m, const struct kh_paths *paths, struct kh_err *err);

/* The values of names (n of them) from the configured credential source,
 * as the monitor reads config.yaml now. Blocks up to the source's timeout. */
int kh_monitor_fetch(struct kh_monitor *m, const char *const *names, size_t n,
		     struct kh_secrets *out, struct kh_err *err);

/* Replaces grants.json by text (len bytes). */
int kh_monitor_save_grants(struct kh_monitor *m, const char *text, size_t len, struct kh_err *err);

/* Tells the monitor what to remove when the daemon ends (a kh_monitor_owned
 * mask; the last one sent counts). */
int kh_monitor_owns(struct kh_monitor *m, unsigned owned, struct kh_err *err);

/* Closes the channel, so the monitor removes what the daemon owned and
 * exits, and waits for it (up to a few seconds). */
void kh_monitor_stop(struct kh_monitor *m);

#endif
