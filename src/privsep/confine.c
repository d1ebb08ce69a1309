/* Confinement of privilege-separated children (see confine.h).
 *
 * The order matters: ids first (setresuid needs CAP_SETUID, which the
 * filter would then forbid), rlimits, no_new_privs (Landlock and an
 * unprivileged seccomp load require it), Landlock, and the seccomp filter
 * last, so every earlier step may still make the calls it needs. The
 * no_new_privs and libseccomp use follow sandbox/confine.c and
 * sandbox/seccomp.c; privsep/ sits below sandbox/ and so repeats the few
 * lines rather than including them. */
#include <errno.h>
#include <elf.h>
#include <link.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "privsep/confine.h"

/* Landlock rights by ABI, spelled out so an older linux/landlock.h still
 * builds: FS rights 0..12 (ABI 1), REFER (2), TRUNCATE (3), IOCTL_DEV (5);
 * NET_BIND_TCP|NET_CONNECT_TCP (4); abstract UNIX sockets and signals (6). */
#define LL_FS_ABI1      ((1ULL << 13) - 1)
#define LL_FS_REFER     (1ULL << 13)
#define LL_FS_TRUNCATE  (1ULL << 14)
#define LL_FS_IOCTL_DEV (1ULL << 15)
#define LL_NET_TCP      ((1ULL << 0) | (1ULL << 1))
#define LL_SCOPE_ALL    ((1ULL << 0) | (1ULL << 1))

/* struct landlock_ruleset_attr as of ABI 6; the size passed is the ABI's. */
struct ll_attr {
	uint64_t fs, net, scoped;
};

/* The kernel's argument is 32 bits wide (int): compare only those. */
#define LOW32 0xffffffffULL

int kh_confine_landlock_abi(void)
{
#ifdef SYS_landlock_create_ruleset
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

	return abi > 0 ? (int)abi : 0;
#else
	return 0;
#endif
}

static int drop_ids(const struct kh_confine_opts *o, struct kh_confine_report *r,
		    struct kh_err *err)
{
	uid_t ru, eu, su;

	if (geteuid() != 0)
		goto done; /* nothing to give up */
	if (o->uid == 0 || o->gid == 0) {
		kh_err_set(err, "confine: refusing to stay root; name an unprivileged user");
		return -1;
	}
	if (setgroups(0, NULL) != 0 || setresgid(o->gid, o->gid, o->gid) != 0 ||
	    setresuid(o->uid, o->uid, o->uid) != 0) {
		kh_err_set(err, "confine: cannot become uid %u gid %u: %s", (unsigned)o->uid,
			   (unsigned)o->gid, kh_strerror(errno));
		return -1;
	}
	/* a partial switch would leave a way back to root */
	if (getresuid(&ru, &eu, &su) != 0 || ru != o->uid || eu != o->uid || su != o->uid ||
	    setuid(0) == 0) {
		kh_err_set(err, "confine: uid %u did not stick", (unsigned)o->uid);
		return -1;
	}
	r->uid_dropped = true;
done:
	r->uid = getuid();
	r->gid = getgid();
	return 0;
}

static int set_limit(int res, rlim_t v)
{
	struct rlimit l = { v, v };

	return setrlimit(res, &l);
}

/* No core (the process holds session keys), no file growth, no new
 * processes, no locked memory, a descriptor cap; not dumpable, so neither a
 * core nor /proc/PID/mem of another process of the same uid reads it. */
static int set_limits(const struct kh_confine_opts *o, struct kh_confine_report *r,
		      struct kh_err *err)
{
	if (o->nofile < 8) {
		kh_err_set(err, "confine: a descriptor cap of %u is too small", o->nofile);
		return -1;
	}
	/* FSIZE 0 too: a front or the signer holds no file (its log is a pipe
	 * the daemon reads, its audit records go over its channel), so writing
	 * to any regular file it came to hold kills it (SIGXFSZ). */
	if (set_limit(RLIMIT_CORE, 0) != 0 || set_limit(RLIMIT_NPROC, 0) != 0 ||
	    set_limit(RLIMIT_FSIZE, 0) != 0 || set_limit(RLIMIT_MEMLOCK, 0) != 0 ||
	    set_limit(RLIMIT_NOFILE, o->nofile) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		kh_err_set(err, "confine: cannot set resource limits: %s", kh_strerror(errno));
		return -1;
	}
	r->rlimits = true;
	r->nofile = o->nofile;
	return 0;
}

