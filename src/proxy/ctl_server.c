#include "proxy/ctl_server.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "proxy/audit.h"
#include "base/jsonl.h"
#include "base/clock.h"
#include "event/listener.h"
#include "base/log.h"
#include "base/version.h"
#include "base/kh_limits.h"

struct kh_ctl_server {
	int fd, wake; /* listening socket, eventfd that stops the thread */
	pthread_t thread;
	bool started;
	char path[KH_MAX_PATH];
	struct kh_grants *grants;
	kh_ctl_issue_fn issue;
	kh_ctl_status_fn status;
	void *arg;
};

static json_t *fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static json_t *fail(const char *fmt, ...)
{
	char msg[KH_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	kh_utf8_repair(msg); /* "%.32s" of a request's op may cut a character */
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

/* --- operations --- */

static json_t *issue_reply(struct kh_grant *const *g, size_t n)
{
	json_t *tokens = json_array();

	for (size_t i = 0; tokens != NULL && i < n; i++)
		json_array_append_new(tokens, json_pack("{s:s, s:s, s:I}", "env_name",
							g[i]->env_name, "token", g[i]->token,
							"expires", (json_int_t)g[i]->expires));
	return json_pack("{s:b, s:o}", "ok", 1, "tokens", tokens);
}

static json_t *op_issue(kh_ctl_issue_fn issue, void *arg, json_t *req)
{
	const char *names[KH_CTL_MAX_NAMES];
	struct kh_grant *out[KH_MAX_TOKENS < 256 ? KH_MAX_TOKENS : 256];
	struct kh_grant_req r = { .label = json_string_value(json_object_get(req, "label")) };
	json_t *ttl = json_object_get(req, "ttl"), *budget = json_object_get(req, "budget");
	json_t *prov = json_object_get(req, "providers"), *owner = json_object_get(req, "owner"),
	       *v;
	struct kh_err err = { "" };
	size_t n_names = 0, n = 0, i;

	if (r.label == NULL)
		return fail("issue needs a %s", "label");
	if ((ttl != NULL && (!json_is_integer(ttl) || json_integer_value(ttl) < 0)) ||
	    (budget != NULL && (!json_is_integer(budget) || json_integer_value(budget) < 0)))
		return fail("%s must be non-negative integers", "ttl and budget");
	/* now + ttl must not overflow: no TTL beyond what the CLI may ask for */
	if (ttl != NULL && json_integer_value(ttl) > KH_MAX_GRANT_TTL)
		return fail("ttl must be at most %lld seconds (366 days)", KH_MAX_GRANT_TTL);
	if (owner != NULL && (!json_is_integer(owner) || json_integer_value(owner) <= 0 ||
			      json_integer_value(owner) > INT32_MAX))
		return fail("%s must be a process id", "owner");
	r.owner = owner ? (pid_t)json_integer_value(owner) : 0;
	r.ttl = ttl ? (int64_t)json_integer_value(ttl) : 0;
	r.budget = budget ? (uint64_t)json_integer_value(budget) : 0;
	if (prov != NULL && (!json_is_array(prov) || json_array_size(prov) > KH_CTL_MAX_NAMES))
		return fail("providers must be a list of at most %d names", KH_CTL_MAX_NAMES);
	json_array_foreach(prov, i, v)
	{
		if ((names[n_names++] = json_string_value(v)) == NULL)
			return fail("providers must be a list of %s", "names");
	}
	if (issue(arg, &r, names, n_names, out, sizeof out / sizeof out[0], &n, &err) != 0)
		return fail("%s", err.msg);
	return issue_reply(out, n);
}

static json_t *op_revoke(struct kh_grants *grants, json_t *req)
{
	const char *token = json_string_value(json_object_get(req, "token"));
	const char *label = json_string_value(json_object_get(req, "label"));
	struct kh_err err = { "" };
	long n;

	if ((token == NULL) == (label == NULL))
		return fail("revoke needs a token or a label (%s)", "one of them");
	n = kh_grants_revoke(grants, token, label, (int64_t)time(NULL), &err);
	if (n < 0)
		return fail("revoked, but not saved: %s", err.msg);
	if (n > 0)
		kh_info("control: revoked %ld sandbox token(s)%s%s", n, label ? " of sandbox " : "",
			label ? label : "");
	return json_pack("{s:b, s:i}", "ok", 1, "revoked", (int)n);
}

static json_t *op_bind(struct kh_grants *grants, json_t *req)
{
	const char *label = json_string_value(json_object_get(req, "label"));
	json_t *pid = json_object_get(req, "pid");
	struct kh_err err = { "" };

	if (label == NULL || !json_is_integer(pid) || json_integer_value(pid) <= 0 ||
	    json_integer_value(pid) > INT32_MAX)
		return fail("bind needs a label and a pid");
	if (kh_grants_bind(grants, label, (pid_t)json_integer_value(pid), &err) != 0)
		return fail("%s", err.msg);
	return json_pack("{s:b}", "ok", 1);
}

static json_t *grant_summary(const struct kh_grant *gr, int64_t now)
{
	char hint[KH_TOKEN_LOG_CHARS + 4];

	kh_token_redact(gr->token, hint, sizeof hint);
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "label", gr->label, "env_name",
			 gr->env_name, "token", hint, "state",
			 kh_grant_state_name(kh_grant_state(gr, now)), "issued",
			 (json_int_t)gr->issued, "expires", (json_int_t)gr->expires, "budget",
			 (json_int_t)gr->budget, "used", (json_int_t)atomic_load(&gr->used));
}

static json_t *op_list(struct kh_grants *g)
{
	json_t *arr = json_array();
	int64_t now = (int64_t)time(NULL);

	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; arr != NULL && i < g->cap; i++)
		if (g->v[i].in_use)
			json_array_append_new(arr, grant_summary(&g->v[i], now));
	pthread_mutex_unlock(&g->lock);
	return json_pack("{s:b, s:o}", "ok", 1, "grants", arr);
}

