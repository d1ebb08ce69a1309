/* Connection lifecycle: accept, the state machine driver, timeouts, the
 * client side of CONNECT (200, then TLS interception with a minted leaf),
 * keyhole-generated error responses, audit records, the raw tunnel after a
 * 101, and close/linger. The protocol inside is reached through c->proto. */
#include "proxy/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/audit.h"
#include "proxy/auditgate.h"
#include "base/check.h"
#include "policy/cidr.h"
#include "base/clock.h"
#include "base/log.h"
#include "event/mempipe.h"
#include "policy/mappings.h"
#include "proxy/metrics.h"
#include "swap/respscrub.h"
#include "tls/tlspeek.h"
#include "privsep/chan.h"

static void start_tls_accept(struct kh_conn *c);
static void open_fail(struct kh_conn *c, int status, const char *reason, const char *why);
static void open_ok(struct kh_conn *c, enum kh_conn_mode mode);

/* --- small helpers --- */

static void touch(struct kh_conn *c)
{
	c->last_activity_ms = kh_loop_now(c->cx->loop);
}

static const char *mode_name(const struct kh_conn *c)
{
	if (c->kind == KH_LISTEN_TRANSPARENT_TLS && c->mode != KH_MODE_MITM)
		return "transparent";
	if (strcmp(c->ex->method, "CONNECT") == 0)
		return "connect";
	return c->mode == KH_MODE_MITM ? "mitm" : "http";
}

bool kh_conn_audit(struct kh_conn *c, const struct kh_exchange *ex, const char *decision,
		   const char *reason, const char *detail)
{
	char source[KH_SOURCE_MAX];
	bool connect = strcmp(ex->method, "CONNECT") == 0;
	const char *scrubbed[KH_SCRUB_TALLY];
	uint64_t scrub_counts[KH_SCRUB_TALLY];
	struct kh_audit_rec r = {
		.client = c->client,
		.mode = mode_name(c),
		.method = ex->method[0] ? ex->method : "-",
		.host = c->host,
		.port = c->port,
		.path = connect ? NULL : ex->path,
		.status = ex->status,
		.bytes_in = ex->bytes_in,
		.bytes_out = ex->bytes_out,
		.duration_us = ex->started_us ? kh_mono_us() - ex->started_us : 0,
		.decision = decision,
		.reason = reason,
		.detail = detail,
		.swapped = ex->swapped,
		.n_swapped = ex->n_swapped,
		.sni = c->sni.got,
		/* the connection's own sandbox, else the one whose token it used */
		.sandbox = c->sandbox_label[0] ? c->sandbox_label : ex->sandbox,
		.scrubbed = scrubbed,
		.scrub_counts = scrub_counts,
		.n_scrubbed = kh_rscrub_tally(ex->scrub, scrubbed, scrub_counts, KH_SCRUB_TALLY),
		.redact = &c->policy->redact,
	};

	/* An admitted request is always written whole; a refusal may be folded
	 * (auditgate.h), so a client hammering refusals cannot flood the log. */
	if (strcmp(decision, "allow") == 0 || ex->admitted) {
		kh_audit_write(&r);
		return true;
	}
	kh_conn_source(c, source, sizeof source);
	if (kh_auditgate_write(&r, source))
		return true;
	kh_wctx_audit_folded(c->cx);
	return false;
}

bool kh_conn_fill(struct kh_conn *c, struct kh_endpoint *ep, struct kh_buf *b)
{
	bool progress = false;

	while (kh_ep_can_read(ep)) {
		size_t avail;
		uint8_t *t = kh_buf_tail(b, &avail);
		ssize_t n;

		if (t == NULL)
			break; /* full: backpressure until the consumer drains it */
		n = kh_ep_read(ep, t, avail);
		if (n == KH_IO_AGAIN)
			break;
		progress = true;
		if (n <= 0)
			break; /* EOF or error: flags on ep say which */
		kh_buf_produced(b, (size_t)n);
		touch(c);
	}
	return progress;
}

bool kh_conn_flush(struct kh_conn *c, struct kh_endpoint *ep, struct kh_buf *b)
{
	bool progress = false;

	while (kh_buf_len(b) > 0 && kh_ep_can_write(ep)) {
		ssize_t n = kh_ep_write(ep, kh_buf_data(b), kh_buf_len(b));

		if (n == KH_IO_AGAIN)
			break;
		progress = true;
		if (n < 0)
			break;
		kh_buf_consume(b, (size_t)n);
		touch(c);
	}
	kh_buf_release_if_empty(b);
	return progress;
}

/* --- lifecycle --- */

static void free_conn(struct kh_conn *c)
{
	c->proto->free(c);
	free(c);
}

static void reap(struct kh_task *t)
{
	struct kh_conn *c = container_of(t, struct kh_conn, reap);

	if (c->resume_queued) {
		c->free_on_resume = true; /* the posted resume task still points at c */
		return;
	}
	free_conn(c);
}

static void unlink_conn(struct kh_conn *c)
{
	struct kh_wctx *cx = c->cx;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		cx->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	cx->n_conns--;
	if (c->stream_count != NULL)
		atomic_fetch_sub(c->stream_count, 1);
	if (!c->keyside) /* counted as its front's connection */
		kh_shared_conn_leave(cx->sh);
}

