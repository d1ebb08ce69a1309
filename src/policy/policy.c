#include "policy/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/providers.h"

#define HEXKEY_LEN 32

static char **strv_dup(char *const *v, size_t n)
{
	char **out = calloc(n + 1, sizeof *out);

	for (size_t i = 0; out != NULL && i < n; i++) {
		out[i] = strdup(v[i]);
		if (out[i] == NULL) {
			for (size_t k = 0; k < i; k++)
				free(out[k]);
			free(out);
			return NULL;
		}
	}
	return out;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

static bool list_has(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static int add_allow(struct kh_policy *p, const char *h)
{
	if (list_has(p->allow, p->n_allow, h))
		return 0;
	if ((p->allow[p->n_allow] = strdup(h)) == NULL)
		return -1;
	p->n_allow++;
	return 0;
}

/* Allowlist = defaults + extra_allowed_hosts + every mapping's hosts. */
static int build_allow(struct kh_policy *p, const struct kh_config *cfg,
		       const struct kh_mappings *m)
{
	size_t cap = kh_default_allowed_hosts_count + cfg->n_extra_allowed_hosts;

	for (size_t i = 0; i < m->n; i++)
		cap += m->v[i].n_hosts;
	p->allow = calloc(cap + 1, sizeof *p->allow);
	if (p->allow == NULL)
		return -1;
	for (size_t i = 0; i < kh_default_allowed_hosts_count; i++)
		if (add_allow(p, kh_default_allowed_hosts[i]) != 0)
			return -1;
	for (size_t i = 0; i < cfg->n_extra_allowed_hosts; i++)
		if (add_allow(p, cfg->extra_allowed_hosts[i]) != 0)
			return -1;
	for (size_t i = 0; i < m->n; i++)
		for (size_t k = 0; k < m->v[i].n_hosts; k++)
			if (add_allow(p, m->v[i].hosts[k]) != 0)
				return -1;
	return 0;
}

static uint64_t hash_key(const char *k)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < HEXKEY_LEN; i++)
		h = (h ^ (unsigned char)k[i]) * 1099511628211ULL;
	return h;
}

static int build_token_index(struct kh_policy *p)
{
	size_t slots = 16;

	while (slots < p->n_creds * 2)
		slots *= 2;
	p->tok_slots = calloc(slots, sizeof *p->tok_slots);
	if (p->tok_slots == NULL)
		return -1;
	p->n_tok_slots = slots;
	for (size_t i = 0; i < p->n_creds; i++) {
		size_t s = (size_t)hash_key(p->creds[i].hexkey) & (slots - 1);

		while (p->tok_slots[s] != 0)
			s = (s + 1) & (slots - 1);
		p->tok_slots[s] = (uint32_t)i + 1;
	}
	return 0;
}

/* mp's credential, known by token (mp's own, or a grant's for mp). */
static int copy_cred(struct kh_cred *c, const struct kh_mapping *mp, const char *token,
		     const struct kh_secrets *s)
{
	memcpy(c->env_name, mp->env_name, sizeof c->env_name);
	snprintf(c->token, sizeof c->token, "%s", token);
	c->token_len = strlen(c->token);
	c->hexkey = strrchr(c->token, '-') + 1; /* kh_token_valid: >= 32 hex after the last '-' */
	c->hosts = calloc(mp->n_hosts, sizeof *c->hosts);
	if (c->hosts == NULL)
		return -1;
	memcpy(c->hosts, mp->hosts, mp->n_hosts * sizeof *c->hosts);
	c->n_hosts = mp->n_hosts;
	memcpy(c->locs, mp->locs, sizeof c->locs);
	/* AWS keys are only ever re-signed with (resign.c): a header holding the
	 * fake secret must never be swapped for the real one. */
	c->n_locs = kh_provider_is_sigv4(mp->env_name) ? 0 : mp->n_locs;
	c->secret = kh_secrets_get(s, mp->env_name, &c->secret_len);
	return 0;
}