/* Who answers: what `keyhole start` checks (the pid it launched) and
 * `keyhole status` shows. Owner-only, unlike the proxy's /healthz. */
static json_t *op_status(kh_ctl_status_fn status, void *arg)
{
	uint64_t lost = 0;
	bool failing = kh_audit_failing(&lost);
	json_t *r = json_pack("{s:b, s:i, s:s, s:s, s:I}", "ok", 1, "pid", (int)getpid(), "version",
			      KH_VERSION, "audit", failing ? "failing" : "ok", "audit_lost",
			      (json_int_t)(lost > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)lost));
	json_t *p = status != NULL ? status(arg) : NULL;

	if (r != NULL && json_is_object(p))
		json_object_update(r, p);
	json_decref(p);
	return r;
}

json_t *kh_ctl_handle(struct kh_grants *grants, kh_ctl_issue_fn issue, kh_ctl_status_fn status,
		      void *arg, const char *text, size_t len)
{
	json_error_t jerr;
	json_t *req = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr), *reply;
	const char *op = json_string_value(json_object_get(req, "op"));

	if (op == NULL)
		reply = fail("not a control request (%s)", req ? "no \"op\"" : jerr.text);
	else if (strcmp(op, "issue") == 0)
		reply = op_issue(issue, arg, req);
	else if (strcmp(op, "revoke") == 0)
		reply = op_revoke(grants, req);
	else if (strcmp(op, "list") == 0)
		reply = op_list(grants);
	else if (strcmp(op, "bind") == 0)
		reply = op_bind(grants, req);
	else if (strcmp(op, "status") == 0)
		reply = op_status(status, arg);
	else
		reply = fail("unknown op \"%.32s\" (issue, revoke, list, bind, status)", op);
	json_decref(req);
	return reply;
}

/* --- one client --- */

static int wait_io(int fd, short ev, uint64_t deadline)
{
	uint64_t now = kh_mono_ms();
	struct pollfd p = { fd, ev, 0 };

	if (now >= deadline)
		return -1;
	return poll(&p, 1, (int)(deadline - now)) == 1 ? 0 : -1;
}

/* Reads up to a newline, EOF or the cap. Returns the length or -1. */
static long read_request(int fd, char *buf, size_t cap, uint64_t deadline)
{
	size_t n = 0;

	while (n < cap) {
		ssize_t r = read(fd, buf + n, cap - n);

		if (r == 0)
			break;
		if (r < 0) {
			if ((errno != EAGAIN && errno != EINTR) ||
			    wait_io(fd, POLLIN, deadline) != 0)
				return -1;
			continue;
		}
		n += (size_t)r;
		if (memchr(buf + n - (size_t)r, '\n', (size_t)r) != NULL)
			break;
	}
	return n < cap ? (long)n : -1;
}

