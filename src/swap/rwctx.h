/* What the request rewriter (rewrite.h) and the SigV4 re-signer (resign.h)
 * share: the destination and request they judge (kh_rw_ctx) and what they
 * decide (kh_rw_result). Types only, so that rewrite.c can call resign.c
 * without resign.h depending back on rewrite.h. */
#ifndef KH_RWCTX_H
#define KH_RWCTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/kh_limits.h"
#include "base/slice.h"
#include "policy/policy.h"

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

#endif
