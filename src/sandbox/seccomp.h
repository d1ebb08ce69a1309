/* The seccomp filter of keyhole sandbox: the system calls a sandboxed command
 * (and pid 1, once the command runs) is refused. Everything not named here is
 * allowed: the filter removes the calls that escape a namespace, reach the
 * kernel's rarely needed attack surface, or reach the host around the network
 * namespace, and leaves what Python, curl, git and shells use. docs/SECURITY.md
 * carries the same list ("Root sandbox escape"). */
#ifndef KH_SANDBOX_SECCOMP_H
#define KH_SANDBOX_SECCOMP_H

#include <seccomp.h>
#include <stddef.h>

#include "base/err.h"

/* Refused whole with EPERM (names as libseccomp spells them; a name this
 * libseccomp or this architecture does not know is skipped). NULL-terminated. */
extern const char *const kh_seccomp_refused[];

/* Builds the filter (allocates; does not block). NULL with err on failure. */
scmp_filter_ctx kh_seccomp_build(struct kh_err *err);

/* Loads f into the calling thread; it applies to every process the thread
 * starts from then on and cannot be removed. Needs no_new_privs (set first).
 * The filter stays the caller's to free. */
int kh_seccomp_load(scmp_filter_ctx f, struct kh_err *err);

/* NULL-safe. */
void kh_seccomp_free(scmp_filter_ctx f);

#endif
