#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tls/ca.h"
#include "base/fsutil.h"
#include "base/hostname.h"
#include "base/kh_limits.h"
#include "tap.h"
#include "tmpdir.h"

static struct kh_ca g_ca; /* loaded by load_ok, used by the leaf tests */

static int run_quiet(const char *cmd)
{
	char full[2048];
	int st;

	snprintf(full, sizeof full, "%s >/dev/null 2>&1", cmd);
	st = system(full);
	return (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
}

static int files_equal(const char *a, const char *b)
{
	struct kh_err err;
	char *da = NULL, *db = NULL;
	size_t la = 0, lb = 0;
	int eq = 0;

	if (kh_fs_read_file(a, KH_MAX_PEM_BYTES, false, &da, &la, &err) == 0 &&
	    kh_fs_read_file(b, KH_MAX_PEM_BYTES, false, &db, &lb, &err) == 0)
		eq = la == lb && memcmp(da, db, la) == 0;
	kh_fs_free_secret(da, la);
	kh_fs_free_secret(db, lb);
	return eq;
}

static int copy_file(const char *src, const char *dst)
{
	struct kh_err err;

	return kh_fs_copy_private(src, dst, KH_MAX_PEM_BYTES, &err);
}

static void ensure_creates_pair(void)
{
	struct kh_err err;
	bool created = false;
	mode_t old = umask(077); /* a strict umask must not hide ca.crt from sandboxes */

	CHECK_INT(kh_ca_ensure(path("ca.crt"), path("ca.key"), &created, &err), 0);
	umask(old);
	CHECK(created);
	CHECK_INT(mode_of(path("ca.key")), 0600);
	CHECK_INT(mode_of(path("ca.crt")), 0644);
}

static void ensure_keeps_existing_pair(void)
{
	struct kh_err err;
	bool created = true;

	CHECK_INT(copy_file(path("ca.crt"), path("crt.before")), 0);
	CHECK_INT(copy_file(path("ca.key"), path("key.before")), 0);
	CHECK_INT(kh_ca_ensure(path("ca.crt"), path("ca.key"), &created, &err), 0);
	CHECK(!created);
	CHECK(files_equal(path("ca.crt"), path("crt.before")));
	CHECK(files_equal(path("ca.key"), path("key.before")));
	CHECK_INT(mode_of(path("ca.key")), 0600);
	CHECK_INT(mode_of(path("ca.crt")), 0644);
}

static void ensure_one_missing_is_an_error(void)
{
	struct kh_err err;
	bool created = true;

	CHECK_INT(copy_file(path("ca.crt"), path("half.crt")), 0);
	CHECK_INT(kh_ca_ensure(path("half.crt"), path("half.key"), &created, &err), -1);
	CHECK(!created);
	CHECK(strstr(err.msg, "half.key is missing") != NULL);
	CHECK(strstr(err.msg, "remove") != NULL && strstr(err.msg, "restore") != NULL);
	CHECK(!kh_fs_exists(path("half.key")));

	CHECK_INT(copy_file(path("ca.key"), path("lone.key")), 0);
	CHECK_INT(kh_ca_ensure(path("lone.crt"), path("lone.key"), &created, &err), -1);
	CHECK(strstr(err.msg, "lone.crt is missing") != NULL);
	CHECK(!kh_fs_exists(path("lone.crt")));
}

static void load_ok(void)
{
	struct kh_err err;
	char fp[128];
	char cn[128];
	X509_NAME *subj;

	CHECK_INT(kh_ca_load(&g_ca, path("ca.crt"), path("ca.key"), &err), 0);
	if (g_ca.cert == NULL) {
		printf("#   %s\n", err.msg);
		return;
	}
	CHECK(g_ca.key != NULL && g_ca.leaf_key != NULL);
	CHECK_INT(X509_check_ca(g_ca.cert), 1);
	CHECK_INT(X509_get_pathlen(g_ca.cert), 0);
	CHECK_INT(X509_get_version(g_ca.cert), X509_VERSION_3);
	CHECK(X509_get0_subject_key_id(g_ca.cert) != NULL);
	CHECK(X509_get0_authority_key_id(g_ca.cert) != NULL);
	CHECK_INT(X509_verify(g_ca.cert, g_ca.key), 1);
	subj = X509_get_subject_name(g_ca.cert);
	CHECK_INT(X509_NAME_cmp(subj, X509_get_issuer_name(g_ca.cert)), 0);
	CHECK(X509_NAME_get_text_by_NID(subj, NID_commonName, cn, sizeof cn) > 0);
	CHECK(strncmp(cn, "keyhole local CA (", 18) == 0 && cn[strlen(cn) - 1] == ')');
	CHECK(X509_NAME_get_text_by_NID(subj, NID_organizationName, cn, sizeof cn) > 0);
	CHECK_STR(cn, "keyhole");

	kh_ca_fingerprint(&g_ca, fp, sizeof fp);
	CHECK_INT(strlen(fp), 95);
	CHECK(fp[2] == ':' && fp[94] != ':');
	CHECK(strspn(fp, "0123456789ABCDEF:") == 95);
	kh_ca_fingerprint(&g_ca, fp, 8); /* short buffer: whole bytes only */
	CHECK_INT(strlen(fp), 5);
}

static void load_refuses_loose_key(void)
{
	struct kh_err err;
	struct kh_ca ca;

	CHECK_INT(chmod(path("ca.key"), 0644), 0);
	CHECK_INT(kh_ca_load(&ca, path("ca.crt"), path("ca.key"), &err), -1);
	CHECK(ca.cert == NULL && ca.key == NULL && ca.leaf_key == NULL);
	CHECK(strstr(err.msg, "readable by group/other (mode 0644)") != NULL);
	CHECK(strstr(err.msg, "chmod 600") != NULL);
	CHECK_INT(chmod(path("ca.key"), 0600), 0);
}

/* From descriptors a daemon opened long before (a signer started again):
 * read from their start whatever their offset, checked as by path. */
static void load_from_descriptors(void)
{
	struct kh_err err = { "" };
	struct kh_ca ca;
	int crt = open(path("ca.crt"), O_RDONLY | O_CLOEXEC);
	int key = open(path("ca.key"), O_RDONLY | O_CLOEXEC);

	CHECK(crt >= 0 && key >= 0);
	CHECK(lseek(crt, 17, SEEK_SET) == 17 && lseek(key, 0, SEEK_END) > 0);
	CHECK_INT(kh_ca_load_fds(&ca, crt, key, "ca.crt", "ca.key", &err), 0);
	CHECK(ca.cert != NULL && ca.key != NULL && X509_check_private_key(ca.cert, ca.key) == 1);
	kh_ca_free(&ca);
	CHECK_INT(kh_ca_load_fds(&ca, crt, key, "ca.crt", "ca.key", &err), 0); /* again */
	kh_ca_free(&ca);
	CHECK_INT(chmod(path("ca.key"), 0640), 0);
	CHECK_INT(kh_ca_load_fds(&ca, crt, key, "ca.crt", "ca.key", &err), -1);
	CHECK(strstr(err.msg, "ca.key is readable by group/other") != NULL);
	CHECK(ca.cert == NULL && ca.key == NULL);
	CHECK_INT(chmod(path("ca.key"), 0600), 0);
	close(crt);
	close(key);
}

static void load_refuses_symlinked_key(void)
{
	struct kh_err err;
	struct kh_ca ca;

	CHECK_INT(copy_file(path("ca.crt"), path("sym.crt")), 0);
	CHECK_INT(symlink(path("ca.key"), path("sym.key")), 0);
	CHECK_INT(kh_ca_load(&ca, path("sym.crt"), path("sym.key"), &err), -1);
	CHECK(strstr(err.msg, "symlink") != NULL);
	kh_ca_free(&ca);
}

static void load_refuses_mismatched_key(void)
{
	struct kh_err err;
	struct kh_ca ca;
	bool created;

	CHECK_INT(kh_ca_ensure(path("other.crt"), path("other.key"), &created, &err), 0);
	CHECK_INT(kh_ca_load(&ca, path("ca.crt"), path("other.key"), &err), -1);
	CHECK(strstr(err.msg, "does not match") != NULL);
	CHECK_INT(kh_ca_load(&ca, path("missing.crt"), path("other.key"), &err), -1);
	CHECK(strstr(err.msg, "missing.crt") != NULL);
	CHECK_INT(kh_ca_load(&ca, path("other.crt"), path("other.key"), &err), 0);
	kh_ca_free(&ca);
}

/* Writes name.crt/name.key: a self-signed cert with the given basicConstraints
 * and keyUsage, valid until now + end_secs. */
static int write_custom(const char *name, const char *bc, const char *ku, long end_secs)
{
	char file[64];
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509V3_CTX ctx;
	X509_EXTENSION *e1 = NULL, *e2 = NULL;
	FILE *f;
	int rc = -1;

	if (key == NULL || x == NULL)
		goto out;
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName, MBSTRING_ASC,
				   (const unsigned char *)"custom", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), -86400);
	X509_gmtime_adj(X509_getm_notAfter(x), end_secs);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	e1 = X509V3_EXT_nconf_nid(NULL, &ctx, NID_basic_constraints, bc);
	e2 = X509V3_EXT_nconf_nid(NULL, &ctx, NID_key_usage, ku);
	if (e1 == NULL || e2 == NULL || !X509_add_ext(x, e1, -1) || !X509_add_ext(x, e2, -1) ||
	    X509_sign(x, key, EVP_sha256()) <= 0)
		goto out;
	snprintf(file, sizeof file, "%s.crt", name);
	f = fopen(path(file), "w");
	if (f == NULL)
		goto out;
	PEM_write_X509(f, x);
	fclose(f);
	snprintf(file, sizeof file, "%s.key", name);
	f = fopen(path(file), "w");
	if (f == NULL)
		goto out;
	fchmod(fileno(f), 0600);
	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	rc = 0;
