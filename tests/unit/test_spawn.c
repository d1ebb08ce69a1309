/* Running helper programs: stdout captured whole (NUL bytes too), exit
 * codes, stderr kept short and without control characters, exactly the
 * environment given, stdin at EOF, a run killed at its deadline or when it
 * prints too much, death by a signal, and a program that cannot be started
 * (missing, not executable) reported as such, not as an exit code. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/spawn.h"
#include "tap.h"
#include "tmpdir.h"

static char *empty_env[] = { NULL };

static int run(char *const argv[], char *const envp[], unsigned timeout_ms, size_t cap,
	       struct kh_spawn_result *r, struct kh_err *err)
{
	err->msg[0] = '\0';
	return kh_spawn_capture(argv, envp, timeout_ms, cap, r, err);
}

static void output_and_exit_code(void)
{
	char *argv[] = { "sh", "-c",
			 "printf 'hello\\0world'; printf 'oops\\033[31m\\tx\\n' >&2; exit 3",
			 NULL };
	struct kh_spawn_result r;
	struct kh_err err;

	CHECK_INT(run(argv, empty_env, 10000, 100, &r, &err), 0);
	CHECK_INT(r.exit_code, 3);
	CHECK_INT(r.out_len, 11);
	CHECK(r.out != NULL && memcmp(r.out, "hello\0world", 12) == 0);
	CHECK_STR(r.err, "oops?[31m?x\n");
	kh_spawn_result_free(&r);
	CHECK(r.out == NULL && r.out_len == 0);
	kh_spawn_result_free(&r); /* twice is harmless */
}

static void exact_environment_and_stdin(void)
{
	char *env_argv[] = { "env", NULL }, *cat_argv[] = { "cat", NULL };
	char *envp[] = { "ONLY_THIS=1", NULL };
	struct kh_spawn_result r;
	struct kh_err err;

	setenv("KH_SPAWN_LEAK", "parent-only", 1);
	CHECK_INT(run(env_argv, envp, 10000, 4096, &r, &err), 0);
	CHECK_STR(r.out, "ONLY_THIS=1\n");
	kh_spawn_result_free(&r);
	unsetenv("KH_SPAWN_LEAK");
	/* stdin is /dev/null: cat ends at once instead of waiting for input */
	CHECK_INT(run(cat_argv, empty_env, 10000, 16, &r, &err), 0);
	CHECK_INT(r.exit_code, 0);
	CHECK_INT(r.out_len, 0);
	CHECK_STR(r.out, "");
	kh_spawn_result_free(&r);
}

static void caps(void)
{
	char *exact[] = { "sh", "-c", "head -c 1000 /dev/zero", NULL };
	char *more[] = { "sh", "-c", "head -c 1001 /dev/zero", NULL };
	char *flood[] = { "sh", "-c", "yes", NULL };
	char *noisy[] = { "sh", "-c", "head -c 5000 /dev/zero | tr '\\0' e >&2", NULL };
	struct kh_spawn_result r;
	struct kh_err err;

	CHECK_INT(run(exact, empty_env, 10000, 1000, &r, &err), 0);
	CHECK_INT(r.out_len, 1000);
	kh_spawn_result_free(&r);
	CHECK_INT(run(more, empty_env, 10000, 1000, &r, &err), -1);
	CHECK(strstr(err.msg, "printed more than expected") != NULL);
	CHECK(r.out == NULL);
	CHECK_INT(run(flood, empty_env, 10000, 1 << 16, &r, &err), -1); /* killed, not waited for */
	CHECK(strstr(err.msg, "printed more than expected") != NULL);
	CHECK_INT(r.exit_code, -1);
	CHECK_INT(run(noisy, empty_env, 10000, 16, &r, &err), 0);
	CHECK_INT(strlen(r.err), sizeof r.err - 1);
	kh_spawn_result_free(&r);
}

static void deadline_and_signals(void)
{
	char *slow[] = { "sleep", "30", NULL };
	char *killed[] = { "sh", "-c", "kill -9 $$", NULL };
	struct kh_spawn_result r;
	struct kh_err err;

	CHECK_INT(run(slow, empty_env, 200, 16, &r, &err), -1);
	CHECK_STR(err.msg, "sleep did not finish in time");
	CHECK_INT(r.exit_code, -1);
	CHECK(r.out == NULL);
	CHECK_INT(run(killed, empty_env, 10000, 16, &r, &err), 0);
	CHECK_INT(r.exit_code, -1);
	kh_spawn_result_free(&r);
}

static void cannot_start(void)
{
	char *missing[] = { "kh-no-such-program-here", NULL };
	char *noexec[] = { (char *)path("not-executable"), NULL };
	struct kh_spawn_result r;
	struct kh_err err;
	FILE *f = fopen(path("not-executable"), "w");

	CHECK_INT(run(missing, empty_env, 10000, 16, &r, &err), -1);
	CHECK_STR(err.msg, "cannot run kh-no-such-program-here: No such file or directory");
	CHECK(r.out == NULL);
	CHECK(f != NULL);
	if (f != NULL) {
		fputs("#!/bin/sh\necho hi\n", f);
		fclose(f);
		chmod(path("not-executable"), 0600);
	}
	CHECK_INT(run(noexec, empty_env, 10000, 16, &r, &err), -1);
	CHECK(strstr(err.msg, "Permission denied") != NULL);
}

/* A program that closes its output and runs on is still killed at the
 * deadline (the caller, the monitor's fetch, must not wait for it longer). */
static void closed_output_does_not_outlive_the_deadline(void)
{
	char *argv[] = { "sh", "-c", "exec >&- 2>&-; sleep 30", NULL };
	struct kh_spawn_result r;
	struct kh_err err;

	CHECK_INT(run(argv, empty_env, 300, 100, &r, &err), -1);
	CHECK_INT(r.exit_code, -1); /* killed, not sleep's 0 */
	CHECK(strstr(err.msg, "did not finish in time") != NULL);
}

/* The program starts with no signal blocked or ignored, whatever the
 * caller blocks (the daemon blocks its stop signals) or ignores (SIGPIPE). */
static void signals_as_from_a_shell(void)
{
	char *argv[] = { "sh", "-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status", NULL };
	struct kh_spawn_result r;
	struct kh_err err;
	sigset_t term, old;
	const char *ign;

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &old);
	signal(SIGPIPE, SIG_IGN);
	CHECK_INT(run(argv, empty_env, 10000, 200, &r, &err), 0);
	CHECK(r.out != NULL && strstr(r.out, "SigBlk:\t0000000000000000") != NULL);
	/* signals 1-31: glibc keeps 32 and 33 for itself and will not reset
	 * them (make, for one, starts programs with them ignored) */
	ign = r.out != NULL ? strstr(r.out, "SigIgn:\t") : NULL;
	/* the low 8 of its 16 hex digits hold signals 1-32 */
	CHECK(ign != NULL &&
	      (strncmp(ign + 16, "00000000", 8) == 0 || strncmp(ign + 16, "80000000", 8) == 0));
	kh_spawn_result_free(&r);
	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

int main(void)
{
	if (tmpdir_make("kh-spawn") != 0) {
		printf("Bail out! no scratch directory\n");
		return 1;
	}
	RUN(output_and_exit_code);
	RUN(exact_environment_and_stdin);
	RUN(caps);
	RUN(deadline_and_signals);
	RUN(cannot_start);
	RUN(closed_output_does_not_outlive_the_deadline);
	RUN(signals_as_from_a_shell);
	tmpdir_remove();
	TAP_DONE();
}
