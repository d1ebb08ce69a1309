/* A front's leaf key (tls/leafkey.c): its SPKI is the one accepted form and
 * reads back as the same key; the front's check of a returned leaf refuses
 * a leaf for another key, another host, more names, the wrong validity, or
 * bytes that are not exactly one certificate. */
#include <openssl/x509v3.h>

#include "base/kh_limits.h"
#include "tls/ca.h"
#include "tls/leafkey.h"
#include "tap.h"
#include "tmpdir.h"

static struct kh_ca g_ca;
static EVP_PKEY *key;

static void setup(void)
{
	struct kh_err err;
	bool created;

	CHECK_INT(kh_ca_ensure(path("ca.crt"), path("ca.key"), &created, &err), 0);
	CHECK_INT(kh_ca_load(&g_ca, path("ca.crt"), path("ca.key"), &err), 0);
	key = kh_leafkey_new(&err);
	CHECK(key != NULL && kh_leafkey_is_p256(key));
}

static void spki_round_trip(void)
{
	uint8_t spki[KH_LEAF_SPKI_MAX], small[KH_LEAF_SPKI_P256_LEN - 1];
	size_t n = 0;
	const char *reason = NULL;
	struct kh_err err;
	EVP_PKEY *back;
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");

	CHECK_INT(kh_leafkey_spki(key, spki, sizeof spki, &n, &err), 0);
	CHECK_INT(n, KH_LEAF_SPKI_P256_LEN);
	back = kh_leafkey_parse_spki(spki, n, &reason, &err);
	CHECK(back != NULL && EVP_PKEY_eq(back, key) == 1);
	CHECK(reason == NULL); /* only a refusal sets it */
	EVP_PKEY_free(back);
	CHECK_INT(kh_leafkey_spki(key, small, sizeof small, &n, &err), -1);
	CHECK(strstr(err.msg, "91 bytes, 90 available") != NULL);
	CHECK_INT(kh_leafkey_spki(p384, spki, sizeof spki, &n, &err), -1);
	CHECK(strstr(err.msg, "not a P-256 key") != NULL);
	CHECK(!kh_leafkey_is_p256(p384) && !kh_leafkey_is_p256(NULL));
	EVP_PKEY_free(p384);
}

static uint8_t der[KH_LEAF_DER_MAX + 1];

static size_t to_der(X509 *x)
{
	unsigned char *p = der;
	int n = x == NULL ? -1 : i2d_X509(x, NULL);

	if (n <= 0 || (size_t)n > sizeof der || i2d_X509(x, &p) != n)
		return 0;
	return (size_t)n;
}

static bool accepted(EVP_PKEY *k, const char *host, size_t n)
{
	struct kh_err err;
	X509 *x = kh_leafkey_check_leaf(k, host, der, n, &err);

	if (x == NULL)
		printf("#   refused: %s\n", err.msg);
	X509_free(x);
	return x != NULL;
}

