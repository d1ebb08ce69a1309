/* The client side of the control socket (ctl_server.h): what `keyhole
 * token`, `keyhole docker run` and `keyhole sandbox` use to obtain and
 * revoke sandbox tokens from the running daemon, and what `keyhole start`,
 * `status` and `stop` use to tell who the daemon is. Every call is bounded
 * by KH_CTL_TIMEOUT_MS (or the timeout it is given). */
#ifndef KH_CTL_CLIENT_H
#define KH_CTL_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "base/err.h"
#include "base/kh_limits.h"
#include "policy/mappings.h"

/* Sends req and returns the daemon's answer in *reply (the caller
 * json_decrefs it). -1 with err when the daemon is not running or not
 * reachable, the exchange failed or timed out, or the daemon answered
 * {"ok":false} (err then holds its message). */
int kh_ctl_call(const char *sock, json_t *req, json_t **reply, struct kh_err *err);

/* One front process as the daemon knows it (fronts.h). */
struct kh_ctl_front {
	pid_t pid; /* 0: not running now */
	unsigned restarts;
	bool confined; /* it reported its confinement; the rest is that report */
	bool no_new_privs, seccomp, rlimits, uid_dropped;
	int landlock_abi; /* 0: unavailable */
	uint32_t uid;
};

/* Who the running daemon is, from {"op":"status"} (ctl_server.h). */
struct kh_ctl_status {
	pid_t pid;
	char version[32];
	bool audit_failing; /* audit.log cannot be written (records are being lost) */
	uint64_t audit_lost; /* records lost since the daemon started */
	uint16_t port; /* the loopback port it listens on; 0: not said (an older daemon) */
	/* "privsep": absent from an older daemon (have_privsep false) */
	bool have_privsep, fronts_are_processes;
	size_t n_fronts;
	struct kh_ctl_front fronts[KH_MAX_WORKERS];
	bool have_signer; /* the CA signer process (signerctl.h), the same fields */
	struct kh_ctl_front signer;
	/* "keyholder": the daemon's own confinement (kh_confine_keyholder) and
	 * its monitor's pid; absent from an older daemon */
	bool have_keyholder;
	struct kh_ctl_front keyholder;
	pid_t monitor_pid;
	char keyholder_caps[96]; /* the capabilities it kept, "" when not limited */
};

/* Asks the daemon behind sock who it is; blocks up to timeout_ms. -1 with
 * err when it does not answer (not running, a stale socket, too slow). */
int kh_ctl_status(const char *sock, unsigned timeout_ms, struct kh_ctl_status *st,
		  struct kh_err *err);

/* The issue request (ctl_server.h) for label: ttl seconds (0: no expiry),
 * budget requests (0: none), for the credentials named (none: every one).
 * NULL when out of memory. */
json_t *kh_ctl_issue_request(const char *label, int64_t ttl, uint64_t budget,
			     const char *const *names, size_t n_names);

/* Asks for one sandbox token per mapping in m (AWS ones excepted: they keep
 * their mapping token) under label, expiring after ttl seconds (0: never),
 * with a budget of requests (0: none), and writes each into m in place of the mapping's token.
 * owner > 0: the daemon revokes them when that process exits (ownerwatch.h). */
int kh_ctl_issue_into(const char *sock, const char *label, int64_t ttl, uint64_t budget,
		      pid_t owner, struct kh_mappings *m, struct kh_err *err);

/* Names pid (a sandbox's process on the daemon's Unix socket) label in the
 * daemon's records. */
int kh_ctl_bind(const char *sock, const char *label, pid_t pid, struct kh_err *err);

/* Revokes every sandbox token of label. Returns how many, or -1 with err. */
long kh_ctl_revoke_label(const char *sock, const char *label, struct kh_err *err);

/* "90", "90s", "30m", "1h", "7d" -> seconds; "0" or "none" -> 0 (no expiry).
 * -1 when malformed or over KH_MAX_GRANT_TTL. */
int64_t kh_ctl_parse_ttl(const char *s);

#endif
