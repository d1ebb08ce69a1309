#include "cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "slice.h"

const char *const kh_default_deny_cidrs[] = {
	"127.0.0.0/8",   "::1/128",       "169.254.0.0/16", "fe80::/10",
	"10.0.0.0/8",    "172.16.0.0/12", "192.168.0.0/16", "fc00::/7",
	"::ffff:0:0/96", "100.64.0.0/10", "198.18.0.0/15",
};
const size_t kh_default_deny_cidrs_count = sizeof kh_default_deny_cidrs /
					   sizeof kh_default_deny_cidrs[0];

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static bool host_bits_zero(const struct kh_cidr *c)
{
	unsigned total = c->v4 ? 32 : 128;

	for (unsigned i = c->bits; i < total; i++)
		if (c->addr[i / 8] & (0x80 >> (i % 8)))
			return false;
	return true;
}

int kh_cidr_parse(const char *s, struct kh_cidr *out, struct kh_err *err)
{
	char ip[64];
	const char *slash = strchr(s, '/');
	uint64_t bits;

	memset(out, 0, sizeof *out);
	if (slash == NULL) {
		kh_err_set(err, "'%s' needs a /prefix length, e.g. %s/32 or %s/128", s, s, s);
		return -1;
	}
	if ((size_t)(slash - s) >= sizeof ip) {
		kh_err_set(err, "'%s' is not a CIDR range", s);
		return -1;
	}
	memcpy(ip, s, (size_t)(slash - s));
	ip[slash - s] = '\0';
	if (inet_pton(AF_INET, ip, out->addr) == 1)
		out->v4 = true;
	else if (inet_pton(AF_INET6, ip, out->addr) != 1) {
		kh_err_set(err, "'%s' is not a CIDR range (bad address '%s')", s, ip);
		return -1;
	}
	if (kh_parse_u64(slash + 1, out->v4 ? 32 : 128, &bits) != 0) {
		kh_err_set(err, "'%s': prefix length must be 0-%d", s, out->v4 ? 32 : 128);
		return -1;
	}
	out->bits = (uint8_t)bits;
	if (!host_bits_zero(out)) {
		kh_err_set(err, "'%s' has bits set past the /%u prefix; write the network address",
			   s, out->bits);
		return -1;
	}
	return 0;
}

void kh_cidr_format(const struct kh_cidr *c, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(c->v4 ? AF_INET : AF_INET6, c->addr, ip, sizeof ip);
	snprintf(out, len, "%s/%u", ip, c->bits);
}

static bool contains_raw(const struct kh_cidr *c, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET && c->v4)
		return prefix_equal(c->addr,
				    (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr,
				    c->bits);
	if (sa->sa_family == AF_INET6 && !c->v4)
		return prefix_equal(c->addr, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr,
				    c->bits);
	return false;
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

bool kh_cidr_contains(const struct kh_cidr *c, const struct sockaddr *sa)
{
	struct sockaddr_storage v4;

	if (contains_raw(c, sa))
		return true;
	return kh_sockaddr_unmap(sa, &v4) && contains_raw(c, (const struct sockaddr *)&v4);
}

long kh_cidr_list_match(const struct kh_cidr *list, size_t n, const struct sockaddr *sa)
{
	for (size_t i = 0; i < n; i++)
		if (kh_cidr_contains(&list[i], sa))
			return (long)i;
	return -1;
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
