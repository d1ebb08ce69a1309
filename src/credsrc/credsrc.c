#include "credsrc/credsrc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "policy/mappings.h"
#include "base/spawn.h"

extern char **environ;

int kh_credsrc_precheck(const struct kh_config *cfg, struct kh_err *err)
{
	const char *tok;

	switch (cfg->credential_source) {
	case KH_CRED_BITWARDEN:
		if (cfg->bitwarden_project_id[0] == '\0') {
			kh_err_set(err,
				   "credential_source is bitwarden but bitwarden.project_id is "
				   "empty in %s; set it, or run `keyhole setup --no-bitwarden` to "
				   "use environment variables",
				   cfg->path);
			return -1;
		}
		tok = getenv(cfg->bitwarden_token_env);
		if (tok == NULL || tok[0] == '\0') {
			kh_err_set(err,
				   "credential_source is bitwarden but %s is not set; export "
				   "it, or run `keyhole setup --no-bitwarden` to use environment "
				   "variables",
				   cfg->bitwarden_token_env);
			return -1;
		}
		return 0;
	case KH_CRED_COMMAND:
		if (cfg->credential_command[0] == '\0') {
			kh_err_set(err,
				   "credential_source is command but credential_command is "
				   "empty in %s",
				   cfg->path);
			return -1;
		}
		return 0;
	default:
		return 0;
	}
}

static int from_env(const char *const *names, size_t n, struct kh_secrets *out, struct kh_err *err)
{
	return kh_secrets_load_env(out, names, n, err);
}

static bool wanted(const char *name, const char *const *names, size_t n)
{
	if (names == NULL)
		return true;
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/* bws: [{"key": "OPENAI_API_KEY", "value": "...", ...}, ...] */
static int parse_bws(const char *text, size_t len, const char *const *names, size_t n,
		     struct kh_secrets *out, struct kh_err *err)
{
	json_t *root = json_loadb(text, len, 0, NULL), *item;
	size_t i;
	int rc = -1;

	if (!json_is_array(root)) {
		kh_err_set(err, "bws printed something that is not a JSON list of secrets");
		goto out;
	}
	if (kh_secrets_init(out, len, json_array_size(root), err) != 0)
		goto out;
	json_array_foreach(root, i, item)
	{
		json_t *k = json_object_get(item, "key"), *v = json_object_get(item, "value");

		if (!json_is_string(k) || !json_is_string(v) ||
		    !kh_env_name_valid(json_string_value(k)))
			continue; /* not a variable-shaped secret: not ours to use */
		if (!wanted(json_string_value(k), names, n))
			continue;
		if (kh_secrets_add(out, json_string_value(k), json_string_value(v),
				   json_string_length(v), err) != 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(root); /* jansson does not wipe; the strings were short-lived */
	if (rc != 0)
		kh_secrets_free(out);
	return rc;
}

/* bws reads its token from BWS_ACCESS_TOKEN; the operator may keep it under
 * another name (bitwarden.access_token_env), so bws gets our environment with
 * that one variable set. The copy holding the token is wiped afterwards. */
static char **bws_env(const char *token_env, char **tokvar)
{
	const char *tok = getenv(token_env);
	size_t n = 0, k = 0, len;
	char **env;

	while (environ[n] != NULL)
		n++;
	env = calloc(n + 2, sizeof *env);
	len = strlen("BWS_ACCESS_TOKEN=") + strlen(tok) + 1;
	*tokvar = malloc(len);
	if (env == NULL || *tokvar == NULL) {
		free(env);
		free(*tokvar);
		return NULL;
	}
	snprintf(*tokvar, len, "BWS_ACCESS_TOKEN=%s", tok);
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "BWS_ACCESS_TOKEN=", 17) != 0)
			env[k++] = environ[i];
	env[k] = *tokvar;
	return env;
}

static int run_bws(const struct kh_config *cfg, const char *const *names, size_t n,
		   struct kh_secrets *out, struct kh_err *err)
{
	char *argv[] = { "bws",      "secret", "list", (char *)cfg->bitwarden_project_id,
			 "--output", "json",   NULL };
	struct kh_spawn_result r;
	char **env, *tokvar = NULL;
	int rc;

	if (kh_credsrc_precheck(cfg, err) != 0)
		return -1;
	env = bws_env(cfg->bitwarden_token_env, &tokvar);
	if (env == NULL) {
		kh_err_set(err, "out of memory");
		return -1;
	}
	rc = kh_spawn_capture(argv, env, KH_CREDSRC_TIMEOUT_MS, KH_CREDSRC_OUTPUT_MAX, &r, err);
	OPENSSL_cleanse(tokvar, strlen(tokvar));
	free(tokvar);
	free(env);
	if (rc != 0)
		return -1;
	if (r.exit_code != 0) {
		kh_err_set(err, "`bws secret list` failed (exit %d)%s%s", r.exit_code,
			   r.err[0] ? ": " : "", r.err);
		kh_spawn_result_free(&r);
		return -1;
	}
	rc = parse_bws(r.out, r.out_len, names, n, out, err);
	kh_spawn_result_free(&r);
	return rc;
}

static int parse_json_object(const char *text, size_t len, const char *const *names, size_t n,
			     struct kh_secrets *out, struct kh_err *err)
{
	json_t *root = json_loadb(text, len, 0, NULL), *v;
	const char *k;
	int rc = -1;

	if (!json_is_object(root)) {
		kh_err_set(err, "credential_command printed invalid JSON");
		goto out;
	}
	if (kh_secrets_init(out, len, json_object_size(root), err) != 0)
		goto out;
	json_object_foreach(root, k, v)
	{
		if (!json_is_string(v) || !kh_env_name_valid(k) || !wanted(k, names, n))
			continue;
		if (kh_secrets_add(out, k, json_string_value(v), json_string_length(v), err) != 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(root);
	if (rc != 0)
		kh_secrets_free(out);
	return rc;
}

/* NAME=value per line; blank lines and # comments are skipped. */
static int parse_lines(char *text, size_t len, const char *const *names, size_t n,
		       struct kh_secrets *out, struct kh_err *err)
{
	char *line = text, *end = text + len;
	size_t lines = 1;

	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	if (kh_secrets_init(out, len, lines, err) != 0)
		return -1;
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line)), *eq;

		if (nl == NULL)
			nl = end;
		*nl = '\0';
		eq = strchr(line, '=');
		if (line[0] != '#' && eq != NULL) {
			*eq = '\0';
			if (kh_env_name_valid(line) && wanted(line, names, n) &&
			    kh_secrets_add(out, line, eq + 1, strlen(eq + 1), err) != 0) {
				kh_secrets_free(out);
				return -1;
			}
		}
		line = nl + 1;
	}
	return 0;
}

