/* The control socket, both ends. The protocol (kh_ctl_handle): each op and
 * its refusals, a list that shows only a token's first characters, a TTL
 * beyond the longest allowed refused. The server on a real Unix socket with
 * the real client: status, issue into mappings (AWS keeps its token), bind,
 * revoke, a refusal's message passed on, an oversized request answered, a
 * newline-ended request answered without a shutdown. The client against a
 * peer of our own: silent (bounded by the timeout it was given), garbage,
 * a refusal, a malformed status or token list, an oversized answer, no
 * daemon at all. And TTL parsing. */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/kh_limits.h"
#include "cli/ctl_client.h"
#include "event/listener.h"
#include "policy/grants.h"
#include "proxy/ctl_server.h"
#include "tap.h"
#include "tmpdir.h"
#include "mapping_fixture.h"

static struct kh_grants grants;

/* As the daemon does, minus the policy rebuild: one grant for OPENAI_API_KEY
 * (named as such, as "openai", or by naming nothing); others are refused. */
static int issue(void *arg, const struct kh_grant_req *r, const char *const *names, size_t n_names,
		 struct kh_grant **out, size_t cap, size_t *n, struct kh_err *err)
{
	struct kh_mapping m = openai();

	(void)arg;
	*n = 0;
	for (size_t i = 0; i < n_names; i++)
		if (strcmp(names[i], "openai") != 0 && strcmp(names[i], "OPENAI_API_KEY") != 0) {
			kh_err_set(err, "no mapping for %s", names[i]);
			return -1;
		}
	if (cap == 0 || kh_grants_issue(&grants, &m, r, (int64_t)time(NULL), &out[0], err) != 0)
		return -1;
	*n = 1;
	return 0;
}

/* kh_ctl_handle on text (the caller json_decrefs the answer). */
static json_t *handle(const char *text)
{
	return kh_ctl_handle(&grants, issue, NULL, NULL, text, strlen(text));
}

static bool refused_with(const char *text, const char *needle)
{
	json_t *r = handle(text);
	const char *e = json_string_value(json_object_get(r, "error"));
	bool ok = json_is_false(json_object_get(r, "ok")) && e != NULL && strstr(e, needle) != NULL;

	if (!ok)
		printf("#   %s -> %s\n", text, e ? e : "(no error)");
	json_decref(r);
	return ok;
}

static void protocol_refusals(void)
{
	char many[2048];
	size_t o;

	CHECK(refused_with("", "not a control request"));
	CHECK(refused_with("[1]", "no \"op\""));
	CHECK(refused_with("{\"op\":1}", "no \"op\""));
	CHECK(refused_with("{\"op\":\"list\",\"op\":\"status\"}", "not a control request"));
	CHECK(refused_with("{\"op\":\"frobnicate\"}", "unknown op \"frobnicate\""));
	/* the op is cut at 32 bytes, here inside a two-byte character: the
	 * refusal must still be valid UTF-8, or jansson makes no reply at all */
	CHECK(refused_with("{\"op\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9\"}",
			   "unknown op \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa?\""));
	CHECK(refused_with("{\"op\":\"issue\"}", "needs a label"));
	CHECK(refused_with("{\"op\":\"issue\",\"label\":\"j\",\"ttl\":-1}", "non-negative"));
	CHECK(refused_with("{\"op\":\"issue\",\"label\":\"j\",\"ttl\":\"1h\"}", "non-negative"));
	CHECK(refused_with("{\"op\":\"issue\",\"label\":\"j\",\"budget\":-3}", "non-negative"));
	CHECK(refused_with("{\"op\":\"issue\",\"label\":\"j\",\"owner\":0}", "process id"));
	CHECK(refused_with("{\"op\":\"issue\",\"label\":\"j\",\"owner\":4294967296}",
			   "process id"));
	CHECK(refused_with("{\"op\":\"issue\",\"label\":\"j\",\"providers\":\"openai\"}",
			   "providers must be a list"));
	CHECK(refused_with("{\"op\":\"issue\",\"label\":\"j\",\"providers\":[1]}",
			   "providers must be a list of names"));
	CHECK(refused_with("{\"op\":\"issue\",\"label\":\"j\",\"providers\":[\"groq\"]}",
			   "no mapping for groq"));
	CHECK(refused_with("{\"op\":\"issue\",\"label\":\"bad label\"}", "label"));
	o = (size_t)snprintf(many, sizeof many,
			     "{\"op\":\"issue\",\"label\":\"j\",\"providers\":[");
	for (int i = 0; i < 65; i++)
		o += (size_t)snprintf(many + o, sizeof many - o, "%s\"openai\"", i ? "," : "");
	snprintf(many + o, sizeof many - o, "]}");
	CHECK(refused_with(many, "at most 64"));
	CHECK(refused_with("{\"op\":\"revoke\"}", "a token or a label"));
	CHECK(refused_with("{\"op\":\"revoke\",\"token\":\"t\",\"label\":\"l\"}",
			   "a token or a label"));
	CHECK(refused_with("{\"op\":\"bind\",\"label\":\"l\"}", "needs a label and a pid"));
	CHECK(refused_with("{\"op\":\"bind\",\"label\":\"l\",\"pid\":-4}",
			   "needs a label and a pid"));
}

