/* `keyhole status` (is it set up, running, answering; which tokens exist)
 * and `keyhole config` (the effective settings with defaults filled in).
 * Tokens are shown redacted unless --show-tokens; secrets never. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmd_common.h"
#include "cli/ctl_client.h"
#include "cli/discover.h"
#include "base/fsutil.h"
#include "base/jsonl.h"
#include "cli/probe.h"
#include "cli/procview.h"
#include "cli/state.h"
#include "base/version.h"
#include "base/kh_limits.h"

struct status {
	bool running, listening;
	uint16_t port; /* probed for listening: tunnel_port, or the one the daemon took */
	pid_t pid;
	char metrics[80]; /* "http://ip:port/metrics" of the running daemon, or "" */
	bool answered; /* control.sock answered: ctl holds the daemon's own status */
	struct kh_ctl_status ctl;
	/* each running front as the kernel shows it (procview.h), next to its
	 * own report in ctl.fronts; kernel_err says why one could not be read */
	struct kh_procview kernel[KH_MAX_WORKERS];
	char kernel_err[KH_MAX_WORKERS][96];
	struct kh_mappings maps;
	const char *uncovered[8];
	size_t n_uncovered;
	long sandbox_tokens; /* active ones, from the daemon; -1 when not known */
};

/* Active sandbox tokens, asked over the control socket (-1: no answer). */
static long count_sandbox_tokens(const struct kh_cli_ctx *x)
{
	json_t *req = json_pack("{s:s}", "op", "list"), *reply = NULL, *g;
	struct kh_err err = { "" };
	long n = -1;
	size_t i;

	if (req != NULL && kh_ctl_call(x->paths.control, req, &reply, &err) == 0) {
		n = 0;
		json_array_foreach(json_object_get(reply, "grants"), i, g)
		{
			const char *state = json_string_value(json_object_get(g, "state"));

			n += state != NULL && strcmp(state, "active") == 0;
		}
	}
	json_decref(req);
	json_decref(reply);
	return n;
}

/* The daemon publishes its metrics address (an ephemeral port by default)
 * in keyhole.metrics; a file left by a daemon that died is ignored. */
static void read_metrics_addr(const struct kh_cli_ctx *x, struct status *st)
{
	char *text = NULL;
	size_t len = 0, n;
	struct kh_err err;

	if (!st->running || kh_fs_read_file(x->paths.metrics, 128, true, &text, &len, &err) != 0)
		return;
	n = strcspn(text, "\r\n");
	if (n > 0 && n < 64 && strspn(text, "0123456789.:[]abcdef") == n)
		snprintf(st->metrics, sizeof st->metrics, "http://%.*s/metrics", (int)n, text);
	free(text);
}

/* /proc of every running front, read here rather than asked of the daemon:
 * a front taken over could lie in its report, not in its /proc entry. */
static void read_kernel_views(struct status *st)
{
	for (size_t i = 0; i < st->ctl.n_fronts && i < KH_MAX_WORKERS; i++) {
		struct kh_err err = { "" };

		st->kernel_err[i][0] = '\0';
		if (st->ctl.fronts[i].pid <= 0)
			continue;
		if (kh_procview_read(st->ctl.fronts[i].pid, &st->kernel[i], &err) != 0)
			snprintf(st->kernel_err[i], sizeof st->kernel_err[i], "%s", err.msg);
		else if (st->kernel[i].ppid != st->pid)
			snprintf(st->kernel_err[i], sizeof st->kernel_err[i],
				 "pid %d is not the daemon's child (it ended since?)",
				 (int)st->ctl.fronts[i].pid);
	}
}

static void gather(struct kh_cli_ctx *x, struct status *st)
{
	bool existed;
	struct kh_err err;

	memset(st, 0, sizeof *st);
	st->running = kh_cli_daemon_running(x, &st->pid);
	st->answered = st->running &&
		       kh_ctl_status(x->paths.control, KH_CTL_PROBE_MS, &st->ctl, &err) == 0;
	/* tunnel_port 0 is "any free port": the daemon says which it took */
	st->port = x->cfg.tunnel_port != 0 ? x->cfg.tunnel_port : st->answered ? st->ctl.port : 0;
	st->listening = st->port != 0 && kh_probe_health(st->port, 1000) == 0;
	if (st->answered && st->ctl.fronts_are_processes)
		read_kernel_views(st);
	if (kh_mappings_load(x->paths.mappings, &st->maps, &existed, &err) != 0)
		fprintf(stderr, "keyhole status: warning: %s\n", err.msg);
	st->n_uncovered = kh_uncovered_present(NULL, 0, st->uncovered, 8);
	read_metrics_addr(x, st);
	st->sandbox_tokens = st->running ? count_sandbox_tokens(x) : -1;
}

