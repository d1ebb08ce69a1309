#include "base/jsonl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void kh_json_init(struct kh_json *j, char *buf, size_t cap)
{
	memset(j, 0, sizeof *j);
	j->buf = buf;
	j->cap = cap;
	j->first[0] = true;
}

static void put(struct kh_json *j, const char *p, size_t n)
{
	/* Keep one byte for the NUL written by kh_json_finish_line(). */
	if (j->overflow || n > j->cap - 1 - j->len) {
		j->overflow = true;
		return;
	}
	memcpy(j->buf + j->len, p, n);
	j->len += n;
}

static void putc_(struct kh_json *j, char c)
{
	put(j, &c, 1);
}

/* Writes the comma that separates this value from the previous sibling. */
static void before_value(struct kh_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (!j->first[j->depth])
		putc_(j, ',');
	j->first[j->depth] = false;
}

static void open_(struct kh_json *j, char c)
{
	before_value(j);
	putc_(j, c);
	if (j->depth + 1 >= KH_JSON_MAX_DEPTH) {
		j->overflow = true;
		return;
	}
	j->depth++;
	j->first[j->depth] = true;
}

static void close_(struct kh_json *j, char c)
{
	if (j->depth == 0) {
		j->overflow = true;
		return;
	}
	j->depth--;
	putc_(j, c);
}

void kh_json_begin_object(struct kh_json *j)
{
	open_(j, '{');
}
void kh_json_end_object(struct kh_json *j)
{
	close_(j, '}');
}
void kh_json_begin_array(struct kh_json *j)
{
	open_(j, '[');
}
void kh_json_end_array(struct kh_json *j)
{
	close_(j, ']');
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 if it is not valid. */
static size_t utf8_len(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t need;
	uint32_t v, min;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 2, v = s[0] & 0x1f, min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 3, v = s[0] & 0x0f, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 4, v = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return need;
}

size_t kh_utf8_repair(char *s)
{
	size_t n = strlen(s), bad = 0, take;
	unsigned char *u = (unsigned char *)s;
	uint32_t cp;

	for (size_t i = 0; i < n; i += take) {
		take = 1;
		if (u[i] < 0x80)
			continue;
		if ((take = utf8_len(u + i, n - i, &cp)) == 0) {
			u[i] = '?';
			take = 1;
			bad++;
		}
	}
	return bad;
}

/* Escape for one ASCII byte, or NULL if it is written as itself. */
static const char *ascii_escape(unsigned char c, char tmp[8])
{
	switch (c) {
	case '"':
		return "\\\"";
	case '\\':
		return "\\\\";
	case '\b':
		return "\\b";
	case '\f':
		return "\\f";
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	default:
		break;
	}
	if (c < 0x20 || c == 0x7f) {
		snprintf(tmp, 8, "\\u%04x", c);
		return tmp;
	}
	return NULL;
}

ssize_t kh_json_escape(char *dst, size_t dstlen, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t out = 0;
	size_t i = 0;

	while (i < n) {
		char tmp[8];
		const char *rep = NULL;
		size_t take = 1, replen;
		uint32_t cp = 0;

		if (u[i] < 0x80) {
			rep = ascii_escape(u[i], tmp);
		} else if ((take = utf8_len(u + i, n - i, &cp)) == 0) {
			rep = "\\ufffd";
			take = 1;
		} else if (cp == 0x2028 || cp == 0x2029) {
			rep = cp == 0x2028 ? "\\u2028" : "\\u2029";
		}
		replen = rep ? strlen(rep) : take;
		if (replen > dstlen - out)
			return -1;
		memcpy(dst + out, rep ? rep : (const char *)u + i, replen);
		out += replen;
		i += take;
	}
	return (ssize_t)out;
}

void kh_json_string(struct kh_json *j, const char *s, size_t n)
{
	ssize_t w;

	before_value(j);
	putc_(j, '"');
	if (j->overflow)
		return;
	w = kh_json_escape(j->buf + j->len, j->cap - 1 - j->len, s, n);
	if (w < 0) {
		j->overflow = true;
		return;
	}
	j->len += (size_t)w;
	putc_(j, '"');
}

void kh_json_cstring(struct kh_json *j, const char *s)
{
	if (s == NULL)
		kh_json_null(j);
	else
		kh_json_string(j, s, strlen(s));
}

void kh_json_key(struct kh_json *j, const char *key)
{
	kh_json_cstring(j, key);
	putc_(j, ':');
	j->after_key = true;
}

static void raw_value(struct kh_json *j, const char *s)
{
	before_value(j);
	put(j, s, strlen(s));
}

void kh_json_int(struct kh_json *j, int64_t v)
{
	char tmp[24];

	snprintf(tmp, sizeof tmp, "%" PRId64, v);
	raw_value(j, tmp);
}

void kh_json_uint(struct kh_json *j, uint64_t v)
{
	char tmp[24];

	snprintf(tmp, sizeof tmp, "%" PRIu64, v);
	raw_value(j, tmp);
}

void kh_json_milli(struct kh_json *j, uint64_t v)
{
	char tmp[32];

	snprintf(tmp, sizeof tmp, "%" PRIu64 ".%03u", v / 1000, (unsigned)(v % 1000));
	raw_value(j, tmp);
}

void kh_json_bool(struct kh_json *j, bool v)
{
	raw_value(j, v ? "true" : "false");
}
void kh_json_null(struct kh_json *j)
{
	raw_value(j, "null");
}

void kh_json_kv_str(struct kh_json *j, const char *key, const char *s, size_t n)
{
	kh_json_key(j, key);
	kh_json_string(j, s, n);
}

void kh_json_kv_cstr(struct kh_json *j, const char *key, const char *s)
{
	kh_json_key(j, key);
	kh_json_cstring(j, s);
}

void kh_json_kv_int(struct kh_json *j, const char *key, int64_t v)
{
	kh_json_key(j, key);
	kh_json_int(j, v);
}

void kh_json_kv_uint(struct kh_json *j, const char *key, uint64_t v)
{
	kh_json_key(j, key);
	kh_json_uint(j, v);
}

void kh_json_kv_bool(struct kh_json *j, const char *key, bool v)
{
	kh_json_key(j, key);
	kh_json_bool(j, v);
}

ssize_t kh_json_finish_line(struct kh_json *j)
{
	if (j->depth != 0 || j->after_key)
		j->overflow = true;
	putc_(j, '\n');
	if (j->overflow)
		return -1;
	j->buf[j->len] = '\0';
	return (ssize_t)j->len;
}
