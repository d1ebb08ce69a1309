/* Why c-ares, and not getaddrinfo() on a thread pool (keyhole's first
 * resolver): getaddrinfo blocks its thread for the whole lookup, so a pool
 * of N threads is N slow names away from starving everyone, and one client
 * asking for many slow names (a sandbox can make any allowed name slow,
 * e.g. under a wildcard whose DNS it controls) made every other client wait
 * ~20 s and get 504. A bigger pool only moves the number. c-ares (Debian
 * libc-ares-dev) is asynchronous: a lookup in progress is a pending query on
 * one thread's poll(), costing a few hundred bytes, never a thread; and its
 * answers carry TTLs, so the cache keeps them as long as DNS says (capped by
 * KH_DNS_CACHE_MAX_TTL_MS) instead of a guessed fixed lifetime. It also lets
 * an operator name the servers keyhole asks (dns_servers: in config.yaml)
 * without touching the host's resolv.conf.
 *
 * What stays the same: /etc/hosts is read first, then DNS from
 * /etc/resolv.conf (search, ndots, timeouts of ours: KH_RESOLVER_TIMEOUT_MS x
 * KH_RESOLVER_TRIES, so a lookup ends within ~6 s, before timeouts.connect);
 * addresses are sorted as getaddrinfo sorts them (RFC 6724). What differs:
 * NSS modules other than files and dns (nsswitch.conf) are not consulted;
 * resolv.conf is looked at again at most every KH_RESOLV_CONF_CHECK_MS. In
 * the daemon, c-ares reads copies of both files (kh_resolver_use_copies:
 * once confined it may not read /etc), made again when an original changes.
 * Fairness on top (lookupq.h): each source has at most
 * KH_RESOLVER_SOURCE_RUNNING queries out, the rest wait their turn, and
 * turns go round-robin across sources.
 *
 * Threads: loop threads call submit/cancel/configure (under R.lock); the
 * resolver thread alone touches c-ares. Jobs handed out by the queue go on
 * a start list the resolver thread drains. */
#include "policy/resolver.h"

#include <ares.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "policy/resolvfiles.h"

#define RESOLV_CONF KH_RESOLVFILES_RESOLV_CONF
#define SERVERS_MAX (KH_MAX_DNS_SERVERS * 56) /* "[v6]:port," each */

enum { JOB_WAITING = 1, JOB_STARTING, JOB_RUNNING, JOB_POSTED };

/* A c-ares channel; a new one replaces it when the servers change, and the
 * old one retires once its queries have ended. */
struct chan {
	ares_channel ch;
	bool open;
	unsigned active; /* our queries it is running */
};

struct sock {
	int fd;
	bool rd, wr;
	struct chan *chan;
};

static struct {
	pthread_mutex_t lock;
	struct kh_lookupq *q;
	struct kh_dnscache *cache;
	struct kh_resolve_job *start_head, *start_tail;
	int wake_fd;
	bool running, stopping;
	bool reconfigure; /* servers changed: a new channel at the next turn */
	char servers[SERVERS_MAX]; /* csv; "" = resolv.conf */
	pthread_t thread;
	/* the resolver thread's own */
	struct chan chans[2];
	struct chan *cur;
	struct sock socks[KH_RESOLVER_SOCKETS];
	size_t n_socks;
	struct stat resolv_st, hosts_st;
	uint64_t resolv_checked_ms;
	/* kh_resolver_use_copies: c-ares reads these instead of /etc's, and
	 * refresh makes them again when an original changed */
	bool copies;
	char resolv_copy[KH_MAX_PATH], hosts_copy[KH_MAX_PATH];
	int (*refresh)(void *arg);
	void *refresh_arg;
} R = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake_fd = -1 };

static void wake(void)
{
	uint64_t one = 1;

	(void)!write(R.wake_fd, &one, sizeof one);
}

/* --- sockets c-ares wants watched --- */

static struct sock *sock_of(int fd)
{
	for (size_t i = 0; i < R.n_socks; i++)
		if (R.socks[i].fd == fd)
			return &R.socks[i];
	return NULL;
}

static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct sock *s = sock_of(fd);

	if (!readable && !writable) {
		if (s != NULL)
			*s = R.socks[--R.n_socks];
		return;
	}
	if (s == NULL) {
		if (R.n_socks == KH_RESOLVER_SOCKETS) {
			kh_warn("resolver: more than %d DNS sockets open; a lookup will time out",
				KH_RESOLVER_SOCKETS);
			return;
		}
		s = &R.socks[R.n_socks++];
	}
	*s = (struct sock){ fd, readable != 0, writable != 0, data };
}

