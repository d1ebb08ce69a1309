#include "proxy/daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "proxy/audit.h"
#include "proxy/auditgate.h"
#include "proxy/bridgewatch.h"
#include "tls/ca.h"
#include "base/clock.h"
#include "policy/config.h"
#include "credsrc/credsrc.h"
#include "proxy/ctl_server.h"
#include "proxy/fronts.h"
#include "base/fsutil.h"
#include "policy/grants.h"
#include "base/home.h"
#include "event/listener.h"
#include "policy/mappings.h"
#include "policy/policyfiles.h"
#include "proxy/metrics.h"
#include "proxy/metrics_server.h"
#include "proxy/monitor.h"
#include "proxy/ownerwatch.h"
#include "policy/providers.h"
#include "privsep/confine.h"
#include "policy/resolver.h"
#include "policy/resolvfiles.h"
#include "secret/secrets.h"
#include "tls/tlsctx.h"
#include "base/version.h"
#include "proxy/worker.h"

struct daemon {
	struct kh_paths paths;
	struct kh_config cfg;
	struct kh_shared sh;
	struct kh_worker workers[KH_MAX_WORKERS];
	unsigned n_workers, started;
	struct sockaddr_storage addrs[KH_MAX_LISTENERS + 1];
	socklen_t addrlens[KH_MAX_LISTENERS + 1];
	char addr_text[KH_MAX_LISTENERS + 1][64];
	size_t n_addrs;
	struct kh_bridgewatch bridges; /* docker0 / podman0 listeners, as they come and go */
	bool bridges_open;
	int unix_fds[3]; /* proxy.sock, tls.sock, http.sock (by kh_listen_kind); -1 if off */
	struct kh_metrics_server *metrics; /* NULL when metrics_listen: off */
	struct kh_ctl_server *ctl; /* control.sock: sandbox tokens */
	struct kh_grants grants;
	struct kh_ownerwatch owners; /* revokes a dead wrapper's tokens */
	bool owners_open;
	/* What the running policy was built from, for rebuilding it when a
	 * sandbox token is issued. build_lock serialises every build. */
	pthread_mutex_t build_lock;
	struct kh_config live_cfg;
	struct kh_mappings live_maps;
	/* config.yaml's and mappings.json's bytes live_cfg and live_maps came
	 * from, which the fronts get (the CA bundle's are dropped once used) */
	struct kh_policy_files live_files;
	char metrics_addr[64];
	bool metrics_published; /* keyhole.metrics is ours to remove */
	bool ca_created;
	/* privsep: true: the fronts are processes (fronts.h); the workers here
	 * serve only the streams they send */
	struct kh_fronts fronts;
	bool fronts_on;
	bool fronts_failed; /* the signer or a front did not start: say what to do */
	/* What this process still needs done once confined (monitor.h), and
	 * the confinement it applied when it had started everything */
	struct kh_monitor monitor;
	struct kh_confine_report confined;
	bool is_confined;
	bool monitor_lost; /* said once */
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
	/* 0, 1 and 2 open (to /dev/null when closed): else the first sockets
	 * and pipes would take those numbers, and a child's stdio set up over
	 * them (childlog.h) would close one of its own descriptors. */
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			break;
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

/* privsep: true: the CA pair is made, when missing, in a child of its own
 * (fork, no exec: it ends before any thread starts), so not even the key
 * just created ever sits in the daemon's memory; only the CA signer
 * process reads ca.key (signerctl.h). The child's message comes back on a
 * pipe. */
static int ensure_ca_apart(struct daemon *d, struct kh_err *err)
{
	char back[1 + KH_ERR_MAX]; /* created (0 or 1), then the error text */
	size_t got = 0;
	ssize_t n = 0;
	int p[2], status = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) != 0 || (pid = fork()) < 0) {
		kh_err_set(err, "cannot make the CA: %s", kh_strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int rc = kh_ca_ensure(d->paths.ca_crt, d->paths.ca_key, &d->ca_created, err);

		back[0] = (char)d->ca_created;
		kh_fmt(back + 1, sizeof back - 1, "%s", err->msg);
		(void)!write(p[1], back, 1 + strlen(back + 1));
		_exit(rc == 0 ? 0 : 1);
	}
	close(p[1]);
	while (got < sizeof back - 1 && ((n = read(p[0], back + got, sizeof back - 1 - got)) > 0 ||
					 (n < 0 && errno == EINTR)))
		got += n > 0 ? (size_t)n : 0;
	close(p[0]);
	back[got] = '\0';
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		kh_err_set(err, "%s", got > 1 ? back + 1 : "cannot make the CA");
		return -1;
	}
	d->ca_created = got > 0 && back[0] == 1;
	return 0;
}

