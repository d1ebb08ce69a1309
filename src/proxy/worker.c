/* A worker thread: accepts on its own SO_REUSEPORT sockets, enforces the
 * global connection cap, and on shutdown stops accepting, lets in-flight
 * exchanges finish, and aborts whatever is left at the grace deadline. */
#include "proxy/worker.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/audit.h"
#include "proxy/auditgate.h"
#include "policy/cidr.h"
#include "base/check.h"
#include "base/clock.h"
#include "proxy/conn.h"
#include "base/log.h"
#include "proxy/metrics.h"
#include "proxy/front_h1.h"
#include "proxy/relay.h"
#include "proxy/upool.h"

/* A client hammering a full daemon is folded like any refusal (auditgate.h). */
static void audit_refused(struct kh_worker *w, const struct sockaddr_storage *peer,
			  const char *reason, int status)
{
	char client[64] = "";
	struct kh_audit_rec r = { .client = client,
				  .mode = "http",
				  .method = "-",
				  .host = "",
				  .status = status,
				  .decision = "error",
				  .reason = reason };

	if (peer->ss_family == AF_INET || peer->ss_family == AF_INET6)
		kh_sockaddr_ip((const struct sockaddr *)peer, client, sizeof client);
	else
		snprintf(client, sizeof client, "unix");
	if (!kh_auditgate_write(&r, client))
		kh_wctx_audit_folded(&w->cx);
}

/* Over max_connections: answer 503 without ever reading the request. */
static void refuse_busy(int fd, size_t max)
{
	char body[128], msg[512];
	int b = snprintf(body, sizeof body,
			 "keyhole: too many connections (limits.max_connections is %zu)\n", max);
	int n = snprintf(msg, sizeof msg,
			 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
			 "Connection: close\r\nX-Keyhole-Reason: too_many_connections\r\n"
			 "Content-Length: %d\r\n\r\n%s",
			 b, body);

	if (n > 0 && (size_t)n < sizeof msg)
		(void)!send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	shutdown(fd, SHUT_WR);
	close(fd);
}

/* Says so at most once per KH_SHED_REPORT_MS for the whole process, with how
 * many were shed meanwhile: a client retrying in a loop must not flood the log. */
static void report_shed(void)
{
	static atomic_uint_fast64_t last_ms, shed;
	uint64_t now = kh_mono_ms(), last = atomic_load(&last_ms);
	uint64_t n = atomic_fetch_add(&shed, 1) + 1;

	if (last != 0 && now - last < KH_SHED_REPORT_MS)
		return;
	if (!atomic_compare_exchange_strong(&last_ms, &last, now))
		return; /* another worker is reporting */
	atomic_fetch_sub(&shed, n);
	kh_warn("out of file descriptors (RLIMIT_NOFILE): closed %" PRIu64 " new connection(s) "
		"without serving them; existing connections are unaffected",
		n);
}

/* The descriptor kept in reserve for shedding: an eventfd, not /dev/null,
 * because a front process may open no path (its seccomp filter answers
 * EACCES, docs/design/privsep.md section 3) and would have no spare. */
static int new_spare(void)
{
	return eventfd(0, EFD_CLOEXEC);
}

/* Out of file descriptors: free the spare one, accept and close a pending
 * connection so clients fail fast instead of hanging in the backlog. Workers
 * share one descriptor table, so another thread may take the slot the spare
 * left: -1 when this worker could not shed or lost its spare. */
static int shed_one(struct kh_worker *w, int lfd)
{
	int fd;

	if (w->spare_fd >= 0)
		close(w->spare_fd);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC); /* a front's seccomp kills plain accept */
	if (fd >= 0) {
		close(fd);
		report_shed(); /* only what was really closed is counted */
	}
	w->spare_fd = new_spare();
	return fd >= 0 && w->spare_fd >= 0 ? 0 : -1;
}

static struct kh_listener *listener_at(struct kh_worker *w, size_t i)
{
	return i < w->n_lis ? &w->lis[i] : &w->bridge[i - w->n_lis];
}

static void watch_listeners(struct kh_worker *w, bool on)
{
	for (size_t i = 0; i < w->n_lis + KH_MAX_BRIDGES; i++) {
		struct kh_listener *l = listener_at(w, i);
		struct kh_io *io = &l->io;

		if (io->fd < 0)
			continue;
		if (!on)
			kh_loop_del(w->cx.loop, io);
		else if (l->shared)
			kh_loop_add_exclusive(w->cx.loop, io);
		else
			kh_loop_add_listener(w->cx.loop, io);
	}
}

