#include "tls/ca.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/buffer.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "base/fsutil.h"
#include "base/hostname.h"
#include "base/kh_limits.h"
#include "base/log.h"
#include "tls/leafkey.h"
#include "tls/sslerr.h"

#define CN_MAX        64 /* ub-common-name in RFC 5280 */
#define CA_HOST_LABEL 40 /* "keyhole local CA (" + 40 + ")" stays under CN_MAX */
#define SERIAL_BYTES  16

/* PEM callback that refuses to ask for a passphrase: without it OpenSSL would
 * prompt on the controlling terminal for an encrypted key, hanging a daemon. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* A random positive serial. DER INTEGERs are signed, so the top bit is
 * cleared; the next one is set so the serial is never zero and always 16
 * bytes long (126 random bits, well above the 64 browsers ask for). */
static int set_random_serial(X509 *x)
{
	unsigned char raw[SERIAL_BYTES];
	BIGNUM *bn = NULL;
	int rc = -1;

	if (RAND_bytes(raw, sizeof raw) != 1)
		goto fail;
	raw[0] = (unsigned char)((raw[0] & 0x7f) | 0x40);
	bn = BN_bin2bn(raw, sizeof raw, NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto fail;
	rc = 0;
fail:
	BN_free(bn);
	return rc;
}

/* Adds an extension whose value is a constant in this file. Only fixed text
 * goes through OpenSSL's config syntax; anything derived from a host is built
 * with the typed API instead (see add_san), so it cannot inject options. */
static int add_conf_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	int rc = (ext != NULL && X509_add_ext(x, ext, -1) == 1) ? 0 : -1;

	X509_EXTENSION_free(ext);
	return rc;
}

static bool label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

/* This machine's name, reduced to harmless characters, so an operator who
 * trusts CAs from several machines can tell them apart. */
static void host_label(char out[CA_HOST_LABEL + 1])
{
	char raw[256];
	size_t n = 0;

	if (gethostname(raw, sizeof raw) != 0)
		raw[0] = '\0';
	raw[sizeof raw - 1] = '\0';
	for (size_t i = 0; raw[i] != '\0' && n < CA_HOST_LABEL; i++)
		out[n++] = label_char(raw[i]) ? raw[i] : '-';
	out[n] = '\0';
	if (n == 0)
		snprintf(out, CA_HOST_LABEL + 1, "unknown");
}

static X509_NAME *ca_name(void)
{
	char host[CA_HOST_LABEL + 1], cn[CN_MAX + 1];
	X509_NAME *name = X509_NAME_new();

	host_label(host);
	snprintf(cn, sizeof cn, "keyhole local CA (%s)", host);
	if (name == NULL ||
	    X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_ASC,
				       (const unsigned char *)"keyhole", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_ASC,
				       (const unsigned char *)cn, -1, -1, 0) != 1) {
		X509_NAME_free(name);
		return NULL;
	}
	return name;
}

static int ca_fields(X509 *x, EVP_PKEY *key)
{
	X509_NAME *name = ca_name();
	int rc = -1;

	if (name == NULL || X509_set_version(x, X509_VERSION_3) != 1 || set_random_serial(x) != 0 ||
	    X509_set_subject_name(x, name) != 1 || X509_set_issuer_name(x, name) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -KH_CA_BACKDATE_SECS) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), KH_CA_VALIDITY_DAYS, 0, NULL) == NULL ||
	    X509_set_pubkey(x, key) != 1)
		goto fail;
	rc = 0;
fail:
	X509_NAME_free(name);
	return rc;
}

/* SKI before AKI: the AKI's keyid is copied from the issuer's SKI, and a
 * self-signed CA is its own issuer. */
