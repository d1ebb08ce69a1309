#include <stdio.h>

#include "base/kh_limits.h"
#include "policy/lookupq.h"
#include "tap.h"

static struct kh_lookupq_item it[600];

static struct kh_lookupq *make(unsigned running, unsigned waiting, unsigned src_running,
			       unsigned src_waiting)
{
	struct kh_lookupq_limits lim = { running, waiting, src_running, src_waiting };

	return kh_lookupq_new(&lim);
}

/* A flooding source waits behind itself; another source starts at once. */
static void flood_does_not_block_others(void)
{
	struct kh_lookupq *q = make(256, 4096, 8, 128);
	unsigned run = 0, wait = 0, refused = 0;

	for (int i = 0; i < 200; i++) {
		enum kh_lookupq_verdict v = kh_lookupq_submit(q, &it[i], "client-a");

		run += v == KH_LQ_RUN;
		wait += v == KH_LQ_WAIT;
		refused += v == KH_LQ_SOURCE_FULL;
	}
	CHECK_INT(run, 8);
	CHECK_INT(wait, 128);
	CHECK_INT(refused, 64);
	CHECK_INT(kh_lookupq_submit(q, &it[300], "client-b"), KH_LQ_RUN);
	CHECK(kh_lookupq_next(q) == NULL); /* a is at its cap */
	/* one of a's ends: its next one (in order) takes the slot */
	kh_lookupq_done(q, &it[0]);
	CHECK(kh_lookupq_next(q) == &it[8]);
	CHECK(kh_lookupq_next(q) == NULL);
	kh_lookupq_free(q);
}

/* With the global cap reached, a freed slot goes to the source with the
 * fewest running, not to the one that queued first. */
static void freed_slot_goes_to_the_least_served(void)
{
	struct kh_lookupq *q = make(2, 100, 2, 50);

	for (int i = 0; i < 5; i++)
		kh_lookupq_submit(q, &it[i], "a"); /* 0,1 run; 2,3,4 wait */
	CHECK_INT(kh_lookupq_submit(q, &it[10], "b"), KH_LQ_WAIT);
	CHECK_INT(kh_lookupq_submit(q, &it[11], "b"), KH_LQ_WAIT);
	kh_lookupq_done(q, &it[0]);
	CHECK(kh_lookupq_next(q) == &it[10]); /* b had none running */
	CHECK(kh_lookupq_next(q) == NULL); /* global cap */
	kh_lookupq_done(q, &it[1]); /* a has none running now, b one */
	CHECK(kh_lookupq_next(q) == &it[2]);
	kh_lookupq_done(q, &it[2]);
	CHECK(kh_lookupq_next(q) == &it[3]);
	kh_lookupq_done(q, &it[10]); /* b none, a one */
	CHECK(kh_lookupq_next(q) == &it[11]);
	CHECK(kh_lookupq_next(q) == NULL);
	kh_lookupq_free(q);
}

/* A cancelled waiting lookup never runs; a cancelled running one keeps
 * counting until it ends, so cancelling cannot raise the cap. */
static void cancel(void)
{
	struct kh_lookupq *q = make(10, 100, 1, 50);

	CHECK_INT(kh_lookupq_submit(q, &it[0], "a"), KH_LQ_RUN);
	CHECK_INT(kh_lookupq_submit(q, &it[1], "a"), KH_LQ_WAIT);
	CHECK_INT(kh_lookupq_submit(q, &it[2], "a"), KH_LQ_WAIT);
	CHECK(kh_lookupq_cancel(q, &it[1]));
	CHECK(!kh_lookupq_cancel(q, &it[1])); /* already gone */
	CHECK(!kh_lookupq_cancel(q, &it[0])); /* running */
	CHECK(kh_lookupq_next(q) == NULL);
	CHECK_INT(kh_lookupq_submit(q, &it[3], "a"), KH_LQ_WAIT);
	kh_lookupq_done(q, &it[0]);
	CHECK(kh_lookupq_next(q) == &it[2]);
	kh_lookupq_done(q, &it[2]);
	CHECK(kh_lookupq_next(q) == &it[3]);
	kh_lookupq_done(q, &it[3]);
	CHECK(kh_lookupq_next(q) == NULL);
	kh_lookupq_free(q);
}

static void caps(void)
{
	struct kh_lookupq *q = make(1, 3, 1, 2);

	CHECK_INT(kh_lookupq_submit(q, &it[0], "a"), KH_LQ_RUN);
	CHECK_INT(kh_lookupq_submit(q, &it[1], "a"), KH_LQ_WAIT);
	CHECK_INT(kh_lookupq_submit(q, &it[2], "a"), KH_LQ_WAIT);
	CHECK_INT(kh_lookupq_submit(q, &it[3], "a"), KH_LQ_SOURCE_FULL);
	CHECK_INT(kh_lookupq_submit(q, &it[4], "b"), KH_LQ_WAIT); /* global running cap */
	CHECK_INT(kh_lookupq_submit(q, &it[5], "c"), KH_LQ_FULL); /* global waiting cap */
	CHECK(it[5].src == -1 && it[3].src == -1);
	kh_lookupq_free(q);
}

/* Sources come and go: a slot is given back when nothing of it is held,
 * and a table full of busy sources refuses a new one. */
static void sources_come_and_go(void)
{
	struct kh_lookupq *q = make(1000, 1000, 1, 1);
	char name[32];
	int ok = 0;

	for (int i = 0; i < 2 * KH_RESOLVER_SOURCES; i++) {
		snprintf(name, sizeof name, "10.0.%d.%d", i / 256, i % 256);
		ok += kh_lookupq_submit(q, &it[0], name) == KH_LQ_RUN;
		kh_lookupq_done(q, &it[0]);
	}
	CHECK_INT(ok, 2 * KH_RESOLVER_SOURCES);
	for (int i = 0; i < KH_RESOLVER_SOURCES; i++) {
		snprintf(name, sizeof name, "s%d", i);
		CHECK_INT(kh_lookupq_submit(q, &it[i], name), KH_LQ_RUN);
	}
	CHECK_INT(kh_lookupq_submit(q, &it[KH_RESOLVER_SOURCES], "one-more"), KH_LQ_FULL);
	kh_lookupq_done(q, &it[7]);
	CHECK_INT(kh_lookupq_submit(q, &it[KH_RESOLVER_SOURCES], "one-more"), KH_LQ_RUN);
	kh_lookupq_free(q);
}

int main(void)
{
	RUN(flood_does_not_block_others);
	RUN(freed_slot_goes_to_the_least_served);
	RUN(cancel);
	RUN(caps);
	RUN(sources_come_and_go);
	TAP_DONE();
}
