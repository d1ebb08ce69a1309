#include "swap/sigv4.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "base/kh_limits.h"

struct out {
	struct kh_buf *b;
	bool overflow;
};

static void put(struct out *o, const void *p, size_t n)
{
	if (!o->overflow && kh_buf_append(o->b, p, n) != 0)
		o->overflow = true;
}

static void put_s(struct out *o, struct kh_slice s)
{
	put(o, s.ptr, s.len);
}

static void put_c(struct out *o, char c)
{
	put(o, &c, 1);
}

static void hex_encode(const uint8_t *p, size_t n, char *hex)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[p[i] >> 4];
		hex[2 * i + 1] = digits[p[i] & 15];
	}
	hex[2 * n] = '\0';
}

/* --- the Authorization header --- */

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A scope or key-id part: visible ASCII without the separators around it. */
static bool plain_part(struct kh_slice s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (s.ptr[i] <= ' ' || s.ptr[i] > '~' || s.ptr[i] == '/' || s.ptr[i] == ',')
			return false;
	return true;
}

static int parse_credential(struct kh_slice v, struct kh_sigv4_auth *a, const char **why)
{
	struct kh_slice rest = v, term;

	*why = "Credential must be <key id>/<yyyymmdd>/<region>/<service>/aws4_request";
	if (!kh_slice_split(&rest, '/', &a->akid) || !plain_part(a->akid))
		return -1;
	a->scope = rest;
	if (!kh_slice_split(&rest, '/', &a->date) || !kh_slice_split(&rest, '/', &a->region) ||
	    !kh_slice_split(&rest, '/', &a->service))
		return -1;
	term = rest;
	if (a->date.len != 8 || !plain_part(a->region) || !plain_part(a->service) ||
	    !kh_slice_eq_cstr(term, "aws4_request"))
		return -1;
	for (size_t i = 0; i < 8; i++)
		if (!is_digit(a->date.ptr[i]))
			return -1;
	return 0;
}

/* Lowercase header names separated by single ';', none empty. */
static bool signed_headers_ok(struct kh_slice s)
{
	bool at_start = true;

	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		char c = s.ptr[i];

		if (c == ';') {
			if (at_start)
				return false;
			at_start = true;
			continue;
		}
		if (c <= ' ' || c > '~' || (c >= 'A' && c <= 'Z') ||
		    strchr("\"(),/:<=>?@[\\]{}", c))
			return false;
		at_start = false;
	}
	return !at_start;
}

static int parse_component(struct kh_slice c, struct kh_sigv4_auth *a, unsigned *seen,
			   const char **why)
{
	struct kh_slice name;

	if (!kh_slice_split(&c, '=', &name)) {
		*why = "Authorization component without '='";
		return -1;
	}
	if (kh_slice_eq_cstr(name, "Credential") && !(*seen & 1)) {
		*seen |= 1;
		return parse_credential(c, a, why);
	}
	if (kh_slice_eq_cstr(name, "SignedHeaders") && !(*seen & 2)) {
		*seen |= 2;
		a->signed_headers = c;
		*why = "SignedHeaders must be lowercase header names separated by ';'";
		return signed_headers_ok(c) ? 0 : -1;
	}
	if (kh_slice_eq_cstr(name, "Signature") && !(*seen & 4)) {
		*seen |= 4;
		a->signature = c;
		*why = "Signature must be 64 lowercase hex digits";
		if (c.len != KH_SIGV4_HEX_LEN)
			return -1;
		for (size_t i = 0; i < c.len; i++)
			if (!is_lower_hex(c.ptr[i]))
				return -1;
		return 0;
	}
	*why = "unknown or repeated Authorization component";
	return -1;
}

int kh_sigv4_parse_auth(struct kh_slice v, struct kh_sigv4_auth *a, const char **why)
{
	size_t alg = sizeof KH_SIGV4_ALGORITHM - 1;
	unsigned seen = 0;
	struct kh_slice c;

	memset(a, 0, sizeof *a);
	if (v.len <= alg || memcmp(v.ptr, KH_SIGV4_ALGORITHM, alg) != 0 || v.ptr[alg] != ' ') {
		*why = "not an AWS4-HMAC-SHA256 Authorization header";
		return -1;
	}
	v = kh_slice_make(v.ptr + alg, v.len - alg);
	while (v.len > 0) {
		kh_slice_split(&v, ',', &c);
		c = kh_slice_trim_ows(c);
		if (c.len == 0) {
			*why = "empty Authorization component";
			return -1;
		}
		if (parse_component(c, a, &seen, why) != 0)
			return -1;
	}
	if (seen != 7) {
		*why = "Authorization needs Credential, SignedHeaders and Signature";
		return -1;
	}
	return 0;
}

