/* SigV4 re-signing through the real parser, policy and rewriter: the
 * signature that goes upstream is the real secret's over the request the
 * sandbox signed with the fake one; everything else is refused with a
 * reason. Signatures here are computed with sigv4.c, which test_sigv4 pins
 * to AWS's test suite; the black-box test checks against an independent
 * implementation. */
#include <stdlib.h>

#include "rewrite.h"
#include "sigv4.h"
#include "tap.h"

#define AKID_TOK    "keyhole-aws-key-0123456789abcdef0123456789abcdef"
#define SECRET_TOK  "keyhole-aws-secret-fedcba9876543210fedcba9876543210"
#define REAL_AKID   "AKIAREALREALREAL1234"
#define REAL_SECRET "real/Secret+Key0123456789abcdefghijklmn"
#define HOST        "sts.us-east-1.amazonaws.com"
#define DATE        "20240102T030405Z"

static struct kh_policy *policy;
static struct kh_http_header hdrs[64];
static char outbuf[8192];
static struct kh_rw_result res;

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
	kh_mappings_free(&m);
}

/* The Authorization value for head (lines without it) signed with secret. */
static void sign_head(const char *head, const char *akid, const char *secret,
		      const char *signed_headers, char *auth, size_t len)
{
	char copy[2048];
	struct kh_http_header h[32];
	struct kh_sigv4_req r = { 0 };
	struct kh_sigv4_auth a = { 0 };
	struct kh_buf creq, sts;
	uint8_t key[KH_SIGV4_KEY_LEN];
	char sig[KH_SIGV4_HEX_LEN + 1], *line, *p;
	const char *why;
	size_t n = 0;

	snprintf(copy, sizeof copy, "%s", head);
	p = strchr(copy, '\n') + 1; /* skip the request line: "GET / HTTP/1.1" */
	while ((line = strstr(p, "\r\n")) != NULL && line != p) {
		char *colon = strchr(p, ':');

		h[n].name = kh_slice_make(p, (size_t)(colon - p));
		h[n].value = kh_slice_make(colon + 1, (size_t)(line - colon - 1));
		n++;
		p = line + 2;
	}
	r.method = kh_slice_make(copy, (size_t)(strchr(copy, ' ') - copy));
	r.path = KH_SLICE_LIT("/");
	r.headers = h;
	r.n_headers = n;
	r.signed_headers = kh_slice_cstr(signed_headers);
	r.payload_hash =
		KH_SLICE_LIT("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	r.path_form = KH_SIGV4_PATH_NORMALIZED;
	a.date = KH_SLICE_LIT("20240102");
	a.region = KH_SLICE_LIT("us-east-1");
	a.service = KH_SLICE_LIT("sts");
	kh_buf_init(&creq, 8192);
	kh_buf_init(&sts, 1024);
	kh_sigv4_canonical_request(&r, &creq, &why);
	kh_sigv4_string_to_sign(KH_SLICE_LIT(DATE),
				KH_SLICE_LIT("20240102/us-east-1/sts/aws4_request"),
				kh_slice_make(kh_buf_data(&creq), kh_buf_len(&creq)), &sts);
	kh_sigv4_signing_key(secret, strlen(secret), &a, key);
	kh_sigv4_signature(key, kh_slice_make(kh_buf_data(&sts), kh_buf_len(&sts)), sig);
	snprintf(auth, len,
		 "AWS4-HMAC-SHA256 Credential=%s/20240102/us-east-1/sts/aws4_request, "
		 "SignedHeaders=%s, Signature=%s",
		 akid, signed_headers, sig);
	kh_buf_free(&creq);
	kh_buf_free(&sts);
}

/* head + an Authorization signed over it with the fake keys, through rewrite. */
static int run_signed(const char *head, const char *signed_headers, bool tls, const char *secret)
{
	char auth[512], raw[4096];
	struct kh_http_limits lim = { 16384, 64 };
	struct kh_http_error herr;
	struct kh_http_head h = { .headers = hdrs };
	struct kh_buf out;
	size_t scan = 0;
	ssize_t n;
	struct kh_rw_ctx ctx = { policy, HOST, 443, 443, tls, false, { 0, 0 }, { 0, 0 } };
	int rc;

	sign_head(head, AKID_TOK, secret, signed_headers, auth, sizeof auth);
	snprintf(raw, sizeof raw, "%sAuthorization: %s\r\n\r\n", head, auth);
	n = kh_http_scan_head((const uint8_t *)raw, strlen(raw), &scan, 16384, &herr);
	if (n <= 0 || kh_http_parse_request((const uint8_t *)raw, (size_t)n, &lim, &h, &herr) != 0)
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
	struct kh_rw_ctx ctx = { policy, HOST, 443, 443, true, false, { "/", 1 }, { 0, 0 } };

	CHECK(n > 0 && kh_http_parse_request((const uint8_t *)raw, (size_t)n, &lim, &h, &herr) == 0);
	kh_buf_init(&out, 4096);
	CHECK_INT(kh_rewrite_request(&ctx, &h, &out, &res), -1);
	CHECK_STR(res.reason, "token_misplaced");
	kh_buf_free(&out);
}

int main(void)
{
	setup();
	RUN(resigned_with_real_keys);
	RUN(refusals);
	RUN(fake_secret_never_swapped);
	kh_policy_unref(policy);
	TAP_DONE();
}
