#include "proxy/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/fsutil.h"
#include "base/jsonl.h"
#include "base/kh_limits.h"
#include "base/log.h"
#include "proxy/metrics.h"

static int audit_fd = -1;
static atomic_uint_fast64_t last_failure_report_ms;
static atomic_uint_fast64_t lost_records;
static atomic_bool failing;
static bool shared_file; /* other processes append too: no cutting back */
static kh_audit_sink_fn *sink; /* a front: records go to the daemon, see audit.h */
static void *sink_arg;

/* A worker thread batches its records and writes them with one write(2)
 * (and one turn of the lock) per event-loop iteration, before it waits
 * again: under load one write stands for every request the iteration
 * finished. Other threads write each record at once. */
struct batch {
	size_t len, records;
	char buf[KH_AUDIT_BATCH_BYTES];
};
static _Thread_local struct batch *thread_batch;

int kh_audit_open(const char *path, struct kh_err *err)
{
	int fd = kh_fs_open_private(path, O_WRONLY | O_CREAT | O_APPEND, 0600, err);

	if (fd < 0) {
		kh_err_prefix(err, "audit log");
		return -1;
	}
	audit_fd = fd;
	return 0;
}

void kh_audit_use_fd(int fd)
{
	audit_fd = fd;
}

int kh_audit_fd(void)
{
	return audit_fd;
}

void kh_audit_set_sink(kh_audit_sink_fn *fn, void *arg)
{
	sink = fn;
	sink_arg = arg;
}

void kh_audit_set_shared(void)
{
	shared_file = true;
}

void kh_audit_close(void)
{
	if (audit_fd >= 0)
		close(audit_fd);
	audit_fd = -1;
}

/* A text field, through the record's redactor if it has one. */
static void kv_text(struct kh_json *j, const struct kh_audit_rec *r, const char *key, const char *v,
		    size_t max)
{
	char shown[KH_AUDIT_PATH_MAX + KH_DETAIL_MAX];
	size_t n;

	if (v == NULL) {
		kh_json_kv_cstr(j, key, NULL);
		return;
	}
	n = strnlen(v, max);
	if (r->redact == NULL) {
		kh_json_kv_str(j, key, v, n);
		return;
	}
	n = kh_redact(r->redact, v, n, shown, sizeof shown);
	kh_json_kv_str(j, key, shown, n);
}

static void fields(struct kh_json *j, const struct kh_audit_rec *r)
{
	char ts[KH_ISO_TIME_LEN];

	kh_iso_time(ts, sizeof ts);
	kh_json_kv_cstr(j, "time", ts);
	kv_text(j, r, "client", r->client, KH_AUDIT_LINE_MAX);
	kh_json_kv_cstr(j, "mode", r->mode);
	kv_text(j, r, "method", r->method, KH_AUDIT_LINE_MAX);
	kv_text(j, r, "host", r->host, KH_AUDIT_LINE_MAX);
	kh_json_kv_uint(j, "port", r->port);
	/* CONNECT-level records have no path (null) */
	kv_text(j, r, "path", r->path, KH_AUDIT_PATH_MAX);
	kh_json_kv_int(j, "status", r->status);
	kh_json_kv_uint(j, "bytes_in", r->bytes_in);
	kh_json_kv_uint(j, "bytes_out", r->bytes_out);
	kh_json_key(j, "duration_ms");
	kh_json_milli(j, r->duration_us);
	kh_json_kv_cstr(j, "decision", r->decision);
	kv_text(j, r, "reason", r->reason, KH_AUDIT_LINE_MAX);
	if (r->detail != NULL && r->detail[0] != '\0')
		kv_text(j, r, "detail", r->detail, KH_AUDIT_LINE_MAX);
	if (r->sni != NULL && r->sni[0] != '\0')
		kv_text(j, r, "sni", r->sni, KH_AUDIT_LINE_MAX);
	if (r->sandbox != NULL && r->sandbox[0] != '\0')
		kv_text(j, r, "sandbox", r->sandbox, KH_AUDIT_LINE_MAX);
	kh_json_key(j, "swapped");
	kh_json_begin_array(j);
	for (size_t i = 0; i < r->n_swapped; i++)
		kh_json_cstring(j, r->swapped[i]);
	kh_json_end_array(j);
	kh_json_key(j, "scrubbed");
	kh_json_begin_object(j);
	for (size_t i = 0; i < r->n_scrubbed; i++)
		kh_json_kv_uint(j, r->scrubbed[i], r->scrub_counts[i]);
	kh_json_end_object(j);
	if (r->repeated > 0) { /* a fold record (auditlimit.h) */
		kh_json_kv_uint(j, "repeated", r->repeated);
		kh_json_kv_uint(j, "distinct", r->distinct);
		kh_json_kv_uint(j, "interval_ms", r->interval_ms);
	}
}

