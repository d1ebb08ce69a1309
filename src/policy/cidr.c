#include "policy/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "base/slice.h"

/* The brief's list first, then the special-purpose ranges no upstream lives in
 * (RFC 6890 and its successors); docs/CONFIG.md says why each one is here. */
const char *const kh_default_deny_cidrs[] = {
	/* the brief's defaults */
	"127.0.0.0/8",
	"::1/128",
	"169.254.0.0/16",
	"fe80::/10",
	"10.0.0.0/8",
	"172.16.0.0/12",
	"192.168.0.0/16",
	"fc00::/7",
	"::ffff:0:0/96",
	"100.64.0.0/10",
	"198.18.0.0/15",
	/* "this host": on Linux a connect to 0.0.0.0 or :: reaches 127.0.0.1 / ::1 */
	"0.0.0.0/8",
	"::/128",
	/* IPv4-compatible IPv6 (deprecated; Linux's sit0 tunnels it to the IPv4) */
	"::/96",
	/* IETF protocol assignments (DS-Lite, NAT64 discovery, ...) */
	"192.0.0.0/24",
	/* documentation: never routed on the Internet, so only ever someone's LAN */
	"192.0.2.0/24",
	"198.51.100.0/24",
	"203.0.113.0/24",
	"2001:db8::/32",
	/* multicast, reserved and the limited broadcast 255.255.255.255 */
	"224.0.0.0/4",
	"240.0.0.0/4",
	"ff00::/8",
	/* local-use NAT64 (RFC 8215): where its IPv4 sits depends on the site */
	"64:ff9b:1::/48",
	/* site-local (deprecated, RFC 3879): still means "this site" where used */
	"fec0::/10",
};
const size_t kh_default_deny_cidrs_count = sizeof kh_default_deny_cidrs /
					   sizeof kh_default_deny_cidrs[0];

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
		return kh_addr_prefix_equal(
			c->addr, (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr,
			c->bits);
	if (sa->sa_family == AF_INET6 && !c->v4)
		return kh_addr_prefix_equal(
			c->addr, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, c->bits);
	return false;
}

bool kh_cidr_contains(const struct kh_cidr *c, const struct sockaddr *sa)
{
	struct sockaddr_storage v4;

	if (contains_raw(c, sa))
		return true;
	return kh_sockaddr_embedded_v4(sa, &v4) != NULL &&
	       contains_raw(c, (const struct sockaddr *)&v4);
}

long kh_cidr_list_match(const struct kh_cidr *list, size_t n, const struct sockaddr *sa)
{
	for (size_t i = 0; i < n; i++)
		if (kh_cidr_contains(&list[i], sa))
			return (long)i;
	return -1;
}
