/* The channel's buffered I/O (chanio.h). Stream positions (bytes since the
 * channel opened, each direction) tie fds to frames: an outbound fd is sent
 * with the sendmsg that starts at its frame's position; an inbound fd keeps
 * the positions of the read that brought it. */
#include "privsep/chanio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/check.h"

struct fd_slot {
	int fd;
	uint64_t from; /* out: the frame's first byte; in: the first byte of the read */
	uint64_t to; /* in: one past the last byte of the read */
};

struct fd_fifo {
	struct fd_slot *s;
	unsigned cap, head, n;
};

struct kh_chanio {
	struct kh_loop *loop;
	struct kh_io io;
	const struct kh_chanio_ops *ops;
	void *arg;
	bool rd_ready, wr_ready; /* cleared only when an operation would block */
	bool peer_shut; /* hangup reported: read to EOF, never assume drained */
	bool eof; /* the peer's end of stream was read */
	bool paused;
	bool closed; /* socket and fds gone; reason says why */
	bool close_told; /* on_close ran (or is never to run: freed first) */
	bool dead; /* kh_chanio_free was called: free once no task points here */
	bool task_queued, resume_queued, want_pump;
	bool want_room; /* a send was refused for room: on_room when half is free */
	bool in_frame; /* inside on_frame, for kh_chanio_take_fd */
	uint64_t frame_at; /* position of that frame's first byte */
	struct kh_task task; /* deferred: pump after resume, flush, on_close, free */
	struct kh_task resume; /* posted: go on reading after the budget */
	struct kh_buf out, in, scratch; /* scratch: kh_chanio_send_msg when out is short */
	struct fd_fifo out_fds, in_fds;
	struct fd_slot out_slots[KH_CHANIO_FDS_OUT_MAX], in_slots[KH_CHANIO_FDS_MAX];
	uint64_t tx_queued, tx_sent, rx_read, rx_fed;
	struct kh_chanio_stats st;
	char reason[KH_ERR_MAX];
	struct kh_chan_split split; /* last: 64 KiB */
};

/* --- fd FIFOs --- */

static struct fd_slot *fifo_at(struct fd_fifo *q, unsigned i)
{
	return &q->s[(q->head + i) % q->cap];
}

static bool fifo_push(struct fd_fifo *q, int fd, uint64_t from, uint64_t to)
{
	if (q->n == q->cap)
		return false;
	*fifo_at(q, q->n++) = (struct fd_slot){ fd, from, to };
	return true;
}

static int fifo_pop(struct fd_fifo *q)
{
	int fd = fifo_at(q, 0)->fd;

	q->head = (q->head + 1) % q->cap;
	q->n--;
	return fd;
}

static void fifo_close_all(struct fd_fifo *q)
{
	while (q->n > 0)
		close(fifo_pop(q));
}

/* --- lifecycle --- */

static void run_task(struct kh_task *t);
static void pump(struct kh_chanio *ch);

static void schedule(struct kh_chanio *ch)
{
	if (ch->task_queued)
		return;
	ch->task_queued = true;
	ch->task.cb = run_task;
	kh_loop_defer(ch->loop, &ch->task);
}

/* The splitter's copy of the last frames may hold a SECRETS frame. Not while
 * on_frame still reads one of them. */
static void wipe_split(struct kh_chanio *ch)
{
	if (!ch->in_frame)
		OPENSSL_cleanse(ch->split.buf, sizeof ch->split.buf);
}

static void maybe_destroy(struct kh_chanio *ch)
{
	if (ch->dead && !ch->task_queued && !ch->resume_queued)
		free(ch);
}

/* Closes the socket and every fd held, at once; on_close follows from the
 * task, so it never runs inside a caller's kh_chanio_*() call. */
