/* The channel's buffered I/O (privsep/chanio.c) on a real kh_loop and real
 * AF_UNIX socketpairs, both ends in this process (a chanio on each, or a
 * chanio facing a raw socket the test writes by hand): batching, a full
 * socket and a full out buffer, fds passed in order with their frames,
 * every kind of violation closing the channel once, pause/resume, the read
 * budget, and no fd left open (counted in /proc/self/fd). Every wait runs
 * under a 5 s timer. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "privsep/chanio.h"
#include "tap.h"
#include "fdcount.h"
#include "sendfds.h"

#define T_FD     0x7f01 /* the test's own rule: frames of this type carry an fd */
#define T_DATA   0x7f02
#define T_FAIL   0x7f03 /* the receiver "fails to decode" it */
#define MAXF     64
#define WAIT_MS  5000
#define BIG_PAY  KH_CHAN_FRAME_MAX
#define BIG_SIZE (KH_CHAN_HDR + BIG_PAY)

static struct kh_loop *L;
static struct kh_err err;

/* --- frames --- */

static uint8_t fbuf[BIG_SIZE];

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

/* A frame of type on stream with len payload bytes derived from stream. */
static size_t mkframe(uint16_t type, uint64_t stream, size_t len)
{
	put_le(fbuf, type, 2);
	put_le(fbuf + 2, 0, 2);
	put_le(fbuf + 4, len, 4);
	put_le(fbuf + 8, stream, 8);
	for (size_t i = 0; i < len; i++)
		fbuf[KH_CHAN_HDR + i] = (uint8_t)(stream * 31 + i);
	return KH_CHAN_HDR + len;
}

static bool payload_ok(const struct kh_chanio_frame *f)
{
	if (f->n != KH_CHAN_HDR + f->hdr.len)
		return false;
	for (size_t i = 0; i < f->hdr.len; i++)
		if (f->bytes[KH_CHAN_HDR + i] != (uint8_t)(f->hdr.stream * 31 + i))
			return false;
	return true;
}

/* --- one end and what it saw --- */

struct end {
	struct kh_chanio *ch;
	int frames, bad_payload, closes, rooms;
	uint64_t streams[MAXF];
	int fds[MAXF]; /* per frame: the fd it took, -2 when it took none */
	int pause_at; /* pause after this many frames (0: never) */
	int free_at; /* free itself after this many frames (0: never) */
	bool echo; /* send every frame back */
	bool use_fd; /* write the payload's first byte into a taken fd, then close it */
	bool refill; /* on_room: send one more big frame */
	char reason[KH_ERR_MAX];
};

static void on_frame(struct kh_chanio *ch, const struct kh_chanio_frame *f, void *arg)
{
	struct end *e = arg;
	int i = e->frames++;

	if (i < MAXF) {
		e->streams[i] = f->hdr.stream;
		e->fds[i] = -2;
	}
	if (!payload_ok(f))
		e->bad_payload++;
	if (f->hdr.type == T_FD) {
		int fd = kh_chanio_take_fd(ch);

		if (i < MAXF)
			e->fds[i] = fd;
		if (e->use_fd && fd >= 0) {
			(void)!write(fd, f->bytes + KH_CHAN_HDR, f->hdr.len ? 1 : 0);
			close(fd);
		}
	}
	if (f->hdr.type == T_FAIL) {
		kh_chanio_fail(ch, "frame refused by the decoder");
		CHECK_INT(e->closes, 0); /* on_close comes later, from the loop */
	}
	if (e->echo)
		CHECK_INT(kh_chanio_send(ch, f->bytes, f->n, -1, &err), 0);
	if (e->pause_at && e->frames == e->pause_at)
		kh_chanio_pause(ch);
	if (e->free_at && e->frames == e->free_at) {
		kh_chanio_free(ch);
		e->ch = NULL;
	}
}

static void on_close(struct kh_chanio *ch, const char *reason, void *arg)
{
	struct end *e = arg;

	(void)ch;
	e->closes++;
	snprintf(e->reason, sizeof e->reason, "%s", reason);
}

