/* A caller-owned error message buffer. Functions that can fail return 0 / -1
 * and, on failure, describe what went wrong and what to do in a kh_err the
 * caller passed in, so the message reaches the operator whole. */
#ifndef KH_ERR_H
#define KH_ERR_H

#include <stddef.h>

#include "base/kh_limits.h"

struct kh_err {
	char msg[KH_ERR_MAX];
};

/* Formats into e (NULL allowed: then it does nothing). Truncates, never overflows. */
void kh_err_set(struct kh_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the existing message with more context: "ctx: old message". */
void kh_err_prefix(struct kh_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void kh_err_clear(struct kh_err *e);

/* snprintf for human-readable messages, where cutting a long host name short
 * is acceptable: always NUL-terminated, never overflows, returns what it wrote. */
size_t kh_fmt(char *dst, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* strerror for code that may run while other threads do (strerror may hand
 * every caller one static buffer): the text of errnum, in buf or in a
 * string the C library keeps. Never NULL. */
const char *kh_strerror_r(int errnum, char *buf, size_t len);

/* kh_strerror_r with a buffer that lives until the end of the caller's
 * enclosing block, so it fits where strerror(errno) did. */
#define kh_strerror(errnum) kh_strerror_r((errnum), (char[KH_STRERROR_BUF]){ 0 }, KH_STRERROR_BUF)

#endif
