/* The writable directory of keyhole sandbox: which directories are refused,
 * which paths in it stay read-only, which get placeholders, and that the
 * placeholders go away again. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/workdir.h"
#include "tap.h"
#include "tmpdir.h"

static struct kh_workdir w;

static bool has_ro(const char *rel, bool made)
{
	for (size_t i = 0; i < w.n_ro; i++)
		if (strcmp(w.ro[i].rel, rel) == 0)
			return w.ro[i].made == made;
	return false;
}

static bool has_pin(const char *rel)
{
	for (size_t i = 0; i < w.n_pins; i++)
		if (strcmp(w.pins[i].rel, rel) == 0)
			return true;
	return false;
}

static bool is_dir(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");

	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static void test_refused_directories(void)
{
	struct kh_err err = { "" };

	mkdir(path("home"), 0700);
	mkdir(path("home/project"), 0700);
	mkdir(path("keyhole"), 0700);
	mkdir(path("keyhole/inner"), 0700);
	setenv("HOME", path("home"), 1);
	CHECK_INT(kh_workdir_choose(&w, path("home"), path("keyhole"), &err), -1);
	CHECK(strstr(err.msg, "--workdir DIR") != NULL && strstr(err.msg, "is the home") != NULL);
	CHECK_INT(kh_workdir_choose(&w, root, path("keyhole"), &err), -1);
	CHECK(strstr(err.msg, "holds the home directory") != NULL);
	CHECK_INT(kh_workdir_choose(&w, "/", path("keyhole"), &err), -1);
	CHECK_INT(kh_workdir_choose(&w, "/tmp", path("keyhole"), &err), -1);
	CHECK_INT(kh_workdir_choose(&w, "/proc/self", path("keyhole"), &err), -1);
	CHECK(strstr(err.msg, "inside /proc") != NULL);
	CHECK_INT(kh_workdir_choose(&w, path("keyhole/inner"), path("keyhole"), &err), -1);
	CHECK(strstr(err.msg, "KEYHOLE_HOME") != NULL);
	CHECK_INT(kh_workdir_choose(&w, path("nothing"), path("keyhole"), &err), -1);
	CHECK_INT(kh_workdir_choose(&w, path("home/project"), path("keyhole"), &err), 0);
	CHECK_STR(w.dir, path("home/project"));
}

static void test_checkout(void)
{
	struct kh_err err = { "" };
	struct kh_argv a = { 0 };
	char buf[8] = "";
	int fd;

	mkdir(path("repo"), 0755);
	mkdir(path("repo/.git"), 0755);
	mkdir(path("repo/.git/hooks"), 0755);
	mkdir(path("repo/.git/info"), 0755);
	CHECK_INT(write_file(path("repo/.git/config"), "[core]\n"), 0);
	CHECK_INT(write_file(path("repo/.envrc"), "# mine\n"), 0);
	CHECK_INT(kh_workdir_choose(&w, path("repo"), path("keyhole"), &err), 0);
	CHECK_INT(kh_workdir_protect(&w, &err), 0);
	CHECK(has_ro(".envrc", false) && has_ro(".git/hooks", false) &&
	      has_ro(".git/config", false));
	CHECK(has_ro(".bashrc", true) && has_ro(".vscode", true));
	CHECK(has_ro(".git/commondir", true) && has_ro(".git/info/attributes", true));
	CHECK(!has_ro(".git/modules", true) && !has_ro(".git/modules", false));
	CHECK(has_pin(".git") && has_pin(".git/info") && w.n_pins == 2);
	/* placeholders: an empty directory in the working tree, "." for commondir */
	CHECK(is_dir(path("repo/.bashrc")));
	fd = open(path("repo/.git/commondir"), O_RDONLY);
	CHECK(fd >= 0 && read(fd, buf, sizeof buf - 1) == 2 && strcmp(buf, ".\n") == 0);
	if (fd >= 0)
		close(fd);
	/* pins come before the read-only paths below them */
	CHECK_INT(kh_workdir_bwrap_args(&w, &a), 0);
	CHECK(a.n > 6 && strcmp(a.v[3], "--bind") == 0 && strcmp(a.v[a.n - 3], "--ro-bind") == 0);
	kh_argv_free(&a);
	kh_workdir_cleanup(&w);
	CHECK(access(path("repo/.bashrc"), F_OK) != 0 &&
	      access(path("repo/.git/commondir"), F_OK) != 0);
	CHECK(access(path("repo/.git/info/attributes"), F_OK) != 0);
	CHECK(access(path("repo/.envrc"), F_OK) == 0 &&
	      access(path("repo/.git/config"), F_OK) == 0);
}

