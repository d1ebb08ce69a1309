/* `keyhole sandbox-init`: pid 1 inside a keyhole sandbox (not for direct use).
 *
 * It listens on 127.0.0.1:<port> in the sandbox's own network namespace and
 * relays each connection to the daemon's Unix socket, runs the command,
 * forwards signals sent from outside, reaps every orphan, and exits with the
 * command's status (which takes the rest of the sandbox down with it).
 *
 * Transparent mode, for programs that ignore HTTPS_PROXY: a DNS responder on
 * 127.0.0.1:53 answers allowlisted names with 127.0.0.1 / ::1 and every other
 * name NXDOMAIN (audited), and 127.0.0.1:443 and :80 relay to the daemon's
 * transparent TLS and HTTP sockets, which route by SNI or Host through the
 * same policy. The network namespace has only loopback, so an address given
 * by hand has no route, and UDP other than DNS reaches nothing (QUIC falls
 * back to TCP). Binding the low ports is the only privileged step: pid 1 gets
 * CAP_NET_BIND_SERVICE (and CAP_SETPCAP to give everything up) from bwrap.
 * When root started the sandbox, pid 1 also gets CAP_SETUID/CAP_SETGID in the
 * sandbox's user namespace to start the command as --uid/--gid (a host uid
 * that is not root). The command's process gives up every capability, sets
 * no_new_privs and loads the seccomp filter right before exec; pid 1 does the
 * same to itself once the command runs (confine.h).
 *
 * With --allow-host, only CONNECT to a matching host (proxy port) or a
 * ClientHello naming one (port 443) is relayed; plain HTTP is refused, since
 * one connection could name a new host in each request. This only narrows:
 * the daemon still applies its own allowlist and deny list to everything. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/capability.h>
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

#include "proxy/audit.h"
#include "proxy/auditgate.h"
#include "base/clock.h"
#include "cli/cli.h"
#include "sandbox/dns.h"
#include "policy/grants.h"
#include "base/hostname.h"
#include "sandbox/sandbox.h"
#include "sandbox/confine.h"
#include "tls/tlspeek.h"
#include "base/kh_limits.h"

#define MAX_DNS_PATTERNS KH_MAX_ALLOW_RULES
#define KEY_LEN          32 /* as the daemon matches them (policy.c) */

/* Which daemon socket a connection is relayed to. */
enum entry { ENTRY_PROXY, ENTRY_TLS, ENTRY_HTTP };

static const char *const sock_names[] = { "proxy.sock", "tls.sock", "http.sock" };

struct pipe_buf {
	char data[KH_SANDBOX_RELAY_BUF];
	size_t len;
	bool eof;
};

struct relay {
	int client, upstream; /* upstream is -1 until the start was judged */
	enum entry entry;
	struct pipe_buf up, down; /* client->upstream, upstream->client */
};

struct listener {
	int fd;
	enum entry entry;
};

