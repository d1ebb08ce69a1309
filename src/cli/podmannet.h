/* Where a podman container reaches the host. podman (4.3) writes docker's
 * `host-gateway` literally into the container's /etc/hosts (its own CLI
 * rejects it), so `keyhole podman` maps host.docker.internal to the
 * network's gateway address instead, asked of podman itself
 * (`podman network inspect`): the bridge exists only while a container of
 * the network runs, so it cannot be read from the interfaces beforehand. */
#ifndef KH_PODMANNET_H
#define KH_PODMANNET_H

#include <net/if.h>
#include <stdbool.h>
#include <netinet/in.h>

#include "base/err.h"

/* The default network of `podman run` (`--network bridge` or none given). */
#define KH_PODMAN_DEFAULT_NET "podman"

/* What the `docker` command drives. */
enum kh_engine {
	KH_ENGINE_DOCKER, /* Docker, or nothing known */
	KH_ENGINE_PODMAN, /* the podman command itself, installed as docker (podman-docker) */
	KH_ENGINE_PODMAN_API, /* Docker's CLI talking to podman's service (DOCKER_HOST) */
};

struct kh_podman_net {
	char ifname[IF_NAMESIZE]; /* its bridge: "podman0", "cni-podman0", ... */
	struct in_addr gateway; /* its first IPv4 gateway, RFC 1918 / RFC 6598 */
};

/* Parses "IFNAME GW [GW...]" (the format kh_podman_net_lookup asks for),
 * or "GW [GW...]" without with_ifname (out->ifname is then ""). -1 with err
 * when there is no interface name or no IPv4 gateway, or the gateway is
 * not an address keyhole would listen on. Pure. */
int kh_podman_net_parse(const char *text, bool with_ifname, struct kh_podman_net *out,
			struct kh_err *err);

/* Runs `<cmd> network inspect` for network (environment inherited, so
 * CONTAINERS_CONF, DOCKER_HOST and friends apply), bounded in time and
 * output. KH_ENGINE_PODMAN_API: Docker's format, which has no bridge name. */
int kh_podman_net_lookup(const char *cmd, enum kh_engine kind, const char *network,
			 struct kh_podman_net *out, struct kh_err *err);

/* Which engine the `docker` command cmd drives: `cmd --version` says
 * "podman version ..." (or "docker version ..." through a symlink) for
 * podman-docker; `cmd version` lists a "Podman Engine" component for
 * podman's service. KH_ENGINE_DOCKER when neither
 * answers so (or cannot be asked). */
enum kh_engine kh_podman_detect(const char *cmd);

#endif
