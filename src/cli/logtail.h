/* Reading back what the daemon wrote to keyhole.log since a given offset:
 * the tail shown when a start fails, the "listening on" line for an
 * ephemeral port, the reload verdict. Reads are capped. */
#ifndef KH_LOGTAIL_H
#define KH_LOGTAIL_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* Current size of the log (0 if absent): the offset for later reads. */
off_t kh_logtail_size(const char *path);

/* Copies the log text written after offset (at most cap bytes, the last
 * ones) into a new buffer; NULL if none. */
char *kh_logtail_since(const char *path, off_t offset, size_t cap);

/* The first what in a line the daemon pid itself wrote ("<time>
 * keyhole[<pid>] <level>: ..."), not in one it copied from a front or the
 * CA signer ("[front 0] ...": a process taken over could write "reload: ok"
 * there) nor one of another process. NULL if none. */
char *kh_logtail_daemon_says(char *text, pid_t pid, const char *what);

/* Prints the last n lines written after offset to out, indented. */
void kh_logtail_print(FILE *out, const char *path, off_t offset, int n);

#endif
