/* Where a podman container reaches the host. podman (4.3) writes docker's
 * `host-gateway` literally into the container's /etc/hosts (its own CLI
 * rejects it), so `keyhole podman` maps host.docker.internal to the
 * network's gateway address instead, asked of podman itself
 * (`podman network inspect`): the bridge exists only while a container of
 * the network runs, so it cannot be read from the interfaces beforehand. */
#ifndef KH_PODMANNET_H
#define KH_PODMANNET_H

#include <net/if.h>
#include <netinet/in.h>

#include "err.h"

/* The default network of `podman run` (`--network bridge` or none given). */
#define KH_PODMAN_DEFAULT_NET "podman"

struct kh_podman_net {
	char ifname[IF_NAMESIZE]; /* its bridge: "podman0", "cni-podman0", ... */
	struct in_addr gateway; /* its first IPv4 gateway, RFC 1918 / RFC 6598 */
};

/* Parses "IFNAME GW [GW...]" (the format kh_podman_net_lookup asks for).
 * -1 with err when there is no interface name or no IPv4 gateway, or the
 * gateway is not an address keyhole would listen on. Pure. */
int kh_podman_net_parse(const char *text, struct kh_podman_net *out, struct kh_err *err);

/* Runs `<engine> network inspect` for network (environment inherited, so
 * CONTAINERS_CONF and friends apply), bounded in time and output. */
int kh_podman_net_lookup(const char *engine, const char *network, struct kh_podman_net *out,
			 struct kh_err *err);

#endif
