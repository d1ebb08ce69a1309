#include <stdlib.h>

#include "cli/discover.h"
#include "tap.h"

static void mint_format_and_randomness(void)
{
	char a[KH_TOKEN_MAX], b[KH_TOKEN_MAX];

	CHECK_INT(kh_token_mint("keyhole-openai", a, sizeof a), 0);
	CHECK_INT(kh_token_mint("keyhole-openai", b, sizeof b), 0);
	CHECK(kh_token_valid(a));
	CHECK_INT(strlen(a), strlen("keyhole-openai-") + 32);
	CHECK(strcmp(a, b) != 0);
	CHECK_INT(kh_token_mint("keyhole-openai", a, 20), -1); /* does not fit */
}

static void discover_from_names_with_alias(void)
{
	const char *names[] = { "OPENAI_API_KEY", "GOOGLE_API_KEY", "UNRELATED" };
	struct kh_mappings m;
	struct kh_err err;

	CHECK_INT(kh_discover(names, 3, &m, &err), 0);
	CHECK_INT(m.n, 2);
	CHECK_STR(m.v[0].env_name, "OPENAI_API_KEY");
	CHECK_STR(m.v[0].hosts[0], "api.openai.com");
	CHECK_STR(m.v[1].env_name, "GOOGLE_API_KEY"); /* the alias that exists is used */
	CHECK_STR(m.v[1].match_headers[0], "x-goog-api-key");
	CHECK_INT(m.v[1].n_locs, 2); /* x-goog-api-key and ?key= */
	CHECK_INT(m.v[1].locs[1].kind, KH_LOC_QUERY);
	CHECK_STR(m.v[1].locs[1].name, "key");
	kh_mappings_free(&m);
	CHECK_INT(kh_discover(names, 0, &m, &err), 0);
	CHECK_INT(m.n, 0);
	kh_mappings_free(&m);
}

static void merge_keeps_or_rotates(void)
{
	const char *one[] = { "OPENAI_API_KEY" }, *two[] = { "OPENAI_API_KEY", "GROQ_API_KEY" };
	struct kh_mappings old, now, none = { 0 };
	struct kh_err err;
	char first[KH_TOKEN_MAX];

	kh_discover(one, 1, &old, &err);
	CHECK_INT(kh_merge_tokens(&none, &old, false, &err), 0); /* first setup: all new */
	memcpy(first, old.v[0].proxy_token, sizeof first);
	kh_discover(two, 2, &now, &err);
	CHECK_INT(kh_merge_tokens(&old, &now, false, &err), 0);
	CHECK_STR(now.v[0].proxy_token, first); /* kept */
	CHECK(kh_token_valid(now.v[1].proxy_token));
	kh_mappings_free(&now);
	kh_discover(one, 1, &now, &err);
	CHECK_INT(kh_merge_tokens(&old, &now, true, &err), 0);
	CHECK(strcmp(now.v[0].proxy_token, first) != 0); /* rotated */
	kh_mappings_free(&now);
	kh_mappings_free(&old);
}

static void custom_providers_discovered(void)
{
	const char *names[] = { "OPENAI_API_KEY", "GIT_TOKEN" };
	struct kh_custom_provider p[2] = { 0 };
	struct kh_config cfg = { 0 };
	struct kh_mappings m;
	struct kh_err err;
	const char *why;

	snprintf(p[0].env_name, sizeof p[0].env_name, "GIT_TOKEN");
	snprintf(p[0].token_prefix, sizeof p[0].token_prefix, "keyhole-git-token");
	snprintf(p[0].hosts[0], sizeof p[0].hosts[0], "git.example.com");
	p[0].n_hosts = 1;
	CHECK_INT(kh_location_parse("basic", NULL, &p[0].locs[0], &why), 0);
	p[0].n_locs = 1;
	snprintf(p[1].env_name, sizeof p[1].env_name, "NOT_SET_HERE");
	p[1].n_hosts = 1;
	cfg.providers = p;
	cfg.n_providers = 2;
	CHECK_INT(kh_discover(names, 2, &m, &err), 0);
	CHECK_INT(kh_discover_custom(names, 2, &cfg, &m, &err), 0);
	CHECK_INT(m.n, 2);
	CHECK_STR(m.v[1].env_name, "GIT_TOKEN");
	CHECK_STR(m.v[1].proxy_token, "keyhole-git-token"); /* prefix until merged */
	CHECK_STR(m.v[1].hosts[0], "git.example.com");
	CHECK_INT(m.v[1].locs[0].kind, KH_LOC_BASIC);
	CHECK_STR(m.v[1].match_headers[0], "Authorization");
	kh_mappings_free(&m);
}

static void display_redacts(void)
{
	char out[64];

	kh_token_display("keyhole-openai-0123456789abcdef0123456789abcdef", out, sizeof out);
	CHECK_STR(out, "keyhole-open...cdef");
}

int main(void)
{
	RUN(mint_format_and_randomness);
	RUN(discover_from_names_with_alias);
	RUN(merge_keeps_or_rotates);
	RUN(custom_providers_discovered);
	RUN(display_redacts);
	TAP_DONE();
}
