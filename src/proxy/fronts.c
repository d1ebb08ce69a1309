/* Front processes, the key holder's side (fronts.h). */
#include "proxy/fronts.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/fsutil.h"
#include "base/le.h"
#include "base/log.h"
#include "privsep/ctlmsg.h"
#include "privsep/frontstat.h"
#include "proxy/audit.h"
#include "proxy/conn.h"
#include "proxy/metrics.h"
#include "proxy/relay.h"

/* --- the channel, on worker i's loop --- */

/* A stream from front s: only a Unix stream socket the front itself made,
 * and no more of them at once than its connections may be, so a front
 * taken over cannot spend the daemon's descriptors. */
/* Closes a descriptor a front sent that is not kept: lingering off first,
 * as a socket set to linger (the front's seccomp forbids setting it, but
 * the front may have been taken over before) would make close() wait. */
static void close_sent(int fd)
{
	struct linger off = { 0, 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &off, sizeof off); /* not a socket: ENOTSOCK */
	close(fd);
}

static void take_stream(struct kh_front_slot *s, int fd)
{
	struct kh_policy *p = kh_shared_policy(s->cx->sh);
	size_t cap = p->limits.max_connections;
	int domain = 0, type = 0;
	struct ucred cred = { 0 };
	socklen_t l1 = sizeof domain, l2 = sizeof type, l3 = sizeof cred;

	kh_policy_unref(p);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l1) != 0 || domain != AF_UNIX ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l2) != 0 || type != SOCK_STREAM ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &l3) != 0 || cred.pid != s->pid) {
		kh_warn("front %u sent a descriptor that is not one of its streams", s->id);
		close_sent(fd);
		return;
	}
	if (atomic_load(&s->streams) >= cap) {
		kh_warn("front %u has %zu streams open already (limits.max_connections)", s->id,
			cap);
		close_sent(fd);
		return;
	}
	kh_conn_accept_stream(s->cx, fd, &kh_relay_h1, &s->streams);
}

/* A front's complaint, at most one line per KH_FRONT_WARN_EVERY_MS: a
 * front taken over must not be able to fill the daemon's log. */
static void warn_front(struct kh_front_slot *s, const char *what)
{
	uint64_t now = kh_mono_ms();

	if (s->last_warn_ms != 0 && now - s->last_warn_ms < KH_FRONT_WARN_EVERY_MS) {
		s->warns_held++;
		return;
	}
	if (s->warns_held > 0)
		kh_warn("front %u: %s (and %u more such since the last line)", s->id, what,
			s->warns_held);
	else
		kh_warn("front %u: %s", s->id, what);
	s->last_warn_ms = now;
	s->warns_held = 0;
}

/* What a front says about itself: believed for its own numbers (a front
 * taken over can lie about them), never trusted to be well formed, and
 * taken no faster than a front sends them, so a lying one stays bounded.
 * CONFINED is taken once per start: a front sends it after confining itself
 * and before it reads a sandbox byte, so a later one can only come from a
 * front taken over since, rewriting what it said while it was still sound. */
static void take_report(struct kh_front_slot *s, uint8_t type, const uint8_t *p, size_t n,
			pid_t from)
{
	static _Thread_local struct kh_frontstat st;
	struct kh_confine_report r;
	struct kh_err err = { "" };
	uint64_t now = kh_mono_ms();
	char what[KH_ERR_MAX + 32];

	if (type == KH_CTLMSG_CONFINED && kh_frontstat_confine_decode(p, n, &r, &err) == 0) {
		bool again, stale;

		pthread_mutex_lock(&s->lock);
		/* from: the kernel's word (SO_PASSCRED). Another process's report (the
		 * front before, or whoever holds a stolen end) is not this front's. */
		stale = from <= 0 || from != s->pid || r.pid != from;
		again = !stale && s->have_confined;
		if (!stale && !again) {
			s->confined = r;
			s->have_confined = true;
		}
		pthread_mutex_unlock(&s->lock);
		if (stale)
			warn_front(s, "a confinement report from another process: ignored");
		else if (again)
			warn_front(s, "a second confinement report: ignored (the first stands)");
	} else if (type == KH_CTLMSG_METRICS && s->last_metrics_ms != 0 &&
		   now - s->last_metrics_ms < KH_FRONTSTAT_PERIOD_MS / 2) {
		warn_front(s, "metrics sent more often than it should: dropped");
	} else if (type == KH_CTLMSG_METRICS &&
		   kh_frontstat_decode(p, n, KH_HIST_COUNT, &st, &err) == 0) {
		s->last_metrics_ms = now;
		kh_metrics_add_front(&st);
		if (from == s->pid) /* not what the front before left: this one's gauge */
			atomic_store(&s->active, st.active);
	} else {
		kh_fmt(what, sizeof what, "report ignored: %s", err.msg);
		warn_front(s, what);
	}
}

