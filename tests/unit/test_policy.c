/* The policy snapshot, built from a real config, mappings and secrets: the
 * allowlist (defaults, extra hosts, mappings' hosts; wildcards, case and a
 * trailing dot through the normalizer every caller uses), ports, cleartext
 * hosts, denied addresses (IPv6 forms of an IPv4 address, pins), token
 * lookup (exact, never a prefix or a lookalike; scan), redaction, the
 * response scrubber's stand-in, grants, and reference counting. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/hostname.h"
#include "policy/grants.h"
#include "policy/policy.h"
#include "tap.h"

#define OPENAI_TOK "keyhole-openai-0123456789abcdef0123456789abcdef"
#define EX_TOK     "keyhole-example-key-fedcba9876543210fedcba9876543210"
#define AWS_TOK    "keyhole-aws-access-key-id-aaaabbbbccccddddeeeeffff00001111"
#define NOW        ((int64_t)time(NULL))

static const char *mappings_json =
	"{\"version\":1,\"tokens\":["
	"{\"proxy_token\":\"" OPENAI_TOK "\",\"env_name\":\"OPENAI_API_KEY\","
	"\"upstream_hosts\":[\"api.openai.com\"]},"
	"{\"proxy_token\":\"" EX_TOK "\",\"env_name\":\"EXAMPLE_KEY\","
	"\"upstream_hosts\":[\"*.Example.COM\"],\"match_headers\":[\"X-Api-Key\"]},"
	"{\"proxy_token\":\"" AWS_TOK "\",\"env_name\":\"AWS_ACCESS_KEY_ID\","
	"\"upstream_hosts\":[\"s3.amazonaws.com\"]}]}";

static const char *config_yaml = "extra_allowed_hosts:\n  - Extra.Example.NET.\n"
				 "  - '*.lab.test'\n"
				 "allowed_ports:\n  api.openai.com: [8443, \"9000-9100\"]\n"
				 "  \"*.lab.test\": [22]\n"
				 "cleartext_credential_hosts: [ollama.lan, '*.dev.lan']\n"
				 "resolve:\n  Pinned.Example.NET.: 203.0.113.7\n"
				 "  other.lab.test: '192.0.2.1:8443'\n";

/* A policy from config_yaml + mappings_json; the real keys come from the
 * environment as in the daemon. g may be NULL. */
static struct kh_policy *build(struct kh_grants *g, bool scrub)
{
	static const char *names[] = { "OPENAI_API_KEY", "EXAMPLE_KEY", "AWS_ACCESS_KEY_ID" };
	struct kh_config cfg;
	struct kh_mappings m = { 0 };
	struct kh_secrets s = { 0 };
	struct kh_err err = { "" };
	struct kh_policy *p = NULL;

	setenv("OPENAI_API_KEY", "sk-REAL-openai-value", 1);
	setenv("EXAMPLE_KEY", "ex-REAL-value", 1);
	setenv("AWS_ACCESS_KEY_ID", "AKIAREALREALREAL", 1);
	if (kh_config_parse("cfg.yaml", config_yaml, strlen(config_yaml), &cfg, &err) != 0) {
		printf("# config: %s\n", err.msg);
		return NULL;
	}
	cfg.scrub_responses = scrub;
	if (kh_mappings_parse(mappings_json, strlen(mappings_json), &m, &err) != 0 ||
	    kh_secrets_load_env(&s, names, 3, &err) != 0)
		printf("# %s\n", err.msg);
	else
		p = kh_policy_build_with_grants(&cfg, &m, &s, NULL, g, &err);
	kh_secrets_free(&s);
	kh_mappings_free(&m);
	kh_config_free(&cfg);
	return p;
}

/* host as a caller passes it: normalized first (a refused host never gets here). */
static bool allowed(const struct kh_policy *p, const char *host)
{
	char norm[KH_HOST_BUF];

	if (kh_host_normalize(kh_slice_cstr(host), norm) < 0)
		return false;
	return kh_policy_host_allowed(p, norm);
}

