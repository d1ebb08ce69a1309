/* Invariant checks that stay on in release builds. They guard against our own
 * bugs, never against input: hostile bytes must get an error path, not an
 * abort. A failed check names the file and line and aborts. */
#ifndef KH_CHECK_H
#define KH_CHECK_H

#include <stddef.h>

/* The struct that holds member *p (callbacks get a pointer to an embedded
 * kh_io or kh_timer). */
#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

_Noreturn void kh_check_failed(const char *expr, const char *file, int line);

#define KH_CHECK(expr)                                              \
	do {                                                        \
		if (!(expr))                                        \
			kh_check_failed(#expr, __FILE__, __LINE__); \
	} while (0)

#endif
