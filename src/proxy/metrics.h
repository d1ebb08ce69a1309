/* Counters and histograms behind /metrics, and their Prometheus text
 * rendering (exposition format 0.0.4).
 *
 * Hot-path updates never take a lock: every worker thread owns a shard of
 * relaxed atomic counters (picked once by kh_metrics_thread_init; other
 * threads share one fallback shard, still correct because every update is
 * an atomic add), and a scrape sums the shards. Label values (decision and
 * reason, provider env names) are interned into fixed tables the first time
 * they are seen; only that first sighting takes a mutex. Tables are capped:
 * once full, new values are counted under "other". Nothing here ever holds
 * a secret: labels are reason codes and environment variable names. */
#ifndef KH_METRICS_H
#define KH_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "privsep/frontstat.h"
#include "tls/certcache.h"

enum kh_hist {
	KH_HIST_REQUEST, /* one audited exchange, first byte in to decision/last byte out */
	KH_HIST_CLIENT_HANDSHAKE, /* TLS handshake with the sandbox (intercepted tunnels) */
	KH_HIST_UPSTREAM_DIAL, /* DNS + TCP connect + verified TLS to the upstream */
	KH_HIST_COUNT,
};

/* Called once on each worker thread before it serves anything. */
void kh_metrics_thread_init(unsigned worker_id);

/* One audit record: counts it by decision and reason, counts each swapped
 * credential by env name, and (for HTTP exchanges, exchange == true)
 * observes its duration. Never blocks except the first time a label is seen. */
void kh_metrics_count_request(const char *decision, const char *reason, const char *const *swapped,
			      size_t n_swapped, uint64_t duration_us, bool exchange);

void kh_metrics_observe(enum kh_hist h, uint64_t us);

/* Observes now_ms - start_ms (loop time, milliseconds). */
void kh_metrics_since(enum kh_hist h, uint64_t start_ms, uint64_t now_ms);

void kh_metrics_count_reload(bool ok);

/* privsep: true, the key holder: adds what a front counted (frontstat.h,
 * already validated: labels, counts). Observations of one entry land in
 * the bucket of us, their sum grows by us * n. */
void kh_metrics_add_front(const struct kh_frontstat *s);

/* privsep: true, in a front: from now on every request counted and every
 * observation is also kept as a delta for the key holder. */
void kh_metrics_record_deltas(void);

/* Moves the deltas kept since the last call into s (at most what one
 * message holds; the rest waits for the next call), s->active left as is.
 * Returns whether s has any entry. Any thread. */
bool kh_metrics_take_deltas(struct kh_frontstat *s);

/* Values read at scrape time from elsewhere in the daemon. */
struct kh_metrics_gauges {
	uint64_t active_connections;
	unsigned workers;
	bool have_certs;
	struct kh_certcache_stats certs;
	/* privsep: true (fronts.h): front processes running, and started
	 * again after one ended */
	bool have_fronts;
	unsigned fronts;
	uint64_t front_restarts;
	uint64_t signer_restarts; /* the CA signer process (signerctl.h) */
	uint64_t signer_hangs; /* of them, killed by the watchdog for not answering */
	uint64_t front_connections; /* open in the fronts, as they last said */
};

/* Renders every metric into out. Returns the length, or -1 if it did not
 * fit in cap. Thread-safe; does not block the workers. */
ssize_t kh_metrics_render(char *out, size_t cap, const struct kh_metrics_gauges *g);

/* Zeroes every counter and forgets the labels (unit tests only). */
void kh_metrics_reset(void);

#endif