static const char *yn(bool v)
{
	return v ? "yes" : "no";
}

static void token_text(const char *tok, bool show, char *out, size_t len)
{
	if (show)
		snprintf(out, len, "%s", tok);
	else
		kh_token_display(tok, out, len);
}

/* ", no_new_privs, seccomp, landlock v3, rlimits": what front f has. */
static void front_confinements(const struct kh_ctl_front *f, char *out, size_t len)
{
	char ll[24] = "";

	if (f->landlock_abi > 0)
		snprintf(ll, sizeof ll, ", landlock v%d", f->landlock_abi);
	snprintf(out, len, "uid %u%s%s%s%s%s", (unsigned)f->uid,
		 f->no_new_privs ? ", no_new_privs" : "", f->seccomp ? ", seccomp" : "", ll,
		 f->rlimits ? ", rlimits" : "", f->uid_dropped ? ", uid dropped from root" : "");
}

/* What front f lacks that a front should have, or "" (all there). */
static void front_missing(const struct kh_ctl_front *f, char *out, size_t len)
{
	if (f->pid <= 0)
		snprintf(out, len, "not running (restarted %u time(s))", f->restarts);
	else if (!f->confined)
		snprintf(out, len, "has not reported its confinement yet");
	else
		snprintf(out, len, "%s%s%s%s", f->no_new_privs ? "" : " no_new_privs",
			 f->seccomp ? "" : " seccomp",
			 f->landlock_abi > 0 ? "" : " landlock (not applied: kernel without it?)",
			 f->rlimits ? "" : " rlimits");
}

/* One line when /proc agrees with every running front, else a warning per
 * front that /proc contradicts or that could not be looked at. */
static void print_kernel_check(const struct status *st)
{
	const struct kh_ctl_status *c = &st->ctl;
	char why[320];
	size_t agree = 0, running = 0;

	for (size_t i = 0; i < c->n_fronts; i++) {
		if (c->fronts[i].pid <= 0 || !c->fronts[i].confined)
			continue;
		running++;
		if (st->kernel_err[i][0] != '\0') {
			printf("  %-20s front %zu: /proc not read: %s\n", "  warning", i,
			       st->kernel_err[i]);
			continue;
		}
		kh_procview_disagrees(&c->fronts[i], &st->kernel[i], why, sizeof why);
		if (why[0] != '\0')
			printf("  %-20s front %zu (pid %d) is not what it says%s\n", "  warning", i,
			       (int)c->fronts[i].pid, why);
		else
			agree++;
	}
	if (running > 0 && agree == running)
		printf("  %-20s /proc agrees with what every front reports (NoNewPrivs, Seccomp, "
		       "uid, core and process limits; landlock leaves no trace there)\n",
		       "kernel check");
}

static size_t running_fronts(const struct kh_ctl_status *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n_fronts; i++)
		n += c->fronts[i].pid > 0;
	return n;
}

/* The confinements of every front, when they are all running and say the
 * same; else "see the warnings below". */
static void same_for_all(const struct kh_ctl_status *c, char *out, size_t len)
{
	char one[160];

	snprintf(out, len, "see the warnings below");
	for (size_t i = 0; i < c->n_fronts; i++) {
		if (c->fronts[i].pid <= 0 || !c->fronts[i].confined)
			return;
		front_confinements(&c->fronts[i], one, sizeof one);
		if (i > 0 && strcmp(one, out) != 0) {
			snprintf(out, len, "not the same in every front: see below");
			return;
		}
		snprintf(out, len, "%s", one);
	}
	if (c->n_fronts == 0)
		snprintf(out, len, "no front reported");
}

