/* The monitor (proxy/monitor.h): it runs the credential source config.yaml
 * names and hands back its values (the config as it is at the fetch, not at
 * the start), refuses a name that is not one, writes grants.json whole and
 * 0600, hands over a reload's files, removes at the end only the files the
 * daemon said it owns, and
 * wipes from its environment the values the daemon was started with. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/le.h"
#include "privsep/ctlmsg.h"

#include "policy/resolvfiles.h"
#include "proxy/monitor.h"
#include "tap.h"
#include "tmpdir.h"

#define TOK "keyhole-x-0123456789abcdef0123456789abcdef"

static struct kh_paths paths;
static struct kh_monitor mon;

static void write_file(const char *p, const char *text, mode_t mode)
{
	struct kh_err err;

	CHECK_INT(kh_fs_write_atomic(p, text, strlen(text), mode, &err), 0);
}

static void command_source(const char *value)
{
	char script[600], cfg[1200];

	snprintf(script, sizeof script, "#!/bin/sh\necho 'MON_KEY=%s'\n", value);
	write_file(path("cred.sh"), script, 0700);
	snprintf(cfg, sizeof cfg, "credential_source: command\ncredential_command: %s\n",
		 path("cred.sh"));
	write_file(paths.config, cfg, 0600);
}

static void setup(void)
{
	struct kh_err err;

	CHECK_INT(kh_paths_resolve(&paths, root, NULL, &err), 0);
	write_file(paths.mappings,
		   "{\"version\":1,\"tokens\":[{\"proxy_token\":\"" TOK "\","
		   "\"env_name\":\"MON_KEY\",\"upstream_hosts\":[\"a.b\"]}]}",
		   0600);
	command_source("first-value");
}

static void fetch_reads_the_config_now(void)
{
	struct kh_monitor *m = &mon;

	const char *names[] = { "MON_KEY" };
	struct kh_secrets s = { 0 };
	struct kh_err err = { "" };
	size_t len = 0;
	const char *v;

	CHECK_INT(kh_monitor_fetch(m, names, 1, &s, &err), 0);
	v = kh_secrets_get(&s, "MON_KEY", &len);
	CHECK(v != NULL && len == 11 && memcmp(v, "first-value", 11) == 0);
	kh_secrets_free(&s);
	command_source("second-value"); /* a rotation, then a reload */
	CHECK_INT(kh_monitor_fetch(m, names, 1, &s, &err), 0);
	v = kh_secrets_get(&s, "MON_KEY", &len);
	CHECK(v != NULL && len == 12 && memcmp(v, "second-value", 12) == 0);
	kh_secrets_free(&s);
}

static void fetch_refuses_what_is_not_a_name(void)
{
	struct kh_monitor *m = &mon;

	/* not a name, a control byte, a name no mapping has (the source may
	 * offer it: a taken daemon must not get it) */
	const char *bad[][1] = { { "MON_KEY=x" }, { "MON\nKEY" }, { "OTHER_KEY" } };
	struct kh_secrets s = { 0 };
	struct kh_err err = { "" };

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err.msg[0] = '\0';
		CHECK_INT(kh_monitor_fetch(m, bad[i], 1, &s, &err), -1);
		CHECK(strstr(err.msg, "no mapping has") != NULL);
	}
}

static void fetch_reports_the_sources_failure(void)
{
	struct kh_monitor *m = &mon;

	const char *names[] = { "MON_KEY" };
	struct kh_secrets s = { 0 };
	struct kh_err err = { "" };

	write_file(path("cred.sh"), "#!/bin/sh\necho broken >&2\nexit 3\n", 0700);
	CHECK_INT(kh_monitor_fetch(m, names, 1, &s, &err), -1);
	CHECK(err.msg[0] != '\0' && strstr(err.msg, "monitor") == NULL); /* the source's own */
	command_source("first-value");
}

