/* Containers reach the host through the Docker bridge (docker0, usually
 * 172.17.0.1), which host.docker.internal:host-gateway points at. When that
 * interface exists the daemon also listens on its address, but only after
 * checking the address is a private one: never a wildcard, loopback,
 * link-local, multicast or public address, whatever the interface says. */
#ifndef KH_BRIDGE_H
#define KH_BRIDGE_H

#include <stdbool.h>
#include <netinet/in.h>

/* Is a an address it is safe to listen on for containers (RFC 1918 or the
 * RFC 6598 shared range)? */
bool kh_bridge_addr_ok(struct in_addr a);

/* The IPv4 address of interface ifname if it exists and passes the check.
 * 0 / -1. */
int kh_bridge_addr(const char *ifname, struct in_addr *out);

#endif
