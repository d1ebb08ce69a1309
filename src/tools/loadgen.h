/* The load generator behind `keyhole bench`.
 *
 * Closed-loop HTTP/1.1 load: N connections, each opened directly or through
 * an HTTP proxy (CONNECT for https, absolute-form for http), TLS with SNI and
 * verification when the URL is https, then requests one at a time with
 * keep-alive (or a new connection per request). Every thread runs its own
 * edge-triggered epoll loop (loop.c) over non-blocking sockets and OpenSSL
 * (endpoint.c); responses are framed with the strict parser in http1.c.
 * Latencies go into log-bucket histograms of fixed size, so memory does not
 * grow with the number of requests. Every wait has a timeout.
 *
 * It is also how the benchmark measures a proxy's memory per idle connection:
 * idle mode opens N connections, completes one request on each, reports that
 * on stderr and then holds them without traffic while someone samples the
 * proxy's RSS. */
#ifndef KH_LOADGEN_H
#define KH_LOADGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/err.h"
#include "base/hostname.h"
#include "base/kh_limits.h"

/* Its hard caps (KH_LG_MAX_*) are in base/kh_limits.h. */

/* Log-bucket histogram of nanosecond values: exact below 128, then 64
 * buckets per power of two (each under 1.6% wide), up to 2^64 ns. 30 KiB
 * whatever the count. */
#define KH_LG_HIST_SUB     64
#define KH_LG_HIST_BUCKETS (59 * KH_LG_HIST_SUB)

struct kh_lg_hist {
	uint64_t counts[KH_LG_HIST_BUCKETS];
	uint64_t n, sum, min, max; /* exact */
};

void kh_lg_hist_add(struct kh_lg_hist *h, uint64_t ns);
void kh_lg_hist_merge(struct kh_lg_hist *into, const struct kh_lg_hist *from);
/* Value at quantile q/100000 (e.g. 99000 = p99), ns; 0 when empty. */
uint64_t kh_lg_hist_quantile(const struct kh_lg_hist *h, uint32_t q);

enum kh_lg_error {
	KH_LGE_CONNECT, /* TCP connect failed */
	KH_LGE_PROXY, /* CONNECT answered with a non-2xx status or garbage */
	KH_LGE_TLS, /* handshake or certificate verification failed */
	KH_LGE_WRITE, /* sending the request failed */
	KH_LGE_READ, /* reading failed (reset, TLS error) */
	KH_LGE_CLOSED, /* peer closed before the response was complete */
	KH_LGE_PARSE, /* response framing refused by the strict parser */
	KH_LGE_STATUS, /* response status outside 200-399 */
	KH_LGE_TIMEOUT, /* a phase took longer than --timeout */
	KH_LGE_IDLE_DROP, /* an idle, held connection was closed by the peer */
	KH_LGE_COUNT
};

const char *kh_lg_error_name(enum kh_lg_error e);

enum kh_lg_mode { KH_LG_KEEPALIVE, KH_LG_NEWCONN, KH_LG_IDLE };

struct kh_lg_opts {
	/* target */
	bool tls; /* https */
	char host[KH_HOST_BUF]; /* normalized */
	bool host_is_ip;
	uint16_t port;
	const char *path; /* origin-form path and query, never empty */
	/* where to connect: the proxy when via_proxy, else the target */
	bool via_proxy;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	const char *cacert; /* extra trust anchors (PEM), may be NULL */
	/* request */
	const char *method;
	const char *headers[KH_LG_MAX_HEADERS]; /* "Name: value", validated */
	size_t n_headers;
	uint64_t body_size;
	bool sse; /* ask for text/event-stream; ttfb = first body byte */
	/* load shape and bounds */
	enum kh_lg_mode mode;
	uint32_t connections;
	uint32_t threads;
	uint64_t duration_ms; /* 0 = no time bound (count or idle mode) */
	uint64_t warmup_ms;
	uint64_t max_requests; /* 0 = unbounded */
	uint64_t timeout_ms; /* per phase: connect, CONNECT, handshake, response */
	uint64_t hold_ms; /* idle mode */
	uint32_t ramp; /* first setups in flight at once (0: KH_LG_SETUP_WINDOW) */
};

struct kh_lg_result {
	uint64_t requests; /* complete responses with status 200-399 */
	uint64_t errors[KH_LGE_COUNT];
	uint64_t bytes_rx, bytes_tx; /* application bytes (after TLS) */
	uint64_t connections_opened; /* setups completed (TCP, CONNECT, TLS) */
	uint64_t elapsed_ns; /* the measured window */
	uint32_t idle_established;
	struct kh_lg_hist latency; /* request start -> response end */
	struct kh_lg_hist ttfb; /* request start -> first response byte (--sse: body byte) */
	struct kh_lg_hist setup; /* connect start -> ready for the first request */
};

uint64_t kh_lg_errors_total(const struct kh_lg_result *r);

/* Raises RLIMIT_NOFILE to at least need descriptors (the hard limit too,
 * when privileged). 0 / -1 with err naming the limit to change. */
int kh_lg_raise_nofile(uint64_t need, struct kh_err *err);

/* Runs the load described by o until its bounds are reached or *stop
 * becomes true (a signal handler may set it), and fills *r (the caller
 * zeroes it; it is large, so allocate it). Blocks. Returns 0, or -1 with err
 * set when the run could not start (no threads, no TLS context). */
int kh_lg_run(const struct kh_lg_opts *o, struct kh_lg_result *r, volatile int *stop,
	      struct kh_err *err);

#endif
