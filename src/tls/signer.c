#include "tls/signer.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "base/hostname.h"
#include "base/kh_limits.h"
#include "base/le.h"
#include "base/rate.h"
#include "tls/leafkey.h"

#define HASH_LEN 32 /* SHA-256 of the SPKI */

struct entry {
	char *host; /* one allocation holding host, then der */
	uint8_t *der;
	size_t der_len;
	uint8_t key_hash[HASH_LEN];
	uint64_t minted_ms;
	uint32_t next; /* index + 1 of the next entry in its chain; 0 ends it */
};

struct kh_signer {
	const struct kh_ca *ca;
	kh_signer_allow_fn allow;
	void *allow_ctx;
	struct kh_rate *buckets; /* a front's, full at its first request */
	uint32_t n_fronts;
	uint64_t rate, burst; /* new leaves a second and at once, per front */
	struct entry *entries;
	size_t cap, used, hand; /* hand: the next victim once used == cap */
	uint32_t *heads; /* index + 1 of each chain's first entry */
	size_t n_heads; /* a power of two, at least 2 * cap */
	struct kh_signer_stats st;
};

static int check_opts(const struct kh_signer_opts *o, struct kh_err *err)
{
	if (o->ca == NULL || o->ca->cert == NULL || o->ca->key == NULL || o->allow == NULL) {
		kh_err_set(err, "signer: no CA or no allowlist");
		return -1;
	}
	if (o->n_fronts < 1 || o->n_fronts > KH_SIGNER_FRONTS_MAX ||
	    o->cache_cap > KH_MAX_CERT_CACHE || o->mint_rate > KH_LEAF_MINT_RATE_MAX ||
	    o->mint_burst > KH_MAX_CERT_CACHE) {
		kh_err_set(err,
			   "signer: %u fronts, %zu cached leaves, %u a second or a burst of %u "
			   "out of range",
			   o->n_fronts, o->cache_cap, o->mint_rate, o->mint_burst);
		return -1;
	}
	return 0;
}

struct kh_signer *kh_signer_new(const struct kh_signer_opts *o, struct kh_err *err)
{
	struct kh_signer *s = NULL;

	if (check_opts(o, err) != 0)
		return NULL;
	s = calloc(1, sizeof *s);
	if (s == NULL)
		goto fail;
	s->cap = o->cache_cap != 0 ? o->cache_cap : KH_SIGNER_CACHE_DEFAULT;
	s->rate = o->mint_rate != 0 ? o->mint_rate : KH_LEAF_MINT_RATE;
	s->burst = o->mint_burst != 0 ? o->mint_burst : KH_LEAF_MINT_BURST;
	s->n_heads = 2;
	while (s->n_heads < 2 * s->cap)
		s->n_heads *= 2;
	s->buckets = calloc(o->n_fronts, sizeof *s->buckets);
	s->entries = calloc(s->cap, sizeof *s->entries);
	s->heads = calloc(s->n_heads, sizeof *s->heads);
	if (s->buckets == NULL || s->entries == NULL || s->heads == NULL)
		goto fail;
	s->ca = o->ca;
	s->allow = o->allow;
	s->allow_ctx = o->allow_ctx;
	s->n_fronts = o->n_fronts;
	return s;
fail:
	kh_err_set(err, "signer: out of memory");
	kh_signer_free(s);
	return NULL;
}

void kh_signer_free(struct kh_signer *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->used; i++)
		free(s->entries[i].host);
	free(s->heads);
	free(s->entries);
	free(s->buckets);
	free(s);
}

void kh_signer_set_allow(struct kh_signer *s, kh_signer_allow_fn allow, void *allow_ctx)
{
	if (allow == NULL)
		return;
	s->allow = allow;
	s->allow_ctx = allow_ctx;
}

void kh_signer_stats(const struct kh_signer *s, struct kh_signer_stats *out)
{
	*out = s->st;
	out->entries = s->used;
}

/* --- cache --- */

static size_t chain_of(const struct kh_signer *s, const char *host, const uint8_t *hash)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (const char *p = host; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	for (size_t i = 0; i < 8; i++)
		h = (h ^ hash[i]) * 1099511628211ull;
	return (size_t)h & (s->n_heads - 1);
}

