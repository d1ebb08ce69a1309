/* The policy snapshot a request is judged against: allowlist, deny CIDRs,
 * address pins, credentials (token -> real value -> hosts), limits and
 * timeouts. It is built once from config + mappings + secrets, never changed
 * afterwards, and shared read-only by every worker thread; a reload builds a
 * new one and swaps it in (refcounted so in-flight requests keep theirs). */
#ifndef KH_POLICY_H
#define KH_POLICY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "policy/config.h"
#include "policy/grants.h"
#include "policy/mappings.h"
#include "secret/redact.h"
#include "secret/scrub.h"
#include "secret/secrets.h"
#include "base/slice.h"

#include <openssl/ssl.h>

struct kh_cred {
	char env_name[KH_ENV_NAME_MAX];
	char token[KH_TOKEN_MAX];
	size_t token_len;
	const char *hexkey; /* first 32 hex chars of the token's random part */
	char (*hosts)[KH_HOST_BUF + 2];
	size_t n_hosts;
	struct kh_location locs[KH_MAX_LOCATIONS]; /* where the token is swapped */
	size_t n_locs;
	const char *secret; /* NULL when the variable was not set */
	size_t secret_len;
	struct kh_grant *grant; /* a sandbox token (grants.h); NULL for a mapping's own */
};

struct kh_policy {
	atomic_int refs;
	char **allow; /* normalized host patterns */
	size_t n_allow;
	struct kh_cidr *deny;
	size_t n_deny;
	struct kh_pin *pins;
	size_t n_pins;
	struct kh_port_rule *port_rules; /* allowed_ports */
	size_t n_port_rules;
	char **cleartext_hosts;
	size_t n_cleartext_hosts;
	bool aws_buckets_set; /* aws.buckets: S3 re-signed only for these (awsscope.h) */
	char **aws_buckets;
	size_t n_aws_buckets;
	struct kh_cred *creds; /* mappings' first, then grants' */
	size_t n_creds;
	size_t n_grant_creds;
	uint32_t *tok_slots; /* open addressing over hexkey: cred index + 1 */
	size_t n_tok_slots; /* power of two */
	struct kh_timeouts timeouts;
	struct kh_config_limits limits;
	bool audit_refuse; /* audit_failure: refuse */
	/* Built without the real keys (a front's or the signer's snapshot): its
	 * redactor knows the tokens only, so what the sandbox sent can be
	 * quoted back to it only where the key holder redacted it. */
	bool key_free;
	size_t shortest_key; /* key_free: the daemon's shortest real key (0: none) */
	char config_path[KH_MAX_PATH]; /* named in deny messages */
	struct kh_secrets secrets; /* owned: the real values creds point into */
	struct kh_scrub_set scrub; /* owned: response scrubber (empty when off or no secrets) */
	struct kh_redact redact; /* owned: every token and loaded key, in any form, for records */
	SSL_CTX *client_ctx; /* owned reference: upstream TLS (trust anchors) */
	unsigned long generation; /* set by the daemon: which reload built it */
};

/* Builds a snapshot (refs = 1). The mappings are copied. The snapshot takes
 * over *s (left empty; wiped when the snapshot is freed) and a reference to
 * client_ctx (may be NULL in tests). On failure *s is still freed. */
struct kh_policy *kh_policy_build(const struct kh_config *cfg, const struct kh_mappings *m,
				  struct kh_secrets *s, SSL_CTX *client_ctx, struct kh_err *err);

/* The same, plus one credential per grant in g (live or recently ended, so
 * an ended one is recognised and refused) whose env name still has a
 * mapping; AWS grants are not issued (their keys are re-signed, resign.c).
 * The caller holds g->lock. */
struct kh_policy *kh_policy_build_with_grants(const struct kh_config *cfg,
					      const struct kh_mappings *m, struct kh_secrets *s,
					      SSL_CTX *client_ctx, struct kh_grants *g,
					      struct kh_err *err);

struct kh_policy *kh_policy_ref(struct kh_policy *p);
void kh_policy_unref(struct kh_policy *p); /* frees at zero; NULL-safe */

bool kh_policy_host_allowed(const struct kh_policy *p, const char *host);
/* May the (allowed) host be reached on port? 443 for TLS and 80 for plain
 * HTTP always; others only through allowed_ports (ports.h). */
bool kh_policy_port_allowed(const struct kh_policy *p, const char *host, uint16_t port, bool tls);
bool kh_policy_cleartext_ok(const struct kh_policy *p, const char *host);
/* Index of the deny CIDR containing sa, or -1. */
long kh_policy_denied_addr(const struct kh_policy *p, const struct sockaddr *sa);
const struct kh_pin *kh_policy_pin(const struct kh_policy *p, const char *host);

/* Credential whose token is exactly s, or NULL. */
const struct kh_cred *kh_policy_token_exact(const struct kh_policy *p, struct kh_slice s);

/* First credential whose token's random part appears anywhere in s, or NULL. */
const struct kh_cred *kh_policy_token_scan(const struct kh_policy *p, struct kh_slice s);

bool kh_cred_host_ok(const struct kh_cred *c, const char *host);
/* Does c have a location of this kind (and, for header and query, this
 * name: header names case-insensitively, query names exactly)? Returns it. */
const struct kh_location *kh_cred_location(const struct kh_cred *c, enum kh_loc_kind kind,
					   struct kh_slice name);

/* Copies s into out (NUL-terminated, truncated to fit) for a record: a
 * token's random part as written keeps its first 4 characters and "...";
 * every other form of a token or of a loaded key (percent-encoded, base64,
 * hex, split by dots, in other case) becomes "[redacted:NAME]" (redact.h). */
void kh_policy_redact(const struct kh_policy *p, struct kh_slice s, char *out, size_t len);

#endif
