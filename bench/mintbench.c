/* Leaf-certificate microbenchmark: what keyhole's CA code costs with no
 * network in the way. Links against build/libkeyhole.a and uses only the
 * public ca.h / certcache.h interfaces.
 *
 *   mintbench DIR [N [UPSTREAM_CRT UPSTREAM_KEY UPSTREAM_CA]]
 *     (DIR gets a fresh CA; N names, default 1000)
 *
 * Prints one JSON line with medians and p99 in microseconds for:
 *   mint        kh_ca_mint_leaf() for a new name (sign + build)
 *   cache_miss  kh_certcache_get() for a name not in the cache (mint + insert)
 *   cache_hit   kh_certcache_get() for the same names again
 * and, given the upstream's certificate, the two TLS handshakes of one
 * intercepted connection, both ends of each in this one thread over memory
 * BIOs (no sockets), with keyhole's own TLS contexts:
 *   hs_sandbox   a verifying client <-> keyhole's server side with a leaf
 *   hs_upstream  keyhole's verifying client side <-> the upstream's cert
 * and two_handshake_bound_per_s = cores / (mean hs_sandbox + mean hs_upstream):
 * the new intercepted connections per second this machine could sustain if
 * it did nothing but those handshakes. bench.py builds and runs it (see
 * bench/README.md). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "tls/ca.h"
#include "tls/certcache.h"
#include "base/err.h"
#include "base/slice.h"
#include "tls/tlsctx.h"

#define HS_ROUNDS_MAX 1000 /* steps of one handshake before giving up */

#define MAX_N 100000

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts t[0..n) and prints "name":{"p50":..,"p99":..} in microseconds. */
static void report(const char *name, uint64_t *t, size_t n, int last)
{
	qsort(t, n, sizeof *t, cmp_u64);
	printf("\"%s_us\":{\"p50\":%.1f,\"p99\":%.1f}%s", name, (double)t[n / 2] / 1e3,
	       (double)t[n * 99 / 100] / 1e3, last ? "" : ",");
}

static void host_name(char *buf, size_t len, const char *prefix, size_t i)
{
	snprintf(buf, len, "%s%zu.mint.test", prefix, i);
}

static int run(struct kh_ca *ca, size_t n, uint64_t *t)
{
	struct kh_certcache *cc = kh_certcache_new(n);
	struct kh_err err = { { 0 } };
	char host[64];

	if (cc == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		X509 *x;

		host_name(host, sizeof host, "a", i);
		x = kh_ca_mint_leaf(ca, host, &err);
		t[i] = now_ns() - t0;
		if (x == NULL)
			goto fail;
		X509_free(x);
	}
	report("mint", t, n, 0);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			uint64_t t0 = now_ns();
			X509 *x;

			host_name(host, sizeof host, "b", i);
			x = kh_certcache_get(cc, ca, host, &err);
			t[i] = now_ns() - t0;
			if (x == NULL)
				goto fail;
			X509_free(x);
		}
		report(pass == 0 ? "cache_miss" : "cache_hit", t, n, pass == 1);
	}
	printf("}\n");
	kh_certcache_free(cc);
	return 0;
fail:
	fprintf(stderr, "mintbench: %s\n", err.msg);
	kh_certcache_free(cc);
	return -1;
}

/* Runs both ends of one handshake over a BIO pair, then lets the client
 * read what the server sent after it (TLS 1.3 session tickets), as a real
 * client's first read would. Takes ownership of both. */
static int handshake_pair(SSL *cli, SSL *srv)
{
	BIO *bc = NULL, *bs = NULL;
	int done_c = 0, done_s = 0, rc = -1;
	char byte;

	if (BIO_new_bio_pair(&bc, 0, &bs, 0) != 1)
		goto out;
	SSL_set_bio(cli, bc, bc);
	SSL_set_bio(srv, bs, bs);
	for (int i = 0; i < HS_ROUNDS_MAX && !(done_c && done_s); i++) {
		if (!done_c)
			done_c = SSL_do_handshake(cli) == 1;
		if (!done_s)
			done_s = SSL_do_handshake(srv) == 1;
	}
	if (done_c && done_s && SSL_read(cli, &byte, 1) <= 0 &&
	    SSL_get_error(cli, 0) == SSL_ERROR_WANT_READ)
		rc = 0;
out:
	SSL_free(cli);
	SSL_free(srv);
	return rc;
}

