/* SNI extraction from ClientHellos produced by the real OpenSSL client. */
#include <openssl/ssl.h>

#include "tap.h"
#include "tls/tlspeek.h"

static uint8_t hello[32768];
static size_t hello_len;

/* The bytes OpenSSL sends first as a client, with sni (NULL: none). */
static void make_hello(const char *sni, long max_version)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = SSL_new(ctx);
	BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());

	SSL_CTX_set_max_proto_version(ctx, max_version);
	SSL_set_max_proto_version(ssl, max_version);
	SSL_set_bio(ssl, in, out);
	if (sni != NULL)
		SSL_set_tlsext_host_name(ssl, sni);
	SSL_set_connect_state(ssl);
	SSL_do_handshake(ssl); /* wants to read: the ClientHello is now in out */
	hello_len = (size_t)BIO_read(out, hello, sizeof hello);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
}

static void finds_sni_tls13_and_12(void)
{
	char host[KH_HOST_BUF];

	make_hello("API.OpenAI.test", TLS1_3_VERSION);
	CHECK(hello_len > 100);
	CHECK_INT(kh_tlspeek_sni(hello, hello_len, host), KH_TLSPEEK_SNI);
	CHECK_STR(host, "api.openai.test");
	make_hello("other.test", TLS1_2_VERSION);
	CHECK_INT(kh_tlspeek_sni(hello, hello_len, host), KH_TLSPEEK_SNI);
	CHECK_STR(host, "other.test");
}

static void every_prefix_asks_for_more(void)
{
	char host[KH_HOST_BUF];
	int bad = 0;

	make_hello("api.openai.test", TLS1_3_VERSION);
	for (size_t n = 0; n < hello_len; n++)
		bad += kh_tlspeek_sni(hello, n, host) != KH_TLSPEEK_MORE;
	CHECK_INT(bad, 0);
}

static void no_sni(void)
{
	char host[KH_HOST_BUF];

	make_hello(NULL, TLS1_3_VERSION);
	CHECK_INT(kh_tlspeek_sni(hello, hello_len, host), KH_TLSPEEK_NO_SNI);
}

static void split_across_records(void)
{
	uint8_t two[32768];
	size_t body, first;
	char host[KH_HOST_BUF];

	make_hello("split.test", TLS1_3_VERSION);
	body = hello_len - 5;
	first = body / 2;
	memcpy(two, hello, 5); /* record 1: first half of the handshake */
	two[3] = (uint8_t)(first >> 8);
	two[4] = (uint8_t)first;
	memcpy(two + 5, hello + 5, first);
	memcpy(two + 5 + first, hello, 5); /* record 2: the rest */
	two[5 + first + 3] = (uint8_t)((body - first) >> 8);
	two[5 + first + 4] = (uint8_t)(body - first);
	memcpy(two + 10 + first, hello + 5 + first, body - first);
	CHECK_INT(kh_tlspeek_sni(two, hello_len + 5, host), KH_TLSPEEK_SNI);
	CHECK_STR(host, "split.test");
}

static void refuses_non_tls_and_garbage(void)
{
	char host[KH_HOST_BUF];
	uint8_t bad[64];

	CHECK_INT(kh_tlspeek_sni((const uint8_t *)"GET / HTTP/1.1\r\n", 16, host), KH_TLSPEEK_BAD);
	make_hello("api.openai.test", TLS1_3_VERSION);
	memcpy(bad, hello, sizeof bad);
	bad[5] = 0x02; /* ServerHello, not ClientHello */
	CHECK_INT(kh_tlspeek_sni(bad, sizeof bad, host), KH_TLSPEEK_BAD);
	hello[9 + 34] = 0xff; /* session id length pointing past the end */
	CHECK_INT(kh_tlspeek_sni(hello, hello_len, host), KH_TLSPEEK_BAD);
}

int main(void)
{
	RUN(finds_sni_tls13_and_12);
	RUN(every_prefix_asks_for_more);
	RUN(no_sni);
	RUN(split_across_records);
	RUN(refuses_non_tls_and_garbage);
	TAP_DONE();
}
