/* The process's one audit flood control (auditlimit.h) under a lock, shared
 * by the daemon's worker threads, and used by a sandbox's pid 1 for its DNS
 * refusals. Callers hand it refusal records only, never a record of a request
 * keyhole admitted (those go straight to kh_audit_write). It writes each one
 * with kh_audit_write or folds it; either way the refusal is counted in the
 * metrics. The fold record of a window is written by whoever calls
 * kh_auditgate_tick() after it ends: a worker arms a timer when it folds
 * (kh_auditgate_next_due), pid 1 sets its poll timeout; kh_auditgate_flush()
 * writes what is left at exit. Times are kh_mono_ms(). */
#ifndef KH_AUDITGATE_H
#define KH_AUDITGATE_H

#include <stdbool.h>
#include <stdint.h>

#include "proxy/audit.h"

/* Writes refusal r from source (a sandbox label, else the client address)
 * now and returns true, or folds it and returns false. Thread-safe; never
 * blocks longer than one audit write. */
bool kh_auditgate_write(const struct kh_audit_rec *r, const char *source);

/* When the next fold record falls due, 0 if none is pending. Thread-safe. */
uint64_t kh_auditgate_next_due(void);

/* Writes the fold records that are due; returns kh_auditgate_next_due(). */
uint64_t kh_auditgate_tick(void);

/* Writes every pending fold record, due or not (at exit). */
void kh_auditgate_flush(void);

#endif
