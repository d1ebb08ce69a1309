/* credential_source: env. The values are keyhole's own environment: the
 * operator's shell for `keyhole start`, which hands the mapped ones to the
 * daemon; nothing to check or run. */
#include "credsrc/credsrc.h"

static int env_fetch(const struct kh_credsrc_req *req, struct kh_secrets *out, struct kh_err *err)
{
	return kh_secrets_load_env(out, req->names, req->n, err);
}

const struct kh_credsrc_ops kh_credsrc_env = {
	.name = "env",
	.id = KH_CRED_ENV,
	.reads_environ = true,
	.from = "the environment",
	.check = "the environment",
	.fetch = env_fetch,
};