/* "CA signer" (privsep: true): its pid and confinements, or what it lacks. */
static void print_signer(const struct kh_ctl_status *c)
{
	char conf[160], miss[160];

	if (!c->have_signer)
		return;
	front_missing(&c->signer, miss, sizeof miss);
	if (miss[0] != '\0') {
		printf("  %-20s pid %d, %s%s\n", "CA signer", (int)c->signer.pid,
		       c->signer.confined ? "lacks" : "", miss);
		return;
	}
	front_confinements(&c->signer, conf, sizeof conf);
	printf("  %-20s pid %d (restarted %u time(s)), holds the CA key, confined: %s\n",
	       "CA signer", (int)c->signer.pid, c->signer.restarts, conf);
}

/* "key holder": the daemon's own confinement (docs/SECURITY.md). */
static void print_keyholder(const struct kh_ctl_status *c)
{
	const struct kh_ctl_front *k = &c->keyholder;
	char ll[96];

	if (!c->have_keyholder)
		return;
	if (!k->confined) {
		printf("  %-20s NOT confined: if taken over it could write files and run "
		       "programs\n",
		       "key holder");
		return;
	}
	if (k->landlock_abi > 0)
		snprintf(ll, sizeof ll,
			 "landlock v%d: reads system files only, writes none, execs only keyhole",
			 k->landlock_abi);
	else
		snprintf(ll, sizeof ll, "NO landlock (kernel without it)");
	printf("  %-20s pid %d, confined: %s%s, %s, capabilities %s; its monitor (pid %d) "
	       "reads a reload's files, runs credential programs and writes grants.json\n",
	       "key holder", (int)k->pid, k->no_new_privs ? "no_new_privs, " : "",
	       k->seccomp ? "seccomp (no ptrace, mount, chmod/chown...)" : "NO seccomp", ll,
	       c->keyholder_caps[0] != '\0' ? c->keyholder_caps : "NOT limited",
	       (int)c->monitor_pid);
}

/* "privilege separation" and a warning per front that lacks a confinement. */
static void print_privsep(const struct status *st)
{
	const struct kh_ctl_status *c = &st->ctl;
	char pids[KH_MAX_WORKERS * 12] = "", conf[160] = "", miss[160];
	size_t at = 0;

	if (!c->fronts_are_processes) {
		printf("  %-20s off (privsep: false in config.yaml): the keys share the daemon's "
		       "process with the code that reads the sandboxes' bytes\n",
		       "privilege separation");
		return;
	}
	for (size_t i = 0; i < c->n_fronts && at < sizeof pids; i++)
		if (c->fronts[i].pid > 0)
			at += kh_fmt(pids + at, sizeof pids - at, "%s%d", at > 0 ? " " : "",
				     (int)c->fronts[i].pid);
	/* one set of confinements only when every front is up and reported the
	 * same; anything else is told front by front below */
	same_for_all(c, conf, sizeof conf);
	printf("  %-20s %zu front process(es) running (pids %s), confined: %s\n",
	       "privilege separation", running_fronts(c), at > 0 ? pids : "none", conf);
	for (size_t i = 0; i < c->n_fronts; i++) {
		front_missing(&c->fronts[i], miss, sizeof miss);
		if (miss[0] != '\0')
			printf("  %-20s front %zu (pid %d): %s%s\n", "  warning", i,
			       (int)c->fronts[i].pid, c->fronts[i].confined ? "lacks" : "", miss);
	}
	print_kernel_check(st);
	print_signer(c);
}

