#include "policy/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <unistd.h>

#include "tap.h"

static int parse(const char *yaml, struct kh_config *c, struct kh_err *e)
{
	return kh_config_parse("cfg.yaml", yaml, strlen(yaml), c, e);
}

static int starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Parse must fail with a message starting with want; free twice to show
 * kh_config_free is safe after a failed parse and idempotent. */
#define EXPECT_ERR(yaml, want)                                                  \
	do {                                                                    \
		struct kh_config c_;                                            \
		struct kh_err e_ = { { 0 } };                                   \
		CHECK_INT(parse((yaml), &c_, &e_), -1);                         \
		if (!starts_with(e_.msg, (want))) {                             \
			printf("#   got:  %s\n#   want: %s\n", e_.msg, (want)); \
			CHECK(starts_with(e_.msg, (want)));                     \
		}                                                               \
		kh_config_free(&c_);                                            \
		kh_config_free(&c_);                                            \
	} while (0)

#define EXPECT_OK(yaml, c)                                            \
	do {                                                          \
		struct kh_err e_ = { { 0 } };                         \
		int rc_ = parse((yaml), (c), &e_);                    \
		if (rc_ != 0)                                         \
			printf("#   unexpected error: %s\n", e_.msg); \
		CHECK_INT(rc_, 0);                                    \
	} while (0)

static void check_defaults(const struct kh_config *c)
{
	struct kh_cidr want;

	CHECK(!c->enabled);
	CHECK_INT(c->tunnel_port, 9090);
	CHECK_INT(c->credential_source, KH_CRED_ENV);
	CHECK(c->enforce_on_docker);
	CHECK(!c->fail_on_uncovered_providers);
	CHECK(!c->allow_env_fallback);
	CHECK(!c->deny_cidrs_explicit);
	CHECK_INT(c->n_deny_cidrs, kh_default_deny_cidrs_count);
	for (size_t i = 0; i < c->n_deny_cidrs && i < kh_default_deny_cidrs_count; i++) {
		CHECK_INT(kh_cidr_parse(kh_default_deny_cidrs[i], &want, NULL), 0);
		CHECK(memcmp(&c->deny_cidrs[i], &want, sizeof want) == 0);
	}
	CHECK_INT(c->n_extra_allowed_hosts, 0);
	CHECK_INT(c->n_dns_servers, 0);
	CHECK_INT(c->n_listen, 0);
	CHECK_STR(c->upstream_ca_file, "");
	CHECK_INT(c->n_pins, 0);
	CHECK_INT(c->n_port_rules, 0); /* 443 (TLS) and 80 (plain HTTP) only */
	CHECK_INT(c->n_cleartext_credential_hosts, 0);
	CHECK(c->scrub_responses);
	CHECK_INT(c->workers, 0);
	CHECK_INT(c->cert_cache_size, KH_DEFAULT_CERT_CACHE);
	CHECK_INT(c->busy_poll_us, KH_DEFAULT_BUSY_POLL_US);
	CHECK_INT(c->timeouts.handshake, KH_DEFAULT_HANDSHAKE_TIMEOUT);
	CHECK_INT(c->timeouts.header, KH_DEFAULT_HEADER_TIMEOUT);
	CHECK_INT(c->timeouts.keepalive, KH_DEFAULT_KEEPALIVE_TIMEOUT);
	CHECK_INT(c->timeouts.connect, KH_DEFAULT_CONNECT_TIMEOUT);
	CHECK_INT(c->timeouts.response, KH_DEFAULT_RESPONSE_TIMEOUT);
	CHECK_INT(c->timeouts.idle, KH_DEFAULT_IDLE_TIMEOUT);
	CHECK_INT(c->timeouts.shutdown_grace, KH_DEFAULT_SHUTDOWN_GRACE);
	CHECK_INT(c->limits.max_connections, KH_DEFAULT_MAX_CONNECTIONS);
	CHECK_INT(c->limits.max_header_bytes, KH_DEFAULT_MAX_HEADER_BYTES);
	CHECK_INT(c->limits.max_headers, KH_DEFAULT_MAX_HEADERS);
	CHECK_INT(c->log_level, KH_LOG_INFO);
	CHECK_STR(c->bitwarden_project_id, "");
	CHECK_STR(c->bitwarden_token_env, "BWS_ACCESS_TOKEN");
	CHECK_STR(c->credential_command, "");
	CHECK_INT(c->sandbox_token_save_interval, KH_DEFAULT_GRANT_SAVE_SECS);
	CHECK_INT(c->n_warnings, 0);
}

static void defaults(void)
{
	struct kh_config c;

	kh_config_defaults(&c);
	check_defaults(&c);
	CHECK_STR(c.path, "");
	CHECK(!c.file_existed);
	kh_config_free(&c);
	kh_config_free(&c);
	CHECK(c.deny_cidrs == NULL);
	kh_config_free(NULL);
}

static void empty_documents(void)
{
	static const char *const empties[] = { "",    "# just a comment\n", "---\n",
					       "~\n", "---\n...\n",         "\n\n" };
	struct kh_config c;

	for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
		EXPECT_OK(empties[i], &c);
		check_defaults(&c);
		CHECK_STR(c.path, "cfg.yaml");
		kh_config_free(&c);
	}
}

static void seed_file(void)
{
	struct kh_config c;

	EXPECT_OK("enabled: true\n"
		  "tunnel_port: 9090\n"
		  "credential_source: env\n"
		  "enforce_on_docker: true\n"
		  "fail_on_uncovered_providers: false\n"
		  "allow_env_fallback: false\n"
		  "upstream_deny_cidrs: null\n"
		  "extra_allowed_hosts: []\n",
		  &c);
	CHECK(c.enabled);
	CHECK_INT(c.tunnel_port, 9090);
	CHECK_INT(c.credential_source, KH_CRED_ENV);
	CHECK(c.enforce_on_docker);
	CHECK(!c.deny_cidrs_explicit);
	CHECK_INT(c.n_deny_cidrs, kh_default_deny_cidrs_count);
	CHECK_INT(c.n_extra_allowed_hosts, 0);
	CHECK(c.extra_allowed_hosts == NULL);
	CHECK_INT(c.n_warnings, 0);
	kh_config_free(&c);
}

static void booleans(void)
{
	struct kh_config c;

	EXPECT_OK("enabled: yes\nenforce_on_docker: Off\nfail_on_uncovered_providers: ON\n"
		  "allow_env_fallback: TRUE\n",
		  &c);
	CHECK(c.enabled);
	CHECK(!c.enforce_on_docker);
	CHECK(c.fail_on_uncovered_providers);
	CHECK(c.allow_env_fallback);
	kh_config_free(&c);
	EXPECT_OK("enabled: 'true'\nenforce_on_docker: no\n", &c);
	CHECK(c.enabled);
	CHECK(!c.enforce_on_docker);
	kh_config_free(&c);
	EXPECT_ERR("enabled: true\n\nallow_env_fallback: maybe\n",
		   "cfg.yaml:3: allow_env_fallback: must be true or false (yes/no and on/off also "
		   "work), got 'maybe'");
	EXPECT_ERR("enabled: 1\n", "cfg.yaml:1: enabled: must be true or false");
	EXPECT_ERR("enabled: [true]\n", "cfg.yaml:1: enabled: must be a single value, got a list");
	EXPECT_ERR("enabled: ''\n", "cfg.yaml:1: enabled: must be true or false");
}

