/* `keyhole docker args` prints the `docker run` arguments that put a container
 * behind keyhole; `keyhole docker run ...` runs `docker run` with them in
 * front of the user's own, giving the container its own sandbox tokens
 * (revoked when docker run returns). `keyhole podman args|run` is the same
 * for podman, with host.docker.internal mapped to the network's gateway
 * address, as podman does not understand docker's `host-gateway`. When keyhole is enabled but cannot protect the
 * container (not set up, not running, CA or mappings missing), enforcement
 * refuses; without it, a warning is printed and nothing is added. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proxy/bridge.h"
#include "cli/cli.h"
#include "cli/cmd_common.h"
#include "cli/ctl_client.h"
#include "cli/dockerargs.h"
#include "base/fsutil.h"
#include "proxy/bridgewatch.h"
#include "base/jsonl.h"
#include "cli/podmannet.h"
#include "cli/probe.h"
#include "cli/state.h"
#include "base/kh_limits.h"

#define HELP_SHOWN (-2) /* parse_args_cmd: --help was asked for */

enum fmt { FMT_SHELL, FMT_JSON, FMT_LINES };

/* The engine the command drives: "docker", or "podman" for `keyhole podman`. */
static const char *engine = "docker";
static const char *args_cmd = "docker args", *run_cmd = "docker run";
/* What engine is behind it: podman for `keyhole podman`; for `keyhole docker`
 * found out when there is no docker0 here (kh_podman_detect). */
static enum kh_engine kind = KH_ENGINE_DOCKER;

static bool is_podman(void)
{
	return strcmp(engine, "podman") == 0;
}

/* The environment the user gives the container, gathered from -e and
 * --env-file, so it can be checked against keyhole's. */
struct user_env {
	struct kh_user_env v[KH_DOCKER_MAX_USER_ENV];
	size_t n;
	char *texts[KH_DOCKER_MAX_ENV_FILES + 1]; /* owned copies the entries point into */
	size_t n_texts;
	const char *name; /* --name of the container, or NULL */
	bool detach; /* docker run -d / --detach */
	const char *network; /* --network/--net of the container, or NULL */
};

static void print_warning(const char *line)
{
	fprintf(stderr, "keyhole %s: %s\n", engine, line);
}

/* Records "NAME=value" or "NAME" (spec is modified and must stay alive). */
static int add_spec(struct user_env *u, char *spec, struct kh_err *err)
{
	char *eq = strchr(spec, '=');

	if (u->n == KH_DOCKER_MAX_USER_ENV) {
		kh_err_set(err, "too many environment variables for the container");
		return -1;
	}
	if (eq != NULL)
		*eq = '\0';
	if (spec[0] == '\0')
		return 0;
	u->v[u->n].name = spec;
	u->v[u->n].value = eq ? eq + 1 : NULL;
	u->n++;
	return 0;
}

static char *keep_text(struct user_env *u, char *text)
{
	if (u->n_texts == KH_DOCKER_MAX_ENV_FILES + 1) {
		free(text);
		return NULL;
	}
	u->texts[u->n_texts++] = text;
	return text;
}

/* docker's env-file: NAME=value taken literally, NAME alone, # comments. */
static int read_env_file(struct user_env *u, const char *path, struct kh_err *err)
{
	char *text = NULL, *line, *end;
	size_t len = 0;

	if (kh_fs_read_file(path, KH_DOCKER_ENV_FILE_MAX, false, &text, &len, err) != 0)
		return -1;
	if (keep_text(u, text) == NULL) {
		kh_err_set(err, "too many --env-file options");
		return -1;
	}
	for (line = text, end = text + len; line < end;) {
		char *nl = memchr(line, '\n', (size_t)(end - line));

		if (nl != NULL)
			*nl = '\0';
		line[strcspn(line, "\r")] = '\0';
		line += strspn(line, " \t");
		if (line[0] != '#' && add_spec(u, line, err) != 0)
			return -1;
		line = nl ? nl + 1 : end;
	}
	return 0;
}

