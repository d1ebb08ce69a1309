/* Request heads: kh_http_scan_head (one shot, byte by byte and in
 * fuzzer-sized steps must agree) then kh_http_parse_request. On success the
 * result is checked against an independent scan of the raw head lines, so a
 * framing decision the parser got wrong (CL+TE, repeated CL, obs-fold,
 * an underscore spelling such as Content_Length) fails
 * here even when nothing crashes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hostname.h"
#include "http/http1.h"
#include "fuzz_http1_common.h"

#define MAX_HEAD    16384
#define MAX_HEADERS 100

static bool all_tchar(struct kh_slice s)
{
	for (size_t i = 0; i < s.len; i++)
		if (!kh_http_is_tchar((unsigned char)s.ptr[i]))
			return false;
	return s.len > 0;
}

/* What a naive line-by-line reading of the raw head says about framing. */
struct raw_view {
	size_t lines; /* field lines */
	size_t cl, te, host;
	size_t underscored; /* Content_Length, Transfer_Encoding, Keep_Alive */
	bool fold; /* a field line starts with SP/HTAB */
	bool cl_same; /* every CL value is the same string */
	struct kh_slice cl_value;
};

static void raw_scan(const uint8_t *p, size_t head_len, struct raw_view *v)
{
	struct raw_line l;
	size_t pos = 0;

	memset(v, 0, sizeof *v);
	v->cl_same = true;
	while (next_field_line(p, head_len, &pos, &l)) {
		v->lines++;
		v->fold |= l.line[0] == ' ' || l.line[0] == '\t';
		if (name_is(l.line, l.colon, "content-length")) {
			struct kh_slice val = kh_slice_trim_ows(
				kh_slice_make(l.line + l.colon + 1, l.len - l.colon - 1));

			if (v->cl++ > 0 && !kh_slice_eq(val, v->cl_value))
				v->cl_same = false;
			v->cl_value = val;
		}
		v->te += name_is(l.line, l.colon, "transfer-encoding");
		v->host += name_is(l.line, l.colon, "host");
		v->underscored += name_is_underscored(l.line, l.colon, "content-length") ||
				  name_is_underscored(l.line, l.colon, "transfer-encoding") ||
				  name_is_underscored(l.line, l.colon, "keep-alive");
	}
}

static void check_fields(const uint8_t *p, size_t n, const struct kh_http_head *h)
{
	CHECK(h->n_headers <= MAX_HEADERS);
	for (size_t i = 0; i < h->n_headers; i++) {
		struct kh_slice name = h->headers[i].name, val = h->headers[i].value;

		CHECK(in_range(p, n, name) && in_range(p, n, val));
		CHECK(all_tchar(name));
		CHECK(val.len == 0 || (val.ptr[0] != ' ' && val.ptr[0] != '\t'));
		CHECK(val.len == 0 ||
		      (val.ptr[val.len - 1] != ' ' && val.ptr[val.len - 1] != '\t'));
		CHECK(memchr(val.ptr, '\r', val.len) == NULL &&
		      memchr(val.ptr, '\n', val.len) == NULL);
		CHECK(memchr(val.ptr, '\0', val.len) == NULL);
	}
}

/* An absolute-form target that parses must give a normalized host and a path
 * that stays inside the target. */
static void check_absolute(struct kh_slice target)
{
	char host[KH_HOST_BUF], again[KH_HOST_BUF];
	struct kh_slice path;
	uint16_t port = 0;
	int kind = kh_http_parse_absolute(target, host, &port, &path);

	if (kind < 0)
		return;
	CHECK(port != 0);
	CHECK(kh_host_normalize(kh_slice_cstr(host), again) == kind && strcmp(host, again) == 0);
	CHECK(in_range((const uint8_t *)target.ptr, target.len, path));
	CHECK(path.len == 0 || path.ptr[0] == '/' || path.ptr[0] == '?');
}

static void check_accepted(const uint8_t *p, size_t n, const struct kh_http_head *h)
{
	struct raw_view v;
	uint64_t cl;

	CHECK(h->head_len == n);
	CHECK(all_tchar(h->method) && in_range(p, n, h->method));
	CHECK(h->target.len > 0 && in_range(p, n, h->target));
	CHECK(h->version_minor <= 1);
	check_fields(p, n, h);
	raw_scan(p, n, &v);
	CHECK(v.lines == h->n_headers);
	CHECK(!v.fold);
	CHECK(!(v.cl > 0 && v.te > 0)); /* never both CL and TE */
	CHECK(v.cl <= 1 && v.te <= 1);
	CHECK(v.underscored == 0); /* an upstream could read it as the real field */
	CHECK(v.host <= 1 && (h->version_minor == 0 || v.host == 1) &&
	      h->has_host == (v.host == 1));
	CHECK(h->body != KH_BODY_CLOSE);
	CHECK(h->body != KH_BODY_LENGTH || h->content_length > 0);
	CHECK((h->body == KH_BODY_CHUNKED) == (v.te == 1));
	CHECK(v.te == 0 || h->version_minor == 1);
	if (v.cl == 1) {
		CHECK(kh_slice_to_u64(v.cl_value, UINT64_MAX, &cl) == 0 && cl == h->content_length);
		CHECK(h->body == (cl > 0 ? KH_BODY_LENGTH : KH_BODY_NONE));
	} else if (v.te == 0) {
		CHECK(h->body == KH_BODY_NONE);
	}
	CHECK(!h->has_host || in_range(p, n, h->host));
	check_absolute(h->target);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kh_http_header hdrs[MAX_HEADERS];
	struct kh_http_limits lim = { MAX_HEAD, MAX_HEADERS };
	struct kh_http_head h = { .headers = hdrs };
	struct kh_http_error e1 = { 0, NULL, NULL }, e2 = e1, e3 = e1;
	size_t scan = 0, skip = kh_http_skip_leading_crlf(data, size);
	ssize_t n = kh_http_scan_head(data, size, &scan, MAX_HEAD, &e1);

	CHECK(skip % 2 == 0 && skip <= 8 && skip <= size);
	CHECK(scan_in_steps(data, size, 1, MAX_HEAD, true, &e2) == n);
	CHECK(scan_in_steps(data, size, size > 0 ? data[0] % 13 + 2 : 2, MAX_HEAD, true, &e3) == n);
	if (n < 0) {
		CHECK(e1.status == 400 || e1.status == 431);
		CHECK(e1.why == e2.why && e1.why == e3.why);
		return 0;
	}
	if (n == 0)
		return 0;
	CHECK((size_t)n <= size && (size_t)n <= MAX_HEAD && n >= 4);
	CHECK(memcmp(data + n - 4, "\r\n\r\n", 4) == 0);
	CHECK(memchr(data, '\0', (size_t)n) == NULL);
	if (kh_http_parse_request(data, (size_t)n, &lim, &h, &e1) != 0) {
		CHECK(e1.why != NULL);
		CHECK(e1.status == 400 || e1.status == 431 || e1.status == 501 || e1.status == 505);
		return 0;
	}
	check_accepted(data, (size_t)n, &h);
	return 0;
}
