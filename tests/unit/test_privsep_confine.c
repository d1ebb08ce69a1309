/* A front worker's confinement, applied in forked children: path opens fail
 * with EACCES, socket(), connect() and execve() kill the process with
 * SIGSYS, while accept4 on an inherited listener and epoll keep working; the
 * uid is dropped when run as root; the Landlock state is reported. The CA
 * signer's: channel I/O works, path opens fail, accept4 kills it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "privsep/confine.h"
#include "tap.h"

#define TEST_UID     65534
#define TEST_NOFILE  64
#define WAIT_MS      10000
#define EXIT_BAD_CFG 200

enum probe { PROBE_MAIN, PROBE_SOCKET, PROBE_CONNECT, PROBE_LINGER };

static const struct kh_confine_opts opts = {
	.role = KH_CONFINE_FRONT, .uid = TEST_UID, .gid = TEST_UID, .nofile = TEST_NOFILE
};

/* Waits for pid at most WAIT_MS, then kills it: no test hangs on a child. */
static int wait_bounded(pid_t pid, int *status)
{
	struct timespec step = { 0, 10 * 1000 * 1000 };

	for (int i = 0; i < WAIT_MS / 10; i++) {
		pid_t got = waitpid(pid, status, WNOHANG);

		if (got == pid)
			return 0;
		if (got < 0)
			return -1;
		nanosleep(&step, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return -1;
}

static int listen_loopback(struct sockaddr_in *a)
{
	socklen_t len = sizeof *a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*a = (struct sockaddr_in){ .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0 || bind(fd, (struct sockaddr *)a, sizeof *a) != 0 || listen(fd, 4) != 0 ||
	    getsockname(fd, (struct sockaddr *)a, &len) != 0)
		return -1;
	return fd;
}

/* An accepted connection echoing one byte through epoll: what a front does. */
static int serve_one(int lfd)
{
	struct epoll_event ev = { .events = EPOLLIN }, got;
	int ep = epoll_create1(EPOLL_CLOEXEC), c;
	char b = 0;

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) != 0 ||
	    epoll_wait(ep, &got, 1, WAIT_MS) != 1)
		return -1;
	c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	ev.data.fd = c;
	if (c < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) != 0 ||
	    epoll_wait(ep, &got, 1, WAIT_MS) != 1 || read(c, &b, 1) != 1 || write(c, &b, 1) != 1)
		return -1;
	close(c);
	close(ep);
	return 0;
}

/* The socket options a front sets: allowed. */
static int socket_options(int fd)
{
	int one = 1, size = 1 << 20;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size) != 0)
		return -1;
	return 0;
}

/* 0 or the number of the first failed check (the child's exit code). */
static int main_checks(int lfd, uid_t uid0, const struct kh_confine_report *r)
{
	struct rlimit l;
	/* a front allocates per connection: the allocator's mmap/munmap (and
	 * ASan's) are allowed */
	volatile char *big = malloc(1u << 22);

	if (big == NULL)
		return 9;
	big[0] = 1;
	free((void *)big);
	errno = 0;
	if (open("/etc/hostname", O_RDONLY) != -1 || errno != EACCES)
		return 1;
	errno = 0;
	if (openat(AT_FDCWD, "/", O_RDONLY | O_DIRECTORY) != -1 || errno != EACCES)
		return 2;
	/* O_PATH is outside Landlock's rights: only the filter refuses it */
	errno = 0;
	if (open("/etc/hostname", O_PATH) != -1 || errno != EACCES)
		return 8;
	if (serve_one(lfd) != 0)
		return 3;
	if (socket_options(lfd) != 0) /* the two options a front sets */
		return 10;
	if (uid0 == 0 && (getuid() != TEST_UID || geteuid() != TEST_UID || getgid() != TEST_UID ||
			  !r->uid_dropped))
		return 4;
	if (uid0 != 0 && (getuid() != uid0 || r->uid_dropped))
		return 5;
	if (getrlimit(RLIMIT_CORE, &l) != 0 || l.rlim_max != 0 ||
	    getrlimit(RLIMIT_FSIZE, &l) != 0 || l.rlim_max != 0 ||
	    getrlimit(RLIMIT_NOFILE, &l) != 0 || l.rlim_cur != TEST_NOFILE)
		return 6;
	if (!r->rlimits || !r->no_new_privs || !r->seccomp)
		return 7;
	return 0;
}

