/* Listening on container bridges as they come and go. Containers reach the
 * host through a bridge: docker0 for Docker (host.docker.internal:host-gateway
 * points there), podman0 / cni-podman0 for podman. A bridge may appear after
 * keyhole started (Docker installed or started later; podman creates its
 * bridge only while a container runs) and may vanish again, so a thread
 * watches IPv4 address changes on a netlink socket (RTNLGRP_IPV4_IFADDR) and,
 * on each, re-checks the bridges: a new private address gets a listener on
 * the tunnel port (watched by every worker, or with privsep: true handed to
 * every front process through a sink), a vanished one loses it. An address
 * that could not be listened on (its port still held, e.g. by a front that
 * has not closed the listener of the same address gone a moment ago) is
 * tried again every KH_BRIDGE_RETRY_MS. A reload (SIGHUP) re-checks too, in
 * case netlink is unavailable. */
#ifndef KH_BRIDGEWATCH_H
#define KH_BRIDGEWATCH_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/err.h"
#include "base/kh_limits.h"
#include "proxy/worker.h"

/* The interface names watched, in slot order. */
extern const char *const kh_bridge_names[KH_MAX_BRIDGES];

/* Where the listeners go when no worker of this process accepts on them
 * (privsep: true: kh_fronts_set_bridge): called for each slot whose
 * listener changed, fd -1 when it is gone, under the watch's lock and
 * before a gone fd is closed; it keeps a copy of its own if it needs one. */
typedef void kh_bridge_sink_fn(void *arg, size_t slot, int fd);

struct kh_bridgewatch {
	struct kh_shared *sh;
	struct kh_worker *workers;
	unsigned n_workers;
	kh_bridge_sink_fn *sink; /* NULL: the workers take the listeners */
	void *sink_arg;
	uint16_t port;
	const struct sockaddr_storage *skip; /* listen: addresses, served already */
	size_t n_skip;
	pthread_mutex_t lock; /* serialises checks (netlink thread and reload) */
	struct in_addr addr[KH_MAX_BRIDGES];
	int fds[KH_MAX_BRIDGES]; /* -1: not listening on that bridge */
	bool warned[KH_MAX_BRIDGES]; /* a bind failure for addr[i] was logged */
	bool pending; /* a bridge has an address but no listener: try again soon */
	int nl_fd, stop_fd;
	pthread_t thread;
	bool running;
};

/* Opens the netlink socket and does the first check (before the workers
 * start; they pick the listeners up when they do). With a sink (workers
 * NULL, n_workers 0) the listeners go to it instead. A missing netlink
 * socket is logged, not fatal: reloads still re-check. */
int kh_bridgewatch_open(struct kh_bridgewatch *bw, struct kh_shared *sh, struct kh_worker *workers,
			unsigned n_workers, kh_bridge_sink_fn *sink, void *sink_arg, uint16_t port,
			const struct sockaddr_storage *skip, size_t n_skip, struct kh_err *err);

/* Starts the watching thread. */
int kh_bridgewatch_start(struct kh_bridgewatch *bw, struct kh_err *err);

/* Re-checks the bridges now (reload). Thread-safe. */
void kh_bridgewatch_check(struct kh_bridgewatch *bw);

/* Stops the thread (before the workers stop). */
void kh_bridgewatch_stop(struct kh_bridgewatch *bw);

/* Closes the listeners (after the workers are joined). */
void kh_bridgewatch_free(struct kh_bridgewatch *bw);

#endif