static void numbers(void)
{
	struct kh_config c;

	EXPECT_OK("tunnel_port: 1\nworkers: 0\ncert_cache_size: 100000\nbusy_poll_us: 0\n", &c);
	CHECK_INT(c.tunnel_port, 1);
	CHECK_INT(c.workers, 0);
	CHECK_INT(c.cert_cache_size, 100000);
	CHECK_INT(c.busy_poll_us, 0);
	kh_config_free(&c);
	EXPECT_OK("tunnel_port: \"65535\"\nworkers: 64\n", &c);
	CHECK_INT(c.tunnel_port, 65535);
	CHECK_INT(c.workers, 64);
	kh_config_free(&c);
	EXPECT_ERR("enabled: true\ntunnel_port: abc\n",
		   "cfg.yaml:2: tunnel_port: must be an integer 0-65535, got 'abc'");
	EXPECT_OK("tunnel_port: 0\n", &c); /* any free port, printed at start (tests) */
	CHECK_INT(c.tunnel_port, 0);
	kh_config_free(&c);
	EXPECT_ERR("tunnel_port: 65536\n", "cfg.yaml:1: tunnel_port: must be an integer 0-65535");
	EXPECT_ERR("tunnel_port: -1\n", "cfg.yaml:1: tunnel_port: must be an integer");
	EXPECT_ERR("tunnel_port: 0x10\n", "cfg.yaml:1: tunnel_port: must be an integer");
	EXPECT_ERR("tunnel_port: 1_000\n", "cfg.yaml:1: tunnel_port: must be an integer");
	EXPECT_ERR("tunnel_port: 90.5\n", "cfg.yaml:1: tunnel_port: must be an integer");
	EXPECT_ERR("tunnel_port: \"90\\0\"\n", "cfg.yaml:1: tunnel_port: contains a NUL byte");
	EXPECT_ERR("tunnel_port: 99999999999999999999999\n", "cfg.yaml:1: tunnel_port: must be");
	EXPECT_ERR("workers: 65\n", "cfg.yaml:1: workers: must be an integer 0-64, got '65'");
	EXPECT_ERR("busy_poll_us: 1001\n",
		   "cfg.yaml:1: busy_poll_us: must be an integer 0-1000, got '1001'");
	EXPECT_ERR("cert_cache_size: 0\n",
		   "cfg.yaml:1: cert_cache_size: must be an integer 1-100000");
}

static void null_keeps_default(void)
{
	struct kh_config c;

	EXPECT_OK("enabled:\ntunnel_port: ~\ncredential_source: null\nlog_level: NULL\n"
		  "upstream_deny_cidrs:\nextra_allowed_hosts: ~\nlisten:\nresolve:\ntimeouts:\n"
		  "limits: ~\nbitwarden:\ncredential_command:\nupstream_ca_file: ~\nworkers:\n"
		  "cert_cache_size:\nenforce_on_docker: Null\ncleartext_credential_hosts:\n",
		  &c);
	check_defaults(&c);
	kh_config_free(&c);
	EXPECT_OK("timeouts:\n  header: ~\n  idle: 5\nbitwarden:\n  access_token_env:\n", &c);
	CHECK_INT(c.timeouts.header, KH_DEFAULT_HEADER_TIMEOUT);
	CHECK_INT(c.timeouts.idle, 5);
	CHECK_STR(c.bitwarden_token_env, "BWS_ACCESS_TOKEN");
	kh_config_free(&c);
	/* A quoted null is a string, not null. */
	EXPECT_ERR("tunnel_port: 'null'\n", "cfg.yaml:1: tunnel_port: must be an integer");
}

static void enums(void)
{
	struct kh_config c;

	EXPECT_OK("credential_source: bitwarden\nlog_level: debug\n", &c);
	CHECK_INT(c.credential_source, KH_CRED_BITWARDEN);
	CHECK_INT(c.log_level, KH_LOG_DEBUG);
	kh_config_free(&c);
	EXPECT_OK("credential_source: command\nlog_level: error\n", &c);
	CHECK_INT(c.credential_source, KH_CRED_COMMAND);
	CHECK_INT(c.log_level, KH_LOG_ERROR);
	kh_config_free(&c);
	EXPECT_ERR("credential_source: vault\n",
		   "cfg.yaml:1: credential_source: must be env, bitwarden or command, got 'vault'");
	EXPECT_ERR("\nlog_level: verbose\n",
		   "cfg.yaml:2: log_level: must be debug, info, warn or error, got 'verbose'");
	CHECK_STR(kh_cred_source_name(KH_CRED_ENV), "env");
	CHECK_STR(kh_cred_source_name(KH_CRED_BITWARDEN), "bitwarden");
	CHECK_STR(kh_cred_source_name(KH_CRED_COMMAND), "command");
}

static void deny_cidrs(void)
{
	struct kh_config c;
	char buf[64];

	EXPECT_OK("upstream_deny_cidrs:\n  - 10.0.0.0/8\n  - \"fd00::/8\"\n", &c);
	CHECK(c.deny_cidrs_explicit);
	CHECK_INT(c.n_deny_cidrs, 2);
	kh_cidr_format(&c.deny_cidrs[1], buf, sizeof buf);
	CHECK_STR(buf, "fd00::/8");
	kh_config_free(&c);
	EXPECT_OK("upstream_deny_cidrs: []\n", &c);
	CHECK(c.deny_cidrs_explicit);
	CHECK_INT(c.n_deny_cidrs, 0);
	CHECK(c.deny_cidrs == NULL);
	kh_config_free(&c);
	EXPECT_ERR("enabled: true\nupstream_deny_cidrs:\n  - 10.0.0.0/8\n  - 192.168.0.0/16\n"
		   "  - 10.0.0.1/8\n",
		   "cfg.yaml:5: upstream_deny_cidrs[2]: '10.0.0.1/8' has bits set past the /8 "
		   "prefix; write the network address");
	EXPECT_ERR("upstream_deny_cidrs: [10.0.0.0]\n",
		   "cfg.yaml:1: upstream_deny_cidrs[0]: '10.0.0.0' needs a /prefix length");
	EXPECT_ERR("upstream_deny_cidrs: 10.0.0.0/8\n",
		   "cfg.yaml:1: upstream_deny_cidrs: must be a list");
	EXPECT_ERR("upstream_deny_cidrs: [[10.0.0.0/8]]\n",
		   "cfg.yaml:1: upstream_deny_cidrs[0]: must be a single value, got a list");
	EXPECT_ERR("upstream_deny_cidrs: [\"10.0.0.0/8\\n\"]\n",
		   "cfg.yaml:1: upstream_deny_cidrs[0]: '10.0.0.0/8?' is not a CIDR range");
}

