/* The exchange record on its own, then exchanges carried by a real
 * connection (conn.c driving the HTTP/1.1 protocol of relay.c through its
 * ops table) on a real event loop: a socket-pair client, a fake loopback
 * upstream that answers each request with its path, audit records captured
 * in a memfd. Covers one request, many exchanges on one connection
 * (keep-alive and pipelined), a refused CONNECT, and that every plain entry
 * (absolute-form, transparent Host, a pipelined or kept-alive request after
 * a reload) reaches kh_admit / kh_admit_addr through conn and relay. */
#include <errno.h>
#include <sys/mman.h>
#include <sys/un.h>

#include "proxy/audit.h"
#include "proxy/conn.h"
#include "proxy/exchange.h"
#include "proxy/relay.h"
#include "proxy_fixture.h"
#include "swap/sigv4.h"

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

static struct kh_policy *redacting;

/* --- the record alone --- */

static void begin_redacts_the_method(void)
{
	struct kh_exchange ex = { .status = 200, .bytes_in = 9 };

	kh_exchange_begin(&ex, redacting, kh_slice_cstr(FIX_TOKEN "GET"));
	CHECK(ex.active);
	CHECK(ex.started_us > 0);
	CHECK_INT(ex.status, 0); /* what the exchange before it left is gone */
	CHECK_INT(ex.bytes_in, 0);
	/* redacted whole, then cut: not the token's first 23 bytes */
	CHECK(strncmp(ex.method, FIX_TOKEN, sizeof ex.method - 1) != 0);
	CHECK(strstr(ex.method, "...") != NULL);
	kh_exchange_reset(&ex);
}

static void path_drops_query_and_redacts(void)
{
	struct kh_exchange ex = { 0 };

	kh_exchange_set_path(&ex, redacting, kh_slice_cstr("/v1/models?key=secret"));
	CHECK_STR(ex.path, "/v1/models");
	kh_exchange_set_path(&ex, redacting, kh_slice_cstr("/k/" FIX_TOKEN "/x"));
	CHECK(strstr(ex.path, FIX_TOKEN) == NULL);
	CHECK(strstr(ex.path, "...") != NULL);
	CHECK(strncmp(ex.path, "/k/keyhole-openai-", 18) == 0);
}

static void reset_frees_what_it_owns(void)
{
	static const char digest[] =
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	struct kh_exchange ex = { 0 };

	kh_exchange_begin(&ex, redacting, kh_slice_cstr("PUT"));
	ex.req_hash = kh_sigv4_body_new(kh_slice_cstr(digest));
	CHECK(ex.req_hash != NULL);
	ex.status = 201;
	kh_exchange_release(&ex); /* on close: owned state freed, record kept */
	CHECK(ex.req_hash == NULL);
	CHECK_INT(ex.status, 201);
	CHECK_STR(ex.method, "PUT");
	ex.req_hash = kh_sigv4_body_new(kh_slice_cstr(digest));
	kh_exchange_reset(&ex); /* between exchanges: all of it (ASan sees a leak) */
	CHECK(ex.req_hash == NULL);
	CHECK(!ex.active);
	CHECK_STR(ex.method, "");
}

/* --- a fake upstream on the loop: answers each request head with its path --- */

struct fake_up {
	struct kh_io lis, conn;
	int accepted;
	char got[8192];
	size_t len, answered;
};

static void answer_heads(struct fake_up *u)
{
	char *p = u->got + u->answered, *end, *sp, out[512];

	while ((end = strstr(p, "\r\n\r\n")) != NULL) {
		sp = strchr(p, ' ');
		char *sp2 = sp ? strchr(sp + 1, ' ') : NULL;
		int plen = sp && sp2 ? (int)(sp2 - sp - 1) : 0;
		int n = snprintf(out, sizeof out,
				 "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%.*s", plen, plen,
				 sp ? sp + 1 : "");

		CHECK(send(u->conn.fd, out, (size_t)n, MSG_NOSIGNAL) == n);
		p = end + 4;
		u->answered = (size_t)(p - u->got);
	}
}