out:
	X509_EXTENSION_free(e2);
	X509_EXTENSION_free(e1);
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

static void load_refuses_non_ca_and_expired(void)
{
	struct kh_err err;
	struct kh_ca ca;

	CHECK_INT(write_custom("leafish", "critical,CA:FALSE", "critical,keyCertSign", 86400), 0);
	CHECK_INT(kh_ca_load(&ca, path("leafish.crt"), path("leafish.key"), &err), -1);
	CHECK(strstr(err.msg, "not a CA") != NULL);

	CHECK_INT(write_custom("nosign", "critical,CA:TRUE", "critical,digitalSignature", 86400),
		  0);
	CHECK_INT(kh_ca_load(&ca, path("nosign.crt"), path("nosign.key"), &err), -1);
	CHECK(strstr(err.msg, "not a CA") != NULL);

	CHECK_INT(write_custom("old", "critical,CA:TRUE", "critical,keyCertSign", -3600), 0);
	CHECK_INT(kh_ca_load(&ca, path("old.crt"), path("old.key"), &err), -1);
	CHECK(strstr(err.msg, "expired") != NULL);

	/* A well-formed external CA is accepted. */
	CHECK_INT(write_custom("ext", "critical,CA:TRUE", "critical,keyCertSign", 86400 * 90), 0);
	CHECK_INT(kh_ca_load(&ca, path("ext.crt"), path("ext.key"), &err), 0);
	kh_ca_free(&ca);
}

