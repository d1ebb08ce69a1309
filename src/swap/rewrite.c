#include "swap/rewrite.h"

#include "swap/respscrub.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/b64.h"
#include "policy/admit.h"
#include "swap/resign.h"
#include "base/kh_limits.h"

#define DECODE_OVERLAP (KH_TOKEN_MAX) /* so no token straddles two windows unseen */

/* A query parameter value that is a token to be swapped. */
struct qswap {
	size_t off, len; /* of the value within the target */
	const struct kh_cred *c;
};

struct rw {
	const struct kh_rw_ctx *ctx;
	const struct kh_http_head *req;
	struct kh_buf *out;
	struct kh_rw_result *res;
	struct kh_slice conn_names[KH_MAX_CONNECTION_NAMES];
	size_t n_conn_names;
	bool websocket;
	bool overflow;
	struct qswap qs[KH_MAX_SWAPS];
	size_t n_qs;
	bool injected; /* a real secret goes into this head */
	bool has_accept_encoding;
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
			if (w->n_conn_names < KH_MAX_CONNECTION_NAMES)
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

/* Records on whose behalf the request is made: a sandbox token names its
 * sandbox (audit records carry the label). */
static void note_sandbox(struct rw *w, const struct kh_cred *c)
{
	if (c->grant != NULL && w->res->sandbox[0] == '\0')
		snprintf(w->res->sandbox, sizeof w->res->sandbox, "%s", c->grant->label);
}

/* A sandbox token is only swapped while it is live: 401 once revoked or
 * expired, 429 once its request budget is spent. Each swap counts. */
static int check_grant(struct rw *w, const struct kh_cred *c)
{
	static const char *const fix = "ask the operator for a new one (keyhole token issue)";

	switch (kh_grant_use(c->grant, c->token, (int64_t)time(NULL))) {
	case KH_GRANT_OK:
		return 0;
	case KH_GRANT_REVOKED:
		return refuse(w, 401, "token_revoked",
			      "the sandbox token for %s (sandbox %s) was revoked; %s", c->env_name,
			      w->res->sandbox, fix);
	case KH_GRANT_EXPIRED:
		return refuse(w, 401, "token_expired",
			      "the sandbox token for %s (sandbox %s) has expired; %s", c->env_name,
			      w->res->sandbox, fix);
	case KH_GRANT_EXHAUSTED:
		return refuse(w, 429, "token_budget_exhausted",
			      "the sandbox token for %s (sandbox %s) has used its budget of %llu "
			      "requests; %s",
			      c->env_name, w->res->sandbox, (unsigned long long)c->grant->budget,
			      fix);
	}
	return -1;
}

/* Refusal for a token found where it is not swapped. Toward a host the
 * token does not belong to it is a leak attempt (the tripwire); toward its
 * own host it is a client putting it in the wrong place. */
static int misplaced(struct rw *w, const struct kh_cred *c, const char *where)
{
	char host[KH_HOST_BUF];

	note_sandbox(w, c);
	/* The destination itself may be what carries the token: never echo it. */
	kh_policy_redact(w->ctx->policy, kh_slice_cstr(w->ctx->host), host, sizeof host);
	if (!kh_cred_host_ok(c, w->ctx->host))
		return refuse(w, 403, "token_leak_attempt",
			      "the proxy token for %s (in %s) may only be sent to its own hosts, "
			      "not %s",
			      c->env_name, where, host);
	return refuse(w, 403, "token_misplaced",
		      "a proxy token for %s appears in %s to %s, where keyhole does not swap it",
		      c->env_name, where, host);
}

/* A token in a host name position is never in the right place. */
static int leak_in_name(struct rw *w, const struct kh_cred *c, const char *where)
{
	note_sandbox(w, c);
	return refuse(w, 403, "token_leak_attempt",
		      "a proxy token for %s appears in %s; it is never sent anywhere", c->env_name,
		      where);
}

/* Percent-decodes s into windows and scans each, so %-encoding a token does
 * not hide it from the check (the upstream would decode it). */
static const struct kh_cred *scan_decoded(const struct kh_policy *p, struct kh_slice s)
{
	char win[KH_REWRITE_DECODE_WINDOW];
	size_t n = 0, i = 0;
	uint64_t v;

	if (kh_slice_find(s, '%') < 0)
		return NULL;
	while (i < s.len) {
		const struct kh_cred *c;

		if (s.ptr[i] == '%' && i + 2 < s.len &&
		    kh_slice_hex_to_u64(kh_slice_make(s.ptr + i + 1, 2), 255, &v) == 0) {
			win[n++] = (char)v;
			i += 3;
		} else {
			win[n++] = s.ptr[i++];
		}
		if (n < sizeof win && i < s.len)
			continue;
		if ((c = kh_policy_token_scan(p, kh_slice_make(win, n))) != NULL)
			return c;
		if (n > DECODE_OVERLAP) {
			memmove(win, win + n - DECODE_OVERLAP, DECODE_OVERLAP);
			n = DECODE_OVERLAP;
		}
	}
	return NULL;
}

/* Any token in s, as written or percent-decoded. */
static const struct kh_cred *scan_any(const struct kh_policy *p, struct kh_slice s)
{
	const struct kh_cred *c = kh_policy_token_scan(p, s);

	return c != NULL ? c : scan_decoded(p, s);
}

/* May cred's real value be injected toward this destination? */
static int check_injection(struct rw *w, const struct kh_cred *c, const char *where)
{
	struct kh_verdict v;

	note_sandbox(w, c);
	if (!kh_cred_host_ok(c, w->ctx->host))
		return misplaced(w, c, where);
	if (!kh_admit_cleartext(w->ctx->policy, w->ctx->host, w->ctx->tls, c->env_name, &v))
		return refuse(w, v.status, v.reason, "%s", v.detail);
	/* a dead sandbox token hears that, even when the real value is missing */
	if (c->grant != NULL && check_grant(w, c) != 0)
		return -1;
	if (c->secret == NULL)
		return refuse(w, 503, "credential_unavailable",
			      "cannot send %s to %s: its real value is not loaded in keyhole "
			      "(the variable was not set when the daemon started)",
			      c->env_name, w->ctx->host);
	if (w->res->n_swapped < KH_MAX_SWAPS)
		w->res->swapped[w->res->n_swapped++] = c->env_name;
	w->injected = true;
	return 0;
}

/* Does value have the form of location l with c's token in it? On a match
 * pre and suf are the bytes around the token, kept as the client sent them. */
static bool header_form(const struct kh_cred *c, const struct kh_location *l, struct kh_slice v,
			struct kh_slice *pre, struct kh_slice *suf)
{
	const char *hole = strstr(l->tmpl, "{}");
	size_t p = hole ? (size_t)(hole - l->tmpl) : 0, sl = hole ? strlen(hole + 2) : 0;

