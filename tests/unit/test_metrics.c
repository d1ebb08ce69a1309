#include "proxy/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "base/kh_limits.h"
#include "tap.h"

static char text[KH_METRICS_BODY_MAX];

static const char *render(void)
{
	struct kh_metrics_gauges g = { .active_connections = 7, .workers = 2 };
	ssize_t n = kh_metrics_render(text, sizeof text, &g);

	CHECK(n > 0);
	return text;
}

static int has(const char *line)
{
	return strstr(render(), line) != NULL;
}

static void counts_by_label(void)
{
	const char *swapped[] = { "OPENAI_API_KEY", "GROQ_API_KEY" };

	kh_metrics_reset();
	kh_metrics_count_request("allow", "allowed", swapped, 2, 1500, true);
	kh_metrics_count_request("allow", "allowed", swapped, 1, 2000000, true);
	kh_metrics_count_request("deny", "host_not_allowed", NULL, 0, 10, false);
	kh_metrics_count_request("error", "upstream_reset", NULL, 0, 10, true);
	kh_metrics_count_request("deny", "upstream_reset", NULL, 0, 10, true); /* same reason */
	kh_metrics_count_reload(true);
	CHECK(has("keyhole_requests_total{decision=\"allow\",reason=\"allowed\"} 2\n"));
	CHECK(has("keyhole_requests_total{decision=\"deny\",reason=\"host_not_allowed\"} 1\n"));
	CHECK(has("keyhole_credential_swaps_total{provider=\"OPENAI_API_KEY\"} 2\n"));
	CHECK(has("keyhole_credential_swaps_total{provider=\"GROQ_API_KEY\"} 1\n"));
	CHECK(has("keyhole_upstream_errors_total{reason=\"upstream_reset\"} 2\n"));
	CHECK(has("keyhole_active_connections 7\n"));
	CHECK(has("keyhole_reloads_total{result=\"ok\"} 1\n"));
	CHECK(!has("keyhole_cert_cache_hits_total"));
}

static void histogram_is_cumulative(void)
{
	kh_metrics_reset();
	kh_metrics_observe(KH_HIST_UPSTREAM_DIAL, 1000); /* on the bound: le="0.001" */
	kh_metrics_observe(KH_HIST_UPSTREAM_DIAL, 1001);
	kh_metrics_observe(KH_HIST_UPSTREAM_DIAL, 120000000); /* past the last bound */
	kh_metrics_since(KH_HIST_UPSTREAM_DIAL, 100, 90); /* clock never runs backwards */
	CHECK(has("keyhole_upstream_dial_seconds_bucket{le=\"0.001\"} 2\n"));
	CHECK(has("keyhole_upstream_dial_seconds_bucket{le=\"0.0025\"} 3\n"));
	CHECK(has("keyhole_upstream_dial_seconds_bucket{le=\"60\"} 3\n"));
	CHECK(has("keyhole_upstream_dial_seconds_bucket{le=\"+Inf\"} 4\n"));
	CHECK(has("keyhole_upstream_dial_seconds_count 4\n"));
	CHECK(has("keyhole_upstream_dial_seconds_sum 120.002001\n"));
	CHECK(has("keyhole_request_duration_seconds_count 0\n"));
}

static void labels_escaped_and_capped(void)
{
	const char *odd[] = { "A\"B\\C\nD" };
	char name[32];

	kh_metrics_reset();
	kh_metrics_count_request("allow", "allowed", odd, 1, 0, false);
	CHECK(has("{provider=\"A\\\"B\\\\C\\nD\"} 1\n"));
	for (int i = 0; i < KH_METRICS_REQ_LABELS + 10; i++) {
		snprintf(name, sizeof name, "r%d", i);
		kh_metrics_count_request("deny", name, NULL, 0, 0, false);
	}
	CHECK(has("reason=\"r0\"} 1\n"));
	CHECK(!has("reason=\"r200\""));
	/* allowed + r0..r125 fill the 127 own slots; the last collects r126..r137 */
	CHECK(has("keyhole_requests_total{decision=\"other\",reason=\"other\"} 12\n"));
	CHECK_INT(kh_metrics_render(text, 100, &(struct kh_metrics_gauges){ 0 }), -1);
}

int main(void)
{
	RUN(counts_by_label);
	RUN(histogram_is_cumulative);
	RUN(labels_escaped_and_capped);
	TAP_DONE();
}
