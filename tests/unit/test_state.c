#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "cli/state.h"
#include "tap.h"

static void starttime_with_parens_in_comm(void)
{
	const char *stat = "4242 (evil) S 1 2 3) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 "
			   "1 0 99887766 1234 5 18446744073709551615";
	unsigned long long t = 0;

	CHECK_INT(kh_parse_proc_stat_starttime(stat, strlen(stat), &t), 0);
	CHECK(t == 99887766ULL);
	CHECK_INT(kh_parse_proc_stat_starttime("1 (x", 4, &t), -1);
	CHECK_INT(kh_parse_proc_stat_starttime("1 (x) S 2", 9, &t), -1);
}

static void own_process(void)
{
	unsigned long long t1 = 0, t2 = 0;

	CHECK(kh_proc_alive(getpid()));
	CHECK_INT(kh_proc_starttime(getpid(), &t1), 0);
	CHECK_INT(kh_proc_starttime(getpid(), &t2), 0);
	CHECK(t1 == t2 && t1 > 0);
	CHECK(!kh_proc_is_keyhole(getpid(), "no-such-nonce")); /* environ readable, no nonce */
}

static void dead_process(void)
{
	pid_t p = fork();

	if (p == 0)
		_exit(0);
	waitpid(p, NULL, 0);
	CHECK(!kh_proc_alive(p));
}

static void pidfile_exclusive_and_private(void)
{
	char dir[] = "/tmp/kh-state-XXXXXX", path[256], nonce[KH_NONCE_LEN + 1], back[128];
	struct kh_err err;
	struct stat st;
	pid_t pid = 0;

	if (mkdtemp(dir) == NULL)
		return;
	kh_path_join(path, sizeof path, dir, "keyhole.pid");
	CHECK_INT(kh_pidfile_create(path, 1234, &err), 0);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK_INT(kh_pidfile_create(path, 5678, &err), -1); /* O_EXCL */
	CHECK_INT(kh_pidfile_read(path, &pid), 0);
	CHECK_INT(pid, 1234);
	unlink(path);
	kh_nonce_new(nonce);
	CHECK_INT(strlen(nonce), KH_NONCE_LEN);
	kh_path_join(path, sizeof path, dir, "keyhole.nonce");
	CHECK_INT(kh_nonce_write(path, nonce, &err), 0);
	CHECK_INT(kh_nonce_read(path, back, sizeof back), 0);
	CHECK_STR(back, nonce);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	RUN(starttime_with_parens_in_comm);
	RUN(own_process);
	RUN(dead_process);
	RUN(pidfile_exclusive_and_private);
	TAP_DONE();
}
