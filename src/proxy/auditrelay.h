/* A front process's audit records, as the daemon takes them (privsep: true;
 * docs/design/privsep.md 2b). A front holds no file: it formats its records
 * (refusals only: every record of a request it forwards is the key
 * holder's) and sends them as AUDIT messages on its control channel; the
 * daemon checks each and appends it to audit.log itself. So a front taken
 * over cannot write anything but well-formed refusal records, cannot fill
 * the disk faster than its byte rate, and cannot cut or interleave another
 * process's records. */
#ifndef KH_AUDITRELAY_H
#define KH_AUDITRELAY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/rate.h"

/* Checks p[0..n), as a front sent it: one or more whole lines, each at
 * most KH_AUDIT_LINE_MAX bytes with its newline, with no control byte, and
 * each a JSON object (valid UTF-8, no duplicate key) whose "time",
 * "reason" and "decision" are strings and whose decision is "deny" or
 * "error": a front refuses; only the key holder writes "allow"; and whose
 * field names are records' own (audit.c), with no named member inside a
 * value: names are written as they came, never redacted. 0 with
 * *records, or -1 with the reason for the first line refused (then none of
 * them is written). */
int kh_auditrelay_check(const char *p, size_t n, size_t *records, struct kh_err *err);

/* Text redaction, kh_redact's shape (secret/redact.h): in[0..n) into out
 * (cap bytes, NUL-terminated); returns the length written. The same hook
 * serves a child's log lines (childlog.h). */
typedef size_t kh_redact_fn(void *arg, const char *in, size_t n, char *out, size_t cap);

/* One checked line (newline included) with every string in it, at any
 * depth up to 4, passed through fn (and host and path joined, as
 * `keyhole log` shows them: a key split across the two is redacted too),
 * written again as one compact JSON line
 * with its newline into out (cap bytes). Returns its length, or 0 when it
 * does not parse or does not fit (then it is not written). */
size_t kh_auditrelay_redact(const char *line, size_t len, kh_redact_fn *fn, void *arg, char *out,
			    size_t cap);

/* A front's byte budget: KH_AUDIT_FRONT_BYTES a second, held up to
 * KH_AUDIT_FRONT_BURST. Zero-initialised is a full budget. */
struct kh_auditrelay {
	struct kh_rate bytes;
};

/* Whether n more bytes fit the budget now (now_ms: kh_mono_ms()); takes
 * them if so. */
bool kh_auditrelay_admit(struct kh_auditrelay *r, size_t n, uint64_t now_ms);
#endif