struct init {
	char socks[3][64]; /* /proc/self/fd/<home fd>/<name> */
	char allow[KH_SANDBOX_MAX_ALLOW][KH_HOST_BUF + 2]; /* --allow-host */
	size_t n_allow;
	char dns[MAX_DNS_PATTERNS][KH_HOST_BUF + 2]; /* the daemon's allowlist */
	size_t n_dns;
	struct listener lis[KH_SANDBOX_MAX_LISTENERS];
	size_t n_lis;
	int dns_fds[2];
	int sig_fd;
	pid_t child;
	struct relay *relays[KH_SANDBOX_MAX_RELAYS];
	size_t n_relays;
	char keys[KH_SANDBOX_MAX_TOKEN_KEYS][KEY_LEN + 1];
	size_t n_keys;
	int id_fd;
	char identity[64]; /* "unix:pid=N" as the daemon sees us, or "sandbox" */
	char label[KH_GRANT_LABEL_MAX]; /* our sandbox tokens' label, or "" */
	struct kh_redact redact; /* the keys in any encoding, for audit records */
	bool dns_leak; /* the DNS name just judged held a token */
	struct kh_confine confine; /* what the command's process gives up before exec */
	char workdir[KH_MAX_PATH]; /* --chdir: where the command starts, once confined */
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

/* --- policy: --allow-host and the DNS allowlist --- */

static bool match_any(char (*pats)[KH_HOST_BUF + 2], size_t n, const char *host)
{
	for (size_t i = 0; i < n; i++)
		if (kh_host_match(pats[i], host))
			return true;
	return false;
}

static bool narrowed_ok(const struct init *in, const char *host)
{
	return in->n_allow == 0 ||
	       match_any((char(*)[KH_HOST_BUF + 2]) in->allow, in->n_allow, host);
}

/* Offset of a token's random part in s, or -1. */
static long find_key(const struct init *in, const char *s, size_t len)
{
	for (size_t k = 0; k < in->n_keys; k++) {
		const char *at = memmem(s, len, in->keys[k], KEY_LEN);

		if (at != NULL)
			return at - s;
	}
	return -1;
}

/* A token in a name, as written or split across labels ("abcd.ef01..."). */
static bool name_has_token(const struct init *in, const char *name)
{
	char joined[KH_HOST_BUF];
	size_t n = 0;

	if (find_key(in, name, strlen(name)) >= 0)
		return true;
	for (const char *p = name; *p != '\0' && n < sizeof joined; p++)
		if (*p != '.')
			joined[n++] = *p;
	return find_key(in, joined, n) >= 0;
}

static bool dns_allowed(const char *name, void *arg)
{
	struct init *in = arg;

	in->dns_leak = name_has_token(in, name);
	return !in->dns_leak && match_any(in->dns, in->n_dns, name) && narrowed_ok(in, name);
}

/* The audit log must never hold a whole token: a name carrying one is cut
 * down to what precedes it and the token's first characters. A command that
 * floods refused names gets its refusals folded (auditgate.h): the sandbox is
 * one source, named by its label. */
static void audit_refusal(const struct init *in, const char *mode, const char *host,
			  const char *reason, const char *detail)
{
	struct kh_audit_rec r = { .client = in->identity[0] ? in->identity : "sandbox",
				  .mode = mode,
				  .method = "-",
				  .host = host,
				  .decision = "deny",
				  .reason = reason,
				  .detail = detail,
				  .sandbox = in->label,
				  .redact = &in->redact };
	char shown[KH_HOST_BUF + 8];
	long at;

	if (name_has_token(in, host)) {
		at = find_key(in, host, strlen(host));
		if (at >= 0)
			snprintf(shown, sizeof shown, "%.*s%.4s...", (int)at, host, host + at);
		else
			snprintf(shown, sizeof shown, "(withheld: it holds a proxy token)");
		r.host = shown;
		r.reason = "token_leak_attempt";
		r.detail = "a proxy token appears in a host name; it is never sent anywhere";
	}
	(void)kh_auditgate_write(&r, in->label[0] ? in->label : r.client);
}

/* The host a CONNECT line names (only CONNECT is accepted under --allow-host). */
static int line_host(struct kh_slice line, char host[KH_HOST_BUF])
{
	struct kh_slice method, target;
	uint16_t port;

	if (!kh_slice_split(&line, ' ', &method) || !kh_slice_split(&line, ' ', &target) ||
	    !kh_slice_eq_cstr(method, "CONNECT"))
		return -1;
	return kh_authority_parse(target, 0, host, &port);
}

static void refuse_http(struct relay *r, const char *host)
{
	char msg[512], body[320];
	int b = snprintf(body, sizeof body,
			 "keyhole sandbox: %s is not in this sandbox's --allow-host list\n",
			 host[0] ? host
				 : "only CONNECT (https) is allowed with --allow-host; this");
	int n = snprintf(msg, sizeof msg,
			 "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
			 "Content-Length: %d\r\nConnection: close\r\n"
			 "X-Keyhole-Reason: sandbox_host_not_allowed\r\n\r\n%s",
			 b, body);

	if (n > 0)
		(void)!send(r->client, msg, (size_t)n, MSG_NOSIGNAL);
	shutdown(r->client, SHUT_WR);
}

static int judge_proxy(struct relay *r, const struct init *in)
{
	const char *nl = memchr(r->up.data, '\n', r->up.len);
	char host[KH_HOST_BUF] = "";

	if (nl == NULL)
		return r->up.len >= KH_SANDBOX_FIRST_LINE_MAX || r->up.eof ? -1 : 0;
	if (line_host(kh_slice_make(r->up.data, (size_t)(nl - r->up.data)), host) < 0 ||
	    !narrowed_ok(in, host)) {
		refuse_http(r, host);
		return -1;
	}
	return 1;
}

static int judge_tls(struct relay *r, const struct init *in)
{
	char host[KH_HOST_BUF];
	enum kh_tlspeek_result p = kh_tlspeek_sni((const uint8_t *)r->up.data, r->up.len, host);

	if (p == KH_TLSPEEK_MORE)
		return r->up.eof ? -1 : 0;
	if (p != KH_TLSPEEK_SNI || !narrowed_ok(in, host)) {
		audit_refusal(in, "transparent", p == KH_TLSPEEK_SNI ? host : "",
			      "sandbox_host_not_allowed", "not in the sandbox's --allow-host list");
		return -1;
	}
	return 1;
}

/* Before the upstream is opened: judge what the client sent so far.
 * 1: connect, 0: wait for more, -1: drop the relay. */
static int judge(struct relay *r, const struct init *in)
{
	if (in->n_allow == 0)
		return 1;
	if (r->entry == ENTRY_PROXY)
		return judge_proxy(r, in);
	if (r->entry == ENTRY_TLS)
		return judge_tls(r, in);
	refuse_http(r, ""); /* transparent plain HTTP names its host per request */
	return -1;
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

/* One round for a relay on poll results; false when it is finished. */
static bool step_relay(struct init *in, struct relay *r, short cev, short uev)
{
	int verdict;

	if ((cev & (POLLIN | POLLHUP | POLLERR)) && !pump_read(r->client, &r->up))
		return false;
	if (r->upstream < 0) {
		verdict = judge(r, in);
		if (verdict < 0)
			return false;
		if (verdict > 0 && (r->upstream = connect_daemon(in->socks[r->entry])) < 0)
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

static void accept_one(struct init *in, const struct listener *l)
{
	int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct relay *r;

	if (fd < 0)
		return;
	if (in->n_relays == KH_SANDBOX_MAX_RELAYS || (r = calloc(1, sizeof *r)) == NULL) {
		close(fd);
		return;
	}
	r->client = fd;
	r->upstream = -1;
	r->entry = l->entry;
	in->relays[in->n_relays++] = r;
}

/* --- DNS --- */

static void serve_dns(struct init *in, int fd)
{
	uint8_t q[KH_DNS_MAX], a[KH_DNS_MAX];
	struct sockaddr_storage from;
	socklen_t flen = sizeof from;
	struct kh_dns_result res;
	ssize_t n = recvfrom(fd, q, sizeof q, MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
	size_t alen;

	if (n <= 0)
		return;
	alen = kh_dns_answer(q, (size_t)n, a, sizeof a, dns_allowed, in, &res);
	if (res.verdict == KH_DNS_REFUSED)
		audit_refusal(in, "dns", res.name,
			      in->dns_leak ? "token_leak_attempt" : "dns_not_allowed",
			      in->dns_leak
				      ? "a proxy token appears in a DNS name; answered NXDOMAIN"
				      : "name is not on the allowlist; answered NXDOMAIN");
	if (alen > 0)
		(void)!sendto(fd, a, alen, MSG_DONTWAIT, (struct sockaddr *)&from, flen);
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

static size_t fill_poll(struct init *in, struct pollfd *p)
{
	size_t n = 0;

	p[n++] = (struct pollfd){ in->sig_fd, POLLIN, 0 };
	for (size_t i = 0; i < in->n_lis; i++)
		p[n++] = (struct pollfd){ in->lis[i].fd, POLLIN, 0 };
	for (size_t i = 0; i < 2; i++)
		p[n++] = (struct pollfd){ in->dns_fds[i], POLLIN, 0 };
	for (size_t i = 0; i < in->n_relays; i++) {
		struct relay *r = in->relays[i];

		p[n++] = (struct pollfd){ r->client, want(&r->up, &r->down), 0 };
		p[n++] = (struct pollfd){ r->upstream, want(&r->down, &r->up), 0 };
	}
	return n;
}

/* Until the next folded refusals' record is due (auditgate.h), or forever. */
static int poll_timeout(void)
{
	uint64_t due = kh_auditgate_tick(), now = kh_mono_ms();

	if (due == 0)
		return -1;
	return due > now ? (int)(due - now) : 0;
}

static int loop(struct init *in)
{
	static struct pollfd p[1 + KH_SANDBOX_MAX_LISTENERS + 2 + 2 * KH_SANDBOX_MAX_RELAYS];

	for (;;) {
		size_t n = fill_poll(in, p), base = 1 + in->n_lis + 2;
		int code;

		if (poll(p, n, poll_timeout()) < 0 && errno != EINTR)
			return 125;
		if ((p[0].revents & POLLIN) && (code = on_signal(in)) >= 0) {
			kh_auditgate_flush(); /* the last window's folded refusals */
			return code;
		}
		for (size_t i = in->n_relays; i-- > 0;)
			if (!step_relay(in, in->relays[i], p[base + 2 * i].revents,
					p[base + 1 + 2 * i].revents))
				free_relay(in, i);
		for (size_t i = 0; i < in->n_lis; i++)
			if (p[1 + i].revents & POLLIN)
				accept_one(in, &in->lis[i]);
		for (size_t i = 0; i < 2; i++)
			if (p[1 + in->n_lis + i].revents & POLLIN)
				serve_dns(in, in->dns_fds[i]);
	}
}

/* --- setting up --- */

static int bind_local(int family, int type, uint16_t port)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (family == AF_INET) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		s6->sin6_addr = in6addr_loopback;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	}
	if (bind(fd, (struct sockaddr *)&ss, family == AF_INET ? sizeof *s4 : sizeof *s6) != 0 ||
	    (type == SOCK_STREAM && listen(fd, 128) != 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int add_listener(struct init *in, int family, uint16_t port, enum entry e)
{
	int fd = bind_local(family, SOCK_STREAM, port);

	if (fd < 0)
		return -1;
	in->lis[in->n_lis++] = (struct listener){ fd, e };
	return 0;
}

/* The proxy port is required; transparent mode is best effort (it needs to
 * bind low ports) and only warns when it cannot be set up. */
static int open_sockets(struct init *in, uint16_t port)
{
	if (add_listener(in, AF_INET, port, ENTRY_PROXY) != 0) {
		fprintf(stderr, "keyhole sandbox: cannot listen on 127.0.0.1:%u inside: %s\n", port,
			strerror(errno));
		return -1;
	}
	if (add_listener(in, AF_INET, 443, ENTRY_TLS) != 0 ||
	    add_listener(in, AF_INET6, 443, ENTRY_TLS) != 0 ||
	    add_listener(in, AF_INET, 80, ENTRY_HTTP) != 0 ||
	    add_listener(in, AF_INET6, 80, ENTRY_HTTP) != 0 ||
	    (in->dns_fds[0] = bind_local(AF_INET, SOCK_DGRAM, 53)) < 0 ||
	    (in->dns_fds[1] = bind_local(AF_INET6, SOCK_DGRAM, 53)) < 0)
		fprintf(stderr,
			"keyhole sandbox: warning: transparent mode is off (%s); programs "
			"must use HTTPS_PROXY\n",
			strerror(errno));
	return 0;
}

/* The command's process: confined right before exec, or it never runs.
 *
 * Why the seccomp filter is loaded here and not handed to bwrap (--seccomp FD,
 * a program built with seccomp_export_bpf): here the process has already
 * changed uid and dropped every capability, so the filter never has to let
 * through what that takes (setresuid, setgroups, capset, prctl), and the
 * no_new_privs it needs is set by us right before, whatever bwrap version
 * runs us. bwrap's filter would also cover pid 1 from its first instruction;
 * pid 1 gets the same filter once the command runs (confine_self), before it
 * reads a byte from the command, which is what matters. */
static pid_t spawn(char **argv, const sigset_t *blocked, const struct init *in)
{
	struct kh_err err = { "" };
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	sigprocmask(SIG_UNBLOCK, blocked, NULL);
	if (kh_confine(&in->confine, &err) != 0) {
		fprintf(stderr, "%s; not running %s\n", err.msg, argv[0]);
		_exit(126);
	}
	/* Entered as the command's uid: the directory may be open to it only
	 * (root's sandbox sees it through an idmapped mount, owned by that uid). */
	if (in->workdir[0] != '\0' &&
	    (chdir(in->workdir) != 0 || setenv("PWD", in->workdir, 1) != 0)) {
		fprintf(stderr, "keyhole sandbox: cannot enter %s: %s\n", in->workdir,
			strerror(errno));
		_exit(126);
	}
	execvp(argv[0], argv);
	fprintf(stderr, "keyhole sandbox: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* LeakSanitizer checks for leaks at exit by tracing the process (ptrace),
 * which the filter refuses: an ASan build of pid 1 (tests only) goes without
 * the filter itself. The command keeps it either way. */
#if defined(__SANITIZE_ADDRESS__)
#define SELF_FILTER 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SELF_FILTER 0
#endif
#endif
#ifndef SELF_FILTER
#define SELF_FILTER 1
#endif

/* pid 1, once the command runs: nothing inside needs any privilege any more,
 * but for passing on the signals sent to the sandbox to a command that runs
 * as another uid (CAP_KILL, which reaches no process outside the sandbox's
 * user namespace). */
static int confine_self(const struct init *in)
{
	struct kh_confine self = { .filter = SELF_FILTER ? in->confine.filter : NULL,
				   .keep_cap = in->confine.set_ids ? CAP_KILL : -1 };
	struct kh_err err = { "" };

	if (kh_confine(&self, &err) != 0) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	return 0;
}

/* `keyhole sandbox` writes our pid as the host sees it once bwrap reports
 * it, and the label of our tokens ("unix:pid=N\nLABEL\n"), so our audit
 * records name the sandbox as the daemon's records do. */
static void read_identity(struct init *in)
{
	struct pollfd p = { in->id_fd, POLLIN, 0 };
	char buf[sizeof in->identity + sizeof in->label + 2] = "", *nl;
	ssize_t n = 0;

	snprintf(in->identity, sizeof in->identity, "sandbox");
	if (in->id_fd < 0)
		return;
	if (poll(&p, 1, KH_SANDBOX_ID_WAIT_MS) == 1)
		n = read(in->id_fd, buf, sizeof buf - 1);
	close(in->id_fd);
	in->id_fd = -1;
	if (n <= 0 || strncmp(buf, "unix:pid=", 9) != 0)
		return;
	buf[n] = '\0';
	nl = strchr(buf, '\n');
	if (nl != NULL) {
		*nl = '\0';
		nl[1 + strcspn(nl + 1, "\r\n")] = '\0';
		if (kh_grant_label_valid(nl + 1))
			snprintf(in->label, sizeof in->label, "%s", nl + 1);
	}
	if (strlen(buf) < sizeof in->identity)
		memcpy(in->identity, buf, strlen(buf) + 1);
}

static int setup(struct init *in, uint16_t port, char **cmd)
{
	static const int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	struct kh_err err = { "" };
	sigset_t set;

	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* the command must not read our memory or fds */
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaddset(&set, sigs[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	in->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	in->dns_fds[0] = in->dns_fds[1] = -1;
	if (in->sig_fd < 0 || open_sockets(in, port) != 0)
		return -1;
	read_identity(in);
	in->confine.filter = kh_seccomp_build(&err);
	if (in->confine.filter == NULL) {
		fprintf(stderr, "keyhole sandbox: %s\n", err.msg);
		return -1;
	}
	in->child = spawn(cmd, &set, in);
	if (in->child <= 0)
		return -1;
	if (confine_self(in) != 0) { /* the command must not outlive a pid 1 that failed */
		kill(in->child, SIGKILL);
		return -1;
	}
	return 0;
}

static int add_pattern(char (*pats)[KH_HOST_BUF + 2], size_t *n, size_t max, const char *v)
{
	if (*n == max || kh_host_pattern_normalize(v, pats[*n]) != 0)
		return -1;
	(*n)++;
	return 0;
}

static int parse(int argc, char **argv, struct init *in, uint64_t *port)
{
	static const struct option longopts[] = {
		{ "home-fd", required_argument, NULL, 's' },
		{ "port", required_argument, NULL, 'p' },
		{ "allow-host", required_argument, NULL, 'a' },
		{ "dns-allow", required_argument, NULL, 'd' },
		{ "audit-fd", required_argument, NULL, 'A' },
		{ "token-key", required_argument, NULL, 'k' },
		{ "id-fd", required_argument, NULL, 'i' },
		{ "uid", required_argument, NULL, 'u' },
		{ "gid", required_argument, NULL, 'g' },
		{ "chdir", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t fd = 0, id = 0;
	int ch, bad = 0, ids = 0;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		if (ch == 's' && kh_parse_u64(optarg, 1 << 20, &fd) == 0) {
			for (int k = 0; k < 3; k++)
				snprintf(in->socks[k], sizeof in->socks[k], "/proc/self/fd/%d/%s",
					 (int)fd, sock_names[k]);
			fcntl((int)fd, F_SETFD, FD_CLOEXEC); /* the command must not inherit it */
		} else if (ch == 'p' && kh_parse_u64(optarg, 65535, port) == 0) {
			continue;
		} else if (ch == 'a') {
			bad |= add_pattern(in->allow, &in->n_allow, KH_SANDBOX_MAX_ALLOW, optarg);
		} else if (ch == 'd') {
			bad |= add_pattern(in->dns, &in->n_dns, MAX_DNS_PATTERNS, optarg);
		} else if (ch == 'k' && in->n_keys < KH_SANDBOX_MAX_TOKEN_KEYS &&
			   strlen(optarg) >= KEY_LEN) {
			memcpy(in->keys[in->n_keys++], optarg, KEY_LEN);
		} else if (ch == 'i' && kh_parse_u64(optarg, 1 << 20, &fd) == 0) {
			fcntl((int)fd, F_SETFD, FD_CLOEXEC);
			in->id_fd = (int)fd;
		} else if (ch == 'A' && kh_parse_u64(optarg, 1 << 20, &fd) == 0) {
			fcntl((int)fd, F_SETFD, FD_CLOEXEC);
			kh_audit_use_fd((int)fd);
		} else if (ch == 'c' && strlen(optarg) < sizeof in->workdir) {
			memcpy(in->workdir, optarg, strlen(optarg) + 1);
		} else if ((ch == 'u' || ch == 'g') &&
			   kh_parse_u64(optarg, UINT32_MAX - 1, &id) == 0) {
			in->confine.set_ids = true;
			ids |= ch == 'u' ? 1 : 2;
			if (ch == 'u')
				in->confine.uid = (uid_t)id;
			else
				in->confine.gid = (gid_t)id;
		} else {
			bad = -1;
		}
	}
	if (ids != 0 && ids != 3) /* --uid and --gid come together */
		bad = -1;
	return bad != 0 || in->socks[0][0] == '\0' || *port == 0 || optind >= argc ? -1 : 0;
}

/* A name that holds a key percent-, base64- or hex-encoded is cut out of its
 * record too (redact.h); a failure only loses that, so it is not fatal. */
static void build_redact(struct init *in)
{
	struct kh_redact_item items[KH_SANDBOX_MAX_TOKEN_KEYS];
	struct kh_err err;

	for (size_t k = 0; k < in->n_keys; k++)
		items[k] = (struct kh_redact_item){ "TOKEN", (const uint8_t *)in->keys[k],
						    KEY_LEN };
	if (kh_redact_build(&in->redact, items, in->n_keys, &err) != 0)
		fprintf(stderr, "keyhole sandbox-init: %s\n", err.msg);
}

int kh_cmd_sandbox_init(int argc, char **argv)
{
	static struct init in;
	uint64_t port = 0;

	in.id_fd = -1;
	in.confine.keep_cap = -1;
	if (parse(argc, argv, &in, &port) != 0)
		return kh_cli_usage_error("sandbox-init", "for keyhole sandbox's own use");
	build_redact(&in);
	if (getpid() != 1)
		fprintf(stderr,
			"keyhole sandbox-init: warning: not pid 1 (run by keyhole sandbox)\n");
	if (setup(&in, (uint16_t)port, argv + optind) != 0)
		return 125;
	return loop(&in);
}