static void hosts(void)
{
	struct kh_policy *p = build(NULL, false);

	CHECK(p != NULL);
	if (p == NULL)
		return;
	/* defaults, with the default wildcard */
	CHECK(allowed(p, "api.anthropic.com"));
	CHECK(allowed(p, "openrouter.ai"));
	CHECK(allowed(p, "eu.openrouter.ai"));
	/* extra_allowed_hosts, written in upper case with a trailing dot */
	CHECK(allowed(p, "extra.example.net"));
	CHECK(allowed(p, "EXTRA.example.NET."));
	CHECK(!allowed(p, "x.extra.example.net"));
	CHECK(!allowed(p, "extra.example.net.evil.test"));
	CHECK(!allowed(p, "xextra.example.net"));
	/* "*.lab.test": any depth of subdomain, not the domain itself */
	CHECK(allowed(p, "a.lab.test"));
	CHECK(allowed(p, "a.b.LAB.test."));
	CHECK(!allowed(p, "lab.test"));
	CHECK(!allowed(p, "evillab.test"));
	/* a mapping's (wildcard) hosts */
	CHECK(allowed(p, "api.openai.com"));
	CHECK(allowed(p, "v1.example.com"));
	CHECK(!allowed(p, "example.com"));
	/* not allowed, and hosts the normalizer refuses */
	CHECK(!allowed(p, "api.openai.com.evil.test"));
	CHECK(!allowed(p, "evil.test"));
	CHECK(!allowed(p, "api.openai.com.."));
	CHECK(!allowed(p, "api.openai.com%00"));
	/* the allowlist is deduplicated: defaults and mappings share api.openai.com */
	for (size_t i = 0; i < p->n_allow; i++)
		for (size_t k = i + 1; k < p->n_allow; k++)
			CHECK(strcmp(p->allow[i], p->allow[k]) != 0);
	kh_policy_unref(p);
}

static void ports_and_cleartext(void)
{
	struct kh_policy *p = build(NULL, false);

	CHECK(p != NULL);
	if (p == NULL)
		return;
	CHECK(kh_policy_port_allowed(p, "api.anthropic.com", 443, true));
	CHECK(kh_policy_port_allowed(p, "api.anthropic.com", 80, false));
	CHECK(!kh_policy_port_allowed(p, "api.anthropic.com", 80, true));
	CHECK(!kh_policy_port_allowed(p, "api.anthropic.com", 443, false));
	CHECK(!kh_policy_port_allowed(p, "api.anthropic.com", 8443, true));
	CHECK(kh_policy_port_allowed(p, "api.openai.com", 8443, true));
	CHECK(kh_policy_port_allowed(p, "api.openai.com", 9000, false));
	CHECK(kh_policy_port_allowed(p, "api.openai.com", 9100, true));
	CHECK(!kh_policy_port_allowed(p, "api.openai.com", 9101, true));
	CHECK(!kh_policy_port_allowed(p, "api.openai.com", 8999, true));
	CHECK(kh_policy_port_allowed(p, "x.y.lab.test", 22, true));
	CHECK(!kh_policy_port_allowed(p, "lab.test", 22, true));
	CHECK(!kh_policy_port_allowed(p, "v1.example.com", 22, true));

	CHECK(kh_policy_cleartext_ok(p, "ollama.lan"));
	CHECK(kh_policy_cleartext_ok(p, "gpu.dev.lan"));
	CHECK(!kh_policy_cleartext_ok(p, "dev.lan"));
	CHECK(!kh_policy_cleartext_ok(p, "ollama.lan.evil.test"));
	CHECK(!kh_policy_cleartext_ok(p, "api.openai.com"));
	kh_policy_unref(p);
}

static struct sockaddr_storage v4(const char *ip)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *a = (struct sockaddr_in *)&ss;

	a->sin_family = AF_INET;
	a->sin_port = htons(443);
	if (inet_pton(AF_INET, ip, &a->sin_addr) != 1)
		printf("# bad test address %s\n", ip);
	return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in6 a = { 0 };

	a.sin6_family = AF_INET6;
	a.sin6_port = htons(443);
	if (inet_pton(AF_INET6, ip, &a.sin6_addr) != 1)
		printf("# bad test address %s\n", ip);
	memcpy(&ss, &a, sizeof a);
	return ss;
}

static bool denied(const struct kh_policy *p, struct sockaddr_storage ss)
{
	return kh_policy_denied_addr(p, (const struct sockaddr *)&ss) >= 0;
}

