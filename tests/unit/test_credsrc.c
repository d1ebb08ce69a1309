/* Credential sources: the registry, the env source, and the command source
 * running real /bin/sh commands (argv, timeout, output cap, failures). */
#include <stdlib.h>
#include <string.h>

#include "credsrc/credsrc.h"
#include "tap.h"

static struct kh_config cfg;

static const struct kh_credsrc_ops *use(enum kh_cred_source id, const char *command)
{
	kh_config_free(&cfg);
	kh_config_defaults(&cfg);
	cfg.credential_source = id;
	snprintf(cfg.credential_command, sizeof cfg.credential_command, "%s", command);
	return kh_credsrc_of(&cfg);
}

/* Runs the configured command source with the given bounds. */
static int run(const char *const *names, size_t n, unsigned timeout_ms, size_t output_max,
	       struct kh_secrets *out, struct kh_err *err)
{
	const struct kh_credsrc_req req = { &cfg, names, n, timeout_ms, output_max };

	return kh_credsrc_command.fetch(&req, out, err);
}

static const char *get(const struct kh_secrets *s, const char *name)
{
	size_t len;

	return kh_secrets_get(s, name, &len);
}

static void registry_names_match_config(void)
{
	const enum kh_cred_source ids[] = { KH_CRED_ENV, KH_CRED_BITWARDEN, KH_CRED_COMMAND };

	CHECK_INT(kh_credsrc_count(), 3);
	CHECK(kh_credsrc_at(kh_credsrc_count()) == NULL);
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		const struct kh_credsrc_ops *ops = kh_credsrc_by_id(ids[i]);

		CHECK(ops->id == ids[i]);
		CHECK_STR(ops->name, kh_cred_source_name(ids[i])); /* config.c parses these */
		CHECK(ops->fetch != NULL && ops->from != NULL && ops->check != NULL);
	}
	for (size_t i = 0; i < kh_credsrc_count(); i++) /* one entry per id */
		CHECK(kh_credsrc_by_id(kh_credsrc_at(i)->id) == kh_credsrc_at(i));
	CHECK(use(KH_CRED_COMMAND, "") == &kh_credsrc_command);
	CHECK(use(KH_CRED_BITWARDEN, "") == &kh_credsrc_bitwarden);
	CHECK(use(KH_CRED_ENV, "") == &kh_credsrc_env);
	CHECK(kh_credsrc_by_id((enum kh_cred_source)99) == &kh_credsrc_env);
	CHECK(kh_credsrc_env.reads_environ);
	CHECK(!kh_credsrc_command.reads_environ && !kh_credsrc_bitwarden.reads_environ);
}

static void env_source_reads_only_named_variables(void)
{
	const char *names[] = { "KH_TEST_CRED_A", "KH_TEST_CRED_MISSING" };
	struct kh_secrets s = { 0 };
	struct kh_err err = { "" };
	const char *tok;

	setenv("KH_TEST_CRED_A", "value-a", 1);
	setenv("KH_TEST_CRED_B", "value-b", 1);
	unsetenv("KH_TEST_CRED_MISSING");
	use(KH_CRED_ENV, "");
	CHECK_INT(kh_credsrc_precheck(&cfg, &err), 0);
	CHECK_INT(kh_credsrc_fetch(&cfg, names, 2, &s, &err), 0);
	CHECK_STR(get(&s, "KH_TEST_CRED_A"), "value-a");
	CHECK(get(&s, "KH_TEST_CRED_MISSING") == NULL);
	CHECK(get(&s, "KH_TEST_CRED_B") == NULL); /* set, but not asked for */
	CHECK(kh_credsrc_access_env(&cfg, &tok) == NULL);
	kh_secrets_free(&s);
	setenv("KH_TEST_CRED_A", "bad\r\nvalue", 1);
	CHECK_INT(kh_credsrc_fetch(&cfg, names, 2, &s, &err), -1);
	CHECK(strstr(err.msg, "KH_TEST_CRED_A") != NULL && strstr(err.msg, "bad") == NULL);
	unsetenv("KH_TEST_CRED_A");
	unsetenv("KH_TEST_CRED_B");
}

static void command_lines_and_comments(void)
{
	struct kh_secrets s = { 0 };
	struct kh_err err = { "" };

	use(KH_CRED_COMMAND,
	    "printf '# X=comment\\nA=1\\n\\nB=two words=2\\nlower=3\\nnot a line\\n'");
	CHECK_INT(kh_credsrc_fetch(&cfg, NULL, 0, &s, &err), 0);
	CHECK_INT(s.n, 2);
	CHECK_STR(get(&s, "A"), "1");
	CHECK_STR(get(&s, "B"), "two words=2");
	CHECK(get(&s, "X") == NULL && get(&s, "lower") == NULL);
	kh_secrets_free(&s);
}

