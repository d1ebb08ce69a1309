/* credential_source: bitwarden (Bitwarden Secrets Manager). Runs
 * `bws secret list <project_id> --output json`; each secret's "key" is the
 * variable name it stands for. The access token is read from the variable
 * bitwarden.access_token_env names and reaches bws only in its environment
 * (BWS_ACCESS_TOKEN), never argv. keyhole start hands that variable to the
 * daemon, which fetches once and wipes it; its monitor keeps it and fetches
 * again on every reload (access_env below, proxy/monitor.h). */
#include "credsrc/credsrc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "base/spawn.h"
#include "policy/mappings.h"

extern char **environ;

#define BWS_TOKEN_VAR "BWS_ACCESS_TOKEN="

static int bw_precheck(const struct kh_config *cfg, struct kh_err *err)
{
	const char *tok;

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
}

/* bws: [{"key": "OPENAI_API_KEY", "value": "...", ...}, ...] */
static int parse_bws(const char *text, size_t len, const struct kh_credsrc_req *req,
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
		if (!kh_credsrc_wanted(json_string_value(k), req->names, req->n))
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
	len = strlen(BWS_TOKEN_VAR) + strlen(tok) + 1;
	*tokvar = malloc(len);
	if (env == NULL || *tokvar == NULL) {
		free(env);
		free(*tokvar);
		return NULL;
	}
	snprintf(*tokvar, len, BWS_TOKEN_VAR "%s", tok);
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], BWS_TOKEN_VAR, strlen(BWS_TOKEN_VAR)) != 0)
			env[k++] = environ[i];
	env[k] = *tokvar;
	return env;
}

static int bw_fetch(const struct kh_credsrc_req *req, struct kh_secrets *out, struct kh_err *err)
{
	char *argv[] = { "bws",      "secret", "list", (char *)req->cfg->bitwarden_project_id,
			 "--output", "json",   NULL };
	struct kh_spawn_result r;
	char **env, *tokvar = NULL;
	int rc;

	if (bw_precheck(req->cfg, err) != 0)
		return -1;
	env = bws_env(req->cfg->bitwarden_token_env, &tokvar);
	if (env == NULL) {
		kh_err_set(err, "out of memory");
		return -1;
	}
	rc = kh_spawn_capture(argv, env, req->timeout_ms, req->output_max, &r, err);
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
	rc = parse_bws(r.out, r.out_len, req, out, err);
	kh_spawn_result_free(&r);
	return rc;
}

/* The daemon's monitor fetches again on reload, so it needs the token too. */
static const char *bw_access_env(const struct kh_config *cfg)
{
	return cfg->bitwarden_token_env;
}

const struct kh_credsrc_ops kh_credsrc_bitwarden = {
	.name = "bitwarden",
	.id = KH_CRED_BITWARDEN,
	.from = "bitwarden",
	.check = "bitwarden.project_id and the access token's project scope",
	.precheck = bw_precheck,
	.fetch = bw_fetch,
	.access_env = bw_access_env,
};
