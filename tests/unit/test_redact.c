/* The record redactor: every form of a token or key is cut out of a text,
 * ordinary text is left alone. */
#include <stdlib.h>

#include <openssl/evp.h>

#include "secret/redact.h"
#include "tap.h"

#define KEY    "0123456789abcdef0123456789abcdef" /* a token's random part */
#define TOKEN  "keyhole-openai-" KEY
#define SECRET "sk-REAL/openai+Qx9Zp2Lm4Vb8Nc1="
#define MARK   "[redacted:OPENAI_API_KEY]"

static struct kh_redact r;

static void setup(void)
{
	struct kh_redact_item items[] = {
		{ "OPENAI_API_KEY", (const uint8_t *)KEY, 32 },
		{ "OPENAI_API_KEY", (const uint8_t *)SECRET, sizeof SECRET - 1 },
		{ "SHORT", (const uint8_t *)"abc", 3 }, /* too short to look for */
	};
	struct kh_err err;

	if (kh_redact_build(&r, items, 3, &err) != 0)
		abort();
}

static size_t red(const char *in, char *out, size_t cap)
{
	return kh_redact(&r, in, strlen(in), out, cap);
}

/* --- encoders for the test inputs --- */

static void pct(const char *in, const char *hex, char *out)
{
	for (; *in; in++, out += 3) {
		out[0] = '%';
		out[1] = hex[(unsigned char)*in >> 4];
		out[2] = hex[*in & 15];
	}
	*out = '\0';
}

static void b64(const char *prefix, const char *s, bool url, char *out)
{
	char plain[256];
	int n = snprintf(plain, sizeof plain, "%s%s", prefix, s);

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)plain, n);
	for (char *p = out; url && *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
}

static void hex(const char *s, bool upper, char *out)
{
	for (; *s; s++, out += 2)
		snprintf(out, 3, upper ? "%02X" : "%02x", (unsigned char)*s);
}

/* The text around enc is kept, enc is gone and a marker stands there. */
static void check_gone(const char *enc, const char *what)
{
	char in[2048], out[2048];

	snprintf(in, sizeof in, "/v1/x?q=%s&after=1", enc);
	red(in, out, sizeof out);
	if (strstr(out, enc) != NULL || strstr(out, MARK) == NULL)
		printf("#   %s: %s -> %s\n", what, in, out);
	CHECK(strstr(out, enc) == NULL);
	CHECK(strstr(out, MARK) != NULL);
	CHECK(strncmp(out, "/v1/x?q=", 8) == 0);
	CHECK(strstr(out, "&after=1") != NULL);
}

static void every_form(const char *v)
{
	char enc[1024], tmp[1024];

	check_gone(v, "raw");
	pct(v, "0123456789ABCDEF", enc);
	check_gone(enc, "percent every byte, upper");
	pct(v, "0123456789abcdef", enc);
	check_gone(enc, "percent every byte, lower");
	pct(v, "0123456789aBcDeF", enc);
	check_gone(enc, "percent, mixed case");
	pct(v, "0123456789ABCDEF", tmp);
	pct(tmp, "0123456789abcdef", enc); /* %25 %36 %42 ... */
	check_gone(enc, "percent twice");
	snprintf(tmp, sizeof tmp, "%.5s%%%02x%s", v, (unsigned char)v[5], v + 6);
	check_gone(tmp, "one byte percent-encoded");
	for (int a = 0; a < 3; a++) {
		static const char *const pre[] = { "", "x", "xy" };

		b64(pre[a], v, false, enc);
		check_gone(enc, "base64");
		b64(pre[a], v, true, enc);
		check_gone(enc, "base64url");
	}
	hex(v, false, enc);
	check_gone(enc, "hex lower");
	hex(v, true, enc);
	check_gone(enc, "hex upper");
}

static void token_forms(void)
{
	every_form(TOKEN);
	check_gone("KEYHOLE-OPENAI-0123456789ABCDEF0123456789ABCDEF", "upper-cased");
	check_gone("0123456789abcdef.0123456789abcdef", "split into DNS labels");
	check_gone("01234567.89abcdef0123.456789abcdef", "split into several labels");
}

