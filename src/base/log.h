/* Diagnostics for operators: one line per event on stderr (which `keyhole
 * start` points at keyhole.log). Each line is emitted with a single write(2)
 * so lines from worker threads never interleave. Never pass a secret or a
 * whole proxy token here; see kh_token_redact(). Audit records are separate
 * (audit.h). */
#ifndef KH_LOG_H
#define KH_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum kh_log_level { KH_LOG_DEBUG, KH_LOG_INFO, KH_LOG_WARN, KH_LOG_ERROR };

void kh_log_set_level(enum kh_log_level level);

/* Parses "debug", "info", "warn", "error". 0 / -1. */
int kh_log_parse_level(const char *s, enum kh_log_level *out);

/* Where lines go (default 2, stderr). */
void kh_log_set_fd(int fd);

/* Replaces bytes that could forge a second line or drive a terminal (below
 * 0x20, and DEL) with '?'. */
void kh_log_sanitize(char *s, size_t n);

/* Where lines go (2 unless kh_log_set_fd said otherwise). */
int kh_log_fd(void);

void kh_log(enum kh_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define kh_debug(...) kh_log(KH_LOG_DEBUG, __VA_ARGS__)
#define kh_info(...)  kh_log(KH_LOG_INFO, __VA_ARGS__)
#define kh_warn(...)  kh_log(KH_LOG_WARN, __VA_ARGS__)
#define kh_error(...) kh_log(KH_LOG_ERROR, __VA_ARGS__)

#endif
