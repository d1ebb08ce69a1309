/* A scratch directory for unit tests that touch the file system: main makes
 * it with tmpdir_make before the tests and removes it, with everything in it,
 * with tmpdir_remove after them. root is its path, path() names a file in it.
 * Include after tap.h, once per test program. */
#ifndef KH_TMPDIR_H
#define KH_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "base/fsutil.h"

static char root[256];

/* Rotates through a few buffers so several paths can appear in one call. */
static inline const char *path(const char *name)
{
	static char out[6][512];
	static unsigned next;
	char *p = out[next++ % 6];

	kh_path_join(p, sizeof out[0], root, name);
	return p;
}

/* Permission bits of p (not following a symlink), or (mode_t)-1. */
static inline mode_t mode_of(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0 ? (st.st_mode & 07777) : (mode_t)-1;
}

/* root becomes a new directory /tmp/<prefix>-XXXXXX; 0, or -1 if it could
 * not be made. */
static inline int tmpdir_make(const char *prefix)
{
	snprintf(root, sizeof root, "/tmp/%s-XXXXXX", prefix);
	return mkdtemp(root) != NULL ? 0 : -1;
}

/* rm -rf root; 0, or -1 if that failed. */
static inline int tmpdir_remove(void)
{
	char cmd[300];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

#endif
