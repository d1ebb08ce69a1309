#include "tls/leafkey.h"

#include <arpa/inet.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "base/hostname.h"
#include "base/kh_limits.h"
#include "tls/sslerr.h"

_Static_assert(KH_LEAF_SPKI_P256_LEN <= KH_LEAF_SPKI_MAX, "a P-256 SPKI fits a SIGN_LEAF frame");

/* SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING { 0x04 ...
 * (uncompressed point) } }: what precedes the 64 bytes of X and Y. */
static const uint8_t p256_prefix[] = { 0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
				       0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
				       0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04 };
_Static_assert(sizeof p256_prefix + 64 == KH_LEAF_SPKI_P256_LEN, "P-256 SPKI layout");

EVP_PKEY *kh_leafkey_new(struct kh_err *err)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	if (key == NULL)
		kh_sslerr_set(err, "generating the leaf key");
	return key;
}

bool kh_leafkey_is_p256(const EVP_PKEY *key)
{
	char group[32];
	size_t n = 0;

	if (key == NULL || !EVP_PKEY_is_a(key, "EC") ||
	    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
					   &n) != 1) {
		ERR_clear_error();
		return false;
	}
	return strcmp(group, "prime256v1") == 0;
}

int kh_leafkey_spki(EVP_PKEY *key, uint8_t *out, size_t cap, size_t *len, struct kh_err *err)
{
	unsigned char *p = out;
	int n;

	if (!kh_leafkey_is_p256(key)) {
		kh_err_set(err, "the leaf key is not a P-256 key");
		return -1;
	}
	n = i2d_PUBKEY(key, NULL);
	if (n != KH_LEAF_SPKI_P256_LEN || (size_t)n > cap) {
		kh_err_set(err, "the leaf public key needs %d bytes, %zu available", n, cap);
		ERR_clear_error();
		return -1;
	}
	if (i2d_PUBKEY(key, &p) != n || memcmp(out, p256_prefix, sizeof p256_prefix) != 0) {
		kh_sslerr_set(err, "encoding the leaf public key");
		return -1;
	}
	*len = (size_t)n;
	return 0;
}

/* Parsing first (any length the frame allowed), so the reason says whether
 * the bytes were a key at all; then the one accepted form. d2i_PUBKEY also
 * checks that the point is on the curve. */
EVP_PKEY *kh_leafkey_parse_spki(const uint8_t *der, size_t len, const char **reason,
				struct kh_err *err)
{
	const unsigned char *p = der;
	const char *why = KH_LEAFKEY_R_BAD_KEY;
	EVP_PKEY *key = NULL;

	if (der == NULL || len == 0 || len > KH_CHAN_FRAME_MAX) {
		kh_err_set(err, "leaf public key: %zu bytes", len);
		goto fail;
	}
	key = d2i_PUBKEY(NULL, &p, (long)len);
	if (key == NULL || p != der + len) {
		kh_sslerr_set(err, "%s",
			      key == NULL ? "leaf public key: not a SubjectPublicKeyInfo"
					  : "leaf public key: bytes after the key");
		goto fail;
	}
	why = KH_LEAFKEY_R_NOT_P256;
	if (!kh_leafkey_is_p256(key)) {
		kh_err_set(err, "leaf public key: not a P-256 key");
		goto fail;
	}
	if (len != KH_LEAF_SPKI_P256_LEN || memcmp(der, p256_prefix, sizeof p256_prefix) != 0) {
		kh_err_set(err, "leaf public key: P-256, but not as a named curve with an "
				"uncompressed point");
		goto fail;
	}
	return key;
fail:
	*reason = why;
	EVP_PKEY_free(key);
	return NULL;
}

/* The one subjectAltName is host, of host's kind. */
static bool san_is(X509 *x, const char *host, int kind)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	const GENERAL_NAME *gn;
	unsigned char addr[16];
	int af = kind == KH_HOST_IPV4 ? AF_INET : AF_INET6;
	bool ok = false;

	if (names == NULL || sk_GENERAL_NAME_num(names) != 1)
		goto out;
	gn = sk_GENERAL_NAME_value(names, 0);
	if (kind == KH_HOST_NAME) {
		ok = gn->type == GEN_DNS &&
		     (size_t)ASN1_STRING_length(gn->d.dNSName) == strlen(host) &&
		     memcmp(ASN1_STRING_get0_data(gn->d.dNSName), host, strlen(host)) == 0;
	} else if (gn->type == GEN_IPADD && inet_pton(af, host, addr) == 1) {
		int alen = af == AF_INET ? 4 : 16;

		ok = ASN1_STRING_length(gn->d.iPAddress) == alen &&
		     memcmp(ASN1_STRING_get0_data(gn->d.iPAddress), addr, (size_t)alen) == 0;
	}
out:
	GENERAL_NAMES_free(names);
	return ok;
}

/* The subject is empty or one CN equal to host. */
static bool subject_is(X509 *x, const char *host)
{
	const X509_NAME *name = X509_get_subject_name(x);
	const X509_NAME_ENTRY *e;
	const ASN1_STRING *v;

	if (X509_NAME_entry_count(name) == 0)
		return true;
	if (X509_NAME_entry_count(name) != 1)
		return false;
	e = X509_NAME_get_entry(name, 0);
	v = X509_NAME_ENTRY_get_data(e);
	return OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)) == NID_commonName &&
	       (size_t)ASN1_STRING_length(v) == strlen(host) &&
	       memcmp(ASN1_STRING_get0_data(v), host, strlen(host)) == 0;
}

static int check_names(X509 *x, const char *host, struct kh_err *err)
{
	char norm[KH_HOST_BUF];
	int kind = host == NULL ? -1 : kh_host_normalize(kh_slice_cstr(host), norm);

	if (kind < 0 || strcmp(norm, host) != 0) {
		kh_err_set(err, "leaf check: the host is not in normal form");
		return -1;
	}
	if (!san_is(x, host, kind) || !subject_is(x, host)) {
		kh_err_set(err, "leaf check: the certificate does not name %s, or names more",
			   norm);
		return -1;
	}
	return 0;
}

X509 *kh_leafkey_check_leaf(EVP_PKEY *key, const char *host, const uint8_t *der, size_t len,
			    struct kh_err *err)
{
	const unsigned char *p = der;
	X509 *x = NULL;

	if (der == NULL || len == 0 || len > KH_LEAF_DER_MAX) {
		kh_err_set(err, "leaf check: %zu bytes of certificate", len);
		return NULL;
	}
	x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL || p != der + len) {
		kh_sslerr_set(err, "leaf check: not exactly one DER certificate");
		goto fail;
	}
	if (key == NULL || EVP_PKEY_eq(X509_get0_pubkey(x), key) != 1) {
		ERR_clear_error();
		kh_err_set(err, "leaf check: the certificate is for another key");
		goto fail;
	}
	if (check_names(x, host, err) != 0)
		goto fail;
	if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0 ||
	    X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		kh_err_set(err, "leaf check: the certificate is not valid now");
		goto fail;
	}
	return x;
fail:
	X509_free(x);
	return NULL;
}