	if (l->kind == KH_LOC_BEARER && kh_slice_starts_with_nocase(v, "bearer ")) {
		struct kh_slice t = kh_slice_trim_ows(kh_slice_make(v.ptr + 7, v.len - 7));

		*pre = KH_SLICE_LIT("Bearer ");
		*suf = kh_slice_make("", 0);
		return t.len == c->token_len && memcmp(t.ptr, c->token, t.len) == 0;
	}
	/* bearer also takes the bare token (as before locations existed) */
	if (v.len != p + c->token_len + sl || memcmp(v.ptr + p, c->token, c->token_len) != 0)
		return false;
	*pre = kh_slice_make(v.ptr, p);
	*suf = kh_slice_make(v.ptr + p + c->token_len, sl);
	/* The scheme word before the token is case-insensitive ("token", "Token"). */
	return kh_slice_eq_nocase(*pre, kh_slice_make(l->tmpl, p)) &&
	       kh_slice_eq(*suf, kh_slice_make(hole ? hole + 2 : "", sl));
}

/* c's location matching this header field, with the bytes around the token. */
static const struct kh_location *field_location(const struct kh_cred *c,
						const struct kh_http_header *h,
						struct kh_slice *pre, struct kh_slice *suf)
{
	bool auth = kh_slice_eq_cstr_nocase(h->name, "authorization");

