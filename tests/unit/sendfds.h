/* sendmsg of bytes with nfd copies of one descriptor in a single
 * SCM_RIGHTS message, for tests and fuzz harnesses that play a channel's
 * peer (test_chanio, fuzz_chanio). */
#ifndef KH_TEST_SENDFDS_H
#define KH_TEST_SENDFDS_H

#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#define SENDFDS_MAX 64 /* most copies one call sends */

static inline ssize_t send_fds(int sock, const void *p, size_t n, int fd, int nfd, int flags)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * SENDFDS_MAX)];
	} ctl;
	struct iovec iov = { (void *)p, n };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfd > SENDFDS_MAX)
		nfd = SENDFDS_MAX;
	if (nfd > 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof ctl);
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfd);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfd);
		for (int i = 0; i < nfd; i++)
			memcpy(CMSG_DATA(c) + i * sizeof fd, &fd, sizeof fd);
	}
	return sendmsg(sock, &msg, flags | MSG_NOSIGNAL);
}

#endif
