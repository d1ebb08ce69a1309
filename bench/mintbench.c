/* Leaf-certificate microbenchmark: what keyhole's CA code costs with no
 * network in the way. Links against build/libkeyhole.a and uses only the
 * public ca.h / certcache.h interfaces.
 *
 *   mintbench DIR [N]     (DIR gets a fresh CA; N names, default 1000)
 *
 * Prints one JSON line with medians and p99 in microseconds for:
 *   mint        kh_ca_mint_leaf() for a new name (sign + build)
 *   cache_miss  kh_certcache_get() for a name not in the cache (mint + insert)
 *   cache_hit   kh_certcache_get() for the same names again
 * bench.py builds and runs it (see bench/README.md). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ca.h"
#include "certcache.h"
#include "err.h"
#include "slice.h"

#define MAX_N 100000

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts t[0..n) and prints "name":{"p50":..,"p99":..} in microseconds. */
static void report(const char *name, uint64_t *t, size_t n, int last)
{
	qsort(t, n, sizeof *t, cmp_u64);
	printf("\"%s_us\":{\"p50\":%.1f,\"p99\":%.1f}%s", name, (double)t[n / 2] / 1e3,
	       (double)t[n * 99 / 100] / 1e3, last ? "" : ",");
}

static void host_name(char *buf, size_t len, const char *prefix, size_t i)
{
	snprintf(buf, len, "%s%zu.mint.test", prefix, i);
}

static int run(struct kh_ca *ca, size_t n, uint64_t *t)
{
	struct kh_certcache *cc = kh_certcache_new(n);
	struct kh_err err = { { 0 } };
	char host[64];

	if (cc == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		X509 *x;

		host_name(host, sizeof host, "a", i);
		x = kh_ca_mint_leaf(ca, host, &err);
		t[i] = now_ns() - t0;
		if (x == NULL)
			goto fail;
		X509_free(x);
	}
	printf("{\"names\":%zu,", n);
	report("mint", t, n, 0);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			uint64_t t0 = now_ns();
			X509 *x;

			host_name(host, sizeof host, "b", i);
			x = kh_certcache_get(cc, ca, host, &err);
			t[i] = now_ns() - t0;
			if (x == NULL)
				goto fail;
			X509_free(x);
		}
		report(pass == 0 ? "cache_miss" : "cache_hit", t, n, pass == 1);
	}
	printf("}\n");
	kh_certcache_free(cc);
	return 0;
fail:
	fprintf(stderr, "mintbench: %s\n", err.msg);
	kh_certcache_free(cc);
	return -1;
}

int main(int argc, char **argv)
{
	char crt[4096], key[4096];
	struct kh_ca ca = { 0 };
	struct kh_err err = { { 0 } };
	uint64_t n = 1000, *t;
	bool created;
	int rc = 1;

	if (argc < 2 || (argc > 2 && (kh_parse_u64(argv[2], MAX_N, &n) != 0 || n == 0))) {
		fprintf(stderr, "usage: mintbench DIR [N<=%d]\n", MAX_N);
		return 2;
	}
	snprintf(crt, sizeof crt, "%s/ca.crt", argv[1]);
	snprintf(key, sizeof key, "%s/ca.key", argv[1]);
	t = calloc(n, sizeof *t);
	if (t == NULL || kh_ca_ensure(crt, key, &created, &err) != 0 ||
	    kh_ca_load(&ca, crt, key, &err) != 0) {
		fprintf(stderr, "mintbench: %s\n", t ? err.msg : "out of memory");
		goto out;
	}
	rc = run(&ca, (size_t)n, t) == 0 ? 0 : 1;
out:
	kh_ca_free(&ca);
	free(t);
	return rc;
}
