/* AWS SigV4 re-signing: the sandbox holds a fake access key id and secret
 * (keyhole tokens, from mappings.json); a request it signed with them is
 * checked against the fake secret and signed again with the real keys, only
 * toward the AWS_ACCESS_KEY_ID mapping's hosts and only over verified TLS.
 *
 *  - header auth only; presigned URLs (X-Amz-Credential in the query) that
 *    carry the fake key are refused: their signature is in the URL, which
 *    keyhole would have to rewrite and the real signature would then be
 *    visible to the sandbox;
 *  - the payload hash is the client's x-amz-content-sha256 (a hex digest,
 *    UNSIGNED-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-TRAILER); without that
 *    header the body itself is hashed, which needs all of it before the head
 *    goes out (relay.c buffers up to KH_SIGV4_MAX_BODY);
 *  - chunk-signed streaming payloads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD
 *    and friends) are refused: each chunk signature chains from the seed
 *    signature, so every chunk would have to be re-signed in the stream;
 *  - AWS_SESSION_TOKEN: the fake X-Amz-Security-Token is replaced by the
 *    real one and signed as such.
 * The client's signature must verify with the fake secret before keyhole
 * signs anything, so a request altered after signing, or signed by someone
 * holding only the fake key id, is refused instead of being vouched for. */
#ifndef KH_RESIGN_H
#define KH_RESIGN_H

#include <stdbool.h>

#include "http1.h"
#include "policy.h"
#include "rewrite.h"

struct kh_resign {
	struct kh_http_head head; /* the request as re-signed; headers -> hdrs */
	struct kh_http_header hdrs[KH_MAX_HEADERS_CEIL];
	char auth[KH_SIGV4_MAX_AUTH + 256]; /* the new Authorization value */
};

/* Re-signs req when it is a SigV4 request signed with keyhole's fake AWS
 * key. Returns 1 (forward rs->head instead of req; res->swapped names the
 * AWS variables), 0 (not such a request: rewrite it as usual) or -1 (refuse:
 * res has status, reason and detail). rs->head's slices point into req, rs
 * and the policy; nothing is allocated that outlives the call. */
int kh_resign_request(const struct kh_rw_ctx *ctx, const struct kh_http_head *req,
		      struct kh_resign *rs, struct kh_rw_result *res);

/* Must keyhole hold req's whole body before it can re-sign the head? True
 * for a request signed with the fake key that has a Content-Length body of
 * at most KH_SIGV4_MAX_BODY bytes and no x-amz-content-sha256. */
bool kh_resign_wants_body(const struct kh_policy *p, const struct kh_http_head *req);

#endif
