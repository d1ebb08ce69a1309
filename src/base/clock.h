/* Time sources. Timeouts use the monotonic clock so wall-clock jumps never
 * fire or stall them; records shown to people use UTC wall time. */
#ifndef KH_CLOCK_H
#define KH_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t kh_mono_ms(void);

/* Microseconds on CLOCK_MONOTONIC. */
uint64_t kh_mono_us(void);

/* A timeout setting in seconds as milliseconds, the loop clock's unit. */
static inline uint64_t kh_secs_ms(unsigned s)
{
	return (uint64_t)s * 1000u;
}

/* "2026-11-28T11:31:55.123Z" into buf (at least KH_ISO_TIME_LEN bytes). */
#define KH_ISO_TIME_LEN 32
void kh_iso_time(char *buf, size_t len);

/* "20261128T113155Z" (for file-name stamps) into buf. */
void kh_stamp_time(char *buf, size_t len);

#endif
