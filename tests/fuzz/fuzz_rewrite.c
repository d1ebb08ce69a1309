/* The credential rewriter on hostile request heads. Byte 0 picks the
 * destination (odd: plain-HTTP proxy request, destination from the
 * absolute-form target; even: a request inside a CONNECT tunnel to one of the
 * hosts below); the rest is the request. Checked on every run:
 *  - a forwarded head parses again as exactly one request with the same
 *    method, version and body framing;
 *  - it never contains a proxy token, not even inside Basic credentials;
 *  - a real secret appears only if the request carried that secret's token
 *    and the destination is one of the mapping's hosts (over TLS, or a
 *    cleartext_credential_hosts entry);
 *  - responses are scrubbed (as by default): every Accept-Encoding names only
 *    codings the scrubber decodes, and one is always sent; a head that
 *    carries a real secret is marked whole_response and holds no Range,
 *    If-Range or Request-Range;
 *  - a refused request appends nothing to the output buffer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/b64.h"
#include "swap/rewrite.h"
#include "fuzz_check.h"

#define MAX_HEAD    16384
#define MAX_HEADERS 100
#define OUT_CAP     32768

#define OPENAI_TOK "keyhole-openai-0123456789abcdef0123456789abcdef"
#define ANTH_TOK   "keyhole-anthropic-fedcba9876543210fedcba9876543210"
#define GROQ_TOK   "keyhole-groq-11112222333344445555666677778888"
#define GEM_TOK    "keyhole-gemini-99998888777766665555444433332222"
#define GIT_TOK    "keyhole-git-aaaabbbbccccddddeeeeffff00001111"

/* One mapping as the harness knows it, independently of the policy. */
struct known {
	const char *env, *token, *secret; /* secret NULL: variable unset */
	const char *hosts[2];
};

static const struct known known[] = {
	{ "OPENAI_API_KEY",
	  OPENAI_TOK,
	  "sk-REAL-openai-Qx9Zp2Lm4Vb8Nc1",
	  { "api.openai.com", "plain.test" } },
	{ "ANTHROPIC_API_KEY",
	  ANTH_TOK,
	  "sk-ant-REAL-Hf3Jk7Wq0Ty5Ru2",
	  { "api.anthropic.com", "*.anthropic.test" } },
	{ "GROQ_API_KEY", GROQ_TOK, NULL, { "api.groq.com", NULL } },
	{ "GEMINI_API_KEY",
	  GEM_TOK,
	  "AIzaREAL-gem_Pq7",
	  { "generativelanguage.googleapis.com", NULL } },
	{ "GIT_TOKEN", GIT_TOK, "ghpREALgitXy3", { "git.example.com", NULL } },
};
#define N_KNOWN (sizeof known / sizeof known[0])

static char *cleartext[] = { "plain.test" };

static const char *mappings_json =
	"{\"version\":1,\"tokens\":["
	"{\"proxy_token\":\"" OPENAI_TOK "\",\"env_name\":\"OPENAI_API_KEY\","
	"\"upstream_hosts\":[\"api.openai.com\",\"plain.test\"]},"
	"{\"proxy_token\":\"" ANTH_TOK "\",\"env_name\":\"ANTHROPIC_API_KEY\","
	"\"upstream_hosts\":[\"api.anthropic.com\",\"*.anthropic.test\"],"
	"\"match_headers\":[\"x-api-key\",\"Authorization\"]},"
	"{\"proxy_token\":\"" GROQ_TOK "\",\"env_name\":\"GROQ_API_KEY\","
	"\"upstream_hosts\":[\"api.groq.com\"]},"
	"{\"proxy_token\":\"" GEM_TOK "\",\"env_name\":\"GEMINI_API_KEY\","
	"\"upstream_hosts\":[\"generativelanguage.googleapis.com\"],\"locations\":["
	"{\"type\":\"header\",\"name\":\"x-goog-api-key\"},{\"type\":\"query\",\"name\":\"key\"}]},"
	"{\"proxy_token\":\"" GIT_TOK "\",\"env_name\":\"GIT_TOKEN\","
	"\"upstream_hosts\":[\"git.example.com\"],\"locations\":[{\"type\":\"basic\"},"
	"{\"type\":\"header\",\"name\":\"Authorization\",\"template\":\"token {}\"}]}]}";

/* Tunnel destinations (TLS). */
static const struct {
	const char *host;
	uint16_t port;
} dests[] = {
	{ "api.openai.com", 443 },
	{ "api.anthropic.com", 443 },
	{ "eu.anthropic.test", 443 },
	{ "api.groq.com", 443 },
	{ "evil.test", 443 },
	{ "api.openai.com", 8443 },
	{ "plain.test", 443 },
	{ "::1", 443 },
	{ "generativelanguage.googleapis.com", 443 },
	{ "git.example.com", 443 },
};
#define N_DESTS (sizeof dests / sizeof dests[0])

