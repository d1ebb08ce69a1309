/* The monitor (monitor.h): the daemon's unconfined half, and the daemon's
 * calls to it. */
#include "proxy/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/clock.h"
#include "base/fsutil.h"
#include "base/kh_limits.h"
#include "base/le.h"
#include "base/log.h"
#include "credsrc/credsrc.h"
#include "policy/config.h"
#include "policy/mappings.h"
#include "policy/policyfiles.h"
#include "policy/resolvfiles.h"
#include "privsep/ctlmsg.h"

enum {
	MON_FETCH = 'F', /* seq; a memfd of NUL-terminated names */
	MON_SAVE = 'W', /* seq; a memfd of grants.json's new text */
	MON_OWNS = 'O', /* seq, mask (u32 each) */
	MON_READ = 'R', /* seq; answered with a memfd of the policy files (put_files) */
	MON_RESOLV = 'N', /* seq; copy /etc/resolv.conf and /etc/hosts for the resolver */
	MON_OK = 'k', /* seq; for FETCH a memfd of the values (put_values) */
	MON_ERR = 'e', /* seq, then the message */
};

#define MON_SAVE_MAX         (64u << 20) /* grants.json: KH_MAX_GRANTS sandbox tokens fit */
#define MON_NAMES_MAX        (KH_MAX_TOKENS * 64u)
#define MON_VALUES_MAX       (KH_MAX_TOKENS * (64u + 8u + KH_MAX_SECRET_LEN))
#define MON_FETCH_MS         (KH_CREDSRC_TIMEOUT_MS + 5000u) /* a fetch runs a program */
#define MON_SAVE_MS          10000u
#define MON_READ_MS          10000u
#define MON_RESOLV_MS        2000u /* two small files; the resolver thread waits */
#define MON_FILES_MAX        (KH_MAX_CONFIG_BYTES + KH_MAX_MAPPINGS_BYTES + KH_MAX_CA_BUNDLE_BYTES + 15u)
#define MON_FETCH_OVERLAP_MS 1000u /* how long a fetch child that has answered may take to exit */
#define MON_STOP_MS          5000u

/* --- memfds: how the bigger payloads travel --- */