static void too_many(void)
{
	static char yaml[64 * 1024];
	size_t len = 0;
	int n;

	n = snprintf(yaml, sizeof yaml, "upstream_deny_cidrs: [");
	len = (size_t)n;
	for (int i = 0; i <= KH_MAX_DENY_CIDRS; i++) {
		n = snprintf(yaml + len, sizeof yaml - len, "10.0.0.0/8,");
		len += (size_t)n;
	}
	snprintf(yaml + len, sizeof yaml - len, "]\n");
	EXPECT_ERR(yaml, "cfg.yaml:1: upstream_deny_cidrs: has 1025 entries; at most 1024 are "
			 "allowed");
	len = (size_t)snprintf(yaml, sizeof yaml, "listen: [");
	for (int i = 0; i <= KH_MAX_LISTENERS; i++)
		len += (size_t)snprintf(yaml + len, sizeof yaml - len, "\"127.0.0.1:%d\",",
					1000 + i);
	snprintf(yaml + len, sizeof yaml - len, "]\n");
	EXPECT_ERR(yaml, "cfg.yaml:1: listen: has 17 entries; at most 16 are allowed");
	len = (size_t)snprintf(yaml, sizeof yaml, "allowed_ports: {a.example: [");
	for (int i = 0; i <= KH_MAX_PORT_RANGES; i++)
		len += (size_t)snprintf(yaml + len, sizeof yaml - len, "%d,", 1000 + i);
	snprintf(yaml + len, sizeof yaml - len, "]}\n");
	EXPECT_ERR(yaml, "cfg.yaml:1: allowed_ports.a.example: has 65 entries; at most 64 are "
			 "allowed");
	len = (size_t)snprintf(yaml, sizeof yaml, "allowed_ports: {");
	for (int i = 0; i <= KH_MAX_PORT_RULES; i++)
		len += (size_t)snprintf(yaml + len, sizeof yaml - len, "h%d.example: [1],", i);
	snprintf(yaml + len, sizeof yaml - len, "}\n");
	EXPECT_ERR(yaml, "cfg.yaml:1: allowed_ports: has 1025 entries; at most 1024 are allowed");
}

static void host_lists(void)
{
	struct kh_config c;

	EXPECT_OK("extra_allowed_hosts:\n  - API.Example.COM.\n  - '*.Internal.example'\n"
		  "cleartext_credential_hosts: [ollama.lan, 127.0.0.1]\nscrub_responses: false\n",
		  &c);
	CHECK(!c.scrub_responses);
	CHECK_INT(c.n_extra_allowed_hosts, 2);
	if (c.n_extra_allowed_hosts == 2) {
		CHECK_STR(c.extra_allowed_hosts[0], "api.example.com");
		CHECK_STR(c.extra_allowed_hosts[1], "*.internal.example");
	}
	CHECK_INT(c.n_cleartext_credential_hosts, 2);
	if (c.n_cleartext_credential_hosts == 2) {
		CHECK_STR(c.cleartext_credential_hosts[0], "ollama.lan");
		CHECK_STR(c.cleartext_credential_hosts[1], "127.0.0.1");
	}
	kh_config_free(&c);
	EXPECT_ERR("extra_allowed_hosts:\n  - ok.example\n  - '*'\n",
		   "cfg.yaml:3: extra_allowed_hosts[1]: '*' would match every host; write "
		   "\"host.example.com\" or \"*.example.com\"");
	EXPECT_ERR("extra_allowed_hosts: [\"https://api.example.com\"]\n",
		   "cfg.yaml:1: extra_allowed_hosts[0]: 'https://api.example.com' is not a host "
		   "pattern; write \"host.example.com\" or \"*.example.com\"");
	EXPECT_ERR("extra_allowed_hosts: [api.*.com]\n",
		   "cfg.yaml:1: extra_allowed_hosts[0]: 'api.*.com' is not a host pattern");
	EXPECT_ERR("cleartext_credential_hosts: [\"*.1.2.3.4\"]\n",
		   "cfg.yaml:1: cleartext_credential_hosts[0]: '*.1.2.3.4' is not a host pattern");
	EXPECT_ERR("cleartext_credential_hosts: [host:80]\n",
		   "cfg.yaml:1: cleartext_credential_hosts[0]: 'host:80' is not a host pattern");
	EXPECT_ERR("extra_allowed_hosts: api.example.com\n",
		   "cfg.yaml:1: extra_allowed_hosts: must be a list, e.g. [\"api.example.com\", "
		   "\"*.example.com\"]; got a single value");
	EXPECT_ERR("extra_allowed_hosts: [\"\"]\n",
		   "cfg.yaml:1: extra_allowed_hosts[0]: '' is not a host pattern");
}

static void allowed_ports(void)
{
	struct kh_config c;

	EXPECT_OK("allowed_ports:\n  API.Example.COM.: [8443, \"9000-9100\"]\n  \"*\": [8080]\n"
		  "  \"*.lab.example\": []\n",
		  &c);
	CHECK_INT(c.n_port_rules, 3);
	if (c.n_port_rules == 3) {
		CHECK_STR(c.port_rules[0].pattern, "api.example.com");
		CHECK_INT(c.port_rules[0].n_ranges, 2);
		CHECK(c.port_rules[0].ranges[0].lo == 8443 && c.port_rules[0].ranges[0].hi == 8443);
		CHECK(c.port_rules[0].ranges[1].lo == 9000 && c.port_rules[0].ranges[1].hi == 9100);
		CHECK_STR(c.port_rules[1].pattern, "*");
		CHECK_STR(c.port_rules[2].pattern, "*.lab.example");
		CHECK_INT(c.port_rules[2].n_ranges, 0);
		CHECK(kh_port_allowed(c.port_rules, 3, "api.example.com", 9050, true));
		CHECK(!kh_port_allowed(c.port_rules, 3, "a.lab.example", 9050, true));
	}
	kh_config_free(&c);
	EXPECT_OK("allowed_ports: ~\n", &c);
	CHECK_INT(c.n_port_rules, 0);
	kh_config_free(&c);
	EXPECT_ERR("allowed_ports: [8443]\n",
		   "cfg.yaml:1: allowed_ports: must be a mapping of host pattern: ports, e.g. "
		   "{api.example.com: [8443, \"9000-9100\"]}; got a list");
	EXPECT_ERR("allowed_ports:\n  api.example.com: 8443\n",
		   "cfg.yaml:2: allowed_ports.api.example.com: must be a list, e.g. [8443, "
		   "\"9000-9100\"]; got a single value");
	EXPECT_ERR("allowed_ports:\n  api.example.com: [8443, 0]\n",
		   "cfg.yaml:2: allowed_ports.api.example.com[1]: '0' is not a port 1-65535 or a "
		   "range like \"9000-9100\"");
	EXPECT_ERR("allowed_ports:\n  api.example.com: [\"9100-9000\"]\n",
		   "cfg.yaml:2: allowed_ports.api.example.com[0]: '9100-9000' is not a port");
	EXPECT_ERR("allowed_ports:\n  api.example.com: [65536]\n",
		   "cfg.yaml:2: allowed_ports.api.example.com[0]: '65536' is not a port");
	EXPECT_ERR("allowed_ports:\n  \"api.*.com\": [8443]\n",
		   "cfg.yaml:2: allowed_ports.api.*.com: 'api.*.com' is not a host pattern; write "
		   "\"host.example.com\", \"*.example.com\" or \"*\" (every allowed host)");
	EXPECT_ERR("allowed_ports:\n  a.example: [1]\n  a.example: [2]\n",
		   "cfg.yaml:3: allowed_ports.a.example: duplicate key");
	EXPECT_ERR("allowed_ports:\n  a.example: [[1]]\n",
		   "cfg.yaml:2: allowed_ports.a.example[0]: must be a single value, got a list");
}