static void forget_socks(const struct chan *c)
{
	for (size_t i = R.n_socks; i-- > 0;)
		if (R.socks[i].chan == c)
			R.socks[i] = R.socks[--R.n_socks];
}

/* --- channels --- */

static int chan_open(struct chan *c, const char *servers)
{
	struct ares_options o = { .timeout = KH_RESOLVER_TIMEOUT_MS,
				  .tries = KH_RESOLVER_TRIES,
				  .lookups = (char *)"fb", /* /etc/hosts, then DNS */
				  .sock_state_cb = sock_state,
				  .sock_state_cb_data = c };
	int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB;
	int rc;

	if (R.copies) {
		o.resolvconf_path = R.resolv_copy;
		mask |= ARES_OPT_RESOLVCONF;
	}
	rc = ares_init_options(&c->ch, &o, mask);

	if (rc != ARES_SUCCESS) {
		kh_error("resolver: cannot set up c-ares: %s", ares_strerror(rc));
		return -1;
	}
	if (servers[0] != '\0' &&
	    (rc = ares_set_servers_ports_csv(c->ch, servers)) != ARES_SUCCESS) {
		kh_error("resolver: dns_servers %s: %s", servers, ares_strerror(rc));
		ares_destroy(c->ch);
		return -1;
	}
	c->open = true;
	c->active = 0;
	return 0;
}

/* Fails its queries still out (ARES_EDESTRUCTION: their jobs get an error). */
static void chan_close(struct chan *c)
{
	if (!c->open)
		return;
	ares_destroy(c->ch);
	forget_socks(c);
	c->open = false;
}

/* Has path changed since *was (kept up to date)? A file replaced by
 * rename is a new inode; one rewritten in place a new size or mtime. */
static bool file_changed(const char *path, struct stat *was)
{
	struct stat st;
	bool changed;

	if (stat(path, &st) != 0)
		memset(&st, 0, sizeof st);
	changed = st.st_ino != was->st_ino || st.st_dev != was->st_dev ||
		  st.st_size != was->st_size || st.st_mtim.tv_sec != was->st_mtim.tv_sec ||
		  st.st_mtim.tv_nsec != was->st_mtim.tv_nsec;
	*was = st;
	return changed;
}

/* Has /etc/resolv.conf changed (at most every KH_RESOLV_CONF_CHECK_MS)? With
 * copies, a change of it or of /etc/hosts makes them again first; a copy
 * that failed is tried again at the next check (the originals are taken as
 * unseen), and answers from before a new /etc/hosts are forgotten. */
static bool resolv_conf_changed(uint64_t now)
{
	struct stat resolv_was = R.resolv_st, hosts_was = R.hosts_st;
	bool resolv, hosts;

	if (now < R.resolv_checked_ms + KH_RESOLV_CONF_CHECK_MS)
		return false;
	R.resolv_checked_ms = now;
	resolv = file_changed(RESOLV_CONF, &R.resolv_st);
	hosts = R.copies && file_changed(KH_RESOLVFILES_HOSTS, &R.hosts_st);
	if (!R.copies || !(resolv || hosts) || R.refresh == NULL)
		return resolv;
	if (R.refresh(R.refresh_arg) != 0) {
		R.resolv_st = resolv_was;
		R.hosts_st = hosts_was;
		return false;
	}
	if (hosts) {
		pthread_mutex_lock(&R.lock);
		kh_dnscache_clear(R.cache);
		pthread_mutex_unlock(&R.lock);
	}
	return resolv;
}

/* A new channel for new settings; the current one retires (the one that
 * was retiring before, if still busy, gives up its queries). */
static void switch_chan(const char *servers)
{
	struct chan *next = R.cur == &R.chans[0] ? &R.chans[1] : &R.chans[0];

	chan_close(next);
	if (chan_open(next, servers) != 0)
		return; /* keep the current one */
	if (R.cur->active == 0)
		chan_close(R.cur);
	R.cur = next;
	pthread_mutex_lock(&R.lock);
	kh_dnscache_clear(R.cache);
	pthread_mutex_unlock(&R.lock);
}

