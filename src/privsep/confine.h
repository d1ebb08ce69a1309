/* Confinement of a privilege-separated child (docs/design/privsep.md,
 * section 3): once a front worker holds its listeners and has initialised
 * OpenSSL, it calls kh_confine_apply and from then on cannot open a path,
 * start a program, create or connect a socket, or start a process. What was
 * applied is written into a report for `keyhole status`. */
#ifndef KH_PRIVSEP_CONFINE_H
#define KH_PRIVSEP_CONFINE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"

enum kh_confine_role {
	KH_CONFINE_FRONT, /* accepts on inherited listeners, parses hostile bytes */
	/* the CA signer: the front's allowlist minus accept4, shutdown,
	 * setsockopt and socketpair (it answers on channels it was given) */
	KH_CONFINE_SIGNER,
};

struct kh_confine_opts {
	enum kh_confine_role role;
	uid_t uid; /* taken when started as root; must not be 0 then */
	gid_t gid;
	unsigned nofile; /* RLIMIT_NOFILE: its share of connections + slack */
	bool require_landlock; /* a kernel without Landlock is an error, not a warning */
};

struct kh_confine_report {
	bool rlimits; /* CORE, NPROC, MEMLOCK 0; NOFILE capped; not dumpable */
	bool uid_dropped; /* started as root: now opts.uid/gid, no groups */
	bool no_new_privs;
	bool seccomp; /* the role's allowlist is loaded */
	int landlock_abi; /* the ABI enforced; 0: unavailable on this kernel */
	uid_t uid, gid; /* after confinement */
	unsigned nofile;
	pid_t pid; /* of the confined process: a report left by a dead one is not its successor's */
	/* the key holder only: capabilities cut to KH_KEYHOLDER_CAPS (bounding,
	 * permitted, effective, inheritable, ambient); caps_none: it had none
	 * (not root), so there was nothing to cut */
	bool caps_limited, caps_none;
};

/* What the key holder keeps of root's capabilities: starting a front or the
 * signer that drops to nobody (setuid, setgid), signalling them once they
 * have (kill), a bridge listener on a low port, locking the keys' memory. */
/* The uid and gid a front or the signer takes when started as root ("nobody"). */
#define KH_CONFINE_CHILD_UID 65534
#define KH_CONFINE_CHILD_GID 65534

#define KH_KEYHOLDER_CAPS "setuid, setgid, kill, net_bind_service, ipc_lock"

/* The best Landlock ABI of the running kernel, 0 when it has none or it is
 * disabled (ENOSYS, EOPNOTSUPP). Does not change the caller. */
int kh_confine_landlock_abi(void);

/* Confines the calling process (all of its threads must not exist yet: the
 * filter is loaded for the calling thread only) for o->role, in this order:
 * uid/gid when root, rlimits, no_new_privs, Landlock, seccomp. Fills *r as
 * it goes, so on failure r says what is active. Irreversible. */
int kh_confine_apply(const struct kh_confine_opts *o, struct kh_confine_report *r,
		     struct kh_err *err);

/* Confines the daemon once it has started (the key holder: it keeps its
 * keys, dials upstreams and runs every thread it will have): root's
 * capabilities cut to KH_KEYHOLDER_CAPS; no_new_privs;
 * Landlock that lets it read the system's files only (programs, libraries,
 * the resolver's; extra_reads, NULL-terminated or NULL: the trust store and
 * OpenSSL's configuration, which the caller knows) but write, create or
 * remove none and
 * execute nothing but keyhole itself (a front or the signer it starts
 * again) and its ELF interpreter; a seccomp filter that fails with EPERM
 * the calls that change the host or reach other processes (ptrace, mount,
 * modules, chmod/chown, io_uring...). Call before any thread starts: the
 * Landlock domain is the calling thread's, and the threads it makes
 * inherit both. r gets what was applied; -1 when a step failed (Landlock
 * missing from the kernel is not a failure: r->landlock_abi stays 0). */
int kh_confine_keyholder(const char *const *extra_reads, struct kh_confine_report *r,
			 struct kh_err *err);

/* "landlock: abi N" or "landlock: unavailable", for status lines. */
const char *kh_confine_landlock_status(const struct kh_confine_report *r, char *buf, size_t len);

#endif
