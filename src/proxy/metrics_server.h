/* The metrics listener: GET /metrics (Prometheus text) and GET /healthz on
 * a loopback address (metrics_listen), served by one small thread with its
 * own event loop so a scrape never runs on, or waits for, a proxy worker.
 * Each scrape connection gets KH_METRICS_TIMEOUT_MS to send a request head
 * of at most KH_METRICS_REQUEST_MAX bytes and read the answer; at most
 * KH_METRICS_MAX_CLIENTS are held at once (a new one pushes out the oldest).
 * Anything but GET of those two
 * paths is answered 404; every answer closes the connection. */
#ifndef KH_METRICS_SERVER_H
#define KH_METRICS_SERVER_H

#include <stddef.h>
#include <sys/socket.h>

#include "base/err.h"
#include "proxy/metrics.h"

struct kh_metrics_server; /* opaque */

/* Fills the values only the daemon knows; runs on the metrics thread. */
typedef void (*kh_metrics_gauges_fn)(void *arg, struct kh_metrics_gauges *out);

/* Binds addr (port 0: a free port) and writes the bound "ip:port" into
 * bound. The thread starts with kh_metrics_server_start(). NULL on error. */
struct kh_metrics_server *kh_metrics_server_open(const struct sockaddr_storage *addr, socklen_t len,
						 kh_metrics_gauges_fn fn, void *arg, char *bound,
						 size_t bound_len, struct kh_err *err);

int kh_metrics_server_start(struct kh_metrics_server *s, struct kh_err *err);

/* Stops the thread (if started), closes every socket and frees s. NULL-safe. */
void kh_metrics_server_stop(struct kh_metrics_server *s);

/* The body /healthz answers with, on the proxy listeners and here alike:
 * "keyhole ok\n". A sandbox reaches the proxy listeners, so it says nothing
 * else: no pid, no version, no audit state (control.sock tells the owner). */
void kh_health_text(char *out, size_t len);

#endif
