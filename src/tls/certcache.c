#include "tls/certcache.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/kh_limits.h"

struct cc_entry {
	struct cc_entry *chain; /* next entry in the same bucket */
	struct cc_entry *newer, *older; /* LRU list neighbours */
	X509 *cert; /* the cache's own reference */
	time_t minted_at; /* wall clock, like the cert's validity */
	uint32_t hash;
	char host[];
};

struct kh_certcache {
	pthread_mutex_t lock;
	struct cc_entry **buckets;
	size_t mask; /* bucket count - 1 */
	size_t capacity, count;
	struct cc_entry *head, *tail; /* most / least recently used */
	struct kh_certcache_stats stats;
};

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

/* About two buckets per entry keeps chains short without rehashing. */
static size_t bucket_count(size_t capacity)
{
	size_t n = 2;

	while (n < 2 * capacity)
		n <<= 1;
	return n;
}

struct kh_certcache *kh_certcache_new(size_t capacity)
{
	struct kh_certcache *cc = NULL;

	if (capacity == 0)
		return NULL;
	if (capacity > KH_MAX_CERT_CACHE)
		capacity = KH_MAX_CERT_CACHE;
	cc = calloc(1, sizeof *cc);
	if (cc == NULL)
		goto fail;
	cc->capacity = capacity;
	cc->mask = bucket_count(capacity) - 1;
	cc->buckets = calloc(cc->mask + 1, sizeof *cc->buckets);
	if (cc->buckets == NULL || pthread_mutex_init(&cc->lock, NULL) != 0)
		goto fail;
	return cc;
fail:
	if (cc != NULL)
		free(cc->buckets);
	free(cc);
	return NULL;
}

static void entry_free(struct cc_entry *e)
{
	if (e == NULL)
		return;
	X509_free(e->cert);
	free(e);
}

void kh_certcache_free(struct kh_certcache *cc)
{
	struct cc_entry *e, *next;

	if (cc == NULL)
		return;
	for (e = cc->head; e != NULL; e = next) {
		next = e->older;
		entry_free(e);
	}
	free(cc->buckets);
	pthread_mutex_destroy(&cc->lock);
	free(cc);
}

static struct cc_entry *find(struct kh_certcache *cc, const char *host, uint32_t hash)
{
	struct cc_entry *e = cc->buckets[hash & cc->mask];

	while (e != NULL && (e->hash != hash || strcmp(e->host, host) != 0))
		e = e->chain;
	return e;
}

static void lru_unlink(struct kh_certcache *cc, struct cc_entry *e)
{
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		cc->head = e->older;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		cc->tail = e->newer;
	e->newer = e->older = NULL;
}

static void lru_push_front(struct kh_certcache *cc, struct cc_entry *e)
{
	e->newer = NULL;
	e->older = cc->head;
	if (cc->head != NULL)
		cc->head->newer = e;
	cc->head = e;
	if (cc->tail == NULL)
		cc->tail = e;
}

static void lru_touch(struct kh_certcache *cc, struct cc_entry *e)
{
	if (cc->head == e)
		return;
	lru_unlink(cc, e);
	lru_push_front(cc, e);
}

static void chain_unlink(struct kh_certcache *cc, struct cc_entry *e)
{
	struct cc_entry **pp = &cc->buckets[e->hash & cc->mask];

	while (*pp != NULL && *pp != e)
		pp = &(*pp)->chain;
	if (*pp == e)
		*pp = e->chain;
	e->chain = NULL;
}

static void evict_lru(struct kh_certcache *cc)
{
	struct cc_entry *e = cc->tail;

	lru_unlink(cc, e);
	chain_unlink(cc, e);
	entry_free(e);
	cc->count--;
	cc->stats.evictions++;
}

/* Fresh while younger than KH_LEAF_REMINT_SECS. A clock that went back by
 * more than the leaf's backdating would make the leaf not yet valid, so that
 * counts as stale too. */
