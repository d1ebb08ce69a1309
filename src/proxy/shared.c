/* The daemon-wide state workers share: policy snapshots and bridge sets. */
#include "proxy/shared.h"

#include <string.h>

struct kh_policy *kh_shared_policy(struct kh_shared *sh)
{
	struct kh_policy *p;

	pthread_mutex_lock(&sh->policy_lock);
	p = kh_policy_ref(sh->policy);
	pthread_mutex_unlock(&sh->policy_lock);
	return p;
}

void kh_shared_set_policy(struct kh_shared *sh, struct kh_policy *p)
{
	struct kh_policy *old;

	pthread_mutex_lock(&sh->policy_lock);
	old = sh->policy;
	p->generation = atomic_load(&sh->policy_gen) + 1;
	sh->policy = p;
	atomic_store(&sh->policy_gen, p->generation);
	pthread_mutex_unlock(&sh->policy_lock);
	kh_policy_unref(old); /* connections still holding it keep it alive */
}

void kh_shared_refresh(struct kh_shared *sh, struct kh_policy **held)
{
	if ((*held)->generation == atomic_load(&sh->policy_gen))
		return;
	kh_policy_unref(*held);
	*held = kh_shared_policy(sh);
}

bool kh_shared_conn_enter(struct kh_shared *sh, size_t max)
{
	if (atomic_fetch_add(&sh->n_conns, 1) >= max)
		goto refuse;
	if (sh->conn_slots != NULL && !kh_connslots_enter(sh->conn_slots, sh->conn_slot, max))
		goto refuse;
	return true;
refuse:
	atomic_fetch_sub(&sh->n_conns, 1);
	return false;
}

void kh_shared_conn_leave(struct kh_shared *sh)
{
	atomic_fetch_sub(&sh->n_conns, 1);
	if (sh->conn_slots != NULL)
		kh_connslots_leave(sh->conn_slots, sh->conn_slot);
}

unsigned kh_shared_set_bridges(struct kh_shared *sh, const int *fds)
{
	unsigned gen;

	pthread_mutex_lock(&sh->bridge_lock);
	memcpy(sh->bridge_fds, fds, sizeof sh->bridge_fds);
	gen = atomic_load(&sh->bridge_gen) + 1;
	if (gen == 0) /* 0 means "never set" */
		gen = 1;
	atomic_store(&sh->bridge_gen, gen);
	pthread_mutex_unlock(&sh->bridge_lock);
	return gen;
}
