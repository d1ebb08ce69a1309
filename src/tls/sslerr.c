#include "tls/sslerr.h"

#include <stdarg.h>
#include <stdio.h>

#include <openssl/err.h>

void kh_sslerr_set(struct kh_err *err, const char *fmt, ...)
{
	char what[KH_ERR_MAX], detail[256];
	unsigned long code = ERR_peek_last_error();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (code == 0) {
		kh_err_set(err, "%s", what);
	} else {
		ERR_error_string_n(code, detail, sizeof detail);
		kh_err_set(err, "%s (%s)", what, detail);
	}
	ERR_clear_error();
}
