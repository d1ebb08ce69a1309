/* Name lookup answers kept for their lifetime, so a name asked for again
 * is answered at once, without going to DNS. Both kinds are kept: addresses
 * (for the TTL the caller gives, which resolver.c takes from the DNS answer,
 * capped) and "no such name" / "no address" (briefly). It holds at most the
 * number of names given to kh_dnscache_new; a new name pushes out the one
 * used least recently. Names compare case-insensitively.
 *
 * A cached address is still checked against the deny list each time it is
 * dialled (dial.c), like a fresh one. Pure: no locks (the resolver holds its
 * lock around every call), no clock (times are passed in, in ms). */
#ifndef KH_DNSCACHE_H
#define KH_DNSCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/kh_limits.h"

/* What a lookup found. */
struct kh_dns_answer {
	const char *error; /* NULL, or why there is no address (a static string) */
	size_t n_addrs;
	struct sockaddr_storage addrs[KH_MAX_ADDRS]; /* IPv4 / IPv6, port 0 */
	socklen_t addrlens[KH_MAX_ADDRS];
};

struct kh_dnscache;

/* NULL if out of memory. */
struct kh_dnscache *kh_dnscache_new(size_t entries);
void kh_dnscache_free(struct kh_dnscache *c); /* NULL-safe */

/* The answer for host if one is kept and has not expired at now_ms. */
bool kh_dnscache_get(struct kh_dnscache *c, const char *host, uint64_t now_ms,
		     struct kh_dns_answer *out);

/* Keeps a copy of a (its error pointer as is) until now_ms + ttl_ms;
 * ttl_ms == 0 forgets host instead. Hosts longer than a host name are not
 * kept. */
void kh_dnscache_put(struct kh_dnscache *c, const char *host, uint64_t now_ms, uint64_t ttl_ms,
		     const struct kh_dns_answer *a);

/* Forgets everything (e.g. the DNS servers changed). */
void kh_dnscache_clear(struct kh_dnscache *c);

#endif