/* Each record through this process's redactor before it is written: a
 * front has only the tokens' (it holds no key), so a real key the sandbox
 * put in a host or path, in any encoding, reaches its record as it came.
 * Redacted field by field, decoded (kh_auditrelay_redact), so no JSON escape
 * can hide a key from it. */
/* kh_redact as the relays' hook (kh_redact_fn): arg is the policy's redactor. */
static size_t redact_with(void *arg, const char *in, size_t n, char *out, size_t cap)
{
	return kh_redact(arg, in, n, out, cap);
}

static void append_redacted(struct kh_front_slot *s, const char *lines, size_t n)
{
	struct kh_policy *p = kh_shared_policy(s->cx->sh);
	char out[2 * KH_AUDIT_LINE_MAX];
	size_t at = 0;

	while (at < n) {
		const char *nl = memchr(lines + at, '\n', n - at);
		size_t len = (size_t)(nl - (lines + at)) + 1; /* checked: whole lines */
		size_t m = kh_auditrelay_redact(lines + at, len, redact_with, &p->redact, out,
						sizeof out);

		if (m > 0)
			kh_audit_append_lines(out, m, 1);
		else
			warn_front(s, "an audit record that could not be redacted: dropped");
		at += len;
	}
	kh_policy_unref(p);
}

/* A front's refusal records: held to the front's byte rate (charged before
 * they are parsed, so junk costs its budget too), checked, and written by
 * this process (fronts hold no file; a transparent `keyhole sandbox`'s pid 1
 * appends to audit.log too). */
static void take_audit(struct kh_front_slot *s, const char *lines, size_t n)
{
	struct kh_err err = { "" };
	size_t records;
	char what[KH_ERR_MAX + 32];

	if (!kh_auditrelay_admit(&s->audit, n, kh_mono_ms())) {
		warn_front(s, "audit records over its rate (limits in kh_limits.h): dropped");
	} else if (kh_auditrelay_check(lines, n, &records, &err) != 0) {
		kh_fmt(what, sizeof what, "audit records refused: %s", err.msg);
		warn_front(s, what);
	} else {
		append_redacted(s, lines, n);
	}
}

/* What a front wrote to its stdout or stderr, into this process's log,
 * through this process's redactor (a front's has no real key). */
static void on_log(struct kh_io *io, uint32_t events)
{
	struct kh_front_slot *s = container_of(io, struct kh_front_slot, log_io);
	struct kh_policy *p = kh_shared_policy(s->cx->sh);

	(void)events;
	s->log.redact = redact_with;
	s->log.redact_arg = &p->redact;
	kh_childlog_drain(&s->log, kh_log_fd(), kh_mono_ms());
	s->log.redact = NULL;
	kh_policy_unref(p);
}

