#include "cli/ctl_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/kh_limits.h"
#include "policy/providers.h"
#include "base/slice.h"

static int connect_to(const char *sock, struct kh_err *err)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(sock) >= sizeof a.sun_path) {
		kh_err_set(err, "control socket path too long: %s", sock);
		return -1;
	}
	memcpy(a.sun_path, sock, strlen(sock) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
		return fd;
	kh_err_set(err,
		   "keyhole is not running (cannot reach %s: %s); start it with `keyhole "
		   "start`",
		   sock, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static int wait_fd(int fd, short ev, uint64_t deadline)
{
	uint64_t now = kh_mono_ms();
	struct pollfd p = { fd, ev, 0 };

	return now < deadline && poll(&p, 1, (int)(deadline - now)) == 1 ? 0 : -1;
}

static int send_all(int fd, const char *p, size_t n, uint64_t deadline)
{
	while (n > 0) {
		ssize_t w;

		if (wait_fd(fd, POLLOUT, deadline) != 0)
			return -1;
		w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		}
	}
	return 0;
}

/* Reads the answer until the daemon closes. Returns its length or -1. */
static long recv_all(int fd, char *buf, size_t cap, uint64_t deadline)
{
	size_t n = 0;

	while (n < cap) {
		ssize_t r;

		if (wait_fd(fd, POLLIN, deadline) != 0)
			return -1;
		r = recv(fd, buf + n, cap - n, MSG_DONTWAIT);
		if (r == 0)
			return (long)n;
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (r > 0)
			n += (size_t)r;
	}
	return -1; /* larger than any answer may be */
}

static int exchange(int fd, const char *text, char *buf, long *n, unsigned timeout_ms,
		    struct kh_err *err)
{
	uint64_t deadline = kh_mono_ms() + timeout_ms;

	if (send_all(fd, text, strlen(text), deadline) != 0 || shutdown(fd, SHUT_WR) != 0 ||
	    (*n = recv_all(fd, buf, KH_CTL_MSG_MAX, deadline)) < 0) {
		kh_err_set(err,
			   "the keyhole daemon did not answer on its control socket within "
			   "%u ms",
			   timeout_ms);
		return -1;
	}
	return 0;
}

static int check_reply(json_t *reply, struct kh_err *err)
{
	const char *e;

	if (!json_is_object(reply)) {
		kh_err_set(err, "the keyhole daemon sent an unreadable answer");
		return -1;
	}
	if (json_is_true(json_object_get(reply, "ok")))
		return 0;
	e = json_string_value(json_object_get(reply, "error"));
	kh_err_set(err, "%s", e != NULL ? e : "the keyhole daemon refused the request");
	return -1;
}

static int call_within(const char *sock, json_t *req, json_t **reply, unsigned timeout_ms,
		       struct kh_err *err)
{
	char *text = json_dumps(req, JSON_COMPACT), *buf = malloc(KH_CTL_MSG_MAX);
	int fd = -1, rc = -1;
	long n = 0;

	*reply = NULL;
	if (text == NULL || buf == NULL) {
		kh_err_set(err, "out of memory");
		goto out;
	}
	if ((fd = connect_to(sock, err)) < 0 || exchange(fd, text, buf, &n, timeout_ms, err) != 0)
		goto out;
	*reply = json_loadb(buf, (size_t)n, 0, NULL);
	rc = check_reply(*reply, err);
	if (rc != 0) {
		json_decref(*reply);
		*reply = NULL;
	}
out:
	if (fd >= 0)
		close(fd);
	if (buf != NULL) /* the answer may hold tokens */
		memset(buf, 0, KH_CTL_MSG_MAX);
	free(buf);
	free(text);
	return rc;
}

int kh_ctl_call(const char *sock, json_t *req, json_t **reply, struct kh_err *err)
{
	return call_within(sock, req, reply, KH_CTL_TIMEOUT_MS, err);
}

static bool flag(json_t *o, const char *k)
{
	return json_is_true(json_object_get(o, k));
}

static unsigned small_uint(json_t *o, const char *k)
{
	json_int_t v = json_integer_value(json_object_get(o, k));

	return v > 0 && v <= INT32_MAX ? (unsigned)v : 0;
}

/* One child process's object (a front's, the signer's). */
static void parse_child(json_t *f, struct kh_ctl_front *o)
{
	o->pid = (pid_t)small_uint(f, "pid");
	o->restarts = small_uint(f, "restarts");
	o->confined = flag(f, "confined");
	o->no_new_privs = flag(f, "no_new_privs");
	o->seccomp = flag(f, "seccomp");
	o->rlimits = flag(f, "rlimits");
	o->uid_dropped = flag(f, "uid_dropped");
	o->landlock_abi = (int)small_uint(f, "landlock_abi");
	o->uid = small_uint(f, "uid");
}

/* The "privsep" object (fronts.h, kh_fronts_status_json); what does not
 * fit is left out, never trusted to be well formed. */
static void parse_privsep(json_t *p, struct kh_ctl_status *st)
{
	const char *mode = json_string_value(json_object_get(p, "mode"));
	json_t *f, *signer = json_object_get(p, "signer");
	size_t i;

	if (mode == NULL)
		return;
	st->have_privsep = true;
	st->fronts_are_processes = strcmp(mode, "processes") == 0;
	json_array_foreach(json_object_get(p, "fronts"), i, f)
	{
		if (!json_is_object(f) || st->n_fronts >= KH_MAX_WORKERS)
			continue;
		parse_child(f, &st->fronts[st->n_fronts++]);
	}
	st->have_signer = json_is_object(signer);
	if (st->have_signer)
		parse_child(signer, &st->signer);
}

/* The "keyholder" object (daemon.c): the daemon's own confinement. */
static void parse_keyholder(json_t *k, struct kh_ctl_status *st)
{
	const char *caps;

	if (!json_is_object(k))
		return;
	st->have_keyholder = true;
	parse_child(k, &st->keyholder);
	st->monitor_pid = (pid_t)small_uint(k, "monitor_pid");
	caps = json_string_value(json_object_get(k, "capabilities"));
	if (caps != NULL && strlen(caps) < sizeof st->keyholder_caps &&
	    strspn(caps, "abcdefghijklmnopqrstuvwxyz_, ") == strlen(caps))
		snprintf(st->keyholder_caps, sizeof st->keyholder_caps, "%s", caps);
}

int kh_ctl_status(const char *sock, unsigned timeout_ms, struct kh_ctl_status *st,
		  struct kh_err *err)
{
	json_t *req = json_pack("{s:s}", "op", "status"), *reply = NULL;
	json_t *pid, *lost, *port;
	const char *version, *audit;
	int rc = -1;

	memset(st, 0, sizeof *st);
	if (req == NULL || call_within(sock, req, &reply, timeout_ms, err) != 0)
		goto out;
	pid = json_object_get(reply, "pid");
	lost = json_object_get(reply, "audit_lost");
	version = json_string_value(json_object_get(reply, "version"));
	audit = json_string_value(json_object_get(reply, "audit"));
	if (!json_is_integer(pid) || json_integer_value(pid) <= 0 ||
	    json_integer_value(pid) > INT32_MAX || !json_is_integer(lost) ||
	    json_integer_value(lost) < 0 || version == NULL || audit == NULL) {
		kh_err_set(err, "the keyhole daemon sent a malformed status (an older version? "
				"restart it)");
		goto out;
	}
	st->pid = (pid_t)json_integer_value(pid);
	snprintf(st->version, sizeof st->version, "%s", version);
	st->audit_failing = strcmp(audit, "ok") != 0;
	st->audit_lost = (uint64_t)json_integer_value(lost);
	parse_privsep(json_object_get(reply, "privsep"), st);
	parse_keyholder(json_object_get(reply, "keyholder"), st);
	port = json_object_get(reply, "port");
	if (json_is_integer(port) && json_integer_value(port) > 0 &&
	    json_integer_value(port) <= UINT16_MAX)
		st->port = (uint16_t)json_integer_value(port);
	rc = 0;
out:
	json_decref(req);
	json_decref(reply);
	return rc;
}

static int put_token(struct kh_mappings *m, json_t *t, struct kh_err *err)
{
	const char *env = json_string_value(json_object_get(t, "env_name"));
	const char *tok = json_string_value(json_object_get(t, "token"));

	if (env == NULL || tok == NULL || !kh_token_valid(tok)) {
		kh_err_set(err, "the keyhole daemon sent a malformed token list");
		return -1;
	}
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->v[i].env_name, env) == 0)
			snprintf(m->v[i].proxy_token, sizeof m->v[i].proxy_token, "%s", tok);
	return 0;
}

