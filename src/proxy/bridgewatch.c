#include "proxy/bridgewatch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "proxy/bridge.h"
#include "event/listener.h"
#include "base/log.h"
#include "base/kh_limits.h"

const char *const kh_bridge_names[KH_MAX_BRIDGES] = { "docker0", "podman0", "cni-podman0" };

static bool listed_by_hand(const struct kh_bridgewatch *bw, struct in_addr a)
{
	for (size_t i = 0; i < bw->n_skip; i++)
		if (bw->skip[i].ss_family == AF_INET &&
		    ((const struct sockaddr_in *)&bw->skip[i])->sin_addr.s_addr == a.s_addr)
			return true;
	return false;
}

/* A listener on a:port, after a plain bind proved nobody else holds it (see
 * listener.h); -1 with the reason logged once per address. */
static int open_on(struct kh_bridgewatch *bw, size_t slot, struct in_addr a)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct kh_err err = { "" };
	char text[64];
	int fd = -1;

	sin->sin_family = AF_INET;
	sin->sin_port = htons(bw->port);
	sin->sin_addr = a;
	kh_listen_format(&ss, text, sizeof text);
	if (kh_listen_probe(&ss, sizeof *sin, text, &err) == 0)
		fd = kh_listen_open(&ss, sizeof *sin, text, &err);
	if (fd >= 0)
		kh_info("listening on %s (%s, for containers)", text, kh_bridge_names[slot]);
	else if (!bw->warned[slot])
		kh_warn("%s: containers cannot reach keyhole there: %s", kh_bridge_names[slot],
			err.msg);
	bw->warned[slot] = fd < 0;
	return fd;
}

/* Waits until every worker has stopped watching the previous set. */
static bool wait_acks(struct kh_bridgewatch *bw, unsigned gen)
{
	for (unsigned waited = 0; waited < KH_BRIDGE_ACK_WAIT_MS; waited += KH_BRIDGE_ACK_POLL_MS) {
		unsigned n = 0;

		for (unsigned i = 0; i < bw->n_workers; i++)
			n += kh_worker_bridge_acked(&bw->workers[i], gen);
		if (n == bw->n_workers)
			return true;
		nanosleep(&(struct timespec){ 0, KH_BRIDGE_ACK_POLL_MS * 1000000L }, NULL);
	}
	return false;
}

/* Publishes the new set (moved: the slots that changed); closes what left
 * it once no worker watches it, or at once when a sink took the set (it
 * keeps copies of its own). */
static void publish(struct kh_bridgewatch *bw, const bool *moved, const int *gone, size_t n_gone)
{
	unsigned gen;

	if (bw->sink != NULL) {
		for (size_t i = 0; i < KH_MAX_BRIDGES; i++)
			if (moved[i])
				bw->sink(bw->sink_arg, i, bw->fds[i]);
		for (size_t i = 0; i < n_gone; i++)
			close(gone[i]);
		return;
	}
	gen = kh_shared_set_bridges(bw->sh, bw->fds);

	for (unsigned i = 0; i < bw->n_workers && bw->running; i++)
		kh_worker_wake(&bw->workers[i]);
	if (n_gone == 0)
		return;
	if (!wait_acks(bw, gen)) { /* a stuck worker: leaking the fd beats closing it under it */
		kh_warn("bridge: workers did not pick up the change; keeping %zu old listener(s)",
			n_gone);
		return;
	}
	for (size_t i = 0; i < n_gone; i++)
		close(gone[i]);
}

void kh_bridgewatch_check(struct kh_bridgewatch *bw)
{
	int gone[KH_MAX_BRIDGES];
	size_t n_gone = 0;
	bool changed = false, moved[KH_MAX_BRIDGES] = { false };

	pthread_mutex_lock(&bw->lock);
	bw->pending = false;
	for (size_t i = 0; i < KH_MAX_BRIDGES; i++) {
		struct in_addr a = { 0 };
		bool have = kh_bridge_addr(kh_bridge_names[i], &a) == 0 && !listed_by_hand(bw, a);

		if (have && bw->fds[i] >= 0 && a.s_addr == bw->addr[i].s_addr)
			continue;
		if (!have && bw->fds[i] < 0) {
			bw->warned[i] = false;
			continue;
		}
		if (bw->fds[i] >= 0) {
			char ip[INET_ADDRSTRLEN];

			kh_info("%s: its address %s is gone: no longer listening there",
				kh_bridge_names[i],
				inet_ntop(AF_INET, &bw->addr[i], ip, sizeof ip));
			gone[n_gone++] = bw->fds[i];
			bw->fds[i] = -1;
			changed = moved[i] = true;
		}
		if (have && a.s_addr != bw->addr[i].s_addr)
			bw->warned[i] = false;
		bw->addr[i] = a;
		if (have && (bw->fds[i] = open_on(bw, i, a)) >= 0)
			changed = moved[i] = true;
		bw->pending |= have && bw->fds[i] < 0;
	}
	if (changed)
		publish(bw, moved, gone, n_gone);
	pthread_mutex_unlock(&bw->lock);
}