static void on_channel(struct kh_io *io, uint32_t events)
{
	struct kh_front_slot *s = container_of(io, struct kh_front_slot, io);
	char buf[KH_CTLMSG_MAX + 1];
	uint8_t type;
	ssize_t n;
	pid_t from;
	int fd;

	for (int i = 0, closed = 0; i < KH_ACCEPT_BATCH; i++) {
		n = kh_ctlmsg_recv_from(io->fd, &type, buf, sizeof buf - 1, &fd, &from);
		/* A front that died with messages of ours unread leaves ECONNRESET
		 * once, before what it sent last (its last records): read on. Gone
		 * and read to the end, it is a hangup seen on every turn (level-
		 * triggered) until kh_fronts_tend starts the next one on a channel
		 * of its own: off the loop till then. */
		if (n == KH_CTLMSG_RECV_CLOSED && ++closed < 2)
			continue;
		if (n == KH_CTLMSG_RECV_CLOSED && (events & EPOLLHUP) && s->io_on) {
			kh_loop_del(s->cx->loop, io);
			s->io_on = false;
		}
		if (n == -1 || n == KH_CTLMSG_RECV_CLOSED)
			return;
		closed = 0;
		if (n == KH_CTLMSG_RECV_BAD) {
			warn_front(s, "malformed control message");
			continue;
		}
		if (type == KH_CTLMSG_STREAM && fd >= 0 && n == 0) {
			take_stream(s, fd);
			continue;
		}
		if (fd >= 0)
			close_sent(fd);
		if (type == KH_CTLMSG_CONFINED || type == KH_CTLMSG_METRICS) {
			take_report(s, type, (const uint8_t *)buf, (size_t)n, from);
			continue;
		}
		if (type == KH_CTLMSG_AUDIT) {
			take_audit(s, buf, (size_t)n);
			continue;
		}
		/* leaves come from the CA signer now (signerctl.h): MINT too */
		kh_warn("front %u sent a control message it may not send", s->id);
	}
}

/* --- processes --- */

/* On the front's worker: reads the channel of the front started last from
 * now on, and closes the one before, so its other end (wherever it went)
 * is read no more. */
static void take_channel(struct kh_task *t)
{
	struct kh_front_slot *s = container_of(t, struct kh_front_slot, take);
	int fd;

	pthread_mutex_lock(&s->lock);
	fd = s->chan_next;
	s->chan_next = -1;
	s->take_posted = false;
	pthread_mutex_unlock(&s->lock);
	if (fd < 0)
		return;
	if (s->io_on)
		kh_loop_del(s->cx->loop, &s->io);
	if (s->io.fd >= 0)
		close(s->io.fd);
	s->io.fd = fd;
	/* level-triggered: a burst beyond one batch is read on the next turn */
	s->io_on = kh_loop_add_listener(s->cx->loop, &s->io) == 0;
	if (!s->io_on)
		kh_error("front %u: cannot watch its channel: %s", s->id, kh_strerror(errno));
}

/* A channel for one start of front s: the daemon's end (non-blocking, the
 * kernel naming each message's sender: take_report) in *ours, the front's
 * in *theirs. */
static int new_channel(const struct kh_front_slot *s, int *ours, int *theirs, struct kh_err *err)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		kh_err_set(err, "cannot make a channel to front %u: %s", s->id, kh_strerror(errno));
		return -1;
	}
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) != 0 || kh_ctlmsg_pass_creds(sv[0]) != 0) {
		kh_err_set(err, "cannot set up front %u's channel: %s", s->id, kh_strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	*ours = sv[0];
	*theirs = sv[1];
	return 0;
}

/* Hands the worker the channel of the front just started (see take_channel). */
static void give_channel(struct kh_front_slot *s, int fd)
{
	bool post;

	pthread_mutex_lock(&s->lock);
	if (s->chan_next >= 0)
		close(s->chan_next); /* a start the worker never took over */
	s->chan_next = fd;
	post = !s->take_posted;
	s->take_posted = true;
	pthread_mutex_unlock(&s->lock);
	if (post)
		kh_loop_post(s->cx->loop, &s->take);
}

int kh_fronts_init(struct kh_fronts *fs, struct kh_worker *workers, unsigned n,
		   int tcp[][KH_MAX_LISTENERS + 1], size_t n_tcp, const int unix_fds[3],
		   const struct kh_paths *paths, struct kh_shared *sh, struct kh_err *err)
{
	fs->sh = sh;
	fs->n = n;
	memcpy(fs->unix_fds, unix_fds, sizeof fs->unix_fds);
	kh_fmt(fs->home, sizeof fs->home, "%s", paths->home);
	kh_fmt(fs->config, sizeof fs->config, "%s", paths->config);
	pthread_mutex_init(&fs->policy_lock, NULL);
	fs->policy_fd = -1;
	fs->conns_fd = -1;
	if (kh_connslots_create(&fs->conns, n, &fs->conns_fd, err) != 0)
		return -1;
	for (size_t k = 0; k < KH_MAX_BRIDGES; k++) {
		fs->bridge_fds[k] = -1;
		fs->bridge_gen[k] = 1; /* a front's bridge_sent starts at 0: "nothing yet" */
	}
	if (kh_signerctl_init(&fs->signer, paths, n, err) != 0)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		struct kh_front_slot *s = &fs->s[i];
		char name[24];

		s->chan = s->chan_next = s->io.fd = -1; /* each start makes its own */
		s->id = i;
		s->cx = &workers[i].cx;
		kh_fmt(name, sizeof name, "front %u", i);
		if (kh_childlog_init(&s->log, name, err) != 0)
			return -1;
		s->log_io.fd = s->log.rd;
		s->log_io.cb = on_log;
		if (kh_loop_add_listener(s->cx->loop, &s->log_io) != 0) {
			kh_err_set(err, "cannot watch front %u's log", i);
			return -1;
		}
		pthread_mutex_init(&s->lock, NULL);
		s->n_tcp = n_tcp;
		memcpy(s->tcp, tcp[i], n_tcp * sizeof(int));
		s->io.cb = on_channel;
		s->take.cb = take_channel;
	}
	return 0;
}