static void fake_conn_cb(struct kh_io *io, uint32_t events)
{
	struct fake_up *u = container_of(io, struct fake_up, conn);
	ssize_t n;

	(void)events;
	while (u->len < sizeof u->got - 1 &&
	       (n = recv(io->fd, u->got + u->len, sizeof u->got - 1 - u->len, 0)) > 0) {
		u->len += (size_t)n;
		u->got[u->len] = '\0';
	}
	answer_heads(u);
}

static void fake_lis_cb(struct kh_io *io, uint32_t events)
{
	struct fake_up *u = container_of(io, struct fake_up, lis);
	int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	(void)events;
	if (fd < 0)
		return;
	u->accepted++;
	if (u->conn.fd >= 0) { /* one upstream connection at a time is all these tests use */
		close(fd);
		return;
	}
	u->conn.fd = fd;
	u->conn.cb = fake_conn_cb;
	CHECK_INT(kh_loop_add(fix_loop, &u->conn), 0);
}

/* --- a socket-pair client --- */

struct client {
	struct kh_io io;
	char got[8192];
	size_t len;
	bool eof;
	const char *until; /* done once this is in got */
	bool done;
};

static void client_cb(struct kh_io *io, uint32_t events)
{
	struct client *cl = container_of(io, struct client, io);
	ssize_t n = -1;

	(void)events;
	while (cl->len < sizeof cl->got - 1 &&
	       (n = recv(io->fd, cl->got + cl->len, sizeof cl->got - 1 - cl->len, 0)) != 0) {
		if (n < 0)
			break;
		cl->len += (size_t)n;
		cl->got[cl->len] = '\0';
	}
	if (n == 0)
		cl->eof = true;
	cl->done = cl->eof || (cl->until != NULL && strstr(cl->got, cl->until) != NULL);
}

/* One proxy connection under test, its client, the upstream and the audit log. */
static struct fix_worker fw;
static struct fake_up up;
static struct client cl;
static int audit_fd = -1;

static uint16_t up_port;

/* The tests' policy: upstream.test allowed and pinned to the fake upstream;
 * hosts and deny list as given (a reload's policy differs in those only). */
static struct kh_policy *policy_with(const char *hosts, const char *deny)
{
	char yaml[512];

	snprintf(yaml, sizeof yaml,
		 "extra_allowed_hosts: [%s]\n"
		 "upstream_deny_cidrs: [%s]\n"
		 "resolve:\n  upstream.test: \"127.0.0.1:%u\"\n",
		 hosts, deny, up_port);
	return fix_policy(yaml);
}

static int setup_kind(enum kh_listen_kind kind)
{
	int lfd = fix_listen(&up_port), sv[2];
	struct sockaddr_un peer = { .sun_family = AF_UNIX };
	struct kh_policy *p = policy_with("upstream.test", "192.0.2.0/24");

	if (lfd < 0 || p == NULL || fix_worker_init(&fw, p) != 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
		CHECK(0);
		return -1;
	}
	fix_loop = fw.cx.loop;
	memset(&up, 0, sizeof up);
	up.lis = (struct kh_io){ .fd = lfd, .cb = fake_lis_cb };
	up.conn.fd = -1;
	CHECK_INT(kh_loop_add_listener(fw.cx.loop, &up.lis), 0);
	memset(&cl, 0, sizeof cl);
	cl.io = (struct kh_io){ .fd = sv[1], .cb = client_cb };
	CHECK_INT(kh_loop_add(fw.cx.loop, &cl.io), 0);
	CHECK_INT(ftruncate(audit_fd, 0), 0); /* this test's records only */
	CHECK_INT(lseek(audit_fd, 0, SEEK_SET), 0);
	atomic_fetch_add(&fw.sh.n_conns, 1); /* what the worker does before accepting */
	kh_conn_accept(&fw.cx, sv[0], (struct sockaddr *)&peer, kind, &kh_relay_h1);
	CHECK_INT(fw.cx.n_conns, 1);
	return 0;
}

