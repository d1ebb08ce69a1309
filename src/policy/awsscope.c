#include "policy/awsscope.h"

#include <string.h>

/* Domains whose hosts are AWS's or its customers': a host under one of them
 * is re-signed toward only when it is the scope's own endpoint. */
static const char *const aws_domains[] = {
	"amazonaws.com",  "amazonaws.com.cn",         "amazonaws.eu",         "aws",
	"cloudfront.net", "awsglobalaccelerator.com", "elasticbeanstalk.com", "awsapprunner.com",
	"amplifyapp.com",
};

/* Endpoint prefixes that AWS signs under another service name. */
static const struct {
	const char *prefix, *service;
} aliases[] = {
	{ "bedrock-runtime", "bedrock" },
	{ "bedrock-agent", "bedrock" },
	{ "bedrock-agent-runtime", "bedrock" },
	{ "email", "ses" },
	{ "runtime.sagemaker", "sagemaker" },
	{ "api.sagemaker", "sagemaker" },
	{ "runtime.lex", "lex" },
	{ "models.lex", "lex" },
	{ "runtime-v2-lex", "lex" },
	{ "streams.dynamodb", "dynamodb" },
	{ "api.ecr", "ecr" },
	{ "api.pricing", "pricing" },
	{ "entitlement.marketplace", "aws-marketplace" },
	{ "metering.marketplace", "aws-marketplace" },
};

/* Services with one endpoint for all regions, signed for us-east-1. */
static const char *const global_services[] = { "iam", "sts", "route53", "cloudfront", "waf" };

/* --- small string helpers --- */

/* If *s starts with p, drops it and returns true. */
static bool eat(struct kh_slice *s, struct kh_slice p)
{
	if (s->len < p.len || memcmp(s->ptr, p.ptr, p.len) != 0)
		return false;
	s->ptr += p.len;
	s->len -= p.len;
	return true;
}

static bool eat_c(struct kh_slice *s, const char *p)
{
	return eat(s, kh_slice_cstr(p));
}

/* If *s ends with "." + suffix, drops both and returns true. */
static bool strip_domain(struct kh_slice *s, const char *suffix)
{
	size_t n = strlen(suffix);

	if (s->len <= n || s->ptr[s->len - n - 1] != '.' ||
	    memcmp(s->ptr + s->len - n, suffix, n) != 0)
		return false;
	s->len -= n + 1;
	return true;
}

/* Is host domain itself or under it? */
static bool under(const char *host, const char *domain)
{
	struct kh_slice h = kh_slice_cstr(host);

	return strcmp(host, domain) == 0 || strip_domain(&h, domain);
}

/* The last label of *s; *s keeps what precedes its dot (empty if none). */
static struct kh_slice last_label(struct kh_slice *s)
{
	size_t i = s->len;
	struct kh_slice l;

	while (i > 0 && s->ptr[i - 1] != '.')
		i--;
	l = kh_slice_make(s->ptr + i, s->len - i);
	s->len = i > 0 ? i - 1 : 0;
	return l;
}

static bool has_label(const char *host, const char *label)
{
	struct kh_slice rest = kh_slice_cstr(host);

	while (rest.len > 0)
		if (kh_slice_eq_cstr(last_label(&rest), label))
			return true;
	return false;
}

static bool has_label_prefix(const char *host, const char *prefix)
{
	struct kh_slice rest = kh_slice_cstr(host);

	while (rest.len > 0) {
		struct kh_slice l = last_label(&rest);

		if (eat_c(&l, prefix))
			return true;
	}
	return false;
}

static bool in_list(struct kh_slice s, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (kh_slice_eq_cstr(s, v[i]))
			return true;
	return false;
}

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* --- names --- */

static bool all_lower(struct kh_slice s, size_t min, size_t max)
{
	if (s.len < min || s.len > max)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (!is_lower(s.ptr[i]))
			return false;
	return true;
}

