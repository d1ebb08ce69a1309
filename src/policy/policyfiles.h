/* The files a policy is built from, as bytes: config.yaml, mappings.json
 * and the upstream_ca_file config.yaml names.
 *
 * The daemon reads them itself at start. Once confined it can no longer
 * open the keyhole directory (ca.key is there), so for a reload its monitor
 * reads them and hands the bytes over (proxy/monitor.h); both go through
 * kh_policy_files_read, so a reload sees what a start would. */
#ifndef KH_POLICY_POLICYFILES_H
#define KH_POLICY_POLICYFILES_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "base/home.h"
#include "policy/config.h"
#include "policy/mappings.h"

struct kh_policy_file {
	char *text; /* owned, NUL-terminated; NULL when absent */
	size_t len;
	bool present; /* the file exists (a missing config.yaml or mappings.json means defaults) */
};

struct kh_policy_files {
	struct kh_policy_file config; /* at most KH_MAX_CONFIG_BYTES */
	struct kh_policy_file mappings; /* at most KH_MAX_MAPPINGS_BYTES, not followed if a symlink */
	struct kh_policy_file upstream_ca; /* at most KH_MAX_CA_BUNDLE_BYTES; absent when not set */
};

/* Reads the three as kh_config_load and kh_mappings_load would (a missing
 * config.yaml or mappings.json is not an error; a symlink to nothing is),
 * config.yaml parsed to find upstream_ca_file. Errors name the file. */
int kh_policy_files_read(const struct kh_paths *paths, struct kh_policy_files *f,
			 struct kh_err *err);

/* config.yaml's settings from f, as kh_config_load gives them (path names
 * the file in messages). */
int kh_policy_files_config(const struct kh_policy_files *f, const char *path, struct kh_config *cfg,
			   struct kh_err *err);

/* mappings.json's entries from f, as kh_mappings_load gives them. */
int kh_policy_files_mappings(const struct kh_policy_files *f, const char *path,
			     struct kh_mappings *maps, struct kh_err *err);

/* Frees and wipes (mappings.json holds proxy tokens). */
void kh_policy_files_free(struct kh_policy_files *f);

#endif
