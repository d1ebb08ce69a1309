/* `keyhole sandbox -- CMD`: runs a command in new user, mount, pid, network,
 * ipc and uts namespaces built by bubblewrap, where the only network is
 * loopback and the only way out is keyhole. Started by root, the command runs
 * as KH_SANDBOX_UID, never as host root (userns.h).
 *
 * Inside, `keyhole sandbox-init` is pid 1: it listens on 127.0.0.1:<port> and
 * relays each connection to the daemon's Unix socket (a path socket, so it
 * crosses network namespaces), runs the command, reaps, and exits with the
 * command's status. The root file system is read-only except the working
 * directory (or --workdir), where the paths that run code on the host later
 * stay read-only too (workdir.h); /proc/sys is read-only; /tmp and
 * /run are private; KEYHOLE_HOME is hidden under an empty
 * tmpfs; only ca.crt, the proxy socket and the keyhole binary are mounted in
 * under /run/keyhole. The command gets the same environment as a Docker
 * sandbox (proxy variables, CA bundle variables), with tokens of its own:
 * sandbox tokens labelled sandbox-<pid>, revoked when it exits.
 *
 * bwrap does not forward signals, so this process does: a signal sent to it
 * with kill(2) is passed to pid 1 inside, which passes it to the command.
 * Terminal signals (^C) reach the command directly, as it shares the TTY. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cmd_common.h"
#include "cli/ctl_client.h"
#include "cli/dockerargs.h"
#include "base/fsutil.h"
#include "base/hostname.h"
#include "policy/policy.h"
#include "cli/probe.h"
#include "policy/providers.h"
#include "sandbox/sandbox.h"
#include "sandbox/userns.h"

#define IN_DIR "/run/keyhole"
#define IN_CA  IN_DIR "/ca.crt"
#define IN_EXE IN_DIR "/keyhole"

extern char **environ;

static volatile pid_t inner_pid;

/* --- the command's environment --- */

/* Names of real credentials keyhole knows about, mapped or not. */
static bool is_credential_name(const char *name)
{
	for (size_t i = 0; i < kh_providers_count; i++)
		if (strcmp(name, kh_providers[i].env_name) == 0 ||
		    (kh_providers[i].alias_env && strcmp(name, kh_providers[i].alias_env) == 0))
			return true;
	for (size_t i = 0; i < kh_uncovered_env_count; i++)
		if (strcmp(name, kh_uncovered_env[i]) == 0)
			return true;
	return false;
}

static bool drop_var(const char *entry, const struct kh_mappings *m, const struct kh_config *c)
{
	size_t n = strcspn(entry, "=");
	char name[256];

	if (n >= sizeof name)
		return true;
	memcpy(name, entry, n);
	name[n] = '\0';
	if (kh_docker_controls_egress(name) || strcasecmp(name, "ALL_PROXY") == 0 ||
	    strncmp(name, "KEYHOLE_", 8) == 0 || strcmp(name, "NODE_OPTIONS") == 0 ||
	    strcmp(name, c->bitwarden_token_env) == 0 || strcmp(name, "SSL_CERT_DIR") == 0)
		return true;
	for (size_t i = 0; i < m->n; i++) /* the real key: replaced by its token below */
		if (strcmp(name, m->v[i].env_name) == 0 ||
		    (strncmp(name, "HERMES_PROXY_TOKEN_", 19) == 0 &&
		     strcmp(name + 19, m->v[i].env_name) == 0))
			return true;
	if (is_credential_name(name)) { /* a real key keyhole has no token for */
		fprintf(stderr,
			"keyhole sandbox: not passing %s into the sandbox (no keyhole "
			"token for it; run `keyhole setup` to map it)\n",
			name);
		return true;
	}
	return false;
}

static int build_env(const struct kh_cli_ctx *x, const struct kh_mappings *m, uint16_t port,
		     struct kh_argv *env)
{
	static const char *const proxy_vars[] = { "HTTPS_PROXY", "https_proxy", "HTTP_PROXY",
						  "http_proxy" };
	static const char *const ca_vars[] = { "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE",
					       "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS" };
	char node[4096];
	int rc = 0;

