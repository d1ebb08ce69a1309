/* Which hosts a SigV4 request may be re-signed toward (awsscope.c), from
 * sandbox-chosen bytes. Input: byte 0 flags (bit 0: the mapping names the
 * host exactly, bit 1: aws.buckets is set), then "host\nservice\nregion\npath".
 * The host is normalized first, as keyhole does before anything is judged.
 * Invariants: the verdict agrees with the return value and is repeatable; a
 * refusal says why; a named bucket is a valid bucket name; with aws.buckets
 * an S3 request passes only for a listed bucket; unless the operator named
 * the host, a host under an AWS domain passes only with an AWS-shaped scope,
 * never under cloudfront.net; an S3 host is [bucket.]s3-label[.dualstack]
 * [.region].amazonaws.com[.cn] in the scope's region with a valid bucket;
 * any other host has no customer-controlled label (execute-api, lambda-url,
 * s3-website*, s3-object-lambda, elb, compute) and the scope's region as a
 * label (or, for us-east-1, is a global form). */
#include <stdio.h>
#include <string.h>

#include "policy/awsscope.h"
#include "fuzz_check.h"
#include "base/hostname.h"

static char *const listed[] = { "allowed-bucket", "a.b.c" };

static struct kh_slice next_line(struct kh_slice *rest)
{
	struct kh_slice line;

	kh_slice_split(rest, '\n', &line);
	return line;
}

static bool under(const char *host, const char *domain)
{
	size_t h = strlen(host), d = strlen(domain);

	return strcmp(host, domain) == 0 ||
	       (h > d && host[h - d - 1] == '.' && strcmp(host + h - d, domain) == 0);
}

static bool has_label(const char *host, struct kh_slice label, bool prefix)
{
	const char *p = host;

	while (*p != '\0') {
		size_t n = strcspn(p, ".");

		if ((prefix ? n >= label.len : n == label.len) &&
		    memcmp(p, label.ptr, label.len) == 0)
			return true;
		p += n + (p[n] == '.');
	}
	return false;
}

/* The last label of *h (h keeps what precedes its dot). */
static struct kh_slice pop_label(struct kh_slice *h)
{
	size_t i = h->len;
	struct kh_slice l;

	while (i > 0 && h->ptr[i - 1] != '.')
		i--;
	l = kh_slice_make(h->ptr + i, h->len - i);
	h->len = i > 0 ? i - 1 : 0;
	return l;
}

/* An S3 host that passed: [bucket.]s3-label[.dualstack][.region].partition
 * with the scope's region, and the bucket part a bucket name. */
static void check_s3_host(const struct kh_awsscope_req *r)
{
	struct kh_slice h = kh_slice_cstr(r->host), l;
	char legacy[80];
	size_t n = strlen(".amazonaws.com.cn");

	if (under(r->host, "amazonaws.com.cn"))
		h.len -= n;
	else
		h.len -= n - 3;
	CHECK(under(r->host, "amazonaws.com") || under(r->host, "amazonaws.com.cn"));
	l = pop_label(&h);
	snprintf(legacy, sizeof legacy, "s3-%.*s", (int)r->region.len, r->region.ptr);
	if (kh_slice_eq(l, r->region)) {
		l = pop_label(&h);
		if (kh_slice_eq_cstr(l, "dualstack"))
			l = pop_label(&h);
		CHECK(kh_slice_eq_cstr(l, "s3") || kh_slice_eq_cstr(l, "s3-fips"));
	} else {
		CHECK(kh_slice_eq_cstr(l, legacy) ||
		      (kh_slice_eq_cstr(r->region, "us-east-1") &&
		       (kh_slice_eq_cstr(l, "s3") || kh_slice_eq_cstr(l, "s3-external-1"))));
	}
	CHECK(h.len == 0 || kh_awsscope_bucket_ok(h));
}

static void check_aws_host(const struct kh_awsscope_req *r)
{
	static const char *const customer[] = { "execute-api", "lambda-url",       "elb",
						"compute",     "s3-object-lambda", "compute-1" };

	CHECK(kh_awsscope_region_ok(r->region) && kh_awsscope_service_ok(r->service));
	CHECK(!under(r->host, "cloudfront.net"));
	if (kh_slice_eq_cstr(r->service, "s3")) {
		check_s3_host(r);
		return;
	}
	for (size_t i = 0; i < sizeof customer / sizeof customer[0]; i++)
		CHECK(!has_label(r->host, kh_slice_cstr(customer[i]), false));
	CHECK(!has_label(r->host, KH_SLICE_LIT("s3-website"), true));
	CHECK(has_label(r->host, r->region, false) || kh_slice_eq_cstr(r->region, "us-east-1"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kh_slice rest, raw_host;
	struct kh_awsscope_req r;
	struct kh_awsscope_result a, b;
	char host[KH_HOST_BUF];
	int rc;

	if (size < 1)
		return 0;
	rest = kh_slice_make(data + 1, size - 1);
	raw_host = next_line(&rest);
	if (kh_host_normalize(raw_host, host) < 0)
		return 0;
	memset(&r, 0, sizeof r);
	r.host = host;
	r.service = next_line(&rest);
	r.region = next_line(&rest);
	r.path = rest;
	r.host_named = data[0] & 1;
	r.buckets_set = data[0] & 2;
	r.buckets = listed;
	r.n_buckets = 2;
	rc = kh_awsscope_check(&r, &a);
	CHECK(kh_awsscope_check(&r, &b) == rc && a.verdict == b.verdict);
	CHECK(strcmp(a.bucket, b.bucket) == 0);
	CHECK((rc == 0) == (a.verdict == KH_AWSSCOPE_OK));
	CHECK(rc == 0 || (a.why != NULL && a.why[0] != '\0'));
	CHECK(a.bucket[0] == '\0' || kh_awsscope_bucket_ok(kh_slice_cstr(a.bucket)));
	if (rc != 0)
		return 0;
	if (r.buckets_set && kh_slice_eq_cstr(r.service, "s3"))
		CHECK(strcmp(a.bucket, listed[0]) == 0 || strcmp(a.bucket, listed[1]) == 0);
	if (!r.host_named && (under(host, "amazonaws.com") || under(host, "amazonaws.com.cn") ||
			      under(host, "aws") || under(host, "cloudfront.net")))
		check_aws_host(&r);
	return 0;
}
