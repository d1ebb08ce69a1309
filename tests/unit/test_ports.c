/* allowed_ports (issue 15 item 9): 443 for TLS and 80 for plain HTTP always,
 * other ports only where a rule for a matching host pattern lists them. */
#include "policy/ports.h"

#include "tap.h"

static struct kh_port_rule rule(const char *pattern, const char *const *ports, size_t n)
{
	struct kh_port_rule r = { .n_ranges = 0 };

	CHECK_INT(kh_port_pattern_normalize(pattern, r.pattern), 0);
	for (size_t i = 0; i < n; i++)
		CHECK_INT(kh_port_range_parse(ports[i], &r.ranges[r.n_ranges++]), 0);
	return r;
}

static void ranges(void)
{
	struct kh_port_range r;
	static const char *const bad[] = { "",    "0",   "65536", "-1",    "1-",
					   "-5",  "9-8", "a",     "1-2-3", " 80",
					   "80 ", "+80", "0-5",   "0x50",  "1--2" };

	CHECK_INT(kh_port_range_parse("8443", &r), 0);
	CHECK(r.lo == 8443 && r.hi == 8443);
	CHECK_INT(kh_port_range_parse("9000-9100", &r), 0);
	CHECK(r.lo == 9000 && r.hi == 9100);
	CHECK_INT(kh_port_range_parse("1-65535", &r), 0);
	CHECK(r.lo == 1 && r.hi == 65535);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (kh_port_range_parse(bad[i], &r) == 0)
			printf("#   '%s' was accepted\n", bad[i]);
		CHECK_INT(kh_port_range_parse(bad[i], &r), -1);
	}
}

static void patterns(void)
{
	char out[KH_HOST_BUF + 2];

	CHECK_INT(kh_port_pattern_normalize("*", out), 0);
	CHECK_STR(out, "*");
	CHECK_INT(kh_port_pattern_normalize("*.Example.COM.", out), 0);
	CHECK_STR(out, "*.example.com");
	CHECK_INT(kh_port_pattern_normalize("10.0.0.1", out), 0);
	CHECK_INT(kh_port_pattern_normalize("**", out), -1);
	CHECK_INT(kh_port_pattern_normalize("*x", out), -1);
	CHECK_INT(kh_port_pattern_normalize("", out), -1);
	CHECK_INT(kh_port_pattern_normalize("a b", out), -1);
}

static void defaults_without_rules(void)
{
	CHECK(kh_port_allowed(NULL, 0, "api.openai.com", 443, true));
	CHECK(!kh_port_allowed(NULL, 0, "api.openai.com", 8443, true));
	CHECK(!kh_port_allowed(NULL, 0, "api.openai.com", 80, true));
	CHECK(kh_port_allowed(NULL, 0, "api.openai.com", 80, false));
	CHECK(!kh_port_allowed(NULL, 0, "api.openai.com", 443, false));
	CHECK(!kh_port_allowed(NULL, 0, "api.openai.com", 8080, false));
	CHECK_INT(kh_port_default(true), 443);
	CHECK_INT(kh_port_default(false), 80);
}

static void rules_widen_matching_hosts_only(void)
{
	static const char *const lab[] = { "8443", "9000-9100" }, *const all[] = { "8080" };
	struct kh_port_rule r[3] = { rule("*.lab.example", lab, 2), rule("*", all, 1),
				     rule("db.example", NULL, 0) };

	CHECK(kh_port_allowed(r, 3, "a.lab.example", 8443, true));
	CHECK(kh_port_allowed(r, 3, "a.b.lab.example", 9050, false));
	CHECK(kh_port_allowed(r, 3, "a.lab.example", 9100, true));
	CHECK(!kh_port_allowed(r, 3, "a.lab.example", 9101, true));
	CHECK(!kh_port_allowed(r, 3, "lab.example", 8443, true)); /* *.x is not x */
	CHECK(!kh_port_allowed(r, 3, "other.example", 8443, true));
	CHECK(kh_port_allowed(r, 3, "other.example", 8080, true)); /* "*": every host */
	CHECK(kh_port_allowed(r, 3, "db.example", 443, true));
	CHECK(!kh_port_allowed(r, 3, "db.example", 5432, true)); /* an empty list adds nothing */
}

int main(void)
{
	RUN(ranges);
	RUN(patterns);
	RUN(defaults_without_rules);
	RUN(rules_widen_matching_hosts_only);
	TAP_DONE();
}
