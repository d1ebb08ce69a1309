/* Who gets to ask DNS next. Name lookups are held per source (a sandbox's
 * label, else the client's address). When a lookup may start, the waiting
 * source with the fewest lookups out goes first (round-robin among equals);
 * a source has at most `source_running` lookups out at once and
 * `source_waiting` waiting its turn (more are refused), all sources together
 * at most `running` and `waiting`. A client asking for many slow names
 * waits only behind itself; another client's lookup starts at once.
 *
 * A waiting lookup that is cancelled leaves the queue at once and never
 * runs. A running one keeps its place until it ends (its query is already
 * out), so cancelling cannot be used to get more queries out than the cap.
 *
 * Pure: no locks, no clock, no allocation after kh_lookupq_new (the resolver
 * holds its lock around every call). Items are owned by the caller. */
#ifndef KH_LOOKUPQ_H
#define KH_LOOKUPQ_H

#include <stdbool.h>
#include <stddef.h>

struct kh_lookupq;

struct kh_lookupq_item {
	struct kh_lookupq_item *prev, *next; /* in its source's waiting list */
	int src; /* its source's slot while held, else -1 */
	bool running;
};

struct kh_lookupq_limits {
	unsigned running, waiting; /* all sources */
	unsigned source_running, source_waiting; /* each source */
};

enum kh_lookupq_verdict {
	KH_LQ_RUN, /* start it now (it counts as running) */
	KH_LQ_WAIT, /* queued: kh_lookupq_next() hands it out later */
	KH_LQ_SOURCE_FULL, /* refused: this source has too many waiting */
	KH_LQ_FULL, /* refused: too many waiting (or sources) overall */
};

/* Sources at once are capped by KH_RESOLVER_SOURCES. NULL if out of memory. */
struct kh_lookupq *kh_lookupq_new(const struct kh_lookupq_limits *lim);
void kh_lookupq_free(struct kh_lookupq *q); /* NULL-safe; items are not touched */

/* source is cut to KH_SOURCE_MAX - 1 bytes; "" is a source like any other. */
enum kh_lookupq_verdict kh_lookupq_submit(struct kh_lookupq *q, struct kh_lookupq_item *it,
					  const char *source);

/* true: it was waiting and is gone (never handed out); false: it is running
 * and stays counted until kh_lookupq_done(). */
bool kh_lookupq_cancel(struct kh_lookupq *q, struct kh_lookupq_item *it);

/* A running item finished (answered, failed or abandoned). */
void kh_lookupq_done(struct kh_lookupq *q, struct kh_lookupq_item *it);

/* The next waiting item that may run now (marked running), fairly across
 * sources; NULL if none may. Call it until NULL after each done/cancel. */
struct kh_lookupq_item *kh_lookupq_next(struct kh_lookupq *q);

#endif
