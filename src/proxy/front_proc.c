/* A front process (front_proc.h): the sandbox side of keyhole, holding no
 * key. */
#include "proxy/front_proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/home.h"
#include "base/le.h"
#include "base/slice.h"
#include "base/log.h"
#include "policy/config.h"
#include "policy/grants.h"
#include "privsep/confine.h"
#include "privsep/ctlmsg.h"
#include "privsep/frontstat.h"
#include "proxy/audit.h"
#include "proxy/metrics.h"
#include "proxy/leafwait.h"
#include "proxy/policyblob.h"
#include "proxy/worker.h"
#include "tls/leafkey.h"
#include "tls/tlsctx.h"

#define FD_CTL   3
#define FD_FIRST 4 /* listeners from here */

struct front {
	struct kh_paths paths;
	struct kh_config cfg;
	struct kh_grants grants;
	struct kh_shared sh;
	struct kh_worker w;
	unsigned id;
	int ctl;
	struct kh_io ctl_io; /* policy updates, and the key holder's end */
	struct kh_io sig_io; /* SIGTERM, SIGINT (signalfd) */
	struct kh_confine_report confined;
	struct kh_timer stat_timer; /* metric deltas to the key holder */
	uint32_t sent_active; /* connections open, as last sent */
	struct kh_frontstat stat;
	int signer; /* its channel to the CA signer until leaves are asked for on the loop */
	struct kh_leafwait *leaves; /* leaves asked of the CA signer */
	uint8_t spki[KH_LEAF_SPKI_MAX]; /* the public half of sh.ca.leaf_key */
	size_t spki_len;
	struct kh_connslots conns; /* every front's connections (connslots.h) */
	int bridges[KH_MAX_BRIDGES]; /* container bridge listeners (LISTEN_ADD), -1: none */
};

/* --- leaves, from the CA signer (leafwait.h) --- */

static int ask_leaf(struct kh_wctx *cx, struct kh_conn *c, const char **why)
{
	struct front *f = container_of(cx, struct front, w.cx);

	return kh_leafwait_ask(f->leaves, c, why);
}

static void cancel_leaf(struct kh_wctx *cx, struct kh_conn *c)
{
	struct front *f = container_of(cx, struct front, w.cx);

	kh_leafwait_cancel(f->leaves, c);
}

/* This front's own leaf key, made at every start and never sent. */
static int make_leaf_key(struct front *f, struct kh_err *err)
{
	f->sh.ca.leaf_key = kh_leafkey_new(err);
	if (f->sh.ca.leaf_key == NULL ||
	    kh_leafkey_spki(f->sh.ca.leaf_key, f->spki, sizeof f->spki, &f->spki_len, err) != 0)
		return -1;
	return 0;
}

/* A (new) channel to the CA signer from the daemon: the old one is gone.
 * Kept until the loop is up, then the leaves' (leafwait.h). */
static void take_signer(struct front *f, int fd)
{
	if (f->leaves != NULL) {
		kh_leafwait_set_channel(f->leaves, fd);
		return;
	}
	if (f->signer >= 0)
		close(f->signer);
	f->signer = fd;
}

/* Reads the sealed memfd the key holder sent and makes its policy the
 * current one. */
static int apply_policy(struct front *f, int mfd, struct kh_err *err)
{
	struct kh_config cfg;
	struct kh_policy *p = kh_policyblob_load(mfd, f->paths.config, &f->grants, &cfg, err);

	if (p == NULL)
		return -1;
	if (f->sh.policy == NULL)
		f->sh.policy = p;
	else
		kh_shared_set_policy(&f->sh, p);
	kh_config_free(&f->cfg);
	f->cfg = cfg;
	kh_log_set_level(cfg.log_level);
	return 0;
}

/* Stream ends go to the key holder over the control channel. */
static void send_stream(struct kh_wctx *cx, int fd)
{
	struct front *f = container_of(cx, struct front, w.cx);

	if (kh_ctlmsg_send(f->ctl, KH_CTLMSG_STREAM, NULL, 0, fd) != 0)
		kh_warn("front %u: cannot hand a stream to the key holder: %s", f->id,
			kh_strerror(errno));
	close(fd); /* the key holder has its own copy, or the front's end sees EOF */
}

/* --- start --- */

struct front_args {
	const char *home, *config;
	unsigned id;
	size_t n_tcp;
	const char *unix_kinds; /* one digit (enum kh_listen_kind) per Unix listener */
};

static int parse_args(int argc, char **argv, struct front_args *a)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		uint64_t n = 0;
		bool number = kh_parse_u64(v, 1024, &n) == 0;

		if (strcmp(k, "--home") == 0)
			a->home = v;
		else if (strcmp(k, "--config") == 0)
			a->config = v;
		else if (strcmp(k, "--unix") == 0)
			a->unix_kinds = v;
		else if (strcmp(k, "--id") == 0 && number)
			a->id = (unsigned)n;
		else if (strcmp(k, "--tcp") == 0 && number && n <= KH_MAX_LISTENERS)
			a->n_tcp = (size_t)n;
		else
			return -1;
	}
	return a->unix_kinds != NULL && strlen(a->unix_kinds) <= 3 ? 0 : -1;
}

