#include "swap/resign.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "policy/awsscope.h"
#include "base/kh_limits.h"
#include "policy/providers.h"
#include "swap/sigv4.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* The three AWS credentials of the policy, when mapped. */
struct aws_creds {
	const struct kh_cred *key_id, *secret, *session;
};

/* One request being re-signed. */
struct job {
	const struct kh_rw_ctx *ctx;
	const struct kh_http_head *req;
	struct kh_rw_result *res;
	struct aws_creds aws;
	struct kh_sigv4_auth auth;
	size_t auth_index; /* which header is the Authorization */
	struct kh_slice amz_date, payload_hash;
	bool declared_digest; /* payload_hash is the client's hex digest of the body */
	bool needs_body; /* payload_hash must be computed from the whole body */
	long session_index; /* the X-Amz-Security-Token to replace, or -1 */
	struct kh_sigv4_req creq; /* forms and substitution settled by verify() */
	char body_hash[KH_SIGV4_HEX_LEN + 1];
};

static int refuse(struct kh_rw_result *res, int status, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int refuse(struct kh_rw_result *res, int status, const char *reason, const char *fmt, ...)
{
	va_list ap;

	res->status = status;
	res->reason = reason;
	va_start(ap, fmt);
	vsnprintf(res->detail, sizeof res->detail, fmt, ap);
	va_end(ap);
	return -1;
}

static struct aws_creds find_creds(const struct kh_policy *p)
{
	struct aws_creds a = { NULL, NULL, NULL };

	for (size_t i = 0; i < p->n_creds; i++) {
		const char *n = p->creds[i].env_name;

		if (strcmp(n, KH_AWS_KEY_ID_ENV) == 0)
			a.key_id = &p->creds[i];
		else if (strcmp(n, KH_AWS_SECRET_ENV) == 0)
			a.secret = &p->creds[i];
		else if (strcmp(n, KH_AWS_SESSION_ENV) == 0)
			a.session = &p->creds[i];
	}
	return a;
}

static const struct kh_http_header *find_header(const struct kh_http_head *h, const char *name,
						size_t *index)
{
	for (size_t i = 0; i < h->n_headers; i++)
		if (kh_slice_eq_cstr_nocase(h->headers[i].name, name)) {
			if (index != NULL)
				*index = i;
			return &h->headers[i];
		}
	return NULL;
}

/* The Authorization header of a SigV4 request (the first one), or NULL. */
static const struct kh_http_header *sigv4_authorization(const struct kh_http_head *h, size_t *index)
{
	const struct kh_http_header *a = find_header(h, "authorization", index);

	if (a == NULL || !kh_slice_starts_with_nocase(a->value, KH_SIGV4_ALGORITHM " "))
		return NULL;
	return a;
}

/* --- checks before anything is signed --- */

static bool query_has_param(struct kh_slice target, const char *name)
{
	long q = kh_slice_find(target, '?');
	struct kh_slice rest, pair, key;

	if (q < 0)
		return false;
	rest = kh_slice_make(target.ptr + q + 1, target.len - (size_t)q - 1);
	while (rest.len > 0) {
		kh_slice_split(&rest, '&', &pair);
		kh_slice_split(&pair, '=', &key);
		if (kh_slice_eq_cstr_nocase(key, name))
			return true;
	}
	return false;
}

static bool is_aws_cred(const struct aws_creds *a, const struct kh_cred *c)
{
	return c != NULL && (c == a->key_id || c == a->secret || c == a->session);
}

static int refuse_presigned(struct job *j)
{
	const struct kh_cred *c = kh_policy_token_scan(j->ctx->policy, j->ctx->target);

	if (!is_aws_cred(&j->aws, c) || (!query_has_param(j->ctx->target, "X-Amz-Credential") &&
					 !query_has_param(j->ctx->target, "X-Amz-Signature")))
		return 0;
	j->res->token_in_target = true;
	return refuse(j->res, 403, "sigv4_presigned",
		      "keyhole does not re-sign presigned URLs (X-Amz-Credential in the query "
		      "carries the sandbox's fake %s); sign with header authorization "
		      "instead, or presign outside the sandbox",
		      KH_AWS_KEY_ID_ENV);
}

/* Same rules as any swap: own hosts, verified TLS, real values loaded. */
static int check_destination(struct job *j)
{
	const struct kh_cred *k = j->aws.key_id, *s = j->aws.secret, *t = j->aws.session;

	if (!kh_cred_host_ok(k, j->ctx->host))
		return refuse(j->res, 403, "token_host_mismatch",
			      "the fake %s may only be used toward its mapping's hosts, not %s",
			      KH_AWS_KEY_ID_ENV, j->ctx->host);
	if (!j->ctx->tls)
		return refuse(j->res, 403, "cleartext_credential",
			      "keyhole re-signs AWS requests only over verified TLS; use https "
			      "for %s",
			      j->ctx->host);
	if (s == NULL)
		return refuse(j->res, 503, "credential_unavailable",
			      "cannot re-sign for %s: mappings.json has %s but no %s mapping",
			      j->ctx->host, KH_AWS_KEY_ID_ENV, KH_AWS_SECRET_ENV);
	if (k->secret == NULL || s->secret == NULL || (t != NULL && t->secret == NULL))
		return refuse(j->res, 503, "credential_unavailable",
			      "cannot re-sign for %s: the real AWS credentials are not loaded in "
			      "keyhole (the variables were not set when the daemon started)",
			      j->ctx->host);
	if (k->secret_len > KH_SIGV4_MAX_KEY_ID)
		return refuse(j->res, 503, "credential_unavailable",
			      "the real %s is longer than %d characters", KH_AWS_KEY_ID_ENV,
			      KH_SIGV4_MAX_KEY_ID);
	return 0;
}

/* Does the mapping name host itself (not through a wildcard)? Then the
 * operator chose that endpoint, whatever AWS domain it is under. */
static bool host_named(const struct kh_cred *c, const char *host)
{
	for (size_t i = 0; i < c->n_hosts; i++)
		if (c->hosts[i][0] != '*' && strcmp(c->hosts[i], host) == 0)
			return true;
	return false;
}

/* A scope part or bucket for a refusal: tokens redacted, length capped. */
static const char *shown(const struct job *j, struct kh_slice s, char *out, size_t len)
{
	kh_policy_redact(j->ctx->policy, s, out, len);
	return out;
}

static int refuse_bucket(struct job *j, const struct kh_awsscope_result *out)
{
	char b[KH_S3_BUCKET_MAX + 1], reg[40];

	shown(j, kh_slice_cstr(out->bucket), b, sizeof b);
	shown(j, j->auth.region, reg, sizeof reg);
	if (out->bucket[0] == '\0')
		return refuse(j->res, 403, "aws_bucket_not_allowed",
			      "the S3 request to %s (scope s3 in %s) is refused: %s; config.yaml "
			      "sets aws.buckets, so keyhole re-signs S3 requests only for the "
			      "buckets listed there",
			      j->ctx->host, reg, out->why);
	return refuse(j->res, 403, "aws_bucket_not_allowed",
		      "the S3 request is for bucket '%s' (on %s, scope s3 in %s), which is not "
		      "in config.yaml aws.buckets; keyhole re-signs S3 requests only for the "
		      "buckets listed there",
		      b, j->ctx->host, reg);
}

/* The destination must be an endpoint of the service and region the request
 * is signed for (awsscope.h), and an S3 request must be for a bucket in
 * aws.buckets when that is set. */
static int check_scope(struct job *j)
{
	const struct kh_policy *p = j->ctx->policy;
	long q = kh_slice_find(j->ctx->target, '?');
	struct kh_awsscope_req req = {
		.host = j->ctx->host,
		.service = j->auth.service,
		.region = j->auth.region,
		.path = q < 0 ? j->ctx->target : kh_slice_make(j->ctx->target.ptr, (size_t)q),
		.host_named = host_named(j->aws.key_id, j->ctx->host),
		.buckets_set = p->aws_buckets_set,
		.buckets = p->aws_buckets,
		.n_buckets = p->n_aws_buckets,
	};
	struct kh_awsscope_result out;
	char svc[40], reg[40];

	if (kh_awsscope_check(&req, &out) == 0)
		return 0;
	shown(j, j->auth.service, svc, sizeof svc);
	shown(j, j->auth.region, reg, sizeof reg);
	switch (out.verdict) {
	case KH_AWSSCOPE_BAD_SCOPE:
		return refuse(j->res, 400, "sigv4_malformed",
			      "the credential scope names service '%s' in region '%s': %s", svc,
			      reg, out.why);
	case KH_AWSSCOPE_BUCKET:
		return refuse_bucket(j, &out);
	default:
		return refuse(j->res, 403, "aws_scope_mismatch",
			      "the request is signed for service %s in %s (its credential scope) "
			      "but goes to %s, %s; keyhole re-signs only toward that service's "
			      "own AWS endpoints in that region, or a host the %s mapping names "
			      "exactly (docs/CONFIG.md, \"AWS credentials\")",
			      svc, reg, j->ctx->host, out.why, KH_AWS_KEY_ID_ENV);
	}
}

static bool hop_by_hop_name(const struct kh_http_head *h, struct kh_slice name)
{
	static const char *const fixed[] = { "connection",
					     "proxy-connection",
					     "keep-alive",
					     "proxy-authorization",
					     "proxy-authenticate",
					     "te",
					     "upgrade",
					     "authorization" };

	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if (kh_slice_eq_cstr_nocase(name, fixed[i]))
			return true;
	for (size_t i = 0; i < h->n_headers; i++) {
		struct kh_slice v = h->headers[i].value, tok;

		if (!kh_slice_eq_cstr_nocase(h->headers[i].name, "connection"))
			continue;
		while (kh_http_list_next(&v, &tok))
			if (kh_slice_eq_nocase(tok, name))
				return true;
	}
	return false;
}

/* The signature must cover Host (else it could be replayed to any host) and
 * nothing keyhole drops on the way (hop-by-hop fields). */
static int check_signed_headers(struct job *j)
{
	struct kh_slice rest = j->auth.signed_headers, name;
	bool host = false, date = false;

	while (rest.len > 0) {
		kh_slice_split(&rest, ';', &name);
		host |= kh_slice_eq_cstr(name, "host");
		date |= kh_slice_eq_cstr(name, "x-amz-date");
		if (hop_by_hop_name(j->req, name))
			return refuse(j->res, 400, "sigv4_unsupported",
				      "the SigV4 signature covers %.*s, a field keyhole does not "
				      "forward as signed",
				      (int)name.len, name.ptr);
	}
	if (!host || !j->req->has_host || !date)
		return refuse(j->res, 400, "sigv4_unsupported",
			      "keyhole re-signs only requests whose signature covers the Host "
			      "and X-Amz-Date headers");
	return 0;
}

static int check_date(struct job *j)
{
	const struct kh_http_header *d = find_header(j->req, "x-amz-date", NULL);
	int64_t t = 0;

	if (d != NULL)
		j->amz_date = kh_slice_trim_ows(d->value);
	if (d == NULL || kh_sigv4_parse_date(j->amz_date, &t) != 0 ||
	    memcmp(j->amz_date.ptr, j->auth.date.ptr, 8) != 0)
		return refuse(j->res, 400, "sigv4_unsupported",
			      "a re-signed request needs an X-Amz-Date header (yyyymmddThhmmssZ) "
			      "on the credential scope's date");
	/* AWS refuses these too (RequestTimeTooSkewed): keyhole need not sign
	 * them, nor hold their bodies. */
	if (t > j->ctx->now + KH_SIGV4_MAX_SKEW || t < j->ctx->now - KH_SIGV4_MAX_SKEW)
		return refuse(j->res, 403, "sigv4_clock_skew",
			      "X-Amz-Date %.16s is more than %d minutes away from keyhole's clock; "
			      "check the clock where the request was signed",
			      j->amz_date.ptr, KH_SIGV4_MAX_SKEW / 60);
	return 0;
}

static bool streaming_signed(struct kh_slice v)
{
	return kh_slice_starts_with_nocase(v, "STREAMING-") &&
	       !kh_slice_eq_cstr(v, "STREAMING-UNSIGNED-PAYLOAD-TRAILER");
}

static bool literal_payload(struct kh_slice v)
{
	return kh_slice_eq_cstr(v, "UNSIGNED-PAYLOAD") ||
	       kh_slice_eq_cstr(v, "STREAMING-UNSIGNED-PAYLOAD-TRAILER");
}

/* What the signature says about the body, from the head alone. */
static int declared_payload(struct job *j)
{
	const struct kh_http_header *h = find_header(j->req, "x-amz-content-sha256", NULL);
	const struct kh_http_head *r = j->req;

	if (h != NULL) {
		j->payload_hash = kh_slice_trim_ows(h->value);
		if (streaming_signed(j->payload_hash))
			return refuse(j->res, 400, "sigv4_streaming_unsupported",
				      "keyhole cannot re-sign chunk-signed uploads (%.*s): each "
				      "chunk's signature chains from the header's; configure the "
				      "client for UNSIGNED-PAYLOAD or a single signed body",
				      (int)(j->payload_hash.len < 64 ? j->payload_hash.len : 64),
				      j->payload_hash.ptr);
		j->declared_digest = kh_sigv4_is_digest(j->payload_hash);
		if (j->declared_digest || literal_payload(j->payload_hash))
			return 0;
		return refuse(j->res, 400, "sigv4_malformed",
			      "x-amz-content-sha256 must be the body's SHA-256 in hex, "
			      "UNSIGNED-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-TRAILER");
	}
	if (kh_slice_eq_cstr(j->auth.service, "s3"))
		return refuse(j->res, 400, "sigv4_unsupported",
			      "S3 requires x-amz-content-sha256 on every SigV4 request; this one "
			      "has none");
	if (r->body == KH_BODY_NONE || (r->body == KH_BODY_LENGTH && r->content_length == 0)) {
		j->payload_hash = KH_SLICE_LIT(EMPTY_SHA256);
		return 0;
	}
	if (r->body != KH_BODY_LENGTH)
		return refuse(j->res, 411, "sigv4_body_unhashable",
			      "a SigV4 request without x-amz-content-sha256 signs the hash of its "
			      "body, which keyhole can only compute for a Content-Length body; "
			      "send Content-Length or x-amz-content-sha256");
	if (r->content_length > KH_SIGV4_MAX_BODY)
		return refuse(j->res, 413, "sigv4_body_too_large",
			      "a SigV4 request without x-amz-content-sha256 signs the hash of its "
			      "body; keyhole hashes at most %u bytes, this one has %llu (send "
			      "x-amz-content-sha256)",
			      KH_SIGV4_MAX_BODY, (unsigned long long)r->content_length);
	j->needs_body = true;
	return 0;
}

/* The body's hash, when the signature covers it and the client did not
 * declare it: relay.c holds the whole body for this (kh_resign_precheck). */
static int body_hash(struct job *j)
{
	if (j->declared_digest && j->req->body == KH_BODY_NONE &&
	    !kh_slice_eq_nocase(j->payload_hash, KH_SLICE_LIT(EMPTY_SHA256)))
		return refuse(j->res, 400, "sigv4_body_mismatch",
			      "x-amz-content-sha256 declares the hash of a body, but the request "
			      "has none");
	if (!j->needs_body)
		return 0;
	if (j->ctx->body.ptr != NULL && j->ctx->body.len == j->req->content_length) {
		kh_sigv4_sha256_hex(j->ctx->body.ptr, j->ctx->body.len, j->body_hash);
		j->payload_hash = kh_slice_make(j->body_hash, KH_SIGV4_HEX_LEN);
		return 0;
	}
	return refuse(j->res, 503, "sigv4_busy",
		      "keyhole is holding too many request bodies for SigV4 hashing right now; "
		      "retry");
}

/* The fake session token is replaced by the real one, in the canonical
 * request and on the wire. */
static int session_token(struct job *j)
{
	size_t i;
	const struct kh_http_header *h = find_header(j->req, "x-amz-security-token", &i);
	const struct kh_cred *t = j->aws.session;

	j->session_index = -1;
	if (t == NULL)
		return 0; /* a token in it is refused later as misplaced */
	if (h == NULL ||
	    !kh_slice_eq(kh_slice_trim_ows(h->value), kh_slice_make(t->token, t->token_len)))
		return refuse(j->res, 400, "sigv4_unsupported",
			      "keyhole's AWS credentials are temporary: the request must carry "
			      "the sandbox's %s in X-Amz-Security-Token",
			      KH_AWS_SESSION_ENV);
	j->session_index = (long)i;
	return 0;
}

/* --- signing --- */

/* Signature of j->creq with the secret, into hex. 0 / -1 (too large). */
static int sign(struct job *j, const char *secret, size_t secret_len,
		char hex[KH_SIGV4_HEX_LEN + 1], const char **why)
{
	struct kh_buf creq, sts;
	uint8_t key[KH_SIGV4_KEY_LEN];
	int rc = -1;

	kh_buf_init(&creq, KH_SIGV4_MAX_CREQ);
	kh_buf_init(&sts, 512);
	if (kh_sigv4_canonical_request(&j->creq, &creq, why) != 0)
		goto out;
	*why = "string to sign too large";
	if (kh_sigv4_string_to_sign(j->amz_date, j->auth.scope,
				    kh_slice_make(kh_buf_data(&creq), kh_buf_len(&creq)),
				    &sts) != 0 ||
	    kh_sigv4_signing_key(secret, secret_len, &j->auth, key) != 0)
		goto out;
	kh_sigv4_signature(key, kh_slice_make(kh_buf_data(&sts), kh_buf_len(&sts)), hex);
	OPENSSL_cleanse(key, sizeof key);
	rc = 0;
out:
	kh_buf_free(&creq);
	kh_buf_free(&sts);
	return rc;
}

/* Finds the canonical form the client signed: the one whose signature under
 * the fake secret matches. Services differ in how they canonicalize the
 * path (S3 as sent, the rest encoded again, most of them normalized) and
 * SDKs in how they treat the query, so each known form is tried. */
static int verify(struct job *j)
{
	static const enum kh_sigv4_path_form paths[] = { KH_SIGV4_PATH_NORMALIZED,
							 KH_SIGV4_PATH_AS_SENT,
							 KH_SIGV4_PATH_ENCODED };
	static const enum kh_sigv4_query_form queries[] = { KH_SIGV4_QUERY_REENCODED,
							    KH_SIGV4_QUERY_AS_SENT };
	const struct kh_cred *s = j->aws.secret;
	const char *why = "";
	char hex[KH_SIGV4_HEX_LEN + 1];

	for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++)
		for (size_t q = 0; q < sizeof queries / sizeof queries[0]; q++) {
			j->creq.path_form = paths[p];
			j->creq.query_form = queries[q];
			if (sign(j, s->token, s->token_len, hex, &why) != 0)
				return refuse(j->res, 400, "sigv4_unsupported",
					      "cannot re-sign this request: %s", why);
			if (CRYPTO_memcmp(hex, j->auth.signature.ptr, KH_SIGV4_HEX_LEN) == 0)
				return 0;
		}
	return refuse(j->res, 403, "sigv4_signature_mismatch",
		      "the request's SigV4 signature does not verify with the sandbox's %s (it "
		      "was changed after signing, signed with other credentials, or "
		      "canonicalized in a way keyhole does not know)",
		      KH_AWS_SECRET_ENV);
}