	for (char **e = environ; *e != NULL; e++)
		if (!drop_var(*e, m, &x->cfg))
			rc |= kh_argv_add(env, *e);
	for (size_t i = 0; i < sizeof proxy_vars / sizeof proxy_vars[0]; i++)
		rc |= kh_argv_addf(env, "%s=http://127.0.0.1:%u", proxy_vars[i], port);
	rc |= kh_argv_add(env, "NO_PROXY=127.0.0.1,localhost,::1");
	rc |= kh_argv_add(env, "no_proxy=127.0.0.1,localhost,::1");
	for (size_t i = 0; i < sizeof ca_vars / sizeof ca_vars[0]; i++)
		rc |= kh_argv_addf(env, "%s=%s", ca_vars[i], IN_CA);
	kh_node_options_merge(getenv("NODE_OPTIONS"), node, sizeof node);
	rc |= kh_argv_addf(env, "NODE_OPTIONS=%s", node);
	rc |= kh_argv_add(env, "HERMES_EGRESS_PROXY=1");
	rc |= kh_argv_add(env, "KEYHOLE_SANDBOX=1");
	for (size_t i = 0; i < m->n; i++) {
		rc |= kh_argv_addf(env, "HERMES_PROXY_TOKEN_%s=%s", m->v[i].env_name,
				   m->v[i].proxy_token);
		rc |= kh_argv_addf(env, "%s=%s", m->v[i].env_name, m->v[i].proxy_token);
	}
	return rc;
}

/* --- bwrap's arguments --- */

static int add_all(struct kh_argv *a, const char *const *v)
{
	int rc = 0;

	for (; *v != NULL; v++)
		rc |= kh_argv_add(a, *v);
	return rc;
}

/* Root: bwrap makes the user namespace and waits on --userns-block-fd while
 * run_bwrap writes its maps (userns.h); pid 1 may start the command
 * as another uid inside it. Anyone else: bwrap's own user namespace with the
 * caller's uid. pid 1 binds ports 443, 80 and 53 inside, then drops all
 * (but CAP_KILL, to pass signals on to a command of another uid). */
static int namespace_args(const struct sandbox_opts *o, struct kh_argv *a)
{
	static const char *const caps[] = { "--cap-drop", "ALL",
					    "--cap-add",  "CAP_NET_BIND_SERVICE",
					    "--cap-add",  "CAP_SETPCAP",
					    NULL };
	static const char *const set_ids[] = { "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
					       "--cap-add", "CAP_KILL",   NULL };
	int rc = add_all(a, (const char *const[]){ "--die-with-parent", "--unshare-user",
						   "--unshare-pid", "--unshare-net",
						   "--unshare-ipc", "--unshare-uts", "--hostname",
						   "keyhole-sandbox", "--as-pid-1", NULL });

	rc |= add_all(a, caps);
	if (o->root) {
		rc |= add_all(a, set_ids);
		rc |= kh_argv_add(a, "--userns-block-fd");
		return rc | kh_argv_addf(a, "%d", o->userns_block[0]);
	}
	rc |= kh_argv_add(a, "--uid");
	rc |= kh_argv_addf(a, "%u", (unsigned)getuid());
	rc |= kh_argv_add(a, "--gid");
	return rc | kh_argv_addf(a, "%u", (unsigned)getgid());
}

/* Kernel knobs, bound read-only over the new /proc (bwrap does so itself only
 * when it could write them). */
static const char *const proc_ro[] = { "/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus",
				       NULL };

static int mount_args(const struct kh_cli_ctx *x, const struct sandbox_opts *o, const char *exe,
		      struct kh_argv *a)
{
	/* A fresh /dev (null, zero, random, tty, private pts and shm): the host's
	 * devices, raw disks included, stay out of reach even of a root sandbox. */
	int rc = add_all(a, (const char *const[]){ "--ro-bind", "/", "/", "--dev", "/dev", "--proc",
						   "/proc", NULL });

	for (size_t i = 0; proc_ro[i] != NULL; i++)
		rc |= add_all(
			a, (const char *const[]){ "--ro-bind-try", proc_ro[i], proc_ro[i], NULL });
	/* /tmp is 1777: the command may be another uid than bwrap */
	rc |= add_all(a, (const char *const[]){ "--perms", "1777", "--tmpfs", "/tmp", "--tmpfs",
						"/run", NULL });

