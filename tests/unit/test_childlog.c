/* proxy/childlog.h: a child's log lines as the daemon copies them: whole
 * lines, prefixed with the child's name, control bytes replaced, long lines
 * cut, at most the rate (with a burst), the dropped ones counted and said. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "proxy/childlog.h"
#include "tap.h"

static char out[1 << 20];

/* What kh_childlog_feed wrote for text, fed in pieces of step bytes. */
static size_t run(struct kh_childlog *cl, const char *text, size_t step, uint64_t now)
{
	int p[2];
	size_t n = strlen(text);
	ssize_t got;

	CHECK(pipe2(p, O_NONBLOCK) == 0);
	fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
	for (size_t at = 0; at < n; at += step)
		kh_childlog_feed(cl, text + at, n - at < step ? n - at : step, p[1], now);
	got = read(p[0], out, sizeof out - 1);
	out[got > 0 ? got : 0] = '\0';
	close(p[0]);
	close(p[1]);
	return got > 0 ? (size_t)got : 0;
}

static void lines_are_prefixed_and_cleaned(void)
{
	struct kh_err err = { "" };
	struct kh_childlog cl;

	CHECK(kh_childlog_init(&cl, "front 1", &err) == 0);
	run(&cl, "hello\nwor", 3, 1000);
	CHECK_STR(out, "[front 1] hello\n"); /* the half line waits */
	run(&cl, "ld \x1b[2Jx\r\n2026 keyhole[1] info: forged\n", 1, 1000);
	CHECK_STR(out, "[front 1] world ?[2Jx?\n[front 1] 2026 keyhole[1] info: forged\n");
	kh_childlog_free(&cl);
}

static void long_lines_are_cut(void)
{
	static char text[KH_CHILDLOG_LINE * 3 + 16];
	struct kh_err err = { "" };
	struct kh_childlog cl;

	CHECK(kh_childlog_init(&cl, "signer", &err) == 0);
	memset(text, 'a', KH_CHILDLOG_LINE * 3);
	memcpy(text + KH_CHILDLOG_LINE * 3, "\nnext\n", 7);
	CHECK(run(&cl, text, 1000, 1000) ==
	      strlen("[signer] ") + KH_CHILDLOG_LINE + 1 + strlen("[signer] next\n"));
	CHECK(strstr(out, "\n[signer] next\n") != NULL);
	kh_childlog_free(&cl);
}

static void the_rate_holds(void)
{
	static char text[(KH_CHILDLOG_BURST + 50) * 4 + 1];
	struct kh_err err = { "" };
	struct kh_childlog cl;

	for (size_t i = 0; i < KH_CHILDLOG_BURST + 50; i++)
		memcpy(text + i * 4, "abc\n", 4);
	CHECK(kh_childlog_init(&cl, "f", &err) == 0);
	CHECK(run(&cl, text, sizeof text, 1000) == (size_t)KH_CHILDLOG_BURST * strlen("[f] abc\n"));
	/* a second later: the rate's worth again, after saying how many went */
	run(&cl, "x\n", 2, 2000);
	CHECK_STR(out, "[f] (50 line(s) dropped: over the log rate)\n[f] x\n");
	kh_childlog_free(&cl);
}

int main(void)
{
	RUN(lines_are_prefixed_and_cleaned);
	RUN(long_lines_are_cut);
	RUN(the_rate_holds);
	TAP_DONE();
}
