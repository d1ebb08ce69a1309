/* The connection stage: a client connection, from accept to close, and the
 * state machine behind every CONNECT tunnel and plain-HTTP request.
 *
 *   RELAY (plain proxy) --CONNECT--> CONNECTING --dialed--> CONNECT_OK
 *       --"200" flushed--> TLS_ACCEPT --handshake--> RELAY (mitm mode)
 *   SNI_PEEK (transparent TLS) --server name--> CONNECTING --> TLS_ACCEPT
 *   RELAY --101 upgrade--> TUNNEL;  any --final response--> CLOSING -> LINGER
 *   key holder's end of a front's stream (keyside): OPEN_WAIT --OPEN-->
 *       (tunnel: CONNECTING --dialed-->) OPEN_OK --> RELAY, or OPEN_FAIL --> CLOSING
 *
 * Contract: conn owns the client socket and its TLS, the four buffers, the
 * timers and the connection's identity (client, sandbox, destination); it
 * handles CONNECT, the transparent entries' SNI, keyhole's own error
 * responses and the audit record of an exchange. In RELAY it drives the
 * protocol spoken inside (proto.h; HTTP/1.1 is relay.h) through its ops
 * table, and its upstream (dial.h) reports back through callbacks. The
 * data path, top to bottom: worker (accept) -> conn -> protocol ->
 * exchange (exchange.h) -> admission (policy/admit.h) -> rewrite and
 * signing (swap/) -> upstream (dial.h, upool.h) -> response filter
 * (swap/respscrub.h) -> audit (kh_conn_audit).
 * What conn needs of its thread is in wctx.h, below it. All of it runs on
 * the owning worker's loop thread. */
#ifndef KH_CONN_H
#define KH_CONN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/buf.h"
#include "http/http1.h"
#include "policy/admit.h"
#include "policy/policy.h"
#include "proxy/dial.h"
#include "proxy/exchange.h"
#include "proxy/proto.h"
#include "proxy/wctx.h"
#include "tls/endpoint.h"
#include "tls/tlsctx.h"

/* What a connection on a listener speaks. */
enum kh_listen_kind {
	KH_LISTEN_PROXY, /* HTTP proxy protocol: CONNECT / absolute-form */
	KH_LISTEN_TRANSPARENT_TLS, /* a TLS ClientHello straight away (sandbox :443) */
	KH_LISTEN_TRANSPARENT_HTTP, /* origin-form HTTP, routed by Host (sandbox :80) */
};

enum kh_conn_state {
	KH_CS_RELAY, /* HTTP/1.1 requests (plain proxy, or inside a tunnel) */
	KH_CS_CONNECTING, /* CONNECT accepted; dialing the upstream */
	KH_CS_CONNECT_OK, /* flushing "200 Connection established" */
	KH_CS_TLS_ACCEPT, /* TLS handshake with the client */
	KH_CS_TUNNEL, /* raw bytes both ways after a 101 upgrade */
	KH_CS_CLOSING, /* flushing a final response */
	KH_CS_LINGER, /* our side shut; discarding input until EOF */
	KH_CS_SNI_PEEK, /* transparent TLS: waiting for the ClientHello's server name */
	KH_CS_OPEN_WAIT, /* key holder: waiting for the front's OPEN on a new stream */
	KH_CS_CERT_WAIT, /* a front: waiting for the CA signer's leaf (leafwait.h) */
};

enum kh_conn_mode { KH_MODE_HTTP, KH_MODE_MITM };

struct kh_mempipe;

struct kh_conn {
	struct kh_wctx *cx; /* the thread it runs on (wctx.h) */
	struct kh_conn *prev, *next;
	struct kh_policy *policy; /* reference */
	enum kh_conn_state state;
	enum kh_listen_kind kind; /* how the client reached us */
	enum kh_conn_mode mode;
	bool dead;
	/* the key holder's end of a stream from a front (privsep): cli is that
	 * stream, its first bytes an OPEN frame, then requests the front parsed */
	bool keyside;
	struct kh_conn *leaf_next; /* the next waiting for the same leaf (leafwait.h) */
	bool leaf_waiting; /* on a leafwait list: closing takes it off */
	atomic_uint *stream_count; /* keyside: its front's open streams, or NULL */
	bool close_after; /* close once the current exchange is done */
	struct kh_endpoint cli;
	struct kh_upstream up;
	struct kh_buf cin, cout, uin, uout;
	struct kh_timer timer;
	struct kh_task reap; /* frees c after the event batch it died in */
	struct kh_task resume; /* continues a busy connection next iteration */
	bool resume_queued, free_on_resume;
	/* each side's last event came soon after the loop began waiting: worth
	 * a busy poll when that side is awaited again (kh_loop_expect_soon) */
	bool cli_soon, up_soon;
	uint64_t phase_start_ms, last_activity_ms;
	char client[64]; /* "ip:port" */
	/* destination of the tunnel (mitm) or of the current plain request */
	char host[KH_HOST_BUF];
	uint16_t port;
	bool host_is_ip;
	struct kh_sni_check sni;
	char sandbox_label[KH_GRANT_LABEL_MAX]; /* the sandbox this connection comes from, or "" */
	const struct kh_proto_ops *proto; /* what is spoken inside (proto.h) */
	void *proto_state; /* the protocol's own */
	/* the exchange connection-level answers and records refer to: the
	 * CONNECT, or (HTTP/1.1) the one request in flight; owned by the
	 * protocol's state */
	struct kh_exchange *ex;
};

