/* The CA signer process (signer_proc.h). */
#include "proxy/signer_proc.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/home.h"
#include "base/le.h"
#include "base/log.h"
#include "base/slice.h"
#include "policy/policy.h"
#include "privsep/chanpkt.h"
#include "privsep/confine.h"
#include "privsep/ctlmsg.h"
#include "privsep/frontstat.h"
#include "proxy/policyblob.h"
#include "proxy/signerctl.h"
#include "tls/leafkey.h"
#include "tls/signer.h"

#define FD_CTL KH_SIGNER_CTL_FD

/* frames a front may have handled in one turn, so one busy front does not
 * starve the others or the daemon */
#define TURN_FRAMES 16

struct signer_proc {
	struct kh_paths paths;
	struct kh_ca ca;
	struct kh_signer *signer;
	struct kh_grants grants;
	struct kh_config cfg;
	struct kh_policy *policy; /* the allow callback's ctx */
	unsigned n_fronts;
	int ch[KH_SIGNER_FRONTS_MAX]; /* front i's channel, -1 for none */
	uint64_t last_warn_ms[KH_SIGNER_FRONTS_MAX];
	bool done;
};

/* The allow callback: a host the policy allows, with no token in it (a
 * leaf naming a token would put it in every client's certificate log). */
static bool allow(void *ctx, const char *host, int kind)
{
	const struct kh_policy *p = ctx;

	(void)kind; /* kh_policy_host_allowed matches IP literals itself */
	return kh_policy_host_allowed(p, host) &&
	       kh_policy_token_scan(p, kh_slice_cstr(host)) == NULL;
}

static int apply_policy(struct signer_proc *s, int mfd, struct kh_err *err)
{
	struct kh_config cfg;
	struct kh_policy *p = kh_policyblob_load(mfd, s->paths.config, &s->grants, &cfg, err);

	if (p == NULL)
		return -1;
	if (s->signer != NULL)
		kh_signer_set_allow(s->signer, allow, p);
	kh_policy_unref(s->policy);
	s->policy = p;
	kh_config_free(&s->cfg);
	s->cfg = cfg;
	kh_log_set_level(cfg.log_level);
	return 0;
}

/* --- requests from the fronts --- */

/* A front's misbehaviour, at most one line per KH_FRONT_WARN_EVERY_MS: a
 * front taken over must not fill the log. */
static void warn_front(struct signer_proc *s, unsigned id, const char *what)
{
	uint64_t now = kh_mono_ms();

	if (s->last_warn_ms[id] != 0 && now - s->last_warn_ms[id] < KH_FRONT_WARN_EVERY_MS)
		return;
	s->last_warn_ms[id] = now;
	kh_warn("signer: front %u: %s", id, what);
}

static void answer(struct signer_proc *s, unsigned id, const struct kh_chan_sign_leaf *rq)
{
	static uint8_t der[KH_LEAF_DER_MAX];
	struct kh_signer_req r = { .front_id = id,
				   .host = rq->host,
				   .spki = rq->spki.p,
				   .spki_len = rq->spki.n,
				   .now_ms = kh_mono_ms() };
	struct kh_chan_msg m = { 0 };
	struct kh_err err = { "" }, serr = { "" };
	const char *reason = NULL;
	size_t len = 0;

	if (kh_signer_handle(s->signer, &r, der, sizeof der, &len, &reason, &err) == 0) {
		m.type = KH_CHAN_LEAF;
		m.u.leaf.req = rq->req;
		m.u.leaf.der = (struct kh_chan_bytes){ der, len };
	} else {
		m.type = KH_CHAN_LEAF_FAIL;
		m.u.leaf_fail.req = rq->req;
		kh_fmt(m.u.leaf_fail.reason, sizeof m.u.leaf_fail.reason, "%s", reason);
		kh_fmt(m.u.leaf_fail.detail, sizeof m.u.leaf_fail.detail, "%s", err.msg);
		/* the front logs its refusals itself; a front flooding the
		 * signer with refused requests costs one line per 10 s here */
		warn_front(s, id, reason);
	}
	/* a front that does not read its answers loses them, not the signer */
	if (kh_chanpkt_send(s->ch[id], &m, &serr) != 0)
		warn_front(s, id, serr.msg);
}

