/* HTTP/1.1 as a privsep front speaks it (docs/design/privsep.md): the side
 * of keyhole that reads the sandbox's bytes and holds no key.
 *
 * Contract: kh_front_h1 parses each request head from cin strictly, routes
 * and admits it (route.h: the same checks as the key holder's relay.h),
 * answers what keyhole answers itself (/healthz, refusals, CONNECT), and
 * sends the rest to the key holder over the connection's upstream, which
 * in a front is a stream to the key holder (dial.h, via_keyholder): the
 * head written again in one canonical form, its body with its framing
 * checked, and after an upgrade raw bytes. The key holder's bytes are
 * client-ready HTTP (swapped, scrubbed, framed): they are copied to cout
 * and never parsed here. The key holder routes and admits every request
 * again, writes the audit record of what it forwards and keeps the
 * upstream's timeouts; the front records only its own refusals.
 *
 * Order of responses: keyhole answers a request itself only when no stream
 * is open. With one open, such a head waits: the stream is half-closed,
 * the key holder finishes the requests it has (their responses reach the
 * client first) and closes it, then the head is routed again. Every answer
 * of keyhole's closes the connection, as relay.h's do. */
#ifndef KH_FRONT_H1_H
#define KH_FRONT_H1_H

#include "proxy/proto.h"

extern const struct kh_proto_ops kh_front_h1;

#endif
