/* Where real credential values come from (credential_source in config.yaml).
 * Each source is one file of this folder exporting one kh_credsrc_ops, the
 * way curl keeps one file per TLS backend; credsrc.c holds the registry and
 * the calls the CLI and the daemon make, so neither names a source:
 *
 *  env.c        env        the process environment
 *  bitwarden.c  bitwarden  `bws secret list <project_id> --output json`, with
 *                          the access token passed in bws's environment
 *                          (BWS_ACCESS_TOKEN), never argv; each secret's "key"
 *                          is the variable name it stands for
 *  command.c    command    `/bin/sh -c <credential_command>` printing
 *                          NAME=value lines or one JSON object {"NAME": "value"}
 *
 * Fetching blocks (a source may run a program, bounded by
 * KH_CREDSRC_TIMEOUT_MS and KH_CREDSRC_OUTPUT_MAX). */
#ifndef KH_CREDSRC_H
#define KH_CREDSRC_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "policy/config.h"
#include "secret/secrets.h"

/* One fetch: which values, from which configuration, within which bounds. */
struct kh_credsrc_req {
	const struct kh_config *cfg;
	const char *const *names; /* NULL: every name the source offers */
	size_t n;
	unsigned timeout_ms; /* a program the source runs is killed after this */
	size_t output_max; /* and refused when it prints more than this */
};

struct kh_credsrc_ops {
	const char *name; /* credential_source value; kh_cred_source_name(id) */
	enum kh_cred_source id;
	/* Reads keyhole's own environment: the daemon was given those values at
	 * start and has nothing to fetch again, a missing value is only a
	 * warning, and `keyhole setup` looks in the environment itself. */
	bool reads_environ;
	const char *from; /* "credentials from <from>" (keyhole setup) */
	const char *check; /* what to check when it offers no secrets at all */
	/* The checks fetch makes before running anything (misconfiguration, a
	 * missing access token), for callers that refuse early. NULL: none. */
	int (*precheck)(const struct kh_config *cfg, struct kh_err *err);
	/* Every name=value the source has among req->names (all when NULL); a
	 * clear refusal when it cannot: failing program, unparsable output.
	 * The message never holds a value. */
	int (*fetch)(const struct kh_credsrc_req *req, struct kh_secrets *out, struct kh_err *err);
	/* The variable holding the source's own access secret, which the daemon
	 * needs again on every reload; NULL: none. */
	const char *(*access_env)(const struct kh_config *cfg);
};

extern const struct kh_credsrc_ops kh_credsrc_env;
extern const struct kh_credsrc_ops kh_credsrc_bitwarden;
extern const struct kh_credsrc_ops kh_credsrc_command;

/* The registry: every source, by position or id, and the one cfg
 * names (by_id and of never return NULL: an unknown id, which config.c
 * cannot produce, falls back to env). */
size_t kh_credsrc_count(void);
const struct kh_credsrc_ops *kh_credsrc_at(size_t i);
const struct kh_credsrc_ops *kh_credsrc_by_id(enum kh_cred_source id);
const struct kh_credsrc_ops *kh_credsrc_of(const struct kh_config *cfg);

/* Every name=value the configured source offers (env: only the given names).
 * names may be NULL for sources other than env (then everything is
 * returned). Refuses with a clear message when the source is misconfigured
 * or fails. */
int kh_credsrc_fetch(const struct kh_config *cfg, const char *const *names, size_t n,
		     struct kh_secrets *out, struct kh_err *err);

/* The configured source's precheck, for callers that want to refuse early
 * (keyhole start). 0 / -1. */
int kh_credsrc_precheck(const struct kh_config *cfg, struct kh_err *err);

/* The configured source's access-secret variable if it is set, else NULL;
 * *value gets its value. keyhole start passes it on to the daemon. */
const char *kh_credsrc_access_env(const struct kh_config *cfg, const char **value);

/* The daemon needs the access secret on every reload but it must not stay
 * readable in /proc/<pid>/environ: the bytes in the original environment
 * block are wiped and the value lives on only in this process's heap (which
 * other users cannot read: the daemon is non-dumpable). */
void kh_credsrc_hide_access_env(const struct kh_config *cfg);

/* The same secret wiped and unset for good: the daemon, whose reloads fetch
 * through its monitor (proxy/monitor.h), needs it no more after its start. */
void kh_credsrc_drop_access_env(const struct kh_config *cfg);

/* For the sources: is name among names (always, when names is NULL)? */
bool kh_credsrc_wanted(const char *name, const char *const *names, size_t n);

#endif
