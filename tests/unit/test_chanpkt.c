/* One channel frame per SEQPACKET message (privsep/chanpkt.c): a frame
 * round-trips, an empty queue is "none", a message longer than the
 * receiver's buffer or one that is not a frame is refused without harming
 * the next one, a descriptor sent along is closed, and the peer's end is
 * seen. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "privsep/chanpkt.h"
#include "sendfds.h"
#include "tap.h"

static uint8_t spki[91], buf[KH_CHAN_HDR + KH_CHAN_FRAME_MAX];

static struct kh_chan_msg sign_leaf(uint64_t req, const char *host)
{
	struct kh_chan_msg m = { .type = KH_CHAN_SIGN_LEAF };

	m.u.sign.req = req;
	snprintf(m.u.sign.host, sizeof m.u.sign.host, "%s", host);
	m.u.sign.spki = (struct kh_chan_bytes){ spki, sizeof spki };
	return m;
}

static void pair(int sv[2])
{
	CHECK_INT(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
}

static void test_round_trip(void)
{
	struct kh_chan_msg m = sign_leaf(7, "api.example.com"), got;
	struct kh_err err = { "" };
	int sv[2];

	memset(spki, 0x5a, sizeof spki);
	pair(sv);
	CHECK_INT(kh_chanpkt_recv(sv[1], buf, sizeof buf, &got, &err), KH_CHANPKT_NONE);
	CHECK_INT(kh_chanpkt_send(sv[0], &m, &err), 0);
	CHECK_INT(kh_chanpkt_recv(sv[1], buf, sizeof buf, &got, &err), KH_CHANPKT_MSG);
	CHECK(kh_chan_msg_equal(&m, &got));
	close(sv[0]);
	CHECK_INT(kh_chanpkt_recv(sv[1], buf, sizeof buf, &got, &err), KH_CHANPKT_CLOSED);
	close(sv[1]);
}

static void test_refusals(void)
{
	struct kh_chan_msg m = sign_leaf(1, "a.example"), got;
	struct kh_err err = { "" };
	uint8_t junk[40] = { 0 };
	struct kh_buf b;
	int sv[2], p[2];

	pair(sv);
	/* longer than the receiver's buffer: cut, refused */
	CHECK_INT(kh_chanpkt_send(sv[0], &m, &err), 0);
	CHECK_INT(kh_chanpkt_recv(sv[1], buf, KH_CHAN_HDR + 8, &got, &err), KH_CHANPKT_BAD);
	CHECK(strstr(err.msg, "longer than") != NULL);
	/* not a frame */
	CHECK_INT(send(sv[0], junk, sizeof junk, 0), (ssize_t)sizeof junk);
	CHECK_INT(kh_chanpkt_recv(sv[1], buf, sizeof buf, &got, &err), KH_CHANPKT_BAD);
	/* a frame with a descriptor: taken, and the descriptor closed */
	CHECK_INT(pipe(p), 0);
	m.u.sign.req = 2;
	kh_buf_init(&b, sizeof buf);
	CHECK_INT(kh_chan_encode(&m, &b, &err), 0);
	CHECK_INT(send_fds(sv[0], kh_buf_data(&b), kh_buf_len(&b), p[0], 3, 0),
		  (ssize_t)kh_buf_len(&b));
	kh_buf_free(&b);
	close(p[0]);
	CHECK_INT(kh_chanpkt_recv(sv[1], buf, sizeof buf, &got, &err), KH_CHANPKT_MSG);
	CHECK_INT(got.u.sign.req, 2);
	CHECK_INT((int)write(p[1], "x", 1), -1); /* no reader left: EPIPE */
	CHECK_INT(errno, EPIPE);
	close(p[1]);
	/* the next frame is whole */
	m.u.sign.req = 3;
	CHECK_INT(kh_chanpkt_send(sv[0], &m, &err), 0);
	CHECK_INT(kh_chanpkt_recv(sv[1], buf, sizeof buf, &got, &err), KH_CHANPKT_MSG);
	CHECK_INT(got.u.sign.req, 3);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	RUN(test_round_trip);
	RUN(test_refusals);
	TAP_DONE();
}
