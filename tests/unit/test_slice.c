#include "base/slice.h"
#include "tap.h"

static void compare(void)
{
	CHECK(kh_slice_eq_cstr(KH_SLICE_LIT("abc"), "abc"));
	CHECK(!kh_slice_eq_cstr(KH_SLICE_LIT("abc"), "abcd"));
	CHECK(kh_slice_eq_cstr_nocase(KH_SLICE_LIT("Content-Length"), "content-length"));
	CHECK(!kh_slice_eq_cstr_nocase(KH_SLICE_LIT("Content-Lengt"), "content-length"));
	CHECK(kh_slice_starts_with_nocase(KH_SLICE_LIT("Bearer xyz"), "bearer "));
	CHECK(kh_slice_ends_with_nocase(KH_SLICE_LIT("API.OpenAI.com"),
					KH_SLICE_LIT(".openai.com")));
}

static void trim_and_split(void)
{
	struct kh_slice s = kh_slice_trim_ows(KH_SLICE_LIT(" \t value \t"));
	struct kh_slice head;

	CHECK(kh_slice_eq_cstr(s, "value"));
	s = KH_SLICE_LIT("host:443");
	CHECK(kh_slice_split(&s, ':', &head));
	CHECK(kh_slice_eq_cstr(head, "host"));
	CHECK(kh_slice_eq_cstr(s, "443"));
	s = KH_SLICE_LIT("nocolon");
	CHECK(!kh_slice_split(&s, ':', &head));
	CHECK(kh_slice_eq_cstr(head, "nocolon"));
	CHECK_INT(s.len, 0);
}

static void strict_numbers(void)
{
	uint64_t v = 0;

	CHECK_INT(kh_slice_to_u64(KH_SLICE_LIT("0"), 10, &v), 0);
	CHECK_INT(v, 0);
	CHECK_INT(kh_slice_to_u64(KH_SLICE_LIT("18446744073709551615"), UINT64_MAX, &v), 0);
	CHECK(v == UINT64_MAX);
	CHECK_INT(kh_slice_to_u64(KH_SLICE_LIT("18446744073709551616"), UINT64_MAX, &v), -1);
	CHECK_INT(kh_slice_to_u64(KH_SLICE_LIT("+5"), 100, &v), -1);
	CHECK_INT(kh_slice_to_u64(KH_SLICE_LIT("-5"), 100, &v), -1);
	CHECK_INT(kh_slice_to_u64(KH_SLICE_LIT(" 5"), 100, &v), -1);
	CHECK_INT(kh_slice_to_u64(KH_SLICE_LIT(""), 100, &v), -1);
	CHECK_INT(kh_slice_to_u64(KH_SLICE_LIT("101"), 100, &v), -1);
	CHECK_INT(kh_slice_to_u64(KH_SLICE_LIT("100"), 100, &v), 0);
	CHECK_INT(kh_slice_hex_to_u64(KH_SLICE_LIT("fF"), 1000, &v), 0);
	CHECK_INT(v, 255);
	CHECK_INT(kh_slice_hex_to_u64(KH_SLICE_LIT("0x10"), 1000, &v), -1);
	CHECK_INT(kh_slice_hex_to_u64(KH_SLICE_LIT("10000000000000000"), UINT64_MAX, &v), -1);
	CHECK_INT(kh_parse_u64("9090", 65535, &v), 0);
	CHECK_INT(v, 9090);
	CHECK_INT(kh_parse_u64("65536", 65535, &v), -1);
}

static void to_cstr(void)
{
	char out[4];

	CHECK_INT(kh_slice_to_cstr(KH_SLICE_LIT("abc"), out, sizeof out), 0);
	CHECK_STR(out, "abc");
	CHECK_INT(kh_slice_to_cstr(KH_SLICE_LIT("abcd"), out, sizeof out), -1);
	CHECK_INT(kh_slice_to_cstr(kh_slice_make("a\0b", 3), out, sizeof out), -1);
}

int main(void)
{
	RUN(compare);
	RUN(trim_and_split);
	RUN(strict_numbers);
	RUN(to_cstr);
	TAP_DONE();
}
