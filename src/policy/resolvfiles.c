/* The resolver's copies of /etc/resolv.conf and /etc/hosts (resolvfiles.h). */
#include "policy/resolvfiles.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "base/kh_limits.h"

int kh_resolvfiles_path(const char *dir, const char *name, char *out, size_t len)
{
	return kh_path_join(out, len, dir, name);
}

/* One original into dir/name, or no copy when there is no original. */
static int copy_one(const char *dir, const char *name, const char *from, struct kh_err *err)
{
	char to[KH_MAX_PATH], *text = NULL;
	struct stat st;
	size_t len = 0;
	int rc;

	if (kh_resolvfiles_path(dir, name, to, sizeof to) != 0) {
		kh_err_set(err, "%s: path too long", dir);
		return -1;
	}
	if (stat(from, &st) != 0 && errno == ENOENT) { /* a dangling symlink too */
		if (unlink(to) != 0 && errno != ENOENT) {
			kh_err_set(err, "cannot remove %s: %s", to, kh_strerror(errno));
			return -1;
		}
		return 0;
	}
	/* followed: /etc/resolv.conf is often a symlink into /run */
	if (kh_fs_read_file(from, KH_RESOLVFILES_MAX_BYTES, false, &text, &len, err) != 0)
		return -1;
	rc = kh_fs_write_atomic(to, text, len, 0600, err);
	free(text);
	return rc;
}

int kh_resolvfiles_copy(const char *dir, struct kh_err *err)
{
	if (kh_fs_ensure_private_dir(dir, err) != 0)
		return -1;
	if (copy_one(dir, "resolv.conf", KH_RESOLVFILES_RESOLV_CONF, err) != 0 ||
	    copy_one(dir, "hosts", KH_RESOLVFILES_HOSTS, err) != 0)
		return -1;
	return 0;
}