/* The leaf the signer would send passes; other keys and hosts do not. */
static void check_leaf_accepts_and_refuses(void)
{
	struct kh_err err;
	EVP_PKEY *other = kh_leafkey_new(&err);
	X509 *leaf = kh_ca_sign_leaf(&g_ca, "api.openai.com", key, &err);
	X509 *ip = kh_ca_sign_leaf(&g_ca, "2001:db8::1", key, &err);
	size_t n = to_der(leaf);

	CHECK(n > 0 && accepted(key, "api.openai.com", n));
	CHECK(kh_leafkey_check_leaf(other, "api.openai.com", der, n, &err) == NULL);
	CHECK(strstr(err.msg, "another key") != NULL);
	CHECK(kh_leafkey_check_leaf(NULL, "api.openai.com", der, n, &err) == NULL);
	CHECK(kh_leafkey_check_leaf(key, "api.openai.co", der, n, &err) == NULL);
	CHECK(strstr(err.msg, "does not name api.openai.co") != NULL);
	CHECK(kh_leafkey_check_leaf(key, "x.api.openai.com", der, n, &err) == NULL);
	CHECK(kh_leafkey_check_leaf(key, "API.openai.com", der, n, &err) == NULL);
	CHECK(strstr(err.msg, "normal form") != NULL);
	CHECK(kh_leafkey_check_leaf(key, NULL, der, n, &err) == NULL);
	CHECK(kh_leafkey_check_leaf(key, "api.openai.com", der, n - 1, &err) == NULL);
	CHECK(strstr(err.msg, "not exactly one DER certificate") != NULL);
	der[n] = 0;
	CHECK(kh_leafkey_check_leaf(key, "api.openai.com", der, n + 1, &err) == NULL);
	CHECK(kh_leafkey_check_leaf(key, "api.openai.com", der, 0, &err) == NULL);
	CHECK(kh_leafkey_check_leaf(key, "api.openai.com", der, KH_LEAF_DER_MAX + 1, &err) == NULL);
	n = to_der(ip);
	CHECK(n > 0 && accepted(key, "2001:db8::1", n));
	CHECK(kh_leafkey_check_leaf(key, "2001:db8::2", der, n, &err) == NULL);
	CHECK(kh_leafkey_check_leaf(key, "::1", der, n, &err) == NULL);
	X509_free(ip);
	X509_free(leaf);
	EVP_PKEY_free(other);
}

/* A leaf for key signed by the CA, but with its own names and validity. */
static X509 *custom(const char *cn, const char *san, long from, long to)
{
	X509 *x = X509_new();
	X509V3_CTX ctx;
	X509_EXTENSION *e = NULL;

	if (x == NULL)
		return NULL;
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 9);
	X509_set_issuer_name(x, X509_get_subject_name(g_ca.cert));
	if (cn != NULL)
		X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName, MBSTRING_ASC,
					   (const unsigned char *)cn, -1, -1, 0);
	X509_gmtime_adj(X509_getm_notBefore(x), from);
	X509_gmtime_adj(X509_getm_notAfter(x), to);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, g_ca.cert, x, NULL, NULL, 0);
	if (san != NULL) {
		e = X509V3_EXT_nconf_nid(NULL, &ctx, NID_subject_alt_name, san);
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	X509_sign(x, g_ca.key, EVP_sha256());
	return x;
}

static void check_leaf_wants_exactly_the_host(void)
{
	static const struct {
		const char *cn, *san;
		long from, to;
		bool ok;
	} cases[] = {
		{ "api.openai.com", "DNS:api.openai.com", -60, 3600, true },
		{ NULL, "DNS:api.openai.com", -60, 3600, true },
		{ "api.openai.com", "DNS:api.openai.com,DNS:evil.com", -60, 3600, false },
		{ "api.openai.com", "DNS:*.openai.com", -60, 3600, false },
		{ "api.openai.com", "IP:1.2.3.4", -60, 3600, false },
		{ "api.openai.com", NULL, -60, 3600, false }, /* a CN alone is not enough */
		{ "evil.com", "DNS:api.openai.com", -60, 3600, false },
		{ "api.openai.com", "DNS:api.openai.com", -7200, -3600, false }, /* expired */
		{ "api.openai.com", "DNS:api.openai.com", 3600, 7200, false }, /* not yet */
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		X509 *x = custom(cases[i].cn, cases[i].san, cases[i].from, cases[i].to);
		size_t n = to_der(x);
		struct kh_err err;
		X509 *y = n > 0 ? kh_leafkey_check_leaf(key, "api.openai.com", der, n, &err) : NULL;

		if ((y != NULL) != cases[i].ok) {
			printf("#   case %zu: want %s\n", i, cases[i].ok ? "accepted" : "refused");
			tap_cur_failed = 1;
		}
		X509_free(y);
		X509_free(x);
	}
}

int main(void)
{
	if (tmpdir_make("kh-leafkey") != 0)
		return 1;
	RUN(setup);
	RUN(spki_round_trip);
	RUN(check_leaf_accepts_and_refuses);
	RUN(check_leaf_wants_exactly_the_host);
	EVP_PKEY_free(key);
	kh_ca_free(&g_ca);
	if (tmpdir_remove() != 0)
		return 1;
	TAP_DONE();
}