static void print_text(const struct kh_cli_ctx *x, const struct status *st, bool show)
{
	const struct kh_config *c = &x->cfg;

	printf("keyhole %s\n", KH_VERSION);
	printf("  %-20s %s\n", "enabled", yn(c->enabled));
	printf("  %-20s %s\n", "state directory", x->paths.home);
	printf("  %-20s %s%s\n", "config", x->paths.config, c->file_existed ? "" : " (absent)");
	printf("  %-20s %s%s\n", "CA certificate", x->paths.ca_crt,
	       kh_fs_exists(x->paths.ca_crt) ? "" : " (absent: run keyhole setup)");
	if (c->tunnel_port == 0 && st->port != 0)
		printf("  %-20s 0 (any free port: %u now)\n", "tunnel port", st->port);
	else
		printf("  %-20s %u\n", "tunnel port", c->tunnel_port);
	if (st->running)
		printf("  %-20s running (pid %d)\n", "daemon", (int)st->pid);
	else
		printf("  %-20s not running\n", "daemon");
	printf("  %-20s %s\n", "listening", st->listening ? "yes (/healthz answered)" : "no");
	if (st->metrics[0] != '\0')
		printf("  %-20s %s\n", "metrics", st->metrics);
	if (st->answered && st->ctl.audit_failing)
		printf("  %-20s FAILING: records cannot be written (disk full?); %" PRIu64
		       " lost; requests are %s (audit_failure: %s)\n",
		       "audit log", st->ctl.audit_lost,
		       c->audit_refuse ? "refused" : "still served",
		       c->audit_refuse ? "refuse" : "continue");
	else if (st->answered)
		printf("  %-20s ok (%" PRIu64 " record(s) lost since start)\n", "audit log",
		       st->ctl.audit_lost);
	if (st->answered && st->ctl.have_privsep)
		print_privsep(st);
	if (st->answered)
		print_keyholder(&st->ctl);
	if (st->sandbox_tokens >= 0)
		printf("  %-20s %ld active (keyhole token list)\n", "sandbox tokens",
		       st->sandbox_tokens);
	printf("  %-20s %s\n", "credential source", kh_cred_source_name(c->credential_source));
	printf("  %-20s %s\n", "docker enforcement", yn(c->enforce_on_docker));
	if (st->maps.n > 0)
		printf("Token mappings\n");
	for (size_t i = 0; i < st->maps.n; i++) {
		char tok[KH_TOKEN_MAX];

		token_text(st->maps.v[i].proxy_token, show, tok, sizeof tok);
		printf("  %-22s %-34s %s\n", st->maps.v[i].env_name, st->maps.v[i].hosts[0], tok);
	}
	if (st->n_uncovered > 0)
		printf("Uncovered providers (a sandbox given these holds real credentials)\n");
	for (size_t i = 0; i < st->n_uncovered; i++)
		printf("  %s\n", st->uncovered[i]);
}

static void json_mapping(struct kh_json *j, const struct kh_mapping *m, bool show)
{
	char tok[KH_TOKEN_MAX];

	token_text(m->proxy_token, show, tok, sizeof tok);
	kh_json_begin_object(j);
	kh_json_kv_cstr(j, "env_name", m->env_name);
	kh_json_kv_cstr(j, "proxy_token", tok);
	kh_json_key(j, "upstream_hosts");
	kh_json_begin_array(j);
	for (size_t h = 0; h < m->n_hosts; h++)
		kh_json_cstring(j, m->hosts[h]);
	kh_json_end_array(j);
	kh_json_end_object(j);
}

/* "kernel": the front as /proc shows it, or null when it was not read. */
static void json_kernel(struct kh_json *j, const struct kh_ctl_front *f,
			const struct kh_procview *k, const char *read_err)
{
	char why[320];

	kh_json_key(j, "kernel");
	if (f->pid <= 0 || read_err[0] != '\0') {
		kh_json_null(j);
		return;
	}
	kh_procview_disagrees(f, k, why, sizeof why);
	kh_json_begin_object(j);
	kh_json_kv_int(j, "uid", k->uid);
	kh_json_kv_int(j, "no_new_privs", k->no_new_privs);
	kh_json_kv_int(j, "seccomp", k->seccomp);
	kh_json_kv_int(j, "nofile", k->nofile);
	kh_json_key(j, "agrees"); /* null until the front has reported */
	if (f->confined)
		kh_json_bool(j, why[0] == '\0');
	else
		kh_json_null(j);
	kh_json_end_object(j);
}

static void json_front(struct kh_json *j, const struct kh_ctl_front *f, const struct kh_procview *k,
		       const char *read_err)
{
	kh_json_begin_object(j);
	kh_json_kv_uint(j, "pid", (uint64_t)(f->pid > 0 ? f->pid : 0));
	kh_json_kv_uint(j, "restarts", f->restarts);
	kh_json_kv_bool(j, "confined", f->confined);
	kh_json_kv_uint(j, "uid", f->uid);
	kh_json_kv_bool(j, "no_new_privs", f->no_new_privs);
	kh_json_kv_bool(j, "seccomp", f->seccomp);
	kh_json_kv_uint(j, "landlock_abi", (uint64_t)f->landlock_abi);
	kh_json_kv_bool(j, "rlimits", f->rlimits);
	kh_json_kv_bool(j, "uid_dropped", f->uid_dropped);
	if (k != NULL) /* NULL: the signer, whose /proc entry is not checked yet */
		json_kernel(j, f, k, read_err);
	kh_json_end_object(j);
}