static void addresses_and_pins(void)
{
	struct kh_policy *p = build(NULL, false);
	const struct kh_pin *pin;
	char ip[INET6_ADDRSTRLEN];

	CHECK(p != NULL);
	if (p == NULL)
		return;
	/* the config had no upstream_deny_cidrs: the defaults apply */
	CHECK_INT(p->n_deny, kh_default_deny_cidrs_count);
	CHECK(denied(p, v4("127.0.0.1")));
	CHECK(denied(p, v4("169.254.169.254")));
	CHECK(denied(p, v4("10.1.2.3")));
	CHECK(denied(p, v4("100.64.0.1")));
	CHECK(denied(p, v4("0.0.0.0")));
	CHECK(!denied(p, v4("93.184.216.34")));
	CHECK(!denied(p, v4("172.32.0.1")));
	CHECK(denied(p, v6("::1")));
	CHECK(denied(p, v6("fe80::1")));
	CHECK(denied(p, v6("fd12::1")));
	CHECK(!denied(p, v6("2606:4700::1111")));
	/* an IPv4 address written as IPv6 is judged as the IPv4 one */
	CHECK(denied(p, v6("::ffff:169.254.169.254")));
	CHECK(denied(p, v6("64:ff9b::a9fe:a9fe")));
	CHECK(denied(p, v6("2002:a9fe:a9fe::1")));
	CHECK(denied(p, v6("::7f00:1")));
	CHECK(!denied(p, v6("64:ff9b::5db8:d822"))); /* NAT64 of a public address */

	/* pins: exact normalized host, the config's spelling normalized */
	pin = kh_policy_pin(p, "pinned.example.net");
	CHECK(pin != NULL);
	if (pin != NULL) {
		kh_sockaddr_ip((const struct sockaddr *)&pin->addr, ip, sizeof ip);
		CHECK_STR(ip, "203.0.113.7");
		CHECK_INT(pin->port, 0);
		/* a pin is no exemption: its address is still judged (203.0.113.0/24) */
		CHECK(kh_policy_denied_addr(p, (const struct sockaddr *)&pin->addr) >= 0);
	}
	pin = kh_policy_pin(p, "other.lab.test");
	CHECK(pin != NULL && pin->port == 8443);
	CHECK(kh_policy_pin(p, "x.pinned.example.net") == NULL);
	CHECK(kh_policy_pin(p, "pinned.example") == NULL);
	kh_policy_unref(p);
}

static struct kh_slice sl(const char *s)
{
	return kh_slice_cstr(s);
}

static void tokens(void)
{
	struct kh_policy *p = build(NULL, false);
	const struct kh_cred *c;
	size_t tl = strlen(OPENAI_TOK);
	char buf[256];

	CHECK(p != NULL);
	if (p == NULL)
		return;
	c = kh_policy_token_exact(p, sl(OPENAI_TOK));
	CHECK(c != NULL);
	if (c != NULL) {
		CHECK_STR(c->env_name, "OPENAI_API_KEY");
		CHECK(c->secret != NULL && c->secret_len == strlen("sk-REAL-openai-value") &&
		      memcmp(c->secret, "sk-REAL-openai-value", c->secret_len) == 0);
		CHECK(kh_cred_host_ok(c, "api.openai.com"));
		CHECK(!kh_cred_host_ok(c, "v1.example.com")); /* allowed, but not this key's */
		CHECK(c->grant == NULL);
	}
	c = kh_policy_token_exact(p, sl(EX_TOK));
	CHECK(c != NULL && kh_cred_host_ok(c, "v1.example.com") &&
	      !kh_cred_host_ok(c, "example.com"));
	CHECK(c != NULL && kh_cred_location(c, KH_LOC_HEADER, sl("x-api-key")) != NULL);
	CHECK(c != NULL && kh_cred_location(c, KH_LOC_HEADER, sl("authorization")) == NULL);
	/* AWS keys are re-signed with, never swapped: no location */
	c = kh_policy_token_exact(p, sl(AWS_TOK));
	CHECK(c != NULL && c->n_locs == 0);

	/* exact: not a prefix, not an extension, not another prefix, not upper case */
	CHECK(kh_policy_token_exact(p, kh_slice_make(OPENAI_TOK, tl - 1)) == NULL);
	snprintf(buf, sizeof buf, "%s0", OPENAI_TOK);
	CHECK(kh_policy_token_exact(p, sl(buf)) == NULL);
	/* the token and then a NUL byte: as long as the stored copy's terminator */
	CHECK(kh_policy_token_exact(p, kh_slice_make(OPENAI_TOK "\0", tl + 1)) == NULL);
	snprintf(buf, sizeof buf, "x%s", OPENAI_TOK);
	CHECK(kh_policy_token_exact(p, sl(buf)) == NULL);
	CHECK(kh_policy_token_exact(p, sl("keyhole-anthropic-0123456789abcdef0123456789abcdef")) ==
	      NULL);
	CHECK(kh_policy_token_exact(p, sl("keyhole-openai-0123456789ABCDEF0123456789abcdef")) ==
	      NULL);
	CHECK(kh_policy_token_exact(p, sl("0123456789abcdef0123456789abcdef")) == NULL);
	CHECK(kh_policy_token_exact(p, sl("")) == NULL);
	CHECK(kh_policy_token_exact(p, sl("keyhole-openai-")) == NULL);
	/* a near miss in the random part (same hash bucket or not) */
	snprintf(buf, sizeof buf, "%s", OPENAI_TOK);
	buf[tl - 1] = 'e';
	CHECK(kh_policy_token_exact(p, sl(buf)) == NULL);

	/* scan: the random part anywhere in a run of lowercase hex */
	c = kh_policy_token_scan(p, sl("Bearer " OPENAI_TOK));
	CHECK(c != NULL && strcmp(c->env_name, "OPENAI_API_KEY") == 0);
	c = kh_policy_token_scan(p, sl("?k=ff0123456789abcdef0123456789abcdef00&x"));
	CHECK(c != NULL && strcmp(c->env_name, "OPENAI_API_KEY") == 0);
	c = kh_policy_token_scan(p, sl("zz fedcba9876543210fedcba9876543210"));
	CHECK(c != NULL && strcmp(c->env_name, "EXAMPLE_KEY") == 0);
	CHECK(kh_policy_token_scan(p, sl("0123456789abcdef0123456789abcde")) == NULL);
	CHECK(kh_policy_token_scan(p, sl("0123456789abcdef-0123456789abcdef")) == NULL);
	CHECK(kh_policy_token_scan(p, sl("0123456789ABCDEF0123456789ABCDEF")) == NULL);
	kh_policy_unref(p);
}

