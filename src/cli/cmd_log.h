/* `keyhole log`: audit.log for people. Each JSON record becomes one line
 * (time, sandbox client, decision, status, method, host, path, reason,
 * swapped credentials), colored on a terminal unless NO_COLOR is set.
 * Every string from a record is escaped before it reaches the terminal:
 * control bytes, DEL, C1 controls and bidirectional overrides are shown as
 * \xNN or \u{NNNN}, so a hostile host or path cannot move the cursor, change
 * colors or reorder what the operator reads. Lines that are not a JSON
 * object are skipped and counted, never fatal. */
#ifndef KH_CMD_LOG_H
#define KH_CMD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct kh_logview {
	bool denied_only; /* only decision "deny" */
	bool json; /* print the record as JSON instead of the readable line */
	bool color; /* ANSI colors */
	unsigned long skipped; /* malformed lines seen so far */
};

/* Shows one audit.log line (without its newline) on out according to v.
 * Returns 1 if printed, 0 if filtered out, -1 if malformed (counted). */
int kh_logview_line(struct kh_logview *v, const char *line, size_t len, FILE *out);

/* Writes s with hostile characters escaped as described above. Returns the
 * number of terminal columns used (one per character, roughly). */
size_t kh_logview_escape(FILE *out, const char *s, size_t len);

#endif
