/* HTTP/1.1 inside a client connection: the one protocol (proto.h) today.
 *
 * Contract: kh_relay_h1 runs one exchange at a time. A request head is
 * parsed from cin, routed (plain proxy: absolute-form, CONNECT, /healthz;
 * transparent HTTP: by Host; inside a TLS tunnel: origin-form to the
 * tunnel's host), admitted, rewritten into uout (rewrite.h, resign.h) and
 * sent up, its body streamed after it according to its framing. The
 * response head is parsed from uin and forwarded verbatim or through the
 * response filter (respscrub.h), then its body streamed to cout; the
 * exchange's audit record is written when both ends are done. Pipelined
 * requests wait in cin until the exchange before them completes, so
 * responses can never be reordered. A 101 hands the connection over to a
 * raw tunnel (kh_conn_set_state). Buffers are bounded: a full buffer simply
 * stops reading from its source. */
#ifndef KH_RELAY_H
#define KH_RELAY_H

#include "proxy/proto.h"

extern const struct kh_proto_ops kh_relay_h1;

#endif
