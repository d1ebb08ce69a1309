#include <stdio.h>
#include <stdlib.h>

#include "proxy/auditlimit.h"
#include "base/kh_limits.h"
#include "tap.h"

/* What emit() was given, in order. */
struct seen {
	char reason[48], host[64], client[64], detail[KH_DETAIL_MAX];
	uint64_t repeated, distinct, interval_ms;
};

static struct seen out[4096];
static size_t n_out;

static void emit(const struct kh_audit_rec *r, void *arg)
{
	struct seen *s = &out[n_out < 4096 ? n_out++ : 4095];

	(void)arg;
	snprintf(s->reason, sizeof s->reason, "%s", r->reason);
	snprintf(s->host, sizeof s->host, "%s", r->host);
	snprintf(s->client, sizeof s->client, "%s", r->client);
	snprintf(s->detail, sizeof s->detail, "%s", r->detail ? r->detail : "");
	s->repeated = r->repeated;
	s->distinct = r->distinct;
	s->interval_ms = r->interval_ms;
}

static struct kh_auditlimit *fresh(void)
{
	n_out = 0;
	return kh_auditlimit_new(emit, NULL);
}

static struct kh_audit_rec refusal(const char *reason, const char *host)
{
	return (struct kh_audit_rec){ .client = "unix:pid=7",
				      .mode = "dns",
				      .method = "-",
				      .host = host,
				      .decision = "deny",
				      .reason = reason,
				      .detail = "name is not on the allowlist; answered NXDOMAIN",
				      .sandbox = "sandbox-1" };
}

/* Refusals of one kind: n, each to a different host unless same_host. */
static unsigned send_n(struct kh_auditlimit *l, const char *src, const char *reason, unsigned n,
		       uint64_t now, bool same_host)
{
	unsigned whole = 0;
	char host[64];

	for (unsigned i = 0; i < n; i++) {
		struct kh_audit_rec r;

		snprintf(host, sizeof host, "n%u.evil.test", same_host ? 0 : i);
		r = refusal(reason, host);
		whole += kh_auditlimit_admit(l, src, &r, now);
	}
	return whole;
}

static void whole_then_folded(void)
{
	struct kh_auditlimit *l = fresh();

	CHECK_INT(send_n(l, "sb", "dns_not_allowed", 100, 5000, false), KH_AUDIT_FOLD_WHOLE);
	CHECK_INT(n_out, 0); /* the caller writes the whole ones */
	CHECK_INT(kh_auditlimit_next_due(l), 5000 + KH_AUDIT_FOLD_MS);
	CHECK_INT(kh_auditlimit_tick(l, 5999, false), 6000); /* not yet */
	CHECK_INT(n_out, 0);
	CHECK_INT(kh_auditlimit_tick(l, 6000, false), 0);
	CHECK_INT(n_out, 1);
	CHECK_STR(out[0].reason, "dns_not_allowed");
	CHECK_STR(out[0].host, "n8.evil.test"); /* the first one folded */
	CHECK_STR(out[0].client, "unix:pid=7");
	CHECK_INT(out[0].repeated, 100 - KH_AUDIT_FOLD_WHOLE);
	CHECK_INT(out[0].distinct, KH_AUDIT_FOLD_DISTINCT); /* 92 different: counted up to 64 */
	CHECK_INT(out[0].interval_ms, KH_AUDIT_FOLD_MS);
	CHECK(strstr(out[0].detail, "92 refusals") != NULL);
	/* a new window: whole records again */
	CHECK_INT(send_n(l, "sb", "dns_not_allowed", 3, 6001, true), 3);
	kh_auditlimit_free(l);
}

static void repeats_of_one_name(void)
{
	struct kh_auditlimit *l = fresh();

	send_n(l, "sb", "dns_not_allowed", 50, 0, true);
	kh_auditlimit_tick(l, 2000, false);
	CHECK_INT(n_out, 1);
	CHECK_INT(out[0].repeated, 50 - KH_AUDIT_FOLD_WHOLE);
	CHECK_INT(out[0].distinct, 1);
	kh_auditlimit_free(l);
}

