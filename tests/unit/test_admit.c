/* Admission (admit.h): every verdict, through a policy built from a real
 * config and mappings. */
#include <arpa/inet.h>
#include <stdlib.h>

#include "policy/admit.h"
#include "tap.h"

#define OPENAI_TOK "keyhole-openai-0123456789abcdef0123456789abcdef"

static struct kh_policy *policy;

static const char *config_yaml = "extra_allowed_hosts:\n"
				 "  - api.example.com\n"
				 "  - plain.test\n"
				 "  - \"*.wild.test\"\n"
				 "  - 203.0.113.7\n"
				 "  - 10.1.2.3\n"
				 "  - pinned.test\n"
				 "  - pinned-out.test\n"
				 "allowed_ports:\n"
				 "  api.example.com: [8443, \"9000-9001\"]\n"
				 "resolve:\n"
				 "  pinned.test: 10.0.0.5\n"
				 "  pinned-out.test: 198.51.100.9\n"
				 "cleartext_credential_hosts:\n"
				 "  - plain.test\n"
				 "upstream_deny_cidrs:\n"
				 "  - 10.0.0.0/8\n"
				 "  - 127.0.0.0/8\n"
				 "  - \"fd00::/8\"\n";

static const char *mappings_json =
	"{\"version\":1,\"tokens\":["
	"{\"proxy_token\":\"" OPENAI_TOK "\",\"env_name\":\"OPENAI_API_KEY\","
	"\"upstream_hosts\":[\"api.openai.com\"],\"match_headers\":[\"Authorization\"]}]}";

static void setup(void)
{
	static const char *names[] = { "OPENAI_API_KEY" };
	struct kh_secrets secrets;
	struct kh_config cfg;
	struct kh_mappings m;
	struct kh_err err;

	setenv("OPENAI_API_KEY", "sk-REAL-openai", 1);
	if (kh_secrets_load_env(&secrets, names, 1, &err) != 0 ||
	    kh_config_parse("admit.yaml", config_yaml, strlen(config_yaml), &cfg, &err) != 0 ||
	    kh_mappings_parse(mappings_json, strlen(mappings_json), &m, &err) != 0) {
		printf("# %s\n", err.msg);
		abort();
	}
	policy = kh_policy_build(&cfg, &m, &secrets, NULL, &err);
	kh_mappings_free(&m);
	kh_config_free(&cfg);
	if (policy == NULL) {
		printf("# %s\n", err.msg);
		abort();
	}
}

static void admitted_default_ports(void)
{
	struct kh_verdict v;

	CHECK(kh_admit(policy, KH_ENTRY_CONNECT, "api.example.com", 443, &v));
	CHECK(v.admitted);
	CHECK(v.reason == NULL);
	CHECK_STR(v.detail, "");
	CHECK(kh_admit(policy, KH_ENTRY_SNI, "x.wild.test", 443, &v));
	CHECK(kh_admit(policy, KH_ENTRY_TUNNEL, "api.openai.com", 443, &v)); /* mapping's host */
	CHECK(kh_admit(policy, KH_ENTRY_ABSOLUTE, "api.example.com", 80, &v));
	CHECK(kh_admit(policy, KH_ENTRY_HOST, "plain.test", 80, &v));
}

static void host_not_allowed(void)
{
	static const enum kh_admit_entry all[] = { KH_ENTRY_CONNECT, KH_ENTRY_SNI, KH_ENTRY_TUNNEL,
						   KH_ENTRY_ABSOLUTE, KH_ENTRY_HOST };

	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		struct kh_verdict v;

		CHECK(!kh_admit(policy, all[i], "evil.test", kh_admit_tls(all[i]) ? 443 : 80, &v));
		CHECK(!v.admitted);
		CHECK_INT(v.status, 403);
		CHECK_STR(v.reason, "host_not_allowed");
		CHECK_STR(v.key, "extra_allowed_hosts");
		CHECK_STR(v.detail, ""); /* the error body says it, with the config path */
		CHECK(!v.host_has_token);
	}
	{
		struct kh_verdict v;

		/* "*.wild.test" does not match the bare domain */
		CHECK(!kh_admit(policy, KH_ENTRY_CONNECT, "wild.test", 443, &v));
		CHECK_STR(v.reason, "host_not_allowed");
	}
}