	for (size_t i = 0; i < c->n_locs; i++) {
		const struct kh_location *l = &c->locs[i];

		if ((l->kind == KH_LOC_BEARER && auth) ||
		    (l->kind == KH_LOC_HEADER && kh_slice_eq_cstr_nocase(h->name, l->name)))
			if (header_form(c, l, h->value, pre, suf))
				return l;
	}
	return NULL;
}

static void emit_b64(void *arg, const char *p, size_t n)
{
	emit(arg, p, n);
}

/* Any token in a Basic value that is not valid base64, at every alignment a
 * lenient decoder could use. */
static const struct kh_cred *scan_loose_b64(const struct kh_policy *p, struct kh_slice b)
{
	uint8_t plain[KH_MAX_BASIC_B64];

	for (unsigned skip = 0; skip < 4; skip++) {
		size_t n = kh_b64_decode_loose(b.ptr, b.len, skip, plain, sizeof plain);
		const struct kh_cred *c = kh_policy_token_scan(p, kh_slice_make(plain, n));

		if (c != NULL)
			return c;
	}
	return NULL;
}

/* One side (user or password) of Basic credentials: 0 if it holds no token,
 * 1 if it is exactly a token to swap (*out set), -1 on refusal. */
static int basic_part(struct rw *w, struct kh_slice part, const struct kh_cred **out)
{
	const struct kh_cred *c = kh_policy_token_exact(w->ctx->policy, part);

	*out = NULL;
	if (c == NULL) {
		c = kh_policy_token_scan(w->ctx->policy, part);
		return c == NULL ? 0 : misplaced(w, c, "Authorization: Basic credentials");
	}
	if (kh_cred_location(c, KH_LOC_BASIC, part) == NULL)
		return misplaced(w, c, "Authorization: Basic credentials");
	if (check_injection(w, c, "Authorization: Basic credentials") != 0)
		return -1;
	*out = c;
	return 1;
}

static void emit_basic(struct rw *w, struct kh_slice name, struct kh_slice user,
		       const struct kh_cred *cu, struct kh_slice pass, const struct kh_cred *cp)
{
	struct kh_b64_enc e;

	emit_s(w, name);
	emit_c(w, ": Basic ");
	kh_b64_enc_init(&e, emit_b64, w);
	if (cu != NULL)
		kh_b64_enc_put(&e, cu->secret, cu->secret_len);
	else
		kh_b64_enc_put(&e, user.ptr, user.len);
	kh_b64_enc_put(&e, ":", 1);
	if (cp != NULL)
		kh_b64_enc_put(&e, cp->secret, cp->secret_len);
	else
		kh_b64_enc_put(&e, pass.ptr, pass.len);
	kh_b64_enc_finish(&e);
	emit(w, "\r\n", 2);
}

/* Authorization: Basic base64(user:pass) with a token as user or password
 * (as git and package registries send it): decoded, swapped, re-encoded.
 * Returns 1 if emitted, 0 if left as it is, -1 on refusal. */
static int try_basic(struct rw *w, const struct kh_http_header *h)
{
	struct kh_slice b = kh_slice_trim_ows(kh_slice_make(h->value.ptr + 6, h->value.len - 6));
	uint8_t plain[KH_MAX_BASIC_B64];
	const struct kh_cred *c, *cu, *cp;
	struct kh_slice user, pass;
	long n, colon;
	int ru, rp;

	if (b.len > KH_MAX_BASIC_B64)
		return refuse(w, 431, "header_too_large",
			      "Authorization: Basic credentials longer than %d bytes",
			      KH_MAX_BASIC_B64);
	n = kh_b64_decode(b.ptr, b.len, plain, sizeof plain);
	colon = n < 0 ? -1 : kh_slice_find(kh_slice_make(plain, (size_t)n), ':');
	if (colon >= 0) {
		user = kh_slice_make(plain, (size_t)colon);
		pass = kh_slice_make(plain + colon + 1, (size_t)n - (size_t)colon - 1);
		if ((ru = basic_part(w, user, &cu)) < 0 || (rp = basic_part(w, pass, &cp)) < 0)
			return -1;
		if (ru > 0 || rp > 0) {
			emit_basic(w, h->name, user, cu, pass, cp);
			return 1;
		}
	}
	/* Not swapped: it goes out as it is, so no decoding of it, however
	 * lenient or misaligned, may reveal a token. */
	c = scan_loose_b64(w->ctx->policy, b);
	return c == NULL ? 0 : misplaced(w, c, "Authorization: Basic credentials");
}

/* Swaps a credential field if it carries a token in one of its mapping's
 * locations. Returns 1 if emitted, 0 if not a swap position, -1 on refusal. */
static int try_swap(struct rw *w, const struct kh_http_header *h)
{
	struct kh_slice pre, suf;
	const struct kh_location *l;
	const struct kh_cred *c;

	if (kh_slice_eq_cstr_nocase(h->name, "authorization") &&
	    kh_slice_starts_with_nocase(h->value, "basic "))
		return try_basic(w, h);
	c = kh_policy_token_scan(w->ctx->policy, h->value);
	if (c == NULL || (l = field_location(c, h, &pre, &suf)) == NULL)
		return 0;
	if (check_injection(w, c, "a credential header") != 0)
		return -1;
	emit_s(w, h->name);
	emit(w, ": ", 2);
	emit_s(w, pre);
	emit(w, c->secret, c->secret_len);
	emit_s(w, suf);
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

/* Fields that ask for part of a representation. Request-Range is the old
 * spelling some servers (Apache httpd) still honour. */
static bool range_field(struct kh_slice name)
{
	return kh_slice_eq_cstr_nocase(name, "range") ||
	       kh_slice_eq_cstr_nocase(name, "if-range") ||
	       kh_slice_eq_cstr_nocase(name, "request-range");
}

static bool scrubbing(const struct rw *w)
{
	return w->ctx->policy->scrub.n > 0;
}

/* Range fields wait until every field is seen (the credential may come
 * after them): a request carrying a real secret must be answered whole, or
 * a key echoed in its response could arrive split across two 206 bodies,
 * each scrubbed on its own. Without a secret they go out as sent. */
static void emit_range_fields(struct rw *w)
{
	w->res->whole_response = scrubbing(w) && w->injected;
	if (w->res->whole_response)
		return;
	for (size_t i = 0; i < w->req->n_headers; i++) {
		const struct kh_http_header *h = &w->req->headers[i];

		if (range_field(h->name) && !hop_by_hop(w, h->name, h->value))
			emit_field(w, h->name, h->value.ptr, h->value.len);
	}
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
		if ((c = scan_any(w->ctx->policy, h->value)) != NULL)
			return leak_in_name(w, c, "the Host header");
		if (w->ctx->absolute) {
			emit_authority_host(w, h->name);
			return 0;
		}
		if (check_host(w, h->value) != 0)
			return -1;
	} else if ((r = try_swap(w, h)) != 0) {
		return r < 0 ? -1 : 0;
	}
	c = scan_any(w->ctx->policy, h->value);
	if (c != NULL)
		return misplaced(w, c, "a request header");
	if (scrubbing(w) && kh_slice_eq_cstr_nocase(h->name, "accept-encoding")) {
		emit_accept_encoding(w, h); /* response scrubbing: only codings it can decode */
		w->has_accept_encoding = true;
		return 0;
	}
	if (scrubbing(w) && range_field(h->name))
		return 0; /* emit_range_fields decides */
	emit_field(w, h->name, h->value.ptr, h->value.len);
	return 0;
}

/* A token in target bytes that are not a query swap is refused. */
static int check_target_part(struct rw *w, struct kh_slice part)
{
	const struct kh_cred *c = scan_any(w->ctx->policy, part);

	if (c == NULL)
		return 0;
	w->res->token_in_target = true;
	return misplaced(w, c, "the request target");
}

/* ?NAME=<token> for a query location of the token's mapping: remembered so
 * the request line swaps exactly that value. 1 = swap, 0 = not one. */
static int query_param(struct rw *w, size_t at, size_t end)
{
	const struct kh_slice t = w->ctx->target;
	struct kh_slice param = kh_slice_make(t.ptr + at, end - at);
	long eq = kh_slice_find(param, '=');
	struct kh_slice name, value;
	const struct kh_cred *c;

	if (eq < 0)
		return 0;
	name = kh_slice_make(param.ptr, (size_t)eq);
	value = kh_slice_make(param.ptr + eq + 1, param.len - (size_t)eq - 1);
	c = kh_policy_token_exact(w->ctx->policy, value);
	if (c == NULL || kh_cred_location(c, KH_LOC_QUERY, name) == NULL)
		return 0;
	if (w->n_qs == KH_MAX_SWAPS)
		return refuse(w, 400, "bad_request", "more than %d credentials in the query",
			      KH_MAX_SWAPS);
	if (check_injection(w, c, "the query") != 0)
		return -1;
	w->qs[w->n_qs++] = (struct qswap){ at + (size_t)eq + 1, value.len, c };
	return 1;
}

/* Finds the query swaps and checks every other byte of the target. */
static int scan_target(struct rw *w)
{
	const struct kh_slice t = w->ctx->target;
	long q = kh_slice_find(t, '?');
	size_t done = 0;

	for (size_t at = q < 0 ? t.len : (size_t)q + 1; at < t.len;) {
		size_t end = at;
		int r;

		while (end < t.len && t.ptr[end] != '&')
			end++;
		if ((r = query_param(w, at, end)) < 0)
			return -1;
		if (r > 0) {
			const struct qswap *s = &w->qs[w->n_qs - 1];

			if (check_target_part(w, kh_slice_make(t.ptr + done, s->off - done)) != 0)
				return -1;
			done = s->off + s->len;
		}
		at = end + 1;
	}
	return check_target_part(w, kh_slice_make(t.ptr + done, t.len - done));
}

/* A secret in a query is percent-encoded unless it is RFC 3986 unreserved. */
static void emit_query_secret(struct rw *w, const struct kh_cred *c)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < c->secret_len; i++) {
		unsigned char b = (unsigned char)c->secret[i];
		char enc[3] = { '%', hex[b >> 4], hex[b & 15] };

		if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
		    b == '-' || b == '.' || b == '_' || b == '~')
			emit(w, &c->secret[i], 1);
		else
			emit(w, enc, 3);
	}
}

