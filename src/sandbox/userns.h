/* The user namespace of a keyhole sandbox started by root, so that the
 * command never runs as host root (issue 15, item 1).
 *
 * bwrap is told to create the namespace and wait (--userns-block-fd) while
 * `keyhole sandbox` writes its maps: inside uid/gid 0 is host 0, for bwrap and
 * pid 1, which set the sandbox up and hold only capabilities inside it; inside
 * KH_SANDBOX_UID/GID is the same host uid/gid, which the command runs as. So
 * the command's files and processes belong to an unprivileged host user.
 *
 * That user could not write the working directory, which belongs to someone
 * else (root, usually). An idmapped mount fixes that without touching a file:
 * through it, what the directory's owner owns on disk is owned by the sandbox
 * user, and what the sandbox user creates is written to disk as the owner's.
 * The mount is made in a private mount namespace of the process that then
 * runs bwrap, which binds it into the sandbox; the host never sees it. */
#ifndef KH_SANDBOX_USERNS_H
#define KH_SANDBOX_USERNS_H

#include <sys/types.h>

#include "base/err.h"

/* Writes /proc/<pid>/uid_map and gid_map as described above. Needs root. */
int kh_userns_write_maps(pid_t pid, uid_t uid, gid_t gid, struct kh_err *err);

/* A user namespace mapping on-disk from_uid/from_gid to host to_uid/to_gid,
 * for an idmapped mount: returns its fd (O_CLOEXEC), or -1 with err. Forks a
 * helper that exits before this returns; blocks until then. Needs root. */
int kh_userns_idmap_ns(uid_t from_uid, gid_t from_gid, uid_t to_uid, gid_t to_gid,
		       struct kh_err *err);

/* Moves the calling process into a new mount namespace (slave to the host's,
 * so nothing propagates back) and covers dir with an idmapped clone of the
 * mount there, mapped by userns_fd. For the process about to exec bwrap. */
int kh_userns_idmap_dir(const char *dir, int userns_fd, struct kh_err *err);

#endif
