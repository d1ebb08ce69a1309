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
#include "swap/rwctx.h"

/* Appends the rewritten head to out. 0 = forward it; -1 = refuse (res says
 * why and with what status). */
int kh_rewrite_request(const struct kh_rw_ctx *ctx, const struct kh_http_head *req,
		       struct kh_buf *out, struct kh_rw_result *res);

#endif
