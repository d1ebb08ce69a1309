/* One side of a proxied connection: a non-blocking socket, optionally with
 * TLS on it, driven by edge-triggered readiness.
 *
 * rd_ready/wr_ready remember what epoll last reported and are cleared only
 * when an operation would block, so after a partial read the owner simply
 * tries again. TLS can need the opposite direction (a read that must write
 * a KeyUpdate, a write during a handshake): the need_* fields remember that,
 * and kh_ep_can_*() answer with the readiness the next attempt depends on.
 *
 * A read that returns less than it asked for drained the socket, so the
 * endpoint is marked not-ready without the extra read() that would only
 * say EAGAIN (nginx does the same): with edge-triggered epoll, bytes that
 * arrive later raise a new event. Once the peer's FIN has been reported
 * (EPOLLRDHUP) reads go on until EOF instead, since no further event comes.
 * For TLS the socket read happens inside OpenSSL; a BIO callback tells the
 * endpoint whether it was short (kh_ep_attach_ssl, kh_ep_moved). */
#ifndef KH_ENDPOINT_H
#define KH_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "event/loop.h"

enum kh_need { KH_NEED_NATURAL = 0, KH_NEED_READ, KH_NEED_WRITE };

struct kh_mempipe;

struct kh_endpoint {
	struct kh_io io; /* io.fd is -1 when closed, and on a pipe */
	struct kh_mempipe *pipe; /* instead of a socket: an end of this (event/mempipe.h) */
	unsigned pipe_side;
	SSL *ssl; /* owned; NULL for cleartext */
	bool rd_ready, wr_ready;
	bool eof; /* peer finished sending */
	bool failed; /* I/O error: the connection is unusable */
	bool write_shut; /* we finished sending */
	bool peer_shut; /* EPOLLRDHUP/HUP/ERR seen: read to EOF, never assume drained */
	bool short_read; /* the last socket read under TLS returned less than asked */
	uint8_t need_rd, need_wr, need_hs;
	/* Set by kh_ep_watch_lazily: EPOLLOUT is watched on this loop only while
	 * a write waits for room (out_watched). */
	struct kh_loop *lazy_loop;
	bool out_watched;
};

#define KH_IO_AGAIN (-1) /* would block; wait for readiness */
#define KH_IO_ERROR (-2) /* failed; errno or the TLS error says why */

void kh_ep_init(struct kh_endpoint *ep, void (*cb)(struct kh_io *, uint32_t));

/* ep becomes end side of pipe p (it owns that end: kh_ep_close closes it);
 * events come to ep->io.cb as from epoll. Cleartext only. */
void kh_ep_attach_pipe(struct kh_endpoint *ep, struct kh_mempipe *p, unsigned side);

/* Takes ownership of ssl (already bound to ep->io.fd) for ep. */
void kh_ep_attach_ssl(struct kh_endpoint *ep, SSL *ssl);

/* ep was copied to a new address (an upstream moving to or from the pool). */
void kh_ep_moved(struct kh_endpoint *ep);

/* Puts ep's socket (cleartext, AF_UNIX stream: a stream to or from the key
 * holder) on loop l watched for EPOLLOUT only while a write waits for room,
 * so the peer's reads do not wake this loop (kh_loop_add_lazy_out). */
int kh_ep_watch_lazily(struct kh_endpoint *ep, struct kh_loop *l);

/* Records epoll's report for this endpoint. */
void kh_ep_on_events(struct kh_endpoint *ep, uint32_t events);

bool kh_ep_can_read(const struct kh_endpoint *ep);
bool kh_ep_can_write(const struct kh_endpoint *ep);
bool kh_ep_can_handshake(const struct kh_endpoint *ep);

/* > 0 bytes read, 0 end of stream, KH_IO_AGAIN, KH_IO_ERROR. */
ssize_t kh_ep_read(struct kh_endpoint *ep, void *buf, size_t len);

/* > 0 bytes written, KH_IO_AGAIN, KH_IO_ERROR. */
ssize_t kh_ep_write(struct kh_endpoint *ep, const void *buf, size_t len);

/* Drives the TLS handshake: 1 done, 0 in progress, KH_IO_ERROR failed. */
int kh_ep_handshake(struct kh_endpoint *ep);

/* Sends close_notify (TLS) and FIN; best effort, never blocks. */
void kh_ep_shutdown_write(struct kh_endpoint *ep);

/* Closes the socket and frees TLS state; safe to call twice. */
void kh_ep_close(struct kh_loop *l, struct kh_endpoint *ep);

#endif