static int load_ca(struct daemon *d, struct kh_err *err)
{
	if (kh_fs_ensure_private_dir(d->paths.home, err) != 0)
		return -1;
	if (d->cfg.privsep) {
		if (ensure_ca_apart(d, err) != 0)
			return -1;
		if (kh_ca_load_cert(&d->sh.ca, d->paths.ca_crt, err) != 0) {
			kh_err_prefix(err, "CA");
			return -1;
		}
		return 0;
	}
	if (kh_ca_ensure(d->paths.ca_crt, d->paths.ca_key, &d->ca_created, err) != 0)
		return -1;
	if (kh_ca_load(&d->sh.ca, d->paths.ca_crt, d->paths.ca_key, err) != 0) {
		kh_err_prefix(err, "CA");
		return -1;
	}
	return 0;
}

/* Copies the values of names from a, then (for names a lacks) from b. */
static int merge_secrets(struct kh_secrets *out, const char *const *names, size_t n,
			 const struct kh_secrets *a, const struct kh_secrets *b, struct kh_err *err)
{
	if (kh_secrets_init(out, (a ? a->used : 0) + (b ? b->used : 0), n, err) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct kh_secrets *from[2] = { a, b };

		for (int k = 0; k < 2; k++) {
			size_t len;
			const char *v = from[k] ? kh_secrets_get(from[k], names[i], &len) : NULL;

			if (v == NULL)
				continue;
			if (kh_secrets_add(out, names[i], v, len, err) != 0) {
				kh_secrets_free(out);
				return -1;
			}
			break;
		}
	}
	return 0;
}

/* The real values for names. At start: this process's environment (where
 * `keyhole start` put them), then the configured source for any still
 * missing. On reload (prev set): the configured source again, so a rotated
 * key arrives; the environment cannot change, so for credential_source env
 * (and for values a source no longer offers) the previous values stay. */
static int load_secrets(struct daemon *d, const struct kh_config *cfg, const char *const *names,
			size_t n, const struct kh_policy *prev, struct kh_secrets *out,
			struct kh_err *err)
{
	struct kh_secrets first = { 0 }, fetched = { 0 };
	int rc;

	if (prev == NULL && kh_secrets_load_env(&first, names, n, err) != 0)
		return -1;
	if (!kh_credsrc_of(cfg)->reads_environ) {
		/* once started, this process runs no program: its monitor does */
		if ((prev != NULL ? kh_monitor_fetch(&d->monitor, names, n, &fetched, err)
				  : kh_credsrc_fetch(cfg, names, n, &fetched, err)) != 0) {
			kh_secrets_free(&first);
			return -1;
		}
	}
	rc = merge_secrets(out, names, n, prev ? &fetched : &first,
			   prev ? &prev->secrets : &fetched, err);
	kh_secrets_free(&first);
	kh_secrets_free(&fetched);
	return rc;
}

static void warn_missing(const struct kh_policy *p)
{
	for (size_t i = 0; i < p->n_creds; i++)
		if (p->creds[i].secret == NULL && p->creds[i].grant == NULL)
			kh_warn("%s has no value (not set in keyhole's environment or credential "
				"source): "
				"requests using its proxy token will get 503",
				p->creds[i].env_name);
}

/* Builds a complete snapshot from the policy files (and the grants), and
 * hands back the mappings it was built from in *maps. */
static struct kh_policy *load_policy(struct daemon *d, const struct kh_config *cfg,
				     const struct kh_policy_files *files,
				     const struct kh_policy *prev, struct kh_mappings *maps_out,
				     struct kh_err *err)
{
	const char *names[KH_MAX_TOKENS];
	struct kh_mappings maps;
	struct kh_secrets secrets = { 0 };
	struct kh_policy *p = NULL;
	SSL_CTX *ctx = NULL;

	if (kh_policy_files_mappings(files, d->paths.mappings, &maps, err) != 0)
		return NULL;
	kh_mappings_env_names(&maps, names);
	if (load_secrets(d, cfg, names, maps.n, prev, &secrets, err) != 0)
		goto out;
	if (prev == NULL) {
		kh_secrets_scrub_environ(names, maps.n);
		kh_credsrc_drop_access_env(cfg); /* the monitor fetches on reload */
	}
	ctx = kh_tls_client_ctx_new_pem(cfg->upstream_ca_file, files->upstream_ca.text,
					files->upstream_ca.len, err);
	if (ctx == NULL) {
		kh_secrets_free(&secrets);
		goto out;
	}
	pthread_mutex_lock(&d->grants.lock);
	p = kh_policy_build_with_grants(cfg, &maps, &secrets, ctx, &d->grants, err);
	pthread_mutex_unlock(&d->grants.lock);
	if (p != NULL) {
		warn_missing(p);
		*maps_out = maps;
		memset(&maps, 0, sizeof maps);
	}
out:
	SSL_CTX_free(ctx);
	kh_mappings_free(&maps);
	return p;
}

