/* SigV4 re-signing through the real parser, policy and rewriter: the
 * signature that goes upstream is the real secret's over the request the
 * sandbox signed with the fake one; everything else is refused with a
 * reason. Signatures here are computed with sigv4.c, which test_sigv4 pins
 * to AWS's test suite; the black-box test checks against an independent
 * implementation. */
#include <stdlib.h>

#include "swap/resign.h"
#include "swap/rewrite.h"
#include "swap/sigv4.h"
#include "tap.h"

#define AKID_TOK     "keyhole-aws-key-0123456789abcdef0123456789abcdef"
#define SECRET_TOK   "keyhole-aws-secret-fedcba9876543210fedcba9876543210"
#define REAL_AKID    "AKIAREALREALREAL1234"
#define REAL_SECRET  "real/Secret+Key0123456789abcdefghijklmn"
#define HOST         "sts.us-east-1.amazonaws.com"
#define DATE         "20240102T030405Z"
#define HELLO_SHA    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define HELLO_SHA_UC "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824"

static struct kh_policy *policy, *bucket_policy;
static struct kh_http_header hdrs[64];
static char outbuf[8192];
static struct kh_rw_result res;

/* What the next request is signed for and sent to, and keyhole's clock. */
static const char *scope_service = "sts", *scope_region = "us-east-1", *dest = HOST;
static int64_t now;

static void setup(void)
{
	static const char *names[] = { "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY" };
	static const char *json =
		"{\"version\":1,\"tokens\":["
		"{\"proxy_token\":\"" AKID_TOK "\",\"env_name\":\"AWS_ACCESS_KEY_ID\","
		"\"upstream_hosts\":[\"*.amazonaws.com\"],\"match_headers\":[]},"
		"{\"proxy_token\":\"" SECRET_TOK "\",\"env_name\":\"AWS_SECRET_ACCESS_KEY\","
		"\"upstream_hosts\":[\"*.amazonaws.com\"],\"match_headers\":[\"Authorization\"]}]}";
	struct kh_secrets s;
	struct kh_config cfg;
	struct kh_mappings m;
	struct kh_err err;

	setenv("AWS_ACCESS_KEY_ID", REAL_AKID, 1);
	setenv("AWS_SECRET_ACCESS_KEY", REAL_SECRET, 1);
	memset(&cfg, 0, sizeof cfg);
	if (kh_secrets_load_env(&s, names, 2, &err) != 0 ||
	    kh_mappings_parse(json, strlen(json), &m, &err) != 0 ||
	    (policy = kh_policy_build(&cfg, &m, &s, NULL, &err)) == NULL)
		abort();
	/* the same with aws.buckets: [allowed-bucket] */
	static char *buckets[] = { "allowed-bucket", NULL };
	cfg.aws_buckets_set = true;
	cfg.aws_buckets = buckets;
	cfg.n_aws_buckets = 1;
	if (kh_secrets_load_env(&s, names, 2, &err) != 0 ||
	    (bucket_policy = kh_policy_build(&cfg, &m, &s, NULL, &err)) == NULL)
		abort();
	kh_mappings_free(&m);
	if (kh_sigv4_parse_date(KH_SLICE_LIT(DATE), &now) != 0)
		abort();
}

/* The Authorization value for head (lines without it) signed with secret,
 * for scope_service in scope_region. */