static int setup(void)
{
	return setup_kind(KH_LISTEN_PROXY);
}

/* Closing the client ends the proxy connection; everything is freed. */
static void teardown(void)
{
	bool gone = false;

	kh_loop_del(fw.cx.loop, &cl.io);
	close(cl.io.fd);
	for (int i = 0; i < 50 && fw.cx.n_conns > 0; i++)
		fix_run(fw.cx.loop, &gone, 20);
	CHECK_INT(fw.cx.n_conns, 0);
	CHECK_INT(atomic_load(&fw.sh.n_conns), 0);
	fix_run(fw.cx.loop, NULL, 5); /* the deferred free of the connection */
	kh_loop_del(fw.cx.loop, &up.lis);
	close(up.lis.fd);
	if (up.conn.fd >= 0) {
		kh_loop_del(fw.cx.loop, &up.conn);
		close(up.conn.fd);
	}
	fix_worker_free(&fw);
}

static void send_client(const char *s)
{
	CHECK(send(cl.io.fd, s, strlen(s), MSG_NOSIGNAL) == (ssize_t)strlen(s));
}

static void await(const char *until)
{
	cl.until = until;
	cl.done = strstr(cl.got, until) != NULL;
	fix_run(fw.cx.loop, &cl.done, 5000);
}

