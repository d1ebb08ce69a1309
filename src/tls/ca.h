/* keyhole's local certificate authority and the leaf certificates it mints.
 *
 * The CA is EC P-256, CA:TRUE (critical), keyUsage keyCertSign+cRLSign
 * (critical), 10-year validity, created with OpenSSL's API. ca.key is written
 * 0600 from its first byte with O_NOFOLLOW and an atomic rename; ca.crt 0644.
 *
 * Leaves are minted per upstream host for TLS interception: one P-256 key
 * shared by all leaves (generated in memory at daemon start, never written;
 * under privilege separation each front's own key instead), a random 128-bit positive serial, subject CN = host (when it fits), SAN =
 * dNSName or iPAddress, basicConstraints CA:FALSE (critical), keyUsage
 * digitalSignature (critical), EKU serverAuth, AKI/SKI, validity from
 * now - KH_LEAF_BACKDATE_SECS to now + KH_LEAF_VALIDITY_SECS, SHA-256. */
#ifndef KH_CA_H
#define KH_CA_H

#include <stdbool.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/err.h"

struct kh_ca {
	X509 *cert; /* owned */
	EVP_PKEY *key; /* owned: the CA private key */
	EVP_PKEY *leaf_key; /* owned: shared key for every minted leaf (a privsep
			     * front's own, whose leaves the CA signer signs: proxy/leafwait.h) */
};

/* Creates ca.crt/ca.key if neither exists (created=true); an existing pair is
 * left alone. One present without the other is an error that says which and
 * how to recover. Does not load. */
int kh_ca_ensure(const char *crt_path, const char *key_path, bool *created, struct kh_err *err);

/* Loads and checks the pair: the cert is a CA (basicConstraints CA:TRUE,
 * keyCertSign), not expired, and the key matches it. The key file must be
 * owned by us, not a symlink, and not readable by group/other (a looser mode
 * is an error telling the operator to chmod 600). Also generates leaf_key. */
int kh_ca_load(struct kh_ca *ca, const char *crt_path, const char *key_path, struct kh_err *err);

/* ca.key (not followed if a symlink) and ca.crt, opened read-only and not
 * read: what kh_ca_load_fds takes. Both -1 on failure, err naming the file. */
int kh_ca_open(const char *crt_path, const char *key_path, int *crt_fd, int *key_fd,
	       struct kh_err *err);

/* The same from descriptors already open (read from their start; the paths
 * name them in messages): the CA signer started again by a confined daemon,
 * which may no longer open the keyhole directory, gets them so. */
int kh_ca_load_fds(struct kh_ca *ca, int crt_fd, int key_fd, const char *crt_path,
		   const char *key_path, struct kh_err *err);

/* Only the certificate, checked like kh_ca_load does (a CA, valid now):
 * the daemon under privilege separation, where the CA signer process alone
 * reads ca.key. key and leaf_key stay NULL. */
int kh_ca_load_cert(struct kh_ca *ca, const char *crt_path, struct kh_err *err);

void kh_ca_free(struct kh_ca *ca); /* NULL-safe; cleanses the keys */

/* Signs a leaf for a normalized host (kh_host_normalize: name or IP
 * literal) carrying leaf_pub, a P-256 public key (tls/leafkey.h), with the
 * profile above. Needs only cert and key, not leaf_key: this is what the CA
 * signer process calls for a front's own key (docs/design/privsep.md, 1).
 * The key comes in as an EVP_PKEY, not SPKI bytes: reading a front's bytes
 * (kh_leafkey_parse_spki) is the signer's business, done once per request,
 * and the in-process caller below has no bytes to give. Returns a new X509
 * the caller owns, or NULL with err set. Thread-safe. */
X509 *kh_ca_sign_leaf(const struct kh_ca *ca, const char *host, EVP_PKEY *leaf_pub,
		      struct kh_err *err);

/* kh_ca_sign_leaf for the shared leaf_key (the daemon without privilege
 * separation). */
X509 *kh_ca_mint_leaf(const struct kh_ca *ca, const char *host, struct kh_err *err);

/* SHA-256 fingerprint of the CA cert as "AB:CD:..." into out (96+ bytes). */
void kh_ca_fingerprint(const struct kh_ca *ca, char *out, size_t len);

#endif
