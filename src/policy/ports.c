#include "policy/ports.h"

#include <string.h>

#include "base/slice.h"

uint16_t kh_port_default(bool tls)
{
	return tls ? KH_DEFAULT_TLS_PORT : KH_DEFAULT_HTTP_PORT;
}

int kh_port_range_parse(const char *s, struct kh_port_range *out)
{
	struct kh_slice in = kh_slice_cstr(s);
	long dash = kh_slice_find(in, '-');
	struct kh_slice lo = in, hi = in;
	uint64_t a, b;

	if (dash >= 0) {
		lo = kh_slice_make(in.ptr, (size_t)dash);
		hi = kh_slice_make(in.ptr + dash + 1, in.len - (size_t)dash - 1);
	}
	if (kh_slice_to_u64(lo, 65535, &a) != 0 || kh_slice_to_u64(hi, 65535, &b) != 0 || a == 0 ||
	    a > b)
		return -1;
	out->lo = (uint16_t)a;
	out->hi = (uint16_t)b;
	return 0;
}

int kh_port_pattern_normalize(const char *in, char out[KH_HOST_BUF + 2])
{
	if (strcmp(in, "*") == 0) {
		memcpy(out, "*", 2);
		return 0;
	}
	return kh_host_pattern_normalize(in, out);
}

static bool rule_has(const struct kh_port_rule *r, uint16_t port)
{
	for (size_t i = 0; i < r->n_ranges; i++)
		if (port >= r->ranges[i].lo && port <= r->ranges[i].hi)
			return true;
	return false;
}

bool kh_port_allowed(const struct kh_port_rule *rules, size_t n, const char *host, uint16_t port,
		     bool tls)
{
	if (port == kh_port_default(tls))
		return true;
	for (size_t i = 0; i < n; i++)
		if ((strcmp(rules[i].pattern, "*") == 0 || kh_host_match(rules[i].pattern, host)) &&
		    rule_has(&rules[i], port))
			return true;
	return false;
}
