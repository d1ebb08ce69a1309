#include "daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "audit.h"
#include "ca.h"
#include "clock.h"
#include "config.h"
#include "fsutil.h"
#include "home.h"
#include "listener.h"
#include "mappings.h"
#include "resolver.h"
#include "secrets.h"
#include "tlsctx.h"
#include "version.h"
#include "worker.h"

struct daemon {
	struct kh_paths paths;
	struct kh_config cfg;
	struct kh_mappings maps;
	struct kh_secrets secrets;
	struct kh_shared sh;
	struct kh_worker workers[KH_MAX_WORKERS];
	unsigned n_workers, started;
	struct sockaddr_storage addrs[KH_MAX_LISTENERS + 1];
	socklen_t addrlens[KH_MAX_LISTENERS + 1];
	char addr_text[KH_MAX_LISTENERS + 1][64];
	size_t n_addrs;
	bool ca_created;
};

/* Nothing in this process may end up in a core file or be read through
 * /proc/<pid>/mem by other processes of the same user. */
static void harden_process(void)
{
	struct rlimit rl = { 0, 0 };

	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	setrlimit(RLIMIT_CORE, &rl);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max; /* every connection costs two descriptors */
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
}

static int load_config(struct daemon *d, const struct kh_daemon_opts *o, struct kh_err *err)
{
	enum kh_log_level lvl;

	if (kh_paths_resolve(&d->paths, o->home, o->config, err) != 0 ||
	    kh_config_load(d->paths.config, &d->cfg, err) != 0)
		return -1;
	kh_log_set_level(d->cfg.log_level);
	if (o->log_level != NULL) {
		if (kh_log_parse_level(o->log_level, &lvl) != 0) {
			kh_err_set(err, "--log-level must be debug, info, warn or error");
			return -1;
		}
		kh_log_set_level(lvl);
	}
	for (size_t i = 0; i < d->cfg.n_warnings; i++)
		kh_warn("%s", d->cfg.warnings[i]);
	return 0;
}

static int load_ca(struct daemon *d, struct kh_err *err)
{
	if (kh_fs_ensure_private_dir(d->paths.home, err) != 0 ||
	    kh_ca_ensure(d->paths.ca_crt, d->paths.ca_key, &d->ca_created, err) != 0)
		return -1;
	if (kh_ca_load(&d->sh.ca, d->paths.ca_crt, d->paths.ca_key, err) != 0) {
		kh_err_prefix(err, "CA");
		return -1;
	}
	return 0;
}

/* Real values come from this process's environment; the copies left in the
 * environment block are wiped right after. */
static int load_credentials(struct daemon *d, struct kh_err *err)
{
	const char *names[KH_MAX_TOKENS];
	bool existed;

	if (kh_mappings_load(d->paths.mappings, &d->maps, &existed, err) != 0)
		return -1;
	for (size_t i = 0; i < d->maps.n; i++)
		names[i] = d->maps.v[i].env_name;
	if (kh_secrets_load_env(&d->secrets, names, d->maps.n, err) != 0)
		return -1;
	kh_secrets_scrub_environ(names, d->maps.n);
	for (size_t i = 0; i < d->maps.n; i++)
		if (kh_secrets_get(&d->secrets, names[i], NULL) == NULL)
			kh_warn("%s is not set in keyhole's environment: requests using its proxy "
				"token will get 503", names[i]);
	return 0;
}

static int build_shared(struct daemon *d, struct kh_err *err)
{
	struct kh_shared *sh = &d->sh;

	pthread_mutex_init(&sh->policy_lock, NULL);
	sh->policy = kh_policy_build(&d->cfg, &d->maps, &d->secrets, err);
	if (sh->policy == NULL)
		return -1;
	sh->certs = kh_certcache_new(d->cfg.cert_cache_size);
	sh->server_ctx = kh_tls_server_ctx_new(err);
	if (sh->certs == NULL || sh->server_ctx == NULL)
		return -1;
	sh->client_ctx = kh_tls_client_ctx_new(d->cfg.upstream_ca_file, err);
	if (sh->client_ctx == NULL)
		return -1;
	return kh_audit_open(d->paths.audit, err);
}

/* 127.0.0.1:<tunnel_port> first, then every listen: entry. */
static void collect_addresses(struct daemon *d)
{
	struct sockaddr_in *lo = (struct sockaddr_in *)&d->addrs[0];

	memset(lo, 0, sizeof *lo);
	lo->sin_family = AF_INET;
	lo->sin_port = htons(d->cfg.tunnel_port);
	lo->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d->addrlens[0] = sizeof *lo;
	d->n_addrs = 1;
	for (size_t i = 0; i < d->cfg.n_listen; i++) {
		d->addrs[d->n_addrs] = d->cfg.listen[i].addr;
		d->addrlens[d->n_addrs++] = d->cfg.listen[i].addrlen;
	}
}

static unsigned worker_count(const struct kh_config *cfg)
{
	long n = cfg->workers ? (long)cfg->workers : sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > KH_MAX_WORKERS ? KH_MAX_WORKERS : (unsigned)n;
}

