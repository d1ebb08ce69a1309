/* Audit flood control: a client that keeps getting refused must not be able
 * to grow audit.log without bound (one record per refused DNS name from a
 * sandbox was ~43 MB/s), while the operator still sees what it tried.
 *
 * Refusal records are followed per source (a sandbox's label, else the
 * client's address) and per kind (decision + reason). In each window of
 * KH_AUDIT_FOLD_MS, starting at a kind's first refusal, the first
 * KH_AUDIT_FOLD_WHOLE refusals of that kind are written whole; later ones are
 * folded: counted, and written as one record when the window ends, showing
 * the first folded one (client, mode, method, host, port, status, sandbox,
 * decision, reason) with "repeated" (how many were folded), "distinct" (how many
 * different hosts among them, counted up to KH_AUDIT_FOLD_DISTINCT) and
 * "interval_ms". Whole records also spend a byte budget of
 * KH_AUDIT_SOURCE_BYTES a second per source: once it is spent, refusals fold
 * even below that count. At most KH_AUDIT_FOLD_KINDS kinds fold apart per
 * source at once; refusals of further kinds share one record of reason
 * "audit_folded". So one source adds at most its budget plus
 * KH_AUDIT_FOLD_KINDS + 1 fold records a second, whatever it sends.
 *
 * Records of requests keyhole admitted never come here: they are always
 * written (the caller decides; see kh_conn_audit). Nothing is dropped: every
 * refusal is either in a whole record or counted in a fold record.
 *
 * Pure: no clock, no I/O, no locks (auditgate.h is the process-wide, locked
 * instance); the caller passes the time, and records to write come back
 * through the emit callback given to kh_auditlimit_new. */
#ifndef KH_AUDITLIMIT_H
#define KH_AUDITLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/audit.h"

struct kh_auditlimit;

/* emit(r, arg) is called with each record to write (r and its strings live
 * only during the call). NULL if out of memory. */
struct kh_auditlimit *kh_auditlimit_new(void (*emit)(const struct kh_audit_rec *r, void *arg),
					void *arg);

/* Emits nothing; pending fold records are lost (call kh_auditlimit_tick(..,
 * true) first). NULL-safe. */
void kh_auditlimit_free(struct kh_auditlimit *l);

/* Judges refusal r from source (truncated to KH_SOURCE_MAX - 1 bytes) at
 * now_ms: true if the caller should write r now, false if it was folded
 * into a later fold record. May emit fold records of earlier windows first. */
bool kh_auditlimit_admit(struct kh_auditlimit *l, const char *source, const struct kh_audit_rec *r,
			 uint64_t now_ms);

/* Emits the fold records whose window ended by now_ms (every pending one if
 * all). Returns when the next one falls due (ms, same clock), 0 if none. */
uint64_t kh_auditlimit_tick(struct kh_auditlimit *l, uint64_t now_ms, bool all);

/* No fold record falls due before this (it may be earlier than the real
 * next one, never later); 0 if none is pending. */
uint64_t kh_auditlimit_next_due(const struct kh_auditlimit *l);

/* An upper bound of the bytes r takes in audit.log (every byte of every
 * string taken as escaped, the fixed part as long as it can be). */
size_t kh_auditlimit_cost(const struct kh_audit_rec *r);

#endif