void kh_conn_close(struct kh_conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	if (c->leaf_waiting && c->cx->leaf_cancel != NULL)
		c->cx->leaf_cancel(c->cx, c);
	kh_wctx_note_churn(c->cx);
	kh_timer_cancel(c->cx->loop, &c->timer);
	kh_conn_park_upstream(c);
	kh_dial_reset(&c->up);
	kh_ep_close(c->cx->loop, &c->cli);
	kh_buf_free(&c->cin);
	c->proto->close(c); /* before the policy its exchanges' filters use */
	kh_buf_free(&c->cout);
	kh_buf_free(&c->uin);
	kh_buf_free(&c->uout);
	unlink_conn(c);
	kh_policy_unref(c->policy);
	c->policy = NULL;
	/* Events for c may still be queued in this batch; free it afterwards. */
	c->reap.cb = reap;
	kh_loop_defer(c->cx->loop, &c->reap);
}

void kh_conn_set_state(struct kh_conn *c, enum kh_conn_state s)
{
	c->state = s;
	c->phase_start_ms = kh_loop_now(c->cx->loop);
}

/* --- timeouts --- */

static uint64_t deadline(const struct kh_conn *c)
{
	const struct kh_timeouts *t = &c->policy->timeouts;

	switch (c->state) {
	case KH_CS_CONNECTING:
		return c->phase_start_ms + kh_secs_ms(t->connect) + kh_secs_ms(t->handshake);
	case KH_CS_CONNECT_OK:
	case KH_CS_TLS_ACCEPT:
	case KH_CS_SNI_PEEK:
	case KH_CS_OPEN_WAIT:
	case KH_CS_CERT_WAIT:
		return c->phase_start_ms + kh_secs_ms(t->handshake);
	case KH_CS_RELAY:
		return c->proto->deadline(c);
	case KH_CS_TUNNEL:
		return c->last_activity_ms + kh_secs_ms(t->idle);
	case KH_CS_CLOSING:
		return c->phase_start_ms + KH_CLOSING_MS;
	default:
		return c->phase_start_ms + KH_LINGER_MS;
	}
}

static void rearm(struct kh_conn *c)
{
	uint64_t now = kh_loop_now(c->cx->loop), d = deadline(c);

	kh_timer_after(c->cx->loop, &c->timer, d > now ? d - now : 1);
}

static void timed_out(struct kh_conn *c)
{
	char detail[KH_DETAIL_MAX];

	switch (c->state) {
	case KH_CS_CONNECTING:
		kh_fmt(detail, sizeof detail, "connecting to %s:%u timed out", c->host, c->port);
		kh_conn_fail(c, 504, "upstream_timeout", detail);
		break;
	case KH_CS_RELAY:
		c->proto->timeout(c);
		break;
	default:
		kh_conn_close(c);
		break;
	}
}

static void on_timer(struct kh_timer *t)
{
	struct kh_conn *c = container_of(t, struct kh_conn, timer);

	if (c->dead)
		return;
	if (kh_loop_now(c->cx->loop) < deadline(c)) {
		rearm(c);
		return;
	}
	timed_out(c);
	if (!c->dead)
		kh_conn_run(c);
}

/* --- error responses --- */

static const char *status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 408:
		return "Request Timeout";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
}

/* host is NULL when it may not be named (see hide_from_sandbox). */
static void error_body(const struct kh_conn *c, const char *host, const char *reason,
		       const char *detail, char *out, size_t len)
{
	const char *config = c->policy->config_path[0] ? c->policy->config_path : "config.yaml";

	if (strcmp(reason, "host_not_allowed") == 0)
		kh_fmt(out, len,
		       "keyhole: %s is not on the allowlist, so this request was refused.\n"
		       "To allow it, add it to extra_allowed_hosts in %s and restart keyhole.\n",
		       host ? host : "this host", config);
	else if (strcmp(reason, "port_not_allowed") == 0 && host != NULL)
		kh_fmt(out, len,
		       "keyhole: %s\nTo allow it, add the port to allowed_ports in %s, e.g. "
		       "allowed_ports: {\"%s\": [%u]}, and restart keyhole.\n",
		       detail, config, host, c->port);
	else if (strcmp(reason, "port_not_allowed") == 0)
		kh_fmt(out, len,
		       "keyhole: port %u on this host is not allowed, so this request was "
		       "refused.\nTo allow it, add the port to allowed_ports in %s and restart "
		       "keyhole.\n",
		       c->port, config);
	else
		kh_fmt(out, len, "keyhole: %s\n", detail ? detail : reason);
}

/* A front without the keys (privsep) redacts tokens only, so a real key the
 * sandbox wrote into a host name (as hex DNS labels, say) would come back in
 * the answer as it was sent. It knows how long the shortest key is: a host
 * name shorter than that holds no key in any form (each is at least as long
 * as the key) and is named; a longer one is not, nor a detail that quotes
 * it. The record names it either way, redacted by the daemon. */
static void hide_from_sandbox(const struct kh_conn *c, const char **host, const char **detail)
{
	const struct kh_policy *p = c->policy;

	if (!p->key_free || p->shortest_key == 0 || strlen(c->host) < p->shortest_key)
		return;
	*host = NULL;
	if (*detail != NULL && c->host[0] != '\0' && strstr(*detail, c->host) != NULL)
		*detail = "(this message named the host; `keyhole log` on the host machine shows "
			  "it)";
}

/* Appends a complete "Connection: close" response to cout. */
static int queue_response(struct kh_conn *c, int status, const char *reason, const char *body,
			  bool head_only)
{
	char head[512];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n%s%s%s\r\n",
			 status, status_text(status), strlen(body),
			 reason ? "X-Keyhole-Reason: " : "", reason ? reason : "",
			 reason ? "\r\n" : "");

	if (n < 0 || (size_t)n >= sizeof head || kh_buf_append(&c->cout, head, (size_t)n) != 0 ||
	    (!head_only && kh_buf_append_str(&c->cout, body) != 0))
		return -1;
	return 0;
}