/* Index of the entry for (host, hash), or s->cap if there is none. */
static size_t cache_find(const struct kh_signer *s, const char *host, const uint8_t *hash)
{
	for (uint32_t i = s->heads[chain_of(s, host, hash)]; i != 0; i = s->entries[i - 1].next) {
		const struct entry *e = &s->entries[i - 1];

		if (memcmp(e->key_hash, hash, HASH_LEN) == 0 && strcmp(e->host, host) == 0)
			return i - 1;
	}
	return s->cap;
}

static void cache_unlink(struct kh_signer *s, size_t idx)
{
	struct entry *e = &s->entries[idx];
	uint32_t *link = &s->heads[chain_of(s, e->host, e->key_hash)];

	while (*link != 0 && *link != idx + 1)
		link = &s->entries[*link - 1].next;
	if (*link != 0)
		*link = e->next;
	free(e->host);
	memset(e, 0, sizeof *e);
}

/* The slot a new entry goes to: a free one, else the oldest (evicted). */
static size_t cache_slot(struct kh_signer *s)
{
	size_t idx;

	if (s->used < s->cap)
		return s->used++;
	idx = s->hand;
	s->hand = (s->hand + 1) % s->cap;
	cache_unlink(s, idx);
	s->st.evictions++;
	return idx;
}

/* Keeps der for (host, hash), replacing a stale entry at idx (< cap) in place.
 * Out of memory only means it is not cached. */
static void cache_put(struct kh_signer *s, size_t idx, const char *host, const uint8_t *hash,
		      const uint8_t *der, size_t der_len, uint64_t now_ms)
{
	size_t hlen = strlen(host) + 1;
	char *blob = malloc(hlen + der_len);
	struct entry *e;
	size_t c;

	if (blob == NULL)
		return;
	memcpy(blob, host, hlen);
	memcpy(blob + hlen, der, der_len);
	if (idx == s->cap) {
		idx = cache_slot(s);
		e = &s->entries[idx];
		c = chain_of(s, host, hash);
		e->next = s->heads[c];
		s->heads[c] = (uint32_t)(idx + 1);
	}
	e = &s->entries[idx];
	free(e->host);
	e->host = blob;
	e->der = (uint8_t *)blob + hlen;
	e->der_len = der_len;
	memcpy(e->key_hash, hash, HASH_LEN);
	e->minted_ms = now_ms;
}

static bool fresh(const struct entry *e, uint64_t now_ms)
{
	return now_ms < e->minted_ms ||
	       now_ms - e->minted_ms < (uint64_t)KH_LEAF_REMINT_SECS * 1000;
}

/* --- requests --- */

struct job {
	const struct kh_signer_req *rq;
	uint8_t *out;
	size_t cap;
	size_t *len;
	const char **reason;
	struct kh_err *err;
};

static int refuse(struct job *j, const char *reason)
{
	*j->reason = reason;
	return -1;
}

/* The host is as the front sent it: only its form is known to be checked,
 * so a refusal for its form quotes none of it. */
static int check_host(struct kh_signer *s, struct job *j)
{
	char norm[KH_HOST_BUF] = "";
	const char *host = j->rq->host;
	int kind = -1;

	if (host != NULL && strnlen(host, KH_HOST_BUF) < KH_HOST_BUF)
		kind = kh_host_normalize(kh_slice_cstr(host), norm);
	if (kind < 0 || strcmp(norm, host) != 0) {
		kh_err_set(j->err, "leaf refused: the host is not a host name or IP literal in "
				   "normal form");
		return refuse(j, KH_SIGNER_R_BAD_HOST);
	}
	if (!s->allow(s->allow_ctx, host, kind)) {
		kh_err_set(j->err, "leaf refused: %s is not on the allowlist", host);
		return refuse(j, kind == KH_HOST_NAME ? KH_SIGNER_R_HOST : KH_SIGNER_R_IP);
	}
	return 0;
}

static int give(struct job *j, const uint8_t *der, size_t n)
{
	if (n > j->cap) {
		kh_err_set(j->err, "leaf refused: a leaf of %zu bytes does not fit %zu", n, j->cap);
		return refuse(j, KH_SIGNER_R_SIGN);
	}
	memcpy(j->out, der, n);
	*j->len = n;
	return 0;
}

