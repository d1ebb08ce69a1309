#include "proxy/auditgate.h"

#include <pthread.h>
#include <stdatomic.h>

#include "proxy/auditlimit.h"
#include "base/clock.h"
#include "proxy/metrics.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct kh_auditlimit *limit; /* made at the first refusal; guarded by lock */
static atomic_uint_fast64_t next_due; /* read without the lock by kh_auditgate_next_due */

static void emit(const struct kh_audit_rec *r, void *arg)
{
	(void)arg;
	kh_audit_write(r);
}

bool kh_auditgate_write(const struct kh_audit_rec *r, const char *source)
{
	uint64_t now = kh_mono_ms();
	bool whole = true;

	pthread_mutex_lock(&lock);
	if (limit == NULL)
		limit = kh_auditlimit_new(emit, NULL);
	if (limit != NULL) /* out of memory: every record is written, as before */
		whole = kh_auditlimit_admit(limit, source, r, now);
	if (whole)
		kh_audit_write(r);
	else
		kh_metrics_count_request(r->decision, r->reason, r->swapped, r->n_swapped,
					 r->duration_us, r->path != NULL);
	if (limit != NULL)
		atomic_store(&next_due, kh_auditlimit_next_due(limit));
	pthread_mutex_unlock(&lock);
	return whole;
}

uint64_t kh_auditgate_next_due(void)
{
	return atomic_load(&next_due);
}

static uint64_t tick(bool all)
{
	uint64_t next = 0;

	if (!all && atomic_load(&next_due) == 0)
		return 0;
	pthread_mutex_lock(&lock);
	if (limit != NULL)
		next = kh_auditlimit_tick(limit, kh_mono_ms(), all);
	atomic_store(&next_due, next);
	pthread_mutex_unlock(&lock);
	return next;
}

uint64_t kh_auditgate_tick(void)
{
	return tick(false);
}

void kh_auditgate_flush(void)
{
	tick(true);
}
