/* The upstream stage (dial.h) with no connection above it: a fake owner
 * whose callbacks record what the dialer reports, a real loop, loopback
 * listeners. Failure and success both come back through ops->done, once;
 * a clean upstream goes to the pool and the next dial to the same place
 * takes it without connecting. */
#include <errno.h>

#include "proxy/dial.h"
#include "proxy/upool.h"
#include "proxy_fixture.h"

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

struct owner {
	struct kh_upstream up;
	struct kh_buf in, out;
	int done_calls;
	bool done, ok;
	int status;
	char reason[64], detail[KH_DETAIL_MAX];
};

static void owner_io(struct kh_io *io, uint32_t events)
{
	struct kh_upstream *up = container_of(io, struct kh_upstream, ep.io);

	kh_ep_on_events(&up->ep, events);
	while (kh_dial_step(up))
		;
}

static void owner_done(struct kh_upstream *up, bool ok, int status, const char *reason,
		       const char *detail)
{
	struct owner *o = container_of(up, struct owner, up);

	o->done_calls++;
	o->done = true;
	o->ok = ok;
	o->status = status;
	snprintf(o->reason, sizeof o->reason, "%s", reason ? reason : "");
	snprintf(o->detail, sizeof o->detail, "%s", detail ? detail : "");
}

static void owner_resumed(struct kh_upstream *up)
{
	(void)up;
}

static void owner_source(const struct kh_upstream *up, char *out, size_t len)
{
	(void)up;
	snprintf(out, len, "test");
}

static const struct kh_upstream_ops ops = {
	.io = owner_io,
	.done = owner_done,
	.resumed = owner_resumed,
	.source = owner_source,
};

static struct fix_worker fw;

static void owner_init(struct owner *o)
{
	memset(o, 0, sizeof *o);
	kh_buf_init(&o->in, 4096);
	kh_buf_init(&o->out, 4096);
	kh_dial_init(&o->up, &fw.cx, &ops, &o->in, &o->out);
}

static void owner_free(struct owner *o)
{
	kh_dial_reset(&o->up);
	kh_buf_free(&o->in);
	kh_buf_free(&o->out);
}

static int with_policy(const char *yaml)
{
	struct kh_policy *p = fix_policy(yaml);

	if (p == NULL || fix_worker_init(&fw, p) != 0) {
		CHECK(0);
		return -1;
	}
	return 0;
}

static void refused_port_reports_failure(void)
{
	struct owner o;
	char host[] = "127.0.0.1";

	if (with_policy("upstream_deny_cidrs: [192.0.2.0/24]\n") != 0)
		return;
	owner_init(&o);
	kh_buf_append_str(&o.out, "GET / HTTP/1.1\r\n\r\n"); /* a request waiting to go */
	kh_dial_start(&o.up, fw.sh.policy, host, fix_closed_port(), false, true);
	fix_run(fw.cx.loop, &o.done, 5000);
	CHECK_INT(o.done_calls, 1);
	CHECK(!o.ok);
	CHECK_INT(o.status, 502);
	CHECK_STR(o.reason, "upstream_connect_failed");
	CHECK(strstr(o.detail, "connect to 127.0.0.1:") != NULL);
	CHECK(o.up.state != KH_UP_READY);
	CHECK_INT(kh_buf_len(&o.out), 18); /* the dial left the owner's request alone */
	owner_free(&o);
	CHECK_INT(kh_buf_len(&o.out), 0);
	fix_worker_free(&fw);
}

static void denied_address_reports_403(void)
{
	struct owner o;

	if (with_policy("upstream_deny_cidrs: [127.0.0.0/8]\n") != 0)
		return;
	owner_init(&o);
	kh_dial_start(&o.up, fw.sh.policy, "127.0.0.1", 443, true, true);
	CHECK_INT(o.done_calls, 1); /* decided before any socket: at once */
	CHECK(!o.ok);
	CHECK_INT(o.status, 403);
	CHECK_STR(o.reason, "deny_cidr");
	CHECK(strstr(o.detail, "127.0.0.0/8 (upstream_deny_cidrs)") != NULL);
	CHECK(o.up.ep.io.fd < 0);
	owner_free(&o);
	fix_worker_free(&fw);
}

static void pinned_name_dials_then_pools(void)
{
	struct owner a, b;
	char yaml[256];
	uint16_t port = 0;
	int lfd = fix_listen(&port), peer;

	snprintf(yaml, sizeof yaml,
		 "upstream_deny_cidrs: [192.0.2.0/24]\n"
		 "resolve:\n  up.test: \"127.0.0.1:%u\"\n",
		 port);
	if (lfd < 0 || with_policy(yaml) != 0) {
		CHECK(0);
		return;
	}
	owner_init(&a);
	kh_dial_start(&a.up, fw.sh.policy, "up.test", 80, false, false);
	CHECK_INT(a.up.port, port); /* the pin's port */
	CHECK_INT(a.up.dest_port, 80); /* the one asked for, the pool's key */
	fix_run(fw.cx.loop, &a.done, 5000);
	CHECK_INT(a.done_calls, 1);
	CHECK(a.ok);
	CHECK(a.up.state == KH_UP_READY);
	CHECK(a.up.policy == NULL); /* lent for the dial only */
	CHECK(kh_dial_matches(&a.up, fw.sh.policy, "up.test", 80, false));
	CHECK(!kh_dial_matches(&a.up, fw.sh.policy, "up.test", 80, true));
	CHECK(!kh_dial_matches(&a.up, fw.sh.policy, "other.test", 80, false));
	/* after a reload the kept connection is dialed again (new deny ranges
	 * and pins apply to it too): a later generation does not match */
	fw.sh.policy->generation++;
	CHECK(!kh_dial_matches(&a.up, fw.sh.policy, "up.test", 80, false));
	fw.sh.policy->generation--;
	peer = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	CHECK(peer >= 0);
	CHECK(kh_dial_clean(&a.up));
	kh_buf_append_str(&a.in, "x"); /* unread bytes: not reusable by anyone else */
	CHECK(!kh_dial_clean(&a.up));
	kh_buf_consume(&a.in, 1);
	kh_dial_park(&a.up);
	CHECK(a.up.state == KH_UP_NONE);
	CHECK_INT(kh_upool_count(fw.cx.upool), 1);

	owner_init(&b);
	kh_dial_start(&b.up, fw.sh.policy, "up.test", 80, false, false);
	CHECK_INT(b.done_calls, 1); /* from the pool: no connect to wait for */
	CHECK(b.ok);
	CHECK(b.up.used);
	CHECK_INT(kh_upool_count(fw.cx.upool), 0);
	fw.cx.draining = true; /* shutting down: nothing goes back to the pool */
	CHECK(!kh_dial_clean(&b.up));
	owner_free(&b);
	owner_free(&a);
	if (peer >= 0)
		close(peer);
	close(lfd);
	fix_worker_free(&fw);
}

int main(void)
{
	RUN(refused_port_reports_failure);
	RUN(denied_address_reports_403);
	RUN(pinned_name_dials_then_pools);
	TAP_DONE();
}