/* The daemon under privilege separation: the certificate alone, checked
 * the same way, no key read or made. */
static void load_cert_only(void)
{
	struct kh_err err;
	struct kh_ca ca;

	CHECK_INT(kh_ca_load_cert(&ca, path("ext.crt"), &err), 0);
	CHECK(ca.cert != NULL && ca.key == NULL && ca.leaf_key == NULL);
	kh_ca_free(&ca);
	CHECK_INT(kh_ca_load_cert(&ca, path("leafish.crt"), &err), -1);
	CHECK(strstr(err.msg, "not a CA") != NULL && ca.cert == NULL);
	CHECK_INT(kh_ca_load_cert(&ca, path("old.crt"), &err), -1);
	CHECK(strstr(err.msg, "expired") != NULL);
	CHECK_INT(kh_ca_load_cert(&ca, path("missing.crt"), &err), -1);
}

/* Verifies leaf against g_ca as a TLS client would, strict mode on. */
static int verify_leaf(X509 *leaf, const char *host, const char *ip)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *param;
	int rc = -1;

	if (store == NULL || ctx == NULL || X509_STORE_add_cert(store, g_ca.cert) != 1 ||
	    X509_STORE_CTX_init(ctx, store, leaf, NULL) != 1)
		goto out;
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
	X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
	if (host != NULL)
		X509_VERIFY_PARAM_set1_host(param, host, 0);
	if (ip != NULL)
		X509_VERIFY_PARAM_set1_ip_asc(param, ip);
	rc = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

