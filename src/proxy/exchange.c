/* One request/response: its record and the filter state it owns. */
#include "proxy/exchange.h"

#include <string.h>

#include "base/clock.h"
#include "swap/respscrub.h"
#include "swap/sigv4.h"

void kh_exchange_release(struct kh_exchange *ex)
{
	kh_rscrub_free(ex->scrub);
	ex->scrub = NULL;
	kh_sigv4_body_free(ex->req_hash);
	ex->req_hash = NULL;
}

void kh_exchange_reset(struct kh_exchange *ex)
{
	kh_exchange_release(ex);
	memset(ex, 0, sizeof *ex);
}

void kh_exchange_begin(struct kh_exchange *ex, const struct kh_policy *p, struct kh_slice method)
{
	kh_exchange_reset(ex);
	ex->active = true;
	ex->started_us = kh_mono_us();
	kh_policy_redact(p, method, ex->method, sizeof ex->method);
}

void kh_exchange_set_path(struct kh_exchange *ex, const struct kh_policy *p, struct kh_slice target)
{
	long q = kh_slice_find(target, '?');

	if (q >= 0)
		target.len = (size_t)q; /* query strings carry keys and personal data */
	kh_policy_redact(p, target, ex->path, sizeof ex->path);
}