static void redaction(void)
{
	struct kh_policy *p = build(NULL, false);
	char out[256];

	CHECK(p != NULL);
	if (p == NULL)
		return;
	kh_policy_redact(p, sl("/v1?token=" OPENAI_TOK "&a=b"), out, sizeof out);
	CHECK_STR(out, "/v1?token=keyhole-openai-0123...&a=b");
	kh_policy_redact(p, sl("key sk-REAL-openai-value end"), out, sizeof out);
	CHECK(strstr(out, "sk-REAL") == NULL);
	CHECK(strstr(out, "[redacted:OPENAI_API_KEY]") != NULL);
	kh_policy_redact(p, sl("nothing here"), out, sizeof out);
	CHECK_STR(out, "nothing here");
	/* a small output buffer is cut, never overrun, and never shows the key */
	kh_policy_redact(p, sl(OPENAI_TOK), out, 20);
	CHECK(strlen(out) < 20 && strstr(out, "456789abcdef") == NULL);
	kh_policy_redact(p, sl("x"), out, 1);
	CHECK_STR(out, "");
	kh_policy_unref(p);
}

/* What the response scrubber puts in place of the real value v. */
static const char *stand_in(const struct kh_policy *p, const char *v, char *out, size_t len)
{
	const struct kh_scrub_needle *hit = NULL;
	size_t at = kh_scrub_find(&p->scrub, (const uint8_t *)v, strlen(v), &hit);

	if (hit == NULL || at != 0)
		return "(none)";
	snprintf(out, len, "%.*s", (int)hit->rep_len, (const char *)hit->rep);
	return out;
}

static void scrubber(void)
{
	struct kh_policy *off = build(NULL, false), *on = build(NULL, true);
	char rep[KH_TOKEN_MAX];

	CHECK(off != NULL && on != NULL);
	if (off == NULL || on == NULL)
		goto done;
	CHECK_INT(off->scrub.n, 0);
	CHECK(on->scrub.n > 0);
	CHECK_STR(stand_in(on, "sk-REAL-openai-value", rep, sizeof rep), OPENAI_TOK);
done:
	kh_policy_unref(off);
	kh_policy_unref(on);
}

static struct kh_mapping mapping_of(const char *token, const char *env)
{
	struct kh_mapping m = { 0 };

	snprintf(m.proxy_token, sizeof m.proxy_token, "%s", token);
	snprintf(m.env_name, sizeof m.env_name, "%s", env);
	return m;
}

/* Grants become credentials of their mapping; a forgotten one (ended long
 * ago) and an AWS one do not; the scrubber then never hands out the
 * mapping's own token. */
