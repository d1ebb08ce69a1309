/* The sandbox's DNS responder, as a pure function from a query packet to an
 * answer packet. An allowed name gets A 127.0.0.1 / AAAA ::1 (the relay that
 * leads to keyhole inside the sandbox), other types NOERROR with no data; a
 * name that is not allowed gets NXDOMAIN. Strict: one question, class IN, no
 * compression in the question, no dot or NUL inside a label, every length
 * checked; malformed queries get FORMERR when their header can be read,
 * nothing otherwise. No allocation. */
#ifndef KH_DNS_H
#define KH_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/hostname.h"
#include "base/kh_limits.h"

enum kh_dns_verdict {
	KH_DNS_ANSWERED, /* allowed name */
	KH_DNS_REFUSED, /* not allowed: NXDOMAIN */
	KH_DNS_MALFORMED, /* FORMERR or dropped */
};

struct kh_dns_result {
	enum kh_dns_verdict verdict;
	uint16_t qtype;
	char name[KH_HOST_BUF]; /* normalized query name ("" if unreadable) */
};

/* allowed(name, arg) decides. Returns the answer length (0: send nothing). */
size_t kh_dns_answer(const uint8_t *q, size_t qlen, uint8_t *out, size_t outcap,
		     bool (*allowed)(const char *name, void *arg), void *arg,
		     struct kh_dns_result *res);

#endif