/* Built on the first call and kept: the policy is immutable. */
static struct kh_policy *policy_once(void)
{
	static struct kh_policy *policy;
	const char *names[N_KNOWN];
	struct kh_secrets secrets = { 0 };
	struct kh_config cfg;
	struct kh_mappings m;
	struct kh_err err;

	if (policy != NULL)
		return policy;
	for (size_t i = 0; i < N_KNOWN; i++) {
		names[i] = known[i].env;
		if (known[i].secret != NULL)
			setenv(known[i].env, known[i].secret, 1);
		else
			unsetenv(known[i].env);
	}
	CHECK(kh_secrets_load_env(&secrets, names, N_KNOWN, &err) == 0);
	memset(&cfg, 0, sizeof cfg);
	cfg.scrub_responses = true; /* as by default: Accept-Encoding and Range are rewritten */
	cfg.cleartext_credential_hosts = cleartext;
	cfg.n_cleartext_credential_hosts = sizeof cleartext / sizeof cleartext[0];
	CHECK(kh_mappings_parse(mappings_json, strlen(mappings_json), &m, &err) == 0);
	policy = kh_policy_build(&cfg, &m, &secrets, NULL, &err);
	kh_mappings_free(&m);
	CHECK(policy != NULL);
	return policy;
}

static bool contains(const void *hay, size_t n, const char *needle)
{
	return memmem(hay, n, needle, strlen(needle)) != NULL;
}

static bool may_receive(const struct known *k, const struct kh_rw_ctx *ctx)
{
	bool host_ok = false, clear_ok = ctx->tls;

	for (size_t i = 0; i < 2 && k->hosts[i] != NULL; i++)
		host_ok |= kh_host_match(k->hosts[i], ctx->host);
	for (size_t i = 0; i < sizeof cleartext / sizeof cleartext[0]; i++)
		clear_ok |= strcmp(cleartext[i], ctx->host) == 0;
	return host_ok && clear_ok;
}

/* No decoding of a forwarded Basic value may reveal a token. */
static void check_basic(const struct kh_http_header *h)
{
	struct kh_slice v = h->value;
	uint8_t plain[KH_MAX_BASIC_B64];

	if (!kh_slice_eq_cstr_nocase(h->name, "authorization") ||
	    !kh_slice_starts_with_nocase(v, "basic "))
		return;
	for (unsigned skip = 0; skip < 4; skip++) {
		size_t n = kh_b64_decode_loose(v.ptr + 6, v.len - 6, skip, plain, sizeof plain);

		for (size_t i = 0; i < N_KNOWN; i++)
			CHECK(!contains(plain, n, known[i].token));
	}
}

/* While scrubbing, the upstream may only pick codings keyhole decodes. */
static void check_accept_encoding(const struct kh_http_header *h, size_t *seen)
{
	struct kh_slice v = h->value, elem;

	if (!kh_slice_eq_cstr_nocase(h->name, "accept-encoding"))
		return;
	(*seen)++;
	while (kh_http_list_next(&v, &elem)) {
		long semi = kh_slice_find(elem, ';');
		struct kh_slice c = semi < 0 ? elem
					     : kh_slice_trim_ows(
						       kh_slice_make(elem.ptr, (size_t)semi));

		CHECK(kh_slice_eq_cstr_nocase(c, "gzip") || kh_slice_eq_cstr_nocase(c, "x-gzip") ||
		      kh_slice_eq_cstr_nocase(c, "deflate") ||
		      kh_slice_eq_cstr_nocase(c, "identity"));
	}
}

static bool range_field(struct kh_slice n)
{
	return kh_slice_eq_cstr_nocase(n, "range") || kh_slice_eq_cstr_nocase(n, "if-range") ||
	       kh_slice_eq_cstr_nocase(n, "request-range");
}

