/* config.yaml. Whatever the bytes, kh_config_parse either fails with one
 * printable line naming the file, or yields values inside their documented
 * ranges with every host and CIDR already in normal form. kh_config_free is
 * called twice, after success and after failure (it must be idempotent). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/awsscope.h"
#include "policy/config.h"
#include "fuzz_check.h"

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

/* One line of printable text: messages reach terminals and logs. */
static bool printable_line(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static void check_patterns(char **v, size_t n)
{
	char again[KH_HOST_BUF + 2];

	CHECK(n <= KH_MAX_ALLOW_RULES);
	for (size_t i = 0; i < n; i++)
		CHECK(kh_host_pattern_normalize(v[i], again) == 0 && strcmp(v[i], again) == 0);
}

static void check_network(const struct kh_config *c)
{
	char text[64], host[KH_HOST_BUF];
	struct kh_cidr again;

	CHECK(c->n_deny_cidrs <= KH_MAX_DENY_CIDRS);
	for (size_t i = 0; i < c->n_deny_cidrs; i++) {
		kh_cidr_format(&c->deny_cidrs[i], text, sizeof text);
		CHECK(kh_cidr_parse(text, &again, NULL) == 0);
		CHECK(memcmp(&again, &c->deny_cidrs[i], sizeof again) == 0);
	}
	CHECK(c->n_listen <= KH_MAX_LISTENERS);
	for (size_t i = 0; i < c->n_listen; i++) {
		int fam = c->listen[i].addr.ss_family;

		CHECK(fam == AF_INET || fam == AF_INET6);
		CHECK(TERMINATED(c->listen[i].text) && printable_line(c->listen[i].text));
	}
	CHECK(c->n_pins <= KH_MAX_PINS);
	for (size_t i = 0; i < c->n_pins; i++) {
		int fam = c->pins[i].addr.ss_family;

		CHECK(fam == AF_INET || fam == AF_INET6);
		CHECK(kh_host_normalize(kh_slice_cstr(c->pins[i].host), host) >= 0);
		CHECK(strcmp(host, c->pins[i].host) == 0);
	}
}

static bool in(unsigned long v, unsigned long lo, unsigned long hi)
{
	return v >= lo && v <= hi;
}

static void check_values(const struct kh_config *c)
{
	const struct kh_timeouts *t = &c->timeouts;

	CHECK(in(c->credential_source, KH_CRED_ENV, KH_CRED_COMMAND));
	CHECK(in(c->log_level, KH_LOG_DEBUG, KH_LOG_ERROR));
	CHECK(c->workers <= KH_MAX_WORKERS);
	CHECK(c->busy_poll_us <= KH_MAX_BUSY_POLL_US);
	CHECK(in(c->cert_cache_size, 1, KH_MAX_CERT_CACHE));
	CHECK(in(t->handshake, 1, KH_MAX_TIMEOUT) && in(t->header, 1, KH_MAX_TIMEOUT));
	CHECK(in(t->keepalive, 1, KH_MAX_TIMEOUT) && in(t->connect, 1, KH_MAX_TIMEOUT));
	CHECK(in(t->response, 1, KH_MAX_TIMEOUT) && in(t->idle, 1, KH_MAX_TIMEOUT));
	CHECK(in(t->shutdown_grace, 1, KH_MAX_TIMEOUT));
	CHECK(in(c->limits.max_connections, 1, KH_MAX_CONNECTIONS_CEIL));
	CHECK(in(c->limits.max_header_bytes, 1024, KH_MAX_HEADER_BYTES_CEIL));
	CHECK(in(c->limits.max_headers, 8, KH_MAX_HEADERS_CEIL));
	CHECK(TERMINATED(c->upstream_ca_file) && TERMINATED(c->bitwarden_project_id));
	CHECK(TERMINATED(c->bitwarden_token_env) && TERMINATED(c->credential_command));
	CHECK(TERMINATED(c->path) && strcmp(c->path, "fuzz.yaml") == 0);
	check_patterns(c->extra_allowed_hosts, c->n_extra_allowed_hosts);
	check_patterns(c->cleartext_credential_hosts, c->n_cleartext_credential_hosts);
	check_network(c);
	CHECK(c->n_aws_buckets <= KH_MAX_AWS_BUCKETS && (c->aws_buckets_set || !c->n_aws_buckets));
	for (size_t i = 0; i < c->n_aws_buckets; i++)
		CHECK(kh_awsscope_bucket_ok(kh_slice_cstr(c->aws_buckets[i])));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kh_config c;
	struct kh_err err = { { 0 } };
	int rc = kh_config_parse("fuzz.yaml", (const char *)data, size, &c, &err);

	if (rc == 0) {
		check_values(&c);
	} else {
		CHECK(rc == -1);
		CHECK(strncmp(err.msg, "fuzz.yaml", 9) == 0 && printable_line(err.msg));
	}
	CHECK(c.n_warnings <= KH_MAX_CONFIG_WARNINGS);
	for (size_t i = 0; i < c.n_warnings; i++)
		CHECK(strncmp(c.warnings[i], "fuzz.yaml", 9) == 0 && printable_line(c.warnings[i]));
	kh_config_free(&c);
	kh_config_free(&c);
	return 0;
}
