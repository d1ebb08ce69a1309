/* Built-in knowledge about LLM providers: which environment variable holds a
 * provider's key, which hosts it may be sent to, and where in a request it
 * goes. The tables are the facts from the brief, kept in one place. */
#ifndef KH_PROVIDERS_H
#define KH_PROVIDERS_H

#include <stdbool.h>
#include <stddef.h>

#define KH_PROVIDER_MAX_HOSTS   4
#define KH_PROVIDER_MAX_HEADERS 2

struct kh_provider {
	const char *env_name; /* e.g. OPENAI_API_KEY */
	const char *alias_env; /* another name for the same key, or NULL */
	const char *token_prefix; /* "keyhole-openai" */
	const char *hosts[KH_PROVIDER_MAX_HOSTS]; /* NULL-terminated */
	const char *headers[KH_PROVIDER_MAX_HEADERS]; /* where the key goes; NULL-terminated */
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

const struct kh_provider *kh_provider_find(const char *env_name);

/* Is env_name one of the AWS variables keyhole re-signs with (never swapped
 * into a header)? */
bool kh_provider_is_sigv4(const char *env_name);

/* Variables that must be available too for env_name to be mapped: the other
 * half of an AWS key pair (a session token needs both). NULL-terminated. */
const char *const *kh_provider_requires(const char *env_name);

#endif