/* --- the loop's own events --- */

/* A container bridge listener from the key holder (LISTEN_ADD, replacing
 * what the slot held) or the end of one (LISTEN_DEL). The front owns its
 * copy and watches it on its worker's loop the way worker.c watches the
 * daemon's in one process; the old copy is closed only once the loop no
 * longer watches it. The key holder is trusted, but a checked descriptor is
 * cheap and catches a mistake. */
static void take_listener(struct front *f, uint8_t type, const uint8_t *p, ssize_t n, int fd)
{
	struct kh_err err = { "" };
	unsigned slot = 0;
	int old;

	if (kh_ctlmsg_listen_decode(type, p, n, fd, &slot, &err) != 0) {
		kh_warn("front %u: %s: ignored", f->id, err.msg);
		if (fd >= 0)
			close(fd);
		return;
	}
	old = f->bridges[slot];
	f->bridges[slot] = type == KH_CTLMSG_LISTEN_ADD ? fd : -1;
	kh_shared_set_bridges(&f->sh, f->bridges);
	kh_worker_sync_bridges(&f->w);
	if (old >= 0)
		close(old);
}

/* A message from the key holder: a policy, a bridge listener or a (new)
 * channel to the CA signer. Takes fd (keeps or closes it). */
static void take_ctl(struct front *f, uint8_t type, const uint8_t *p, ssize_t n, int fd)
{
	struct kh_err err = { "" };

	if (type == KH_CTLMSG_LISTEN_ADD || type == KH_CTLMSG_LISTEN_DEL) {
		take_listener(f, type, p, n, fd);
		return;
	}
	if (type == KH_CTLMSG_SIGNER && fd >= 0) {
		take_signer(f, fd);
		return;
	}
	if (type == KH_CTLMSG_POLICY && fd >= 0 && apply_policy(f, fd, &err) != 0)
		kh_error("front %u: new policy refused: %s", f->id, err.msg);
	if (fd >= 0)
		close(fd);
}

/* The key holder sends a new policy or a bridge listener, or is gone (then
 * so is this front). */
static void on_ctl(struct kh_io *io, uint32_t events)
{
	struct front *f = container_of(io, struct front, ctl_io);
	uint8_t buf[64], type;
	ssize_t n;
	int fd;

	(void)events;
	while ((n = kh_ctlmsg_recv(f->ctl, &type, buf, sizeof buf, &fd)) != -1) {
		if (n == KH_CTLMSG_RECV_CLOSED) {
			kh_warn("front %u: the key holder is gone; stopping", f->id);
			atomic_store(&f->sh.stopping, true);
			kh_loop_del(f->w.cx.loop, io);
			return;
		}
		if (n >= 0) {
			take_ctl(f, type, buf, n, fd);
			continue;
		}
		/* cut or with a descriptor lost (this front at its descriptor
		 * limit): a bridge listener may be missing until a restart */
		kh_warn("front %u: a control message from the key holder was cut: ignored", f->id);
		if (fd >= 0)
			close(fd);
	}
}

static void on_signal(struct kh_io *io, uint32_t events)
{
	struct front *f = container_of(io, struct front, sig_io);
	struct signalfd_siginfo si;

	(void)events;
	while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si) {
		f->sh.stop_deadline_ms = kh_mono_ms() + kh_secs_ms(f->cfg.timeouts.shutdown_grace);
		atomic_store(&f->sh.stopping, true);
	}
}

/* What this front counted since the last message goes to the key holder,
 * whose /metrics is the only one (at most one message a period, none when
 * nothing changed). */
static void on_stat_timer(struct kh_timer *t)
{
	struct front *f = container_of(t, struct front, stat_timer);
	uint8_t buf[KH_FRONTSTAT_MAX];
	uint64_t open = atomic_load(&f->sh.n_conns);
	ssize_t n;

	kh_leafwait_expire(f->leaves, kh_loop_now(f->w.cx.loop));
	f->stat.active = (uint32_t)(open < KH_FRONTSTAT_COUNT ? open : KH_FRONTSTAT_COUNT);
	if (kh_metrics_take_deltas(&f->stat) || f->stat.active != f->sent_active) {
		n = kh_frontstat_encode(&f->stat, buf, sizeof buf);
		if (n < 0 || kh_ctlmsg_send(f->ctl, KH_CTLMSG_METRICS, buf, (size_t)n, -1) != 0)
			kh_warn("front %u: cannot send its metrics to the key holder", f->id);
		else
			f->sent_active = f->stat.active;
	}
	kh_timer_after(f->w.cx.loop, t, KH_FRONTSTAT_PERIOD_MS);
}