static void on_room(struct kh_chanio *ch, void *arg)
{
	struct end *e = arg;

	e->rooms++;
	if (e->refill)
		CHECK_INT(kh_chanio_send(ch, fbuf, mkframe(T_DATA, 99, BIG_PAY), -1, &err), 0);
}

static const struct kh_chanio_ops ops = { on_frame, on_close, on_room };

static void end_init(struct end *e, int fd)
{
	memset(e, 0, sizeof *e);
	e->ch = kh_chanio_new(L, fd, &ops, e, &err);
	CHECK(e->ch != NULL);
}

/* --- running the loop under a timeout --- */

static bool (*cond_fn)(void *);
static void *cond_arg;
static bool timed_out;

static void idle(void *arg)
{
	(void)arg;
	if (cond_fn == NULL || cond_fn(cond_arg))
		kh_loop_stop(L);
}

static void on_timeout(struct kh_timer *t)
{
	(void)t;
	timed_out = true;
	kh_loop_stop(L);
}

static bool run_until(bool (*c)(void *), void *arg)
{
	struct kh_timer t = { .cb = on_timeout };

	cond_fn = c;
	cond_arg = arg;
	timed_out = false;
	kh_timer_after(L, &t, WAIT_MS);
	kh_loop_run(L);
	kh_timer_cancel(L, &t);
	return !timed_out && (c == NULL || c(arg));
}

/* One loop iteration (nothing to wait for: posted and deferred work runs). */
static void run_once(void)
{
	run_until(NULL, NULL);
}

static int want_frames;

static bool got_frames(void *arg)
{
	return ((struct end *)arg)->frames >= want_frames;
}

static bool got_close(void *arg)
{
	return ((struct end *)arg)->closes > 0;
}

static bool drained(void *arg)
{
	struct end *e = arg;

	return kh_chanio_out_room(e->ch) == KH_CHANIO_OUT_MAX;
}

static bool drained_or_full(void *arg)
{
	struct end *e = arg;

	return drained(e) || kh_chanio_stats(e->ch)->write_waits > 0;
}

static void end_free(struct end *e)
{
	kh_chanio_free(e->ch);
	e->ch = NULL;
}

/* Frees both and runs the loop so the structs are reaped. */
static void pair_free(struct end *a, struct end *b)
{
	end_free(a);
	end_free(b);
	run_once();
	run_once();
}

static void pair_new(struct end *a, struct end *b)
{
	int fds[2];

	CHECK_INT(kh_chanio_socketpair(fds, &err), 0);
	end_init(a, fds[0]);
	end_init(b, fds[1]);
}

/* A chanio on one end, the test's raw socket on the other. */
static int raw_new(struct end *b)
{
	int fds[2];

	CHECK_INT(kh_chanio_socketpair(fds, &err), 0);
	end_init(b, fds[1]);
	return fds[0];
}

/* --- tests --- */

/* 100 frames sent in one batch go out in one write and arrive in order;
 * the echo of each read's frames goes back in one write per batch. */
static void batch_round_trip(void)
{
	struct end a, b;
	const struct kh_chanio_stats *sa, *sb;

	pair_new(&a, &b);
	b.echo = true;
	for (int i = 0; i < 100; i++)
		CHECK_INT(kh_chanio_send(a.ch, fbuf,
					 mkframe(T_DATA, (uint64_t)i + 1, (size_t)(i * 7 % 300)),
					 -1, &err),
			  0);
	sa = kh_chanio_stats(a.ch);
	sb = kh_chanio_stats(b.ch);
	CHECK_INT(sa->writes, 0); /* nothing written before the batch ends */
	want_frames = 100;
	CHECK(run_until(got_frames, &a));
	CHECK_INT(b.frames, 100);
	CHECK_INT(b.bad_payload + a.bad_payload, 0);
	for (int i = 0; i < MAXF; i++)
		CHECK(b.streams[i] == (uint64_t)i + 1 && a.streams[i] == (uint64_t)i + 1);
	CHECK_INT(sa->flushes, 1);
	CHECK_INT(sa->writes, 1);
	CHECK_INT(sa->frames_out, 100);
	CHECK_INT(sb->frames_in, 100);
	CHECK(sb->writes == sb->flushes && sb->flushes <= sb->reads);
	CHECK_INT(sb->bytes_out, sa->bytes_out);
	CHECK_INT(a.closes + b.closes, 0);
	pair_free(&a, &b);
}

