/* Confinement of the processes inside keyhole sandbox (see confine.h).
 * The order matters: the bounding set is emptied while CAP_SETPCAP is still
 * there, the ids are changed while CAP_SETUID/CAP_SETGID are, then the
 * remaining sets are cleared, no_new_privs set, and the filter loaded last so
 * that it needs to allow none of the calls above. Each step is checked: a
 * process that could not drop something must not go on. */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/confine.h"
#include "base/kh_limits.h"

static int empty_bounding_set(int keep, struct kh_err *err)
{
	for (int c = 0; c < KH_CAP_SCAN_MAX; c++) {
		if (c == keep || prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1)
			continue; /* not in the set, or past the last capability */
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) {
			kh_err_set(err, "cannot drop capability %d from the bounding set: %s", c,
				   strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int become(uid_t uid, gid_t gid, struct kh_err *err)
{
	uid_t r, e, s;

	if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 ||
	    setresuid(uid, uid, uid) != 0) {
		kh_err_set(err, "cannot become uid %u gid %u: %s", (unsigned)uid, (unsigned)gid,
			   strerror(errno));
		return -1;
	}
	if (getresuid(&r, &e, &s) != 0 || r != uid || e != uid || s != uid) {
		kh_err_set(err, "uid %u did not stick", (unsigned)uid);
		return -1;
	}
	return 0;
}

/* Effective, permitted and inheritable sets emptied but for keep, and checked. */
static int clear_sets(int keep, struct kh_err *err)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2], want[2];

	memset(want, 0, sizeof want);
	if (keep >= 0 && keep < KH_CAP_SCAN_MAX)
		want[keep / 32].effective = want[keep / 32].permitted = 1u << (keep % 32);
	memcpy(d, want, sizeof d);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 ||
	    syscall(SYS_capset, &h, d) != 0 || syscall(SYS_capget, &h, d) != 0) {
		kh_err_set(err, "cannot clear the capability sets: %s", strerror(errno));
		return -1;
	}
	for (int i = 0; i < 2; i++)
		if (d[i].effective != want[i].effective || d[i].permitted != want[i].permitted ||
		    d[i].inheritable != 0) {
			kh_err_set(err, "capabilities are still held after clearing them");
			return -1;
		}
	return 0;
}

int kh_confine(const struct kh_confine *c, struct kh_err *err)
{
	if (empty_bounding_set(c->keep_cap, err) != 0)
		goto fail;
	if (c->set_ids && become(c->uid, c->gid, err) != 0)
		goto fail;
	if (clear_sets(c->keep_cap, err) != 0)
		goto fail;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		kh_err_set(err, "cannot set no_new_privs: %s", strerror(errno));
		goto fail;
	}
	if (c->filter != NULL && kh_seccomp_load(c->filter, err) != 0)
		goto fail;
	return 0;
fail:
	kh_err_prefix(err, "keyhole sandbox: confinement");
	return -1;
}
