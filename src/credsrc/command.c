/* credential_source: command. `/bin/sh -c <credential_command>` with
 * keyhole's environment, printing NAME=value lines or one JSON object
 * {"NAME": "value"}. A failure message carries the exit code and the first
 * bytes of stderr, never stdout (which holds the values). */
#include "credsrc/credsrc.h"

#include <string.h>

#include <jansson.h>

#include "base/spawn.h"
#include "policy/mappings.h"

extern char **environ;

static int command_precheck(const struct kh_config *cfg, struct kh_err *err)
{
	if (cfg->credential_command[0] == '\0') {
		kh_err_set(err,
			   "credential_source is command but credential_command is "
			   "empty in %s",
			   cfg->path);
		return -1;
	}
	return 0;
}

static int parse_json_object(const char *text, size_t len, const struct kh_credsrc_req *req,
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
		if (!json_is_string(v) || !kh_env_name_valid(k) ||
		    !kh_credsrc_wanted(k, req->names, req->n))
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
static int parse_lines(char *text, size_t len, const struct kh_credsrc_req *req,
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
			if (kh_env_name_valid(line) &&
			    kh_credsrc_wanted(line, req->names, req->n) &&
			    kh_secrets_add(out, line, eq + 1, strlen(eq + 1), err) != 0) {
				kh_secrets_free(out);
				return -1;
			}
		}
		line = nl + 1;
	}
	return 0;
}

static int command_fetch(const struct kh_credsrc_req *req, struct kh_secrets *out,
			 struct kh_err *err)
{
	char *argv[] = { "/bin/sh", "-c", (char *)req->cfg->credential_command, NULL };
	struct kh_spawn_result r;
	size_t skip = 0;
	int rc;

	if (command_precheck(req->cfg, err) != 0 ||
	    kh_spawn_capture(argv, environ, req->timeout_ms, req->output_max, &r, err) != 0)
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
		rc = parse_json_object(r.out, r.out_len, req, out, err);
	else
		rc = parse_lines(r.out, r.out_len, req, out, err);
	kh_spawn_result_free(&r);
	return rc;
}

const struct kh_credsrc_ops kh_credsrc_command = {
	.name = "command",
	.id = KH_CRED_COMMAND,
	.from = "command",
	.check = "credential_command",
	.precheck = command_precheck,
	.fetch = command_fetch,
};
