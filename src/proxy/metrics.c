#include "proxy/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "base/kh_limits.h"
#include "base/version.h"

#define N_BUCKETS 15

/* Upper bounds in microseconds; rendered as seconds. From a cached
 * keep-alive request (~1 ms) to a long streamed completion (a minute). */
static const uint64_t bucket_us[N_BUCKETS] = {
	1000,   2500,    5000,    10000,   25000,    50000,    100000,   250000,
	500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000,
};

static const struct {
	const char *name, *help;
} hist_info[KH_HIST_COUNT] = {
	[KH_HIST_REQUEST] = { "keyhole_request_duration_seconds",
			      "Time from a request head to its last response byte (or refusal)." },
	[KH_HIST_CLIENT_HANDSHAKE] = { "keyhole_client_handshake_seconds",
				       "TLS handshakes with sandbox clients (intercepted "
				       "tunnels)." },
	[KH_HIST_UPSTREAM_DIAL] = { "keyhole_upstream_dial_seconds",
				    "Upstream connection setup: DNS, TCP connect and verified "
				    "TLS." },
};

struct hist {
	atomic_uint_fast64_t bucket[N_BUCKETS + 1]; /* not cumulative; last is +Inf only */
	atomic_uint_fast64_t sum_us;
};

/* One per worker, aligned so two workers never write the same cache line. */
struct shard {
	_Alignas(64) atomic_uint_fast64_t requests[KH_METRICS_REQ_LABELS];
	atomic_uint_fast64_t swaps[KH_METRICS_PROVIDERS];
	struct hist hist[KH_HIST_COUNT];
};

/* Interned label values. Entries below n are immutable once published. */
struct entry {
	char a[KH_METRICS_LABEL_MAX];
	char b[KH_METRICS_LABEL_MAX];
};

struct table {
	pthread_mutex_t lock;
	atomic_size_t n;
	size_t cap; /* the last slot is "other" */
	struct entry *e;
};

static struct shard shards[KH_MAX_WORKERS + 1]; /* the last one: threads without their own */
static _Thread_local struct shard *mine;
static struct entry req_entries[KH_METRICS_REQ_LABELS], prov_entries[KH_METRICS_PROVIDERS];
static struct table req_labels = { PTHREAD_MUTEX_INITIALIZER, 0, KH_METRICS_REQ_LABELS,
				   req_entries };
static struct table prov_labels = { PTHREAD_MUTEX_INITIALIZER, 0, KH_METRICS_PROVIDERS,
				    prov_entries };
static atomic_uint_fast64_t reloads_ok, reloads_failed;

void kh_metrics_thread_init(unsigned worker_id)
{
	mine = &shards[worker_id < KH_MAX_WORKERS ? worker_id : KH_MAX_WORKERS];
}

static struct shard *shard(void)
{
	return mine != NULL ? mine : &shards[KH_MAX_WORKERS];
}