static void sign_head(const char *head, const char *akid, const char *secret,
		      const char *signed_headers, char *auth, size_t len)
{
	char copy[2048], scope[128];
	struct kh_http_header h[32];
	struct kh_sigv4_req r = { 0 };
	struct kh_sigv4_auth a = { 0 };
	struct kh_buf creq, sts;
	uint8_t key[KH_SIGV4_KEY_LEN];
	char sig[KH_SIGV4_HEX_LEN + 1], *line, *p, *sp1, *sp2;
	const char *why;
	size_t n = 0;

	snprintf(copy, sizeof copy, "%s", head);
	sp1 = strchr(copy, ' ');
	sp2 = strchr(sp1 + 1, ' ');
	p = strchr(copy, '\n') + 1; /* skip the request line: "GET /path HTTP/1.1" */
	r.payload_hash = KH_SLICE_LIT(
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	while ((line = strstr(p, "\r\n")) != NULL && line != p) {
		char *colon = strchr(p, ':');

		h[n].name = kh_slice_make(p, (size_t)(colon - p));
		h[n].value = kh_slice_make(colon + 1, (size_t)(line - colon - 1));
		h[n].value = kh_slice_trim_ows(h[n].value);
		if (kh_slice_eq_cstr_nocase(h[n].name, "x-amz-content-sha256"))
			r.payload_hash = h[n].value;
		n++;
		p = line + 2;
	}
	r.method = kh_slice_make(copy, (size_t)(sp1 - copy));
	r.path = kh_slice_make(sp1 + 1, (size_t)(sp2 - sp1 - 1));
	r.headers = h;
	r.n_headers = n;
	r.signed_headers = kh_slice_cstr(signed_headers);
	r.path_form = KH_SIGV4_PATH_AS_SENT;
	a.date = KH_SLICE_LIT("20240102");
	a.region = kh_slice_cstr(scope_region);
	a.service = kh_slice_cstr(scope_service);
	snprintf(scope, sizeof scope, "20240102/%s/%s/aws4_request", scope_region, scope_service);
	kh_buf_init(&creq, 8192);
	kh_buf_init(&sts, 1024);
	kh_sigv4_canonical_request(&r, &creq, &why);
	kh_sigv4_string_to_sign(KH_SLICE_LIT(DATE), kh_slice_cstr(scope),
				kh_slice_make(kh_buf_data(&creq), kh_buf_len(&creq)), &sts);
	kh_sigv4_signing_key(secret, strlen(secret), &a, key);
	kh_sigv4_signature(key, kh_slice_make(kh_buf_data(&sts), kh_buf_len(&sts)), sig);
	snprintf(auth, len, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		 akid, scope, signed_headers, sig);
	kh_buf_free(&creq);
	kh_buf_free(&sts);
}

/* head + an Authorization for it, parsed into h (hdrs); raw must outlive h. */
static int parse_signed(const char *head, const char *signed_headers, const char *secret, char *raw,
			size_t rawlen, struct kh_http_head *h)
{
	char auth[512];
	struct kh_http_limits lim = { 16384, 64 };
	struct kh_http_error herr;
	size_t scan = 0;
	ssize_t n;

	sign_head(head, AKID_TOK, secret, signed_headers, auth, sizeof auth);
	snprintf(raw, rawlen, "%sAuthorization: %s\r\n\r\n", head, auth);
	n = kh_http_scan_head((const uint8_t *)raw, strlen(raw), &scan, 16384, &herr);
	if (n <= 0 || kh_http_parse_request((const uint8_t *)raw, (size_t)n, &lim, h, &herr) != 0)
		return -1;
	return 0;
}

/* head + an Authorization signed over it with the fake keys, through rewrite. */
static int run_signed_with(const struct kh_policy *p, const char *head, const char *signed_headers,
			   bool tls, const char *secret)
{
	char raw[4096];
	struct kh_http_head h = { .headers = hdrs };
	struct kh_buf out;
	struct kh_rw_ctx ctx = { p, dest, 443, 443, tls, false, { 0, 0 }, { 0, 0 }, now };
	int rc;

	if (parse_signed(head, signed_headers, secret, raw, sizeof raw, &h) != 0)
		return -2;
	ctx.target = h.target;
	kh_buf_init(&out, sizeof outbuf - 1);
	rc = kh_rewrite_request(&ctx, &h, &out, &res);
	if (kh_buf_len(&out) > 0) /* a refused request leaves out unallocated */
		memcpy(outbuf, kh_buf_data(&out), kh_buf_len(&out));
	outbuf[kh_buf_len(&out)] = '\0';
	kh_buf_free(&out);
	return rc;
}

static int run_signed(const char *head, const char *signed_headers, bool tls, const char *secret)
{
	return run_signed_with(policy, head, signed_headers, tls, secret);
}

/* kh_resign_precheck on head, signed with secret. */
static int precheck(const char *head, const char *signed_headers, const char *secret)
{
	char raw[4096];
	struct kh_http_head h = { .headers = hdrs };
	struct kh_rw_ctx ctx = { policy, dest, 443, 443, true, false, { 0, 0 }, { 0, 0 }, now };

	if (parse_signed(head, signed_headers, secret, raw, sizeof raw, &h) != 0)
		return -2;
	ctx.target = h.target;
	return kh_resign_precheck(&ctx, &h, &res);
}

#define HEAD "GET / HTTP/1.1\r\nHost: " HOST "\r\nX-Amz-Date: " DATE "\r\n"

static void resigned_with_real_keys(void)
{
	char want[512], line[600];

	CHECK_INT(run_signed(HEAD, "host;x-amz-date", true, SECRET_TOK), 0);
	sign_head(HEAD, REAL_AKID, REAL_SECRET, "host;x-amz-date", want, sizeof want);
	snprintf(line, sizeof line, "Authorization: %s\r\n", want);
	CHECK(strstr(outbuf, line) != NULL);
	CHECK(strstr(outbuf, "keyhole-") == NULL);
	CHECK_INT(res.n_swapped, 2);
	CHECK_STR(res.swapped[0], "AWS_ACCESS_KEY_ID");
	CHECK_STR(res.swapped[1], "AWS_SECRET_ACCESS_KEY");
}

static void refusals(void)
{
	CHECK_INT(run_signed(HEAD, "host;x-amz-date", true, "not-the-fake-secret"), -1);
	CHECK_STR(res.reason, "sigv4_signature_mismatch");
	CHECK_INT(strlen(outbuf), 0);
	CHECK_INT(run_signed(HEAD, "host;x-amz-date", false, SECRET_TOK), -1);
	CHECK_STR(res.reason, "cleartext_credential");
	CHECK_INT(run_signed(HEAD, "x-amz-date", true, SECRET_TOK), -1);
	CHECK_STR(res.reason, "sigv4_unsupported"); /* Host unsigned: replayable elsewhere */
	CHECK_INT(run_signed(HEAD "Connection: x-hop\r\nX-Hop: 1\r\n", "host;x-amz-date;x-hop",
			     true, SECRET_TOK),
		  -1);
	CHECK_STR(res.reason, "sigv4_unsupported"); /* dropped on the way: cannot verify */
	CHECK_INT(run_signed("GET / HTTP/1.1\r\nHost: " HOST "\r\n", "host", true, SECRET_TOK), -1);
	CHECK_STR(res.reason, "sigv4_unsupported"); /* no X-Amz-Date */
	CHECK_INT(run_signed(HEAD "Content-Length: 5\r\n", "host;x-amz-date", true, SECRET_TOK),
		  -1);
	CHECK_STR(res.reason, "sigv4_busy"); /* body needed but not held (relay's job) */
}

static void fake_secret_never_swapped(void)
{
	char raw[] = "GET / HTTP/1.1\r\nHost: " HOST "\r\nAuthorization: " SECRET_TOK "\r\n\r\n";
	struct kh_http_limits lim = { 16384, 64 };
	struct kh_http_error herr;
	struct kh_http_head h = { .headers = hdrs };
	struct kh_buf out;
	size_t scan = 0;
	ssize_t n = kh_http_scan_head((const uint8_t *)raw, strlen(raw), &scan, 16384, &herr);
	struct kh_rw_ctx ctx = { policy, HOST, 443, 443, true, false, { "/", 1 }, { 0, 0 }, now };

	CHECK(n > 0 &&
	      kh_http_parse_request((const uint8_t *)raw, (size_t)n, &lim, &h, &herr) == 0);
	kh_buf_init(&out, 4096);
	CHECK_INT(kh_rewrite_request(&ctx, &h, &out, &res), -1);
	CHECK_STR(res.reason, "token_misplaced");
	kh_buf_free(&out);
}

/* The date must be signed, and within 15 minutes of keyhole's clock. */
static void date_checks(void)
{
	int64_t real_now = now;

	CHECK_INT(run_signed(HEAD, "host", true, SECRET_TOK), -1);
	CHECK_STR(res.reason, "sigv4_unsupported"); /* X-Amz-Date not signed */
	now = real_now + KH_SIGV4_MAX_SKEW;
	CHECK_INT(run_signed(HEAD, "host;x-amz-date", true, SECRET_TOK), 0);
	now = real_now - KH_SIGV4_MAX_SKEW - 1;
	CHECK_INT(run_signed(HEAD, "host;x-amz-date", true, SECRET_TOK), -1);
	CHECK_STR(res.reason, "sigv4_clock_skew");
	now = real_now + KH_SIGV4_MAX_SKEW + 1;
	CHECK_INT(run_signed(HEAD, "host;x-amz-date", true, SECRET_TOK), -1);
	CHECK_STR(res.reason, "sigv4_clock_skew");
	now = real_now;
	CHECK_INT(run_signed("GET / HTTP/1.1\r\nHost: " HOST "\r\nX-Amz-Date: 20240102T036405Z\r\n",
			     "host;x-amz-date", true, SECRET_TOK),
		  -1);
	CHECK_STR(res.reason, "sigv4_unsupported"); /* minute 64 */
}

/* Only toward the scope's own endpoints (item 13 of issue 15). */
static void scope_and_host(void)
{
	dest = "x.execute-api.us-east-1.amazonaws.com";
	scope_service = "s3";
	CHECK_INT(run_signed("GET / HTTP/1.1\r\nHost: x.execute-api.us-east-1.amazonaws.com\r\n"
			     "X-Amz-Date: " DATE "\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n",
			     "host;x-amz-content-sha256;x-amz-date", true, SECRET_TOK),
		  -1);
	CHECK_STR(res.reason, "aws_scope_mismatch");
	CHECK_INT(res.status, 403);
	CHECK(strstr(res.detail, "s3 in us-east-1") != NULL);
	CHECK(strstr(res.detail, "x.execute-api.us-east-1.amazonaws.com") != NULL);
	CHECK(strstr(res.detail, "API Gateway") != NULL);
	dest = "s3.eu-west-1.amazonaws.com";
	CHECK_INT(run_signed("GET /b/k HTTP/1.1\r\nHost: s3.eu-west-1.amazonaws.com\r\n"
			     "X-Amz-Date: " DATE "\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n",
			     "host;x-amz-content-sha256;x-amz-date", true, SECRET_TOK),
		  -1);
	CHECK_STR(res.reason, "aws_scope_mismatch");
	dest = "s3.us-east-1.amazonaws.com";
	CHECK_INT(run_signed("GET /b/k HTTP/1.1\r\nHost: s3.us-east-1.amazonaws.com\r\n"
			     "X-Amz-Date: " DATE "\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n",
			     "host;x-amz-content-sha256;x-amz-date", true, SECRET_TOK),
		  0);
	/* S3 without x-amz-content-sha256: refused from the head */
	CHECK_INT(run_signed("PUT /b/k HTTP/1.1\r\nHost: s3.us-east-1.amazonaws.com\r\n"
			     "X-Amz-Date: " DATE "\r\nContent-Length: 5\r\n",
			     "host;x-amz-date", true, SECRET_TOK),
		  -1);
	CHECK_STR(res.reason, "sigv4_unsupported");
	/* a value that is neither a digest nor a known literal */
	CHECK_INT(run_signed("GET /b/k HTTP/1.1\r\nHost: s3.us-east-1.amazonaws.com\r\n"
			     "X-Amz-Date: " DATE "\r\nx-amz-content-sha256: whatever\r\n",
			     "host;x-amz-content-sha256;x-amz-date", true, SECRET_TOK),
		  -1);
	CHECK_STR(res.reason, "sigv4_malformed");
	scope_service = "sts";
	dest = HOST;
}

#define SIGNED_S3 "host;x-amz-content-sha256;x-amz-date"

static void bucket_allowlist(void)
{
	static const char *const cases[][3] = {
		{ "s3.us-east-1.amazonaws.com", "/allowed-bucket/key", "" },
		{ "allowed-bucket.s3.us-east-1.amazonaws.com", "/key", "" },
		{ "s3.us-east-1.amazonaws.com", "/other-bucket/key", "aws_bucket_not_allowed" },
		{ "other-bucket.s3.us-east-1.amazonaws.com", "/allowed-bucket/k",
		  "aws_bucket_not_allowed" },
		{ "s3.us-east-1.amazonaws.com", "/", "aws_bucket_not_allowed" },
	};
	char head[512];

	scope_service = "s3";
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		dest = cases[i][0];
		snprintf(head, sizeof head,
			 "GET %s HTTP/1.1\r\nHost: %s\r\nX-Amz-Date: " DATE
			 "\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n",
			 cases[i][1], cases[i][0]);
		CHECK_INT(run_signed_with(bucket_policy, head, SIGNED_S3, true, SECRET_TOK),
			  cases[i][2][0] ? -1 : 0);
		if (cases[i][2][0]) {
			CHECK_STR(res.reason, cases[i][2]);
			CHECK_INT(res.status, 403);
		}
		/* without aws.buckets, any bucket */
		CHECK_INT(run_signed(head, SIGNED_S3, true, SECRET_TOK), 0);
	}
	scope_service = "sts";
	dest = HOST;
}

