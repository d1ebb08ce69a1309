/* Channel frames on a SOCK_SEQPACKET socket (chanpkt.h). */
#include "privsep/chanpkt.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/kh_limits.h"

int kh_chanpkt_send(int sock, const struct kh_chan_msg *m, struct kh_err *err)
{
	struct kh_buf b;
	ssize_t w;
	int rc = -1;

	kh_buf_init(&b, KH_CHAN_HDR + KH_CHAN_FRAME_MAX);
	if (kh_chan_encode(m, &b, err) != 0)
		goto out;
	do
		w = send(sock, kh_buf_data(&b), kh_buf_len(&b), MSG_DONTWAIT | MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w == (ssize_t)kh_buf_len(&b))
		rc = 0;
	else
		kh_err_set(err, "cannot send a %s frame: %s", kh_chan_type_name(m->type),
			   w < 0 ? kh_strerror(errno) : "cut short");
out:
	kh_buf_free(&b);
	return rc;
}

/* Closes every descriptor a message carried: none is expected here. */
static void close_fds(struct msghdr *mh)
{
	for (struct cmsghdr *h = CMSG_FIRSTHDR(mh); h != NULL; h = CMSG_NXTHDR(mh, h)) {
		size_t k;

		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int f;

			memcpy(&f, CMSG_DATA(h) + i * sizeof f, sizeof f);
			close(f);
		}
	}
}

int kh_chanpkt_recv(int sock, uint8_t *buf, size_t cap, struct kh_chan_msg *m, struct kh_err *err)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(4 * sizeof(int))];
	} ctl;
	struct iovec iov = { buf, cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t r;

	mh.msg_control = ctl.space;
	mh.msg_controllen = sizeof ctl.space;
	do
		r = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return KH_CHANPKT_NONE;
	if (r < 0) { /* ECONNRESET and the like: the peer is gone */
		kh_err_set(err, "cannot read the channel: %s", kh_strerror(errno));
		return KH_CHANPKT_CLOSED;
	}
	close_fds(&mh);
	if (r == 0)
		return KH_CHANPKT_CLOSED;
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		kh_err_set(err, "a message longer than %zu bytes", cap);
		return KH_CHANPKT_BAD;
	}
	return kh_chan_decode(buf, (size_t)r, m, err) == 0 ? KH_CHANPKT_MSG : KH_CHANPKT_BAD;
}