static void init_creq(struct job *j)
{
	const struct kh_http_head *r = j->req;
	long q = kh_slice_find(j->ctx->target, '?');
	struct kh_slice t = j->ctx->target;

	memset(&j->creq, 0, sizeof j->creq);
	j->creq.method = r->method;
	j->creq.path = q < 0 ? t : kh_slice_make(t.ptr, (size_t)q);
	j->creq.query = q < 0 ? kh_slice_make("", 0)
			      : kh_slice_make(t.ptr + q + 1, t.len - (size_t)q - 1);
	j->creq.headers = r->headers;
	j->creq.n_headers = r->n_headers;
	j->creq.signed_headers = j->auth.signed_headers;
	j->creq.payload_hash = j->payload_hash;
}

/* Signs with the real keys and builds the head that goes upstream. */
static int resign(struct job *j, struct kh_resign *rs)
{
	const struct kh_cred *k = j->aws.key_id, *s = j->aws.secret, *t = j->aws.session;
	const char *why = "";
	char hex[KH_SIGV4_HEX_LEN + 1];
	int n;

	if (t != NULL) {
		j->creq.subst_name = KH_SLICE_LIT("x-amz-security-token");
		j->creq.subst_value = kh_slice_make(t->secret, t->secret_len);
	}
	if (sign(j, s->secret, s->secret_len, hex, &why) != 0)
		return refuse(j->res, 400, "sigv4_unsupported", "cannot re-sign: %s", why);
	n = snprintf(rs->auth, sizeof rs->auth,
		     KH_SIGV4_ALGORITHM " Credential=%.*s/%.*s, SignedHeaders=%.*s, Signature=%s",
		     (int)k->secret_len, k->secret, (int)j->auth.scope.len, j->auth.scope.ptr,
		     (int)j->auth.signed_headers.len, j->auth.signed_headers.ptr, hex);
	if (n < 0 || (size_t)n >= sizeof rs->auth)
		return refuse(j->res, 431, "header_too_large",
			      "the re-signed Authorization header is too large");
	rs->head = *j->req;
	rs->head.headers = rs->hdrs;
	memcpy(rs->hdrs, j->req->headers, j->req->n_headers * sizeof *rs->hdrs);
	rs->hdrs[j->auth_index].value = kh_slice_make(rs->auth, (size_t)n);
	if (j->session_index >= 0)
		rs->hdrs[j->session_index].value = kh_slice_make(t->secret, t->secret_len);
	return 0;
}

