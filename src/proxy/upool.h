/* Idle upstream connections, kept per worker for the next request to the
 * same destination (what nginx calls upstream keepalive and HAProxy idle
 * server connections).
 *
 * A client connection hands its upstream connection back when it closes, or
 * after KH_UPSTREAM_PARK_MS without a request, if the upstream is clean: its
 * last exchange finished with keep-alive, nothing is buffered either way and
 * no TLS bytes are pending. The next connection to the same host, port and
 * scheme under the same policy generation takes it instead of dialing: no
 * DNS, no deny-list check to repeat (it was done under that policy), no TCP
 * or TLS handshake. That makes new intercepted connections cost one TLS
 * handshake instead of two, and an idle sandbox connection cost a client
 * socket and its TLS state only.
 *
 * The pool is bounded (KH_UPSTREAM_POOL_MAX per worker, least recently parked
 * evicted first) and entries expire after KH_UPSTREAM_POOL_IDLE_MS, below the
 * keep-alive timeout common servers use. A parked socket stays in epoll: any
 * event on it (the server closed it, or sent bytes nobody asked for) closes
 * it. Loop thread only; no locks. */
#ifndef KH_UPOOL_H
#define KH_UPOOL_H

#include <stdbool.h>
#include <stdint.h>

#include "tls/endpoint.h"
#include "event/loop.h"

struct kh_upool;

struct kh_upool_key {
	const char *host; /* normalized */
	uint16_t port;
	bool tls;
	unsigned long generation; /* policy snapshot the connection was checked under */
};

struct kh_upool *kh_upool_new(struct kh_loop *l);

/* Closes every parked connection and frees the pool; NULL-safe. */
void kh_upool_free(struct kh_upool *p);

/* Takes over ep (left closed and re-initialized with cb on return) and keeps
 * it under key. Evicts the oldest entry when full. */
void kh_upool_put(struct kh_upool *p, const struct kh_upool_key *key, struct kh_endpoint *ep,
		  void (*cb)(struct kh_io *, uint32_t));

/* Moves the most recently parked connection for key into *ep (which must be
 * closed) with its events delivered to ep->io.cb from now on. false if none. */
bool kh_upool_take(struct kh_upool *p, const struct kh_upool_key *key, struct kh_endpoint *ep);

/* Closes every parked connection (shutdown). */
void kh_upool_clear(struct kh_upool *p);

/* Connections currently parked. */
unsigned kh_upool_count(const struct kh_upool *p);

#endif