/* --- the policy's files, for fronts that open none --- */

/* One file into the blob: u32 length (little-endian), then its bytes; a
 * missing file is length 0 (the front takes the defaults / no entries). */
static int add_text(int mfd, const char *text, size_t len, struct kh_err *err)
{
	uint8_t n[4];

	kh_le_put(n, len, 4);
	if (write(mfd, n, 4) != 4 || (len > 0 && write(mfd, text, len) != (ssize_t)len)) {
		kh_err_set(err, "cannot write the fronts' policy: %s", kh_strerror(errno));
		return -1;
	}
	return 0;
}

/* grants.json's text as the daemon holds it now (it writes the file only
 * through its monitor, and may not read it back). */
static int add_grants(int mfd, struct kh_grants *g, struct kh_err *err)
{
	size_t len = 0;
	char *text = kh_grants_text(g, &len, err);
	int rc;

	if (text == NULL)
		return -1;
	rc = add_text(mfd, text, len, err);
	kh_grants_text_free(text);
	return rc;
}

/* The length of the daemon's shortest real key, for the fronts to know which
 * host names could hold one (kh_policy.shortest_key): none loaded is 0, no
 * policy yet 1 (then no host is quoted back). */
static int add_shortest_key(int mfd, struct kh_shared *sh, struct kh_err *err)
{
	struct kh_policy *p = kh_shared_policy(sh);
	uint32_t m = p == NULL ? 1 : 0;
	uint8_t b[8] = { 4 };

	for (size_t i = 0; p != NULL && i < p->secrets.n; i++) {
		size_t len = p->secrets.items[i].len;

		if (len > 0 && (m == 0 || len < m))
			m = (uint32_t)len;
	}
	if (m >= 8) /* any length up to the key's is as safe: the exact one is not said */
		m &= ~7u;
	kh_policy_unref(p);
	kh_le_put(b + 4, m, 4);
	if (write(mfd, b, sizeof b) != (ssize_t)sizeof b) {
		kh_err_set(err, "cannot write the fronts' policy: %s", kh_strerror(errno));
		return -1;
	}
	return 0;
}

static int policy_blob(const struct kh_fronts *fs, const struct kh_policy_files *files,
		       struct kh_err *err)
{
	int mfd = memfd_create("keyhole-policy", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (mfd < 0) {
		kh_err_set(err, "memfd: %s", kh_strerror(errno));
		return -1;
	}
	if (add_text(mfd, files->config.text, files->config.len, err) != 0 ||
	    add_text(mfd, files->mappings.text, files->mappings.len, err) != 0 ||
	    add_grants(mfd, fs->sh->grants, err) != 0 || add_shortest_key(mfd, fs->sh, err) != 0 ||
	    fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) !=
		    0) {
		if (err->msg[0] == '\0')
			kh_err_set(err, "cannot seal the fronts' policy: %s", kh_strerror(errno));
		close(mfd);
		return -1;
	}
	return mfd;
}

