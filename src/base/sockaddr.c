#include "base/sockaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

bool kh_addr_prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

bool kh_sockaddr_unmap(const struct sockaddr *sa, struct sockaddr_storage *out)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	struct sockaddr_in *s4 = (struct sockaddr_in *)out;

	if (sa->sa_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return false;
	memset(out, 0, sizeof *out);
	s4->sin_family = AF_INET;
	s4->sin_port = s6->sin6_port;
	memcpy(&s4->sin_addr, s6->sin6_addr.s6_addr + 12, 4);
	return true;
}

/* IPv6 forms that stand for an IPv4 address: the prefix that marks them and
 * where the IPv4 sits. A NAT64 gateway, a 6to4 relay or Linux's sit0 carries
 * a connection to them on to that IPv4 address. */
static const struct embedding {
	uint8_t prefix[12];
	uint8_t bits, at;
	bool compat; /* ::/96: :: and ::1 are not IPv4-compatible (IN6_IS_ADDR_V4COMPAT) */
	const char *name;
} embeddings[] = {
	{ { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff }, 96, 12, false, "IPv4-mapped" },
	{ { 0, 0x64, 0xff, 0x9b }, 96, 12, false, "NAT64" }, /* 64:ff9b::/96, RFC 6052 */
	{ { 0x20, 0x02 }, 16, 2, false, "6to4" }, /* 2002:V4ADDR::/48, RFC 3056 */
	{ { 0 }, 96, 12, true, "IPv4-compatible" }, /* ::a.b.c.d, RFC 4291 2.5.5.1 */
};

const char *kh_sockaddr_embedded_v4(const struct sockaddr *sa, struct sockaddr_storage *out)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	struct sockaddr_in *s4 = (struct sockaddr_in *)out;

	if (sa->sa_family != AF_INET6)
		return NULL;
	for (size_t i = 0; i < sizeof embeddings / sizeof embeddings[0]; i++) {
		const struct embedding *e = &embeddings[i];

		if (!kh_addr_prefix_equal(e->prefix, s6->sin6_addr.s6_addr, e->bits) ||
		    (e->compat && !IN6_IS_ADDR_V4COMPAT(&s6->sin6_addr)))
			continue;
		memset(out, 0, sizeof *out);
		s4->sin_family = AF_INET;
		s4->sin_port = s6->sin6_port;
		memcpy(&s4->sin_addr, s6->sin6_addr.s6_addr + e->at, 4);
		return e->name;
	}
	return NULL;
}

void kh_sockaddr_ip(const struct sockaddr *sa, char *out, size_t len)
{
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
			  (socklen_t)len);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
			  (socklen_t)len);
	else
		snprintf(out, len, "?");
}
