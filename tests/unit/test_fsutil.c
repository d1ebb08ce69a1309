#include <fcntl.h>
#include <grp.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "tap.h"
#include "tmpdir.h"

static void private_dir_created_and_tightened(void)
{
	struct kh_err err;
	char dir[512];

	snprintf(dir, sizeof dir, "%s/a/b/home", root);
	CHECK_INT(kh_fs_ensure_private_dir(dir, &err), 0);
	CHECK_INT(mode_of(dir), 0700);
	chmod(dir, 0755);
	CHECK_INT(kh_fs_ensure_private_dir(dir, &err), 0);
	CHECK_INT(mode_of(dir), 0700);
}

static void private_dir_refuses_symlink(void)
{
	struct kh_err err;

	CHECK_INT(symlink("/tmp", path("link")), 0);
	CHECK_INT(kh_fs_ensure_private_dir(path("link"), &err), -1);
	CHECK(strstr(err.msg, "symlink") != NULL);
}

static void atomic_write_mode_and_content(void)
{
	struct kh_err err;
	char *data = NULL;
	size_t len = 0;
	mode_t old = umask(0); /* a permissive umask must not widen the mode */

	CHECK_INT(kh_fs_write_atomic(path("secret"), "s3cret", 6, 0600, &err), 0);
	umask(old);
	CHECK_INT(mode_of(path("secret")), 0600);
	CHECK_INT(kh_fs_read_file(path("secret"), 100, true, &data, &len, &err), 0);
	CHECK_INT(len, 6);
	CHECK_STR(data, "s3cret");
	kh_fs_free_secret(data, len);
	CHECK_INT(kh_fs_write_atomic(path("secret"), "v2", 2, 0600, &err), 0);
	CHECK_INT(kh_fs_read_file(path("secret"), 100, true, &data, &len, &err), 0);
	CHECK_STR(data, "v2");
	kh_fs_free_secret(data, len);
}

static void open_private_refuses_symlink_and_tightens(void)
{
	struct kh_err err;
	int fd;

	CHECK_INT(symlink(path("secret"), path("evil")), 0);
	fd = kh_fs_open_private(path("evil"), O_WRONLY | O_CREAT | O_APPEND, 0600, &err);
	CHECK_INT(fd, -1);
	CHECK(strstr(err.msg, "symlink") != NULL);

	fd = open(path("loose"), O_WRONLY | O_CREAT, 0644);
	fchmod(fd, 0644);
	close(fd);
	fd = kh_fs_open_private(path("loose"), O_WRONLY | O_APPEND, 0600, &err);
	CHECK(fd >= 0);
	close(fd);
	CHECK_INT(mode_of(path("loose")), 0600);
}

static void read_file_cap(void)
{
	struct kh_err err;
	char *data = NULL;
	size_t len = 0;

	kh_fs_write_atomic(path("big"), "0123456789", 10, 0600, &err);
	CHECK_INT(kh_fs_read_file(path("big"), 9, false, &data, &len, &err), -1);
	CHECK(strstr(err.msg, "limit") != NULL);
	CHECK_INT(kh_fs_read_file(path("big"), 10, false, &data, &len, &err), 0);
	kh_fs_free_secret(data, len);
	CHECK_INT(kh_fs_read_file(path("missing"), 10, false, &data, &len, &err), -1);
}

/* The buffer starts at the file's size and grows with what is read: a
 * file that says 0 bytes (/proc) and holds more than a page is read whole,
 * and still stopped at the cap. */
static void read_file_grows_past_its_stated_size(void)
{
	struct kh_err err = { "" };
	char *text = NULL;
	size_t len = 0;

	CHECK_INT(kh_fs_read_file("/proc/self/smaps", 16u << 20, false, &text, &len, &err), 0);
	CHECK(text != NULL && len > 4096 && strlen(text) == len && text[len - 1] == '\n');
	free(text);
	text = NULL;
	CHECK_INT(kh_fs_read_file("/proc/self/smaps", 5000, false, &text, &len, &err), -1);
	CHECK(text == NULL && strstr(err.msg, "grew past the 5000-byte limit") != NULL);
}

static void copy_private_is_exclusive(void)
{
	struct kh_err err;

	CHECK_INT(kh_fs_copy_private(path("secret"), path("backup"), 100, &err), 0);
	CHECK_INT(mode_of(path("backup")), 0600);
	CHECK_INT(kh_fs_copy_private(path("secret"), path("backup"), 100, &err), -1);
}

/* What kh_fs_unsearchable_dir finds for target, asked by a process of uid
 * (a child, when that means leaving root), into out. */
static int unsearchable_as(uid_t uid, const char *target, char *out, size_t len)
{
	int fds[2], rc = -1, status;
	pid_t child;
	ssize_t n;

	if (uid == geteuid())
		return kh_fs_unsearchable_dir(target, out, len);
	if (pipe(fds) != 0)
		return -1;
	child = fork();
	if (child == 0) {
		char found[512] = "";

		close(fds[0]);
		if (setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 ||
		    setresuid(uid, uid, uid) != 0)
			_exit(2);
		if (kh_fs_unsearchable_dir(target, found, sizeof found) == 0)
			n = write(fds[1], found, strlen(found));
		_exit(0);
	}
	close(fds[1]);
	n = child > 0 ? read(fds[0], out, len - 1) : -1;
	if (n > 0) {
		out[n] = '\0';
		rc = 0;
	}
	close(fds[0]);
	if (child > 0)
		waitpid(child, &status, 0);
	return rc;
}

/* The first directory on a binary's path that the user cannot enter (what
 * keyhole start names when it cannot run the daemon): as root, a directory
 * is only closed to another user, so the check runs as nobody. */
static void unsearchable_dir_found(void)
{
	uid_t uid = geteuid() == 0 ? 65534 : geteuid();
	char got[512] = "", outer[512], target[600];

	snprintf(outer, sizeof outer, "%s", path("closed"));
	snprintf(target, sizeof target, "%s/inner/keyhole", outer);
	CHECK_INT(mkdir(outer, 0755), 0);
	CHECK_INT(mkdir(path("closed/inner"), 0755), 0);
	CHECK_INT(chmod(root, 0755), 0);
	CHECK_INT(chmod(outer, 0600), 0); /* readable, not searchable */
	CHECK_INT(unsearchable_as(uid, target, got, sizeof got), 0);
	CHECK_STR(got, outer);
	/* root (0700 after mkdtemp) is the first one closed to another user */
	CHECK_INT(chmod(root, 0700), 0);
	if (uid != geteuid()) {
		CHECK_INT(unsearchable_as(uid, target, got, sizeof got), 0);
		CHECK_STR(got, root);
	}
	CHECK_INT(chmod(outer, 0755), 0);
	CHECK_INT(unsearchable_as(geteuid(), path("closed/inner/keyhole"), got, sizeof got), -1);
	CHECK_INT(kh_fs_unsearchable_dir("relative/keyhole", got, sizeof got), -1);
	CHECK_INT(kh_fs_unsearchable_dir("/", got, sizeof got), -1);
}

int main(void)
{
	if (tmpdir_make("kh-fsutil") != 0)
		return 1;
	RUN(private_dir_created_and_tightened);
	RUN(private_dir_refuses_symlink);
	RUN(atomic_write_mode_and_content);
	RUN(open_private_refuses_symlink_and_tightens);
	RUN(read_file_cap);
	RUN(read_file_grows_past_its_stated_size);
	RUN(copy_private_is_exclusive);
	RUN(unsearchable_dir_found);
	if (tmpdir_remove() != 0)
		return 1;
	TAP_DONE();
}