static void test_no_checkout(void)
{
	struct kh_err err = { "" };

	mkdir(path("plain"), 0755);
	CHECK_INT(kh_workdir_choose(&w, path("plain"), path("keyhole"), &err), 0);
	CHECK_INT(kh_workdir_protect(&w, &err), 0);
	CHECK(has_ro(".git", true) && w.n_pins == 0);
	/* a placeholder someone filled is not ours to remove */
	CHECK_INT(write_file(path("plain/.envrc/kept"), "x"), 0);
	kh_workdir_cleanup(&w);
	CHECK(access(path("plain/.git"), F_OK) != 0);
	CHECK(access(path("plain/.envrc/kept"), F_OK) == 0);
}

static void test_gitfile(void)
{
	struct kh_err err = { "" };

	mkdir(path("wt"), 0755);
	mkdir(path("wt/sub"), 0755);
	mkdir(path("wt/sub/gd"), 0755);
	CHECK_INT(write_file(path("wt/.git"), "gitdir: sub/gd\n"), 0);
	CHECK_INT(kh_workdir_choose(&w, path("wt"), path("keyhole"), &err), 0);
	CHECK_INT(kh_workdir_protect(&w, &err), 0);
	CHECK(has_ro(".git", false) && has_ro("sub/gd/hooks", true) &&
	      has_ro("sub/gd/config", true));
	CHECK(has_pin("sub") && has_pin("sub/gd"));
	kh_workdir_cleanup(&w);
	CHECK(access(path("wt/sub/gd/hooks"), F_OK) != 0);

	/* naming a directory that is not there (the command could make it) */
	CHECK_INT(write_file(path("wt/.git"), "gitdir: sub/missing\n"), 0);
	CHECK_INT(kh_workdir_choose(&w, path("wt"), path("keyhole"), &err), 0);
	CHECK_INT(kh_workdir_protect(&w, &err), -1);
	CHECK(strstr(err.msg, "does not exist") != NULL);
	CHECK(access(path("wt/.bashrc"), F_OK) != 0); /* undone on failure */
}

static void test_symlink_refused(void)
{
	struct kh_err err = { "" };

	mkdir(path("linked"), 0755);
	mkdir(path("linked/.git"), 0755);
	mkdir(path("linked/elsewhere"), 0755);
	CHECK_INT(symlink("../elsewhere", path("linked/.git/hooks")), 0);
	CHECK_INT(kh_workdir_choose(&w, path("linked"), path("keyhole"), &err), 0);
	CHECK_INT(kh_workdir_protect(&w, &err), -1);
	CHECK(strstr(err.msg, ".git/hooks is a symbolic link") != NULL);
	CHECK(access(path("linked/.bashrc"), F_OK) != 0);
}

int main(void)
{
	if (tmpdir_make("kh-workdir") != 0)
		return 1;
	RUN(test_refused_directories);
	RUN(test_checkout);
	RUN(test_no_checkout);
	RUN(test_gitfile);
	RUN(test_symlink_refused);
	kh_workdir_cleanup(NULL);
	tmpdir_remove();
	TAP_DONE();
}
