/* Leaf keys under privilege separation (docs/design/privsep.md, section 1):
 * each front makes its own P-256 leaf key at start, sends its public half
 * to the CA signer as SPKI DER, and checks the certificate it gets back
 * before using it. The signer reads that SPKI with kh_leafkey_parse_spki.
 *
 * The only public key form accepted on the wire is the one
 * kh_leafkey_spki writes: a P-256 key as a named curve (id-ecPublicKey,
 * prime256v1) with an uncompressed point, KH_LEAF_SPKI_P256_LEN bytes. Other
 * spellings of a P-256 key (explicit curve parameters, a compressed point)
 * parse in OpenSSL but would be copied into the leaf as they are, and TLS
 * clients refuse some of them; so they are refused here instead. */
#ifndef KH_LEAFKEY_H
#define KH_LEAFKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/err.h"

#define KH_LEAF_SPKI_P256_LEN 91

/* Reason tokens of kh_leafkey_parse_spki (also the signer's, chan LEAF_FAIL). */
#define KH_LEAFKEY_R_BAD_KEY  "bad_key" /* not an SPKI at all */
#define KH_LEAFKEY_R_NOT_P256 "key_not_p256" /* a key, but not P-256 in the form above */

/* A new P-256 key pair (for a front; never written anywhere). NULL with err
 * set on failure. */
EVP_PKEY *kh_leafkey_new(struct kh_err *err);

/* Is key an EC key on P-256? */
bool kh_leafkey_is_p256(const EVP_PKEY *key);

/* The public half of a P-256 key as SPKI DER into out[cap]; *len is set.
 * -1 with err set if key is not P-256 or out is too small. */
int kh_leafkey_spki(EVP_PKEY *key, uint8_t *out, size_t cap, size_t *len, struct kh_err *err);

/* Reads a public key sent by a front (hostile bytes). Returns a new public
 * key the caller frees, or NULL with err set and *reason one of the
 * KH_LEAFKEY_R_* tokens. */
EVP_PKEY *kh_leafkey_parse_spki(const uint8_t *der, size_t len, const char **reason,
				struct kh_err *err);

/* Checks a leaf the signer sent for host (normalised) before a front uses
 * it: the DER is exactly one certificate, its public key is key's, it names
 * host and nothing else (one subjectAltName of host's kind; a CN, if any,
 * equal to host), and it is valid now. Returns the certificate (caller
 * frees) or NULL with err set. */
X509 *kh_leafkey_check_leaf(EVP_PKEY *key, const char *host, const uint8_t *der, size_t len,
			    struct kh_err *err);

#endif
