/* One exchange: a request and its response, whatever protocol carried them.
 *
 * Contract: an exchange is the unit every stage after the connection works
 * on and the unit the audit log records. It says what was asked (method,
 * path with queries dropped and tokens redacted), where it stands (request
 * and response done, head sent), what was done to it (credentials swapped,
 * the sandbox whose token it used, admitted upstream or refused) and what
 * it cost (bytes, time); it owns the per-exchange filter state (response
 * scrubbing, the SigV4 body digest check), freed by kh_exchange_release.
 *
 * It knows no socket and no connection: a protocol (proto.h) keeps its
 * exchanges where it likes (HTTP/1.1: one at a time; HTTP/2: one per
 * stream), and the connection records one with kh_conn_audit.
 *
 * The message-framing fields (body kinds, lengths left, chunked decoders,
 * keep-alive, HEAD, HTTP/1.0) are HTTP/1.1's. An h2 stream leaves them
 * unused (DATA frames carry their own framing); since respscrub became a
 * pure filter they could move into relay.c's state. */
#ifndef KH_EXCHANGE_H
#define KH_EXCHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/kh_limits.h"
#include "base/slice.h"
#include "http/http1.h"
#include "policy/policy.h"

struct kh_rscrub;
struct kh_sigv4_body;

struct kh_exchange {
	bool active;
	bool req_done, resp_done;
	bool resp_head_done;
	bool resp_started; /* bytes of its response reached the client's buffer */
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

/* Starts ex afresh (what it owned is freed): active, its clock running, its
 * method the given one, redacted by p (whole, before it is cut to fit, so a
 * cut token is still recognised as one). */
void kh_exchange_begin(struct kh_exchange *ex, const struct kh_policy *p, struct kh_slice method);

/* Sets ex->path from a request target: query dropped, tokens redacted. */
void kh_exchange_set_path(struct kh_exchange *ex, const struct kh_policy *p,
			  struct kh_slice target);

/* Frees what ex owns (scrub state, body check) and leaves its record as is. */
void kh_exchange_release(struct kh_exchange *ex);

/* Frees what ex owns and forgets it: an inactive, empty exchange. */
void kh_exchange_reset(struct kh_exchange *ex);

#endif
