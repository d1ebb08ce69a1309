/* A child process's log (privsep: true): a front or the CA signer writes its
 * diagnostics into a pipe (its stdout and stderr), never into a file of
 * ours, and the daemon copies them into its own log: whole lines of at most
 * KH_CHILDLOG_LINE bytes (longer ones cut), control characters replaced,
 * each prefixed with the child's name ("[front 0] "), at most
 * KH_CHILDLOG_RATE lines a second with bursts of KH_CHILDLOG_BURST, the
 * rest counted and said. So a child taken over cannot fill the disk through
 * keyhole.log, pass a line off as the daemon's or put terminal escapes in
 * front of whoever reads the log. One pipe per child slot, kept for the
 * daemon's life: each start of that child gets its write end again. */
#ifndef KH_CHILDLOG_H
#define KH_CHILDLOG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/kh_limits.h"
#include "base/rate.h"
#include "proxy/auditrelay.h" /* kh_redact_fn */

struct kh_childlog {
	int rd, wr; /* the pipe, both ends non-blocking: a full pipe loses the
		     * child's line rather than stall the child */
	char name[24];
	char part[KH_CHILDLOG_LINE]; /* the line being read */
	size_t n_part;
	bool cutting; /* the line was too long: the rest of it is skipped */
	struct kh_rate rate; /* its lines */
	uint64_t dropped; /* lines over the rate since the last said */
	/* set by the caller around a drain: every line through it first (a
	 * front cannot redact the real keys it does not hold) */
	kh_redact_fn *redact;
	void *redact_arg;
};

/* Makes the pipe. name: how lines are prefixed ("front 0", "signer"). */
int kh_childlog_init(struct kh_childlog *cl, const char *name, struct kh_err *err);

/* In the child between fork and exec: stdin /dev/null, stdout and stderr
 * the pipe. Only async-signal-safe calls. */
void kh_childlog_in_child(const struct kh_childlog *cl);

/* Reads what the pipe holds (a bounded number of reads) and writes its
 * whole lines to out. now_ms: kh_mono_ms(). */
void kh_childlog_drain(struct kh_childlog *cl, int out, uint64_t now_ms);

/* The same for n bytes already read (drain's work; tests). */
void kh_childlog_feed(struct kh_childlog *cl, const char *p, size_t n, int out, uint64_t now_ms);

void kh_childlog_free(struct kh_childlog *cl);
#endif