static void resume_accepting(struct kh_timer *t)
{
	struct kh_worker *w = container_of(t, struct kh_worker, accept_pause);

	w->accept_paused = false;
	if (w->spare_fd < 0)
		w->spare_fd = new_spare();
	if (!w->cx.draining)
		watch_listeners(w, true);
}

/* Listeners are level-triggered: with no descriptor to accept into and none
 * to free, a pending connection would wake this loop forever (100% CPU).
 * Stop watching them for a moment instead; connections wait in the backlog. */
static void pause_accepting(struct kh_worker *w)
{
	if (w->accept_paused)
		return;
	w->accept_paused = true;
	watch_listeners(w, false);
	w->accept_pause.cb = resume_accepting;
	kh_timer_after(w->cx.loop, &w->accept_pause, KH_ACCEPT_PAUSE_MS);
}

static void admit(struct kh_worker *w, int fd, struct sockaddr_storage *peer,
		  enum kh_listen_kind kind)
{
	struct kh_policy *p = kh_shared_policy(w->cx.sh);
	size_t max = p->limits.max_connections;
	int one = 1;

	kh_policy_unref(p);
	if (!kh_shared_conn_enter(w->cx.sh, max)) {
		refuse_busy(fd, max);
		audit_refused(w, peer, "too_many_connections", 503);
		return;
	}
	if (peer->ss_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	kh_conn_accept(&w->cx, fd, (struct sockaddr *)peer, kind, &kh_front_h1);
}

static void on_accept(struct kh_io *io, uint32_t events)
{
	struct kh_listener *l = (struct kh_listener *)io;

	(void)events;
	if (io->fd < 0) /* a bridge listener dropped earlier in this batch of events */
		return;
	for (int i = 0; i < KH_ACCEPT_BATCH && !l->w->cx.draining; i++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof peer;
		int fd = accept4(io->fd, (struct sockaddr *)&peer, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			admit(l->w, fd, &peer, l->kind);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE) {
			if (shed_one(l->w, io->fd) != 0)
				pause_accepting(l->w);
		} else if (errno != EAGAIN) {
			kh_warn("accept: %s", kh_strerror(errno));
		}
		return;
	}
}

static void close_listeners(struct kh_worker *w)
{
	kh_timer_cancel(w->cx.loop, &w->accept_pause);
	for (size_t i = 0; i < w->n_lis + KH_MAX_BRIDGES; i++) {
		struct kh_listener *l = listener_at(w, i);

		if (l->io.fd < 0)
			continue;
		kh_loop_del(w->cx.loop, &l->io);
		if (!l->shared)
			close(l->io.fd);
		l->io.fd = -1;
	}
}

bool kh_worker_bridge_acked(const struct kh_worker *w, unsigned gen)
{
	return atomic_load(&w->bridge_ack) == gen;
}

/* Picks up a changed set of bridge listeners: a listener whose fd left the
 * set is unwatched before the gen is acknowledged, so the daemon can close
 * it without the number being reused under this loop. While accepting is
 * paused nothing is watched; resume_accepting watches the new ones. */
static void sync_bridges(struct kh_worker *w)
{
	unsigned gen = atomic_load(&w->cx.sh->bridge_gen);
	int fds[KH_MAX_BRIDGES];

	if (gen == 0 || gen == atomic_load(&w->bridge_ack))
		return;
	pthread_mutex_lock(&w->cx.sh->bridge_lock);
	memcpy(fds, w->cx.sh->bridge_fds, sizeof fds);
	gen = atomic_load(&w->cx.sh->bridge_gen);
	pthread_mutex_unlock(&w->cx.sh->bridge_lock);
	for (size_t i = 0; i < KH_MAX_BRIDGES; i++) {
		struct kh_listener *l = &w->bridge[i];

		if (l->io.fd == fds[i])
			continue;
		if (l->io.fd >= 0)
			kh_loop_del(w->cx.loop, &l->io);
		l->io.fd = w->cx.draining ? -1 : fds[i];
		if (l->io.fd >= 0 && !w->accept_paused)
			kh_loop_add_exclusive(w->cx.loop, &l->io);
	}
	atomic_store(&w->bridge_ack, gen);
}

void kh_worker_sync_bridges(struct kh_worker *w)
{
	sync_bridges(w);
}

int kh_worker_add_shared(struct kh_worker *w, int shared_fd, enum kh_listen_kind kind,
			 struct kh_err *err)
{
	struct kh_listener *l = &w->lis[w->n_lis];