static void serve_front(struct signer_proc *s, unsigned id)
{
	static uint8_t buf[KH_CHAN_HDR + KH_CHAN_FRAME_MAX];
	struct kh_chan_msg m;
	struct kh_err err = { "" };
	char what[KH_ERR_MAX + 32];

	for (int i = 0; i < TURN_FRAMES && s->ch[id] >= 0; i++) {
		int r = kh_chanpkt_recv(s->ch[id], buf, sizeof buf, &m, &err);

		if (r == KH_CHANPKT_NONE)
			return;
		if (r == KH_CHANPKT_CLOSED) {
			close(s->ch[id]); /* the front ended; its next one gets a new channel */
			s->ch[id] = -1;
			return;
		}
		if (r == KH_CHANPKT_MSG && m.type == KH_CHAN_SIGN_LEAF) {
			answer(s, id, &m.u.sign);
			continue;
		}
		if (r == KH_CHANPKT_MSG)
			kh_fmt(what, sizeof what, "a %s frame, not SIGN_LEAF",
			       kh_chan_type_name(m.type));
		else
			kh_fmt(what, sizeof what, "refused: %s", err.msg);
		warn_front(s, id, what);
	}
}

/* --- the daemon --- */

static void take_channel(struct signer_proc *s, const uint8_t *p, ssize_t n, int fd)
{
	uint32_t id;

	if (n != 4 || fd < 0) {
		kh_warn("signer: a malformed channel message from the daemon");
		if (fd >= 0)
			close(fd);
		return;
	}
	id = (uint32_t)kh_le_get(p, 4);
	if (id >= s->n_fronts) {
		kh_warn("signer: a channel for front %u of %u", (unsigned)id, s->n_fronts);
		close(fd);
		return;
	}
	if (s->ch[id] >= 0)
		close(s->ch[id]);
	s->ch[id] = fd;
}

static void serve_daemon(struct signer_proc *s)
{
	struct kh_err err = { "" };
	uint8_t buf[16], type;
	ssize_t n;
	int fd;

	while ((n = kh_ctlmsg_recv(FD_CTL, &type, buf, sizeof buf, &fd)) != -1) {
		if (n == KH_CTLMSG_RECV_CLOSED) {
			s->done = true; /* the daemon is gone */
			return;
		}
		if (n >= 0 && type == KH_CTLMSG_SIGNER) {
			take_channel(s, buf, n, fd);
			continue;
		}
		if (n == 8 && type == KH_CTLMSG_PING && fd < 0) { /* the daemon's watchdog */
			if (kh_ctlmsg_send(FD_CTL, KH_CTLMSG_PONG, buf, 8, -1) != 0)
				kh_warn("signer: cannot answer the daemon: %s", kh_strerror(errno));
			continue;
		}
		if (n >= 0 && type == KH_CTLMSG_POLICY && fd >= 0 && apply_policy(s, fd, &err) != 0)
			kh_error("signer: new policy refused: %s", err.msg);
		if (fd >= 0)
			close(fd);
	}
}

static void run(struct signer_proc *s)
{
	struct pollfd p[KH_SIGNER_FRONTS_MAX + 1];

	while (!s->done) {
		p[0] = (struct pollfd){ FD_CTL, POLLIN, 0 };
		for (unsigned i = 0; i < s->n_fronts; i++)
			p[i + 1] = (struct pollfd){ s->ch[i], POLLIN, 0 }; /* -1: ignored */
		if (poll(p, s->n_fronts + 1, -1) < 0 && errno != EINTR)
			return;
		for (unsigned i = 0; i < s->n_fronts; i++)
			if (p[i + 1].revents != 0)
				serve_front(s, i);
		if (p[0].revents != 0)
			serve_daemon(s);
	}
}

/* --- start --- */

struct signer_args {
	const char *home, *config;
	unsigned n_fronts;
};

static int parse_args(int argc, char **argv, struct signer_args *a)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		uint64_t n = 0;

		if (strcmp(k, "--home") == 0)
			a->home = v;
		else if (strcmp(k, "--config") == 0)
			a->config = v;
		else if (strcmp(k, "--fronts") == 0 &&
			 kh_parse_u64(v, KH_SIGNER_FRONTS_MAX, &n) == 0 && n > 0)
			a->n_fronts = (unsigned)n;
		else
			return -1;
	}
	return a->n_fronts > 0 ? 0 : -1;
}

