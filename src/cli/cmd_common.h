/* What every operator command starts with: --home, the resolved paths and
 * the loaded config, plus small output helpers. */
#ifndef KH_CMD_COMMON_H
#define KH_CMD_COMMON_H

#include <stdbool.h>
#include <stdio.h>

#include "policy/config.h"
#include "base/home.h"
#include "policy/mappings.h"

struct kh_cli_ctx {
	const char *cmd; /* for messages: "keyhole <cmd>: ..." */
	struct kh_paths paths;
	struct kh_config cfg; /* defaults if config.yaml is absent */
};

/* Resolves paths (home may be NULL) and loads config.yaml. Prints the error
 * and returns -1 when the config is invalid. */
int kh_cli_open(struct kh_cli_ctx *x, const char *cmd, const char *home);
void kh_cli_close(struct kh_cli_ctx *x);

/* "keyhole <cmd>: <message>" on stderr; returns 1 (refused/failed). */
int kh_cli_fail(const struct kh_cli_ctx *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Loads mappings.json; a corrupt file is an error (printed), a missing one
 * gives an empty set. */
int kh_cli_mappings(const struct kh_cli_ctx *x, struct kh_mappings *m);

/* Is the daemon recorded in keyhole.pid alive and ours, or (keyhole.pid
 * missing or stale) does one answer on this home's control.sock? Fills *pid.
 * Blocks up to KH_CTL_PROBE_MS. */
bool kh_cli_daemon_running(const struct kh_cli_ctx *x, pid_t *pid);

/* Replaces the tokens in m by sandbox tokens of a new label "<kind>-<pid>"
 * (or "<kind>-<name>-<pid>"; name may be NULL) from the running daemon, so
 * this sandbox's requests are audited under it and its tokens can be revoked
 * alone. The label goes to label (KH_GRANT_LABEL_MAX). Prints and returns -1
 * when the daemon cannot issue them. */
int kh_cli_sandbox_tokens(const struct kh_cli_ctx *x, const char *kind, const char *name,
			  struct kh_mappings *m, char *label);

/* Revokes label's tokens once the sandbox has exited (warns on failure:
 * they still expire). */
void kh_cli_sandbox_revoke(const struct kh_cli_ctx *x, const char *label);

#endif
