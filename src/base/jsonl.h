/* A small JSON writer for one-object-per-line records (audit.log, --json
 * output). It writes into a caller-owned fixed buffer and never allocates.
 * Strings are escaped for hostile bytes: control characters and DEL become
 * \u00XX, invalid UTF-8 becomes U+FFFD, and U+2028/U+2029 are escaped, so a
 * record is always exactly one line of valid JSON whatever a client sent. */
#ifndef KH_JSONL_H
#define KH_JSONL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/kh_limits.h"

struct kh_json {
	char *buf;
	size_t cap;
	size_t len;
	bool overflow;
	unsigned depth;
	bool first[KH_JSON_MAX_DEPTH]; /* next value at this depth is the first */
	bool after_key;
};

void kh_json_init(struct kh_json *j, char *buf, size_t cap);

void kh_json_begin_object(struct kh_json *j);
void kh_json_end_object(struct kh_json *j);
void kh_json_begin_array(struct kh_json *j);
void kh_json_end_array(struct kh_json *j);
void kh_json_key(struct kh_json *j, const char *key);

void kh_json_string(struct kh_json *j, const char *s, size_t n);
void kh_json_cstring(struct kh_json *j, const char *s); /* NULL writes null */
void kh_json_int(struct kh_json *j, int64_t v);
void kh_json_uint(struct kh_json *j, uint64_t v);
/* v / 1000 with three decimals, e.g. 12345 -> 12.345 (no floating point). */
void kh_json_milli(struct kh_json *j, uint64_t v);
void kh_json_bool(struct kh_json *j, bool v);
void kh_json_null(struct kh_json *j);

/* key + value shorthands for flat records. */
void kh_json_kv_str(struct kh_json *j, const char *key, const char *s, size_t n);
void kh_json_kv_cstr(struct kh_json *j, const char *key, const char *s);
void kh_json_kv_int(struct kh_json *j, const char *key, int64_t v);
void kh_json_kv_uint(struct kh_json *j, const char *key, uint64_t v);
void kh_json_kv_bool(struct kh_json *j, const char *key, bool v);

/* Terminates the record with '\n' (and a NUL after it, not counted).
 * Returns the record length, or -1 if it did not fit or was left unbalanced. */
ssize_t kh_json_finish_line(struct kh_json *j);

/* Escapes n bytes of s as the inside of a JSON string into dst (without
 * quotes). Returns the escaped length, or -1 if dstlen is too small. */
ssize_t kh_json_escape(char *dst, size_t dstlen, const char *s, size_t n);

/* Replaces, in place, every byte of the NUL-terminated s that is not part
 * of a valid UTF-8 sequence with '?', so s can go into a JSON string (for
 * jansson, which refuses invalid UTF-8) even after a printf precision cut
 * a character in two. Returns how many bytes it replaced. */
size_t kh_utf8_repair(char *s);

#endif
