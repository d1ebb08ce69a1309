#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
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

static void copy_private_is_exclusive(void)
{
	struct kh_err err;

	CHECK_INT(kh_fs_copy_private(path("secret"), path("backup"), 100, &err), 0);
	CHECK_INT(mode_of(path("backup")), 0600);
	CHECK_INT(kh_fs_copy_private(path("secret"), path("backup"), 100, &err), -1);
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
	RUN(copy_private_is_exclusive);
	if (tmpdir_remove() != 0)
		return 1;
	TAP_DONE();
}