static int add_env_arg(struct user_env *u, const char *arg, struct kh_err *err)
{
	char *copy = strdup(arg);

	if (copy == NULL || keep_text(u, copy) == NULL) {
		kh_err_set(err, "out of memory");
		return -1;
	}
	return add_spec(u, copy, err);
}

static void free_user_env(struct user_env *u)
{
	for (size_t i = 0; i < u->n_texts; i++)
		kh_fs_free_secret(u->texts[i], strlen(u->texts[i]));
	u->n_texts = 0;
}

/* --- can keyhole protect a container right now? --- */

/* Containers of the default network reach keyhole at docker0's address
 * (host.docker.internal:host-gateway): if that bridge exists, keyhole must
 * answer there, or every request of the container fails to connect. No
 * docker0 here (a remote or rootless engine) cannot be checked: passed. */
static bool bridge_unreachable(struct kh_cli_ctx *x, char *why, size_t len)
{
	struct in_addr a;
	char ip[INET_ADDRSTRLEN];

	if (kh_bridge_addr("docker0", &a) != 0 ||
	    kh_probe_health_at(a, x->cfg.tunnel_port, 1000) == 0)
		return false;
	inet_ntop(AF_INET, &a, ip, sizeof ip);
	snprintf(why, len,
		 "keyhole does not answer on docker0 (%s:%u), where containers reach it as "
		 "host.docker.internal; %s",
		 ip, x->cfg.tunnel_port,
		 x->cfg.listen_docker_bridge
			 ? "run `keyhole reload` (or `keyhole stop && keyhole start`), and see "
			   "`keyhole log` if it still cannot listen there"
			 : "set listen_docker_bridge: true in config.yaml, then `keyhole stop && "
			   "keyhole start`");
	return true;
}

/* Which of the bridges keyhole listens on (kh_bridge_names) is ifname? */
static bool watched_bridge(const char *ifname)
{
	for (size_t i = 0; i < KH_MAX_BRIDGES; i++)
		if (strcmp(kh_bridge_names[i], ifname) == 0)
			return true;
	return false;
}

/* Through podman's Docker API a network's bridge is not named: only the
 * default network is taken (its bridge is podman0 or cni-podman0), and its
 * bridge is the watched one holding the gateway, once podman made it. */
static int api_bridge(struct kh_podman_net *net, const char *network, char *why, size_t len)
{
	struct in_addr a;

	if (strcmp(network, "bridge") != 0 && strcmp(network, KH_PODMAN_DEFAULT_NET) != 0) {
		snprintf(why, len,
			 "through podman's Docker API keyhole cannot tell which bridge "
			 "network %s uses; use the default network, or `keyhole podman run` "
			 "with the podman command",
			 network);
		return -1;
	}
	for (size_t i = 0; i < KH_MAX_BRIDGES; i++)
		if (kh_bridge_addr(kh_bridge_names[i], &a) == 0 && a.s_addr == net->gateway.s_addr)
			snprintf(net->ifname, sizeof net->ifname, "%s", kh_bridge_names[i]);
	return 0;
}

/* podman: containers reach keyhole at their network's gateway, on a bridge
 * podman makes when the network's first container starts (the daemon
 * listens on it as it appears). gw gets the address for --add-host. */