static void save_writes_grants_whole(void)
{
	struct kh_monitor *m = &mon;

	struct kh_err err = { "" };
	char *text = NULL;
	size_t len = 0;

	CHECK_INT(kh_monitor_save_grants(m, "{\"grants\":[]}\n", 14, &err), 0);
	CHECK_INT(kh_fs_read_file(paths.grants, 1024, true, &text, &len, &err), 0);
	CHECK(len == 14 && memcmp(text, "{\"grants\":[]}\n", 14) == 0);
	CHECK_INT(mode_of(paths.grants), 0600);
	free(text);
}

struct slow_fetch {
	struct kh_monitor *m;
	int rc;
};

static void *fetch_thread(void *arg)
{
	struct slow_fetch *f = arg;
	const char *names[] = { "MON_KEY" };
	struct kh_secrets s = { 0 };
	struct kh_err err = { "" };

	f->rc = kh_monitor_fetch(f->m, names, 1, &s, &err);
	kh_secrets_free(&s);
	return NULL;
}

/* A fetch whose program waits (here on a FIFO, until the test lets it go)
 * does not hold up grants.json: a token issue waits on that write. */
static void save_is_served_while_a_fetch_runs(void)
{
	char script[700];
	struct slow_fetch f = { &mon, -2 };
	struct kh_err err = { "" };
	pthread_t t;
	int fd;

	CHECK_INT(mkfifo(path("gate"), 0600), 0);
	snprintf(script, sizeof script, "#!/bin/sh\ncat '%s' >/dev/null\necho MON_KEY=late\n",
		 path("gate"));
	write_file(path("cred.sh"), script, 0700);
	CHECK_INT(pthread_create(&t, NULL, fetch_thread, &f), 0);
	CHECK_INT(kh_monitor_save_grants(&mon, "{}\n", 3, &err), 0);
	fd = open(path("gate"), O_WRONLY); /* blocks until the program reads: it runs */
	CHECK(fd >= 0);
	close(fd);
	pthread_join(t, NULL);
	CHECK_INT(f.rc, 0);
	unlink(path("gate"));
	command_source("first-value");
}

/* A SAVE whose text is not in a memfd (a pipe: reading it could block the
 * monitor) is refused, and the monitor answers the next request. */
static void save_refuses_what_is_not_a_memfd(void)
{
	uint8_t b[4], type = 0, reply[600];
	struct kh_err err = { "" };
	int p[2], fd = -1;
	ssize_t n;

	CHECK_INT(pipe(p), 0);
	kh_le_put(b, 77777, 4);
	CHECK_INT(kh_ctlmsg_send(mon.ctl.sock, 'W', b, sizeof b, p[0]), 0);
	n = kh_ctlmsg_wait(mon.ctl.sock, 10000, &type, reply, sizeof reply, &fd);
	CHECK(n >= 4 && type == 'e' && kh_le_get(reply, 4) == 77777);
	close(p[0]);
	close(p[1]);
	CHECK_INT(kh_monitor_save_grants(&mon, "{}\n", 3, &err), 0);
}

static bool environ_holds(pid_t pid, const char *what)
{
	char p[64], buf[8192];
	size_t n;
	FILE *f;

	snprintf(p, sizeof p, "/proc/%d/environ", (int)pid);
	f = fopen(p, "r");
	if (f == NULL)
		return true; /* cannot tell: count it as held */
	n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	return memmem(buf, n, what, strlen(what)) != NULL;
}

/* READ: config.yaml, mappings.json and the upstream_ca_file config.yaml
 * names, as they are now; a missing mappings.json is absent, not an error;
 * a missing upstream_ca_file is an error that names it. */
