/* SigV4 Authorization parsing and canonical requests. Input: an
 * Authorization value, then (after the first newline, if any) a request
 * target. A parsed header must yield slices inside the input that rebuild
 * the scope, a 64-hex signature and a well-formed SignedHeaders list; the
 * canonical request of the target under every path and query form must
 * either fit its capped buffer or fail cleanly, start with the method line,
 * and (normalized) have a path that starts with '/' and holds no "/./" or
 * "/../" segment. The target is also read as an X-Amz-Date (a parsed one
 * prints back the same) and as "<declared digest><body>" (the streamed
 * check agrees with a one-shot hash). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "swap/sigv4.h"
#include "fuzz_check.h"

static bool inside(struct kh_slice s, const uint8_t *data, size_t size)
{
	return s.ptr >= (const char *)data && s.ptr + s.len <= (const char *)data + size;
}

static void check_auth(const struct kh_sigv4_auth *a, const uint8_t *data, size_t size)
{
	char scope[512];
	int n;

	CHECK(inside(a->akid, data, size) && inside(a->scope, data, size));
	CHECK(inside(a->signed_headers, data, size) && inside(a->signature, data, size));
	CHECK(a->signature.len == KH_SIGV4_HEX_LEN && a->date.len == 8);
	CHECK(a->akid.len > 0 && a->signed_headers.len > 0);
	n = snprintf(scope, sizeof scope, "%.*s/%.*s/%.*s/aws4_request", (int)a->date.len,
		     a->date.ptr, (int)a->region.len, a->region.ptr, (int)a->service.len,
		     a->service.ptr);
	if (n > 0 && (size_t)n < sizeof scope)
		CHECK(kh_slice_eq(a->scope, kh_slice_make(scope, (size_t)n)));
	CHECK(a->signed_headers.ptr[0] != ';' &&
	      a->signed_headers.ptr[a->signed_headers.len - 1] != ';');
}

static void check_creq(struct kh_sigv4_req *r)
{
	struct kh_buf b;
	const char *why = NULL;

	for (int p = 0; p < 3; p++)
		for (int q = 0; q < 2; q++) {
			r->path_form = (enum kh_sigv4_path_form)p;
			r->query_form = (enum kh_sigv4_query_form)q;
			kh_buf_init(&b, 1 << 16);
			if (kh_sigv4_canonical_request(r, &b, &why) != 0) {
				CHECK(why != NULL && kh_buf_len(&b) == 0);
			} else {
				const char *s = (const char *)kh_buf_data(&b);
				size_t len = kh_buf_len(&b);
				const char *nl = memchr(s + 4, '\n', len - 4);

				CHECK(len > 4 && memcmp(s, "GET\n", 4) == 0 && nl != NULL);
				if (p == KH_SIGV4_PATH_NORMALIZED) {
					struct kh_slice path = kh_slice_make(s + 4,
									     (size_t)(nl - s - 4));

					CHECK(path.ptr[0] == '/');
					CHECK(memmem(path.ptr, path.len, "/./", 3) == NULL);
					CHECK(memmem(path.ptr, path.len, "/../", 4) == NULL);
					CHECK(memmem(path.ptr, path.len, "//", 2) == NULL);
				}
			}
			kh_buf_free(&b);
		}
}

/* A parsed X-Amz-Date prints back as the same 16 bytes (but a leap second,
 * which the next minute stands for). */
static void check_date(struct kh_slice v)
{
	char back[32];
	int64_t t;
	time_t tt;
	struct tm tm;

	if (kh_sigv4_parse_date(v, &t) != 0)
		return;
	CHECK(v.len == 16);
	tt = (time_t)t;
	CHECK(gmtime_r(&tt, &tm) != NULL &&
	      strftime(back, sizeof back, "%Y%m%dT%H%M%SZ", &tm) == 16);
	CHECK(memcmp(back, v.ptr, 16) == 0 || memcmp(v.ptr + 13, "60", 2) == 0);
}

/* "<64 hex><body>": the streamed check, fed in two pieces, agrees with a
 * one-shot hash of the body. */
static void check_digest(struct kh_slice v)
{
	struct kh_slice digest = kh_slice_make(v.ptr, v.len < 64 ? v.len : 64), body;
	struct kh_sigv4_body *b;
	char hex[KH_SIGV4_HEX_LEN + 1];
	bool same = true;

	if (!kh_sigv4_is_digest(digest) || (b = kh_sigv4_body_new(digest)) == NULL)
		return;
	body = kh_slice_make(v.ptr + 64, v.len - 64);
	kh_sigv4_body_update(b, body.ptr, body.len / 3);
	kh_sigv4_body_update(b, body.ptr + body.len / 3, body.len - body.len / 3);
	kh_sigv4_sha256_hex(body.ptr, body.len, hex);
	for (size_t i = 0; i < 64; i++)
		same &= hex[i] == ((digest.ptr[i] >= 'A' && digest.ptr[i] <= 'F')
					   ? digest.ptr[i] + 32
					   : digest.ptr[i]);
	CHECK(kh_sigv4_body_matches(b) == same);
	kh_sigv4_body_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	struct kh_slice auth = kh_slice_make(data, nl ? (size_t)(nl - data) : size);
	struct kh_slice target = nl ? kh_slice_make(nl + 1, size - (size_t)(nl - data) - 1)
				    : KH_SLICE_LIT("/");
	struct kh_http_header h[2] = { { KH_SLICE_LIT("Host"), KH_SLICE_LIT(" a.example ") },
				       { KH_SLICE_LIT("X-Amz-Date"), target } };
	struct kh_sigv4_auth a;
	struct kh_sigv4_req r = { 0 };
	const char *why = NULL;
	long q;

	if (kh_sigv4_parse_auth(auth, &a, &why) == 0)
		check_auth(&a, data, size);
	else
		CHECK(why != NULL);
	q = kh_slice_find(target, '?');
	r.method = KH_SLICE_LIT("GET");
	r.path = q < 0 ? target : kh_slice_make(target.ptr, (size_t)q);
	r.query = q < 0 ? kh_slice_make("", 0)
			: kh_slice_make(target.ptr + q + 1, target.len - (size_t)q - 1);
	r.headers = h;
	r.n_headers = 2;
	r.signed_headers = kh_sigv4_parse_auth(auth, &a, &why) == 0
				   ? a.signed_headers
				   : KH_SLICE_LIT("host;x-amz-date");
	r.payload_hash = KH_SLICE_LIT("UNSIGNED-PAYLOAD");
	check_creq(&r);
	check_date(target);
	check_digest(target);
	return 0;
}