bool kh_awsscope_region_ok(struct kh_slice region)
{
	static const char *const qualifiers[] = { "gov", "iso", "isob", "isoe", "isof", "de" };
	static const char *const directions[] = { "central",   "north",     "south",
						  "east",      "west",      "northeast",
						  "northwest", "southeast", "southwest" };
	struct kh_slice rest = region, part[4];
	size_t n = 0;
	bool more;

	do {
		if (n == 4)
			return false;
		more = kh_slice_split(&rest, '-', &part[n++]);
	} while (more);
	if (n != 3 && n != 4)
		return false;
	if (!all_lower(part[0], 2, 4) || (n == 4 && !in_list(part[1], qualifiers, 6)) ||
	    !in_list(part[n - 2], directions, sizeof directions / sizeof directions[0]))
		return false;
	if (part[n - 1].len < 1 || part[n - 1].len > 2)
		return false;
	for (size_t i = 0; i < part[n - 1].len; i++)
		if (!is_digit(part[n - 1].ptr[i]))
			return false;
	return true;
}

bool kh_awsscope_service_ok(struct kh_slice s)
{
	if (s.len == 0 || s.len > KH_AWS_SERVICE_MAX || !is_lower(s.ptr[0]) ||
	    s.ptr[s.len - 1] == '-')
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (!is_lower(s.ptr[i]) && !is_digit(s.ptr[i]) && s.ptr[i] != '-')
			return false;
	return true;
}

bool kh_awsscope_bucket_ok(struct kh_slice b)
{
	if (b.len < KH_S3_BUCKET_MIN || b.len > KH_S3_BUCKET_MAX)
		return false;
	if (!(is_lower(b.ptr[0]) || is_digit(b.ptr[0])) ||
	    !(is_lower(b.ptr[b.len - 1]) || is_digit(b.ptr[b.len - 1])))
		return false;
	for (size_t i = 0; i < b.len; i++) {
		char c = b.ptr[i];

		if (!is_lower(c) && !is_digit(c) && c != '.' && c != '-')
			return false;
		if (c == '.' && b.ptr[i + 1] == '.') /* i + 1 < len: the last byte is alnum */
			return false;
	}
	return true;
}

/* --- S3 endpoints --- */

struct s3_host {
	struct kh_slice bucket; /* labels before the endpoint; empty = path style */
	struct kh_slice region; /* the region the endpoint serves */
};

/* Region-specific forms: [bucket.]s3[-fips][.dualstack].<region>. */
static bool s3_regional(struct kh_slice rest, struct kh_slice region, struct s3_host *out)
{
	struct kh_slice l = last_label(&rest);

	if (kh_slice_eq_cstr(l, "dualstack"))
		l = last_label(&rest);
	if (!kh_slice_eq_cstr(l, "s3") && !kh_slice_eq_cstr(l, "s3-fips"))
		return false;
	out->bucket = rest;
	out->region = region;
	return true;
}

/* Parses host as an AWS S3 endpoint. The region comes from the host, so the
 * bucket of a host is found whatever region the request is signed for. */
static bool parse_s3(const char *host, struct s3_host *out)
{
	struct kh_slice rest = kh_slice_cstr(host), l;
	bool cn = strip_domain(&rest, "amazonaws.com.cn");

	if (!cn && !strip_domain(&rest, "amazonaws.com"))
		return false;
	l = last_label(&rest);
	if (kh_awsscope_region_ok(l))
		return s3_regional(rest, l, out);
	if (cn)
		return false;
	out->bucket = rest;
	if (kh_slice_eq_cstr(l, "s3") || kh_slice_eq_cstr(l, "s3-external-1")) {
		out->region = KH_SLICE_LIT("us-east-1");
		return true;
	}
	out->region = kh_slice_make(l.ptr + 3, l.len > 3 ? l.len - 3 : 0); /* legacy s3-<region> */
	return l.len > 3 && memcmp(l.ptr, "s3-", 3) == 0 && kh_awsscope_region_ok(out->region);
}

/* --- the other services --- */

/* Is host exactly prefix + fips + "." + region + "." + domain? */
static bool host_is(const char *host, struct kh_slice prefix, const char *fips,
		    struct kh_slice region, const char *domain)
{
	struct kh_slice h = kh_slice_cstr(host);