static void aws_buckets(void)
{
	struct kh_config c;

	EXPECT_OK("scrub_responses: true\n", &c);
	CHECK(!c.aws_buckets_set);
	CHECK_INT(c.n_aws_buckets, 0);
	kh_config_free(&c);
	EXPECT_OK("aws:\n  buckets: ~\n", &c);
	CHECK(!c.aws_buckets_set);
	kh_config_free(&c);
	EXPECT_OK("aws:\n  buckets: []\n", &c);
	CHECK(c.aws_buckets_set);
	CHECK_INT(c.n_aws_buckets, 0);
	kh_config_free(&c);
	EXPECT_OK("aws:\n  buckets:\n    - my-team-data\n    - logs.example.com\n", &c);
	CHECK(c.aws_buckets_set);
	CHECK_INT(c.n_aws_buckets, 2);
	if (c.n_aws_buckets == 2) {
		CHECK_STR(c.aws_buckets[0], "my-team-data");
		CHECK_STR(c.aws_buckets[1], "logs.example.com");
	}
	kh_config_free(&c);
	CHECK(!c.aws_buckets_set && c.aws_buckets == NULL);
	EXPECT_ERR("aws:\n  buckets: [ok-bucket, My_Bucket]\n",
		   "cfg.yaml:2: aws.buckets[1]: 'My_Bucket' is not an S3 bucket name");
	EXPECT_ERR("aws:\n  buckets: my-bucket\n", "cfg.yaml:2: aws.buckets: must be a list");
	EXPECT_ERR("aws: [x]\n", "cfg.yaml:1: aws: must be a mapping");
}

static void listen_addrs(void)
{
	struct kh_config c;
	const struct sockaddr_in *s4;
	const struct sockaddr_in6 *s6;

	EXPECT_OK("listen:\n  - 127.0.0.1:9090\n  - \"[::1]:0\"\n  - '[2001:DB8::1]:443'\n"
		  "  - 127.0.0.1:0\n  - 127.0.0.1:0\n",
		  &c);
	CHECK_INT(c.n_listen, 5);
	CHECK_STR(c.listen[0].text, "127.0.0.1:9090");
	s4 = (const struct sockaddr_in *)&c.listen[0].addr;
	CHECK_INT(s4->sin_family, AF_INET);
	CHECK_INT(ntohs(s4->sin_port), 9090);
	CHECK_INT(ntohl(s4->sin_addr.s_addr), 0x7f000001);
	CHECK_INT(c.listen[0].addrlen, sizeof(struct sockaddr_in));
	CHECK_STR(c.listen[1].text, "[::1]:0");
	s6 = (const struct sockaddr_in6 *)&c.listen[1].addr;
	CHECK_INT(s6->sin6_family, AF_INET6);
	CHECK_INT(ntohs(s6->sin6_port), 0);
	CHECK(IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr));
	CHECK_INT(c.listen[1].addrlen, sizeof(struct sockaddr_in6));
	CHECK_STR(c.listen[2].text, "[2001:db8::1]:443");
	kh_config_free(&c);
	EXPECT_ERR("listen: [\"localhost:9090\"]\n",
		   "cfg.yaml:1: listen[0]: 'localhost:9090' is not a listen address; write "
		   "\"127.0.0.1:9090\" or \"[::1]:9090\" (an IP address, not a name; port 0 picks "
		   "a free one)");
	EXPECT_ERR("listen:\n  - 127.0.0.1:1\n  - \"::1:9090\"\n",
		   "cfg.yaml:3: listen[1]: '::1:9090' is not a listen address");
	EXPECT_ERR("listen: [127.0.0.1]\n", "cfg.yaml:1: listen[0]: '127.0.0.1' is not a listen");
	EXPECT_ERR("listen: [\"[::1]\"]\n", "cfg.yaml:1: listen[0]: '[::1]' is not a listen");
	EXPECT_ERR("listen: [\"[::1]9090\"]\n", "cfg.yaml:1: listen[0]: '[::1]9090' is not a");
	EXPECT_ERR("listen: [\"[127.0.0.1]:80\"]\n", "cfg.yaml:1: listen[0]: '[127.0.0.1]:80' is");
	EXPECT_ERR("listen: [1.2.3.4:65536]\n", "cfg.yaml:1: listen[0]: '1.2.3.4:65536' is not");
	EXPECT_ERR("listen: [\"1.2.3.4:\"]\n", "cfg.yaml:1: listen[0]: '1.2.3.4:' is not");
	EXPECT_ERR("listen: [\"01.2.3.4:80\"]\n", "cfg.yaml:1: listen[0]: '01.2.3.4:80' is not");
	EXPECT_ERR("listen: [\"[fe80::1%eth0]:80\"]\n",
		   "cfg.yaml:1: listen[0]: '[fe80::1%eth0]:80'");
	EXPECT_ERR("listen: [127.0.0.1:80, 127.0.0.1:80]\n",
		   "cfg.yaml:1: listen[1]: '127.0.0.1:80' is listed twice");
	EXPECT_ERR("listen: {a: b}\n", "cfg.yaml:1: listen: must be a list");
}

static void metrics_listen(void)
{
	struct kh_config c;

	kh_config_defaults(&c);
	CHECK(c.metrics_enabled);
	CHECK_STR(c.metrics_listen.text, "127.0.0.1:0");
	kh_config_free(&c);
	EXPECT_OK("metrics_listen: \"[::1]:9091\"\n", &c);
	CHECK(c.metrics_enabled);
	CHECK_STR(c.metrics_listen.text, "[::1]:9091");
	kh_config_free(&c);
	EXPECT_OK("metrics_listen: 127.0.0.2:9091\n", &c);
	CHECK_STR(c.metrics_listen.text, "127.0.0.2:9091");
	kh_config_free(&c);
	EXPECT_OK("metrics_listen: \"off\"\n", &c);
	CHECK(!c.metrics_enabled);
	kh_config_free(&c);
	EXPECT_ERR("metrics_listen: 0.0.0.0:9091\n",
		   "cfg.yaml:1: metrics_listen: '0.0.0.0:9091' is not a loopback listen address");
	EXPECT_ERR("metrics_listen: \"[::]:9091\"\n", "cfg.yaml:1: metrics_listen: '[::]:9091'");
	EXPECT_ERR("metrics_listen: 10.0.0.1:1\n", "cfg.yaml:1: metrics_listen: '10.0.0.1:1'");
	EXPECT_ERR("metrics_listen: localhost:1\n", "cfg.yaml:1: metrics_listen: 'localhost:1'");
	EXPECT_ERR("metrics_listen: [a]\n", "cfg.yaml:1: metrics_listen:");
}