static void json_privsep(struct kh_json *j, const struct status *st)
{
	const struct kh_ctl_status *c = &st->ctl;

	kh_json_begin_object(j);
	kh_json_kv_cstr(j, "mode", c->fronts_are_processes ? "processes" : "off");
	kh_json_key(j, "fronts");
	kh_json_begin_array(j);
	for (size_t i = 0; i < c->n_fronts; i++)
		json_front(j, &c->fronts[i], &st->kernel[i], st->kernel_err[i]);
	kh_json_end_array(j);
	if (c->have_signer) {
		kh_json_key(j, "signer");
		json_front(j, &c->signer, NULL, NULL);
	}
	kh_json_end_object(j);
}

static void json_keyholder(struct kh_json *j, const struct kh_ctl_status *c)
{
	kh_json_begin_object(j);
	kh_json_key(j, "pid");
	kh_json_int(j, c->keyholder.pid);
	kh_json_key(j, "monitor_pid");
	kh_json_int(j, c->monitor_pid);
	kh_json_kv_bool(j, "confined", c->keyholder.confined);
	kh_json_kv_bool(j, "no_new_privs", c->keyholder.no_new_privs);
	kh_json_kv_bool(j, "seccomp", c->keyholder.seccomp);
	kh_json_kv_uint(j, "landlock_abi", (unsigned)c->keyholder.landlock_abi);
	kh_json_kv_cstr(j, "capabilities", c->keyholder_caps[0] ? c->keyholder_caps : NULL);
	kh_json_end_object(j);
}

static int print_json(const struct kh_cli_ctx *x, const struct status *st, bool show)
{
	char *buf = malloc(KH_STATUS_JSON_MAX);
	struct kh_json j;
	int rc = 0;

	if (buf == NULL)
		return -1;
	kh_json_init(&j, buf, KH_STATUS_JSON_MAX);
	kh_json_begin_object(&j);
	kh_json_kv_cstr(&j, "version", KH_VERSION);
	kh_json_kv_bool(&j, "enabled", x->cfg.enabled);
	kh_json_kv_cstr(&j, "home", x->paths.home);
	kh_json_kv_cstr(&j, "config_path", x->paths.config);
	kh_json_kv_bool(&j, "config_exists", x->cfg.file_existed);
	kh_json_kv_cstr(&j, "ca_cert", x->paths.ca_crt);
	kh_json_kv_bool(&j, "ca_exists", kh_fs_exists(x->paths.ca_crt));
	kh_json_kv_uint(&j, "tunnel_port", x->cfg.tunnel_port);
	kh_json_kv_bool(&j, "running", st->running);
	kh_json_key(&j, "pid");
	if (st->running)
		kh_json_int(&j, st->pid);
	else
		kh_json_null(&j);
	kh_json_kv_bool(&j, "listening", st->listening);
	kh_json_kv_cstr(&j, "metrics_url", st->metrics[0] ? st->metrics : NULL);
	kh_json_key(&j, "audit_ok"); /* null when the daemon did not answer */
	if (st->answered)
		kh_json_bool(&j, !st->ctl.audit_failing);
	else
		kh_json_null(&j);
	kh_json_kv_uint(&j, "audit_lost", st->answered ? st->ctl.audit_lost : 0);
	kh_json_kv_cstr(&j, "audit_failure", x->cfg.audit_refuse ? "refuse" : "continue");
	kh_json_key(&j, "sandbox_tokens"); /* null when the daemon did not answer */
	if (st->sandbox_tokens >= 0)
		kh_json_int(&j, st->sandbox_tokens);
	else
		kh_json_null(&j);
	kh_json_key(&j, "privsep"); /* null when the daemon did not say */
	if (st->answered && st->ctl.have_privsep)
		json_privsep(&j, st);
	else
		kh_json_null(&j);
	kh_json_key(&j, "keyholder"); /* null when the daemon did not say */
	if (st->answered && st->ctl.have_keyholder)
		json_keyholder(&j, &st->ctl);
	else
		kh_json_null(&j);
	kh_json_kv_cstr(&j, "credential_source", kh_cred_source_name(x->cfg.credential_source));
	kh_json_kv_bool(&j, "enforce_on_docker", x->cfg.enforce_on_docker);
	kh_json_key(&j, "mappings");
	kh_json_begin_array(&j);
	for (size_t i = 0; i < st->maps.n; i++)
		json_mapping(&j, &st->maps.v[i], show);
	kh_json_end_array(&j);
	kh_json_key(&j, "uncovered");
	kh_json_begin_array(&j);
	for (size_t i = 0; i < st->n_uncovered; i++)
		kh_json_cstring(&j, st->uncovered[i]);
	kh_json_end_array(&j);
	kh_json_end_object(&j);
	if (kh_json_finish_line(&j) < 0)
		rc = -1;
	else
		fputs(buf, stdout);
	free(buf);
	return rc;
}

