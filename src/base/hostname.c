#include "base/hostname.h"

#include <arpa/inet.h>
#include <string.h>

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static bool valid_dns_name(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > KH_MAX_HOSTNAME)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (label == 0 || label > KH_MAX_LABEL)
				return false;
			if (s[i - 1] == '-' || s[i - label] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!name_char(s[i]))
			return false;
		label++;
	}
	return true;
}

/* True if the last label is all digits: such a name would be read as an
 * IPv4 address by some resolvers ("127.1", "0x7f.1", "2130706433"). */
static bool all_numeric_tail(const char *s, size_t len)
{
	size_t i = len;

	while (i > 0 && s[i - 1] != '.')
		i--;
	for (size_t k = i; k < len; k++)
		if (s[k] < '0' || s[k] > '9')
			return false;
	return true;
}

int kh_host_normalize(struct kh_slice in, char out[KH_HOST_BUF])
{
	unsigned char addr[16];
	size_t len = in.len;

	if (len > 0 && in.ptr[len - 1] == '.')
		len--; /* one trailing dot: "example.com." is "example.com" */
	if (len == 0 || len > KH_MAX_HOSTNAME)
		return -1;
	for (size_t i = 0; i < len; i++)
		out[i] = kh_ascii_lower(in.ptr[i]);
	out[len] = '\0';
	if (memchr(out, ':', len) != NULL) {
		if (inet_pton(AF_INET6, out, addr) != 1)
			return -1;
		inet_ntop(AF_INET6, addr, out, KH_HOST_BUF); /* canonical form */
		return KH_HOST_IPV6;
	}
	if (all_numeric_tail(out, len)) {
		/* Only a strict dotted quad is an address; "1.2.3" or "1.2.3.04" are refused
		 * rather than guessed at. */
		if (inet_pton(AF_INET, out, addr) != 1)
			return -1;
		inet_ntop(AF_INET, addr, out, KH_HOST_BUF);
		return strlen(out) == len ? KH_HOST_IPV4 : -1;
	}
	/* glibc's getaddrinfo reads "0x7f000001" or "0x7f.0.0.0x1" as 127.0.0.1
	 * (inet_aton): such a "name" is an address in disguise, so it is refused
	 * here rather than matched as a name and dialled as a number. */
	if (inet_aton(out, (struct in_addr *)addr) != 0)
		return -1;
	return valid_dns_name(out, len) ? KH_HOST_NAME : -1;
}

/* Splits an authority into host and optional port text ({NULL,0} when absent). */
static int split_authority(struct kh_slice in, struct kh_slice *host, struct kh_slice *port,
			   bool *bracketed)
{
	long i;

	*port = (struct kh_slice){ NULL, 0 };
	*bracketed = in.len > 0 && in.ptr[0] == '[';
	if (*bracketed) {
		i = kh_slice_find(in, ']');
		if (i < 0)
			return -1;
		*host = kh_slice_make(in.ptr + 1, (size_t)i - 1);
		if ((size_t)i + 1 == in.len)
			return 0;
		if (in.ptr[i + 1] != ':')
			return -1;
		*port = kh_slice_make(in.ptr + i + 2, in.len - (size_t)i - 2);
		return 0;
	}
	i = kh_slice_find(in, ':');
	if (i < 0) {
		*host = in;
		return 0;
	}
	*host = kh_slice_make(in.ptr, (size_t)i);
	*port = kh_slice_make(in.ptr + i + 1, in.len - (size_t)i - 1);
	return 0;
}

int kh_authority_parse(struct kh_slice in, uint16_t default_port, char host[KH_HOST_BUF],
		       uint16_t *port)
{
	struct kh_slice h, p;
	bool bracketed;
	uint64_t v;
	int kind;

	if (split_authority(in, &h, &p, &bracketed) != 0)
		return -1;
	kind = kh_host_normalize(h, host);
	if (kind < 0 || bracketed != (kind == KH_HOST_IPV6))
		return -1;
	if (p.ptr == NULL) {
		if (default_port == 0)
			return -1;
		*port = default_port;
		return kind;
	}
	/* An empty port ("host:") is refused along with anything non-numeric. */
	if (kh_slice_to_u64(p, 65535, &v) != 0 || v == 0)
		return -1;
	*port = (uint16_t)v;
	return kind;
}

int kh_host_pattern_normalize(const char *in, char out[KH_HOST_BUF + 2])
{
	struct kh_slice s = kh_slice_cstr(in);
	bool wild = s.len > 2 && s.ptr[0] == '*' && s.ptr[1] == '.';
	int kind;

	if (wild)
		s = kh_slice_make(s.ptr + 2, s.len - 2);
	kind = kh_host_normalize(s, out + (wild ? 2 : 0));
	if (kind < 0 || (wild && kind != KH_HOST_NAME))
		return -1;
	if (wild)
		memcpy(out, "*.", 2);
	return 0;
}

bool kh_host_match(const char *pattern, const char *host)
{
	size_t pl, hl;

	if (pattern[0] != '*')
		return strcmp(pattern, host) == 0;
	/* "*.example.com": host must end in ".example.com" with at least one
	 * more label in front; "example.com" itself does not match. */
	pl = strlen(pattern + 1); /* ".example.com" */
	hl = strlen(host);
	return hl > pl && strcmp(host + hl - pl, pattern + 1) == 0;
}