	if (o->root) /* the command's uid must be able to walk to the directory */
		rc |= kh_workdir_open_path(o->wd, a);
	rc |= kh_workdir_bwrap_args(o->wd, a);
	rc |= add_all(a, (const char *const[]){ "--tmpfs", x->paths.home, NULL });
	/* bwrap would give /run/keyhole KEYHOLE_HOME's mode (0700): the command's
	 * uid must reach the CA there */
	rc |= add_all(a, (const char *const[]){ "--perms", "0755", "--dir", IN_DIR, "--ro-bind",
						x->paths.ca_crt, IN_CA, "--ro-bind", exe, IN_EXE,
						"--chdir", "/", NULL });
	if (o->resolv[0] != '\0') /* names resolve through pid 1's responder */
		rc |= add_all(a, (const char *const[]){ "--ro-bind", o->resolv, "/etc/resolv.conf",
							NULL });
	return rc;
}

static int bwrap_args(const struct kh_cli_ctx *x, const struct sandbox_opts *o, int info_fd,
		      struct kh_argv *a)
{
	char exe[KH_MAX_PATH];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	int rc;

	if (n <= 0)
		return -1;
	exe[n] = '\0';
	rc = kh_argv_add(a, "bwrap"); /* separate statements: the order of the arguments matters */
	rc |= namespace_args(o, a);
	rc |= mount_args(x, o, exe, a);
	rc |= kh_argv_add(a, "--info-fd");
	rc |= kh_argv_addf(a, "%d", info_fd);
	rc |= add_all(a, (const char *const[]){ "--", IN_EXE, "sandbox-init", "--home-fd", NULL });
	rc |= kh_argv_addf(a, "%d", o->home_fd);
	rc |= kh_argv_add(a, "--port");
	rc |= kh_argv_addf(a, "%u", o->port);
	if (o->audit_fd >= 0) {
		rc |= kh_argv_add(a, "--audit-fd");
		rc |= kh_argv_addf(a, "%d", o->audit_fd);
	}
	if (o->id_fd[0] >= 0) {
		rc |= kh_argv_add(a, "--id-fd");
		rc |= kh_argv_addf(a, "%d", o->id_fd[0]);
	}
	/* pid 1 cannot always enter it (root's sandbox): the command does */
	rc |= kh_argv_add(a, "--chdir");
	rc |= kh_argv_add(a, o->wd->dir);
	if (o->root) {
		rc |= kh_argv_add(a, "--uid");
		rc |= kh_argv_addf(a, "%u", (unsigned)KH_SANDBOX_UID);
		rc |= kh_argv_add(a, "--gid");
		rc |= kh_argv_addf(a, "%u", (unsigned)KH_SANDBOX_GID);
	}
	/* The random part of each token (the sandbox holds the tokens anyway):
	 * pid 1 refuses and audits a DNS name that carries one. */
	for (size_t i = 0; o->mappings != NULL && i < o->mappings->n; i++) {
		rc |= kh_argv_add(a, "--token-key");
		rc |= kh_argv_add(a, strrchr(o->mappings->v[i].proxy_token, '-') + 1);
	}
	for (size_t i = 0; o->policy != NULL && i < o->policy->n_allow; i++) {
		rc |= kh_argv_add(a, "--dns-allow");
		rc |= kh_argv_add(a, o->policy->allow[i]);
	}
	for (size_t i = 0; i < o->n_allow; i++) {
		rc |= kh_argv_add(a, "--allow-host");
		rc |= kh_argv_add(a, o->allow[i]);
	}
	rc |= kh_argv_add(a, "--");
	for (int i = 0; i < o->argc; i++)
		rc |= kh_argv_add(a, o->argv[i]);
	return rc;
}

/* --- running it --- */

/* Only signals someone sent with kill(2) are forwarded: one from the terminal
 * already reached the command, which shares our process group. */
static void forward(int sig, siginfo_t *si, void *uctx)
{
	(void)uctx;
	if (inner_pid > 0 && si != NULL && (si->si_code == SI_USER || si->si_code == SI_QUEUE))
		kill(inner_pid, sig);
}

static void install_forwarding(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	struct sigaction sa = { .sa_sigaction = forward, .sa_flags = SA_SIGINFO | SA_RESTART };

	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
}

