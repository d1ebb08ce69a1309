/* The CA signer's request handler (tls/signer.c): leaves for a front's own
 * key that verify against the CA and name the host; every kind of refusal
 * with its reason; the per-front token bucket, refilled by the time the
 * caller passes; the (host, key) cache. */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "base/hostname.h"
#include "base/kh_limits.h"
#include "tls/ca.h"
#include "tls/leafkey.h"
#include "tls/signer.h"
#include "tap.h"
#include "tmpdir.h"

#define FRONTS 3
#define T0     1000000u /* an arbitrary monotonic start */
#define KEYS   12

static struct kh_ca g_ca;
static EVP_PKEY *front_key, *other_key;
static uint8_t front_spki[KH_LEAF_SPKI_MAX], other_spki[KH_LEAF_SPKI_MAX];
static size_t front_spki_len, other_spki_len;

static const char *const patterns[] = { "*.example.com", "api.openai.com", "10.1.2.3", "::1" };
static unsigned allow_calls;

static bool allow_patterns(void *ctx, const char *host, int kind)
{
	(void)ctx;
	(void)kind;
	allow_calls++;
	for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
		if (kh_host_match(patterns[i], host))
			return true;
	return false;
}

static bool allow_none(void *ctx, const char *host, int kind)
{
	(void)ctx;
	(void)host;
	(void)kind;
	return false;
}

/* One request's outcome. */
struct res {
	int rc;
	const char *reason;
	struct kh_err err;
	uint8_t der[KH_LEAF_DER_MAX];
	size_t len;
};

static struct res ask(struct kh_signer *s, uint32_t front, const char *host, const uint8_t *spki,
		      size_t spki_len, uint64_t now)
{
	struct res r;
	struct kh_signer_req rq = { front, host, spki, spki_len, now };

	memset(&r, 0, sizeof r);
	r.rc = kh_signer_handle(s, &rq, r.der, sizeof r.der, &r.len, &r.reason, &r.err);
	if (r.rc == 0)
		CHECK(r.reason == NULL && r.len > 0);
	else
		CHECK(r.reason != NULL && r.err.msg[0] != '\0' && r.len == 0);
	return r;
}

static struct res ask_front(struct kh_signer *s, uint32_t front, const char *host, uint64_t now)
{
	return ask(s, front, host, front_spki, front_spki_len, now);
}

#define REFUSED_AS(r, want)                    \
	do {                                   \
		CHECK_INT((r).rc, -1);         \
		CHECK_STR((r).reason, (want)); \
	} while (0)

static struct kh_signer *new_signer(size_t cap)
{
	struct kh_err err;
	struct kh_signer_opts o = {
		.ca = &g_ca, .n_fronts = FRONTS, .cache_cap = cap, .allow = allow_patterns
	};
	struct kh_signer *s = kh_signer_new(&o, &err);

	if (s == NULL)
		printf("#   kh_signer_new: %s\n", err.msg);
	return s;
}

/* Verifies der against g_ca as a TLS client would (strict, server purpose)
 * for host, and returns the certificate (or NULL). */
