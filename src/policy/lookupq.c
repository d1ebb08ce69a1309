#include "policy/lookupq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/kh_limits.h"

#define NSRC KH_RESOLVER_SOURCES

struct source {
	char name[KH_SOURCE_MAX];
	unsigned running, waiting;
	struct kh_lookupq_item *head, *tail; /* waiting, oldest first */
	int hnext; /* next in its hash bucket, or in the free list */
	int rnext, rprev; /* ring of sources with waiting items; -1 when not in it */
};

struct kh_lookupq {
	struct kh_lookupq_limits lim;
	unsigned running, waiting;
	int bucket[NSRC]; /* hash of name -> first source slot, -1 */
	int free_slot; /* free list through hnext, -1 when all are used */
	int ring; /* the source whose turn is next, -1 when nobody waits */
	struct source src[NSRC];
};

struct kh_lookupq *kh_lookupq_new(const struct kh_lookupq_limits *lim)
{
	struct kh_lookupq *q = calloc(1, sizeof *q);

	if (q == NULL)
		return NULL;
	q->lim = *lim;
	q->ring = -1;
	for (int i = 0; i < NSRC; i++) {
		q->bucket[i] = -1;
		q->src[i].hnext = i + 1 < NSRC ? i + 1 : -1;
		q->src[i].rnext = q->src[i].rprev = -1;
	}
	q->free_slot = 0;
	return q;
}

void kh_lookupq_free(struct kh_lookupq *q)
{
	free(q);
}

/* --- sources --- */

static unsigned hash(const char *s)
{
	unsigned h = 2166136261u; /* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % NSRC;
}

/* The slot of source name, made if new; -1 if every slot is taken. */
static int source_slot(struct kh_lookupq *q, const char *name)
{
	char key[KH_SOURCE_MAX];
	unsigned b;
	int i;

	snprintf(key, sizeof key, "%s", name);
	b = hash(key);
	for (i = q->bucket[b]; i >= 0; i = q->src[i].hnext)
		if (strcmp(q->src[i].name, key) == 0)
			return i;
	if ((i = q->free_slot) < 0)
		return -1;
	q->free_slot = q->src[i].hnext;
	memset(&q->src[i], 0, sizeof q->src[i]);
	memcpy(q->src[i].name, key, sizeof key);
	q->src[i].rnext = q->src[i].rprev = -1;
	q->src[i].hnext = q->bucket[b];
	q->bucket[b] = i;
	return i;
}

/* Gives the slot back once nothing of the source is held. */
static void release(struct kh_lookupq *q, int i)
{
	struct source *s = &q->src[i];
	int *link = &q->bucket[hash(s->name)];

	if (s->running > 0 || s->waiting > 0)
		return;
	while (*link != i)
		link = &q->src[*link].hnext;
	*link = s->hnext;
	s->hnext = q->free_slot;
	q->free_slot = i;
}

static void ring_add(struct kh_lookupq *q, int i)
{
	struct source *s = &q->src[i];

	if (q->ring < 0) {
		s->rnext = s->rprev = i;
		q->ring = i;
		return;
	}
	/* just before the one whose turn is next: the last to be served */
	s->rnext = q->ring;
	s->rprev = q->src[q->ring].rprev;
	q->src[s->rprev].rnext = i;
	q->src[q->ring].rprev = i;
}

static void ring_remove(struct kh_lookupq *q, int i)
{
	struct source *s = &q->src[i];

	if (s->rnext == i) {
		q->ring = -1;
	} else {
		q->src[s->rprev].rnext = s->rnext;
		q->src[s->rnext].rprev = s->rprev;
		if (q->ring == i)
			q->ring = s->rnext;
	}
	s->rnext = s->rprev = -1;
}

/* --- items --- */

static void unlink_waiting(struct kh_lookupq *q, struct kh_lookupq_item *it)
{
	struct source *s = &q->src[it->src];

	if (it->prev != NULL)
		it->prev->next = it->next;
	else
		s->head = it->next;
	if (it->next != NULL)
		it->next->prev = it->prev;
	else
		s->tail = it->prev;
	it->prev = it->next = NULL;
	s->waiting--;
	q->waiting--;
	if (s->waiting == 0)
		ring_remove(q, it->src);
}

static void start(struct kh_lookupq *q, struct kh_lookupq_item *it)
{
	it->running = true;
	q->src[it->src].running++;
	q->running++;
}

enum kh_lookupq_verdict kh_lookupq_submit(struct kh_lookupq *q, struct kh_lookupq_item *it,
					  const char *source)
{
	int i = source_slot(q, source);
	struct source *s;

	*it = (struct kh_lookupq_item){ .src = -1 };
	if (i < 0)
		return KH_LQ_FULL;
	s = &q->src[i];
	it->src = i;
	if (s->waiting == 0 && s->running < q->lim.source_running && q->running < q->lim.running) {
		start(q, it);
		return KH_LQ_RUN;
	}
	if (s->waiting >= q->lim.source_waiting || q->waiting >= q->lim.waiting) {
		it->src = -1;
		release(q, i);
		return s->waiting >= q->lim.source_waiting ? KH_LQ_SOURCE_FULL : KH_LQ_FULL;
	}
	it->prev = s->tail;
	if (s->tail != NULL)
		s->tail->next = it;
	else
		s->head = it;
	s->tail = it;
	if (s->waiting++ == 0)
		ring_add(q, i);
	q->waiting++;
	return KH_LQ_WAIT;
}

bool kh_lookupq_cancel(struct kh_lookupq *q, struct kh_lookupq_item *it)
{
	int i = it->src;

	if (i < 0 || it->running)
		return false;
	unlink_waiting(q, it);
	it->src = -1;
	release(q, i);
	return true;
}

void kh_lookupq_done(struct kh_lookupq *q, struct kh_lookupq_item *it)
{
	int i = it->src;

	if (i < 0 || !it->running)
		return;
	it->running = false;
	it->src = -1;
	q->src[i].running--;
	q->running--;
	release(q, i);
}

/* The waiting source with the fewest running, ties going to the one whose
 * turn comes first; -1 if each is at its cap. */
static int pick_source(const struct kh_lookupq *q)
{
	int i = q->ring, best = -1;

	do {
		const struct source *s = &q->src[i];

		if (s->running < q->lim.source_running &&
		    (best < 0 || s->running < q->src[best].running))
			best = i;
		i = s->rnext;
	} while (i != q->ring);
	return best;
}

struct kh_lookupq_item *kh_lookupq_next(struct kh_lookupq *q)
{
	struct kh_lookupq_item *it;
	int i, after;

	if (q->ring < 0 || q->running >= q->lim.running || (i = pick_source(q)) < 0)
		return NULL;
	it = q->src[i].head;
	after = q->src[i].rnext;
	unlink_waiting(q, it); /* may take the source out of the ring */
	if (q->ring >= 0)
		q->ring = after; /* the turn passes to the source after it */
	start(q, it);
	return it;
}