static void check_forwarded(const uint8_t *in, size_t in_len, const struct kh_http_head *req,
			    const struct kh_rw_ctx *ctx, const struct kh_rw_result *res,
			    const uint8_t *out, size_t len)
{
	struct kh_http_header hdrs[MAX_HEADERS + 4];
	size_t accept_encoding = 0;
	bool injected = false;
	struct kh_http_limits lim = { OUT_CAP, MAX_HEADERS + 4 };
	struct kh_http_head h = { .headers = hdrs };
	struct kh_http_error err;
	size_t scan = 0;

	CHECK(kh_http_scan_head(out, len, &scan, OUT_CAP, &err) == (ssize_t)len);
	CHECK(kh_http_parse_request(out, len, &lim, &h, &err) == 0);
	CHECK(kh_slice_eq(h.method, req->method) && h.version_minor == req->version_minor);
	CHECK(h.body == req->body && h.content_length == req->content_length);
	CHECK(h.has_host);
	for (size_t i = 0; i < h.n_headers; i++) {
		CHECK(!kh_slice_eq_cstr_nocase(h.headers[i].name, "proxy-authorization"));
		CHECK(!kh_slice_eq_cstr_nocase(h.headers[i].name, "proxy-connection"));
		CHECK(!kh_slice_eq_cstr_nocase(h.headers[i].name, "keep-alive"));
		CHECK(!res->whole_response || !range_field(h.headers[i].name));
		check_basic(&h.headers[i]);
		check_accept_encoding(&h.headers[i], &accept_encoding);
	}
	CHECK(accept_encoding > 0);
	for (size_t i = 0; i < N_KNOWN; i++) {
		const struct known *k = &known[i];

		if (contains(out, len, k->token))
			fprintf(stderr, "forwarded:\n%.*s", (int)len, (const char *)out);
		CHECK(!contains(out, len, k->token));
		if (k->secret == NULL || !contains(out, len, k->secret) ||
		    contains(in, in_len, k->secret))
			continue;
		CHECK(contains(in, in_len, k->token) && may_receive(k, ctx));
		injected = true;
	}
	/* a key went out: its answer must come whole (no Range survives) */
	CHECK(!injected || res->whole_response);
}

static void check_refused(const struct kh_rw_result *res, const struct kh_buf *out, size_t before)
{
	CHECK(kh_buf_len(out) == before && memcmp(kh_buf_data(out), "PREFIX", 6) == 0);
	CHECK(res->status == 400 || res->status == 403 || res->status == 431 || res->status == 503);
	CHECK(res->reason != NULL);
	for (size_t i = 0; i < N_KNOWN; i++) {
		CHECK(strstr(res->detail, known[i].token) == NULL);
		CHECK(known[i].secret == NULL || strstr(res->detail, known[i].secret) == NULL);
	}
}

/* Fills ctx as the relay would; false if the request would not get here. */
static bool pick_destination(uint8_t sel, const struct kh_http_head *h, struct kh_rw_ctx *ctx,
			     char host[KH_HOST_BUF])
{
	struct kh_slice path;

	memset(ctx, 0, sizeof *ctx); /* no body read yet; now: a fixed clock */
	ctx->now = 1700000000;
	ctx->policy = policy_once();
	ctx->host = host;
	if (sel & 1) {
		if (kh_http_parse_absolute(h->target, host, &ctx->port, &path) < 0)
			return false;
		ctx->default_port = 80;
		ctx->tls = false;
		ctx->absolute = true;
		ctx->target = path;
		return true;
	}
	snprintf(host, KH_HOST_BUF, "%s", dests[(sel >> 1) % N_DESTS].host);
	ctx->port = dests[(sel >> 1) % N_DESTS].port;
	ctx->default_port = 443;
	ctx->tls = true;
	ctx->absolute = false;
	ctx->target = h->target;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kh_http_header hdrs[MAX_HEADERS];
	struct kh_http_limits lim = { MAX_HEAD, MAX_HEADERS };
	struct kh_http_head h = { .headers = hdrs };
	struct kh_http_error err;
	struct kh_rw_ctx ctx;
	struct kh_rw_result res;
	struct kh_buf out;
	char host[KH_HOST_BUF];
	size_t scan = 0;
	ssize_t n;

	if (size < 1)
		return 0;
	n = kh_http_scan_head(data + 1, size - 1, &scan, MAX_HEAD, &err);
	if (n <= 0 || kh_http_parse_request(data + 1, (size_t)n, &lim, &h, &err) != 0)
		return 0;
	if (!pick_destination(data[0], &h, &ctx, host))
		return 0;
	kh_buf_init(&out, OUT_CAP);
	CHECK(kh_buf_append(&out, "PREFIX", 6) == 0);
	if (kh_rewrite_request(&ctx, &h, &out, &res) == 0) {
		CHECK(res.n_swapped <= KH_MAX_SWAPS);
		check_forwarded(data + 1, (size_t)n, &h, &ctx, &res, kh_buf_data(&out) + 6,
				kh_buf_len(&out) - 6);
	} else {
		check_refused(&res, &out, 6);
	}
	kh_buf_free(&out);
	return 0;
}
