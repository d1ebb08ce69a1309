#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/check.h"
#include "base/clock.h"
#include "base/kh_limits.h"

static enum kh_log_level g_level = KH_LOG_INFO;
static int g_fd = 2;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void kh_log_set_level(enum kh_log_level level)
{
	g_level = level;
}

int kh_log_parse_level(const char *s, enum kh_log_level *out)
{
	for (int i = KH_LOG_DEBUG; i <= KH_LOG_ERROR; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum kh_log_level)i;
			return 0;
		}
	}
	return -1;
}

void kh_log_set_fd(int fd)
{
	g_fd = fd;
}

int kh_log_fd(void)
{
	return g_fd;
}

void kh_log_sanitize(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			s[i] = '?';
	}
}

void kh_log(enum kh_log_level level, const char *fmt, ...)
{
	char line[KH_LOG_LINE_MAX];
	char ts[KH_ISO_TIME_LEN];
	va_list ap;
	int n, m;

	if (level < g_level)
		return;
	kh_iso_time(ts, sizeof ts);
	n = snprintf(line, sizeof line, "%s keyhole[%d] %s: ", ts, (int)getpid(),
		     level_names[level]);
	if (n < 0 || (size_t)n >= sizeof line)
		return;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	if ((size_t)m >= sizeof line - (size_t)n - 1)
		m = (int)(sizeof line - (size_t)n - 2);
	kh_log_sanitize(line + n, (size_t)m);
	line[n + m] = '\n';
	/* One write per line: atomic enough for O_APPEND files and pipes. */
	if (write(g_fd, line, (size_t)(n + m + 1)) < 0)
		return;
}

_Noreturn void kh_check_failed(const char *expr, const char *file, int line)
{
	kh_error("internal check failed: %s (%s:%d)", expr, file, line);
	abort();
}
