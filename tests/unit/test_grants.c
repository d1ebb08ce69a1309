/* Sandbox token grants: labels, the token's shape, states (revoked, expired,
 * budget), an exact budget under two racing threads, persistence (revoked
 * state and counts survive a reload, long-dead grants are forgotten, a bad
 * file is refused), a full registry, and the policy built with grants. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/ctl_client.h"
#include "base/fsutil.h"
#include "policy/grants.h"
#include "policy/policy.h"
#include "tap.h"
#include "mapping_fixture.h"

#define NOW 1800000000LL

static void labels(void)
{
	CHECK(kh_grant_label_valid("job-42"));
	CHECK(kh_grant_label_valid("docker-agent.1-77"));
	CHECK(!kh_grant_label_valid(""));
	CHECK(!kh_grant_label_valid("-x"));
	CHECK(!kh_grant_label_valid("a/b"));
	CHECK(!kh_grant_label_valid("a b"));
	CHECK(!kh_grant_label_valid("x\x1b[31m"));
	char long_label[KH_GRANT_LABEL_MAX + 1];

	memset(long_label, 'a', sizeof long_label - 1);
	long_label[sizeof long_label - 1] = '\0';
	CHECK(!kh_grant_label_valid(long_label));
	long_label[KH_GRANT_LABEL_MAX - 1] = '\0';
	CHECK(kh_grant_label_valid(long_label));
}

static void issue_states(void)
{
	struct kh_grants g;
	struct kh_err err = { "" };
	struct kh_mapping m = openai();
	struct kh_grant *a = NULL, *b = NULL;
	struct kh_grant_req ra = { "job-a", 60, 0, 0 }, rb = { "job-b", 0, 2, 0 };

	CHECK_INT(kh_grants_init(&g, 4, NULL, NOW, &err), 0);
	CHECK_INT(kh_grants_issue(&g, &m, &ra, NOW, &a, &err), 0);
	CHECK_INT(kh_grants_issue(&g, &m, &rb, NOW, &b, &err), 0);
	CHECK(strncmp(a->token, "keyhole-openai-", 15) == 0 && kh_token_valid(a->token));
	CHECK_INT(strlen(a->token), strlen(m.proxy_token));
	CHECK(strcmp(a->token, b->token) != 0 && strcmp(a->token, m.proxy_token) != 0);
	CHECK_INT(a->expires, NOW + 60);
	CHECK_INT(b->expires, 0);

	CHECK_INT(kh_grant_use(a, a->token, NOW + 59), KH_GRANT_OK);
	CHECK_INT(kh_grant_use(a, a->token, NOW + 60), KH_GRANT_EXPIRED);
	CHECK_INT(kh_grant_use(a, b->token, NOW), KH_GRANT_REVOKED); /* slot reused */
	CHECK_INT(kh_grant_use(b, b->token, NOW), KH_GRANT_OK);
	CHECK_INT(kh_grant_use(b, b->token, NOW), KH_GRANT_OK);
	CHECK_INT(kh_grant_use(b, b->token, NOW), KH_GRANT_EXHAUSTED);
	CHECK_INT(atomic_load(&b->used), 2);
	CHECK_INT(kh_grant_state(b, NOW), KH_GRANT_EXHAUSTED);

	CHECK_INT(kh_grants_revoke(&g, NULL, "job-a", NOW, &err), 1);
	CHECK_INT(kh_grants_revoke(&g, NULL, "job-a", NOW, &err), 0); /* already */
	CHECK_INT(kh_grant_use(a, a->token, NOW), KH_GRANT_REVOKED);
	CHECK_INT(kh_grants_revoke(&g, b->token, NULL, NOW, &err), 1);
	CHECK_STR(kh_grant_state_name(kh_grant_state(b, NOW)), "revoked");

	struct kh_grant_req bad = { "no/slash", 0, 0, 0 };
	struct kh_grant *c = NULL;

	CHECK_INT(kh_grants_issue(&g, &m, &bad, NOW, &c, &err), -1);
	CHECK(strstr(err.msg, "label") != NULL);
	kh_grants_free(&g);
}

