/* The upstream stage: one connection toward an origin server, from a name
 * to a ready (TCP, or verified TLS) endpoint, and back to the pool.
 *
 * Contract: the owner (conn.c today; an HTTP/2 stream tomorrow) embeds a
 * kh_upstream, gives it its loop context, its callbacks and the two buffers
 * that carry its bytes, and starts dials; it never learns how a dial goes
 * except through the callbacks, and the dialer knows nothing of who owns
 * it. The dialer:
 *   - turns host into addresses (resolve: pin, IP literal, or the resolver
 *     thread, asked on behalf of ops->source for fairness),
 *   - checks each address against the policy's deny list right before
 *     connecting to it (so a name that re-resolves to a private address is
 *     still refused) and falls back to the next one on failure,
 *   - does a verified TLS handshake when tls is set,
 *   - takes an idle connection from the pool instead when one to the same
 *     host, port and scheme under the same policy generation is parked,
 *   - in a privsep front (via_keyholder), opens a stream to the key holder
 *     instead, which does all of the above on its side (an OPEN frame out,
 *     OPEN_OK or OPEN_FAIL back, then HTTP/1.1 on the stream),
 *   - reports the end of every dial exactly once through ops->done, possibly
 *     before kh_dial_start returns; a lookup that ends later also calls
 *     ops->resumed so the owner runs its state machine.
 * Loop thread only. */
#ifndef KH_DIAL_H
#define KH_DIAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/buf.h"
#include "base/kh_limits.h"
#include "policy/policy.h"
#include "policy/resolver.h"
#include "privsep/chan.h"
#include "proxy/wctx.h"
#include "tls/endpoint.h"

enum kh_up_state { KH_UP_NONE, KH_UP_RESOLVING, KH_UP_CONNECTING, KH_UP_HANDSHAKE, KH_UP_READY };

struct kh_upstream;

/* How the dialer reaches its owner. */
struct kh_upstream_ops {
	/* Events on the upstream socket (the owner steps the dial with
	 * kh_dial_step and moves its bytes). */
	void (*io)(struct kh_io *io, uint32_t events);
	/* The dial ended: ok, or why not as an HTTP status, a reason token and
	 * a detail fit for the client (it may point into up: copy it). */
	void (*done)(struct kh_upstream *up, bool ok, int status, const char *reason,
		     const char *detail);
	/* A name lookup ended on the loop, outside the owner's own events. */
	void (*resumed)(struct kh_upstream *up);
	/* Who is dialing, for the resolver's per-client turns and caps. */
	void (*source)(const struct kh_upstream *up, char *out, size_t len);
	/* For a dial via the key holder: how the client came (entry), who it
	 * is (client, label, source) in the stream's OPEN frame. */
	void (*open_info)(const struct kh_upstream *up, struct kh_chan_open *o);
};

struct kh_upstream {
	struct kh_endpoint ep;
	enum kh_up_state state;
	char host[KH_HOST_BUF];
	uint16_t port; /* where it connects (a pin may change it) */
	uint16_t dest_port; /* the port the client asked for */
	bool tls;
	bool is_ip;
	unsigned long generation; /* policy it was dialed under (deny list, pins) */
	struct kh_resolve_job *job; /* while resolving */
	struct sockaddr_storage addrs[KH_MAX_ADDRS];
	socklen_t addrlens[KH_MAX_ADDRS];
	size_t n_addrs, next_addr;
	char last_error[KH_DETAIL_MAX];
	bool used; /* carried at least one exchange */
	/* a privsep front's upstream: a stream to the key holder (given by the
	 * owner before dialing), not a network connection; lazy: the key holder
	 * routes each request of it, the host named at OPEN was the first's */
	bool via_keyholder, lazy;
	uint64_t start_ms; /* when the dial began (loop clock), for the dial histogram */
	/* given by the owner */
	const struct kh_upstream_ops *ops;
	struct kh_wctx *cx;
	struct kh_policy *policy; /* lent for the dial: the owner keeps it alive until done, */
	/* and it is NULL again before done is called */
	struct kh_buf *in, *out; /* its bytes each way: emptied when its connection changes */
};

/* Sets up an idle upstream for its owner. */
void kh_dial_init(struct kh_upstream *up, struct kh_wctx *cx, const struct kh_upstream_ops *ops,
		  struct kh_buf *in, struct kh_buf *out);

/* Starts connecting to host:port (TLS if tls) under policy, dropping any
 * connection up had (but keeping *out, which may hold the request to send). */
void kh_dial_start(struct kh_upstream *up, struct kh_policy *policy, const char *host,
		   uint16_t port, bool tls, bool is_ip);

/* Advances a dial in progress on readiness. Returns true on progress. */
bool kh_dial_step(struct kh_upstream *up);

/* Drops the upstream (closing its socket, cancelling a pending lookup) and
 * empties both buffers. */
void kh_dial_reset(struct kh_upstream *up);

/* Is up a ready connection to host:port with the same scheme, not seen to
 * close, dialed under this policy's generation? (The next request can go out
 * on it. After a reload it is dialed again, so a new deny range or pin
 * applies to a kept-alive connection too, as it does to the pool.) */
bool kh_dial_matches(const struct kh_upstream *up, const struct kh_policy *policy, const char *host,
		     uint16_t port, bool tls);

/* Is up between exchanges, with nothing in flight or buffered either way,
 * so another client connection could use it next? The owner adds what only
 * it knows (no exchange of its own in flight, not a tunnel). */
bool kh_dial_clean(const struct kh_upstream *up);

/* Hands a clean upstream (kh_dial_clean) to the thread's pool (upool.h);
 * up is then idle. */
void kh_dial_park(struct kh_upstream *up);

#endif
