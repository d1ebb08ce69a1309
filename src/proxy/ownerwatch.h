/* Sandbox tokens whose owner died. `keyhole docker run` and `keyhole sandbox`
 * revoke their tokens when they return, but a wrapper killed by SIGKILL, the
 * OOM killer or a closed terminal cannot, and its tokens would live on for
 * their whole TTL while the container keeps running. So an issue request may
 * name its owner process ({"owner": pid}, in the daemon's pid namespace):
 * the daemon holds a pidfd for it (taken at issue time, so a reused pid is
 * never mistaken for it) and a thread polls them; when the owner exits, the
 * label's tokens are revoked at once. In memory only: after a daemon restart
 * the tokens of an earlier owner are no longer watched (they expire). */
#ifndef KH_OWNERWATCH_H
#define KH_OWNERWATCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "base/err.h"
#include "policy/grants.h"
#include "base/kh_limits.h"

struct kh_owner {
	int pidfd; /* -1: free slot */
	pid_t pid;
	char label[KH_GRANT_LABEL_MAX];
};

struct kh_ownerwatch {
	struct kh_grants *grants;
	pthread_mutex_t lock; /* v, and adding vs. the thread's scan */
	struct kh_owner v[KH_MAX_OWNERS];
	int wake_fd; /* eventfd: a new owner, or stop */
	atomic_bool stopping;
	bool started;
	pthread_t thread;
};

int kh_ownerwatch_init(struct kh_ownerwatch *ow, struct kh_grants *grants, struct kh_err *err);

/* Watches pid: when it exits, label's tokens are revoked. -1 with err if pid
 * is not running (then the caller must not issue) or every slot is taken. */
int kh_ownerwatch_add(struct kh_ownerwatch *ow, pid_t pid, const char *label, struct kh_err *err);

/* The issue that added pid's watch for label failed: when pid exits, revoke
 * nothing (a later sandbox may carry the same label). The slot stays taken,
 * without a lock race against the watch thread's poll, until pid exits. */
void kh_ownerwatch_forget(struct kh_ownerwatch *ow, pid_t pid, const char *label);

int kh_ownerwatch_start(struct kh_ownerwatch *ow, struct kh_err *err);

/* Stops the thread and closes the pidfds. */
void kh_ownerwatch_stop(struct kh_ownerwatch *ow);

#endif