static void maybe_switch(void)
{
	char servers[SERVERS_MAX];
	bool want;

	pthread_mutex_lock(&R.lock);
	want = R.reconfigure;
	R.reconfigure = false;
	memcpy(servers, R.servers, sizeof servers);
	pthread_mutex_unlock(&R.lock);
	/* looked at even with dns_servers set: the copy of /etc/hosts */
	if (resolv_conf_changed(kh_mono_ms()) && servers[0] == '\0')
		want = true;
	if (want)
		switch_chan(servers);
	for (size_t i = 0; i < 2; i++)
		if (&R.chans[i] != R.cur && R.chans[i].open && R.chans[i].active == 0)
			chan_close(&R.chans[i]);
}

/* --- answers --- */

/* The resolver thread starts it at its next turn. Under R.lock. */
static void push_start_locked(struct kh_resolve_job *job)
{
	job->state = JOB_STARTING;
	job->snext = NULL;
	if (R.start_tail != NULL)
		R.start_tail->snext = job;
	else
		R.start_head = job;
	R.start_tail = job;
}

/* Hands out what the queue lets run now. Under R.lock. */
static void queue_next_locked(void)
{
	struct kh_lookupq_item *it;

	while ((it = kh_lookupq_next(R.q)) != NULL) {
		struct kh_resolve_job *job =
			(struct kh_resolve_job *)((char *)it - offsetof(struct kh_resolve_job, q));

		push_start_locked(job);
	}
}

/* The job's lookup is over (answer in job->ans): cache it for ttl_ms, give
 * its turn to the next, and post it back (or free it if nobody wants it). */
static void finish(struct kh_resolve_job *job, uint64_t ttl_ms)
{
	bool drop;

	pthread_mutex_lock(&R.lock);
	/* not from servers being replaced (kh_resolver_configure) */
	if (ttl_ms > 0 && job->chan == R.cur && !R.reconfigure)
		kh_dnscache_put(R.cache, job->host, kh_mono_ms(), ttl_ms, &job->ans);
	kh_lookupq_done(R.q, &job->q);
	queue_next_locked();
	drop = job->cancelled || R.stopping;
	job->state = JOB_POSTED;
	pthread_mutex_unlock(&R.lock);
	if (drop)
		free(job);
	else
		kh_loop_post(job->loop, &job->task);
}

/* Shortest TTL of the answer (addresses and CNAMEs), capped; 0: not kept. */
static uint64_t answer_ttl(const struct ares_addrinfo *res)
{
	long long ttl = KH_DNS_CACHE_MAX_TTL_MS / 1000;

	for (const struct ares_addrinfo_node *n = res->nodes; n != NULL; n = n->ai_next)
		ttl = n->ai_ttl < ttl ? n->ai_ttl : ttl;
	for (const struct ares_addrinfo_cname *c = res->cnames; c != NULL; c = c->next)
		ttl = c->ttl < ttl ? c->ttl : ttl;
	return ttl > 0 ? (uint64_t)ttl * 1000 : 0;
}

static uint64_t take_answer(struct kh_dns_answer *a, int status, const struct ares_addrinfo *res)
{
	memset(a, 0, sizeof *a);
	if (status != ARES_SUCCESS || res == NULL) {
		a->error = ares_strerror(status);
		/* "no such name" and "no address" are kept briefly; failures
		 * to reach DNS are not kept at all */
		return status == ARES_ENOTFOUND || status == ARES_ENODATA ? KH_DNS_NEGATIVE_TTL_MS
									  : 0;
	}
	for (const struct ares_addrinfo_node *n = res->nodes;
	     n != NULL && a->n_addrs < KH_MAX_ADDRS; n = n->ai_next) {
		if ((n->ai_family != AF_INET && n->ai_family != AF_INET6) ||
		    n->ai_addrlen > sizeof a->addrs[0])
			continue;
		memcpy(&a->addrs[a->n_addrs], n->ai_addr, n->ai_addrlen);
		a->addrlens[a->n_addrs++] = n->ai_addrlen;
	}
	if (a->n_addrs == 0) {
		a->error = "the name has no IPv4 or IPv6 address";
		return KH_DNS_NEGATIVE_TTL_MS;
	}
	return answer_ttl(res);
}

static void on_answer(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct kh_resolve_job *job = arg;
	uint64_t ttl = take_answer(&job->ans, status, res);

	(void)timeouts;
	if (res != NULL)
		ares_freeaddrinfo(res);
	((struct chan *)job->chan)->active--;
	finish(job, ttl);
}

/* --- the resolver thread --- */

static struct kh_resolve_job *pop_start_locked(void)
{
	struct kh_resolve_job *job = R.start_head;