static void full_registry(void)
{
	struct kh_grants g;
	struct kh_err err = { "" };
	struct kh_mapping m = openai();
	struct kh_grant *gr;
	struct kh_grant_req r = { "x", 0, 0, 0 };

	CHECK_INT(kh_grants_init(&g, 2, NULL, NOW, &err), 0);
	CHECK_INT(kh_grants_issue(&g, &m, &r, NOW, &gr, &err), 0);
	CHECK_INT(kh_grants_issue(&g, &m, &r, NOW, &gr, &err), 0);
	CHECK_INT(kh_grants_issue(&g, &m, &r, NOW, &gr, &err), -1);
	CHECK(strstr(err.msg, "revoke") != NULL);
	/* a revoked one is kept (its token still gets 401) until it is long dead */
	CHECK_INT(kh_grants_revoke(&g, gr->token, NULL, NOW, &err), 1);
	CHECK_INT(kh_grants_issue(&g, &m, &r, NOW + 10, &gr, &err), -1);
	CHECK_INT(kh_grants_issue(&g, &m, &r, NOW + KH_GRANT_TOMBSTONE_SECS + 1, &gr, &err), -1);
	CHECK_INT(kh_grants_issue(&g, &m, &r, NOW + 2 * KH_GRANT_TOMBSTONE_SECS + 1, &gr, &err), 0);
	kh_grants_free(&g);
}

struct racer {
	struct kh_grant *gr;
	int ok;
};

static void *race(void *arg)
{
	struct racer *r = arg;

	for (int i = 0; i < 20000; i++)
		r->ok += kh_grant_use(r->gr, r->gr->token, NOW) == KH_GRANT_OK;
	return NULL;
}

