/* The upstream deny list: the default ranges (issue 15 item 2) and the IPv6
 * forms that stand for an IPv4 address (IPv4-mapped, NAT64, 6to4,
 * IPv4-compatible), which must be judged by the IPv4 address too. */
#include "policy/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "tap.h"

static struct kh_cidr defaults[64];
static size_t n_defaults;

static void load_defaults(void)
{
	n_defaults = kh_default_deny_cidrs_count;
	for (size_t i = 0; i < n_defaults && i < 64; i++)
		CHECK_INT(kh_cidr_parse(kh_default_deny_cidrs[i], &defaults[i], NULL), 0);
}

static struct sockaddr_storage addr(const char *ip)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(443);
	} else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(443);
	} else {
		printf("#   bad test address %s\n", ip);
		abort();
	}
	return ss;
}

/* The default range that holds ip, formatted, or "" when none does. */
static const char *default_match(const char *ip, char out[64])
{
	struct sockaddr_storage ss = addr(ip);
	long i = kh_cidr_list_match(defaults, n_defaults, (struct sockaddr *)&ss);

	out[0] = '\0';
	if (i >= 0)
		kh_cidr_format(&defaults[i], out, 64);
	return out;
}

#define DENIED_BY(ip, range)                                   \
	do {                                                   \
		char got_[64];                                 \
		CHECK_STR(default_match((ip), got_), (range)); \
	} while (0)

static void default_list_has_the_new_ranges(void)
{
	static const char *const want[] = {
		"0.0.0.0/8",    "::/128",          "::/96",          "192.0.0.0/24",
		"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32",
		"224.0.0.0/4",  "240.0.0.0/4",     "ff00::/8",       "64:ff9b:1::/48",
		"fec0::/10",    "100.64.0.0/10",   "198.18.0.0/15",  "fc00::/7",
		"127.0.0.0/8",  "::1/128",         "169.254.0.0/16", "fe80::/10",
		"10.0.0.0/8",   "172.16.0.0/12",   "192.168.0.0/16", "::ffff:0.0.0.0/96",
	};
	char text[64];

	load_defaults();
	CHECK_INT(n_defaults, sizeof want / sizeof want[0]);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		bool found = false;

		for (size_t k = 0; k < n_defaults; k++) {
			kh_cidr_format(&defaults[k], text, sizeof text);
			found = found || strcmp(text, want[i]) == 0;
		}
		if (!found)
			printf("#   missing from the default deny list: %s\n", want[i]);
		CHECK(found);
	}
}

static void each_range_is_denied(void)
{
	load_defaults();
	/* "this host": Linux connects 0.0.0.0 and :: to loopback */
	DENIED_BY("0.0.0.0", "0.0.0.0/8");
	DENIED_BY("0.255.255.255", "0.0.0.0/8");
	DENIED_BY("::", "::/128");
	DENIED_BY("::1", "::1/128");
	DENIED_BY("192.0.0.170", "192.0.0.0/24");
	DENIED_BY("192.0.2.1", "192.0.2.0/24");
	DENIED_BY("198.51.100.200", "198.51.100.0/24");
	DENIED_BY("203.0.113.7", "203.0.113.0/24");
	DENIED_BY("2001:db8::7", "2001:db8::/32");
	DENIED_BY("224.0.0.1", "224.0.0.0/4");
	DENIED_BY("239.255.255.250", "224.0.0.0/4");
	DENIED_BY("240.0.0.1", "240.0.0.0/4");
	DENIED_BY("255.255.255.255", "240.0.0.0/4");
	DENIED_BY("ff02::1", "ff00::/8");
	DENIED_BY("64:ff9b:1::a00:1", "64:ff9b:1::/48");
	DENIED_BY("fec0::1", "fec0::/10");
	DENIED_BY("100.64.0.1", "100.64.0.0/10");
	DENIED_BY("198.19.255.255", "198.18.0.0/15");
	DENIED_BY("fd00::1", "fc00::/7");
	DENIED_BY("169.254.169.254", "169.254.0.0/16");
	/* public addresses stay reachable */
	DENIED_BY("1.1.1.1", "");
	DENIED_BY("192.0.1.255", "");
	DENIED_BY("223.255.255.255", "");
	DENIED_BY("2606:4700::1111", "");
	DENIED_BY("64:ff9b::808:808", ""); /* NAT64 for 8.8.8.8 */
	DENIED_BY("2002:808:808::1", ""); /* 6to4 for 8.8.8.8 */
}

