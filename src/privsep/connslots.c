/* Connection counters shared by the front processes (connslots.h). */
#include "privsep/connslots.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* One slot per 64-byte line, so fronts counting at once do not share one. */
#define STRIDE     (64 / sizeof(uint32_t))
#define PAGE_BYTES (KH_MAX_WORKERS * 64)

#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static _Atomic uint32_t *slot(const struct kh_connslots *cs, unsigned i)
{
	return cs->page + (size_t)i * STRIDE;
}

static int map(struct kh_connslots *cs, int fd, unsigned n, struct kh_err *err)
{
	void *p = mmap(NULL, PAGE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED) {
		kh_err_set(err, "cannot map the connection counters: %s", kh_strerror(errno));
		return -1;
	}
	cs->page = p;
	cs->n = n;
	return 0;
}

int kh_connslots_create(struct kh_connslots *cs, unsigned n, int *fd, struct kh_err *err)
{
	int mfd;

	cs->page = NULL;
	if (n == 0 || n > KH_MAX_WORKERS) {
		kh_err_set(err, "connection counters for %u fronts", n);
		return -1;
	}
	mfd = memfd_create("keyhole-conns", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0 || ftruncate(mfd, PAGE_BYTES) != 0 || fcntl(mfd, F_ADD_SEALS, SEALS) != 0) {
		kh_err_set(err, "cannot make the connection counters: %s", kh_strerror(errno));
		goto fail;
	}
	if (map(cs, mfd, n, err) != 0)
		goto fail;
	*fd = mfd;
	return 0;
fail:
	if (mfd >= 0)
		close(mfd);
	return -1;
}

int kh_connslots_map(struct kh_connslots *cs, int fd, unsigned n, struct kh_err *err)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);

	cs->page = NULL;
	if (n == 0 || n > KH_MAX_WORKERS || fstat(fd, &st) != 0 || st.st_size != PAGE_BYTES ||
	    seals < 0 || (seals & SEALS) != SEALS) {
		kh_err_set(err, "the connection counters are not a sealed page of %d bytes",
			   PAGE_BYTES);
		return -1;
	}
	return map(cs, fd, n, err);
}

uint64_t kh_connslots_total(const struct kh_connslots *cs)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < cs->n; i++)
		sum += atomic_load(slot(cs, i)); /* seq_cst: pairs with the add in enter */
	return sum;
}

bool kh_connslots_enter(struct kh_connslots *cs, unsigned mine, uint64_t max)
{
	/* add first, then look: of two fronts racing for the last slot, at
	 * least one sees the other's increment, so both cannot get in */
	atomic_fetch_add(slot(cs, mine), 1);
	if (kh_connslots_total(cs) <= max)
		return true;
	kh_connslots_leave(cs, mine);
	return false;
}

void kh_connslots_leave(struct kh_connslots *cs, unsigned mine)
{
	_Atomic uint32_t *s = slot(cs, mine);
	uint32_t v = atomic_load(s);

	/* never below zero: the daemon may have cleared a slot under a front
	 * it took for dead */
	while (v > 0 && !atomic_compare_exchange_weak(s, &v, v - 1))
		;
}

void kh_connslots_clear(struct kh_connslots *cs, unsigned i)
{
	if (cs->page != NULL && i < cs->n)
		atomic_store(slot(cs, i), 0);
}

void kh_connslots_unmap(struct kh_connslots *cs)
{
	if (cs->page != NULL)
		munmap((void *)cs->page, PAGE_BYTES);
	cs->page = NULL;
	cs->n = 0;
}
