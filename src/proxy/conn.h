/* A proxied client connection and its upstream: the state machine behind
 * every CONNECT tunnel and plain-HTTP request.
 *
 *   RELAY (plain proxy) --CONNECT--> CONNECTING --dialed--> CONNECT_OK
 *       --"200" flushed--> TLS_ACCEPT --handshake--> RELAY (mitm mode)
 *   RELAY --101 upgrade--> TUNNEL;  any --final response--> CLOSING -> LINGER
 *
 * The work is split by concern: conn.c owns lifecycle, timers, the client
 * side of CONNECT and TLS, and error responses; dial.c resolves, checks the
 * deny list and connects upstream; relay.c moves HTTP/1.1 exchanges and
 * tunnel bytes. All of it runs on the owning worker's loop thread. */
#ifndef KH_CONN_H
#define KH_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "swap/bodyshare.h"
#include "base/buf.h"
#include "tls/endpoint.h"
#include "http/http1.h"
#include "policy/admit.h"
#include "policy/policy.h"
#include "policy/resolver.h"
#include "swap/respscrub.h"
#include "swap/rewrite.h"
#include "tls/tlsctx.h"
#include "proxy/worker.h"

enum kh_conn_state {
	KH_CS_RELAY, /* HTTP/1.1 requests (plain proxy, or inside a tunnel) */
	KH_CS_CONNECTING, /* CONNECT accepted; dialing the upstream */
	KH_CS_CONNECT_OK, /* flushing "200 Connection established" */
	KH_CS_TLS_ACCEPT, /* TLS handshake with the client */
	KH_CS_TUNNEL, /* raw bytes both ways after a 101 upgrade */
	KH_CS_CLOSING, /* flushing a final response */
	KH_CS_LINGER, /* our side shut; discarding input until EOF */
	KH_CS_SNI_PEEK, /* transparent TLS: waiting for the ClientHello's server name */
};

enum kh_conn_mode { KH_MODE_HTTP, KH_MODE_MITM };

enum kh_up_state { KH_UP_NONE, KH_UP_RESOLVING, KH_UP_CONNECTING, KH_UP_HANDSHAKE, KH_UP_READY };

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
};

/* The request currently in flight (one at a time per connection; pipelined
 * requests wait in cin and are parsed when this one completes). */
struct kh_exchange {
	bool active;
	bool req_done, resp_done;
	bool resp_head_done;
	bool resp_started; /* bytes of its response reached cout */
	bool req_keep_alive, resp_keep_alive;
	bool head_method, upgrade;
	bool req_http10; /* the client speaks HTTP/1.0: no chunked toward it */
	bool whole_response; /* a real secret went upstream: a 206 is refused (rewrite.h) */
	enum kh_body_kind req_body, resp_body;
	uint64_t req_left, resp_left;
	struct kh_chunked req_chunked, resp_chunked;
	size_t resp_scan;
	int status;
	uint64_t started_us;
	uint64_t bytes_in, bytes_out;
	char method[24];
	char path[KH_AUDIT_PATH_MAX];
	const char *swapped[KH_MAX_SWAPS];
	size_t n_swapped;
	char sandbox[KH_GRANT_LABEL_MAX]; /* label of the sandbox token used, or "" */
	bool admitted; /* its request went to an upstream: its record is never folded */
	struct kh_rscrub *scrub; /* owned: response scrubbing state (respscrub.c) */
	struct kh_sigv4_body *req_hash; /* owned: the body against its SigV4 digest, or NULL */
};

