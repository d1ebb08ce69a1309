/* LRU cache of minted leaf certificates, keyed by normalized host, shared by
 * all worker threads. Lookups and inserts take a short mutex; minting happens
 * outside it, so one slow mint never blocks other hosts. Entries older than
 * KH_LEAF_REMINT_SECS are treated as missing so a cached leaf is never near
 * its expiry. */
#ifndef KH_CERTCACHE_H
#define KH_CERTCACHE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "tls/ca.h"
#include "base/err.h"

struct kh_certcache; /* opaque */

struct kh_certcache_stats {
	uint64_t hits, misses, mints, evictions;
	size_t entries;
};

/* capacity >= 1. Returns NULL on allocation failure. */
struct kh_certcache *kh_certcache_new(size_t capacity);
void kh_certcache_free(struct kh_certcache *cc); /* NULL-safe */

/* Returns a leaf for host with a reference the caller must X509_free(): from
 * the cache when fresh, else minted with ca and inserted (evicting the least
 * recently used entry when full). NULL with err set if minting fails.
 * Does not block on other threads' mints. */
X509 *kh_certcache_get(struct kh_certcache *cc, const struct kh_ca *ca, const char *host,
		       struct kh_err *err);

/* The same in two steps, for a leaf signed elsewhere (a front's, by the CA
 * signer): a new reference to host's fresh leaf, or NULL (a miss); then
 * cert (its reference passes to the cache) filed for host as signed now,
 * returning the leaf to serve with a reference for the caller: cert, or the
 * one filed meanwhile, so all connections share one. */
X509 *kh_certcache_lookup(struct kh_certcache *cc, const char *host);
X509 *kh_certcache_insert(struct kh_certcache *cc, const char *host, X509 *cert);

void kh_certcache_stats(struct kh_certcache *cc, struct kh_certcache_stats *out);

#endif
