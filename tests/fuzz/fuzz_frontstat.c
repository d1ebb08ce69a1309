/* Front reports (privsep/frontstat.c) as the key holder meets them: bytes
 * from a front that may be an attacker's. Invariants:
 * - a confinement report decodes or is refused with a message; a decoded
 *   one has a landlock ABI in 0..KH_FRONTSTAT_LANDLOCK and re-encodes to the
 *   same bytes;
 * - a metrics report decodes or is refused with a message; a decoded one has
 *   capped entry counts, labels of [a-z0-9_] within the cap, hist below the
 *   count given, counts 1..KH_FRONTSTAT_COUNT, and re-encodes to the same
 *   bytes. */
#include <string.h>

#include "fuzz_check.h"
#include "privsep/frontstat.h"

static void check_confine(const uint8_t *data, size_t size)
{
	struct kh_confine_report r;
	struct kh_err err = { { 0 } };
	uint8_t again[KH_FRONTSTAT_CONFINE_LEN];

	if (kh_frontstat_confine_decode(data, size, &r, &err) != 0) {
		CHECK(err.msg[0] != '\0');
		return;
	}
	CHECK(r.landlock_abi >= 0 && r.landlock_abi <= KH_FRONTSTAT_LANDLOCK);
	kh_frontstat_confine_encode(&r, again);
	CHECK(size == sizeof again && memcmp(again, data, size) == 0);
}

static void check_label(const char *s)
{
	size_t n = strlen(s);

	CHECK(n >= 1 && n <= KH_FRONTSTAT_LABEL && kh_frontstat_label_ok(s, n));
}

static void check_metrics(const uint8_t *data, size_t size)
{
	static struct kh_frontstat s;
	static uint8_t again[KH_FRONTSTAT_MAX];
	struct kh_err err = { { 0 } };
	ssize_t n;

	if (kh_frontstat_decode(data, size, 3, &s, &err) != 0) {
		CHECK(err.msg[0] != '\0');
		return;
	}
	CHECK(s.n_req <= KH_FRONTSTAT_REQS && s.n_obs <= KH_FRONTSTAT_OBS);
	CHECK(s.active <= KH_FRONTSTAT_COUNT);
	for (size_t i = 0; i < s.n_req; i++) {
		check_label(s.req[i].decision);
		check_label(s.req[i].reason);
		CHECK(s.req[i].n >= 1 && s.req[i].n <= KH_FRONTSTAT_COUNT);
	}
	for (size_t i = 0; i < s.n_obs; i++)
		CHECK(s.obs[i].hist < 3 && s.obs[i].n >= 1 && s.obs[i].n <= KH_FRONTSTAT_COUNT);
	n = kh_frontstat_encode(&s, again, sizeof again);
	CHECK(n >= 0 && (size_t)n == size && memcmp(again, data, size) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_confine(data, size);
	check_metrics(data, size);
	return 0;
}
