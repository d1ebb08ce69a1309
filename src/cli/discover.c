#include "cli/discover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "base/check.h"
#include "policy/providers.h"

int kh_token_mint(const char *prefix, char *out, size_t len)
{
	unsigned char raw[16];
	static const char hex[] = "0123456789abcdef";
	size_t p = strlen(prefix);

	if (p + 1 + 2 * sizeof raw + 1 > len || RAND_bytes(raw, sizeof raw) != 1)
		return -1;
	memcpy(out, prefix, p);
	out[p++] = '-';
	for (size_t i = 0; i < sizeof raw; i++) {
		out[p++] = hex[raw[i] >> 4];
		out[p++] = hex[raw[i] & 15];
	}
	out[p] = '\0';
	return 0;
}

static bool available(const char *var, const char *const *names, size_t n)
{
	const char *v;

	if (var == NULL)
		return false;
	if (names == NULL)
		return (v = getenv(var)) != NULL && v[0] != '\0';
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], var) == 0)
			return true;
	return false;
}

/* Both halves of an AWS key pair, or neither: one alone cannot sign. */
static bool requirements_met(const struct kh_provider *p, const char *const *names, size_t n)
{
	for (const char *const *r = kh_provider_requires(p->env_name); *r != NULL; r++)
		if (!available(*r, names, n))
			return false;
	return true;
}

/* A mapping without its token yet: proxy_token holds the token's prefix. */
static int fill_common(struct kh_mapping *m, const char *var, const char *prefix,
		       const char *const *hosts, size_t nh)
{
	memset(m, 0, sizeof *m);
	snprintf(m->env_name, sizeof m->env_name, "%s", var);
	snprintf(m->proxy_token, sizeof m->proxy_token, "%s", prefix);
	m->hosts = calloc(nh, sizeof *m->hosts);
	if (m->hosts == NULL)
		return -1;
	for (size_t i = 0; i < nh; i++)
		snprintf(m->hosts[i], sizeof m->hosts[i], "%s", hosts[i]);
	m->n_hosts = nh;
	return 0;
}

static int fill(struct kh_mapping *m, const struct kh_provider *p, const char *var)
{
	size_t nh = 0;
	const char *why;

	while (nh < KH_PROVIDER_MAX_HOSTS && p->hosts[nh] != NULL)
		nh++;
	if (fill_common(m, var, p->token_prefix, p->hosts, nh) != 0)
		return -1;
	for (size_t i = 0; i < KH_PROVIDER_MAX_LOCS && p->locations[i] != NULL; i++) {
		int rc = kh_location_parse(p->locations[i], NULL, &m->locs[m->n_locs++], &why);

		KH_CHECK(rc == 0); /* the built-in table is ours */
	}
	kh_mapping_headers_from_locations(m);
	return 0;
}

static int fill_custom(struct kh_mapping *m, const struct kh_custom_provider *p)
{
	const char *hosts[KH_MAX_PROVIDER_HOSTS];

	for (size_t i = 0; i < p->n_hosts; i++)
		hosts[i] = p->hosts[i];
	if (fill_common(m, p->env_name, p->token_prefix, hosts, p->n_hosts) != 0)
		return -1;
	memcpy(m->locs, p->locs, sizeof m->locs);
	m->n_locs = p->n_locs;
	kh_mapping_headers_from_locations(m);
	return 0;
}

int kh_discover_custom(const char *const *names, size_t n, const struct kh_config *cfg,
		       struct kh_mappings *out, struct kh_err *err)
{
	struct kh_mapping *v = realloc(out->v, (out->n + cfg->n_providers + 1) * sizeof *v);

	if (v == NULL) {
		kh_err_set(err, "out of memory");
		return -1;
	}
	out->v = v;
	for (size_t i = 0; i < cfg->n_providers; i++) {
		if (!available(cfg->providers[i].env_name, names, n))
			continue;
		if (fill_custom(&out->v[out->n], &cfg->providers[i]) != 0) {
			kh_err_set(err, "out of memory");
			return -1;
		}
		out->n++;
	}
	return 0;
}

int kh_discover(const char *const *names, size_t n, struct kh_mappings *out, struct kh_err *err)
{
	memset(out, 0, sizeof *out);
	out->v = calloc(kh_providers_count, sizeof *out->v);
	if (out->v == NULL) {
		kh_err_set(err, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < kh_providers_count; i++) {
		const struct kh_provider *p = &kh_providers[i];
		const char *var = available(p->env_name, names, n)    ? p->env_name
				  : available(p->alias_env, names, n) ? p->alias_env
								      : NULL;

		if (var == NULL || !requirements_met(p, names, n))
			continue;
		if (fill(&out->v[out->n], p, var) != 0) {
			kh_err_set(err, "out of memory");
			kh_mappings_free(out);
			return -1;
		}
		out->n++;
	}
	return 0;
}

/* The discovered mapping holds its token prefix in proxy_token until here. */
int kh_merge_tokens(const struct kh_mappings *existing, struct kh_mappings *discovered, bool rotate,
		    struct kh_err *err)
{
	for (size_t i = 0; i < discovered->n; i++) {
		struct kh_mapping *d = &discovered->v[i];
		const struct kh_mapping *old = rotate ? NULL
						      : kh_mappings_find(existing, d->env_name);
		char prefix[KH_TOKEN_MAX];

		if (old != NULL) {
			memcpy(d->proxy_token, old->proxy_token, sizeof d->proxy_token);
			continue;
		}
		memcpy(prefix, d->proxy_token, sizeof prefix);
		if (kh_token_mint(prefix, d->proxy_token, sizeof d->proxy_token) != 0) {
			kh_err_set(err, "cannot mint a token (no randomness available)");
			return -1;
		}
	}
	return 0;
}

size_t kh_uncovered_present(const char *const *names, size_t n, const char **out, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; i < kh_uncovered_env_count && k < max; i++)
		if (available(kh_uncovered_env[i], names, n))
			out[k++] = kh_uncovered_env[i];
	/* Half an AWS key pair cannot sign: it is not mapped either. */
	for (size_t i = 0; i < kh_providers_count && k < max; i++)
		if (available(kh_providers[i].env_name, names, n) &&
		    !requirements_met(&kh_providers[i], names, n))
			out[k++] = kh_providers[i].env_name;
	return k;
}

void kh_token_display(const char *token, char *out, size_t len)
{
	size_t t = strlen(token);

	if (t < 20)
		snprintf(out, len, "%.4s...", token);
	else
		snprintf(out, len, "%.12s...%s", token, token + t - 4);
}
