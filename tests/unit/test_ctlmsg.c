/* The control channel's messages (privsep/ctlmsg.h) over a real SEQPACKET
 * socketpair: payloads and a descriptor arrive together; what the key holder
 * must refuse from a front (a cut message, two descriptors, raw junk
 * without a type) is refused and leaves no descriptor open. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "privsep/ctlmsg.h"
#include "fdcount.h"
#include "tap.h"

static void pair(int sv[2])
{
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
}

static void payload_and_fd_arrive_together(void)
{
	int sv[2], p[2], fd = -2;
	uint8_t type = 0;
	char buf[64], c = 0;
	ssize_t n;

	pair(sv);
	CHECK(pipe(p) == 0);
	CHECK(kh_ctlmsg_send(sv[0], KH_CTLMSG_METRICS, "api.openai.com", 14, -1) == 0);
	CHECK(kh_ctlmsg_send(sv[0], KH_CTLMSG_STREAM, NULL, 0, p[1]) == 0);
	n = kh_ctlmsg_recv(sv[1], &type, buf, sizeof buf, &fd);
	CHECK_INT(n, 14);
	CHECK(type == KH_CTLMSG_METRICS && fd == -1 && memcmp(buf, "api.openai.com", 14) == 0);
	n = kh_ctlmsg_recv(sv[1], &type, buf, sizeof buf, &fd);
	CHECK_INT(n, 0);
	CHECK(type == KH_CTLMSG_STREAM && fd >= 0);
	CHECK(write(fd, "x", 1) == 1 && read(p[0], &c, 1) == 1 && c == 'x'); /* the same pipe */
	close(fd);
	n = kh_ctlmsg_recv(sv[1], &type, buf, sizeof buf, &fd);
	CHECK(n == -1 && errno == EAGAIN);
	close(sv[0]);
	CHECK_INT(kh_ctlmsg_recv(sv[1], &type, buf, sizeof buf, &fd), KH_CTLMSG_RECV_CLOSED);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
}

static void oversized_and_cut_messages_refused(void)
{
	static char big[KH_CTLMSG_MAX + 1];
	int sv[2], fd = -2, before;
	uint8_t type;
	char buf[16];

	pair(sv);
	CHECK(kh_ctlmsg_send(sv[0], KH_CTLMSG_METRICS, big, sizeof big, -1) == -1 &&
	      errno == EMSGSIZE);
	before = count_fds();
	/* longer than the reader's buffer, with a descriptor: refused, closed */
	CHECK(kh_ctlmsg_send(sv[0], KH_CTLMSG_STREAM, big, 100, sv[0]) == 0);
	CHECK_INT(kh_ctlmsg_recv(sv[1], &type, buf, sizeof buf, &fd), KH_CTLMSG_RECV_BAD);
	CHECK_INT(fd, -1);
	CHECK_INT(count_fds(), before);
	close(sv[0]);
	close(sv[1]);
}

static void two_descriptors_refused(void)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(2 * sizeof(int))];
	} ctl;
	int sv[2], fds[2], fd = -2, before;
	uint8_t t = KH_CTLMSG_STREAM, type;
	struct iovec iov = { &t, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	char buf[16];

	pair(sv);
	CHECK(pipe(fds) == 0);
	memset(&ctl, 0, sizeof ctl);
	m.msg_control = ctl.space;
	m.msg_controllen = sizeof ctl.space;
	ctl.h.cmsg_level = SOL_SOCKET;
	ctl.h.cmsg_type = SCM_RIGHTS;
	ctl.h.cmsg_len = CMSG_LEN(2 * sizeof(int));
	memcpy(CMSG_DATA(&ctl.h), fds, sizeof fds);
	CHECK(sendmsg(sv[0], &m, 0) == 1);
	close(fds[0]);
	close(fds[1]);
	before = count_fds();
	CHECK_INT(kh_ctlmsg_recv(sv[1], &type, buf, sizeof buf, &fd), KH_CTLMSG_RECV_BAD);
	CHECK_INT(fd, -1);
	CHECK_INT(count_fds(), before); /* both received copies closed */
	close(sv[0]);
	close(sv[1]);
}

static void wait_times_out(void)
{
	int sv[2], fd;
	uint8_t type;
	char buf[8];

	pair(sv);
	CHECK(kh_ctlmsg_wait(sv[1], 50, &type, buf, sizeof buf, &fd) == -1 && errno == ETIMEDOUT);
	CHECK(kh_ctlmsg_send(sv[0], KH_CTLMSG_CONFINED, "der", 3, -1) == 0);
	CHECK_INT(kh_ctlmsg_wait(sv[1], 1000, &type, buf, sizeof buf, &fd), 3);
	CHECK(type == KH_CTLMSG_CONFINED);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	RUN(payload_and_fd_arrive_together);
	RUN(oversized_and_cut_messages_refused);
	RUN(two_descriptors_refused);
	RUN(wait_times_out);
	TAP_DONE();
}
