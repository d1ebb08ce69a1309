/* Built-in knowledge about LLM providers: which environment variable holds a
 * provider's key, which hosts it may be sent to, and where in a request it
 * goes. The tables are the facts from the brief, kept in one place.
 *
 * A credential *location* is one position in a request where a proxy token
 * is swapped for the real key, always by exact match of the whole token:
 *   bearer        Authorization: Bearer <token> (or the bare token)
 *   basic         Authorization: Basic base64(user:pass), token as user or pass
 *   header NAME   NAME: <token>, or the value template around it ("token {}")
 *   query NAME    ?NAME=<token> in the request target
 * The same syntax is used by custom providers in config.yaml. */
#ifndef KH_PROVIDERS_H
#define KH_PROVIDERS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/kh_limits.h"

enum kh_loc_kind { KH_LOC_BEARER, KH_LOC_BASIC, KH_LOC_HEADER, KH_LOC_QUERY };

struct kh_location {
	enum kh_loc_kind kind;
	char name[KH_LOC_NAME_MAX]; /* header / query parameter name; "" for bearer, basic */
	char tmpl[KH_LOC_TEMPLATE_MAX]; /* header only: "" = the whole value, else "P{}S" */
};

struct kh_provider {
	const char *env_name; /* e.g. OPENAI_API_KEY */
	const char *alias_env; /* another name for the same key, or NULL */
	const char *token_prefix; /* "keyhole-openai" */
	const char *hosts[KH_PROVIDER_MAX_HOSTS]; /* NULL-terminated */
	const char *locations[KH_PROVIDER_MAX_LOCS]; /* location specs; NULL-terminated */
};

/* AWS credentials are not swapped but re-signed (resign.c): the sandbox gets
 * a fake key id and secret, and a session token when the real one is set. */
#define KH_AWS_KEY_ID_ENV  "AWS_ACCESS_KEY_ID"
#define KH_AWS_SECRET_ENV  "AWS_SECRET_ACCESS_KEY"
#define KH_AWS_SESSION_ENV "AWS_SESSION_TOKEN"

extern const struct kh_provider kh_providers[];
extern const size_t kh_providers_count;

/* Hosts allowed with no configuration at all. */
extern const char *const kh_default_allowed_hosts[];
extern const size_t kh_default_allowed_hosts_count;

/* Variables whose credentials keyhole cannot swap yet (warned about). */
extern const char *const kh_uncovered_env[];
extern const size_t kh_uncovered_env_count;

/* The LLM-specific subset of kh_uncovered_env: what fail_on_uncovered_providers
 * refuses on. Empty once every LLM provider's scheme is covered. */
extern const char *const kh_uncovered_strict_env[];
extern const size_t kh_uncovered_strict_env_count;

/* The built-in provider whose variable (or alias) is env_name, or NULL. */
const struct kh_provider *kh_provider_find(const char *env_name);

/* Is env_name one of the AWS variables keyhole re-signs with (never swapped
 * into a header)? */
bool kh_provider_is_sigv4(const char *env_name);

/* Variables that must be available too for env_name to be mapped: the other
 * half of an AWS key pair (a session token needs both). NULL-terminated. */
const char *const *kh_provider_requires(const char *env_name);

/* Parses a location spec ("bearer", "basic", "header NAME", "query NAME")
 * with an optional template (NULL or "" for none). On error returns -1 and
 * *why says what is wrong (a static string). */
int kh_location_parse(const char *spec, const char *tmpl, struct kh_location *out,
		      const char **why);

/* Validates a location already split into kind, name and template (as
 * mappings.json stores it). Same errors as kh_location_parse. */
int kh_location_check(const struct kh_location *loc, const char **why);

const char *kh_loc_kind_name(enum kh_loc_kind k);

#endif