/* The target byte for byte, except the swapped query values. */
static void emit_request_line(struct rw *w)
{
	const struct kh_slice t = w->ctx->target;
	size_t done = 0;

	emit_s(w, w->req->method);
	emit(w, " ", 1);
	if (t.len == 0 || t.ptr[0] == '?')
		emit(w, "/", 1);
	for (size_t i = 0; i < w->n_qs; i++) {
		emit(w, t.ptr + done, w->qs[i].off - done);
		emit_query_secret(w, w->qs[i].c);
		done = w->qs[i].off + w->qs[i].len;
	}
	emit(w, t.ptr + done, t.len - done);
	emit_c(w, w->req->version_minor == 1 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
}

/* keyhole owns the upstream hop's Connection. An HTTP/1.1 client's "close"
 * ends its own connection only (relay.c closes it after the response): the
 * upstream leg stays persistent (HTTP/1.1's default, so nothing is sent) and
 * can go back to the pool. An HTTP/1.0 request goes upstream as HTTP/1.0,
 * where persistence is opt-in, so the client's choice is passed on as is. */
static void emit_connection(struct rw *w)
{
	if (w->websocket)
		emit_c(w, "Connection: Upgrade\r\n");
	else if (w->req->version_minor == 0)
		emit_c(w,
		       w->req->keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
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
	if ((c = kh_policy_token_scan(ctx->policy, kh_slice_cstr(ctx->host))) != NULL)
		return leak_in_name(w, c, "the destination host name");
	if (scan_target(w) != 0)
		return -1;
	if ((c = kh_policy_token_scan(ctx->policy, req->method)) != NULL)
		return misplaced(w, c, "the request method");
	emit_request_line(w);
	if (!req->has_host)
		emit_authority_host(w, KH_SLICE_LIT("Host"));
	for (size_t i = 0; i < req->n_headers; i++)
		if (one_field(w, &req->headers[i]) != 0)
			return -1;
	if (scrubbing(w)) {
		emit_range_fields(w);
		/* No Accept-Encoding means any coding will do (RFC 9110 12.5.3):
		 * say which ones the scrubber can read. */
		if (!w->has_accept_encoding)
			emit_c(w, "Accept-Encoding: identity\r\n");
	}
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