static int open_netlink(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_IPV4_IFADDR };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

int kh_bridgewatch_open(struct kh_bridgewatch *bw, struct kh_shared *sh, struct kh_worker *workers,
			unsigned n_workers, kh_bridge_sink_fn *sink, void *sink_arg, uint16_t port,
			const struct sockaddr_storage *skip, size_t n_skip, struct kh_err *err)
{
	*bw = (struct kh_bridgewatch){ .sh = sh,
				       .workers = workers,
				       .n_workers = n_workers,
				       .sink = sink,
				       .sink_arg = sink_arg,
				       .port = port,
				       .skip = skip,
				       .n_skip = n_skip,
				       .nl_fd = -1,
				       .stop_fd = -1 };
	for (size_t i = 0; i < KH_MAX_BRIDGES; i++)
		bw->fds[i] = -1;
	pthread_mutex_init(&bw->lock, NULL);
	bw->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (bw->stop_fd < 0) {
		kh_err_set(err, "bridge watch: eventfd: %s", kh_strerror(errno));
		return -1;
	}
	bw->nl_fd = open_netlink();
	if (bw->nl_fd < 0)
		kh_warn("bridge watch: no netlink socket (%s): container bridges that appear "
			"later are listened on only after `keyhole reload`",
			kh_strerror(errno));
	kh_bridgewatch_check(bw);
	return 0;
}

/* Reads whatever is queued: the messages are not parsed, any address
 * change (or a lost one: ENOBUFS) means "look again". */
static void drain(int fd)
{
	char buf[KH_BRIDGE_NL_BUF];

	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);

		if (n < 0 && errno != EINTR && errno != ENOBUFS)
			return;
	}
}

/* A bridge whose address is there but could not be listened on is tried
 * again every KH_BRIDGE_RETRY_MS: its port may be held only for a moment,
 * e.g. by a front that has not yet closed the listener of the same address
 * that vanished and came back (podman re-creates podman0 per container). */
static int retry_ms(struct kh_bridgewatch *bw)
{
	bool pending;

	pthread_mutex_lock(&bw->lock);
	pending = bw->pending;
	pthread_mutex_unlock(&bw->lock);
	return pending ? KH_BRIDGE_RETRY_MS : -1;
}

static void *watch_main(void *arg)
{
	struct kh_bridgewatch *bw = arg;
	struct pollfd p[2] = { { bw->stop_fd, POLLIN, 0 }, { bw->nl_fd, POLLIN, 0 } };

	for (;;) {
		int n = poll(p, 2, retry_ms(bw));

		if (n == 0) {
			kh_bridgewatch_check(bw);
			continue;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			kh_warn("bridge watch: poll: %s", kh_strerror(errno));
			return NULL;
		}
		if (p[0].revents != 0)
			return NULL;
		if (p[1].revents != 0) {
			drain(bw->nl_fd);
			kh_bridgewatch_check(bw);
		}
	}
}

int kh_bridgewatch_start(struct kh_bridgewatch *bw, struct kh_err *err)
{
	bw->running = true; /* from here on the workers run: wake them on changes */
	if (bw->nl_fd < 0)
		return 0;
	if (pthread_create(&bw->thread, NULL, watch_main, bw) != 0) {
		kh_err_set(err, "cannot start the bridge watch thread");
		close(bw->nl_fd);
		bw->nl_fd = -1;
		return -1;
	}
	return 0;
}

void kh_bridgewatch_stop(struct kh_bridgewatch *bw)
{
	if (bw->nl_fd >= 0 && bw->running) {
		uint64_t one = 1;

		if (write(bw->stop_fd, &one, sizeof one) == (ssize_t)sizeof one)
			pthread_join(bw->thread, NULL);
	}
	if (bw->nl_fd >= 0)
		close(bw->nl_fd);
	bw->nl_fd = -1;
	bw->running = false;
}

void kh_bridgewatch_free(struct kh_bridgewatch *bw)
{
	for (size_t i = 0; i < KH_MAX_BRIDGES; i++) {
		if (bw->fds[i] >= 0)
			close(bw->fds[i]);
		bw->fds[i] = -1;
	}
	if (bw->stop_fd >= 0)
		close(bw->stop_fd);
	bw->stop_fd = -1;
}
