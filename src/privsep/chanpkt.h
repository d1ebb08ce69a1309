/* One channel frame (privsep/chan.h) per message on an AF_UNIX
 * SOCK_SEQPACKET socket: what a front and the CA signer say to each other
 * (SIGN_LEAF, LEAF, LEAF_FAIL). A few requests in flight, each answer one
 * frame: the message boundary is the frame boundary, so no splitter and no
 * buffering, and a message cut by the receiver's buffer is refused. */
#ifndef KH_CHANPKT_H
#define KH_CHANPKT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "privsep/chan.h"

#define KH_CHANPKT_NONE   0 /* nothing waiting (EAGAIN) */
#define KH_CHANPKT_MSG    1 /* *m holds a frame, pointing into buf */
#define KH_CHANPKT_CLOSED (-2) /* the peer is gone, or a read error (err says which) */
#define KH_CHANPKT_BAD    (-1) /* a message refused (err says why); the next may be fine */

/* Encodes m and sends it without blocking. 0, or -1 with err set (the
 * socket full, the peer gone, or m not a frame the decoder accepts). */
int kh_chanpkt_send(int sock, const struct kh_chan_msg *m, struct kh_err *err);

/* Receives one message without blocking into buf[cap] and decodes it
 * strictly (kh_chan_decode). A descriptor sent along is closed. */
int kh_chanpkt_recv(int sock, uint8_t *buf, size_t cap, struct kh_chan_msg *m, struct kh_err *err);

#endif
