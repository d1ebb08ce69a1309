/* Routing a parsed request head (route.h): entries, keyhole's own answers
 * and the admission of the host, shared by the front and the key holder. */
#include "proxy/route.h"

#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "proxy/conn.h"
#include "proxy/exchange.h"
#include "proxy/metrics_server.h"

/* --- audit --- */

static size_t count_marks(const char *s)
{
	size_t n = 0;

	while ((s = strstr(s, "[redacted:")) != NULL) {
		n++;
		s++;
	}
	return n;
}

/* An absolute-form target is recorded by host and path, but searched whole
 * too: a key cut in two by the '/' after the authority ("http://sk-real/
 * rest-of-key") is in neither part, yet `keyhole log` prints them side by
 * side. When the whole holds more than its parts, the whole is recorded,
 * redacted, as the path. */
static void set_path_absolute(struct kh_conn *c, struct kh_slice target, struct kh_slice path)
{
	struct kh_slice whole = kh_slice_make(target.ptr + 7, target.len - 7); /* "http://" */
	size_t authority = (size_t)(path.ptr - whole.ptr), parts;
	char shown[KH_AUDIT_PATH_MAX - 8], host[KH_AUDIT_PATH_MAX];
	long q = kh_slice_find(whole, '?');

	kh_exchange_set_path(c->ex, c->policy, path.len ? path : KH_SLICE_LIT("/"));
	if (q >= 0)
		whole.len = (size_t)q;
	if (authority > whole.len)
		return; /* "http://host?q": the path is empty */
	kh_policy_redact(c->policy, kh_slice_make(whole.ptr, authority), host, sizeof host);
	parts = count_marks(host) + count_marks(c->ex->path);
	kh_policy_redact(c->policy, whole, shown, sizeof shown);
	if (count_marks(shown) > parts)
		kh_fmt(c->ex->path, sizeof c->ex->path, "http://%s", shown);
}

/* --- starting --- */

ssize_t kh_route_next_head(struct kh_conn *c, struct kh_head_scan *hs, size_t max_head,
			   struct kh_http_error *err, bool *progress)
{
	ssize_t n;

	*progress = false;
	if (hs->scan == 0) {
		size_t skip = kh_http_skip_leading_crlf(kh_buf_data(&c->cin), kh_buf_len(&c->cin));

		kh_buf_consume(&c->cin, skip);
		*progress = skip > 0;
		if (kh_buf_len(&c->cin) == 0)
			return 0;
		if (!hs->pending) {
			hs->pending = true;
			hs->start_ms = kh_loop_now(c->cx->loop);
		}
	}
	n = kh_http_scan_head(kh_buf_data(&c->cin), kh_buf_len(&c->cin), &hs->scan, max_head, err);
	if (n == 0 && kh_buf_room(&c->cin) == 0) {
		*err = (struct kh_http_error){ 431, "request head too large", NULL };
		n = -1; /* cin is sized to the head limit: full means too large */
	}
	if (n != 0) {
		hs->scan = 0;
		hs->pending = false;
	}
	return n < 0 ? -1 : n;
}

void kh_route_begin(struct kh_conn *c, const struct kh_http_head *h)
{
	kh_exchange_begin(c->ex, c->policy, h->method);
	c->ex->head_method = kh_slice_eq_cstr(h->method, "HEAD");
	c->ex->req_http10 = h->version_minor == 0;
	c->ex->bytes_in = h->head_len;
}

void kh_route_fail_parse(struct kh_conn *c, const struct kh_http_error *err)
{
	kh_exchange_reset(c->ex);
	c->ex->started_us = kh_mono_us();
	if (c->mode == KH_MODE_HTTP) {
		c->host[0] = '\0';
		c->port = 0;
	}
	kh_conn_fail(c, err->status,
		     err->reason          ? err->reason
		     : err->status == 431 ? "header_too_large"
					  : "bad_request",
		     err->why);
}

/* --- keyhole's own answers --- */

/* What a sandbox may learn here is that the proxy is up: no pid, no version,
 * no audit state (the owner asks control.sock for those; see ctl_server.h). */
static void reply_health(struct kh_conn *c, const struct kh_http_head *h)
{
	char body[32];

	kh_buf_consume(&c->cin, h->head_len);
	c->ex->active = false;
	kh_health_text(body, sizeof body);
	kh_conn_reply(c, 200, NULL, body, c->ex->head_method);
}

/* An origin-form request to the proxy itself names a resource of keyhole's:
 * there is exactly one, GET or HEAD of /healthz. */
static enum kh_route_result route_origin(struct kh_conn *c, const struct kh_http_head *h,
					 bool defer)
{
	if (defer)
		return KH_ROUTE_DEFER;
	if (kh_slice_eq_cstr(h->target, "/healthz") &&
	    (kh_slice_eq_cstr(h->method, "GET") || kh_slice_eq_cstr(h->method, "HEAD"))) {
		reply_health(c, h);
		return KH_ROUTE_DONE;
	}
	c->host[0] = '\0';
	kh_conn_fail(c, 404, "not_found",
		     "keyhole itself answers only GET or HEAD /healthz; to reach a host, send "
		     "CONNECT host:port or an absolute http:// URL");
	return KH_ROUTE_DONE;
}