static int ca_exts(X509 *x)
{
	X509V3_CTX ctx;

	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if (add_conf_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") != 0 ||
	    add_conf_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") != 0 ||
	    add_conf_ext(x, &ctx, NID_subject_key_identifier, "hash") != 0 ||
	    add_conf_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") != 0)
		return -1;
	return 0;
}

static X509 *make_ca_cert(EVP_PKEY *key)
{
	X509 *x = X509_new();

	if (x == NULL || ca_fields(x, key) != 0 || ca_exts(x) != 0 ||
	    X509_sign(x, key, EVP_sha256()) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* The PEM text of the key lives in a secure-heap BIO (cleared on free) and is
 * wiped explicitly as well, before the buffer is released. */
static int write_key(const char *path, EVP_PKEY *key, struct kh_err *err)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	BUF_MEM *mem = NULL;
	int rc = -1;

	if (bio == NULL || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    BIO_get_mem_ptr(bio, &mem) <= 0 || mem == NULL) {
		kh_sslerr_set(err, "encoding the CA key");
		goto fail;
	}
	rc = kh_fs_write_atomic(path, mem->data, mem->length, 0600, err);
	OPENSSL_cleanse(mem->data, mem->length);
fail:
	BIO_free(bio);
	return rc;
}

/* ca.crt is mounted into sandboxes whose user is not us, so it must be
 * world-readable even under a strict umask (the atomic write only narrows).
 * Opened with O_NOFOLLOW so the chmod cannot land on a symlink's target. */
static int make_readable(const char *path, struct kh_err *err)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int rc = -1;

	if (fd < 0 || fchmod(fd, 0644) != 0)
		kh_err_set(err, "chmod 0644 %s: %s", path, kh_strerror(errno));
	else
		rc = 0;
	if (fd >= 0)
		close(fd);
	return rc;
}

static int write_cert(const char *path, X509 *cert, struct kh_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	BUF_MEM *mem = NULL;
	int rc = -1;

	if (bio == NULL || PEM_write_bio_X509(bio, cert) != 1 || BIO_get_mem_ptr(bio, &mem) <= 0 ||
	    mem == NULL) {
		kh_sslerr_set(err, "encoding the CA certificate");
		goto fail;
	}
	if (kh_fs_write_atomic(path, mem->data, mem->length, 0644, err) != 0 ||
	    make_readable(path, err) != 0)
		goto fail;
	rc = 0;
fail:
	BIO_free(bio);
	return rc;
}

/* Key first, then certificate: a crash in between leaves a key without a
 * certificate (reported by kh_ca_ensure), never a trusted certificate whose
 * key is lost. A failed certificate write removes the key we just made so a
 * retry starts clean. */
static int create_ca(const char *crt_path, const char *key_path, struct kh_err *err)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int rc = -1;

	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (key == NULL) {
		kh_sslerr_set(err, "generating the CA key");
		goto fail;
	}
	cert = make_ca_cert(key);
	if (cert == NULL) {
		kh_sslerr_set(err, "building the CA certificate");
		goto fail;
	}
	if (write_key(key_path, key, err) != 0)
		goto fail;
	if (write_cert(crt_path, cert, err) != 0) {
		unlink(key_path);
		goto fail;
	}
	rc = 0;
fail:
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

int kh_ca_ensure(const char *crt_path, const char *key_path, bool *created, struct kh_err *err)
{
	bool have_crt = kh_fs_exists(crt_path);
	bool have_key = kh_fs_exists(key_path);
	const char *have, *missing;

	if (created != NULL)
		*created = false;
	if (have_crt && have_key)
		return 0;
	if (have_crt != have_key) {
		have = have_crt ? crt_path : key_path;
		missing = have_crt ? key_path : crt_path;
		kh_err_set(
			err,
			"%s exists but %s is missing; remove %s to create a new CA, or restore %s",
			have, missing, have, missing);
		return -1;
	}
	if (create_ca(crt_path, key_path, err) != 0)
		return -1;
	if (created != NULL)
		*created = true;
	return 0;
}

static int check_key_stat(const struct stat *st, const char *path, struct kh_err *err)
{
	mode_t mode = st->st_mode & 07777;

	if (!S_ISREG(st->st_mode)) {
		kh_err_set(err, "%s is not a regular file", path);
		return -1;
	}
	if (st->st_uid != geteuid()) {
		kh_err_set(err, "%s is owned by uid %u, not by you (uid %u); refusing to use it",
			   path, (unsigned)st->st_uid, (unsigned)geteuid());
		return -1;
	}
	if ((mode & 077) != 0) {
		kh_err_set(err, "%s is %s by group/other (mode %04o); run: chmod 600 %s", path,
			   (mode & 044) != 0 ? "readable" : "accessible", (unsigned)mode, path);
		return -1;
	}
	return 0;
}

/* ca.key's descriptor. O_NONBLOCK keeps a planted FIFO from hanging us
 * before fstat sees it is not a regular file. */
static int open_key(const char *path, struct kh_err *err)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		if (errno == ELOOP)
			kh_err_set(err, "%s is a symlink; refusing to follow it", path);
		else
			kh_err_set(err, "cannot open %s: %s", path, kh_strerror(errno));
	}
	return fd;
}