void kh_conn_reply(struct kh_conn *c, int status, const char *reason, const char *body,
		   bool head_only)
{
	if (queue_response(c, status, reason, body, head_only) != 0) {
		kh_conn_close(c);
		return;
	}
	kh_conn_set_state(c, KH_CS_CLOSING);
}

void kh_conn_fail(struct kh_conn *c, int status, const char *reason, const char *why)
{
	char body[KH_ERROR_RESPONSE_MAX - 256], detail_copy[KH_DETAIL_MAX], host[KH_HOST_BUF];
	const char *detail = NULL, *shown_host;
	bool deny = status < 500 && status != 408;
	/* A token headed somewhere it does not belong is worth an operator's eye. */
	bool leak = reason != NULL && strcmp(reason, "token_leak_attempt") == 0;

	if (c->keyside && (c->state == KH_CS_OPEN_WAIT || c->state == KH_CS_CONNECTING)) {
		open_fail(c, status, reason, why); /* the front answers and records it */
		return;
	}

	/* Both go to the log, the audit record and the client: whatever of the
	 * sandbox's bytes they quote must not carry a token or key in any form. */
	if (why != NULL) { /* it may point into c->up, which is reset below */
		kh_policy_redact(c->policy, kh_slice_cstr(why), detail_copy, sizeof detail_copy);
		detail = detail_copy;
	}
	kh_policy_redact(c->policy, kh_slice_cstr(c->host), host, sizeof host);
	if (!c->ex->resp_started)
		c->ex->status = status;
	if (kh_conn_audit(c, c->ex, deny ? "deny" : "error", reason,
			  detail)) /* else folded: not logged either */
		kh_log(deny && !leak ? KH_LOG_INFO : KH_LOG_WARN, "%s %s %s:%u -> %d %s%s%s",
		       c->client, c->ex->method, host, c->port, status, reason, detail ? ": " : "",
		       detail ? detail : "");
	kh_dial_reset(&c->up);
	if (c->ex->resp_started || c->cli.failed ||
	    (c->kind == KH_LISTEN_TRANSPARENT_TLS && c->cli.ssl == NULL && !c->keyside)) {
		/* A response is half-sent, or the client expects TLS, not HTTP:
		 * all we can do is cut the connection (the audit record says why). */
		kh_conn_close(c);
		return;
	}
	c->ex->active = false;
	c->ex->status = status;
	shown_host = host;
	hide_from_sandbox(c, &shown_host, &detail);
	error_body(c, shown_host, reason, detail, body, sizeof body);
	kh_conn_reply(c, status, reason, body, c->ex->head_method);
}

/* --- CONNECT --- */

void kh_conn_refuse(struct kh_conn *c, const struct kh_verdict *v)
{
	char shown[KH_HOST_BUF];

	if (v->host_has_token) { /* never shown, logged or recorded as it is */
		kh_policy_redact(c->policy, kh_slice_cstr(c->host), shown, sizeof shown);
		memcpy(c->host, shown, sizeof c->host);
	}
	kh_conn_fail(c, v->status, v->reason, v->detail[0] ? v->detail : NULL);
}

bool kh_conn_admit(struct kh_conn *c, enum kh_admit_entry e)
{
	struct kh_verdict v;

	if (kh_admit(c->policy, e, c->host, c->port, &v))
		return true;
	kh_conn_refuse(c, &v);
	return false;
}

void kh_conn_start_connect(struct kh_conn *c, const struct kh_http_head *h)
{
	int kind = kh_authority_parse(h->target, 0, c->host, &c->port);
	struct kh_verdict v;

	kh_buf_consume(&c->cin, h->head_len);
	c->ex->active = true;
	c->ex->started_us = kh_mono_us();
	snprintf(c->ex->method, sizeof c->ex->method, "CONNECT");
	c->ex->path[0] = '\0';
	if (kind < 0) {
		snprintf(c->host, sizeof c->host, "?");
		kh_conn_fail(
			c, 400, "bad_request",
			"CONNECT target must be host:port, the host a DNS name, a dotted-quad "
			"IPv4 address or a bracketed IPv6 address (other spellings of numbers, "
			"such as 0x7f000001, are refused)");
		return;
	}
	c->host_is_ip = kind != KH_HOST_NAME;
	/* a token in the host is refused as such before anything else is said */
	if (!kh_admit(c->policy, KH_ENTRY_CONNECT, c->host, c->port, &v) && v.host_has_token) {
		kh_conn_refuse(c, &v);
		return;
	}
	if (h->body != KH_BODY_NONE || kh_buf_len(&c->cin) > 0) {
		kh_conn_fail(c, 400, "bad_request",
			     "CONNECT must not carry data before the tunnel is up");
		return;
	}
	if (!v.admitted) {
		kh_conn_refuse(c, &v);
		return;
	}
	kh_conn_set_state(c, KH_CS_CONNECTING);
	kh_dial_start(&c->up, c->policy, c->host, c->port, true, c->host_is_ip);
}

/* The dial of c->up ended (dial.h): a CONNECT answers 200 (or, transparent,
 * starts the TLS handshake its ClientHello began); a request waiting for it
 * goes out. */
static void up_done(struct kh_upstream *up, bool ok, int status, const char *reason,
		    const char *detail)
{
	struct kh_conn *c = container_of(up, struct kh_conn, up);
	static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";

	if (!ok) {
		kh_conn_fail(c, status, reason, detail);
		return;
	}
	if (c->keyside && c->state == KH_CS_CONNECTING) {
		open_ok(c, KH_MODE_MITM);
		return;
	}
	if (c->state != KH_CS_CONNECTING) {
		c->ex->admitted = c->ex->active; /* a request was waiting: the relay sends it */
		return;
	}
	c->ex->active = false;
	if (c->kind == KH_LISTEN_TRANSPARENT_TLS) {
		start_tls_accept(c); /* the client already sent its ClientHello */
		return;
	}
	if (kh_buf_append(&c->cout, established, sizeof established - 1) != 0) {
		kh_conn_close(c);
		return;
	}
	kh_conn_set_state(c, KH_CS_CONNECT_OK);
}