json_t *kh_ctl_issue_request(const char *label, int64_t ttl, uint64_t budget,
			     const char *const *names, size_t n_names)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr != NULL && i < n_names; i++)
		json_array_append_new(arr, json_string(names[i]));
	return json_pack("{s:s, s:s, s:I, s:I, s:o}", "op", "issue", "label", label, "ttl",
			 (json_int_t)ttl, "budget", (json_int_t)budget, "providers", arr);
}

int kh_ctl_issue_into(const char *sock, const char *label, int64_t ttl, uint64_t budget,
		      pid_t owner, struct kh_mappings *m, struct kh_err *err)
{
	const char **names = calloc(m->n + 1, sizeof *names);
	json_t *reply = NULL, *req = NULL, *t;
	size_t i, n = 0;
	int rc = -1;

	for (i = 0; names != NULL && i < m->n; i++)
		if (!kh_provider_is_sigv4(m->v[i].env_name))
			names[n++] = m->v[i].env_name;
	if (names != NULL && n == 0) {
		free(names);
		return 0; /* nothing to issue: the mapping tokens (if any) stay */
	}
	if (names != NULL)
		req = kh_ctl_issue_request(label, ttl, budget, names, n);
	free(names);
	if (req != NULL && owner > 0 &&
	    json_object_set_new(req, "owner", json_integer((json_int_t)owner)) != 0) {
		json_decref(req);
		req = NULL;
	}
	if (req == NULL) {
		kh_err_set(err, "out of memory");
		return -1;
	}
	if (kh_ctl_call(sock, req, &reply, err) == 0) {
		rc = 0;
		json_array_foreach(json_object_get(reply, "tokens"), i, t)
		{
			if (put_token(m, t, err) != 0)
				rc = -1;
		}
	}
	json_decref(req);
	json_decref(reply);
	return rc;
}

