/* Two byte-stream ends joined by memory on one event loop: the stream
 * between a front and the key holder when both run in one process
 * (docs/design/privsep.md, section 2a). It behaves like a socketpair for
 * the endpoints on it (tls/endpoint.h) but moves bytes with a memcpy and
 * reports readiness through a task deferred on the loop, not through
 * epoll: a request crossing it costs no send, no recv and no extra
 * epoll_wait, which a socketpair made the split's largest cost per
 * exchange (docs/PERFORMANCE.md).
 *
 * Each end has its inbound buffer (capped, allocated only while it holds
 * bytes). A write to one end appends to the other's buffer and queues an
 * EPOLLIN for the other end's io callback; a read that frees room a writer
 * waited for queues EPOLLOUT for the writer; a shutdown or close queues
 * EPOLLRDHUP (and EPOLLHUP for a close). Events go to the end's kh_io
 * callback after the current batch, like epoll's, never inside a call
 * here. The pipe is freed when both ends are closed and no event is queued. */
#ifndef KH_MEMPIPE_H
#define KH_MEMPIPE_H

#include <stddef.h>
#include <sys/types.h>

#include "event/loop.h"

struct kh_mempipe;

/* A new pipe on loop l, each end's buffer capped at cap bytes; NULL if out
 * of memory. Both ends are open and unattached. */
struct kh_mempipe *kh_mempipe_new(struct kh_loop *l, size_t cap);

/* End side (0 or 1) reports its events to io->cb(io, events). Events that
 * came before are delivered after the batch. */
void kh_mempipe_attach(struct kh_mempipe *p, unsigned side, struct kh_io *io);

/* > 0 bytes read; 0 at the end (the other end shut or closed and
 * everything was read); -1 with errno EAGAIN when nothing is there yet. */
ssize_t kh_mempipe_read(struct kh_mempipe *p, unsigned side, void *buf, size_t len);

/* > 0 bytes taken (up to the other end's free room); -1 with errno EAGAIN
 * when it has none (EPOLLOUT follows when it has), EPIPE when the other
 * end is closed or this end was shut. */
ssize_t kh_mempipe_write(struct kh_mempipe *p, unsigned side, const void *buf, size_t len);

/* End side sends nothing more: the other end reads to the end of stream. */
void kh_mempipe_shutdown(struct kh_mempipe *p, unsigned side);

/* End side is gone: no more events for it, its unread bytes are dropped,
 * the other end reads what it holds then the end of stream, and its
 * writes fail. Frees the pipe when the other end is closed too. */
void kh_mempipe_close(struct kh_mempipe *p, unsigned side);

#endif
