/* The two TLS roles keyhole plays.
 *
 * Toward the sandbox it is a server: one shared SSL_CTX, and per connection
 * the leaf certificate minted for the CONNECT host plus the shared leaf key.
 * A servername callback refuses a ClientHello whose SNI is not that host.
 * ALPN offers only http/1.1.
 *
 * Toward the upstream it is a client that verifies: the system trust store
 * plus upstream_ca_file, the peer name checked with SSL_set1_host (or the IP
 * for literal hosts), SNI sent for names. Both contexts release idle buffers
 * (SSL_MODE_RELEASE_BUFFERS) to keep idle connections small. */
#ifndef KH_TLSCTX_H
#define KH_TLSCTX_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "base/err.h"
#include "base/hostname.h"

/* What a connection expects to see in the client's SNI, and what it got. */
struct kh_sni_check {
	const char *expected; /* normalized host */
	bool is_ip; /* IP literal: clients send no SNI */
	bool mismatch; /* set by the callback */
	char got[KH_HOST_BUF]; /* normalized SNI the client sent ("" if none) */
};

SSL_CTX *kh_tls_server_ctx_new(struct kh_err *err);

/* ca_file may be NULL or "" (system store only). */
SSL_CTX *kh_tls_client_ctx_new(const char *ca_file, struct kh_err *err);

/* The same with upstream_ca_file's bytes (pem, len) instead of its path,
 * read where the caller could (policy/policyfiles.h); pem NULL: the system
 * store only. ca_name names the file in messages. */
SSL_CTX *kh_tls_client_ctx_new_pem(const char *ca_name, const char *pem, size_t len,
				   struct kh_err *err);

/* Where OpenSSL reads after start (a hashed trust directory opens one
 * file per handshake; a reload builds a new context): its default CA file
 * and directory, those the environment names instead (SSL_CERT_FILE,
 * SSL_CERT_DIR), its configuration file (OPENSSL_CONF) and OPENSSL_MODULES.
 * NULL-terminated; static storage, filled at each call: call before
 * threads start (the daemon does, to confine itself). */
#define KH_TRUST_PATHS_MAX 12
#define KH_TRUST_PATH_MAX  4096
const char *const *kh_tls_trust_paths(void);

/* Server-side SSL on fd with the given leaf and key; check must outlive it. */
SSL *kh_tls_server_ssl(SSL_CTX *ctx, int fd, X509 *leaf, EVP_PKEY *key, struct kh_sni_check *check);

/* Client-side SSL on fd verifying host (a normalized name or IP literal). */
SSL *kh_tls_client_ssl(SSL_CTX *ctx, int fd, const char *host, bool is_ip);

/* Describes why an upstream handshake failed (verify result or the OpenSSL
 * error queue, which it clears) into out. */
void kh_tls_describe_failure(SSL *ssl, char *out, size_t len);

#endif