static bool podman_unreachable(struct kh_cli_ctx *x, const char *network, char *gw, size_t gwlen,
			       char *why, size_t len)
{
	struct kh_podman_net net;
	struct kh_err err = { "" };
	struct in_addr have;

	if (network == NULL || strcmp(network, "bridge") == 0)
		network = kind == KH_ENGINE_PODMAN_API ? "bridge" : KH_PODMAN_DEFAULT_NET;
	if (kh_podman_net_lookup(engine, kind, network, &net, &err) != 0) {
		snprintf(why, len,
			 "cannot find where containers of podman network %s reach the "
			 "host: %s",
			 network, err.msg);
		return true;
	}
	inet_ntop(AF_INET, &net.gateway, gw, (socklen_t)gwlen);
	if (kind == KH_ENGINE_PODMAN_API && api_bridge(&net, network, why, len) != 0)
		return true;
	if (net.ifname[0] != '\0' && !watched_bridge(net.ifname))
		snprintf(why, len,
			 "podman network %s uses bridge %s, where keyhole does not "
			 "listen (only on docker0, podman0 and cni-podman0); use the default "
			 "network",
			 network, net.ifname);
	else if (!x->cfg.listen_docker_bridge)
		snprintf(why, len,
			 "keyhole does not listen on container bridges; set "
			 "listen_docker_bridge: true in config.yaml, then `keyhole stop && "
			 "keyhole start`");
	else if (kh_bridge_addr(net.ifname, &have) == 0 && have.s_addr == net.gateway.s_addr &&
		 kh_probe_health_at(have, x->cfg.tunnel_port, 1000) != 0)
		snprintf(why, len,
			 "keyhole does not answer on %s (%s:%u), where containers "
			 "reach it; run `keyhole reload`, and see `keyhole log` if it still "
			 "cannot listen there",
			 net.ifname, gw, x->cfg.tunnel_port);
	return why[0] != '\0';
}

/* Is keyhole reachable where the engine's containers look for it? A local
 * dockerd has docker0; without one, `docker` may well be podman. */
static void engine_unreachable(struct kh_cli_ctx *x, const char *network, char *gw, size_t gwlen,
			       char *why, size_t len)
{
	struct in_addr a;

	if (kind == KH_ENGINE_DOCKER && kh_bridge_addr("docker0", &a) != 0)
		kind = kh_podman_detect(engine);
	if (kind == KH_ENGINE_DOCKER)
		bridge_unreachable(x, why, len);
	else
		podman_unreachable(x, network, gw, gwlen, why, len);
}

/* 1: add the arguments; 0: add nothing (disabled, or not enforcing and not
 * ready, warned); -1: refuse (enforcing and not ready, printed). */
static int egress_ready(struct kh_cli_ctx *x, struct kh_mappings *m, const char *network, char *gw,
			size_t gwlen)
{
	char why[KH_MAX_PATH + 160] = "";
	pid_t pid;

	if (!x->cfg.enabled)
		return 0;
	if (!kh_fs_exists(x->paths.mappings) || !x->cfg.file_existed)
		snprintf(why, sizeof why, "keyhole is enabled but not set up; run `keyhole setup`");
	else if (!kh_cli_daemon_running(x, &pid) || kh_probe_health(x->cfg.tunnel_port, 1000) != 0)
		snprintf(why, sizeof why,
			 "keyhole is enabled but not running on port %u; start it "
			 "with `keyhole start`",
			 x->cfg.tunnel_port);
	else if (!kh_fs_exists(x->paths.ca_crt))
		snprintf(why, sizeof why,
			 "keyhole's CA certificate vanished from %s; run "
			 "`keyhole setup` to create it again",
			 x->paths.ca_crt);
	else if (kh_cli_mappings(x, m) != 0 || m->n == 0)
		snprintf(why, sizeof why,
			 "mappings.json is empty or corrupt; run `keyhole setup` "
			 "to mint provider tokens before starting a sandbox");
	else
		engine_unreachable(x, network, gw, gwlen, why, sizeof why);
	if (why[0] == '\0')
		return 1;
	if (x->cfg.enforce_on_docker) {
		kh_cli_fail(x, "%s (enforce_on_docker is on, so the container is not started)",
			    why);
		return -1;
	}
	fprintf(stderr,
		"keyhole %s: warning: %s; enforce_on_docker is off, so the container "
		"gets no keyhole arguments and talks to the network directly\n",
		engine, why);
	return 0;
}

/* Sandbox tokens under the user's label (`docker args --label`), not tied
 * to any process: the user revokes them (keyhole token revoke --label). */
