/* cli/procview.h: the kernel's view of a process, as `keyhole status`
 * compares it with a front's own report. Parsed from texts in the kernel's
 * format, and read for this very process. */
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli/procview.h"
#include "tap.h"

static const char STATUS[] = "Name:\tkeyhole\n"
			     "Umask:\t0022\n"
			     "State:\tS (sleeping)\n"
			     "PPid:\t4242\n"
			     "Uid:\t0\t65534\t65534\t65534\n"
			     "Gid:\t0\t65533\t65533\t65533\n"
			     "NoNewPrivs:\t1\n"
			     "Seccomp:\t2\n"
			     "Seccomp_filters:\t1\n"
			     "Speculation_Store_Bypass:\tthread vulnerable";

static const char LIMITS[] =
	"Limit                     Soft Limit           Hard Limit           Units     \n"
	"Max cpu time              unlimited            unlimited            seconds   \n"
	"Max core file size        0                    unlimited            bytes     \n"
	"Max processes             0                    0                    processes \n"
	"Max open files            2112                 1048576              files     \n";

static void parses_the_kernels_format(void)
{
	struct kh_procview v;
	struct kh_err err = { "" };

	CHECK(kh_procview_parse(STATUS, LIMITS, &v, &err) == 0);
	CHECK_INT(v.ppid, 4242);
	CHECK_INT(v.uid, 65534); /* the effective one, not the real */
	CHECK_INT(v.gid, 65533);
	CHECK_INT(v.no_new_privs, 1);
	CHECK_INT(v.seccomp, KH_PROCVIEW_SECCOMP_FILTER);
	CHECK_INT(v.nofile, 2112);
	CHECK_INT(v.nproc, 0);
	CHECK_INT(v.core, 0);
}

static void absent_fields_stay_unknown(void)
{
	struct kh_procview v;
	struct kh_err err = { "" };

	CHECK(kh_procview_parse("Name:\tx\nUid:\t1\t2\t3\t4\n", NULL, &v, &err) == 0);
	CHECK_INT(v.uid, 2);
	CHECK_INT(v.no_new_privs, KH_PROCVIEW_UNKNOWN);
	CHECK_INT(v.seccomp, KH_PROCVIEW_UNKNOWN);
	CHECK_INT(v.nofile, KH_PROCVIEW_UNKNOWN);
	CHECK(kh_procview_parse("", "Max open files            unlimited            unlimited\n",
				&v, &err) == 0);
	CHECK_INT(v.nofile, KH_PROCVIEW_UNLIMITED);
	/* a line that only starts like a field is not that field */
	CHECK(kh_procview_parse("Seccomp_filters:\t7\n", NULL, &v, &err) == 0);
	CHECK_INT(v.seccomp, KH_PROCVIEW_UNKNOWN);
}

static void refuses_what_is_not_a_number(void)
{
	struct kh_procview v;
	struct kh_err err = { "" };

	CHECK(kh_procview_parse("Seccomp:\ttwo\n", NULL, &v, &err) == -1);
	CHECK(err.msg[0] != '\0');
	err.msg[0] = '\0';
	CHECK(kh_procview_parse("Uid:\t0\n", NULL, &v, &err) == -1); /* no effective uid */
	CHECK(kh_procview_parse("", "Max open files            -1    5\n", &v, &err) == -1);
}

static void reads_this_process(void)
{
	struct kh_procview v;
	struct kh_err err = { "" };
	struct rlimit rl;

	CHECK(kh_procview_read(getpid(), &v, &err) == 0);
	CHECK_INT(v.ppid, getppid());
	CHECK_INT(v.uid, geteuid());
	CHECK_INT(v.gid, getegid());
	CHECK(v.no_new_privs == 0 || v.no_new_privs == 1);
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	CHECK(rl.rlim_cur == RLIM_INFINITY ? v.nofile == KH_PROCVIEW_UNLIMITED
					   : v.nofile == (int64_t)rl.rlim_cur);
	CHECK(kh_procview_read(0, &v, &err) == -1); /* no /proc/0 */
}

/* A front that says more than the kernel shows is named; what the kernel
 * does not show is not held against it; a front that has not reported is
 * not judged. */
static void disagreements(void)
{
	struct kh_ctl_front f = { .pid = 7,
				  .confined = true,
				  .no_new_privs = true,
				  .seccomp = true,
				  .rlimits = true,
				  .uid = 65534 };
	struct kh_procview k = { .ppid = 1,
				 .uid = 65534,
				 .gid = 65534,
				 .no_new_privs = 1,
				 .seccomp = KH_PROCVIEW_SECCOMP_FILTER,
				 .nofile = 64,
				 .nproc = 0,
				 .core = 0 };
	char why[320];

	kh_procview_disagrees(&f, &k, why, sizeof why);
	CHECK_STR(why, "");
	k.seccomp = 0;
	k.uid = 0;
	kh_procview_disagrees(&f, &k, why, sizeof why);
	CHECK_STR(why,
		  "; reports seccomp, /proc shows Seccomp 0; reports uid 65534, /proc shows 0");
	k = (struct kh_procview){ .ppid = 1,
				  .uid = 65534,
				  .gid = 65534,
				  .no_new_privs = 0,
				  .seccomp = KH_PROCVIEW_SECCOMP_FILTER,
				  .nproc = 5,
				  .core = 0 };
	kh_procview_disagrees(&f, &k, why, sizeof why);
	CHECK(strstr(why, "reports no_new_privs, /proc shows NoNewPrivs 0") != NULL);
	CHECK(strstr(why, "reports rlimits, /proc shows core 0, nproc 5") != NULL);
	k.no_new_privs = KH_PROCVIEW_UNKNOWN; /* an older kernel: not shown */
	k.nproc = 0;
	kh_procview_disagrees(&f, &k, why, sizeof why);
	CHECK_STR(why, "");
	f.confined = false; /* nothing reported: nothing to contradict */
	k.seccomp = 0;
	kh_procview_disagrees(&f, &k, why, sizeof why);
	CHECK_STR(why, "");
}

int main(void)
{
	RUN(parses_the_kernels_format);
	RUN(absent_fields_stay_unknown);
	RUN(refuses_what_is_not_a_number);
	RUN(reads_this_process);
	RUN(disagreements);
	TAP_DONE();
}
