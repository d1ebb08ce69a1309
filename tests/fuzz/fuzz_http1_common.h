/* What the request and response head harnesses share: the check that a head
 * scanned in steps gets the same verdict as in one shot, and the naive
 * line-by-line reading of a raw head that their framing checks compare the
 * parser against. Each harness keeps its own invariants; these only walk. */
#ifndef KH_FUZZ_HTTP1_COMMON_H
#define KH_FUZZ_HTTP1_COMMON_H

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "http/http1.h"
#include "fuzz_check.h"

/* Feeds data as a buffer growing by step bytes; the first verdict wins. With
 * check_scan, the resume offset must stay inside the buffer while undecided. */
static inline ssize_t scan_in_steps(const uint8_t *data, size_t size, size_t step, size_t max_head,
				    bool check_scan, struct kh_http_error *err)
{
	size_t scan = 0, len = 0;
	ssize_t n = 0;

	while (n == 0 && len < size) {
		len = size - len < step ? size : len + step;
		n = kh_http_scan_head(data, len, &scan, max_head, err);
		if (check_scan)
			CHECK(n != 0 || scan <= len);
	}
	return n;
}

static inline bool in_range(const uint8_t *base, size_t len, struct kh_slice s)
{
	return (const uint8_t *)s.ptr >= base && (const uint8_t *)s.ptr + s.len <= base + len;
}

static inline bool name_is(const uint8_t *line, size_t colon, const char *name)
{
	return colon == strlen(name) && strncasecmp((const char *)line, name, colon) == 0;
}

/* name_is, reading '_' as '-' (how CGI, WSGI and nginx with
 * underscores_in_headers see a name). */
static inline bool name_is_underscored(const uint8_t *line, size_t colon, const char *name)
{
	if (colon != strlen(name) || memchr(line, '_', colon) == NULL)
		return false;
	for (size_t i = 0; i < colon; i++) {
		int c = line[i] == '_' ? '-' : line[i];

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != name[i])
			return false;
	}
	return true;
}

/* One field line of a raw head: colon is where its first ':' is (len if none). */
struct raw_line {
	const uint8_t *line;
	size_t len, colon;
};

/* The next field line of a head that ends in CRLF CRLF, from *pos (0 at the
 * start: the start line is skipped, as is the empty line that ends the head);
 * false after the last. */
static inline bool next_field_line(const uint8_t *p, size_t head_len, size_t *pos,
				   struct raw_line *l)
{
	while (*pos + 2 <= head_len) {
		const uint8_t *line = p + *pos;
		const uint8_t *crlf = memmem(line, head_len - *pos, "\r\n", 2);
		size_t len = (size_t)(crlf - line);
		bool first = *pos == 0;

		*pos += len + 2;
		if (first || len == 0)
			continue;
		l->line = line;
		l->len = len;
		l->colon = 0;
		while (l->colon < len && line[l->colon] != ':')
			l->colon++;
		return true;
	}
	return false;
}

#endif
