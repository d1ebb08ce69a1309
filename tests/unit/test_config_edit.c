#include <stdlib.h>

#include "cli/config_edit.h"
#include "tap.h"

static char *edit(const char *text, const char *key, const char *value)
{
	struct kh_config_set set = { key, value };
	struct kh_err err;
	char *out = NULL;
	size_t len = 0;

	if (kh_config_edit_text(text, strlen(text), &set, &out, &len, &err) != 0) {
		printf("# edit failed: %s\n", err.msg);
		return NULL;
	}
	return out;
}

static void keeps_comments_and_order(void)
{
	const char *in = "# my proxy\n"
			 "enabled: true   # turned on by setup\n"
			 "\n"
			 "my_own_key: 3   # keyhole does not know this\n"
			 "tunnel_port: 9090\n";
	char *out = edit(in, "enabled", "false");

	CHECK_STR(out, "# my proxy\n"
		       "enabled: false   # turned on by setup\n"
		       "\n"
		       "my_own_key: 3   # keyhole does not know this\n"
		       "tunnel_port: 9090\n");
	free(out);
}

static void appends_missing_key(void)
{
	char *out = edit("tunnel_port: 1\n# end", "enabled", "true");

	CHECK_STR(out, "tunnel_port: 1\n# end\nenabled: true\n");
	free(out);
	out = edit("", "enabled", "true");
	CHECK_STR(out, "enabled: true\n");
	free(out);
}

static void replaces_quoted_and_empty_values(void)
{
	char *out = edit("credential_source: \"bitwarden\"  # rotate via BW\n", "credential_source",
			 "env");

	CHECK_STR(out, "credential_source: env  # rotate via BW\n");
	free(out);
	out = edit("enabled:\ntunnel_port: 5\n", "enabled", "true");
	CHECK_STR(out, "enabled: true\ntunnel_port: 5\n");
	free(out);
	out = edit("enabled: # later\n", "enabled", "true");
	CHECK_STR(out, "enabled: true # later\n");
	free(out);
}

static void only_top_level_exact_key(void)
{
	char *out = edit("timeouts:\n  enabled: 3\nenabled_x: 1\n", "enabled", "true");

	CHECK_STR(out, "timeouts:\n  enabled: 3\nenabled_x: 1\nenabled: true\n");
	free(out);
}

static void refuses_nested_value(void)
{
	CHECK(edit("enabled:\n  - a\n", "enabled", "true") == NULL);
}

int main(void)
{
	RUN(keeps_comments_and_order);
	RUN(appends_missing_key);
	RUN(replaces_quoted_and_empty_values);
	RUN(only_top_level_exact_key);
	RUN(refuses_nested_value);
	TAP_DONE();
}