static void write_reply(int fd, const char *text, uint64_t deadline)
{
	size_t n = strlen(text), off = 0;

	while (off < n) {
		ssize_t w = send(fd, text + off, n - off, MSG_NOSIGNAL);

		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return;
		if (wait_io(fd, POLLOUT, deadline) != 0)
			return;
	}
}

/* After answering a request that was cut off (too large), unread input
 * would make close() send a reset that can destroy the answer before the
 * client reads it: say we are done, then discard a bounded amount for a
 * short while. */
static void drain(int fd)
{
	uint64_t deadline = kh_mono_ms() + KH_CTL_DRAIN_MS;
	char sink[4096];
	size_t total = 0;

	shutdown(fd, SHUT_WR);
	while (total < 4 * KH_CTL_MSG_MAX && wait_io(fd, POLLIN, deadline) == 0) {
		ssize_t r = read(fd, sink, sizeof sink);

		if (r <= 0)
			break;
		total += (size_t)r;
	}
}

static bool peer_allowed(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof cr;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
		return false;
	return cr.uid == geteuid() || cr.uid == 0;
}

static void serve_client(struct kh_ctl_server *s, int fd)
{
	uint64_t deadline = kh_mono_ms() + KH_CTL_TIMEOUT_MS;
	char *buf = malloc(KH_CTL_MSG_MAX);
	json_t *reply = NULL;
	char *text = NULL;
	long n;

	if (buf == NULL)
		return;
	if (!peer_allowed(fd))
		reply = fail("%s",
			     "refused: only the daemon's own user may use the control socket");
	else if ((n = read_request(fd, buf, KH_CTL_MSG_MAX, deadline)) < 0)
		reply = fail("request unreadable, larger than %u bytes or slower than %d ms",
			     KH_CTL_MSG_MAX, KH_CTL_TIMEOUT_MS);
	else
		reply = kh_ctl_handle(s->grants, s->issue, s->status, s->arg, buf, (size_t)n);
	if (reply != NULL)
		text = json_dumps(reply, JSON_COMPACT);
	if (text != NULL && strlen(text) < KH_CTL_MSG_MAX) {
		write_reply(fd, text, deadline);
		write_reply(fd, "\n", deadline);
		drain(fd);
	}
	if (text != NULL) /* it may hold tokens */
		memset(text, 0, strlen(text));
	free(text);
	json_decref(reply);
	free(buf);
}

static void *thread_main(void *arg)
{
	struct kh_ctl_server *s = arg;

	for (;;) {
		struct pollfd p[2] = { { s->fd, POLLIN, 0 }, { s->wake, POLLIN, 0 } };
		int fd;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents != 0)
			break;
		if ((p[0].revents & POLLIN) == 0)
			continue;
		fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				usleep(100 * 1000); /* no descriptor: do not spin */
			continue;
		}
		serve_client(s, fd);
		close(fd);
	}
	return NULL;
}

/* --- lifecycle --- */

struct kh_ctl_server *kh_ctl_server_open(const char *path, struct kh_grants *grants,
					 kh_ctl_issue_fn issue, void *arg, struct kh_err *err)
{
	struct kh_ctl_server *s = calloc(1, sizeof *s);

	if (s == NULL) {
		kh_err_set(err, "out of memory for the control socket");
		return NULL;
	}
	s->grants = grants;
	s->issue = issue;
	s->arg = arg;
	snprintf(s->path, sizeof s->path, "%s", path);
	s->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->fd = s->wake < 0 ? -1 : kh_listen_unix(path, err);
	if (s->fd < 0) {
		if (s->wake < 0)
			kh_err_set(err, "eventfd: %s", kh_strerror(errno));
		else
			close(s->wake);
		free(s);
		return NULL;
	}
	return s;
}

void kh_ctl_server_set_status(struct kh_ctl_server *s, kh_ctl_status_fn status)
{
	s->status = status;
}

int kh_ctl_server_start(struct kh_ctl_server *s, struct kh_err *err)
{
	if (pthread_create(&s->thread, NULL, thread_main, s) != 0) {
		kh_err_set(err, "cannot start the control thread");
		return -1;
	}
	s->started = true;
	return 0;
}

void kh_ctl_server_stop(struct kh_ctl_server *s)
{
	uint64_t one = 1;

	if (s == NULL)
		return;
	if (s->started) {
		if (write(s->wake, &one, sizeof one) < 0)
			kh_warn("control: cannot wake its thread: %s", kh_strerror(errno));
		pthread_join(s->thread, NULL);
	}
	close(s->fd);
	close(s->wake);
	unlink(s->path);
	free(s);
}
