#include "swap/bodyshare.h"

#include <stdbool.h>
#include <string.h>

#include "base/check.h"

/* The entry for key, or NULL. Caller holds the lock. */
static struct kh_bodyshare_entry *find(struct kh_bodyshare *b, const char *key)
{
	for (size_t i = 0; i < KH_SIGV4_BODY_SOURCES; i++)
		if (b->v[i].held > 0 && strncmp(b->v[i].key, key, KH_BODYSHARE_KEY_MAX - 1) == 0)
			return &b->v[i];
	return NULL;
}

static struct kh_bodyshare_entry *find_free(struct kh_bodyshare *b)
{
	for (size_t i = 0; i < KH_SIGV4_BODY_SOURCES; i++)
		if (b->v[i].held == 0)
			return &b->v[i];
	return NULL;
}

int kh_bodyshare_take(struct kh_bodyshare *b, const char *key, size_t n)
{
	struct kh_bodyshare_entry *e;
	int rc = KH_BODYSHARE_OK;

	if (n == 0)
		return KH_BODYSHARE_OK;
	pthread_mutex_lock(&b->lock);
	e = find(b, key);
	if (n > b->share || (e != NULL && e->held > b->share - n)) {
		rc = KH_BODYSHARE_SHARE;
		goto out;
	}
	if (n > b->budget - b->used || (e == NULL && (e = find_free(b)) == NULL)) {
		rc = KH_BODYSHARE_BUSY;
		goto out;
	}
	if (e->held == 0) {
		memset(e->key, 0, sizeof e->key);
		memcpy(e->key, key, strnlen(key, sizeof e->key - 1));
	}
	e->held += n;
	b->used += n;
out:
	pthread_mutex_unlock(&b->lock);
	return rc;
}

void kh_bodyshare_give(struct kh_bodyshare *b, const char *key, size_t n)
{
	struct kh_bodyshare_entry *e;
	bool ok;

	if (n == 0)
		return;
	pthread_mutex_lock(&b->lock);
	e = find(b, key);
	ok = e != NULL && e->held >= n && b->used >= n;
	if (ok) {
		e->held -= n;
		b->used -= n;
	}
	pthread_mutex_unlock(&b->lock);
	KH_CHECK(ok); /* only what was taken is given back */
}

size_t kh_bodyshare_held(struct kh_bodyshare *b, const char *key)
{
	struct kh_bodyshare_entry *e;
	size_t held;

	pthread_mutex_lock(&b->lock);
	e = find(b, key);
	held = e != NULL ? e->held : 0;
	pthread_mutex_unlock(&b->lock);
	return held;
}