static void close_channel(struct kh_chanio *ch, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void close_channel(struct kh_chanio *ch, const char *fmt, ...)
{
	va_list ap;

	if (ch->closed)
		return;
	ch->closed = true;
	va_start(ap, fmt);
	vsnprintf(ch->reason, sizeof ch->reason, fmt, ap);
	va_end(ap);
	kh_loop_del(ch->loop, &ch->io);
	close(ch->io.fd);
	ch->io.fd = -1;
	ch->rd_ready = ch->wr_ready = false;
	fifo_close_all(&ch->out_fds);
	fifo_close_all(&ch->in_fds);
	kh_buf_free(&ch->out);
	kh_buf_free(&ch->in);
	kh_buf_free(&ch->scratch);
	wipe_split(ch);
	schedule(ch);
}

int kh_chanio_socketpair(int fds[2], struct kh_err *err)
{
	int size = KH_CHANIO_SNDBUF;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
		kh_err_set(err, "channel socketpair: %s", kh_strerror(errno));
		return -1;
	}
	/* Best effort: the kernel caps it at net.core.wmem_max. */
	(void)setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
	(void)setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
	return 0;
}

static int check_socket(int fd, struct kh_err *err)
{
	int type = 0, domain = 0, fl;
	socklen_t tl = sizeof type, dl = sizeof domain;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dl) < 0) {
		kh_err_set(err, "channel fd %d: %s", fd, kh_strerror(errno));
		return -1;
	}
	if (type != SOCK_STREAM || domain != AF_UNIX) {
		kh_err_set(err, "channel fd %d is not an AF_UNIX SOCK_STREAM socket", fd);
		return -1;
	}
	if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		kh_err_set(err, "channel fd %d: non-blocking: %s", fd, kh_strerror(errno));
		return -1;
	}
	return 0;
}

static void on_io(struct kh_io *io, uint32_t events);

struct kh_chanio *kh_chanio_new(struct kh_loop *l, int fd, const struct kh_chanio_ops *ops,
				void *arg, struct kh_err *err)
{
	struct kh_chanio *ch = NULL;

	if (fd < 0 || check_socket(fd, err) < 0)
		goto fail;
	if ((ch = calloc(1, sizeof *ch)) == NULL) {
		kh_err_set(err, "channel: out of memory");
		goto fail;
	}
	ch->loop = l;
	ch->ops = ops;
	ch->arg = arg;
	ch->io.fd = fd;
	ch->io.cb = on_io;
	ch->wr_ready = true; /* a write that finds the socket full says so */
	kh_buf_init(&ch->out, KH_CHANIO_OUT_MAX);
	kh_buf_init(&ch->in, KH_CHANIO_IN_MAX);
	kh_buf_init(&ch->scratch, KH_CHAN_HDR + KH_CHAN_FRAME_MAX);
	kh_chan_split_init(&ch->split);
	ch->out_fds = (struct fd_fifo){ .s = ch->out_slots, .cap = KH_CHANIO_FDS_OUT_MAX };
	ch->in_fds = (struct fd_fifo){ .s = ch->in_slots, .cap = KH_CHANIO_FDS_MAX };
	if (kh_loop_add(l, &ch->io) < 0) {
		kh_err_set(err, "channel fd %d: epoll: %s", fd, kh_strerror(errno));
		goto fail;
	}
	return ch;
fail:
	free(ch);
	if (fd >= 0)
		close(fd);
	return NULL;
}

void kh_chanio_free(struct kh_chanio *ch)
{
	if (ch == NULL || ch->dead)
		return;
	ch->close_told = true; /* the owner is done with it: no on_close */
	close_channel(ch, "freed by its owner");
	ch->dead = true;
	schedule(ch);
}

/* --- out --- */

static int closed_err(const struct kh_chanio *ch, struct kh_err *err)
{
	kh_err_set(err, "channel closed (%s)", ch->reason);
	return -1;
}