static int open_workers(struct daemon *d, struct kh_err *err)
{
	collect_addresses(d);
	for (size_t a = 0; a < d->n_addrs; a++) {
		kh_listen_format(&d->addrs[a], d->addr_text[a], sizeof d->addr_text[a]);
		if (kh_listen_probe(&d->addrs[a], d->addrlens[a], d->addr_text[a], err) != 0)
			return -1;
		kh_listen_format(&d->addrs[a], d->addr_text[a], sizeof d->addr_text[a]);
	}
	d->n_workers = worker_count(&d->cfg);
	for (unsigned i = 0; i < d->n_workers; i++) {
		int fds[KH_MAX_LISTENERS + 1];

		for (size_t a = 0; a < d->n_addrs; a++) {
			fds[a] = kh_listen_open(&d->addrs[a], d->addrlens[a], d->addr_text[a], err);
			if (fds[a] < 0) {
				while (a-- > 0)
					close(fds[a]);
				return -1;
			}
		}
		if (kh_worker_init(&d->workers[i], i, &d->sh, fds, d->n_addrs, err) != 0)
			return -1;
	}
	return 0;
}

static void print_banner(const struct daemon *d)
{
	const struct kh_policy *p = d->sh.policy;
	size_t loaded = 0;

	for (size_t i = 0; i < p->n_creds; i++)
		loaded += p->creds[i].secret != NULL;
	for (size_t a = 0; a < d->n_addrs; a++)
		kh_info("listening on %s", d->addr_text[a]);
	kh_info("keyhole %s: %u worker(s); CA %s%s; %zu allowed host pattern(s); %zu deny range(s); "
		"%zu credential(s) (%zu loaded)", KH_VERSION, d->n_workers, d->paths.ca_crt,
		d->ca_created ? " (created now)" : "", p->n_allow, p->n_deny, p->n_creds, loaded);
	if (p->n_creds == 0)
		kh_info("no keys configured yet: export your provider keys (e.g. OPENAI_API_KEY) "
			"and run `keyhole setup`, then restart");
	kh_info("point a client at it: HTTPS_PROXY=http://%s SSL_CERT_FILE=%s "
		"(or: curl --proxy http://%s --cacert %s https://api.openai.com/)",
		d->addr_text[0], d->paths.ca_crt, d->addr_text[0], d->paths.ca_crt);
}

static int start_all(struct daemon *d, struct kh_err *err)
{
	if (kh_resolver_start(KH_RESOLVER_THREADS, err) != 0)
		return -1;
	for (unsigned i = 0; i < d->n_workers; i++) {
		if (kh_worker_start(&d->workers[i], err) != 0)
			return -1;
		d->started++;
	}
	return 0;
}

/* Waits for a stop signal; SIGHUP is acknowledged but not yet acted on. */
static void wait_for_stop(const sigset_t *set, unsigned grace)
{
	for (;;) {
		int sig = 0;

		if (sigwait(set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			kh_warn("SIGHUP: live reload is not implemented yet; restart keyhole to apply "
				"changes");
			continue;
		}
		kh_info("%s: stopping (in-flight requests get up to %u s)",
			sig == SIGINT ? "SIGINT" : "SIGTERM", grace);
		return;
	}
}

static void stop_all(struct daemon *d)
{
	d->sh.stop_deadline_ms = kh_mono_ms() + (uint64_t)d->cfg.timeouts.shutdown_grace * 1000u;
	atomic_store(&d->sh.stopping, true);
	for (unsigned i = 0; i < d->started; i++)
		kh_worker_wake(&d->workers[i]);
	for (unsigned i = 0; i < d->started; i++)
		kh_worker_join(&d->workers[i]);
	kh_resolver_stop();
}

static void free_all(struct daemon *d)
{
	kh_audit_close();
	kh_policy_unref(d->sh.policy);
	SSL_CTX_free(d->sh.server_ctx);
	SSL_CTX_free(d->sh.client_ctx);
	kh_certcache_free(d->sh.certs);
	kh_ca_free(&d->sh.ca);
	kh_secrets_free(&d->secrets);
	kh_mappings_free(&d->maps);
	kh_config_free(&d->cfg);
}

int kh_daemon_run(const struct kh_daemon_opts *opts)
{
	static struct daemon d; /* large; one per process */
	struct kh_err err = { "" };
	sigset_t set;
	int rc = 1;

	harden_process();
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* workers inherit it; only sigwait sees them */
	if (load_config(&d, opts, &err) != 0 || load_ca(&d, &err) != 0 ||
	    load_credentials(&d, &err) != 0 || build_shared(&d, &err) != 0 ||
	    open_workers(&d, &err) != 0 || start_all(&d, &err) != 0) {
		fprintf(stderr, "keyhole: %s\n", err.msg);
		stop_all(&d);
		goto out;
	}
	print_banner(&d);
	wait_for_stop(&set, d.cfg.timeouts.shutdown_grace);
	stop_all(&d);
	kh_info("stopped");
	rc = 0;
out:
	free_all(&d);
	return rc;
}