/* A late refusal of a kind closes the window that ended before it. */
static void window_closed_by_next_refusal(void)
{
	struct kh_auditlimit *l = fresh();

	send_n(l, "sb", "dns_not_allowed", 10, 100, false);
	CHECK_INT(send_n(l, "sb", "dns_not_allowed", 1, 1100, false), 1);
	CHECK_INT(n_out, 1);
	CHECK_INT(out[0].repeated, 2);
	kh_auditlimit_free(l);
}

static void kinds_and_sources_apart(void)
{
	struct kh_auditlimit *l = fresh();

	CHECK_INT(send_n(l, "a", "dns_not_allowed", 20, 0, false), KH_AUDIT_FOLD_WHOLE);
	CHECK_INT(send_n(l, "a", "token_leak_attempt", 20, 0, false), KH_AUDIT_FOLD_WHOLE);
	CHECK_INT(send_n(l, "b", "dns_not_allowed", 20, 0, false), KH_AUDIT_FOLD_WHOLE);
	CHECK_INT(kh_auditlimit_tick(l, 1000, false), 0);
	CHECK_INT(n_out, 3);
	for (size_t i = 0; i < n_out; i++)
		CHECK_INT(out[i].repeated, 20 - KH_AUDIT_FOLD_WHOLE);
	kh_auditlimit_free(l);
}

/* A refusal record as long as a record can be. */
static struct kh_audit_rec longest_refusal(void)
{
	static char big[KH_AUDIT_LINE_MAX];

	memset(big, 'x', sizeof big - 1);
	return refusal("host_not_allowed", big);
}

/* Eight of the longest refusals from source "c" at time 0: how many were
 * written whole before the byte budget ran out. */
static unsigned spend_budget(struct kh_auditlimit *l, struct kh_audit_rec *r)
{
	unsigned whole = 0;

	for (int i = 0; i < 8; i++)
		whole += kh_auditlimit_admit(l, "c", r, 0);
	return whole;
}

/* Long records spend the byte budget first; it refills with time. */
static void byte_budget(void)
{
	struct kh_auditlimit *l = fresh();
	struct kh_audit_rec r = longest_refusal();
	unsigned whole;

	CHECK_INT(kh_auditlimit_cost(&r), KH_AUDIT_LINE_MAX);
	CHECK_INT(spend_budget(l, &r), KH_AUDIT_SOURCE_BYTES / KH_AUDIT_LINE_MAX);
	/* half a second refills half the budget: one window still open */
	whole = 0;
	r.reason = "bad_request";
	for (int i = 0; i < 8; i++)
		whole += kh_auditlimit_admit(l, "c", &r, 500);
	CHECK_INT(whole, KH_AUDIT_SOURCE_BYTES / 2 / KH_AUDIT_LINE_MAX);
	kh_auditlimit_free(l);
}

/* Cheap refusals that spend a source's whole byte budget do not hide its token
 * leak attempts: those are still written whole, up to the window's count. */
static void leak_attempts_beyond_budget(void)
{
	struct kh_auditlimit *l = fresh();
	struct kh_audit_rec r = longest_refusal();
	unsigned whole = 0;

	spend_budget(l, &r);
	CHECK(!kh_auditlimit_admit(l, "c", &r, 0)); /* the budget is spent */
	r = refusal("token_leak_attempt", "keyhole-openai-0123.evil.test");
	for (int i = 0; i < 20; i++)
		whole += kh_auditlimit_admit(l, "c", &r, 0);
	CHECK_INT(whole, KH_AUDIT_FOLD_WHOLE);
	kh_auditlimit_free(l);
}

