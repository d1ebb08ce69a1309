/* Routing a parsed request head: which entry it came in by, where it goes,
 * whether keyhole answers it itself, and the admission check of its host.
 * Two protocols route the same way, so the checks live here once: the
 * front's HTTP/1.1 (front_h1.c) routes what the client sent, and the key
 * holder's (relay.c) routes it again from the front's stream, because the
 * key holder trusts no decision the front made (docs/design/privsep.md).
 *
 * Routing either forwards the request (the caller's forward function does
 * what forwarding means to it) or answers it with keyhole's own response
 * (kh_conn_fail / kh_conn_reply: /healthz, refusals, CONNECT, which closes
 * or changes the connection). With defer set, the caller cannot answer yet
 * (responses of the key holder are still on their way to the client), so
 * any outcome but forwarding returns KH_ROUTE_DEFER with nothing answered:
 * the caller routes the same head again once it can. */
#ifndef KH_ROUTE_H
#define KH_ROUTE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/slice.h"
#include "http/http1.h"

struct kh_conn;

/* Where the next request head in cin stands (both protocols keep one). */
struct kh_head_scan {
	size_t scan; /* kh_http_scan_head's progress */
	bool pending; /* bytes of a not-yet-complete head are in cin */
	uint64_t start_ms; /* when its first byte came (the header timeout) */
};

/* Finds the next whole head in c->cin: its length (> 0), 0 while it is not
 * whole yet (*progress: blank lines before it were dropped), or -1 with err
 * set (malformed, or larger than max_head: 431). */
ssize_t kh_route_next_head(struct kh_conn *c, struct kh_head_scan *hs, size_t max_head,
			   struct kh_http_error *err, bool *progress);

/* Sends h on toward c->host:c->port: target is the request-target the
 * upstream receives (origin-form), tls whether the upstream speaks TLS,
 * absolute whether the client used absolute-form. */
typedef void (*kh_route_forward_fn)(struct kh_conn *c, const struct kh_http_head *h,
				    struct kh_slice target, bool tls, bool absolute);

enum kh_route_result {
	KH_ROUTE_DONE, /* forwarded, or answered by keyhole */
	KH_ROUTE_DEFER, /* keyhole must answer it, but not now (defer was set) */
};

/* Starts c's exchange for h (method, HEAD, HTTP/1.0, head bytes in). */
void kh_route_begin(struct kh_conn *c, const struct kh_http_head *h);

/* Answers a head that did not parse (or was too large). */
void kh_route_fail_parse(struct kh_conn *c, const struct kh_http_error *err);

/* Routes h (begun with kh_route_begin) by c's mode and listener kind. */
enum kh_route_result kh_route_request(struct kh_conn *c, const struct kh_http_head *h, bool defer,
				      kh_route_forward_fn forward);

#endif