int kh_fronts_send_policy(struct kh_fronts *fs, const struct kh_policy_files *files,
			  struct kh_err *err)
{
	int mfd = policy_blob(fs, files, err);

	if (mfd < 0)
		return -1;
	pthread_mutex_lock(&fs->policy_lock);
	if (fs->policy_fd >= 0)
		close(fs->policy_fd);
	fs->policy_fd = mfd;
	for (unsigned i = 0; i < fs->n; i++)
		if (fs->s[i].chan >= 0 &&
		    kh_ctlmsg_send(fs->s[i].chan, KH_CTLMSG_POLICY, NULL, 0, mfd) != 0)
			kh_warn("front %u: cannot send it the new policy: %s", i,
				kh_strerror(errno));
	kh_signerctl_send_policy(&fs->signer, mfd);
	pthread_mutex_unlock(&fs->policy_lock);
	return 0;
}

/* --- container bridges --- */

/* Sends front s what changed in the bridge listeners since it was last
 * told; stops at a failed send, which kh_fronts_tend tries again. The
 * caller holds policy_lock. */
static void send_bridges(struct kh_fronts *fs, struct kh_front_slot *s)
{
	for (unsigned k = 0; k < KH_MAX_BRIDGES && s->bridge_ready && s->chan >= 0; k++) {
		int fd = fs->bridge_fds[k];

		if (s->bridge_sent[k] == fs->bridge_gen[k])
			continue;
		if ((fd >= 0 || s->bridge_on[k]) && kh_ctlmsg_send_listen(s->chan, k, fd) != 0) {
			if (!s->bridge_warned)
				kh_warn("front %u: cannot send it a container bridge listener "
					"(%s); trying again",
					s->id, kh_strerror(errno));
			s->bridge_warned = true;
			return;
		}
		s->bridge_sent[k] = fs->bridge_gen[k];
		s->bridge_on[k] = fd >= 0;
	}
	s->bridge_warned = false;
}

void kh_fronts_set_bridge(struct kh_fronts *fs, size_t slot, int fd)
{
	if (slot >= KH_MAX_BRIDGES) /* bridgewatch's slots are below it */
		return;
	pthread_mutex_lock(&fs->policy_lock);
	if (fs->bridge_fds[slot] >= 0)
		close(fs->bridge_fds[slot]);
	fs->bridge_fds[slot] = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
	if (fd >= 0 && fs->bridge_fds[slot] < 0)
		kh_error("container bridge: the fronts cannot get its listener: %s",
			 kh_strerror(errno));
	if (++fs->bridge_gen[slot] == 0) /* 0 is a new front's "nothing yet" */
		fs->bridge_gen[slot] = 1;
	for (unsigned i = 0; i < fs->n; i++)
		if (fs->s[i].pid > 0)
			send_bridges(fs, &fs->s[i]);
	pthread_mutex_unlock(&fs->policy_lock);
}

/* In the child: descriptors to their fixed numbers (front_proc.h), each
 * first moved above every target so no dup2 overwrites a source. Just
 * above them, not to a fixed high number: with a low RLIMIT_NOFILE (64)
 * that number may not exist. */
static void place_fds(const struct kh_fronts *fs, const struct kh_front_slot *s, int chan)
{
	int src[3 + KH_MAX_LISTENERS + 4], n = 0;

	src[n++] = chan;
	for (size_t i = 0; i < s->n_tcp; i++)
		src[n++] = s->tcp[i];
	for (int k = 0; k < 3; k++)
		if (fs->unix_fds[k] >= 0)
			src[n++] = fs->unix_fds[k];
	for (int i = 0; i < n; i++)
		if ((src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3 + n)) < 0)
			_exit(126);
	for (int i = 0; i < n; i++)
		if (dup2(src[i], 3 + i) < 0) /* dup2 leaves the copy open across exec */
			_exit(126);
}

/* What exec_front runs, built before fork: the child only moves
 * descriptors and calls execve. */
struct front_argv {
	char id[16], tcp[16], kinds[4];
	char *argv[13];
};

