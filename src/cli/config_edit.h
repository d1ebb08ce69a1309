/* Changing config.yaml the way a person would: only the value of the one
 * top-level key is replaced, in place, so the operator's comments, key order,
 * blank lines and keys keyhole does not know all survive. A key that is absent
 * is appended. The result is parsed with the real loader before it replaces
 * the file (atomically, 0600), so an edit can never leave a config keyhole
 * would refuse to start with. */
#ifndef KH_CONFIG_EDIT_H
#define KH_CONFIG_EDIT_H

#include <stddef.h>

#include "base/err.h"

struct kh_config_set {
	const char *key; /* top-level key, e.g. "enabled" */
	const char *value; /* YAML scalar text, e.g. "true", "9090", "bitwarden" */
};

/* Applies one set to text; *out is a new NUL-terminated buffer (free it). */
int kh_config_edit_text(const char *text, size_t len, const struct kh_config_set *set, char **out,
			size_t *out_len, struct kh_err *err);

/* Reads path (missing = empty file), applies sets in order, validates,
 * writes. 0 / -1. */
int kh_config_update(const char *path, const struct kh_config_set *sets, size_t n,
		     struct kh_err *err);

#endif