struct hs_side {
	SSL_CTX *server, *client;
	X509 *cert; /* NULL: the server context has its own */
	EVP_PKEY *key;
	const char *host;
};

/* Times n handshakes; returns the mean in ns (0 on failure), t gets each. */
static double time_handshakes(const struct hs_side *h, size_t n, uint64_t *t)
{
	struct kh_sni_check sni = { .expected = h->host };
	double sum = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		SSL *srv = h->cert ? kh_tls_server_ssl(h->server, -1, h->cert, h->key, &sni)
				   : SSL_new(h->server);
		SSL *cli = kh_tls_client_ssl(h->client, -1, h->host, false);

		if (srv == NULL || cli == NULL) {
			SSL_free(srv);
			SSL_free(cli);
			return 0;
		}
		SSL_set_accept_state(srv);
		if (handshake_pair(cli, srv) != 0)
			return 0;
		t[i] = now_ns() - t0;
		sum += (double)t[i];
	}
	return sum / (double)n;
}

static SSL_CTX *upstream_server_ctx(const char *crt, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx != NULL && (SSL_CTX_use_certificate_chain_file(ctx, crt) != 1 ||
			    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* The two handshakes of an intercepted connection: the sandbox's client to
 * keyhole (a leaf minted for the bench's API name), keyhole to upstream. */
static int run_handshakes(struct kh_ca *ca, const char *ca_crt, char **up, size_t n, uint64_t *t)
{
	struct kh_err err = { { 0 } };
	SSL_CTX *ksrv = kh_tls_server_ctx_new(&err), *sandbox = kh_tls_client_ctx_new(ca_crt, &err);
	SSL_CTX *usrv = upstream_server_ctx(up[0], up[1]),
		*kcli = kh_tls_client_ctx_new(up[2], &err);
	X509 *leaf = kh_ca_mint_leaf(ca, "localhost", &err);
	struct hs_side a = { ksrv, sandbox, leaf, ca->leaf_key, "localhost" };
	struct hs_side b = { usrv, kcli, NULL, NULL, "localhost" };
	double ma = 0, mb = 0;
	int rc = -1;

	if (ksrv && sandbox && usrv && kcli && leaf) {
		ma = time_handshakes(&a, n, t);
		if (ma > 0)
			report("hs_sandbox", t, n, 0);
		mb = ma > 0 ? time_handshakes(&b, n, t) : 0;
		if (mb > 0) {
			report("hs_upstream", t, n, 0);
			printf("\"two_handshake_bound_per_s\":%.0f,",
			       (double)sysconf(_SC_NPROCESSORS_ONLN) * 1e9 / (ma + mb));
			rc = 0;
		}
	}
	if (rc != 0) {
		ERR_print_errors_fp(stderr);
		fprintf(stderr, "mintbench: handshake pair failed %s\n", err.msg);
	}
	X509_free(leaf);
	SSL_CTX_free(ksrv);
	SSL_CTX_free(sandbox);
	SSL_CTX_free(usrv);
	SSL_CTX_free(kcli);
	return rc;
}

int main(int argc, char **argv)
{
	char crt[4096], key[4096];
	struct kh_ca ca = { 0 };
	struct kh_err err = { { 0 } };
	uint64_t n = 1000, *t;
	bool created;
	int rc = 1;

	if (argc < 2 || (argc > 2 && (kh_parse_u64(argv[2], MAX_N, &n) != 0 || n == 0)) ||
	    (argc != 3 && argc != 2 && argc != 6)) {
		fprintf(stderr,
			"usage: mintbench DIR [N<=%d [UPSTREAM_CRT UPSTREAM_KEY UPSTREAM_CA]]\n",
			MAX_N);
		return 2;
	}
	snprintf(crt, sizeof crt, "%s/ca.crt", argv[1]);
	snprintf(key, sizeof key, "%s/ca.key", argv[1]);
	t = calloc(n, sizeof *t);
	if (t == NULL || kh_ca_ensure(crt, key, &created, &err) != 0 ||
	    kh_ca_load(&ca, crt, key, &err) != 0) {
		fprintf(stderr, "mintbench: %s\n", t ? err.msg : "out of memory");
		goto out;
	}
	printf("{\"names\":%zu,", (size_t)n);
	if (argc == 6 && run_handshakes(&ca, crt, argv + 3, (size_t)n, t) != 0)
		goto out;
	rc = run(&ca, (size_t)n, t) == 0 ? 0 : 1;
out:
	kh_ca_free(&ca);
	free(t);
	return rc;
}