/* What relay.c asks before holding a body: only a request that passed every
 * check of its head gets a body held; a declared digest needs none. */
static void precheck_before_holding(void)
{
	CHECK_INT(precheck(HEAD "Content-Length: 5\r\n", "host;x-amz-date", SECRET_TOK), 1);
	/* the signature cannot be checked without the body: still held */
	CHECK_INT(precheck(HEAD "Content-Length: 5\r\n", "host;x-amz-date", "wrong"), 1);
	CHECK_INT(precheck(HEAD, "host;x-amz-date", SECRET_TOK), 0); /* no body */
	CHECK_INT(precheck(HEAD "Content-Length: 5\r\nx-amz-content-sha256: " HELLO_SHA "\r\n",
			   "host;x-amz-content-sha256;x-amz-date", SECRET_TOK),
		  0);
	CHECK_INT(precheck(HEAD "Content-Length: 5\r\n", "host", SECRET_TOK), -1);
	CHECK_STR(res.reason, "sigv4_unsupported");
	CHECK_INT(precheck(HEAD "Content-Length: 9999999999\r\n", "host;x-amz-date", SECRET_TOK),
		  -1);
	CHECK_STR(res.reason, "sigv4_body_too_large");
	dest = "x.execute-api.us-east-1.amazonaws.com";
	CHECK_INT(precheck(HEAD "Content-Length: 5\r\n", "host;x-amz-date", SECRET_TOK), -1);
	CHECK_STR(res.reason, "aws_scope_mismatch");
	dest = HOST;
	now += 3600;
	CHECK_INT(precheck(HEAD "Content-Length: 5\r\n", "host;x-amz-date", SECRET_TOK), -1);
	CHECK_STR(res.reason, "sigv4_clock_skew");
	now -= 3600;
}