/* Takes ownership of an accepted, non-blocking socket, which speaks proto
 * once it is past CONNECT and TLS. Counted by kh_shared_conn_enter (the
 * caller's; kh_shared_conn_leave when the connection ends, or here on
 * failure). */
void kh_conn_accept(struct kh_wctx *cx, int fd, const struct sockaddr *peer,
		    enum kh_listen_kind kind, const struct kh_proto_ops *proto);

/* Takes ownership of the key holder's end of a new stream from a front
 * (docs/design/privsep.md): it reads the front's OPEN, checks it as it
 * would a client's CONNECT or first request, answers OPEN_OK (after dialing,
 * for a tunnel) or OPEN_FAIL, then relays what comes with proto, as for a
 * client, but with nothing of the client's TLS. Not counted in
 * cx->sh->n_conns: its front's connection is; count (if not NULL) counts it
 * while it is open. */
void kh_conn_accept_stream(struct kh_wctx *cx, int fd, const struct kh_proto_ops *proto,
			   atomic_uint *count);

/* The same for end 1 of an in-process stream's pipe (event/mempipe.h), from
 * a front on this thread's loop. */
void kh_conn_accept_pipe(struct kh_wctx *cx, struct kh_mempipe *p,
			 const struct kh_proto_ops *proto);

/* Runs the state machine until it can make no more progress. */
void kh_conn_run(struct kh_conn *c);

/* The leaf c waited for (KH_CS_CERT_WAIT; borrowed) and goes on with its
 * TLS handshake, or NULL: it could not be had (why says so), c closes. */
void kh_conn_leaf_ready(struct kh_conn *c, X509 *leaf, const char *why);

/* Closes c now (both sides) and schedules its memory to be freed after the
 * current batch of events. */
void kh_conn_close(struct kh_conn *c);

/* Answers the current request (or CONNECT) with a keyhole-generated error,
 * writes its audit record and closes after flushing. If response bytes were
 * already sent, the connection is aborted instead. */
void kh_conn_fail(struct kh_conn *c, int status, const char *reason, const char *detail);

/* Queues a complete keyhole-generated response (reason, if not NULL, goes in
 * X-Keyhole-Reason) and closes after flushing it. */
void kh_conn_reply(struct kh_conn *c, int status, const char *reason, const char *body,
		   bool head_only);

/* Begins graceful shutdown handling for c: idle connections close now. */
void kh_conn_drain(struct kh_conn *c);

/* Admission (admit.h) of c->host:c->port for a request that came in through
 * e. If refused, answers it (kh_conn_refuse) and returns false. */
bool kh_conn_admit(struct kh_conn *c, enum kh_admit_entry e);

/* Applies a refusal verdict of admit.h: c->host is redacted in place when
 * it holds a token, then the request is failed with the verdict's status,
 * reason and detail. */
void kh_conn_refuse(struct kh_conn *c, const struct kh_verdict *v);

/* Handles a parsed CONNECT request (plain-proxy mode). */
void kh_conn_start_connect(struct kh_conn *c, const struct kh_http_head *h);

/* Hands c's upstream to the thread's pool if it is idle and clean (see
 * upool.h); false if it stays (in use, dirty, or shutting down). */
bool kh_conn_park_upstream(struct kh_conn *c);

/* Whether kh_conn_park_upstream would park it now. */
bool kh_conn_parkable(const struct kh_conn *c);

/* Writes the audit record of ex, one of c's exchanges. A refusal's record
 * may be folded instead (auditgate.h): false then (and the caller should
 * not log it one by one either). */
bool kh_conn_audit(struct kh_conn *c, const struct kh_exchange *ex, const char *decision,
		   const char *reason, const char *detail);

/* Moves c to state s (the protocol uses it for TUNNEL after a 101 and
 * CLOSING after its last exchange); the phase timer restarts. */
void kh_conn_set_state(struct kh_conn *c, enum kh_conn_state s);

/* Who c is for fairness and flood control (resolver, audit): the label of
 * its sandbox if it has one, else the client's address without the port. */
void kh_conn_source(const struct kh_conn *c, char *out, size_t len);

/* Writes b to ep / reads ep into b as far as both allow, noting activity
 * for the idle timer. true when anything moved (or ep failed or ended). */
bool kh_conn_flush(struct kh_conn *c, struct kh_endpoint *ep, struct kh_buf *b);
bool kh_conn_fill(struct kh_conn *c, struct kh_endpoint *ep, struct kh_buf *b);

#endif
