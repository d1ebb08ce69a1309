/* keyhole __keyholder-probe: applies the daemon's own confinement
 * (kh_confine_keyholder) to itself, then tries what an attacker who took
 * the daemon over would try, and prints one line per attempt:
 *
 *   <name> ok|denied <errno name or exit status>
 *
 * The attack test (tests/attack/test_keyholder_confined.py) runs it as
 * root and checks every line; it lets the test exercise the very code the
 * daemon runs without a test-only hook in the daemon. Nothing it tries
 * changes the host when denied, nor when allowed: a file opened for writing
 * is closed unwritten. */
#include "proxy/keyholder_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "privsep/confine.h"
#include "tls/tlsctx.h"

static void say(const char *name, int rc)
{
	if (rc == 0)
		printf("%s ok\n", name);
	else
		printf("%s denied %s\n", name,
		       strerrorname_np(errno) ? strerrorname_np(errno) : "?");
}

static int open_close(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* Starts path with argv and says whether it ran (exit status 0). */
static int run(const char *path, char *const argv[])
{
	int p[2], status = 0, e = 0;
	pid_t pid;

	fflush(stdout);
	if (pipe2(p, O_CLOEXEC) != 0 || (pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		/* read-only (writing is what is refused): its output is dropped */
		int fd = open("/dev/null", O_RDONLY);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(path, argv);
		e = errno;
		(void)!write(p[1], &e, sizeof e);
		_exit(127);
	}
	close(p[1]);
	if (read(p[0], &e, sizeof e) != (ssize_t)sizeof e)
		e = 0;
	close(p[0]);
	waitpid(pid, &status, 0);
	if (e != 0) {
		errno = e;
		return -1;
	}
	errno = EINVAL;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int kh_keyholder_probe_run(int argc, char **argv)
{
	struct kh_confine_report r;
	struct kh_err err = { "" };
	char path[4096];
	const char *dir = argc > 1 ? argv[1] : NULL, *file = argc > 2 ? argv[2] : NULL;
	char *sh[] = { "/bin/sh", "-c", "true", NULL };
	char *self[] = { "keyhole", "--version", NULL };
	int rc;

	if (dir == NULL || file == NULL) {
		fprintf(stderr, "usage: keyhole __keyholder-probe DIR FILE (a directory and a "
				"file in it, both to leave alone)\n");
		return 2;
	}
	if (kh_confine_keyholder(kh_tls_trust_paths(), &r, &err) != 0) {
		fprintf(stderr, "keyhole: %s\n", err.msg);
		return 1;
	}
	printf("landlock_abi %d\n", r.landlock_abi);
	say("read_file", open_close(file, O_RDONLY));
	say("read_system_file", open_close("/etc/passwd", O_RDONLY));
	say("read_shadow", open_close("/etc/shadow", O_RDONLY));
	say("read_tls_private_keys", open_close("/etc/ssl/private", O_RDONLY | O_DIRECTORY));
	say("read_other_process", open_close("/proc/1/environ", O_RDONLY));
	say("run_keyhole", run("/proc/self/exe", self));
	say("run_shell", run("/bin/sh", sh));
	snprintf(path, sizeof path, "%s/created-by-probe", dir);
	say("create_file", open_close(path, O_WRONLY | O_CREAT | O_EXCL));
	say("write_file", open_close(file, O_WRONLY));
	say("truncate_file", truncate(file, 0));
	say("unlink_file", unlink(file));
	snprintf(path, sizeof path, "%s/renamed-by-probe", dir);
	say("rename_file", rename(file, path));
	say("chmod_file", chmod(file, 0666));
	say("chown_file", chown(file, 65534, 65534));
	say("write_sysctl", open_close("/proc/sys/kernel/hostname", O_WRONLY));
	rc = mount("none", dir, "tmpfs", 0, NULL);
	say("mount", rc);
	if (rc == 0)
		umount(dir);
	rc = (int)ptrace(PTRACE_SEIZE, getppid(), NULL, NULL);
	say("ptrace_parent", rc);
	if (rc == 0)
		ptrace(PTRACE_DETACH, getppid(), NULL, NULL);
	say("signal_parent", kill(getppid(), 0));
	say("unix_socket", (rc = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0 ? 0 : -1);
	if (rc >= 0)
		close(rc);
	say("become_other_user", setresuid(1000, 1000, 1000));
	say("become_nobody",
	    setresgid(KH_CONFINE_CHILD_GID, KH_CONFINE_CHILD_GID, KH_CONFINE_CHILD_GID) == 0 &&
			    setresuid(KH_CONFINE_CHILD_UID, KH_CONFINE_CHILD_UID,
				      KH_CONFINE_CHILD_UID) == 0
		    ? 0
		    : -1);
	fflush(stdout);
	return 0;
}