static bool is_fresh(const struct cc_entry *e, time_t now)
{
	return now - e->minted_at < KH_LEAF_REMINT_SECS &&
	       e->minted_at - now < KH_LEAF_BACKDATE_SECS;
}

/* Returns a new reference to a fresh cached leaf, or NULL. Lock held. */
static X509 *lookup_locked(struct kh_certcache *cc, const char *host, uint32_t hash, time_t now)
{
	struct cc_entry *e = find(cc, host, hash);

	if (e == NULL || !is_fresh(e, now)) {
		cc->stats.misses++;
		return NULL;
	}
	cc->stats.hits++;
	lru_touch(cc, e);
	X509_up_ref(e->cert);
	return e->cert;
}

/* Allocated before taking the lock so the critical section stays short. */
static struct cc_entry *entry_new(const char *host, uint32_t hash)
{
	size_t len = strlen(host);
	struct cc_entry *e = calloc(1, sizeof *e + len + 1);

	if (e == NULL)
		return NULL;
	memcpy(e->host, host, len + 1);
	e->hash = hash;
	return e;
}

/* Files cert (whose reference passes to the cache or is dropped) and returns
 * the leaf to hand out with a reference for the caller. *spare is set to
 * NULL when the new entry was used. Lock held. */
static X509 *insert_locked(struct kh_certcache *cc, struct cc_entry **spare, X509 *cert, time_t now)
{
	struct cc_entry *e = find(cc, (*spare)->host, (*spare)->hash);

	if (e != NULL && is_fresh(e, now)) {
		/* Another thread minted this host meanwhile: keep its leaf so all
		 * connections share one, and drop ours. */
		X509_free(cert);
	} else if (e != NULL) {
		X509_free(e->cert); /* stale: replace in place */
		e->cert = cert;
		e->minted_at = now;
	} else {
		e = *spare;
		*spare = NULL;
		e->cert = cert;
		e->minted_at = now;
		e->chain = cc->buckets[e->hash & cc->mask];
		cc->buckets[e->hash & cc->mask] = e;
		lru_push_front(cc, e);
		cc->count++;
		while (cc->count > cc->capacity)
			evict_lru(cc);
	}
	lru_touch(cc, e);
	X509_up_ref(e->cert);
	return e->cert;
}

X509 *kh_certcache_lookup(struct kh_certcache *cc, const char *host)
{
	X509 *cert;

	pthread_mutex_lock(&cc->lock);
	cert = lookup_locked(cc, host, fnv1a(host), time(NULL));
	pthread_mutex_unlock(&cc->lock);
	return cert;
}

X509 *kh_certcache_insert(struct kh_certcache *cc, const char *host, X509 *cert)
{
	struct cc_entry *spare = entry_new(host, fnv1a(host));

	pthread_mutex_lock(&cc->lock);
	cc->stats.mints++;
	/* Without memory for an entry the leaf is served uncached rather than lost. */
	if (spare != NULL)
		cert = insert_locked(cc, &spare, cert, time(NULL));
	pthread_mutex_unlock(&cc->lock);
	free(spare);
	return cert;
}

X509 *kh_certcache_get(struct kh_certcache *cc, const struct kh_ca *ca, const char *host,
		       struct kh_err *err)
{
	X509 *cert = kh_certcache_lookup(cc, host);

	if (cert != NULL)
		return cert;
	/* Minting (an ECDSA signature) happens unlocked so other hosts never wait. */
	cert = kh_ca_mint_leaf(ca, host, err);
	return cert == NULL ? NULL : kh_certcache_insert(cc, host, cert);
}

void kh_certcache_stats(struct kh_certcache *cc, struct kh_certcache_stats *out)
{
	pthread_mutex_lock(&cc->lock);
	*out = cc->stats;
	out->entries = cc->count;
	pthread_mutex_unlock(&cc->lock);
}