static int issue_labelled(struct kh_cli_ctx *x, const char *label, struct kh_mappings *m)
{
	struct kh_err err = { "" };

	if (kh_ctl_issue_into(x->paths.control, label, x->cfg.sandbox_token_ttl,
			      x->cfg.sandbox_token_budget, 0, m, &err) != 0) {
		kh_cli_fail(x, "cannot get sandbox tokens for label %s: %s", label, err.msg);
		return -1;
	}
	return 0;
}

/* label: NULL for `args` (the mapping tokens); for `run` and `args --label`,
 * where the label of the container's own sandbox tokens goes ("" when it
 * gets none). fixed: the label `args --label` was given, or NULL. */
static int build(struct kh_cli_ctx *x, struct user_env *u, struct kh_argv *out, char *node,
		 int *ready, char *label, const char *fixed)
{
	struct kh_mappings m = { 0 }, shared = { 0 };
	struct kh_err err = { "" };
	struct kh_docker_in in;
	char gw[INET_ADDRSTRLEN] = "";
	int rc = 0;

	*ready = egress_ready(x, &m, u->network, gw, sizeof gw);
	if (*ready <= 0) {
		kh_mappings_free(&m);
		return *ready < 0 ? -1 : 0;
	}
	if (label != NULL &&
	    (kh_cli_mappings(x, &shared) != 0 ||
	     (fixed != NULL ? issue_labelled(x, fixed, &m)
			    : kh_cli_sandbox_tokens(x, engine, u->name, &m, label)) != 0)) {
		label[0] = '\0';
		kh_mappings_free(&m);
		kh_mappings_free(&shared);
		return -1;
	}
	in = (struct kh_docker_in){ .ca_path = x->paths.ca_crt,
				    .port = x->cfg.tunnel_port,
				    .maps = &m,
				    .shared = label ? &shared : NULL,
				    .user = u->v,
				    .n_user = u->n,
				    .enforce = x->cfg.enforce_on_docker,
				    .gateway = gw[0] != '\0' ? gw : NULL };
	if (kh_docker_args(&in, out, node, KH_DOCKER_NODE_OPTIONS_MAX, print_warning, &err) != 0) {
		kh_cli_fail(x, "%s", err.msg);
		rc = -1;
	}
	kh_mappings_free(&m);
	kh_mappings_free(&shared);
	return rc;
}

/* --- keyhole docker args --- */

static int docker_help(void)
{
	fputs(kh_command_find(engine)->usage, stdout);
	return KH_EXIT_OK;
}

static void print_shell_word(const char *s)
{
	if (s[strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./:=,")] ==
	    '\0') {
		fputs(s, stdout);
		return;
	}
	putchar('\'');
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*s);
	}
	putchar('\'');
}

static int print_args(const struct kh_argv *a, enum fmt f)
{
	char buf[256u << 10];
	struct kh_json j;

	if (f == FMT_JSON) {
		kh_json_init(&j, buf, sizeof buf);
		kh_json_begin_array(&j);
		for (size_t i = 0; i < a->n; i++)
			kh_json_cstring(&j, a->v[i]);
		kh_json_end_array(&j);
		if (kh_json_finish_line(&j) < 0)
			return -1;
		fputs(buf, stdout);
		return 0;
	}
	for (size_t i = 0; i < a->n; i++) {
		if (f == FMT_LINES) {
			puts(a->v[i]);
			continue;
		}
		if (i > 0)
			putchar(' ');
		print_shell_word(a->v[i]);
	}
	if (f == FMT_SHELL && a->n > 0)
		putchar('\n');
	return 0;
}

static int parse_format(const char *s, enum fmt *f)
{
	if (strcmp(s, "shell") == 0)
		*f = FMT_SHELL;
	else if (strcmp(s, "json") == 0)
		*f = FMT_JSON;
	else if (strcmp(s, "lines") == 0)
		*f = FMT_LINES;
	else
		return -1;
	return 0;
}

