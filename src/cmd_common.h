/* What every operator command starts with: --home, the resolved paths and
 * the loaded config, plus small output helpers. */
#ifndef KH_CMD_COMMON_H
#define KH_CMD_COMMON_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "home.h"
#include "mappings.h"

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

/* Is the daemon recorded in keyhole.pid alive and ours? Fills *pid. */
bool kh_cli_daemon_running(const struct kh_cli_ctx *x, pid_t *pid);

#endif
