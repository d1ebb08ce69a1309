/* Host, authority and allowlist-pattern normalization, and matching. The
 * input is used whole as a host, an authority and a pattern; then split at
 * the first '\n' into pattern and host for matching. Checked: normalizing is
 * idempotent, outputs use only [a-z0-9._:-], "*.x" never matches "x" itself
 * nor "<label>x" without the dot, and does match "<label>.x"; a name is never
 * a number to inet_aton (which getaddrinfo uses), an IPv4 host is the dotted
 * quad inet_aton reads. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hostname.h"
#include "fuzz_check.h"

#define PAT_BUF (KH_HOST_BUF + 2)

static bool clean(const char *s)
{
	CHECK(strlen(s) <= KH_MAX_HOSTNAME);
	return s[0] != '\0' && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-:") == strlen(s);
}

/* A normalized host normalizes to itself, with the same kind. */
static void check_host(struct kh_slice in)
{
	char out[KH_HOST_BUF], again[KH_HOST_BUF];
	int kind = kh_host_normalize(in, out);
	struct in_addr a4;

	if (kind < 0)
		return;
	CHECK(kind == KH_HOST_NAME || kind == KH_HOST_IPV4 || kind == KH_HOST_IPV6);
	CHECK(clean(out));
	CHECK(kh_host_normalize(kh_slice_cstr(out), again) == kind && strcmp(out, again) == 0);
	CHECK(kh_host_match(out, out));
	/* A name is never something a resolver reads as a number ("0x7f.1"). */
	CHECK(kind != KH_HOST_NAME || inet_aton(out, &a4) == 0);
	/* An IPv4 address is the dotted quad inet_aton reads it as. */
	CHECK(kind != KH_HOST_IPV4 ||
	      (inet_aton(out, &a4) == 1 && strcmp(inet_ntoa(a4), out) == 0));
}

static void check_authority(struct kh_slice in, uint16_t default_port)
{
	char host[KH_HOST_BUF], again[KH_HOST_BUF];
	uint16_t port = 0;
	int kind = kh_authority_parse(in, default_port, host, &port);

	if (kind < 0)
		return;
	CHECK(clean(host) && port != 0);
	CHECK(kh_host_normalize(kh_slice_cstr(host), again) == kind && strcmp(host, again) == 0);
	/* Only IPv6 literals have a ':' and they must have been bracketed. */
	CHECK((strchr(host, ':') != NULL) == (kind == KH_HOST_IPV6));
	CHECK(kind != KH_HOST_IPV6 || (in.len > 0 && in.ptr[0] == '['));
}

static void check_pattern(const char *in)
{
	char out[PAT_BUF], again[PAT_BUF];

	if (kh_host_pattern_normalize(in, out) != 0)
		return;
	CHECK(kh_host_pattern_normalize(out, again) == 0 && strcmp(out, again) == 0);
	CHECK(clean(out[0] == '*' ? out + 2 : out));
	CHECK(out[0] != '*' || out[1] == '.');
}

/* "*.x" against x, "ax" and "a.x" for a normalized name x. */
static void check_wildcard(const char *x)
{
	char pat[PAT_BUF], sub[KH_HOST_BUF + 2];

	if (strlen(x) + 2 >= sizeof pat)
		return;
	snprintf(pat, sizeof pat, "*.%s", x);
	CHECK(!kh_host_match(pat, x));
	snprintf(sub, sizeof sub, "a%s", x);
	CHECK(!kh_host_match(pat, sub));
	snprintf(sub, sizeof sub, "a.%s", x);
	CHECK(kh_host_match(pat, sub));
}

static void check_match(const char *pat_in, struct kh_slice host_in)
{
	char pat[PAT_BUF], host[KH_HOST_BUF];

	if (kh_host_pattern_normalize(pat_in, pat) != 0 || kh_host_normalize(host_in, host) < 0)
		return;
	if (pat[0] != '*') {
		CHECK(kh_host_match(pat, host) == (strcmp(pat, host) == 0));
		return;
	}
	CHECK(!kh_host_match(pat, pat + 2));
	if (kh_host_match(pat, host)) {
		size_t hl = strlen(host), dl = strlen(pat + 1);

		CHECK(hl > dl && strcmp(host + hl - dl, pat + 1) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kh_slice all = kh_slice_make(data, size);
	char *copy = malloc(size + 1), name[KH_HOST_BUF];
	const uint8_t *nl = memchr(data, '\n', size);

	CHECK(copy != NULL);
	memcpy(copy, data, size);
	copy[size] = '\0';
	check_host(all);
	check_authority(all, 443);
	check_authority(all, 0);
	check_pattern(copy);
	if (kh_host_normalize(all, name) == KH_HOST_NAME)
		check_wildcard(name);
	if (nl != NULL) {
		copy[nl - data] = '\0';
		check_match(copy, kh_slice_make(nl + 1, size - (size_t)(nl - data) - 1));
	}
	free(copy);
	return 0;
}