static int watch(struct front *f, struct kh_err *err)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	f->sig_io = (struct kh_io){ .fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC),
				    .cb = on_signal };
	f->ctl_io = (struct kh_io){ .fd = f->ctl, .cb = on_ctl };
	fcntl(f->ctl, F_SETFL, O_NONBLOCK);
	if (f->sig_io.fd < 0 || kh_loop_add(f->w.cx.loop, &f->sig_io) != 0 ||
	    kh_loop_add(f->w.cx.loop, &f->ctl_io) != 0) {
		kh_err_set(err, "cannot watch signals and the key holder");
		return -1;
	}
	f->stat_timer.cb = on_stat_timer;
	kh_timer_after(f->w.cx.loop, &f->stat_timer, KH_FRONTSTAT_PERIOD_MS);
	return 0;
}

static int open_worker(struct front *f, const struct front_args *a, struct kh_err *err)
{
	int fds[KH_MAX_LISTENERS + 1];

	for (size_t i = 0; i < a->n_tcp; i++)
		fds[i] = FD_FIRST + (int)i;
	if (kh_worker_init(&f->w, a->id, &f->sh, fds, a->n_tcp, err) != 0)
		return -1;
	for (size_t k = 0; a->unix_kinds[k] != '\0'; k++) {
		int kind = a->unix_kinds[k] - '0';

		if (kind < 0 || kind > KH_LISTEN_TRANSPARENT_HTTP ||
		    kh_worker_add_shared(&f->w, FD_FIRST + (int)(a->n_tcp + k),
					 (enum kh_listen_kind)kind, err) != 0)
			return -1;
	}
	f->w.cx.keyholder_stream = send_stream; /* the key holder is another process */
	f->w.cx.keyholder_pipe = NULL;
	f->leaves = kh_leafwait_new(f->w.cx.loop, f->sh.certs, f->sh.ca.leaf_key, f->spki,
				    f->spki_len, f->id);
	if (f->leaves == NULL) {
		kh_err_set(err, "out of memory for the leaves");
		return -1;
	}
	f->w.cx.leaf_ask = ask_leaf;
	f->w.cx.leaf_cancel = cancel_leaf;
	kh_leafwait_set_channel(f->leaves, f->signer);
	f->signer = -1;
	kh_loop_set_busy_poll(f->w.cx.loop, f->cfg.busy_poll_us);
	return 0;
}

/* The start: its channel to the CA signer (none while the signer is
 * down: it comes later), then the policy. */
static int receive_policy(struct front *f, struct kh_err *err)
{
	uint8_t type = 0, buf[16];
	int fd = -1, rc = -1;
	ssize_t n;

	for (int i = 0; i < 2; i++) {
		n = kh_ctlmsg_wait(f->ctl, KH_FRONT_START_WAIT_MS, &type, buf, sizeof buf, &fd);
		if (n >= 0 && type == KH_CTLMSG_SIGNER && fd >= 0) {
			take_signer(f, fd);
			fd = -1;
			continue;
		}
		if (n >= 0 && type == KH_CTLMSG_POLICY && fd >= 0)
			rc = apply_policy(f, fd, err);
		break;
	}
	if (rc != 0 && err->msg[0] == '\0')
		kh_err_set(err, "no policy from the key holder");
	if (fd >= 0)
		close(fd);
	return rc;
}

/* After the policy: every front's connection counters, so that
 * limits.max_connections holds for all fronts together. */
static int receive_conns(struct front *f, struct kh_err *err)
{
	uint8_t type = 0, buf[16];
	int fd = -1, rc = -1;
	ssize_t n = -1;
	unsigned fronts = 0;

	/* a restarted signer's channel, or a policy a reload sent between this
	 * front's start and its start messages, may come first */
	for (int i = 0; i < 4; i++) {
		n = kh_ctlmsg_wait(f->ctl, KH_FRONT_START_WAIT_MS, &type, buf, sizeof buf, &fd);
		if (n < 0 || fd < 0 || (type != KH_CTLMSG_SIGNER && type != KH_CTLMSG_POLICY))
			break;
		if (type == KH_CTLMSG_SIGNER)
			take_signer(f, fd);
		else if (apply_policy(f, fd, err) != 0)
			kh_error("front %u: new policy refused: %s", f->id, err->msg);
		if (type == KH_CTLMSG_POLICY)
			close(fd);
		fd = -1;
	}
	if (n == 4)
		fronts = (unsigned)kh_le_get(buf, 4);
	if (n != 4 || type != KH_CTLMSG_CONNS || fd < 0 || f->id >= fronts)
		kh_err_set(err, "no connection counters from the key holder");
	else if (kh_connslots_map(&f->conns, fd, fronts, err) == 0)
		rc = 0;
	if (fd >= 0)
		close(fd);
	if (rc == 0) {
		f->sh.conn_slots = &f->conns;
		f->sh.conn_slot = f->id;
	}
	return rc;
}