static void build_argv(const struct kh_fronts *fs, const struct kh_front_slot *s,
		       struct front_argv *a)
{
	size_t k = 0;
	char *v[] = { "keyhole",          "__front", "--home", (char *)fs->home, "--config",
		      (char *)fs->config, "--id",    a->id,    "--tcp",          a->tcp,
		      "--unix",           a->kinds,  NULL };

	snprintf(a->id, sizeof a->id, "%u", s->id);
	snprintf(a->tcp, sizeof a->tcp, "%zu", s->n_tcp);
	for (int i = 0; i < 3; i++)
		if (fs->unix_fds[i] >= 0)
			a->kinds[k++] = (char)('0' + i);
	a->kinds[k] = '\0';
	memcpy(a->argv, v, sizeof v);
}

/* A new channel to the CA signer for front s (none while the signer is
 * down: the front fails its handshakes that need a new leaf until the
 * signer is back and this runs again). Called with policy_lock held. */
static void send_signer_channel(struct kh_fronts *fs, struct kh_front_slot *s)
{
	int fd = s->chan >= 0 ? kh_signerctl_channel(&fs->signer, s->id) : -1;

	if (fd < 0)
		return;
	if (kh_ctlmsg_send(s->chan, KH_CTLMSG_SIGNER, NULL, 0, fd) != 0)
		kh_warn("front %u: cannot send it its channel to the CA signer: %s", s->id,
			kh_strerror(errno));
	close(fd);
}

static int spawn(struct kh_fronts *fs, struct kh_front_slot *s, struct kh_err *err)
{
	static char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	struct front_argv a;
	uint8_t n_fronts[4];
	int ours, theirs;
	pid_t pid;

	kh_le_put(n_fronts, fs->n, sizeof n_fronts);
	build_argv(fs, s, &a);
	if (new_channel(s, &ours, &theirs, err) != 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		kh_err_set(err, "cannot start front %u: %s", s->id, kh_strerror(errno));
		close(ours);
		close(theirs);
		return -1;
	}
	if (pid == 0) {
		kh_childlog_in_child(&s->log);
		place_fds(fs, s, theirs);
		execve("/proc/self/exe", a.argv, envp);
		_exit(127);
	}
	close(theirs);
	pthread_mutex_lock(&s->lock);
	s->pid = pid;
	s->have_confined = false; /* until this one says */
	pthread_mutex_unlock(&s->lock);
	atomic_store(&s->active, 0);
	/* The first messages the front reads: queued now, read when it is ready. */
	pthread_mutex_lock(&fs->policy_lock);
	s->chan = ours; /* the one before is closed by its worker (take_channel) */
	give_channel(s, ours);
	send_signer_channel(fs, s);
	if (kh_ctlmsg_send(s->chan, KH_CTLMSG_POLICY, NULL, 0, fs->policy_fd) != 0 ||
	    kh_ctlmsg_send(s->chan, KH_CTLMSG_CONNS, n_fronts, sizeof n_fronts, fs->conns_fd) !=
		    0) {
		pthread_mutex_unlock(&fs->policy_lock);
		kh_err_set(err, "cannot send front %u its start: %s", s->id, kh_strerror(errno));
		return -1;
	}
	/* then the bridges listened on now (after the start messages, which
	 * the front reads first and in that order) */
	memset(s->bridge_sent, 0, sizeof s->bridge_sent);
	memset(s->bridge_on, 0, sizeof s->bridge_on);
	s->bridge_ready = true;
	send_bridges(fs, s);
	pthread_mutex_unlock(&fs->policy_lock);
	kh_info("front %u started (pid %d)", s->id, (int)pid);
	return 0;
}

static bool front_confined(struct kh_front_slot *s)
{
	bool yes;

	pthread_mutex_lock(&s->lock);
	yes = s->have_confined;
	pthread_mutex_unlock(&s->lock);
	return yes;
}

/* A front that cannot confine itself exits, and would be started again every
 * KH_FRONT_RESTART_MS for ever while serving no one: at start, keyhole rather
 * fails and says why. Its reports are read on its worker's loop, its stderr
 * too (the message says why), so this only watches. */
