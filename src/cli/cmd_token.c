/* `keyhole token issue|revoke|list`: sandbox tokens from the running daemon,
 * over its control socket (ctl_server.h). issue prints NAME=token lines (an
 * env file: the tokens are what a sandbox is meant to hold; they are not the
 * real keys); list shows tokens only by their first characters. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/ctl_client.h"
#include "policy/grants.h"
#include "base/home.h"
#include "base/kh_limits.h"
#include "base/slice.h"

struct token_opts {
	const char *home;
	const char *label;
	const char *ttl;
	const char *budget;
	const char *providers[KH_TOKEN_CMD_MAX_PROVIDERS];
	size_t n_providers;
	bool json;
};

static int parse(int argc, char **argv, struct token_opts *o)
{
	static const struct option longopts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "label", required_argument, NULL, 'l' },
		{ "ttl", required_argument, NULL, 't' },
		{ "budget", required_argument, NULL, 'b' },
		{ "provider", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	opterr = 0;
	optind = 2; /* argv[1] is the action */
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch == 'H')
			o->home = optarg;
		else if (ch == 'l')
			o->label = optarg;
		else if (ch == 't')
			o->ttl = optarg;
		else if (ch == 'b')
			o->budget = optarg;
		else if (ch == 'j')
			o->json = true;
		else if (ch == 'p' && o->n_providers < KH_TOKEN_CMD_MAX_PROVIDERS)
			o->providers[o->n_providers++] = optarg;
		else
			return kh_cli_usage_error("token", "unknown or incomplete option '%s'",
						  argv[optind - 1]);
	}
	return 0;
}

static int call(const struct token_opts *o, json_t *req, json_t **reply)
{
	struct kh_paths paths;
	struct kh_err err = { "" };
	int rc = -1;

	if (req == NULL)
		kh_err_set(&err, "out of memory");
	else if (kh_paths_resolve(&paths, o->home, NULL, &err) == 0)
		rc = kh_ctl_call(paths.control, req, reply, &err);
	json_decref(req);
	if (rc != 0)
		fprintf(stderr, "keyhole token: %s\n", err.msg);
	return rc;
}

static void print_issued(json_t *tokens, bool json)
{
	size_t i;
	json_t *t;

	if (json) {
		char *s = json_dumps(tokens, JSON_COMPACT);

		if (s != NULL)
			printf("%s\n", s);
		free(s);
		return;
	}
	json_array_foreach(tokens, i, t)
	{
		printf("%s=%s\n", json_string_value(json_object_get(t, "env_name")),
		       json_string_value(json_object_get(t, "token")));
	}
}

static int issue(const struct token_opts *o)
{
	json_t *reply = NULL;
	int64_t ttl = o->ttl ? kh_ctl_parse_ttl(o->ttl) : KH_DEFAULT_GRANT_TTL;
	uint64_t budget = 0;

	if (o->label == NULL)
		return kh_cli_usage_error("token", "issue needs --label (the sandbox it is for)");
	if (!kh_grant_label_valid(o->label))
		return kh_cli_usage_error("token",
					  "--label takes letters, digits, '.', '_' and '-' "
					  "(at most %d, not starting with a sign)",
					  KH_GRANT_LABEL_MAX - 1);
	if (ttl < 0)
		return kh_cli_usage_error("token", "--ttl takes a duration like 90s, 30m, 1h, 7d "
						   "or none (at most 366d)");
	if (o->budget != NULL && kh_parse_u64(o->budget, INT64_MAX, &budget) != 0)
		return kh_cli_usage_error("token", "--budget takes a number of requests");
	if (call(o, kh_ctl_issue_request(o->label, ttl, budget, o->providers, o->n_providers),
		 &reply) != 0)
		return KH_EXIT_FAIL;
	print_issued(json_object_get(reply, "tokens"), o->json);
	json_decref(reply);
	return KH_EXIT_OK;
}

/* The token to revoke: the argument, or "-": the first line of stdin (so it
 * need not appear in the process list). */
