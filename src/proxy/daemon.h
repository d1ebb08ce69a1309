/* The proxy daemon: `keyhole proxy` (and, detached, `keyhole start`).
 * Loads and checks everything before listening, so a bad config, a busy
 * port or an unreadable CA ends startup with one line saying what to fix;
 * then runs one worker per CPU until SIGTERM/SIGINT, drains in-flight
 * exchanges for up to timeouts.shutdown_grace, wipes secrets and exits 0. */
#ifndef KH_DAEMON_H
#define KH_DAEMON_H

#include "base/log.h"

struct kh_daemon_opts {
	const char *home; /* --home, or NULL */
	const char *config; /* --config, or NULL */
	const char *log_level; /* --log-level, or NULL */
};

/* Blocks until shutdown. Returns the process exit status. */
int kh_daemon_run(const struct kh_daemon_opts *opts);

#endif
