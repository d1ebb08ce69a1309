#include "base/rate.h"

#define MILLI 1000u

bool kh_rate_take(struct kh_rate *b, uint64_t cost, uint64_t rate, uint64_t burst, uint64_t now_ms)
{
	const uint64_t full = burst * MILLI;

	if (!b->started) {
		b->started = true;
		b->milli = full;
		b->last_ms = now_ms;
	} else if (now_ms > b->last_ms) {
		uint64_t dt = now_ms - b->last_ms;

		/* dt * rate counts thousandths: rate units per 1000 ms (and no
		 * overflow for a long gap: a full bucket is all it can be) */
		b->milli = dt >= full / rate ? full : b->milli + dt * rate;
		if (b->milli > full)
			b->milli = full;
		b->last_ms = now_ms;
	}
	if (b->milli < cost * MILLI)
		return false;
	b->milli -= cost * MILLI;
	return true;
}