static GENERAL_NAME *only_san(X509 *leaf, GENERAL_NAMES **names)
{
	*names = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	if (*names == NULL || sk_GENERAL_NAME_num(*names) != 1)
		return NULL;
	return sk_GENERAL_NAME_value(*names, 0);
}

static int ext_critical(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	return i < 0 ? -1 : X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static void check_serial_and_window(X509 *leaf)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
	int days = 0, secs = 0;

	CHECK(bn != NULL && !BN_is_negative(bn) && !BN_is_zero(bn));
	CHECK(bn != NULL && BN_num_bits(bn) > 64 && BN_num_bits(bn) <= 128);
	BN_free(bn);
	CHECK_INT(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(leaf), X509_get0_notAfter(leaf)),
		  1);
	CHECK((long)days * 86400 + secs <= KH_LEAF_VALIDITY_SECS + KH_LEAF_BACKDATE_SECS);
	CHECK((long)days * 86400 + secs > KH_LEAF_VALIDITY_SECS);
	CHECK_INT(X509_cmp_current_time(X509_get0_notBefore(leaf)), -1);
	CHECK_INT(X509_cmp_current_time(X509_get0_notAfter(leaf)), 1);
}

static void leaf_for_name(void)
{
	struct kh_err err;
	X509 *leaf = kh_ca_mint_leaf(&g_ca, "api.openai.com", &err);
	X509 *again = kh_ca_mint_leaf(&g_ca, "api.openai.com", &err);
	GENERAL_NAMES *names = NULL;
	GENERAL_NAME *gn;
	char cn[128];

	CHECK(leaf != NULL && again != NULL);
	if (leaf == NULL || again == NULL)
		goto out;
	gn = only_san(leaf, &names);
	CHECK(gn != NULL && gn->type == GEN_DNS);
	if (gn != NULL && gn->type == GEN_DNS)
		CHECK_STR((const char *)ASN1_STRING_get0_data(gn->d.dNSName), "api.openai.com");
	CHECK_INT(X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn,
					    sizeof cn),
		  14);
	CHECK_STR(cn, "api.openai.com");
	CHECK_INT(X509_check_ca(leaf), 0);
	CHECK((X509_get_extension_flags(leaf) & EXFLAG_BCONS) != 0);
	CHECK_INT(ext_critical(leaf, NID_basic_constraints), 1);
	CHECK_INT(ext_critical(leaf, NID_key_usage), 1);
	CHECK_INT(ext_critical(leaf, NID_subject_alt_name), 0);
	CHECK_INT(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE);
	CHECK_INT(X509_get_extended_key_usage(leaf), XKU_SSL_SERVER);
	CHECK(X509_get0_subject_key_id(leaf) != NULL);
	CHECK_INT(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf),
					X509_get0_subject_key_id(g_ca.cert)),
		  0);
	CHECK_INT(X509_check_private_key(leaf, g_ca.leaf_key), 1);
	CHECK_INT(verify_leaf(leaf, "api.openai.com", NULL), X509_V_OK);
	CHECK_INT(verify_leaf(leaf, "api.anthropic.com", NULL), X509_V_ERR_HOSTNAME_MISMATCH);
	check_serial_and_window(leaf);
	CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(leaf), X509_get0_serialNumber(again)) != 0);
out:
	GENERAL_NAMES_free(names);
	X509_free(again);
	X509_free(leaf);
}

