/* The JSON-lines writer on hostile bytes.
 * 1. kh_json_escape of the whole input: wrapped in quotes it must be valid
 *    JSON (jansson, strict) with no raw control byte, DEL, U+2028/U+2029,
 *    and must decode back to the input when the input is valid UTF-8.
 * 2. A record built with kh_json_* from a small program in the input (only
 *    well-formed call sequences: the writer does not police its caller),
 *    into a buffer whose size the input picks: kh_json_finish_line either
 *    fails or gives exactly one line of valid JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/jsonl.h"
#include "fuzz_check.h"

/* Integers above INT64_MAX are valid JSON but too big for json_int_t. */
#define JFLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL)

/* No raw byte a terminal or a line-based reader would act on. */
static void check_clean(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
	CHECK(memmem(s, n, "\xe2\x80\xa8", 3) == NULL && memmem(s, n, "\xe2\x80\xa9", 3) == NULL);
}

static void check_escape(const uint8_t *data, size_t size)
{
	size_t cap = size * 6 + 2;
	char *buf = malloc(cap + 1);
	ssize_t n;
	json_t *v, *want;
	json_error_t jerr;

	CHECK(buf != NULL);
	buf[0] = '"';
	n = kh_json_escape(buf + 1, cap - 1, (const char *)data, size);
	CHECK(n >= 0 && (size_t)n <= size * 6);
	/* One byte short of what it needs, it must refuse rather than truncate. */
	CHECK(n == 0 || kh_json_escape(buf + 1, (size_t)n - 1, (const char *)data, size) == -1);
	buf[n + 1] = '"';
	check_clean(buf, (size_t)n + 2);
	v = json_loadb(buf, (size_t)n + 2, JFLAGS, &jerr);
	if (v == NULL)
		fprintf(stderr, "jansson: %s\n", jerr.text);
	CHECK(json_is_string(v));
	want = json_stringn((const char *)data, size); /* NULL unless valid UTF-8 */
	if (want != NULL)
		CHECK(json_equal(v, want));
	json_decref(want);
	json_decref(v);
	free(buf);
}

/* --- record programs --- */

struct prog {
	const uint8_t *p;
	size_t n;
	bool in_obj[KH_JSON_MAX_DEPTH + 8]; /* container kind per level */
	bool want_key; /* inside an object, a key comes next */
	unsigned depth;
};

static uint8_t next_byte(struct prog *g)
{
	uint8_t b = g->n ? g->p[0] : 0;

	if (g->n) {
		g->p++;
		g->n--;
	}
	return b;
}

/* A length-prefixed byte string from the program. */
static const char *next_str(struct prog *g, size_t *len)
{
	const char *s = (const char *)g->p;

	*len = next_byte(g) % 64;
	s = (const char *)g->p;
	if (*len > g->n)
		*len = g->n;
	g->p += *len;
	g->n -= *len;
	return s;
}

static uint64_t next_u64(struct prog *g)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | next_byte(g);
	return v;
}

static void open_container(struct kh_json *j, struct prog *g, bool obj)
{
	(obj ? kh_json_begin_object : kh_json_begin_array)(j);
	g->in_obj[++g->depth] = obj;
	g->want_key = obj;
}

static void close_container(struct kh_json *j, struct prog *g)
{
	if (g->in_obj[g->depth] && !g->want_key)
		kh_json_null(j); /* the key written last needs a value */
	(g->in_obj[g->depth] ? kh_json_end_object : kh_json_end_array)(j);
	g->depth--;
	g->want_key = g->depth > 0 && g->in_obj[g->depth];
}

static void scalar(struct kh_json *j, struct prog *g, uint8_t op)
{
	char key[64];
	const char *s;
	size_t len;

	switch (op % 6) {
	case 0:
		s = next_str(g, &len);
		kh_json_string(j, s, len);
		break;
	case 1:
		kh_json_int(j, (int64_t)next_u64(g));
		break;
	case 2:
		kh_json_uint(j, next_u64(g));
		break;
	case 3:
		kh_json_milli(j, next_u64(g));
		break;
	case 4:
		kh_json_bool(j, op & 0x80);
		break;
	default:
		s = next_str(g, &len);
		snprintf(key, sizeof key, "%.*s", (int)len, s); /* a C string: stops at NUL */
		kh_json_cstring(j, op & 0x80 ? NULL : key);
		break;
	}
}

/* One step; false once the top-level value is complete. */
static bool step(struct kh_json *j, struct prog *g)
{
	uint8_t op = next_byte(g);
	char key[64];
	const char *s;
	size_t len;

	if (g->depth > 0 && op % 8 == 7) {
		close_container(j, g);
		return g->depth > 0;
	}
	if (g->want_key) {
		s = next_str(g, &len);
		snprintf(key, sizeof key, "%.*s", (int)len, s);
		kh_json_key(j, key);
		g->want_key = false;
		return true;
	}
	if (op % 8 == 5 || op % 8 == 6) {
		if (g->depth + 1 >= sizeof g->in_obj)
			return false;
		open_container(j, g, op % 8 == 5);
		return true;
	}
	scalar(j, g, op);
	g->want_key = g->depth > 0 && g->in_obj[g->depth];
	return g->depth > 0;
}

static void check_record(const uint8_t *data, size_t size)
{
	size_t cap = 8 + (size_t)data[0] * 8;
	char *buf = malloc(cap);
	struct prog g = { .p = data + 1, .n = size - 1 };
	struct kh_json j;
	ssize_t n;
	json_error_t jerr;
	json_t *v;

	CHECK(buf != NULL);
	kh_json_init(&j, buf, cap);
	while (g.n > 0 && step(&j, &g))
		;
	while (g.depth > 0)
		close_container(&j, &g);
	if (j.len == 0)
		kh_json_null(&j); /* empty program: still one value */
	n = kh_json_finish_line(&j);
	if (n >= 0) {
		CHECK((size_t)n < cap && buf[n] == '\0' && n >= 1 && buf[n - 1] == '\n');
		check_clean(buf, (size_t)n - 1);
		v = json_loadb(buf, (size_t)n - 1, JFLAGS, &jerr);
		if (v == NULL)
			fprintf(stderr, "jansson: %s in %.*s\n", jerr.text, (int)n, buf);
		CHECK(v != NULL);
		json_decref(v);
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_escape(data, size);
	if (size > 0)
		check_record(data, size);
	return 0;
}