static void no_leaf(struct kh_conn *c, const char *why)
{
	char host[KH_HOST_BUF];

	kh_policy_redact(c->policy, kh_slice_cstr(c->host), host, sizeof host);
	kh_error("cannot mint a certificate for %s: %s", host, why);
	kh_conn_close(c);
}

/* The client's TLS handshake, served with leaf (borrowed). */
static void accept_with(struct kh_conn *c, X509 *leaf)
{
	struct kh_shared *sh = c->cx->sh;

	c->sni.expected = c->host;
	c->sni.is_ip = c->host_is_ip;
	c->cli.ssl = kh_tls_server_ssl(sh->server_ctx, c->cli.io.fd, leaf, sh->ca.leaf_key,
				       &c->sni);
	if (c->cli.ssl == NULL) {
		kh_conn_close(c);
		return;
	}
	kh_ep_attach_ssl(&c->cli, c->cli.ssl);
	kh_conn_set_state(c, KH_CS_TLS_ACCEPT);
}

/* A cached leaf, else one minted here (the CA key is in this process) or,
 * in a front, asked of the CA signer while the loop serves the others. */
static void start_tls_accept(struct kh_conn *c)
{
	struct kh_shared *sh = c->cx->sh;
	struct kh_err err;
	const char *why = NULL;
	X509 *leaf;

	if (c->cx->leaf_ask == NULL) { /* the CA key is in this process */
		if ((leaf = kh_certcache_get(sh->certs, &sh->ca, c->host, &err)) == NULL) {
			no_leaf(c, err.msg);
			return;
		}
	} else if ((leaf = kh_certcache_lookup(sh->certs, c->host)) == NULL) {
		if (c->cx->leaf_ask(c->cx, c, &why) != 0) {
			no_leaf(c, why);
			return;
		}
		kh_conn_set_state(c, KH_CS_CERT_WAIT);
		rearm(c);
		return;
	}
	accept_with(c, leaf);
	X509_free(leaf); /* the SSL keeps its own reference */
}

void kh_conn_leaf_ready(struct kh_conn *c, X509 *leaf, const char *why)
{
	if (c->dead || c->state != KH_CS_CERT_WAIT)
		return;
	if (leaf == NULL) {
		no_leaf(c, why);
		return;
	}
	accept_with(c, leaf);
	if (!c->dead) {
		rearm(c);
		kh_conn_run(c); /* the ClientHello is likely waiting */
	}
}

/* Transparent TLS: the server name in the ClientHello is the destination.
 * The bytes are only peeked: the TLS handshake later reads them for real. */
static bool step_sni_peek(struct kh_conn *c)
{
	uint8_t hello[KH_CLIENT_HELLO_MAX + 64];
	struct in_addr a4;
	enum kh_tlspeek_result r;
	ssize_t n;

	if (!c->cli.rd_ready)
		return false;
	n = recv(c->cli.io.fd, hello, sizeof hello, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		c->cli.rd_ready = errno == EINTR;
		return false;
	}
	if (n <= 0) {
		kh_conn_close(c);
		return true;
	}
	c->cli.rd_ready = false; /* all that has arrived was seen: wait for more */
	r = kh_tlspeek_sni(hello, (size_t)n, c->host);
	if (r == KH_TLSPEEK_MORE)
		return false;
	snprintf(c->ex->method, sizeof c->ex->method, "CONNECT");
	c->ex->started_us = kh_mono_us();
	c->port = 443;
	if (r != KH_TLSPEEK_SNI) {
		c->host[0] = '\0';
		kh_conn_fail(
			c, 400, "bad_request",
			"a transparent TLS connection must start with a ClientHello naming its "
			"server (SNI)");
		return true;
	}
	/* An IP literal in SNI (RFC 6066 forbids it, but it parses) is dialled as one. */
	c->host_is_ip = strchr(c->host, ':') != NULL || inet_pton(AF_INET, c->host, &a4) == 1;
	if (!kh_conn_admit(c, KH_ENTRY_SNI))
		return true;
	kh_conn_set_state(c, KH_CS_CONNECTING);
	kh_dial_start(&c->up, c->policy, c->host, c->port, true, c->host_is_ip);
	return true;
}

static void tls_accept_failed(struct kh_conn *c)
{
	char detail[KH_DETAIL_MAX], host[KH_HOST_BUF];

	snprintf(c->ex->method, sizeof c->ex->method, "CONNECT");
	c->ex->started_us = kh_mono_us();
	const struct kh_cred *cred = kh_policy_token_scan(c->policy, kh_slice_cstr(c->sni.got));

	/* Redacted into detail but cut to sni.got's size (NUL included), so the
	 * copy back is whole and terminated: the name may carry a token. */
	_Static_assert(sizeof c->sni.got <= sizeof detail, "sni.got fits in detail");
	kh_policy_redact(c->policy, kh_slice_cstr(c->sni.got), detail, sizeof c->sni.got);
	memcpy(c->sni.got, detail, sizeof c->sni.got);
	kh_policy_redact(c->policy, kh_slice_cstr(c->host), host, sizeof host);
	if (cred != NULL) {
		kh_fmt(detail, sizeof detail,
		       "a proxy token for %s appears in the TLS server name inside a tunnel to %s",
		       cred->env_name, host);
		if (kh_conn_audit(c, c->ex, "deny", "token_leak_attempt", detail))
			kh_warn("%s CONNECT %s:%u -> token_leak_attempt: %s", c->client, host,
				c->port, detail);
	} else if (c->sni.mismatch) {
		kh_fmt(detail, sizeof detail, "client asked for %s inside a tunnel to %s",
		       c->sni.got[0] ? c->sni.got : "(no SNI)", host);
		kh_conn_audit(c, c->ex, "deny", "sni_mismatch", detail);
	} else {
		kh_tls_describe_failure(NULL, detail, sizeof detail);
		kh_conn_audit(
			c, c->ex, "error", "client_tls_failed",
			"the client ended the TLS handshake (does it trust keyhole's ca.crt?)");
	}
	kh_conn_close(c);
}

