#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "fsutil.h"
#include "jsonl.h"
#include "kh_limits.h"
#include "log.h"
#include "metrics.h"

static int audit_fd = -1;
static atomic_uint_fast64_t last_failure_report_ms;

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

void kh_audit_close(void)
{
	if (audit_fd >= 0)
		close(audit_fd);
	audit_fd = -1;
}

static void fields(struct kh_json *j, const struct kh_audit_rec *r)
{
	char ts[KH_ISO_TIME_LEN];

	kh_iso_time(ts, sizeof ts);
	kh_json_kv_cstr(j, "time", ts);
	kh_json_kv_cstr(j, "client", r->client);
	kh_json_kv_cstr(j, "mode", r->mode);
	kh_json_kv_cstr(j, "method", r->method);
	kh_json_kv_cstr(j, "host", r->host);
	kh_json_kv_uint(j, "port", r->port);
	if (r->path != NULL)
		kh_json_kv_str(j, "path", r->path, strnlen(r->path, KH_AUDIT_PATH_MAX));
	else
		kh_json_kv_cstr(j, "path", NULL); /* CONNECT-level records have no path */
	kh_json_kv_int(j, "status", r->status);
	kh_json_kv_uint(j, "bytes_in", r->bytes_in);
	kh_json_kv_uint(j, "bytes_out", r->bytes_out);
	kh_json_key(j, "duration_ms");
	kh_json_milli(j, r->duration_us);
	kh_json_kv_cstr(j, "decision", r->decision);
	kh_json_kv_cstr(j, "reason", r->reason);
	if (r->detail != NULL && r->detail[0] != '\0')
		kh_json_kv_cstr(j, "detail", r->detail);
	if (r->sni != NULL && r->sni[0] != '\0')
		kh_json_kv_cstr(j, "sni", r->sni);
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
}

static void report_failure(const char *what)
{
	uint64_t now = kh_mono_ms(), last = atomic_load(&last_failure_report_ms);

	if (last != 0 && now - last < 60000)
		return;
	atomic_store(&last_failure_report_ms, now);
	kh_error("audit log: %s (records are being lost)", what);
}

void kh_audit_write(const struct kh_audit_rec *r)
{
	char line[KH_AUDIT_LINE_MAX];
	struct kh_json j;
	ssize_t len;

	/* Every decision is audited here, so this is also where it is counted. */
	kh_metrics_count_request(r->decision, r->reason, r->swapped, r->n_swapped, r->duration_us,
				 r->path != NULL);
	if (audit_fd < 0)
		return;
	kh_json_init(&j, line, sizeof line);
	kh_json_begin_object(&j);
	fields(&j, r);
	kh_json_end_object(&j);
	len = kh_json_finish_line(&j);
	if (len < 0) {
		report_failure("record too large");
		return;
	}
	if (write(audit_fd, line, (size_t)len) != len)
		report_failure(errno ? strerror(errno) : "short write");
}
