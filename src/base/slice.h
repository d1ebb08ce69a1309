/* Non-owning string slices. Parsers hand out {ptr,len} views into the buffer
 * they parsed instead of copying, so a slice is only valid while its buffer
 * is unchanged. Nothing here needs or adds a NUL terminator. */
#ifndef KH_SLICE_H
#define KH_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kh_slice {
	const char *ptr;
	size_t len;
};

#define KH_SLICE_LIT(s) ((struct kh_slice){ (s), sizeof(s) - 1 })

struct kh_slice kh_slice_cstr(const char *s);
struct kh_slice kh_slice_make(const void *p, size_t len);

bool kh_slice_eq(struct kh_slice a, struct kh_slice b);
bool kh_slice_eq_cstr(struct kh_slice a, const char *s);
/* ASCII case-insensitive comparison (header names, hostnames). */
bool kh_slice_eq_nocase(struct kh_slice a, struct kh_slice b);
bool kh_slice_eq_cstr_nocase(struct kh_slice a, const char *s);
bool kh_slice_starts_with_nocase(struct kh_slice a, const char *prefix);
bool kh_slice_ends_with_nocase(struct kh_slice a, struct kh_slice suffix);

/* Strips spaces and horizontal tabs (HTTP optional whitespace) at both ends. */
struct kh_slice kh_slice_trim_ows(struct kh_slice s);

/* Index of the first c, or -1. */
long kh_slice_find(struct kh_slice s, char c);

/* Splits s at the first c: *head gets what precedes it, s what follows.
 * Returns false (head = whole s, s emptied) when c is absent. */
bool kh_slice_split(struct kh_slice *s, char c, struct kh_slice *head);

/* Strict unsigned decimal: digits only, no sign, no space, no overflow past
 * max. Returns 0 / -1. */
int kh_slice_to_u64(struct kh_slice s, uint64_t max, uint64_t *out);

/* Strict unsigned hexadecimal, same rules. */
int kh_slice_hex_to_u64(struct kh_slice s, uint64_t max, uint64_t *out);

/* Copies into a NUL-terminated buffer; -1 if it does not fit or s holds a NUL. */
int kh_slice_to_cstr(struct kh_slice s, char *dst, size_t dstlen);

/* Whole-string strict decimal parse for C strings (argv, config). */
int kh_parse_u64(const char *s, uint64_t max, uint64_t *out);

static inline char kh_ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

#endif