/* --- canonical request --- */

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

/* RFC 3986 encoding as AWS defines it: uppercase hex, everything but the
 * unreserved set (and '/' when keep_slash) escaped. */
static void put_encoded(struct out *o, struct kh_slice s, bool keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";

	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.ptr[i];
		char esc[3] = { '%', digits[c >> 4], digits[c & 15] };

		if (unreserved(c) || (keep_slash && c == '/'))
			put_c(o, (char)c);
		else
			put(o, esc, 3);
	}
}

static void truncate_to_last_slash(struct out *o, size_t start)
{
	const uint8_t *d = kh_buf_data(o->b);
	size_t n = kh_buf_len(o->b);

	while (n > start && d[n - 1] != '/')
		n--;
	if (n > start)
		n--; /* drop the slash too: "/a/b" -> "/a" */
	kh_buf_truncate(o->b, n);
}

/* RFC 3986 5.2.4 dot-segment removal plus AWS's collapsing of empty
 * segments; a trailing slash survives when anything else does. */
static void put_normalized_path(struct out *o, struct kh_slice path)
{
	size_t start = kh_buf_len(o->b);
	bool trailing = path.len > 0 && path.ptr[path.len - 1] == '/';
	struct kh_slice rest = path, seg;

	while (rest.len > 0) {
		kh_slice_split(&rest, '/', &seg);
		if (seg.len == 0 || kh_slice_eq_cstr(seg, "."))
			continue;
		if (kh_slice_eq_cstr(seg, "..")) {
			if (!o->overflow)
				truncate_to_last_slash(o, start);
			continue;
		}
		put_c(o, '/');
		put_encoded(o, seg, false);
	}
	if (o->overflow)
		return;
	if (kh_buf_len(o->b) == start || trailing)
		put_c(o, '/');
}