static int memfd_of(const void *p, size_t n)
{
	int fd = memfd_create("keyhole-monitor", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -1;
	if (kh_fs_write_all(fd, p, n) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The whole of fd (at most cap bytes) in a fresh buffer, NUL-terminated;
 * the caller wipes and frees it. */
static char *memfd_read(int fd, size_t cap, size_t *len)
{
	struct stat st;
	char *b;

	/* a memfd only (F_GET_SEALS fails on anything else): a file on a slow
	 * or hung file system, a pipe or a device must not block the monitor */
	if (fcntl(fd, F_GET_SEALS) < 0 || fstat(fd, &st) != 0 || st.st_size < 0 ||
	    (uint64_t)st.st_size > cap)
		return NULL;
	b = malloc((size_t)st.st_size + 1);
	if (b == NULL)
		return NULL;
	if (pread(fd, b, (size_t)st.st_size, 0) != st.st_size) {
		free(b);
		return NULL;
	}
	b[st.st_size] = '\0';
	*len = (size_t)st.st_size;
	return b;
}

static void wipe_free(char *p, size_t n)
{
	if (p != NULL)
		OPENSSL_cleanse(p, n);
	free(p);
}

/* --- the monitor's side --- */

#define MON_OWNED_MAX 5 /* the kh_monitor_owned bits */

struct mon {
	int sock, fetch_sock;
	const struct kh_paths *paths;
	pid_t fetcher; /* the child running a fetch; 0 when none */
	struct { /* what the daemon owned when it said so */
		bool set;
		dev_t dev;
		ino_t ino;
		struct timespec ctime;
	} owned[MON_OWNED_MAX];
};

static const char *owned_path(const struct kh_paths *p, int i)
{
	const char *v[MON_OWNED_MAX] = { p->sock, p->tls_sock, p->http_sock, p->control,
					 p->metrics };

	return v[i];
}

static void reply(int sock, uint8_t type, uint32_t seq, const char *msg, int fd)
{
	uint8_t b[4 + KH_ERR_MAX];
	size_t n = msg != NULL ? strnlen(msg, KH_ERR_MAX - 1) : 0;

	kh_le_put(b, seq, 4);
	memcpy(b + 4, msg != NULL ? msg : "", n);
	if (kh_ctlmsg_send(sock, type, b, 4 + n, fd) != 0)
		kh_warn("monitor: cannot answer the daemon: %s", kh_strerror(errno));
}

/* [u16 name length][name][u32 value length][value], for each value. */
static int put_values(const struct kh_secrets *s)
{
	size_t cap = 0, at = 0;
	char *b;
	int fd;

	for (size_t i = 0; i < s->n; i++)
		cap += 2 + strlen(s->items[i].name) + 4 + s->items[i].len;
	b = malloc(cap + 1);
	if (b == NULL)
		return -1;
	for (size_t i = 0; i < s->n; i++) {
		size_t nl = strlen(s->items[i].name);

		kh_le_put((uint8_t *)b + at, nl, 2);
		memcpy(b + at + 2, s->items[i].name, nl);
		at += 2 + nl;
		kh_le_put((uint8_t *)b + at, s->items[i].len, 4);
		memcpy(b + at + 4, s->arena + s->items[i].off, s->items[i].len);
		at += 4 + s->items[i].len;
	}
	fd = memfd_of(b, at);
	wipe_free(b, cap + 1);
	return fd;
}

/* A name the daemon may ask for: one mappings.json holds now (read here,
 * not taken from the daemon), so a taken daemon gets no value of the
 * source's that no mapping stands for. */
static bool mapped_name(const struct kh_mappings *maps, const char *s, size_t n)
{
	return n < sizeof(((struct kh_secret_item *)0)->name) && strlen(s) == n &&
	       kh_env_name_valid(s) && kh_mappings_find(maps, s) != NULL;
}

/* In the fetch child: the names (checked), the source run, the answer sent. */
static void fetch_now(int sock, const struct kh_paths *paths, uint32_t seq, int fd)
{
	const char *names[KH_MAX_TOKENS];
	struct kh_mappings maps = { 0 };
	struct kh_config cfg;
	struct kh_secrets out = { 0 };
	struct kh_err err = { "" };
	size_t len = 0, n = 0;
	char *text = fd >= 0 ? memfd_read(fd, MON_NAMES_MAX, &len) : NULL;
	bool existed;
	int vfd;

	if (text == NULL) {
		reply(sock, MON_ERR, seq, "monitor: the names to fetch did not arrive", -1);
		return;
	}
	/* config.yaml and mappings.json as they are now, which the daemon
	 * cannot write: the program the source runs is the operator's choice,
	 * and so are the names it may be asked for */
	if (kh_mappings_load(paths->mappings, &maps, &existed, &err) != 0 ||
	    kh_config_load(paths->config, &cfg, &err) != 0) {
		reply(sock, MON_ERR, seq, err.msg, -1);
		kh_mappings_free(&maps);
		free(text);
		return;
	}
	for (size_t at = 0; at < len && n < KH_MAX_TOKENS;) {
		size_t k = strnlen(text + at, len - at);

		if (!mapped_name(&maps, text + at, k)) {
			reply(sock, MON_ERR, seq, "monitor: asked for a name no mapping has", -1);
			goto out;
		}
		names[n++] = text + at;
		at += k + 1;
	}
	if (kh_credsrc_fetch(&cfg, names, n, &out, &err) != 0) {
		reply(sock, MON_ERR, seq, err.msg, -1);
	} else if ((vfd = put_values(&out)) < 0) {
		reply(sock, MON_ERR, seq, "monitor: cannot hand the values over", -1);
	} else {
		reply(sock, MON_OK, seq, NULL, vfd);
		close(vfd);
	}
out:
	kh_secrets_free(&out);
	kh_config_free(&cfg);
	kh_mappings_free(&maps);
	free(text);
}

/* Has the fetch child (if any) ended? Reaps it, and forgets its pid then,
 * so the pid is never signalled once the kernel may have reused it. */
static bool fetcher_ended(struct mon *m)
{
	pid_t r;

	if (m->fetcher <= 0)
		return true;
	r = waitpid(m->fetcher, NULL, WNOHANG);
	if (r == m->fetcher || (r < 0 && errno == ECHILD))
		m->fetcher = 0;
	return m->fetcher == 0;
}

/* A fetch runs a program for up to KH_CREDSRC_TIMEOUT_MS: in a child of
 * the monitor's, one at a time, so the monitor keeps answering SAVE. */
static void on_fetch(struct mon *m, uint32_t seq, int fd)
{
	uint64_t end = kh_mono_ms() + MON_FETCH_OVERLAP_MS;
	pid_t pid;

	/* The one before has answered (the daemon asks again only then) but
	 * may not have exited yet: a daemon that asks twice at once is told no. */
	while (!fetcher_ended(m) && kh_mono_ms() < end)
		usleep(2000);
	if (!fetcher_ended(m)) {
		reply(m->fetch_sock, MON_ERR, seq, "monitor: a fetch is still running", -1);
		return;
	}
	pid = fork();
	if (pid < 0) {
		reply(m->fetch_sock, MON_ERR, seq, "monitor: cannot fork", -1);
		return;
	}
	if (pid == 0) {
		/* a group of its own, with the program it runs: both are killed
		 * if the daemon ends mid-fetch (remove_owned's caller) */
		setpgid(0, 0);
		close(m->sock);
		fetch_now(m->fetch_sock, m->paths, seq, fd);
		_exit(0);
	}
	setpgid(pid, pid); /* also here: whichever runs first */
	m->fetcher = pid;
}

static void on_save(struct mon *m, uint32_t seq, int fd)
{
	struct kh_err err = { "" };
	size_t len = 0;
	char *text = fd >= 0 ? memfd_read(fd, MON_SAVE_MAX, &len) : NULL;

	if (text == NULL)
		reply(m->sock, MON_ERR, seq, "monitor: grants.json's text did not arrive", -1);
	else if (kh_fs_write_atomic(m->paths->grants, text, len, 0600, &err) != 0)
		reply(m->sock, MON_ERR, seq, err.msg, -1);
	else
		reply(m->sock, MON_OK, seq, NULL, -1);
	wipe_free(text, len);
}

/* [u8 present][u32 length][bytes] for config.yaml, mappings.json and
 * upstream_ca_file, in that order. */
static int put_files(const struct kh_policy_files *f)
{
	const struct kh_policy_file *v[3] = { &f->config, &f->mappings, &f->upstream_ca };
	size_t cap = 15, at = 0;
	char *b;
	int fd;

	for (int i = 0; i < 3; i++)
		cap += v[i]->len;
	b = malloc(cap);
	if (b == NULL)
		return -1;
	for (int i = 0; i < 3; i++) {
		b[at] = (char)v[i]->present;
		kh_le_put((uint8_t *)b + at + 1, v[i]->len, 4);
		if (v[i]->len > 0)
			memcpy(b + at + 5, v[i]->text, v[i]->len);
		at += 5 + v[i]->len;
	}
	fd = memfd_of(b, at);
	wipe_free(b, cap); /* mappings.json holds proxy tokens */
	return fd;
}

/* A reload's files, read here: the daemon, confined, cannot open the
 * keyhole directory (ca.key is there). Which files is not the daemon's to
 * say: config.yaml, mappings.json and the upstream_ca_file config.yaml
 * names, no other. */
static void on_read(struct mon *m, uint32_t seq)
{
	struct kh_policy_files f;
	struct kh_err err = { "" };
	int fd;

	if (kh_policy_files_read(m->paths, &f, &err) != 0) {
		reply(m->sock, MON_ERR, seq, err.msg, -1);
		return;
	}
	fd = put_files(&f);
	kh_policy_files_free(&f);
	if (fd < 0) {
		reply(m->sock, MON_ERR, seq, "monitor: cannot hand the files over", -1);
		return;
	}
	reply(m->sock, MON_OK, seq, NULL, fd);
	close(fd);
}

/* The resolver's copies made again: always the same two files into the
 * same directory, whoever asks. */
static void on_resolv(struct mon *m, uint32_t seq)
{
	struct kh_err err = { "" };

	if (kh_resolvfiles_copy(m->paths->resolver, &err) != 0)
		reply(m->sock, MON_ERR, seq, err.msg, -1);
	else
		reply(m->sock, MON_OK, seq, NULL, -1);
}

/* The files the daemon says it made, as they are now. */
static void on_owns(struct mon *m, unsigned mask)
{
	for (int i = 0; i < MON_OWNED_MAX; i++) {
		struct stat st;

		m->owned[i].set = (mask & (1u << i)) != 0 &&
				  lstat(owned_path(m->paths, i), &st) == 0;
		if (m->owned[i].set) {
			m->owned[i].dev = st.st_dev;
			m->owned[i].ino = st.st_ino;
			m->owned[i].ctime = st.st_ctim;
		}
	}
}

/* What the daemon made and can no longer remove itself: each only if it is
 * still that file (a keyhole started since has made its own). */
static void remove_owned(const struct mon *m)
{
	for (int i = 0; i < MON_OWNED_MAX; i++) {
		const char *p = owned_path(m->paths, i);
		struct stat st;

		if (m->owned[i].set && lstat(p, &st) == 0 && st.st_dev == m->owned[i].dev &&
		    st.st_ino == m->owned[i].ino && st.st_ctim.tv_sec == m->owned[i].ctime.tv_sec &&
		    st.st_ctim.tv_nsec == m->owned[i].ctime.tv_nsec)
			unlink(p);
	}
}

/* The values the daemon was given at start are in this copy of its
 * environment too: wipe them, and hide the source's access secret. */
static void forget_environment(const struct kh_paths *p)
{
	const char *names[KH_MAX_TOKENS];
	struct kh_mappings maps;
	struct kh_config cfg;
	struct kh_err err = { "" };
	bool existed;

	if (kh_mappings_load(p->mappings, &maps, &existed, &err) == 0) {
		kh_secrets_scrub_environ(names, kh_mappings_env_names(&maps, names));
		kh_mappings_free(&maps);
	}
	if (kh_config_load(p->config, &cfg, &err) == 0) {
		kh_credsrc_hide_access_env(&cfg);
		kh_config_free(&cfg);
	}
}

/* One message from sock; false when the daemon's end is closed. */
static bool take_one(struct mon *m, int sock)
{
	uint8_t type, buf[8];
	int fd = -1;
	ssize_t n = kh_ctlmsg_recv(sock, &type, buf, sizeof buf, &fd);
	uint32_t seq;

	if (n == KH_CTLMSG_RECV_CLOSED)
		return false;
	if (n >= 4) {
		seq = (uint32_t)kh_le_get(buf, 4);
		if (sock == m->fetch_sock && type == MON_FETCH)
			on_fetch(m, seq, fd);
		else if (sock == m->sock && type == MON_SAVE)
			on_save(m, seq, fd);
		else if (sock == m->sock && type == MON_READ && n == 4)
			on_read(m, seq);
		else if (sock == m->sock && type == MON_RESOLV && n == 4)
			on_resolv(m, seq);
		else if (sock == m->sock && type == MON_OWNS && n == 8)
			on_owns(m, (unsigned)kh_le_get(buf + 4, 4));
	}
	if (fd >= 0)
		close(fd);
	return true; /* EAGAIN, or nothing this side asked for: ignored */
}

static void serve(struct mon *m)
{
	for (;;) {
		struct pollfd pf[2] = { { m->sock, POLLIN, 0 }, { m->fetch_sock, POLLIN, 0 } };

		if (poll(pf, 2, m->fetcher > 0 ? 100 : -1) < 0 && errno != EINTR)
			return;
		fetcher_ended(m);
		if ((pf[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !take_one(m, m->sock))
			return;
		if ((pf[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0 &&
		    !take_one(m, m->fetch_sock))
			return;
	}
}

static void monitor_main(int sock, int fetch_sock, const struct kh_paths *paths)
{
	struct mon m = { .sock = sock, .fetch_sock = fetch_sock, .paths = paths };

	prctl(PR_SET_NAME, "keyhole-monitor", 0, 0, 0);
	/* The daemon's stop signals are its own: a ^C to the foreground group
	 * must not end the monitor before the daemon's last grants.json write
	 * (it ends when the daemon's end of the channel closes). */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	forget_environment(paths);
	serve(&m);
	remove_owned(&m);
	if (!fetcher_ended(&m))
		kill(-m.fetcher, SIGKILL); /* the fetch and the program it runs */
	_exit(0);
}

int kh_monitor_start(struct kh_monitor *m, const struct kh_paths *paths, struct kh_err *err)
{
	int a[2] = { -1, -1 }, f[2] = { -1, -1 };

	*m = (struct kh_monitor){ .ctl.sock = -1, .fetch.sock = -1 };
	pthread_mutex_init(&m->ctl.lock, NULL);
	pthread_mutex_init(&m->fetch.lock, NULL);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, a) != 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, f) != 0 ||
	    (m->pid = fork()) < 0) {
		kh_err_set(err, "cannot start the monitor: %s", kh_strerror(errno));
		for (int i = 0; i < 2; i++) {
			if (a[i] >= 0)
				close(a[i]);
			if (f[i] >= 0)
				close(f[i]);
		}
		m->pid = 0;
		return -1;
	}
	if (m->pid == 0) {
		close(a[0]);
		close(f[0]);
		monitor_main(a[1], f[1], paths);
	}
	close(a[1]);
	close(f[1]);
	m->ctl.sock = a[0];
	m->fetch.sock = f[0];
	return 0;
}

/* --- the daemon's side --- */

/* One request (its payload in the memfd fd) and its answer: MON_OK, with
 * *reply_fd if it carries one, or MON_ERR with its message in err. The
 * caller holds m->lock. */
static int ask(struct kh_monitor_chan *m, uint8_t type, int fd, unsigned timeout_ms, int *reply_fd,
	       struct kh_err *err)
{
	uint8_t b[4], rb[4 + KH_ERR_MAX];
	uint64_t end = kh_mono_ms() + timeout_ms;
	uint32_t seq = ++m->seq;

	kh_le_put(b, seq, 4);
	if (m->sock < 0 || kh_ctlmsg_send(m->sock, type, b, sizeof b, fd) != 0) {
		kh_err_set(err, "the monitor process is gone: restart keyhole");
		return -1;
	}
	for (;;) {
		uint64_t now = kh_mono_ms();
		uint8_t rt;
		int rfd = -1;
		ssize_t n = kh_ctlmsg_wait(m->sock, now < end ? (unsigned)(end - now) : 0, &rt, rb,
					   sizeof rb - 1, &rfd);

		if (n == KH_CTLMSG_RECV_BAD) /* cut: cannot be ours */
			continue;
		if (n < 0) {
			kh_err_set(err, "the monitor process %s",
				   n == -1 && errno == ETIMEDOUT ? "did not answer in time"
								 : "is gone: restart keyhole");
			return -1;
		}
		if (n < 4 || kh_le_get(rb, 4) != seq) { /* an answer to a request given up on */
			if (rfd >= 0)
				close(rfd);
			continue;
		}
		if (rt == MON_OK) {
			if (reply_fd != NULL)
				*reply_fd = rfd;
			else if (rfd >= 0)
				close(rfd);
			return 0;
		}
		if (rfd >= 0)
			close(rfd);
		rb[n] = '\0';
		kh_err_set(err, "%s", (const char *)rb + 4);
		return -1;
	}
}

/* put_values' records into out. */
static int take_values(const char *b, size_t len, size_t n_max, struct kh_secrets *out,
		       struct kh_err *err)
{
	if (kh_secrets_init(out, len + 1, n_max, err) != 0)
		return -1;
	for (size_t at = 0; at < len;) {
		char name[sizeof(((struct kh_secret_item *)0)->name)];
		size_t nl, vl;

		if (len - at < 2 || (nl = kh_le_get((const uint8_t *)b + at, 2)) >= sizeof name ||
		    len - at - 2 < nl + 4)
			goto cut;
		memcpy(name, b + at + 2, nl);
		name[nl] = '\0';
		at += 2 + nl;
		vl = kh_le_get((const uint8_t *)b + at, 4);
		if (len - at - 4 < vl)
			goto cut;
		if (kh_secrets_add(out, name, b + at + 4, vl, err) != 0) {
			kh_secrets_free(out);
			return -1;
		}
		at += 4 + vl;
	}
	return 0;
cut:
	kh_secrets_free(out);
	kh_err_set(err, "the monitor's values were cut");
	return -1;
}

int kh_monitor_fetch(struct kh_monitor *m, const char *const *names, size_t n,
		     struct kh_secrets *out, struct kh_err *err)
{
	size_t len = 0, at = 0, got = 0;
	char *list, *values = NULL;
	int fd, vfd = -1, rc = -1;

	for (size_t i = 0; i < n; i++)
		len += strlen(names[i]) + 1;
	list = malloc(len + 1);
	if (list == NULL) {
		kh_err_set(err, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		size_t k = strlen(names[i]) + 1;

		memcpy(list + at, names[i], k);
		at += k;
	}
	fd = memfd_of(list, len);
	free(list);
	if (fd < 0) {
		kh_err_set(err, "cannot ask the monitor: %s", kh_strerror(errno));
		return -1;
	}
	pthread_mutex_lock(&m->fetch.lock);
	if (ask(&m->fetch, MON_FETCH, fd, MON_FETCH_MS, &vfd, err) == 0) {
		values = vfd >= 0 ? memfd_read(vfd, MON_VALUES_MAX, &got) : NULL;
		if (values == NULL)
			kh_err_set(err, "the monitor's values did not arrive");
		else
			rc = take_values(values, got, n, out, err);
	}
	pthread_mutex_unlock(&m->fetch.lock);
	close(fd);
	if (vfd >= 0)
		close(vfd);
	wipe_free(values, got);
	return rc;
}

int kh_monitor_save_grants(struct kh_monitor *m, const char *text, size_t len, struct kh_err *err)
{
	int fd = memfd_of(text, len), rc;

	if (fd < 0) {
		kh_err_set(err, "cannot hand grants.json to the monitor: %s", kh_strerror(errno));
		return -1;
	}
	pthread_mutex_lock(&m->ctl.lock);
	rc = ask(&m->ctl, MON_SAVE, fd, MON_SAVE_MS, NULL, err);
	pthread_mutex_unlock(&m->ctl.lock);
	close(fd);
	return rc;
}

/* put_files' records into f, each copied (a file of its own to free). */
static int take_files(const char *b, size_t len, struct kh_policy_files *f, struct kh_err *err)
{
	struct kh_policy_file *v[3] = { &f->config, &f->mappings, &f->upstream_ca };
	const size_t caps[3] = { KH_MAX_CONFIG_BYTES, KH_MAX_MAPPINGS_BYTES,
				 KH_MAX_CA_BUNDLE_BYTES };
	size_t at = 0;

	memset(f, 0, sizeof *f);
	for (int i = 0; i < 3; i++) {
		size_t n;

		if (len - at < 5 || (uint8_t)b[at] > 1 ||
		    (n = kh_le_get((const uint8_t *)b + at + 1, 4)) > caps[i] || len - at - 5 < n ||
		    (b[at] == 0 && n > 0))
			goto cut;
		v[i]->present = b[at] == 1;
		if (v[i]->present) {
			v[i]->text = malloc(n + 1);
			if (v[i]->text == NULL)
				goto cut;
			memcpy(v[i]->text, b + at + 5, n);
			v[i]->text[n] = '\0';
			v[i]->len = n;
		}
		at += 5 + n;
	}
	if (at == len)
		return 0;
cut:
	kh_policy_files_free(f);
	kh_err_set(err, "the monitor's files were cut");
	return -1;
}

int kh_monitor_read_files(struct kh_monitor *m, struct kh_policy_files *out, struct kh_err *err)
{
	size_t got = 0;
	char *b = NULL;
	int fd = -1, rc = -1;

	pthread_mutex_lock(&m->ctl.lock);
	if (ask(&m->ctl, MON_READ, -1, MON_READ_MS, &fd, err) == 0) {
		b = fd >= 0 ? memfd_read(fd, MON_FILES_MAX, &got) : NULL;
		if (b == NULL)
			kh_err_set(err, "the monitor's files did not arrive");
		else
			rc = take_files(b, got, out, err);
	}
	pthread_mutex_unlock(&m->ctl.lock);
	if (fd >= 0)
		close(fd);
	wipe_free(b, got);
	return rc;
}

int kh_monitor_copy_resolver_files(struct kh_monitor *m, struct kh_err *err)
{
	int rc;

	/* the resolver thread asks: never wait behind a grants.json write or
	 * a reload's read (it tries again at its next check) */
	if (pthread_mutex_trylock(&m->ctl.lock) != 0)
		return 1;
	rc = ask(&m->ctl, MON_RESOLV, -1, MON_RESOLV_MS, NULL, err);
	pthread_mutex_unlock(&m->ctl.lock);
	return rc;
}

int kh_monitor_owns(struct kh_monitor *m, unsigned owned, struct kh_err *err)
{
	uint8_t b[8];
	int rc;

	pthread_mutex_lock(&m->ctl.lock);
	kh_le_put(b, ++m->ctl.seq, 4);
	kh_le_put(b + 4, owned, 4);
	rc = m->ctl.sock >= 0 ? kh_ctlmsg_send(m->ctl.sock, MON_OWNS, b, sizeof b, -1) : -1;
	pthread_mutex_unlock(&m->ctl.lock);
	if (rc != 0)
		kh_err_set(err, "cannot reach the monitor process: %s", kh_strerror(errno));
	return rc;
}

bool kh_monitor_alive(struct kh_monitor *m)
{
	if (m->pid > 0 && waitpid(m->pid, NULL, WNOHANG) == m->pid)
		m->pid = 0;
	return m->pid > 0;
}

void kh_monitor_stop(struct kh_monitor *m)
{
	uint64_t end = kh_mono_ms() + MON_STOP_MS;

	for (int i = 0; i < 2; i++) {
		struct kh_monitor_chan *c = i == 0 ? &m->ctl : &m->fetch;

		pthread_mutex_lock(&c->lock);
		if (c->sock >= 0)
			close(c->sock);
		c->sock = -1;
		pthread_mutex_unlock(&c->lock);
	}
	/* It ends at the channels' close; a confined daemon could not kill it */
	while (kh_monitor_alive(m) && kh_mono_ms() < end)
		usleep(5000);
	/* still there: killed and reaped where this process may signal it
	 * (unconfined: a start that failed early), else left to end alone */
	if (m->pid > 0 && kill(m->pid, SIGKILL) == 0)
		waitpid(m->pid, NULL, 0);
	m->pid = 0;
}
