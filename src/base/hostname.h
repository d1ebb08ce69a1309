/* Hostnames, authorities and allowlist patterns.
 *
 * Every host that reaches policy is first normalized here: ASCII lower case,
 * one trailing dot removed, and checked to be either a DNS name (labels of
 * letters, digits, '-' and '_', 1-63 bytes, 253 in all) or an IP literal.
 * Anything else (spaces, '%', '@', NUL, percent-encoding, empty labels) is
 * refused before it can be matched, logged or put in a certificate. So is
 * every other spelling of an IPv4 address ("127.1", "0177.0.0.1", "0x7f.1",
 * "2130706433", "0x7f000001"): resolvers read those as numbers, so only the
 * dotted quad keyhole checks is the address it dials. */
#ifndef KH_HOSTNAME_H
#define KH_HOSTNAME_H

#include <stdbool.h>
#include <stdint.h>

#include "base/kh_limits.h"
#include "base/slice.h"

enum kh_host_kind { KH_HOST_NAME = 1, KH_HOST_IPV4, KH_HOST_IPV6 };

#define KH_HOST_BUF (KH_MAX_HOSTNAME + 1)

/* Normalizes a bare host (no port; IPv6 without brackets) into out.
 * Returns its kind, or -1 if it is not a valid host. */
int kh_host_normalize(struct kh_slice in, char out[KH_HOST_BUF]);

/* Parses "host", "host:port", "[v6]" or "[v6]:port". A missing port gives
 * default_port (0 = port required). Returns the host kind, or -1. */
int kh_authority_parse(struct kh_slice in, uint16_t default_port, char host[KH_HOST_BUF],
		       uint16_t *port);

/* Validates and normalizes an allowlist pattern: a host, or "*." followed by
 * a host (any-depth subdomains, not the domain itself). Returns 0 / -1. */
int kh_host_pattern_normalize(const char *in, char out[KH_HOST_BUF + 2]);

/* Does normalized host match normalized pattern? */
bool kh_host_match(const char *pattern, const char *host);

#endif