/* kh_grants write_fn: this process writes no file once confined. */
static int save_grants_text(void *arg, const char *text, size_t len, struct kh_err *err)
{
	struct daemon *d = arg;

	return kh_monitor_save_grants(&d->monitor, text, len, err);
}

/* files become live_files (the previous ones are freed); the CA bundle's
 * bytes are not kept: its certificates are in the policy's client context. */
static void keep_files(struct daemon *d, struct kh_policy_files *files)
{
	struct kh_policy_file ca = files->upstream_ca;

	kh_policy_files_free(&d->live_files);
	d->live_files = *files;
	d->live_files.upstream_ca = (struct kh_policy_file){ 0 };
	free(ca.text);
	*files = (struct kh_policy_files){ 0 };
}

static int build_shared(struct daemon *d, struct kh_err *err)
{
	struct kh_shared *sh = &d->sh;
	struct kh_policy_files files;

	pthread_mutex_init(&sh->policy_lock, NULL);
	pthread_mutex_init(&sh->bridge_lock, NULL);
	pthread_mutex_init(&d->build_lock, NULL);
	if (kh_grants_init(&d->grants, KH_MAX_GRANTS, d->paths.grants, (int64_t)time(NULL), err) !=
	    0)
		return -1;
	d->grants.write_fn = save_grants_text;
	d->grants.write_arg = d;
	/* read here, before confinement; a reload's come from the monitor */
	if (kh_policy_files_read(&d->paths, &files, err) != 0)
		return -1;
	sh->grants = &d->grants;
	if (kh_policy_files_config(&files, d->paths.config, &d->live_cfg, err) == 0)
		sh->policy = load_policy(d, &d->live_cfg, &files, NULL, &d->live_maps, err);
	keep_files(d, &files);
	if (sh->policy == NULL)
		return -1;
	sh->certs = kh_certcache_new(d->cfg.cert_cache_size);
	sh->server_ctx = kh_tls_server_ctx_new(err);
	if (sh->certs == NULL || sh->server_ctx == NULL)
		return -1;
	return kh_audit_open(d->paths.audit, err);
}

/* --- sandbox tokens (control socket) --- */

static bool wanted(const struct kh_mapping *m, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (kh_mapping_named(m, names[i]))
			return true;
	return n == 0;
}

/* Every name must stand for a mapping keyhole can issue for. */
static int check_names(const struct kh_mappings *maps, const char *const *names, size_t n,
		       struct kh_err *err)
{
	for (size_t i = 0; i < n; i++) {
		bool found = false;

		for (size_t k = 0; k < maps->n && !found; k++)
			found = kh_mapping_named(&maps->v[k], names[i]) &&
				!kh_provider_is_sigv4(maps->v[k].env_name);
		if (!found) {
			kh_err_set(err,
				   "no mapping for \"%.64s\" that sandbox tokens can stand for "
				   "(AWS keys are re-signed, not swapped; see keyhole status)",
				   names[i]);
			return -1;
		}
	}
	return 0;
}

/* A new snapshot from the running one's inputs (same config, mappings and
 * real values: nothing is read from disk or the credential source) plus the
 * grants as they are now. The caller holds build_lock. */
static int rebuild_for_grants(struct daemon *d, struct kh_err *err)
{
	const char *names[KH_MAX_TOKENS];
	struct kh_policy *cur = kh_shared_policy(&d->sh), *p = NULL;
	struct kh_secrets s = { 0 };

	kh_mappings_env_names(&d->live_maps, names);
	if (merge_secrets(&s, names, d->live_maps.n, &cur->secrets, NULL, err) == 0) {
		pthread_mutex_lock(&d->grants.lock);
		p = kh_policy_build_with_grants(&d->live_cfg, &d->live_maps, &s, cur->client_ctx,
						&d->grants, err);
		pthread_mutex_unlock(&d->grants.lock);
	}
	kh_policy_unref(cur);
	if (p == NULL)
		return -1;
	kh_shared_set_policy(&d->sh, p);
	if (d->fronts_on &&
	    kh_fronts_send_policy(&d->fronts, &d->live_files, err) != 0) /* the new tokens */
		kh_error("sandbox tokens: the fronts keep their previous policy: %s", err->msg);
	return 0;
}

/* This process's own confinement, and its monitor. */
static json_t *keyholder_json(const struct daemon *d)
{
	const struct kh_confine_report *r = &d->confined;

	return json_pack("{s:i, s:i, s:b, s:b, s:b, s:i, s:s?}", "pid", (int)getpid(),
			 "monitor_pid", (int)d->monitor.pid, "confined", d->is_confined,
			 "no_new_privs", r->no_new_privs, "seccomp", r->seccomp, "landlock_abi",
			 r->landlock_abi, "capabilities",
			 r->caps_limited ? KH_KEYHOLDER_CAPS
			 : r->caps_none  ? "none"
					 : NULL);
}

/* kh_ctl_status_fn: which fronts run as processes, and how confined; the
 * loopback port bound (`keyhole status` probes it: with tunnel_port 0 the
 * config does not say which). */