bool kh_audit_failing(uint64_t *lost)
{
	if (lost != NULL)
		*lost = atomic_load(&lost_records);
	return atomic_load(&failing);
}

static void report_failure(const char *what, size_t records)
{
	uint64_t now = kh_mono_ms(), last = atomic_load(&last_failure_report_ms);

	atomic_fetch_add(&lost_records, records);
	atomic_store(&failing, true);
	if (last != 0 && now - last < 60000)
		return;
	atomic_store(&last_failure_report_ms, now);
	kh_error("audit log: %s (records are being lost)", what);
}

/* Length of the whole lines at the start of p[0..n), and how many. */
static size_t whole_lines(const char *p, size_t n, size_t *count)
{
	size_t keep = 0;

	*count = 0;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\n') {
			keep = i + 1;
			(*count)++;
		}
	return keep;
}

/* One write(2) of whole records, under a lock so that a short write (disk
 * full) can be cut back to its last whole record before another record
 * lands behind it: audit.log stays one whole JSON object per line. */
static void append(const char *lines, size_t len, size_t records)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	bool recovered = false;
	size_t kept = 0, kept_records = 0;
	ssize_t n;
	off_t end;

	if (sink != NULL) {
		size_t lost = sink(sink_arg, lines, len, records);

		if (lost > 0)
			report_failure("the daemon's channel is full", lost);
		return;
	}
	pthread_mutex_lock(&lock);
	errno = 0;
	n = write(audit_fd, lines, len);
	if (n == (ssize_t)len) {
		recovered = atomic_exchange(&failing,
					    false); /* under the lock: no race with a failure */
	} else {
		if (n > 0)
			kept = whole_lines(lines, (size_t)n, &kept_records);
		if (n > 0 && (size_t)n > kept && !shared_file &&
		    (end = lseek(audit_fd, 0, SEEK_END)) >= n)
			(void)!ftruncate(audit_fd, end - (off_t)((size_t)n - kept));
		report_failure(n < 0 && errno ? kh_strerror(errno) : "short write (disk full?)",
			       records - kept_records);
	}
	pthread_mutex_unlock(&lock);
	if (recovered)
		kh_info("audit log: writing again (%" PRIu64 " record(s) lost since start)",
			(uint64_t)atomic_load(&lost_records));
}

void kh_audit_append_lines(const char *lines, size_t len, size_t records)
{
	if (audit_fd >= 0 && len > 0)
		append(lines, len, records);
}

int kh_audit_batch_begin(void)
{
	thread_batch = calloc(1, sizeof *thread_batch);
	return thread_batch != NULL ? 0 : -1;
}

void kh_audit_flush(void)
{
	struct batch *b = thread_batch;

	if (b == NULL || b->len == 0)
		return;
	if (audit_fd >= 0 || sink != NULL)
		append(b->buf, b->len, b->records);
	b->len = 0;
	b->records = 0;
}

void kh_audit_batch_end(void)
{
	kh_audit_flush();
	free(thread_batch);
	thread_batch = NULL;
}

void kh_audit_write(const struct kh_audit_rec *r)
{
	char line[KH_AUDIT_LINE_MAX];
	struct batch *b = thread_batch;
	struct kh_json j;
	ssize_t len;

	/* Every decision is audited here, so this is also where it is counted
	 * (a fold record's refusals were counted one by one as they came). */
	if (r->repeated == 0)
		kh_metrics_count_request(r->decision, r->reason, r->swapped, r->n_swapped,
					 r->duration_us, r->path != NULL);
	if (audit_fd < 0 && sink == NULL)
		return;
	if (b != NULL && sizeof b->buf - b->len < KH_AUDIT_LINE_MAX)
		kh_audit_flush();
	/* A batched record is formatted in place, behind the ones before it. */
	kh_json_init(&j, b != NULL ? b->buf + b->len : line, KH_AUDIT_LINE_MAX);
	kh_json_begin_object(&j);
	fields(&j, r);
	kh_json_end_object(&j);
	len = kh_json_finish_line(&j);
	if (len < 0) {
		report_failure("record too large", 1);
		return;
	}
	if (b != NULL) {
		b->len += (size_t)len;
		b->records++;
		return;
	}
	append(line, (size_t)len, 1);
}
