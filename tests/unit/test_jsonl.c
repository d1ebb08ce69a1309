#include "base/jsonl.h"
#include "tap.h"

static const char *esc(const char *s, size_t n)
{
	static char out[256];
	ssize_t w = kh_json_escape(out, sizeof out - 1, s, n);

	if (w < 0)
		return "(overflow)";
	out[w] = '\0';
	return out;
}

static void escapes_controls_and_quotes(void)
{
	CHECK_STR(esc("a\"b\\c", 5), "a\\\"b\\\\c");
	CHECK_STR(esc("\n\r\t\b\f", 5), "\\n\\r\\t\\b\\f");
	CHECK_STR(esc("\x01\x1f\x7f", 3), "\\u0001\\u001f\\u007f");
	CHECK_STR(esc("nul\0x", 5), "nul\\u0000x");
	CHECK_STR(esc("\x1b[31m", 5), "\\u001b[31m"); /* terminal escape */
}

static void utf8_valid_and_invalid(void)
{
	CHECK_STR(esc("caf\xc3\xa9", 5), "caf\xc3\xa9"); /* é passes */
	CHECK_STR(esc("\xf0\x9f\x94\x91", 4), "\xf0\x9f\x94\x91"); /* emoji passes */
	CHECK_STR(esc("\xff", 1), "\\ufffd"); /* never valid */
	CHECK_STR(esc("\xc3", 1), "\\ufffd"); /* truncated */
	CHECK_STR(esc("\xc0\xaf", 2), "\\ufffd\\ufffd"); /* overlong '/' */
	CHECK_STR(esc("\xed\xa0\x80", 3), "\\ufffd\\ufffd\\ufffd"); /* surrogate */
	CHECK_STR(esc("\xf4\x90\x80\x80", 4), "\\ufffd\\ufffd\\ufffd\\ufffd"); /* > U+10FFFF */
	CHECK_STR(esc("\xe2\x80\xa8", 3), "\\u2028"); /* line separator */
}

static void utf8_repair_marks_each_bad_byte(void)
{
	char s[] = "ok caf\xc3\xa9 cut\xc3";
	char t[] = "\xff\xf0\x9f\x94\x91\xed\xa0\x80 x";

	CHECK_INT(kh_utf8_repair(s), 1);
	CHECK_STR(s, "ok caf\xc3\xa9 cut?");
	CHECK_INT(kh_utf8_repair(t), 4); /* bad, emoji kept, surrogate: 3 bad */
	CHECK_STR(t, "?\xf0\x9f\x94\x91??? x");
}

static void builds_records(void)
{
	char buf[256];
	struct kh_json j;

	kh_json_init(&j, buf, sizeof buf);
	kh_json_begin_object(&j);
	kh_json_kv_cstr(&j, "host", "api.openai.com");
	kh_json_kv_int(&j, "status", 200);
	kh_json_kv_bool(&j, "ok", true);
	kh_json_key(&j, "ms");
	kh_json_milli(&j, 12045);
	kh_json_key(&j, "swapped");
	kh_json_begin_array(&j);
	kh_json_cstring(&j, "A");
	kh_json_cstring(&j, "B");
	kh_json_end_array(&j);
	kh_json_kv_cstr(&j, "none", NULL);
	kh_json_end_object(&j);
	CHECK(kh_json_finish_line(&j) > 0);
	CHECK_STR(buf, "{\"host\":\"api.openai.com\",\"status\":200,\"ok\":true,\"ms\":12.045,"
		       "\"swapped\":[\"A\",\"B\"],\"none\":null}\n");
}

static void overflow_is_reported_not_truncated(void)
{
	char buf[16];
	struct kh_json j;

	kh_json_init(&j, buf, sizeof buf);
	kh_json_begin_object(&j);
	kh_json_kv_cstr(&j, "key", "a value that is far too long");
	kh_json_end_object(&j);
	CHECK_INT(kh_json_finish_line(&j), -1);

	kh_json_init(&j, buf, sizeof buf);
	kh_json_begin_object(&j); /* unbalanced */
	CHECK_INT(kh_json_finish_line(&j), -1);
}

int main(void)
{
	RUN(escapes_controls_and_quotes);
	RUN(utf8_valid_and_invalid);
	RUN(utf8_repair_marks_each_bad_byte);
	RUN(builds_records);
	RUN(overflow_is_reported_not_truncated);
	TAP_DONE();
}