static json_t *privsep_status(void *arg)
{
	struct daemon *d = arg;
	uint16_t port = ntohs(((struct sockaddr_in *)&d->addrs[0])->sin_port);

	return json_pack("{s:o, s:i, s:o}", "privsep",
			 kh_fronts_status_json(d->fronts_on ? &d->fronts : NULL), "port", (int)port,
			 "keyholder", keyholder_json(d));
}

/* kh_ctl_issue_fn: one grant per wanted mapping (one per env name), then a
 * policy that knows them; on any failure the ones issued are revoked. */
static int issue_grants(void *arg, const struct kh_grant_req *r, const char *const *names,
			size_t n_names, struct kh_grant **out, size_t cap, size_t *n,
			struct kh_err *err)
{
	struct daemon *d = arg;
	int64_t now = (int64_t)time(NULL);
	bool watched = false;
	int rc = -1;

	*n = 0;
	pthread_mutex_lock(&d->build_lock);
	/* The watch comes first, so a dead owner gets nothing issued; an issue
	 * that fails after it forgets it (below). */
	if (check_names(&d->live_maps, names, n_names, err) != 0)
		goto out;
	if (r->owner > 0 && kh_ownerwatch_add(&d->owners, r->owner, r->label, err) != 0)
		goto out;
	watched = r->owner > 0;
	for (size_t i = 0; i < d->live_maps.n; i++) {
		const struct kh_mapping *m = &d->live_maps.v[i];
		bool dup = false;

		for (size_t k = 0; k < *n && !dup; k++)
			dup = strcmp(out[k]->env_name, m->env_name) == 0;
		if (dup || kh_provider_is_sigv4(m->env_name) || !wanted(m, names, n_names))
			continue;
		if (*n == cap || kh_grants_issue(&d->grants, m, r, now, &out[*n], err) != 0)
			goto undo;
		(*n)++;
	}
	if (*n == 0) {
		kh_err_set(err, "no credentials to issue sandbox tokens for: run `keyhole setup` "
				"with your provider keys exported first");
		goto undo;
	}
	if (rebuild_for_grants(d, err) == 0) {
		kh_info("control: issued %zu sandbox token(s) to sandbox %s%s", *n, r->label,
			r->owner > 0 ? " (revoked when its owner exits)" : "");
		rc = 0;
		goto out;
	}
undo:
	for (size_t k = 0; k < *n; k++)
		kh_grants_revoke(&d->grants, out[k]->token, NULL, now, &(struct kh_err){ "" });
	*n = 0;
	if (watched)
		kh_ownerwatch_forget(&d->owners, r->owner, r->label);
out:
	pthread_mutex_unlock(&d->build_lock);
	return rc;
}

static int open_control(struct daemon *d, struct kh_err *err)
{
	if (kh_ownerwatch_init(&d->owners, &d->grants, err) != 0)
		return -1;
	d->owners_open = true;
	d->ctl = kh_ctl_server_open(d->paths.control, &d->grants, issue_grants, d, err);
	if (d->ctl != NULL)
		kh_ctl_server_set_status(d->ctl, privsep_status);
	return d->ctl != NULL ? 0 : -1;
}

/* Settings a running daemon cannot change: say so instead of ignoring them. */
static void warn_restart_needed(const struct kh_config *old, const struct kh_config *now)
{
	if (old->tunnel_port != now->tunnel_port || old->n_listen != now->n_listen ||
	    old->workers != now->workers || old->cert_cache_size != now->cert_cache_size ||
	    old->busy_poll_us != now->busy_poll_us ||
	    old->metrics_enabled != now->metrics_enabled ||
	    old->sandbox_token_save_interval != now->sandbox_token_save_interval ||
	    old->privsep != now->privsep ||
	    strcmp(old->metrics_listen.text, now->metrics_listen.text) != 0)
		kh_warn("reload: tunnel_port, listen, metrics_listen, workers, busy_poll_us, "
			"cert_cache_size, sandbox_tokens.save_interval and privsep take effect "
			"only after a restart (keyhole stop && keyhole start)");
}

/* SIGHUP: re-read config.yaml, mappings.json and the credential source into a
 * new snapshot; on any error the running one stays in force. The files come
 * from the monitor: this process, confined, cannot open them. */