static void put_path(struct out *o, const struct kh_sigv4_req *r)
{
	if (r->path.len == 0) {
		put_c(o, '/');
		return;
	}
	switch (r->path_form) {
	case KH_SIGV4_PATH_AS_SENT:
		put_s(o, r->path);
		break;
	case KH_SIGV4_PATH_NORMALIZED:
		put_normalized_path(o, r->path);
		break;
	default:
		put_encoded(o, r->path, true);
		break;
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = kh_ascii_lower(c);
	return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Decodes %XX escapes (a malformed escape stays literal; '+' is a plus)
 * and appends the strict encoding of the result to scratch. */
static struct kh_slice reencode(struct kh_slice s, char *scratch, size_t *used)
{
	static const char digits[] = "0123456789ABCDEF";
	char *start = scratch + *used, *p = start;

	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.ptr[i];
		int hi, lo;

		if (c == '%' && i + 2 < s.len && (hi = hexval(s.ptr[i + 1])) >= 0 &&
		    (lo = hexval(s.ptr[i + 2])) >= 0) {
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if (unreserved(c)) {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = digits[c >> 4];
			*p++ = digits[c & 15];
		}
	}
	*used += (size_t)(p - start);
	return kh_slice_make(start, (size_t)(p - start));
}

struct qparam {
	struct kh_slice name, value;
};

static int cmp_slice(struct kh_slice a, struct kh_slice b)
{
	int c = memcmp(a.ptr, b.ptr, a.len < b.len ? a.len : b.len);

	if (c != 0)
		return c;
	return a.len < b.len ? -1 : a.len > b.len;
}

static int cmp_param(const void *x, const void *y)
{
	const struct qparam *a = x, *b = y;
	int c = cmp_slice(a->name, b->name);

	return c != 0 ? c : cmp_slice(a->value, b->value);
}

static int put_query(struct out *o, const struct kh_sigv4_req *r, const char **why)
{
	struct qparam *p = NULL;
	char *scratch = NULL;
	size_t n = 0, used = 0;
	struct kh_slice rest = r->query, pair, name;
	int rc = -1;

	if (r->query.len == 0)
		return 0;
	p = calloc(KH_SIGV4_MAX_QUERY_PARAMS, sizeof *p);
	scratch = malloc(3 * r->query.len); /* every byte may become %XX */
	if (p == NULL || scratch == NULL) {
		*why = "out of memory";
		goto out;
	}
	while (rest.len > 0) {
		kh_slice_split(&rest, '&', &pair);
		if (pair.len == 0)
			continue;
		if (n == KH_SIGV4_MAX_QUERY_PARAMS) {
			*why = "too many query parameters to sign";
			goto out;
		}
		kh_slice_split(&pair, '=', &name); /* no '=': the value is empty */
		if (r->query_form == KH_SIGV4_QUERY_AS_SENT) {
			p[n].name = name;
			p[n].value = pair;
		} else {
			p[n].name = reencode(name, scratch, &used);
			p[n].value = reencode(pair, scratch, &used);
		}
		n++;
	}
	qsort(p, n, sizeof *p, cmp_param);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			put_c(o, '&');
		put_s(o, p[i].name);
		put_c(o, '=');
		put_s(o, p[i].value);
	}
	rc = 0;
out:
	free(p);
	free(scratch);
	return rc;
}

/* Trimmed, with every run of spaces and tabs collapsed to one space. */
static void put_header_value(struct out *o, struct kh_slice v)
{
	bool space = false;

	v = kh_slice_trim_ows(v);
	for (size_t i = 0; i < v.len; i++) {
		if (v.ptr[i] == ' ' || v.ptr[i] == '\t') {
			space = true;
			continue;
		}
		if (space)
			put_c(o, ' ');
		space = false;
		put_c(o, v.ptr[i]);
	}
}

static void put_header(struct out *o, const struct kh_sigv4_req *r, struct kh_slice name)
{
	bool subst = r->subst_name.len > 0 && kh_slice_eq_nocase(name, r->subst_name);
	bool first = true;

	put_s(o, name);
	put_c(o, ':');
	for (size_t i = 0; i < r->n_headers; i++) {
		if (!kh_slice_eq_nocase(r->headers[i].name, name))
			continue;
		if (!first)
			put_c(o, ','); /* repeated fields: values joined in order */
		first = false;
		put_header_value(o, subst ? r->subst_value : r->headers[i].value);
	}
	put_c(o, '\n');
}

int kh_sigv4_canonical_request(const struct kh_sigv4_req *r, struct kh_buf *b, const char **why)
{
	struct out o = { b, false };
	size_t before = kh_buf_len(b), count = 0;
	struct kh_slice rest = r->signed_headers, name;

	put_s(&o, r->method);
	put_c(&o, '\n');
	put_path(&o, r);
	put_c(&o, '\n');
	if (put_query(&o, r, why) != 0)
		goto fail;
	put_c(&o, '\n');
	while (rest.len > 0) {
		kh_slice_split(&rest, ';', &name);
		if (++count > KH_SIGV4_MAX_SIGNED_HEADERS) {
			*why = "too many signed headers";
			goto fail;
		}
		put_header(&o, r, name);
	}
	put_c(&o, '\n');
	put_s(&o, r->signed_headers);
	put_c(&o, '\n');
	put_s(&o, r->payload_hash);
	if (!o.overflow)
		return 0;
	*why = "canonical request too large";
fail:
	kh_buf_truncate(b, before);
	return -1;
}

/* --- signing --- */

void kh_sigv4_sha256_hex(const void *p, size_t n, char hex[KH_SIGV4_HEX_LEN + 1])
{
	uint8_t md[SHA256_DIGEST_LENGTH];

	SHA256(p, n, md);
	hex_encode(md, sizeof md, hex);
}

int kh_sigv4_string_to_sign(struct kh_slice amz_date, struct kh_slice scope, struct kh_slice creq,
			    struct kh_buf *b)
{
	struct out o = { b, false };
	size_t before = kh_buf_len(b);
	char hex[KH_SIGV4_HEX_LEN + 1];

	kh_sigv4_sha256_hex(creq.ptr, creq.len, hex);
	put(&o, KH_SIGV4_ALGORITHM "\n", sizeof KH_SIGV4_ALGORITHM);
	put_s(&o, amz_date);
	put_c(&o, '\n');
	put_s(&o, scope);
	put_c(&o, '\n');
	put(&o, hex, KH_SIGV4_HEX_LEN);
	if (!o.overflow)
		return 0;
	kh_buf_truncate(b, before);
	return -1;
}

static void hmac(const uint8_t *key, size_t klen, struct kh_slice data, uint8_t out[32])
{
	unsigned int len = 32;

	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)data.ptr, data.len, out, &len);
}