static void check_ip_leaf(const char *ip, int raw_len)
{
	struct kh_err err;
	X509 *leaf = kh_ca_mint_leaf(&g_ca, ip, &err);
	GENERAL_NAMES *names = NULL;
	GENERAL_NAME *gn;

	CHECK(leaf != NULL);
	if (leaf == NULL)
		return;
	gn = only_san(leaf, &names);
	CHECK(gn != NULL && gn->type == GEN_IPADD);
	if (gn != NULL && gn->type == GEN_IPADD)
		CHECK_INT(ASN1_STRING_length(gn->d.iPAddress), raw_len);
	CHECK_INT(verify_leaf(leaf, NULL, ip), X509_V_OK);
	CHECK_INT(verify_leaf(leaf, NULL, raw_len == 4 ? "127.0.0.2" : "::2"),
		  X509_V_ERR_IP_ADDRESS_MISMATCH);
	check_serial_and_window(leaf);
	GENERAL_NAMES_free(names);
	X509_free(leaf);
}

static void leaf_for_ip_literals(void)
{
	check_ip_leaf("127.0.0.1", 4);
	check_ip_leaf("::1", 16);
	check_ip_leaf("2001:db8::42", 16);
}

/* A name longer than a CN may be gets an empty subject and a critical SAN,
 * which strict verification demands. */
static void leaf_for_long_name(void)
{
	struct kh_err err;
	char host[KH_HOST_BUF];
	X509 *leaf;

	memset(host, 'a', 63);
	snprintf(host + 63, sizeof host - 63, ".example.com");
	leaf = kh_ca_mint_leaf(&g_ca, host, &err);
	CHECK(leaf != NULL);
	if (leaf == NULL)
		return;
	CHECK_INT(X509_NAME_entry_count(X509_get_subject_name(leaf)), 0);
	CHECK_INT(ext_critical(leaf, NID_subject_alt_name), 1);
	CHECK_INT(verify_leaf(leaf, host, NULL), X509_V_OK);
	X509_free(leaf);
}

static void invalid_hosts_refused(void)
{
	static const char *const bad[] = { "",          "a b",       "*.x.com",
					   "bad..name", "x.com:443", "a\nb.com",
					   "1.2.3",     "[::1]",     "evil.com,DNS:x" };
	struct kh_err err;
	struct kh_ca empty = { .cert = NULL };

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		X509 *leaf = kh_ca_mint_leaf(&g_ca, bad[i], &err);

		if (leaf != NULL)
			printf("#   minted for \"%s\"\n", bad[i]);
		CHECK(leaf == NULL);
		X509_free(leaf);
	}
	CHECK(strstr(err.msg, "not a valid host") != NULL);
	CHECK(kh_ca_mint_leaf(&g_ca, NULL, &err) == NULL);
	CHECK(kh_ca_mint_leaf(&empty, "api.openai.com", &err) == NULL);
	CHECK(strstr(err.msg, "not loaded") != NULL);
}

/* kh_ca_sign_leaf puts the key it is given into the same profile, and needs
 * no leaf_key of its own (the signer process has none to use). */
static void sign_leaf_for_another_key(void)
{
	struct kh_err err;
	struct kh_ca signer = { .cert = g_ca.cert, .key = g_ca.key };
	EVP_PKEY *front = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	X509 *leaf = kh_ca_sign_leaf(&signer, "api.openai.com", front, &err);

	CHECK(front != NULL && p384 != NULL && rsa != NULL && leaf != NULL);
	if (leaf == NULL)
		goto out;
	CHECK_INT(X509_check_private_key(leaf, front), 1);
	CHECK(X509_check_private_key(leaf, g_ca.leaf_key) != 1);
	CHECK_INT(verify_leaf(leaf, "api.openai.com", NULL), X509_V_OK);
	CHECK_INT(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE);
	CHECK_INT(ext_critical(leaf, NID_basic_constraints), 1);
	check_serial_and_window(leaf);
	CHECK(kh_ca_sign_leaf(&signer, "api.openai.com", p384, &err) == NULL);
	CHECK(strstr(err.msg, "not P-256") != NULL);
	CHECK(kh_ca_sign_leaf(&signer, "api.openai.com", rsa, &err) == NULL);
	CHECK(strstr(err.msg, "not P-256") != NULL);
	CHECK(kh_ca_sign_leaf(&signer, "api.openai.com", NULL, &err) == NULL);
	CHECK(kh_ca_sign_leaf(&signer, "a b", front, &err) == NULL);
	CHECK(strstr(err.msg, "not a valid host") != NULL);
	/* mint_leaf needs leaf_key; sign_leaf does not */
	CHECK(kh_ca_mint_leaf(&signer, "api.openai.com", &err) == NULL);
	CHECK(strstr(err.msg, "not loaded") != NULL);
out:
	ERR_clear_error();
	X509_free(leaf);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(front);
}

