/* The per-thread context of connections and its two thread-wide services:
 * heap trimming and folded audit records. */
#include "proxy/wctx.h"

#include <malloc.h>
#include <stdlib.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/kh_limits.h"
#include "proxy/auditgate.h"
#include "proxy/upool.h"

/* malloc_trim walks every thread's heap under that heap's lock: ~7 ms with
 * 10,000 connections' worth (0.1 ms with few), during which a worker that
 * allocates waits. So it runs only when no worker has had a handshake or a
 * close for KH_TRIM_QUIET_MS, in one worker at a time, and not again before
 * KH_TRIM_SPACING times its own duration: at most ~1% of the time. */
static void trim_heap(struct kh_timer *t)
{
	struct kh_wctx *cx = container_of(t, struct kh_wctx, trim);
	struct kh_shared *sh = cx->sh;
	uint64_t now = kh_loop_now(cx->loop), start;
	uint64_t quiet_at = atomic_load(&sh->last_churn_ms) + KH_TRIM_QUIET_MS;
	uint_fast64_t next = atomic_load(&sh->next_trim_ms);

	if (now < quiet_at || now < next) { /* busy elsewhere, or too soon: look again then */
		if (next != UINT64_MAX)
			kh_timer_after(cx->loop, t, (now < quiet_at ? quiet_at : next) - now);
		return;
	}
	/* The winner trims for every worker; a loser's freed memory is in it. */
	if (!atomic_compare_exchange_strong(&sh->next_trim_ms, &next, UINT64_MAX))
		return;
	start = kh_mono_us();
	malloc_trim(0);
	atomic_store(&sh->next_trim_ms, now + (kh_mono_us() - start) * KH_TRIM_SPACING / 1000);
}

/* A refusal folded by any worker gets its fold record when its window ends:
 * the worker that folded it keeps a timer while any is pending. */
static void audit_fold_due(struct kh_timer *t)
{
	struct kh_wctx *cx = container_of(t, struct kh_wctx, audit_fold);
	uint64_t next = kh_auditgate_tick(), now = kh_loop_now(cx->loop);

	if (next != 0)
		kh_timer_after(cx->loop, t, next > now ? next - now : 1);
}

void kh_wctx_audit_folded(struct kh_wctx *cx)
{
	uint64_t due = kh_auditgate_next_due(), now = kh_loop_now(cx->loop);

	if (due == 0 || (cx->audit_fold.deadline != 0 && cx->audit_fold.deadline <= due))
		return;
	kh_timer_after(cx->loop, &cx->audit_fold, due > now ? due - now : 1);
}

void kh_wctx_note_churn(struct kh_wctx *cx)
{
	uint64_t now = kh_loop_now(cx->loop);

	if (atomic_load_explicit(&cx->sh->last_churn_ms, memory_order_relaxed) != now)
		atomic_store_explicit(&cx->sh->last_churn_ms, now, memory_order_relaxed);
	kh_timer_after(cx->loop, &cx->trim, KH_TRIM_QUIET_MS); /* pushed back while busy */
}

int kh_wctx_init(struct kh_wctx *cx, struct kh_shared *sh, struct kh_err *err)
{
	cx->sh = sh;
	cx->hdrs = calloc(KH_MAX_HEADERS_CEIL, sizeof *cx->hdrs);
	cx->loop = kh_loop_new(err);
	cx->trim.cb = trim_heap;
	cx->audit_fold.cb = audit_fold_due;
	cx->upool = cx->loop ? kh_upool_new(cx->loop) : NULL;
	return cx->loop == NULL || cx->hdrs == NULL || cx->upool == NULL ? -1 : 0;
}

void kh_wctx_free(struct kh_wctx *cx)
{
	kh_upool_free(cx->upool);
	kh_loop_free(cx->loop);
	free(cx->hdrs);
	cx->upool = NULL;
	cx->loop = NULL;
	cx->hdrs = NULL;
}