static void port_not_allowed(void)
{
	struct kh_verdict v;

	CHECK(!kh_admit(policy, KH_ENTRY_CONNECT, "plain.test", 8443, &v));
	CHECK_INT(v.status, 403);
	CHECK_STR(v.reason, "port_not_allowed");
	CHECK_STR(v.key, "allowed_ports");
	CHECK_STR(v.detail, "port 8443 on plain.test is not allowed (CONNECT and TLS: port 443 "
			    "only, unless allowed_ports widens it), so this request was refused.");
	/* the default port of the other leg is not a free pass */
	CHECK(!kh_admit(policy, KH_ENTRY_SNI, "plain.test", 80, &v));
	CHECK(!kh_admit(policy, KH_ENTRY_ABSOLUTE, "plain.test", 443, &v));
	CHECK_STR(v.detail, "port 443 on plain.test is not allowed (plain HTTP: port 80 only, "
			    "unless allowed_ports widens it), so this request was refused.");
	/* allowed_ports widens both legs for its host, and only its host */
	CHECK(kh_admit(policy, KH_ENTRY_CONNECT, "api.example.com", 8443, &v));
	CHECK(kh_admit(policy, KH_ENTRY_ABSOLUTE, "api.example.com", 9001, &v));
	CHECK(!kh_admit(policy, KH_ENTRY_ABSOLUTE, "api.example.com", 9002, &v));
	CHECK(!kh_admit(policy, KH_ENTRY_CONNECT, "x.wild.test", 8443, &v));
}

static void token_in_host(void)
{
	struct kh_verdict v;

	/* an allow rule for *.wild.test would pass it: the token check comes first */
	CHECK(!kh_admit(policy, KH_ENTRY_CONNECT, "0123456789abcdef0123456789abcdef.wild.test", 443,
			&v));
	CHECK_INT(v.status, 403);
	CHECK_STR(v.reason, "token_leak_attempt");
	CHECK(v.key == NULL); /* nothing allows it */
	CHECK(v.host_has_token);
	CHECK_STR(v.detail, "a proxy token for OPENAI_API_KEY appears in the destination host "
			    "name; it is never sent anywhere");
	CHECK(strstr(v.detail, "0123456789abcdef") == NULL);
	/* before host and port too */
	CHECK(!kh_admit(policy, KH_ENTRY_HOST, "keyhole-openai-0123456789abcdef0123456789abcdef",
			1234, &v));
	CHECK_STR(v.reason, "token_leak_attempt");
}

static void ip_literal(void)
{
	struct kh_verdict v;

	CHECK(kh_admit(policy, KH_ENTRY_CONNECT, "203.0.113.7", 443, &v));
	CHECK(!kh_admit(policy, KH_ENTRY_CONNECT, "203.0.113.8", 443, &v));
	CHECK_STR(v.reason, "host_not_allowed");
	/* on the allowlist, but its address is denied: that is kh_admit_addr's call */
	CHECK(kh_admit(policy, KH_ENTRY_ABSOLUTE, "10.1.2.3", 80, &v));
}

static struct sockaddr_storage addr(const char *ip)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	else
		abort();
	return ss;
}

static bool admit_addr(const char *host, bool is_ip, const char *ip, struct kh_verdict *v)
{
	struct sockaddr_storage ss = addr(ip);

	return kh_admit_addr(policy, host, is_ip, (const struct sockaddr *)&ss, v);
}

static void denied_address(void)
{
	struct kh_verdict v;

	CHECK(admit_addr("api.example.com", false, "93.184.216.34", &v));
	CHECK(v.admitted);
	CHECK(!admit_addr("api.example.com", false, "127.0.0.1", &v));
	CHECK_INT(v.status, 403);
	CHECK_STR(v.reason, "deny_cidr");
	CHECK_STR(v.key, "upstream_deny_cidrs");
	CHECK_STR(v.detail, "api.example.com resolved to 127.0.0.1, which is inside the denied "
			    "range 127.0.0.0/8 (upstream_deny_cidrs)");
	/* an IP literal names no name */
	CHECK(!admit_addr("10.1.2.3", true, "10.1.2.3", &v));
	CHECK_STR(v.detail, "10.1.2.3 is inside the denied range 10.0.0.0/8 (upstream_deny_cidrs)");
	CHECK(!admit_addr("api.example.com", false, "fd12::1", &v));
	CHECK_STR(v.reason, "deny_cidr");
}

