/* The daemon's process state on disk and how the CLI recognises it.
 *
 * keyhole.pid is created with O_EXCL|O_NOFOLLOW (0600, owner-checked), so two
 * starts cannot both believe they own the daemon. keyhole.nonce holds a
 * random value also placed in the daemon's environment: a pid is trusted to
 * be ours only if /proc/<pid>/environ carries that nonce (readable by root),
 * or else if its argv[0] is keyhole. stop compares /proc/<pid>/stat start
 * times before escalating to SIGKILL, so a recycled pid is never killed. */
#ifndef KH_STATE_H
#define KH_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"

#define KH_NONCE_ENV "KEYHOLE_NONCE"
#define KH_NONCE_LEN 64 /* hex characters */

/* 0 with *pid set; -1 if missing or not a pid. */
int kh_pidfile_read(const char *path, pid_t *pid);

/* Creates path exclusively with pid. -1 with errno EEXIST if it exists. */
int kh_pidfile_create(const char *path, pid_t pid, struct kh_err *err);

int kh_nonce_write(const char *path, const char *nonce, struct kh_err *err);
int kh_nonce_read(const char *path, char *out, size_t len);
void kh_nonce_new(char out[KH_NONCE_LEN + 1]);

/* Exists (signal 0 succeeds or is only refused for permission). */
bool kh_proc_alive(pid_t pid);

/* Is pid a keyhole daemon: nonce in its environment, else argv[0]? */
bool kh_proc_is_keyhole(pid_t pid, const char *nonce);

/* Field 22 of /proc/<pid>/stat (start time in clock ticks). 0 / -1. */
int kh_proc_starttime(pid_t pid, unsigned long long *out);

/* Parses the start time from the text of a /proc/<pid>/stat file, whose
 * command name may itself contain spaces and parentheses. */
int kh_parse_proc_stat_starttime(const char *stat, size_t len, unsigned long long *out);

#endif
