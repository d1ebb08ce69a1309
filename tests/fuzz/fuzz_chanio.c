/* The channel's buffered I/O (privsep/chanio.c) facing a hostile peer: a
 * chanio on one end of a socketpair, the harness on the other, on a real
 * kh_loop. The input is a program, one op byte then its operands:
 *   0-3  write the next (b+1) input bytes to the chanio end
 *   4    the same with an fd (a pipe's write end) attached
 *   5    the same with (c % 20) fds attached
 *   6    run one loop iteration
 *   7    pause or resume the chanio
 *   8    the chanio sends a frame of (b * 37) bytes, with an fd when b is odd
 * then the peer hangs up and the loop runs until the channel closes.
 * The receiver takes an fd from each frame whose type is odd and fails the
 * channel on a frame with flags 0xffff (as a decoder's refusal would).
 * Invariants:
 * - frames are handed in order, each exactly the next whole frame of the
 *   bytes written (header length + 16, at most KH_CHAN_FRAME_MAX payload),
 *   and none while paused;
 * - on_close runs exactly once (after the hangup, at the latest), nothing is
 *   handed after it; a plain hangup comes only after every whole frame
 *   written was handed, and says "inside a frame" exactly when bytes of an
 *   unfinished one were left;
 * - a taken fd is open and close-on-exec; frames sent by the chanio reach
 *   the peer whole and in order, one fd with each frame sent with one;
 * - after free, no fd is left open (counted in /proc/self/fd). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "privsep/chanio.h"
#include "../unit/fdcount.h"
#include "../unit/sendfds.h"

#define MAX_FDS_OP 20
#define WROTE_MAX  (1u << 20)

static struct kh_loop *L;
static int pipe_w = -1, pipe_r = -1;

static struct state {
	struct kh_chanio *ch;
	int raw;
	bool paused;
	int closes, frames_after_close;
	char reason[KH_ERR_MAX];
	uint8_t wrote[WROTE_MAX]; /* bytes the peer got into the socket */
	size_t nwrote, handed; /* handed: bytes of wrote handed as frames */
	uint8_t sent[WROTE_MAX]; /* frames the chanio queued */
	size_t nsent, got; /* got: bytes of sent the peer read back */
	int fds_sent, fds_got;
} st;

static void on_frame(struct kh_chanio *ch, const struct kh_chanio_frame *f, void *arg)
{
	(void)arg;
	CHECK(!st.paused);
	if (st.closes > 0)
		st.frames_after_close++;
	CHECK(f->n == KH_CHAN_HDR + (size_t)f->hdr.len && f->hdr.len <= KH_CHAN_FRAME_MAX);
	CHECK(st.handed + f->n <= st.nwrote);
	CHECK(memcmp(f->bytes, st.wrote + st.handed, f->n) == 0);
	st.handed += f->n;
	if (f->hdr.flags == 0xffff) /* as a decoder's refusal would */
		kh_chanio_fail(ch, "refused by the decoder");
	if (f->hdr.type & 1) {
		int fd = kh_chanio_take_fd(ch);

		if (fd >= 0) {
			CHECK(fcntl(fd, F_GETFD) == FD_CLOEXEC);
			close(fd);
		}
	}
}

static void on_close(struct kh_chanio *ch, const char *reason, void *arg)
{
	(void)ch;
	(void)arg;
	st.closes++;
	snprintf(st.reason, sizeof st.reason, "%s", reason);
}

static const struct kh_chanio_ops ops = { on_frame, on_close, NULL };

static void stop_task(struct kh_task *t)
{
	(void)t;
	kh_loop_stop(L);
}

static void run_once(void)
{
	struct kh_task t = { .cb = stop_task };

	kh_loop_defer(L, &t);
	kh_loop_run(L);
}

/* The peer writes p[0..n) with nfd fds; what the socket took counts. */
static void peer_write(const uint8_t *p, size_t n, int nfd)
{
	ssize_t w;

	if (n > WROTE_MAX - st.nwrote)
		return;
	w = send_fds(st.raw, p, n, pipe_w, nfd, MSG_DONTWAIT);
	if (w > 0) {
		memcpy(st.wrote + st.nwrote, p, (size_t)w);
		st.nwrote += (size_t)w;
	}
}

/* Reads back what the chanio wrote: the bytes it queued, in order, and one
 * fd per message that carried one. */