static void resolve_pins(void)
{
	static const uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff, 127, 0, 0, 2 };
	const struct sockaddr_in6 *s6;
	const struct sockaddr_in *s4;
	struct kh_config c;

	EXPECT_OK("resolve:\n  API.example.com.: 203.0.113.7\n  v6.example.com: \"2001:db8::7\"\n"
		  "  mapped.example.com: \"::ffff:127.0.0.2\"\n",
		  &c);
	CHECK_INT(c.n_pins, 3);
	if (c.n_pins == 3) {
		CHECK_STR(c.pins[0].host, "api.example.com");
		s4 = (const struct sockaddr_in *)&c.pins[0].addr;
		CHECK_INT(s4->sin_family, AF_INET);
		CHECK_INT(s4->sin_port, 0);
		CHECK_INT(ntohl(s4->sin_addr.s_addr), 0xcb007107);
		CHECK_INT(c.pins[0].addrlen, sizeof(struct sockaddr_in));
		CHECK_STR(c.pins[1].host, "v6.example.com");
		s6 = (const struct sockaddr_in6 *)&c.pins[1].addr;
		CHECK_INT(s6->sin6_family, AF_INET6);
		CHECK_INT(s6->sin6_port, 0);
		CHECK_INT(s6->sin6_addr.s6_addr[15], 7);
		CHECK_INT(c.pins[1].addrlen, sizeof(struct sockaddr_in6));
		CHECK_STR(c.pins[2].host, "mapped.example.com");
		s6 = (const struct sockaddr_in6 *)&c.pins[2].addr;
		CHECK_INT(s6->sin6_family, AF_INET6);
		CHECK(memcmp(s6->sin6_addr.s6_addr, mapped, 16) == 0);
	}
	kh_config_free(&c);
	EXPECT_OK("resolve: {}\n", &c);
	CHECK_INT(c.n_pins, 0);
	kh_config_free(&c);
	EXPECT_ERR(
		"resolve:\n  ok.example: 1.2.3.4\n  '*.example.com': 1.2.3.4\n",
		"cfg.yaml:3: resolve.*.example.com: '*.example.com' is not a host name; pins are "
		"for exact names like api.example.com (no wildcards, no addresses)");
	EXPECT_ERR("resolve:\n  1.2.3.4: 5.6.7.8\n",
		   "cfg.yaml:2: resolve.1.2.3.4: '1.2.3.4' is not");
	EXPECT_ERR("resolve:\n  api.example.com: api2.example.com\n",
		   "cfg.yaml:2: resolve.api.example.com: must be an IP address like 203.0.113.7 or "
		   "2001:db8::7, optionally with a port");
	EXPECT_ERR("resolve:\n  api.example.com: '1.2.3.4:0'\n",
		   "cfg.yaml:2: resolve.api.example.com: must be an IP address");
	EXPECT_OK("resolve:\n  api.example.com: '127.0.0.1:8443'\n  b.example: '[::1]:9'\n", &c);
	CHECK_INT(c.pins[0].port, 8443);
	CHECK_INT(c.pins[1].port, 9);
	kh_config_free(&c);
	EXPECT_OK("resolve:\n  api.example.com: 127.0.0.1\n", &c);
	CHECK_INT(c.pins[0].port, 0); /* no port: the request's */
	kh_config_free(&c);
	EXPECT_ERR("resolve:\n  a.example: 1.2.3.4\n  A.example.: 1.2.3.5\n",
		   "cfg.yaml:3: resolve.A.example.: 'a.example' is pinned twice");
	EXPECT_ERR("resolve:\n  a.example: 1.2.3.4\n  a.example: 1.2.3.5\n",
		   "cfg.yaml:3: resolve.a.example: duplicate key; first set on line 2");
	EXPECT_ERR("resolve:\n  a.example:\n",
		   "cfg.yaml:2: resolve.a.example: needs an IP address");
	EXPECT_ERR("resolve:\n  a.example: [1.2.3.4]\n",
		   "cfg.yaml:2: resolve.a.example: must be a single value, got a list");
	EXPECT_ERR("resolve: [a.example]\n",
		   "cfg.yaml:1: resolve: must be a mapping of host: address");
	EXPECT_ERR("resolve:\n  [a]: 1.2.3.4\n", "cfg.yaml:2: resolve: keys must be plain names");
}

static void dns_servers(void)
{
	struct kh_config c;

	EXPECT_OK("dns_servers: [\"192.0.2.53\", \"192.0.2.54:5353\", \"2001:db8::53\", "
		  "\"[2001:db8::54]:5353\"]\n",
		  &c);
	CHECK_INT(c.n_dns_servers, 4);
	if (c.n_dns_servers == 4) {
		CHECK_STR(c.dns_servers[0], "192.0.2.53:53");
		CHECK_STR(c.dns_servers[1], "192.0.2.54:5353");
		CHECK_STR(c.dns_servers[2], "[2001:db8::53]:53");
		CHECK_STR(c.dns_servers[3], "[2001:db8::54]:5353");
	}
	kh_config_free(&c);
	EXPECT_OK("dns_servers: ~\n", &c);
	CHECK_INT(c.n_dns_servers, 0); /* /etc/resolv.conf */
	kh_config_free(&c);
	EXPECT_ERR("dns_servers: [\"1.1.1.1\", dns.example.com]\n",
		   "cfg.yaml:1: dns_servers[1]: 'dns.example.com' is not a DNS server address");
	EXPECT_ERR("dns_servers: [\"192.0.2.53:0\"]\n",
		   "cfg.yaml:1: dns_servers[0]: '192.0.2.53:0' is not a DNS server address");
	EXPECT_ERR("dns_servers: 192.0.2.53\n", "cfg.yaml:1: dns_servers: must be a list");
	EXPECT_ERR("dns_servers: [1.1.1.1, 1.1.1.2, 1.1.1.3, 1.1.1.4, 1.1.1.5, 1.1.1.6, 1.1.1.7, "
		   "1.1.1.8, 1.1.1.9]\n",
		   "cfg.yaml:1: dns_servers: has 9 entries; at most 8 are allowed");
}

static void timeouts(void)
{
	struct kh_config c;

	EXPECT_OK("timeouts:\n  handshake: 30s\n  header: 5m\n  keepalive: 1h\n  connect: 45\n"
		  "  response: \"86400\"\n  idle: 24h\n  shutdown_grace: 1s\n",
		  &c);
	CHECK_INT(c.timeouts.handshake, 30);
	CHECK_INT(c.timeouts.header, 300);
	CHECK_INT(c.timeouts.keepalive, 3600);
	CHECK_INT(c.timeouts.connect, 45);
	CHECK_INT(c.timeouts.response, 86400);
	CHECK_INT(c.timeouts.idle, 86400);
	CHECK_INT(c.timeouts.shutdown_grace, 1);
	kh_config_free(&c);
	EXPECT_ERR("timeouts:\n  idle: 5\n  header: 0\n",
		   "cfg.yaml:3: timeouts.header: must be 1-86400 seconds, as a number or with a "
		   "unit like \"30s\", \"5m\", \"1h\"; got '0'");
	EXPECT_ERR("timeouts:\n  header: 25h\n", "cfg.yaml:2: timeouts.header: must be 1-86400");
	EXPECT_ERR("timeouts:\n  header: 1.5h\n", "cfg.yaml:2: timeouts.header: must be 1-86400");
	EXPECT_ERR("timeouts:\n  header: 10x\n", "cfg.yaml:2: timeouts.header: must be 1-86400");
	EXPECT_ERR("timeouts:\n  header: s\n", "cfg.yaml:2: timeouts.header: must be 1-86400");
	EXPECT_ERR("timeouts:\n  header: 86401\n", "cfg.yaml:2: timeouts.header: must be 1-86400");
	EXPECT_ERR("timeouts:\n  header: 99999999999999999999h\n", "cfg.yaml:2: timeouts.header:");
	EXPECT_ERR("timeouts:\n  header: -5s\n", "cfg.yaml:2: timeouts.header: must be 1-86400");
	EXPECT_ERR("timeouts: 30\n", "cfg.yaml:1: timeouts: must be a mapping (key: value lines), "
				     "got a single value");
	EXPECT_ERR("timeouts:\n  header: 1\n  header: 2\n",
		   "cfg.yaml:3: timeouts.header: duplicate key; first set on line 2");
}