static void add(atomic_uint_fast64_t *c, uint64_t v)
{
	atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static uint64_t get(const atomic_uint_fast64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static bool same(const struct entry *e, const char *a, const char *b)
{
	return strcmp(e->a, a) == 0 && strcmp(e->b, b) == 0;
}

/* Index of (a, b), adding it on first sight. Values too long to keep, and
 * any once the table is full, share the last slot ("other"). */
static size_t intern(struct table *t, const char *a, const char *b)
{
	size_t n = atomic_load_explicit(&t->n, memory_order_acquire), i;

	for (i = 0; i < n; i++)
		if (same(&t->e[i], a, b))
			return i;
	if (strlen(a) >= KH_METRICS_LABEL_MAX || strlen(b) >= KH_METRICS_LABEL_MAX)
		return t->cap - 1;
	pthread_mutex_lock(&t->lock);
	n = atomic_load_explicit(&t->n, memory_order_relaxed);
	for (i = 0; i < n && !same(&t->e[i], a, b); i++)
		;
	if (i == n && n < t->cap - 1) {
		snprintf(t->e[n].a, sizeof t->e[n].a, "%s", a);
		snprintf(t->e[n].b, sizeof t->e[n].b, "%s", b);
		atomic_store_explicit(&t->n, n + 1, memory_order_release);
	} else if (i == n) {
		i = t->cap - 1;
	}
	pthread_mutex_unlock(&t->lock);
	return i;
}

/* A front's deltas, kept for the key holder (kh_metrics_record_deltas):
 * requests by interned label pair (its own "other" once full), and
 * observations by histogram and bucket. */
static struct {
	pthread_mutex_t lock;
	atomic_bool on;
	uint64_t req[KH_FRONTSTAT_REQS];
	char label[KH_FRONTSTAT_REQS][2][KH_FRONTSTAT_LABEL + 1];
	size_t n_req;
	uint64_t obs_n[KH_HIST_COUNT][N_BUCKETS + 1], obs_sum[KH_HIST_COUNT][N_BUCKETS + 1];
} rec = { .lock = PTHREAD_MUTEX_INITIALIZER };

static size_t bucket_of(uint64_t us)
{
	size_t b = 0;

	while (b < N_BUCKETS && us > bucket_us[b])
		b++;
	return b;
}

static void observe_n(enum kh_hist h, size_t b, uint64_t n, uint64_t sum_us)
{
	struct hist *hs = &shard()->hist[h];

	add(&hs->bucket[b], n);
	add(&hs->sum_us, sum_us);
}

void kh_metrics_observe(enum kh_hist h, uint64_t us)
{
	size_t b = bucket_of(us);

	observe_n(h, b, 1, us);
	if (!atomic_load_explicit(&rec.on, memory_order_relaxed))
		return;
	pthread_mutex_lock(&rec.lock);
	rec.obs_n[h][b]++;
	rec.obs_sum[h][b] += us;
	pthread_mutex_unlock(&rec.lock);
}

/* A label the key holder takes, or "other". */
static const char *rec_label(const char *s)
{
	return s != NULL && kh_frontstat_label_ok(s, strnlen(s, KH_FRONTSTAT_LABEL + 1)) ? s
											 : "other";
}

/* Pairs are kept for the front's lifetime (their counts go to 0 when
 * taken); once all but the last slot are used, new pairs share that one
 * as ("other", "other"). */
static void rec_request(const char *decision, const char *reason)
{
	const char *a = rec_label(decision), *b = rec_label(reason);
	size_t i;

	pthread_mutex_lock(&rec.lock);
	for (i = 0; i < rec.n_req; i++)
		if (strcmp(rec.label[i][0], a) == 0 && strcmp(rec.label[i][1], b) == 0)
			break;
	if (i == rec.n_req && rec.n_req < KH_FRONTSTAT_REQS - 1) {
		rec.n_req++;
	} else if (i == rec.n_req || i == KH_FRONTSTAT_REQS - 1) {
		i = KH_FRONTSTAT_REQS - 1;
		a = b = "other";
		rec.n_req = KH_FRONTSTAT_REQS;
	}
	snprintf(rec.label[i][0], sizeof rec.label[i][0], "%s", a);
	snprintf(rec.label[i][1], sizeof rec.label[i][1], "%s", b);
	rec.req[i]++;
	pthread_mutex_unlock(&rec.lock);
}

void kh_metrics_record_deltas(void)
{
	atomic_store(&rec.on, true);
}

static void take_reqs(struct kh_frontstat *s)
{
	s->n_req = 0;
	for (size_t i = 0; i < rec.n_req; i++) {
		uint64_t n = rec.req[i] < KH_FRONTSTAT_COUNT ? rec.req[i] : KH_FRONTSTAT_COUNT;
		struct kh_frontstat_req *q = &s->req[s->n_req];

		if (n == 0)
			continue;
		snprintf(q->decision, sizeof q->decision, "%s", rec.label[i][0]);
		snprintf(q->reason, sizeof q->reason, "%s", rec.label[i][1]);
		q->n = (uint32_t)n;
		rec.req[i] -= n;
		s->n_req++;
	}
}

static void take_obs(struct kh_frontstat *s)
{
	s->n_obs = 0;
	for (int h = 0; h < KH_HIST_COUNT; h++)
		for (size_t b = 0; b <= N_BUCKETS && s->n_obs < KH_FRONTSTAT_OBS; b++) {
			uint64_t c = rec.obs_n[h][b],
				 n = c < KH_FRONTSTAT_COUNT ? c : KH_FRONTSTAT_COUNT;
			uint64_t avg = c > 0 ? rec.obs_sum[h][b] / c : 0;

			if (n == 0)
				continue;
			/* the mean of one bucket's observations lies in that bucket */
			s->obs[s->n_obs++] = (struct kh_frontstat_obs){ .hist = (uint8_t)h,
									.us = avg,
									.n = (uint32_t)n };
			rec.obs_n[h][b] -= n;
			rec.obs_sum[h][b] = rec.obs_n[h][b] > 0 ? rec.obs_sum[h][b] - avg * n : 0;
		}
}

bool kh_metrics_take_deltas(struct kh_frontstat *s)
{
	pthread_mutex_lock(&rec.lock);
	take_reqs(s);
	take_obs(s);
	pthread_mutex_unlock(&rec.lock);
	return s->n_req > 0 || s->n_obs > 0;
}

/* A front's observations are at most an hour each: a lying front cannot
 * overflow the sum with one message. */
#define FRONT_MAX_US (3600ull * 1000000ull)

/* A pair a front reported: one the daemon knows, or a new one while the
 * fronts' small share of the table lasts, else "other", so a front taken
 * over cannot crowd the daemon's own labels out of /metrics. */
static atomic_uint front_pairs; /* pairs fronts added to req_labels */

static size_t intern_front(const char *a, const char *b)
{
	size_t n = atomic_load_explicit(&req_labels.n, memory_order_acquire);

	for (size_t i = 0; i < n; i++)
		if (same(&req_labels.e[i], a, b))
			return i;
	if (atomic_fetch_add(&front_pairs, 1) >= KH_FRONTSTAT_NEW_PAIRS)
		return req_labels.cap - 1;
	return intern(&req_labels, a, b);
}

/* Adds v to a sum a front feeds, stopping at the top instead of wrapping
 * (a lying front could otherwise make it go backwards). Only this thread
 * adds to its shard's sums from fronts. */
static void add_saturating(atomic_uint_fast64_t *c, uint64_t v)
{
	uint64_t cur = atomic_load_explicit(c, memory_order_relaxed);

	if (v > UINT64_MAX - cur)
		v = UINT64_MAX - cur;
	add(c, v);
}

void kh_metrics_add_front(const struct kh_frontstat *s)
{
	struct shard *sh = shard();

	for (size_t i = 0; i < s->n_req; i++)
		add_saturating(&sh->requests[intern_front(s->req[i].decision, s->req[i].reason)],
			       s->req[i].n);
	for (size_t i = 0; i < s->n_obs; i++) {
		uint64_t us = s->obs[i].us < FRONT_MAX_US ? s->obs[i].us : FRONT_MAX_US;

		if (s->obs[i].hist < KH_HIST_COUNT) {
			struct hist *hs = &sh->hist[s->obs[i].hist];

			add_saturating(&hs->bucket[bucket_of(us)], s->obs[i].n);
			add_saturating(&hs->sum_us, us * s->obs[i].n);
		}
	}
}

void kh_metrics_since(enum kh_hist h, uint64_t start_ms, uint64_t now_ms)
{
	kh_metrics_observe(h, now_ms > start_ms ? (now_ms - start_ms) * 1000u : 0);
}

void kh_metrics_count_request(const char *decision, const char *reason, const char *const *swapped,
			      size_t n_swapped, uint64_t duration_us, bool exchange)
{
	struct shard *s = shard();

	add(&s->requests[intern(&req_labels, decision ? decision : "", reason ? reason : "")], 1);
	if (atomic_load_explicit(&rec.on, memory_order_relaxed))
		rec_request(decision, reason);
	for (size_t i = 0; i < n_swapped; i++)
		add(&s->swaps[intern(&prov_labels, swapped[i], "")], 1);
	if (exchange)
		kh_metrics_observe(KH_HIST_REQUEST, duration_us);
}

void kh_metrics_count_reload(bool ok)
{
	add(ok ? &reloads_ok : &reloads_failed, 1);
}

void kh_metrics_reset(void)
{
	memset(shards, 0, sizeof shards);
	atomic_store(&req_labels.n, 0);
	atomic_store(&prov_labels.n, 0);
	atomic_store(&front_pairs, 0);
	atomic_store(&reloads_ok, 0);
	atomic_store(&reloads_failed, 0);
}

/* --- rendering --- */

struct out {
	char *p;
	size_t cap, len;
	bool overflow;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->overflow = true;
		return;
	}
	o->len += (size_t)n;
}

/* A label value with \, " and newline escaped as the format requires. */
static void put_label(struct out *o, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			put(o, "\\\\");
		else if (*s == '"')
			put(o, "\\\"");
		else if (*s == '\n')
			put(o, "\\n");
		else
			put(o, "%c", *s);
	}
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Microseconds as seconds, without floating point: 2500 -> "0.0025". */
static void put_seconds(struct out *o, uint64_t us)
{
	char frac[8];
	int n = snprintf(frac, sizeof frac, "%06u", (unsigned)(us % 1000000u));

	while (n > 0 && frac[n - 1] == '0')
		frac[--n] = '\0';
	put(o, "%llu%s%s", (unsigned long long)(us / 1000000u), n ? "." : "", frac);
}

static uint64_t sum_requests(size_t i)
{
	uint64_t v = 0;

	for (size_t s = 0; s <= KH_MAX_WORKERS; s++)
		v += get(&shards[s].requests[i]);
	return v;
}

static const char *label_a(const struct table *t, size_t i)
{
	return i == t->cap - 1 ? "other" : t->e[i].a;
}

static const char *label_b(const struct table *t, size_t i)
{
	return i == t->cap - 1 ? "other" : t->e[i].b;
}

/* Rows of a table that have a value, plus the overflow slot if it was used. */
static bool row_used(const struct table *t, size_t n, size_t i, uint64_t v)
{
	return i < n || (i == t->cap - 1 && v > 0);
}

static void render_requests(struct out *o)
{
	size_t n = atomic_load_explicit(&req_labels.n, memory_order_acquire);

	family(o, "keyhole_requests_total", "counter",
	       "Requests (and refused connections) by decision and reason, as in audit.log.");
	for (size_t i = 0; i < req_labels.cap; i++) {
		uint64_t v = sum_requests(i);

		if (!row_used(&req_labels, n, i, v))
			continue;
		put(o, "keyhole_requests_total{decision=\"");
		put_label(o, label_a(&req_labels, i));
		put(o, "\",reason=\"");
		put_label(o, label_b(&req_labels, i));
		put(o, "\"} %llu\n", (unsigned long long)v);
	}
}

static bool upstream_reason(const char *r)
{
	return strncmp(r, "upstream_", 9) == 0 || strcmp(r, "dns_failed") == 0;
}

/* Derived from the request counters: errors reaching the upstream, by reason. */
static void render_upstream_errors(struct out *o)
{
	size_t n = atomic_load_explicit(&req_labels.n, memory_order_acquire);

	family(o, "keyhole_upstream_errors_total", "counter",
	       "Requests that failed at the upstream (DNS, connect, TLS, timeout, reset, bad "
	       "response).");
	for (size_t i = 0; i < n; i++) {
		uint64_t v = 0;
		bool first = true;

		if (!upstream_reason(req_labels.e[i].b))
			continue;
		for (size_t j = 0; j < n; j++) { /* one row per reason, whatever the decision */
			if (strcmp(req_labels.e[j].b, req_labels.e[i].b) != 0)
				continue;
			first = first && j >= i;
			v += sum_requests(j);
		}
		if (!first)
			continue;
		put(o, "keyhole_upstream_errors_total{reason=\"");
		put_label(o, req_labels.e[i].b);
		put(o, "\"} %llu\n", (unsigned long long)v);
	}
}

static void render_swaps(struct out *o)
{
	size_t n = atomic_load_explicit(&prov_labels.n, memory_order_acquire);

	family(o, "keyhole_credential_swaps_total", "counter",
	       "Proxy tokens replaced by the real credential, by provider env name.");
	for (size_t i = 0; i < prov_labels.cap; i++) {
		uint64_t v = 0;

		for (size_t s = 0; s <= KH_MAX_WORKERS; s++)
			v += get(&shards[s].swaps[i]);
		if (!row_used(&prov_labels, n, i, v))
			continue;
		put(o, "keyhole_credential_swaps_total{provider=\"");
		put_label(o, label_a(&prov_labels, i));
		put(o, "\"} %llu\n", (unsigned long long)v);
	}
}

/* _count is the sum of the buckets read here, so +Inf always equals it even
 * while workers keep counting. */
static void render_hist(struct out *o, enum kh_hist h)
{
	uint64_t b[N_BUCKETS + 1] = { 0 }, sum = 0, cum = 0;
	const char *name = hist_info[h].name;

	for (size_t s = 0; s <= KH_MAX_WORKERS; s++) {
		for (size_t i = 0; i <= N_BUCKETS; i++)
			b[i] += get(&shards[s].hist[h].bucket[i]);
		sum += get(&shards[s].hist[h].sum_us);
	}
	family(o, name, "histogram", hist_info[h].help);
	for (size_t i = 0; i < N_BUCKETS; i++) {
		cum += b[i];
		put(o, "%s_bucket{le=\"", name);
		put_seconds(o, bucket_us[i]);
		put(o, "\"} %llu\n", (unsigned long long)cum);
	}
	cum += b[N_BUCKETS];
	put(o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum ", name, (unsigned long long)cum, name);
	put_seconds(o, sum);
	put(o, "\n%s_count %llu\n", name, (unsigned long long)cum);
}

static void render_simple(struct out *o, const char *name, const char *type, const char *help,
			  uint64_t v)
{
	family(o, name, type, help);
	put(o, "%s %llu\n", name, (unsigned long long)v);
}

static void render_gauges(struct out *o, const struct kh_metrics_gauges *g)
{
	family(o, "keyhole_build_info", "gauge", "Always 1; the version is in the label.");
	put(o, "keyhole_build_info{version=\"");
	put_label(o, KH_VERSION);
	put(o, "\"} 1\n");
	render_simple(o, "keyhole_active_connections", "gauge",
		      "Client connections open now (all workers).",
		      g->active_connections + g->front_connections);
	render_simple(o, "keyhole_workers", "gauge", "Worker threads.", g->workers);
	if (g->have_certs) {
		render_simple(o, "keyhole_cert_cache_hits_total", "counter",
			      "Leaf certificates served from the cache.", g->certs.hits);
		render_simple(o, "keyhole_cert_cache_misses_total", "counter",
			      "Leaf certificate lookups that had to mint.", g->certs.misses);
		render_simple(o, "keyhole_cert_cache_entries", "gauge",
			      "Leaf certificates in the cache now.", g->certs.entries);
	}
	if (g->have_fronts) {
		render_simple(o, "keyhole_front_processes", "gauge",
			      "Front processes running (privsep: true).", g->fronts);
		render_simple(o, "keyhole_front_restarts_total", "counter",
			      "Front processes started again after one ended.", g->front_restarts);
		render_simple(o, "keyhole_signer_restarts_total", "counter",
			      "CA signer processes started again after one ended.",
			      g->signer_restarts);
		render_simple(o, "keyhole_signer_hangs_total", "counter",
			      "CA signer processes killed for not answering the daemon for 5 s.",
			      g->signer_hangs);
	}
	family(o, "keyhole_reloads_total", "counter",
	       "Configuration reloads (SIGHUP / keyhole reload) by result.");
	put(o, "keyhole_reloads_total{result=\"ok\"} %llu\n", (unsigned long long)get(&reloads_ok));
	put(o, "keyhole_reloads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)get(&reloads_failed));
}

ssize_t kh_metrics_render(char *buf, size_t cap, const struct kh_metrics_gauges *g)
{
	struct out o = { buf, cap, 0, cap == 0 };

	render_gauges(&o, g);
	render_requests(&o);
	render_upstream_errors(&o);
	render_swaps(&o);
	for (int h = 0; h < KH_HIST_COUNT; h++)
		render_hist(&o, (enum kh_hist)h);
	return o.overflow ? -1 : (ssize_t)o.len;
}
