#include "tls/tlsctx.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static int sni_index = -1;

static const unsigned char alpn_http11[] = { 8, 'h', 't', 't', 'p', '/', '1', '.', '1' };

static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned char *sel = NULL;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, alpn_http11, sizeof alpn_http11, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK; /* e.g. h2 only: answer without ALPN, speak 1.1 */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* The SNI must name the CONNECT host: a client that tunnels to one host and
 * then asks for another's certificate is trying to get around the policy. */
static int check_sni(SSL *ssl, int *alert, void *arg)
{
	struct kh_sni_check *c = SSL_get_ex_data(ssl, sni_index);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	(void)arg;
	if (c == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	if (name == NULL) {
		/* Clients send no SNI for IP literals; for a name, none is a refusal. */
		c->got[0] = '\0';
		if (c->is_ip)
			return SSL_TLSEXT_ERR_NOACK;
		c->mismatch = true;
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	if (kh_host_normalize(kh_slice_cstr(name), c->got) < 0)
		snprintf(c->got, sizeof c->got, "(invalid)");
	if (strcmp(c->got, c->expected) != 0) {
		c->mismatch = true;
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

static void common_options(SSL_CTX *ctx)
{
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Peers that close without close_notify are common; message framing, not
	 * TLS EOF, decides whether a body was complete. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_NO_COMPRESSION);
	/* Read whole socket buffers, not a record header then its body: two
	 * fewer read() calls per request. Readiness stays correct because an
	 * endpoint is only marked not-ready when SSL_read itself would block. */
	SSL_CTX_set_read_ahead(ctx, 1);
}

SSL_CTX *kh_tls_server_ctx_new(struct kh_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (sni_index < 0)
		sni_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (ctx == NULL || sni_index < 0) {
		kh_err_set(err, "cannot create the TLS server context");
		SSL_CTX_free(ctx);
		return NULL;
	}
	common_options(ctx);
	SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
	SSL_CTX_set_tlsext_servername_callback(ctx, check_sni);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"keyhole", 7);
	return ctx;
}

/* The system trust store and the rest of the client's settings. */
static SSL_CTX *client_ctx(struct kh_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		kh_err_set(err, "cannot create the TLS client context");
		return NULL;
	}
	common_options(ctx);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		kh_err_set(err, "cannot load the system trust store");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_alpn_protos(ctx, alpn_http11, sizeof alpn_http11);
	return ctx;
}

SSL_CTX *kh_tls_client_ctx_new(const char *ca_file, struct kh_err *err)
{
	SSL_CTX *ctx = client_ctx(err);

	if (ctx != NULL && ca_file != NULL && ca_file[0] != '\0' &&
	    SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		kh_err_set(err, "upstream_ca_file %s: no usable PEM certificates in it", ca_file);
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
	ERR_clear_error();
	return ctx;
}

/* Every certificate and CRL of pem into store, as SSL_CTX_load_verify_locations
 * takes a file's; how many went in. */
static int add_pem(X509_STORE *store, const char *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	STACK_OF(X509_INFO) *infos = bio != NULL ? PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL)
						 : NULL;
	int added = 0;

	for (int i = 0; infos != NULL && i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *in = sk_X509_INFO_value(infos, i);

		if (in->x509 != NULL && X509_STORE_add_cert(store, in->x509) == 1)
			added++;
		if (in->crl != NULL && X509_STORE_add_crl(store, in->crl) == 1)
			added++;
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	return added;
}

SSL_CTX *kh_tls_client_ctx_new_pem(const char *ca_name, const char *pem, size_t len,
				   struct kh_err *err)
{
	SSL_CTX *ctx = client_ctx(err);

	if (ctx != NULL && pem != NULL && len > INT_MAX) {
		kh_err_set(err, "upstream_ca_file %s is too large", ca_name);
		SSL_CTX_free(ctx);
		ctx = NULL;
	} else if (ctx != NULL && pem != NULL &&
		   add_pem(SSL_CTX_get_cert_store(ctx), pem, len) == 0) {
		kh_err_set(err, "upstream_ca_file %s: no usable PEM certificates in it", ca_name);
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
	ERR_clear_error();
	return ctx;
}

SSL *kh_tls_server_ssl(SSL_CTX *ctx, int fd, X509 *leaf, EVP_PKEY *key, struct kh_sni_check *check)
{
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1 || SSL_use_certificate(ssl, leaf) != 1 ||
	    SSL_use_PrivateKey(ssl, key) != 1 || SSL_set_ex_data(ssl, sni_index, check) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

SSL *kh_tls_client_ssl(SSL_CTX *ctx, int fd, const char *host, bool is_ip)
{
	SSL *ssl = SSL_new(ctx);
	X509_VERIFY_PARAM *vp;

	if (ssl == NULL)
		return NULL;
	vp = SSL_get0_param(ssl);
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_set_fd(ssl, fd) != 1 ||
	    (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) : SSL_set1_host(ssl, host)) != 1 ||
	    (!is_ip && SSL_set_tlsext_host_name(ssl, host) != 1)) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_connect_state(ssl);
	return ssl;
}

void kh_tls_describe_failure(SSL *ssl, char *out, size_t len)
{
	long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	unsigned long e = ERR_peek_last_error();
	char detail[200];

	if (v != X509_V_OK) {
		snprintf(out, len, "certificate verification failed: %s",
			 X509_verify_cert_error_string(v));
	} else if (e != 0) {
		ERR_error_string_n(e, detail, sizeof detail);
		snprintf(out, len, "TLS handshake failed: %s", detail);
	} else {
		snprintf(out, len, "TLS handshake failed (connection closed)");
	}
	ERR_clear_error();
}

/* Adds v (and, for a list, each of its ':'-separated parts) to the table. */
static void add_paths(char (*out)[KH_TRUST_PATH_MAX], size_t *n, const char *v, bool list)
{
	for (const char *p = v; p != NULL && *p != '\0' && *n < KH_TRUST_PATHS_MAX;) {
		size_t k = list ? strcspn(p, ":") : strlen(p);

		if (k > 0 && k < KH_TRUST_PATH_MAX) {
			memcpy(out[*n], p, k);
			out[(*n)++][k] = '\0';
		}
		p += k + (p[k] == ':');
	}
}

const char *const *kh_tls_trust_paths(void)
{
	static char paths[KH_TRUST_PATHS_MAX][KH_TRUST_PATH_MAX];
	static const char *v[KH_TRUST_PATHS_MAX + 1];
	char *conf = CONF_get1_default_config_file();
	size_t n = 0;

	add_paths(paths, &n, X509_get_default_cert_file(), false);
	add_paths(paths, &n, X509_get_default_cert_dir(), true);
	add_paths(paths, &n, getenv(X509_get_default_cert_file_env()), false);
	add_paths(paths, &n, getenv(X509_get_default_cert_dir_env()), true);
	add_paths(paths, &n, conf, false);
	add_paths(paths, &n, getenv("OPENSSL_MODULES"), false);
	OPENSSL_free(conf);
	for (size_t i = 0; i < n; i++)
		v[i] = paths[i];
	v[n] = NULL;
	return v;
}
