#include "http/http1.h"

#include <string.h>

#include "base/hostname.h"
#include "base/kh_limits.h"

/* Content-Length values above this are refused: no real body is 4 EiB, and it
 * keeps every arithmetic on lengths far from overflow. */
#define MAX_CONTENT_LENGTH (UINT64_C(1) << 62)

static int fail(struct kh_http_error *err, int status, const char *why)
{
	err->status = status;
	err->why = why;
	err->reason = NULL;
	return -1;
}

bool kh_http_is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field value bytes: visible ASCII, SP, HTAB and obs-text; no other CTL. */
static bool is_field_byte(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

ssize_t kh_http_scan_head(const uint8_t *p, size_t len, size_t *scan, size_t max_head,
			  struct kh_http_error *err)
{
	size_t i;

	for (i = *scan; i < len; i++) {
		if (i >= max_head) {
			fail(err, 431, "request head too large");
			return -1;
		}
		if (p[i] == '\0') {
			fail(err, 400, "NUL byte in message head");
			return -1;
		}
		if (p[i] == '\r') {
			if (i + 1 == len)
				break; /* decide when the next byte arrives */
			if (p[i + 1] != '\n') {
				fail(err, 400, "bare CR in message head");
				return -1;
			}
		} else if (p[i] == '\n') {
			if (i == 0 || p[i - 1] != '\r') {
				fail(err, 400, "bare LF in message head");
				return -1;
			}
			if (i >= 3 && p[i - 2] == '\n' && p[i - 3] == '\r')
				return (ssize_t)(i + 1);
		}
	}
	*scan = i;
	return 0;
}

size_t kh_http_skip_leading_crlf(const uint8_t *p, size_t len)
{
	size_t n = 0;

	while (n < 8 && n + 1 < len && p[n] == '\r' && p[n + 1] == '\n')
		n += 2;
	return n;
}

/* Next CRLF-terminated line of the head starting at *pos. */
static struct kh_slice next_line(const uint8_t *p, size_t end, size_t *pos)
{
	size_t start = *pos, i = start;

	while (i + 1 < end && !(p[i] == '\r' && p[i + 1] == '\n'))
		i++;
	*pos = i + 2;
	return kh_slice_make(p + start, i - start);
}

static int parse_version(struct kh_slice v, unsigned *minor, struct kh_http_error *err)
{
	if (v.len == 8 && memcmp(v.ptr, "HTTP/1.", 7) == 0 &&
	    (v.ptr[7] == '1' || v.ptr[7] == '0')) {
		*minor = (unsigned)(v.ptr[7] - '0');
		return 0;
	}
	if (v.len == 8 && memcmp(v.ptr, "HTTP/", 5) == 0 && v.ptr[5] >= '0' && v.ptr[5] <= '9' &&
	    v.ptr[6] == '.' && v.ptr[7] >= '0' && v.ptr[7] <= '9')
		return fail(err, 505, "HTTP version not supported");
	return fail(err, 400, "malformed HTTP version");
}

static int parse_request_line(struct kh_slice line, struct kh_http_head *out,
			      struct kh_http_error *err)
{
	size_t i = 0;

	while (i < line.len && kh_http_is_tchar((unsigned char)line.ptr[i]))
		i++;
	if (i == 0 || i == line.len || line.ptr[i] != ' ')
		return fail(err, 400, "malformed request line");
	out->method = kh_slice_make(line.ptr, i);
	size_t t = ++i;
	while (i < line.len && (unsigned char)line.ptr[i] > 0x20 &&
	       (unsigned char)line.ptr[i] < 0x7f)
		i++;
	if (i == t || i == line.len || line.ptr[i] != ' ')
		return fail(err, 400, "malformed request target");
	out->target = kh_slice_make(line.ptr + t, i - t);
	i++;
	return parse_version(kh_slice_make(line.ptr + i, line.len - i), &out->version_minor, err);
}

static int parse_status_line(struct kh_slice line, struct kh_http_head *out,
			     struct kh_http_error *err)
{
	const char *s = line.ptr;

	if (line.len < 12 || s[8] != ' ')
		return fail(err, 502, "malformed status line");
	if (parse_version(kh_slice_make(s, 8), &out->version_minor, err) != 0)
		return fail(err, 502, "malformed status line");
	if (s[9] < '1' || s[9] > '5' || s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9')
		return fail(err, 502, "malformed status code");
	out->status = (unsigned)((s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0'));
	if (line.len > 12 && s[12] != ' ')
		return fail(err, 502, "malformed status line");
	out->reason = line.len > 13 ? kh_slice_make(s + 13, line.len - 13) : kh_slice_make(s, 0);
	for (size_t i = 0; i < out->reason.len; i++)
		if (!is_field_byte((unsigned char)out->reason.ptr[i]))
			return fail(err, 502, "control character in reason phrase");
	return 0;
}

static int parse_field(struct kh_slice line, struct kh_http_header *h, int bad_status,
		       struct kh_http_error *err)
{
	size_t i = 0;

	if (line.len > 0 && (line.ptr[0] == ' ' || line.ptr[0] == '\t'))
		return fail(err, bad_status, "obsolete line folding in header");
	while (i < line.len && kh_http_is_tchar((unsigned char)line.ptr[i]))
		i++;
	if (i < line.len && (line.ptr[i] == ' ' || line.ptr[i] == '\t'))
		return fail(err, bad_status, "whitespace between header name and colon");
	if (i == 0 || i == line.len || line.ptr[i] != ':')
		return fail(err, bad_status, "malformed header field name");
	h->name = kh_slice_make(line.ptr, i);
	h->value = kh_slice_trim_ows(kh_slice_make(line.ptr + i + 1, line.len - i - 1));
	for (size_t k = 0; k < h->value.len; k++)
		if (!is_field_byte((unsigned char)h->value.ptr[k]))
			return fail(err, bad_status, "control character in header value");
	return 0;
}

static int parse_fields(const uint8_t *p, size_t head_len, size_t pos,
			const struct kh_http_limits *lim, struct kh_http_head *out, int bad_status,
			struct kh_http_error *err)
{
	size_t end = head_len - 2; /* the final empty line */

	out->n_headers = 0;
	while (pos < end) {
		struct kh_slice line = next_line(p, end + 2, &pos);

		if (out->n_headers == lim->max_headers)
			return fail(err, bad_status == 400 ? 431 : 502, "too many header fields");
		if (parse_field(line, &out->headers[out->n_headers], bad_status, err) != 0)
			return -1;
		out->n_headers++;
	}
	return 0;
}

bool kh_http_list_next(struct kh_slice *list, struct kh_slice *elem)
{
	while (list->len > 0) {
		kh_slice_split(list, ',', elem);
		*elem = kh_slice_trim_ows(*elem);
		if (elem->len > 0)
			return true;
	}
	return false;
}

/* Connection tokens and the Upgrade/Expect/Host fields every message shares. */
struct framing_seen {
	bool cl, te, te_chunked_last, te_chunked_early, close, ka;
	uint64_t cl_value;
};

static void scan_connection(struct kh_slice v, struct framing_seen *f, struct kh_http_head *out)
{
	struct kh_slice tok;

	while (kh_http_list_next(&v, &tok)) {
		if (kh_slice_eq_cstr_nocase(tok, "close"))
			f->close = true;
		else if (kh_slice_eq_cstr_nocase(tok, "keep-alive"))
			f->ka = true;
		else if (kh_slice_eq_cstr_nocase(tok, "upgrade"))
			out->conn_upgrade = true;
	}
}

static int scan_content_length(struct kh_slice v, bool request, struct framing_seen *f,
			       struct kh_http_error *err)
{
	uint64_t n;

	if (kh_slice_to_u64(v, MAX_CONTENT_LENGTH, &n) != 0)
		return fail(err, request ? 400 : 502, "invalid Content-Length");
	/* Requests: any repeat is refused. Responses: identical repeats are
	 * tolerated (some servers emit them), differing ones are not. */
	if (f->cl && (request || n != f->cl_value))
		return fail(err, request ? 400 : 502, "repeated Content-Length");
	f->cl = true;
	f->cl_value = n;
	return 0;
}

static int scan_transfer_encoding(struct kh_slice v, bool request, struct framing_seen *f,
				  struct kh_http_error *err)
{
	struct kh_slice tok;

	if (request) {
		if (f->te)
			return fail(err, 400, "repeated Transfer-Encoding");
		if (!kh_slice_eq_cstr_nocase(v, "chunked"))
			return fail(err, 400, "unsupported Transfer-Encoding (only chunked)");
		f->te = true;
		f->te_chunked_last = true;
		return 0;
	}
	f->te = true;
	while (kh_http_list_next(&v, &tok)) {
		if (f->te_chunked_last)
			f->te_chunked_early = true; /* chunked must be the final coding */
		f->te_chunked_last = kh_slice_eq_cstr_nocase(tok, "chunked");
	}
	if (f->te_chunked_early)
		return fail(err, 502, "chunked is not the final transfer coding");
	return 0;
}

/* Does n, read with '_' as '-' (as CGI, WSGI and nginx with
 * underscores_in_headers do: they map both to HTTP_CONTENT_LENGTH), name a
 * framing or hop-by-hop field whose real spelling has a dash? keyhole frames
 * and drops by the real spelling only, so an upstream reading the underscore
 * one would disagree with it about where a message ends, or see a field
 * keyhole removes. Names without a dash have no underscore spelling. */
static bool underscore_framing(struct kh_slice n)
{
	static const char *const dashed[] = { "content-length",      "transfer-encoding",
					      "keep-alive",          "proxy-connection",
					      "proxy-authorization", "proxy-authenticate" };

	if (memchr(n.ptr, '_', n.len) == NULL)
		return false;
	for (size_t k = 0; k < sizeof dashed / sizeof dashed[0]; k++) {
		size_t i = 0;

		if (strlen(dashed[k]) != n.len)
			continue;
		while (i < n.len &&
		       (n.ptr[i] == '_' ? '-' : kh_ascii_lower(n.ptr[i])) == dashed[k][i])
			i++;
		if (i == n.len)
			return true;
	}
	return false;
}

static int refuse_underscore(bool request, struct kh_http_error *err)
{
	if (!request)
		return fail(err, 502,
			    "the response has an underscore spelling of a framing field "
			    "(e.g. Content_Length)");
	fail(err, 400,
	     "a header name spells a framing field with an underscore (e.g. Content_Length, "
	     "Transfer_Encoding); upstreams behind CGI or nginx would read it as the real field. "
	     "Remove it");
	err->reason = "underscore_framing_header";
	return -1;
}

static int scan_fields(struct kh_http_head *out, bool request, struct framing_seen *f,
		       struct kh_http_error *err)
{
	for (size_t i = 0; i < out->n_headers; i++) {
		struct kh_slice n = out->headers[i].name, v = out->headers[i].value;

		if (underscore_framing(n))
			return refuse_underscore(request, err);
		if (kh_slice_eq_cstr_nocase(n, "content-length")) {
			if (scan_content_length(v, request, f, err) != 0)
				return -1;
		} else if (kh_slice_eq_cstr_nocase(n, "transfer-encoding")) {
			if (scan_transfer_encoding(v, request, f, err) != 0)
				return -1;
		} else if (kh_slice_eq_cstr_nocase(n, "connection")) {
			scan_connection(v, f, out);
		} else if (kh_slice_eq_cstr_nocase(n, "upgrade")) {
			out->upgrade = v;
		} else if (request && kh_slice_eq_cstr_nocase(n, "host")) {
			if (out->has_host)
				return fail(err, 400, "repeated Host header");
			out->has_host = true;
			out->host = v;
		} else if (request && kh_slice_eq_cstr_nocase(n, "expect")) {
			out->expect_continue = kh_slice_eq_cstr_nocase(v, "100-continue");
		}
	}
	return 0;
}

static void init_head(struct kh_http_head *out, struct kh_http_header *headers, size_t head_len)
{
	memset(out, 0, sizeof *out);
	out->headers = headers;
	out->head_len = head_len;
}

int kh_http_parse_request(const uint8_t *p, size_t head_len, const struct kh_http_limits *limits,
			  struct kh_http_head *out, struct kh_http_error *err)
{
	struct framing_seen f = { 0 };
	size_t pos = 0;

	init_head(out, out->headers, head_len);
	if (parse_request_line(next_line(p, head_len, &pos), out, err) != 0)
		return -1;
	if (parse_fields(p, head_len, pos, limits, out, 400, err) != 0 ||
	    scan_fields(out, true, &f, err) != 0)
		return -1;
	if (f.te && f.cl)
		return fail(err, 400, "both Content-Length and Transfer-Encoding");
	if (f.te && out->version_minor == 0)
		return fail(err, 400, "Transfer-Encoding in an HTTP/1.0 request");
	if (!out->has_host && out->version_minor == 1)
		return fail(err, 400, "missing Host header");
	out->keep_alive = out->version_minor == 1 ? !f.close : (f.ka && !f.close);
	if (f.te)
		out->body = KH_BODY_CHUNKED;
	else if (f.cl && f.cl_value > 0)
		out->body = KH_BODY_LENGTH;
	out->content_length = f.cl_value;
	return 0;
}

static bool bodiless_status(unsigned status)
{
	return status < 200 || status == 204 || status == 304;
}

int kh_http_parse_response(const uint8_t *p, size_t head_len, const struct kh_http_limits *limits,
			   bool request_was_head, struct kh_http_head *out,
			   struct kh_http_error *err)
{
	struct framing_seen f = { 0 };
	size_t pos = 0;

	init_head(out, out->headers, head_len);
	if (parse_status_line(next_line(p, head_len, &pos), out, err) != 0)
		return -1;
	if (parse_fields(p, head_len, pos, limits, out, 502, err) != 0 ||
	    scan_fields(out, false, &f, err) != 0)
		return -1;
	if (f.te && f.cl)
		return fail(err, 502, "both Content-Length and Transfer-Encoding");
	out->keep_alive = out->version_minor == 1 ? !f.close : (f.ka && !f.close);
	out->content_length = f.cl_value;
	if (request_was_head || bodiless_status(out->status))
		out->body = KH_BODY_NONE;
	else if (f.te)
		out->body = f.te_chunked_last ? KH_BODY_CHUNKED : KH_BODY_CLOSE;
	else if (f.cl)
		out->body = f.cl_value > 0 ? KH_BODY_LENGTH : KH_BODY_NONE;
	else
		out->body = KH_BODY_CLOSE;
	if (out->body == KH_BODY_CLOSE)
		out->keep_alive = false;
	return 0;
}

/* --- chunked --- */

enum {
	CH_SIZE,
	CH_EXT,
	CH_SIZE_LF,
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER_START,
	CH_TRAILER_NAME,
	CH_TRAILER_VALUE,
	CH_TRAILER_LF,
	CH_FINAL_LF,
	CH_DONE,
};

void kh_chunked_init(struct kh_chunked *c, size_t max_trailer)
{
	memset(c, 0, sizeof *c);
	c->state = CH_SIZE;
	c->max_trailer = max_trailer;
}

uint64_t kh_chunked_data_run(const struct kh_chunked *c)
{
	return c->state == CH_DATA ? c->remaining : 0;
}

static int hexval(uint8_t b)
{
	if (b >= '0' && b <= '9')
		return b - '0';
	if (b >= 'a' && b <= 'f')
		return b - 'a' + 10;
	if (b >= 'A' && b <= 'F')
		return b - 'A' + 10;
	return -1;
}

static int chunk_size_byte(struct kh_chunked *c, uint8_t b, struct kh_http_error *err)
{
	int h = hexval(b);

	if (h >= 0) {
		if (++c->size_digits > KH_MAX_CHUNK_HEX_DIGITS)
			return fail(err, 400, "chunk size too large");
		c->remaining = (c->remaining << 4) | (uint64_t)h;
		return 0;
	}
	if (c->size_digits == 0)
		return fail(err, 400, "invalid chunk size");
	if (b == ';')
		c->state = CH_EXT;
	else if (b == '\r')
		c->state = CH_SIZE_LF;
	else
		return fail(err, 400, "invalid chunk size");
	return 0;
}

static int chunk_line_end(struct kh_chunked *c, struct kh_http_error *err)
{
	c->line_len = 0;
	c->size_digits = 0;
	c->state = c->remaining == 0 ? CH_TRAILER_START : CH_DATA;
	(void)err;
	return 0;
}

static int trailer_byte(struct kh_chunked *c, uint8_t b, struct kh_http_error *err)
{
	if (++c->trailer_bytes > c->max_trailer)
		return fail(err, 431, "chunked trailer section too large");
	switch (c->state) {
	case CH_TRAILER_START:
		if (b == '\r') {
			c->state = CH_FINAL_LF;
			return 0;
		}
		if (!kh_http_is_tchar(b))
			return fail(err, 400, "malformed trailer field");
		c->state = CH_TRAILER_NAME;
		return 0;
	case CH_TRAILER_NAME:
		if (b == ':')
			c->state = CH_TRAILER_VALUE;
		else if (!kh_http_is_tchar(b))
			return fail(err, 400, "malformed trailer field");
		return 0;
	default: /* CH_TRAILER_VALUE */
		if (b == '\r')
			c->state = CH_TRAILER_LF;
		else if (!is_field_byte(b))
			return fail(err, 400, "control character in trailer field");
		return 0;
	}
}

/* One framing byte (anything but bulk chunk data). */
static int chunk_step(struct kh_chunked *c, uint8_t b, struct kh_http_error *err)
{
	if ((c->state == CH_SIZE || c->state == CH_EXT) && ++c->line_len > KH_MAX_CHUNK_LINE)
		return fail(err, 400, "chunk size line too long");
	switch (c->state) {
	case CH_SIZE:
		return chunk_size_byte(c, b, err);
	case CH_EXT:
		if (b == '\r')
			c->state = CH_SIZE_LF;
		else if (!is_field_byte(b))
			return fail(err, 400, "control character in chunk extension");
		return 0;
	case CH_SIZE_LF:
		if (b != '\n')
			return fail(err, 400, "bare CR in chunk size line");
		return chunk_line_end(c, err);
	case CH_DATA_CR:
		if (b != '\r')
			return fail(err, 400, "chunk data not followed by CRLF");
		c->state = CH_DATA_LF;
		return 0;
	case CH_DATA_LF:
		if (b != '\n')
			return fail(err, 400, "chunk data not followed by CRLF");
		c->state = CH_SIZE;
		return 0;
	case CH_TRAILER_LF:
	case CH_FINAL_LF:
		if (b != '\n')
			return fail(err, 400, "bare CR in chunked trailer");
		c->state = c->state == CH_FINAL_LF ? CH_DONE : CH_TRAILER_START;
		return 0;
	default:
		return trailer_byte(c, b, err);
	}
}

ssize_t kh_chunked_feed(struct kh_chunked *c, const uint8_t *p, size_t len, bool *done,
			struct kh_http_error *err)
{
	size_t i = 0;

	*done = false;
	while (i < len && c->state != CH_DONE) {
		if (c->state == CH_DATA) {
			uint64_t take = c->remaining < len - i ? c->remaining : len - i;

			i += (size_t)take;
			c->remaining -= take;
			if (c->remaining == 0)
				c->state = CH_DATA_CR;
			continue;
		}
		if (chunk_step(c, p[i], err) != 0)
			return -1;
		i++;
	}
	*done = c->state == CH_DONE;
	return (ssize_t)i;
}

int kh_http_parse_absolute(struct kh_slice target, char *host, uint16_t *port,
			   struct kh_slice *path_out)
{
	struct kh_slice rest, authority;
	size_t i = 0;
	int kind;

	if (!kh_slice_starts_with_nocase(target, "http://"))
		return -1;
	rest = kh_slice_make(target.ptr + 7, target.len - 7);
	while (i < rest.len && rest.ptr[i] != '/' && rest.ptr[i] != '?')
		i++;
	authority = kh_slice_make(rest.ptr, i);
	/* userinfo ("user@host") is not allowed in http URIs and hides the real host. */
	if (authority.len == 0 || kh_slice_find(authority, '@') >= 0)
		return -1;
	kind = kh_authority_parse(authority, 80, host, port);
	if (kind < 0)
		return -1;
	*path_out = kh_slice_make(rest.ptr + i, rest.len - i);
	return kind;
}
