/* Where real credential values come from (credential_source in config.yaml):
 *
 *  env        the process environment
 *  bitwarden  `bws secret list <project_id> --output json`, with the access
 *             token passed in bws's environment (BWS_ACCESS_TOKEN), never argv;
 *             each secret's "key" is the variable name it stands for
 *  command    `/bin/sh -c <credential_command>` printing NAME=value lines or
 *             one JSON object {"NAME": "value"}
 *
 * Fetching blocks (it runs a program, bounded by KH_CREDSRC_TIMEOUT_MS). */
#ifndef KH_CREDSRC_H
#define KH_CREDSRC_H

#include <stddef.h>

#include "policy/config.h"
#include "base/err.h"
#include "secret/secrets.h"

#define KH_CREDSRC_TIMEOUT_MS 30000
#define KH_CREDSRC_OUTPUT_MAX (1u << 20)

/* Every name=value the configured source offers (env: only the given names).
 * names may be NULL for bitwarden/command (then everything is returned).
 * Refuses with a clear message when the source is misconfigured: bitwarden
 * without project_id or without its token variable, command without a
 * command, a failing program, unparsable output. */
int kh_credsrc_fetch(const struct kh_config *cfg, const char *const *names, size_t n,
		     struct kh_secrets *out, struct kh_err *err);

/* The checks kh_credsrc_fetch makes before running anything, for callers
 * that want to refuse early (keyhole start). 0 / -1. */
int kh_credsrc_precheck(const struct kh_config *cfg, struct kh_err *err);

#endif