/* 1 MiB of full frames through a 4 KiB socket buffer: the writer waits for
 * EPOLLOUT many times; the frame that does not fit the out buffer is
 * refused with nothing queued, and on_room follows once half is free. */
static void full_socket_and_buffer(void)
{
	struct end a, b;
	int fds[2], small = 4096, k = 0;
	size_t room;

	CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	CHECK_INT(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
	end_init(&a, fds[0]);
	end_init(&b, fds[1]);
	a.refill = true;
	while (kh_chanio_send(a.ch, fbuf, mkframe(T_DATA, (uint64_t)k + 1, BIG_PAY), -1, &err) == 0)
		k++;
	CHECK_INT(k, KH_CHANIO_OUT_MAX / BIG_SIZE);
	CHECK(strstr(err.msg, "out buffer full") != NULL);
	room = kh_chanio_out_room(a.ch);
	CHECK_INT(room, KH_CHANIO_OUT_MAX - (size_t)k * BIG_SIZE);
	CHECK_INT(kh_chanio_send(a.ch, fbuf, mkframe(T_DATA, 1, BIG_PAY), -1, &err), -1);
	CHECK_INT(kh_chanio_out_room(a.ch), room); /* a refusal queues nothing */
	CHECK_INT(a.rooms, 0);
	want_frames = k + 1; /* and the one on_room sends */
	CHECK(run_until(got_frames, &b));
	CHECK_INT(b.frames, k + 1);
	CHECK_INT(b.bad_payload, 0);
	CHECK_INT(a.rooms, 1);
	CHECK(kh_chanio_stats(a.ch)->write_waits > 10);
	CHECK_INT(kh_chanio_stats(b.ch)->bytes_in, (uint64_t)(k + 1) * BIG_SIZE);
	for (int i = 0; i < k; i++)
		CHECK(b.streams[i] == (uint64_t)i + 1);
	CHECK_INT(b.streams[k], 99);
	pair_free(&a, &b);
}

/* send_msg: the encoder's refusal is not "full"; near the cap it encodes
 * aside and still fits a small frame; at the cap it says full. */
static void send_msg(void)
{
	struct end a, b;
	struct kh_chan_msg m = { .type = KH_CHAN_WINDOW, .stream = 5, .u.credit = 1000 };
	struct kh_chan_msg bad = { .type = KH_CHAN_WINDOW, .stream = 5, .u.credit = 0 };
	int n = 0;

	pair_new(&a, &b);
	CHECK_INT(kh_chanio_send_msg(a.ch, &m, -1, &err), 0);
	CHECK_INT(kh_chanio_send_msg(a.ch, &bad, -1, &err), -1);
	CHECK(strstr(err.msg, "credit") != NULL);
	CHECK_INT(kh_chanio_send(a.ch, fbuf, 7, -1, &err), -1);
	CHECK(strstr(err.msg, "not one whole frame") != NULL);
	while (kh_chanio_out_room(a.ch) >= BIG_SIZE)
		CHECK_INT(kh_chanio_send(a.ch, fbuf, mkframe(T_DATA, 1, BIG_PAY), -1, &err), 0);
	while (kh_chanio_send_msg(a.ch, &m, -1, &err) == 0)
		n++;
	CHECK(strstr(err.msg, "out buffer full") != NULL);
	CHECK_INT(n, (KH_CHANIO_OUT_MAX % BIG_SIZE - 20) / 20);
	CHECK_INT(kh_chanio_stats(a.ch)->frames_out, 2 + KH_CHANIO_OUT_MAX / BIG_SIZE + n - 1);
	pair_free(&a, &b);
}

/* An fd goes with its frame, is usable on the other side, and the sender's
 * copy is closed once sent: the pipe reads the byte, then end of file. */
static void fd_passing(void)
{
	struct end a, b;
	int p[2];
	char c[4];

	pair_new(&a, &b);
	b.use_fd = true;
	CHECK_INT(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	CHECK_INT(kh_chanio_send(a.ch, fbuf, mkframe(T_FD, 7, 1), p[1], &err), 0);
	close(p[1]);
	want_frames = 1;
	CHECK(run_until(got_frames, &b));
	CHECK(b.fds[0] >= 0);
	CHECK_INT(read(p[0], c, sizeof c), 1);
	CHECK_INT(c[0], (char)(7 * 31));
	CHECK_INT(read(p[0], c, sizeof c), 0); /* no copy of the write end left */
	CHECK_INT(kh_chanio_stats(a.ch)->fds_out, 1);
	CHECK_INT(kh_chanio_stats(b.ch)->fds_in, 1);
	close(p[0]);
	pair_free(&a, &b);
}

/* Three fds on frames 1, 3 and 4 of one batch reach exactly those frames:
 * each frame's fd gets the frame's byte. The batch is cut into three
 * writes, each starting at an fd's frame. */
static void fds_in_order(void)
{
	struct end a, b;
	int p[3][2];
	const uint64_t with[3] = { 10, 12, 13 };

	pair_new(&a, &b);
	b.use_fd = true;
	for (int i = 0; i < 3; i++)
		CHECK_INT(pipe2(p[i], O_CLOEXEC | O_NONBLOCK), 0);
	CHECK_INT(kh_chanio_send(a.ch, fbuf, mkframe(T_FD, 10, 1), p[0][1], &err), 0);
	CHECK_INT(kh_chanio_send(a.ch, fbuf, mkframe(T_DATA, 11, 100), -1, &err), 0);
	CHECK_INT(kh_chanio_send(a.ch, fbuf, mkframe(T_FD, 12, 1), p[1][1], &err), 0);
	CHECK_INT(kh_chanio_send(a.ch, fbuf, mkframe(T_FD, 13, 1), p[2][1], &err), 0);
	CHECK_INT(kh_chanio_send(a.ch, fbuf, mkframe(T_DATA, 14, 3), -1, &err), 0);
	want_frames = 5;
	CHECK(run_until(got_frames, &b));
	CHECK_INT(kh_chanio_stats(a.ch)->writes, 3);
	CHECK_INT(kh_chanio_stats(a.ch)->flushes, 1);
	for (int i = 0; i < 3; i++) {
		char c[2];

		close(p[i][1]);
		CHECK_INT(read(p[i][0], c, sizeof c), 1);
		CHECK_INT(c[0], (char)(with[i] * 31));
		close(p[i][0]);
	}
	CHECK(b.fds[1] == -2 && b.fds[4] == -2);
	CHECK_INT(b.closes, 0);
	pair_free(&a, &b);
}

/* A burst of new streams' ends: KH_CHANIO_FDS_OUT_MAX frames with an fd in
 * one batch (the next is refused until on_room), one sendmsg each, every fd
 * reaching its own frame: the pipe gets the frames' bytes in order. */
static void fd_burst(void)
{
	struct end a, b;
	int p[2], n = KH_CHANIO_FDS_OUT_MAX;
	uint8_t got[KH_CHANIO_FDS_OUT_MAX + 1];

	pair_new(&a, &b);
	b.use_fd = true;
	CHECK_INT(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	for (int i = 0; i < n; i++)
		CHECK_INT(kh_chanio_send(a.ch, fbuf, mkframe(T_FD, (uint64_t)i, 1), p[1], &err), 0);
	CHECK_INT(kh_chanio_send(a.ch, fbuf, mkframe(T_FD, 0, 1), p[1], &err), -1);
	CHECK(strstr(err.msg, "fds already wait") != NULL);
	CHECK_INT(kh_chanio_send(a.ch, fbuf, mkframe(T_DATA, 0, 1), -1, &err), 0);
	close(p[1]);
	want_frames = n + 1;
	CHECK(run_until(got_frames, &b));
	CHECK_INT(a.rooms, 1);
	CHECK_INT(kh_chanio_stats(a.ch)->writes, n);
	CHECK_INT(kh_chanio_stats(b.ch)->fds_in, n);
	CHECK_INT(read(p[0], got, sizeof got), n);
	for (int i = 0; i < n; i++)
		CHECK(got[i] == (uint8_t)(i * 31));
	CHECK_INT(read(p[0], got, sizeof got), 0); /* every copy closed */
	close(p[0]);
	CHECK_INT(a.closes + b.closes, 0);
	pair_free(&a, &b);
}

/* A header announcing more than KH_CHAN_FRAME_MAX: the frame before it is
 * delivered, then the channel closes once, and nothing after it counts. */
static void malformed_frame(void)
{
	struct end b;
	int raw = raw_new(&b);
	size_t n = mkframe(T_DATA, 3, 10);

	CHECK_INT(write(raw, fbuf, n), (ssize_t)n);
	mkframe(T_DATA, 4, 0);
	put_le(fbuf + 4, KH_CHAN_FRAME_MAX + 1, 4);
	CHECK_INT(write(raw, fbuf, KH_CHAN_HDR), KH_CHAN_HDR);
	n = mkframe(T_DATA, 5, 10);
	(void)!write(raw, fbuf, n);
	CHECK(run_until(got_close, &b));
	CHECK_INT(b.frames, 1);
	CHECK(strstr(b.reason, "more than 65536") != NULL);
	(void)!write(raw, fbuf, n);
	run_once();
	run_once();
	CHECK_INT(b.closes, 1);
	CHECK_INT(b.frames, 1);
	CHECK(kh_chanio_closed(b.ch));
	CHECK_INT(kh_chanio_out_room(b.ch), 0);
	CHECK_INT(kh_chanio_send(b.ch, fbuf, n, -1, &err), -1);
	CHECK(strstr(err.msg, "channel closed") != NULL);
	close(raw);
	end_free(&b);
	run_once();
}

/* The receiver refuses a frame (a decode error): on_close once, from the
 * loop, and the frames after it are not delivered. */
static void caller_fail(void)
{
	struct end a, b;

	pair_new(&a, &b);
	CHECK_INT(kh_chanio_send(a.ch, fbuf, mkframe(T_DATA, 1, 4), -1, &err), 0);
	CHECK_INT(kh_chanio_send(a.ch, fbuf, mkframe(T_FAIL, 2, 4), -1, &err), 0);
	CHECK_INT(kh_chanio_send(a.ch, fbuf, mkframe(T_DATA, 3, 4), -1, &err), 0);
	CHECK(run_until(got_close, &b));
	CHECK_INT(b.frames, 2);
	CHECK_STR(b.reason, "frame refused by the decoder");
	CHECK(run_until(got_close, &a)); /* the other end sees the hangup */
	CHECK(strstr(a.reason, "peer closed") != NULL);
	run_once();
	CHECK_INT(b.closes, 1);
	CHECK_INT(a.closes, 1);
	pair_free(&a, &b);
}

/* The peer writes frames and closes: all of them, then on_close; closing
 * inside a frame says so. */
static void peer_close(void)
{
	for (int mid = 0; mid < 2; mid++) {
		struct end b;
		int raw = raw_new(&b);

		for (int i = 0; i < 3; i++) {
			size_t n = mkframe(T_DATA, (uint64_t)i + 1, 50);

			CHECK_INT(write(raw, fbuf, n), (ssize_t)n);
		}
		if (mid)
			CHECK_INT(write(raw, fbuf, 20), 20);
		close(raw);
		CHECK(run_until(got_close, &b));
		CHECK_INT(b.frames, 3);
		CHECK_INT(b.closes, 1);
		CHECK(strstr(b.reason, "peer closed") != NULL);
		CHECK((strstr(b.reason, "inside a frame") != NULL) == (mid == 1));
		end_free(&b);
		run_once();
	}
}

/* An fd sent with a frame the receiver does not take (DATA carries none):
 * a violation that closes the channel, and the fd is closed. */
static void stray_fd(void)
{
	struct end b;
	int raw = raw_new(&b), p[2];
	size_t n = mkframe(T_DATA, 1, 5);
	char c;

	CHECK_INT(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	CHECK_INT(send_fds(raw, fbuf, n, p[1], 1, 0), (ssize_t)n);
	close(p[1]);
	CHECK(run_until(got_close, &b));
	CHECK_INT(b.frames, 1);
	CHECK(strstr(b.reason, "carries none") != NULL);
	CHECK_INT(read(p[0], &c, 1), 0); /* the channel's copy is closed */
	close(p[0]);
	close(raw);
	end_free(&b);
	run_once();
}

/* An fd that came with bytes after its frame's first byte is not that
 * frame's: take_fd says none, and the fd left over closes the channel. */
static void fd_late(void)
{
	struct end b;
	int raw = raw_new(&b), p[2];
	size_t n = mkframe(T_FD, 1, 5);

	CHECK_INT(pipe2(p, O_CLOEXEC), 0);
	CHECK_INT(write(raw, fbuf, KH_CHAN_HDR), KH_CHAN_HDR);
	run_once(); /* the header alone is read */
	CHECK_INT(kh_chanio_stats(b.ch)->bytes_in, KH_CHAN_HDR);
	CHECK_INT(send_fds(raw, fbuf + KH_CHAN_HDR, n - KH_CHAN_HDR, p[1], 1, 0),
		  (ssize_t)(n - KH_CHAN_HDR));
	CHECK(run_until(got_close, &b));
	CHECK_INT(b.frames, 1);
	CHECK_INT(b.fds[0], -1);
	CHECK(strstr(b.reason, "carries none") != NULL);
	CHECK_INT(kh_chanio_take_fd(b.ch), -1); /* outside on_frame */
	close(p[0]);
	close(p[1]);
	close(raw);
	end_free(&b);
	run_once();
}

/* More fds than the FIFO holds: in one message (the control message is
 * truncated) or one by one under a frame that never completes. */
static void too_many_fds(void)
{
	for (int one_msg = 0; one_msg < 2; one_msg++) {
		struct end b;
		int raw = raw_new(&b), before;

		before = count_fds();
		mkframe(T_DATA, 1, 1000);
		if (one_msg) {
			CHECK_INT(send_fds(raw, fbuf, 20, raw, KH_CHANIO_FDS_MAX + 1, 0), 20);
		} else {
			CHECK_INT(write(raw, fbuf, KH_CHAN_HDR), KH_CHAN_HDR);
			for (int i = 0; i <= KH_CHANIO_FDS_MAX; i++)
				CHECK_INT(send_fds(raw, fbuf + KH_CHAN_HDR + i, 1, raw, 1, 0), 1);
		}
		CHECK(run_until(got_close, &b));
		CHECK(strstr(b.reason, "more file descriptors") != NULL);
		CHECK((strstr(b.reason, "truncated") != NULL) == (one_msg == 1));
		CHECK_INT(b.frames, 0);
		CHECK_INT(count_fds(), before - 1); /* all received ones and the socket */
		close(raw);
		end_free(&b);
		run_once();
	}
}

/* A frame announcing an fd that none came with: take_fd says -1, nothing
 * else happens (the caller's decoder decides). */
static void fd_missing(void)
{
	struct end a, b;

	pair_new(&a, &b);
	CHECK_INT(kh_chanio_send(a.ch, fbuf, mkframe(T_FD, 1, 1), -1, &err), 0);
	want_frames = 1;
	CHECK(run_until(got_frames, &b));
	CHECK_INT(b.fds[0], -1);
	CHECK_INT(b.closes, 0);
	pair_free(&a, &b);
}

/* Paused after 3 frames: no more are handed (nor is the hangup seen) until
 * resume; then the rest, in order, then on_close. */
static void pause_resume(void)
{
	struct end a, b;

	pair_new(&a, &b);
	b.pause_at = 3;
	for (int i = 0; i < 10; i++)
		CHECK_INT(
			kh_chanio_send(a.ch, fbuf, mkframe(T_DATA, (uint64_t)i + 1, 40), -1, &err),
			0);
	CHECK(run_until(drained, &a));
	run_once();
	run_once();
	CHECK_INT(b.frames, 3);
	end_free(&a);
	run_once();
	run_once();
	CHECK_INT(b.frames, 3);
	CHECK_INT(b.closes, 0);
	kh_chanio_resume(b.ch);
	CHECK_INT(b.frames, 3); /* not from inside resume */
	CHECK(run_until(got_close, &b));
	CHECK_INT(b.frames, 10);
	for (int i = 0; i < 10; i++)
		CHECK(b.streams[i] == (uint64_t)i + 1);
	CHECK(strstr(b.reason, "peer closed") != NULL);
	run_once();
	CHECK_INT(b.closes, 1);
	end_free(&b);
	run_once();
}

/* Nearly 1 MiB waiting in the socket: a turn reads at most the budget, and
 * the rest comes in later iterations. */
static void read_budget(void)
{
	struct end a, b;
	int k = 0, first;

	pair_new(&a, &b);
	kh_chanio_pause(b.ch);
	while (kh_chanio_send(a.ch, fbuf, mkframe(T_DATA, (uint64_t)k + 1, BIG_PAY), -1, &err) == 0)
		k++;
	/* all of it in the socket with the SO_SNDBUF of 1 MiB kh_chanio_socketpair
	 * asks for; where net.core.wmem_max allows less, as much as fits */
	CHECK(run_until(drained_or_full, &a));
	kh_chanio_resume(b.ch);
	run_once();
	first = b.frames;
	/* up to three turns run in that iteration: the event's, the posted
	 * resume's and the deferred resume's; without a budget one takes all */
	CHECK(first >= 1 && first <= (int)(3 * KH_CHANIO_READ_BUDGET / BIG_SIZE));
	CHECK(first < k);
	want_frames = k;
	CHECK(run_until(got_frames, &b));
	CHECK_INT(b.frames, k);
	CHECK_INT(b.bad_payload, 0);
	pair_free(&a, &b);
}

/* The receiver frees its channel inside on_frame: nothing more is handed,
 * no on_close, and the struct is reaped later (ASan would see a use). */
static void free_in_callback(void)
{
	struct end a, b;

	pair_new(&a, &b);
	b.free_at = 2;
	for (int i = 0; i < 5; i++)
		CHECK_INT(kh_chanio_send(a.ch, fbuf, mkframe(T_DATA, (uint64_t)i + 1, 8), -1, &err),
			  0);
	CHECK(run_until(got_close, &a));
	CHECK_INT(b.frames, 2);
	CHECK_INT(b.closes, 0);
	CHECK(b.ch == NULL);
	end_free(&a);
	run_once();
}

static int fds_at_start;

static void no_fd_leak(void)
{
	CHECK_INT(count_fds(), fds_at_start);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* the raw writes after the channel closed */
	L = kh_loop_new(&err);
	if (L == NULL)
		return 1;
	kh_loop_set_idle_hook(L, idle, NULL);
	fds_at_start = count_fds();
	RUN(batch_round_trip);
	RUN(full_socket_and_buffer);
	RUN(send_msg);
	RUN(fd_passing);
	RUN(fds_in_order);
	RUN(fd_burst);
	RUN(malformed_frame);
	RUN(caller_fail);
	RUN(peer_close);
	RUN(stray_fd);
	RUN(fd_late);
	RUN(too_many_fds);
	RUN(fd_missing);
	RUN(pause_resume);
	RUN(read_budget);
	RUN(free_in_callback);
	RUN(no_fd_leak);
	kh_loop_free(L);
	TAP_DONE();
}