static X509 *verified(const uint8_t *der, size_t len, const char *host, bool ip)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *param;
	int ok = 0;

	if (x == NULL || p != der + len || store == NULL || ctx == NULL ||
	    X509_STORE_add_cert(store, g_ca.cert) != 1 ||
	    X509_STORE_CTX_init(ctx, store, x, NULL) != 1)
		goto out;
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
	X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
	if (ip)
		X509_VERIFY_PARAM_set1_ip_asc(param, host);
	else
		X509_VERIFY_PARAM_set1_host(param, host, 0);
	ok = X509_verify_cert(ctx) == 1;
	if (!ok)
		printf("#   verify %s: %s\n", host,
		       X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	if (!ok) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

static bool same_der(const struct res *a, const struct res *b)
{
	return a->len == b->len && memcmp(a->der, b->der, a->len) == 0;
}

static void setup(void)
{
	struct kh_err err;
	bool created;

	CHECK_INT(kh_ca_ensure(path("ca.crt"), path("ca.key"), &created, &err), 0);
	CHECK_INT(kh_ca_load(&g_ca, path("ca.crt"), path("ca.key"), &err), 0);
	front_key = kh_leafkey_new(&err);
	other_key = kh_leafkey_new(&err);
	CHECK(front_key != NULL && other_key != NULL);
	CHECK_INT(kh_leafkey_spki(front_key, front_spki, sizeof front_spki, &front_spki_len, &err),
		  0);
	CHECK_INT(kh_leafkey_spki(other_key, other_spki, sizeof other_spki, &other_spki_len, &err),
		  0);
}

static bool refused_opts(struct kh_signer_opts o, const char *want)
{
	struct kh_err err;
	struct kh_signer *s = kh_signer_new(&o, &err);

	kh_signer_free(s);
	if (s == NULL && strstr(err.msg, want) != NULL)
		return true;
	printf("#   want \"%s\", got \"%s\"\n", want, s == NULL ? err.msg : "a signer");
	return false;
}

static void new_refuses_bad_options(void)
{
	const struct kh_signer_opts ok = { .ca = &g_ca, .n_fronts = 1, .allow = allow_patterns };
	struct kh_ca empty = { .cert = NULL };
	struct kh_signer_opts o;
	struct kh_signer_stats st;
	struct kh_signer *s;
	struct kh_err err;

	o = ok, o.n_fronts = 0;
	CHECK(refused_opts(o, "0 fronts"));
	o = ok, o.n_fronts = KH_SIGNER_FRONTS_MAX + 1;
	CHECK(refused_opts(o, "out of range"));
	o = ok, o.cache_cap = KH_MAX_CERT_CACHE + 1;
	CHECK(refused_opts(o, "100001 cached leaves"));
	o = ok, o.mint_rate = KH_LEAF_MINT_RATE_MAX + 1;
	CHECK(refused_opts(o, "1001 a second"));
	o = ok, o.mint_burst = KH_MAX_CERT_CACHE + 1;
	CHECK(refused_opts(o, "out of range"));
	o = ok, o.allow = NULL;
	CHECK(refused_opts(o, "no allowlist"));
	o = ok, o.ca = &empty;
	CHECK(refused_opts(o, "no CA"));
	o = ok, o.ca = NULL;
	CHECK(refused_opts(o, "no CA"));
	s = kh_signer_new(&ok, &err); /* zeros: the defaults */
	CHECK(s != NULL);
	if (s != NULL) {
		kh_signer_stats(s, &st);
		CHECK_INT(st.entries, 0);
	}
	kh_signer_free(s);
	kh_signer_free(NULL);
}

/* The leaf verifies against the CA for that host, names it in its SAN, and
 * carries the front's key (the front's own check accepts it). */
static void signs_for_front_key(void)
{
	static const struct {
		const char *host;
		bool ip;
	} hosts[] = { { "api.openai.com", false },
		      { "deep.sub.example.com", false },
		      { "10.1.2.3", true },
		      { "::1", true } };
	struct kh_signer *s = new_signer(16);
	struct kh_err err;

	for (size_t i = 0; s != NULL && i < sizeof hosts / sizeof hosts[0]; i++) {
		struct res r = ask_front(s, (uint32_t)i % FRONTS, hosts[i].host, T0);
		X509 *x = r.rc == 0 ? verified(r.der, r.len, hosts[i].host, hosts[i].ip) : NULL;
		X509 *checked;

		CHECK(x != NULL);
		if (x == NULL) {
			printf("#   %s: %s\n", hosts[i].host, r.err.msg);
			continue;
		}
		CHECK_INT(X509_check_private_key(x, front_key), 1);
		CHECK(X509_check_private_key(x, g_ca.leaf_key) != 1);
		ERR_clear_error();
		if (hosts[i].ip)
			CHECK_INT(X509_check_ip_asc(x, hosts[i].host, 0), 1);
		else
			CHECK_INT(X509_check_host(x, hosts[i].host, 0,
						  X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL),
				  1);
		CHECK_INT(X509_check_host(x, "evil.com", 0, 0, NULL), 0);
		checked = kh_leafkey_check_leaf(front_key, hosts[i].host, r.der, r.len, &err);
		CHECK(checked != NULL);
		X509_free(checked);
		/* the front's check refuses it for another key or another host */
		CHECK(kh_leafkey_check_leaf(other_key, hosts[i].host, r.der, r.len, &err) == NULL);
		CHECK(kh_leafkey_check_leaf(front_key, "x.example.com", r.der, r.len, &err) ==
		      NULL);
		X509_free(x);
	}
	kh_signer_free(s);
}

static void refuses_hosts(void)
{
	struct kh_signer *s = new_signer(16);
	char longhost[KH_HOST_BUF + 8];
	struct res r;
	unsigned before;

	if (s == NULL)
		return;
	r = ask_front(s, 0, "evil.com", T0);
	REFUSED_AS(r, KH_SIGNER_R_HOST);
	CHECK(strstr(r.err.msg, "evil.com is not on the allowlist") != NULL);
	r = ask_front(s, 0, "example.com", T0); /* *.example.com is subdomains only */
	REFUSED_AS(r, KH_SIGNER_R_HOST);
	r = ask_front(s, 0, "10.9.9.9", T0);
	REFUSED_AS(r, KH_SIGNER_R_IP);
	r = ask_front(s, 0, "::2", T0);
	REFUSED_AS(r, KH_SIGNER_R_IP);
	/* not in normal form: refused before the allowlist sees it, not quoted */
	before = allow_calls;
	static const char *const odd[] = { "API.openai.com",
					   "api.openai.com.",
					   "a b.example.com",
					   "x.example.com:443",
					   "[::1]",
					   "0:0::1",
					   "",
					   "127.1",
					   "*.example.com",
					   "a..example.com",
					   "x\n.example.com" };
	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		r = ask_front(s, 0, odd[i], T0);
		REFUSED_AS(r, KH_SIGNER_R_BAD_HOST);
		CHECK(odd[i][0] == '\0' || strstr(r.err.msg, odd[i]) == NULL);
	}
	r = ask_front(s, 0, NULL, T0);
	REFUSED_AS(r, KH_SIGNER_R_BAD_HOST);
	memset(longhost, 'a', sizeof longhost - 1);
	longhost[sizeof longhost - 1] = '\0';
	r = ask_front(s, 0, longhost, T0);
	REFUSED_AS(r, KH_SIGNER_R_BAD_HOST);
	CHECK_INT(allow_calls, before);
	r = ask_front(s, FRONTS, "api.openai.com", T0);
	REFUSED_AS(r, KH_SIGNER_R_UNKNOWN_FRONT);
	r = ask_front(s, UINT32_MAX, "api.openai.com", T0);
	REFUSED_AS(r, KH_SIGNER_R_UNKNOWN_FRONT);
	kh_signer_free(s);
}