/* More kinds at once than slots: the rest share one "audit_folded" record. */
static void kinds_overflow(void)
{
	struct kh_auditlimit *l = fresh();
	char reason[32];

	for (int k = 0; k < KH_AUDIT_FOLD_KINDS + 4; k++) {
		snprintf(reason, sizeof reason, "reason_%d", k);
		send_n(l, "s", reason, 40, 0, false);
	}
	kh_auditlimit_tick(l, 1000, false);
	CHECK_INT(n_out, KH_AUDIT_FOLD_KINDS + 1);
	CHECK_STR(out[n_out - 1].reason, "audit_folded");
	CHECK(strstr(out[n_out - 1].detail, "reason_8") != NULL);
	kh_auditlimit_free(l);
}

/* A source pushed out of the table has its pending fold written first. */
static void source_eviction_keeps_counts(void)
{
	struct kh_auditlimit *l = fresh();
	char src[32];

	send_n(l, "first", "dns_not_allowed", 30, 0, false);
	for (int i = 0; i < KH_AUDIT_SOURCES; i++) {
		snprintf(src, sizeof src, "s%d", i);
		send_n(l, src, "dns_not_allowed", 1, 10 + (uint64_t)i, false);
	}
	CHECK_INT(n_out, 1);
	CHECK_INT(out[0].repeated, 30 - KH_AUDIT_FOLD_WHOLE);
	CHECK(out[0].interval_ms < KH_AUDIT_FOLD_MS);
	kh_auditlimit_free(l);
}

static void flush_all_at_exit(void)
{
	struct kh_auditlimit *l = fresh();

	send_n(l, "s", "dns_not_allowed", 12, 100, false);
	CHECK_INT(kh_auditlimit_tick(l, 400, true), 0);
	CHECK_INT(n_out, 1);
	CHECK_INT(out[0].repeated, 4);
	CHECK_INT(out[0].interval_ms, 300);
	kh_auditlimit_free(l);
}

static uint64_t out_bytes(size_t from)
{
	uint64_t n = 0;

	for (size_t i = from; i < n_out; i++) {
		struct kh_audit_rec r = refusal(out[i].reason, out[i].host);

		r.detail = out[i].detail;
		n += kh_auditlimit_cost(&r) + 40; /* + the three fold fields */
	}
	return n;
}

/* The flood: 20,000 refused names in 3 s, every one accounted for,
 * in a few kilobytes. */
static void flood_is_bounded_and_counted(void)
{
	struct kh_auditlimit *l = fresh();
	uint64_t whole = 0, folded = 0, bytes = 0;
	struct kh_audit_rec r;
	char host[64];

	for (unsigned i = 0; i < 20000; i++) {
		snprintf(host, sizeof host, "x%u.evil.test", i);
		r = refusal(i % 7 == 0 ? "token_leak_attempt" : "dns_not_allowed", host);
		if (kh_auditlimit_admit(l, "sandbox-1", &r, i * 3000ull / 20000)) {
			whole++;
			bytes += kh_auditlimit_cost(&r);
		}
		if (i % 100 == 0)
			kh_auditlimit_tick(l, i * 3000ull / 20000, false);
	}
	kh_auditlimit_tick(l, 3000, true);
	for (size_t i = 0; i < n_out; i++)
		folded += out[i].repeated;
	CHECK_INT(whole + folded, 20000);
	bytes += out_bytes(0);
	CHECK(bytes < 65536); /* a record per refusal would be ~8 MB */
	CHECK(whole <= 3 * 2 * KH_AUDIT_FOLD_WHOLE);
	kh_auditlimit_free(l);
}

int main(void)
{
	RUN(whole_then_folded);
	RUN(repeats_of_one_name);
	RUN(window_closed_by_next_refusal);
	RUN(kinds_and_sources_apart);
	RUN(byte_budget);
	RUN(leak_attempts_beyond_budget);
	RUN(kinds_overflow);
	RUN(source_eviction_keeps_counts);
	RUN(flush_all_at_exit);
	RUN(flood_is_bounded_and_counted);
	TAP_DONE();
}
