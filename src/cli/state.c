#include "cli/state.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "base/fsutil.h"
#include "base/kh_limits.h"
#include "base/slice.h"

int kh_pidfile_read(const char *path, pid_t *pid)
{
	char buf[32];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;
	uint64_t v;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	if (kh_slice_to_u64(kh_slice_make(buf, (size_t)n), 4194304, &v) != 0 || v < 2)
		return -1;
	*pid = (pid_t)v;
	return 0;
}

int kh_pidfile_create(const char *path, pid_t pid, struct kh_err *err)
{
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%d\n", (int)pid);
	int fd = kh_fs_open_private(path, O_WRONLY | O_CREAT | O_EXCL, 0600, err);

	if (fd < 0)
		return -1;
	if (kh_fs_write_all(fd, buf, (size_t)n) != 0) {
		kh_err_set(err, "write %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

int kh_nonce_write(const char *path, const char *nonce, struct kh_err *err)
{
	return kh_fs_write_atomic(path, nonce, strlen(nonce), 0600, err);
}

int kh_nonce_read(const char *path, char *out, size_t len)
{
	char *data = NULL;
	size_t n = 0;
	struct kh_err err;

	if (kh_fs_read_file(path, 256, true, &data, &n, &err) != 0)
		return -1;
	while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == ' '))
		n--;
	if (n == 0 || n >= len) {
		free(data);
		return -1;
	}
	memcpy(out, data, n);
	out[n] = '\0';
	free(data);
	return 0;
}

void kh_nonce_new(char out[KH_NONCE_LEN + 1])
{
	unsigned char raw[KH_NONCE_LEN / 2];
	static const char hex[] = "0123456789abcdef";

	if (RAND_bytes(raw, sizeof raw) != 1)
		abort(); /* no randomness: nothing about keyhole's tokens would be safe either */
	for (size_t i = 0; i < sizeof raw; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[KH_NONCE_LEN] = '\0';
}

static ssize_t read_proc(pid_t pid, const char *what, char *buf, size_t cap);

/* State letter from /proc/<pid>/stat (after the parenthesised name). */
static char proc_state(pid_t pid)
{
	char buf[1024];
	ssize_t n = read_proc(pid, "stat", buf, sizeof buf - 1);
	char *close;

	if (n <= 0)
		return '?';
	buf[n] = '\0';
	close = strrchr(buf, ')');
	return close != NULL && close[1] == ' ' ? close[2] : '?';
}

/* A zombie has exited: its pid is not freed until its parent reaps it, but it
 * will never do anything again, so it counts as gone. */
bool kh_proc_alive(pid_t pid)
{
	char st;

	if (pid <= 1 || (kill(pid, 0) != 0 && errno != EPERM))
		return false;
	st = proc_state(pid);
	return st != 'Z' && st != 'X';
}

/* Reads a /proc file whole (they report size 0, so no stat-based cap). */
static ssize_t read_proc(pid_t pid, const char *what, char *buf, size_t cap)
{
	char path[64];
	size_t n = 0;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (n < cap) {
		ssize_t r = read(fd, buf + n, cap - n);

		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	return (ssize_t)n;
}

static bool environ_has(const char *env, size_t len, const char *entry)
{
	size_t el = strlen(entry);

	for (size_t i = 0; i < len;) {
		size_t l = strnlen(env + i, len - i);

		if (l == el && memcmp(env + i, entry, el) == 0)
			return true;
		i += l + 1;
	}
	return false;
}

static bool argv0_is_keyhole(pid_t pid)
{
	char buf[KH_MAX_PATH];
	ssize_t n = read_proc(pid, "cmdline", buf, sizeof buf - 1);
	const char *base;

	if (n <= 0)
		return false;
	buf[n] = '\0';
	base = strrchr(buf, '/');
	base = base ? base + 1 : buf;
	return strcmp(base, "keyhole") == 0;
}

bool kh_proc_is_keyhole(pid_t pid, const char *nonce)
{
	char entry[KH_NONCE_LEN + 32];
	char *env;
	ssize_t n;
	bool ours = false;

	if (nonce != NULL && nonce[0] != '\0' && (env = malloc(KH_PROC_READ_MAX)) != NULL) {
		n = read_proc(pid, "environ", env, KH_PROC_READ_MAX);
		snprintf(entry, sizeof entry, "%s=%s", KH_NONCE_ENV, nonce);
		if (n > 0 && environ_has(env, (size_t)n, entry))
			ours = true;
		free(env);
		if (n > 0)
			return ours; /* environ was readable: it decides */
	}
	return argv0_is_keyhole(pid);
}

int kh_parse_proc_stat_starttime(const char *stat, size_t len, unsigned long long *out)
{
	const char *close = NULL, *p;
	uint64_t v;
	int field = 2; /* the command name, in parentheses, is field 2 */

	for (size_t i = 0; i < len; i++)
		if (stat[i] == ')')
			close = stat + i;
	if (close == NULL)
		return -1;
	for (p = close + 1; p < stat + len && field < 22; p++)
		if (*p == ' ')
			field++;
	if (field != 22)
		return -1;
	size_t n = 0;
	while (p + n < stat + len && p[n] >= '0' && p[n] <= '9')
		n++;
	if (kh_slice_to_u64(kh_slice_make(p, n), UINT64_MAX, &v) != 0)
		return -1;
	*out = v;
	return 0;
}

int kh_proc_starttime(pid_t pid, unsigned long long *out)
{
	char buf[1024];
	ssize_t n = read_proc(pid, "stat", buf, sizeof buf);

	return n > 0 ? kh_parse_proc_stat_starttime(buf, (size_t)n, out) : -1;
}
