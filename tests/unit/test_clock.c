/* Time sources: ISO and file-stamp formats have their exact shape (UTC,
 * milliseconds, zero-padded) and agree with time(); a short buffer is cut,
 * never overrun; the monotonic clock never runs backwards and its ms and us
 * readings agree. */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "base/clock.h"
#include "tap.h"

/* Does s have shape (D = digit, other characters literal)? */
static bool shaped(const char *s, const char *shape)
{
	for (; *shape != '\0'; s++, shape++)
		if (*shape == 'D' ? !isdigit((unsigned char)*s) : *s != *shape)
			return false;
	return *s == '\0';
}

static void formats(void)
{
	char iso[KH_ISO_TIME_LEN], stamp[32], small[8], year[16];
	struct tm tm;
	time_t now = time(NULL);

	kh_iso_time(iso, sizeof iso);
	CHECK(shaped(iso, "DDDD-DD-DDTDD:DD:DD.DDDZ"));
	kh_stamp_time(stamp, sizeof stamp);
	CHECK(shaped(stamp, "DDDDDDDDTDDDDDDZ"));
	gmtime_r(&now, &tm);
	snprintf(year, sizeof year, "%04d", tm.tm_year + 1900);
	CHECK(strncmp(iso, year, 4) == 0 && strncmp(stamp, year, 4) == 0);
	memset(small, 'x', sizeof small);
	kh_iso_time(small, 5);
	CHECK_STR(small, year);
	CHECK(small[5] == 'x');
}

static void monotonic(void)
{
	uint64_t ms = kh_mono_ms(), us = kh_mono_us(), ms2;

	for (int i = 0; i < 1000; i++) {
		uint64_t m = kh_mono_ms(), u = kh_mono_us();

		CHECK(m >= ms && u >= us);
		ms = m;
		us = u;
	}
	ms2 = kh_mono_ms();
	CHECK(us / 1000 <= ms2); /* the same clock: read earlier, never later */
}

int main(void)
{
	RUN(formats);
	RUN(monotonic);
	TAP_DONE();
}