/* A TTL longer than any the CLI may ask for is refused, not added to now
 * (which overflowed: a token born expired, and undefined behaviour). */
static void ttl_capped(void)
{
	struct kh_err err = { "" };
	char req[200];
	json_t *r;

	CHECK(refused_with("{\"op\":\"issue\",\"label\":\"j\",\"ttl\":9223372036854775807}",
			   "ttl"));
	snprintf(req, sizeof req, "{\"op\":\"issue\",\"label\":\"j\",\"ttl\":%lld}",
		 KH_MAX_GRANT_TTL + 1);
	CHECK(refused_with(req, "ttl"));
	snprintf(req, sizeof req, "{\"op\":\"issue\",\"label\":\"cap\",\"ttl\":%lld}",
		 KH_MAX_GRANT_TTL);
	r = handle(req);
	CHECK(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	CHECK_INT(kh_grants_revoke(&grants, NULL, "cap", (int64_t)time(NULL), &err), 1);
}

static void protocol_ops(void)
{
	json_t *r, *t, *g;
	const char *tok, *shown;
	char req[300], full[KH_TOKEN_MAX];
	int64_t now = (int64_t)time(NULL);

	r = handle("{\"op\":\"issue\",\"label\":\"job-1\",\"ttl\":60,\"budget\":5,"
		   "\"providers\":[\"openai\"]}");
	CHECK(json_is_true(json_object_get(r, "ok")));
	t = json_array_get(json_object_get(r, "tokens"), 0);
	tok = json_string_value(json_object_get(t, "token"));
	CHECK(tok != NULL && kh_token_valid(tok) && strncmp(tok, "keyhole-openai-", 15) == 0);
	CHECK_STR(json_string_value(json_object_get(t, "env_name")), "OPENAI_API_KEY");
	CHECK(json_integer_value(json_object_get(t, "expires")) >= now + 60);
	snprintf(full, sizeof full, "%s", tok ? tok : "");
	json_decref(r);

	/* list: label, state, counts, and never the whole token */
	r = handle("{\"op\":\"list\"}\n");
	g = json_array_get(json_object_get(r, "grants"), 0);
	CHECK_INT(json_array_size(json_object_get(r, "grants")), 1);
	CHECK_STR(json_string_value(json_object_get(g, "label")), "job-1");
	CHECK_STR(json_string_value(json_object_get(g, "state")), "active");
	CHECK_INT(json_integer_value(json_object_get(g, "budget")), 5);
	shown = json_string_value(json_object_get(g, "token"));
	CHECK(shown != NULL && strlen(shown) == KH_TOKEN_LOG_CHARS + 3);
	CHECK(shown != NULL && strncmp(shown, full, KH_TOKEN_LOG_CHARS) == 0);
	{
		char *dump = json_dumps(r, 0);

		CHECK(dump != NULL && strstr(dump, full + 15) == NULL);
		free(dump);
	}
	json_decref(r);

	r = handle("{\"op\":\"bind\",\"label\":\"job-1\",\"pid\":4242}");
	CHECK(json_is_true(json_object_get(r, "ok")));
	json_decref(r);

	snprintf(req, sizeof req, "{\"op\":\"revoke\",\"token\":\"%s\"}", full);
	r = handle(req);
	CHECK_INT(json_integer_value(json_object_get(r, "revoked")), 1);
	json_decref(r);
	r = handle(req); /* already revoked */
	CHECK_INT(json_integer_value(json_object_get(r, "revoked")), 0);
	json_decref(r);

	r = handle("{\"op\":\"status\"}");
	CHECK(json_is_true(json_object_get(r, "ok")));
	CHECK_INT(json_integer_value(json_object_get(r, "pid")), getpid());
	CHECK(json_string_value(json_object_get(r, "version")) != NULL);
	json_decref(r);
}

/* ---- the real server and client over a Unix socket ---- */

static const char *mappings_json =
	"{\"version\":1,\"tokens\":["
	"{\"proxy_token\":\"keyhole-openai-0123456789abcdef0123456789abcdef\","
	"\"env_name\":\"OPENAI_API_KEY\",\"upstream_hosts\":[\"api.openai.com\"]},"
	"{\"proxy_token\":\"keyhole-aws-access-key-id-aaaabbbbccccddddeeeeffff00001111\","
	"\"env_name\":\"AWS_ACCESS_KEY_ID\",\"upstream_hosts\":[\"s3.amazonaws.com\"]}]}";

/* Connects to sock, sends len bytes of text (then shuts down if shut), and
 * reads the answer (bounded). Returns its length, or -1. */
static long raw_exchange(const char *sock, const char *text, size_t len, bool shut, char *out,
			 size_t cap)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t n = 0, sent = 0;

	snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
		goto fail;
	while (sent < len) { /* the server may answer (and stop reading) early */
		struct pollfd p = { fd, POLLOUT, 0 };
		ssize_t w;

		if (poll(&p, 1, 5000) != 1)
			goto fail;
		w = send(fd, text + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w <= 0)
			break;
		sent += (size_t)w;
	}
	if (shut)
		shutdown(fd, SHUT_WR);
	while (n + 1 < cap) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t r;

		if (poll(&p, 1, 10000) != 1)
			goto fail;
		r = recv(fd, out + n, cap - 1 - n, 0);
		if (r < 0) /* e.g. a reset after the answer: the client would fail */
			goto fail;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	out[n] = '\0';
	close(fd);
	return (long)n;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

static void server_and_client(void)
{
	struct kh_err err = { "" };
	struct kh_ctl_server *s;
	struct kh_ctl_status st;
	struct kh_mappings m = { 0 };
	const char *sock = path("control.sock");
	json_t *req, *reply = NULL;
	char *big = calloc(1, KH_CTL_MSG_MAX + 100), out[4096];
	long n;

	s = kh_ctl_server_open(sock, &grants, issue, NULL, &err);
	CHECK(s != NULL);
	if (s == NULL || big == NULL || kh_ctl_server_start(s, &err) != 0) {
		printf("# %s\n", err.msg);
		kh_ctl_server_stop(s);
		free(big);
		return;
	}
	CHECK_INT(mode_of(sock) & 0077, 0); /* owner only */

	CHECK_INT(kh_ctl_status(sock, 5000, &st, &err), 0);
	CHECK_INT(st.pid, getpid());
	CHECK(st.version[0] != '\0');

	CHECK_INT(kh_mappings_parse(mappings_json, strlen(mappings_json), &m, &err), 0);
	CHECK_INT(kh_ctl_issue_into(sock, "sbx", 600, 0, 0, &m, &err), 0);
	CHECK(kh_token_valid(m.v[0].proxy_token));
	CHECK(strcmp(m.v[0].proxy_token, "keyhole-openai-0123456789abcdef0123456789abcdef") != 0);
	CHECK_STR(m.v[1].proxy_token, "keyhole-aws-access-key-id-aaaabbbbccccddddeeeeffff00001111");
	CHECK_INT(kh_ctl_bind(sock, "sbx", 777, &err), 0);
	CHECK_INT(kh_ctl_revoke_label(sock, "sbx", &err), 1);
	CHECK_INT(kh_ctl_revoke_label(sock, "sbx", &err), 0);
	kh_mappings_free(&m);

	/* a refusal's own message reaches the caller */
	req = json_pack("{s:s}", "op", "nope");
	CHECK_INT(kh_ctl_call(sock, req, &reply, &err), -1);
	CHECK(reply == NULL && strstr(err.msg, "unknown op \"nope\"") != NULL);
	json_decref(req);

	/* a newline ends a request without a shutdown */
	n = raw_exchange(sock, "{\"op\":\"status\"}\n", 16, false, out, sizeof out);
	CHECK(n > 0 && strstr(out, "\"ok\":true") != NULL);
	/* an oversized request gets its answer (not a reset) */
	memset(big, ' ', KH_CTL_MSG_MAX + 99);
	n = raw_exchange(sock, big, KH_CTL_MSG_MAX + 99, true, out, sizeof out);
	CHECK(n > 0 && strstr(out, "larger than") != NULL);
	/* and the server goes on serving */
	CHECK_INT(kh_ctl_status(sock, 5000, &st, &err), 0);

	kh_ctl_server_stop(s);
	CHECK(access(sock, F_OK) != 0); /* unlinked */
	CHECK_INT(kh_ctl_status(sock, 1000, &st, &err), -1);
	CHECK(strstr(err.msg, "not running") != NULL);
	free(big);
}

/* ---- the client against a peer of our own ---- */

struct peer {
	int fd; /* listening */
	const char *reply; /* NULL: read the request, then say nothing */
	size_t reply_len;
	int stop[2]; /* a pipe: the test closes [1] to end a silent peer */
	pthread_t thread;
};

static void *peer_run(void *arg)
{
	struct peer *p = arg;
	char buf[4096];
	struct pollfd l = { p->fd, POLLIN, 0 }; /* kh_listen_unix's socket does not block */
	int c = poll(&l, 1, 10000) == 1 ? accept4(p->fd, NULL, NULL, SOCK_CLOEXEC) : -1;

	if (c < 0)
		return NULL;
	for (;;) { /* the request, to its end */
		struct pollfd q = { c, POLLIN, 0 };

		if (poll(&q, 1, 10000) != 1 || read(c, buf, sizeof buf) <= 0)
			break;
	}
	if (p->reply != NULL) {
		for (size_t off = 0; off < p->reply_len;) {
			ssize_t w = send(c, p->reply + off, p->reply_len - off, MSG_NOSIGNAL);

			if (w <= 0)
				break;
			off += (size_t)w;
		}
	} else {
		struct pollfd q = { p->stop[0], POLLIN, 0 };

		poll(&q, 1, 10000);
	}
	close(c);
	return NULL;
}

static int peer_start(struct peer *p, const char *sock, const char *reply, size_t len)
{
	struct kh_err err = { "" };

	memset(p, 0, sizeof *p);
	unlink(sock);
	p->reply = reply;
	p->reply_len = len;
	p->fd = kh_listen_unix(sock, &err);
	if (p->fd < 0 || pipe(p->stop) != 0)
		return -1;
	return pthread_create(&p->thread, NULL, peer_run, p) == 0 ? 0 : -1;
}

static void peer_stop(struct peer *p)
{
	close(p->stop[1]);
	pthread_join(p->thread, NULL);
	close(p->stop[0]);
	close(p->fd);
}

/* kh_ctl_status against a peer answering reply; its result and err. */
static int status_from(const char *reply, size_t len, unsigned timeout_ms, struct kh_err *err)
{
	struct peer p;
	struct kh_ctl_status st;
	int rc = -2;

	if (peer_start(&p, path("peer.sock"), reply, len) == 0)
		rc = kh_ctl_status(path("peer.sock"), timeout_ms, &st, err);
	peer_stop(&p);
	return rc;
}

static void client_against_bad_peers(void)
{
	struct kh_err err = { "" };
	struct kh_mappings m = { 0 };
	struct peer p;
	char *huge;
	char longpath[200];

	CHECK_INT(status_from(NULL, 0, 300, &err), -1); /* silent: bounded */
	CHECK(strstr(err.msg, "did not answer") != NULL);
	CHECK_INT(status_from("garbage", 7, 5000, &err), -1);
	CHECK(strstr(err.msg, "unreadable answer") != NULL);
	CHECK_INT(status_from("", 0, 5000, &err), -1); /* closed without a word */
	CHECK(strstr(err.msg, "unreadable answer") != NULL);
	CHECK_INT(status_from("{\"ok\":false,\"error\":\"go away\"}", 30, 5000, &err), -1);
	CHECK_STR(err.msg, "go away");
	CHECK_INT(status_from("{\"ok\":false}", 12, 5000, &err), -1);
	CHECK(strstr(err.msg, "refused") != NULL);
	const char *bad_pid = "{\"ok\":true,\"pid\":0,\"version\":\"x\",\"audit\":\"ok\","
			      "\"audit_lost\":0}";
	CHECK_INT(status_from(bad_pid, strlen(bad_pid), 5000, &err), -1);
	CHECK(strstr(err.msg, "malformed status") != NULL);
	const char *no_version = "{\"ok\":true,\"pid\":12,\"audit\":\"ok\",\"audit_lost\":0}";
	CHECK_INT(status_from(no_version, strlen(no_version), 5000, &err), -1);
	CHECK(strstr(err.msg, "malformed status") != NULL);
	const char *good = "{\"ok\":true,\"pid\":12,\"version\":\"9.9\",\"audit\":\"failing\","
			   "\"audit_lost\":3}";
	CHECK_INT(status_from(good, strlen(good), 5000, &err), 0);

	/* an answer larger than any may be */
	huge = malloc(KH_CTL_MSG_MAX + 10);
	if (huge != NULL) {
		memset(huge, ' ', KH_CTL_MSG_MAX + 10);
		huge[0] = '{';
		CHECK_INT(status_from(huge, KH_CTL_MSG_MAX + 10, 5000, &err), -1);
		free(huge);
	}

	/* a token list with a token that is not one */
	const char *bad_tok = "{\"ok\":true,\"tokens\":[{\"env_name\":\"OPENAI_API_KEY\","
			      "\"token\":\"keyhole-openai-short\",\"expires\":0}]}";
	CHECK_INT(kh_mappings_parse(mappings_json, strlen(mappings_json), &m, &err), 0);
	if (peer_start(&p, path("peer.sock"), bad_tok, strlen(bad_tok)) == 0) {
		CHECK_INT(kh_ctl_issue_into(path("peer.sock"), "l", 0, 0, 0, &m, &err), -1);
		CHECK(strstr(err.msg, "malformed token list") != NULL);
		CHECK_STR(m.v[0].proxy_token, "keyhole-openai-0123456789abcdef0123456789abcdef");
	}
	peer_stop(&p);
	kh_mappings_free(&m);

	memset(longpath, 'x', sizeof longpath - 1);
	longpath[0] = '/';
	longpath[sizeof longpath - 1] = '\0';
	CHECK_INT(kh_ctl_bind(longpath, "l", 1, &err), -1);
	CHECK(strstr(err.msg, "too long") != NULL);
}

static void ttl_parsing(void)
{
	CHECK_INT(kh_ctl_parse_ttl("90"), 90);
	CHECK_INT(kh_ctl_parse_ttl("90s"), 90);
	CHECK_INT(kh_ctl_parse_ttl("30m"), 1800);
	CHECK_INT(kh_ctl_parse_ttl("1h"), 3600);
	CHECK_INT(kh_ctl_parse_ttl("7d"), 7 * 86400);
	CHECK_INT(kh_ctl_parse_ttl("0"), 0);
	CHECK_INT(kh_ctl_parse_ttl("none"), 0);
	CHECK_INT(kh_ctl_parse_ttl("366d"), KH_MAX_GRANT_TTL);
	CHECK_INT(kh_ctl_parse_ttl("367d"), -1);
	CHECK_INT(kh_ctl_parse_ttl(""), -1);
	CHECK_INT(kh_ctl_parse_ttl("m"), -1);
	CHECK_INT(kh_ctl_parse_ttl("-5"), -1);
	CHECK_INT(kh_ctl_parse_ttl("5x"), -1);
	CHECK_INT(kh_ctl_parse_ttl("1h30m"), -1);
	CHECK_INT(kh_ctl_parse_ttl(" 5"), -1);
	CHECK_INT(kh_ctl_parse_ttl("99999999999999999999"), -1);
	CHECK_INT(kh_ctl_parse_ttl("18446744073709551617s"), -1);
}

int main(void)
{
	struct kh_err err = { "" };

	signal(SIGPIPE, SIG_IGN);
	if (tmpdir_make("kh-ctl") != 0 ||
	    kh_grants_init(&grants, 8, path("grants.json"), (int64_t)time(NULL), &err) != 0) {
		printf("Bail out! %s\n", err.msg);
		return 1;
	}
	RUN(protocol_refusals);
	RUN(protocol_ops);
	RUN(ttl_capped);
	RUN(server_and_client);
	RUN(client_against_bad_peers);
	RUN(ttl_parsing);
	kh_grants_free(&grants);
	tmpdir_remove();
	TAP_DONE();
}