/* The child: confines itself, sends its report, runs the probe. Ends by a
 * call that must kill it; returning from that call exits 99. */
static void child(enum probe p, int lfd, int cfd, int rep)
{
	struct kh_confine_report r;
	struct kh_err err = { "" };
	char *const argv[] = { "true", NULL };
	uid_t uid0 = getuid();
	int rc;

	if (kh_confine_apply(&opts, &r, &err) != 0)
		_exit(EXIT_BAD_CFG);
	if (write(rep, &r, sizeof r) != (ssize_t)sizeof r)
		_exit(EXIT_BAD_CFG + 1);
	if (p == PROBE_SOCKET)
		socket(AF_INET, SOCK_STREAM, 0);
	if (p == PROBE_LINGER) { /* a lingering socket could stall whoever closes it last */
		struct linger l = { 1, 1000 };

		setsockopt(lfd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
	}
	if (p == PROBE_CONNECT) {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons(9),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

		connect(cfd, (struct sockaddr *)&a, sizeof a);
	}
	if (p == PROBE_MAIN) {
		rc = main_checks(lfd, uid0, &r);
		if (rc != 0)
			_exit(rc);
		execve("/bin/true", argv, argv + 1);
	}
	_exit(99);
}

/* Forks a child for probe p; its status, and its report in *r. */
static int run_child(enum probe p, int *status, struct kh_confine_report *r)
{
	struct sockaddr_in a;
	int lfd = listen_loopback(&a), cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int pfd[2] = { -1, -1 }, rc = -1;
	struct pollfd pw;
	char b = 'x';
	pid_t pid;

	if (lfd < 0 || cfd < 0 || pipe2(pfd, O_CLOEXEC) != 0)
		goto out;
	/* queued before the fork: the child accepts a connection it inherited */
	if (p == PROBE_MAIN &&
	    (connect(cfd, (struct sockaddr *)&a, sizeof a) != 0 || write(cfd, &b, 1) != 1))
		goto out;
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		child(p, lfd, p == PROBE_CONNECT ? socket(AF_INET, SOCK_STREAM, 0) : -1, pfd[1]);
	close(pfd[1]);
	pfd[1] = -1;
	rc = pid > 0 ? wait_bounded(pid, status) : -1;
	pw = (struct pollfd){ .fd = pfd[0], .events = POLLIN };
	if (rc == 0 && (poll(&pw, 1, 0) != 1 || read(pfd[0], r, sizeof *r) != (ssize_t)sizeof *r))
		rc = -1;
	if (rc == 0 && p == PROBE_MAIN)
		rc = (poll(&(struct pollfd){ .fd = cfd, .events = POLLIN }, 1, 0) == 1 &&
		      read(cfd, &b, 1) == 1 && b == 'x')
			     ? 0
			     : -1; /* the echo arrived */
out:
	for (int i = 0; i < 2; i++)
		if (pfd[i] >= 0)
			close(pfd[i]);
	if (lfd >= 0)
		close(lfd);
	if (cfd >= 0)
		close(cfd);
	return rc;
}

static int killed_by_sigsys(int status)
{
	if (WIFEXITED(status))
		printf("#   child exited %d\n", WEXITSTATUS(status));
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
}

/* Every check passes, then execve kills it. */
static void test_front_confined(void)
{
	struct kh_confine_report r = { 0 };
	char buf[64];
	int status = 0;

	CHECK_INT(run_child(PROBE_MAIN, &status, &r), 0);
	CHECK(killed_by_sigsys(status));
	/* the report matches what the kernel offers */
	CHECK_INT(r.landlock_abi, kh_confine_landlock_abi());
	printf("# %s\n", kh_confine_landlock_status(&r, buf, sizeof buf));
	CHECK(strncmp(buf, r.landlock_abi > 0 ? "landlock: abi " : "landlock: unavailable", 14) ==
	      0);
	CHECK_INT(r.uid_dropped, getuid() == 0);
	CHECK_INT(r.nofile, TEST_NOFILE);
}

static void test_socket_kills(void)
{
	struct kh_confine_report r;
	int status = 0;

	CHECK_INT(run_child(PROBE_SOCKET, &status, &r), 0);
	CHECK(killed_by_sigsys(status));
}

static void test_connect_kills(void)
{
	struct kh_confine_report r;
	int status = 0;

	CHECK_INT(run_child(PROBE_CONNECT, &status, &r), 0);
	CHECK(killed_by_sigsys(status));
}

static void test_linger_kills(void)
{
	struct kh_confine_report r;
	int status = 0;

	CHECK_INT(run_child(PROBE_LINGER, &status, &r), 0);
	CHECK(killed_by_sigsys(status));
}

static void test_unavailable_reported(void)
{
	struct kh_confine_report r = { 0 };
	char buf[64];

	CHECK_STR(kh_confine_landlock_status(&r, buf, sizeof buf), "landlock: unavailable");
	r.landlock_abi = 6;
	CHECK_STR(kh_confine_landlock_status(&r, buf, sizeof buf), "landlock: abi 6");
}

static void test_root_must_drop(void)
{
	struct kh_confine_opts o = opts;
	struct kh_confine_report r;
	struct kh_err err = { "" };
	int status = 0;
	pid_t pid;

	if (getuid() != 0) {
		printf("# skip root-only check: not running as root\n");
		return;
	}
	o.uid = 0;
	pid = fork();
	if (pid == 0)
		_exit(kh_confine_apply(&o, &r, &err) == -1 && !r.seccomp ? 0 : 1);
	CHECK(pid > 0 && wait_bounded(pid, &status) == 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The signer child: a SEQPACKET round trip and a refused open, then
 * accept4 on a listener with a connection waiting, which must kill it. */
static void signer_child(int lfd, int ch)
{
	struct kh_confine_opts o = opts;
	struct kh_confine_report r;
	struct kh_err err = { "" };
	char b = 0;

	o.role = KH_CONFINE_SIGNER;
	if (kh_confine_apply(&o, &r, &err) != 0 || !r.seccomp)
		_exit(EXIT_BAD_CFG);
	if (poll(&(struct pollfd){ .fd = ch, .events = POLLIN }, 1, WAIT_MS) != 1 ||
	    recv(ch, &b, 1, 0) != 1 || send(ch, &b, 1, MSG_NOSIGNAL) != 1)
		_exit(3);
	if (open("/etc/hostname", O_RDONLY | O_CLOEXEC) != -1 || errno != EACCES)
		_exit(4);
	accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	_exit(99);
}

static void test_signer_cannot_accept(void)
{
	struct sockaddr_in a;
	int lfd = listen_loopback(&a), cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int sv[2] = { -1, -1 }, status = 0;
	char b = 's';
	pid_t pid = -1;

	CHECK(lfd >= 0 && cfd >= 0 && connect(cfd, (struct sockaddr *)&a, sizeof a) == 0);
	CHECK_INT(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	CHECK_INT(send(sv[0], &b, 1, 0), 1);
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		signer_child(lfd, sv[1]);
	CHECK(pid > 0 && wait_bounded(pid, &status) == 0);
	CHECK(killed_by_sigsys(status));
	b = 0;
	CHECK(recv(sv[0], &b, 1, MSG_DONTWAIT) == 1 && b == 's'); /* its answer came */
	close(sv[0]);
	close(sv[1]);
	close(lfd);
	close(cfd);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	RUN(test_front_confined);
	RUN(test_socket_kills);
	RUN(test_connect_kills);
	RUN(test_linger_kills);
	RUN(test_unavailable_reported);
	RUN(test_root_must_drop);
	RUN(test_signer_cannot_accept);
	TAP_DONE();
}
