#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "tls/ca.h"
#include "tls/certcache.h"
#include "base/fsutil.h"
#include "tap.h"

#define THREADS         4
#define GETS_PER_THREAD 200
#define HOSTS           20
#define SHARED_CAPACITY 8

static char root[256];
static struct kh_ca g_ca;

static const char *path(const char *name)
{
	static char out[2][512];
	static unsigned next;
	char *p = out[next++ % 2];

	kh_path_join(p, sizeof out[0], root, name);
	return p;
}

static X509 *get(struct kh_certcache *cc, const char *host)
{
	struct kh_err err;
	X509 *x = kh_certcache_get(cc, &g_ca, host, &err);

	if (x == NULL)
		printf("#   get %s: %s\n", host, err.msg);
	return x;
}

static void new_and_free_edges(void)
{
	CHECK(kh_certcache_new(0) == NULL);
	kh_certcache_free(NULL);
	kh_certcache_free(kh_certcache_new(1));
}

static void hit_after_first_get(void)
{
	struct kh_certcache *cc = kh_certcache_new(10);
	struct kh_certcache_stats st;
	X509 *a1 = get(cc, "a.example.com");
	X509 *a2 = get(cc, "a.example.com");
	X509 *b = get(cc, "b.example.com");

	CHECK(a1 != NULL && a2 != NULL && b != NULL);
	CHECK(a1 == a2);
	if (a1 != NULL && a2 != NULL && b != NULL) {
		CHECK_INT(ASN1_INTEGER_cmp(X509_get0_serialNumber(a1), X509_get0_serialNumber(a2)),
			  0);
		CHECK(a1 != b);
		CHECK_INT(X509_check_host(a1, "a.example.com", 0, 0, NULL), 1);
		CHECK_INT(X509_check_host(b, "b.example.com", 0, 0, NULL), 1);
	}
	kh_certcache_stats(cc, &st);
	CHECK_INT(st.hits, 1);
	CHECK_INT(st.misses, 2);
	CHECK_INT(st.mints, 2);
	CHECK_INT(st.evictions, 0);
	CHECK_INT(st.entries, 2);
	/* The caller's references outlive the cache. */
	kh_certcache_free(cc);
	CHECK_INT(X509_check_host(a1, "a.example.com", 0, 0, NULL), 1);
	X509_free(b);
	X509_free(a2);
	X509_free(a1);
}

static void lru_evicts_least_recent(void)
{
	struct kh_certcache *cc = kh_certcache_new(2);
	struct kh_certcache_stats st;
	X509 *a = get(cc, "a.test");
	X509 *b = get(cc, "b.test");
	X509 *a2 = get(cc, "a.test"); /* a is now more recent than b */
	X509 *c = get(cc, "c.test"); /* evicts b */
	X509 *a3 = get(cc, "a.test");
	X509 *b2 = get(cc, "b.test"); /* b was evicted: minted again, evicts c */

	kh_certcache_stats(cc, &st);
	CHECK_INT(st.entries, 2);
	CHECK_INT(st.evictions, 2);
	CHECK_INT(st.hits, 2);
	CHECK_INT(st.misses, 4);
	CHECK_INT(st.mints, 4);
	CHECK(a != NULL && a == a2 && a == a3);
	CHECK(b != NULL && b2 != NULL && b != b2 && c != NULL);
	if (b != NULL && b2 != NULL)
		CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(b), X509_get0_serialNumber(b2)) != 0);
	X509_free(b2);
	X509_free(a3);
	X509_free(c);
	X509_free(a2);
	X509_free(b);
	X509_free(a);
	kh_certcache_free(cc);
}

static void mint_failure_not_cached(void)
{
	struct kh_certcache *cc = kh_certcache_new(4);
	struct kh_certcache_stats st;
	struct kh_err err;

	CHECK(kh_certcache_get(cc, &g_ca, "bad host", &err) == NULL);
	CHECK(strstr(err.msg, "not a valid host") != NULL);
	CHECK(kh_certcache_get(cc, &g_ca, "bad host", &err) == NULL);
	kh_certcache_stats(cc, &st);
	CHECK_INT(st.entries, 0);
	CHECK_INT(st.mints, 0);
	CHECK_INT(st.misses, 2);
	kh_certcache_free(cc);
}

struct worker {
	struct kh_certcache *cc;
	int id;
	int failures;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	char host[64];

	for (int i = 0; i < GETS_PER_THREAD; i++) {
		X509 *x;

		snprintf(host, sizeof host, "h%d.example.com", (i * 7 + w->id * 3) % HOSTS);
		x = get(w->cc, host);
		/* A leaf for the wrong host would mean entries got mixed up. */
		if (x == NULL || X509_check_host(x, host, 0, 0, NULL) != 1)
			w->failures++;
		X509_free(x);
	}
	return NULL;
}

static void threads_share_cache(void)
{
	struct kh_certcache *cc = kh_certcache_new(SHARED_CAPACITY);
	struct kh_certcache_stats st;
	pthread_t tid[THREADS];
	struct worker w[THREADS];
	int started = 0;

	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ cc, i, 0 };
		if (pthread_create(&tid[i], NULL, worker_run, &w[i]) != 0)
			break;
		started++;
	}
	CHECK_INT(started, THREADS);
	for (int i = 0; i < started; i++) {
		pthread_join(tid[i], NULL);
		CHECK_INT(w[i].failures, 0);
	}
	kh_certcache_stats(cc, &st);
	CHECK(st.entries <= SHARED_CAPACITY);
	CHECK_INT(st.hits + st.misses, THREADS * GETS_PER_THREAD);
	CHECK(st.mints == st.misses);
	CHECK(st.evictions + st.entries <= st.mints);
	kh_certcache_free(cc);
}

static int setup_ca(void)
{
	struct kh_err err;
	bool created;

	if (kh_ca_ensure(path("ca.crt"), path("ca.key"), &created, &err) != 0 ||
	    kh_ca_load(&g_ca, path("ca.crt"), path("ca.key"), &err) != 0) {
		printf("# setup: %s\n", err.msg);
		return -1;
	}
	return 0;
}

int main(void)
{
	char tmpl[] = "/tmp/kh-certcache-XXXXXX";
	char cmd[300];

	if (mkdtemp(tmpl) == NULL)
		return 1;
	snprintf(root, sizeof root, "%s", tmpl);
	if (setup_ca() != 0)
		return 1;
	RUN(new_and_free_edges);
	RUN(hit_after_first_get);
	RUN(lru_evicts_least_recent);
	RUN(mint_failure_not_cached);
	RUN(threads_share_cache);
	kh_ca_free(&g_ca);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	if (system(cmd) != 0)
		return 1;
	TAP_DONE();
}