static void read_gives_the_files_as_they_are_now(void)
{
	struct kh_policy_files f;
	struct kh_err err = { "" };
	char cfg[1200];

	write_file(path("upstream-ca.pem"), "-----BEGIN CERTIFICATE-----\nnot checked here\n",
		   0644);
	snprintf(cfg, sizeof cfg, "upstream_ca_file: %s\nlog_level: warn\n",
		 path("upstream-ca.pem"));
	write_file(paths.config, cfg, 0600);
	CHECK_INT(kh_monitor_read_files(&mon, &f, &err), 0);
	CHECK(f.config.present && f.config.len == strlen(cfg) &&
	      memcmp(f.config.text, cfg, f.config.len) == 0);
	CHECK(f.mappings.present && strstr(f.mappings.text, TOK) != NULL);
	CHECK(f.upstream_ca.present && strstr(f.upstream_ca.text, "not checked here") != NULL);
	kh_policy_files_free(&f);

	CHECK_INT(rename(paths.mappings, path("mappings.away")), 0);
	CHECK_INT(unlink(path("upstream-ca.pem")), 0);
	CHECK_INT(kh_monitor_read_files(&mon, &f, &err), -1);
	CHECK(strstr(err.msg, "upstream_ca_file") != NULL && strstr(err.msg, "upstream-ca.pem"));
	write_file(paths.config, "log_level: warn\n", 0600);
	CHECK_INT(kh_monitor_read_files(&mon, &f, &err), 0);
	CHECK(f.config.present && !f.mappings.present && f.mappings.text == NULL &&
	      !f.upstream_ca.present);
	kh_policy_files_free(&f);
	CHECK_INT(rename(path("mappings.away"), paths.mappings), 0);
	command_source("first-value");
}

/* RESOLV: /etc/resolv.conf and /etc/hosts copied for the resolver, which
 * the confined daemon may read where it may not read /etc. */
static void resolv_copies_the_system_files(void)
{
	struct kh_err err = { "" };
	char *got = NULL, *want = NULL, p[KH_MAX_PATH];
	size_t got_len = 0, want_len = 0;
	struct stat st;

	CHECK_INT(kh_monitor_copy_resolver_files(&mon, &err), 0);
	CHECK_INT(kh_resolvfiles_path(paths.resolver, "hosts", p, sizeof p), 0);
	CHECK_INT(kh_fs_read_file(p, 1u << 20, true, &got, &got_len, &err), 0);
	CHECK_INT(kh_fs_read_file("/etc/hosts", 1u << 20, false, &want, &want_len, &err), 0);
	CHECK(got != NULL && want != NULL && got_len == want_len &&
	      memcmp(got, want, got_len) == 0);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 077) == 0);
	CHECK(stat(paths.resolver, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 077) == 0);
	free(got);
	free(want);
}

static void environment_wiped(void)
{
	/* the test's own block holds it (main put it there): the check can fail */
	CHECK(environ_holds(getpid(), "value-from-start"));
	CHECK(!environ_holds(mon.pid, "value-from-start"));
}

static void owned_files_removed_at_the_end(void)
{
	struct kh_err err = { "" };

	write_file(paths.sock, "", 0600);
	write_file(paths.control, "", 0600);
	CHECK_INT(kh_monitor_owns(&mon, KH_MONITOR_OWN_PROXY_SOCK, &err), 0);
	kh_monitor_stop(&mon);
	CHECK(!kh_fs_exists(paths.sock));
	CHECK(kh_fs_exists(paths.control)); /* not the daemon's: left alone */
	CHECK_INT(mon.pid, 0);
}

int main(int argc, char **argv)
{
	struct kh_err err = { "" };

	(void)argc;
	/* The value a daemon is started with is in its environment block (not
	 * a setenv copy on the heap): start again with it there. */
	if (getenv("MON_KEY") == NULL) {
		char *envp[] = { "MON_KEY=value-from-start", "PATH=/usr/bin:/bin", NULL };

		execve("/proc/self/exe", argv, envp);
		return 1;
	}
	if (tmpdir_make("kh-monitor") != 0)
		return 1;
	setup();
	if (kh_monitor_start(&mon, &paths, &err) != 0) {
		printf("# %s\n", err.msg);
		return 1;
	}
	RUN(fetch_reads_the_config_now);
	RUN(fetch_refuses_what_is_not_a_name);
	RUN(fetch_reports_the_sources_failure);
	RUN(save_writes_grants_whole);
	RUN(save_is_served_while_a_fetch_runs);
	RUN(save_refuses_what_is_not_a_memfd);
	RUN(read_gives_the_files_as_they_are_now);
	RUN(resolv_copies_the_system_files);
	RUN(environment_wiped);
	RUN(owned_files_removed_at_the_end);
	if (tmpdir_remove() != 0)
		return 1;
	TAP_DONE();
}
