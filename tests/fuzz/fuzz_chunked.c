/* The streaming chunked-body validator must not care how the body is cut
 * into reads: one shot, two pieces split at a fuzzer-chosen point, and one
 * byte at a time must consume the same bytes, end at the same place and fail
 * with the same reason. Input: byte 0 picks the split point, byte 1 the
 * trailer limit, the rest is the body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http1.h"
#include "fuzz_check.h"

struct verdict {
	size_t consumed;
	bool done;
	const char *why; /* NULL unless it failed */
};

/* Feeds p[0..len) in pieces: the first `first` bytes, then `step` at a time. */
static void feed(const uint8_t *p, size_t len, size_t first, size_t step, size_t max_trailer,
		 struct verdict *v)
{
	struct kh_chunked c;
	struct kh_http_error err = { 0, NULL, NULL };
	size_t off = 0, piece = 0;

	kh_chunked_init(&c, max_trailer);
	memset(v, 0, sizeof *v);
	do {
		size_t want = piece++ == 0 ? first : step;
		size_t n = want < len - off ? want : len - off;
		ssize_t r = kh_chunked_feed(&c, p + off, n, &v->done, &err);

		if (r < 0) {
			CHECK(err.why != NULL && (err.status == 400 || err.status == 431));
			v->why = err.why;
			return;
		}
		CHECK((size_t)r <= n);
		CHECK(v->done || (size_t)r == n); /* only the end of the body stops short */
		CHECK(kh_chunked_data_run(&c) == 0 || !v->done);
		off += (size_t)r;
		v->consumed = off;
	} while (!v->done && off < len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct verdict one, two, bytes;
	const uint8_t *body = data + 2;
	size_t len, split, max_trailer;

	if (size < 2)
		return 0;
	len = size - 2;
	split = len * data[0] / 255;
	max_trailer = (size_t)data[1] * 4;
	feed(body, len, len, len, max_trailer, &one);
	feed(body, len, split, len, max_trailer, &two);
	feed(body, len, 1, 1, max_trailer, &bytes);
	CHECK(one.done == two.done && one.done == bytes.done);
	CHECK(one.why == two.why && one.why == bytes.why);
	CHECK(one.why != NULL || (one.consumed == two.consumed && one.consumed == bytes.consumed));
	/* A complete body ends with the empty line after the last chunk/trailers. */
	if (one.done)
		CHECK(one.consumed >= 5 && memcmp(body + one.consumed - 4, "\r\n\r\n", 4) == 0);
	return 0;
}
