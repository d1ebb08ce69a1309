/* What the kernel says about a process's confinement, read from
 * /proc/PID/status and /proc/PID/limits. `keyhole status` compares it with
 * what each front reported about itself (frontstat.h): a front's report is
 * its own word, and a front taken over could lie; the kernel's view cannot
 * be forged from inside the front. Landlock leaves no trace in /proc, so it
 * is not here. */
#ifndef KH_PROCVIEW_H
#define KH_PROCVIEW_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "base/err.h"
#include "cli/ctl_client.h"

/* A field that /proc did not show (an older kernel) stays KH_PROCVIEW_UNKNOWN. */
#define KH_PROCVIEW_UNKNOWN        (-1)
#define KH_PROCVIEW_UNLIMITED      (-2)
#define KH_PROCVIEW_SECCOMP_FILTER 2 /* Seccomp: 2, SECCOMP_MODE_FILTER */

struct kh_procview {
	pid_t ppid;
	int64_t uid, gid; /* effective */
	int no_new_privs; /* 0 / 1 */
	int seccomp; /* 0 off, 1 strict, 2 filter */
	int64_t nofile, nproc, core; /* soft limits; KH_PROCVIEW_UNLIMITED for none */
};

/* Reads pid's view. -1 with err when /proc/PID cannot be read (gone). */
int kh_procview_read(pid_t pid, struct kh_procview *out, struct kh_err *err);

/* Where front f's own report (ctl_client.h) and the kernel's view k differ,
 * as "; reports seccomp, /proc shows Seccomp 0" parts, or "" when they agree
 * (or f has not reported). A field the kernel does not show is not held
 * against the front. */
void kh_procview_disagrees(const struct kh_ctl_front *f, const struct kh_procview *k, char *out,
			   size_t len);

/* The same from the texts of status and limits (tests). 0 / -1 when a
 * field's value is not a number. */
int kh_procview_parse(const char *status, const char *limits, struct kh_procview *out,
		      struct kh_err *err);
#endif
