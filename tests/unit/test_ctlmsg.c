/* The control channel's messages (privsep/ctlmsg.h) over a real SEQPACKET
 * socketpair: payloads and a descriptor arrive together; what the key holder
 * must refuse from a front (a cut message, two descriptors, raw junk
 * without a type) is refused and leaves no descriptor open. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
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

/* A socket of family/type bound to loopback (port 0), listening or not. */
static int sock_on_lo(int family, int type, bool listening)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(family, type | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	if (family == AF_INET)
		CHECK(bind(fd, (struct sockaddr *)&a4, sizeof a4) == 0);
	else if (family == AF_INET6 && bind(fd, (struct sockaddr *)&a6, sizeof a6) != 0)
		return fd; /* no IPv6 here: still not an IPv4 listener */
	if (listening)
		CHECK(listen(fd, 4) == 0);
	return fd;
}

static int decode(uint8_t type, const void *p, ssize_t n, int fd, unsigned *slot)
{
	struct kh_err err = { "" };
	int rc = kh_ctlmsg_listen_decode(type, p, n, fd, slot, &err);

	CHECK(rc == 0 || err.msg[0] != '\0'); /* a refusal says why */
	return rc;
}

static void listen_messages_round_trip(void)
{
	int sv[2], lis = sock_on_lo(AF_INET, SOCK_STREAM, true), fd = -2;
	uint8_t type = 0, buf[16];
	unsigned slot = 99;
	ssize_t n;

	pair(sv);
	CHECK(kh_ctlmsg_send_listen(sv[0], KH_MAX_BRIDGES - 1, lis) == 0);
	CHECK(kh_ctlmsg_send_listen(sv[0], 0, -1) == 0);
	CHECK(kh_ctlmsg_send_listen(sv[0], KH_MAX_BRIDGES, lis) == -1 && errno == EINVAL);
	n = kh_ctlmsg_recv(sv[1], &type, buf, sizeof buf, &fd);
	CHECK(type == KH_CTLMSG_LISTEN_ADD && fd >= 0 && fd != lis);
	CHECK_INT(decode(type, buf, n, fd, &slot), 0);
	CHECK_INT(slot, KH_MAX_BRIDGES - 1);
	close(fd);
	n = kh_ctlmsg_recv(sv[1], &type, buf, sizeof buf, &fd);
	CHECK(type == KH_CTLMSG_LISTEN_DEL && fd == -1);
	CHECK_INT(decode(type, buf, n, fd, &slot), 0);
	CHECK_INT(slot, 0);
	CHECK(kh_ctlmsg_recv(sv[1], &type, buf, sizeof buf, &fd) == -1 && errno == EAGAIN);
	close(lis);
	close(sv[0]);
	close(sv[1]);
}

static void listen_decode_refuses(void)
{
	int lis = sock_on_lo(AF_INET, SOCK_STREAM, true);
	int bound = sock_on_lo(AF_INET, SOCK_STREAM, false);
	int udp = sock_on_lo(AF_INET, SOCK_DGRAM, false);
	int six = sock_on_lo(AF_INET6, SOCK_STREAM, true);
	int ux = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), p[2];
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	uint8_t ok = 1, bad = KH_MAX_BRIDGES, two[2] = { 0, 0 };
	unsigned slot = 77;

	CHECK(ux >= 0 && pipe(p) == 0);
	CHECK(bind(ux, (struct sockaddr *)&un, sizeof(sa_family_t)) == 0); /* autobind */
	CHECK(listen(ux, 4) == 0);
	CHECK_INT(decode(KH_CTLMSG_LISTEN_ADD, &ok, 1, lis, &slot), 0);
	CHECK_INT(slot, 1);
	slot = 77;
	CHECK_INT(decode(KH_CTLMSG_LISTEN_ADD, &bad, 1, lis, &slot), -1); /* slot out of range */
	CHECK_INT(decode(KH_CTLMSG_LISTEN_DEL, &bad, 1, -1, &slot), -1);
	CHECK_INT(decode(KH_CTLMSG_LISTEN_ADD, &ok, 0, lis, &slot), -1); /* no slot */
	CHECK_INT(decode(KH_CTLMSG_LISTEN_ADD, two, 2, lis, &slot), -1); /* trailing byte */
	CHECK_INT(decode(KH_CTLMSG_LISTEN_ADD, &ok, 1, -1, &slot), -1); /* no descriptor */
	CHECK_INT(decode(KH_CTLMSG_LISTEN_DEL, &ok, 1, lis, &slot), -1); /* DEL with one */
	CHECK_INT(decode(KH_CTLMSG_LISTEN_ADD, &ok, 1, bound, &slot), -1); /* not listening */
	CHECK_INT(decode(KH_CTLMSG_LISTEN_ADD, &ok, 1, udp, &slot), -1);
	CHECK_INT(decode(KH_CTLMSG_LISTEN_ADD, &ok, 1, six, &slot), -1); /* IPv6 */
	CHECK_INT(decode(KH_CTLMSG_LISTEN_ADD, &ok, 1, ux, &slot), -1); /* Unix listener */
	CHECK_INT(decode(KH_CTLMSG_LISTEN_ADD, &ok, 1, p[0], &slot), -1); /* not a socket */
	CHECK_INT(decode(KH_CTLMSG_STREAM, &ok, 1, -1, &slot), -1); /* another type */
	CHECK_INT(slot, 77); /* untouched by every refusal */
	CHECK(fcntl(lis, F_GETFD) >= 0); /* the caller's, still open */
	close(lis);
	close(bound);
	close(udp);
	close(six);
	close(ux);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	RUN(payload_and_fd_arrive_together);
	RUN(oversized_and_cut_messages_refused);
	RUN(two_descriptors_refused);
	RUN(wait_times_out);
	RUN(listen_messages_round_trip);
	RUN(listen_decode_refuses);
	TAP_DONE();
}
