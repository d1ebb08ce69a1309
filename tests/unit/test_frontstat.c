/* Front reports (privsep/frontstat.h): what a front encodes the key holder
 * decodes to the same values, and what a hostile front could send instead
 * (wrong length or version, unknown flags, a landlock ABI out of range,
 * label bytes outside [a-z0-9_], too many entries, zero or huge counts,
 * trailing bytes) is refused with a message. */
#include <string.h>

#include "privsep/frontstat.h"
#include "tap.h"

static void confine_round_trip(void)
{
	struct kh_confine_report r = { .rlimits = true,
				       .no_new_privs = true,
				       .seccomp = true,
				       .landlock_abi = 3,
				       .uid = 65534,
				       .gid = 65534,
				       .nofile = 2112,
				       .pid = 4242 },
				 back;
	uint8_t b[KH_FRONTSTAT_CONFINE_LEN];
	struct kh_err err = { "" };

	kh_frontstat_confine_encode(&r, b);
	CHECK(kh_frontstat_confine_decode(b, sizeof b, &back, &err) == 0);
	CHECK(back.rlimits && !back.uid_dropped && back.no_new_privs && back.seccomp);
	CHECK_INT(back.landlock_abi, 3);
	CHECK(back.uid == 65534 && back.gid == 65534 && back.nofile == 2112);
	CHECK_INT(back.pid, 4242);
}

static void confine_refusals(void)
{
	struct kh_confine_report r = { .seccomp = true, .landlock_abi = 1 }, back;
	uint8_t b[KH_FRONTSTAT_CONFINE_LEN + 1] = { 0 };
	struct kh_err err = { "" };

	kh_frontstat_confine_encode(&r, b);
	CHECK(kh_frontstat_confine_decode(b, KH_FRONTSTAT_CONFINE_LEN - 1, &back, &err) == -1);
	CHECK(err.msg[0] != '\0');
	CHECK(kh_frontstat_confine_decode(b, KH_FRONTSTAT_CONFINE_LEN + 1, &back, &err) == -1);
	CHECK(kh_frontstat_confine_decode(b, 0, &back, &err) == -1);
	b[0] = KH_FRONTSTAT_VERSION + 1;
	CHECK(kh_frontstat_confine_decode(b, KH_FRONTSTAT_CONFINE_LEN, &back, &err) == -1);
	b[0] = KH_FRONTSTAT_VERSION;
	b[1] = 0x10;
	CHECK(kh_frontstat_confine_decode(b, KH_FRONTSTAT_CONFINE_LEN, &back, &err) == -1);
	b[1] = 0x0f;
	b[2] = KH_FRONTSTAT_LANDLOCK + 1;
	CHECK(kh_frontstat_confine_decode(b, KH_FRONTSTAT_CONFINE_LEN, &back, &err) == -1);
	b[2] = KH_FRONTSTAT_LANDLOCK;
	CHECK(kh_frontstat_confine_decode(b, KH_FRONTSTAT_CONFINE_LEN, &back, &err) == 0);
}

static void sample(struct kh_frontstat *s)
{
	memset(s, 0, sizeof *s);
	s->active = 7;
	s->n_req = 2;
	kh_fmt(s->req[0].decision, sizeof s->req[0].decision, "deny");
	kh_fmt(s->req[0].reason, sizeof s->req[0].reason, "host_not_allowed");
	s->req[0].n = 3;
	kh_fmt(s->req[1].decision, sizeof s->req[1].decision, "error");
	kh_fmt(s->req[1].reason, sizeof s->req[1].reason, "bad_request_400");
	s->req[1].n = KH_FRONTSTAT_COUNT;
	s->n_obs = 1;
	s->obs[0] = (struct kh_frontstat_obs){ .hist = 1, .us = 5000000001ull, .n = 2 };
}

