/* audit.log: one JSON object per line for every request decision, appended
 * with write(2)s of whole lines on an O_APPEND fd, under a lock, so records
 * from worker threads never interleave (a worker writes its records once per
 * loop iteration, see kh_audit_batch_begin). Fields: time, client, mode, method, host, port, path,
 * status, bytes_in, bytes_out, duration_ms, decision, reason, detail,
 * swapped, scrubbed ({env name: replacements}), sni, sandbox; a fold record
 * (auditlimit.h) also has repeated, distinct and interval_ms. Callers pass a path
 * already stripped of its query and with tokens redacted; no field may carry a
 * secret or a whole proxy token. As a last net, a record with a redactor has every
 * text field passed through it (redact.h), so a token or key in any encoding a
 * caller missed is cut out. */
#ifndef KH_AUDIT_H
#define KH_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "secret/redact.h"

struct kh_audit_rec {
	const char *client; /* "ip:port" of the sandbox side */
	const char *mode; /* "connect", "mitm", "http" */
	const char *method;
	const char *host;
	uint16_t port;
	const char *path; /* NULL for CONNECT-level records */
	int status; /* 0 when no HTTP status applies */
	uint64_t bytes_in; /* from the client */
	uint64_t bytes_out; /* to the client */
	uint64_t duration_us;
	const char *decision; /* "allow", "deny", "error" */
	const char *reason;
	const char *detail; /* optional */
	const char *const *swapped;
	size_t n_swapped;
	const char *sni; /* optional */
	const char *sandbox; /* label of the sandbox token used (grants.h); optional */
	/* Response scrubbing: env names whose real value was replaced by its
	 * token in the response, and how many times (never the values). */
	const char *const *scrubbed;
	const uint64_t *scrub_counts;
	size_t n_scrubbed;
	/* A fold record (auditlimit.h) stands for `repeated` refusals that were
	 * not written one by one (they were counted in the metrics as they came);
	 * 0 in every other record. */
	uint64_t repeated;
	uint64_t distinct; /* different hosts among them, counted up to KH_AUDIT_FOLD_DISTINCT */
	uint64_t interval_ms; /* how long the window they fell in was */
	const struct kh_redact *redact; /* optional: every text field passes through it */
};

/* Opens (creating 0600, O_NOFOLLOW, owner-checked) the audit log. */
int kh_audit_open(const char *path, struct kh_err *err);

/* Appends one record (whole, or not at all; batched, see below). Failures (e.g. disk full) are reported in the
 * diagnostics log at most once a minute, and the log is "failing" until a
 * record is written whole again; the request itself is unaffected (refusing
 * requests meanwhile, audit_failure: refuse, is the caller's choice). */
void kh_audit_write(const struct kh_audit_rec *r);

/* Batching, for an event-loop thread: after kh_audit_batch_begin() the
 * thread's records are kept (up to KH_AUDIT_BATCH_BYTES) and written by
 * kh_audit_flush(), which the loop calls before each wait, so a record
 * reaches the file within the loop iteration that made it.
 * kh_audit_batch_end() flushes and stops. Without a batch (or when it
 * cannot be allocated: -1), records are written at once. */
int kh_audit_batch_begin(void);
void kh_audit_flush(void);
void kh_audit_batch_end(void);

/* True while the last record could not be written; *lost (if not NULL)
 * gets how many records were lost since the daemon started. Thread-safe. */
bool kh_audit_failing(uint64_t *lost);

void kh_audit_close(void);

/* Writes records to an already open fd (the sandbox's pid 1 inherits one,
 * and so does each front process). */
void kh_audit_use_fd(int fd);

/* The fd records go to (-1 before kh_audit_open), to hand to a child. */
int kh_audit_fd(void);

/* A front process (privsep: true) holds no file: its records go to sink
 * (whole lines, each ending in a newline; records lines) instead of a file,
 * and the front sends them to the daemon, which checks and writes them
 * (auditrelay.h, kh_audit_append_lines). */
typedef size_t kh_audit_sink_fn(void *arg, const char *lines, size_t len, size_t records);
/* (the sink returns how many of the records it could not take: lost) */
void kh_audit_set_sink(kh_audit_sink_fn *fn, void *arg);

/* Appends lines already formatted and checked (a front's, auditrelay.h):
 * whole, or reported as lost like any record. */
void kh_audit_append_lines(const char *lines, size_t len, size_t records);

/* Other processes append to the same file (front processes): a short
 * write is not cut back to its last whole record, which could cut theirs
 * (it stays a broken line, which `keyhole log` skips). Call before the
 * first record. */
void kh_audit_set_shared(void);

#endif