static bool step_tls_accept(struct kh_conn *c)
{
	int r;

	if (!kh_ep_can_handshake(&c->cli))
		return false;
	r = kh_ep_handshake(&c->cli);
	if (r == 0)
		return false;
	if (r < 0) {
		tls_accept_failed(c);
		return true;
	}
	kh_metrics_since(KH_HIST_CLIENT_HANDSHAKE, c->phase_start_ms, kh_loop_now(c->cx->loop));
	kh_wctx_note_churn(c->cx);
	c->mode = KH_MODE_MITM;
	c->ex->method[0] = '\0';
	kh_conn_set_state(c, KH_CS_RELAY);
	return true;
}

/* --- the key holder's end of a stream from a front (privsep) --- */

/* Answers the front's OPEN with frame m (OPEN_OK or OPEN_FAIL) in cout. */
static int open_answer(struct kh_conn *c, const struct kh_chan_msg *m)
{
	struct kh_err err;

	if (kh_chan_encode(m, &c->cout, &err) == 0)
		return 0;
	kh_error("stream to a front: cannot answer its OPEN: %s", err.msg);
	kh_conn_close(c);
	return -1;
}

/* The front answers its client and writes the record; the detail is
 * redacted here, where every key is known. */
static void open_fail(struct kh_conn *c, int status, const char *reason, const char *why)
{
	struct kh_chan_msg m = { .type = KH_CHAN_OPEN_FAIL, .stream = 1 };
	struct kh_chan_fail *f = &m.u.fail;

	f->status = (uint16_t)(status >= 400 && status <= 599 ? status : 502);
	snprintf(f->reason, sizeof f->reason, "%s", reason ? reason : "internal_error");
	if (why != NULL)
		kh_policy_redact(c->policy, kh_slice_cstr(why), f->detail, sizeof f->detail);
	/* the front records it, but a front may lie: the key holder says it too */
	kh_log(status < 500 ? KH_LOG_INFO : KH_LOG_WARN,
	       "stream from %s refused at open: %d %s%s%s", c->client, f->status, f->reason,
	       f->detail[0] ? ": " : "", f->detail);
	for (char *p = f->detail; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?'; /* the frame carries printable ASCII only */
	kh_dial_reset(&c->up);
	if (open_answer(c, &m) == 0)
		kh_conn_set_state(c, KH_CS_CLOSING);
}

static void open_ok(struct kh_conn *c, enum kh_conn_mode mode)
{
	struct kh_chan_msg m = { .type = KH_CHAN_OPEN_OK, .stream = 1 };

	c->mode = mode;
	if (mode == KH_MODE_MITM && !c->host_is_ip) /* the front checked the SNI named it */
		snprintf(c->sni.got, sizeof c->sni.got, "%s", c->host);
	c->ex->active = false;
	c->ex->method[0] = '\0';
	if (open_answer(c, &m) == 0)
		kh_conn_set_state(c, KH_CS_RELAY);
}

/* "unix:pid=N" from a front: the sandbox bound to N, as describe_unix_peer
 * finds it for a client of its own. */
static void label_of_client(struct kh_conn *c)
{
	uint64_t pid;

	if (strncmp(c->client, "unix:pid=", 9) == 0 && c->cx->sh->grants != NULL &&
	    kh_parse_u64(c->client + 9, INT32_MAX, &pid) == 0 && pid > 0)
		kh_grants_label_of(c->cx->sh->grants, (pid_t)pid, c->sandbox_label);
}

/* Takes the OPEN as a client's CONNECT (or first request) would be taken:
 * nothing the front decided is trusted, admission is decided again. */
_Static_assert(KH_ENTRY_HOST + 1 == KH_CHAN_ENTRY_COUNT && KH_ENTRY_CONNECT == 0,
	       "chan.h's entry numbers are admit.h's");

static void apply_open(struct kh_conn *c, const struct kh_chan_open *o)
{
	enum kh_admit_entry e = (enum kh_admit_entry)o->entry;
	struct kh_verdict v;
	int kind = kh_host_normalize(kh_slice_cstr(o->host), c->host);

	snprintf(c->client, sizeof c->client, "%s", o->client);
	snprintf(c->sandbox_label, sizeof c->sandbox_label, "%s", o->label);
	if (c->sandbox_label[0] == '\0')
		label_of_client(c); /* a front process knows no sandbox's pid */
	c->port = o->port;
	c->host_is_ip = kind != KH_HOST_NAME;
	snprintf(c->ex->method, sizeof c->ex->method, "CONNECT");
	c->ex->started_us = kh_mono_us();
	if (e == KH_ENTRY_HOST || e == KH_ENTRY_ABSOLUTE) {
		c->kind = e == KH_ENTRY_HOST ? KH_LISTEN_TRANSPARENT_HTTP : KH_LISTEN_PROXY;
		open_ok(c, KH_MODE_HTTP); /* each request is routed and admitted on its own */
		return;
	}
	if (e != KH_ENTRY_CONNECT && e != KH_ENTRY_SNI) {
		open_fail(c, 502, "internal_error",
			  "a stream can only open a tunnel or carry requests");
		return;
	}
	c->kind = e == KH_ENTRY_SNI ? KH_LISTEN_TRANSPARENT_TLS : KH_LISTEN_PROXY;
	if (!kh_admit(c->policy, e, c->host, c->port, &v)) {
		open_fail(c, v.status, v.reason, v.detail[0] ? v.detail : NULL);
		return;
	}
	kh_conn_set_state(c, KH_CS_CONNECTING);
	kh_dial_start(&c->up, c->policy, c->host, c->port, true, c->host_is_ip);
}

/* Reads the front's OPEN frame: the stream's first bytes, and all of them
 * until it is answered. */
static bool step_open_wait(struct kh_conn *c)
{
	bool progress = kh_conn_fill(c, &c->cli, &c->cin);
	struct kh_chan_hdr h;
	struct kh_chan_msg m;
	struct kh_err err;
	size_t need;

	if (c->cli.failed || c->cli.eof) {
		kh_conn_close(c);
		return true;
	}
	if (kh_buf_len(&c->cin) < KH_CHAN_HDR)
		return progress;
	kh_chan_hdr_read(kh_buf_data(&c->cin), &h);
	need = KH_CHAN_HDR + (size_t)h.len;
	if (h.len > KH_CHAN_FRAME_MAX || need > c->cin.cap) {
		open_fail(c, 502, "internal_error", "the stream's OPEN frame is too large");
		return true;
	}
	if (kh_buf_len(&c->cin) < need)
		return progress;
	if (kh_chan_decode(kh_buf_data(&c->cin), need, &m, &err) != 0 || m.type != KH_CHAN_OPEN ||
	    kh_buf_len(&c->cin) != need) {
		kh_warn("stream from a front refused: %s",
			m.type != KH_CHAN_OPEN ? "it did not start with OPEN" : err.msg);
		open_fail(c, 502, "internal_error", "the stream did not start with one OPEN frame");
		return true;
	}
	kh_buf_consume(&c->cin, need);
	apply_open(c, &m.u.open);
	return true;
}

/* --- closing --- */

static bool step_closing(struct kh_conn *c)
{
	bool progress = kh_conn_flush(c, &c->cli, &c->cout);

	if (c->cli.failed) {
		kh_conn_close(c);
		return true;
	}
	if (kh_buf_len(&c->cout) > 0)
		return progress;
	kh_ep_shutdown_write(&c->cli);
	kh_conn_set_state(c, KH_CS_LINGER);
	return true;
}

/* Reads and drops what the client still sends, so closing with unread
 * input does not turn into a reset that destroys our final response. */
static bool step_linger(struct kh_conn *c)
{
	char sink[4096];
	ssize_t n;

	while (c->cli.rd_ready) {
		n = c->cli.pipe != NULL /* a front on this loop */
			    ? kh_mempipe_read(c->cli.pipe, c->cli.pipe_side, sink, sizeof sink)
			    : recv(c->cli.io.fd, sink, sizeof sink, 0);
		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			c->cli.rd_ready = errno == EINTR;
			continue;
		}
		kh_conn_close(c);
		return true;
	}
	return false;
}

