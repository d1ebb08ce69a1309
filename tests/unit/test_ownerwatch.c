/* ownerwatch: a label's tokens are revoked when its owner process exits
 * (other labels untouched), an owner that is not running is refused, and
 * stopping with owners still watched closes everything. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "policy/grants.h"
#include "proxy/ownerwatch.h"
#include "tap.h"
#include "mapping_fixture.h"

/* A child that lives until its pipe closes. */
static pid_t spawn_owner(int *wfd)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe(p) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[1]);
		while (read(p[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(p[0]);
	*wfd = p[1];
	return pid;
}

/* Bounded wait for the watch thread (not a timing assertion: 10 s is only a
 * guard against hanging the suite). */
static enum kh_grant_state wait_revoked(const struct kh_grant *gr)
{
	for (int i = 0; i < 1000; i++) {
		if (kh_grant_state(gr, (int64_t)time(NULL)) == KH_GRANT_REVOKED)
			return KH_GRANT_REVOKED;
		nanosleep(&(struct timespec){ 0, 10000000L }, NULL);
	}
	return kh_grant_state(gr, (int64_t)time(NULL));
}

static void owner_exit_revokes(void)
{
	struct kh_grants g;
	struct kh_ownerwatch ow;
	struct kh_err err = { "" };
	struct kh_mapping m = openai();
	struct kh_grant *mine = NULL, *other = NULL;
	struct kh_grant_req rm = { "own-1", 0, 0, 0 }, ro = { "other", 0, 0, 0 };
	int64_t now = (int64_t)time(NULL);
	int wfd = -1;
	pid_t owner = spawn_owner(&wfd), dead;

	CHECK(owner > 0);
	CHECK_INT(kh_grants_init(&g, 4, NULL, now, &err), 0);
	CHECK_INT(kh_grants_issue(&g, &m, &rm, now, &mine, &err), 0);
	CHECK_INT(kh_grants_issue(&g, &m, &ro, now, &other, &err), 0);
	CHECK_INT(kh_ownerwatch_init(&ow, &g, &err), 0);
	CHECK_INT(kh_ownerwatch_start(&ow, &err), 0);
	CHECK_INT(kh_ownerwatch_add(&ow, owner, "own-1", &err), 0);

	dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	CHECK_INT(kh_ownerwatch_add(&ow, dead, "ghost", &err), -1);
	CHECK(strstr(err.msg, "not running") != NULL);

	CHECK_INT(kh_grant_state(mine, now), KH_GRANT_OK);
	close(wfd); /* the owner exits */
	waitpid(owner, NULL, 0);
	CHECK_INT(wait_revoked(mine), KH_GRANT_REVOKED);
	CHECK_INT(kh_grant_state(other, (int64_t)time(NULL)), KH_GRANT_OK);

	owner = spawn_owner(&wfd); /* still watched at stop: closed, not revoked */
	CHECK_INT(kh_ownerwatch_add(&ow, owner, "other", &err), 0);
	kh_ownerwatch_stop(&ow);
	CHECK_INT(kh_grant_state(other, (int64_t)time(NULL)), KH_GRANT_OK);
	close(wfd);
	waitpid(owner, NULL, 0);
	kh_grants_free(&g);
}

/* A watch forgotten after a failed issue revokes nothing when its owner
 * exits, even though a grant with that label exists by then. */
static void forgotten_watch_revokes_nothing(void)
{
	struct kh_grants g;
	struct kh_ownerwatch ow;
	struct kh_err err = { "" };
	struct kh_mapping m = openai();
	struct kh_grant *later = NULL, *probe = NULL;
	struct kh_grant_req req = { "docker-1", 0, 0, 0 }, rp = { "probe", 0, 0, 0 };
	int64_t now = (int64_t)time(NULL);
	int wfd = -1, pfd = -1;
	pid_t owner = spawn_owner(&wfd), prober = spawn_owner(&pfd);

	CHECK(owner > 0 && prober > 0);
	CHECK_INT(kh_grants_init(&g, 4, NULL, now, &err), 0);
	CHECK_INT(kh_ownerwatch_init(&ow, &g, &err), 0);
	CHECK_INT(kh_ownerwatch_start(&ow, &err), 0);
	CHECK_INT(kh_ownerwatch_add(&ow, owner, "docker-1", &err), 0);
	kh_ownerwatch_forget(&ow, owner, "docker-1"); /* its issue failed */
	CHECK_INT(kh_grants_issue(&g, &m, &req, now, &later, &err), 0);
	CHECK_INT(kh_grants_issue(&g, &m, &rp, now, &probe, &err), 0);
	CHECK_INT(kh_ownerwatch_add(&ow, prober, "probe", &err), 0);
	/* The forgotten owner exits first, then one still watched: once the
	 * latter's grant is revoked, the thread has seen both exits. (Killed, as
	 * the prober holds a copy of the owner's pipe.) */
	kill(owner, SIGKILL);
	waitpid(owner, NULL, 0);
	kill(prober, SIGKILL);
	waitpid(prober, NULL, 0);
	close(wfd);
	close(pfd);
	CHECK_INT(wait_revoked(probe), KH_GRANT_REVOKED);
	CHECK_INT(kh_grant_state(later, (int64_t)time(NULL)), KH_GRANT_OK);
	kh_ownerwatch_stop(&ow);
	kh_grants_free(&g);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	RUN(owner_exit_revokes);
	RUN(forgotten_watch_revokes_nothing);
	TAP_DONE();
}
