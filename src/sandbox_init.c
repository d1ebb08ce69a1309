/* `keyhole sandbox-init`: pid 1 inside a keyhole sandbox (not for direct use).
 *
 * It listens on 127.0.0.1:<port> in the sandbox's own network namespace and
 * relays each connection to the daemon's Unix socket, runs the command,
 * forwards signals sent from outside, reaps every orphan, and exits with the
 * command's status (which takes the rest of the sandbox down with it).
 *
 * With --allow-host, the first request line of each connection (the CONNECT
 * target, or an absolute-form URL's host) must match one of the patterns, or
 * the connection is answered 403 here. This only narrows: the daemon still
 * applies its own allowlist and deny list to everything. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "hostname.h"
#include "http1.h"
#include "sandbox.h"

#define RELAY_BUF 65536
#define FIRST_LINE_MAX 4096

struct pipe_buf {
	char data[RELAY_BUF];
	size_t len;
	bool eof;
};

struct relay {
	int client, upstream;      /* upstream is -1 until the first line is checked */
	struct pipe_buf up, down;  /* client->upstream, upstream->client */
};

struct init {
	char sock[64]; /* /proc/self/fd/<home fd>/proxy.sock */
	char patterns[KH_SANDBOX_MAX_ALLOW][KH_HOST_BUF + 2];
	size_t n_patterns;
	int listen_fd, sig_fd;
	pid_t child;
	struct relay *relays[KH_SANDBOX_MAX_RELAYS];
	size_t n_relays;
};

