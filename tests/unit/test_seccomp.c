/* The sandbox's seccomp filter, loaded in a child process: the refused calls
 * fail with EPERM (clone3 with ENOSYS), everything a program needs to start
 * processes and threads still works. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/seccomp.h"
#include "tap.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

/* The errno of a raw system call, 0 if it succeeded. */
static int sys_errno(long rc)
{
	return rc < 0 ? errno : 0;
}

static void *thread_main(void *arg)
{
	return arg;
}

/* Runs in the child under the filter: 0, or the number of the first check
 * that failed (the child's exit code). */
static int child_checks(void)
{
	int fd, ok_unix;
	pid_t pid;
	pthread_t t;

	if (sys_errno(syscall(SYS_unshare, CLONE_NEWUSER)) != EPERM)
		return 1;
	if (sys_errno(syscall(SYS_clone3, NULL, 0)) != ENOSYS)
		return 2;
	/* the upper half of the register is ignored by the kernel, and by us */
	if (sys_errno(syscall(SYS_ioctl, 0, (unsigned long)TIOCSTI | (1UL << 32), "x")) != EPERM)
		return 3;
	if (sys_errno(syscall(SYS_personality, 0x0040000UL)) != EPERM) /* ADDR_NO_RANDOMIZE */
		return 4;
	if (sys_errno(syscall(SYS_keyctl, 0, -3L, 0)) != EPERM)
		return 5;
	if (sys_errno(syscall(SYS_socket, AF_VSOCK, SOCK_STREAM, 0)) != EPERM)
		return 6;
	if (sys_errno(syscall(SYS_mount, "none", "/", "tmpfs", 0UL, NULL)) != EPERM)
		return 7;
	pid = fork(); /* clone(2) without namespace flags */
	if (pid == 0)
		_exit(0);
	if (pid < 0 || waitpid(pid, NULL, 0) != pid)
		return 8;
	if (pthread_create(&t, NULL, thread_main, NULL) != 0 || pthread_join(t, NULL) != 0)
		return 9;
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ok_unix = fd >= 0;
	if (fd >= 0)
		close(fd);
	if (!ok_unix || syscall(SYS_personality, PER_LINUX) < 0 || syscall(SYS_unshare, 0) != 0)
		return 10;
	return 0;
}

static void test_filter_in_child(void)
{
	struct kh_err err = { "" };
	scmp_filter_ctx f = kh_seccomp_build(&err);
	int status = 0;
	pid_t pid;

	CHECK(f != NULL);
	if (f == NULL)
		return;
	pid = fork();
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || kh_seccomp_load(f, &err) != 0)
			_exit(255);
		_exit(child_checks());
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), 0);
	kh_seccomp_free(f);
}

static void test_names_resolve(void)
{
	size_t known = 0, n = 0;

	for (; kh_seccomp_refused[n] != NULL; n++)
		if (seccomp_syscall_resolve_name(kh_seccomp_refused[n]) != __NR_SCMP_ERROR)
			known++;
	/* every name is a real system call libseccomp knows (on some architecture) */
	CHECK_INT(known, n);
	kh_seccomp_free(NULL);
}

int main(void)
{
	RUN(test_filter_in_child);
	RUN(test_names_resolve);
	TAP_DONE();
}
