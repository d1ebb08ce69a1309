/* Buffered, non-blocking I/O of one end of a privsep channel
 * (docs/design/privsep.md, section 2): frames of chan.h over an AF_UNIX
 * SOCK_STREAM socket registered on a kh_loop, with file descriptors passed
 * along (SCM_RIGHTS).
 *
 * Out: kh_chanio_send() appends a whole frame to one outbound buffer capped
 * at KH_CHANIO_OUT_MAX and never blocks. The first send of an event batch
 * queues one flush task that writes everything queued at the end of the
 * batch (one sendmsg, cut only where a frame carries an fd); a full socket
 * waits for EPOLLOUT. A frame that does not fit is refused with an error and
 * nothing of it is queued; on_room then says when half the buffer is free.
 *
 * Fds: a frame may carry one fd. The channel sends a copy (the caller keeps
 * its own) with the sendmsg that writes the frame's first byte, so each fd
 * costs a sendmsg here and a recvmsg there (a read stops after a message
 * that carried fds); at most KH_CHANIO_FDS_OUT_MAX wait to go. Received fds
 * wait in a FIFO (at most KH_CHANIO_FDS_MAX); the receiver decides which
 * frames carry one (by type) and calls kh_chanio_take_fd() from on_frame.
 * An fd is given only to a frame whose first byte came in the same read as
 * the fd or later; an fd no frame took by the end of the frames that came
 * with it, more fds than the FIFO holds, or a truncated control message is
 * a violation that closes the channel. Every fd not taken is closed with it.
 *
 * In: bytes are read into a buffer of KH_CHANIO_IN_MAX, cut into whole
 * frames by chan.h's splitter and handed to on_frame one by one, in order;
 * decoding them (kh_chan_decode) is the caller's job, and a refusal there is
 * reported back with kh_chanio_fail(). A broken framing (a header over
 * KH_CHAN_FRAME_MAX), an fd violation, a read or write error, or the peer's
 * hangup closes the channel: the socket and every fd held are closed at
 * once, on_close runs once, and nothing is delivered after it. On a hangup
 * every whole frame that came before it is delivered first. At most
 * KH_CHANIO_READ_BUDGET bytes are read per turn, so a busy peer cannot keep
 * the loop from other handlers.
 *
 * Callbacks run on the loop's thread, from the loop (an event, or a task at
 * the end of the batch), never from inside a kh_chanio_*() call. Each end
 * assumes one writer process on the other end (two writers on a stream
 * socket would interleave frames anyway). */
#ifndef KH_CHANIO_H
#define KH_CHANIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "event/loop.h"
#include "privsep/chan.h"

struct kh_chanio;

struct kh_chanio_frame {
	struct kh_chan_hdr hdr;
	const uint8_t *bytes; /* the whole frame, header included: kh_chan_decode(bytes, n) */
	size_t n;
};

struct kh_chanio_ops {
	/* A whole frame; f and its bytes are valid until the callback returns. */
	void (*on_frame)(struct kh_chanio *ch, const struct kh_chanio_frame *f, void *arg);
	/* The channel closed (reason says why); called once, then nothing else. */
	void (*on_close)(struct kh_chanio *ch, const char *reason, void *arg);
	/* May be NULL. A send was refused for room (bytes or fds), and half of
	 * each is free now. */
	void (*on_room)(struct kh_chanio *ch, void *arg);
};

struct kh_chanio_stats {
	uint64_t flushes; /* flush tasks that wrote something */
	uint64_t writes; /* sendmsg calls that wrote bytes */
	uint64_t write_waits; /* sendmsg found the socket full: waited for EPOLLOUT */
	uint64_t reads; /* recvmsg calls that returned bytes */
	uint64_t frames_out, frames_in;
	uint64_t bytes_out, bytes_in; /* written to / read from the socket */
	uint64_t fds_out, fds_in; /* sent / received */
};

/* A connected AF_UNIX SOCK_STREAM pair, close-on-exec, SO_SNDBUF asked at
 * KH_CHANIO_SNDBUF on both ends. fds[0] and fds[1] are the caller's. */
int kh_chanio_socketpair(int fds[2], struct kh_err *err);

/* A channel on fd (an AF_UNIX SOCK_STREAM socket, made non-blocking here),
 * registered on l. fd belongs to the channel from this call on, also when it
 * fails (NULL, err says why). ops must outlive the channel. */
struct kh_chanio *kh_chanio_new(struct kh_loop *l, int fd, const struct kh_chanio_ops *ops,
				void *arg, struct kh_err *err);

/* Closes the channel if still open (no on_close then) and frees it at the end
 * of the loop's current or next iteration (events of this batch may still
 * name it): keep the loop running that long. Callable from any callback of
 * ch. NULL-safe. */
void kh_chanio_free(struct kh_chanio *ch);

/* Queues frame[0..n) (exactly one whole frame: n = KH_CHAN_HDR + its header's
 * len <= KH_CHAN_FRAME_MAX) and, when fd >= 0, a copy of fd to go with it.
 * -1, nothing queued, err says why: the channel is closed, the frame is not
 * one, the out buffer lacks room for it or KH_CHANIO_FDS_OUT_MAX fds already
 * wait (on_room follows either way), or fd cannot be copied. */
int kh_chanio_send(struct kh_chanio *ch, const uint8_t *frame, size_t n, int fd,
		   struct kh_err *err);

/* kh_chan_encode(m) and kh_chanio_send() of the result, in one: the same
 * refusals, and the encoder's. */
int kh_chanio_send_msg(struct kh_chanio *ch, const struct kh_chan_msg *m, int fd,
		       struct kh_err *err);

/* Bytes a send may still queue (0 once closed). */
size_t kh_chanio_out_room(const struct kh_chanio *ch);

/* Inside on_frame: the fd that came with this frame, now the caller's
 * (close-on-exec); -1 if none did (the frame lies about carrying one). */
int kh_chanio_take_fd(struct kh_chanio *ch);

/* Closes the channel with reason (e.g. a frame kh_chan_decode refused);
 * on_close follows at the end of the batch unless already closed. */
void kh_chanio_fail(struct kh_chanio *ch, const char *reason);

/* Stops handing frames (after the current one) and reading the socket, so
 * the peer fills its buffers and gets refusals; resume goes on at the end of
 * the batch. While paused a hangup is noticed only by a failing write. */
void kh_chanio_pause(struct kh_chanio *ch);
void kh_chanio_resume(struct kh_chanio *ch);

bool kh_chanio_closed(const struct kh_chanio *ch);
const struct kh_chanio_stats *kh_chanio_stats(const struct kh_chanio *ch);

#endif