/* The first message: the policy, for the allow callback. */
static int receive_policy(struct signer_proc *s, struct kh_err *err)
{
	uint8_t type = 0, buf[16];
	int fd = -1, rc = -1;
	ssize_t n = kh_ctlmsg_wait(FD_CTL, KH_FRONT_START_WAIT_MS, &type, buf, sizeof buf, &fd);

	if (n >= 0 && type == KH_CTLMSG_POLICY && fd >= 0)
		rc = apply_policy(s, fd, err);
	else
		kh_err_set(err, "no policy from the daemon");
	if (fd >= 0)
		close(fd);
	return rc;
}

/* One leaf signed before confinement, so whatever OpenSSL loads on first
 * use (providers, the EC group, the DRBG) is loaded while it may open
 * files. */
static int warm_up(struct signer_proc *s, struct kh_err *err)
{
	EVP_PKEY *k = kh_leafkey_new(err);
	X509 *x = k != NULL ? kh_ca_sign_leaf(&s->ca, "keyhole.invalid", k, err) : NULL;

	X509_free(x);
	EVP_PKEY_free(k);
	return x != NULL ? 0 : -1;
}

static int start(struct signer_proc *s, const struct signer_args *a, struct kh_err *err)
{
	struct kh_signer_opts o = { .ca = &s->ca, .n_fronts = a->n_fronts, .allow = allow };
	int rc;

	if (kh_paths_resolve(&s->paths, a->home, a->config, err) != 0)
		return -1;
	/* from the descriptors the daemon opened at its start: it may no longer
	 * open the keyhole directory, nor may this process, inside its domain */
	rc = kh_ca_load_fds(&s->ca, KH_SIGNER_CA_CRT_FD, KH_SIGNER_CA_KEY_FD, s->paths.ca_crt,
			    s->paths.ca_key, err);
	close(KH_SIGNER_CA_CRT_FD);
	close(KH_SIGNER_CA_KEY_FD);
	if (rc != 0) {
		kh_err_prefix(err, "CA");
		return -1;
	}
	EVP_PKEY_free(s->ca.leaf_key); /* made by kh_ca_load, of no use here */
	s->ca.leaf_key = NULL;
	if (receive_policy(s, err) != 0 || warm_up(s, err) != 0)
		return -1;
	o.allow_ctx = s->policy;
	s->signer = kh_signer_new(&o, err);
	return s->signer != NULL ? 0 : -1;
}

static int confine(struct signer_proc *s, struct kh_err *err)
{
	struct kh_confine_opts o = { .role = KH_CONFINE_SIGNER,
				     .uid = KH_CONFINE_CHILD_UID,
				     .gid = KH_CONFINE_CHILD_GID,
				     .nofile = s->n_fronts + 16 };
	struct kh_confine_report r;
	uint8_t report[KH_FRONTSTAT_CONFINE_LEN];

	if (kh_confine_apply(&o, &r, err) != 0)
		return -1;
	kh_frontstat_confine_encode(&r, report);
	if (kh_ctlmsg_send(FD_CTL, KH_CTLMSG_CONFINED, report, sizeof report, -1) != 0)
		kh_warn("signer: cannot tell the daemon its confinement: %s", kh_strerror(errno));
	kh_info("signer: confined (uid %u, no_new_privs, seccomp, landlock abi %d)",
		(unsigned)r.uid, r.landlock_abi);
	return 0;
}

int kh_signer_run(int argc, char **argv)
{
	static struct signer_proc s;
	struct signer_args a = { 0 };
	struct kh_err err = { "" };
	sigset_t none;

	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	prctl(PR_SET_NAME, "keyhole-signer", 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN); /* policies come on the channel */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL); /* the daemon's blocked set is inherited:
						* SIGTERM must end the signer */
	for (unsigned i = 0; i < KH_SIGNER_FRONTS_MAX; i++)
		s.ch[i] = -1;
	if (parse_args(argc, argv, &a) != 0) {
		fprintf(stderr, "keyhole __signer: started by hand? it is keyhole's own\n");
		return 2;
	}
	s.n_fronts = a.n_fronts;
	if (start(&s, &a, &err) != 0 || confine(&s, &err) != 0) {
		kh_error("signer: %s", err.msg);
		return 1;
	}
	run(&s); /* until the daemon is gone; SIGTERM ends it (nothing to drain) */
	return 0;
}
