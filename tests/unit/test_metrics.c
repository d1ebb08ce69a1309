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

/* A front's deltas (kh_metrics_record_deltas, kh_metrics_take_deltas) go
 * through the wire format and into the key holder's counters
 * (kh_metrics_add_front): same counts, same buckets, same sum; labels the
 * key holder would refuse and pairs beyond the table become "other". */
static void front_deltas_reach_the_key_holder(void)
{
	static struct kh_frontstat s, back;
	uint8_t wire[KH_FRONTSTAT_MAX];
	struct kh_err err = { "" };
	char reason[16];
	ssize_t n;

	kh_metrics_reset();
	kh_metrics_record_deltas();
	kh_metrics_count_request("deny", "host_not_allowed", NULL, 0, 10, false);
	kh_metrics_count_request("deny", "host_not_allowed", NULL, 0, 10, false);
	kh_metrics_count_request("deny", "Bad \"label\"", NULL, 0, 10, false);
	kh_metrics_observe(KH_HIST_CLIENT_HANDSHAKE, 1500);
	kh_metrics_observe(KH_HIST_CLIENT_HANDSHAKE, 1700);
	CHECK(kh_metrics_take_deltas(&s));
	CHECK(s.n_req == 2 && s.n_obs == 1);
	CHECK(!kh_metrics_take_deltas(&s)); /* taken: nothing new */
	kh_metrics_count_request("deny", "host_not_allowed", NULL, 0, 10, false);
	kh_metrics_count_request("deny", "Bad \"label\"", NULL, 0, 10, false);
	kh_metrics_observe(KH_HIST_CLIENT_HANDSHAKE, 1500);
	kh_metrics_observe(KH_HIST_CLIENT_HANDSHAKE, 1700);
	CHECK(kh_metrics_take_deltas(&s));
	n = kh_frontstat_encode(&s, wire, sizeof wire);
	CHECK(n > 0 && kh_frontstat_decode(wire, (size_t)n, KH_HIST_COUNT, &back, &err) == 0);
	kh_metrics_reset(); /* the key holder's view from here */
	kh_metrics_add_front(&back);
	CHECK(has("keyhole_requests_total{decision=\"deny\",reason=\"host_not_allowed\"} 1\n"));
	CHECK(has("keyhole_requests_total{decision=\"deny\",reason=\"other\"} 1\n"));
	CHECK(has("keyhole_client_handshake_seconds_bucket{le=\"0.0025\"} 2\n"));
	CHECK(has("keyhole_client_handshake_seconds_bucket{le=\"0.001\"} 0\n"));
	CHECK(has("keyhole_client_handshake_seconds_sum 0.0032\n"));
	for (int i = 0; i < KH_FRONTSTAT_REQS + 8; i++) {
		kh_fmt(reason, sizeof reason, "r%d", i);
		kh_metrics_count_request("deny", reason, NULL, 0, 10, false);
	}
	CHECK(kh_metrics_take_deltas(&s));
	/* two slots hold the pairs above (nothing new in them), 29 take r0..r28,
	 * the last one ("other", "other") the 11 after */
	CHECK_INT((long)s.n_req, KH_FRONTSTAT_REQS - 2);
	CHECK_STR(s.req[s.n_req - 1].decision, "other");
	CHECK_STR(s.req[s.n_req - 1].reason, "other");
	CHECK_INT((long)s.req[s.n_req - 1].n, 11);
	CHECK(kh_frontstat_encode(&s, wire, sizeof wire) > 0);
}

/* Sums a front feeds stop at the top: it cannot make them go backwards. */
static double handshake_sum(void)
{
	const char *k = "keyhole_client_handshake_seconds_sum ";
	const char *at = strstr(render(), k);

	return at != NULL ? strtod(at + strlen(k), NULL) : -1;
}

/* A front taken over sends what it likes within the format: new label
 * pairs beyond a small shared budget become "other" (the daemon's own keep
 * their rows), and huge observations saturate instead of wrapping. */
static void hostile_front_is_bounded(void)
{
	static struct kh_frontstat s;
	double before;

	kh_metrics_reset();
	kh_metrics_count_request("allow", "allowed", NULL, 0, 0, false);
	for (int m = 0; m < 2; m++) {
		memset(&s, 0, sizeof s);
		for (int i = 0; i < KH_FRONTSTAT_REQS; i++) {
			snprintf(s.req[i].decision, sizeof s.req[i].decision, "%s",
				 i == 0 ? "allow" : "deny");
			snprintf(s.req[i].reason, sizeof s.req[i].reason,
				 i == 0 ? "allowed" : "made_up_%d_%d", m, i);
			s.req[i].n = 1;
		}
		s.n_req = KH_FRONTSTAT_REQS;
		kh_metrics_add_front(&s);
	}
	CHECK(has("keyhole_requests_total{decision=\"allow\",reason=\"allowed\"} 3\n"));
	CHECK(has("reason=\"made_up_0_1\"} 1\n"));
	CHECK(has("reason=\"made_up_1_1\"} 1\n")); /* the budget's last */
	CHECK(!has("reason=\"made_up_1_2\"")); /* past the fronts' budget */
	/* 62 made-up pairs, KH_FRONTSTAT_NEW_PAIRS of them kept */
	CHECK(has("keyhole_requests_total{decision=\"other\",reason=\"other\"} 30\n"));

	memset(&s, 0, sizeof s);
	for (int i = 0; i < KH_FRONTSTAT_OBS; i++)
		s.obs[i] = (struct kh_frontstat_obs){ .hist = KH_HIST_CLIENT_HANDSHAKE,
						      .us = UINT64_MAX,
						      .n = KH_FRONTSTAT_COUNT };
	s.n_obs = KH_FRONTSTAT_OBS;
	for (int m = 0; m < 100; m++)
		kh_metrics_add_front(&s);
	before = handshake_sum();
	for (int m = 0; m < 100; m++)
		kh_metrics_add_front(&s);
	CHECK(before > 0);
	CHECK(handshake_sum() >= before);
}

int main(void)
{
	RUN(counts_by_label);
	RUN(histogram_is_cumulative);
	RUN(labels_escaped_and_capped);
	RUN(hostile_front_is_bounded);
	RUN(front_deltas_reach_the_key_holder); /* last: deltas stay recorded */
	TAP_DONE();
}