static void note_swaps(struct job *j)
{
	const char *names[] = { KH_AWS_KEY_ID_ENV, KH_AWS_SECRET_ENV,
				j->aws.session ? KH_AWS_SESSION_ENV : NULL };

	for (size_t i = 0; i < 3 && names[i] != NULL; i++)
		if (j->res->n_swapped < KH_MAX_SWAPS)
			j->res->swapped[j->res->n_swapped++] = names[i];
}

/* Everything that can be checked from the head alone, before a body is
 * held or a signature computed. 1: a request keyhole re-signs, checked so
 * far; 0: not one (rewrite it as usual); -1: refuse. */
static int prepare(struct job *j)
{
	const struct kh_http_header *a;
	const char *why;

	j->aws = find_creds(j->ctx->policy);
	if (j->aws.key_id == NULL)
		return 0;
	if (refuse_presigned(j) != 0)
		return -1;
	if ((a = sigv4_authorization(j->req, &j->auth_index)) == NULL ||
	    kh_policy_token_scan(j->ctx->policy, a->value) != j->aws.key_id)
		return 0; /* not signed with our key: a token in it is refused as misplaced */
	if (a->value.len > KH_SIGV4_MAX_AUTH)
		return refuse(j->res, 431, "header_too_large",
			      "SigV4 Authorization header too large");
	if (kh_sigv4_parse_auth(a->value, &j->auth, &why) != 0)
		return refuse(j->res, 400, "sigv4_malformed", "malformed SigV4 Authorization: %s",
			      why);
	if (!kh_slice_eq(j->auth.akid,
			 kh_slice_make(j->aws.key_id->token, j->aws.key_id->token_len)))
		return refuse(
			j->res, 400, "sigv4_malformed",
			"the fake %s must be the whole key id in Credential=", KH_AWS_KEY_ID_ENV);
	if (check_destination(j) != 0 || check_scope(j) != 0 || check_signed_headers(j) != 0 ||
	    check_date(j) != 0 || declared_payload(j) != 0 || session_token(j) != 0)
		return -1;
	return 1;
}

