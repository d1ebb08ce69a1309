/* keyhole sandbox's seccomp filter (see seccomp.h).
 *
 * A deny list over a default of "allow", as Flatpak and bubblewrap's examples
 * do, rather than Docker's allow list: the command is arbitrary software, and
 * a call missing from an allow list breaks it in ways nobody can diagnose,
 * while the calls that matter for escaping are few and well known (Docker's
 * default profile and Flatpak's list are where these come from).
 *
 * Only the native ABI is allowed: a call made through another one (i386's
 * int 0x80 or x32 on x86_64) kills the process, since its numbers and
 * multiplexers (socketcall) would let it around the argument checks below. */
#include <errno.h>
#include <linux/sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/socket.h>

#include "sandbox/seccomp.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

/* The kernel's argument is 32 bits wide (int, unsigned int): compare only
 * those, so garbage in the upper half of the register cannot slip past. */
#define LOW32 0xffffffffULL

/* clone(2) takes its flags first everywhere but on s390. */
#if defined(__s390__) || defined(__s390x__)
#define CLONE_FLAGS_ARG 1
#else
#define CLONE_FLAGS_ARG 0
#endif

const char *const kh_seccomp_refused[] = {
	/* mounts: the file system view bwrap built stays the one there is */
	"mount", "umount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount",
	"fsconfig", "fspick", "mount_setattr",
	/* other namespaces */
	"setns",
	/* the kernel itself */
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"create_module", "query_module", "get_kernel_syms", "bpf", "perf_event_open", "userfaultfd",
	"io_uring_setup", "io_uring_enter", "io_uring_register", "syslog", "lookup_dcookie",
	"fanotify_init", "nfsservctl", "uselib", "ustat", "sysfs", "_sysctl", "iopl", "ioperm",
	"modify_ldt", "vm86", "vm86old",
	/* kernel keyrings, which are not per sandbox */
	"keyctl", "add_key", "request_key",
	/* files by handle, around the mount tree */
	"open_by_handle_at", "name_to_handle_at",
	/* other processes' memory and descriptors */
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
	/* the machine */
	"reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "settimeofday",
	"clock_settime", "stime", NULL
};

/* Namespace flags of clone(2) and unshare(2). CLONE_NEWTIME shares its bit
 * with the exit signal in clone(2)'s flags, so it is checked for unshare only. */
static const unsigned long ns_flags[] = { CLONE_NEWNS,  CLONE_NEWCGROUP, CLONE_NEWUTS,
					  CLONE_NEWIPC, CLONE_NEWUSER,   CLONE_NEWPID,
					  CLONE_NEWNET, CLONE_NEWTIME };

static int refuse_whole(scmp_filter_ctx f)
{
	for (size_t i = 0; kh_seccomp_refused[i] != NULL; i++) {
		int nr = seccomp_syscall_resolve_name(kh_seccomp_refused[i]);

		if (nr == __NR_SCMP_ERROR)
			continue; /* newer than this libseccomp */
		if (seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), nr, 0) != 0)
			return -1;
	}
	return 0;
}

/* A namespace flag set: refused. One rule per flag, since a rule compares an
 * argument once (masked-equal "this bit is set"). */
static int refuse_ns_flags(scmp_filter_ctx f, int nr, unsigned arg, size_t nflags)
{
	for (size_t i = 0; i < nflags; i++) {
		struct scmp_arg_cmp c = { arg, SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i] };

		if (seccomp_rule_add_array(f, SCMP_ACT_ERRNO(EPERM), nr, 1, &c) != 0)
			return -1;
	}
	return 0;
}

static int refuse_arg(scmp_filter_ctx f, int nr, unsigned arg, enum scmp_compare op, scmp_datum_t a,
		      scmp_datum_t b)
{
	struct scmp_arg_cmp c = { arg, op, a, b };

	return seccomp_rule_add_array(f, SCMP_ACT_ERRNO(EPERM), nr, 1, &c);
}

static int refuse_by_argument(scmp_filter_ctx f)
{
	size_t n = sizeof ns_flags / sizeof ns_flags[0];
	int rc = 0;

	rc |= refuse_ns_flags(f, SCMP_SYS(unshare), 0, n);
	rc |= refuse_ns_flags(f, SCMP_SYS(clone), CLONE_FLAGS_ARG, n - 1);
	/* clone3 passes its flags in memory, which seccomp cannot read: it is
	 * "not implemented", and libc falls back to clone(2), checked above. */
	rc |= seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	/* Typing into the terminal's input queue (TIOCSTI) or pasting on a
	 * virtual console (TIOCLINUX): the shell that started the sandbox would
	 * run the text once the sandbox exits. */
	rc |= refuse_arg(f, SCMP_SYS(ioctl), 1, SCMP_CMP_MASKED_EQ, LOW32, TIOCSTI);
	rc |= refuse_arg(f, SCMP_SYS(ioctl), 1, SCMP_CMP_MASKED_EQ, LOW32, TIOCLINUX);
	/* vsock is not network-namespaced: it reaches the hypervisor host (and
	 * on a host, its guests) from inside any sandbox. */
	rc |= refuse_arg(f, SCMP_SYS(socket), 0, SCMP_CMP_MASKED_EQ, LOW32, AF_VSOCK);
	rc |= refuse_arg(f, SCMP_SYS(socketpair), 0, SCMP_CMP_MASKED_EQ, LOW32, AF_VSOCK);
	/* Only the default persona: no ASLR switch-off, READ_IMPLIES_EXEC or
	 * faked kernel versions. The 0xffffffff query is refused too (a rule can
	 * compare an argument once), as in Flatpak. */
	rc |= refuse_arg(f, SCMP_SYS(personality), 0, SCMP_CMP_NE, PER_LINUX, 0);
	return rc != 0 ? -1 : 0;
}

scmp_filter_ctx kh_seccomp_build(struct kh_err *err)
{
	scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);

	if (f == NULL) {
		kh_err_set(err, "seccomp: cannot allocate a filter");
		return NULL;
	}
	if (seccomp_attr_set(f, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) != 0 ||
	    refuse_whole(f) != 0 || refuse_by_argument(f) != 0) {
		kh_err_set(err, "seccomp: cannot build the sandbox filter");
		seccomp_release(f);
		return NULL;
	}
	return f;
}

int kh_seccomp_load(scmp_filter_ctx f, struct kh_err *err)
{
	int rc = seccomp_load(f);

	if (rc != 0) {
		kh_err_set(err, "seccomp: cannot load the sandbox filter: %s",
			   rc < 0 ? strerror(-rc) : "unknown error");
		return -1;
	}
	return 0;
}

void kh_seccomp_free(scmp_filter_ctx f)
{
	if (f != NULL)
		seccomp_release(f);
}