static int run_command(const struct kh_config *cfg, const char *const *names, size_t n,
		       struct kh_secrets *out, struct kh_err *err)
{
	char *argv[] = { "/bin/sh", "-c", (char *)cfg->credential_command, NULL };
	struct kh_spawn_result r;
	size_t skip = 0;
	int rc;

	if (kh_credsrc_precheck(cfg, err) != 0 ||
	    kh_spawn_capture(argv, environ, KH_CREDSRC_TIMEOUT_MS, KH_CREDSRC_OUTPUT_MAX, &r,
			     err) != 0)
		return -1;
	if (r.exit_code != 0) {
		kh_err_set(err, "credential_command failed (exit %d)%s%s", r.exit_code,
			   r.err[0] ? ": " : "", r.err);
		kh_spawn_result_free(&r);
		return -1;
	}
	while (skip < r.out_len &&
	       (r.out[skip] == ' ' || r.out[skip] == '\n' || r.out[skip] == '\t'))
		skip++;
	if (skip < r.out_len && r.out[skip] == '{')
		rc = parse_json_object(r.out, r.out_len, names, n, out, err);
	else
		rc = parse_lines(r.out, r.out_len, names, n, out, err);
	kh_spawn_result_free(&r);
	return rc;
}

int kh_credsrc_fetch(const struct kh_config *cfg, const char *const *names, size_t n,
		     struct kh_secrets *out, struct kh_err *err)
{
	switch (cfg->credential_source) {
	case KH_CRED_BITWARDEN:
		return run_bws(cfg, names, n, out, err);
	case KH_CRED_COMMAND:
		return run_command(cfg, names, n, out, err);
	default:
		return from_env(names, n, out, err);
	}
}