static void peer_read(void)
{
	static uint8_t buf[65536];

	for (;;) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int) * 4)];
		} ctl;
		struct iovec iov = { buf, sizeof buf };
		struct msghdr msg = { .msg_iov = &iov,
				      .msg_iovlen = 1,
				      .msg_control = ctl.buf,
				      .msg_controllen = sizeof ctl.buf };
		ssize_t n = recvmsg(st.raw, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n <= 0)
			return;
		CHECK(!(msg.msg_flags & MSG_CTRUNC));
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
			int fd;

			CHECK(c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)));
			memcpy(&fd, CMSG_DATA(c), sizeof fd);
			close(fd);
			st.fds_got++;
		}
		CHECK(st.got + (size_t)n <= st.nsent);
		CHECK(memcmp(buf, st.sent + st.got, (size_t)n) == 0);
		st.got += (size_t)n;
	}
}

static void chan_send(uint8_t b)
{
	static uint8_t f[KH_CHAN_HDR + 255 * 37];
	size_t len = (size_t)b * 37;
	struct kh_err err;

	memset(f, 0, KH_CHAN_HDR);
	f[0] = (uint8_t)(b | 1);
	f[4] = (uint8_t)len;
	f[5] = (uint8_t)(len >> 8);
	memset(f + KH_CHAN_HDR, b, len);
	if (KH_CHAN_HDR + len > WROTE_MAX - st.nsent)
		return;
	if (kh_chanio_send(st.ch, f, KH_CHAN_HDR + len, b & 1 ? pipe_w : -1, &err) == 0) {
		memcpy(st.sent + st.nsent, f, KH_CHAN_HDR + len);
		st.nsent += KH_CHAN_HDR + len;
		st.fds_sent += b & 1;
	} else {
		CHECK(err.msg[0] != '\0');
	}
}

static size_t op(const uint8_t *p, size_t n)
{
	uint8_t o = p[0] % 9, b = n > 1 ? p[1] : 0;
	size_t take, avail;

	switch (o) {
	case 6:
		run_once();
		peer_read();
		return 1;
	case 7:
		st.paused = !st.paused;
		if (st.paused)
			kh_chanio_pause(st.ch);
		else
			kh_chanio_resume(st.ch);
		return 1;
	case 8:
		chan_send(b);
		return 2;
	default:
		break;
	}
	avail = n > 2 ? n - 2 : 0;
	take = (size_t)b + 1 < avail ? (size_t)b + 1 : avail;
	peer_write(p + 2, take, o == 4 ? 1 : o == 5 ? b % MAX_FDS_OP : 0);
	return 2 + take;
}

static void setup(void)
{
	struct kh_err err;
	int p[2];

	signal(SIGPIPE, SIG_IGN);
	L = kh_loop_new(&err);
	CHECK(L != NULL);
	CHECK(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
	pipe_r = p[0];
	pipe_w = p[1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kh_err err;
	int fds[2], before;
	size_t off = 0;

	if (L == NULL)
		setup();
	before = count_fds();
	st.nwrote = st.handed = st.nsent = st.got = 0;
	st.closes = st.frames_after_close = st.fds_sent = st.fds_got = 0;
	st.paused = false;
	CHECK(kh_chanio_socketpair(fds, &err) == 0);
	st.raw = fds[0];
	st.ch = kh_chanio_new(L, fds[1], &ops, NULL, &err);
	CHECK(st.ch != NULL);
	while (off < size)
		off += op(data + off, size - off);
	run_once();
	peer_read();
	CHECK(st.fds_got <= st.fds_sent);
	if (st.closes == 0) /* then every fd sent went out with its frame */
		CHECK(st.fds_got == st.fds_sent || st.got < st.nsent);
	if (st.paused) {
		st.paused = false;
		kh_chanio_resume(st.ch);
	}
	close(st.raw);
	for (int i = 0; i < 64 && st.closes == 0; i++)
		run_once();
	CHECK(st.closes == 1);
	CHECK(st.frames_after_close == 0);
	if (strncmp(st.reason, "the peer closed", 15) == 0) {
		/* all whole frames handed; the rest is an unfinished one */
		size_t left = st.nwrote - st.handed;

		CHECK((left > 0) == (strstr(st.reason, "inside a frame") != NULL));
		if (left >= KH_CHAN_HDR) {
			struct kh_chan_hdr h;

			kh_chan_hdr_read(st.wrote + st.handed, &h);
			CHECK(h.len <= KH_CHAN_FRAME_MAX && left < KH_CHAN_HDR + (size_t)h.len);
		}
	}
	kh_chanio_free(st.ch);
	run_once();
	run_once();
	CHECK(count_fds() == before);
	return 0;
}
