/* kh_err and kh_strerror: set, prefix (the new context kept when the
 * whole does not fit), clear, NULL allowed; kh_fmt never overflowing and
 * saying what it wrote; strerror texts in buffers of their own. */
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

static void set_prefix_clear(void)
{
	struct kh_err e = { "" };
	char big[2 * KH_ERR_MAX];

	kh_err_set(&e, "cannot open %s: %s", "ca.key", "denied");
	CHECK_STR(e.msg, "cannot open ca.key: denied");
	kh_err_prefix(&e, "loading %d", 2);
	CHECK_STR(e.msg, "loading 2: cannot open ca.key: denied");
	kh_err_clear(&e);
	CHECK_STR(e.msg, "");
	kh_err_set(NULL, "x");
	kh_err_prefix(NULL, "x");
	kh_err_clear(NULL);

	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	kh_err_set(&e, "%s", big);
	CHECK_INT(strlen(e.msg), KH_ERR_MAX - 1);
	/* the whole does not fit: the new context stays, the old tail goes */
	kh_err_set(&e, "%s", big);
	kh_err_prefix(&e, "context");
	CHECK(strncmp(e.msg, "context: aaa", 12) == 0);
	CHECK_INT(strlen(e.msg), KH_ERR_MAX - 1);
	big[KH_ERR_MAX + 10] = '\0';
	kh_err_set(&e, "old");
	kh_err_prefix(&e, "%s", big);
	CHECK_INT(strlen(e.msg), KH_ERR_MAX - 1);
	CHECK(strchr(e.msg, ':') == NULL);
}

static void fmt(void)
{
	char out[8];

	CHECK_INT(kh_fmt(out, sizeof out, "%s", "abc"), 3);
	CHECK_STR(out, "abc");
	CHECK_INT(kh_fmt(out, sizeof out, "%s", "abcdefghij"), 7);
	CHECK_STR(out, "abcdefg");
	CHECK_INT(kh_fmt(out, 1, "%s", "abc"), 0);
	CHECK_STR(out, "");
	out[0] = 'z';
	CHECK_INT(kh_fmt(out, 0, "%s", "abc"), 0);
	CHECK(out[0] == 'z'); /* nothing written */
	/* appending in a loop stays in bounds */
	size_t n = 0;

	for (int i = 0; i < 10; i++)
		n += kh_fmt(out + n, sizeof out - n, "%d,", i);
	CHECK_INT(n, 7);
	CHECK_STR(out, "0,1,2,3");
}

int main(void)
{
	RUN(strerror_texts);
	RUN(strerror_buffers_are_separate);
	RUN(err_prefix_and_clear);
	RUN(set_prefix_clear);
	RUN(fmt);
	TAP_DONE();
}
