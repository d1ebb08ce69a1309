/* The control channel's messages (ctlmsg.h). */
#include "privsep/ctlmsg.h"

#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"

int kh_ctlmsg_send(int sock, uint8_t type, const void *p, size_t n, int fd)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov[2] = { { &type, 1 }, { (void *)(uintptr_t)p, n } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = n > 0 ? 2 : 1 };
	ssize_t w;

	if (n > KH_CTLMSG_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	if (fd >= 0) {
		memset(&ctl, 0, sizeof ctl);
		m.msg_control = ctl.space;
		m.msg_controllen = sizeof ctl.space;
		ctl.h.cmsg_level = SOL_SOCKET;
		ctl.h.cmsg_type = SCM_RIGHTS;
		ctl.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&ctl.h), &fd, sizeof fd);
	}
	do
		w = sendmsg(sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (w < 0 && errno == EINTR);
	return w == (ssize_t)(n + 1) ? 0 : -1;
}

/* Every descriptor the message carried: the first in *fd, any more closed
 * (a front sends at most one); and the sender's pid into *pid when the
 * kernel attached its credentials (SO_PASSCRED). Returns how many fds. */
static int take_fds(struct msghdr *m, int *fd, pid_t *pid)
{
	int n = 0;

	for (struct cmsghdr *h = CMSG_FIRSTHDR(m); h != NULL; h = CMSG_NXTHDR(m, h)) {
		size_t k;

		if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_CREDENTIALS &&
		    h->cmsg_len >= CMSG_LEN(sizeof(struct ucred)) && pid != NULL) {
			struct ucred u;

			memcpy(&u, CMSG_DATA(h), sizeof u);
			*pid = u.pid;
		}
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++, n++) {
			int f;

			memcpy(&f, CMSG_DATA(h) + i * sizeof f, sizeof f);
			if (n == 0)
				*fd = f;
			else
				close(f);
		}
	}
	return n;
}

ssize_t kh_ctlmsg_recv(int sock, uint8_t *type, void *buf, size_t cap, int *fd)
{
	return kh_ctlmsg_recv_from(sock, type, buf, cap, fd, NULL);
}

ssize_t kh_ctlmsg_recv_from(int sock, uint8_t *type, void *buf, size_t cap, int *fd, pid_t *pid)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(2 * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
	} ctl;
	struct iovec iov[2] = { { type, 1 }, { buf, cap } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t r;
	int n;

	*fd = -1;
	if (pid != NULL)
		*pid = 0;
	m.msg_control = ctl.space;
	m.msg_controllen = sizeof ctl.space;
	do
		r = recvmsg(sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	/* A peer that closed with messages of ours unread leaves ECONNRESET,
	 * not 0: it is gone all the same (a front that took it for "nothing
	 * yet" waited for its edge-triggered hangup forever) */
	if (r < 0 && (errno == ECONNRESET || errno == EPIPE))
		return KH_CTLMSG_RECV_CLOSED;
	if (r < 0)
		return -1;
	n = take_fds(&m, fd, pid);
	if (r == 0)
		return KH_CTLMSG_RECV_CLOSED;
	if ((m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || n > 1) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return KH_CTLMSG_RECV_BAD;
	}
	return r - 1;
}

int kh_ctlmsg_pass_creds(int sock)
{
	int on = 1;

	return setsockopt(sock, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
}

void kh_ctlmsg_drain(int sock)
{
	uint8_t type, buf[KH_CTLMSG_MAX];
	ssize_t n;
	int fd;

	for (int i = 0; i < KH_CTLMSG_DRAIN_MAX &&
			(n = kh_ctlmsg_recv(sock, &type, buf, sizeof buf, &fd)) != -1 &&
			n != KH_CTLMSG_RECV_CLOSED;
	     i++)
		if (fd >= 0)
			close(fd);
}

ssize_t kh_ctlmsg_wait(int sock, unsigned timeout_ms, uint8_t *type, void *buf, size_t cap, int *fd)
{
	uint64_t end = kh_mono_ms() + timeout_ms;

	for (;;) {
		uint64_t now = kh_mono_ms();
		struct pollfd p = { sock, POLLIN, 0 };
		ssize_t r = kh_ctlmsg_recv(sock, type, buf, cap, fd);

		if (r >= 0 || r == KH_CTLMSG_RECV_CLOSED || r == KH_CTLMSG_RECV_BAD ||
		    errno != EAGAIN)
			return r;
		if (now >= end) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (poll(&p, 1, (int)(end - now)) < 0 && errno != EINTR)
			return -1;
	}
}

/* --- container bridges --- */

int kh_ctlmsg_send_listen(int sock, unsigned slot, int fd)
{
	uint8_t b = (uint8_t)slot;

	if (slot >= KH_MAX_BRIDGES) {
		errno = EINVAL;
		return -1;
	}
	return kh_ctlmsg_send(sock, fd >= 0 ? KH_CTLMSG_LISTEN_ADD : KH_CTLMSG_LISTEN_DEL, &b, 1,
			      fd);
}

static int sockopt_is(int fd, int name, int want)
{
	int v = -1;
	socklen_t l = sizeof v;

	return getsockopt(fd, SOL_SOCKET, name, &v, &l) == 0 && l == sizeof v && v == want;
}

/* A descriptor a front may accept on for containers: a listening TCP
 * socket over IPv4 (bridge addresses are IPv4, bridge.h). */
static bool tcp4_listener(int fd)
{
	return sockopt_is(fd, SO_DOMAIN, AF_INET) && sockopt_is(fd, SO_TYPE, SOCK_STREAM) &&
	       sockopt_is(fd, SO_PROTOCOL, IPPROTO_TCP) && sockopt_is(fd, SO_ACCEPTCONN, 1);
}

int kh_ctlmsg_listen_decode(uint8_t type, const void *p, ssize_t n, int fd, unsigned *slot,
			    struct kh_err *err)
{
	const uint8_t *b = p;

	if (type != KH_CTLMSG_LISTEN_ADD && type != KH_CTLMSG_LISTEN_DEL) {
		kh_err_set(err, "not a listener message");
		return -1;
	}
	if (n != 1 || b[0] >= KH_MAX_BRIDGES) {
		kh_err_set(err, "bridge listener: bad slot");
		return -1;
	}
	if (type == KH_CTLMSG_LISTEN_DEL && fd >= 0) {
		kh_err_set(err, "bridge listener: a descriptor with LISTEN_DEL");
		return -1;
	}
	if (type == KH_CTLMSG_LISTEN_ADD && (fd < 0 || !tcp4_listener(fd))) {
		kh_err_set(err, "bridge listener: %s",
			   fd < 0 ? "no descriptor" : "not a listening IPv4 TCP socket");
		return -1;
	}
	*slot = b[0];
	return 0;
}
