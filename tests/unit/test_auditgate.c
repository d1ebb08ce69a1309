/* The process-wide audit flood gate, writing to a real file: the first
 * refusals of a kind are written whole, later ones folded (and still
 * counted in the metrics), another source is not held back by the first,
 * a fold record falls due and is written by a flush, and threads refused
 * at once lose no count and write only whole lines. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/kh_limits.h"
#include "base/slice.h"
#include "proxy/auditgate.h"
#include "proxy/metrics.h"
#include "tap.h"
#include "tmpdir.h"

#define THREADS    4
#define PER_THREAD 500

static int fd = -1;
static char text[KH_METRICS_BODY_MAX];

static struct kh_audit_rec refusal(const char *client, const char *host, const char *reason)
{
	return (struct kh_audit_rec){ .client = client,
				      .mode = "connect",
				      .method = "CONNECT",
				      .host = host,
				      .port = 443,
				      .decision = "deny",
				      .reason = reason };
}

/* The file's lines: how many, and whether all are whole JSON-looking lines. */
static size_t lines(bool *whole, size_t *with_repeated)
{
	static char buf[1 << 22];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	size_t count = 0;
	char *p = buf;

	*whole = n >= 0;
	*with_repeated = 0;
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	*whole = buf[n - 1] == '\n';
	while (*p != '\0') {
		char *nl = strchr(p, '\n');

		if (nl == NULL)
			break;
		*nl = '\0';
		count++;
		*whole = *whole && p[0] == '{' && nl[-1] == '}';
		*with_repeated += strstr(p, "\"repeated\":") != NULL;
		p = nl + 1;
	}
	return count;
}

static uint64_t denied_count(const char *reason)
{
	struct kh_metrics_gauges g = { 0 };
	char want[160];
	const char *at;
	uint64_t v;

	if (kh_metrics_render(text, sizeof text, &g) <= 0)
		return 0;
	snprintf(want, sizeof want, "keyhole_requests_total{decision=\"deny\",reason=\"%s\"} ",
		 reason);
	at = strstr(text, want);
	if (at == NULL)
		return 0;
	at += strlen(want);
	if (kh_slice_to_u64(kh_slice_make(at, strspn(at, "0123456789")), UINT64_MAX, &v) != 0)
		return 0;
	return v;
}

static void folds_and_flush(void)
{
	struct kh_audit_rec r = refusal("10.0.0.2:5000", "a.test", "host_not_allowed");
	struct kh_audit_rec other = refusal("10.0.0.3:5000", "b.test", "host_not_allowed");
	size_t written = 0, n, rep;
	uint64_t due;
	bool whole;

	kh_metrics_reset();
	for (int i = 0; i < 20; i++)
		written += kh_auditgate_write(&r, "10.0.0.2");
	CHECK_INT(written, KH_AUDIT_FOLD_WHOLE);
	due = kh_auditgate_next_due();
	CHECK(due != 0 && due > kh_mono_ms() - KH_AUDIT_FOLD_MS);
	/* another source is written whole meanwhile */
	CHECK(kh_auditgate_write(&other, "10.0.0.3"));
	/* every refusal is counted, folded or not */
	CHECK_INT(denied_count("host_not_allowed"), 21);
	kh_auditgate_flush();
	CHECK_INT(kh_auditgate_next_due(), 0);
	n = lines(&whole, &rep);
	CHECK(whole);
	CHECK_INT(n, KH_AUDIT_FOLD_WHOLE + 1 + 1); /* whole ones, the other source, one fold */
	CHECK_INT(rep, 1);
	CHECK_INT(kh_auditgate_tick(), 0); /* nothing left to do */
}

static void *hammer(void *arg)
{
	char source[32];
	struct kh_audit_rec r;

	snprintf(source, sizeof source, "10.1.0.%d", (int)(intptr_t)arg);
	r = refusal(source, "c.test", "port_not_allowed");
	for (int i = 0; i < PER_THREAD; i++)
		kh_auditgate_write(&r, source);
	return NULL;
}

static void threads(void)
{
	pthread_t t[THREADS];
	size_t before, after, rep0, rep1;
	bool whole;

	before = lines(&whole, &rep0);
	for (intptr_t i = 0; i < THREADS; i++)
		CHECK_INT(pthread_create(&t[i], NULL, hammer, (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	kh_auditgate_flush();
	CHECK_INT(denied_count("port_not_allowed"), THREADS * PER_THREAD);
	after = lines(&whole, &rep1);
	CHECK(whole);
	/* each source: its whole records (at least the first few) and fold records */
	CHECK(after - before >= THREADS * (KH_AUDIT_FOLD_WHOLE + 1));
	CHECK(after - before < THREADS * PER_THREAD / 2);
	CHECK(rep1 - rep0 >= THREADS);
}

int main(void)
{
	if (tmpdir_make("kh-auditgate") != 0 ||
	    (fd = open(path("audit.log"), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0) {
		printf("Bail out! no scratch file\n");
		return 1;
	}
	kh_audit_use_fd(fd);
	RUN(folds_and_flush);
	RUN(threads);
	kh_audit_close();
	tmpdir_remove();
	TAP_DONE();
}
