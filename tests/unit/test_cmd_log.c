#include "cli/cmd_log.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"

static char got[4096];

static const char *esc(const char *s, size_t len, size_t *cols)
{
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);

	*cols = kh_logview_escape(f, s, len);
	fclose(f);
	snprintf(got, sizeof got, "%s", out);
	free(out);
	return got;
}

static void escapes(void)
{
	size_t cols;

	CHECK_STR(esc("plain.test/a", 12, &cols), "plain.test/a");
	CHECK_INT(cols, 12);
	CHECK_STR(esc("a\x1b[31m\x07\x7f\\", 9, &cols), "a\\x1b[31m\\x07\\x7f\\\\");
	CHECK_STR(esc("\xc2\x9b"
		      "2J",
		      4, &cols),
		  "\\u{009b}2J"); /* C1 CSI */
	CHECK_STR(esc("\xe2\x80\xae"
		      "x",
		      4, &cols),
		  "\\u{202e}x"); /* RLO */
	CHECK_STR(esc("\xe2\x81\xa6", 3, &cols), "\\u{2066}");
	CHECK_STR(esc("caf\xc3\xa9", 5, &cols), "caf\xc3\xa9"); /* ordinary UTF-8 stays */
	CHECK_INT(cols, 4);
	CHECK_STR(esc("\xc0\x9b", 2, &cols), "\\xc0\\x9b"); /* overlong: bytes, not a char */
	CHECK_STR(esc("\xed\xa0\x80", 3, &cols), "\\xed\\xa0\\x80"); /* surrogate */
	CHECK_STR(esc("\xe2\x80", 2, &cols), "\\xe2\\x80"); /* cut short */
	CHECK_STR(esc("a\0b", 3, &cols), "a\\x00b");
}

static void lines(void)
{
	struct kh_logview v = { .denied_only = true };
	FILE *f = fopen("/dev/null", "w");
	const char deny[] = "{\"time\":\"t\",\"decision\":\"deny\"}";
	const char allow[] = "{\"time\":\"t\",\"decision\":\"allow\"}";

	CHECK_INT(kh_logview_line(&v, deny, sizeof deny - 1, f), 1);
	CHECK_INT(kh_logview_line(&v, allow, sizeof allow - 1, f), 0);
	CHECK_INT(kh_logview_line(&v, "{}", 2, f), -1);
	CHECK_INT(kh_logview_line(&v, "{\"time\":1,\"decision\":\"deny\"}", 29, f), -1);
	CHECK_INT(kh_logview_line(&v, "nope", 4, f), -1);
	CHECK_INT(kh_logview_line(&v, "", 0, f), -1);
	CHECK_INT(v.skipped, 4);
	fclose(f);
}

int main(void)
{
	RUN(escapes);
	RUN(lines);
	TAP_DONE();
}
