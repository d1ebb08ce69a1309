/* mappings.json: credential locations, and files written before they existed. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "policy/mappings.h"
#include "tap.h"

#define TOK "keyhole-x-0123456789abcdef0123456789abcdef"

static int parse(const char *json, struct kh_mappings *m, struct kh_err *err)
{
	return kh_mappings_parse(json, strlen(json), m, err);
}

static void legacy_file_keeps_its_meaning(void)
{
	struct kh_mappings m;
	struct kh_err err;

	CHECK_INT(parse("{\"version\":1,\"tokens\":[{\"proxy_token\":\"" TOK "\","
			"\"env_name\":\"X\",\"upstream_hosts\":[\"a.b\"],"
			"\"match_headers\":[\"x-api-key\",\"Authorization\"]}]}",
			&m, &err),
		  0);
	CHECK_INT(m.v[0].n_locs, 2);
	CHECK_INT(m.v[0].locs[0].kind, KH_LOC_HEADER);
	CHECK_STR(m.v[0].locs[0].name, "x-api-key");
	CHECK_INT(m.v[0].locs[1].kind, KH_LOC_BEARER);
	kh_mappings_free(&m);
	/* no match_headers at all: Authorization (Bearer), as before */
	CHECK_INT(parse("{\"version\":1,\"tokens\":[{\"proxy_token\":\"" TOK "\","
			"\"env_name\":\"X\",\"upstream_hosts\":[\"a.b\"]}]}",
			&m, &err),
		  0);
	CHECK_INT(m.v[0].n_locs, 1);
	CHECK_INT(m.v[0].locs[0].kind, KH_LOC_BEARER);
	kh_mappings_free(&m);
}

static void locations_round_trip(void)
{
	char path[] = "/tmp/kh-test-mappings-XXXXXX";
	int fd = mkstemp(path);
	struct kh_mappings m, back;
	struct kh_err err;
	bool existed;

	CHECK_INT(parse("{\"version\":1,\"tokens\":[{\"proxy_token\":\"" TOK "\","
			"\"env_name\":\"X\",\"upstream_hosts\":[\"a.b\"],\"locations\":["
			"{\"type\":\"basic\"},{\"type\":\"query\",\"name\":\"key\"},"
			"{\"type\":\"header\",\"name\":\"Authorization\",\"template\":\"token "
			"{}\"}]}]}",
			&m, &err),
		  0);
	CHECK_INT(m.v[0].n_locs, 3);
	CHECK_INT(m.v[0].n_match_headers, 1); /* derived: Authorization */
	CHECK_STR(m.v[0].match_headers[0], "Authorization");
	close(fd);
	CHECK_INT(kh_mappings_save(path, &m, &err), 0);
	CHECK_INT(kh_mappings_load(path, &back, &existed, &err), 0);
	CHECK_INT(back.v[0].n_locs, 3);
	CHECK_INT(back.v[0].locs[1].kind, KH_LOC_QUERY);
	CHECK_STR(back.v[0].locs[1].name, "key");
	CHECK_STR(back.v[0].locs[2].tmpl, "token {}");
	unlink(path);
	kh_mappings_free(&back);
	kh_mappings_free(&m);
}

static void bad_locations_named(void)
{
	static const struct {
		const char *locs, *want;
	} cases[] = {
		{ "[]", "tokens[0].locations must be a list of 1 to 8" },
		{ "[{\"type\":\"cookie\"}]", "tokens[0].locations[0]: must be an object" },
		{ "[{\"type\":\"header\"}]", "tokens[0].locations[0]: the header name" },
		{ "[{\"type\":\"query\",\"name\":\"a b\"}]", "tokens[0].locations[0]: the query" },
		{ "[{\"type\":\"bearer\",\"template\":\"x {}\"}]",
		  "tokens[0].locations[0]: bearer" },
		{ "[{\"type\":\"header\",\"name\":\"X\",\"template\":\"{}{}\"}]",
		  "tokens[0].locations[0]: the template must contain {} exactly once" },
	};
	char json[512];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct kh_mappings m;
		struct kh_err err = { "" };

		snprintf(json, sizeof json,
			 "{\"version\":1,\"tokens\":[{\"proxy_token\":\"" TOK "\","
			 "\"env_name\":\"X\",\"upstream_hosts\":[\"a.b\"],\"locations\":%s}]}",
			 cases[i].locs);
		CHECK_INT(parse(json, &m, &err), -1);
		if (strncmp(err.msg, cases[i].want, strlen(cases[i].want)) != 0)
			printf("#   got %s\n", err.msg);
		CHECK(strncmp(err.msg, cases[i].want, strlen(cases[i].want)) == 0);
	}
}

/* A mapping is named by its env name or its token's provider part. */
static void named_by_env_or_provider(void)
{
	struct kh_mapping m = { 0 };

	snprintf(m.proxy_token, sizeof m.proxy_token, "keyhole-azure-openai-%032d", 5);
	snprintf(m.env_name, sizeof m.env_name, "AZURE_OPENAI_API_KEY");
	CHECK(kh_mapping_named(&m, "AZURE_OPENAI_API_KEY"));
	CHECK(kh_mapping_named(&m, "azure-openai"));
	CHECK(!kh_mapping_named(&m, "azure"));
	CHECK(!kh_mapping_named(&m, "openai"));
	CHECK(!kh_mapping_named(&m, "azure-openai-"));
	CHECK(!kh_mapping_named(&m, ""));
	CHECK(!kh_mapping_named(&m, "keyhole-azure-openai"));
	snprintf(m.proxy_token, sizeof m.proxy_token, "custom-%032d", 5);
	CHECK(!kh_mapping_named(&m, "custom")); /* not a keyhole-<provider> token */
}

int main(void)
{
	RUN(named_by_env_or_provider);
	RUN(legacy_file_keeps_its_meaning);
	RUN(locations_round_trip);
	RUN(bad_locations_named);
	TAP_DONE();
}
