/* The control socket: KEYHOLE_HOME/control.sock (Unix, 0600), through which
 * `keyhole token`, `keyhole docker run` and `keyhole sandbox` obtain, list
 * and revoke sandbox tokens (grants.h) from the running daemon. Only a peer
 * with the daemon's uid (or root) is served, checked with SO_PEERCRED.
 *
 * Protocol: the client sends one JSON object and shuts down its write side
 * (or ends it with a newline); the daemon answers one JSON object and
 * closes. At most KH_CTL_MSG_MAX bytes each way, and the whole exchange
 * within KH_CTL_TIMEOUT_MS. Requests:
 *   {"op":"issue","label":L,"ttl":SECS,"budget":N,"providers":[NAME...]}
 *       -> {"ok":true,"tokens":[{"env_name":E,"token":T,"expires":UNIX}...]}
 *       (providers: env names or token provider names like "openai"; none
 *        or empty = every mapping keyhole can issue for; an optional
 *        "owner":PID, a running process, gets the label's tokens revoked
 *        when it exits: ownerwatch.h)
 *   {"op":"revoke","token":T} or {"op":"revoke","label":L}
 *       -> {"ok":true,"revoked":N}
 *   {"op":"bind","label":L,"pid":N}
 *       -> {"ok":true}   (N, a sandbox's process as seen on the daemon's Unix
 *       socket, is named L in the records of requests that carry no token;
 *       forgotten when L is revoked)
 *   {"op":"list"}
 *       -> {"ok":true,"grants":[{"label","env_name","token" (first
 *           KH_TOKEN_LOG_CHARS characters only),"state","issued","expires",
 *           "budget","used"}...]}
 *   {"op":"status"}
 *       -> {"ok":true,"pid":N,"version":V,"audit":"ok"|"failing","audit_lost":N,
 *           "privsep":{"mode":"off"} or {"mode":"processes","fronts":[...]}
 *           (fronts.h, kh_fronts_status_json)}
 *       (who the daemon is: the proxy's /healthz, which sandboxes reach,
 *        says only "keyhole ok")
 * Any failure: {"ok":false,"error":"what went wrong and what to do"}.
 * One client is served at a time, on its own thread. */
#ifndef KH_CTL_SERVER_H
#define KH_CTL_SERVER_H

#include <stddef.h>

#include <jansson.h>

#include "base/err.h"
#include "policy/grants.h"

struct kh_ctl_server; /* opaque */

/* Issues one grant per resolved provider name (names may be empty: all)
 * and publishes a policy that knows them; runs on the control thread.
 * Fills out[] (at most cap) and *n. -1 with err: nothing was issued. */
typedef int (*kh_ctl_issue_fn)(void *arg, const struct kh_grant_req *r, const char *const *names,
			       size_t n_names, struct kh_grant **out, size_t cap, size_t *n,
			       struct kh_err *err);

/* Members to add to a status answer ("privsep", "port": the daemon's
 * bound loopback port), as one object (new, the caller takes it), or NULL
 * for none; runs on the control thread. */
typedef json_t *(*kh_ctl_status_fn)(void *arg);

/* The protocol alone, without the socket: one request's text in, the
 * answer out (never NULL unless out of memory; the caller json_decrefs it).
 * Runs issue for an issue request, status (may be NULL) for a status one. */
json_t *kh_ctl_handle(struct kh_grants *grants, kh_ctl_issue_fn issue, kh_ctl_status_fn status,
		      void *arg, const char *text, size_t len);

struct kh_ctl_server *kh_ctl_server_open(const char *path, struct kh_grants *grants,
					 kh_ctl_issue_fn issue, void *arg, struct kh_err *err);
/* Status answers carry the members of status(arg) (before start). */
void kh_ctl_server_set_status(struct kh_ctl_server *s, kh_ctl_status_fn status);
int kh_ctl_server_start(struct kh_ctl_server *s, struct kh_err *err);
/* Stops the thread, closes and unlinks the socket, frees s. NULL-safe. */
void kh_ctl_server_stop(struct kh_ctl_server *s);

#endif
