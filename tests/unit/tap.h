/* A tiny TAP producer for unit tests. Each TEST is one "ok"/"not ok" line;
 * CHECK failures inside it print the file, line and expression as a TAP
 * diagnostic. scripts/run-tests.sh counts the lines. */
#ifndef KH_TAP_H
#define KH_TAP_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int tap_count, tap_failed, tap_cur_failed;

#define CHECK(cond)                                                                \
	do {                                                                       \
		if (!(cond)) {                                                     \
			printf("#   FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			tap_cur_failed = 1;                                        \
		}                                                                  \
	} while (0)

#define CHECK_INT(a, b)                                                                         \
	do {                                                                                    \
		long long tap_a_ = (long long)(a), tap_b_ = (long long)(b);                     \
		if (tap_a_ != tap_b_) {                                                         \
			printf("#   FAIL %s:%d: %s == %s (%lld != %lld)\n", __FILE__, __LINE__, \
			       #a, #b, tap_a_, tap_b_);                                         \
			tap_cur_failed = 1;                                                     \
		}                                                                               \
	} while (0)

#define CHECK_STR(a, b)                                                                   \
	do {                                                                              \
		const char *tap_a_ = (a), *tap_b_ = (b);                                  \
		if (tap_a_ == NULL || tap_b_ == NULL || strcmp(tap_a_, tap_b_) != 0) {    \
			printf("#   FAIL %s:%d: %s == %s (\"%s\" != \"%s\")\n", __FILE__, \
			       __LINE__, #a, #b, tap_a_ ? tap_a_ : "(null)",              \
			       tap_b_ ? tap_b_ : "(null)");                               \
			tap_cur_failed = 1;                                               \
		}                                                                         \
	} while (0)

#define RUN(fn)                                                                           \
	do {                                                                              \
		tap_cur_failed = 0;                                                       \
		fn();                                                                     \
		tap_count++;                                                              \
		if (tap_cur_failed)                                                       \
			tap_failed++;                                                     \
		printf("%s %d - %s\n", tap_cur_failed ? "not ok" : "ok", tap_count, #fn); \
		fflush(stdout);                                                           \
	} while (0)

#define TAP_DONE()                            \
	do {                                  \
		printf("1..%d\n", tap_count); \
		return tap_failed ? 1 : 0;    \
	} while (0)

#endif
