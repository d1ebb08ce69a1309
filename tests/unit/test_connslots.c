/* One max_connections across front processes (privsep/connslots.h): two
 * mappings of the daemon's page (as two fronts have) share one cap; a slot
 * cleared for a dead front frees its share; a page that is not the sealed
 * one the daemon makes is refused; a forked child's counts are seen. */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "privsep/connslots.h"
#include "tap.h"

static void one_cap_for_all_fronts(void)
{
	struct kh_connslots daemon, a, b;
	struct kh_err err = { "" };
	int fd = -1, admitted = 0;

	CHECK(kh_connslots_create(&daemon, 2, &fd, &err) == 0);
	CHECK(kh_connslots_map(&a, fd, 2, &err) == 0);
	CHECK(kh_connslots_map(&b, fd, 2, &err) == 0);
	for (int i = 0; i < 10; i++) /* alternating fronts, cap 7 */
		admitted += kh_connslots_enter(i % 2 ? &b : &a, (unsigned)(i % 2), 7);
	CHECK_INT(admitted, 7);
	CHECK_INT(kh_connslots_total(&daemon), 7);
	CHECK(!kh_connslots_enter(&a, 0, 7));
	kh_connslots_leave(&b, 1);
	CHECK(kh_connslots_enter(&a, 0, 7)); /* b's freed slot goes to a */
	CHECK_INT(kh_connslots_total(&a), 7);
	/* front 1 dies: the daemon forgets its 2, front 0 keeps its 5 */
	kh_connslots_clear(&daemon, 1);
	CHECK_INT(kh_connslots_total(&a), 5);
	for (int i = 0; i < 2; i++)
		CHECK(kh_connslots_enter(&a, 0, 7));
	CHECK(!kh_connslots_enter(&a, 0, 7));
	/* a leave after a clear (a late close) does not go below zero */
	kh_connslots_leave(&b, 1);
	CHECK_INT(kh_connslots_total(&a), 7);
	kh_connslots_unmap(&a);
	kh_connslots_unmap(&b);
	kh_connslots_unmap(&daemon);
	close(fd);
}

static void another_process_counts(void)
{
	struct kh_connslots daemon, f;
	struct kh_err err = { "" };
	int fd = -1, status = 0;
	pid_t pid;

	CHECK(kh_connslots_create(&daemon, 3, &fd, &err) == 0);
	pid = fork();
	if (pid == 0) {
		int ok = kh_connslots_map(&f, fd, 3, &err) == 0;

		for (int i = 0; ok && i < 5; i++)
			ok = kh_connslots_enter(&f, 2, 5);
		_exit(ok ? 0 : 1);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), 0);
	CHECK_INT(kh_connslots_total(&daemon), 5);
	CHECK(!kh_connslots_enter(&daemon, 0, 5));
	kh_connslots_clear(&daemon, 2); /* as when reaping it */
	CHECK(kh_connslots_enter(&daemon, 0, 5));
	kh_connslots_unmap(&daemon);
	close(fd);
}

static void only_the_sealed_page(void)
{
	struct kh_connslots cs;
	struct kh_err err = { "" };
	int fd = -1, other = memfd_create("x", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	CHECK(kh_connslots_create(&cs, 0, &fd, &err) == -1);
	CHECK(kh_connslots_create(&cs, KH_MAX_WORKERS + 1, &fd, &err) == -1);
	CHECK(kh_connslots_create(&cs, KH_MAX_WORKERS, &fd, &err) == 0);
	/* sealed: no process can shrink it under another's mapping */
	CHECK(ftruncate(fd, 0) == -1);
	CHECK(kh_connslots_map(&cs, fd, KH_MAX_WORKERS + 1, &err) == -1);
	/* the right size, but not sealed */
	CHECK(other >= 0 && ftruncate(other, KH_MAX_WORKERS * 64) == 0);
	CHECK(kh_connslots_map(&cs, other, 2, &err) == -1);
	CHECK(err.msg[0] != '\0');
	close(other);
	close(fd);
}

int main(void)
{
	RUN(one_cap_for_all_fronts);
	RUN(another_process_counts);
	RUN(only_the_sealed_page);
	TAP_DONE();
}