/* The channel's own copy of fd (-1 for none) in *dup, or -1 and err. */
static int copy_fd(struct kh_chanio *ch, int fd, int *dup, struct kh_err *err)
{
	*dup = -1;
	if (fd < 0)
		return 0;
	if (ch->out_fds.n == ch->out_fds.cap) {
		ch->want_room = true;
		kh_err_set(err, "channel: %u fds already wait to be sent", ch->out_fds.cap);
		return -1;
	}
	if ((*dup = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		kh_err_set(err, "channel: cannot copy fd %d: %s", fd, kh_strerror(errno));
		return -1;
	}
	return 0;
}

/* n bytes of one frame were appended to out, with fd (or -1). */
static void queued(struct kh_chanio *ch, size_t n, int fd)
{
	if (fd >= 0)
		KH_CHECK(fifo_push(&ch->out_fds, fd, ch->tx_queued, 0)); /* copy_fd checked */
	ch->tx_queued += n;
	ch->st.frames_out++;
	schedule(ch);
}

static int full(struct kh_chanio *ch, size_t n, struct kh_err *err)
{
	ch->want_room = true;
	kh_err_set(err, "channel: out buffer full (%zu bytes queued, a %zu-byte frame, cap %u)",
		   kh_buf_len(&ch->out), n, KH_CHANIO_OUT_MAX);
	return -1;
}

int kh_chanio_send(struct kh_chanio *ch, const uint8_t *frame, size_t n, int fd, struct kh_err *err)
{
	struct kh_chan_hdr h = { 0 };
	int dup = -1;

	if (ch->closed)
		return closed_err(ch, err);
	if (n >= KH_CHAN_HDR)
		kh_chan_hdr_read(frame, &h);
	if (n < KH_CHAN_HDR || h.len > KH_CHAN_FRAME_MAX || n != KH_CHAN_HDR + (size_t)h.len) {
		kh_err_set(err, "channel: %zu bytes are not one whole frame", n);
		return -1;
	}
	if (n > kh_buf_room(&ch->out))
		return full(ch, n, err);
	if (copy_fd(ch, fd, &dup, err) < 0)
		return -1;
	if (kh_buf_append(&ch->out, frame, n) < 0) {
		if (dup >= 0)
			close(dup);
		kh_err_set(err, "channel: out of memory");
		return -1;
	}
	queued(ch, n, dup);
	return 0;
}

int kh_chanio_send_msg(struct kh_chanio *ch, const struct kh_chan_msg *m, int fd,
		       struct kh_err *err)
{
	size_t before = kh_buf_len(&ch->out);
	int dup, rc;

	if (ch->closed)
		return closed_err(ch, err);
	if (kh_buf_room(&ch->out) < KH_CHAN_HDR + KH_CHAN_FRAME_MAX) {
		/* Near the cap: encode aside, so "full" and "invalid" stay apart. */
		kh_buf_truncate(&ch->scratch, 0);
		if (kh_chan_encode(m, &ch->scratch, err) < 0)
			return -1;
		rc = kh_chanio_send(ch, kh_buf_data(&ch->scratch), kh_buf_len(&ch->scratch), fd,
				    err);
		kh_buf_truncate(&ch->scratch, 0);
		return rc;
	}
	if (copy_fd(ch, fd, &dup, err) < 0)
		return -1;
	if (kh_chan_encode(m, &ch->out, err) < 0) {
		if (dup >= 0)
			close(dup);
		return -1;
	}
	queued(ch, kh_buf_len(&ch->out) - before, dup);
	return 0;
}

size_t kh_chanio_out_room(const struct kh_chanio *ch)
{
	return ch->closed ? 0 : kh_buf_room(&ch->out);
}

/* One sendmsg: from the first unsent byte up to the next frame that carries
 * an fd, or, when the first unsent byte starts such a frame, with its fd up
 * to the next one. 0 when it wrote, -1 when it would block or failed. */
static int write_some(struct kh_chanio *ch)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { (void *)kh_buf_data(&ch->out), kh_buf_len(&ch->out) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct fd_fifo *q = &ch->out_fds;
	int fd = -1;
	ssize_t n;

	if (q->n > 0 && fifo_at(q, 0)->from == ch->tx_sent) {
		fd = fifo_at(q, 0)->fd;
		if (q->n > 1 && fifo_at(q, 1)->from - ch->tx_sent < iov.iov_len)
			iov.iov_len = fifo_at(q, 1)->from - ch->tx_sent;
	} else if (q->n > 0 && fifo_at(q, 0)->from - ch->tx_sent < iov.iov_len) {
		iov.iov_len = fifo_at(q, 0)->from - ch->tx_sent;
	}
	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof ctl);
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof ctl.buf;
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
	}
	do
		n = sendmsg(ch->io.fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		ch->wr_ready = false;
		ch->st.write_waits++;
		return -1;
	}
	if (n <= 0) {
		int e = n < 0 ? errno : EIO;

		/* The peer is gone; what it wrote before going still counts. */
		pump(ch);
		close_channel(ch, "channel write: %s", kh_strerror(e));
		return -1;
	}
	if (fd >= 0) { /* went with the first byte: the peer holds its own copy now */
		close(fifo_pop(q));
		ch->st.fds_out++;
	}
	kh_buf_consume(&ch->out, (size_t)n);
	ch->tx_sent += (uint64_t)n;
	ch->st.writes++;
	ch->st.bytes_out += (uint64_t)n;
	return 0;
}

