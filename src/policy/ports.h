/* Which upstream ports an allowed host may be reached on.
 *
 * Unless widened, CONNECT and transparent TLS reach port 443 only, and plain
 * HTTP (absolute-form, transparent) port 80 only: an allowed host's other
 * ports are often not the service the operator meant to allow (an admin
 * console, a database, a debug endpoint). `allowed_ports` in config.yaml
 * widens this per host pattern, with the allowlist's matching rules. The port
 * judged is the one the client asked for, not a resolve: pin's. */
#ifndef KH_PORTS_H
#define KH_PORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/hostname.h"
#include "base/kh_limits.h"

struct kh_port_range {
	uint16_t lo, hi; /* inclusive, 1 <= lo <= hi */
};

/* allowed_ports: one "pattern: [ports]" entry. */
struct kh_port_rule {
	char pattern[KH_HOST_BUF + 2]; /* "*" (every allowed host) or a normalized host pattern */
	struct kh_port_range ranges[KH_MAX_PORT_RANGES];
	size_t n_ranges;
};

/* The port a host may always be reached on: 443 for TLS, 80 for plain HTTP. */
uint16_t kh_port_default(bool tls);

/* Parses "8443" or "9000-9100" (1-65535, low <= high). Returns 0 / -1. */
int kh_port_range_parse(const char *s, struct kh_port_range *out);

/* Validates an allowed_ports key into out: "*" or a host pattern as for the
 * allowlist (kh_host_pattern_normalize). Returns 0 / -1. */
int kh_port_pattern_normalize(const char *in, char out[KH_HOST_BUF + 2]);

/* May the normalized host be reached on port (by TLS or plain HTTP)? */
bool kh_port_allowed(const struct kh_port_rule *rules, size_t n, const char *host, uint16_t port,
		     bool tls);

#endif
