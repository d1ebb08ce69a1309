/* How many descriptors this process holds, for tests that prove a path
 * leaks none (unit tests and fuzz harnesses). -1 if /proc is unreadable. */
#ifndef KH_TEST_FDCOUNT_H
#define KH_TEST_FDCOUNT_H

#include <dirent.h>

static inline int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own fd */
}

#endif
