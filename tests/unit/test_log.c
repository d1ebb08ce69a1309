#include <stdlib.h>
#include <unistd.h>

#include "base/log.h"
#include "tap.h"

static char out[4096];

/* Runs fn with the log pointed at a pipe and returns what it wrote. */
static const char *capture(void (*fn)(void))
{
	int p[2];
	ssize_t n;

	if (pipe(p) != 0)
		return "";
	kh_log_set_fd(p[1]);
	fn();
	close(p[1]);
	n = read(p[0], out, sizeof out - 1);
	close(p[0]);
	out[n > 0 ? n : 0] = '\0';
	kh_log_set_fd(2);
	return out;
}

static void levels_body(void)
{
	kh_log_set_level(KH_LOG_WARN);
	kh_info("hidden");
	kh_warn("shown %d", 1);
	kh_error("also shown");
	kh_log_set_level(KH_LOG_INFO);
}

static void filters_by_level(void)
{
	const char *s = capture(levels_body);

	CHECK(strstr(s, "hidden") == NULL);
	CHECK(strstr(s, "warn: shown 1\n") != NULL);
	CHECK(strstr(s, "error: also shown\n") != NULL);
}

static void hostile_body(void)
{
	kh_info("host %s", "evil\n2026-01-01 keyhole info: forged\x1b[31m");
}

static void one_line_per_call(void)
{
	const char *s = capture(hostile_body);
	size_t lines = 0;

	for (const char *p = s; *p; p++)
		lines += *p == '\n';
	CHECK_INT(lines, 1); /* an embedded newline cannot forge a second line */
	CHECK(strchr(s, 0x1b) == NULL); /* nor can terminal escapes pass */
}

static void parse_levels(void)
{
	enum kh_log_level l;

	CHECK_INT(kh_log_parse_level("debug", &l), 0);
	CHECK_INT(l, KH_LOG_DEBUG);
	CHECK_INT(kh_log_parse_level("error", &l), 0);
	CHECK_INT(l, KH_LOG_ERROR);
	CHECK_INT(kh_log_parse_level("loud", &l), -1);
}

int main(void)
{
	RUN(filters_by_level);
	RUN(one_line_per_call);
	RUN(parse_levels);
	TAP_DONE();
}
