#include "proxy/ownerwatch.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

int kh_ownerwatch_init(struct kh_ownerwatch *ow, struct kh_grants *grants, struct kh_err *err)
{
	ow->grants = grants;
	pthread_mutex_init(&ow->lock, NULL);
	for (size_t i = 0; i < KH_MAX_OWNERS; i++)
		ow->v[i].pidfd = -1;
	atomic_store(&ow->stopping, false);
	ow->started = false;
	ow->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ow->wake_fd < 0) {
		kh_err_set(err, "owner watch: eventfd: %s", kh_strerror(errno));
		return -1;
	}
	return 0;
}

static void wake(struct kh_ownerwatch *ow)
{
	uint64_t one = 1;

	if (write(ow->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
		kh_warn("owner watch: cannot wake its thread: %s", kh_strerror(errno));
}

int kh_ownerwatch_add(struct kh_ownerwatch *ow, pid_t pid, const char *label, struct kh_err *err)
{
	int fd = pidfd_open(pid, 0);
	size_t i;

	if (fd < 0) {
		kh_err_set(err, "owner process %d: %s", (int)pid,
			   errno == ESRCH ? "not running" : kh_strerror(errno));
		return -1;
	}
	pthread_mutex_lock(&ow->lock);
	for (i = 0; i < KH_MAX_OWNERS && ow->v[i].pidfd >= 0; i++)
		;
	if (i < KH_MAX_OWNERS) {
		ow->v[i].pidfd = fd;
		ow->v[i].pid = pid;
		snprintf(ow->v[i].label, sizeof ow->v[i].label, "%s", label);
	}
	pthread_mutex_unlock(&ow->lock);
	if (i == KH_MAX_OWNERS) {
		close(fd);
		kh_err_set(err,
			   "%d sandboxes are running already; stop one or use `keyhole token "
			   "issue` (not watched)",
			   KH_MAX_OWNERS);
		return -1;
	}
	wake(ow);
	return 0;
}

void kh_ownerwatch_forget(struct kh_ownerwatch *ow, pid_t pid, const char *label)
{
	pthread_mutex_lock(&ow->lock);
	for (size_t i = 0; i < KH_MAX_OWNERS; i++)
		if (ow->v[i].pidfd >= 0 && ow->v[i].pid == pid &&
		    strcmp(ow->v[i].label, label) == 0) {
			ow->v[i].label[0] = '\0';
			break;
		}
	pthread_mutex_unlock(&ow->lock);
}

/* The owner in slot i exited: revoke its label's tokens (none for a
 * forgotten watch), free the slot. */
static void owner_gone(struct kh_ownerwatch *ow, size_t i)
{
	char label[KH_GRANT_LABEL_MAX];
	struct kh_err err = { "" };
	pid_t pid;
	long n;

	pthread_mutex_lock(&ow->lock);
	memcpy(label, ow->v[i].label, sizeof label);
	pid = ow->v[i].pid;
	close(ow->v[i].pidfd);
	ow->v[i].pidfd = -1;
	pthread_mutex_unlock(&ow->lock);
	if (label[0] == '\0')
		return;
	n = kh_grants_revoke(ow->grants, NULL, label, (int64_t)time(NULL), &err);
	if (n < 0)
		kh_error("sandbox %s: its owner (pid %d) is gone; its tokens are revoked but not "
			 "saved: %s",
			 label, (int)pid, err.msg);
	else if (n > 0)
		kh_info("sandbox %s: its owner (pid %d) is gone without revoking: revoked %ld "
			"sandbox token(s)",
			label, (int)pid, n);
}

static void *watch_main(void *arg)
{
	static struct pollfd p[KH_MAX_OWNERS + 1]; /* one watch thread per process */
	static size_t slot[KH_MAX_OWNERS + 1];
	struct kh_ownerwatch *ow = arg;

	while (!atomic_load(&ow->stopping)) {
		nfds_t n = 1;
		uint64_t drained;

		p[0] = (struct pollfd){ ow->wake_fd, POLLIN, 0 };
		pthread_mutex_lock(&ow->lock);
		for (size_t i = 0; i < KH_MAX_OWNERS; i++)
			if (ow->v[i].pidfd >= 0) {
				slot[n] = i;
				p[n++] = (struct pollfd){ ow->v[i].pidfd, POLLIN, 0 };
			}
		pthread_mutex_unlock(&ow->lock);
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			kh_warn("owner watch: poll: %s", kh_strerror(errno));
			return NULL;
		}
		if (p[0].revents != 0 && read(ow->wake_fd, &drained, sizeof drained) < 0 &&
		    errno != EAGAIN)
			kh_warn("owner watch: %s", kh_strerror(errno));
		for (nfds_t k = 1; k < n; k++)
			if (p[k].revents != 0)
				owner_gone(ow, slot[k]);
	}
	return NULL;
}

int kh_ownerwatch_start(struct kh_ownerwatch *ow, struct kh_err *err)
{
	if (pthread_create(&ow->thread, NULL, watch_main, ow) != 0) {
		kh_err_set(err, "cannot start the owner watch thread");
		return -1;
	}
	ow->started = true;
	return 0;
}

void kh_ownerwatch_stop(struct kh_ownerwatch *ow)
{
	if (ow->started) {
		atomic_store(&ow->stopping, true);
		wake(ow);
		pthread_join(ow->thread, NULL);
		ow->started = false;
	}
	for (size_t i = 0; i < KH_MAX_OWNERS; i++)
		if (ow->v[i].pidfd >= 0) {
			close(ow->v[i].pidfd);
			ow->v[i].pidfd = -1;
		}
	if (ow->wake_fd >= 0)
		close(ow->wake_fd);
	ow->wake_fd = -1;
}
