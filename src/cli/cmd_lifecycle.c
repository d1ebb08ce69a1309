/* `keyhole start`, `stop` and `reload`: the background daemon's lifecycle.
 *
 * start refuses unless setup enabled keyhole, gathers the real keys from the
 * configured source, and launches `keyhole proxy` detached with a minimal
 * environment: the brief's allowlist, the mapped keys, a fresh nonce, and no
 * *_PROXY variable (the daemon must never proxy itself). It records the pid
 * (O_EXCL) and nonce, then waits until control.sock names that pid and the
 * port answers /healthz. A daemon that cannot even be executed is reported
 * with the reason (the child sends execve's errno back through a pipe). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli/cli.h"
#include "base/clock.h"
#include "cli/cmd_common.h"
#include "credsrc/credsrc.h"
#include "cli/ctl_client.h"
#include "cli/discover.h"
#include "base/fsutil.h"
#include "cli/logtail.h"
#include "cli/probe.h"
#include "policy/providers.h"
#include "cli/state.h"
#include "base/kh_limits.h"

static const char *const env_allowlist[] = {
	"PATH",     "HOME",         "TMPDIR",        "TZ", "LANG", "LC_ALL",
	"LC_CTYPE", "SSL_CERT_DIR", "SSL_CERT_FILE",
};

/* --home is the only option these commands take. */
static int parse_home(const char *cmd, int argc, char **argv, const char **home)
{
	static const struct option longopts[] = { { "home", required_argument, NULL, 'H' },
						  { NULL, 0, NULL, 0 } };
	int ch;

	*home = NULL;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch != 'H')
			return kh_cli_usage_error(cmd, "unknown or incomplete option '%s'",
						  argv[optind - 1]);
		*home = optarg;
	}
	if (optind < argc)
		return kh_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	return 0;
}

/* --- the daemon's environment --- */

struct envlist {
	char *v[KH_START_ENV_MAX + 1];
	size_t n;
};

static int env_add(struct envlist *e, const char *name, const char *value, size_t vlen)
{
	size_t len = strlen(name) + 1 + vlen + 1;
	char *s;

	if (e->n == KH_START_ENV_MAX || (s = malloc(len)) == NULL)
		return -1;
	memcpy(s, name, strlen(name));
	s[strlen(name)] = '=';
	memcpy(s + strlen(name) + 1, value, vlen);
	s[len - 1] = '\0';
	e->v[e->n++] = s;
	e->v[e->n] = NULL;
	return 0;
}

static void env_free(struct envlist *e)
{
	for (size_t i = 0; i < e->n; i++) {
		OPENSSL_cleanse(e->v[i], strlen(e->v[i])); /* some hold real keys */
		free(e->v[i]);
	}
	e->n = 0;
}

static int env_base(struct envlist *e, const struct kh_config *cfg, const char *nonce)
{
	const char *name, *tok;

	for (size_t i = 0; i < sizeof env_allowlist / sizeof env_allowlist[0]; i++) {
		const char *v = getenv(env_allowlist[i]);

		if (v != NULL && env_add(e, env_allowlist[i], v, strlen(v)) != 0)
			return -1;
	}
	if (env_add(e, "NO_COLOR", "1", 1) != 0 ||
	    env_add(e, KH_NONCE_ENV, nonce, strlen(nonce)) != 0)
		return -1;
	/* A source with its own access token (Bitwarden): the daemon's monitor
	 * fetches again on reload, so it needs the token. */
	if ((name = kh_credsrc_access_env(cfg, &tok)) != NULL)
		return env_add(e, name, tok, strlen(tok));
	return 0;
}

/* Adds each mapped key: from the source, else (env source, or
 * allow_env_fallback) from this environment. A key the source lacks is a
 * refusal in bitwarden/command mode unless allow_env_fallback. */
