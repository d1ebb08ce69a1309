/* OpenSSL's errors into a kh_err, for the tls/ modules that call OpenSSL. */
#ifndef KH_SSLERR_H
#define KH_SSLERR_H

#include "base/err.h"

/* Sets err to the formatted message followed by OpenSSL's most recent
 * error, then clears OpenSSL's (thread-local) queue so it cannot leak into
 * a later, unrelated failure. */
void kh_sslerr_set(struct kh_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