static int parse_args_cmd(int argc, char **argv, const char **home, enum fmt *f, struct user_env *u,
			  const char **label)
{
	static const struct option longopts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "label", required_argument, NULL, 'l' },
		{ "env-file", required_argument, NULL, 'f' },
		{ "env", required_argument, NULL, 'e' },
		{ "format", required_argument, NULL, 'F' },
		{ "network", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kh_err err = { "" };
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "e:h", longopts, NULL)) != -1) {
		if (ch == 'h')
			return HELP_SHOWN;
		if (ch == 'H')
			*home = optarg;
		else if (ch == 'l')
			*label = optarg;
		else if (ch == 'n' && is_podman())
			u->network = optarg;
		else if (ch == 'F' && parse_format(optarg, f) != 0)
			return kh_cli_usage_error(args_cmd, "--format must be shell, json or "
							    "lines");
		else if ((ch == 'f' && read_env_file(u, optarg, &err) != 0) ||
			 (ch == 'e' && add_env_arg(u, optarg, &err) != 0)) {
			fprintf(stderr, "keyhole %s: %s\n", args_cmd, err.msg);
			return KH_EXIT_FAIL;
		} else if (ch == 'n' && !is_podman()) {
			return kh_cli_usage_error(args_cmd, "--network is an option of `keyhole "
							    "podman args`");
		} else if (ch != 'H' && ch != 'F' && ch != 'f' && ch != 'e' && ch != 'l' &&
			   ch != 'n')
			return kh_cli_usage_error(args_cmd, "unknown or incomplete option '%s'",
						  argv[optind - 1]);
	}
	if (optind < argc)
		return kh_cli_usage_error(args_cmd, "unexpected argument '%s'", argv[optind]);
	return 0;
}

static int cmd_args(int argc, char **argv)
{
	static struct user_env u;
	struct kh_argv out = { 0 };
	struct kh_cli_ctx x;
	char node[KH_DOCKER_NODE_OPTIONS_MAX], label[KH_GRANT_LABEL_MAX] = "";
	const char *home = NULL, *fixed = NULL;
	enum fmt f = FMT_SHELL;
	int ready, rc = parse_args_cmd(argc, argv, &home, &f, &u, &fixed);

	if (rc == HELP_SHOWN) {
		rc = docker_help();
		goto out;
	}
	if (rc != 0)
		goto out;
	rc = KH_EXIT_FAIL;
	if (kh_cli_open(&x, args_cmd, home) != 0)
		goto out;
	if (build(&x, &u, &out, node, &ready, fixed ? label : NULL, fixed) == 0) {
		if (ready == 0 && !x.cfg.enabled)
			fprintf(stderr,
				"keyhole %s: keyhole is disabled (enabled: false); "
				"no arguments\n",
				args_cmd);
		rc = print_args(&out, f) == 0 ? KH_EXIT_OK : KH_EXIT_FAIL;
	}
	kh_cli_close(&x);
out:
	kh_argv_free(&out);
	free_user_env(&u);
	return rc;
}

/* --- keyhole docker run --- */

/* docker run options that take no value; every other option does. */
static bool docker_bool_flag(const char *name)
{
	static const char *const flags[] = { "detach",
					     "interactive",
					     "tty",
					     "rm",
					     "privileged",
					     "init",
					     "publish-all",
					     "read-only",
					     "no-healthcheck",
					     "oom-kill-disable",
					     "disable-content-trust",
					     "sig-proxy",
					     "quiet",
					     "help",
					     "use-api-socket" };

	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
		if (strcmp(flags[i], name) == 0)
			return true;
	return false;
}

/* Short options in a cluster: "-it" are flags; "-e", "-v", "-p80:80" take a value. */
static bool short_is_flag(char c)
{
	return c != '\0' && strchr("ditPq", c) != NULL;
}

/* Index of the first argument that is not an option (the image), filling u
 * from -e/--env/--env-file on the way. */