int kh_sigv4_signing_key(const char *secret, size_t secret_len, const struct kh_sigv4_auth *a,
			 uint8_t key[KH_SIGV4_KEY_LEN])
{
	uint8_t k0[4 + KH_MAX_SECRET_LEN], k1[32], k2[32];

	if (secret_len > KH_MAX_SECRET_LEN)
		return -1;
	memcpy(k0, "AWS4", 4);
	memcpy(k0 + 4, secret, secret_len);
	hmac(k0, 4 + secret_len, a->date, k1);
	hmac(k1, sizeof k1, a->region, k2);
	hmac(k2, sizeof k2, a->service, k1);
	hmac(k1, sizeof k1, KH_SLICE_LIT("aws4_request"), key);
	OPENSSL_cleanse(k0, 4 + secret_len);
	OPENSSL_cleanse(k1, sizeof k1);
	OPENSSL_cleanse(k2, sizeof k2);
	return 0;
}

void kh_sigv4_signature(const uint8_t key[KH_SIGV4_KEY_LEN], struct kh_slice sts,
			char hex[KH_SIGV4_HEX_LEN + 1])
{
	uint8_t mac[32];

	hmac(key, KH_SIGV4_KEY_LEN, sts, mac);
	hex_encode(mac, sizeof mac, hex);
}

/* --- dates and payload digests --- */

/* n decimal digits of v at off, within [min, max]. */
static int field(struct kh_slice v, size_t off, size_t n, int min, int max, int *out)
{
	int x = 0;

	for (size_t i = off; i < off + n; i++) {
		if (!is_digit(v.ptr[i]))
			return -1;
		x = x * 10 + (v.ptr[i] - '0');
	}
	*out = x;
	return x < min || x > max ? -1 : 0;
}

int kh_sigv4_parse_date(struct kh_slice v, int64_t *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	struct tm tm;
	int y, mo, d, h, mi, s;
	time_t t;

	if (v.len != 16 || v.ptr[8] != 'T' || v.ptr[15] != 'Z')
		return -1;
	if (field(v, 0, 4, 1970, 9999, &y) != 0 || field(v, 4, 2, 1, 12, &mo) != 0 ||
	    field(v, 6, 2, 1, mdays[mo - 1], &d) != 0 || field(v, 9, 2, 0, 23, &h) != 0 ||
	    field(v, 11, 2, 0, 59, &mi) != 0 || field(v, 13, 2, 0, 60, &s) != 0)
		return -1;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != d) /* 29 February of a common year moves */
		return -1;
	*out = (int64_t)t;
	return 0;
}

bool kh_sigv4_is_digest(struct kh_slice v)
{
	if (v.len != KH_SIGV4_HEX_LEN)
		return false;
	for (size_t i = 0; i < v.len; i++)
		if (!is_lower_hex(kh_ascii_lower(v.ptr[i])))
			return false;
	return true;
}

struct kh_sigv4_body {
	EVP_MD_CTX *md;
	char want[KH_SIGV4_HEX_LEN + 1];
};

struct kh_sigv4_body *kh_sigv4_body_new(struct kh_slice digest)
{
	struct kh_sigv4_body *b;

	if (!kh_sigv4_is_digest(digest) || (b = calloc(1, sizeof *b)) == NULL)
		return NULL;
	for (size_t i = 0; i < KH_SIGV4_HEX_LEN; i++)
		b->want[i] = kh_ascii_lower(digest.ptr[i]);
	b->md = EVP_MD_CTX_new();
	if (b->md == NULL || EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1) {
		kh_sigv4_body_free(b);
		return NULL;
	}
	return b;
}

void kh_sigv4_body_update(struct kh_sigv4_body *b, const void *p, size_t n)
{
	if (n > 0 && EVP_DigestUpdate(b->md, p, n) != 1)
		b->want[0] = '\0'; /* cannot match any more: fails closed */
}

bool kh_sigv4_body_matches(struct kh_sigv4_body *b)
{
	uint8_t d[32];
	unsigned int len = 0;
	char hex[KH_SIGV4_HEX_LEN + 1];

	if (EVP_DigestFinal_ex(b->md, d, &len) != 1 || len != sizeof d)
		return false;
	hex_encode(d, sizeof d, hex);
	return CRYPTO_memcmp(hex, b->want, KH_SIGV4_HEX_LEN) == 0;
}

void kh_sigv4_body_free(struct kh_sigv4_body *b)
{
	if (b == NULL)
		return;
	EVP_MD_CTX_free(b->md);
	free(b);
}