/* Refuses with status 400, or defers. */
static enum kh_route_result bad_request(struct kh_conn *c, bool defer, bool forget_host,
					const char *why)
{
	if (defer)
		return KH_ROUTE_DEFER;
	if (forget_host)
		c->host[0] = '\0';
	kh_conn_fail(c, 400, "bad_request", why);
	return KH_ROUTE_DONE;
}

/* Admission of c->host:c->port by entry e; a refusal is answered, or
 * deferred. true when admitted. */
static bool admitted(struct kh_conn *c, enum kh_admit_entry e, bool defer, enum kh_route_result *r)
{
	struct kh_verdict v;

	*r = KH_ROUTE_DONE;
	if (kh_admit(c->policy, e, c->host, c->port, &v))
		return true;
	if (defer)
		*r = KH_ROUTE_DEFER;
	else
		kh_conn_refuse(c, &v);
	return false;
}

/* --- the entries --- */

/* Transparent HTTP (a sandbox's port 80): origin-form, routed by Host. */
static enum kh_route_result route_transparent(struct kh_conn *c, const struct kh_http_head *h,
					      bool defer, kh_route_forward_fn forward)
{
	uint16_t port;
	int kind = h->has_host ? kh_authority_parse(h->host, 80, c->host, &port) : -1;
	enum kh_route_result r;

	c->port = 80; /* the sandbox's client connected to port 80, whatever Host says */
	if (kh_slice_eq_cstr(h->method, "CONNECT") || h->target.len == 0 ||
	    h->target.ptr[0] != '/' || kind < 0)
		return bad_request(c, defer, true,
				   "transparent HTTP needs an origin-form request with a Host "
				   "header");
	c->host_is_ip = kind != KH_HOST_NAME;
	kh_exchange_set_path(c->ex, c->policy, h->target);
	if (!admitted(c, KH_ENTRY_HOST, defer, &r))
		return r;
	forward(c, h, h->target, false, false);
	return KH_ROUTE_DONE;
}

static enum kh_route_result route_plain(struct kh_conn *c, const struct kh_http_head *h, bool defer,
					kh_route_forward_fn forward)
{
	struct kh_slice path;
	enum kh_route_result r;
	int kind;

	if (kh_slice_eq_cstr(h->method, "CONNECT")) {
		if (defer)
			return KH_ROUTE_DEFER;
		if (c->keyside) /* the front opens tunnels; a stream carries requests only */
			return bad_request(c, false, false,
					   "CONNECT inside a stream to the key holder");
		kh_conn_start_connect(c, h);
		return KH_ROUTE_DONE;
	}
	if (h->target.len > 0 && h->target.ptr[0] == '/')
		return route_origin(c, h, defer);
	kind = kh_http_parse_absolute(h->target, c->host, &c->port, &path);
	if (kind < 0)
		return bad_request(
			c, defer, true,
			kh_slice_starts_with_nocase(h->target, "https://")
				? "https URLs go through CONNECT (set HTTPS_PROXY, not HTTP_PROXY)"
				: "keyhole is a proxy: send CONNECT or an absolute http:// URL");
	c->host_is_ip = kind != KH_HOST_NAME;
	set_path_absolute(c, h->target, path);
	if (!admitted(c, KH_ENTRY_ABSOLUTE, defer, &r))
		return r;
	forward(c, h, path, false, true);
	return KH_ROUTE_DONE;
}

static enum kh_route_result route_tunnel(struct kh_conn *c, const struct kh_http_head *h,
					 bool defer, kh_route_forward_fn forward)
{
	bool origin = h->target.len > 0 && h->target.ptr[0] == '/';
	bool asterisk = kh_slice_eq_cstr(h->target, "*") && kh_slice_eq_cstr(h->method, "OPTIONS");
	enum kh_route_result r;

	kh_exchange_set_path(c->ex, c->policy, h->target);
	if (!admitted(c, KH_ENTRY_TUNNEL, defer, &r)) /* a reload removed the host or port */
		return r;
	if (kh_slice_eq_cstr(h->method, "CONNECT") || (!origin && !asterisk))
		return bad_request(c, defer, false,
				   "inside a tunnel, requests must use an origin-form target "
				   "(/path)");
	forward(c, h, h->target, true, false);
	return KH_ROUTE_DONE;
}

enum kh_route_result kh_route_request(struct kh_conn *c, const struct kh_http_head *h, bool defer,
				      kh_route_forward_fn forward)
{
	if (c->mode == KH_MODE_MITM)
		return route_tunnel(c, h, defer, forward);
	if (c->kind == KH_LISTEN_TRANSPARENT_HTTP)
		return route_transparent(c, h, defer, forward);
	return route_plain(c, h, defer, forward);
}
