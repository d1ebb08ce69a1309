/* The key-free policy of a privilege-separated child (a front, the CA
 * signer): built from the bytes of config.yaml, mappings.json and
 * grants.json the daemon sends as a sealed memfd (fronts.c), and the length
 * of the daemon's shortest real key (u32, little-endian), with no
 * secrets: proxy and sandbox tokens (to admit, redact, refuse), the
 * allowlist, never a real value. */
#ifndef KH_POLICYBLOB_H
#define KH_POLICYBLOB_H

#include "base/err.h"
#include "policy/config.h"
#include "policy/grants.h"
#include "policy/policy.h"

/* Reads the memfd mfd and builds a policy (one reference, the caller's);
 * the config it was built from goes into *cfg (the caller frees it), the
 * grants into *grants (freed and made again: the policy's creds do not
 * point into them). config_path names config.yaml in messages. NULL with
 * err set on a cut blob or a file that does not parse. */
struct kh_policy *kh_policyblob_load(int mfd, const char *config_path, struct kh_grants *grants,
				     struct kh_config *cfg, struct kh_err *err);

#endif