static int scan_run_args(int argc, char **argv, struct user_env *u, int *image, struct kh_err *err)
{
	int i = 0;

	while (i < argc && argv[i][0] == '-' && strcmp(argv[i], "--") != 0) {
		const char *a = argv[i], *val = NULL, *name = a + 1;
		bool is_env = false, is_file = false;

		if (a[1] == '-') { /* --name[=value] */
			const char *eq = strchr(a, '=');
			size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);

			name = a + 2;
			is_env = nl == 3 && strncmp(name, "env", 3) == 0;
			is_file = nl == 8 && strncmp(name, "env-file", 8) == 0;
			if (eq != NULL)
				val = eq + 1;
			else if (!docker_bool_flag(name))
				val = i + 1 < argc ? argv[++i] : NULL;
			if (nl == 4 && strncmp(name, "name", 4) == 0)
				u->name = val;
			if ((nl == 7 && strncmp(name, "network", 7) == 0) ||
			    (nl == 3 && strncmp(name, "net", 3) == 0))
				u->network = val;
			if (nl == 6 && strncmp(name, "detach", 6) == 0)
				u->detach = val == NULL || strcmp(val, "false") != 0;
		} else {
			while (short_is_flag(*name))
				u->detach |= *name++ == 'd';
			is_env = *name == 'e';
			if (*name != '\0')
				val = name[1] != '\0' ? name + 1
						      : (i + 1 < argc ? argv[++i] : NULL);
		}
		if ((is_env && val && add_env_arg(u, val, err) != 0) ||
		    (is_file && val && read_env_file(u, val, err) != 0))
			return -1;
		i++;
	}
	*image = i;
	return 0;
}

/* Where a NODE_OPTIONS assignment starts in one argument, in every form
 * docker accepts: "NODE_OPTIONS=x" after -e, "-eNODE_OPTIONS=x",
 * "--env=NODE_OPTIONS=x"; -1 if the argument is not one. */
static long node_options_at(const char *a)
{
	static const char *const prefixes[] = { "", "-e", "--env=" };

	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
		size_t p = strlen(prefixes[i]);

		if (strncmp(a, prefixes[i], p) == 0 && strncmp(a + p, "NODE_OPTIONS", 12) == 0 &&
		    (a[p + 12] == '=' || a[p + 12] == '\0'))
			return (long)p;
	}
	return -1;
}

/* The user set NODE_OPTIONS with -e: rewrite that argument to the merged
 * value (so their flags are kept) rather than adding a second one. */
static bool rewrite_node_options(int n, char **argv, const char *merged, char **owned)
{
	for (int i = n - 1; i >= 0; i--) {
		long p = node_options_at(argv[i]);
		size_t len;

		if (p < 0 || (p == 0 && (i == 0 || (strcmp(argv[i - 1], "-e") != 0 &&
						    strcmp(argv[i - 1], "--env") != 0))))
			continue;
		len = (size_t)p + strlen(merged) + 14;
		*owned = malloc(len);
		if (*owned == NULL)
			return false;
		snprintf(*owned, len, "%.*sNODE_OPTIONS=%s", (int)p, argv[i], merged);
		argv[i] = *owned;
		return true;
	}
	return false;
}

/* Waits for docker run: signals from the terminal reach it directly (same
 * process group), so here they are ignored; SIGTERM and SIGHUP sent to us
 * are passed on, so the container is stopped the way docker stops it. */
static volatile pid_t docker_pid;

static void pass_on(int sig)
{
	if (docker_pid > 0)
		kill(docker_pid, sig);
}

