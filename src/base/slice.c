#include "base/slice.h"

#include <string.h>

struct kh_slice kh_slice_cstr(const char *s)
{
	return (struct kh_slice){ s, strlen(s) };
}

struct kh_slice kh_slice_make(const void *p, size_t len)
{
	return (struct kh_slice){ (const char *)p, len };
}

bool kh_slice_eq(struct kh_slice a, struct kh_slice b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool kh_slice_eq_cstr(struct kh_slice a, const char *s)
{
	return kh_slice_eq(a, kh_slice_cstr(s));
}

bool kh_slice_eq_nocase(struct kh_slice a, struct kh_slice b)
{
	if (a.len != b.len)
		return false;
	for (size_t i = 0; i < a.len; i++)
		if (kh_ascii_lower(a.ptr[i]) != kh_ascii_lower(b.ptr[i]))
			return false;
	return true;
}

bool kh_slice_eq_cstr_nocase(struct kh_slice a, const char *s)
{
	return kh_slice_eq_nocase(a, kh_slice_cstr(s));
}

bool kh_slice_starts_with_nocase(struct kh_slice a, const char *prefix)
{
	size_t n = strlen(prefix);

	return a.len >= n && kh_slice_eq_nocase(kh_slice_make(a.ptr, n), kh_slice_make(prefix, n));
}

bool kh_slice_ends_with_nocase(struct kh_slice a, struct kh_slice suffix)
{
	return a.len >= suffix.len &&
	       kh_slice_eq_nocase(kh_slice_make(a.ptr + a.len - suffix.len, suffix.len), suffix);
}

struct kh_slice kh_slice_trim_ows(struct kh_slice s)
{
	while (s.len > 0 && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
		s.ptr++;
		s.len--;
	}
	while (s.len > 0 && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
		s.len--;
	return s;
}

long kh_slice_find(struct kh_slice s, char c)
{
	const char *p = s.len ? memchr(s.ptr, c, s.len) : NULL;

	return p ? (long)(p - s.ptr) : -1;
}

bool kh_slice_split(struct kh_slice *s, char c, struct kh_slice *head)
{
	long i = kh_slice_find(*s, c);

	if (i < 0) {
		*head = *s;
		s->ptr += s->len;
		s->len = 0;
		return false;
	}
	*head = kh_slice_make(s->ptr, (size_t)i);
	s->ptr += i + 1;
	s->len -= (size_t)i + 1;
	return true;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = kh_ascii_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int parse_base(struct kh_slice s, unsigned base, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (s.len == 0)
		return -1;
	for (size_t i = 0; i < s.len; i++) {
		int d = base == 16 ? hex_value(s.ptr[i])
				   : (s.ptr[i] >= '0' && s.ptr[i] <= '9' ? s.ptr[i] - '0' : -1);

		if (d < 0 || (uint64_t)d > max)
			return -1;
		if (v > (max - (uint64_t)d) / base)
			return -1;
		v = v * base + (uint64_t)d;
	}
	*out = v;
	return 0;
}

int kh_slice_to_u64(struct kh_slice s, uint64_t max, uint64_t *out)
{
	return parse_base(s, 10, max, out);
}

int kh_slice_hex_to_u64(struct kh_slice s, uint64_t max, uint64_t *out)
{
	return parse_base(s, 16, max, out);
}

int kh_slice_to_cstr(struct kh_slice s, char *dst, size_t dstlen)
{
	if (s.len >= dstlen || (s.len && memchr(s.ptr, '\0', s.len) != NULL))
		return -1;
	if (s.len)
		memcpy(dst, s.ptr, s.len);
	dst[s.len] = '\0';
	return 0;
}

int kh_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	return kh_slice_to_u64(kh_slice_cstr(s), max, out);
}
