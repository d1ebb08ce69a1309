/* The OpenAI mapping that unit tests of sandbox tokens issue grants for: a
 * fixed proxy token (its random part is all hex, as a real one's is).
 * Include once per test program. */
#ifndef KH_MAPPING_FIXTURE_H
#define KH_MAPPING_FIXTURE_H

#include <stdio.h>

#include "policy/mappings.h"

static inline struct kh_mapping openai(void)
{
	struct kh_mapping m = { 0 };

	snprintf(m.proxy_token, sizeof m.proxy_token, "keyhole-openai-%s",
		 "0123456789abcdef0123456789abcdef");
	snprintf(m.env_name, sizeof m.env_name, "OPENAI_API_KEY");
	return m;
}

#endif