/* A declared digest goes out for relay.c to check the streamed body. */
static void declared_digest(void)
{
	CHECK_INT(run_signed(HEAD "Content-Length: 5\r\nx-amz-content-sha256: " HELLO_SHA_UC "\r\n",
			     "host;x-amz-content-sha256;x-amz-date", true, SECRET_TOK),
		  0);
	CHECK_STR(res.body_sha256, HELLO_SHA); /* lower-cased for relay.c */
	/* no body, but a digest that is not the empty string's */
	CHECK_INT(run_signed(HEAD "x-amz-content-sha256: " HELLO_SHA "\r\n",
			     "host;x-amz-content-sha256;x-amz-date", true, SECRET_TOK),
		  -1);
	CHECK_STR(res.reason, "sigv4_body_mismatch");
	CHECK_INT(run_signed(HEAD "x-amz-content-sha256: UNSIGNED-PAYLOAD\r\n",
			     "host;x-amz-content-sha256;x-amz-date", true, SECRET_TOK),
		  0);
	CHECK_STR(res.body_sha256, "");
}

int main(void)
{
	setup();
	RUN(resigned_with_real_keys);
	RUN(refusals);
	RUN(fake_secret_never_swapped);
	RUN(date_checks);
	RUN(scope_and_host);
	RUN(bucket_allowlist);
	RUN(precheck_before_holding);
	RUN(declared_digest);
	kh_policy_unref(policy);
	kh_policy_unref(bucket_policy);
	TAP_DONE();
}
