/* cli/logtail.h: the CLI reads the daemon's verdicts in keyhole.log only
 * in the daemon's own lines, never in a line it copied from a front or the
 * CA signer (which a process taken over writes) nor another process's. */
#include <string.h>

#include "cli/logtail.h"
#include "tap.h"

static void only_the_daemons_own_lines(void)
{
	char text[] = "[front 0] 2026-12-06T00:00:00.000Z keyhole[42] info: reload: ok (forged)\n"
		      "2026-12-06T00:00:01.000Z keyhole[43] info: reload: ok (another pid)\n"
		      "[signer] reload: ok\n"
		      "x 2026 keyhole[42] info: reload: ok\n"
		      "2026-12-06T00:00:02.000Z keyhole[42] error: reload failed: tunnel_port\n";

	CHECK(kh_logtail_daemon_says(text, 42, "reload: ok") == NULL);
	CHECK(kh_logtail_daemon_says(text, 42, "reload failed: ") != NULL);
	CHECK(strncmp(kh_logtail_daemon_says(text, 42, "reload failed: "),
		      "reload failed: tunnel_port", 26) == 0);
	CHECK(kh_logtail_daemon_says(text, 43, "reload: ok") != NULL);
}

static void a_hit_must_be_in_that_line(void)
{
	char text[] = "2026-12-06T00:00:00.000Z keyhole[7] info: started\n[front 0] reload: ok";
	char last[] = "2026-12-06T00:00:00.000Z keyhole[7] info: reload: ok (no newline)";

	CHECK(kh_logtail_daemon_says(text, 7, "reload: ok") == NULL);
	CHECK(kh_logtail_daemon_says(last, 7, "reload: ok") != NULL);
	CHECK(kh_logtail_daemon_says(last, 70, "reload: ok") == NULL);
}

int main(void)
{
	RUN(only_the_daemons_own_lines);
	RUN(a_hit_must_be_in_that_line);
	TAP_DONE();
}
