/* Asking a running daemon whether it is up: a real GET /healthz over TCP, not
 * just a connect, so a port held by something else is not mistaken for
 * keyhole. Blocks up to timeout_ms. */
#ifndef KH_PROBE_H
#define KH_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* 0 if 127.0.0.1:port answered 200 "keyhole ..."; *pid gets the daemon's pid
 * from the answer (0 if absent). -1 otherwise. */
int kh_probe_health(uint16_t port, unsigned timeout_ms, pid_t *pid);

/* What /healthz says besides "up". */
struct kh_probe_info {
	pid_t pid; /* 0 if absent */
	bool audit_failing; /* audit.log cannot be written (records are being lost) */
	uint64_t audit_lost; /* records lost since the daemon started */
};

/* Like kh_probe_health, filling *info. */
int kh_probe_status(uint16_t port, unsigned timeout_ms, struct kh_probe_info *info);

#endif
