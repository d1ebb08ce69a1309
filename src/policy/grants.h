/* Sandbox tokens ("grants"): proxy tokens issued while the daemon runs,
 * through the control socket (ctl_server.c), each bound to one sandbox label.
 * A grant stands for one mapping's credential (by env name) toward that
 * mapping's hosts, exactly like the mapping's own token, but it also has an
 * expiry and an optional request budget, and it can be revoked. Revoked and
 * expired grants are kept (as tombstones) so their token gets a clear 401
 * instead of going upstream as an unknown string.
 *
 * The registry is a fixed array allocated once: policy snapshots point into
 * it, so a slot never moves. What a request checks (revoked, used) is
 * atomic; everything else in a slot is written under the lock before the
 * policy snapshot that makes its token known is published, and not changed
 * while the slot is in use. Grants survive a daemon restart in grants.json
 * (0600, atomic): an issue or revocation is written before it is answered;
 * the budget counts, which requests move without a lock, are written by a
 * background thread (kh_grants_autosave_start) every interval when they
 * changed, at once when a budget runs out, and by the daemon at stop. */
#ifndef KH_GRANTS_H
#define KH_GRANTS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "base/kh_limits.h"
#include "policy/mappings.h"

enum kh_grant_state {
	KH_GRANT_OK,
	KH_GRANT_REVOKED,
	KH_GRANT_EXPIRED,
	KH_GRANT_EXHAUSTED, /* request budget used up */
};

struct kh_grant {
	bool in_use;
	char token[KH_TOKEN_MAX];
	char env_name[KH_ENV_NAME_MAX];
	char label[KH_GRANT_LABEL_MAX];
	int64_t issued; /* unix seconds */
	int64_t expires; /* unix seconds; 0 = never */
	uint64_t budget; /* requests; 0 = unlimited */
	atomic_uint_fast64_t used; /* requests that swapped this token (or tried to) */
	atomic_llong revoked_at; /* unix seconds; 0 = not revoked */
	struct kh_grants *owner; /* its registry: told when the budget runs out */
	uint64_t saved_used; /* `used` as last put in grants.json (under the lock) */
};

/* A sandbox's process as the daemon sees it on its Unix socket (the pid 1
 * of `keyhole sandbox`), so records of requests that carry no token name
 * the sandbox too. In memory only: pids do not survive a restart anyway. */
struct kh_grant_bind {
	pid_t pid; /* 0 = free */
	char label[KH_GRANT_LABEL_MAX];
};

struct kh_grants {
	pthread_mutex_t lock; /* every change, and reading the state to save */
	/* Orders the writers of grants.json, so an older state never replaces a
	 * newer one; always taken before lock. */
	pthread_mutex_t save_lock;
	bool save_failed; /* the last write failed: write again (under save_lock) */
	struct kh_grant *v; /* cap slots, never reallocated */
	size_t cap;
	struct kh_grant_bind binds[KH_MAX_GRANT_BINDS];
	char path[KH_MAX_PATH]; /* grants.json; "" = not persisted (tests) */
	/* Writes grants.json's new text instead of this process (the daemon,
	 * confined, asks its monitor: proxy/monitor.h); NULL: written here. */
	int (*write_fn)(void *arg, const char *text, size_t len, struct kh_err *err);
	void *write_arg;
	/* the autosave thread */
	atomic_int wake; /* its eventfd; -1 before it exists */
	atomic_bool stopping;
	unsigned interval_ms;
	bool saver_started;
	pthread_t saver;
};

/* What to issue: one token per env name, all under one label. */
struct kh_grant_req {
	const char *label;
	int64_t ttl; /* seconds; 0 = no expiry */
	uint64_t budget; /* 0 = unlimited */
	pid_t owner; /* revoke when this process exits (ownerwatch.h); 0 = none */
};

/* Allocates cap slots and loads path if it exists (path may be NULL). A
 * malformed file is an error naming it, never silently emptied. Grants that
 * ended more than KH_GRANT_TOMBSTONE_SECS ago are dropped. */
int kh_grants_init(struct kh_grants *g, size_t cap, const char *path, int64_t now,
		   struct kh_err *err);
/* Loads grants from text in grants.json's format into g (initialised with
 * no path): what a front process gets from the daemon instead of the file.
 * g->path in errors is then empty. */
int kh_grants_load_text(struct kh_grants *g, const char *text, size_t len, int64_t now,
			struct kh_err *err);

void kh_grants_free(struct kh_grants *g);

/* Issues a grant for mapping m (its env name, its token's prefix), saved
 * before it returns. *out is the new slot. -1 with err when the label is
 * invalid, the registry is full of live grants, or saving failed (then
 * nothing is issued). */
int kh_grants_issue(struct kh_grants *g, const struct kh_mapping *m, const struct kh_grant_req *r,
		    int64_t now, struct kh_grant **out, struct kh_err *err);

/* Revokes the live grants whose token is exactly token (label NULL), or
 * whose label is label (token NULL), and forgets label's bound pids.
 * Returns how many grants, or -1 with err if saving failed (they are
 * revoked in memory anyway). */
long kh_grants_revoke(struct kh_grants *g, const char *token, const char *label, int64_t now,
		      struct kh_err *err);

/* Binds pid to label (replacing an earlier binding of that pid). -1 with
 * err when the label is invalid or every binding is taken. */
int kh_grants_bind(struct kh_grants *g, const char *label, pid_t pid, struct kh_err *err);

/* The label bound to pid into out (KH_GRANT_LABEL_MAX); false if none. */
bool kh_grants_label_of(struct kh_grants *g, pid_t pid, char *out);

/* Called for every request that would swap token through slot gr: counts
 * it against the budget and says whether the swap may happen. token is the
 * policy's copy, so a slot reused since that policy was built is refused. */
enum kh_grant_state kh_grant_use(struct kh_grant *gr, const char *token, int64_t now);

/* State without counting a use (for listing). */
enum kh_grant_state kh_grant_state(const struct kh_grant *gr, int64_t now);
const char *kh_grant_state_name(enum kh_grant_state s);

/* Ended more than KH_GRANT_TOMBSTONE_SECS ago: its token is unknown again
 * (policies leave it out; its slot may be reused a while later). */
bool kh_grant_forgotten(const struct kh_grant *gr, int64_t now);

/* [A-Za-z0-9][A-Za-z0-9._-]*, shorter than KH_GRANT_LABEL_MAX. */
bool kh_grant_label_valid(const char *label);

/* grants.json's text for the grants as they are now, without writing it or
 * marking anything saved (the fronts' copy); free it with
 * kh_grants_text_free (it holds whole tokens). NULL with err set when out
 * of memory. */
char *kh_grants_text(struct kh_grants *g, size_t *len, struct kh_err *err);
void kh_grants_text_free(char *text);

/* Writes grants.json if a budget count changed since it was last written
 * (or that write failed); 0 when written or nothing changed. Blocks on the
 * file system, without holding g->lock meanwhile. */
int kh_grants_save(struct kh_grants *g, struct kh_err *err);

/* Starts a thread that runs kh_grants_save every interval_ms, and at once
 * when a budget runs out (kh_grant_use wakes it; the request itself never
 * waits for the disk). A failed save is logged and retried. */
int kh_grants_autosave_start(struct kh_grants *g, unsigned interval_ms, struct kh_err *err);

/* Stops that thread (if started) without saving: the caller saves once
 * nothing counts any more (the workers are stopped). */
void kh_grants_autosave_stop(struct kh_grants *g);

#endif