/* Checked on its own descriptor before the key is read. */
static int check_key_fd(int fd, const char *path, struct kh_err *err)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		kh_err_set(err, "fstat %s: %s", path, kh_strerror(errno));
		return -1;
	}
	return check_key_stat(&st, path, err);
}

static X509 *cert_of(char *data, size_t len, const char *path, struct kh_err *err)
{
	BIO *bio = BIO_new_mem_buf(data, (int)len);
	X509 *cert = NULL;

	if (bio != NULL)
		cert = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
	if (cert == NULL)
		kh_sslerr_set(err, "%s: no PEM certificate could be read", path);
	BIO_free(bio);
	free(data);
	return cert;
}

static X509 *read_cert_fd(int fd, const char *path, struct kh_err *err)
{
	char *data = NULL;
	size_t len = 0;

	if (kh_fs_read_fd(fd, path, KH_MAX_PEM_BYTES, &data, &len, err) != 0)
		return NULL;
	return cert_of(data, len, path, err);
}

/* ca.crt's descriptor: followed if a symlink (ca.crt is public); O_NONBLOCK:
 * a planted FIFO is refused by the regular-file check, not waited on. */
static int open_cert(const char *path, struct kh_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		kh_err_set(err, "cannot read %s: %s", path, kh_strerror(errno));
	return fd;
}

static X509 *read_cert(const char *path, struct kh_err *err)
{
	int fd = open_cert(path, err);
	X509 *cert;

	if (fd < 0)
		return NULL;
	cert = read_cert_fd(fd, path, err);
	close(fd);
	return cert;
}

static EVP_PKEY *read_key_fd(int fd, const char *path, struct kh_err *err)
{
	char *data = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	EVP_PKEY *key = NULL;

	if (kh_fs_read_fd(fd, path, KH_MAX_PEM_BYTES, &data, &len, err) != 0)
		return NULL;
	bio = BIO_new_mem_buf(data, (int)len);
	if (bio != NULL)
		key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	if (key == NULL)
		kh_sslerr_set(err, "%s: no unencrypted PEM private key could be read", path);
	BIO_free(bio);
	kh_fs_free_secret(data, len);
	return key;
}

static bool is_ca_cert(X509 *cert)
{
	uint32_t flags = X509_get_extension_flags(cert);

	return (flags & EXFLAG_INVALID) == 0 && (flags & EXFLAG_CA) != 0 &&
	       (flags & EXFLAG_KUSAGE) != 0 && (X509_get_key_usage(cert) & KU_KEY_CERT_SIGN) != 0;
}

static int check_ca_cert(X509 *cert, const char *path, struct kh_err *err)
{
	time_t soon = time(NULL) + KH_CA_EXPIRY_WARN_SECS;

	if (!is_ca_cert(cert)) {
		kh_err_set(err,
			   "%s is not a CA certificate (it needs basicConstraints CA:TRUE and "
			   "keyUsage keyCertSign)",
			   path);
		return -1;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) != 1) {
		kh_err_set(err,
			   "%s has expired; remove it and its key to create a new CA, then "
			   "restart the sandboxes so they trust the new one",
			   path);
		return -1;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(cert)) != -1) {
		kh_err_set(err, "%s is not valid yet; check the system clock", path);
		return -1;
	}
	if (X509_cmp_time(X509_get0_notAfter(cert), &soon) == -1)
		kh_warn("%s expires within 30 days; plan to create a new CA", path);
	return 0;
}

static int load_into(struct kh_ca *ca, int crt_fd, int key_fd, const char *crt_path,
		     const char *key_path, struct kh_err *err)
{
	if (check_key_fd(key_fd, key_path, err) != 0)
		return -1;
	ca->cert = read_cert_fd(crt_fd, crt_path, err);
	if (ca->cert == NULL || check_ca_cert(ca->cert, crt_path, err) != 0)
		return -1;
	ca->key = read_key_fd(key_fd, key_path, err);
	if (ca->key == NULL)
		return -1;
	if (X509_check_private_key(ca->cert, ca->key) != 1) {
		kh_sslerr_set(err,
			      "%s does not match %s; restore the matching pair, or remove both to "
			      "create a new CA",
			      key_path, crt_path);
		return -1;
	}
	ca->leaf_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (ca->leaf_key == NULL) {
		kh_sslerr_set(err, "generating the leaf key");
		return -1;
	}
	return 0;
}