/* --- tunnel (after 101) --- */

static bool step_tunnel(struct kh_conn *c)
{
	bool p = false;

	p |= kh_conn_flush(c, &c->up.ep, &c->uout);
	p |= kh_conn_flush(c, &c->cli, &c->cout);
	if (kh_buf_len(&c->uout) == 0) {
		p |= kh_conn_fill(c, &c->cli, &c->cin);
		p |= kh_conn_flush(c, &c->up.ep, &c->cin);
	}
	if (kh_buf_len(&c->cout) == 0) {
		p |= kh_conn_fill(c, &c->up.ep, &c->uin);
		p |= kh_conn_flush(c, &c->cli, &c->uin);
	}
	if (c->cli.failed || c->up.ep.failed) {
		kh_conn_close(c);
		return true;
	}
	if (c->cli.eof && kh_buf_len(&c->cin) == 0 && !c->up.ep.write_shut)
		kh_ep_shutdown_write(&c->up.ep);
	if (c->up.ep.eof && kh_buf_len(&c->uin) == 0 && !c->cli.write_shut)
		kh_ep_shutdown_write(&c->cli);
	if (c->cli.write_shut && c->up.ep.write_shut) {
		kh_conn_close(c);
		return true;
	}
	return p;
}

/* --- driver --- */

static bool step(struct kh_conn *c)
{
	switch (c->state) {
	case KH_CS_RELAY: {
		bool dialed = kh_dial_step(&c->up); /* both must run every round */

		return c->proto->step(c) || dialed;
	}
	case KH_CS_TUNNEL: {
		bool dialed = kh_dial_step(&c->up);

		return step_tunnel(c) || dialed;
	}
	case KH_CS_CONNECTING:
		return kh_dial_step(&c->up);
	case KH_CS_CONNECT_OK:
		if (kh_conn_flush(c, &c->cli, &c->cout) && c->cli.failed) {
			kh_conn_close(c);
			return true;
		}
		if (kh_buf_len(&c->cout) > 0)
			return false;
		start_tls_accept(c);
		return true;
	case KH_CS_TLS_ACCEPT:
		return step_tls_accept(c);
	case KH_CS_CLOSING:
		return step_closing(c);
	case KH_CS_LINGER:
		return step_linger(c);
	case KH_CS_SNI_PEEK:
		return step_sni_peek(c);
	case KH_CS_OPEN_WAIT:
		return step_open_wait(c);
	case KH_CS_CERT_WAIT:
		return false; /* kh_conn_leaf_ready goes on */
	}
	return false;
}