static int connect_daemon(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof a.sun_path)
		goto fail;
	memcpy(a.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
		goto fail;
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

/* --- --allow-host narrowing --- */

/* The host a CONNECT line names. With --allow-host only CONNECT is accepted:
 * after it the stream is TLS to that one host (the daemon checks every
 * request inside against it), whereas a plain-HTTP connection could name a
 * new host in each of its requests. */
static int line_host(struct kh_slice line, char host[KH_HOST_BUF])
{
	struct kh_slice method, target;
	uint16_t port;

	if (!kh_slice_split(&line, ' ', &method) || !kh_slice_split(&line, ' ', &target) ||
	    !kh_slice_eq_cstr(method, "CONNECT"))
		return -1;
	return kh_authority_parse(target, 0, host, &port);
}

static bool allowed(const struct init *in, const char *host)
{
	for (size_t i = 0; i < in->n_patterns; i++)
		if (kh_host_match(in->patterns[i], host))
			return true;
	return false;
}

static void refuse(struct relay *r, const char *host)
{
	char msg[512];
	char body[320];
	int b = snprintf(body, sizeof body, "keyhole sandbox: %s is not in this sandbox's "
					    "--allow-host list\n",
			 host[0] ? host : "only CONNECT (https) is allowed with --allow-host; this");
	int n = snprintf(msg, sizeof msg, "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
					  "Content-Length: %d\r\nConnection: close\r\n"
					  "X-Keyhole-Reason: sandbox_host_not_allowed\r\n\r\n%s",
			 b, body);

	if (n > 0)
		(void)!send(r->client, msg, (size_t)n, MSG_NOSIGNAL);
	shutdown(r->client, SHUT_WR);
}

/* Before the upstream is opened: wait for the first line and judge it.
 * Returns 1 to connect, 0 to wait, -1 to drop the relay. */
static int check_first_line(struct init *in, struct relay *r)
{
	const char *nl = memchr(r->up.data, '\n', r->up.len);
	char host[KH_HOST_BUF] = "";

	if (in->n_patterns == 0)
		return 1;
	if (nl == NULL)
		return r->up.len >= FIRST_LINE_MAX || r->up.eof ? -1 : 0;
	if (line_host(kh_slice_make(r->up.data, (size_t)(nl - r->up.data)), host) < 0 ||
	    !allowed(in, host)) {
		refuse(r, host);
		return -1;
	}
	return 1;
}

/* --- relaying --- */

static void free_relay(struct init *in, size_t i)
{
	struct relay *r = in->relays[i];

	close(r->client);
	if (r->upstream >= 0)
		close(r->upstream);
	free(r);
	in->relays[i] = in->relays[--in->n_relays];
}

static bool pump_read(int fd, struct pipe_buf *b)
{
	ssize_t n;

	if (b->eof || b->len == sizeof b->data)
		return true;
	n = recv(fd, b->data + b->len, sizeof b->data - b->len, MSG_DONTWAIT);
	if (n > 0)
		b->len += (size_t)n;
	else if (n == 0)
		b->eof = true;
	else if (errno != EAGAIN && errno != EINTR)
		return false;
	return true;
}

static bool pump_write(int fd, struct pipe_buf *b)
{
	ssize_t n;

	if (b->len == 0)
		return true;
	n = send(fd, b->data, b->len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	memmove(b->data, b->data + n, b->len - (size_t)n);
	b->len -= (size_t)n;
	return true;
}

/* One round for relay i on poll results; false when it is finished. */
static bool step_relay(struct init *in, struct relay *r, short cev, short uev)
{
	int verdict;

	if ((cev & (POLLIN | POLLHUP | POLLERR)) && !pump_read(r->client, &r->up))
		return false;
	if (r->upstream < 0) {
		verdict = check_first_line(in, r);
		if (verdict < 0)
			return false;
		if (verdict > 0 && (r->upstream = connect_daemon(in->sock)) < 0)
			return false;
	}
	if (r->upstream >= 0) {
		if ((uev & (POLLIN | POLLHUP | POLLERR)) && !pump_read(r->upstream, &r->down))
			return false;
		if (!pump_write(r->upstream, &r->up) || !pump_write(r->client, &r->down))
			return false;
		if (r->up.eof && r->up.len == 0)
			shutdown(r->upstream, SHUT_WR);
		if (r->down.eof && r->down.len == 0)
			shutdown(r->client, SHUT_WR);
	}
	return !(r->up.eof && r->down.eof && r->up.len == 0 && r->down.len == 0);
}

static short want(const struct pipe_buf *in_buf, const struct pipe_buf *out_buf)
{
	short ev = 0;

	if (!in_buf->eof && in_buf->len < sizeof in_buf->data)
		ev |= POLLIN;
	if (out_buf->len > 0)
		ev |= POLLOUT;
	return ev;
}

static void accept_one(struct init *in)
{
	int fd = accept4(in->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct relay *r;

	if (fd < 0)
		return;
	if (in->n_relays == KH_SANDBOX_MAX_RELAYS || (r = calloc(1, sizeof *r)) == NULL) {
		close(fd);
		return;
	}
	r->client = fd;
	r->upstream = -1;
	in->relays[in->n_relays++] = r;
}

/* --- process handling --- */

static int exit_code(int status)
{
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* Reaps every exited process; returns the command's code once it is gone. */
static int reap(struct init *in)
{
	int status;
	pid_t p;

	while ((p = waitpid(-1, &status, WNOHANG)) > 0)
		if (p == in->child)
			return exit_code(status);
	return -1;
}

/* A signal from outside the sandbox (sent to us as pid 1) goes to the command. */
static int on_signal(struct init *in)
{
	struct signalfd_siginfo si;

	while (read(in->sig_fd, &si, sizeof si) == sizeof si) {
		if (si.ssi_signo == SIGCHLD)
			continue;
		if (si.ssi_code == SI_USER && si.ssi_pid == 0)
			kill(in->child, (int)si.ssi_signo);
	}
	return reap(in);
}

static int loop(struct init *in)
{
	struct pollfd p[2 + 2 * KH_SANDBOX_MAX_RELAYS];

	for (;;) {
		size_t n = 2;
		int code;

		p[0] = (struct pollfd){ in->sig_fd, POLLIN, 0 };
		p[1] = (struct pollfd){ in->listen_fd, POLLIN, 0 };
		for (size_t i = 0; i < in->n_relays; i++) {
			struct relay *r = in->relays[i];

			p[n++] = (struct pollfd){ r->client, want(&r->up, &r->down), 0 };
			p[n++] = (struct pollfd){ r->upstream, want(&r->down, &r->up), 0 };
		}
		if (poll(p, n, -1) < 0 && errno != EINTR)
			return 125;
		if ((p[0].revents & POLLIN) && (code = on_signal(in)) >= 0)
			return code;
		for (size_t i = in->n_relays; i-- > 0;)
			if (!step_relay(in, in->relays[i], p[2 + 2 * i].revents,
					p[3 + 2 * i].revents))
				free_relay(in, i);
		if (p[1].revents & POLLIN)
			accept_one(in);
	}
}

static int listen_local(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 128) != 0)
		return -1;
	return fd;
}

static pid_t spawn(char **argv, const sigset_t *blocked)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	sigprocmask(SIG_UNBLOCK, blocked, NULL);
	execvp(argv[0], argv);
	fprintf(stderr, "keyhole sandbox: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static int setup(struct init *in, uint16_t port, char **cmd)
{
	static const int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	sigset_t set;

	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* the command must not read our memory or fds */
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaddset(&set, sigs[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	in->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	in->listen_fd = listen_local(port);
	if (in->sig_fd < 0 || in->listen_fd < 0) {
		fprintf(stderr, "keyhole sandbox: cannot listen on 127.0.0.1:%u inside: %s\n", port,
			strerror(errno));
		return -1;
	}
	in->child = spawn(cmd, &set);
	return in->child > 0 ? 0 : -1;
}

int kh_cmd_sandbox_init(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "home-fd", required_argument, NULL, 's' },
		{ "port", required_argument, NULL, 'p' },
		{ "allow-host", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	static struct init in;
	uint64_t port = 0, fd = 0;
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		if (ch == 's' && kh_parse_u64(optarg, 1 << 20, &fd) == 0)
			snprintf(in.sock, sizeof in.sock, "/proc/self/fd/%d/proxy.sock", (int)fd);
		else if (ch == 'p' && kh_parse_u64(optarg, 65535, &port) == 0)
			continue;
		else if (ch == 'a' && in.n_patterns < KH_SANDBOX_MAX_ALLOW &&
			 kh_host_pattern_normalize(optarg, in.patterns[in.n_patterns]) == 0)
			in.n_patterns++;
		else
			return kh_cli_usage_error("sandbox", "bad --allow-host or internal option "
							     "'%s'", argv[optind - 1]);
	}
	if (in.sock[0] == '\0' || port == 0 || optind >= argc)
		return kh_cli_usage_error("sandbox-init", "for keyhole sandbox's own use");
	if (getpid() != 1)
		fprintf(stderr, "keyhole sandbox-init: warning: not pid 1 (run by keyhole sandbox)\n");
	fcntl((int)fd, F_SETFD, FD_CLOEXEC); /* the command must not inherit the way out */
	if (setup(&in, (uint16_t)port, argv + optind) != 0)
		return 125;
	return loop(&in);
}