static int set_nnp(struct kh_confine_report *r, struct kh_err *err)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		kh_err_set(err, "confine: cannot set no_new_privs: %s", kh_strerror(errno));
		return -1;
	}
	r->no_new_privs = true;
	return 0;
}

/* The filesystem rights Landlock governs at abi, all of them: what a ruleset
 * handles and does not grant is refused (IOCTL_DEV among them: no TIOCSTI
 * into a terminal opened after, the fds held from before stay as they were). */
static uint64_t ll_fs_handled(int abi)
{
	return LL_FS_ABI1 | (abi >= 2 ? LL_FS_REFER : 0) | (abi >= 3 ? LL_FS_TRUNCATE : 0) |
	       (abi >= 5 ? LL_FS_IOCTL_DEV : 0);
}

/* A ruleset handling every right of the kernel's ABI and granting none: no
 * path can be opened, no TCP port bound or connected, no abstract UNIX
 * socket or process outside the domain reached. */
static int set_landlock(const struct kh_confine_opts *o, struct kh_confine_report *r,
			struct kh_err *err)
{
	int abi = kh_confine_landlock_abi();
	struct ll_attr a = { ll_fs_handled(abi), 0, 0 };
	size_t size = sizeof a.fs;
	int fd = -1, rc = -1;

	if (abi <= 0) {
		if (o->require_landlock)
			kh_err_set(err, "confine: landlock is unavailable on this kernel");
		return o->require_landlock ? -1 : 0;
	}
	if (abi >= 4) {
		a.net = LL_NET_TCP;
		size = 2 * sizeof a.fs;
	}
	if (abi >= 6) {
		a.scoped = LL_SCOPE_ALL;
		size = sizeof a;
	}
	fd = (int)syscall(SYS_landlock_create_ruleset, &a, size, 0);
	if (fd < 0 || syscall(SYS_landlock_restrict_self, fd, 0) != 0) {
		kh_err_set(err, "confine: landlock (abi %d): %s", abi, kh_strerror(errno));
		goto fail;
	}
	r->landlock_abi = abi;
	rc = 0;
fail:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Calls a front makes on descriptors it already holds. Names libseccomp does
 * not know on this architecture (accept, epoll_wait on arm64) are skipped. */
static const char *const front_allowed[] = { "read",
					     "write",
					     "readv",
					     "writev",
					     "recvfrom",
					     "recvmsg",
					     "recvmmsg",
					     "sendmsg",
					     "sendmmsg",
					     "accept4",
					     "shutdown",
					     "close",
					     "epoll_create1",
					     "epoll_ctl",
					     "epoll_wait",
					     "epoll_pwait",
					     "epoll_pwait2",
					     "eventfd2",
					     "timerfd_create",
					     "timerfd_settime",
					     "timerfd_gettime",
					     "clock_gettime",
					     "clock_getres",
					     "clock_nanosleep",
					     "nanosleep",
					     "gettimeofday",
					     "getrandom",
					     "brk",
					     "mremap",
					     "munmap",
					     "madvise",
					     "futex",
					     "rt_sigaction",
					     "rt_sigprocmask",
					     "rt_sigreturn",
					     "sigaltstack",
					     "restart_syscall",
					     "getpid",
					     "gettid",
					     "getuid",
					     "geteuid",
					     "getgid",
					     "getegid",
					     "getsockname",
					     "getpeername",
					     "getsockopt",
					     "pread64",
					     "poll",
					     "ppoll",
					     "sched_yield",
					     "exit",
					     "exit_group",
					     NULL };

/* Path lookups fail with EACCES: OpenSSL and glibc probe files lazily, and a
 * failed probe is harmless where a dead front is not. */
static const char *const front_eacces[] = { "open", "openat", "openat2", "creat", "access",
					    "faccessat", "faccessat2", "stat", "lstat",
					    "newfstatat", "statx", "readlink", "readlinkat",
					    "fstat",
					    /* buffers for secrets are locked best effort; a
					     * front has none, and its MEMLOCK limit is 0 */
					    "mlock", "mlock2", "munlock", NULL };

/* What a signer does not need of the front's list: it accepts nothing and
 * makes no socket; its channels come ready over its control channel. */
static const char *const signer_denied[] = { "accept4", "shutdown", NULL };

static bool listed(const char *const *names, const char *name)
{
	for (size_t i = 0; names != NULL && names[i] != NULL; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

static int add_names_but(scmp_filter_ctx f, const char *const *names, uint32_t action,
			 const char *const *but)
{
	for (size_t i = 0; names[i] != NULL; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);

		if (nr == __NR_SCMP_ERROR || listed(but, names[i]))
			continue;
		if (seccomp_rule_add(f, action, nr, 0) != 0)
			return -1;
	}
	return 0;
}

static int add_names(scmp_filter_ctx f, const char *const *names, uint32_t action)
{
	return add_names_but(f, names, action, NULL);
}

static int allow_if(scmp_filter_ctx f, int nr, unsigned arg, enum scmp_compare op, scmp_datum_t a,
		    scmp_datum_t b)
{
	struct scmp_arg_cmp c = { arg, op, a, b };

	return seccomp_rule_add_array(f, SCMP_ACT_ALLOW, nr, 1, &c);
}

/* setsockopt(fd, level, name, ...) for this one (level, name) only. */
static int allow_sockopt(scmp_filter_ctx f, int level, int name)
{
	struct scmp_arg_cmp c[2] = {
		{ 1, SCMP_CMP_MASKED_EQ, LOW32, (scmp_datum_t)level },
		{ 2, SCMP_CMP_MASKED_EQ, LOW32, (scmp_datum_t)name },
	};

	return seccomp_rule_add_array(f, SCMP_ACT_ALLOW, SCMP_SYS(setsockopt), 2, c);
}

/* Calls allowed only with some arguments: no executable memory (mappings
 * were made before confinement), sendto only on a connected socket, socket
 * options and fcntl commands a server loop uses, read-only getrlimit,
 * socketpair of the Unix family only. */
static int front_by_argument(scmp_filter_ctx f, bool front)
{
	static const int fcntl_cmds[] = { F_GETFL, F_SETFL, F_GETFD, F_SETFD };
	int rc = 0;

	rc |= allow_if(f, SCMP_SYS(mmap), 2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
	rc |= allow_if(f, SCMP_SYS(mprotect), 2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
	rc |= allow_if(f, SCMP_SYS(sendto), 4, SCMP_CMP_EQ, 0, 0);
	rc |= allow_if(f, SCMP_SYS(prlimit64), 2, SCMP_CMP_EQ, 0, 0);
	if (front) {
		/* only the two options a front sets (chanio's buffer, a client's
		 * TCP_NODELAY): SO_LINGER, for one, would let a front hand the
		 * daemon or the signer a socket whose close() never returns */
		rc |= allow_sockopt(f, SOL_SOCKET, SO_SNDBUF);
		rc |= allow_sockopt(f, IPPROTO_TCP, TCP_NODELAY);
		/* each connection's stream to the key holder: a pair of Unix
		 * sockets, connected to nothing else, never a network socket */
		rc |= allow_if(f, SCMP_SYS(socketpair), 0, SCMP_CMP_EQ, AF_UNIX, 0);
	}
	for (size_t i = 0; i < sizeof fcntl_cmds / sizeof fcntl_cmds[0]; i++)
		rc |= allow_if(f, SCMP_SYS(fcntl), 1, SCMP_CMP_MASKED_EQ, LOW32,
			       (scmp_datum_t)fcntl_cmds[i]);
	return rc != 0 ? -1 : 0;
}

/* Default: kill the whole process (execve, socket, connect, bind, clone,
 * ptrace, kill and everything else unlisted), also for another ABI. */
static scmp_filter_ctx role_filter(enum kh_confine_role role)
{
	scmp_filter_ctx f = seccomp_init(SCMP_ACT_KILL_PROCESS);
	bool front = role == KH_CONFINE_FRONT;

	if (f == NULL)
		return NULL;
	if (seccomp_attr_set(f, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) != 0 ||
	    seccomp_attr_set(f, SCMP_FLTATR_CTL_OPTIMIZE, 2) != 0 ||
	    add_names_but(f, front_allowed, SCMP_ACT_ALLOW, front ? NULL : signer_denied) != 0 ||
	    add_names(f, front_eacces, SCMP_ACT_ERRNO(EACCES)) != 0 ||
	    front_by_argument(f, front) != 0) {
		seccomp_release(f);
		return NULL;
	}
	return f;
}

/* Loads f (NULL: it could not be built) for the calling thread and the
 * threads and programs it starts; releases it either way. */
static int load_filter(scmp_filter_ctx f, struct kh_confine_report *r, struct kh_err *err)
{
	int rc;

	if (f == NULL) {
		kh_err_set(err, "confine: cannot build the seccomp filter");
		return -1;
	}
	rc = seccomp_load(f);
	seccomp_release(f);
	if (rc != 0) {
		kh_err_set(err, "confine: cannot load the seccomp filter: %s",
			   kh_strerror(rc < 0 ? -rc : EINVAL));
		return -1;
	}
	r->seccomp = true;
	return 0;
}

static int set_seccomp(const struct kh_confine_opts *o, struct kh_confine_report *r,
		       struct kh_err *err)
{
	return load_filter(o->role == KH_CONFINE_FRONT || o->role == KH_CONFINE_SIGNER
				   ? role_filter(o->role)
				   : NULL,
			   r, err);
}

int kh_confine_apply(const struct kh_confine_opts *o, struct kh_confine_report *r,
		     struct kh_err *err)
{
	*r = (struct kh_confine_report){ .pid = getpid() };
	if (drop_ids(o, r, err) != 0 || set_limits(o, r, err) != 0 || set_nnp(r, err) != 0 ||
	    set_landlock(o, r, err) != 0 || set_seccomp(o, r, err) != 0)
		return -1;
	return 0;
}

/* --- the key holder (kh_confine_keyholder) --- */

#define LL_EXECUTE    (1ULL << 0)
#define LL_WRITE_FILE (1ULL << 1)
#define LL_READ_FILE  (1ULL << 2)
#define LL_READ_DIR   (1ULL << 3)

struct ll_path_beneath {
	uint64_t allowed;
	int32_t parent_fd;
} __attribute__((packed));

static int ll_allow(int ruleset, const char *path, uint64_t rights)
{
	struct ll_path_beneath pb = { rights, open(path, O_PATH | O_CLOEXEC) };
	int rc;

	if (pb.parent_fd < 0)
		return -1;
	rc = (int)syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
	close(pb.parent_fd);
	return rc;
}

static int find_interp(struct dl_phdr_info *info, size_t size, void *out)
{
	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_INTERP) {
			*(const char **)out = (const char *)(info->dlpi_addr +
							     info->dlpi_phdr[i].p_vaddr);
			break;
		}
	return 1; /* the first object is the program itself */
}

/* The ELF interpreter the kernel opens, with execute rights, when keyhole
 * is started again (a front, the signer); NULL for a static build. */
static const char *interpreter(void)
{
	const char *interp = NULL;

	dl_iterate_phdr(find_interp, &interp);
	return interp;
}

/* What the key holder may read once confined: what it, the libraries it
 * links and the keyhole it starts again (a front, the signer, which inherit
 * this domain) open by path after start, and nothing with a secret in it.
 * Programs and libraries (/usr, and /lib... on a system without merged
 * /usr; every object loaded now, wherever it lies, below); the trust store
 * and OpenSSL's configuration (the caller's list, and the usual places:
 * /etc/ssl/certs, never /etc/ssl/private); what glibc reads (/etc/hosts and
 * resolv.conf not: c-ares reads copies the caller allows, resolvfiles.h);
 * /proc, where a started keyhole reads its own entry (sanitizers do) and
 * where another process's memory, environment and descriptors stay closed
 * (the ptrace checks, which Landlock scopes to its own domain). Not the
 * keyhole directory (ca.key, config.yaml, grants.json: a reload's files
 * come from the monitor, ca.key reaches a restarted signer as a descriptor),
 * not /root, /home, /etc/shadow, /etc/ssl/private or any other service's
 * files. A path that does not exist here is skipped. */
static const char *const keyholder_reads[] = { "/usr",
					       "/lib",
					       "/lib64",
					       "/lib32",
					       "/libx32",
					       "/bin",
					       "/sbin",
					       "/etc/ssl/certs",
					       "/etc/ssl/openssl.cnf",
					       "/etc/pki/tls/certs",
					       "/etc/pki/tls/openssl.cnf",
					       "/etc/pki/ca-trust",
					       "/etc/ca-certificates",
					       "/etc/crypto-policies",
					       "/etc/ld.so.cache",
					       "/etc/ld.so.conf",
					       "/etc/ld.so.conf.d",
					       "/etc/ld.so.preload",
					       "/etc/nsswitch.conf",
					       "/etc/host.conf",
					       "/etc/gai.conf",
					       "/etc/services",
					       "/etc/protocols",
					       "/etc/localtime",
					       "/etc/passwd",
					       "/etc/group",
					       "/sys/devices/system/cpu",
					       "/proc",
					       "/dev/urandom",
					       "/dev/random",
					       NULL };

/* A rule for path; one that is not there (or not a directory where a
 * directory's rights were asked) is skipped: that path cannot be read then. */
static int ll_allow_present(int ruleset, const char *path, uint64_t rights)
{
	if (ll_allow(ruleset, path, rights) == 0)
		return 0;
	if (errno == ENOENT || errno == ENOTDIR || errno == EACCES)
		return 0;
	return -1;
}

/* Read rights on path: a directory's with READ_DIR (Landlock refuses
 * directory rights on a file). */
static int ll_allow_read(int ruleset, const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return 0;
	return ll_allow_present(ruleset, path,
				LL_READ_FILE | (S_ISDIR(st.st_mode) ? LL_READ_DIR : 0));
}

static int allow_object(struct dl_phdr_info *info, size_t size, void *ruleset)
{
	(void)size;
	if (info->dlpi_name == NULL || info->dlpi_name[0] != '/')
		return 0; /* the program itself ("") or the vDSO */
	return ll_allow_read(*(int *)ruleset, info->dlpi_name) != 0 ? -1 : 0;
}

/* keyholder_reads, every object loaded now (a library found through an
 * RPATH or LD_LIBRARY_PATH outside /usr: the keyhole it starts again loads
 * it too), the caller's extra paths (OpenSSL's trust store and
 * configuration, which the environment may move; the resolver's copies of
 * /etc/hosts and resolv.conf: policy/resolvfiles.h), and
 * /dev/null for writing too (a child's stdio). */
static int ll_allow_reads(int ruleset, const char *const *extra)
{
	for (size_t i = 0; keyholder_reads[i] != NULL; i++)
		if (ll_allow_read(ruleset, keyholder_reads[i]) != 0)
			return -1;
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
		if (extra[i][0] == '/' && ll_allow_read(ruleset, extra[i]) != 0)
			return -1;
	if (dl_iterate_phdr(allow_object, &ruleset) != 0)
		return -1;
	return ll_allow_present(ruleset, "/dev/null", LL_READ_FILE | LL_WRITE_FILE);
}

/* Reading the system's files only (ll_allow_reads), executing keyhole and
 * its interpreter only, and nothing that writes, creates, removes or
 * renames. */
static int keyholder_landlock(const char *const *extra_reads, struct kh_confine_report *r,
			      struct kh_err *err)
{
	int abi = kh_confine_landlock_abi();
	struct ll_attr a = { ll_fs_handled(abi), 0, 0 };
	size_t size = sizeof a.fs;
	const char *interp = interpreter();
	int fd, rc = -1;

	if (abi <= 0)
		return 0; /* status says so; the daemon warns */
	if (abi >= 6) {
		/* no signal to, nor abstract socket of, a process outside its
		 * domain: the fronts and the signer it starts are inside, its
		 * monitor (forked before) is not */
		a.scoped = LL_SCOPE_ALL;
		size = sizeof a;
	}
	fd = (int)syscall(SYS_landlock_create_ruleset, &a, size, 0);
	if (fd < 0) {
		kh_err_set(err, "confine: landlock (abi %d): %s", abi, kh_strerror(errno));
		return -1;
	}
	if (ll_allow_reads(fd, extra_reads) != 0 ||
	    ll_allow(fd, "/proc/self/exe", LL_EXECUTE | LL_READ_FILE) != 0 ||
	    (interp != NULL && ll_allow(fd, interp, LL_EXECUTE | LL_READ_FILE) != 0)) {
		kh_err_set(err, "confine: landlock rules: %s", kh_strerror(errno));
		goto out;
	}
	if (syscall(SYS_landlock_restrict_self, fd, 0) != 0) {
		kh_err_set(err, "confine: landlock (abi %d): %s", abi, kh_strerror(errno));
		goto out;
	}
	r->landlock_abi = abi;
	rc = 0;
out:
	close(fd);
	return rc;
}

/* Calls the key holder never makes, and that would let it change the host
 * or reach into another process: Landlock governs paths but not these
 * (chmod and chown of files it may read, for one). EPERM, not a kill: a
 * library that probes one of them must not take the keys' process down. */
static const char *const keyholder_denied[] = {
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp", "mount",
	"umount2", "mount_setattr", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
	"fspick", "pivot_root", "chroot", "setns", "unshare", "init_module", "finit_module",
	"delete_module", "kexec_load", "kexec_file_load", "bpf", "perf_event_open", "userfaultfd",
	"keyctl", "add_key", "request_key", "reboot", "swapon", "swapoff", "syslog", "acct",
	"quotactl", "quotactl_fd", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"iopl", "ioperm", "sethostname", "setdomainname", "vhangup", "open_by_handle_at",
	"name_to_handle_at", "fanotify_init", "io_uring_setup", "io_uring_enter",
	"io_uring_register", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown",
	"lchown", "fchownat", "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr",
	"fremovexattr", "utime", "utimes", "utimensat", "futimesat", "mknod", "mknodat",
	/* Landlock governs truncate(2) only from ABI 3 */
	"truncate",
	/* newer calls, where libseccomp knows them (else skipped: a kernel that
	 * has them and a libseccomp that does not leave them open) */
	"setxattrat", "removexattrat", "file_setattr", "open_tree_attr", NULL
};

/* ioctl(fd, TIOCSTI or TIOCLINUX): typing into a terminal, on any fd it
 * already held (Landlock's IOCTL_DEV covers only those opened after). */
static int deny_tty_injection(scmp_filter_ctx f)
{
	static const unsigned long cmds[] = { TIOCSTI, TIOCLINUX };

	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		struct scmp_arg_cmp c = { 1, SCMP_CMP_MASKED_EQ, LOW32, (scmp_datum_t)cmds[i] };

		if (seccomp_rule_add_array(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1, &c) != 0)
			return -1;
	}
	return 0;
}

/* Every uid or gid argument of nr must be the children's, exactly (drop_ids
 * passes it in each; libseccomp takes one comparison per argument and rule,
 * hence below and above as two rules). */
static int deny_other_ids(scmp_filter_ctx f, int nr, unsigned n_args, scmp_datum_t id)
{
	for (unsigned a = 0; a < n_args; a++) {
		struct scmp_arg_cmp below = { a, SCMP_CMP_LT, id, 0 };
		struct scmp_arg_cmp above = { a, SCMP_CMP_GT, id, 0 };

		if (seccomp_rule_add_array(f, SCMP_ACT_ERRNO(EPERM), nr, 1, &below) != 0 ||
		    seccomp_rule_add_array(f, SCMP_ACT_ERRNO(EPERM), nr, 1, &above) != 0)
			return -1;
	}
	return 0;
}

/* CAP_SETUID and CAP_SETGID are kept for one use: a front or the signer
 * becoming nobody (drop_ids, under this filter, inherited). Any other id,
 * supplementary groups, or keeping capabilities across the change: EPERM,
 * so a taken daemon cannot become another user and act as them. */
static int deny_id_changes(scmp_filter_ctx f)
{
	struct scmp_arg_cmp groups = { 0, SCMP_CMP_NE, 0, 0 };
	struct scmp_arg_cmp keepcaps = { 0, SCMP_CMP_EQ, PR_SET_KEEPCAPS, 0 };
	struct scmp_arg_cmp securebits = { 0, SCMP_CMP_EQ, PR_SET_SECUREBITS, 0 };
	int rc = 0;

	rc |= deny_other_ids(f, SCMP_SYS(setuid), 1, KH_CONFINE_CHILD_UID);
	rc |= deny_other_ids(f, SCMP_SYS(setreuid), 2, KH_CONFINE_CHILD_UID);
	rc |= deny_other_ids(f, SCMP_SYS(setresuid), 3, KH_CONFINE_CHILD_UID);
	rc |= deny_other_ids(f, SCMP_SYS(setfsuid), 1, KH_CONFINE_CHILD_UID);
	rc |= deny_other_ids(f, SCMP_SYS(setgid), 1, KH_CONFINE_CHILD_GID);
	rc |= deny_other_ids(f, SCMP_SYS(setregid), 2, KH_CONFINE_CHILD_GID);
	rc |= deny_other_ids(f, SCMP_SYS(setresgid), 3, KH_CONFINE_CHILD_GID);
	rc |= deny_other_ids(f, SCMP_SYS(setfsgid), 1, KH_CONFINE_CHILD_GID);
	rc |= seccomp_rule_add_array(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(setgroups), 1, &groups);
	rc |= seccomp_rule_add_array(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(prctl), 1, &keepcaps);
	rc |= seccomp_rule_add_array(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(prctl), 1, &securebits);
	return rc != 0 ? -1 : 0;
}

/* No new Unix socket: its listeners and streams exist already (socketpair
 * is another call), and Landlock below ABI 6 does not keep a socket() +
 * connect() from reaching the host's daemons (docker.sock is root's). */
static int deny_unix_sockets(scmp_filter_ctx f)
{
	struct scmp_arg_cmp c = { 0, SCMP_CMP_EQ, AF_UNIX, 0 };

	return seccomp_rule_add_array(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1, &c);
}

/* The capabilities KH_KEYHOLDER_CAPS names, by number. */
static const int keyholder_caps[] = { CAP_SETUID, CAP_SETGID, CAP_KILL, CAP_NET_BIND_SERVICE,
				      CAP_IPC_LOCK };

static bool kept_cap(int cap)
{
	for (size_t i = 0; i < sizeof keyholder_caps / sizeof keyholder_caps[0]; i++)
		if (keyholder_caps[i] == cap)
			return true;
	return false;
}

/* Root keeps only what the key holder needs: every other capability leaves
 * the bounding set (so no exec gets it back: the fronts and the signer start
 * with these at most), and permitted, effective, inheritable and ambient
 * are cut to them. Without CAP_SETPCAP (not root) the bounding set stays as
 * it is and only what the process has is cut. */
static int keyholder_caps_limit(struct kh_confine_report *r, struct kh_err *err)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	uint64_t keep = 0, eff, prm;
	bool bounding = false;

	if (syscall(SYS_capget, &h, d) != 0)
		goto fail;
	r->caps_none = d[0].permitted == 0 && d[1].permitted == 0; /* not root: nothing to cut */
	for (size_t i = 0; i < sizeof keyholder_caps / sizeof keyholder_caps[0]; i++)
		keep |= 1ULL << keyholder_caps[i];
	eff = ((uint64_t)d[1].effective << 32 | d[0].effective) & keep;
	prm = ((uint64_t)d[1].permitted << 32 | d[0].permitted) & keep;
	if ((d[0].effective & (1u << CAP_SETPCAP)) != 0) {
		for (int cap = 0; cap < 64; cap++)
			if (!kept_cap(cap) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 &&
			    errno != EINVAL)
				goto fail;
		bounding = true;
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	d[0] = (struct __user_cap_data_struct){ (uint32_t)eff, (uint32_t)prm, 0 };
	d[1] = (struct __user_cap_data_struct){ (uint32_t)(eff >> 32), (uint32_t)(prm >> 32), 0 };
	if (syscall(SYS_capset, &h, d) != 0)
		goto fail;
	r->caps_limited = bounding;
	return 0;
fail:
	kh_err_set(err, "confine: cannot limit capabilities: %s", kh_strerror(errno));
	return -1;
}

/* The deny list and the calls refused by argument; NULL if one would not
 * add. */
static scmp_filter_ctx keyholder_filter(void)
{
	scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);

	/* a binary tree of syscall numbers: every call the daemon makes is one
	 * the list does not hold, and a linear filter would compare it with all */
	if (f != NULL &&
	    (seccomp_attr_set(f, SCMP_FLTATR_CTL_OPTIMIZE, 2) != 0 ||
	     add_names(f, keyholder_denied, SCMP_ACT_ERRNO(EPERM)) != 0 ||
	     deny_tty_injection(f) != 0 || deny_id_changes(f) != 0 || deny_unix_sockets(f) != 0)) {
		seccomp_release(f);
		return NULL;
	}
	return f;
}

int kh_confine_keyholder(const char *const *extra_reads, struct kh_confine_report *r,
			 struct kh_err *err)
{
	*r = (struct kh_confine_report){ .pid = getpid(), .uid = getuid(), .gid = getgid() };
	if (keyholder_caps_limit(r, err) != 0 || set_nnp(r, err) != 0 ||
	    keyholder_landlock(extra_reads, r, err) != 0 ||
	    load_filter(keyholder_filter(), r, err) != 0)
		return -1;
	return 0;
}

const char *kh_confine_landlock_status(const struct kh_confine_report *r, char *buf, size_t len)
{
	if (r->landlock_abi <= 0)
		kh_fmt(buf, len, "landlock: unavailable");
	else
		kh_fmt(buf, len, "landlock: abi %d", r->landlock_abi);
	return buf;
}
