/* keyhole's two TLS roles, handshaking over a socketpair on a real loop
 * (ep_pair.h) with throwaway CAs. The client context verifies: its CA's
 * leaf for the right name passes, another CA's leaf, a leaf for another
 * name, or for another IP is refused, and the failure is described. The
 * server refuses an SNI other than the CONNECT host, and a missing one for
 * a name but not for an IP literal; it answers an h2-only client without
 * ALPN and refuses TLS 1.1 (as OpenSSL 3's default security level would). A CA file with no certificate is an error. */
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tap.h"
#include "tmpdir.h"
#include "ep_pair.h"
#include "tls_fixture.h"

static struct kh_loop *loop;
static struct tls_fixture fx, other;
static bool ready;

struct hs {
	struct ep_pair p;
	struct kh_sni_check sni;
	X509 *leaf;
	char why[256]; /* the client's failure, described */
};

static bool settled(const struct ep_pair *p)
{
	return (!p->a.handshaking || p->b.hs_result < 0) &&
	       (!p->b.handshaking || p->a.hs_result < 0);
}

/* Handshakes a client SSL made by make_client against keyhole's server
 * side holding a leaf from ca for leaf_host and expecting expect (SNI). */
static void handshake(struct hs *h, const struct kh_ca *ca, const char *leaf_host,
		      const char *expect, bool expect_ip, SSL *(*make_client)(int fd))
{
	struct kh_err err = { "" };
	SSL *cs, *ss;

	memset(h, 0, sizeof *h);
	if (ep_pair_init(&h->p, loop) != 0)
		return;
	h->leaf = kh_ca_mint_leaf(ca, leaf_host, &err);
	h->sni = (struct kh_sni_check){ .expected = expect, .is_ip = expect_ip };
	cs = make_client(h->p.a.ep.io.fd);
	ss = h->leaf ? kh_tls_server_ssl(fx.server, h->p.b.ep.io.fd, h->leaf, ca->leaf_key, &h->sni)
		     : NULL;
	CHECK(cs != NULL && ss != NULL);
	if (cs == NULL || ss == NULL) {
		SSL_free(cs);
		SSL_free(ss);
		return;
	}
	kh_ep_attach_ssl(&h->p.a.ep, cs);
	kh_ep_attach_ssl(&h->p.b.ep, ss);
	h->p.a.handshaking = h->p.b.handshaking = true;
	h->p.a.hs_result = h->p.b.hs_result = 0;
	h->p.done = settled;
	CHECK_INT(ep_pair_run(&h->p), 0);
	if (h->p.a.hs_result < 0)
		kh_tls_describe_failure(h->p.a.ep.ssl, h->why, sizeof h->why);
	ERR_clear_error();
}

static void hs_free(struct hs *h)
{
	ep_pair_close(&h->p);
	X509_free(h->leaf);
}

static SSL *client_for_upstream(int fd)
{
	return kh_tls_client_ssl(fx.client, fd, "upstream.test", false);
}

static SSL *client_for_evil(int fd)
{
	return kh_tls_client_ssl(fx.client, fd, "evil.test", false);
}

static SSL *client_for_ip(int fd)
{
	return kh_tls_client_ssl(fx.client, fd, "127.0.0.1", true);
}

static SSL *client_no_sni(int fd)
{
	SSL *s = SSL_new(fx.client);

	if (s != NULL && SSL_set_fd(s, fd) == 1)
		SSL_set_connect_state(s);
	return s;
}

static SSL *client_h2_only(int fd)
{
	static const unsigned char h2[] = { 2, 'h', '2' };
	SSL *s = client_for_upstream(fd);

	if (s != NULL)
		SSL_set_alpn_protos(s, h2, sizeof h2);
	return s;
}

static SSL *client_tls11(int fd)
{
	SSL *s = client_for_upstream(fd);

	if (s != NULL) {
		SSL_set_min_proto_version(s, TLS1_VERSION);
		SSL_set_max_proto_version(s, TLS1_1_VERSION);
	}
	return s;
}

static void fixture_ready(void)
{
	CHECK(ready);
}

static void verified(void)
{
	struct hs h;

	if (!ready)
		return;
	handshake(&h, &fx.ca, "upstream.test", "upstream.test", false, client_for_upstream);
	CHECK_INT(h.p.a.hs_result, 1);
	CHECK_INT(h.p.b.hs_result, 1);
	CHECK_INT(SSL_get_verify_result(h.p.a.ep.ssl), X509_V_OK);
	CHECK(!h.sni.mismatch);
	CHECK_STR(h.sni.got, "upstream.test");
	hs_free(&h);
}

static void other_ca_refused(void)
{
	struct hs h;

	if (!ready)
		return;
	handshake(&h, &other.ca, "upstream.test", "upstream.test", false, client_for_upstream);
	CHECK(h.p.a.hs_result < 0);
	CHECK(h.p.b.hs_result != 1);
	CHECK(SSL_get_verify_result(h.p.a.ep.ssl) != X509_V_OK);
	CHECK(strstr(h.why, "certificate verification failed") != NULL);
	hs_free(&h);
}

