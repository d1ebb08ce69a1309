/* What a process inside keyhole sandbox gives up before it runs anything it
 * did not write: every capability (the bounding set too, so an exec cannot
 * bring one back), the chance to gain privileges (no_new_privs), the host
 * identity it started with (when told to become another uid), and the system
 * calls of seccomp.h. Used by init.c, in pid 1 and in the
 * command's process between fork and exec. */
#ifndef KH_SANDBOX_CONFINE_H
#define KH_SANDBOX_CONFINE_H

#include <stdbool.h>
#include <sys/types.h>

#include "base/err.h"
#include "sandbox/seccomp.h"

struct kh_confine {
	bool set_ids; /* become uid/gid (needs CAP_SETUID/CAP_SETGID) */
	uid_t uid;
	gid_t gid;
	scmp_filter_ctx filter; /* loaded last; NULL: none */
	int keep_cap; /* one capability kept (effective, permitted, bounding), or -1 */
};

/* Applies c to the calling process (a zeroed struct keeps capability 0:
 * set keep_cap to -1) and checks the result: 0, or -1 with err
 * (the caller must then not run the command). Needs CAP_SETPCAP to empty the
 * bounding set. Allocates nothing but the filter program; call it in a
 * single-threaded process. */
int kh_confine(const struct kh_confine *c, struct kh_err *err);

#endif