/* bwrap reports {"child-pid": N} on --info-fd once the sandbox exists. */
static pid_t read_child_pid(int fd)
{
	char buf[1024];
	size_t n = 0, len = 0;
	const char *p;
	uint64_t v = 0;

	/* Read to EOF: bwrap writes its report in pieces and dies of SIGPIPE if the
	 * reader leaves early. */
	for (ssize_t r; n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) != 0;)
		if (r > 0)
			n += (size_t)r;
		else if (errno != EINTR)
			break;
	buf[n] = '\0';
	p = strstr(buf, "\"child-pid\"");
	if (p == NULL || (p = strchr(p, ':')) == NULL)
		return 0;
	p += strspn(p + 1, " ") + 1;
	while (p[len] >= '0' && p[len] <= '9')
		len++;
	return kh_slice_to_u64(kh_slice_make(p, len), 4194304, &v) == 0 ? (pid_t)v : 0;
}

/* Tells pid 1 who it is in the daemon's records: "unix:pid=N\nLABEL\n", N being its
 * pid out here (SO_PEERCRED gives the daemon the same number). */
static void send_identity(int fd, pid_t pid, const char *label)
{
	char id[64 + KH_GRANT_LABEL_MAX];
	int n = snprintf(id, sizeof id, "unix:pid=%d\n%s\n", (int)pid, label);

	if (fd >= 0 && pid > 0 && n > 0 && (size_t)n < sizeof id)
		(void)!write(fd, id, (size_t)n);
}

/* The daemon names pid 1's connections by the sandbox's label; done before
 * pid 1 learns its identity, so before the command runs. */
static void bind_label(const struct kh_cli_ctx *x, const char *label, pid_t pid)
{
	struct kh_err err = { "" };

	if (label[0] != '\0' && pid > 0 && kh_ctl_bind(x->paths.control, label, pid, &err) != 0)
		fprintf(stderr,
			"keyhole sandbox: warning: records of requests without a token "
			"will not name sandbox %s: %s\n",
			label, err.msg);
}

/* The process that becomes bwrap. Root's sandbox first gets the working
 * directory idmapped in a mount namespace of its own, which bwrap inherits. */
static void exec_bwrap(const struct sandbox_opts *o, struct kh_argv *args, struct kh_argv *env,
		       int info_read)
{
	struct kh_err err = { "" };

	close(info_read);
	if (o->root) {
		close(o->userns_block[1]);
		if (kh_userns_idmap_dir(o->wd->dir, o->idmap_fd, &err) != 0) {
			fprintf(stderr, "keyhole sandbox: %s\n", err.msg);
			_exit(KH_EXIT_FAIL);
		}
	}
	execvpe("bwrap", args->v, env->v);
	fprintf(stderr, "keyhole sandbox: cannot run bwrap: %s (apt-get install bubblewrap)\n",
		strerror(errno));
	_exit(127);
}

/* Root's sandbox: the user namespace bwrap made is mapped, then bwrap goes on.
 * Without the maps it must not: it is killed. */
static void release_userns(struct sandbox_opts *o, pid_t bwrap, pid_t child)
{
	struct kh_err err = { "" };

	if (!o->root)
		return;
	if (child <= 0) { /* bwrap failed before making one (and said why): it must not go on */
		kill(bwrap, SIGKILL);
	} else if (kh_userns_write_maps(child, KH_SANDBOX_UID, KH_SANDBOX_GID, &err) != 0 ||
		   write(o->userns_block[1], "1", 1) != 1) {
		fprintf(stderr, "keyhole sandbox: cannot map the sandbox's user namespace: %s\n",
			err.msg[0] ? err.msg : strerror(errno));
		kill(bwrap, SIGKILL);
	}
	close(o->userns_block[1]);
	o->userns_block[1] = -1;
}

static int run_bwrap(const struct kh_cli_ctx *x, struct sandbox_opts *o, const char *label,
		     struct kh_argv *args, struct kh_argv *env, int info[2])
{
	int status = 0;
	pid_t pid;