int kh_ca_load_fds(struct kh_ca *ca, int crt_fd, int key_fd, const char *crt_path,
		   const char *key_path, struct kh_err *err)
{
	struct kh_ca tmp = { 0 };

	*ca = (struct kh_ca){ 0 };
	if (load_into(&tmp, crt_fd, key_fd, crt_path, key_path, err) != 0) {
		kh_ca_free(&tmp);
		return -1;
	}
	*ca = tmp;
	return 0;
}

int kh_ca_open(const char *crt_path, const char *key_path, int *crt_fd, int *key_fd,
	       struct kh_err *err)
{
	*crt_fd = -1;
	*key_fd = open_key(key_path, err);
	if (*key_fd < 0)
		return -1;
	*crt_fd = open_cert(crt_path, err);
	if (*crt_fd >= 0)
		return 0;
	close(*key_fd);
	*key_fd = -1;
	return -1;
}

int kh_ca_load(struct kh_ca *ca, const char *crt_path, const char *key_path, struct kh_err *err)
{
	int crt_fd, key_fd, rc;

	*ca = (struct kh_ca){ 0 };
	if (kh_ca_open(crt_path, key_path, &crt_fd, &key_fd, err) != 0)
		return -1;
	rc = kh_ca_load_fds(ca, crt_fd, key_fd, crt_path, key_path, err);
	close(crt_fd);
	close(key_fd);
	return rc;
}

int kh_ca_load_cert(struct kh_ca *ca, const char *crt_path, struct kh_err *err)
{
	*ca = (struct kh_ca){ 0 };
	ca->cert = read_cert(crt_path, err);
	if (ca->cert != NULL && check_ca_cert(ca->cert, crt_path, err) == 0)
		return 0;
	kh_ca_free(ca);
	return -1;
}

void kh_ca_free(struct kh_ca *ca)
{
	if (ca == NULL)
		return;
	/* EVP_PKEY_free clears the key material before releasing it. */
	EVP_PKEY_free(ca->leaf_key);
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	ca->leaf_key = NULL;
	ca->key = NULL;
	ca->cert = NULL;
}

/* The leaf never outlives its issuer: clients would reject it anyway, and an
 * explicit bound makes the failure show up as the CA's expiry. */
static int leaf_validity(X509 *x, const struct kh_ca *ca)
{
	time_t now = time(NULL);
	const ASN1_TIME *ca_end = X509_get0_notAfter(ca->cert);

	if (X509_time_adj(X509_getm_notBefore(x), -KH_LEAF_BACKDATE_SECS, &now) == NULL ||
	    X509_time_adj(X509_getm_notAfter(x), KH_LEAF_VALIDITY_SECS, &now) == NULL)
		return -1;
	if (ASN1_TIME_compare(X509_get0_notAfter(x), ca_end) > 0 &&
	    X509_set1_notAfter(x, ca_end) != 1)
		return -1;
	return 0;
}

/* Reads from the shared CA are read-only (its name is not modified, so its
 * cached encoding is reused), which keeps minting safe across threads. */
static int leaf_fields(X509 *x, const struct kh_ca *ca, EVP_PKEY *leaf_pub)
{
	if (X509_set_version(x, X509_VERSION_3) != 1 || set_random_serial(x) != 0 ||
	    X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) != 1 ||
	    leaf_validity(x, ca) != 0 || X509_set_pubkey(x, leaf_pub) != 1)
		return -1;
	return 0;
}

static int leaf_subject(X509 *x, const char *host)
{
	if (strlen(host) > CN_MAX)
		return 0; /* too long for a CN; the SAN alone names the host */
	return X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName, MBSTRING_ASC,
					  (const unsigned char *)host, -1, -1, 0) == 1
		       ? 0
		       : -1;
}

static ASN1_STRING *ip_octets(const char *host, int kind)
{
	unsigned char addr[16];
	int af = kind == KH_HOST_IPV4 ? AF_INET : AF_INET6;
	ASN1_OCTET_STRING *s = NULL;

	if (inet_pton(af, host, addr) != 1)
		return NULL;
	s = ASN1_OCTET_STRING_new();
	if (s != NULL && ASN1_OCTET_STRING_set(s, addr, af == AF_INET ? 4 : 16) != 1) {
		ASN1_OCTET_STRING_free(s);
		s = NULL;
	}
	return s;
}

