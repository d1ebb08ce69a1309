#include "base/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/clock.h"

struct pipes {
	int out[2], err[2];
	int exec[2]; /* close-on-exec: the child's errno if exec fails, else EOF */
};

static void close_pair(int p[2])
{
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0)
			close(p[i]);
}

/* The program starts as from a shell: no signal blocked or ignored (the
 * daemon's process blocks its stop signals and ignores SIGPIPE; exec keeps
 * both). */
static void default_signals(void)
{
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL); /* SIGKILL, SIGSTOP and reserved ones refuse: fine */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static _Noreturn void child(char *const argv[], char *const envp[], struct pipes *p)
{
	int devnull = open("/dev/null", O_RDONLY);

	default_signals();
	if (devnull >= 0)
		dup2(devnull, 0);
	dup2(p->out[1], 1);
	dup2(p->err[1], 2);
	execvpe(argv[0], argv, envp);
	{
		int e = errno;

		(void)!write(p->exec[1], &e, sizeof e);
	}
	_exit(127);
}

/* Did exec fail in the child? Its errno, or 0 once exec closed the pipe. */
static int exec_errno(int fd, uint64_t deadline)
{
	struct pollfd p = { fd, POLLIN, 0 };
	uint64_t now = kh_mono_ms();
	int e = 0;

	if (now < deadline && poll(&p, 1, (int)(deadline - now)) == 1 &&
	    read(fd, &e, sizeof e) != (ssize_t)sizeof e)
		e = 0;
	return e;
}

/* Appends what is readable on fd to buf (capped); returns false at EOF. */
static bool drain(int fd, char *buf, size_t cap, size_t *len, bool *overflow)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof tmp);

	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	if (*len + (size_t)n > cap) {
		*overflow = true;
		n = (ssize_t)(cap - *len);
	}
	memcpy(buf + *len, tmp, (size_t)n);
	*len += (size_t)n;
	OPENSSL_cleanse(tmp, sizeof tmp);
	return true;
}

struct collect {
	char *out;
	size_t out_len, out_cap, err_len;
	bool overflow, timed_out;
};

static void collect_until_eof(struct pipes *p, struct kh_spawn_result *r, struct collect *c,
			      uint64_t deadline)
{
	struct pollfd fds[2] = { { p->out[0], POLLIN, 0 }, { p->err[0], POLLIN, 0 } };
	bool overflow_err = false;

	while (fds[0].fd >= 0 || fds[1].fd >= 0) {
		uint64_t now = kh_mono_ms();

		if (now >= deadline || c->overflow) {
			c->timed_out = !c->overflow;
			return;
		}
		if (poll(fds, 2, (int)(deadline - now)) < 0 && errno != EINTR)
			return;
		if ((fds[0].revents & (POLLIN | POLLHUP)) &&
		    !drain(fds[0].fd, c->out, c->out_cap, &c->out_len, &c->overflow))
			fds[0].fd = -1;
		if ((fds[1].revents & (POLLIN | POLLHUP)) &&
		    !drain(fds[1].fd, r->err, sizeof r->err - 1, &c->err_len, &overflow_err))
			fds[1].fd = -1;
	}
}

/* Its exit status; a program that closed its output but runs on past the
 * deadline is killed then, so the caller never waits longer than that. */
static int reap(pid_t pid, bool kill_first, uint64_t deadline, bool *killed_late)
{
	int status = 0;
	pid_t r;

	if (kill_first)
		kill(pid, SIGKILL);
	while ((r = waitpid(pid, &status, WNOHANG)) == 0 && kh_mono_ms() < deadline)
		usleep(2000);
	if (r == 0) {
		kill(pid, SIGKILL);
		*killed_late = true;
	}
	while (r <= 0 && (r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	return r == pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void sanitize(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\n')
			s[i] = '?';
	s[n] = '\0';
}

int kh_spawn_capture(char *const argv[], char *const envp[], unsigned timeout_ms, size_t out_cap,
		     struct kh_spawn_result *r, struct kh_err *err)
{
	struct pipes p = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
	struct collect c = { .out_cap = out_cap };
	uint64_t deadline = kh_mono_ms() + timeout_ms;
	pid_t pid;
	int e;

	memset(r, 0, sizeof *r);
	c.out = malloc(out_cap + 1);
	if (c.out == NULL || pipe2(p.out, O_CLOEXEC) != 0 || pipe2(p.err, O_CLOEXEC) != 0 ||
	    pipe2(p.exec, O_CLOEXEC) != 0) {
		kh_err_set(err, "cannot run %s: %s", argv[0], kh_strerror(errno));
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		kh_err_set(err, "cannot run %s: %s", argv[0], kh_strerror(errno));
		goto fail;
	}
	if (pid == 0)
		child(argv, envp, &p);
	close(p.out[1]);
	close(p.err[1]);
	close(p.exec[1]);
	p.out[1] = p.err[1] = p.exec[1] = -1;
	if ((e = exec_errno(p.exec[0], deadline)) != 0) {
		r->exit_code = reap(pid, false, deadline, &c.timed_out);
		kh_err_set(err, "cannot run %s: %s", argv[0], kh_strerror(e));
		goto fail;
	}
	collect_until_eof(&p, r, &c, deadline);
	r->exit_code = reap(pid, c.timed_out || c.overflow, deadline, &c.timed_out);
	sanitize(r->err, c.err_len);
	if (c.timed_out || c.overflow) {
		kh_err_set(err, "%s %s", argv[0],
			   c.timed_out ? "did not finish in time" : "printed more than expected");
		goto fail;
	}
	close_pair(p.out);
	close_pair(p.err);
	close_pair(p.exec);
	c.out[c.out_len] = '\0';
	r->out = c.out;
	r->out_len = c.out_len;
	return 0;
fail:
	close_pair(p.out);
	close_pair(p.err);
	close_pair(p.exec);
	if (c.out != NULL) {
		OPENSSL_cleanse(c.out, out_cap + 1);
		free(c.out);
	}
	return -1;
}

void kh_spawn_result_free(struct kh_spawn_result *r)
{
	if (r->out != NULL) {
		OPENSSL_cleanse(r->out, r->out_len);
		free(r->out);
	}
	r->out = NULL;
	r->out_len = 0;
}
