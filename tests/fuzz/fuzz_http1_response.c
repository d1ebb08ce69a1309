/* Response heads: kh_http_scan_head (one shot and incremental must agree)
 * then kh_http_parse_response for a GET and for a HEAD request. The body
 * framing is checked against an independent scan of the raw lines (RFC 9112
 * section 6.3), so a wrong framing decision fails even without a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http1.h"
#include "fuzz_http1_common.h"

#define MAX_HEAD    32768
#define MAX_HEADERS 100

/* Framing as a naive reader of the raw field lines sees it. */
struct raw_view {
	size_t lines, cl, te;
	bool cl_bad, fold;
	uint64_t cl_value;
	bool chunked_last, chunked_early; /* over all TE lines as one list */
	bool underscored; /* Content_Length or Transfer_Encoding */
};

static void te_elements(struct kh_slice val, struct raw_view *v)
{
	struct kh_slice elem;

	while (kh_http_list_next(&val, &elem)) {
		v->chunked_early |= v->chunked_last;
		v->chunked_last = kh_slice_eq_cstr_nocase(elem, "chunked");
	}
}

static void raw_scan(const uint8_t *p, size_t head_len, struct raw_view *v)
{
	struct raw_line l;
	size_t pos = 0;

	memset(v, 0, sizeof *v);
	while (next_field_line(p, head_len, &pos, &l)) {
		v->lines++;
		v->fold |= l.line[0] == ' ' || l.line[0] == '\t';
		v->underscored |= name_is_underscored(l.line, l.colon, "content-length") ||
				  name_is_underscored(l.line, l.colon, "transfer-encoding");
		struct kh_slice val = kh_slice_trim_ows(
			kh_slice_make(l.line + l.colon + 1, l.len - l.colon - 1));
		if (name_is(l.line, l.colon, "content-length")) {
			uint64_t cl;

			if (kh_slice_to_u64(val, UINT64_MAX, &cl) != 0 ||
			    (v->cl++ > 0 && cl != v->cl_value))
				v->cl_bad = true;
			v->cl_value = cl;
		} else if (name_is(l.line, l.colon, "transfer-encoding")) {
			v->te++;
			te_elements(val, v);
		}
	}
}

static void check_accepted(const uint8_t *p, size_t n, bool head_req, const struct kh_http_head *h)
{
	struct raw_view v;
	bool bodiless = head_req || h->status < 200 || h->status == 204 || h->status == 304;

	CHECK(h->head_len == n);
	CHECK(h->status >= 100 && h->status <= 599);
	CHECK(in_range(p, n, h->reason) || h->reason.len == 0);
	CHECK(h->n_headers <= MAX_HEADERS);
	for (size_t i = 0; i < h->n_headers; i++) {
		CHECK(in_range(p, n, h->headers[i].name) && in_range(p, n, h->headers[i].value));
		CHECK(h->headers[i].name.len > 0);
		for (size_t k = 0; k < h->headers[i].name.len; k++)
			CHECK(kh_http_is_tchar((unsigned char)h->headers[i].name.ptr[k]));
	}
	raw_scan(p, n, &v);
	CHECK(v.lines == h->n_headers && !v.fold);
	CHECK(!(v.cl > 0 && v.te > 0) && !v.cl_bad && !v.chunked_early);
	CHECK(!v.underscored);
	CHECK(v.cl == 0 || v.cl_value == h->content_length);
	CHECK(h->body != KH_BODY_LENGTH || h->content_length > 0);
	CHECK(h->body != KH_BODY_CLOSE || !h->keep_alive);
	if (bodiless)
		CHECK(h->body == KH_BODY_NONE);
	else if (v.te > 0)
		CHECK(h->body == (v.chunked_last ? KH_BODY_CHUNKED : KH_BODY_CLOSE));
	else if (v.cl > 0)
		CHECK(h->body == (v.cl_value > 0 ? KH_BODY_LENGTH : KH_BODY_NONE));
	else
		CHECK(h->body == KH_BODY_CLOSE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kh_http_header hdrs[MAX_HEADERS];
	struct kh_http_limits lim = { MAX_HEAD, MAX_HEADERS };
	struct kh_http_head h = { .headers = hdrs };
	struct kh_http_error e1 = { 0, NULL, NULL }, e2 = e1, e3 = e1;
	size_t scan = 0;
	ssize_t n = kh_http_scan_head(data, size, &scan, MAX_HEAD, &e1);

	CHECK(scan_in_steps(data, size, 1, MAX_HEAD, false, &e2) == n);
	CHECK(scan_in_steps(data, size, size > 0 ? data[0] % 13 + 2 : 2, MAX_HEAD, false, &e3) ==
	      n);
	if (n <= 0) {
		CHECK(n == 0 || (e1.why == e2.why && e1.why == e3.why));
		return 0;
	}
	CHECK((size_t)n <= size && memcmp(data + n - 4, "\r\n\r\n", 4) == 0);
	for (int head_req = 0; head_req <= 1; head_req++) {
		if (kh_http_parse_response(data, (size_t)n, &lim, head_req, &h, &e1) != 0) {
			CHECK(e1.status == 502 && e1.why != NULL);
			continue;
		}
		check_accepted(data, (size_t)n, head_req, &h);
	}
	return 0;
}
