/* The one host directory a keyhole sandbox may write (issue 15, item 11).
 *
 * The writable directory is the current one or --workdir DIR. It may not be a
 * home directory or hold one (the command would plant ~/.bashrc or
 * ~/.ssh/authorized_keys and run at the next login), nor /, nor hold the
 * shared /tmp and /var/tmp, nor lie inside /proc, /sys, /dev or /run (other
 * programs' sockets and the kernel's knobs) or inside KEYHOLE_HOME.
 *
 * Inside it, the paths through which a write becomes code that someone runs
 * later on the host (git hooks and config, shell startup files, .envrc,
 * editor and agent settings) stay read-only, and where one does not exist
 * the command cannot create it: an empty placeholder is bound read-only over
 * it. A placeholder is a file or directory made in the user's tree for the
 * time of the run (an empty directory in the working tree, which git does not
 * list; an empty file inside .git, or "." for commondir) and removed after
 * the run if it is still the one made; only a killed `keyhole sandbox` leaves
 * one behind. The directories on the way to these paths are bound onto
 * themselves, so the command cannot move them aside and build a new one. */
#ifndef KH_SANDBOX_WORKDIR_H
#define KH_SANDBOX_WORKDIR_H

#include <stdbool.h>
#include <sys/types.h>

#include "cli/dockerargs.h"
#include "base/err.h"
#include "base/kh_limits.h"

struct kh_workdir_path {
	char rel[KH_WORKDIR_REL_MAX]; /* relative to the writable directory */
	bool made; /* a placeholder made for this run */
	bool made_dir;
	dev_t dev; /* the placeholder, to remove only ours */
	ino_t ino;
	off_t size;
};

struct kh_workdir {
	char dir[KH_MAX_PATH]; /* absolute, no symlinks */
	uid_t owner; /* the directory's owner and group */
	gid_t group;
	struct kh_workdir_path pins[KH_WORKDIR_MAX_PINS];
	size_t n_pins;
	struct kh_workdir_path ro[KH_WORKDIR_MAX_RO];
	size_t n_ro;
};

/* Resolves requested (NULL: the current directory) and refuses the
 * directories listed above, naming --workdir in err. keyhole_home must be
 * absolute and without symlinks. */
int kh_workdir_choose(struct kh_workdir *w, const char *requested, const char *keyhole_home,
		      struct kh_err *err);

/* Finds the paths to keep read-only and makes the placeholders (owned by the
 * directory's owner). Refuses a symbolic link among them: the link itself
 * could be replaced. On failure, placeholders made so far are removed. */
int kh_workdir_protect(struct kh_workdir *w, struct kh_err *err);

/* bwrap arguments: the directory bound writable, the pins, the read-only paths. */
int kh_workdir_bwrap_args(const struct kh_workdir *w, struct kh_argv *a);

/* For a command that does not run as the directory's owner (root's sandbox):
 * a path to the directory it can walk. The outermost ancestor others cannot
 * search is covered with an empty tmpfs, and the directories bwrap then makes
 * on the way (there and under the sandbox's own /tmp and /run) get mode 0755
 * rather than the host's. */
int kh_workdir_open_path(const struct kh_workdir *w, struct kh_argv *a);

/* Removes the placeholders that are still the ones made (NULL-safe). */
void kh_workdir_cleanup(struct kh_workdir *w);

#endif