	if (job != NULL) {
		R.start_head = job->snext;
		if (R.start_head == NULL)
			R.start_tail = NULL;
	}
	return job;
}

/* Starts the jobs the queue handed out: a cancelled one is dropped before
 * it runs, one answered meanwhile by the cache goes back at once. */
static void start_pending(void)
{
	/* ENVHOSTS: /etc/hosts from CARES_HOSTS, the copy (kh_resolver_use_copies) */
	const struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC,
						   .ai_flags = R.copies ? ARES_AI_ENVHOSTS : 0 };
	struct kh_resolve_job *job;

	for (;;) {
		pthread_mutex_lock(&R.lock);
		job = pop_start_locked();
		if (job != NULL && !job->cancelled &&
		    !kh_dnscache_get(R.cache, job->host, kh_mono_ms(), &job->ans))
			job->state = JOB_RUNNING;
		pthread_mutex_unlock(&R.lock);
		if (job == NULL)
			return;
		if (job->state != JOB_RUNNING) {
			job->chan = NULL;
			finish(job, 0);
			continue;
		}
		job->chan = R.cur;
		R.cur->active++;
		ares_getaddrinfo(R.cur->ch, job->host, NULL, &hints, on_answer, job);
	}
}

static int poll_timeout(void)
{
	int ms = -1;

	for (size_t i = 0; i < 2; i++) {
		struct timeval tv, *t;
		int m;

		if (!R.chans[i].open || R.chans[i].active == 0)
			continue;
		t = ares_timeout(R.chans[i].ch, NULL, &tv);
		if (t == NULL)
			continue;
		m = (int)(t->tv_sec * 1000 + (t->tv_usec + 999) / 1000);
		ms = ms < 0 || m < ms ? m : ms;
	}
	return ms;
}

