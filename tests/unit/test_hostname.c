/* Host normalization against the spellings of an IPv4 address that resolvers
 * accept (issue 15 item 2): only the dotted quad is an address; every other
 * spelling is refused, never matched as a name and then dialled as a number. */
#include "base/hostname.h"

#include "tap.h"

static int kind_of(const char *in, char out[KH_HOST_BUF])
{
	return kh_host_normalize(kh_slice_cstr(in), out);
}

static void odd_ipv4_spellings_are_refused(void)
{
	static const char *const odd[] = {
		"0",          "0x7f.1",      "2130706433",  "0177.0.0.1",       "127.1",
		"0x7f000001", "0X7F000001",  "1.0x7f",      "0x7f.0x0.0x0.0x1", "017700000001",
		"127.0.1",    "127.000.0.1", "0x7f.0.0.1.",
	};
	char out[KH_HOST_BUF];

	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		int k = kind_of(odd[i], out);

		if (k != -1)
			printf("#   '%s' was accepted (kind %d) as '%s'\n", odd[i], k, out);
		CHECK_INT(k, -1);
	}
}

static void addresses_and_names_still_parse(void)
{
	char out[KH_HOST_BUF];

	CHECK_INT(kind_of("0.0.0.0", out), KH_HOST_IPV4);
	CHECK_STR(out, "0.0.0.0");
	CHECK_INT(kind_of("127.0.0.1", out), KH_HOST_IPV4);
	CHECK_INT(kind_of("::", out), KH_HOST_IPV6);
	CHECK_STR(out, "::");
	CHECK_INT(kind_of("::FFFF:7f00:1", out), KH_HOST_IPV6);
	CHECK_STR(out, "::ffff:127.0.0.1");
	CHECK_INT(kind_of("64:ff9b::7f00:1", out), KH_HOST_IPV6);
	CHECK_INT(kind_of("2002:7f00:1::", out), KH_HOST_IPV6);
	CHECK_INT(kind_of("::127.0.0.1", out), KH_HOST_IPV6);
	CHECK_STR(out, "::127.0.0.1");
	/* names that only look a little like numbers */
	CHECK_INT(kind_of("0x", out), KH_HOST_NAME);
	CHECK_INT(kind_of("deadbeef", out), KH_HOST_NAME);
	CHECK_INT(kind_of("0x7f.example.com", out), KH_HOST_NAME);
	CHECK_INT(kind_of("1e100.net", out), KH_HOST_NAME);
	CHECK_INT(kind_of("api.openai.com", out), KH_HOST_NAME);
}

static void scoped_and_bracketed(void)
{
	char host[KH_HOST_BUF];
	uint16_t port;

	CHECK_INT(kind_of("fe80::1%lo", host), -1);
	CHECK_INT(kh_authority_parse(kh_slice_cstr("[fe80::1%25lo]:443"), 0, host, &port), -1);
	CHECK_INT(kh_authority_parse(kh_slice_cstr("[fe80::1%lo]:443"), 0, host, &port), -1);
	CHECK_INT(kh_authority_parse(kh_slice_cstr("[::]:443"), 0, host, &port), KH_HOST_IPV6);
	CHECK_STR(host, "::");
	CHECK_INT(kh_authority_parse(kh_slice_cstr("0x7f.1:443"), 0, host, &port), -1);
	CHECK_INT(kh_authority_parse(kh_slice_cstr("2130706433:80"), 0, host, &port), -1);
	CHECK_INT(kh_authority_parse(kh_slice_cstr("0:443"), 0, host, &port), -1);
}

int main(void)
{
	RUN(odd_ipv4_spellings_are_refused);
	RUN(addresses_and_names_still_parse);
	RUN(scoped_and_bracketed);
	TAP_DONE();
}