static void resume(struct kh_task *t)
{
	struct kh_conn *c = container_of(t, struct kh_conn, resume);

	c->resume_queued = false;
	if (!c->dead)
		kh_conn_run(c);
	else if (c->free_on_resume)
		free_conn(c);
}

/* An idle connection keeps no buffer memory: only TLS state and the struct.
 * OpenSSL keeps a ~17 KiB record buffer after a read that found nothing
 * (RELEASE_BUFFERS only frees it after a record is consumed), so it is
 * freed here too; SSL_free_buffers refuses while it holds pending bytes. */
static void release_idle_buffers(struct kh_conn *c)
{
	kh_buf_release_if_empty(&c->cin);
	kh_buf_release_if_empty(&c->cout);
	kh_buf_release_if_empty(&c->uin);
	kh_buf_release_if_empty(&c->uout);
	if (c->cli.ssl != NULL && c->state != KH_CS_TLS_ACCEPT)
		SSL_free_buffers(c->cli.ssl);
	if (c->up.ep.ssl != NULL && c->up.state == KH_UP_READY)
		SSL_free_buffers(c->up.ep.ssl);
}

/* Between exchanges the client is awaited; with a request out, the upstream. */
static void expect_peer(struct kh_conn *c)
{
	bool soon;

	if (c->state != KH_CS_RELAY)
		return;
	switch (c->proto->waiting(c)) {
	case KH_PROTO_WAIT_CLIENT:
		soon = c->cli_soon;
		break;
	case KH_PROTO_WAIT_UPSTREAM:
		soon = c->up_soon;
		break;
	default:
		return;
	}
	if (soon)
		kh_loop_expect_soon(c->cx->loop);
}

void kh_conn_run(struct kh_conn *c)
{
	for (int round = 0; !c->dead; round++) {
		if (round == KH_RUN_BUDGET) {
			/* Still busy (a fast bulk transfer): let other connections run. */
			if (!c->resume_queued) {
				c->resume_queued = true;
				c->resume.cb = resume;
				kh_loop_post(c->cx->loop, &c->resume);
			}
			break;
		}
		if (!step(c))
			break;
	}
	if (!c->dead) {
		release_idle_buffers(c);
		rearm(c);
		expect_peer(c);
	}
}

static void cli_io(struct kh_io *io, uint32_t events)
{
	struct kh_conn *c = container_of(io, struct kh_conn, cli.io);

	if (c->dead)
		return;
	kh_ep_on_events(&c->cli, events);
	c->cli_soon = kh_loop_woke_soon(c->cx->loop);
	kh_conn_run(c);
}

static void up_io(struct kh_io *io, uint32_t events)
{
	struct kh_conn *c = container_of(io, struct kh_conn, up.ep.io);

	if (c->dead)
		return;
	kh_ep_on_events(&c->up.ep, events);
	c->up_soon = kh_loop_woke_soon(c->cx->loop);
	kh_conn_run(c);
}

static void up_resumed(struct kh_upstream *up)
{
	kh_conn_run(container_of(up, struct kh_conn, up));
}

static void up_source(const struct kh_upstream *up, char *out, size_t len)
{
	kh_conn_source(container_of(up, const struct kh_conn, up), out, len);
}

/* A front's stream to the key holder says how this client came and who it
 * is: the key holder records and checks by that. */
static void up_open_info(const struct kh_upstream *up, struct kh_chan_open *o)
{
	const struct kh_conn *c = container_of(up, const struct kh_conn, up);
	enum kh_admit_entry e;

	/* a tunnel, dialed before the client's TLS (or again, for a head that
	 * waited for its first stream to end): the key holder dials it too */
	if (c->state == KH_CS_CONNECTING || c->mode == KH_MODE_MITM)
		e = c->kind == KH_LISTEN_TRANSPARENT_TLS ? KH_ENTRY_SNI : KH_ENTRY_CONNECT;
	else
		e = c->kind == KH_LISTEN_TRANSPARENT_HTTP ? KH_ENTRY_HOST : KH_ENTRY_ABSOLUTE;
	o->entry = (uint8_t)e;
	o->lazy = e == KH_ENTRY_HOST || e == KH_ENTRY_ABSOLUTE;
	snprintf(o->label, sizeof o->label, "%s", c->sandbox_label);
	snprintf(o->client, sizeof o->client, "%s", c->client);
	kh_conn_source(c, o->source, sizeof o->source);
}

static const struct kh_upstream_ops up_ops = {
	.io = up_io,
	.done = up_done,
	.resumed = up_resumed,
	.source = up_source,
	.open_info = up_open_info,
};

bool kh_conn_parkable(const struct kh_conn *c)
{
	return c->state != KH_CS_TUNNEL && c->proto->waiting(c) == KH_PROTO_WAIT_CLIENT &&
	       kh_dial_clean(&c->up);
}

bool kh_conn_park_upstream(struct kh_conn *c)
{
	if (!kh_conn_parkable(c))
		return false;
	kh_dial_park(&c->up);
	return true;
}

void kh_conn_drain(struct kh_conn *c)
{
	if (c->state == KH_CS_RELAY && c->proto->waiting(c) == KH_PROTO_WAIT_CLIENT &&
	    kh_buf_len(&c->cin) == 0)
		kh_conn_close(c);
	else
		c->close_after = true;
}

static size_t max_size(size_t a, size_t b)
{
	return a > b ? a : b;
}

static void init_buffers(struct kh_conn *c)
{
	size_t head = c->policy->limits.max_header_bytes + (c->keyside ? KH_FRONT_HEAD_SLACK : 0);

	kh_buf_init(&c->cin, max_size(head, KH_IO_BUF_SIZE));
	kh_buf_init(&c->uout, head + KH_IO_BUF_SIZE);
	kh_buf_init(&c->uin, KH_MAX_RESPONSE_HEAD);
	kh_buf_init(&c->cout, KH_MAX_RESPONSE_HEAD);
}