static void wrong_name_refused(void)
{
	struct hs h;

	if (!ready)
		return;
	/* the server would accept (its SNI check passes), the client must not */
	handshake(&h, &fx.ca, "other.test", "upstream.test", false, client_for_upstream);
	CHECK(h.p.a.hs_result < 0);
	CHECK_INT(SSL_get_verify_result(h.p.a.ep.ssl), X509_V_ERR_HOSTNAME_MISMATCH);
	CHECK(strstr(h.why, "certificate verification failed") != NULL);
	hs_free(&h);
	/* a leaf for a parent name does not cover a child */
	handshake(&h, &fx.ca, "test", "upstream.test", false, client_for_upstream);
	CHECK(h.p.a.hs_result < 0);
	hs_free(&h);
}

static void ip_literal(void)
{
	struct hs h;

	if (!ready)
		return;
	handshake(&h, &fx.ca, "127.0.0.1", "127.0.0.1", true, client_for_ip);
	CHECK_INT(h.p.a.hs_result, 1);
	CHECK_INT(h.p.b.hs_result, 1);
	CHECK(!h.sni.mismatch);
	CHECK_STR(h.sni.got, ""); /* no SNI for an IP literal */
	hs_free(&h);
	handshake(&h, &fx.ca, "127.0.0.2", "127.0.0.1", true, client_for_ip);
	CHECK(h.p.a.hs_result < 0);
	CHECK_INT(SSL_get_verify_result(h.p.a.ep.ssl), X509_V_ERR_IP_ADDRESS_MISMATCH);
	hs_free(&h);
}

static void sni_must_name_the_host(void)
{
	struct hs h;

	if (!ready)
		return;
	handshake(&h, &fx.ca, "upstream.test", "upstream.test", false, client_for_evil);
	CHECK(h.p.b.hs_result < 0);
	CHECK(h.p.a.hs_result != 1);
	CHECK(h.sni.mismatch);
	CHECK_STR(h.sni.got, "evil.test");
	hs_free(&h);
	handshake(&h, &fx.ca, "upstream.test", "upstream.test", false, client_no_sni);
	CHECK(h.p.b.hs_result < 0);
	CHECK(h.sni.mismatch);
	CHECK_STR(h.sni.got, "");
	hs_free(&h);
}

static void alpn_and_versions(void)
{
	struct hs h;
	const unsigned char *sel = NULL;
	unsigned sel_len = 1;

	if (!ready)
		return;
	handshake(&h, &fx.ca, "upstream.test", "upstream.test", false, client_h2_only);
	CHECK_INT(h.p.a.hs_result, 1);
	CHECK_INT(h.p.b.hs_result, 1);
	SSL_get0_alpn_selected(h.p.b.ep.ssl, &sel, &sel_len);
	CHECK_INT(sel_len, 0);
	hs_free(&h);
	handshake(&h, &fx.ca, "upstream.test", "upstream.test", false, client_tls11);
	CHECK(h.p.a.hs_result != 1 && h.p.b.hs_result != 1);
	CHECK(h.p.a.hs_result < 0 || h.p.b.hs_result < 0);
	hs_free(&h);
}

static void bad_ca_file(void)
{
	struct kh_err err = { "" };
	FILE *f = fopen(path("junk.pem"), "w");

	CHECK(f != NULL);
	if (f != NULL) {
		fputs("not a certificate\n", f);
		fclose(f);
	}
	CHECK(kh_tls_client_ctx_new(path("junk.pem"), &err) == NULL);
	CHECK(strstr(err.msg, "no usable PEM certificates") != NULL);
	CHECK(kh_tls_client_ctx_new(path("missing.pem"), &err) == NULL);
	CHECK_INT(ERR_peek_error(), 0); /* the queue is left clean */
	/* the same bytes handed over (a reload's, from the monitor) */
	CHECK(kh_tls_client_ctx_new_pem("junk.pem", "not a certificate\n", 18, &err) == NULL);
	CHECK(strstr(err.msg, "junk.pem: no usable PEM certificates") != NULL);
	CHECK_INT(ERR_peek_error(), 0);
}

int main(void)
{
	struct kh_err err = { "" };

	signal(SIGPIPE, SIG_IGN); /* as the daemon does */
	loop = kh_loop_new(&err);
	if (loop == NULL || tmpdir_make("kh-tlsctx") != 0) {
		printf("Bail out! no loop or scratch directory: %s\n", err.msg);
		return 1;
	}
	ready = tls_fixture_init(&fx, "ca") == 0 && tls_fixture_init(&other, "other") == 0;
	RUN(fixture_ready);
	RUN(verified);
	RUN(other_ca_refused);
	RUN(wrong_name_refused);
	RUN(ip_literal);
	RUN(sni_must_name_the_host);
	RUN(alpn_and_versions);
	RUN(bad_ca_file);
	tls_fixture_free(&fx);
	tls_fixture_free(&other);
	kh_loop_free(loop);
	tmpdir_remove();
	TAP_DONE();
}