static int wait_docker(pid_t pid)
{
	struct sigaction fwd = { .sa_handler = pass_on }, ign = { .sa_handler = SIG_IGN };
	int status = 0;

	docker_pid = pid;
	sigaction(SIGTERM, &fwd, NULL);
	sigaction(SIGHUP, &fwd, NULL);
	sigaction(SIGINT, &ign, NULL);
	sigaction(SIGQUIT, &ign, NULL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* docker run <ours> <the user's options, image and command>. With sandbox
 * tokens (label set) keyhole stays to revoke them when docker returns;
 * without, it simply becomes docker. */
static int run_docker(const struct kh_argv *ours, int argc, char **argv, int image,
		      const char *node, const char *label)
{
	char **full = calloc((size_t)argc + ours->n + 3, sizeof *full), *owned = NULL;
	size_t k = 0, n_ours = ours->n;
	int rc = KH_EXIT_FAIL;
	pid_t pid = 0, parent = getpid();

	if (full == NULL)
		return KH_EXIT_FAIL;
	/* Our own NODE_OPTIONS pair is last; drop it if the user's -e is rewritten. */
	if (n_ours >= 2 && rewrite_node_options(image, argv, node, &owned))
		n_ours -= 2;
	full[k++] = (char *)engine;
	full[k++] = "run";
	for (size_t i = 0; i < n_ours; i++)
		full[k++] = ours->v[i];
	for (int i = 0; i < argc; i++)
		full[k++] = argv[i];
	full[k] = NULL;
	fflush(NULL);
	if (label[0] == '\0' || (pid = fork()) == 0) {
		/* keyhole killed: docker gets SIGTERM and stops the container as it
		 * does on a terminal's, rather than leave it running with tokens
		 * the daemon revokes when it sees this process gone */
		if (label[0] != '\0' &&
		    (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent))
			_exit(KH_EXIT_FAIL);
		execvp(engine, full);
		fprintf(stderr, "keyhole %s: cannot run %s: %s\n", run_cmd, engine,
			strerror(errno));
		if (pid == 0 && label[0] != '\0')
			_exit(KH_EXIT_FAIL);
	} else if (pid > 0) {
		rc = wait_docker(pid);
	} else {
		fprintf(stderr, "keyhole %s: cannot fork: %s\n", run_cmd, strerror(errno));
	}
	free(owned);
	free(full);
	return rc;
}

/* The container's tokens are revoked when docker run returns, which with -d
 * is at once: the container would get 401 on every request. */
static void refuse_detach(void)
{
	fprintf(stderr,
		"keyhole %s: -d/--detach is not supported: the container's sandbox tokens\n"
		"are revoked when `%s run` returns, which with -d is at once. For a detached\n"
		"container, issue tokens under a label of your own and revoke them when it is "
		"done:\n"
		"  eval \"%s run -d $(keyhole %s args --label my-job) IMAGE [COMMAND...]\"\n"
		"  keyhole token revoke --label my-job\n",
		run_cmd, engine, engine, engine);
}

static int cmd_run(int argc, char **argv)
{
	static struct user_env u;
	struct kh_argv out = { 0 };
	struct kh_err err = { "" };
	struct kh_cli_ctx x;
	char node[KH_DOCKER_NODE_OPTIONS_MAX] = "", label[KH_GRANT_LABEL_MAX] = "";
	int image, ready, rc = KH_EXIT_FAIL;

	if (scan_run_args(argc, argv, &u, &image, &err) != 0) {
		fprintf(stderr, "keyhole %s: %s\n", run_cmd, err.msg);
		goto out;
	}
	if (u.detach) {
		refuse_detach();
		rc = KH_EXIT_USAGE;
		goto out;
	}
	if (kh_cli_open(&x, run_cmd, NULL) != 0)
		goto out;
	if (build(&x, &u, &out, node, &ready, label, NULL) == 0)
		rc = run_docker(&out, argc, argv, image, node, label);
	if (label[0] != '\0')
		kh_cli_sandbox_revoke(&x, label);
	kh_cli_close(&x);
out:
	kh_argv_free(&out);
	free_user_env(&u);
	return rc;
}

int kh_cmd_docker(int argc, char **argv)
{
	if (argc < 2)
		return kh_cli_usage_error(engine, "expected `args` or `run`");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    (argc == 3 && strcmp(argv[2], "--help") == 0)) /* `docker run --help` alone */
		return docker_help();
	if (strcmp(argv[1], "args") == 0)
		return cmd_args(argc - 1, argv + 1);
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 2, argv + 2);
	return kh_cli_usage_error(engine, "unknown subcommand '%s' (expected args or run)",
				  argv[1]);
}

int kh_cmd_podman(int argc, char **argv)
{
	engine = "podman";
	kind = KH_ENGINE_PODMAN;
	args_cmd = "podman args";
	run_cmd = "podman run";
	return kh_cmd_docker(argc, argv);
}
