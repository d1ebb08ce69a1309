#include "proxy/bridge.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <string.h>

static bool in_range(uint32_t a, uint32_t net, unsigned bits)
{
	uint32_t mask = bits ? 0xffffffffu << (32 - bits) : 0;

	return (a & mask) == net;
}

bool kh_bridge_addr_ok(struct in_addr in)
{
	uint32_t a = ntohl(in.s_addr);

	return in_range(a, 0x0a000000u, 8) || /* 10/8 */
	       in_range(a, 0xac100000u, 12) || /* 172.16/12 */
	       in_range(a, 0xc0a80000u, 16) || /* 192.168/16 */
	       in_range(a, 0x64400000u, 10); /* 100.64/10 */
}

int kh_bridge_addr(const char *ifname, struct in_addr *out)
{
	struct ifaddrs *list = NULL;
	int rc = -1;

	if (getifaddrs(&list) != 0)
		return -1;
	for (struct ifaddrs *i = list; i != NULL; i = i->ifa_next) {
		struct in_addr a;

		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET ||
		    strcmp(i->ifa_name, ifname) != 0)
			continue;
		a = ((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr;
		if (kh_bridge_addr_ok(a)) {
			*out = a;
			rc = 0;
			break;
		}
	}
	freeifaddrs(list);
	return rc;
}