/* "unix:pid=N"; a `keyhole sandbox` bound to N (ctl_server.h) is also
 * named by its label in every record of this connection. */
static void describe_unix_peer(struct kh_conn *c, int fd)
{
	struct ucred cred;
	socklen_t cl = sizeof cred;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0) {
		snprintf(c->client, sizeof c->client, "unix");
		return;
	}
	snprintf(c->client, sizeof c->client, "unix:pid=%d", (int)cred.pid);
	if (c->cx->sh->grants != NULL && cred.pid > 0)
		kh_grants_label_of(c->cx->sh->grants, cred.pid, c->sandbox_label);
}

void kh_conn_source(const struct kh_conn *c, char *out, size_t len)
{
	const char *a = c->client, *end;

	if (c->sandbox_label[0] != '\0') {
		kh_fmt(out, len, "%s", c->sandbox_label);
		return;
	}
	if (a[0] == '[') /* "[v6]:port" */
		end = strchr(++a, ']');
	else if (strncmp(a, "unix", 4) == 0) /* "unix:pid=N": no port */
		end = NULL;
	else /* "a.b.c.d:port" */
		end = strrchr(a, ':');
	kh_fmt(out, len, "%.*s", end != NULL ? (int)(end - a) : (int)strlen(a), a);
}

static void describe_peer(const struct sockaddr *peer, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	unsigned port = peer->sa_family == AF_INET6
				? ntohs(((const struct sockaddr_in6 *)peer)->sin6_port)
				: ntohs(((const struct sockaddr_in *)peer)->sin_port);

	kh_sockaddr_ip(peer, ip, sizeof ip);
	kh_fmt(out, len, peer->sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, port);
}

/* What every connection starts with: its thread, policy, endpoints, timer
 * and buffers, fd as its client side. */
static void set_up_conn(struct kh_conn *c, struct kh_wctx *cx, int fd)
{
	c->cx = cx;
	c->policy = kh_shared_policy(cx->sh);
	kh_ep_init(&c->cli, cli_io);
	kh_dial_init(&c->up, cx, &up_ops, &c->uin, &c->uout);
	c->cli.io.fd = fd;
	c->timer.cb = on_timer;
	init_buffers(c);
}

/* A front's stream (AF_UNIX) is watched for room only when a write waits for
 * it: each read by the front would otherwise wake this loop. */
static int watch_client(struct kh_conn *c)
{
	if (c->keyside)
		return kh_ep_watch_lazily(&c->cli, c->cx->loop);
	return kh_loop_add(c->cx->loop, &c->cli.io);
}

/* Into the thread's list (unlink_conn's twin) and onto its loop, in state s. */
static void start_conn(struct kh_conn *c, enum kh_listen_kind kind, enum kh_conn_state s)
{
	struct kh_wctx *cx = c->cx;

	c->next = cx->conns;
	if (cx->conns != NULL)
		cx->conns->prev = c;
	cx->conns = c;
	cx->n_conns++;
	c->kind = kind;
	kh_conn_set_state(c, s);
	touch(c);
	if (c->cli.pipe == NULL && watch_client(c) != 0) {
		kh_conn_close(c);
		return;
	}
	rearm(c);
}

void kh_conn_accept(struct kh_wctx *cx, int fd, const struct sockaddr *peer,
		    enum kh_listen_kind kind, const struct kh_proto_ops *proto)
{
	struct kh_conn *c = calloc(1, sizeof *c);

	if (c != NULL) {
		c->proto = proto;
		if (proto->open(c) != 0) {
			free(c);
			c = NULL;
		}
	}
	if (c == NULL) {
		close(fd);
		kh_shared_conn_leave(cx->sh);
		return;
	}
	set_up_conn(c, cx, fd);
	c->up.via_keyholder = cx->keyholder_stream != NULL || cx->keyholder_pipe != NULL;
	if (peer->sa_family == AF_UNIX)
		describe_unix_peer(c, fd);
	else
		describe_peer(peer, c->client, sizeof c->client);
	start_conn(c, kind, kind == KH_LISTEN_TRANSPARENT_TLS ? KH_CS_SNI_PEEK : KH_CS_RELAY);
}

/* The key holder's end of a stream: a socket fd from a front process, or
 * end 1 of pipe p from a front on this loop. */
static void accept_keyside(struct kh_wctx *cx, int fd, struct kh_mempipe *p,
			   const struct kh_proto_ops *proto, atomic_uint *count)
{
	struct kh_conn *c = calloc(1, sizeof *c);

	if (c == NULL || proto->open(c) != 0) {
		free(c);
		if (p != NULL) /* the front reads the end of the stream */
			kh_mempipe_close(p, 1);
		else
			close(fd);
		return;
	}
	c->proto = proto;
	c->keyside = true; /* before set_up_conn: its buffers allow for the front's rewriting */
	c->stream_count = count;
	if (count != NULL)
		atomic_fetch_add(count, 1);
	set_up_conn(c, cx, fd);
	if (p != NULL)
		kh_ep_attach_pipe(&c->cli, p, 1);
	snprintf(c->client, sizeof c->client, "front");
	start_conn(c, KH_LISTEN_PROXY, KH_CS_OPEN_WAIT);
}

void kh_conn_accept_stream(struct kh_wctx *cx, int fd, const struct kh_proto_ops *proto,
			   atomic_uint *count)
{
	accept_keyside(cx, fd, NULL, proto, count);
}

void kh_conn_accept_pipe(struct kh_wctx *cx, struct kh_mempipe *p, const struct kh_proto_ops *proto)
{
	accept_keyside(cx, -1, p, proto, NULL);
}