static void grants(void)
{
	struct kh_grants g;
	struct kh_err err = { "" };
	struct kh_mapping mo = mapping_of(OPENAI_TOK, "OPENAI_API_KEY");
	struct kh_mapping ma = mapping_of(AWS_TOK, "AWS_ACCESS_KEY_ID");
	struct kh_grant_req r = { "job", 0, 0, 0 };
	struct kh_grant *live = NULL, *old = NULL, *aws = NULL;
	struct kh_policy *p = NULL;
	const struct kh_cred *c;
	char rep[KH_TOKEN_MAX], want[KH_TOKEN_MAX];

	CHECK_INT(kh_grants_init(&g, 8, NULL, NOW, &err), 0);
	CHECK_INT(kh_grants_issue(&g, &mo, &r, NOW, &live, &err), 0);
	CHECK_INT(kh_grants_issue(&g, &mo, &r, NOW - 10 * KH_GRANT_TOMBSTONE_SECS, &old, &err), 0);
	/* an AWS grant may be refused by issue itself; either way it is no cred */
	(void)kh_grants_issue(&g, &ma, &r, NOW, &aws, &err);
	if (old != NULL)
		CHECK_INT(kh_grants_revoke(&g, old->token, NULL,
					   NOW - 10 * KH_GRANT_TOMBSTONE_SECS + 1, &err),
			  1);
	pthread_mutex_lock(&g.lock);
	p = build(&g, true);
	pthread_mutex_unlock(&g.lock);
	CHECK(p != NULL && live != NULL && old != NULL);
	if (p == NULL || live == NULL || old == NULL)
		goto done;
	CHECK_INT(p->n_grant_creds, 1);
	CHECK_INT(p->n_creds, 4);
	c = kh_policy_token_exact(p, sl(live->token));
	CHECK(c != NULL && c->grant == live && c->secret != NULL &&
	      kh_cred_host_ok(c, "api.openai.com"));
	CHECK(kh_policy_token_exact(p, sl(old->token)) == NULL);
	if (aws != NULL)
		CHECK(kh_policy_token_exact(p, sl(aws->token)) == NULL);
	c = kh_policy_token_scan(p, sl(live->token));
	CHECK(c != NULL && c->grant == live);
	/* the stand-in: the mapping token's shape with a random part of zeros */
	snprintf(want, sizeof want, "keyhole-openai-%032d", 0);
	CHECK_STR(stand_in(p, "sk-REAL-openai-value", rep, sizeof rep), want);
	CHECK(kh_policy_token_exact(p, sl(want)) == NULL);
done:
	kh_policy_unref(p);
	kh_grants_free(&g);
}

static void refcounts(void)
{
	struct kh_policy *p = build(NULL, true);

	CHECK(p != NULL);
	if (p == NULL)
		return;
	CHECK_INT(atomic_load(&p->refs), 1);
	CHECK(kh_policy_ref(p) == p);
	CHECK_INT(atomic_load(&p->refs), 2);
	kh_policy_unref(p);
	CHECK_INT(atomic_load(&p->refs), 1);
	/* still usable by the remaining holder (ASan would see a free) */
	CHECK(kh_policy_token_exact(p, sl(OPENAI_TOK)) != NULL);
	kh_policy_unref(p);
	kh_policy_unref(NULL);
}

/* An empty policy (no file, no mappings, no secrets) is valid and knows no token. */
static void empty(void)
{
	struct kh_config cfg;
	struct kh_mappings m = { 0 };
	struct kh_secrets s = { 0 };
	struct kh_err err = { "" };
	struct kh_policy *p;

	kh_config_defaults(&cfg);
	p = kh_policy_build(&cfg, &m, &s, NULL, &err);
	CHECK(p != NULL);
	if (p != NULL) {
		CHECK_INT(p->n_creds, 0);
		CHECK(kh_policy_token_exact(p, sl(OPENAI_TOK)) == NULL);
		CHECK(kh_policy_token_scan(p, sl(OPENAI_TOK)) == NULL);
		CHECK(kh_policy_host_allowed(p, "api.openai.com"));
		CHECK(!kh_policy_host_allowed(p, "example.com"));
		CHECK(kh_policy_pin(p, "api.openai.com") == NULL);
	}
	kh_policy_unref(p);
	kh_config_free(&cfg);
}

int main(void)
{
	RUN(hosts);
	RUN(ports_and_cleartext);
	RUN(addresses_and_pins);
	RUN(tokens);
	RUN(redaction);
	RUN(scrubber);
	RUN(grants);
	RUN(refcounts);
	RUN(empty);
	TAP_DONE();
}
