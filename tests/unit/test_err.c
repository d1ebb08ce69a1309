/* kh_err and kh_strerror. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "tap.h"

static void strerror_texts(void)
{
	char buf[8];

	CHECK_STR(kh_strerror(ENOENT), "No such file or directory");
	CHECK_STR(kh_strerror(0), "Success");
	CHECK(strstr(kh_strerror(99999), "99999") != NULL); /* unknown: says which */
	CHECK(kh_strerror_r(99999, buf, sizeof buf) != NULL); /* cut short, never NULL */
}

/* Each use has its own buffer: two unknown errnos in one call (where a
 * shared static buffer would show the same text twice). */
static void strerror_buffers_are_separate(void)
{
	char line[256];

	snprintf(line, sizeof line, "%s|%s", kh_strerror(99998), kh_strerror(99999));
	CHECK(strstr(line, "99998|") != NULL);
	CHECK(strstr(line, "|Unknown error 99999") != NULL);
}

static void err_prefix_and_clear(void)
{
	struct kh_err e = { "" };

	kh_err_set(&e, "open %s: %s", "x", kh_strerror(EACCES));
	kh_err_prefix(&e, "config");
	CHECK_STR(e.msg, "config: open x: Permission denied");
	kh_err_clear(&e);
	CHECK_STR(e.msg, "");
}

int main(void)
{
	RUN(strerror_texts);
	RUN(strerror_buffers_are_separate);
	RUN(err_prefix_and_clear);
	TAP_DONE();
}
