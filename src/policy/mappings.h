/* mappings.json: which proxy token stands for which real credential, and the
 * hosts it may be sent to. The file shape is the seed's, so existing files
 * keep working:
 *   {"version":1,"tokens":[{"proxy_token":"keyhole-openai-<hex>",
 *     "env_name":"OPENAI_API_KEY","upstream_hosts":["api.openai.com"],
 *     "match_headers":["Authorization"]}]}
 * plus keyhole's optional "locations" (where the token is swapped):
 *   "locations":[{"type":"bearer"},{"type":"header","name":"x-api-key"},
 *     {"type":"query","name":"key"},{"type":"basic"},
 *     {"type":"header","name":"Authorization","template":"token {}"}]
 * A file without "locations" keeps the old meaning: each match_headers entry
 * is a header whose whole value is the token, Authorization also as Bearer.
 * Everything is validated on load; a bad entry is an error naming its index
 * and field, never a silent skip. The file holds tokens, not secrets, but is
 * still written 0600 (tokens are credentials toward the proxy). */
#ifndef KH_MAPPINGS_H
#define KH_MAPPINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "base/hostname.h"
#include "base/kh_limits.h"
#include "policy/providers.h"

struct kh_mapping {
	char proxy_token[KH_TOKEN_MAX];
	char env_name[KH_ENV_NAME_MAX];
	char (*hosts)[KH_HOST_BUF + 2]; /* normalized patterns */
	size_t n_hosts;
	char match_headers[KH_MAX_MATCH_HEADERS][KH_HEADER_NAME_MAX]; /* as written */
	size_t n_match_headers; /* 0 in the file means ["Authorization"] */
	struct kh_location locs[KH_MAX_LOCATIONS]; /* where the token is swapped */
	size_t n_locs;
};

struct kh_mappings {
	struct kh_mapping *v;
	size_t n;
};

/* Loads path. A missing file gives an empty set and returns 0 (*existed
 * false). Parse or validation errors return -1 with err naming the problem. */
int kh_mappings_load(const char *path, struct kh_mappings *out, bool *existed, struct kh_err *err);

/* Only the reading kh_mappings_load does (not following a symlink): *text
 * (the caller wipes and frees it: it holds proxy tokens), or *existed false. */
int kh_mappings_read(const char *path, char **text, size_t *len, bool *existed, struct kh_err *err);

/* Parses JSON text (for tests and fuzzing). */
int kh_mappings_parse(const char *text, size_t len, struct kh_mappings *out, struct kh_err *err);

/* Writes the set atomically with mode 0600. */
int kh_mappings_save(const char *path, const struct kh_mappings *m, struct kh_err *err);

void kh_mappings_free(struct kh_mappings *m); /* NULL-safe, idempotent */

/* Sets m's match_headers from its locations (header names; Authorization for
 * bearer and basic), for readers that only know match_headers. */
void kh_mapping_headers_from_locations(struct kh_mapping *m);

/* Each mapping's env name into names (room for m->n, at most
 * KH_MAX_TOKENS); returns m->n. The strings are m's. */
size_t kh_mappings_env_names(const struct kh_mappings *m, const char **names);

/* The mapping of env_name in m, or NULL. */
const struct kh_mapping *kh_mappings_find(const struct kh_mappings *m, const char *env_name);

/* Does name ask for m: its env name, or its token's provider ("openai" for
 * keyhole-openai-<hex>)? */
bool kh_mapping_named(const struct kh_mapping *m, const char *name);

/* `<prefix>-<32+ lowercase hex>`, prefix [a-z0-9][a-z0-9-]*. */
bool kh_token_valid(const char *token);

/* [A-Z_][A-Z0-9_]*, at most KH_ENV_NAME_MAX - 1 bytes. */
bool kh_env_name_valid(const char *name);

/* First KH_TOKEN_LOG_CHARS characters of a token followed by "...", the only
 * form of a token that may appear in logs and audit records. */
void kh_token_redact(const char *token, char *out, size_t len);

#endif
