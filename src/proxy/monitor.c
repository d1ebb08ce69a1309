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
#include "base/le.h"
#include "base/log.h"
#include "credsrc/credsrc.h"
#include "policy/config.h"
#include "policy/mappings.h"
#include "privsep/ctlmsg.h"

enum {
	MON_FETCH = 'F', /* seq; a memfd of NUL-terminated names */
	MON_SAVE = 'W', /* seq; a memfd of grants.json's new text */
	MON_OWNS = 'O', /* seq, mask (u32 each) */
	MON_OK = 'k', /* seq; for FETCH a memfd of the values (put_values) */
	MON_ERR = 'e', /* seq, then the message */
};

#define MON_SAVE_MAX   (64u << 20) /* grants.json: KH_MAX_GRANTS sandbox tokens fit */
#define MON_NAMES_MAX  (KH_MAX_TOKENS * 64u)
#define MON_VALUES_MAX (KH_MAX_TOKENS * (64u + 8u + KH_MAX_SECRET_LEN))
#define MON_REPLY_MS   (KH_CREDSRC_TIMEOUT_MS + 5000u) /* a fetch runs a program */
#define MON_STOP_MS    5000u

/* --- memfds: how the bigger payloads travel --- */

static int memfd_of(const void *p, size_t n)
{
	int fd = memfd_create("keyhole-monitor", MFD_CLOEXEC);

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

	if (fstat(fd, &st) != 0 || st.st_size < 0 || (uint64_t)st.st_size > cap)
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

struct mon {
	int sock;
	const struct kh_paths *paths;
	unsigned owned;
};

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

/* A name the daemon asks for: what mappings.json may hold (no '=', no
 * control byte), so a source filters by it and nothing else. */
static bool plain_name(const char *s, size_t n)
{
	if (n == 0 || n >= sizeof(((struct kh_secret_item *)0)->name))
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '=' || (unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

static void on_fetch(struct mon *m, uint32_t seq, int fd)
{
	const char *names[KH_MAX_TOKENS];
	struct kh_config cfg;
	struct kh_secrets out = { 0 };
	struct kh_err err = { "" };
	size_t len = 0, n = 0;
	char *text = fd >= 0 ? memfd_read(fd, MON_NAMES_MAX, &len) : NULL;
	int vfd;

	if (text == NULL) {
		reply(m->sock, MON_ERR, seq, "monitor: the names to fetch did not arrive", -1);
		return;
	}
	for (size_t at = 0; at < len && n < KH_MAX_TOKENS;) {
		size_t k = strnlen(text + at, len - at);

		if (!plain_name(text + at, k)) {
			reply(m->sock, MON_ERR, seq, "monitor: a name to fetch is not one", -1);
			free(text);
			return;
		}
		names[n++] = text + at;
		at += k + 1;
	}
	/* config.yaml as it is now, which the daemon cannot write: the program
	 * the source runs is the operator's choice, never the daemon's */
	if (kh_config_load(m->paths->config, &cfg, &err) != 0) {
		reply(m->sock, MON_ERR, seq, err.msg, -1);
		free(text);
		return;
	}
	if (kh_credsrc_fetch(&cfg, names, n, &out, &err) != 0) {
		reply(m->sock, MON_ERR, seq, err.msg, -1);
	} else if ((vfd = put_values(&out)) < 0) {
		reply(m->sock, MON_ERR, seq, "monitor: cannot hand the values over", -1);
	} else {
		reply(m->sock, MON_OK, seq, NULL, vfd);
		close(vfd);
	}
	kh_secrets_free(&out);
	kh_config_free(&cfg);
	free(text);
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

/* What the daemon made and can no longer remove itself. */
static void remove_owned(const struct mon *m)
{
	const char *paths[] = { m->paths->sock, m->paths->tls_sock, m->paths->http_sock,
				m->paths->control, m->paths->metrics };

	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
		if ((m->owned & (1u << i)) != 0)
			unlink(paths[i]);
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
		for (size_t i = 0; i < maps.n; i++)
			names[i] = maps.v[i].env_name;
		kh_secrets_scrub_environ(names, maps.n);
		kh_mappings_free(&maps);
	}
	if (kh_config_load(p->config, &cfg, &err) == 0) {
		kh_credsrc_hide_access_env(&cfg);
		kh_config_free(&cfg);
	}
}

static void serve(struct mon *m)
{
	for (;;) {
		struct pollfd pf = { m->sock, POLLIN, 0 };
		uint8_t type, buf[8];
		int fd = -1;
		ssize_t n;
		uint32_t seq;

		if (poll(&pf, 1, -1) < 0 && errno != EINTR)
			return;
		n = kh_ctlmsg_recv(m->sock, &type, buf, sizeof buf, &fd);
		if (n == KH_CTLMSG_RECV_CLOSED)
			return;
		if (n < 4) {
			if (fd >= 0)
				close(fd);
			continue; /* EAGAIN, or nothing this side asked for */
		}
		seq = (uint32_t)kh_le_get(buf, 4);
		if (type == MON_FETCH)
			on_fetch(m, seq, fd);
		else if (type == MON_SAVE)
			on_save(m, seq, fd);
		else if (type == MON_OWNS && n == 8)
			m->owned = (unsigned)kh_le_get(buf + 4, 4);
		if (fd >= 0)
			close(fd);
	}
}

static void monitor_main(int sock, const struct kh_paths *paths)
{
	struct mon m = { sock, paths, 0 };

	prctl(PR_SET_NAME, "keyhole-monitor", 0, 0, 0);
	forget_environment(paths);
	serve(&m);
	remove_owned(&m);
	_exit(0);
}

int kh_monitor_start(struct kh_monitor *m, const struct kh_paths *paths, struct kh_err *err)
{
	int sv[2];

	*m = (struct kh_monitor){ .sock = -1 };
	pthread_mutex_init(&m->lock, NULL);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		kh_err_set(err, "cannot start the monitor: %s", kh_strerror(errno));
		return -1;
	}
	m->pid = fork();
	if (m->pid < 0) {
		kh_err_set(err, "cannot start the monitor: %s", kh_strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (m->pid == 0) {
		close(sv[0]);
		monitor_main(sv[1], paths);
	}
	close(sv[1]);
	m->sock = sv[0];
	return 0;
}

/* --- the daemon's side --- */

/* One request and its answer (MON_OK with *fd if it carries one, or
 * MON_ERR with its message in err). The caller holds m->lock. */
static int ask(struct kh_monitor *m, uint8_t type, const void *extra, size_t extra_len, int fd,
	       int *reply_fd, struct kh_err *err)
{
	uint8_t b[8], rb[4 + KH_ERR_MAX];
	uint64_t end = kh_mono_ms() + MON_REPLY_MS;
	uint32_t seq = ++m->seq;

	kh_le_put(b, seq, 4);
	if (extra_len > 0)
		memcpy(b + 4, extra, extra_len);
	if (m->sock < 0 || kh_ctlmsg_send(m->sock, type, b, 4 + extra_len, fd) != 0) {
		kh_err_set(err, "the monitor process is gone: restart keyhole");
		return -1;
	}
	for (;;) {
		uint64_t now = kh_mono_ms();
		uint8_t rt;
		int rfd = -1;
		ssize_t n = kh_ctlmsg_wait(m->sock, now < end ? (unsigned)(end - now) : 0, &rt, rb,
					   sizeof rb - 1, &rfd);

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
	pthread_mutex_lock(&m->lock);
	if (ask(m, MON_FETCH, NULL, 0, fd, &vfd, err) == 0) {
		values = vfd >= 0 ? memfd_read(vfd, MON_VALUES_MAX, &got) : NULL;
		if (values == NULL)
			kh_err_set(err, "the monitor's values did not arrive");
		else
			rc = take_values(values, got, n, out, err);
	}
	pthread_mutex_unlock(&m->lock);
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
	pthread_mutex_lock(&m->lock);
	rc = ask(m, MON_SAVE, NULL, 0, fd, NULL, err);
	pthread_mutex_unlock(&m->lock);
	close(fd);
	return rc;
}

int kh_monitor_owns(struct kh_monitor *m, unsigned owned, struct kh_err *err)
{
	uint8_t b[8];

	pthread_mutex_lock(&m->lock);
	kh_le_put(b, ++m->seq, 4);
	kh_le_put(b + 4, owned, 4);
	if (m->sock < 0 || kh_ctlmsg_send(m->sock, MON_OWNS, b, sizeof b, -1) != 0) {
		pthread_mutex_unlock(&m->lock);
		kh_err_set(err, "cannot reach the monitor process: %s", kh_strerror(errno));
		return -1;
	}
	pthread_mutex_unlock(&m->lock);
	return 0;
}

void kh_monitor_stop(struct kh_monitor *m)
{
	uint64_t end = kh_mono_ms() + MON_STOP_MS;
	int status;

	if (m->pid <= 0)
		return;
	if (m->sock >= 0)
		close(m->sock);
	m->sock = -1;
	while (waitpid(m->pid, &status, WNOHANG) == 0) {
		if (kh_mono_ms() >= end) {
			kill(m->pid, SIGKILL);
			waitpid(m->pid, &status, 0);
			break;
		}
		usleep(5000);
	}
	m->pid = 0;
}
