/* The CA signer process, the daemon's side (signerctl.h). */
#include "proxy/signerctl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/le.h"
#include "base/log.h"
#include "privsep/ctlmsg.h"
#include "privsep/frontstat.h"
#include "tls/ca.h"

int kh_signerctl_init(struct kh_signerctl *sc, const struct kh_paths *paths, unsigned n_fronts,
		      struct kh_err *err)
{
	int sv[2];

	sc->ctl = sc->ctl_child = sc->ca_crt_fd = sc->ca_key_fd = -1;
	sc->log.rd = sc->log.wr = -1;
	sc->n_fronts = n_fronts;
	pthread_mutex_init(&sc->lock, NULL);
	kh_fmt(sc->home, sizeof sc->home, "%s", paths->home);
	kh_fmt(sc->config, sizeof sc->config, "%s", paths->config);
	/* opened now (before the daemon confines itself) and never read here:
	 * each signer started reads them from its copy */
	if (kh_ca_open(paths->ca_crt, paths->ca_key, &sc->ca_crt_fd, &sc->ca_key_fd, err) != 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		kh_err_set(err, "cannot make a channel to the CA signer: %s", kh_strerror(errno));
		return -1;
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	sc->ctl = sv[0];
	sc->ctl_child = sv[1];
	return kh_childlog_init(&sc->log, "signer", err);
}

/* In the child: its channel at 3, ca.crt at 4, ca.key at 5 (KH_SIGNER_*_FD),
 * each first moved above 5 in case one sits where another goes (just above:
 * under a low RLIMIT_NOFILE a high number may not exist); dup2 leaves the
 * copies open across exec. */
static int place_fds(const struct kh_signerctl *sc)
{
	int from[3] = { sc->ctl_child, sc->ca_crt_fd, sc->ca_key_fd }, moved[3];

	for (int i = 0; i < 3; i++)
		if ((moved[i] = fcntl(from[i], F_DUPFD_CLOEXEC, 6)) < 0)
			return -1;
	for (int i = 0; i < 3; i++)
		if (dup2(moved[i], 3 + i) < 0)
			return -1;
	return 0;
}

int kh_signerctl_start(struct kh_signerctl *sc, int policy_fd, struct kh_err *err)
{
	static char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	char fronts[16];
	char *argv[] = { "keyhole",  "__signer", "--home", sc->home, "--config",
			 sc->config, "--fronts", fronts,   NULL };
	pid_t pid;

	snprintf(fronts, sizeof fronts, "%u", sc->n_fronts);
	/* what a dead signer left unread (stale channels, an old policy) and
	 * what it sent that was not read (its reports are not the next one's) */
	kh_ctlmsg_drain(sc->ctl_child);
	kh_ctlmsg_drain(sc->ctl);
	pid = fork();
	if (pid < 0) {
		kh_err_set(err, "cannot start the CA signer: %s", kh_strerror(errno));
		return -1;
	}
	if (pid == 0) {
		kh_childlog_in_child(&sc->log);
		if (place_fds(sc) != 0)
			_exit(126);
		execve("/proc/self/exe", argv, envp);
		_exit(127);
	}
	pthread_mutex_lock(&sc->lock);
	sc->pid = pid;
	sc->have_confined = false; /* until this one says */
	pthread_mutex_unlock(&sc->lock);
	sc->ping_out = false;
	sc->killed = false;
	sc->started_ms = sc->pong_ms = kh_mono_ms(); /* the first PING once it is ready */
	if (kh_ctlmsg_send(sc->ctl, KH_CTLMSG_POLICY, NULL, 0, policy_fd) != 0) {
		kh_err_set(err, "cannot send the CA signer its policy: %s", kh_strerror(errno));
		return -1;
	}
	kh_info("CA signer started (pid %d)", (int)pid);
	return 0;
}

int kh_signerctl_channel(struct kh_signerctl *sc, unsigned id)
{
	uint8_t le[4];
	int sv[2];

	kh_le_put(le, id, 4);
	if (sc->pid <= 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		kh_warn("cannot make a channel from front %u to the CA signer: %s", id,
			kh_strerror(errno));
		return -1;
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	if (kh_ctlmsg_send(sc->ctl, KH_CTLMSG_SIGNER, le, sizeof le, sv[0]) != 0) {
		kh_warn("cannot send the CA signer front %u's channel: %s", id, kh_strerror(errno));
		close(sv[1]);
		sv[1] = -1;
	}
	close(sv[0]);
	return sv[1];
}

void kh_signerctl_send_policy(struct kh_signerctl *sc, int policy_fd)
{
	if (sc->pid > 0 && kh_ctlmsg_send(sc->ctl, KH_CTLMSG_POLICY, NULL, 0, policy_fd) != 0)
		kh_warn("cannot send the CA signer the new policy: %s", kh_strerror(errno));
}

/* A PONG to the PING awaited: the signer's loop still turns. An older one
 * (or a dead signer's) answers nothing. */
static bool take_pong(struct kh_signerctl *sc, const uint8_t *p, ssize_t n)
{
	if (n != 8)
		return false;
	if (sc->ping_out && kh_le_get(p, 8) == sc->ping_seq) {
		sc->ping_out = false;
		sc->pong_ms = kh_mono_ms();
	}
	return true;
}

/* CONFINED, once after each start, and PONGs; anything else is not the
 * signer's to send (or no longer the signer's own word). */
static void read_reports(struct kh_signerctl *sc)
{
	uint8_t type, buf[KH_CTLMSG_MAX];
	struct kh_confine_report r;
	struct kh_err err = { "" };
	ssize_t n;
	int fd;

	unsigned bad = 0;

	/* a bounded number a call: a flooding signer must not hold this thread */
	for (int i = 0; i < KH_ACCEPT_BATCH &&
			(n = kh_ctlmsg_recv(sc->ctl, &type, buf, sizeof buf, &fd)) != -1 &&
			n != KH_CTLMSG_RECV_CLOSED;
	     i++) {
		if (fd >= 0)
			close(fd);
		if (n >= 0 && type == KH_CTLMSG_PONG && take_pong(sc, buf, n))
			continue;
		pthread_mutex_lock(&sc->lock);
		if (n >= 0 && type == KH_CTLMSG_CONFINED && !sc->have_confined &&
		    kh_frontstat_confine_decode(buf, (size_t)n, &r, &err) == 0) {
			sc->confined = r; /* the first one only, as for fronts */
			sc->have_confined = true;
		} else {
			bad++;
		}
		pthread_mutex_unlock(&sc->lock);
	}
	/* one line per call (about one a second): a signer taken over must not
	 * fill the daemon's log */
	if (bad > 0)
		kh_warn("the CA signer sent %u message(s) it may not send", bad);
}

int kh_signerctl_wait_ready(struct kh_signerctl *sc, struct kh_err *err)
{
	uint64_t end = kh_mono_ms() + KH_FRONT_START_WAIT_MS;
	bool ready = false;
	int status;

	while (!ready) {
		struct pollfd p = { sc->ctl, POLLIN, 0 };

		kh_childlog_drain(&sc->log, kh_log_fd(), kh_mono_ms()); /* why, if it fails */
		if (sc->pid <= 0 || waitpid(sc->pid, &status, WNOHANG) == sc->pid) {
			kh_childlog_drain(&sc->log, kh_log_fd(), kh_mono_ms());
			sc->pid = 0;
			kh_err_set(err, "the CA signer did not start (its message is above)");
			return -1;
		}
		if (kh_mono_ms() >= end) {
			kh_err_set(err, "the CA signer did not start within %u ms",
				   KH_FRONT_START_WAIT_MS);
			return -1;
		}
		poll(&p, 1, 50);
		read_reports(sc);
		pthread_mutex_lock(&sc->lock);
		ready = sc->have_confined;
		pthread_mutex_unlock(&sc->lock);
	}
	return 0;
}

/* The watchdog: a ready signer gets a PING a second; one that has not
 * answered for KH_SIGNER_HANG_MS is stuck (a loop that no longer turns
 * stalls every new host's handshake) and is killed, then started again as
 * any signer that died. A full channel is a signer not reading: the same. */
static void kill_stuck(struct kh_signerctl *sc, const char *why)
{
	kh_warn("CA signer (pid %d) %s: killing it", (int)sc->pid, why);
	kill(sc->pid, SIGKILL);
	atomic_fetch_add(&sc->hangs_total, 1);
	sc->killed = true; /* once: it is reaped at a later tend, then started again */
}

static void watch(struct kh_signerctl *sc, uint64_t now)
{
	uint8_t p[8];
	bool confined;

	pthread_mutex_lock(&sc->lock);
	confined = sc->have_confined;
	pthread_mutex_unlock(&sc->lock);
	if (sc->pid <= 0 || sc->killed)
		return;
	/* one started again stuck before it could say it is ready (a CA it
	 * cannot read, say): only the first start waits for that */
	if (!confined) {
		if (now - sc->started_ms >= KH_FRONT_START_WAIT_MS)
			kill_stuck(sc, "did not say it was ready in time");
		return;
	}
	if (sc->ping_out && now - sc->ping_sent_ms >= KH_SIGNER_HANG_MS) {
		kill_stuck(sc, "has not answered for 5 s");
		return;
	}
	if (sc->ping_out || now - sc->pong_ms < KH_SIGNER_PING_MS)
		return;
	kh_le_put(p, ++sc->ping_seq, 8);
	sc->ping_out = true; /* sent or not: a channel that takes nothing is as stuck */
	sc->ping_sent_ms = now;
	(void)kh_ctlmsg_send(sc->ctl, KH_CTLMSG_PING, p, sizeof p, -1);
}

bool kh_signerctl_tend(struct kh_signerctl *sc, int policy_fd, bool stopping)
{
	uint64_t now = kh_mono_ms();
	struct kh_err err = { "" };
	int status;

	read_reports(sc);
	kh_childlog_drain(&sc->log, kh_log_fd(), now);
	if (sc->pid > 0 && waitpid(sc->pid, &status, WNOHANG) == sc->pid) {
		if (!stopping)
			kh_warn("CA signer (pid %d) %s %d; starting it again", (int)sc->pid,
				WIFSIGNALED(status) ? "killed by signal" : "exited with",
				WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		sc->pid = 0;
		sc->restart_at_ms = now + KH_SIGNER_RESTART_MS;
	}
	if (!stopping)
		watch(sc, now);
	if (stopping || sc->pid != 0 || now < sc->restart_at_ms)
		return false;
	pthread_mutex_lock(&sc->lock);
	sc->restarts++;
	pthread_mutex_unlock(&sc->lock);
	atomic_fetch_add(&sc->restarts_total, 1);
	if (kh_signerctl_start(sc, policy_fd, &err) != 0) {
		kh_error("%s", err.msg);
		return false;
	}
	return true;
}

json_t *kh_signerctl_confined_json(const struct kh_confine_report *r)
{
	return json_pack("{s:I, s:I, s:b, s:b, s:i, s:b, s:b}", "uid", (json_int_t)r->uid, "gid",
			 (json_int_t)r->gid, "no_new_privs", r->no_new_privs, "seccomp", r->seccomp,
			 "landlock_abi", r->landlock_abi, "rlimits", r->rlimits, "uid_dropped",
			 r->uid_dropped);
}

json_t *kh_signerctl_status_json(struct kh_signerctl *sc)
{
	json_t *o;
	pid_t pid = sc->pid;

	pthread_mutex_lock(&sc->lock);
	o = json_pack("{s:i, s:i, s:b}", "pid", (int)pid, "restarts", (int)sc->restarts, "confined",
		      sc->have_confined && pid > 0);
	if (o != NULL && sc->have_confined && pid > 0)
		json_object_update_new(o, kh_signerctl_confined_json(&sc->confined));
	pthread_mutex_unlock(&sc->lock);
	return o;
}

void kh_signerctl_stop(struct kh_signerctl *sc, unsigned grace_ms)
{
	uint64_t end = kh_mono_ms() + grace_ms;
	pid_t pid = sc->pid;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	while (waitpid(pid, NULL, WNOHANG) != pid) {
		if (kh_mono_ms() >= end) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			break;
		}
		usleep(10 * 1000);
	}
	sc->pid = 0;
}

void kh_signerctl_free(struct kh_signerctl *sc)
{
	if (sc->ctl >= 0)
		close(sc->ctl);
	if (sc->ctl_child >= 0)
		close(sc->ctl_child);
	if (sc->ca_crt_fd >= 0)
		close(sc->ca_crt_fd);
	if (sc->ca_key_fd >= 0)
		close(sc->ca_key_fd);
	sc->ctl = sc->ctl_child = sc->ca_crt_fd = sc->ca_key_fd = -1;
	kh_childlog_drain(&sc->log, kh_log_fd(), kh_mono_ms());
	kh_childlog_free(&sc->log);
}
