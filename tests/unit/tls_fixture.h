/* A throwaway keyhole CA in a scratch directory (tmpdir.h), the server
 * context keyhole shows sandboxes and a client context that trusts that CA,
 * as the daemon builds them. Include after tap.h and tmpdir.h, once. */
#ifndef KH_TLS_FIXTURE_H
#define KH_TLS_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/fsutil.h"

#include "tls/ca.h"
#include "tls/tlsctx.h"

struct tls_fixture {
	struct kh_ca ca;
	SSL_CTX *server, *client;
	char crt[512], key[512];
};

/* A client context trusting the CA in crt, from its bytes, as the daemon
 * builds it (policy/policyfiles.h): every handshake test then checks the
 * bytes' path too. */
static inline SSL_CTX *client_ctx_from_bytes(const char *crt, struct kh_err *err)
{
	char *pem = NULL;
	size_t len = 0;
	SSL_CTX *ctx = NULL;

	if (kh_fs_read_file(crt, 1u << 20, false, &pem, &len, err) == 0)
		ctx = kh_tls_client_ctx_new_pem(crt, pem, len, err);
	free(pem);
	return ctx;
}

/* Creates <root>/<name>.crt/.key, loads it, builds both contexts. 0 / -1. */
static inline int tls_fixture_init(struct tls_fixture *f, const char *name)
{
	struct kh_err err = { "" };
	bool created = false;
	char file[64];

	memset(f, 0, sizeof *f);
	snprintf(file, sizeof file, "%s.crt", name);
	snprintf(f->crt, sizeof f->crt, "%s", path(file));
	snprintf(file, sizeof file, "%s.key", name);
	snprintf(f->key, sizeof f->key, "%s", path(file));
	if (kh_ca_ensure(f->crt, f->key, &created, &err) != 0 ||
	    kh_ca_load(&f->ca, f->crt, f->key, &err) != 0 ||
	    (f->server = kh_tls_server_ctx_new(&err)) == NULL ||
	    (f->client = client_ctx_from_bytes(f->crt, &err)) == NULL) {
		printf("# tls fixture: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static inline void tls_fixture_free(struct tls_fixture *f)
{
	SSL_CTX_free(f->server);
	SSL_CTX_free(f->client);
	kh_ca_free(&f->ca);
}

#endif