static void secret_forms(void)
{
	every_form(SECRET);
}

static void ordinary_text_unchanged(void)
{
	static const char *const same[] = {
		"/v1/chat/completions",
		"api.openai.com",
		"/v1/files/file-abc123?purpose=fine-tune&limit=10",
		"%2Fv1%2Fx%20y",
		"a2V5aG9sZS1vcGVuYWk=", /* base64 of "keyhole-openai" only */
		"0123456789abcdef0123456789abcde", /* one hex char short of the key */
		"abc abc abc",
		"",
	};
	char out[256];

	for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
		CHECK_INT(red(same[i], out, sizeof out), strlen(same[i]));
		CHECK_STR(out, same[i]);
	}
}

static void cut_to_fit(void)
{
	char out[16], big[KH_REDACT_SCAN_MAX * 2];

	CHECK_INT(red("0123456789abcdefghijkl", out, sizeof out), 15);
	CHECK_STR(out, "0123456789abcde");
	/* a key near the end of the searched part of a long text is found
	 * whole; nothing past where a needle could still start is emitted */
	memset(big, 'z', sizeof big);
	memcpy(big + KH_REDACT_SCAN_MAX - 40, KEY, 32);
	big[sizeof big - 1] = '\0';
	{
		static char o[sizeof big];

		kh_redact(&r, big, strlen(big), o, sizeof o);
		CHECK(strstr(o, "0123456789abcdef") == NULL);
		CHECK(strlen(o) < KH_REDACT_SCAN_MAX);
	}
	/* a tiny output buffer still ends in NUL, inside the marker */
	red("/" KEY, out, 4);
	CHECK_STR(out, "/[r");
}

/* A long key's hex form percent-encoded three times spans more than half
 * the scan window; in a text longer than the window, none of that form may
 * be emitted even where it starts early and is cut by the window's end. */
static void long_needle_across_the_window(void)
{
	static char key[101], hx[201], e1[601], e2[1801], e3[5401], text[KH_REDACT_SCAN_MAX * 2];
	static char o[sizeof text];
	struct kh_redact lr;
	struct kh_err err;
	struct kh_redact_item item = { "LONG_KEY", (const uint8_t *)key, 100 };

	for (int i = 0; i < 100; i++)
		key[i] = (char)('A' + i % 26);
	hex(key, false, hx);
	pct(hx, "0123456789ABCDEF", e1);
	pct(e1, "0123456789ABCDEF", e2);
	pct(e2, "0123456789ABCDEF", e3);
	CHECK_INT(kh_redact_build(&lr, &item, 1, &err), 0);
	memset(text, '/', sizeof text - 1);
	memcpy(text + 100, e3, 300); /* starts early, runs past the window */
	memcpy(text + 400, e3 + 300, strlen(e3) - 300);
	kh_redact(&lr, text, strlen(text), o, sizeof o);
	CHECK(strstr(o, "%25") == NULL);
	kh_redact_free(&lr);
}

static void empty_redactor_copies(void)
{
	struct kh_redact none;
	struct kh_err err;
	char out[64];

	CHECK_INT(kh_redact_build(&none, NULL, 0, &err), 0);
	CHECK_INT(kh_redact(&none, TOKEN, strlen(TOKEN), out, sizeof out), strlen(TOKEN));
	CHECK_STR(out, TOKEN);
	CHECK_INT(kh_redact(NULL, "abc", 3, out, sizeof out), 3);
	kh_redact_free(&none);
	kh_redact_free(&none);
	kh_redact_free(NULL);
}

int main(void)
{
	setup();
	RUN(token_forms);
	RUN(secret_forms);
	RUN(ordinary_text_unchanged);
	RUN(cut_to_fit);
	RUN(long_needle_across_the_window);
	RUN(empty_redactor_copies);
	kh_redact_free(&r);
	TAP_DONE();
}
