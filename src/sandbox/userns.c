/* The root sandbox's user namespace and idmapped working directory (see
 * userns.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "sandbox/userns.h"

static int write_proc(pid_t pid, const char *name, const char *text, struct kh_err *err)
{
	char path[64];
	int fd;

	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || kh_fs_write_all(fd, text, strlen(text)) != 0) {
		kh_err_set(err, "cannot write %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int kh_userns_write_maps(pid_t pid, uid_t uid, gid_t gid, struct kh_err *err)
{
	char umap[64], gmap[64];

	snprintf(umap, sizeof umap, "0 0 1\n%u %u 1\n", (unsigned)uid, (unsigned)uid);
	snprintf(gmap, sizeof gmap, "0 0 1\n%u %u 1\n", (unsigned)gid, (unsigned)gid);
	if (write_proc(pid, "uid_map", umap, err) != 0 ||
	    write_proc(pid, "gid_map", gmap, err) != 0)
		return -1;
	return 0;
}

/* The helper: a new user namespace, then wait until the parent is done. */
static void idmap_helper(int ready, int go)
{
	char b = 0;

	if (unshare(CLONE_NEWUSER) != 0)
		_exit(1);
	(void)!write(ready, &b, 1);
	(void)!read(go, &b, 1);
	_exit(0);
}

static int open_helper_ns(pid_t pid, uid_t from_uid, gid_t from_gid, uid_t to_uid, gid_t to_gid,
			  struct kh_err *err)
{
	char umap[64], gmap[64], path[64];
	int fd;

	snprintf(umap, sizeof umap, "%u %u 1\n", (unsigned)from_uid, (unsigned)to_uid);
	snprintf(gmap, sizeof gmap, "%u %u 1\n", (unsigned)from_gid, (unsigned)to_gid);
	if (write_proc(pid, "uid_map", umap, err) != 0 ||
	    write_proc(pid, "gid_map", gmap, err) != 0)
		return -1;
	snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		kh_err_set(err, "cannot open %s: %s", path, strerror(errno));
	return fd;
}

int kh_userns_idmap_ns(uid_t from_uid, gid_t from_gid, uid_t to_uid, gid_t to_gid,
		       struct kh_err *err)
{
	int ready[2] = { -1, -1 }, go[2] = { -1, -1 }, fd = -1;
	pid_t pid = -1;
	char b;

	if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(go, O_CLOEXEC) != 0) {
		kh_err_set(err, "pipe: %s", strerror(errno));
		goto out;
	}
	pid = fork();
	if (pid == 0) {
		close(ready[0]);
		close(go[1]); /* so that the parent closing its end ends the wait */
		idmap_helper(ready[1], go[0]);
	}
	close(ready[1]);
	ready[1] = -1;
	if (pid < 0 || read(ready[0], &b, 1) != 1) {
		kh_err_set(err, "cannot create a user namespace for the idmapped mount");
		goto out;
	}
	fd = open_helper_ns(pid, from_uid, from_gid, to_uid, to_gid, err);
out:
	for (int i = 0; i < 2; i++) {
		if (ready[i] >= 0)
			close(ready[i]);
		if (go[i] >= 0)
			close(go[i]); /* the helper's read returns: it exits */
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	return fd;
}

int kh_userns_idmap_dir(const char *dir, int userns_fd, struct kh_err *err)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (__u64)userns_fd };
	int tree = -1, rc = -1;

	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0) {
		kh_err_set(err, "cannot make a private mount namespace: %s", strerror(errno));
		goto out;
	}
	tree = (int)syscall(SYS_open_tree, AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0 ||
	    syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0 ||
	    syscall(SYS_move_mount, tree, "", AT_FDCWD, dir, MOVE_MOUNT_F_EMPTY_PATH) != 0) {
		kh_err_set(err,
			   "cannot give the sandbox's user write access to %s through an idmapped "
			   "mount (%s; Linux 5.12 or later and a file system that supports them, "
			   "such as ext4, xfs, btrfs or tmpfs, are needed)",
			   dir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (tree >= 0)
		close(tree);
	return rc;
}