int kh_ctl_bind(const char *sock, const char *label, pid_t pid, struct kh_err *err)
{
	json_t *req = json_pack("{s:s, s:s, s:I}", "op", "bind", "label", label, "pid",
				(json_int_t)pid),
	       *reply = NULL;
	int rc = req != NULL ? kh_ctl_call(sock, req, &reply, err) : -1;

	json_decref(req);
	json_decref(reply);
	return rc;
}

long kh_ctl_revoke_label(const char *sock, const char *label, struct kh_err *err)
{
	json_t *req = json_pack("{s:s, s:s}", "op", "revoke", "label", label), *reply = NULL;
	long n = -1;

	if (req != NULL && kh_ctl_call(sock, req, &reply, err) == 0)
		n = (long)json_integer_value(json_object_get(reply, "revoked"));
	json_decref(req);
	json_decref(reply);
	return n;
}

int64_t kh_ctl_parse_ttl(const char *s)
{
	static const struct {
		char suffix;
		int64_t secs;
	} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 } };
	size_t len = strlen(s);
	int64_t unit = 1;
	uint64_t v;

	if (strcmp(s, "none") == 0)
		return 0;
	for (size_t i = 0; len > 0 && i < sizeof units / sizeof units[0]; i++)
		if (s[len - 1] == units[i].suffix) {
			unit = units[i].secs;
			len--;
			break;
		}
	if (len == 0 || len > 20 ||
	    kh_slice_to_u64(kh_slice_make(s, len), (uint64_t)(KH_MAX_GRANT_TTL / unit), &v) != 0)
		return -1;
	return (int64_t)v * unit;
}