static int copy_config(struct kh_policy *p, const struct kh_config *cfg)
{
	p->deny = calloc(cfg->n_deny_cidrs + 1, sizeof *p->deny);
	p->pins = calloc(cfg->n_pins + 1, sizeof *p->pins);
	p->port_rules = calloc(cfg->n_port_rules + 1, sizeof *p->port_rules);
	p->cleartext_hosts = strv_dup(cfg->cleartext_credential_hosts,
				      cfg->n_cleartext_credential_hosts);
	p->aws_buckets = strv_dup(cfg->aws_buckets, cfg->n_aws_buckets);
	p->n_aws_buckets = p->aws_buckets != NULL ? cfg->n_aws_buckets : 0;
	p->aws_buckets_set = cfg->aws_buckets_set;
	if (p->deny == NULL || p->pins == NULL || p->port_rules == NULL ||
	    p->cleartext_hosts == NULL || p->aws_buckets == NULL)
		return -1;
	if (cfg->n_deny_cidrs > 0)
		memcpy(p->deny, cfg->deny_cidrs, cfg->n_deny_cidrs * sizeof *p->deny);
	p->n_deny = cfg->n_deny_cidrs;
	if (cfg->n_pins > 0)
		memcpy(p->pins, cfg->pins, cfg->n_pins * sizeof *p->pins);
	p->n_pins = cfg->n_pins;
	if (cfg->n_port_rules > 0)
		memcpy(p->port_rules, cfg->port_rules, cfg->n_port_rules * sizeof *p->port_rules);
	p->n_port_rules = cfg->n_port_rules;
	p->n_cleartext_hosts = cfg->n_cleartext_credential_hosts;
	p->timeouts = cfg->timeouts;
	p->limits = cfg->limits;
	p->audit_refuse = cfg->audit_refuse;
	memcpy(p->config_path, cfg->path, sizeof p->config_path);
	return 0;
}

static bool has_grant(const struct kh_policy *p, const char *env_name)
{
	for (size_t i = 0; i < p->n_creds; i++)
		if (p->creds[i].grant != NULL && strcmp(p->creds[i].env_name, env_name) == 0)
			return true;
	return false;
}

/* One scrub entry per loaded secret (several mappings may share a variable:
 * the first one's token stands in for it), built once per snapshot so no
 * request pays for it. When sandbox tokens exist for a variable, a response
 * must not hand a sandbox the mapping's token (it outlives every sandbox
 * token): the stand-in is then the token's shape with a random part of
 * zeros, which keyhole never swaps. */
static int build_scrub(struct kh_policy *p, struct kh_err *err)
{
	struct kh_scrub_secret *v = calloc(p->n_creds + 1, sizeof *v);
	char(*dead)[KH_TOKEN_MAX] = calloc(p->n_creds + 1, sizeof *dead);
	size_t n = 0;
	int rc;

	if (v == NULL || dead == NULL) {
		free(v);
		free(dead);
		kh_err_set(err, "out of memory building the response scrubber");
		return -1;
	}
	for (size_t i = 0; i < p->n_creds; i++) {
		const struct kh_cred *c = &p->creds[i];
		bool seen = false;

		for (size_t k = 0; k < n && !seen; k++)
			seen = strcmp(v[k].name, c->env_name) == 0;
		if (c->secret == NULL || seen)
			continue;
		memcpy(dead[n], c->token, sizeof dead[n]);
		if (has_grant(p, c->env_name))
			memset(dead[n] + (c->hexkey - c->token), '0', strlen(c->hexkey));
		v[n] = (struct kh_scrub_secret){ c->env_name, (const uint8_t *)c->secret,
						 c->secret_len, (const uint8_t *)dead[n],
						 c->token_len };
		n++;
	}
	rc = kh_scrub_set_build(&p->scrub, v, n, err);
	free(v);
	free(dead);
	return rc;
}

/* The record redactor: every token's random part and every loaded key. */
static int build_redact(struct kh_policy *p, struct kh_err *err)
{
	struct kh_redact_item *v = calloc(2 * p->n_creds + 1, sizeof *v);
	size_t n = 0;
	int rc;

	if (v == NULL) {
		kh_err_set(err, "out of memory building the record redactor");
		return -1;
	}
	for (size_t i = 0; i < p->n_creds; i++) {
		const struct kh_cred *c = &p->creds[i];
		bool seen = false;

		v[n++] = (struct kh_redact_item){ c->env_name, (const uint8_t *)c->hexkey,
						  HEXKEY_LEN };
		for (size_t k = 0; k < i && !seen; k++)
			seen = strcmp(p->creds[k].env_name, c->env_name) == 0;
		if (c->secret != NULL && !seen)
			v[n++] = (struct kh_redact_item){ c->env_name, (const uint8_t *)c->secret,
							  c->secret_len };
	}
	rc = kh_redact_build(&p->redact, v, n, err);
	free(v);
	return rc;
}

