/* The record redactor on hostile texts. Two items, built once: a token's
 * random part and a key with characters that percent-encoding and base64
 * change. Checked on every run, with views and forms computed here
 * independently of redact.c:
 *  - the output is NUL-terminated, fits its buffer and is at most as long as
 *    the input unless a marker was written;
 *  - no view of the output (as written, percent-decoded up to three times,
 *    without dots, each lower-cased) holds a form of an item: the value
 *    (any case), its hex, or the base64/base64url characters that depend on
 *    it alone at any alignment;
 *  - a text none of whose views holds a form comes out unchanged;
 *  - a small output buffer gives a prefix of the large one's output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/kh_limits.h"
#include "secret/redact.h"
#include "fuzz_check.h"

#define MAX_TEXT KH_REDACT_SCAN_MAX
#define OUT_CAP  (MAX_TEXT * 4)
#define MAX_FORM 128

static const char *const values[] = { "0123456789abcdef0123456789abcdef",
				      "sk-REAL/openai+Qx9=Zp2.Lm" };
#define N_VALUES (sizeof values / sizeof values[0])

/* Needles: case-sensitive (base64) and lower-case (value, hex). */
static char exact[N_VALUES * 6][MAX_FORM], folded[N_VALUES * 2][MAX_FORM];
static size_t n_exact, n_folded;
static struct kh_redact red;

static void b64_middle(const char *v, size_t a, bool url, char *out)
{
	static const char std[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static const char urls[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const char *abc = url ? urls : std;
	size_t n = strlen(v), total = a + n, bits = 0, o = 0, from = (8 * a + 5) / 6,
	       to = 8 * (a + n) / 6;
	uint32_t acc = 0;
	char all[MAX_FORM];

	for (size_t i = 0; i < total; i++) {
		acc = acc << 8 | (i < a ? 0 : (uint8_t)v[i - a]);
		bits += 8;
		while (bits >= 6) {
			all[o++] = abc[(acc >> (bits - 6)) & 63];
			bits -= 6;
		}
	}
	memcpy(out, all + from, to - from);
	out[to - from] = '\0';
}

static void setup(void)
{
	struct kh_redact_item items[N_VALUES];
	struct kh_err err;

	for (size_t i = 0; i < N_VALUES; i++) {
		const char *v = values[i];
		size_t n = strlen(v);

		items[i] = (struct kh_redact_item){ "KEY", (const uint8_t *)v, n };
		for (size_t k = 0; k <= n; k++)
			folded[n_folded][k] = (char)(v[k] >= 'A' && v[k] <= 'Z' ? v[k] + 32 : v[k]);
		n_folded++;
		for (size_t k = 0; k < n; k++)
			snprintf(folded[n_folded] + 2 * k, 3, "%02x", (unsigned char)v[k]);
		n_folded++;
		for (size_t a = 0; a < 3; a++)
			for (int url = 0; url < 2; url++)
				b64_middle(v, a, url, exact[n_exact++]);
	}
	CHECK(kh_redact_build(&red, items, N_VALUES, &err) == 0);
}

/* --- views, the plain way --- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool decode(const char *in, size_t n, char *out, size_t *on)
{
	size_t o = 0;
	bool any = false;

	for (size_t i = 0; i < n;) {
		if (in[i] == '%' && i + 2 < n && hexval(in[i + 1]) >= 0 && hexval(in[i + 2]) >= 0) {
			out[o++] = (char)(hexval(in[i + 1]) * 16 + hexval(in[i + 2]));
			i += 3;
			any = true;
		} else {
			out[o++] = in[i++];
		}
	}
	*on = o;
	return any;
}

static bool holds(const char *p, size_t n, char (*forms)[MAX_FORM], size_t n_forms)
{
	for (size_t i = 0; i < n_forms; i++)
		if (memmem(p, n, forms[i], strlen(forms[i])) != NULL)
			return true;
	return false;
}

static bool view_holds(const char *p, size_t n)
{
	static char low[OUT_CAP];

	for (size_t i = 0; i < n; i++)
		low[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
	return holds(p, n, exact, n_exact) || holds(low, n, folded, n_folded);
}

static bool any_view_holds(const char *text, size_t n)
{
	static char cur[OUT_CAP], next[OUT_CAP], undotted[OUT_CAP];
	size_t len = n, nn;

	memcpy(cur, text, n);
	for (int depth = 0;; depth++) {
		size_t u = 0;

		for (size_t i = 0; i < len; i++)
			if (cur[i] != '.')
				undotted[u++] = cur[i];
		if (view_holds(cur, len) || view_holds(undotted, u))
			return true;
		if (depth == KH_REDACT_PCT_DEPTH || !decode(cur, len, next, &nn))
			return false;
		memcpy(cur, next, nn);
		len = nn;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[OUT_CAP], small[64];
	const char *text = (const char *)data;
	size_t n = size < MAX_TEXT ? size : MAX_TEXT, len, slen;

	if (red.exact.n == 0)
		setup();
	len = kh_redact(&red, text, n, out, sizeof out);
	CHECK(len < sizeof out && out[len] == '\0');
	CHECK(len <= n || memmem(out, len, "[redacted:KEY]", 14) != NULL);
	CHECK(!any_view_holds(out, len));
	if (!any_view_holds(text, n))
		CHECK(len == n && memcmp(out, text, n) == 0);
	slen = kh_redact(&red, text, n, small, sizeof small);
	CHECK(slen < sizeof small && small[slen] == '\0');
	CHECK(slen <= len && memcmp(small, out, slen) == 0);
	return 0;
}
