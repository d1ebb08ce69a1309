/* The built-in provider tables and credential locations: every table entry
 * is well formed (prefix, hosts that normalize to themselves, locations that
 * parse), lookups by variable and alias, the AWS pairs, and location specs
 * and templates accepted and refused as config.yaml and mappings.json rely on. */
#include <stdio.h>
#include <string.h>

#include "base/hostname.h"
#include "policy/providers.h"
#include "tap.h"

static void tables_well_formed(void)
{
	for (size_t i = 0; i < kh_providers_count; i++) {
		const struct kh_provider *p = &kh_providers[i];
		struct kh_location loc;
		const char *why = NULL;

		CHECK(strncmp(p->token_prefix, "keyhole-", 8) == 0);
		CHECK(p->hosts[0] != NULL);
		for (size_t k = 0; k < KH_PROVIDER_MAX_HOSTS && p->hosts[k] != NULL; k++) {
			char norm[KH_HOST_BUF + 2];

			CHECK_INT(kh_host_pattern_normalize(p->hosts[k], norm), 0);
			CHECK_STR(norm, p->hosts[k]);
		}
		/* AWS keys are re-signed with, never placed: no location */
		CHECK(kh_provider_is_sigv4(p->env_name) == (p->locations[0] == NULL));
		for (size_t k = 0; k < KH_PROVIDER_MAX_LOCS && p->locations[k] != NULL; k++) {
			CHECK_INT(kh_location_parse(p->locations[k], NULL, &loc, &why), 0);
			if (why != NULL)
				printf("#   %s: %s\n", p->locations[k], why);
		}
		CHECK(kh_provider_find(p->env_name) == p);
		for (size_t k = 0; k < i; k++) /* one entry per variable and prefix */
			CHECK(strcmp(kh_providers[k].env_name, p->env_name) != 0 &&
			      strcmp(kh_providers[k].token_prefix, p->token_prefix) != 0);
	}
	for (size_t i = 0; i < kh_default_allowed_hosts_count; i++) {
		char norm[KH_HOST_BUF + 2];

		CHECK_INT(kh_host_pattern_normalize(kh_default_allowed_hosts[i], norm), 0);
		CHECK_STR(norm, kh_default_allowed_hosts[i]);
	}
}

static void lookups(void)
{
	const struct kh_provider *g = kh_provider_find("GEMINI_API_KEY");
	const char *const *req;

	CHECK(g != NULL && kh_provider_find("GOOGLE_API_KEY") == g);
	CHECK(kh_provider_find("gemini_api_key") == NULL);
	CHECK(kh_provider_find("OPENAI_API_KEY_") == NULL);
	CHECK(kh_provider_find("") == NULL);
	CHECK(kh_provider_is_sigv4("AWS_SESSION_TOKEN"));
	CHECK(!kh_provider_is_sigv4("AWS_REGION"));
	req = kh_provider_requires("AWS_ACCESS_KEY_ID");
	CHECK(req[0] != NULL && strcmp(req[0], "AWS_SECRET_ACCESS_KEY") == 0 && req[1] == NULL);
	req = kh_provider_requires("AWS_SESSION_TOKEN");
	CHECK(req[0] != NULL && req[1] != NULL && req[2] == NULL);
	CHECK(kh_provider_requires("OPENAI_API_KEY")[0] == NULL);
}

static bool parses(const char *spec, const char *tmpl)
{
	struct kh_location loc;
	const char *why = NULL;

	return kh_location_parse(spec, tmpl, &loc, &why) == 0;
}

/* Refused, with why containing needle. */
static bool refused(const char *spec, const char *tmpl, const char *needle)
{
	struct kh_location loc;
	const char *why = NULL;
	bool ok = kh_location_parse(spec, tmpl, &loc, &why) == -1 && why != NULL &&
		  strstr(why, needle) != NULL;

	if (!ok)
		printf("#   '%s' / '%s': %s\n", spec, tmpl ? tmpl : "", why ? why : "(accepted)");
	return ok;
}

static void location_specs(void)
{
	struct kh_location loc;
	const char *why = NULL;
	char name[80];

	CHECK_INT(kh_location_parse("header  X-Api-Key", "Key {}", &loc, &why), 0);
	CHECK_INT(loc.kind, KH_LOC_HEADER);
	CHECK_STR(loc.name, "X-Api-Key");
	CHECK_STR(loc.tmpl, "Key {}");
	CHECK_INT(kh_location_parse("query api_key.v2~", NULL, &loc, &why), 0);
	CHECK_INT(loc.kind, KH_LOC_QUERY);
	CHECK(parses("bearer", NULL));
	CHECK(parses("basic", ""));
	CHECK(parses("header Authorization", "token {}"));

	CHECK(refused("", NULL, "must be bearer, basic"));
	CHECK(refused("Bearer", NULL, "must be bearer, basic"));
	CHECK(refused("bearerx", NULL, "must be bearer, basic"));
	CHECK(refused("bearer x", NULL, "take no name"));
	CHECK(refused("bearer", "Bearer {}", "take no name"));
	CHECK(refused("header", NULL, "need a name"));
	CHECK(refused("query ", NULL, "need a name"));
	CHECK(refused("header x-api-key extra", NULL, "valid HTTP field name"));
	CHECK(refused("header x:y", NULL, "valid HTTP field name"));
	CHECK(refused("header Host", NULL, "managed by keyhole"));
	CHECK(refused("header Proxy-Authorization", NULL, "managed by keyhole"));
	CHECK(refused("header TRANSFER-ENCODING", NULL, "managed by keyhole"));
	CHECK(refused("query a%20b", NULL, "letters, digits"));
	CHECK(refused("query a&b", NULL, "letters, digits"));
	CHECK(refused("query key", "x{}", "no template"));
	CHECK(refused("header a", "token", "exactly once"));
	CHECK(refused("header a", "{}{}", "exactly once"));
	CHECK(refused("header a", " {}", "start or end with a space"));
	CHECK(refused("header a", "{}\r\nX-Evil: 1", "printable ASCII"));
	CHECK(refused("header a", "k\x7f{}", "printable ASCII"));
	CHECK(refused("header a", "k\xc3\xa9{}", "printable ASCII"));
	memset(name, 'a', sizeof name - 1);
	memcpy(name, "header ", 7);
	name[sizeof name - 1] = '\0';
	CHECK(refused(name, NULL, "too long"));

	/* as mappings.json stores it: already split */
	loc = (struct kh_location){ .kind = KH_LOC_BASIC };
	CHECK_INT(kh_location_check(&loc, &why), 0);
	memcpy(loc.name, "x", 2);
	CHECK_INT(kh_location_check(&loc, &why), -1);
	loc = (struct kh_location){ .kind = (enum kh_loc_kind)9 };
	CHECK_INT(kh_location_check(&loc, &why), -1);
	memset(loc.name, 'n', sizeof loc.name); /* no terminator */
	loc.kind = KH_LOC_HEADER;
	CHECK_INT(kh_location_check(&loc, &why), -1);
	CHECK(why != NULL && strstr(why, "too long") != NULL);
	CHECK_STR(kh_loc_kind_name(KH_LOC_QUERY), "query");
}

int main(void)
{
	RUN(tables_well_formed);
	RUN(lookups);
	RUN(location_specs);
	TAP_DONE();
}