static int parse_status(int argc, char **argv, const char **home, bool *show, bool *json)
{
	static const struct option longopts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "show-tokens", no_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*home = NULL;
	*show = *json = false;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			*home = optarg;
			break;
		case 's':
			*show = true;
			break;
		case 'j':
			*json = true;
			break;
		default:
			return kh_cli_usage_error("status", "unknown or incomplete option '%s'",
						  argv[optind - 1]);
		}
	}
	if (optind < argc)
		return kh_cli_usage_error("status", "unexpected argument '%s'", argv[optind]);
	return 0;
}

int kh_cmd_status(int argc, char **argv)
{
	struct kh_cli_ctx x;
	struct status st;
	const char *home;
	bool show, json;
	int rc = parse_status(argc, argv, &home, &show, &json);

	if (rc != 0)
		return rc;
	if (kh_cli_open(&x, "status", home) != 0)
		return KH_EXIT_FAIL;
	gather(&x, &st);
	if (json)
		rc = print_json(&x, &st, show) == 0 ? KH_EXIT_OK : KH_EXIT_FAIL;
	else
		print_text(&x, &st, show);
	if (show && st.maps.n > 0)
		fprintf(stderr,
			"warning: proxy tokens were printed in full; they may now be in your "
			"terminal scrollback or logs\n");
	kh_mappings_free(&st.maps);
	kh_cli_close(&x);
	return rc;
}

/* --- keyhole config --- */

static void print_list(const char *key, char *const *v, size_t n)
{
	printf("%s:%s\n", key, n ? "" : " []");
	for (size_t i = 0; i < n; i++)
		printf("  - \"%s\"\n", v[i]);
}

/* allowed_ports as YAML flow lists: [8443, "9000-9100"]. */
static void print_port_rules(const struct kh_config *c)
{
	printf("allowed_ports:%s  # always allowed: 443 (CONNECT, TLS), 80 (plain HTTP)\n",
	       c->n_port_rules ? "" : " {}");
	for (size_t i = 0; i < c->n_port_rules; i++) {
		const struct kh_port_rule *r = &c->port_rules[i];

		printf("  \"%s\": [", r->pattern);
		for (size_t k = 0; k < r->n_ranges; k++) {
			const struct kh_port_range *p = &r->ranges[k];

			if (p->lo == p->hi)
				printf("%s%u", k ? ", " : "", p->lo);
			else
				printf("%s\"%u-%u\"", k ? ", " : "", p->lo, p->hi);
		}
		printf("]\n");
	}
}

/* resolve: pins, "ip" or "ip:port" / "[v6]:port" as written in config.yaml. */
static void print_pins(const struct kh_config *c)
{
	printf("resolve:%s\n", c->n_pins ? "" : " {}");
	for (size_t i = 0; i < c->n_pins; i++) {
		const struct kh_pin *p = &c->pins[i];
		char ip[64];

		kh_sockaddr_ip((const struct sockaddr *)&p->addr, ip, sizeof ip);
		if (p->port == 0)
			printf("  %s: %s\n", p->host, ip);
		else if (p->addr.ss_family == AF_INET6)
			printf("  %s: \"[%s]:%u\"\n", p->host, ip, p->port);
		else
			printf("  %s: \"%s:%u\"\n", p->host, ip, p->port);
	}
}

