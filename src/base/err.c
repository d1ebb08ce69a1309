#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void kh_err_set(struct kh_err *e, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
}

void kh_err_prefix(struct kh_err *e, const char *fmt, ...)
{
	char joined[2 * KH_ERR_MAX + 2];
	va_list ap;
	int n;

	if (e == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(joined, KH_ERR_MAX, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n >= KH_ERR_MAX)
		n = KH_ERR_MAX - 1;
	snprintf(joined + n, sizeof joined - (size_t)n, ": %s", e->msg);
	/* Keep the front (the new context) when the whole does not fit. */
	memcpy(e->msg, joined, KH_ERR_MAX - 1);
	e->msg[KH_ERR_MAX - 1] = '\0';
}

void kh_err_clear(struct kh_err *e)
{
	if (e != NULL)
		e->msg[0] = '\0';
}

size_t kh_fmt(char *dst, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (len == 0)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(dst, len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		dst[0] = '\0';
		return 0;
	}
	return (size_t)n < len ? (size_t)n : len - 1;
}

const char *kh_strerror_r(int errnum, char *buf, size_t len)
{
	/* The GNU strerror_r (_GNU_SOURCE): returns its text, which may be a
	 * constant string rather than buf. */
	const char *s = strerror_r(errnum, buf, len);

	return s != NULL ? s : "unknown error";
}