static void command_json_and_name_filter(void)
{
	const char *names[] = { "B_KEY" };
	struct kh_secrets s = { 0 };
	struct kh_err err = { "" };

	use(KH_CRED_COMMAND, "echo '  {\"A_KEY\": \"a\", \"B_KEY\": \"b\", \"C\": 3}'");
	CHECK_INT(kh_credsrc_fetch(&cfg, names, 1, &s, &err), 0);
	CHECK_INT(s.n, 1);
	CHECK_STR(get(&s, "B_KEY"), "b");
	kh_secrets_free(&s);
	use(KH_CRED_COMMAND, "echo '{\"A_KEY\": '");
	CHECK_INT(kh_credsrc_fetch(&cfg, NULL, 0, &s, &err), -1);
	CHECK_STR(err.msg, "credential_command printed invalid JSON");
}

/* The command string reaches /bin/sh -c unchanged as one argument, with no
 * further arguments: $0 is the shell, $# is 0, quotes and $ are the shell's. */
static void command_exact_argv(void)
{
	struct kh_secrets s = { 0 };
	struct kh_err err = { "" };

	use(KH_CRED_COMMAND,
	    "printf 'ARGV0=%s\\nNARGS=%s\\nQ=%s\\n' \"$0\" \"$#\" 'a \"b\" $HOME;c'");
	CHECK_INT(kh_credsrc_fetch(&cfg, NULL, 0, &s, &err), 0);
	CHECK_STR(get(&s, "ARGV0"), "/bin/sh");
	CHECK_STR(get(&s, "NARGS"), "0");
	CHECK_STR(get(&s, "Q"), "a \"b\" $HOME;c");
	kh_secrets_free(&s);
}

static void command_timeout(void)
{
	struct kh_secrets s = { 0 };
	struct kh_err err = { "" };

	use(KH_CRED_COMMAND, "echo A=early; exec sleep 60");
	CHECK_INT(run(NULL, 0, 100, 4096, &s, &err), -1);
	CHECK_STR(err.msg, "/bin/sh did not finish in time");
}

static void command_output_cap(void)
{
	struct kh_secrets s = { 0 };
	struct kh_err err = { "" };

	use(KH_CRED_COMMAND, "printf 'A=%0100d\\n' 0");
	CHECK_INT(run(NULL, 0, 10000, 64, &s, &err), -1);
	CHECK_STR(err.msg, "/bin/sh printed more than expected");
	CHECK_INT(run(NULL, 0, 10000, 103, &s, &err), 0); /* "A=" + 100 + "\n": just fits */
	CHECK(get(&s, "A") != NULL && strlen(get(&s, "A")) == 100);
	kh_secrets_free(&s);
}

/* A failing command: exit code and stderr, never what it printed on stdout. */
static void command_failure_hides_values(void)
{
	struct kh_secrets s = { 0 };
	struct kh_err err = { "" };

	use(KH_CRED_COMMAND, "echo OPENAI_API_KEY=sk-sekrit-value-123; echo 'vault: sealed' >&2; "
			     "exit 3");
	CHECK_INT(kh_credsrc_fetch(&cfg, NULL, 0, &s, &err), -1);
	CHECK(strstr(err.msg, "credential_command failed (exit 3): vault: sealed") == err.msg);
	CHECK(strstr(err.msg, "sekrit") == NULL);
	use(KH_CRED_COMMAND, "");
	CHECK_INT(kh_credsrc_precheck(&cfg, &err), -1);
	CHECK(strstr(err.msg, "credential_command is empty") != NULL);
	CHECK_INT(kh_credsrc_fetch(&cfg, NULL, 0, &s, &err), -1);
}

/* Bitwarden's own access token: named by the config, passed on while set. */
static void bitwarden_access_env(void)
{
	struct kh_err err = { "" };
	const char *tok = NULL;

	use(KH_CRED_BITWARDEN, "");
	snprintf(cfg.bitwarden_token_env, sizeof cfg.bitwarden_token_env, "KH_TEST_BWS");
	snprintf(cfg.bitwarden_project_id, sizeof cfg.bitwarden_project_id, "p1");
	unsetenv("KH_TEST_BWS");
	CHECK(kh_credsrc_access_env(&cfg, &tok) == NULL && tok == NULL);
	CHECK_INT(kh_credsrc_precheck(&cfg, &err), -1);
	CHECK(strstr(err.msg, "KH_TEST_BWS is not set") != NULL);
	setenv("KH_TEST_BWS", "bws-token", 1);
	CHECK_STR(kh_credsrc_access_env(&cfg, &tok), "KH_TEST_BWS");
	CHECK_STR(tok, "bws-token");
	CHECK_INT(kh_credsrc_precheck(&cfg, &err), 0);
	kh_credsrc_hide_access_env(&cfg);
	CHECK_STR(getenv("KH_TEST_BWS"), "bws-token"); /* moved to the heap, still readable */
	unsetenv("KH_TEST_BWS");
}

int main(void)
{
	RUN(registry_names_match_config);
	RUN(env_source_reads_only_named_variables);
	RUN(command_lines_and_comments);
	RUN(command_json_and_name_filter);
	RUN(command_exact_argv);
	RUN(command_timeout);
	RUN(command_output_cap);
	RUN(command_failure_hides_values);
	RUN(bitwarden_access_env);
	kh_config_free(&cfg);
	TAP_DONE();
}