static void flush(struct kh_chanio *ch)
{
	bool wrote = false;

	while (!ch->closed && ch->wr_ready && kh_buf_len(&ch->out) > 0) {
		if (write_some(ch) < 0)
			break;
		wrote = true;
	}
	if (wrote)
		ch->st.flushes++;
	if (!ch->closed && ch->want_room && kh_buf_len(&ch->out) <= KH_CHANIO_OUT_MAX / 2 &&
	    ch->out_fds.n <= ch->out_fds.cap / 2) {
		ch->want_room = false;
		if (ch->ops->on_room != NULL)
			ch->ops->on_room(ch, ch->arg);
	}
}

/* --- in --- */

/* Takes the fds of one read: every SCM_RIGHTS fd goes into the FIFO (or is
 * closed when it is full); anything else is a violation. */
static int take_rights(struct kh_chanio *ch, struct msghdr *msg, uint64_t from, uint64_t to)
{
	bool bad = (msg->msg_flags & MSG_CTRUNC) != 0;
	unsigned dropped = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
		size_t nfd;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			bad = true;
			continue;
		}
		nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof fd, sizeof fd);
			if (fifo_push(&ch->in_fds, fd, from, to)) {
				ch->st.fds_in++;
			} else {
				close(fd);
				dropped++;
			}
		}
	}
	if (!bad && dropped == 0)
		return 0;
	close_channel(ch, "channel: the peer sent more file descriptors than the %d held at once%s",
		      KH_CHANIO_FDS_MAX,
		      bad ? " (control message truncated or not SCM_RIGHTS)" : "");
	return -1;
}

/* One recvmsg into the in buffer. -1 once the channel closed. */
static int read_some(struct kh_chanio *ch, size_t *budget)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * KH_CHANIO_FDS_MAX)];
	} ctl;
	struct iovec iov;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	size_t avail;
	ssize_t n;

	iov.iov_base = kh_buf_tail(&ch->in, &avail);
	if (iov.iov_base == NULL) {
		close_channel(ch, "channel: out of memory");
		return -1;
	}
	iov.iov_len = avail < *budget ? avail : *budget;
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof ctl.buf;
	n = recvmsg(ch->io.fd, &msg, MSG_CMSG_CLOEXEC);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			ch->rd_ready = false;
		else if (errno != EINTR)
			close_channel(ch, "channel read: %s", kh_strerror(errno));
		return ch->closed ? -1 : 0;
	}
	if (take_rights(ch, &msg, ch->rx_read, ch->rx_read + (uint64_t)n) < 0)
		return -1;
	if (n == 0) {
		ch->eof = true;
		ch->rd_ready = false;
		return 0;
	}
	/* A short read drained the socket (see tls/endpoint.h), unless it stopped
	 * because fds came (a read never goes past a message that carried some)
	 * or the peer hung up (no event announces the EOF still to be read). */
	if ((size_t)n < iov.iov_len && msg.msg_controllen == 0 && !ch->peer_shut)
		ch->rd_ready = false;
	kh_buf_produced(&ch->in, (size_t)n);
	ch->rx_read += (uint64_t)n;
	*budget -= (size_t)n;
	ch->st.reads++;
	ch->st.bytes_in += (uint64_t)n;
	return 0;
}

static void hand(struct kh_chanio *ch, const uint8_t *p, size_t n)
{
	struct kh_chanio_frame f = { .bytes = p, .n = n };
	struct fd_fifo *q = &ch->in_fds;

	kh_chan_hdr_read(p, &f.hdr);
	ch->in_frame = true;
	ch->frame_at = ch->rx_fed - n;
	ch->st.frames_in++;
	ch->ops->on_frame(ch, &f, ch->arg);
	ch->in_frame = false;
	if (ch->closed)
		wipe_split(ch); /* skipped while the frame was in use */
	/* An fd that came wholly before the next frame's first byte belonged to
	 * this frame or an earlier one, and none of them took it. */
	if (!ch->closed && q->n > 0 && fifo_at(q, 0)->to <= ch->frame_at + n)
		close_channel(ch,
			      "channel: a file descriptor came with a frame that carries none "
			      "(%s on stream %llu or before)",
			      kh_chan_type_name(f.hdr.type), (unsigned long long)f.hdr.stream);
}

