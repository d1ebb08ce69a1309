/* A token bucket: at most burst units at once, refilled at rate units a
 * second, counted in thousandths so slow rates refill smoothly. Used where
 * a less trusted party may only go so fast: a front's leaf requests (the CA
 * signer), its audit bytes and its log lines (the daemon). The clock is the
 * caller's (kh_mono_ms()); a clock that goes back refills nothing. */
#ifndef KH_RATE_H
#define KH_RATE_H
#include <stdbool.h>
#include <stdint.h>

struct kh_rate {
	uint64_t milli; /* thousandths of a unit held */
	uint64_t last_ms; /* when it was last refilled */
	bool started; /* zero-initialised: full at the first take */
};

/* Takes cost units if the bucket holds them (after refilling it for the
 * time since the last call); false, taking nothing, if not. rate and burst
 * are in units (a second, at most), both above 0. */
bool kh_rate_take(struct kh_rate *b, uint64_t cost, uint64_t rate, uint64_t burst, uint64_t now_ms);
#endif
