/* CIDR ranges for the upstream deny list, checked against the address an
 * upstream name actually resolved to, at connect time. An IPv6 address that
 * stands for an IPv4 one (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::a.b.c.d,
 * 6to4 2002:AABB:CCDD::, IPv4-compatible ::a.b.c.d) is checked in both forms,
 * so [64:ff9b::a9fe:a9fe] is caught by 169.254.0.0/16. */
#ifndef KH_CIDR_H
#define KH_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/err.h"
#include "base/sockaddr.h"

struct kh_cidr {
	uint8_t addr[16]; /* IPv4 uses the first 4 bytes */
	uint8_t bits;
	bool v4;
};

/* The default deny list: the brief's (loopback, link-local incl. cloud
 * metadata, RFC 1918, ULA, IPv4-mapped, CGNAT, benchmark range) and every
 * other special-purpose range no upstream lives in ("this host" 0.0.0.0/8 and
 * ::, IPv4-compatible, IETF, documentation, multicast, reserved, local NAT64,
 * site-local). */
extern const char *const kh_default_deny_cidrs[];
extern const size_t kh_default_deny_cidrs_count;

/* Parses "a.b.c.d/n" or "v6/n". The prefix is required and host bits must be
 * zero (so typos like 10.0.0.1/8 are caught). */
int kh_cidr_parse(const char *s, struct kh_cidr *out, struct kh_err *err);

/* Writes "a.b.c.d/n" into out (at least 64 bytes). */
void kh_cidr_format(const struct kh_cidr *c, char *out, size_t len);

/* Does c hold sa, or the IPv4 address sa stands for (kh_sockaddr_embedded_v4)? */
bool kh_cidr_contains(const struct kh_cidr *c, const struct sockaddr *sa);

/* Index of the first range in list containing sa, or -1. */
long kh_cidr_list_match(const struct kh_cidr *list, size_t n, const struct sockaddr *sa);

#endif