/* Hands every whole frame in the in buffer, until paused or closed. */
static void deliver(struct kh_chanio *ch)
{
	while (!ch->closed && !ch->paused) {
		struct kh_err err;
		const uint8_t *p;
		size_t n, used;
		int r;

		used = kh_chan_split_feed(&ch->split, kh_buf_data(&ch->in), kh_buf_len(&ch->in));
		kh_buf_consume(&ch->in, used);
		ch->rx_fed += used;
		r = kh_chan_split_next(&ch->split, &p, &n, &err);
		if (r < 0)
			close_channel(ch, "%s", err.msg);
		if (r <= 0)
			return;
		hand(ch, p, n);
	}
}

static void resume_task(struct kh_task *t);

/* Hands frames and reads, alternately, while the socket has bytes, within the
 * read budget; past it, goes on from a posted task in the next iteration. */
static void pump(struct kh_chanio *ch)
{
	size_t budget = KH_CHANIO_READ_BUDGET;

	for (;;) {
		deliver(ch);
		if (ch->closed || ch->paused)
			return;
		if (ch->eof) {
			bool mid = ch->split.len > 0 && !ch->split.handed;

			close_channel(ch, "the peer closed the channel%s",
				      mid ? " inside a frame" : "");
			return;
		}
		if (!ch->rd_ready)
			return;
		if (budget == 0) {
			if (!ch->resume_queued) {
				ch->resume_queued = true;
				ch->resume.cb = resume_task;
				kh_loop_post(ch->loop, &ch->resume);
			}
			return;
		}
		if (read_some(ch, &budget) < 0)
			return;
	}
}

static void resume_task(struct kh_task *t)
{
	struct kh_chanio *ch = container_of(t, struct kh_chanio, resume);

	ch->resume_queued = false;
	if (ch->dead)
		maybe_destroy(ch);
	else
		pump(ch);
}

static void on_io(struct kh_io *io, uint32_t events)
{
	struct kh_chanio *ch = container_of(io, struct kh_chanio, io);

	if (ch->closed)
		return;
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		ch->peer_shut = true;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		ch->rd_ready = true;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
		ch->wr_ready = true;
		if (kh_buf_len(&ch->out) > 0)
			schedule(ch);
	}
	pump(ch);
}

static void run_task(struct kh_task *t)
{
	struct kh_chanio *ch = container_of(t, struct kh_chanio, task);

	ch->task_queued = false;
	if (!ch->dead && ch->want_pump) {
		ch->want_pump = false;
		pump(ch);
	}
	if (!ch->dead)
		flush(ch);
	if (!ch->dead && ch->closed && !ch->close_told) {
		ch->close_told = true;
		ch->ops->on_close(ch, ch->reason, ch->arg);
	}
	maybe_destroy(ch);
}

/* --- the caller's controls --- */

int kh_chanio_take_fd(struct kh_chanio *ch)
{
	struct fd_fifo *q = &ch->in_fds;

	/* An fd that came with bytes after this frame's first one is a later
	 * frame's: the sender attaches it to its frame's first byte. */
	if (!ch->in_frame || ch->closed || q->n == 0 || fifo_at(q, 0)->from > ch->frame_at)
		return -1;
	return fifo_pop(q);
}

void kh_chanio_fail(struct kh_chanio *ch, const char *reason)
{
	close_channel(ch, "%s", reason);
}

void kh_chanio_pause(struct kh_chanio *ch)
{
	ch->paused = true;
}

void kh_chanio_resume(struct kh_chanio *ch)
{
	if (!ch->paused)
		return;
	ch->paused = false;
	if (!ch->closed) {
		ch->want_pump = true;
		schedule(ch);
	}
}

bool kh_chanio_closed(const struct kh_chanio *ch)
{
	return ch->closed;
}

const struct kh_chanio_stats *kh_chanio_stats(const struct kh_chanio *ch)
{
	return &ch->st;
}
