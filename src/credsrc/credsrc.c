/* The registry of credential sources and the calls the CLI and the daemon
 * make; each source lives in its own file (env.c, bitwarden.c, command.c). */
#include "credsrc/credsrc.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/kh_limits.h"

/* A new source: its file, its ops, one line here (and its name in
 * config.c's enum kh_cred_source, which parses config.yaml). */
static const struct kh_credsrc_ops *const sources[] = {
	&kh_credsrc_env,
	&kh_credsrc_bitwarden,
	&kh_credsrc_command,
};

size_t kh_credsrc_count(void)
{
	return sizeof sources / sizeof sources[0];
}

const struct kh_credsrc_ops *kh_credsrc_at(size_t i)
{
	return i < kh_credsrc_count() ? sources[i] : NULL;
}

const struct kh_credsrc_ops *kh_credsrc_by_id(enum kh_cred_source id)
{
	for (size_t i = 0; i < kh_credsrc_count(); i++)
		if (sources[i]->id == id)
			return sources[i];
	return &kh_credsrc_env;
}

const struct kh_credsrc_ops *kh_credsrc_of(const struct kh_config *cfg)
{
	return kh_credsrc_by_id(cfg->credential_source);
}

int kh_credsrc_precheck(const struct kh_config *cfg, struct kh_err *err)
{
	const struct kh_credsrc_ops *ops = kh_credsrc_of(cfg);

	return ops->precheck ? ops->precheck(cfg, err) : 0;
}

int kh_credsrc_fetch(const struct kh_config *cfg, const char *const *names, size_t n,
		     struct kh_secrets *out, struct kh_err *err)
{
	const struct kh_credsrc_req req = {
		.cfg = cfg,
		.names = names,
		.n = n,
		.timeout_ms = KH_CREDSRC_TIMEOUT_MS,
		.output_max = KH_CREDSRC_OUTPUT_MAX,
	};

	return kh_credsrc_of(cfg)->fetch(&req, out, err);
}

const char *kh_credsrc_access_env(const struct kh_config *cfg, const char **value)
{
	const struct kh_credsrc_ops *ops = kh_credsrc_of(cfg);
	const char *name = ops->access_env ? ops->access_env(cfg) : NULL;

	*value = name ? getenv(name) : NULL;
	return *value ? name : NULL;
}

void kh_credsrc_hide_access_env(const struct kh_config *cfg)
{
	const char *v, *name = kh_credsrc_access_env(cfg, &v);
	char *copy;

	if (name == NULL || (copy = strdup(v)) == NULL)
		return;
	kh_secrets_scrub_environ(&name, 1);
	setenv(name, copy, 1);
	OPENSSL_cleanse(copy, strlen(copy));
	free(copy);
}

void kh_credsrc_drop_access_env(const struct kh_config *cfg)
{
	const char *v, *name = kh_credsrc_access_env(cfg, &v);

	if (name != NULL)
		kh_secrets_scrub_environ(&name, 1);
}

bool kh_credsrc_wanted(const char *name, const char *const *names, size_t n)
{
	if (names == NULL)
		return true;
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}
