/* config.yaml, read into typed values.
 *
 * The file is optional: absent means every default below. Keys are the seed's
 * `proxy:` keys at top level plus keyhole's own. Loading is strict about
 * values (a wrong type or range is an error naming the file, line, key path
 * and what is expected) and lenient about unknown keys (kept as warnings so
 * a typo is reported without refusing to start). The loaded struct owns all
 * its memory; kh_config_free() releases it. */
#ifndef KH_CONFIG_H
#define KH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "policy/cidr.h"
#include "base/err.h"
#include "base/hostname.h"
#include "base/kh_limits.h"
#include "base/log.h"
#include "policy/ports.h"
#include "policy/providers.h"

enum kh_cred_source { KH_CRED_ENV, KH_CRED_BITWARDEN, KH_CRED_COMMAND };

struct kh_listen_addr {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char text[64]; /* "127.0.0.1:9090" or "[::1]:9090" as written back to people */
};

/* resolve: host -> address pin (the upstream port comes from the request). */
struct kh_pin {
	char host[KH_HOST_BUF]; /* normalized exact host */
	struct sockaddr_storage addr; /* port 0 */
	socklen_t addrlen;
	uint16_t port; /* 0: the request's port; else always this one */
};

/* providers: one custom credential (an API keyhole has no built-in entry for). */
struct kh_custom_provider {
	char env_name[64]; /* the variable holding the real key */
	char token_prefix[80]; /* "keyhole-" + env_name in lower case, '_' -> '-' */
	char hosts[KH_MAX_PROVIDER_HOSTS][KH_HOST_BUF + 2]; /* normalized patterns */
	size_t n_hosts;
	struct kh_location locs[KH_MAX_LOCATIONS];
	size_t n_locs;
};

struct kh_timeouts { /* seconds, each 1..KH_MAX_TIMEOUT */
	unsigned handshake, header, keepalive, connect, response, idle, shutdown_grace;
};

struct kh_config_limits {
	size_t max_connections; /* 1..1000000 */
	size_t max_header_bytes; /* 1024..KH_MAX_HEADER_BYTES_CEIL */
	size_t max_headers; /* 8..KH_MAX_HEADERS_CEIL */
};

struct kh_config {
	char path[KH_MAX_PATH]; /* file it came from ("" if defaults only) */
	bool file_existed;

	/* seed keys */
	bool enabled; /* false */
	uint16_t tunnel_port; /* 9090 */
	enum kh_cred_source credential_source; /* env */
	bool enforce_on_docker; /* true */
	bool fail_on_uncovered_providers; /* false */
	bool allow_env_fallback; /* false */
	bool deny_cidrs_explicit; /* false: key absent or null -> defaults were filled in */
	struct kh_cidr *deny_cidrs; /* upstream_deny_cidrs (defaults when not explicit) */
	size_t n_deny_cidrs;
	char **extra_allowed_hosts; /* normalized patterns (kh_host_pattern_normalize) */
	size_t n_extra_allowed_hosts;
	struct kh_port_rule *port_rules; /* allowed_ports: ports beyond 443 (TLS) / 80 (HTTP) */
	size_t n_port_rules;

	/* keyhole keys */
	struct kh_listen_addr listen[KH_MAX_LISTENERS]; /* listen: extra binds ("host:port") */
	size_t n_listen;
	bool listen_docker_bridge; /* true: also listen on docker0's address if present */
	bool listen_unix; /* true: also listen on <home>/proxy.sock (sandboxes) */
	struct kh_listen_addr metrics_listen; /* loopback "ip:port" for /metrics (127.0.0.1:0) */
	bool metrics_enabled; /* false: metrics_listen: "off" */
	char upstream_ca_file[KH_MAX_PATH]; /* "" = none */
	struct kh_pin *pins; /* resolve: {host: address} */
	size_t n_pins;
	char **dns_servers; /* dns_servers: "ip:port" / "[v6]:port"; none = /etc/resolv.conf */
	size_t n_dns_servers;
	bool scrub_responses; /* true: real secrets in responses become their tokens */
	char **cleartext_credential_hosts; /* plain-HTTP hosts a real key may be sent to */
	size_t n_cleartext_credential_hosts;
	unsigned workers; /* 0 = one per online CPU */
	unsigned busy_poll_us; /* KH_DEFAULT_BUSY_POLL_US; 0 = off */
	bool privsep; /* fronts (what reads sandbox bytes) run as processes without keys */
	size_t cert_cache_size; /* KH_DEFAULT_CERT_CACHE, 1..KH_MAX_CERT_CACHE */
	/* sandbox_tokens: what keyhole sandbox and docker run ask for */
	unsigned sandbox_token_ttl; /* seconds; 0 = no expiry; KH_DEFAULT_GRANT_TTL */
	size_t sandbox_token_budget; /* requests; 0 = no budget */
	/* seconds between saves of changed budget counts to grants.json */
	unsigned sandbox_token_save_interval;
	struct kh_timeouts timeouts;
	struct kh_config_limits limits;
	enum kh_log_level log_level; /* info */
	bool audit_refuse; /* audit_failure: refuse (default continue) */
	char bitwarden_project_id[128]; /* bitwarden: {project_id, access_token_env} */
	char bitwarden_token_env[64]; /* BWS_ACCESS_TOKEN */
	char credential_command[1024]; /* credential_command: shell-free argv string */
	struct kh_custom_provider *providers; /* providers: custom credentials */
	size_t n_providers;
	/* aws: SigV4 re-signing (resign.c) */
	bool aws_buckets_set; /* aws.buckets given (even []): S3 only for those buckets */
	char **aws_buckets; /* valid S3 bucket names */
	size_t n_aws_buckets;

	/* non-fatal findings, e.g. "config.yaml:7: unknown key 'tunel_port' ignored" */
	char **warnings;
	size_t n_warnings;
};

/* Fills every default. Never fails. */
void kh_config_defaults(struct kh_config *c);

/* Loads path into c (defaults first). A missing file is not an error: c keeps
 * the defaults and file_existed is false. Returns 0 / -1 with err set to one
 * line like "config.yaml:12: tunnel_port: must be an integer 1-65535". */
int kh_config_load(const char *path, struct kh_config *c, struct kh_err *err);

/* Only the reading kh_config_load does: *text (the caller frees it) and
 * *present true, or *present false when path is simply not there. */
int kh_config_read(const char *path, char **text, size_t *len, bool *present, struct kh_err *err);

/* Same, from a string (name is used in messages). */
int kh_config_parse(const char *name, const char *text, size_t len, struct kh_config *c,
		    struct kh_err *err);

void kh_config_free(struct kh_config *c);

const char *kh_cred_source_name(enum kh_cred_source s);

#endif