	install_forwarding();
	pid = fork();
	if (pid < 0)
		return KH_EXIT_FAIL;
	if (pid == 0)
		exec_bwrap(o, args, env, info[0]);
	close(info[1]);
	if (o->id_fd[0] >= 0)
		close(o->id_fd[0]);
	inner_pid = read_child_pid(info[0]);
	close(info[0]);
	release_userns(o, pid, inner_pid);
	bind_label(x, label, inner_pid);
	send_identity(o->id_fd[1], inner_pid, label);
	if (o->id_fd[1] >= 0)
		close(o->id_fd[1]);
	o->id_fd[0] = o->id_fd[1] = -1;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* What transparent mode needs from outside: the names the daemon allows (for
 * the DNS responder), a resolv.conf naming 127.0.0.1, and the audit log to
 * record refused lookups in (an inherited fd: KEYHOLE_HOME is hidden inside). */
static int prepare_transparent(struct kh_cli_ctx *x, const struct kh_mappings *m,
			       struct sandbox_opts *o)
{
	static const char resolv[] = "# keyhole sandbox: names resolve through keyhole\n"
				     "nameserver 127.0.0.1\noptions ndots:1\n";
	struct kh_secrets none = { 0 };
	struct kh_err err = { "" };

	o->policy = kh_policy_build(&x->cfg, m, &none, NULL, &err);
	if (o->policy == NULL)
		return kh_cli_fail(x, "%s", err.msg);
	if (kh_path_join(o->resolv, sizeof o->resolv, x->paths.home, "sandbox-resolv.conf") != 0 ||
	    kh_fs_write_atomic(o->resolv, resolv, sizeof resolv - 1, 0644, &err) != 0)
		return kh_cli_fail(x, "%s", err.msg);
	/* No CLOEXEC: bwrap passes it to pid 1, which closes it before the command. */
	o->audit_fd = open(x->paths.audit, O_WRONLY | O_APPEND | O_NOFOLLOW);
	return 0;
}

/* The daemon must be up and reachable on its Unix socket. */
static int check_daemon(const struct kh_cli_ctx *x)
{
	struct stat st;

	if (kh_probe_health(x->cfg.tunnel_port, 1000) != 0)
		return kh_cli_fail(x,
				   "keyhole is not running on 127.0.0.1:%u; start it with "
				   "`keyhole start`",
				   x->cfg.tunnel_port);
	if (lstat(x->paths.sock, &st) != 0 || !S_ISSOCK(st.st_mode))
		return kh_cli_fail(x,
				   "the daemon has no Unix socket at %s (listen_unix: false, "
				   "or a daemon started before keyhole sandbox existed); "
				   "restart it",
				   x->paths.sock);
	return 0;
}

/* The writable directory: chosen, refused, its paths kept read-only. Root's
 * sandbox also needs the idmap namespace and the pipe bwrap waits on. */
static int prepare_workdir(const struct kh_cli_ctx *x, struct sandbox_opts *o)
{
	struct kh_err err = { "" };

	if (kh_workdir_choose(o->wd, o->workdir_arg, x->paths.home, &err) != 0 ||
	    kh_workdir_protect(o->wd, &err) != 0)
		return kh_cli_fail(x, "%s", err.msg);
	if (!o->root)
		return 0;
	o->idmap_fd = kh_userns_idmap_ns(o->wd->owner, o->wd->group, KH_SANDBOX_UID, KH_SANDBOX_GID,
					 &err);
	if (o->idmap_fd < 0)
		return kh_cli_fail(x, "%s", err.msg);
	/* bwrap keeps the read end (no CLOEXEC); ours is closed in its process */
	if (pipe(o->userns_block) != 0)
		return kh_cli_fail(x, "pipe: %s", strerror(errno));
	fcntl(o->userns_block[1], F_SETFD, FD_CLOEXEC);
	return 0;
}

static void close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

int kh_sandbox_run(struct kh_cli_ctx *x, struct sandbox_opts *o)
{
	struct kh_argv args = { 0 }, env = { 0 };
	struct kh_mappings m = { 0 };
	char label[KH_GRANT_LABEL_MAX] = "";
	int info[2] = { -1, -1 }, rc = KH_EXIT_FAIL;

	o->port = x->cfg.tunnel_port ? x->cfg.tunnel_port : 9090;
	o->home_fd = o->audit_fd = o->id_fd[0] = o->id_fd[1] = -1;
	o->userns_block[0] = o->userns_block[1] = o->idmap_fd = -1;
	o->root = geteuid() == 0;
	o->mappings = &m;
	if (check_daemon(x) != 0 || prepare_workdir(x, o) != 0 || kh_cli_mappings(x, &m) != 0)
		goto out;
	/* its own tokens, revoked when it exits */
	if (kh_cli_sandbox_tokens(x, "sandbox", NULL, &m, label) != 0) {
		label[0] = '\0';
		goto out;
	}
	if (prepare_transparent(x, &m, o) != 0)
		goto out;
	/* No CLOEXEC: bwrap hands it to pid 1, the only process inside that can
	 * reach the daemon's socket (through /proc/self/fd; pid 1 is non-dumpable). */
	o->home_fd = open(x->paths.home, O_PATH | O_DIRECTORY);
	if (o->home_fd < 0) {
		kh_cli_fail(x, "%s: %s", x->paths.home, strerror(errno));
		goto out;
	}
	if (pipe(info) != 0 || pipe(o->id_fd) != 0 || build_env(x, &m, o->port, &env) != 0 ||
	    bwrap_args(x, o, info[1], &args) != 0) {
		kh_cli_fail(x, "cannot prepare the sandbox: %s", strerror(errno));
		goto out;
	}
	fcntl(info[0], F_SETFD, FD_CLOEXEC);
	fcntl(o->id_fd[1], F_SETFD, FD_CLOEXEC);
	rc = run_bwrap(x, o, label, &args, &env, info);
	info[0] = info[1] = -1;
out:
	if (label[0] != '\0')
		kh_cli_sandbox_revoke(x, label);
	kh_workdir_cleanup(o->wd);
	close_fds(&o->home_fd, 1);
	close_fds(&o->audit_fd, 1);
	close_fds(&o->idmap_fd, 1);
	close_fds(o->id_fd, 2);
	close_fds(o->userns_block, 2);
	close_fds(info, 2);
	o->mappings = NULL;
	kh_policy_unref(o->policy);
	o->policy = NULL;
	kh_argv_free(&args);
	kh_argv_free(&env);
	kh_mappings_free(&m);
	return rc;
}

/* bwrap needs absolute paths without symlinked parents for its mounts. */
static int absolute_home(struct kh_cli_ctx *x)
{
	char real[KH_MAX_PATH];
	struct kh_err err = { "" };

	if (realpath(x->paths.home, real) == NULL)
		return kh_cli_fail(x,
				   "%s: %s; set keyhole up and start it first (keyhole setup && "
				   "keyhole start)",
				   x->paths.home, strerror(errno));
	if (kh_paths_resolve(&x->paths, real, NULL, &err) != 0)
		return kh_cli_fail(x, "%s", err.msg);
	return 0;
}

int kh_cmd_sandbox(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "allow-host", required_argument, NULL, 'a' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sandbox_opts o = { 0 };
	struct kh_cli_ctx x;
	const char *home = NULL;
	int ch, rc;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(kh_command_find("sandbox")->usage, stdout);
			return KH_EXIT_OK;
		} else if (ch == 'H') {
			home = optarg;
		} else if (ch == 'w') {
			o.workdir_arg = optarg;
		} else if (ch == 'a' && o.n_allow < KH_SANDBOX_MAX_ALLOW) {
			char norm[KH_HOST_BUF + 2];

			if (kh_host_pattern_normalize(optarg, norm) != 0)
				return kh_cli_usage_error("sandbox",
							  "--allow-host '%s' is not a host or "
							  "*.domain pattern",
							  optarg);
			o.allow[o.n_allow++] = optarg;
		} else {
			return kh_cli_usage_error("sandbox", "unknown or incomplete option '%s'",
						  argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return kh_cli_usage_error("sandbox",
					  "no command given (keyhole sandbox -- CMD ...)");
	o.argc = argc - optind;
	o.argv = argv + optind;
	o.wd = calloc(1, sizeof *o.wd);
	if (o.wd == NULL || kh_cli_open(&x, "sandbox", home) != 0) {
		free(o.wd);
		return KH_EXIT_FAIL;
	}
	rc = absolute_home(&x) == 0 ? kh_sandbox_run(&x, &o) : KH_EXIT_FAIL;
	kh_cli_close(&x);
	free(o.wd);
	return rc;
}