struct kh_conn {
	struct kh_worker *w;
	struct kh_conn *prev, *next;
	struct kh_policy *policy; /* reference */
	enum kh_conn_state state;
	enum kh_listen_kind kind; /* how the client reached us */
	enum kh_conn_mode mode;
	bool dead;
	bool close_after; /* close once the current exchange is done */
	struct kh_endpoint cli;
	struct kh_upstream up;
	struct kh_buf cin, cout, uin, uout;
	size_t head_scan;
	bool head_pending; /* bytes of a not-yet-complete head are in cin */
	struct kh_timer timer;
	struct kh_task reap; /* frees c after the event batch it died in */
	struct kh_task resume; /* continues a busy connection next iteration */
	bool resume_queued, free_on_resume;
	/* each side's last event came soon after the loop began waiting: worth
	 * a busy poll when that side is awaited again (kh_loop_expect_soon) */
	bool cli_soon, up_soon;
	uint64_t phase_start_ms, last_activity_ms, head_start_ms;
	char client[64]; /* "ip:port" */
	/* destination of the tunnel (mitm) or of the current plain request */
	char host[KH_HOST_BUF];
	uint16_t port;
	bool host_is_ip;
	struct kh_sni_check sni;
	char sandbox_label[KH_GRANT_LABEL_MAX]; /* the sandbox this connection comes from, or "" */
	struct kh_exchange ex;
	/* relay.c: cin grown past its usual cap to hold a whole request body
	 * that SigV4 re-signing must hash before the head can go out */
	struct {
		size_t room; /* bytes added to cin's cap (counted in a daemon-wide budget) */
		char source[KH_BODYSHARE_KEY_MAX]; /* whose share room counts against */
		bool waiting; /* a parsed head waits in cin for the rest of its body */
		bool continue_sent; /* "100 Continue" already answered for it */
	} sigbody;
};

/* Takes ownership of an accepted, non-blocking socket. */
void kh_conn_accept(struct kh_worker *w, int fd, const struct sockaddr *peer,
		    enum kh_listen_kind kind);

/* Runs the state machine until it can make no more progress. */
void kh_conn_run(struct kh_conn *c);

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

/* Called when the upstream is ready (ok) or could not be reached. */
void kh_conn_dial_done(struct kh_conn *c, bool ok, int status, const char *reason,
		       const char *detail);

/* --- dial.c --- */
/* Starts connecting c->up to host:port (TLS if tls). Completion is reported
 * through kh_conn_dial_done(), possibly before this returns. */
void kh_dial_start(struct kh_conn *c, const char *host, uint16_t port, bool tls, bool is_ip);
/* Advances a dial in progress on readiness. Returns true on progress. */
bool kh_dial_step(struct kh_conn *c);
/* Drops the upstream (closing its socket, cancelling a pending lookup). */
void kh_dial_reset(struct kh_conn *c);

/* Whether the upstream connection is idle and clean enough to be reused by
 * another client connection, and handing it to the worker's pool if so
 * (c then has no upstream). See upool.h. */
bool kh_dial_parkable(const struct kh_conn *c);
bool kh_dial_park(struct kh_conn *c);

/* --- relay.c --- */
/* Moves bytes for RELAY and TUNNEL states. Returns true on progress. */
bool kh_relay_step(struct kh_conn *c);
/* Writes the audit record for the current exchange. A refusal's record may
 * be folded instead (auditgate.h): false then (and the caller should not log
 * it one by one either). */
bool kh_relay_audit(struct kh_conn *c, const char *decision, const char *reason,
		    const char *detail);
/* Returns cin's extra room for SigV4 bodies to the budget (on close). */
void kh_relay_release_body_room(struct kh_conn *c);
/* Frees the exchange's SigV4 body check, if any (on close). */
void kh_relay_end_body_check(struct kh_conn *c);
/* Sets the exchange's path field from a target (query dropped, tokens redacted). */
void kh_relay_set_path(struct kh_conn *c, struct kh_slice target);
/* Forgets the current exchange, freeing what it owns. */
void kh_relay_reset_exchange(struct kh_conn *c);

/* Who c is for fairness and flood control (resolver, audit): the label of
 * its sandbox if it has one, else the client's address without the port. */
void kh_conn_source(const struct kh_conn *c, char *out, size_t len);

/* Shared helpers (conn.c). */
bool kh_conn_flush(struct kh_conn *c, struct kh_endpoint *ep, struct kh_buf *b);
bool kh_conn_fill(struct kh_conn *c, struct kh_endpoint *ep, struct kh_buf *b);
void kh_conn_touch(struct kh_conn *c);
const char *kh_conn_mode_name(const struct kh_conn *c);

#endif