static void sandbox_tokens(void)
{
	struct kh_config c;

	EXPECT_OK("sandbox_tokens:\n  ttl: 1h\n  budget: 5\n  save_interval: 2s\n", &c);
	CHECK_INT(c.sandbox_token_ttl, 3600);
	CHECK_INT(c.sandbox_token_budget, 5);
	CHECK_INT(c.sandbox_token_save_interval, 2);
	kh_config_free(&c);
	EXPECT_ERR("sandbox_tokens:\n  save_interval: 0\n",
		   "cfg.yaml:2: sandbox_tokens.save_interval: must be 1-3600 seconds");
	EXPECT_ERR("sandbox_tokens:\n  save_interval: 2h\n",
		   "cfg.yaml:2: sandbox_tokens.save_interval: must be 1-3600 seconds");
}

static void limits_and_bitwarden(void)
{
	struct kh_config c;

	EXPECT_OK("limits:\n  max_connections: 1000000\n  max_header_bytes: 1024\n"
		  "  max_headers: 256\nbitwarden:\n  project_id: 0f6f2a1e-1111-2222-3333-abcdef\n"
		  "  access_token_env: _MY_TOKEN_2\n",
		  &c);
	CHECK_INT(c.limits.max_connections, 1000000);
	CHECK_INT(c.limits.max_header_bytes, 1024);
	CHECK_INT(c.limits.max_headers, 256);
	CHECK_STR(c.bitwarden_project_id, "0f6f2a1e-1111-2222-3333-abcdef");
	CHECK_STR(c.bitwarden_token_env, "_MY_TOKEN_2");
	kh_config_free(&c);
	EXPECT_ERR("limits:\n  max_connections: 0\n",
		   "cfg.yaml:2: limits.max_connections: must be an integer 1-1000000, got '0'");
	EXPECT_ERR("limits:\n  max_header_bytes: 1023\n",
		   "cfg.yaml:2: limits.max_header_bytes: must be an integer 1024-65536");
	EXPECT_ERR("limits:\n  max_headers: 257\n",
		   "cfg.yaml:2: limits.max_headers: must be an integer 8-256");
	EXPECT_ERR("bitwarden:\n  access_token_env: bws-token\n",
		   "cfg.yaml:2: bitwarden.access_token_env: must be an environment variable name "
		   "like BWS_ACCESS_TOKEN (A-Z, 0-9 and _, not starting with a digit), got "
		   "'bws-token'");
	EXPECT_ERR("bitwarden:\n  access_token_env: 1TOKEN\n",
		   "cfg.yaml:2: bitwarden.access_token_env: must be an environment variable name");
	EXPECT_ERR("bitwarden:\n  access_token_env: ''\n",
		   "cfg.yaml:2: bitwarden.access_token_env: must be an environment variable name");
	EXPECT_ERR("bitwarden:\n  project_id: [a]\n",
		   "cfg.yaml:2: bitwarden.project_id: must be a single value, got a list");
}

static void strings(void)
{
	static char yaml[2048];
	struct kh_config c;

	EXPECT_OK("upstream_ca_file: /etc/ssl/corp ca.pem\n"
		  "credential_command: \"op read 'op://vault/item'\"\n",
		  &c);
	CHECK_STR(c.upstream_ca_file, "/etc/ssl/corp ca.pem");
	CHECK_STR(c.credential_command, "op read 'op://vault/item'");
	kh_config_free(&c);
	EXPECT_ERR("credential_command: \"a\\nb\"\n",
		   "cfg.yaml:1: credential_command: must be one line without control characters");
	EXPECT_ERR("upstream_ca_file: \"a\\0b\"\n", "cfg.yaml:1: upstream_ca_file: contains a NUL");
	memcpy(yaml, "credential_command: ", 20);
	memset(yaml + 20, 'x', 1024);
	memcpy(yaml + 20 + 1024, "\n", 2);
	EXPECT_ERR(yaml, "cfg.yaml:1: credential_command: is 1024 bytes long; at most 1023 are "
			 "allowed");
	yaml[20 + 1023] = '\n';
	yaml[20 + 1024] = '\0';
	EXPECT_OK(yaml, &c);
	CHECK_INT(strlen(c.credential_command), 1023);
	kh_config_free(&c);
}

static void unknown_keys(void)
{
	static char yaml[4096];
	struct kh_config c;
	size_t len = 0;

	EXPECT_OK("tunel_port: 1\nfoo: [1, 2]\ntimeouts:\n  hedaer: 5\nEnabled: true\n"
		  "proxy:\n  enabled: true\n",
		  &c);
	CHECK_INT(c.tunnel_port, 9090);
	CHECK(!c.enabled);
	CHECK_INT(c.n_warnings, 5);
	if (c.n_warnings == 5) {
		CHECK_STR(c.warnings[0], "cfg.yaml:1: unknown key 'tunel_port' ignored (did you "
					 "mean 'tunnel_port'?)");
		CHECK_STR(c.warnings[1], "cfg.yaml:2: unknown key 'foo' ignored");
		CHECK_STR(c.warnings[2], "cfg.yaml:4: timeouts: unknown key 'hedaer' ignored (did "
					 "you mean 'header'?)");
		CHECK_STR(c.warnings[3],
			  "cfg.yaml:5: unknown key 'Enabled' ignored (did you mean 'enabled'?)");
		CHECK_STR(c.warnings[4], "cfg.yaml:6: unknown key 'proxy' ignored (keyhole reads "
					 "these settings at the top level)");
	}
	kh_config_free(&c);
	kh_config_free(&c);
	CHECK(c.warnings == NULL);
	/* A file of junk keys cannot grow the list without bound. */
	for (int i = 0; i < 100; i++)
		len += (size_t)snprintf(yaml + len, sizeof yaml - len, "junk%d: 1\n", i);
	EXPECT_OK(yaml, &c);
	CHECK_INT(c.n_warnings, 32);
	CHECK_STR(c.warnings[0], "cfg.yaml:1: unknown key 'junk0' ignored");
	CHECK_STR(c.warnings[31], "cfg.yaml: further warnings not shown");
	kh_config_free(&c);
	/* Hostile key bytes are not copied into warnings. */
	EXPECT_OK("\"a\\e[31mb\\nc\": 1\n", &c);
	CHECK_INT(c.n_warnings, 1);
	CHECK_STR(c.warnings[0], "cfg.yaml:1: unknown key 'a?[31mb?c' ignored");
	kh_config_free(&c);
}