static int wait_confined(struct kh_fronts *fs, struct kh_err *err)
{
	uint64_t end = kh_mono_ms() + KH_FRONT_START_WAIT_MS;
	int status;

	for (unsigned i = 0; i < fs->n; i++) {
		struct kh_front_slot *s = &fs->s[i];

		while (!front_confined(s)) {
			if (s->pid <= 0 || waitpid(s->pid, &status, WNOHANG) == s->pid) {
				s->pid = 0;
				kh_err_set(err,
					   "front %u did not start (its own lines, marked "
					   "[front %u], say why)",
					   s->id, s->id);
				return -1;
			}
			if (kh_mono_ms() >= end) {
				kh_err_set(err, "front %u did not confine itself within %u ms",
					   s->id, KH_FRONT_START_WAIT_MS);
				return -1;
			}
			poll(NULL, 0, 10);
		}
	}
	return 0;
}

int kh_fronts_start(struct kh_fronts *fs, const struct kh_policy_files *files, struct kh_err *err)
{
	int rc;

	if (kh_fronts_send_policy(fs, files, err) != 0)
		return -1;
	pthread_mutex_lock(&fs->policy_lock); /* before the fronts: their first leaf */
	rc = kh_signerctl_start(&fs->signer, fs->policy_fd, err);
	pthread_mutex_unlock(&fs->policy_lock);
	if (rc != 0 || kh_signerctl_wait_ready(&fs->signer, err) != 0)
		return -1;
	for (unsigned i = 0; i < fs->n; i++)
		if (spawn(fs, &fs->s[i], err) != 0)
			return -1;
	return wait_confined(fs, err);
}

void kh_fronts_tend(struct kh_fronts *fs)
{
	uint64_t now = kh_mono_ms();
	struct kh_err err = { "" };
	int status;
	pid_t pid;

	for (unsigned i = 0; i < fs->n; i++) {
		struct kh_front_slot *s = &fs->s[i];

		/* its own pid only: other children (credential commands) are
		 * waited for by whoever started them */
		if (s->pid <= 0 || (pid = waitpid(s->pid, &status, WNOHANG)) != s->pid)
			continue;
		s->pid = 0;
		/* its connections died with it: they no longer count against
		 * the others' limits.max_connections */
		kh_connslots_clear(&fs->conns, s->id);
		pthread_mutex_lock(&fs->policy_lock);
		s->bridge_ready = false; /* the next one is told at its start */
		/* Nothing more on its channel: whoever holds the dead front's end
		 * would read it (a new policy names new sandbox tokens). The
		 * descriptor stays its worker's to close (take_channel). */
		s->chan = -1;
		pthread_mutex_unlock(&fs->policy_lock);
		s->restart_at_ms = now + KH_FRONT_RESTART_MS;
		if (!fs->stopping)
			kh_warn("front %u (pid %d) %s %d; starting it again", s->id, (int)pid,
				WIFSIGNALED(status) ? "killed by signal" : "exited with",
				WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	}
	pthread_mutex_lock(&fs->policy_lock);
	if (kh_signerctl_tend(&fs->signer, fs->policy_fd, fs->stopping)) /* a new signer */
		for (unsigned i = 0; i < fs->n; i++)
			if (fs->s[i].pid > 0)
				send_signer_channel(fs, &fs->s[i]);
	pthread_mutex_unlock(&fs->policy_lock);
	for (unsigned i = 0; i < fs->n && !fs->stopping; i++) {
		struct kh_front_slot *s = &fs->s[i];

		if (s->pid != 0 || now < s->restart_at_ms)
			continue;
		atomic_fetch_add(&fs->restarts, 1);
		pthread_mutex_lock(&s->lock);
		s->restarts++;
		pthread_mutex_unlock(&s->lock);
		if (spawn(fs, s, &err) != 0)
			kh_error("%s", err.msg);
	}
	pthread_mutex_lock(&fs->policy_lock); /* bridge listeners a full channel held back */
	for (unsigned i = 0; i < fs->n; i++)
		if (fs->s[i].pid > 0)
			send_bridges(fs, &fs->s[i]);
	pthread_mutex_unlock(&fs->policy_lock);
}

unsigned kh_fronts_running(const struct kh_fronts *fs)
{
	unsigned n = 0;

	for (unsigned i = 0; i < fs->n; i++)
		n += fs->s[i].pid > 0;
	return n;
}

uint64_t kh_fronts_connections(struct kh_fronts *fs)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < fs->n; i++)
		if (fs->s[i].pid > 0)
			n += atomic_load(&fs->s[i].active);
	return n;
}