/* Signs, encodes and caches a leaf for key; idx is a stale entry or cap. */
static int mint(struct kh_signer *s, struct job *j, EVP_PKEY *key, const uint8_t *hash, size_t idx)
{
	X509 *x = NULL;
	unsigned char *der = NULL;
	int n = -1, rc = -1;

	if (!kh_rate_take(&s->buckets[j->rq->front_id], 1, s->rate, s->burst, j->rq->now_ms)) {
		s->st.rate_limited++;
		kh_err_set(j->err, "leaf refused: front %u is over %llu new leaves a second",
			   j->rq->front_id, (unsigned long long)s->rate);
		return refuse(j, KH_SIGNER_R_RATE);
	}
	x = kh_ca_sign_leaf(s->ca, j->rq->host, key, j->err);
	if (x != NULL)
		n = i2d_X509(x, &der);
	if (n <= 0 || n > KH_LEAF_DER_MAX) {
		if (x != NULL)
			kh_err_set(j->err, "leaf refused: encoding the leaf gave %d bytes", n);
		ERR_clear_error();
		rc = refuse(j, KH_SIGNER_R_SIGN);
		goto out;
	}
	s->st.mints++;
	cache_put(s, idx, j->rq->host, hash, der, (size_t)n, j->rq->now_ms);
	rc = give(j, der, (size_t)n);
out:
	OPENSSL_free(der);
	X509_free(x);
	return rc;
}

/* The cache key's half that is not the host: SHA-256 of the front's id and
 * the SPKI, so a front hits only leaves it was given itself (a front taken
 * over could otherwise learn, from what is cached for another front's
 * public key, which hosts that front's sandboxes reached). */
static int key_hash(const struct kh_signer_req *rq, uint8_t hash[HASH_LEN])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	uint8_t id[4];
	int ok;

	kh_le_put(id, rq->front_id, sizeof id);
	ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(c, id, sizeof id) == 1 &&
	     EVP_DigestUpdate(c, rq->spki, rq->spki_len) == 1 &&
	     EVP_DigestFinal_ex(c, hash, NULL) == 1;

	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

static int answer(struct kh_signer *s, struct job *j)
{
	const struct kh_signer_req *rq = j->rq;
	uint8_t hash[HASH_LEN];
	EVP_PKEY *key = NULL;
	size_t idx;
	int rc = -1;

	if (rq->front_id >= s->n_fronts) {
		kh_err_set(j->err, "leaf refused: front %u unknown (%u fronts)", rq->front_id,
			   s->n_fronts);
		return refuse(j, KH_SIGNER_R_UNKNOWN_FRONT);
	}
	if (check_host(s, j) != 0)
		return -1;
	key = kh_leafkey_parse_spki(rq->spki, rq->spki_len, j->reason, j->err);
	if (key == NULL)
		return -1;
	if (key_hash(rq, hash) != 0) {
		ERR_clear_error();
		kh_err_set(j->err, "leaf refused: hashing the key failed");
		rc = refuse(j, KH_SIGNER_R_SIGN);
		goto out;
	}
	idx = cache_find(s, rq->host, hash);
	if (idx < s->cap && fresh(&s->entries[idx], rq->now_ms)) {
		s->st.hits++;
		rc = give(j, s->entries[idx].der, s->entries[idx].der_len);
		goto out;
	}
	rc = mint(s, j, key, hash, idx);
out:
	EVP_PKEY_free(key);
	return rc;
}

int kh_signer_handle(struct kh_signer *s, const struct kh_signer_req *rq, uint8_t *out, size_t cap,
		     size_t *len, const char **reason, struct kh_err *err)
{
	struct job j = { rq, out, cap, len, reason, err };

	*reason = NULL;
	*len = 0;
	kh_err_clear(err);
	if (answer(s, &j) == 0)
		return 0;
	if (*reason == NULL || err->msg[0] == '\0') { /* every refusal names itself */
		*reason = KH_SIGNER_R_SIGN;
		if (err->msg[0] == '\0')
			kh_err_set(err, "leaf refused");
	}
	s->st.refused++;
	return -1;
}
