/* A byte budget shared by all worker threads and divided among clients.
 *
 * SigV4 re-signing must hold the whole body of a request signed without
 * x-amz-content-sha256 before it can check the signature (relay.c). Those
 * bodies together may take at most a daemon-wide budget, and each client
 * (a sandbox label, or a client address) at most a share of it, so a client
 * that holds bodies open, or sends junk that will never verify, runs into
 * its own share while others still find room. A table of at most
 * KH_SIGV4_BODY_SOURCES clients holding bytes is kept; an entry goes away
 * when its client holds nothing.
 *
 * Thread-safe (one mutex; taken only when a body must be held). Never
 * blocks otherwise and never allocates. */
#ifndef KH_BODYSHARE_H
#define KH_BODYSHARE_H

#include <pthread.h>
#include <stddef.h>

#include "base/kh_limits.h"

struct kh_bodyshare_entry {
	char key[KH_BODYSHARE_KEY_MAX];
	size_t held;
};

struct kh_bodyshare {
	pthread_mutex_t lock;
	size_t budget, share; /* bytes: all clients, one client */
	size_t used;
	struct kh_bodyshare_entry v[KH_SIGV4_BODY_SOURCES];
};

#define KH_BODYSHARE_INIT(budget_, share_)                         \
	{                                                          \
		PTHREAD_MUTEX_INITIALIZER, (budget_), (share_), 0, \
		{                                                  \
			{                                          \
				{ 0 }, 0                           \
			}                                          \
		}                                                  \
	}

enum {
	KH_BODYSHARE_OK = 0,
	KH_BODYSHARE_SHARE = -1, /* the client would go over its share */
	KH_BODYSHARE_BUSY = -2, /* the budget is spent, or too many clients hold bytes */
};

/* Takes n bytes for the client named key (truncated to fit). Returns
 * KH_BODYSHARE_OK, or SHARE / BUSY and takes nothing. */
int kh_bodyshare_take(struct kh_bodyshare *b, const char *key, size_t n);

/* Gives back n bytes taken for key. */
void kh_bodyshare_give(struct kh_bodyshare *b, const char *key, size_t n);

/* Bytes key holds now (for tests and diagnostics). */
size_t kh_bodyshare_held(struct kh_bodyshare *b, const char *key);

#endif
