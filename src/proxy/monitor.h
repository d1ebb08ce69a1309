/* The monitor: the one part of the daemon that is not confined (as
 * OpenSSH's monitor is the part of sshd that keeps its privileges).
 *
 * The daemon holds the keys and, once started, confines itself
 * (kh_confine_keyholder: it may read only the system's files, write none
 * and exec nothing but keyhole). What it still needs done after that, a process
 * forked at the very start does for it, over two SOCK_SEQPACKET pairs (one
 * for fetches, which take as long as a program runs, one for the rest, so a
 * slow fetch never holds up a grants.json write a token issue waits on):
 *
 *   FETCH  a reload's new key values: the monitor reads config.yaml and
 *          mappings.json itself, refuses a name mappings.json does not hold,
 *          and runs the credential source config.yaml names (`bws`, an
 *          operator's command) in a child of its own, one at a time; the
 *          daemon cannot choose what runs;
 *   READ   a reload's files: config.yaml, mappings.json and the
 *          upstream_ca_file config.yaml names (the daemon, confined, cannot
 *          open the keyhole directory: ca.key is there);
 *   RESOLV /etc/resolv.conf and /etc/hosts copied for the resolver again
 *          (an original changed; the daemon may read only the copies);
 *   SAVE   grants.json (sandbox tokens and their spent budgets), written
 *          atomically to its one path;
 *   OWNS   which of the daemon's sockets and files it created: the monitor
 *          removes them when the daemon has ended, each only if it is still
 *          the one that was there then (device and inode), so never a file of
 *          a keyhole started since.
 *
 * The monitor never reads a sandbox's byte, nor anything a front sends; it
 * reads only the daemon's requests, whose fields it checks, and takes their
 * payloads only from memfds. It holds the credential source's access secret
 * (the daemon no longer does) and a fetched value only until it is sent. */
#ifndef KH_MONITOR_H
#define KH_MONITOR_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "base/home.h"
#include "policy/policyfiles.h"
#include "secret/secrets.h"

/* Files and sockets the daemon made, for the monitor to remove at its end. */
enum kh_monitor_owned {
	KH_MONITOR_OWN_PROXY_SOCK = 1u << 0,
	KH_MONITOR_OWN_TLS_SOCK = 1u << 1,
	KH_MONITOR_OWN_HTTP_SOCK = 1u << 2,
	KH_MONITOR_OWN_CONTROL = 1u << 3,
	KH_MONITOR_OWN_METRICS = 1u << 4,
};

/* One of the two channels: one request at a time on it. */
struct kh_monitor_chan {
	int sock; /* -1 when there is none */
	uint32_t seq; /* of the last request, so a late answer is never taken for the next */
	pthread_mutex_t lock;
};

struct kh_monitor {
	struct kh_monitor_chan ctl; /* SAVE, OWNS */
	struct kh_monitor_chan fetch; /* FETCH */
	pid_t pid;
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

/* A reload's config.yaml, mappings.json and upstream_ca_file, as the
 * monitor reads them now (kh_policy_files_read). */
int kh_monitor_read_files(struct kh_monitor *m, struct kh_policy_files *out, struct kh_err *err);

/* Copies /etc/resolv.conf and /etc/hosts into <home>/resolver/ again for
 * the resolver (policy/resolvfiles.h), which the daemon may read. 1 (and
 * nothing asked) when the channel is busy with another request. */
int kh_monitor_copy_resolver_files(struct kh_monitor *m, struct kh_err *err);

/* Replaces grants.json by text (len bytes). */
int kh_monitor_save_grants(struct kh_monitor *m, const char *text, size_t len, struct kh_err *err);

/* Tells the monitor what to remove when the daemon ends (a kh_monitor_owned
 * mask; the last one sent counts). */
int kh_monitor_owns(struct kh_monitor *m, unsigned owned, struct kh_err *err);

/* Is the monitor still running? (Reaps it when it is not.) */
bool kh_monitor_alive(struct kh_monitor *m);

/* Closes the channels, so the monitor removes what the daemon owned and
 * exits, and waits for it (a few seconds at most: a confined daemon cannot
 * signal it, so it is left to end on its own past that). */
void kh_monitor_stop(struct kh_monitor *m);

#endif