static int env_secrets(struct kh_cli_ctx *x, struct envlist *e, const struct kh_mappings *m)
{
	const char *names[KH_MAX_TOKENS];
	struct kh_secrets s = { 0 };
	struct kh_err err = { "" };
	bool strict = !kh_credsrc_of(&x->cfg)->reads_environ && !x->cfg.allow_env_fallback;
	int rc = -1;

	if (kh_credsrc_fetch(&x->cfg, names, kh_mappings_env_names(m, names), &s, &err) != 0) {
		kh_cli_fail(x, "refusing to start: %s", err.msg);
		return -1;
	}
	for (size_t i = 0; i < m->n; i++) {
		size_t len = 0;
		const char *v = kh_secrets_get(&s, names[i], &len);

		if (v == NULL && !strict && (v = getenv(names[i])) != NULL)
			len = strlen(v);
		if (v == NULL && strict) {
			kh_cli_fail(x,
				    "refusing to start: the %s source has no value for %s (set "
				    "allow_env_fallback: true to use the environment instead)",
				    kh_credsrc_of(&x->cfg)->name, names[i]);
			goto out;
		}
		if (v == NULL) {
			fprintf(stderr,
				"keyhole start: warning: %s is not set; requests with its proxy "
				"token will get 503\n",
				names[i]);
			continue;
		}
		if (env_add(e, names[i], v, len) != 0)
			goto out;
	}
	rc = 0;
out:
	kh_secrets_free(&s);
	return rc;
}

/* --- launching --- */

/* errfd (close-on-exec) reports a failed execve: it is moved to fd 3, the
 * one descriptor kept besides stdio, and closes by itself when the exec
 * succeeds; when it fails, the child writes its errno there. */
static _Noreturn void exec_daemon(const char *exe, const char *home, int logfd, int errfd,
				  char **envp)
{
	char *argv[] = { "keyhole", "proxy", "--home", (char *)home, NULL };
	int devnull = open("/dev/null", O_RDONLY), e;

	setsid(); /* no controlling terminal: a closed shell must not stop it */
	if (devnull >= 0)
		dup2(devnull, 0);
	dup2(logfd, 1);
	dup2(logfd, 2);
	if (errfd != 3)
		errfd = dup3(errfd, 3, O_CLOEXEC);
	closefrom(4);
	execve(exe, argv, envp);
	e = errno;
	if (errfd == 3 && write(3, &e, sizeof e) != (ssize_t)sizeof e)
		_exit(126);
	_exit(127);
}

/* 0 once the child's execve succeeded (the pipe closed without a word),
 * else the errno it failed with. Returns promptly: the child does little
 * before execve. */
static int exec_result(int fd)
{
	int e = 0;
	ssize_t n;

	do
		n = read(fd, &e, sizeof e);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof e && e != 0 ? e : 0;
}

/* Says why the daemon could not even be run, e.g. a binary in a directory
 * that the user keyhole runs as cannot enter. */
static int exec_failed(struct kh_cli_ctx *x, const char *exe, pid_t child, int e)
{
	static const char deleted[] = " (deleted)";
	char dir[KH_MAX_PATH], hint[KH_MAX_PATH + 160] = "";
	size_t n = strlen(exe);

	waitpid(child, NULL, 0);
	if (e == EACCES && kh_fs_unsearchable_dir(exe, dir, sizeof dir) == 0)
		kh_fmt(hint, sizeof hint,
		       " (%s is not searchable by uid %d: put keyhole where that user can reach "
		       "it, e.g. /usr/local/bin)",
		       dir, (int)geteuid());
	else if (e == EACCES)
		kh_fmt(hint, sizeof hint,
		       " (not executable by uid %d, or on a file system mounted noexec?)",
		       (int)geteuid());
	else if (e == ENOENT && n > sizeof deleted - 1 &&
		 strcmp(exe + n - (sizeof deleted - 1), deleted) == 0)
		kh_fmt(hint, sizeof hint,
		       " (the binary was removed or replaced since this "
		       "command started, e.g. by an upgrade; run it again)");
	return kh_cli_fail(x, "cannot run %s as the daemon: %s%s", exe, strerror(e), hint);
}

