/* Turns a parsed client request into the request head sent upstream, or
 * refuses it. This is where credentials are injected, and only here:
 *
 *  - a token in one of its mapping's locations (providers.h: Bearer, Basic
 *    user or password, a named header with an optional value template, a
 *    named query parameter) gets the real value, only as an exact match of
 *    the whole token, only toward one of that mapping's hosts, only over TLS
 *    unless the host is a cleartext_credential_hosts entry, and only if the
 *    secret is loaded; a query swap rewrites that value and nothing else;
 *  - a token anywhere else in the head or target (also percent-encoded, or
 *    inside Basic credentials) is refused: token_misplaced toward its own
 *    host, token_leak_attempt toward any other or in a host name, so no
 *    request ever leaves with a proxy token in it;
 *  - hop-by-hop fields are dropped (RFC 9110 7.6.1), a Connection header that
 *    names a framing field (Host, Content-Length, Transfer-Encoding) is
 *    refused because dropping those would desynchronize the upstream;
 *  - a sandbox token (grants.h) is swapped like its mapping's token while it
 *    is live, and refused with 401 (revoked, expired) or 429 (budget spent)
 *    after; its label is returned for the audit record;
 *  - inside a tunnel the Host header must name the tunnel's host; for
 *    absolute-form requests Host is replaced by the URL's authority;
 *  - while responses are scrubbed: Accept-Encoding names only codings the
 *    scrubber decodes (identity when the client sent none), and a request
 *    that carries a real secret loses Range, If-Range and Request-Range, so
 *    its answer comes whole (a key split across two 206 bodies could not be
 *    recognised); relay.c refuses a 206 that comes back anyway.
 * Pure: no I/O, no allocation; output is appended to a kh_buf. */
#ifndef KH_REWRITE_H
#define KH_REWRITE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "http/http1.h"
#include "policy/policy.h"
#include "base/kh_limits.h"

struct kh_rw_ctx {
	const struct kh_policy *policy;
	const char *host; /* normalized destination host */
	uint16_t port;
	uint16_t default_port; /* 443 for TLS, 80 for plain */
	bool tls; /* the upstream leg is verified TLS */
	bool absolute; /* target was absolute-form: replace Host */
	struct kh_slice target; /* origin-form target to send ("" means "/") */
	struct kh_slice body; /* the whole Content-Length body when already read, else NULL */
	int64_t now; /* wall clock, Unix seconds: a SigV4 X-Amz-Date is checked against it */
};

struct kh_rw_result {
	int status; /* on refusal: 400, 403, 431, 503 */
	const char *reason; /* audit reason code */
	char detail[KH_DETAIL_MAX]; /* for people; never holds a secret or whole token */
	const char *swapped[KH_MAX_SWAPS]; /* env names injected (policy-owned strings) */
	size_t n_swapped;
	bool token_in_target; /* the target held a token: redact it in records */
	bool upgrade; /* a WebSocket upgrade was forwarded */
	bool whole_response; /* a real secret was injected while scrubbing: refuse a 206 */
	char sandbox[KH_GRANT_LABEL_MAX]; /* label of a sandbox token seen, or "" */
	/* re-signed SigV4 with a declared payload digest: the body must hash to
	 * this (64 lowercase hex), else "" */
	char body_sha256[65];
};

/* Appends the rewritten head to out. 0 = forward it; -1 = refuse (res says
 * why and with what status). */
int kh_rewrite_request(const struct kh_rw_ctx *ctx, const struct kh_http_head *req,
		       struct kh_buf *out, struct kh_rw_result *res);

#endif