static void print_effective(const struct kh_cli_ctx *x)
{
	const struct kh_config *c = &x->cfg;
	const struct kh_timeouts *t = &c->timeouts;
	char cidr[64];

	printf("# keyhole %s effective configuration: defaults filled in, secrets omitted\n",
	       KH_VERSION);
	printf("# files: home %s\n#        config %s%s\n#        ca %s\n#        mappings %s\n"
	       "#        audit %s\n#        log %s\n",
	       x->paths.home, x->paths.config, c->file_existed ? "" : " (absent)", x->paths.ca_crt,
	       x->paths.mappings, x->paths.audit, x->paths.log);
	printf("enabled: %s\ntunnel_port: %u\ncredential_source: %s\n",
	       c->enabled ? "true" : "false", c->tunnel_port,
	       kh_cred_source_name(c->credential_source));
	printf("enforce_on_docker: %s\nfail_on_uncovered_providers: %s\nallow_env_fallback: %s\n",
	       c->enforce_on_docker ? "true" : "false",
	       c->fail_on_uncovered_providers ? "true" : "false",
	       c->allow_env_fallback ? "true" : "false");
	printf("upstream_deny_cidrs:%s%s\n", c->n_deny_cidrs ? "" : " []",
	       c->deny_cidrs_explicit ? "" : "  # the default list");
	for (size_t i = 0; i < c->n_deny_cidrs; i++) {
		kh_cidr_format(&c->deny_cidrs[i], cidr, sizeof cidr);
		printf("  - %s\n", cidr);
	}
	print_list("extra_allowed_hosts", c->extra_allowed_hosts, c->n_extra_allowed_hosts);
	print_port_rules(c);
	print_list("cleartext_credential_hosts", c->cleartext_credential_hosts,
		   c->n_cleartext_credential_hosts);
	printf("listen:%s\n", c->n_listen ? "" : " []");
	for (size_t i = 0; i < c->n_listen; i++)
		printf("  - \"%s\"\n", c->listen[i].text);
	printf("metrics_listen: \"%s\"\n", c->metrics_enabled ? c->metrics_listen.text : "off");
	print_pins(c);
	printf("audit_failure: %s\n", c->audit_refuse ? "refuse" : "continue");
	printf("upstream_ca_file: %s\nworkers: %u\nprivsep: %s\nbusy_poll_us: %u\n"
	       "cert_cache_size: %zu\nlog_level: %s\n",
	       c->upstream_ca_file[0] ? c->upstream_ca_file : "null", c->workers,
	       c->privsep ? "true" : "false", c->busy_poll_us, c->cert_cache_size,
	       (const char *[]){ "debug", "info", "warn", "error" }[c->log_level]);
	printf("timeouts:\n  handshake: %u\n  header: %u\n  keepalive: %u\n  connect: %u\n"
	       "  response: %u\n  idle: %u\n  shutdown_grace: %u\n",
	       t->handshake, t->header, t->keepalive, t->connect, t->response, t->idle,
	       t->shutdown_grace);
	printf("limits:\n  max_connections: %zu\n  max_header_bytes: %zu\n  max_headers: %zu\n",
	       c->limits.max_connections, c->limits.max_header_bytes, c->limits.max_headers);
	printf("bitwarden:\n  project_id: %s\n  access_token_env: %s\n",
	       c->bitwarden_project_id[0] ? c->bitwarden_project_id : "null",
	       c->bitwarden_token_env);
	printf("credential_command: %s\n", c->credential_command[0] ? "(set; not shown)" : "null");
	printf("sandbox_tokens:\n  ttl: %u\n  budget: %zu\n  save_interval: %u\n",
	       c->sandbox_token_ttl, c->sandbox_token_budget, c->sandbox_token_save_interval);
	printf("aws:\n  buckets:%s\n", !c->aws_buckets_set     ? " null  # any bucket"
				       : c->n_aws_buckets == 0 ? " []"
							       : "");
	for (size_t i = 0; i < c->n_aws_buckets; i++)
		printf("    - %s\n", c->aws_buckets[i]);
}

int kh_cmd_config(int argc, char **argv)
{
	static const struct option longopts[] = { { "home", required_argument, NULL, 'H' },
						  { NULL, 0, NULL, 0 } };
	struct kh_cli_ctx x;
	const char *home = NULL;
	int ch, rc = KH_EXIT_OK;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch != 'H')
			return kh_cli_usage_error("config", "unknown or incomplete option '%s'",
						  argv[optind - 1]);
		home = optarg;
	}
	if (optind < argc)
		return kh_cli_usage_error("config", "unexpected argument '%s'", argv[optind]);
	if (kh_cli_open(&x, "config", home) != 0)
		return KH_EXIT_FAIL;
	print_effective(&x);
	if (!x.cfg.file_existed)
		rc = kh_cli_fail(&x, "not set up yet: %s does not exist (run `keyhole setup`)",
				 x.paths.config);
	kh_cli_close(&x);
	return rc;
}
