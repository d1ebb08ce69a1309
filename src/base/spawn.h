/* Running a helper program (bws, an operator's credential command) and
 * collecting its output, bounded: stdout is capped, the run is killed at a
 * deadline, the environment is exactly what the caller passes (so a token can
 * travel in the environment and never in argv), and stderr is kept short for
 * error messages. Blocks the calling thread until the child exits. */
#ifndef KH_SPAWN_H
#define KH_SPAWN_H

#include <stddef.h>

#include "base/err.h"

struct kh_spawn_result {
	char *out; /* stdout, NUL-terminated; caller wipes and frees */
	size_t out_len;
	char err[512]; /* first bytes of stderr, control characters replaced */
	int exit_code; /* -1 if killed by a signal or the deadline */
};

/* Runs argv[0] (searched in this process's PATH, as execvpe does, not in
 * envp's) with envp. -1 with err set when it cannot be started (not found,
 * not executable), exceeds timeout_ms or out_cap; otherwise 0 and r is
 * filled (check r->exit_code). */
int kh_spawn_capture(char *const argv[], char *const envp[], unsigned timeout_ms, size_t out_cap,
		     struct kh_spawn_result *r, struct kh_err *err);

void kh_spawn_result_free(struct kh_spawn_result *r); /* wipes stdout */

#endif