static void reload(struct daemon *d)
{
	struct kh_config cfg = { 0 }; /* filled by kh_policy_files_config (defaults first) */
	struct kh_mappings maps = { 0 };
	struct kh_policy_files files = { 0 };
	struct kh_policy *cur, *p = NULL;
	struct kh_err err = { "" };

	pthread_mutex_lock(&d->build_lock);
	cur = kh_shared_policy(&d->sh);
	if (kh_monitor_read_files(&d->monitor, &files, &err) == 0 &&
	    kh_policy_files_config(&files, d->paths.config, &cfg, &err) == 0)
		p = load_policy(d, &cfg, &files, cur, &maps, &err);
	kh_policy_unref(cur);
	if (p == NULL) {
		pthread_mutex_unlock(&d->build_lock);
		kh_policy_files_free(&files);
		kh_error("reload failed: %s; the previous configuration stays in force", err.msg);
		kh_metrics_count_reload(false);
		kh_config_free(&cfg);
		return;
	}
	kh_metrics_count_reload(true);
	warn_restart_needed(&d->cfg, &cfg);
	kh_log_set_level(cfg.log_level);
	kh_resolver_configure(cfg.dns_servers, cfg.n_dns_servers);
	kh_shared_set_policy(&d->sh, p);
	kh_config_free(&d->live_cfg);
	kh_mappings_free(&d->live_maps);
	d->live_cfg = cfg; /* now owned by the daemon */
	d->live_maps = maps;
	keep_files(d, &files);
	if (d->fronts_on && kh_fronts_send_policy(&d->fronts, &d->live_files, &err) != 0)
		kh_error("reload: the fronts keep their previous policy: %s", err.msg);
	pthread_mutex_unlock(&d->build_lock);
	if (d->bridges_open) /* in case a netlink event was missed */
		kh_bridgewatch_check(&d->bridges);
	kh_info("reload: ok (%zu credential(s), %zu allowed host pattern(s), %zu deny range(s))",
		p->n_creds - p->n_grant_creds, p->n_allow, p->n_deny);
}

/* 127.0.0.1:<tunnel_port> first, then every listen: entry (container
 * bridges are kh_bridgewatch's). */
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

static const char *unix_path(const struct daemon *d, int kind)
{
	return kind == KH_LISTEN_PROXY             ? d->paths.sock
	       : kind == KH_LISTEN_TRANSPARENT_TLS ? d->paths.tls_sock
						   : d->paths.http_sock;
}

/* The Unix sockets sandboxes reach the daemon through: the proxy protocol,
 * and the transparent TLS and HTTP entries their ports 443/80 lead to. */
static int open_unix(struct daemon *d, struct kh_err *err)
{
	for (int k = 0; k < 3; k++) {
		if (!d->cfg.listen_unix)
			continue;
		d->unix_fds[k] = kh_listen_unix(unix_path(d, k), err);
		if (d->unix_fds[k] < 0)
			return -1;
	}
	return 0;
}

static int add_unix(struct daemon *d, struct kh_worker *w, struct kh_err *err)
{
	for (int k = 0; k < 3; k++)
		if (d->unix_fds[k] >= 0 &&
		    kh_worker_add_shared(w, d->unix_fds[k], (enum kh_listen_kind)k, err) != 0)
			return -1;
	return 0;
}

/* kh_bridge_sink_fn with privsep: true: the fronts accept on the bridges. */
static void bridge_to_fronts(void *arg, size_t slot, int fd)
{
	kh_fronts_set_bridge(arg, slot, fd);
}

/* Container bridges get the loopback port (also when tunnel_port is 0).
 * This process watches them and opens their listeners either way (a front
 * may not make a socket); the workers accept on them, or with privsep:
 * true every front does. */
static int open_bridges(struct daemon *d, struct kh_err *err)
{
	uint16_t port = ntohs(((struct sockaddr_in *)&d->addrs[0])->sin_port);
	int rc;

	if (!d->cfg.listen_docker_bridge)
		return 0;
	if (d->fronts_on)
		rc = kh_bridgewatch_open(&d->bridges, &d->sh, NULL, 0, bridge_to_fronts, &d->fronts,
					 port, d->addrs + 1, d->n_addrs - 1, err);
	else
		rc = kh_bridgewatch_open(&d->bridges, &d->sh, d->workers, d->n_workers, NULL, NULL,
					 port, d->addrs + 1, d->n_addrs - 1, err);
	if (rc != 0)
		return -1;
	d->bridges_open = true;
	return 0;
}

static int tcp_fds[KH_MAX_WORKERS][KH_MAX_LISTENERS + 1]; /* per worker, at start */

/* privsep: true: front i gets worker i's listeners (and the Unix ones; the
 * container bridges' come over its channel, open_bridges). */