/* A grant's credential: its mapping's, with the grant's token. */
static int add_grant_cred(struct kh_policy *p, const struct kh_mappings *m, struct kh_grant *gr)
{
	const struct kh_mapping *mp = kh_mappings_find(m, gr->env_name);
	struct kh_cred *c = &p->creds[p->n_creds];

	if (mp == NULL || kh_provider_is_sigv4(mp->env_name))
		return 0; /* its mapping is gone: the token is unknown again */
	if (copy_cred(c, mp, gr->token, &p->secrets) != 0)
		return -1;
	c->grant = gr;
	p->n_creds++;
	p->n_grant_creds++;
	return 0;
}

static int build_creds(struct kh_policy *p, const struct kh_mappings *m, struct kh_grants *g)
{
	int64_t now = (int64_t)time(NULL);
	size_t n_grants = 0;

	for (size_t i = 0; g != NULL && i < g->cap; i++)
		n_grants += g->v[i].in_use;
	p->creds = calloc(m->n + n_grants + 1, sizeof *p->creds);
	if (p->creds == NULL)
		return -1;
	for (size_t i = 0; i < m->n; i++) {
		if (copy_cred(&p->creds[i], &m->v[i], m->v[i].proxy_token, &p->secrets) != 0)
			return -1;
		p->n_creds++;
	}
	for (size_t i = 0; g != NULL && i < g->cap; i++)
		if (g->v[i].in_use && !kh_grant_forgotten(&g->v[i], now) &&
		    add_grant_cred(p, m, &g->v[i]) != 0)
			return -1;
	return 0;
}

struct kh_policy *kh_policy_build_with_grants(const struct kh_config *cfg,
					      const struct kh_mappings *m, struct kh_secrets *s,
					      SSL_CTX *client_ctx, struct kh_grants *g,
					      struct kh_err *err)
{
	struct kh_policy *p = calloc(1, sizeof *p);

	if (p == NULL) {
		kh_secrets_free(s);
		goto oom;
	}
	atomic_init(&p->refs, 1);
	p->secrets = *s; /* creds below point into this copy's arena */
	memset(s, 0, sizeof *s);
	if (client_ctx != NULL && SSL_CTX_up_ref(client_ctx) == 1)
		p->client_ctx = client_ctx;
	if (copy_config(p, cfg) != 0 || build_allow(p, cfg, m) != 0)
		goto oom;
	if (build_creds(p, m, g) != 0 || build_token_index(p) != 0)
		goto oom;
	if (build_redact(p, err) != 0)
		goto fail;
	if (cfg->scrub_responses && build_scrub(p, err) != 0)
		goto fail;
	return p;
oom:
	kh_err_set(err, "out of memory building the policy");
fail:
	kh_policy_unref(p);
	return NULL;
}

struct kh_policy *kh_policy_build(const struct kh_config *cfg, const struct kh_mappings *m,
				  struct kh_secrets *s, SSL_CTX *client_ctx, struct kh_err *err)
{
	return kh_policy_build_with_grants(cfg, m, s, client_ctx, NULL, err);
}

struct kh_policy *kh_policy_ref(struct kh_policy *p)
{
	atomic_fetch_add(&p->refs, 1);
	return p;
}