static json_t *front_json(struct kh_front_slot *s)
{
	json_t *o;

	pthread_mutex_lock(&s->lock);
	o = json_pack("{s:i, s:i, s:i, s:b}", "id", (int)s->id, "pid", (int)s->pid, "restarts",
		      (int)s->restarts, "confined", s->have_confined && s->pid > 0);
	if (o != NULL && s->have_confined && s->pid > 0)
		json_object_update_new(o, kh_signerctl_confined_json(&s->confined));
	pthread_mutex_unlock(&s->lock);
	return o;
}

json_t *kh_fronts_status_json(struct kh_fronts *fs)
{
	json_t *list;

	if (fs == NULL)
		return json_pack("{s:s}", "mode", "off");
	list = json_array();
	for (unsigned i = 0; list != NULL && i < fs->n; i++)
		json_array_append_new(list, front_json(&fs->s[i]));
	return json_pack("{s:s, s:o, s:o}", "mode", "processes", "fronts", list, "signer",
			 kh_signerctl_status_json(&fs->signer));
}

static void signal_all(struct kh_fronts *fs, int sig)
{
	for (unsigned i = 0; i < fs->n; i++)
		if (fs->s[i].pid > 0)
			kill(fs->s[i].pid, sig);
}

void kh_fronts_stop(struct kh_fronts *fs, unsigned grace_ms)
{
	uint64_t end = kh_mono_ms() + grace_ms;
	bool left = true;

	fs->stopping = true;
	/* No new connection may queue on a listener only this process holds
	 * open now (the fronts close theirs as they drain). */
	for (unsigned i = 0; i < fs->n; i++) {
		for (size_t k = 0; k < fs->s[i].n_tcp; k++)
			close(fs->s[i].tcp[k]);
		fs->s[i].n_tcp = 0;
	}
	pthread_mutex_lock(&fs->policy_lock);
	for (size_t k = 0; k < KH_MAX_BRIDGES; k++) {
		if (fs->bridge_fds[k] >= 0)
			close(fs->bridge_fds[k]);
		fs->bridge_fds[k] = -1;
	}
	pthread_mutex_unlock(&fs->policy_lock);
	signal_all(fs, SIGTERM);
	while (left && kh_mono_ms() < end) {
		kh_fronts_tend(fs);
		left = false;
		for (unsigned i = 0; i < fs->n; i++)
			left |= fs->s[i].pid > 0;
		if (left)
			usleep(20 * 1000);
	}
	signal_all(fs, SIGKILL);
	for (unsigned i = 0; i < fs->n; i++)
		if (fs->s[i].pid > 0)
			waitpid(fs->s[i].pid, NULL, 0);
	kh_signerctl_stop(&fs->signer, KH_FRONT_STOP_MS); /* no front asks any more */
}

void kh_fronts_free(struct kh_fronts *fs)
{
	for (unsigned i = 0; i < fs->n; i++) {
		struct kh_front_slot *s = &fs->s[i];

		on_log(&s->log_io, 0); /* its last words, redacted as ever */
		kh_childlog_free(&s->log);
		/* the workers are gone: nothing watches these; chan is one of them */
		if (s->chan_next >= 0)
			close(s->chan_next);
		if (s->io.fd >= 0)
			close(s->io.fd);
		s->chan = s->chan_next = s->io.fd = -1;
		for (size_t k = 0; k < s->n_tcp; k++)
			close(s->tcp[k]);
		s->n_tcp = 0;
	}
	for (size_t k = 0; k < KH_MAX_BRIDGES; k++) {
		if (fs->bridge_fds[k] >= 0)
			close(fs->bridge_fds[k]);
		fs->bridge_fds[k] = -1;
	}
	kh_signerctl_free(&fs->signer);
	if (fs->policy_fd >= 0)
		close(fs->policy_fd);
	fs->policy_fd = -1;
	if (fs->conns_fd >= 0)
		close(fs->conns_fd);
	fs->conns_fd = -1;
	kh_connslots_unmap(&fs->conns);
}
