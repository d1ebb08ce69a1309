/* File operations for keyhole's state directory. Everything that may hold a
 * secret is created 0600 from its first byte (the mode is passed to open(2),
 * never fixed up afterwards), opened with O_NOFOLLOW so a planted symlink
 * cannot redirect it, and checked to belong to the current user. Replacing a
 * file is atomic: temp file in the same directory, fsync, rename, fsync dir. */
#ifndef KH_FSUTIL_H
#define KH_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"

/* Creates dir with mode 0700 if missing (parents too); if it exists it must be
 * a directory (not a symlink) owned by us, and group/other bits are removed. */
int kh_fs_ensure_private_dir(const char *dir, struct kh_err *err);

/* Opens path with O_NOFOLLOW|O_CLOEXEC plus flags, creating it with mode when
 * O_CREAT is given. Refuses files not owned by us or not regular, and tightens
 * a looser mode on an existing file to mode. Returns the fd or -1. */
int kh_fs_open_private(const char *path, int flags, mode_t mode, struct kh_err *err);

/* Atomically replaces path with data (mode set at creation). */
int kh_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		       struct kh_err *err);

/* kh_fs_read_file's reading of a descriptor already open, from its start
 * (whatever its offset was: a descriptor kept to be read again); name is
 * for messages. */
int kh_fs_read_fd(int fd, const char *name, size_t cap, char **out, size_t *len,
		  struct kh_err *err);

/* Reads a whole file of at most cap bytes into a new NUL-terminated buffer the
 * caller frees (wipe it first if it held a secret: kh_fs_free_secret()).
 * nofollow: refuse symlinks (use for secret files). */
int kh_fs_read_file(const char *path, size_t cap, bool nofollow, char **out, size_t *len,
		    struct kh_err *err);

/* Wipes then frees a buffer from kh_fs_read_file(). NULL-safe. */
void kh_fs_free_secret(char *p, size_t len);

/* Writes all of data to fd, retrying short writes and EINTR. */
int kh_fs_write_all(int fd, const void *data, size_t len);

/* Copies src to a new file dst created 0600 with O_EXCL|O_NOFOLLOW. */
int kh_fs_copy_private(const char *src, const char *dst, size_t cap, struct kh_err *err);

bool kh_fs_exists(const char *path);

/* The first directory on the way to the absolute path that this process
 * (its effective ids, as execve and open see them) may not search, into out;
 * 0 if there is one, -1 if none (or path is not absolute). Blocks on the
 * file system. For explaining an EACCES. */
int kh_fs_unsearchable_dir(const char *path, char *out, size_t len);

/* Joins dir and name into out; -1 if it would not fit. */
int kh_path_join(char *out, size_t outlen, const char *dir, const char *name);

#endif