static void metrics_round_trip(void)
{
	static struct kh_frontstat s, back;
	uint8_t b[KH_FRONTSTAT_MAX];
	struct kh_err err = { "" };
	ssize_t n;

	sample(&s);
	n = kh_frontstat_encode(&s, b, sizeof b);
	CHECK(n > KH_FRONTSTAT_HDR);
	CHECK(kh_frontstat_decode(b, (size_t)n, 3, &back, &err) == 0);
	CHECK(back.active == 7 && back.n_req == 2 && back.n_obs == 1);
	CHECK_STR(back.req[0].decision, "deny");
	CHECK_STR(back.req[0].reason, "host_not_allowed");
	CHECK(back.req[0].n == 3 && back.req[1].n == KH_FRONTSTAT_COUNT);
	CHECK_STR(back.req[1].reason, "bad_request_400");
	CHECK(back.obs[0].hist == 1 && back.obs[0].us == 5000000001ull && back.obs[0].n == 2);
	/* a full message fits its bound */
	memset(&s, 0, sizeof s);
	s.n_req = KH_FRONTSTAT_REQS;
	s.n_obs = KH_FRONTSTAT_OBS;
	for (size_t i = 0; i < KH_FRONTSTAT_REQS; i++) {
		memset(s.req[i].decision, 'a', KH_FRONTSTAT_LABEL);
		memset(s.req[i].reason, 'z', KH_FRONTSTAT_LABEL);
		s.req[i].n = 1;
	}
	for (size_t i = 0; i < KH_FRONTSTAT_OBS; i++)
		s.obs[i].n = 1;
	n = kh_frontstat_encode(&s, b, sizeof b);
	CHECK_INT(n, KH_FRONTSTAT_MAX);
	CHECK(kh_frontstat_decode(b, (size_t)n, 3, &back, &err) == 0);
	CHECK(KH_FRONTSTAT_MAX <= KH_CTLMSG_MAX);
}

static void metrics_refusals(void)
{
	static struct kh_frontstat s, back;
	uint8_t b[KH_FRONTSTAT_MAX + 1];
	struct kh_err err = { "" };
	ssize_t n;

	sample(&s);
	n = kh_frontstat_encode(&s, b, sizeof b);
	CHECK(n > 0);
	CHECK(kh_frontstat_decode(b, (size_t)n - 1, 3, &back, &err) == -1); /* cut */
	CHECK(err.msg[0] != '\0');
	b[n] = 0;
	CHECK(kh_frontstat_decode(b, (size_t)n + 1, 3, &back, &err) == -1); /* trailing */
	CHECK(kh_frontstat_decode(b, (size_t)n, 1, &back, &err) == -1); /* hist 1 unknown */
	b[9] = 'D'; /* "deny" -> "Deny": not a label */
	CHECK(kh_frontstat_decode(b, (size_t)n, 3, &back, &err) == -1);
	b[9] = '\n';
	CHECK(kh_frontstat_decode(b, (size_t)n, 3, &back, &err) == -1);
	b[9] = 'd';
	CHECK(kh_frontstat_decode(b, (size_t)n, 3, &back, &err) == 0);
	b[1] = KH_FRONTSTAT_REQS + 1; /* more entries than allowed */
	CHECK(kh_frontstat_decode(b, (size_t)n, 3, &back, &err) == -1);
	/* the encoder refuses what the decoder would */
	s.req[0].n = 0;
	CHECK(kh_frontstat_encode(&s, b, sizeof b) == -1);
	sample(&s);
	s.req[0].n = KH_FRONTSTAT_COUNT + 1;
	CHECK(kh_frontstat_encode(&s, b, sizeof b) == -1);
	sample(&s);
	kh_fmt(s.req[0].reason, sizeof s.req[0].reason, "x} 1\nfake 2");
	CHECK(kh_frontstat_encode(&s, b, sizeof b) == -1);
	sample(&s);
	s.active = KH_FRONTSTAT_COUNT + 1;
	CHECK(kh_frontstat_encode(&s, b, sizeof b) == -1);
	CHECK(kh_frontstat_decode(b, 3, 3, &back, &err) == -1);
}

static void labels(void)
{
	char big[KH_FRONTSTAT_LABEL + 1];

	memset(big, 'a', sizeof big);
	CHECK(kh_frontstat_label_ok("host_not_allowed", 16));
	CHECK(!kh_frontstat_label_ok("", 0));
	CHECK(!kh_frontstat_label_ok("a\"b", 3));
	CHECK(!kh_frontstat_label_ok("a-b", 3));
	CHECK(kh_frontstat_label_ok(big, KH_FRONTSTAT_LABEL));
	CHECK(!kh_frontstat_label_ok(big, KH_FRONTSTAT_LABEL + 1));
}

int main(void)
{
	RUN(confine_round_trip);
	RUN(confine_refusals);
	RUN(metrics_round_trip);
	RUN(metrics_refusals);
	RUN(labels);
	TAP_DONE();
}
