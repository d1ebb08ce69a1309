/* Name resolution for upstream dials, off the event loops and fair across
 * clients: c-ares on one resolver thread that never blocks (every lookup is
 * a pending query, not a busy thread), lookups queued and started per
 * source (lookupq.h: a sandbox's label, else the client's address), and
 * answers kept for their TTL (dnscache.h). Why c-ares: resolver.c.
 *
 * A loop thread fills a job (host, source, loop, task.cb, owner) and submits
 * it. The answer is either there at once (from the cache) or posted back to
 * job->loop, where task.cb runs with job->ans filled. If the asker goes away
 * first it calls kh_resolver_cancel(): a job still waiting is dropped
 * before it runs; one whose query is out is freed by the resolver when it
 * ends (or by task.cb, which must then only free it: job->cancelled). */
#ifndef KH_RESOLVER_H
#define KH_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/dnscache.h"
#include "base/err.h"
#include "base/hostname.h"
#include "base/kh_limits.h"
#include "event/loop.h"
#include "policy/lookupq.h"

struct kh_resolve_job {
	struct kh_task task; /* posted back; task.cb runs on the loop */
	struct kh_loop *loop;
	char host[KH_HOST_BUF];
	char source[KH_SOURCE_MAX]; /* who asked: turns and caps are per source */
	void *owner;
	struct kh_dns_answer ans; /* filled when task.cb runs (or on KH_RESOLVE_CACHED) */
	bool cancelled; /* set by kh_resolver_cancel; task.cb must then just free the job */
	/* the resolver's own (under its lock) */
	int state;
	struct kh_lookupq_item q;
	struct kh_resolve_job *snext; /* to be started by the resolver thread */
	void *chan; /* the c-ares channel its query went to */
};

enum kh_resolve_result {
	KH_RESOLVE_CACHED, /* job->ans is filled now; nothing will be posted */
	KH_RESOLVE_QUEUED, /* task.cb will run on job->loop */
	KH_RESOLVE_SOURCE_BUSY, /* refused: this source has too many lookups waiting */
	KH_RESOLVE_BUSY, /* refused: too many lookups overall, or stopping */
};

/* Makes c-ares read dir/resolv.conf and dir/hosts (policy/resolvfiles.h),
 * copies of /etc's the caller has made, instead of the originals; refresh
 * (on the resolver thread) makes them again when an original has changed,
 * which the resolver sees by stat at most every KH_RESOLV_CONF_CHECK_MS
 * (-1 from refresh: tried again at the next check). It notes how the
 * originals look now: call it before making the copies (a change in
 * between is then seen), before kh_resolver_start, and before any thread
 * exists (it sets CARES_HOSTS in the environment). -1 when dir's paths are
 * too long. */
int kh_resolver_use_copies(const char *dir, int (*refresh)(void *arg), void *arg);

/* Starts the resolver thread. servers: "ip", "ip:port" or "[v6]:port"
 * entries (config.yaml dns_servers); none means /etc/resolv.conf (looked at
 * again when it changes). Lookups read /etc/hosts first. */
int kh_resolver_start(char *const *servers, size_t n_servers, struct kh_err *err);

/* Uses these servers from the next lookup on (a reload); the cache is
 * emptied. Lookups already out finish on the old ones. Thread-safe. */
void kh_resolver_configure(char *const *servers, size_t n_servers);

/* Never blocks. The caller owns job again after a refusal or CACHED. */
enum kh_resolve_result kh_resolver_submit(struct kh_resolve_job *job);

/* The asker does not want the answer any more. true: the job was dropped
 * before it ran and is the caller's to free now; false: the resolver (or
 * task.cb, if the answer is already on its way) frees it. Loop thread of
 * job->loop only. */
bool kh_resolver_cancel(struct kh_resolve_job *job);

/* Stops the thread after the loops are gone: queries out are abandoned and
 * every job the resolver still holds is freed. Blocks until it exits. */
void kh_resolver_stop(void);

#endif