static int open_fronts(struct daemon *d, struct kh_err *err)
{
	if (kh_fronts_init(&d->fronts, d->workers, d->n_workers, tcp_fds, d->n_addrs, d->unix_fds,
			   &d->paths, &d->sh, err) != 0)
		return -1;
	d->fronts_on = true;
	return 0;
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
	if (open_unix(d, err) != 0)
		return -1;
	d->n_workers = worker_count(&d->cfg);
	for (unsigned i = 0; i < d->n_workers; i++) {
		int *fds = tcp_fds[i];

		for (size_t a = 0; a < d->n_addrs; a++) {
			fds[a] = kh_listen_open(&d->addrs[a], d->addrlens[a], d->addr_text[a], err);
			if (fds[a] < 0) {
				while (a-- > 0)
					close(fds[a]);
				return -1;
			}
		}
		if (d->cfg.privsep) { /* the listeners are front i's, the worker serves its streams */
			if (kh_worker_init(&d->workers[i], i, &d->sh, NULL, 0, err) != 0)
				return -1;
		} else if (kh_worker_init(&d->workers[i], i, &d->sh, fds, d->n_addrs, err) != 0 ||
			   add_unix(d, &d->workers[i], err) != 0) {
			return -1;
		}
		kh_loop_set_busy_poll(d->workers[i].cx.loop, d->cfg.busy_poll_us);
	}
	if (d->cfg.privsep && open_fronts(d, err) != 0)
		return -1;
	return open_bridges(d, err);
}

/* Runs on the metrics thread at each scrape: only atomic reads and the leaf
 * cache's own short lock, never anything a worker waits on for long. */
static void metrics_gauges(void *arg, struct kh_metrics_gauges *g)
{
	struct daemon *d = arg;

	g->active_connections = atomic_load(&d->sh.n_conns);
	g->workers = d->n_workers;
	if (d->fronts_on) {
		g->have_fronts = true;
		g->fronts = kh_fronts_running(&d->fronts);
		g->front_restarts = atomic_load(&d->fronts.restarts);
		g->signer_restarts = atomic_load(&d->fronts.signer.restarts_total);
		g->signer_hangs = atomic_load(&d->fronts.signer.hangs_total);
		g->front_connections = kh_fronts_connections(&d->fronts);
	}
	/* privsep: true: the leaves are the fronts' (each its own key and
	 * cache) and the signer's; this process mints none, so it shows none */
	g->have_certs = d->sh.certs != NULL && !d->fronts_on;
	if (g->have_certs)
		kh_certcache_stats(d->sh.certs, &g->certs);
}

/* Binds metrics_listen and publishes the bound address in keyhole.metrics,
 * where `keyhole status` finds it (the port is ephemeral by default). */
static int open_metrics(struct daemon *d, struct kh_err *err)
{
	char line[80];
	int n;

	if (!d->cfg.metrics_enabled)
		return 0;
	d->metrics = kh_metrics_server_open(&d->cfg.metrics_listen.addr,
					    d->cfg.metrics_listen.addrlen, metrics_gauges, d,
					    d->metrics_addr, sizeof d->metrics_addr, err);
	if (d->metrics == NULL)
		return -1;
	n = snprintf(line, sizeof line, "%s\n", d->metrics_addr);
	if (kh_fs_write_atomic(d->paths.metrics, line, (size_t)n, 0600, err) != 0) {
		kh_err_prefix(err, "metrics address file");
		return -1;
	}
	d->metrics_published = true;
	return 0;
}

static void print_banner(const struct daemon *d)
{
	const struct kh_policy *p = d->sh.policy;
	size_t loaded = 0;

	for (size_t i = 0; i < p->n_creds; i++)
		loaded += p->creds[i].secret != NULL && p->creds[i].grant == NULL;
	for (size_t a = 0; a < d->n_addrs; a++)
		kh_info("listening on %s", d->addr_text[a]);
	if (d->metrics != NULL)
		kh_info("metrics on http://%s/metrics (and /healthz)", d->metrics_addr);
	if (d->unix_fds[KH_LISTEN_PROXY] >= 0)
		kh_info("listening on unix:%s and tls.sock/http.sock (for keyhole sandbox)",
			d->paths.sock);
	kh_info("keyhole %s: %u worker(s); CA %s%s; %zu allowed host pattern(s); %zu deny "
		"range(s); "
		"%zu credential(s) (%zu loaded)",
		KH_VERSION, d->n_workers, d->paths.ca_crt, d->ca_created ? " (created now)" : "",
		p->n_allow, p->n_deny, p->n_creds - p->n_grant_creds, loaded);
	if (p->n_creds == 0)
		kh_info("no keys configured yet: export your provider keys (e.g. OPENAI_API_KEY) "
			"and run `keyhole setup`, then restart");
	kh_info("point a client at it: HTTPS_PROXY=http://%s SSL_CERT_FILE=%s "
		"(or: curl --proxy http://%s --cacert %s https://api.openai.com/)",
		d->addr_text[0], d->paths.ca_crt, d->addr_text[0], d->paths.ca_crt);
}

/* Which of its files the monitor removes once this process has ended. */
static unsigned owned_files(const struct daemon *d)
{
	unsigned m = d->ctl != NULL ? KH_MONITOR_OWN_CONTROL : 0;

	for (int k = 0; k < 3; k++)
		if (d->unix_fds[k] >= 0)
			m |= KH_MONITOR_OWN_PROXY_SOCK << k;
	return m | (d->metrics_published ? KH_MONITOR_OWN_METRICS : 0);
}