/* key's SPKI DER after setting one encoding parameter (NULL: none). */
static size_t spki_with(EVP_PKEY *key, const char *param, const char *value, uint8_t *out)
{
	EVP_PKEY *dup = EVP_PKEY_dup(key);
	unsigned char *p = out;
	int n = -1;

	if (dup != NULL &&
	    (param == NULL || EVP_PKEY_set_utf8_string_param(dup, param, value) == 1) &&
	    i2d_PUBKEY(dup, NULL) <= 512)
		n = i2d_PUBKEY(dup, &p);
	EVP_PKEY_free(dup);
	CHECK(n > 0);
	return n > 0 ? (size_t)n : 0;
}

static void refuses_keys(void)
{
	struct kh_signer *s = new_signer(16);
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	uint8_t b[512];
	size_t n;
	struct res r;

	CHECK(rsa != NULL && p384 != NULL && ed != NULL);
	if (s == NULL || rsa == NULL || p384 == NULL || ed == NULL)
		goto out;
	r = ask(s, 0, "api.openai.com", (const uint8_t *)"garbage", 7, T0);
	REFUSED_AS(r, KH_LEAFKEY_R_BAD_KEY);
	r = ask(s, 0, "api.openai.com", front_spki, 0, T0);
	REFUSED_AS(r, KH_LEAFKEY_R_BAD_KEY);
	r = ask(s, 0, "api.openai.com", NULL, 0, T0);
	REFUSED_AS(r, KH_LEAFKEY_R_BAD_KEY);
	r = ask(s, 0, "api.openai.com", front_spki, front_spki_len - 1, T0); /* cut short */
	REFUSED_AS(r, KH_LEAFKEY_R_BAD_KEY);
	memcpy(b, front_spki, front_spki_len);
	b[front_spki_len] = 0;
	r = ask(s, 0, "api.openai.com", b, front_spki_len + 1, T0); /* a byte after it */
	REFUSED_AS(r, KH_LEAFKEY_R_BAD_KEY);
	b[front_spki_len - 1] ^= 1; /* Y no longer on the curve */
	r = ask(s, 0, "api.openai.com", b, front_spki_len, T0);
	REFUSED_AS(r, KH_LEAFKEY_R_BAD_KEY);
	n = spki_with(rsa, NULL, NULL, b);
	r = ask(s, 0, "api.openai.com", b, n, T0);
	REFUSED_AS(r, KH_LEAFKEY_R_NOT_P256);
	n = spki_with(p384, NULL, NULL, b);
	r = ask(s, 0, "api.openai.com", b, n, T0);
	REFUSED_AS(r, KH_LEAFKEY_R_NOT_P256);
	n = spki_with(ed, NULL, NULL, b);
	r = ask(s, 0, "api.openai.com", b, n, T0);
	REFUSED_AS(r, KH_LEAFKEY_R_NOT_P256);
	/* P-256, but spelled in a form clients may refuse */
	n = spki_with(front_key, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed", b);
	CHECK(n > 0 && n < front_spki_len);
	r = ask(s, 0, "api.openai.com", b, n, T0);
	REFUSED_AS(r, KH_LEAFKEY_R_NOT_P256);
	n = spki_with(front_key, OSSL_PKEY_PARAM_EC_ENCODING, OSSL_PKEY_EC_ENCODING_EXPLICIT, b);
	CHECK(n > front_spki_len);
	r = ask(s, 0, "api.openai.com", b, n, T0);
	REFUSED_AS(r, KH_LEAFKEY_R_NOT_P256);
	/* the host is judged first */
	r = ask(s, 0, "evil.com", (const uint8_t *)"garbage", 7, T0);
	REFUSED_AS(r, KH_SIGNER_R_HOST);
out:
	EVP_PKEY_free(ed);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(rsa);
	kh_signer_free(s);
}

static void host_n(char *out, size_t cap, unsigned i)
{
	snprintf(out, cap, "h%u.example.com", i);
}

/* A burst of KH_LEAF_MINT_BURST new leaves, then one per 1000/RATE ms;
 * each front has its own bucket; a cached leaf costs nothing. */
static void rate_limits_per_front(void)
{
	const uint64_t step = 1000 / KH_LEAF_MINT_RATE; /* ms per token */
	struct kh_signer *s = new_signer(KH_LEAF_MINT_BURST * 4);
	struct kh_signer_stats st;
	char host[64];
	unsigned ok = 0, i;
	struct res r;

	if (s == NULL)
		return;
	for (i = 0; i < KH_LEAF_MINT_BURST; i++) {
		host_n(host, sizeof host, i);
		ok += ask_front(s, 0, host, T0).rc == 0;
	}
	CHECK_INT(ok, KH_LEAF_MINT_BURST);
	host_n(host, sizeof host, i++);
	r = ask_front(s, 0, host, T0);
	REFUSED_AS(r, KH_SIGNER_R_RATE);
	CHECK(strstr(r.err.msg, "front 0") != NULL);
	r = ask_front(s, 0, host, T0 + step - 1); /* not yet a whole token */
	REFUSED_AS(r, KH_SIGNER_R_RATE);
	r = ask(s, 1, host, other_spki, other_spki_len, T0); /* another front: its own bucket */
	CHECK_INT(r.rc, 0);
	r = ask_front(s, 0, "h3.example.com", T0 + step - 1); /* cached: free */
	CHECK_INT(r.rc, 0);
	r = ask_front(s, 0, host, T0 + step); /* one token refilled */
	CHECK_INT(r.rc, 0);
	host_n(host, sizeof host, i++);
	r = ask_front(s, 0, host, T0 + step);
	REFUSED_AS(r, KH_SIGNER_R_RATE);
	r = ask_front(s, 0, host, T0 + 3); /* the clock going back refills nothing */
	REFUSED_AS(r, KH_SIGNER_R_RATE);
	/* a long pause refills the burst, not more */
	for (ok = 0; ok <= KH_LEAF_MINT_BURST; i++) {
		host_n(host, sizeof host, i);
		r = ask_front(s, 0, host, T0 + 3600u * 1000u);
		if (r.rc != 0)
			break;
		ok++;
	}
	CHECK_INT(ok, KH_LEAF_MINT_BURST);
	REFUSED_AS(r, KH_SIGNER_R_RATE);
	/* a short pause after a few mints refills up to the burst, not past it */
	for (i = 0; i < 10; i++) {
		snprintf(host, sizeof host, "r%u.example.com", i);
		CHECK_INT(ask(s, 2, host, other_spki, other_spki_len, T0).rc, 0);
	}
	for (ok = 0; ok <= KH_LEAF_MINT_BURST; i++) {
		snprintf(host, sizeof host, "r%u.example.com", i);
		r = ask(s, 2, host, other_spki, other_spki_len, T0 + KH_LEAF_MINT_BURST * step - 1);
		if (r.rc != 0)
			break;
		ok++;
	}
	CHECK_INT(ok, KH_LEAF_MINT_BURST);
	kh_signer_stats(s, &st);
	CHECK_INT(st.rate_limited, 6);
	CHECK_INT(st.mints, 3 * KH_LEAF_MINT_BURST + 12);
	CHECK_INT(st.hits, 1);
	kh_signer_free(s);
}

/* Another front asking with the same key (a front taken over that learnt
 * it from a handshake) gets no leaf from the first front's cache: it would
 * tell which hosts that front's sandboxes reached. */
static void cache_is_per_front(void)
{
	struct kh_signer *s = new_signer(8);
	struct kh_signer_stats st;
	struct res a, a2, a3;

	if (s == NULL)
		return;
	a = ask_front(s, 0, "api.openai.com", T0);
	a2 = ask_front(s, 0, "api.openai.com", T0 + 1);
	a3 = ask_front(s, 2, "api.openai.com", T0 + 2);
	CHECK(a.rc == 0 && a2.rc == 0 && a3.rc == 0);
	CHECK(same_der(&a, &a2));
	CHECK(!same_der(&a, &a3));
	kh_signer_stats(s, &st);
	CHECK_INT(st.mints, 2);
	CHECK_INT(st.hits, 1);
	kh_signer_free(s);
}

static void cache_by_host_and_key(void)
{
	struct kh_signer *s = new_signer(2);
	struct kh_signer_stats st;
	const uint64_t later = T0 + KH_LEAF_REMINT_SECS * 1000ull;
	struct res a, again, b, stale;
	X509 *x;

	if (s == NULL)
		return;
	a = ask_front(s, 0, "api.openai.com", T0);
	again = ask_front(s, 0, "api.openai.com", T0 + 5);
	CHECK_INT(a.rc, 0);
	CHECK_INT(again.rc, 0);
	CHECK(same_der(&a, &again));
	/* the same host for another key: a leaf for that key, not the cached one */
	b = ask(s, 0, "api.openai.com", other_spki, other_spki_len, T0 + 6);
	CHECK_INT(b.rc, 0);
	CHECK(!same_der(&a, &b));
	x = verified(b.der, b.len, "api.openai.com", false);
	CHECK(x != NULL && X509_check_private_key(x, other_key) == 1);
	X509_free(x);
	kh_signer_stats(s, &st);
	CHECK_INT(st.mints, 2);
	CHECK_INT(st.hits, 1);
	CHECK_INT(st.entries, 2);
	/* KH_LEAF_REMINT_SECS later it is signed again */
	stale = ask_front(s, 0, "api.openai.com", later);
	CHECK_INT(stale.rc, 0);
	CHECK(!same_der(&a, &stale));
	again = ask_front(s, 0, "api.openai.com", later + 1);
	CHECK(same_der(&stale, &again));
	/* full (cap 2): a new entry pushes out the oldest, (host, front key) */
	CHECK_INT(ask_front(s, 0, "x.example.com", later + 2).rc, 0);
	kh_signer_stats(s, &st);
	CHECK_INT(st.evictions, 1);
	CHECK_INT(st.entries, 2);
	again = ask_front(s, 0, "api.openai.com", later + 3);
	CHECK_INT(again.rc, 0);
	CHECK(!same_der(&stale, &again));
	kh_signer_stats(s, &st);
	CHECK_INT(st.mints, 5); /* signed again, pushing out (host, other key) */
	CHECK_INT(st.evictions, 2);
	/* a reload that drops a cached host: no leaf for it any more */
	kh_signer_set_allow(s, allow_none, NULL);
	b = ask_front(s, 0, "api.openai.com", later + 4);
	REFUSED_AS(b, KH_SIGNER_R_HOST);
	kh_signer_set_allow(s, allow_patterns, NULL);
	b = ask_front(s, 0, "api.openai.com", later + 5);
	CHECK(same_der(&b, &again));
	kh_signer_stats(s, &st);
	CHECK_INT(st.refused, 1);
	CHECK_INT(st.mints, 5);
	kh_signer_free(s);
}

/* Many keys, one host, a one-entry cache: whatever the cache's chains do,
 * every answer carries the key that asked. */
static void cache_never_answers_for_another_key(void)
{
	struct kh_signer *s = new_signer(1);
	EVP_PKEY *keys[KEYS];
	uint8_t spki[KEYS][KH_LEAF_SPKI_MAX];
	size_t n[KEYS];
	struct kh_err err;

	for (int i = 0; i < KEYS; i++) {
		keys[i] = kh_leafkey_new(&err);
		CHECK_INT(kh_leafkey_spki(keys[i], spki[i], sizeof spki[i], &n[i], &err), 0);
	}
	for (int round = 0; s != NULL && round < 2; round++) {
		for (int i = 0; i < KEYS; i++) {
			struct res r = ask(s, 0, "api.openai.com", spki[i], n[i], T0 + (uint64_t)i);
			X509 *x = r.rc == 0 ? kh_leafkey_check_leaf(keys[i], "api.openai.com",
								    r.der, r.len, &err)
					    : NULL;

			CHECK(x != NULL);
			X509_free(x);
		}
	}
	for (int i = 0; i < KEYS; i++)
		EVP_PKEY_free(keys[i]);
	kh_signer_free(s);
}

/* A caller's buffer too small for the leaf: a refusal, not an overflow. */
static void small_buffer_refused(void)
{
	struct kh_signer *s = new_signer(4);
	struct kh_signer_req rq = { 0, "api.openai.com", front_spki, front_spki_len, T0 };
	uint8_t out[64];
	size_t len = 7;
	const char *reason = NULL;
	struct kh_err err;

	if (s == NULL)
		return;
	CHECK_INT(kh_signer_handle(s, &rq, out, sizeof out, &len, &reason, &err), -1);
	CHECK_STR(reason, KH_SIGNER_R_SIGN);
	CHECK(strstr(err.msg, "does not fit 64") != NULL);
	CHECK_INT(len, 0);
	kh_signer_free(s);
}

int main(void)
{
	if (tmpdir_make("kh-signer") != 0)
		return 1;
	RUN(setup);
	RUN(new_refuses_bad_options);
	RUN(signs_for_front_key);
	RUN(refuses_hosts);
	RUN(refuses_keys);
	RUN(rate_limits_per_front);
	RUN(cache_by_host_and_key);
	RUN(cache_is_per_front);
	RUN(cache_never_answers_for_another_key);
	RUN(small_buffer_refused);
	EVP_PKEY_free(other_key);
	EVP_PKEY_free(front_key);
	kh_ca_free(&g_ca);
	if (tmpdir_remove() != 0)
		return 1;
	TAP_DONE();
}