int kh_resign_request(const struct kh_rw_ctx *ctx, const struct kh_http_head *req,
		      struct kh_resign *rs, struct kh_rw_result *res)
{
	struct job j = { .ctx = ctx, .req = req, .res = res };
	int rc = prepare(&j);

	if (rc <= 0)
		return rc;
	if (body_hash(&j) != 0)
		return -1;
	init_creq(&j);
	if (verify(&j) != 0 || resign(&j, rs) != 0)
		return -1;
	/* The signature covers the declared digest only: relay.c checks the body
	 * against it as it streams. */
	if (j.declared_digest && req->body != KH_BODY_NONE)
		for (size_t i = 0; i < KH_SIGV4_HEX_LEN; i++)
			res->body_sha256[i] = kh_ascii_lower(j.payload_hash.ptr[i]);
	note_swaps(&j);
	return 1;
}

int kh_resign_precheck(const struct kh_rw_ctx *ctx, const struct kh_http_head *req,
		       struct kh_rw_result *res)
{
	struct job j = { .ctx = ctx, .req = req, .res = res };
	int rc;

	memset(res, 0, sizeof *res);
	if (sigv4_authorization(req, NULL) == NULL)
		return 0; /* the common case, kept cheap: anything else is judged when routed */
	rc = prepare(&j);
	return rc <= 0 ? rc : j.needs_body;
}