/* No file is opened from here on: what the front needs it got from the key
 * holder or opened now (OpenSSL's configuration, with the contexts). */
/* The records a loop iteration made go to the key holder, which checks and
 * writes them (auditrelay.h): whole lines, as many as fit in a message.
 * Never waits: a full channel loses them, counted as any lost record. */
static size_t send_audit(void *arg, const char *lines, size_t len, size_t records)
{
	struct front *f = arg;
	size_t at = 0, sent = 0;

	while (at < len) {
		size_t n = 0, k = 0;

		/* whole lines up to KH_CTLMSG_MAX; a record line is shorter */
		for (size_t i = at; i < len && i - at < KH_CTLMSG_MAX; i++)
			if (lines[i] == '\n') {
				n = i + 1 - at;
				k++;
			}
		if (n == 0 || kh_ctlmsg_send(f->ctl, KH_CTLMSG_AUDIT, lines + at, n, -1) != 0)
			break;
		at += n;
		sent += k;
	}
	return records - sent;
}

static int start(struct front *f, const struct front_args *a, struct kh_err *err)
{
	if (kh_paths_resolve(&f->paths, a->home, a->config, err) != 0)
		return -1;
	pthread_mutex_init(&f->sh.policy_lock, NULL);
	pthread_mutex_init(&f->sh.bridge_lock, NULL);
	f->sh.grants = &f->grants;
	if (make_leaf_key(f, err) != 0 || receive_policy(f, err) != 0 || receive_conns(f, err) != 0)
		return -1;
	f->sh.certs = kh_certcache_new(f->cfg.cert_cache_size);
	f->sh.server_ctx = kh_tls_server_ctx_new(err);
	if (f->sh.certs == NULL || f->sh.server_ctx == NULL)
		return -1;
	kh_metrics_record_deltas(); /* the key holder's /metrics shows them */
	kh_audit_set_sink(send_audit, f); /* this process holds no file */
	return open_worker(f, a, err) != 0 ? -1 : watch(f, err);
}

/* Root gives the front nobody's uid; it keeps no file open but its own. */
static int confine(struct front *f, struct kh_err *err)
{
	struct kh_confine_opts o = { .role = KH_CONFINE_FRONT,
				     .uid = KH_CONFINE_CHILD_UID,
				     .gid = KH_CONFINE_CHILD_GID,
				     .nofile = (unsigned)f->cfg.limits.max_connections * 2 + 64 };
	struct rlimit now;
	uint8_t report[KH_FRONTSTAT_CONFINE_LEN];

	/* two descriptors per connection (client, stream), never above what it
	 * has: raising the hard limit takes a privilege the front gives up */
	if (getrlimit(RLIMIT_NOFILE, &now) == 0 && now.rlim_max < o.nofile)
		o.nofile = (unsigned)now.rlim_max;

	if (kh_confine_apply(&o, &f->confined, err) != 0)
		return -1;
	kh_frontstat_confine_encode(&f->confined, report);
	if (kh_ctlmsg_send(f->ctl, KH_CTLMSG_CONFINED, report, sizeof report, -1) != 0)
		kh_warn("front %u: cannot tell the key holder its confinement: %s", f->id,
			kh_strerror(errno));
	kh_info("front %u: confined (uid %u, no_new_privs, seccomp, landlock abi %d)", f->id,
		(unsigned)f->confined.uid, f->confined.landlock_abi);
	return 0;
}

int kh_front_run(int argc, char **argv)
{
	static struct front f; /* large; one per process */
	struct front_args a = { 0 };
	struct kh_err err = { "" };
	sigset_t set;

	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	prctl(PR_SET_NAME, "keyhole-front", 0, 0, 0); /* exec'd as /proc/self/exe: "exe" */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP); /* nothing to do: policies come on the channel */
	sigprocmask(SIG_BLOCK, &set, NULL); /* TERM and INT come through the signalfd */
	f.ctl = FD_CTL;
	f.signer = -1;
	for (size_t i = 0; i < KH_MAX_BRIDGES; i++)
		f.bridges[i] = -1;
	if (parse_args(argc, argv, &a) != 0) {
		fprintf(stderr, "keyhole __front: started by hand? it is keyhole's own\n");
		return 2;
	}
	f.id = a.id;
	if (start(&f, &a, &err) != 0 || confine(&f, &err) != 0) {
		kh_error("front %u: %s", f.id, err.msg);
		return 1;
	}
	kh_worker_run(&f.w); /* until SIGTERM and drained, or the key holder is gone */
	kh_worker_join(&f.w);
	return 0;
}