	l->kind = kind;
	l->io.fd = shared_fd;
	l->io.cb = on_accept;
	l->w = w;
	l->shared = true;
	if (kh_loop_add_exclusive(w->cx.loop, &l->io) != 0) {
		kh_err_set(err, "cannot watch the Unix socket: %s", kh_strerror(errno));
		return -1;
	}
	w->n_lis++;
	return 0;
}

static void close_all(struct kh_worker *w, bool idle_only)
{
	struct kh_conn *c = w->cx.conns;

	while (c != NULL) {
		struct kh_conn *next = c->next;

		if (idle_only)
			kh_conn_drain(c);
		else
			kh_conn_close(c);
		c = next;
	}
}

/* Runs once per loop iteration: notices shutdown and walks it through. */
static void idle_hook(void *arg)
{
	struct kh_worker *w = arg;

	sync_bridges(w);
	if (!atomic_load(&w->cx.sh->stopping))
		return;
	if (!w->cx.draining) {
		w->cx.draining = true;
		close_listeners(w);
		close_all(w, true);
		kh_upool_clear(w->cx.upool);
	}
	if (w->cx.n_conns > 0 && kh_mono_ms() >= w->cx.sh->stop_deadline_ms) {
		kh_warn("shutdown grace period over: closing %zu connection(s)", w->cx.n_conns);
		close_all(w, false);
	}
	if (w->cx.n_conns == 0)
		kh_loop_stop(w->cx.loop);
}

/* The key holder's end of a front's new stream when both run in this
 * process: a connection on this same worker's loop, joined to the front by
 * a pipe in memory, relaying with the keys (relay.h) what the front
 * (front_h1.h) parsed and admitted. */
static void keyholder_pipe(struct kh_wctx *cx, struct kh_mempipe *p)
{
	kh_conn_accept_pipe(cx, p, &kh_relay_h1);
}

int kh_worker_init(struct kh_worker *w, unsigned id, struct kh_shared *sh, const int *fds,
		   size_t n_fds, struct kh_err *err)
{
	memset(w, 0, sizeof *w);
	w->id = id;
	w->spare_fd = new_spare();
	if (kh_wctx_init(&w->cx, sh, err) != 0) {
		kh_err_set(err, "cannot create worker %u", id);
		return -1;
	}
	w->cx.keyholder_pipe = keyholder_pipe;
	for (size_t i = 0; i < KH_MAX_BRIDGES; i++)
		w->bridge[i] = (struct kh_listener){ .io = { .fd = -1, .cb = on_accept },
						     .w = w,
						     .kind = KH_LISTEN_PROXY,
						     .shared = true };
	for (size_t i = 0; i < n_fds; i++) {
		w->lis[i].io.fd = fds[i];
		w->lis[i].io.cb = on_accept;
		w->lis[i].w = w;
		w->n_lis++;
		if (kh_loop_add_listener(w->cx.loop, &w->lis[i].io) != 0) {
			kh_err_set(err, "cannot watch listening socket: %s", kh_strerror(errno));
			return -1;
		}
	}
	kh_loop_set_idle_hook(w->cx.loop, idle_hook, w);
	return 0;
}

static void *thread_main(void *arg)
{
	struct kh_worker *w = arg;

	kh_metrics_thread_init(w->id);
	if (kh_audit_batch_begin() == 0)
		kh_loop_set_wait_hook(w->cx.loop, kh_audit_flush);
	sync_bridges(w); /* the idle hook runs only after the first wait */
	kh_loop_run(w->cx.loop);
	kh_audit_batch_end();
	return NULL;
}

int kh_worker_start(struct kh_worker *w, struct kh_err *err)
{
	if (pthread_create(&w->thread, NULL, thread_main, w) != 0) {
		kh_err_set(err, "cannot start worker thread %u", w->id);
		return -1;
	}
	return 0;
}

void kh_worker_wake(struct kh_worker *w)
{
	kh_loop_wake(w->cx.loop);
}

void kh_worker_run(struct kh_worker *w)
{
	w->ran_inline = true;
	thread_main(w);
}

void kh_worker_join(struct kh_worker *w)
{
	if (!w->ran_inline)
		pthread_join(w->thread, NULL);
	close_listeners(w);
	close_all(w, false);
	kh_wctx_free(&w->cx);
	if (w->spare_fd >= 0)
		close(w->spare_fd);
}