static int write_leaf(const char *host, const char *file)
{
	struct kh_err err;
	X509 *leaf = kh_ca_mint_leaf(&g_ca, host, &err);
	FILE *f = fopen(path(file), "w");
	int rc = -1;

	if (leaf != NULL && f != NULL && PEM_write_X509(f, leaf) == 1)
		rc = 0;
	if (f != NULL)
		fclose(f);
	X509_free(leaf);
	return rc;
}

/* The real openssl tool accepts our CA and leaves (strict, TLS server purpose). */
static void openssl_cli_verifies_leaves(void)
{
	char cmd[1024];
	const char *base = "openssl verify -x509_strict -purpose sslserver -CAfile";

	if (run_quiet("openssl version") != 0) {
		printf("#   skipped: no openssl command\n");
		return;
	}
	CHECK_INT(write_leaf("api.openai.com", "name.pem"), 0);
	CHECK_INT(write_leaf("127.0.0.1", "ip.pem"), 0);
	snprintf(cmd, sizeof cmd, "%s %s -verify_hostname api.openai.com %s", base, path("ca.crt"),
		 path("name.pem"));
	CHECK_INT(run_quiet(cmd), 0);
	snprintf(cmd, sizeof cmd, "%s %s -verify_ip 127.0.0.1 %s", base, path("ca.crt"),
		 path("ip.pem"));
	CHECK_INT(run_quiet(cmd), 0);
	/* The same check must fail for the wrong host and the wrong CA. */
	snprintf(cmd, sizeof cmd, "%s %s -verify_hostname example.com %s", base, path("ca.crt"),
		 path("name.pem"));
	CHECK(run_quiet(cmd) != 0);
	snprintf(cmd, sizeof cmd, "%s %s %s", base, path("other.crt"), path("name.pem"));
	CHECK(run_quiet(cmd) != 0);
	snprintf(cmd, sizeof cmd, "openssl pkey -in %s -noout", path("ca.key"));
	CHECK_INT(run_quiet(cmd), 0);
}

static void free_is_null_safe(void)
{
	struct kh_ca ca = { .cert = NULL };
	char fp[8] = "x";

	kh_ca_free(NULL);
	kh_ca_free(&ca);
	kh_ca_fingerprint(&ca, fp, sizeof fp);
	CHECK_STR(fp, "");
	kh_ca_free(&g_ca);
	CHECK(g_ca.cert == NULL && g_ca.key == NULL && g_ca.leaf_key == NULL);
	kh_ca_free(&g_ca);
}

int main(void)
{
	if (tmpdir_make("kh-ca") != 0)
		return 1;
	RUN(ensure_creates_pair);
	RUN(ensure_keeps_existing_pair);
	RUN(ensure_one_missing_is_an_error);
	RUN(load_ok);
	RUN(load_refuses_loose_key);
	RUN(load_from_descriptors);
	RUN(load_refuses_symlinked_key);
	RUN(load_refuses_mismatched_key);
	RUN(load_refuses_non_ca_and_expired);
	RUN(load_cert_only);
	RUN(leaf_for_name);
	RUN(leaf_for_ip_literals);
	RUN(leaf_for_long_name);
	RUN(invalid_hosts_refused);
	RUN(sign_leaf_for_another_key);
	RUN(openssl_cli_verifies_leaves);
	RUN(free_is_null_safe);
	if (tmpdir_remove() != 0)
		return 1;
	TAP_DONE();
}