static const char *audit_text(void)
{
	static char buf[16384];
	ssize_t n = pread(audit_fd, buf, sizeof buf - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static size_t count(const char *s, const char *what)
{
	size_t n = 0;

	while ((s = strstr(s, what)) != NULL) {
		n++;
		s += strlen(what);
	}
	return n;
}

/* --- exchanges through a connection --- */

static void one_request_to_a_loopback_upstream(void)
{
	if (setup() != 0)
		return;
	send_client("GET http://upstream.test/a?q=1 HTTP/1.1\r\nHost: upstream.test\r\n\r\n");
	await("/a?q=1\r\n0\r\n\r\n"); /* relayed chunked, to its end */
	CHECK(strncmp(cl.got, "HTTP/1.1 200 OK\r\n", 17) == 0);
	CHECK(strstr(up.got, "GET /a?q=1 HTTP/1.1\r\n") == up.got); /* origin-form upstream */
	CHECK_INT(up.accepted, 1);
	CHECK_INT(count(audit_text(), "\"decision\":\"allow\""), 1);
	CHECK(strstr(audit_text(), "\"path\":\"/a\"") != NULL); /* query dropped */
	teardown();
}

static void keepalive_exchanges_share_the_upstream(void)
{
	if (setup() != 0)
		return;
	send_client("GET http://upstream.test/first HTTP/1.1\r\nHost: upstream.test\r\n\r\n");
	await("/first");
	send_client("GET http://upstream.test/second HTTP/1.1\r\nHost: upstream.test\r\n\r\n");
	await("/second");
	CHECK_INT(count(cl.got, "HTTP/1.1 200 OK"), 2);
	CHECK_INT(up.accepted, 1); /* the second went out on the first's connection */
	CHECK_INT(count(up.got, " HTTP/1.1\r\n"), 2);
	CHECK_INT(count(audit_text(), "\"decision\":\"allow\""), 2);
	teardown();
}

static void pipelined_requests_answered_in_order(void)
{
	const char *a, *b;

	if (setup() != 0)
		return;
	send_client("GET http://upstream.test/one HTTP/1.1\r\nHost: upstream.test\r\n\r\n"
		    "GET http://upstream.test/two HTTP/1.1\r\nHost: upstream.test\r\n\r\n");
	await("/two");
	a = strstr(cl.got, "/one");
	b = strstr(cl.got, "/two");
	CHECK(a != NULL && b != NULL && a < b);
	CHECK_INT(count(cl.got, "HTTP/1.1 200 OK"), 2);
	/* the second head went up only after the first response was done */
	CHECK_INT(count(up.got, " HTTP/1.1\r\n"), 2);
	teardown();
}

static void connect_to_an_unlisted_host_is_refused(void)
{
	if (setup() != 0)
		return;
	send_client("CONNECT elsewhere.test:443 HTTP/1.1\r\nHost: elsewhere.test:443\r\n\r\n");
	await("\r\n\r\n");
	fix_run(fw.cx.loop, &cl.eof, 5000); /* the refusal closes the connection */
	CHECK(strncmp(cl.got, "HTTP/1.1 403 Forbidden\r\n", 24) == 0);
	CHECK(strstr(cl.got, "X-Keyhole-Reason: host_not_allowed\r\n") != NULL);
	CHECK(strstr(cl.got, "Connection: close\r\n") != NULL);
	CHECK(cl.eof);
	CHECK_INT(up.accepted, 0);
	CHECK(strstr(audit_text(), "\"decision\":\"deny\"") != NULL);
	CHECK(strstr(audit_text(), "\"method\":\"CONNECT\"") != NULL);
	teardown();
}

/* --- admission through conn and relay: every entry asks kh_admit --- */

/* The client got one 403 with this reason, the connection closed, the
 * upstream saw n_up requests and the audit log one deny with this reason. */
static void check_refused(const char *reason, int n_up)
{
	char want[128];

	fix_run(fw.cx.loop, &cl.eof, 5000); /* a refusal closes the connection */
	CHECK(cl.eof);
	CHECK_INT(count(cl.got, "HTTP/1.1 403 Forbidden\r\n"), 1);
	snprintf(want, sizeof want, "X-Keyhole-Reason: %s\r\n", reason);
	CHECK(strstr(cl.got, want) != NULL);
	CHECK_INT(count(up.got, " HTTP/1.1\r\n"), n_up);
	snprintf(want, sizeof want, "\"reason\":\"%s\"", reason);
	CHECK_INT(count(audit_text(), want), 1);
	CHECK_INT(count(audit_text(), "\"decision\":\"deny\""), 1);
}

static void absolute_form_to_an_unlisted_host_is_refused(void)
{
	if (setup() != 0)
		return;
	send_client("GET http://elsewhere.test/x HTTP/1.1\r\nHost: elsewhere.test\r\n\r\n");
	check_refused("host_not_allowed", 0);
	CHECK_INT(up.accepted, 0);
	CHECK(strstr(audit_text(), "\"host\":\"elsewhere.test\"") != NULL);
	teardown();
}

static void absolute_form_with_a_token_in_the_host_is_refused(void)
{
	if (setup() != 0)
		return;
	send_client("GET http://" FIX_TOKEN ".upstream.test/x HTTP/1.1\r\n"
		    "Host: upstream.test\r\n\r\n");
	check_refused("token_leak_attempt", 0);
	CHECK_INT(up.accepted, 0);
	CHECK(strstr(cl.got, FIX_TOKEN) == NULL);
	CHECK(strstr(audit_text(), FIX_TOKEN) == NULL);
	teardown();
}

static void absolute_form_to_a_port_not_allowed_is_refused(void)
{
	if (setup() != 0)
		return;
	/* the pin would carry it to the fake upstream: only admission stops it */
	send_client("GET http://upstream.test:8080/x HTTP/1.1\r\nHost: upstream.test:8080\r\n\r\n");
	check_refused("port_not_allowed", 0);
	CHECK_INT(up.accepted, 0);
	teardown();
}

static void transparent_host_not_allowed_is_refused(void)
{
	if (setup_kind(KH_LISTEN_TRANSPARENT_HTTP) != 0)
		return;
	send_client("GET /x HTTP/1.1\r\nHost: elsewhere.test\r\n\r\n");
	check_refused("host_not_allowed", 0);
	CHECK_INT(up.accepted, 0);
	teardown();
}

static void transparent_host_allowed_goes_through(void)
{
	if (setup_kind(KH_LISTEN_TRANSPARENT_HTTP) != 0)
		return;
	send_client("GET /ok HTTP/1.1\r\nHost: upstream.test\r\n\r\n");
	await("/ok\r\n0\r\n\r\n"); /* relayed chunked, to its end */
	CHECK(strncmp(cl.got, "HTTP/1.1 200 OK\r\n", 17) == 0);
	CHECK_INT(up.accepted, 1);
	teardown();
}

static void second_pipelined_request_to_an_unlisted_host_is_refused(void)
{
	if (setup() != 0)
		return;
	send_client("GET http://upstream.test/one HTTP/1.1\r\nHost: upstream.test\r\n\r\n"
		    "GET http://elsewhere.test/two HTTP/1.1\r\nHost: elsewhere.test\r\n\r\n");
	check_refused("host_not_allowed", 1);
	CHECK(strncmp(cl.got, "HTTP/1.1 200 OK\r\n", 17) == 0); /* the first, answered first */
	CHECK(strstr(cl.got, "/one") != NULL && strstr(cl.got, "/one") < strstr(cl.got, "403"));
	CHECK(strstr(up.got, "/two") == NULL);
	CHECK_INT(count(audit_text(), "\"decision\":\"allow\""), 1);
	teardown();
}

/* A reload (the daemon's kh_shared_set_policy) applies to the next request
 * on a kept-alive connection: its host is checked again, and so is the
 * address the kept upstream was dialled to. */
static void reload_refuses_the_next_request(const char *hosts, const char *deny, const char *reason)
{
	struct kh_policy *p;

	if (setup() != 0)
		return;
	send_client("GET http://upstream.test/first HTTP/1.1\r\nHost: upstream.test\r\n\r\n");
	await("/first\r\n0\r\n\r\n");
	CHECK(strncmp(cl.got, "HTTP/1.1 200 OK\r\n", 17) == 0);
	p = policy_with(hosts, deny);
	CHECK(p != NULL);
	if (p != NULL)
		kh_shared_set_policy(&fw.sh, p);
	send_client("GET http://upstream.test/second HTTP/1.1\r\nHost: upstream.test\r\n\r\n");
	check_refused(reason, 1);
	CHECK(strstr(up.got, "/second") == NULL);
	CHECK_INT(up.accepted, 1);
	teardown();
}

static void reload_removing_the_host_refuses_a_kept_alive_client(void)
{
	reload_refuses_the_next_request("other.test", "192.0.2.0/24", "host_not_allowed");
}

static void reload_denying_the_address_refuses_a_kept_alive_client(void)
{
	reload_refuses_the_next_request("upstream.test", "127.0.0.0/8", "deny_cidr");
}

int main(void)
{
	redacting = fix_policy("{}\n");
	audit_fd = memfd_create("audit", MFD_CLOEXEC);
	if (redacting == NULL || audit_fd < 0) {
		printf("Bail out! cannot build the fixture\n");
		return 1;
	}
	kh_audit_use_fd(audit_fd);
	RUN(begin_redacts_the_method);
	RUN(path_drops_query_and_redacts);
	RUN(reset_frees_what_it_owns);
	RUN(one_request_to_a_loopback_upstream);
	RUN(keepalive_exchanges_share_the_upstream);
	RUN(pipelined_requests_answered_in_order);
	RUN(connect_to_an_unlisted_host_is_refused);
	RUN(absolute_form_to_an_unlisted_host_is_refused);
	RUN(absolute_form_with_a_token_in_the_host_is_refused);
	RUN(absolute_form_to_a_port_not_allowed_is_refused);
	RUN(transparent_host_not_allowed_is_refused);
	RUN(transparent_host_allowed_goes_through);
	RUN(second_pipelined_request_to_an_unlisted_host_is_refused);
	RUN(reload_removing_the_host_refuses_a_kept_alive_client);
	RUN(reload_denying_the_address_refuses_a_kept_alive_client);
	kh_audit_close();
	kh_policy_unref(redacting);
	TAP_DONE();
}
