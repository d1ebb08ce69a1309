/* The CA signer's request handler (docs/design/privsep.md, section 1): the
 * one process that holds the CA private key signs leaves for the fronts'
 * own keys. Pure: no I/O, no clock, no logging; the caller reads SIGN_LEAF
 * frames (privsep/chan.h), calls kh_signer_handle with the time, and writes
 * LEAF or LEAF_FAIL. Single-threaded: one signer per process, no locks.
 *
 * A request is (front, host, SPKI DER), every part of it from a front that
 * may be compromised. It is refused, with a reason token and a message,
 * never an abort, when, checked in this order:
 *   unknown_front     the front id is not below the n_fronts given at start
 *   bad_host          the host is not in normal form (kh_host_normalize
 *                     would change it or refuses it)
 *   host_not_allowed  the allow callback says no to a DNS name
 *   ip_not_allowed    the allow callback says no to an IP literal
 *   bad_key           the SPKI does not parse (tls/leafkey.h)
 *   key_not_p256      it parses but is not P-256 in the one accepted form
 *   rate_limited      minting would take the front over its token bucket
 *                     (burst KH_LEAF_MINT_BURST, refilled at
 *                     KH_LEAF_MINT_RATE a second, unless opts say otherwise)
 *   sign_failed       OpenSSL failed, or the leaf does not fit out
 * Otherwise the answer is a leaf's DER: from the cache when the same front
 * asked with the same key for the same host less than KH_LEAF_REMINT_SECS
 * ago (a cache hit costs no token: only signing is rate-limited), else
 * freshly signed with kh_ca_sign_leaf and cached. The cache is keyed by
 * (host, SHA-256 of the front id and the SPKI: one front cannot learn from
 * it what another was given) and holds at most opts.cache_cap leaves; when full, the oldest entry
 * goes (first in, first out). The allowlist is asked before the cache, so a
 * host dropped from the allowlist by a reload gets no more leaves, cached
 * or not.
 *
 * The allowlist comes in as a callback because the tls layer may not
 * include policy/: the signer process passes one over its own key-free
 * policy snapshot (kh_policy_host_allowed, which matches IP literals only
 * where the allowlist names them). It is called with a normalised host and
 * its kind (enum kh_host_kind). */
#ifndef KH_SIGNER_H
#define KH_SIGNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "tls/ca.h"

#define KH_SIGNER_R_UNKNOWN_FRONT "unknown_front"
#define KH_SIGNER_R_BAD_HOST      "bad_host"
#define KH_SIGNER_R_HOST          "host_not_allowed"
#define KH_SIGNER_R_IP            "ip_not_allowed"
#define KH_SIGNER_R_RATE          "rate_limited"
#define KH_SIGNER_R_SIGN          "sign_failed"
/* and KH_LEAFKEY_R_BAD_KEY, KH_LEAFKEY_R_NOT_P256 (tls/leafkey.h) */

typedef bool (*kh_signer_allow_fn)(void *ctx, const char *host, int kind);

struct kh_signer; /* opaque */

struct kh_signer_req {
	uint32_t front_id; /* which front's channel it came on (not from the frame) */
	const char *host; /* NUL-terminated, as SIGN_LEAF carried it */
	const uint8_t *spki; /* SPKI DER, as SIGN_LEAF carried it */
	size_t spki_len;
	uint64_t now_ms; /* kh_mono_ms() (base/clock.h); only compared and subtracted */
};

struct kh_signer_stats {
	uint64_t mints; /* leaves signed */
	uint64_t hits; /* leaves answered from the cache */
	uint64_t refused; /* requests refused, rate_limited included */
	uint64_t rate_limited;
	uint64_t evictions;
	size_t entries;
};

struct kh_signer_opts {
	const struct kh_ca *ca; /* cert and key (leaf_key unused); must outlive the signer */
	uint32_t n_fronts; /* 1..KH_SIGNER_FRONTS_MAX; front ids are 0..n_fronts-1 */
	size_t cache_cap; /* 0: KH_SIGNER_CACHE_DEFAULT; at most KH_MAX_CERT_CACHE */
	uint32_t mint_rate; /* new leaves a second per front; 0: KH_LEAF_MINT_RATE;
			     * at most KH_LEAF_MINT_RATE_MAX */
	uint32_t mint_burst; /* 0: KH_LEAF_MINT_BURST; at most KH_MAX_CERT_CACHE */
	kh_signer_allow_fn allow; /* not NULL */
	void *allow_ctx;
};

/* NULL with err set on an option out of range or no memory. Production
 * passes 0 for the rate, burst and cache; tests and the fuzzer shrink them. */
struct kh_signer *kh_signer_new(const struct kh_signer_opts *o, struct kh_err *err);
void kh_signer_free(struct kh_signer *s); /* NULL-safe */

/* A new allowlist (after a POLICY reload); the old ctx is no longer used. */
void kh_signer_set_allow(struct kh_signer *s, kh_signer_allow_fn allow, void *allow_ctx);

/* Answers one request: 0 and the leaf's DER in out[0..*len) (cap should be
 * KH_LEAF_DER_MAX), or -1 with *reason one of the tokens above (a static
 * string, [a-z0-9_]+, for LEAF_FAIL) and err saying why in printable ASCII
 * (no byte of the host when it was refused as malformed). */
int kh_signer_handle(struct kh_signer *s, const struct kh_signer_req *rq, uint8_t *out, size_t cap,
		     size_t *len, const char **reason, struct kh_err *err);

void kh_signer_stats(const struct kh_signer *s, struct kh_signer_stats *out);

#endif