/* An IPv6 address that stands for an IPv4 one is caught by the IPv4 range. */
static void embedded_ipv4_in_defaults(void)
{
	load_defaults();
	DENIED_BY("::ffff:127.0.0.1", "127.0.0.0/8");
	DENIED_BY("64:ff9b::7f00:1", "127.0.0.0/8");
	DENIED_BY("64:ff9b::a9fe:a9fe", "169.254.0.0/16");
	DENIED_BY("64:ff9b::", "0.0.0.0/8");
	DENIED_BY("2002:7f00:1::", "127.0.0.0/8");
	DENIED_BY("2002:a9fe:a9fe:1:2:3:4:5", "169.254.0.0/16");
	DENIED_BY("2002:c0a8:101::", "192.168.0.0/16");
	DENIED_BY("::127.0.0.1", "127.0.0.0/8"); /* IPv4-compatible: also ::/96 */
}

static void embedded_ipv4_in_an_operator_list(void)
{
	struct kh_cidr list[1];
	static const char *const denied[] = {
		"10.1.2.3",       "::ffff:10.1.2.3",      "64:ff9b::a01:203",
		"2002:a01:203::", "2002:a01:203:ffff::1", "::10.1.2.3"
	};
	static const char *const allowed[] = { "11.0.0.1",       "64:ff9b::b00:1",
					       "2002:b00:1::",   "64:ff9b:0:1::a01:203",
					       "2003:a01:203::", "::1:a01:203" };

	CHECK_INT(kh_cidr_parse("10.0.0.0/8", &list[0], NULL), 0);
	for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++) {
		struct sockaddr_storage ss = addr(denied[i]);

		if (kh_cidr_list_match(list, 1, (struct sockaddr *)&ss) != 0)
			printf("#   %s should be denied by 10.0.0.0/8\n", denied[i]);
		CHECK_INT(kh_cidr_list_match(list, 1, (struct sockaddr *)&ss), 0);
	}
	for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
		struct sockaddr_storage ss = addr(allowed[i]);

		if (kh_cidr_list_match(list, 1, (struct sockaddr *)&ss) != -1)
			printf("#   %s should not be denied by 10.0.0.0/8\n", allowed[i]);
		CHECK_INT(kh_cidr_list_match(list, 1, (struct sockaddr *)&ss), -1);
	}
}

static void embedded_names_and_ports(void)
{
	static const struct {
		const char *v6, *form, *v4;
	} cases[] = {
		{ "::ffff:1.2.3.4", "IPv4-mapped", "1.2.3.4" },
		{ "64:ff9b::102:304", "NAT64", "1.2.3.4" },
		{ "2002:102:304:5::6", "6to4", "1.2.3.4" },
		{ "::1.2.3.4", "IPv4-compatible", "1.2.3.4" },
	};
	char ip[INET6_ADDRSTRLEN];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sockaddr_storage ss = addr(cases[i].v6), out;

		CHECK_STR(kh_sockaddr_embedded_v4((struct sockaddr *)&ss, &out), cases[i].form);
		CHECK_INT(out.ss_family, AF_INET);
		CHECK_INT(ntohs(((struct sockaddr_in *)&out)->sin_port), 443);
		kh_sockaddr_ip((struct sockaddr *)&out, ip, sizeof ip);
		CHECK_STR(ip, cases[i].v4);
	}
	{
		struct sockaddr_storage a = addr("2606:4700::1111"), b = addr("1.2.3.4"), out;

		CHECK(kh_sockaddr_embedded_v4((struct sockaddr *)&a, &out) == NULL);
		CHECK(kh_sockaddr_embedded_v4((struct sockaddr *)&b, &out) == NULL);
	}
}

int main(void)
{
	RUN(default_list_has_the_new_ranges);
	RUN(each_range_is_denied);
	RUN(embedded_ipv4_in_defaults);
	RUN(embedded_ipv4_in_an_operator_list);
	RUN(embedded_names_and_ports);
	TAP_DONE();
}