	return eat(&h, prefix) && eat_c(&h, fips) && eat_c(&h, ".") && eat(&h, region) &&
	       eat_c(&h, ".") && eat_c(&h, domain) && h.len == 0;
}

static bool regional_endpoint(const char *host, struct kh_slice prefix, struct kh_slice region)
{
	static const char *const domains[] = { "amazonaws.com", "amazonaws.com.cn", "api.aws" };

	for (size_t i = 0; i < sizeof domains / sizeof domains[0]; i++)
		if (host_is(host, prefix, "", region, domains[i]) ||
		    host_is(host, prefix, "-fips", region, domains[i]))
			return true;
	return false;
}

static bool global_endpoint(const char *host, struct kh_slice service, struct kh_slice region)
{
	struct kh_slice h = kh_slice_cstr(host);

	return kh_slice_eq_cstr(region, "us-east-1") &&
	       in_list(service, global_services,
		       sizeof global_services / sizeof global_services[0]) &&
	       eat(&h, service) && kh_slice_eq_cstr(h, ".amazonaws.com");
}

static bool service_endpoint(const char *host, struct kh_slice service, struct kh_slice region)
{
	if (kh_slice_eq_cstr(service, "execute-api") ||
	    (service.len > 2 && memcmp(service.ptr, "s3", 2) == 0))
		return false; /* customer endpoints, or S3 variants whose bucket is untold */
	if (regional_endpoint(host, service, region) || global_endpoint(host, service, region))
		return true;
	for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
		if (kh_slice_eq_cstr(service, aliases[i].service) &&
		    regional_endpoint(host, kh_slice_cstr(aliases[i].prefix), region))
			return true;
	return false;
}

/* --- verdicts --- */

static bool aws_owned(const char *host)
{
	for (size_t i = 0; i < sizeof aws_domains / sizeof aws_domains[0]; i++)
		if (under(host, aws_domains[i]))
			return true;
	return false;
}

/* What a refused AWS host is, for the person reading the refusal. */
static const char *describe(const char *host, bool s3_scope, bool is_s3)
{
	static const struct {
		const char *label, *what;
	} customer[] = {
		{ "execute-api", "a customer-controlled endpoint (API Gateway)" },
		{ "lambda-url", "a customer-controlled endpoint (Lambda function URL)" },
		{ "appsync-api", "a customer-controlled endpoint (AppSync)" },
		{ "s3-object-lambda", "an S3 Object Lambda endpoint, which runs customer code" },
		{ "elb", "a customer-controlled endpoint (load balancer)" },
		{ "compute", "a customer-controlled endpoint (EC2 instance)" },
		{ "compute-1", "a customer-controlled endpoint (EC2 instance)" },
	};

	for (size_t i = 0; i < sizeof customer / sizeof customer[0]; i++)
		if (has_label(host, customer[i].label))
			return customer[i].what;
	if (has_label_prefix(host, "s3-website"))
		return "a customer-controlled endpoint (S3 website)";
	if (under(host, "cloudfront.net"))
		return "a customer-controlled endpoint (CloudFront distribution)";
	if (!under(host, "amazonaws.com") && !under(host, "amazonaws.com.cn") &&
	    !under(host, "aws"))
		return "a customer-controlled endpoint (an application hosted on AWS)";
	if (s3_scope && is_s3)
		return "an S3 endpoint of another region";
	return "not an endpoint of that service in that region that keyhole knows";
}

static int refuse(struct kh_awsscope_result *out, enum kh_awsscope_verdict v, const char *why)
{
	out->verdict = v;
	out->why = why;
	return -1;
}

/* A path segment that S3 or a server in front of it could read as "." or
 * "..", moving the request to another bucket. */
static bool dot_segment(struct kh_slice seg)
{
	size_t dots = 0;

	while (seg.len > 0) {
		if (seg.ptr[0] == '.')
			seg = kh_slice_make(seg.ptr + 1, seg.len - 1);
		else if (kh_slice_starts_with_nocase(seg, "%2e"))
			seg = kh_slice_make(seg.ptr + 3, seg.len - 3);
		else
			return false;
		dots++;
	}
	return dots >= 1 && dots <= 2;
}