/* The resolver's kh_resolver_use_copies refresh (on its thread): the
 * monitor copies them. Said once per failing streak; busy is not a failure
 * (the resolver asks again at its next check). */
static int copy_resolver_files(void *arg)
{
	static bool warned;
	struct daemon *d = arg;
	struct kh_err err = { "" };
	int rc = kh_monitor_copy_resolver_files(&d->monitor, &err);

	if (rc == 0)
		warned = false;
	else if (rc < 0 && !warned) {
		kh_warn("resolver: /etc/hosts or /etc/resolv.conf changed and could not be copied "
			"for the resolver (%s); the previous copy stays in use, tried again every "
			"few seconds",
			err.msg);
		warned = true;
	}
	return rc == 0 ? 0 : -1;
}

/* The resolver reads copies of /etc/resolv.conf and /etc/hosts, made now
 * while this process may still write, and by its monitor afterwards. */
static int resolver_copies(struct daemon *d, struct kh_err *err)
{
	if (kh_resolver_use_copies(d->paths.resolver, copy_resolver_files, d) != 0) {
		kh_err_set(err, "%s: path too long", d->paths.resolver);
		return -1;
	}
	if (kh_resolvfiles_copy(d->paths.resolver, err) != 0) {
		kh_err_prefix(err, "cannot copy the resolver's files");
		return -1;
	}
	return 0;
}

/* What it may read besides the system's files: OpenSSL's trust store and
 * configuration, and the resolver's copies. */
static const char *const *keyholder_reads(const struct daemon *d)
{
	static const char *v[KH_TRUST_PATHS_MAX + 2];
	const char *const *trust = kh_tls_trust_paths();
	size_t n = 0;

	while (trust[n] != NULL) {
		v[n] = trust[n];
		n++;
	}
	v[n++] = d->paths.resolver;
	v[n] = NULL;
	return v;
}

/* Everything this process opens by path is open now, and no thread runs
 * yet (every one it starts inherits the confinement): from here on it reads
 * only the system's files (and the resolver's copies, made here) but writes
 * none and execs nothing but keyhole (a front, the signer). What it still
 * needs read, written or run, its monitor does. */
static int confine_self(struct daemon *d, struct kh_err *err)
{
	if (kh_monitor_owns(&d->monitor, owned_files(d), err) != 0 || resolver_copies(d, err) != 0)
		return -1;
	if (kh_confine_keyholder(keyholder_reads(d), &d->confined, err) != 0) {
		kh_err_prefix(err, "cannot confine the daemon");
		return -1;
	}
	d->is_confined = true;
	if (d->confined.landlock_abi <= 0)
		kh_warn("landlock is unavailable on this kernel: the daemon, which holds the "
			"keys, can still write files and run programs if it is taken over");
	return 0;
}

static int start_all(struct daemon *d, struct kh_err *err)
{
	if (confine_self(d, err) != 0)
		return -1;
	if (kh_resolver_start(d->cfg.dns_servers, d->cfg.n_dns_servers, err) != 0)
		return -1;
	for (unsigned i = 0; i < d->n_workers; i++) {
		if (kh_worker_start(&d->workers[i], err) != 0)
			return -1;
		d->started++;
	}
	if (d->fronts_on && kh_fronts_start(&d->fronts, &d->live_files, err) != 0) {
		d->fronts_failed = true;
		return -1;
	}
	if (d->bridges_open && kh_bridgewatch_start(&d->bridges, err) != 0)
		return -1;
	if (kh_ownerwatch_start(&d->owners, err) != 0 || kh_ctl_server_start(d->ctl, err) != 0 ||
	    kh_grants_autosave_start(&d->grants, d->cfg.sandbox_token_save_interval * 1000u, err) !=
		    0)
		return -1;
	return d->metrics != NULL ? kh_metrics_server_start(d->metrics, err) : 0;
}

/* A monitor that died is not started again (it is the copy of this
 * process from before its keys): say once what no longer works. */
static void watch_monitor(struct daemon *d)
{
	if (d->monitor_lost || kh_monitor_alive(&d->monitor))
		return;
	d->monitor_lost = true;
	kh_error("the monitor process has ended: reloads fail, grants.json is not written, "
		 "a changed /etc/hosts or resolv.conf is not seen and this daemon's sockets stay "
		 "behind at its end; restart keyhole (keyhole stop && keyhole start)");
}

/* Serves SIGHUP (reload) until a stop signal arrives. */
static void wait_for_stop(struct daemon *d, const sigset_t *set, unsigned grace)
{
	for (;;) {
		struct timespec tick = { 1, 0 }; /* fronts that died are started again */
		int sig = sigtimedwait(set, NULL, &tick);

		if (d->fronts_on)
			kh_fronts_tend(&d->fronts);
		watch_monitor(d);
		if (sig < 0 || sig == SIGCHLD)
			continue;
		if (sig == SIGHUP) {
			reload(d);
			continue;
		}
		kh_info("%s: stopping (in-flight requests get up to %u s)",
			sig == SIGINT ? "SIGINT" : "SIGTERM", grace);
		return;
	}
}