static ASN1_STRING *dns_ia5(const char *host)
{
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();

	if (s != NULL && ASN1_STRING_set(s, host, -1) != 1) {
		ASN1_IA5STRING_free(s);
		s = NULL;
	}
	return s;
}

/* An empty subject (no CN) requires a critical SAN (RFC 5280 4.2.1.6). */
static int add_san(X509 *x, const char *host, int kind)
{
	GENERAL_NAMES *names = GENERAL_NAMES_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_STRING *value = kind == KH_HOST_NAME ? dns_ia5(host) : ip_octets(host, kind);
	int critical = X509_NAME_entry_count(X509_get_subject_name(x)) == 0;
	int rc = -1;

	if (names == NULL || gn == NULL || value == NULL)
		goto fail;
	GENERAL_NAME_set0_value(gn, kind == KH_HOST_NAME ? GEN_DNS : GEN_IPADD, value);
	value = NULL;
	if (sk_GENERAL_NAME_push(names, gn) <= 0)
		goto fail;
	gn = NULL;
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, names, critical, X509V3_ADD_DEFAULT) != 1)
		goto fail;
	rc = 0;
fail:
	ASN1_STRING_free(value);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(names);
	return rc;
}

static int leaf_exts(X509 *x, const struct kh_ca *ca)
{
	X509V3_CTX ctx;

	X509V3_set_ctx(&ctx, ca->cert, x, NULL, NULL, 0);
	if (add_conf_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
	    add_conf_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") != 0 ||
	    add_conf_ext(x, &ctx, NID_ext_key_usage, "serverAuth") != 0 ||
	    add_conf_ext(x, &ctx, NID_subject_key_identifier, "hash") != 0 ||
	    add_conf_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") != 0)
		return -1;
	return 0;
}

X509 *kh_ca_sign_leaf(const struct kh_ca *ca, const char *host, EVP_PKEY *leaf_pub,
		      struct kh_err *err)
{
	char norm[KH_HOST_BUF];
	X509 *x = NULL;
	int kind;

	if (ca == NULL || ca->cert == NULL || ca->key == NULL) {
		kh_err_set(err, "cannot mint a certificate: the CA is not loaded");
		return NULL;
	}
	/* The profile (digitalSignature only, ECDSA) is made for P-256 keys. */
	if (!kh_leafkey_is_p256(leaf_pub)) {
		kh_err_set(err, "refusing to mint a certificate: the leaf key is not P-256");
		return NULL;
	}
	/* Callers pass normalized hosts; checking again keeps anything that is not a
	 * plain name or IP literal out of a certificate even if a caller slips. */
	kind = host == NULL ? -1 : kh_host_normalize(kh_slice_cstr(host), norm);
	if (kind < 0) {
		kh_err_set(err,
			   "refusing to mint a certificate: not a valid host name or IP literal");
		return NULL;
	}
	x = X509_new();
	if (x == NULL || leaf_fields(x, ca, leaf_pub) != 0 || leaf_subject(x, norm) != 0 ||
	    add_san(x, norm, kind) != 0 || leaf_exts(x, ca) != 0 ||
	    X509_sign(x, ca->key, EVP_sha256()) <= 0) {
		kh_sslerr_set(err, "minting a certificate for %s", norm);
		X509_free(x);
		return NULL;
	}
	return x;
}

X509 *kh_ca_mint_leaf(const struct kh_ca *ca, const char *host, struct kh_err *err)
{
	if (ca == NULL || ca->leaf_key == NULL) {
		kh_err_set(err, "cannot mint a certificate: the CA is not loaded");
		return NULL;
	}
	return kh_ca_sign_leaf(ca, host, ca->leaf_key, err);
}

void kh_ca_fingerprint(const struct kh_ca *ca, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	size_t o = 0;

	if (out == NULL || len == 0)
		return;
	out[0] = '\0';
	if (ca == NULL || ca->cert == NULL || X509_digest(ca->cert, EVP_sha256(), md, &n) != 1)
		return;
	/* Whole bytes only: a short buffer gets a shorter prefix, never half a byte. */
	for (unsigned int i = 0; i < n && o + (i > 0) + 2 < len; i++) {
		if (i > 0)
			out[o++] = ':';
		out[o++] = hex[md[i] >> 4];
		out[o++] = hex[md[i] & 0x0f];
	}
	out[o] = '\0';
}