void kh_policy_unref(struct kh_policy *p)
{
	if (p == NULL || atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	strv_free(p->allow, p->n_allow);
	strv_free(p->cleartext_hosts, p->n_cleartext_hosts);
	strv_free(p->aws_buckets, p->n_aws_buckets);
	for (size_t i = 0; i < p->n_creds; i++)
		free(p->creds[i].hosts);
	free(p->creds);
	free(p->tok_slots);
	free(p->deny);
	free(p->pins);
	free(p->port_rules);
	kh_scrub_set_free(&p->scrub);
	kh_redact_free(&p->redact);
	kh_secrets_free(&p->secrets);
	SSL_CTX_free(p->client_ctx);
	free(p);
}

static bool match_any(char *const *patterns, size_t n, const char *host)
{
	for (size_t i = 0; i < n; i++)
		if (kh_host_match(patterns[i], host))
			return true;
	return false;
}

bool kh_policy_host_allowed(const struct kh_policy *p, const char *host)
{
	return match_any(p->allow, p->n_allow, host);
}

bool kh_policy_port_allowed(const struct kh_policy *p, const char *host, uint16_t port, bool tls)
{
	return kh_port_allowed(p->port_rules, p->n_port_rules, host, port, tls);
}

bool kh_policy_cleartext_ok(const struct kh_policy *p, const char *host)
{
	return match_any(p->cleartext_hosts, p->n_cleartext_hosts, host);
}

long kh_policy_denied_addr(const struct kh_policy *p, const struct sockaddr *sa)
{
	return kh_cidr_list_match(p->deny, p->n_deny, sa);
}

const struct kh_pin *kh_policy_pin(const struct kh_policy *p, const char *host)
{
	for (size_t i = 0; i < p->n_pins; i++)
		if (strcmp(p->pins[i].host, host) == 0)
			return &p->pins[i];
	return NULL;
}

static const struct kh_cred *lookup_hexkey(const struct kh_policy *p, const char *k)
{
	size_t s = (size_t)hash_key(k) & (p->n_tok_slots - 1);

	while (p->tok_slots[s] != 0) {
		const struct kh_cred *c = &p->creds[p->tok_slots[s] - 1];

		if (memcmp(c->hexkey, k, HEXKEY_LEN) == 0)
			return c;
		s = (s + 1) & (p->n_tok_slots - 1);
	}
	return NULL;
}

const struct kh_cred *kh_policy_token_exact(const struct kh_policy *p, struct kh_slice s)
{
	const struct kh_cred *c;
	long dash = -1;

	for (size_t i = 0; i < s.len; i++)
		if (s.ptr[i] == '-')
			dash = (long)i;
	if (dash < 0 || s.len - (size_t)dash - 1 < HEXKEY_LEN)
		return NULL;
	c = lookup_hexkey(p, s.ptr + dash + 1);
	return (c != NULL && c->token_len == s.len && memcmp(c->token, s.ptr, s.len) == 0) ? c
											   : NULL;
}

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Finds a token's random part inside any run of 32+ lowercase hex digits. */
static const struct kh_cred *scan_from(const struct kh_policy *p, struct kh_slice s, size_t *at)
{
	size_t i = *at;

	while (i < s.len) {
		size_t run = i;

		while (run < s.len && is_lower_hex(s.ptr[run]))
			run++;
		for (size_t k = i; k + HEXKEY_LEN <= run; k++) {
			const struct kh_cred *c = lookup_hexkey(p, s.ptr + k);

			if (c != NULL) {
				*at = k;
				return c;
			}
		}
		i = run + 1;
	}
	*at = s.len;
	return NULL;
}

const struct kh_cred *kh_policy_token_scan(const struct kh_policy *p, struct kh_slice s)
{
	size_t at = 0;

	if (p->n_creds == 0)
		return NULL;
	return scan_from(p, s, &at);
}

bool kh_cred_host_ok(const struct kh_cred *c, const char *host)
{
	for (size_t i = 0; i < c->n_hosts; i++)
		if (kh_host_match(c->hosts[i], host))
			return true;
	return false;
}

const struct kh_location *kh_cred_location(const struct kh_cred *c, enum kh_loc_kind kind,
					   struct kh_slice name)
{
	for (size_t i = 0; i < c->n_locs; i++) {
		const struct kh_location *l = &c->locs[i];

		if (l->kind != kind)
			continue;
		if ((kind == KH_LOC_HEADER && kh_slice_eq_cstr_nocase(name, l->name)) ||
		    (kind == KH_LOC_QUERY && kh_slice_eq_cstr(name, l->name)) ||
		    kind == KH_LOC_BEARER || kind == KH_LOC_BASIC)
			return l;
	}
	return NULL;
}

/* A token's random part, as written, becomes its first 4 characters and
 * "...". Returns the length written to out. */
static size_t redact_hex_runs(const struct kh_policy *p, struct kh_slice s, char *out, size_t len)
{
	size_t o = 0, i = 0;

	while (i < s.len && o + 1 < len) {
		size_t at = i;
		const struct kh_cred *c = p->n_creds ? scan_from(p, s, &at) : NULL;
		size_t copy = (c ? at : s.len) - i;

		if (copy > len - 1 - o)
			copy = len - 1 - o;
		memcpy(out + o, s.ptr + i, copy);
		o += copy;
		i += copy;
		if (c == NULL || o + 1 >= len)
			break;
		/* Replace the hex run: keep 4 hex chars as a hint, then "...". */
		int w = snprintf(out + o, len - o, "%.4s...", s.ptr + at);
		o = w > 0 && (size_t)w < len - o ? o + (size_t)w : len - 1;
		i = at + HEXKEY_LEN;
		while (i < s.len && is_lower_hex(s.ptr[i]))
			i++;
	}
	out[o] = '\0';
	return o;
}

void kh_policy_redact(const struct kh_policy *p, struct kh_slice s, char *out, size_t len)
{
	/* one byte more than the redactor searches: it then knows the text was cut */
	char tmp[KH_REDACT_SCAN_MAX + 2];
	size_t n = redact_hex_runs(p, s, tmp, sizeof tmp);

	kh_redact(&p->redact, tmp, n, out, len);
}