/* Writes the pidfile; a stale one is replaced once, a live one is an error. */
static int record_pid(struct kh_cli_ctx *x, pid_t child)
{
	struct kh_err err = { "" };
	struct stat st;
	pid_t old;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (kh_pidfile_create(x->paths.pidfile, child, &err) == 0)
			return 0;
		if (errno != EEXIST)
			break;
		if (lstat(x->paths.pidfile, &st) != 0 || !S_ISREG(st.st_mode)) {
			kh_fmt(err.msg, sizeof err.msg,
			       "%s exists and is not a regular file (a "
			       "symlink?); refusing to touch it - remove it yourself if it is safe",
			       x->paths.pidfile);
			break;
		}
		if (kh_cli_daemon_running(x, &old) && old != child) {
			kh_fmt(err.msg, sizeof err.msg,
			       "another keyhole (pid %d) started meanwhile", (int)old);
			break;
		}
		unlink(x->paths.pidfile); /* stale: its process is gone */
	}
	kh_cli_fail(x, "%s", err.msg);
	return -1;
}

static void cleanup_state(const struct kh_cli_ctx *x)
{
	unlink(x->paths.pidfile);
	unlink(x->paths.nonce);
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* The port to probe: tunnel_port, or for tunnel_port 0 the one the daemon
 * reported in the log since we started it. */
static uint16_t daemon_port(const struct kh_cli_ctx *x, off_t log_off)
{
	char *text, *p;
	uint64_t v = 0;
	size_t n = 0;

	if (x->cfg.tunnel_port != 0)
		return x->cfg.tunnel_port;
	text = kh_logtail_since(x->paths.log, log_off, 64u << 10);
	p = text ? strstr(text, "listening on 127.0.0.1:") : NULL;
	if (p != NULL) {
		p += strlen("listening on 127.0.0.1:");
		while (p[n] >= '0' && p[n] <= '9')
			n++;
		kh_slice_to_u64(kh_slice_make(p, n), 65535, &v);
	}
	free(text);
	return (uint16_t)v;
}

static void stop_child(pid_t child)
{
	kill(child, SIGTERM);
	for (int i = 0; i < 20 && waitpid(child, NULL, WNOHANG) == 0; i++)
		usleep(100000);
	if (waitpid(child, NULL, WNOHANG) == 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
}

/* The daemon on this home's control socket is child (owner-only: the proxy's
 * /healthz names no pid), and the port it reported answers /healthz. */
static bool child_ready(const struct kh_cli_ctx *x, pid_t child, uint16_t port)
{
	struct kh_ctl_status st;
	struct kh_err err = { "" };

	return port != 0 && kh_ctl_status(x->paths.control, 300, &st, &err) == 0 &&
	       st.pid == child && kh_probe_health(port, 300) == 0;
}

/* 0 once child is ready; -1 (after telling why) otherwise. */
static int wait_ready(struct kh_cli_ctx *x, pid_t child, off_t log_off, uint16_t *port)
{
	uint64_t deadline = kh_mono_ms() + KH_START_WAIT_MS;
	int status;

	do {
		if (waitpid(child, &status, WNOHANG) == child) {
			kh_cli_fail(x, "the daemon exited during start (%s %d); keyhole.log says:",
				    WIFEXITED(status) ? "status" : "signal",
				    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			return -1;
		}
		*port = daemon_port(x, log_off);
		if (child_ready(x, child, *port))
			return 0;
		usleep(100000);
	} while (kh_mono_ms() < deadline && !interrupted);
	if (interrupted)
		kh_cli_fail(x, "interrupted; stopping the daemon");
	else
		kh_cli_fail(x,
			    "the daemon did not answer on 127.0.0.1:%u within %d s; keyhole.log "
			    "says:",
			    (unsigned)*port, KH_START_WAIT_MS / 1000);
	stop_child(child);
	return -1;
}

static int launch(struct kh_cli_ctx *x, struct envlist *env, const char *nonce)
{
	struct sigaction sa = { .sa_handler = on_interrupt };
	struct kh_err err = { "" };
	char exe[KH_MAX_PATH];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	off_t log_off = kh_logtail_size(x->paths.log);
	uint16_t port = 0;
	pid_t child;
	int logfd, errpipe[2], e;

	if (n <= 0)
		return kh_cli_fail(x, "cannot find the keyhole binary (/proc/self/exe)");
	exe[n] = '\0';
	logfd = kh_fs_open_private(x->paths.log, O_WRONLY | O_CREAT | O_APPEND, 0600, &err);
	if (logfd < 0)
		return kh_cli_fail(x, "%s", err.msg);
	if (pipe2(errpipe, O_CLOEXEC) != 0) {
		close(logfd);
		return kh_cli_fail(x, "pipe: %s", strerror(errno));
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	child = fork();
	if (child == 0)
		exec_daemon(exe, x->paths.home, logfd, errpipe[1], env->v);
	e = errno;
	close(logfd);
	close(errpipe[1]);
	if (child < 0) {
		close(errpipe[0]);
		return kh_cli_fail(x, "fork: %s", strerror(e));
	}
	e = exec_result(errpipe[0]);
	close(errpipe[0]);
	if (e != 0)
		return exec_failed(x, exe, child, e);
	if (record_pid(x, child) != 0) {
		stop_child(child);
		return KH_EXIT_FAIL;
	}
	if (kh_nonce_write(x->paths.nonce, nonce, &err) != 0) {
		kh_cli_fail(x, "%s", err.msg);
		stop_child(child);
		cleanup_state(x);
		return KH_EXIT_FAIL;
	}
	if (wait_ready(x, child, log_off, &port) != 0) {
		kh_logtail_print(stderr, x->paths.log, log_off, 20);
		cleanup_state(x);
		return KH_EXIT_FAIL;
	}
	printf("keyhole started (pid %d), listening on 127.0.0.1:%u\n", (int)child, port);
	printf("  log: %s\n  audit: %s\n", x->paths.log, x->paths.audit);
	return KH_EXIT_OK;
}

/* fail_on_uncovered_providers: a strict-tier variable (an LLM key keyhole
 * cannot swap) in this environment would reach the sandbox unprotected. */
static const char *strict_uncovered_set(const struct kh_config *cfg)
{
	const char *v;

	if (!cfg->fail_on_uncovered_providers)
		return NULL;
	for (size_t i = 0; i < kh_uncovered_strict_env_count; i++)
		if ((v = getenv(kh_uncovered_strict_env[i])) != NULL && v[0] != '\0')
			return kh_uncovered_strict_env[i];
	return NULL;
}

static int start(struct kh_cli_ctx *x)
{
	const char *strict;
	struct kh_mappings m = { 0 };
	struct envlist env = { .n = 0 };
	char nonce[KH_NONCE_LEN + 1];
	struct kh_err err = { "" };
	pid_t pid;
	int rc = KH_EXIT_FAIL;

	if (!x->cfg.enabled)
		return kh_cli_fail(x, "keyhole is not enabled in %s; run `keyhole setup` first",
				   x->paths.config);
	if (kh_cli_daemon_running(x, &pid)) {
		printf("keyhole is already running (pid %d)\n", (int)pid);
		return KH_EXIT_OK;
	}
	if ((strict = strict_uncovered_set(&x->cfg)) != NULL)
		return kh_cli_fail(x,
				   "refusing to start: %s is set and keyhole cannot swap it "
				   "(fail_on_uncovered_providers: true); unset it or set "
				   "fail_on_uncovered_providers: false",
				   strict);
	if (kh_credsrc_precheck(&x->cfg, &err) != 0)
		return kh_cli_fail(x, "refusing to start: %s", err.msg);
	if (kh_cli_mappings(x, &m) != 0)
		return KH_EXIT_FAIL;
	if (m.n == 0)
		fprintf(stderr, "keyhole start: warning: no token mappings (run `keyhole setup`); "
				"the proxy will only filter traffic\n");
	kh_nonce_new(nonce);
	if (env_base(&env, &x->cfg, nonce) == 0 && env_secrets(x, &env, &m) == 0)
		rc = launch(x, &env, nonce);
	env_free(&env);
	kh_mappings_free(&m);
	return rc;
}

int kh_cmd_start(int argc, char **argv)
{
	struct kh_cli_ctx x;
	const char *home;
	int rc = parse_home("start", argc, argv, &home);

	if (rc != 0)
		return rc;
	if (kh_cli_open(&x, "start", home) != 0)
		return KH_EXIT_FAIL;
	rc = start(&x);
	kh_cli_close(&x);
	return rc;
}

/* --- stop --- */

static bool wait_gone(pid_t pid, unsigned ms)
{
	uint64_t deadline = kh_mono_ms() + ms;

	while (kh_proc_alive(pid) && kh_mono_ms() < deadline)
		usleep(50000);
	return !kh_proc_alive(pid);
}

static int stop(struct kh_cli_ctx *x)
{
	unsigned long long before = 0, after = 0;
	unsigned wait_ms = x->cfg.timeouts.shutdown_grace * 1000u + 2000u;
	pid_t pid;

	if (!kh_cli_daemon_running(x, &pid)) {
		bool stale = kh_fs_exists(x->paths.pidfile);

		cleanup_state(x);
		printf("keyhole is not running%s\n", stale ? " (removed a stale pidfile)" : "");
		return KH_EXIT_OK;
	}
	kh_proc_starttime(pid, &before);
	if (kill(pid, SIGTERM) != 0)
		return kh_cli_fail(x, "cannot signal pid %d: %s", (int)pid, strerror(errno));
	if (!wait_gone(pid, wait_ms < KH_STOP_MIN_WAIT_MS ? KH_STOP_MIN_WAIT_MS : wait_ms)) {
		/* Only the same process may be killed: a recycled pid has a new start time. */
		if (kh_proc_starttime(pid, &after) == 0 && after == before) {
			kill(pid, SIGKILL);
			wait_gone(pid, 2000);
			printf("keyhole did not stop in time and was killed (pid %d)\n", (int)pid);
		} else {
			printf("pid %d now belongs to another process; not killing it\n", (int)pid);
		}
	} else {
		printf("keyhole stopped (pid %d)\n", (int)pid);
	}
	cleanup_state(x);
	return KH_EXIT_OK;
}

int kh_cmd_stop(int argc, char **argv)
{
	struct kh_cli_ctx x;
	const char *home;
	int rc = parse_home("stop", argc, argv, &home);

	if (rc != 0)
		return rc;
	if (kh_cli_open(&x, "stop", home) != 0)
		return KH_EXIT_FAIL;
	rc = stop(&x);
	kh_cli_close(&x);
	return rc;
}

/* --- reload --- */

/* The daemon logs "reload: ok ..." or "reload failed: ..." for each SIGHUP. */
static int reload_verdict(const struct kh_cli_ctx *x, pid_t pid, off_t off)
{
	uint64_t deadline = kh_mono_ms() + KH_RELOAD_WAIT_MS;

	while (kh_mono_ms() < deadline) {
		char *text = kh_logtail_since(x->paths.log, off, 64u << 10);
		char *ok = text ? kh_logtail_daemon_says(text, pid, "reload: ok") : NULL;
		char *bad = text ? kh_logtail_daemon_says(text, pid, "reload failed: ") : NULL;
		int rc = -1;

		if (ok != NULL || bad != NULL) {
			char *line = ok ? ok : bad, *nl = strchr(line, '\n');

			fprintf(ok ? stdout : stderr, "keyhole %.*s\n", nl ? (int)(nl - line) : 200,
				line);
			rc = ok ? KH_EXIT_OK : KH_EXIT_FAIL;
		}
		free(text);
		if (rc >= 0)
			return rc;
		usleep(100000);
	}
	return kh_cli_fail(x, "sent SIGHUP, but keyhole.log shows no result within %d s",
			   KH_RELOAD_WAIT_MS / 1000);
}

int kh_cmd_reload(int argc, char **argv)
{
	struct kh_cli_ctx x;
	const char *home;
	pid_t pid;
	off_t off;
	int rc = parse_home("reload", argc, argv, &home);

	if (rc != 0)
		return rc;
	if (kh_cli_open(&x, "reload", home) != 0)
		return KH_EXIT_FAIL;
	if (!kh_cli_daemon_running(&x, &pid)) {
		rc = kh_cli_fail(&x, "keyhole is not running (start it with `keyhole start`)");
	} else {
		off = kh_logtail_size(x.paths.log);
		rc = kill(pid, SIGHUP) == 0 ? reload_verdict(&x, pid, off)
					    : kh_cli_fail(&x, "cannot signal pid %d", (int)pid);
	}
	kh_cli_close(&x);
	return rc;
}
