/* The resolver against DNS stubs of our own on 127.0.0.1 (dns_servers):
 * an answer comes back on the asking loop, is kept for its TTL and then
 * answered at once without a query (a TTL of 0 is not kept); "no such name"
 * is kept briefly; /etc/hosts is read before DNS; a server that never
 * answers ends the lookup with an error; a source with a full queue is
 * refused while another source is still served; a waiting lookup can be
 * cancelled; new servers take effect (and empty the cache) from the next
 * lookup on. Every wait is bounded by a loop timer. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "event/loop.h"
#include "policy/resolver.h"
#include "tap.h"

#define WAIT_LIMIT_MS 20000 /* a bound for a hang; the slowest lookup takes ~6 s */

/* ---- a DNS stub: one UDP socket, one thread ---- */

struct stub {
	int fd;
	uint16_t port;
	uint8_t a_last; /* a.test's A record is 192.0.2.<a_last> */
	atomic_bool stop;
	atomic_int queries; /* every query received */
	atomic_int a_queries; /* for a.test */
	atomic_int localhost_queries;
	pthread_t thread;
};

/* The question's name as "a.b.c" (lower case) and where the question ends. */
static size_t read_question(const uint8_t *m, size_t n, char *name, size_t cap, uint16_t *qtype)
{
	size_t i = 12, o = 0;

	while (i < n && m[i] != 0) {
		size_t l = m[i++];

		if (l > 63 || i + l > n || o + l + 2 > cap)
			return 0;
		if (o > 0)
			name[o++] = '.';
		for (size_t k = 0; k < l; k++) {
			char c = (char)m[i + k];

			name[o++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		}
		i += l;
	}
	name[o] = '\0';
	if (i + 5 > n)
		return 0;
	*qtype = (uint16_t)(m[i + 1] << 8 | m[i + 2]);
	return i + 5;
}

static size_t put_rr(uint8_t *out, size_t o, uint16_t type, uint32_t ttl, const void *rd,
		     uint16_t len)
{
	const uint8_t head[] = { 0xc0,
				 12, /* the question's name */
				 (uint8_t)(type >> 8),
				 (uint8_t)type,
				 0,
				 1,
				 (uint8_t)(ttl >> 24),
				 (uint8_t)(ttl >> 16),
				 (uint8_t)(ttl >> 8),
				 (uint8_t)ttl,
				 (uint8_t)(len >> 8),
				 (uint8_t)len };

	memcpy(out + o, head, sizeof head);
	memcpy(out + o + sizeof head, rd, len);
	return o + sizeof head + len;
}

/* Builds the answer to query m; 0: send nothing (slow.*). */
static size_t answer(struct stub *s, const uint8_t *m, size_t n, uint8_t *out)
{
	char name[256];
	uint16_t qtype = 0;
	size_t qend = read_question(m, n, name, sizeof name, &qtype), o;
	uint8_t rcode = 0, an = 0;

	if (qend == 0 || m[5] != 1)
		return 0;
	atomic_fetch_add(&s->queries, 1);
	if (strcmp(name, "a.test") == 0)
		atomic_fetch_add(&s->a_queries, 1);
	if (strncmp(name, "localhost", 9) == 0)
		atomic_fetch_add(&s->localhost_queries, 1);
	if (strncmp(name, "slow", 4) == 0)
		return 0;
	memcpy(out, m, qend); /* header and question */
	o = qend;
	if (strcmp(name, "a.test") == 0 || strcmp(name, "b.test") == 0 ||
	    strcmp(name, "short.test") == 0) {
		if (qtype == 1) {
			uint8_t ip[4] = { 192, 0, 2, name[0] == 'a' ? s->a_last : 20 };

			o = put_rr(out, o, 1, name[0] == 's' ? 0 : 300, ip, 4);
			an = 1;
		}
	} else if (strcmp(name, "v6.test") == 0) {
		if (qtype == 28) {
			struct in6_addr ip;

			inet_pton(AF_INET6, "2001:db8::6", &ip);
			o = put_rr(out, o, 28, 300, &ip, 16);
			an = 1;
		}
	} else {
		rcode = 3; /* NXDOMAIN */
	}
	out[2] = 0x81; /* QR, RD */
	out[3] = (uint8_t)(0x80 | rcode); /* RA */
	out[6] = 0, out[7] = an;
	out[8] = out[9] = out[10] = out[11] = 0;
	return o;
}

static void *stub_run(void *arg)
{
	struct stub *s = arg;
	uint8_t in[1500], out[1600];

	while (!atomic_load(&s->stop)) {
		struct pollfd p = { s->fd, POLLIN, 0 };
		struct sockaddr_storage from;
		socklen_t fl = sizeof from;
		ssize_t n;
		size_t len;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recvfrom(s->fd, in, sizeof in, 0, (struct sockaddr *)&from, &fl);
		if (n <= 12)
			continue;
		len = answer(s, in, (size_t)n, out);
		if (len > 0)
			(void)!sendto(s->fd, out, len, 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

static int stub_start(struct stub *s, uint8_t a_last)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof a;

	memset(s, 0, sizeof *s);
	s->a_last = a_last;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    getsockname(s->fd, (struct sockaddr *)&a, &al) != 0)
		return -1;
	s->port = ntohs(a.sin_port);
	return pthread_create(&s->thread, NULL, stub_run, s) == 0 ? 0 : -1;
}

static void stub_stop(struct stub *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	close(s->fd);
}

/* ---- lookups on a loop ---- */

static struct kh_loop *loop;
static struct stub one, two;
static bool started;
static int answered; /* task.cb runs */

static void on_answer(struct kh_task *t)
{
	struct kh_resolve_job *job = (struct kh_resolve_job *)t;

	if (job->cancelled) {
		free(job);
		return;
	}
	answered++;
	kh_loop_stop(loop);
}

static void on_limit(struct kh_timer *t)
{
	(void)t;
	kh_loop_stop(loop);
}

static struct kh_resolve_job *job_new(const char *host, const char *source)
{
	struct kh_resolve_job *job = calloc(1, sizeof *job);

	if (job == NULL)
		abort();
	job->task.cb = on_answer;
	job->loop = loop;
	snprintf(job->host, sizeof job->host, "%s", host);
	snprintf(job->source, sizeof job->source, "%s", source);
	return job;
}

/* Runs the loop until one answer arrives (or the limit); true if one did. */
static bool wait_answer(void)
{
	struct kh_timer limit = { .cb = on_limit };
	int before = answered;

	kh_timer_after(loop, &limit, WAIT_LIMIT_MS);
	while (answered == before && limit.idx != 0)
		kh_loop_run(loop);
	kh_timer_cancel(loop, &limit);
	return answered > before;
}

/* Looks host up and waits; the result, with the job (caller frees) in *out. */
static enum kh_resolve_result lookup(const char *host, struct kh_resolve_job **out)
{
	struct kh_resolve_job *job = job_new(host, "test");
	enum kh_resolve_result r = kh_resolver_submit(job);

	if (r == KH_RESOLVE_QUEUED && !wait_answer()) {
		printf("# no answer for %s in time\n", host);
		kh_resolver_cancel(job); /* the resolver frees it */
		job = NULL;
	}
	*out = job;
	return r;
}

static const char *ip_of(const struct kh_resolve_job *job, size_t i, char *buf, size_t len)
{
	const struct sockaddr *sa = (const struct sockaddr *)&job->ans.addrs[i];
	const void *a = sa->sa_family == AF_INET
				? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
				: (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;

	return inet_ntop(sa->sa_family, a, buf, (socklen_t)len) ? buf : "?";
}

static void answered_and_cached(void)
{
	struct kh_resolve_job *job = NULL;
	char ip[64];

	if (!started)
		return;
	CHECK_INT(lookup("a.test", &job), KH_RESOLVE_QUEUED);
	CHECK(job != NULL && job->ans.error == NULL && job->ans.n_addrs == 1);
	if (job != NULL && job->ans.n_addrs == 1)
		CHECK_STR(ip_of(job, 0, ip, sizeof ip), "192.0.2.10");
	CHECK(atomic_load(&one.a_queries) >= 1);
	free(job);

	/* kept for its TTL: answered now, no query */
	int before = atomic_load(&one.queries);

	CHECK_INT(lookup("A.TEST", &job), KH_RESOLVE_CACHED);
	CHECK(job != NULL && job->ans.n_addrs == 1 && job->ans.error == NULL);
	CHECK_INT(atomic_load(&one.queries), before);
	free(job);

	CHECK_INT(lookup("v6.test", &job), KH_RESOLVE_QUEUED);
	CHECK(job != NULL && job->ans.n_addrs == 1);
	if (job != NULL && job->ans.n_addrs == 1)
		CHECK_STR(ip_of(job, 0, ip, sizeof ip), "2001:db8::6");
	free(job);

	/* a TTL of 0 is not kept */
	CHECK_INT(lookup("short.test", &job), KH_RESOLVE_QUEUED);
	CHECK(job != NULL && job->ans.n_addrs == 1);
	free(job);
	CHECK_INT(lookup("short.test", &job), KH_RESOLVE_QUEUED);
	free(job);
}

static void no_such_name(void)
{
	struct kh_resolve_job *job = NULL;
	int before;

	if (!started)
		return;
	CHECK_INT(lookup("nx.test", &job), KH_RESOLVE_QUEUED);
	CHECK(job != NULL && job->ans.error != NULL && job->ans.n_addrs == 0);
	free(job);
	before = atomic_load(&one.queries);
	CHECK_INT(lookup("nx.test", &job), KH_RESOLVE_CACHED); /* kept briefly */
	CHECK(job != NULL && job->ans.error != NULL);
	CHECK_INT(atomic_load(&one.queries), before);
	free(job);
}

static void hosts_file_first(void)
{
	struct kh_resolve_job *job = NULL;
	enum kh_resolve_result r;

	if (!started)
		return;
	r = lookup("localhost", &job);
	CHECK(r == KH_RESOLVE_QUEUED || r == KH_RESOLVE_CACHED);
	CHECK(job != NULL && job->ans.error == NULL && job->ans.n_addrs >= 1);
	CHECK_INT(atomic_load(&one.localhost_queries), 0);
	free(job);
}

/* One source with a full queue is refused; another is still answered while
 * that source's lookups hang; waiting lookups can be cancelled. */
static void fair_and_cancellable(void)
{
	enum { N = KH_RESOLVER_SOURCE_RUNNING + KH_RESOLVER_SOURCE_QUEUE };
	static struct kh_resolve_job *hog[N];
	struct kh_resolve_job *extra, *job = NULL;
	size_t queued = 0, dropped = 0;
	char host[64];

	if (!started)
		return;
	for (size_t i = 0; i < N; i++) {
		snprintf(host, sizeof host, "slow%zu.test", i);
		hog[i] = job_new(host, "hog");
		queued += kh_resolver_submit(hog[i]) == KH_RESOLVE_QUEUED;
	}
	CHECK_INT(queued, N);
	extra = job_new("slow-extra.test", "hog");
	CHECK_INT(kh_resolver_submit(extra), KH_RESOLVE_SOURCE_BUSY);
	free(extra);

	CHECK_INT(lookup("b.test", &job), KH_RESOLVE_QUEUED);
	CHECK(job != NULL && job->ans.n_addrs == 1 && job->ans.error == NULL);
	free(job);

	/* the waiting ones are handed back; the running ones freed later */
	for (size_t i = 0; i < N; i++)
		if (kh_resolver_cancel(hog[i])) {
			free(hog[i]);
			dropped++;
		}
	CHECK(dropped >= KH_RESOLVER_SOURCE_QUEUE);
	CHECK(dropped < N);
}

/* A server that never answers: the lookup ends with an error, not a hang. */
static void timeout(void)
{
	struct kh_resolve_job *job = NULL;

	if (!started)
		return;
	CHECK_INT(lookup("slow-timeout.test", &job), KH_RESOLVE_QUEUED);
	CHECK(job != NULL && job->ans.error != NULL && job->ans.n_addrs == 0);
	free(job);
}

/* New servers from the next lookup on: the old servers' cached answer is
 * not handed out any more. Back and forth, each answer cached in between. */
static void reconfigure(void)
{
	char server[64], *servers[] = { server };
	struct kh_resolve_job *job = NULL;
	char ip[64];
	int wrong = 0;

	if (!started)
		return;
	for (int round = 0; round < 10; round++) {
		const struct stub *s = round % 2 ? &one : &two;
		char want[32];

		snprintf(server, sizeof server, "127.0.0.1:%u", (unsigned)s->port);
		snprintf(want, sizeof want, "192.0.2.%u", (unsigned)s->a_last);
		kh_resolver_configure(servers, 1);
		lookup("a.test", &job);
		if (job == NULL || job->ans.n_addrs != 1 ||
		    strcmp(ip_of(job, 0, ip, sizeof ip), want) != 0)
			wrong++;
		free(job);
	}
	CHECK_INT(wrong, 0);
	CHECK(atomic_load(&two.a_queries) >= 1);
}

int main(void)
{
	struct kh_err err = { "" };
	char server[64], *servers[] = { server };

	loop = kh_loop_new(&err);
	if (loop == NULL || stub_start(&one, 10) != 0 || stub_start(&two, 30) != 0) {
		printf("Bail out! no loop or DNS stub\n");
		return 1;
	}
	snprintf(server, sizeof server, "127.0.0.1:%u", (unsigned)one.port);
	started = kh_resolver_start(servers, 1, &err) == 0;
	if (!started)
		printf("# %s\n", err.msg);
	RUN(answered_and_cached);
	RUN(no_such_name);
	RUN(hosts_file_first);
	RUN(fair_and_cancellable);
	RUN(timeout);
	RUN(reconfigure);
	if (started)
		kh_resolver_stop(); /* frees the cancelled lookups still out */
	stub_stop(&one);
	stub_stop(&two);
	kh_loop_free(loop);
	TAP_DONE();
}