static void process(const struct pollfd *p, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct sock *s = p[i].revents ? sock_of(p[i].fd) : NULL;

		if (s == NULL)
			continue; /* closed meanwhile by c-ares */
		ares_process_fd(s->chan->ch,
				p[i].revents & (POLLIN | POLLERR | POLLHUP) ? p[i].fd
									    : ARES_SOCKET_BAD,
				p[i].revents & POLLOUT ? p[i].fd : ARES_SOCKET_BAD);
	}
	for (size_t i = 0; i < 2; i++) /* timeouts */
		if (R.chans[i].open && R.chans[i].active > 0)
			ares_process_fd(R.chans[i].ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

static void *run(void *arg)
{
	struct pollfd p[1 + KH_RESOLVER_SOCKETS];
	uint64_t junk;

	(void)arg;
	for (;;) {
		size_t n = 1;
		bool stop;

		p[0] = (struct pollfd){ R.wake_fd, POLLIN, 0 };
		for (size_t i = 0; i < R.n_socks; i++)
			p[n++] = (struct pollfd){ R.socks[i].fd,
						  (short)((R.socks[i].rd ? POLLIN : 0) |
							  (R.socks[i].wr ? POLLOUT : 0)),
						  0 };
		if (poll(p, n, poll_timeout()) < 0 && errno != EINTR)
			kh_warn("resolver: poll: %s", kh_strerror(errno));
		if (p[0].revents & POLLIN)
			(void)!read(R.wake_fd, &junk, sizeof junk);
		pthread_mutex_lock(&R.lock);
		stop = R.stopping;
		pthread_mutex_unlock(&R.lock);
		if (stop)
			break;
		process(p, n);
		maybe_switch();
		start_pending();
	}
	return NULL;
}

/* --- the loops' side --- */

static void set_servers_locked(char *const *servers, size_t n)
{
	size_t len = 0;

	R.servers[0] = '\0';
	for (size_t i = 0; i < n && i < KH_MAX_DNS_SERVERS; i++)
		len += kh_fmt(R.servers + len, sizeof R.servers - len, "%s%s", i ? "," : "",
			      servers[i]);
}

/* How the originals look now, so a change from here on is seen. */
static void remember_files(void)
{
	(void)file_changed(RESOLV_CONF, &R.resolv_st);
	(void)file_changed(KH_RESOLVFILES_HOSTS, &R.hosts_st);
	R.resolv_checked_ms = kh_mono_ms();
}

int kh_resolver_use_copies(const char *dir, int (*refresh)(void *arg), void *arg)
{
	if (kh_resolvfiles_path(dir, "resolv.conf", R.resolv_copy, sizeof R.resolv_copy) != 0 ||
	    kh_resolvfiles_path(dir, "hosts", R.hosts_copy, sizeof R.hosts_copy) != 0 ||
	    setenv("CARES_HOSTS", R.hosts_copy, 1) != 0)
		return -1;
	R.copies = true;
	R.refresh = refresh;
	R.refresh_arg = arg;
	remember_files();
	return 0;
}

int kh_resolver_start(char *const *servers, size_t n_servers, struct kh_err *err)
{
	static const struct kh_lookupq_limits lim = { KH_RESOLVER_RUNNING, KH_RESOLVER_QUEUE,
						      KH_RESOLVER_SOURCE_RUNNING,
						      KH_RESOLVER_SOURCE_QUEUE };

	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
		goto fail;
	R.q = kh_lookupq_new(&lim);
	R.cache = kh_dnscache_new(KH_DNS_CACHE_ENTRIES);
	R.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (R.q == NULL || R.cache == NULL || R.wake_fd < 0)
		goto fail;
	set_servers_locked(servers, n_servers);
	if (!R.copies) /* else kh_resolver_use_copies did, before copying */
		remember_files();
	R.cur = &R.chans[0];
	if (chan_open(R.cur, R.servers) != 0)
		goto fail;
	R.stopping = false;
	if (pthread_create(&R.thread, NULL, run, NULL) != 0)
		goto fail;
	R.running = true;
	return 0;
fail:
	kh_err_set(err, "cannot start the resolver (c-ares)%s",
		   n_servers ? ": check dns_servers in config.yaml" : "");
	kh_resolver_stop();
	return -1;
}

void kh_resolver_configure(char *const *servers, size_t n_servers)
{
	char before[SERVERS_MAX];

	pthread_mutex_lock(&R.lock);
	memcpy(before, R.servers, sizeof before);
	set_servers_locked(servers, n_servers);
	/* Emptied here, not when the resolver thread switches channels: a
	 * lookup submitted meanwhile must not get the old servers' answer. */
	if (strcmp(before, R.servers) != 0) {
		R.reconfigure = true;
		if (R.cache != NULL)
			kh_dnscache_clear(R.cache);
	}
	pthread_mutex_unlock(&R.lock);
	if (R.wake_fd >= 0)
		wake();
}

enum kh_resolve_result kh_resolver_submit(struct kh_resolve_job *job)
{
	enum kh_lookupq_verdict v = KH_LQ_FULL;

	job->cancelled = false;
	job->state = 0;
	pthread_mutex_lock(&R.lock);
	if (R.running && !R.stopping) {
		if (kh_dnscache_get(R.cache, job->host, kh_mono_ms(), &job->ans)) {
			pthread_mutex_unlock(&R.lock);
			return KH_RESOLVE_CACHED;
		}
		v = kh_lookupq_submit(R.q, &job->q, job->source);
	}
	if (v == KH_LQ_RUN)
		push_start_locked(job);
	else if (v == KH_LQ_WAIT)
		job->state = JOB_WAITING; /* queue_next_locked() hands it out in its turn */
	pthread_mutex_unlock(&R.lock);
	if (v == KH_LQ_RUN)
		wake();
	if (v == KH_LQ_RUN || v == KH_LQ_WAIT)
		return KH_RESOLVE_QUEUED;
	return v == KH_LQ_SOURCE_FULL ? KH_RESOLVE_SOURCE_BUSY : KH_RESOLVE_BUSY;
}

bool kh_resolver_cancel(struct kh_resolve_job *job)
{
	bool gone;

	pthread_mutex_lock(&R.lock);
	gone = job->state == JOB_WAITING && kh_lookupq_cancel(R.q, &job->q);
	if (!gone)
		job->cancelled = true;
	pthread_mutex_unlock(&R.lock);
	return gone;
}

void kh_resolver_stop(void)
{
	struct kh_resolve_job *job;

	pthread_mutex_lock(&R.lock);
	R.stopping = true;
	pthread_mutex_unlock(&R.lock);
	if (R.running) {
		wake();
		pthread_join(R.thread, NULL);
		R.running = false;
	}
	for (size_t i = 0; i < 2; i++)
		chan_close(&R.chans[i]); /* its jobs end in finish(), which frees them */
	while ((job = pop_start_locked()) != NULL)
		free(job);
	if (R.wake_fd >= 0)
		close(R.wake_fd);
	R.wake_fd = -1;
	kh_lookupq_free(R.q);
	kh_dnscache_free(R.cache);
	R.q = NULL;
	R.cache = NULL;
	ares_library_cleanup();
}