/* The budget counts spent since the last save, now that no request can move
 * them any more: a clean stop must not hand a token its spent budget back. */
static void save_grants(struct daemon *d)
{
	struct kh_err err = { "" };

	kh_grants_autosave_stop(&d->grants);
	if (kh_grants_save(&d->grants, &err) != 0)
		kh_error("grants: cannot save sandbox token budgets at stop: %s; requests since "
			 "the last save will not count after a restart",
			 err.msg);
}

static void stop_all(struct daemon *d)
{
	if (d->fronts_on && d->bridges_open) {
		/* The fronts drain; no new container connection may queue on a
		 * bridge listener meanwhile (this process's copies close here, the
		 * fronts' in kh_fronts_stop and as they drain). */
		kh_bridgewatch_stop(&d->bridges);
		kh_bridgewatch_free(&d->bridges);
		d->bridges_open = false;
	}
	if (d->fronts_on) /* their connections finish while the workers serve the streams */
		kh_fronts_stop(&d->fronts,
			       d->cfg.timeouts.shutdown_grace * 1000u + KH_FRONT_STOP_MS);
	if (d->bridges_open)
		kh_bridgewatch_stop(&d->bridges);
	d->sh.stop_deadline_ms = kh_mono_ms() + kh_secs_ms(d->cfg.timeouts.shutdown_grace);
	atomic_store(&d->sh.stopping, true);
	for (unsigned i = 0; i < d->started; i++)
		kh_worker_wake(&d->workers[i]);
	for (unsigned i = 0; i < d->started; i++)
		kh_worker_join(&d->workers[i]);
	kh_metrics_server_stop(d->metrics); /* after the workers: a scrape may read their state */
	d->metrics = NULL;
	kh_ctl_server_stop(d->ctl);
	d->ctl = NULL;
	if (d->owners_open) /* after the control socket: nothing adds owners any more */
		kh_ownerwatch_stop(&d->owners);
	d->owners_open = false;
	kh_resolver_stop();
	save_grants(d);
	kh_auditgate_flush(); /* refusals folded in the last window */
}

static void free_all(struct daemon *d)
{
	if (d->fronts_on)
		kh_fronts_free(&d->fronts);
	for (int k = 0; k < 3; k++) {
		if (d->unix_fds[k] < 0)
			continue;
		close(d->unix_fds[k]);
		unlink(unix_path(d, k));
	}
	if (d->bridges_open)
		kh_bridgewatch_free(&d->bridges);
	if (d->metrics_published)
		unlink(d->paths.metrics);
	kh_audit_close();
	kh_policy_unref(d->sh.policy); /* wipes the secrets */
	kh_grants_free(&d->grants); /* after the last policy: creds point into it */
	kh_mappings_free(&d->live_maps);
	kh_config_free(&d->live_cfg);
	kh_policy_files_free(&d->live_files);
	SSL_CTX_free(d->sh.server_ctx);
	kh_certcache_free(d->sh.certs);
	kh_ca_free(&d->sh.ca);
	kh_config_free(&d->cfg);
}

int kh_daemon_run(const struct kh_daemon_opts *opts)
{
	static struct daemon d = { .unix_fds = { -1, -1, -1 }, /* large; one per process */
				   .monitor = { .ctl.sock = -1, .fetch.sock = -1 } };
	struct kh_err err = { "" };
	sigset_t set;
	int rc = 1;

	harden_process();
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD); /* a front process ended (fronts.h) */
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* workers inherit it; only sigwait sees them */
	if (load_config(&d, opts, &err) != 0 || kh_monitor_start(&d.monitor, &d.paths, &err) != 0 ||
	    load_ca(&d, &err) != 0 || build_shared(&d, &err) != 0 || open_workers(&d, &err) != 0 ||
	    open_metrics(&d, &err) != 0 || open_control(&d, &err) != 0 ||
	    start_all(&d, &err) != 0) {
		fprintf(stderr, "keyhole: %s\n", err.msg);
		if (d.fronts_failed)
			fprintf(stderr,
				"keyhole: where front processes cannot be confined (e.g. in a "
				"user namespace that does not map uid 65534), privsep: false in "
				"config.yaml runs keyhole as one process, whose keys then share "
				"it with the code that reads the sandboxes' bytes\n");
		stop_all(&d);
		goto out;
	}
	print_banner(&d);
	wait_for_stop(&d, &set, d.cfg.timeouts.shutdown_grace);
	stop_all(&d);
	kh_info("stopped");
	rc = 0;
out:
	free_all(&d);
	kh_monitor_stop(&d.monitor); /* it removes what this process could not */
	return rc;
}
