/* AWS SigV4 re-signing: the sandbox holds a fake access key id and secret
 * (keyhole tokens, from mappings.json); a request it signed with them is
 * checked against the fake secret and signed again with the real keys, only
 * toward the AWS_ACCESS_KEY_ID mapping's hosts and only over verified TLS.
 *
 *  - header auth only; presigned URLs (X-Amz-Credential in the query) that
 *    carry the fake key are refused: their signature is in the URL, which
 *    keyhole would have to rewrite and the real signature would then be
 *    visible to the sandbox;
 *  - only toward an endpoint of the service and region the request is signed
 *    for (awsscope.h: customer-controlled hosts such as API Gateway never),
 *    and for S3 only toward the buckets of config.yaml aws.buckets when set;
 *  - the payload hash is the client's x-amz-content-sha256 (a hex digest,
 *    UNSIGNED-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-TRAILER; S3 requires
 *    one). A hex digest is what the signature covers, so the signature is
 *    checked from the head and relay.c checks the body against the digest as
 *    it streams. Without that header the body itself is hashed, which needs
 *    all of it before the head goes out (relay.c holds up to
 *    KH_SIGV4_MAX_BODY, within a per-client share of a daemon-wide budget,
 *    and only for a request that passed every check the head allows);
 *  - chunk-signed streaming payloads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD
 *    and friends) are refused: each chunk signature chains from the seed
 *    signature, so every chunk would have to be re-signed in the stream;
 *  - X-Amz-Date must be within KH_SIGV4_MAX_SKEW of keyhole's clock, and the
 *    signature must cover it and Host;
 *  - AWS_SESSION_TOKEN: the fake X-Amz-Security-Token is replaced by the
 *    real one and signed as such.
 * The client's signature must verify with the fake secret before keyhole
 * signs anything, so a request altered after signing, or signed by someone
 * holding only the fake key id, is refused instead of being vouched for. */
#ifndef KH_RESIGN_H
#define KH_RESIGN_H

#include <stdbool.h>

#include "http/http1.h"
#include "policy/policy.h"
#include "swap/rwctx.h"

struct kh_resign {
	struct kh_http_head head; /* the request as re-signed; headers -> hdrs */
	struct kh_http_header hdrs[KH_MAX_HEADERS_CEIL];
	char auth[KH_SIGV4_MAX_AUTH + 256]; /* the new Authorization value */
};

/* Re-signs req when it is a SigV4 request signed with keyhole's fake AWS
 * key. Returns 1 (forward rs->head instead of req; res->swapped names the
 * AWS variables, res->body_sha256 the digest the body must match when one
 * was declared), 0 (not such a request: rewrite it as usual) or -1 (refuse:
 * res has status, reason and detail). rs->head's slices point into req, rs
 * and the policy; nothing is allocated that outlives the call. */
int kh_resign_request(const struct kh_rw_ctx *ctx, const struct kh_http_head *req,
		      struct kh_resign *rs, struct kh_rw_result *res);

/* Runs every check kh_resign_request makes that needs only the head (key id,
 * scope and destination, signed headers, date and clock skew, payload hash
 * form, body size, session token) without computing a signature. Returns 1
 * when req is such a request and keyhole must hold its whole body to hash
 * it before re-signing (ctx->body is then ignored), 0 when no body need be
 * held (not such a request, or the hash is declared), -1 to refuse it now
 * (res says why). A head without a SigV4 Authorization costs one header
 * lookup. */
int kh_resign_precheck(const struct kh_rw_ctx *ctx, const struct kh_http_head *req,
		       struct kh_rw_result *res);

#endif