/* The path-style bucket: the first segment of path. */
static int path_bucket(struct kh_slice path, struct kh_slice *bucket,
		       struct kh_awsscope_result *out)
{
	struct kh_slice rest = path, seg;

	if (!eat_c(&rest, "/"))
		return refuse(out, KH_AWSSCOPE_BUCKET, "the path does not start with '/'");
	kh_slice_split(&rest, '/', bucket);
	if (bucket->len == 0)
		return refuse(out, KH_AWSSCOPE_BUCKET,
			      "it names no bucket (a request for the account, like ListBuckets)");
	if (!kh_awsscope_bucket_ok(*bucket))
		return refuse(out, KH_AWSSCOPE_BUCKET,
			      "the path's first segment is not a plain bucket name");
	while (rest.len > 0) {
		kh_slice_split(&rest, '/', &seg);
		if (dot_segment(seg))
			return refuse(out, KH_AWSSCOPE_BUCKET,
				      "the path has a '.' or '..' segment, which could move it to "
				      "another bucket");
	}
	return 0;
}

static int check_bucket(const struct kh_awsscope_req *r, const struct s3_host *s3, bool is_s3,
			struct kh_awsscope_result *out)
{
	struct kh_slice b;

	if (is_s3 && s3->bucket.len > 0) {
		b = s3->bucket;
		if (!kh_awsscope_bucket_ok(b))
			return refuse(out, KH_AWSSCOPE_BUCKET,
				      "the host's bucket label is not a bucket name");
	} else if (is_s3 || r->host_named) {
		if (path_bucket(r->path, &b, out) != 0)
			return -1;
	} else {
		return refuse(
			out, KH_AWSSCOPE_BUCKET,
			"the host is not an AWS S3 endpoint, so keyhole cannot tell its "
			"bucket (name the host exactly in the AWS mapping to use path style)");
	}
	memcpy(out->bucket, b.ptr, b.len);
	out->bucket[b.len] = '\0';
	for (size_t i = 0; i < r->n_buckets; i++)
		if (kh_slice_eq_cstr(b, r->buckets[i]))
			return 0;
	return refuse(out, KH_AWSSCOPE_BUCKET, "the bucket is not in aws.buckets");
}

/* A region or service name for an endpoint outside AWS (S3-compatible
 * stores sign for regions like "auto" or "garage"): a plain word. */
static bool plain_name(struct kh_slice s)
{
	if (s.len == 0 || s.len > KH_AWS_SERVICE_MAX)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		char c = s.ptr[i];

		if (!is_lower(c) && !is_digit(c) && !(c >= 'A' && c <= 'Z') && c != '-' &&
		    c != '_' && c != '.')
			return false;
	}
	return true;
}

int kh_awsscope_check(const struct kh_awsscope_req *r, struct kh_awsscope_result *out)
{
	struct s3_host s3 = { { "", 0 }, { "", 0 } };
	bool s3_scope = kh_slice_eq_cstr(r->service, "s3");
	bool aws = aws_owned(r->host);
	bool is_s3, ok;

	memset(out, 0, sizeof *out);
	out->verdict = KH_AWSSCOPE_OK;
	out->why = "";
	if (aws ? !kh_awsscope_region_ok(r->region) || !kh_awsscope_service_ok(r->service)
		: !plain_name(r->region) || !plain_name(r->service))
		return refuse(out, KH_AWSSCOPE_BAD_SCOPE,
			      aws ? "the credential scope's region or service is not an AWS name"
				  : "the credential scope's region or service is not a plain name");
	is_s3 = parse_s3(r->host, &s3);
	if (r->host_named || !aws)
		ok = true; /* the operator's own choice of endpoint */
	else if (s3_scope)
		ok = is_s3 && kh_slice_eq(s3.region, r->region) &&
		     (s3.bucket.len == 0 || kh_awsscope_bucket_ok(s3.bucket));
	else
		ok = service_endpoint(r->host, r->service, r->region);
	if (!ok)
		return refuse(out, KH_AWSSCOPE_MISMATCH, describe(r->host, s3_scope, is_s3));
	if (s3_scope && r->buckets_set)
		return check_bucket(r, &s3, is_s3, out);
	return 0;
}
