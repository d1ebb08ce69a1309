#include "base/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "base/kh_limits.h"

static int check_owned_dir(const char *dir, struct kh_err *err)
{
	struct stat st;

	if (lstat(dir, &st) != 0) {
		kh_err_set(err, "%s: %s", dir, kh_strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		kh_err_set(err,
			   "%s is a symlink; keyhole's state directory must be a real directory",
			   dir);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		kh_err_set(err, "%s exists and is not a directory", dir);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		kh_err_set(err, "%s is owned by uid %u, not by you (uid %u); refusing to use it",
			   dir, (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if ((st.st_mode & 077) != 0 && chmod(dir, 0700) != 0) {
		kh_err_set(err, "chmod 0700 %s: %s", dir, kh_strerror(errno));
		return -1;
	}
	return 0;
}

static int mkdir_parents(const char *dir, struct kh_err *err)
{
	char tmp[KH_MAX_PATH];
	char *parent;

	if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp) {
		kh_err_set(err, "path too long: %s", dir);
		return -1;
	}
	parent = dirname(tmp);
	if (strcmp(parent, dir) == 0 || kh_fs_exists(parent))
		return 0;
	if (mkdir_parents(parent, err) != 0)
		return -1;
	if (mkdir(parent, 0700) != 0 && errno != EEXIST) {
		kh_err_set(err, "mkdir %s: %s", parent, kh_strerror(errno));
		return -1;
	}
	return 0;
}

int kh_fs_ensure_private_dir(const char *dir, struct kh_err *err)
{
	if (mkdir_parents(dir, err) != 0)
		return -1;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		kh_err_set(err, "mkdir %s: %s", dir, kh_strerror(errno));
		return -1;
	}
	return check_owned_dir(dir, err);
}

static int check_opened(int fd, const char *path, mode_t mode, struct kh_err *err)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		kh_err_set(err, "fstat %s: %s", path, kh_strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		kh_err_set(err, "%s is not a regular file", path);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		kh_err_set(err, "%s is owned by uid %u, not by you; refusing to use it", path,
			   (unsigned)st.st_uid);
		return -1;
	}
	if ((st.st_mode & 07777 & ~mode) != 0 && fchmod(fd, mode) != 0) {
		kh_err_set(err, "chmod %s: %s", path, kh_strerror(errno));
		return -1;
	}
	return 0;
}

int kh_fs_open_private(const char *path, int flags, mode_t mode, struct kh_err *err)
{
	int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC, mode);

	if (fd < 0) {
		if (errno == ELOOP)
			kh_err_set(err, "%s is a symlink; refusing to follow it", path);
		else
			kh_err_set(err, "open %s: %s", path, kh_strerror(errno));
		return -1;
	}
	if (check_opened(fd, path, mode, err) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int kh_fs_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_parent(const char *path)
{
	char tmp[KH_MAX_PATH];
	int fd, rc;

	if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
		return -1;
	fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int kh_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		       struct kh_err *err)
{
	char tmp[KH_MAX_PATH];
	unsigned char rnd[8];
	int fd = -1;

	if (RAND_bytes(rnd, sizeof rnd) != 1)
		memset(rnd, 0, sizeof rnd);
	if (snprintf(tmp, sizeof tmp, "%s.tmp-%d-%02x%02x%02x%02x", path, (int)getpid(), rnd[0],
		     rnd[1], rnd[2], rnd[3]) >= (int)sizeof tmp) {
		kh_err_set(err, "path too long: %s", path);
		return -1;
	}
	fd = kh_fs_open_private(tmp, O_WRONLY | O_CREAT | O_EXCL, mode, err);
	if (fd < 0)
		return -1;
	if (kh_fs_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		kh_err_set(err, "write %s: %s", tmp, kh_strerror(errno));
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		kh_err_set(err, "close %s: %s", tmp, kh_strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		kh_err_set(err, "rename %s -> %s: %s", tmp, path, kh_strerror(errno));
		goto fail;
	}
	fsync_parent(path);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

/* buf (size bytes, n used) moved into one twice as big, at most max: a
 * copy and a wipe, not realloc, which could leave a secret's bytes behind. */
static char *grow(char *buf, size_t n, size_t *size, size_t max)
{
	size_t old = *size, bigger = old > max / 2 ? max : old * 2;
	char *b = malloc(bigger);

	if (b != NULL) {
		memcpy(b, buf, n);
		*size = bigger;
	}
	kh_fs_free_secret(buf, old);
	return b;
}

/* The buffer starts at the file's size (a page at least: /proc and the like
 * say 0) and grows only if the file does, up to cap + 1 bytes, so a big cap
 * costs nothing for a small file. */
static int read_fd(int fd, const char *path, size_t cap, char **out, size_t *len,
		   struct kh_err *err)
{
	struct stat st;
	char *buf;
	size_t n = 0, size;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		kh_err_set(err, "%s is not a regular file", path);
		return -1;
	}
	if ((uint64_t)st.st_size > cap) {
		kh_err_set(err, "%s is %lld bytes; the limit is %zu", path, (long long)st.st_size,
			   cap);
		return -1;
	}
	size = (size_t)st.st_size < 4096 ? 4096 : (size_t)st.st_size + 1;
	if (size > cap + 1)
		size = cap + 1;
	buf = malloc(size);
	if (buf == NULL) {
		kh_err_set(err, "out of memory reading %s", path);
		return -1;
	}
	for (;;) {
		ssize_t r;

		if (n == size && (buf = grow(buf, n, &size, cap + 1)) == NULL) {
			kh_err_set(err, "out of memory reading %s", path);
			return -1;
		}
		r = read(fd, buf + n, size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			kh_err_set(err, "read %s: %s", path, kh_strerror(errno));
			kh_fs_free_secret(buf, size);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > cap) {
			kh_err_set(err, "%s grew past the %zu-byte limit while being read", path,
				   cap);
			kh_fs_free_secret(buf, size);
			return -1;
		}
	}
	if (n == size && (buf = grow(buf, n, &size, cap + 1)) == NULL) {
		kh_err_set(err, "out of memory reading %s", path);
		return -1;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int kh_fs_read_fd(int fd, const char *name, size_t cap, char **out, size_t *len, struct kh_err *err)
{
	if (lseek(fd, 0, SEEK_SET) != 0) {
		kh_err_set(err, "%s: %s", name, kh_strerror(errno));
		return -1;
	}
	return read_fd(fd, name, cap, out, len, err);
}

int kh_fs_read_file(const char *path, size_t cap, bool nofollow, char **out, size_t *len,
		    struct kh_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
	int rc;

	if (fd < 0) {
		if (errno == ELOOP && nofollow)
			kh_err_set(err, "%s is a symlink; refusing to follow it", path);
		else
			kh_err_set(err, "cannot read %s: %s", path, kh_strerror(errno));
		return -1;
	}
	rc = read_fd(fd, path, cap, out, len, err);
	close(fd);
	return rc;
}

void kh_fs_free_secret(char *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

int kh_fs_copy_private(const char *src, const char *dst, size_t cap, struct kh_err *err)
{
	char *data = NULL;
	size_t len = 0;
	int fd, rc = -1;

	if (kh_fs_read_file(src, cap, true, &data, &len, err) != 0)
		return -1;
	fd = kh_fs_open_private(dst, O_WRONLY | O_CREAT | O_EXCL, 0600, err);
	if (fd < 0)
		goto out;
	if (kh_fs_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		kh_err_set(err, "write %s: %s", dst, kh_strerror(errno));
		close(fd);
		unlink(dst);
		goto out;
	}
	close(fd);
	rc = 0;
out:
	kh_fs_free_secret(data, len);
	return rc;
}

bool kh_fs_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

int kh_fs_unsearchable_dir(const char *path, char *out, size_t len)
{
	char dir[KH_MAX_PATH];
	size_t n = strlen(path);

	if (path[0] != '/' || n >= sizeof dir)
		return -1;
	memcpy(dir, path, n + 1);
	/* Each prefix ending just before a '/', from the root down: the first
	 * one that refuses X is the one the kernel's path walk stopped at. */
	for (size_t i = 1; i < n; i++) {
		if (dir[i] != '/')
			continue;
		dir[i] = '\0';
		if (faccessat(AT_FDCWD, dir, X_OK, AT_EACCESS) != 0 && errno == EACCES) {
			snprintf(out, len, "%s", dir);
			return 0;
		}
		dir[i] = '/';
	}
	return -1;
}

int kh_path_join(char *out, size_t outlen, const char *dir, const char *name)
{
	int n = snprintf(out, outlen, "%s/%s", dir, name);

	return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}
