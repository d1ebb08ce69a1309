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

/* Grows the single-record hello to a handshake body of exactly body bytes
 * with a padding extension (type 21) at the end of the extensions. */
static void pad_hello(size_t body)
{
	size_t ext = 5 + 4 + 2 + 32, grow, el;

	ext += 1 + hello[ext]; /* session id */
	ext += 2 + ((size_t)hello[ext] << 8 | hello[ext + 1]); /* cipher suites */
	ext += 1 + hello[ext]; /* compression methods */
	grow = body - (hello_len - 9);
	el = ((size_t)hello[ext] << 8 | hello[ext + 1]) + grow;
	hello[ext] = (uint8_t)(el >> 8);
	hello[ext + 1] = (uint8_t)el;
	hello[hello_len] = 0;
	hello[hello_len + 1] = 21;
	hello[hello_len + 2] = (uint8_t)((grow - 4) >> 8);
	hello[hello_len + 3] = (uint8_t)(grow - 4);
	memset(hello + hello_len + 4, 0, grow - 4);
	hello_len += grow;
	hello[6] = (uint8_t)(body >> 16);
	hello[7] = (uint8_t)(body >> 8);
	hello[8] = (uint8_t)body;
}

/* The verdict is a property of the bytes, not of how they arrived: a hello
 * that completes only past the peek window (KH_CLIENT_HELLO_MAX + 4 record
 * headers) is refused however it is cut, not refused at one cut and read
 * at another. Here the 4-byte handshake header comes in four 1-byte records
 * and the body (16380 bytes, so 16384 handshake bytes in all) in a fifth:
 * 16409 bytes on the wire. */
static void window_edge_same_verdict_at_every_length(void)
{
	static uint8_t wire[KH_CLIENT_HELLO_MAX + 64];
	size_t body = KH_CLIENT_HELLO_MAX - 4, n = 0;
	char host[KH_HOST_BUF];
	int first = KH_TLSPEEK_MORE, changed = 0;

	make_hello("edge.test", TLS1_3_VERSION);
	pad_hello(body);
	for (size_t i = 0; i < 4; i++) {
		memcpy(wire + n, hello, 3);
		wire[n + 3] = 0;
		wire[n + 4] = 1;
		wire[n + 5] = hello[5 + i];
		n += 6;
	}
	memcpy(wire + n, hello, 3);
	wire[n + 3] = (uint8_t)(body >> 8);
	wire[n + 4] = (uint8_t)body;
	memcpy(wire + n + 5, hello + 9, body);
	n += 5 + body;
	for (size_t len = 16000; len <= n; len++) {
		int r = kh_tlspeek_sni(wire, len, host);

		if (r != KH_TLSPEEK_MORE && first == KH_TLSPEEK_MORE)
			first = r;
		changed += r != first && r != KH_TLSPEEK_MORE;
		changed += r == KH_TLSPEEK_MORE && first != KH_TLSPEEK_MORE;
	}
	CHECK_INT(changed, 0);
	CHECK_INT(kh_tlspeek_sni(wire, n, host), first);
	CHECK_INT(first, KH_TLSPEEK_BAD);
}

/* A handshake announcing more than KH_CLIENT_HELLO_MAX bytes can never be
 * read: refused as soon as its header is seen, not after 16 KiB. */
static void oversized_announcement_refused_early(void)
{
	char host[KH_HOST_BUF];

	uint8_t head[9];

	make_hello("big.test", TLS1_3_VERSION);
	memcpy(head, hello, sizeof head);
	head[3] = 0;
	head[4] = 4; /* a record holding just the handshake header */
	CHECK_INT(kh_tlspeek_sni(head, sizeof head, host), KH_TLSPEEK_MORE);
	head[6] = 0x00;
	head[7] = 0x40; /* 16384 + 4 > KH_CLIENT_HELLO_MAX */
	head[8] = 0x00;
	CHECK_INT(kh_tlspeek_sni(head, sizeof head, host), KH_TLSPEEK_BAD);
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
	RUN(window_edge_same_verdict_at_every_length);
	RUN(oversized_announcement_refused_early);
	TAP_DONE();
}