static int token_arg(const char *arg, char *out, size_t len)
{
	if (strcmp(arg, "-") != 0) {
		snprintf(out, len, "%s", arg);
		return 0;
	}
	if (fgets(out, (int)len, stdin) == NULL)
		return -1;
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

static int revoke(const struct token_opts *o, int argc, char **argv)
{
	char token[KH_TOKEN_MAX + 2];
	json_t *reply = NULL, *req;
	long n;

	if ((optind < argc) == (o->label != NULL) || optind + 1 < argc)
		return kh_cli_usage_error("token",
					  "revoke takes one TOKEN (or -) or --label LABEL");
	if (o->label != NULL) {
		req = json_pack("{s:s, s:s}", "op", "revoke", "label", o->label);
	} else {
		if (token_arg(argv[optind], token, sizeof token) != 0)
			return kh_cli_usage_error("token", "no token on standard input");
		req = json_pack("{s:s, s:s}", "op", "revoke", "token", token);
	}
	if (call(o, req, &reply) != 0)
		return KH_EXIT_FAIL;
	n = (long)json_integer_value(json_object_get(reply, "revoked"));
	json_decref(reply);
	printf("revoked %ld sandbox token(s)\n", n);
	if (n == 0)
		fprintf(stderr, "keyhole token: nothing live matched (see keyhole token list)\n");
	return n > 0 ? KH_EXIT_OK : KH_EXIT_FAIL;
}

static void when(json_int_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL)
		snprintf(out, len, "never");
	else
		strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void print_grant(json_t *g)
{
	char exp[32], use[48];
	json_int_t budget = json_integer_value(json_object_get(g, "budget"));
	json_int_t used = json_integer_value(json_object_get(g, "used"));

	when(json_integer_value(json_object_get(g, "expires")), exp, sizeof exp);
	if (budget > 0)
		snprintf(use, sizeof use, "%lld/%lld", (long long)used, (long long)budget);
	else
		snprintf(use, sizeof use, "%lld", (long long)used);
	printf("%-24s %-24s %-16s %-9s %-20s %s\n", json_string_value(json_object_get(g, "label")),
	       json_string_value(json_object_get(g, "env_name")),
	       json_string_value(json_object_get(g, "token")),
	       json_string_value(json_object_get(g, "state")), exp, use);
}

static int list(const struct token_opts *o)
{
	json_t *reply = NULL, *grants, *g;
	size_t i;

	if (call(o, json_pack("{s:s}", "op", "list"), &reply) != 0)
		return KH_EXIT_FAIL;
	grants = json_object_get(reply, "grants");
	if (o->json) {
		char *s = json_dumps(grants, JSON_COMPACT);

		printf("%s\n", s != NULL ? s : "[]");
		free(s);
	} else if (json_array_size(grants) == 0) {
		printf("no sandbox tokens (keyhole token issue --label NAME makes one)\n");
	} else {
		printf("%-24s %-24s %-16s %-9s %-20s %s\n", "LABEL", "CREDENTIAL", "TOKEN", "STATE",
		       "EXPIRES", "REQUESTS");
		json_array_foreach(grants, i, g)
		{
			print_grant(g);
		}
	}
	json_decref(reply);
	return KH_EXIT_OK;
}

int kh_cmd_token(int argc, char **argv)
{
	struct token_opts o = { 0 };
	const char *action = argc > 1 ? argv[1] : "";
	int rc;

	if (strcmp(action, "issue") != 0 && strcmp(action, "revoke") != 0 &&
	    strcmp(action, "list") != 0)
		return kh_cli_usage_error("token", "expected issue, revoke or list");
	if ((rc = parse(argc, argv, &o)) != 0)
		return rc;
	if (strcmp(action, "revoke") == 0)
		return revoke(&o, argc, argv);
	if (optind < argc)
		return kh_cli_usage_error("token", "unexpected argument '%s'", argv[optind]);
	return strcmp(action, "issue") == 0 ? issue(&o) : list(&o);
}
