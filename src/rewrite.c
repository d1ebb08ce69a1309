#include "rewrite.h"

#include "respscrub.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "resign.h"

#define MAX_CONNECTION_NAMES 16

struct rw {
	const struct kh_rw_ctx *ctx;
	const struct kh_http_head *req;
	struct kh_buf *out;
	struct kh_rw_result *res;
	struct kh_slice conn_names[MAX_CONNECTION_NAMES];
	size_t n_conn_names;
	bool websocket;
	bool overflow;
};

static int refuse(struct rw *w, int status, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int refuse(struct rw *w, int status, const char *reason, const char *fmt, ...)
{
	va_list ap;

	w->res->status = status;
	w->res->reason = reason;
	va_start(ap, fmt);
	vsnprintf(w->res->detail, sizeof w->res->detail, fmt, ap);
	va_end(ap);
	return -1;
}

static void emit(struct rw *w, const void *p, size_t n)
{
	if (!w->overflow && kh_buf_append(w->out, p, n) != 0)
		w->overflow = true;
}

static void emit_s(struct rw *w, struct kh_slice s)
{
	emit(w, s.ptr, s.len);
}

static void emit_c(struct rw *w, const char *s)
{
	emit(w, s, strlen(s));
}

static void emit_field(struct rw *w, struct kh_slice name, const char *v, size_t vlen)
{
	emit_s(w, name);
	emit(w, ": ", 2);
	emit(w, v, vlen);
	emit(w, "\r\n", 2);
}

static bool is_framing_field(struct kh_slice n)
{
	return kh_slice_eq_cstr_nocase(n, "host") || kh_slice_eq_cstr_nocase(n, "content-length") ||
	       kh_slice_eq_cstr_nocase(n, "transfer-encoding");
}

/* Collects the field names listed in Connection (they are hop-by-hop). */
static int collect_connection(struct rw *w)
{
	for (size_t i = 0; i < w->req->n_headers; i++) {
		struct kh_slice v = w->req->headers[i].value, tok;

		if (!kh_slice_eq_cstr_nocase(w->req->headers[i].name, "connection"))
			continue;
		while (kh_http_list_next(&v, &tok)) {
			if (is_framing_field(tok))
				return refuse(w, 400, "bad_request",
					      "Connection header names a framing field");
			if (w->n_conn_names < MAX_CONNECTION_NAMES)
				w->conn_names[w->n_conn_names++] = tok;
		}
	}
	return 0;
}

static bool hop_by_hop(struct rw *w, struct kh_slice n, struct kh_slice v)
{
	static const char *const fixed[] = { "connection", "proxy-connection", "keep-alive",
					     "proxy-authorization", "proxy-authenticate" };

	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if (kh_slice_eq_cstr_nocase(n, fixed[i]))
			return true;
	if (kh_slice_eq_cstr_nocase(n, "te"))
		return !kh_slice_eq_cstr_nocase(v, "trailers");
	if (kh_slice_eq_cstr_nocase(n, "upgrade"))
		return !w->websocket;
	for (size_t i = 0; i < w->n_conn_names; i++)
		if (kh_slice_eq_nocase(n, w->conn_names[i]) &&
		    !kh_slice_eq_cstr_nocase(n, "upgrade"))
			return true;
	return false;
}

/* Refusal for a token found where it is not swapped. */
static int misplaced(struct rw *w, const struct kh_cred *c, const char *where)
{
	char host[KH_HOST_BUF];

	/* The destination itself may be what carries the token: never echo it. */
	kh_policy_redact(w->ctx->policy, kh_slice_cstr(w->ctx->host), host, sizeof host);
	if (!kh_cred_host_ok(c, w->ctx->host))
		return refuse(w, 403, "token_host_mismatch",
			      "the proxy token for %s may only be sent to its own hosts, not %s",
			      c->env_name, host);
	return refuse(w, 403, "token_misplaced",
		      "a proxy token for %s appears in %s to %s, where keyhole does not swap it",
		      c->env_name, where, host);
}

/* May cred's real value be injected toward this destination? */
static int check_injection(struct rw *w, const struct kh_cred *c)
{
	if (!kh_cred_host_ok(c, w->ctx->host))
		return misplaced(w, c, "a request");
	if (!w->ctx->tls && !kh_policy_cleartext_ok(w->ctx->policy, w->ctx->host))
		return refuse(w, 403, "cleartext_credential",
			      "refusing to send the %s credential to %s over plain HTTP; use https "
			      "or list the host in cleartext_credential_hosts",
			      c->env_name, w->ctx->host);
	if (c->secret == NULL)
		return refuse(w, 503, "credential_unavailable",
			      "cannot send %s to %s: its real value is not loaded in keyhole "
			      "(the variable was not set when the daemon started)",
			      c->env_name, w->ctx->host);
	if (w->res->n_swapped < KH_MAX_SWAPS)
		w->res->swapped[w->res->n_swapped++] = c->env_name;
	return 0;
}

/* Swaps a credential field if it carries a token in a matched position.
 * Returns 1 if emitted, 0 if not a swap position, -1 on refusal. */
static int try_swap(struct rw *w, const struct kh_http_header *h)
{
	struct kh_slice v = h->value;
	bool bearer = kh_slice_eq_cstr_nocase(h->name, "authorization") &&
		      kh_slice_starts_with_nocase(v, "bearer ");
	const struct kh_cred *c;

	if (bearer)
		v = kh_slice_trim_ows(kh_slice_make(v.ptr + 7, v.len - 7));
	c = kh_policy_token_exact(w->ctx->policy, v);
	if (c == NULL || !kh_cred_matches_header(c, h->name))
		return 0;
	if (check_injection(w, c) != 0)
		return -1;
	emit_s(w, h->name);
	emit_c(w, bearer ? ": Bearer " : ": ");
	emit(w, c->secret, c->secret_len);
	emit(w, "\r\n", 2);
	return 1;
}

static int check_host(struct rw *w, struct kh_slice value)
{
	char host[KH_HOST_BUF];
	uint16_t port;

	/* A Host without a port is taken to mean the tunnel's port. */
	if (kh_authority_parse(value, w->ctx->port, host, &port) < 0)
		return refuse(w, 400, "bad_request", "malformed Host header");
	if (strcmp(host, w->ctx->host) != 0 || port != w->ctx->port) {
		char shown[KH_HOST_BUF];

		kh_policy_redact(w->ctx->policy, kh_slice_cstr(host), shown, sizeof shown);
		return refuse(w, 400, "host_mismatch",
			      "Host header names %s but this tunnel goes to %s", shown,
			      w->ctx->host);
	}
	return 0;
}

static void emit_authority_host(struct rw *w, struct kh_slice name)
{
	char v[KH_HOST_BUF + 16];
	bool v6 = strchr(w->ctx->host, ':') != NULL;
	int n;

	if (w->ctx->port == w->ctx->default_port)
		n = snprintf(v, sizeof v, v6 ? "[%s]" : "%s", w->ctx->host);
	else
		n = snprintf(v, sizeof v, v6 ? "[%s]:%u" : "%s:%u", w->ctx->host, w->ctx->port);
	emit_field(w, name, v, (size_t)n);
}

/* Response scrubbing must read the body, so the upstream may only choose a
 * coding keyhole can decode (respscrub.h). */
static void emit_accept_encoding(struct rw *w, const struct kh_http_header *h)
{
	char v[1024];
	size_t n = kh_rscrub_accept_encoding(h->value, v, sizeof v);

	if (n == 0)
		emit_field(w, h->name, "identity", 8);
	else
		emit_field(w, h->name, v, n);
}

static int one_field(struct rw *w, const struct kh_http_header *h)
{
	const struct kh_cred *c;
	int r;

	if ((c = kh_policy_token_scan(w->ctx->policy, h->name)) != NULL)
		return misplaced(w, c, "a header name");
	if (hop_by_hop(w, h->name, h->value))
		return 0;
	if (kh_slice_eq_cstr_nocase(h->name, "host")) {
		/* A token here is a leak even when the Host is replaced or refused. */
		if ((c = kh_policy_token_scan(w->ctx->policy, h->value)) != NULL)
			return misplaced(w, c, "the Host header");
		if (w->ctx->absolute) {
			emit_authority_host(w, h->name);
			return 0;
		}
		if (check_host(w, h->value) != 0)
			return -1;
	} else if ((r = try_swap(w, h)) != 0) {
		return r < 0 ? -1 : 0;
	}
	c = kh_policy_token_scan(w->ctx->policy, h->value);
	if (c != NULL)
		return misplaced(w, c, "a request header");
	if (w->ctx->policy->scrub.n > 0 && kh_slice_eq_cstr_nocase(h->name, "accept-encoding")) {
		emit_accept_encoding(w, h); /* response scrubbing: only codings it can decode */
		return 0;
	}
	emit_field(w, h->name, h->value.ptr, h->value.len);
	return 0;
}

static void emit_request_line(struct rw *w)
{
	emit_s(w, w->req->method);
	emit(w, " ", 1);
	if (w->ctx->target.len == 0 || w->ctx->target.ptr[0] == '?')
		emit(w, "/", 1);
	emit_s(w, w->ctx->target);
	emit_c(w, w->req->version_minor == 1 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
}

static void emit_connection(struct rw *w)
{
	if (w->websocket)
		emit_c(w, "Connection: Upgrade\r\n");
	else if (!w->req->keep_alive)
		emit_c(w, "Connection: close\r\n");
	else if (w->req->version_minor == 0)
		emit_c(w, "Connection: keep-alive\r\n");
}

static int rewrite(struct rw *w)
{
	const struct kh_rw_ctx *ctx = w->ctx;
	const struct kh_http_head *req = w->req;
	const struct kh_cred *c;

	w->websocket = req->conn_upgrade && kh_slice_eq_cstr_nocase(req->upgrade, "websocket");
	w->res->upgrade = w->websocket;
	if (collect_connection(w) != 0)
		return -1;
	if ((c = kh_policy_token_scan(ctx->policy, ctx->target)) != NULL) {
		w->res->token_in_target = true;
		return misplaced(w, c, "the request target");
	}
	if ((c = kh_policy_token_scan(ctx->policy, req->method)) != NULL)
		return misplaced(w, c, "the request method");
	if ((c = kh_policy_token_scan(ctx->policy, kh_slice_cstr(ctx->host))) != NULL)
		return misplaced(w, c, "the destination host name");
	emit_request_line(w);
	if (!req->has_host)
		emit_authority_host(w, KH_SLICE_LIT("Host"));
	for (size_t i = 0; i < req->n_headers; i++)
		if (one_field(w, &req->headers[i]) != 0)
			return -1;
	emit_connection(w);
	emit(w, "\r\n", 2);
	if (w->overflow)
		return refuse(w, 431, "header_too_large", "request head too large after rewriting");
	return 0;
}

int kh_rewrite_request(const struct kh_rw_ctx *ctx, const struct kh_http_head *req,
		       struct kh_buf *out, struct kh_rw_result *res)
{
	struct rw w = { .ctx = ctx, .req = req, .out = out, .res = res };
	size_t before = kh_buf_len(out);
	struct kh_resign rs;
	int signed_again;

	memset(res, 0, sizeof *res);
	/* AWS SigV4 with the sandbox's fake keys: continue with the re-signed head. */
	if ((signed_again = kh_resign_request(ctx, req, &rs, res)) < 0)
		return -1;
	if (signed_again > 0)
		w.req = &rs.head;
	if (rewrite(&w) == 0)
		return 0;
	kh_buf_truncate(out, before); /* nothing of a refused request goes out */
	return -1;
}