static void denied_embedded_ipv4(void)
{
	struct kh_verdict v;

	/* IPv4-mapped and NAT64 forms of a denied IPv4 address are that address */
	CHECK(!admit_addr("api.example.com", false, "::ffff:127.0.0.1", &v));
	CHECK_STR(v.reason, "deny_cidr");
	CHECK(strstr(v.detail, "for 127.0.0.1)") != NULL);
	CHECK(strstr(v.detail, "127.0.0.0/8") != NULL);
	CHECK(!admit_addr("::ffff:10.9.9.9", true, "::ffff:10.9.9.9", &v));
	CHECK(strstr(v.detail, "for 10.9.9.9) is inside the denied range 10.0.0.0/8") != NULL);
	CHECK(!admit_addr("api.example.com", false, "64:ff9b::a00:1", &v));
	CHECK(strstr(v.detail, "for 10.0.0.1)") != NULL);
	CHECK(admit_addr("api.example.com", false, "::ffff:93.184.216.34", &v));
}

static void pins(void)
{
	const struct kh_pin *pin = kh_policy_pin(policy, "pinned.test");
	struct kh_verdict v;

	CHECK(pin != NULL);
	if (pin == NULL)
		return;
	/* a pin is checked like any address, and the refusal says it was a pin */
	CHECK(!kh_admit_addr(policy, "pinned.test", false, (const struct sockaddr *)&pin->addr,
			     &v));
	CHECK_STR(v.reason, "deny_cidr");
	CHECK_STR(v.detail, "pinned.test is pinned (resolve:) to 10.0.0.5, which is inside the "
			    "denied range 10.0.0.0/8 (upstream_deny_cidrs)");
	pin = kh_policy_pin(policy, "pinned-out.test");
	CHECK(pin != NULL);
	if (pin != NULL)
		CHECK(kh_admit_addr(policy, "pinned-out.test", false,
				    (const struct sockaddr *)&pin->addr, &v));
}

static void cleartext_not_allowed(void)
{
	struct kh_verdict v;

	CHECK(kh_admit_cleartext(policy, "api.example.com", true, "OPENAI_API_KEY", &v));
	CHECK(kh_admit_cleartext(policy, "plain.test", false, "OPENAI_API_KEY", &v));
	CHECK(!kh_admit_cleartext(policy, "api.example.com", false, "OPENAI_API_KEY", &v));
	CHECK_INT(v.status, 403);
	CHECK_STR(v.reason, "cleartext_credential");
	CHECK_STR(v.key, "cleartext_credential_hosts");
	CHECK_STR(v.detail, "refusing to send the OPENAI_API_KEY credential to api.example.com "
			    "over plain HTTP; use https or list the host in "
			    "cleartext_credential_hosts");
}

static void entries_and_legs(void)
{
	CHECK(kh_admit_tls(KH_ENTRY_CONNECT));
	CHECK(kh_admit_tls(KH_ENTRY_SNI));
	CHECK(kh_admit_tls(KH_ENTRY_TUNNEL));
	CHECK(!kh_admit_tls(KH_ENTRY_ABSOLUTE));
	CHECK(!kh_admit_tls(KH_ENTRY_HOST));
}

int main(void)
{
	setup();
	RUN(admitted_default_ports);
	RUN(host_not_allowed);
	RUN(port_not_allowed);
	RUN(token_in_host);
	RUN(ip_literal);
	RUN(denied_address);
	RUN(denied_embedded_ipv4);
	RUN(pins);
	RUN(cleartext_not_allowed);
	RUN(entries_and_legs);
	kh_policy_unref(policy);
	TAP_DONE();
}