static void duplicate_keys(void)
{
	EXPECT_ERR("enabled: true\ntunnel_port: 1\nenabled: false\n",
		   "cfg.yaml:3: enabled: duplicate key; first set on line 1");
	EXPECT_ERR("a: 1\nb: 1\nb: 2\na: 2\nb: 3\n", "cfg.yaml:3: b: duplicate key; first set on "
						     "line 2");
	EXPECT_ERR("enabled: true\n'enabled': true\n", "cfg.yaml:2: enabled: duplicate key");
	EXPECT_ERR("bitwarden:\n  project_id: a\n  project_id: b\n",
		   "cfg.yaml:3: bitwarden.project_id: duplicate key; first set on line 2");
}

static void syntax_errors(void)
{
	EXPECT_ERR("enabled: true\ntunnel_port: [1\n",
		   "cfg.yaml:3: YAML syntax error: did not find expected ',' or ']' (while parsing "
		   "a flow sequence on line 2)");
	EXPECT_ERR("a: 1\nb: 2\n  c: 3\n",
		   "cfg.yaml:3: YAML syntax error: mapping values are not allowed in this context");
	EXPECT_ERR("a: 1\n\tb: 2\n", "cfg.yaml:2: YAML syntax error:");
	EXPECT_ERR("a: 1\nb: \xff\n", "cfg.yaml:2: YAML syntax error: invalid leading UTF-8 octet");
	EXPECT_ERR("a: *nope\n", "cfg.yaml:1: YAML syntax error: found undefined alias");
	EXPECT_ERR("a: 1\n---\nb: 2\n",
		   "cfg.yaml:3: only one YAML document is allowed; remove the second '---'");
	EXPECT_ERR("a: 1\n---\nb: [\n", "cfg.yaml:4: YAML syntax error:");
	{
		struct kh_config c;
		struct kh_err e = { { 0 } };
		static const char nul[] = "enabled: true\n\0tunnel_port: 1\n";

		CHECK_INT(kh_config_parse("cfg.yaml", nul, sizeof nul - 1, &c, &e), -1);
		CHECK(starts_with(e.msg, "cfg.yaml:2: YAML syntax error: control characters"));
		kh_config_free(&c);
	}
}

static void non_mapping_top(void)
{
	EXPECT_ERR("- a\n- b\n", "cfg.yaml:1: top level must be a mapping of settings (key: value "
				 "lines), got a list");
	EXPECT_ERR("\n\njust text\n", "cfg.yaml:3: top level must be a mapping of settings (key: "
				      "value lines), got a single value");
	EXPECT_ERR("42\n", "cfg.yaml:1: top level must be a mapping");
	EXPECT_ERR("[a]: 1\n", "cfg.yaml:1: keys must be plain names, got a list");
	EXPECT_ERR("\"ena\\0bled\": true\n", "cfg.yaml:1: a key contains a NUL byte");
}