static void budget_is_exact_under_races(void)
{
	struct kh_grants g;
	struct kh_err err = { "" };
	struct kh_mapping m = openai();
	struct kh_grant_req r = { "raced", 0, 12345, 0 };
	struct racer a = { 0 }, b = { 0 };
	pthread_t ta, tb;

	CHECK_INT(kh_grants_init(&g, 1, NULL, NOW, &err), 0);
	CHECK_INT(kh_grants_issue(&g, &m, &r, NOW, &a.gr, &err), 0);
	b.gr = a.gr;
	pthread_create(&ta, NULL, race, &a);
	pthread_create(&tb, NULL, race, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	CHECK_INT(a.ok + b.ok, 12345);
	CHECK_INT(atomic_load(&a.gr->used), 12345);
	kh_grants_free(&g);
}

static void persistence(void)
{
	char dir[] = "/tmp/kh-grants-XXXXXX", path[256], tok[KH_TOKEN_MAX];
	struct kh_grants g;
	struct kh_err err = { "" };
	struct kh_mapping m = openai();
	struct kh_grant *a, *b, *old;
	struct kh_grant_req ra = { "live", 3600, 5, 0 }, rb = { "gone", 0, 0, 0 },
			    ro = { "old", 0, 0, 0 };
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/grants.json", dir);
	CHECK_INT(kh_grants_init(&g, 8, path, NOW, &err), 0);
	CHECK_INT(kh_grants_issue(&g, &m, &ra, NOW, &a, &err), 0);
	CHECK_INT(kh_grants_issue(&g, &m, &rb, NOW, &b, &err), 0);
	CHECK_INT(kh_grants_issue(&g, &m, &ro, NOW - 3 * KH_GRANT_TOMBSTONE_SECS, &old, &err), 0);
	CHECK_INT(kh_grant_use(a, a->token, NOW), KH_GRANT_OK);
	snprintf(tok, sizeof tok, "%s", a->token);
	CHECK_INT(kh_grants_revoke(&g, NULL, "gone", NOW, &err), 1);
	CHECK_INT(kh_grants_revoke(&g, NULL, "old", NOW - 2 * KH_GRANT_TOMBSTONE_SECS, &err), 1);
	kh_grants_free(&g);

	CHECK_INT(kh_grants_init(&g, 8, path, NOW, &err), 0);
	size_t n = 0;

	for (size_t i = 0; i < g.cap; i++)
		n += g.v[i].in_use;
	CHECK_INT(n, 2); /* "old" ended long ago: forgotten */
	CHECK_STR(g.v[0].label, "live");
	CHECK_STR(g.v[0].token, tok);
	CHECK_INT(g.v[0].budget, 5);
	CHECK_INT(atomic_load(&g.v[0].used), 1);
	CHECK_INT(g.v[0].expires, NOW + 3600);
	CHECK_INT(kh_grant_state(&g.v[1], NOW), KH_GRANT_REVOKED);
	kh_grants_free(&g);

	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("{\"version\":1,\"grants\":[{\"token\":\"nope\"}]}", f);
	fclose(f);
	CHECK_INT(kh_grants_init(&g, 8, path, NOW, &err), -1);
	CHECK(strstr(err.msg, "malformed") != NULL);
	kh_grants_free(&g);
	unlink(path);
	rmdir(dir);
}

/* Requests move the budget counts without writing grants.json (the data
 * path never waits for the disk); kh_grants_save writes them when, and only
 * when, they changed since the last write, and a reload finds them. */
static void counts_saved_when_changed(void)
{
	char dir[] = "/tmp/kh-grants-XXXXXX", path[256];
	struct kh_grants g;
	struct kh_err err = { "" };
	struct kh_mapping m = openai();
	struct kh_grant *a;
	struct kh_grant_req r = { "budgeted", 0, 3, 0 };

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/grants.json", dir);
	CHECK_INT(kh_grants_init(&g, 4, path, NOW, &err), 0);
	CHECK_INT(kh_grants_issue(&g, &m, &r, NOW, &a, &err), 0);
	CHECK(a->owner == &g);
	CHECK_INT(kh_grant_use(a, a->token, NOW), KH_GRANT_OK);
	CHECK_INT(kh_grant_use(a, a->token, NOW), KH_GRANT_OK);
	CHECK_INT(unlink(path), 0); /* written by the issue */
	CHECK_INT(kh_grants_save(&g, &err), 0);
	CHECK(kh_fs_exists(path)); /* the counts changed */
	CHECK_INT(unlink(path), 0);
	CHECK_INT(kh_grants_save(&g, &err), 0);
	CHECK(!kh_fs_exists(path)); /* nothing changed since */
	CHECK_INT(kh_grant_use(a, a->token, NOW), KH_GRANT_OK);
	CHECK_INT(kh_grant_use(a, a->token, NOW), KH_GRANT_EXHAUSTED); /* not counted */
	CHECK_INT(kh_grants_save(&g, &err), 0);
	kh_grants_free(&g);

	CHECK_INT(kh_grants_init(&g, 4, path, NOW, &err), 0);
	CHECK_INT(atomic_load(&g.v[0].used), 3);
	CHECK_INT(kh_grant_state(&g.v[0], NOW), KH_GRANT_EXHAUSTED);
	CHECK_INT(kh_grant_use(&g.v[0], g.v[0].token, NOW), KH_GRANT_EXHAUSTED);
	CHECK(g.v[0].owner == &g);
	CHECK_INT(unlink(path), 0);
	CHECK_INT(kh_grants_save(&g, &err), 0);
	CHECK(!kh_fs_exists(path)); /* loaded counts are the saved ones */
	kh_grants_free(&g);
	rmdir(dir);
}

static void pid_bindings(void)
{
	struct kh_grants g;
	struct kh_err err = { "" };
	char label[KH_GRANT_LABEL_MAX];

	CHECK_INT(kh_grants_init(&g, 2, NULL, NOW, &err), 0);
	CHECK(!kh_grants_label_of(&g, 42, label));
	CHECK_INT(kh_grants_bind(&g, "sandbox-1", 42, &err), 0);
	CHECK_INT(kh_grants_bind(&g, "sandbox-2", 43, &err), 0);
	CHECK(kh_grants_label_of(&g, 42, label));
	CHECK_STR(label, "sandbox-1");
	CHECK_INT(kh_grants_bind(&g, "sandbox-3", 42, &err), 0); /* the pid was reused */
	CHECK(kh_grants_label_of(&g, 42, label));
	CHECK_STR(label, "sandbox-3");
	CHECK_INT(kh_grants_bind(&g, "bad/label", 44, &err), -1);
	CHECK_INT(kh_grants_bind(&g, "ok", 0, &err), -1);
	/* revoking a label forgets its pids, even with no grant to revoke */
	CHECK_INT(kh_grants_revoke(&g, NULL, "sandbox-2", NOW, &err), 0);
	CHECK(!kh_grants_label_of(&g, 43, label));
	CHECK(kh_grants_label_of(&g, 42, label));
	for (pid_t p = 100; p < 100 + KH_MAX_GRANT_BINDS - 1; p++)
		CHECK_INT(kh_grants_bind(&g, "many", p, &err), 0);
	CHECK_INT(kh_grants_bind(&g, "one-more", 99999, &err), -1);
	kh_grants_free(&g);
}

static void ttl_parsing(void)
{
	CHECK_INT(kh_ctl_parse_ttl("90"), 90);
	CHECK_INT(kh_ctl_parse_ttl("90s"), 90);
	CHECK_INT(kh_ctl_parse_ttl("30m"), 1800);
	CHECK_INT(kh_ctl_parse_ttl("1h"), 3600);
	CHECK_INT(kh_ctl_parse_ttl("7d"), 7 * 86400);
	CHECK_INT(kh_ctl_parse_ttl("none"), 0);
	CHECK_INT(kh_ctl_parse_ttl("0"), 0);
	CHECK_INT(kh_ctl_parse_ttl("367d"), -1);
	CHECK_INT(kh_ctl_parse_ttl("-1"), -1);
	CHECK_INT(kh_ctl_parse_ttl("1x"), -1);
	CHECK_INT(kh_ctl_parse_ttl("h"), -1);
	CHECK_INT(kh_ctl_parse_ttl("99999999999999999999"), -1);
}

#define MAPPINGS                                                                               \
	"{\"version\":1,\"tokens\":[{\"proxy_token\":"                                         \
	"\"keyhole-openai-0123456789abcdef0123456789abcdef\",\"env_name\":\"OPENAI_API_KEY\"," \
	"\"upstream_hosts\":[\"api.openai.com\"]}]}"

/* The policy knows a grant's token as its mapping's credential, with the
 * grant attached; a grant whose mapping is gone is unknown. */
static void policy_with_grants(void)
{
	struct kh_config cfg;
	struct kh_mappings maps = { 0 };
	struct kh_secrets s = { 0 };
	struct kh_grants g;
	struct kh_err err = { "" };
	struct kh_mapping m = openai(), other = openai();
	struct kh_grant *a, *orphan;
	struct kh_grant_req r = { "p", 0, 0, 0 };
	const char *names[] = { "OPENAI_API_KEY" };
	struct kh_policy *p;
	const struct kh_cred *c;

	snprintf(other.env_name, sizeof other.env_name, "GONE_API_KEY");
	CHECK_INT(kh_config_load("/nonexistent/config.yaml", &cfg, &err), 0);
	CHECK_INT(kh_mappings_parse(MAPPINGS, strlen(MAPPINGS), &maps, &err), 0);
	setenv("OPENAI_API_KEY", "sk-unit-test-secret", 1);
	CHECK_INT(kh_secrets_load_env(&s, names, 1, &err), 0);
	CHECK_INT(kh_grants_init(&g, 4, NULL, NOW, &err), 0);
	CHECK_INT(kh_grants_issue(&g, &m, &r, NOW, &a, &err), 0);
	CHECK_INT(kh_grants_issue(&g, &other, &r, NOW, &orphan, &err), 0);
	p = kh_policy_build_with_grants(&cfg, &maps, &s, NULL, &g, &err);
	CHECK(p != NULL);
	if (p != NULL) {
		CHECK_INT(p->n_creds, 2);
		CHECK_INT(p->n_grant_creds, 1);
		c = kh_policy_token_exact(p, kh_slice_cstr(a->token));
		CHECK(c != NULL && c->grant == a && c->secret != NULL);
		CHECK(c != NULL && kh_cred_host_ok(c, "api.openai.com"));
		CHECK(kh_policy_token_exact(p, kh_slice_cstr(orphan->token)) == NULL);
		c = kh_policy_token_exact(p, kh_slice_cstr(m.proxy_token));
		CHECK(c != NULL && c->grant == NULL);
		kh_policy_unref(p);
	}
	kh_grants_free(&g);
	kh_mappings_free(&maps);
	kh_config_free(&cfg);
}

int main(void)
{
	RUN(labels);
	RUN(issue_states);
	RUN(full_registry);
	RUN(budget_is_exact_under_races);
	RUN(persistence);
	RUN(counts_saved_when_changed);
	RUN(pid_bindings);
	RUN(ttl_parsing);
	RUN(policy_with_grants);
	TAP_DONE();
}