static void hostile(void)
{
	static char yaml[300 * 1024];
	struct kh_config c;
	struct kh_err e;
	size_t len;
	int rc;

	/* Billion laughs: aliases are shared nodes and unknown values are never
	 * walked, so this is cheap; used where a string is expected, it is refused. */
	len = (size_t)snprintf(yaml, sizeof yaml, "a: &a [x,x,x,x,x,x,x,x,x,x]\n");
	for (char k = 'b'; k <= 'j'; k++)
		len += (size_t)snprintf(yaml + len, sizeof yaml - len,
					"%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", k, k,
					k - 1, k - 1, k - 1, k - 1, k - 1, k - 1, k - 1, k - 1,
					k - 1, k - 1);
	EXPECT_OK(yaml, &c);
	CHECK_INT(c.n_warnings, 10);
	kh_config_free(&c);
	snprintf(yaml + len, sizeof yaml - len, "extra_allowed_hosts: *j\n");
	/* The line is where the aliased node was written (j: &j [*i, ...]). */
	EXPECT_ERR(yaml, "cfg.yaml:9: extra_allowed_hosts[0]: must be a single value, got a list");
	EXPECT_ERR("extra_allowed_hosts: &r [*r]\n", "cfg.yaml:1:");
	EXPECT_OK("timeouts: &t {header: 5, x: *t}\nlimits: *t\n", &c);
	CHECK_INT(c.timeouts.header, 5);
	CHECK_INT(c.n_warnings, 3);
	kh_config_free(&c);
	/* Deep nesting inside an unknown key. */
	len = (size_t)snprintf(yaml, sizeof yaml, "deep: ");
	memset(yaml + len, '[', 100000);
	memset(yaml + len + 100000, ']', 100000);
	memcpy(yaml + len + 200000, "\n", 2);
	rc = parse(yaml, &c, &e);
	CHECK(rc == 0 || rc == -1);
	kh_config_free(&c);
	memset(yaml, '[', sizeof yaml - 1);
	yaml[sizeof yaml - 1] = '\0';
	CHECK_INT(parse(yaml, &c, &e), -1);
	kh_config_free(&c);
	CHECK(strstr(e.msg, "nested more than 64 deep") != NULL);
	/* the depth check is quote- and comment-aware; 64 levels are fine */
	len = (size_t)snprintf(yaml, sizeof yaml, "a: '[[[[' # {{{{\nb: \"[\\\"[\"\ndeep: ");
	memset(yaml + len, '[', 64);
	memset(yaml + len + 64, ']', 64);
	memcpy(yaml + len + 128, "\n", 2);
	EXPECT_OK(yaml, &c);
	kh_config_free(&c);
	yaml[len + 64] = '[';
	memcpy(yaml + len + 65, "]\n", 3);
	EXPECT_ERR(yaml, "cfg.yaml:3: [ ] and { } nested more than 64 deep");
	/* Over the size cap. */
	CHECK_INT(kh_config_parse("big.yaml", yaml, KH_MAX_CONFIG_BYTES + 1, &c, &e), -1);
	CHECK(starts_with(e.msg, "big.yaml is 1048577 bytes; the limit is 1048576"));
	kh_config_free(&c);
	/* A very long unknown key is cut short in the warning. */
	len = (size_t)snprintf(yaml, sizeof yaml, "? ");
	memset(yaml + len, 'k', 200000);
	len += 200000;
	snprintf(yaml + len, sizeof yaml - len, "\n: 1\n");
	EXPECT_OK(yaml, &c);
	CHECK_INT(c.n_warnings, 1);
	if (c.n_warnings == 1)
		CHECK(strlen(c.warnings[0]) < 120);
	kh_config_free(&c);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static void files(void)
{
	char dir[] = "/tmp/kh_test_config_XXXXXX", path[256], link[256], msg[512];
	struct kh_config c;
	struct kh_err e = { { 0 } };

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/config.yaml", dir);
	snprintf(link, sizeof link, "%s/link.yaml", dir);

	/* Missing file (and missing directory): defaults, not an error. */
	CHECK_INT(kh_config_load(path, &c, &e), 0);
	CHECK(!c.file_existed);
	CHECK_STR(c.path, "");
	check_defaults(&c);
	kh_config_free(&c);
	CHECK_INT(kh_config_load("/nonexistent-kh-dir/config.yaml", &c, &e), 0);
	CHECK(!c.file_existed);
	kh_config_free(&c);

	/* A dangling symlink is a mistake worth reporting. */
	CHECK_INT(symlink(path, link), 0);
	CHECK_INT(kh_config_load(link, &c, &e), -1);
	snprintf(msg, sizeof msg, "%s is a symlink to a missing file", link);
	CHECK_STR(e.msg, msg);
	kh_config_free(&c);

	CHECK_INT(write_file(path, "enabled: true\ntunnel_port: 9191\n"), 0);
	CHECK_INT(kh_config_load(path, &c, &e), 0);
	CHECK(c.file_existed);
	CHECK_STR(c.path, path);
	CHECK(c.enabled);
	CHECK_INT(c.tunnel_port, 9191);
	kh_config_free(&c);

	/* Through a symlink (dotfiles). */
	CHECK_INT(kh_config_load(link, &c, &e), 0);
	CHECK(c.file_existed);
	CHECK_STR(c.path, link);
	CHECK_INT(c.tunnel_port, 9191);
	kh_config_free(&c);

	CHECK_INT(write_file(path, "enabled: true\n\ntunnel_port: abc\n"), 0);
	CHECK_INT(kh_config_load(path, &c, &e), -1);
	snprintf(msg, sizeof msg, "%s:3: tunnel_port: must be an integer 0-65535, got 'abc'", path);
	CHECK_STR(e.msg, msg);
	kh_config_free(&c);

	/* A directory is not a config file. */
	CHECK_INT(kh_config_load(dir, &c, &e), -1);
	kh_config_free(&c);

	unlink(link);
	unlink(path);
	rmdir(dir);
}

static void custom_providers(void)
{
	struct kh_config c;

	EXPECT_OK("providers:\n"
		  "  - env: GITHUB_TOKEN\n"
		  "    hosts: [api.github.com, \"*.githubusercontent.com\"]\n"
		  "    location: header Authorization\n"
		  "    template: \"token {}\"\n"
		  "  - env: GIT_TOKEN\n"
		  "    hosts: [git.example.com]\n"
		  "    location: [basic, query private_token, \"header Private-Token\"]\n",
		  &c);
	CHECK_INT(c.n_providers, 2);
	CHECK_STR(c.providers[0].env_name, "GITHUB_TOKEN");
	CHECK_STR(c.providers[0].token_prefix, "keyhole-github-token");
	CHECK_INT(c.providers[0].n_hosts, 2);
	CHECK_STR(c.providers[0].hosts[1], "*.githubusercontent.com");
	CHECK_INT(c.providers[0].n_locs, 1);
	CHECK_INT(c.providers[0].locs[0].kind, KH_LOC_HEADER);
	CHECK_STR(c.providers[0].locs[0].tmpl, "token {}");
	CHECK_INT(c.providers[1].n_locs, 3);
	CHECK_INT(c.providers[1].locs[0].kind, KH_LOC_BASIC);
	CHECK_INT(c.providers[1].locs[1].kind, KH_LOC_QUERY);
	CHECK_STR(c.providers[1].locs[1].name, "private_token");
	CHECK_STR(c.providers[1].locs[2].name, "Private-Token");
	kh_config_free(&c);

	EXPECT_ERR("providers:\n  - env: lower\n    hosts: [a.b]\n    location: bearer\n",
		   "cfg.yaml:2: providers[0].env: must be an environment variable name");
	EXPECT_ERR("providers:\n  - env: OPENAI_API_KEY\n    hosts: [a.b]\n    location: bearer\n",
		   "cfg.yaml:2: providers[0].env: OPENAI_API_KEY is a built-in provider");
	EXPECT_ERR("providers:\n  - env: X_KEY\n    location: bearer\n",
		   "cfg.yaml:2: providers[0].hosts: is required");
	EXPECT_ERR("providers:\n  - env: X_KEY\n    hosts: []\n    location: bearer\n",
		   "cfg.yaml:3: providers[0].hosts: must name at least one host");
	EXPECT_ERR("providers:\n  - env: X_KEY\n    hosts: [\"*\"]\n    location: bearer\n",
		   "cfg.yaml:3: providers[0].hosts[0]: '*' would match every host");
	EXPECT_ERR("providers:\n  - env: X_KEY\n    hosts: [a.b]\n",
		   "cfg.yaml:2: providers[0].location: is required");
	EXPECT_ERR("providers:\n  - env: X_KEY\n    hosts: [a.b]\n    location: cookie x\n",
		   "cfg.yaml:4: providers[0].location: 'cookie x': must be bearer, basic");
	EXPECT_ERR("providers:\n  - env: X_KEY\n    hosts: [a.b]\n    location: header\n",
		   "cfg.yaml:4: providers[0].location: 'header': header and query need a name");
	EXPECT_ERR("providers:\n  - env: X_KEY\n    hosts: [a.b]\n    location: header Host\n",
		   "cfg.yaml:4: providers[0].location: 'header Host': that header is managed");
	EXPECT_ERR("providers:\n  - env: X_KEY\n    hosts: [a.b]\n    location: query a&b\n",
		   "cfg.yaml:4: providers[0].location: 'query a&b': the query parameter name");
	EXPECT_ERR("providers:\n  - env: X_KEY\n    hosts: [a.b]\n    location: [bearer, 7]\n"
		   "    template: \"k {}\"\n",
		   "cfg.yaml:4: providers[0].location[1]: '7': must be bearer");
	EXPECT_ERR("providers:\n  - env: X_KEY\n    hosts: [a.b]\n    location: header X\n"
		   "    template: \"no hole\"\n",
		   "cfg.yaml:4: providers[0].location: 'header X': the template must contain {}");
	EXPECT_ERR("providers:\n  - env: X_KEY\n    hosts: [a.b]\n    location: bearer\n"
		   "    template: \"token {}\"\n",
		   "cfg.yaml:5: providers[0].template: applies to header locations only");
	EXPECT_ERR("providers:\n  - env: X_KEY\n    hosts: [a.b]\n    location: bearer\n"
		   "    loction: basic\n",
		   "cfg.yaml:5: providers[0].loction: unknown key");
	EXPECT_ERR("providers:\n  - {env: X_KEY, hosts: [a.b], location: bearer}\n"
		   "  - {env: X_KEY, hosts: [c.d], location: basic}\n",
		   "cfg.yaml:3: providers[1].env: X_KEY already has an entry (providers[0])");
	EXPECT_ERR("providers: {env: X_KEY}\n", "cfg.yaml:1: providers: must be a list");
	EXPECT_ERR("providers:\n  - X_KEY\n", "cfg.yaml:2: providers[0]: must be a mapping");
}

int main(void)
{
	RUN(defaults);
	RUN(empty_documents);
	RUN(seed_file);
	RUN(booleans);
	RUN(numbers);
	RUN(null_keeps_default);
	RUN(enums);
	RUN(deny_cidrs);
	RUN(too_many);
	RUN(host_lists);
	RUN(allowed_ports);
	RUN(aws_buckets);
	RUN(listen_addrs);
	RUN(metrics_listen);
	RUN(resolve_pins);
	RUN(dns_servers);
	RUN(timeouts);
	RUN(sandbox_tokens);
	RUN(limits_and_bitwarden);
	RUN(strings);
	RUN(unknown_keys);
	RUN(duplicate_keys);
	RUN(syntax_errors);
	RUN(non_mapping_top);
	RUN(hostile);
	RUN(files);
	RUN(custom_providers);
	TAP_DONE();
}
