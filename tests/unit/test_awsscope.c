/* Which hosts a SigV4 request may be re-signed toward, from its credential
 * scope: AWS's own endpoints of the scope's service and region pass,
 * customer-controlled hosts under AWS domains never do, and the S3 bucket
 * allowlist holds in both URL styles. */
#include "policy/awsscope.h"
#include "tap.h"

static char *const no_buckets[] = { NULL };
static char *const buckets[] = { "allowed-bucket", "my.dotted.bucket" };

static struct kh_awsscope_result res;

/* Verdict for a request signed for service/region sent to host + path. */
static int judge(const char *service, const char *region, const char *host, const char *path,
		 bool named, bool with_buckets)
{
	struct kh_awsscope_req r = {
		.host = host,
		.service = kh_slice_cstr(service),
		.region = kh_slice_cstr(region),
		.path = kh_slice_cstr(path),
		.host_named = named,
		.buckets_set = with_buckets,
		.buckets = with_buckets ? buckets : no_buckets,
		.n_buckets = with_buckets ? 2 : 0,
	};

	if (kh_awsscope_check(&r, &res) == 0) {
		CHECK_INT(res.verdict, KH_AWSSCOPE_OK);
		return KH_AWSSCOPE_OK;
	}
	CHECK(res.verdict != KH_AWSSCOPE_OK && res.why != NULL && res.why[0] != '\0');
	return (int)res.verdict;
}

#define OK(svc, reg, host) CHECK_INT(judge(svc, reg, host, "/", false, false), KH_AWSSCOPE_OK)
#define MISMATCH(svc, reg, host) \
	CHECK_INT(judge(svc, reg, host, "/", false, false), KH_AWSSCOPE_MISMATCH)

static void regions(void)
{
	static const char *const good[] = { "us-east-1",      "eu-west-3",      "ap-southeast-7",
					    "us-gov-west-1",  "cn-northwest-1", "us-isob-east-1",
					    "eusc-de-east-1", "il-central-1",   "me-south-1" };
	static const char *const bad[] = {
		"",
		"us",
		"us-east",
		"us-east-",
		"-us-east-1",
		"compute-1",
		"us-east-123",
		"US-EAST-1",
		"us-up-1",
		"s3-us-east-1",
		"website-us-east-1",
		"us-east-1a",
		"us-foo-east-1",
		"abcde-east-1",
		"us-gov-iso-east-1",
		"us--east-1",
		"us-east-1-",
		"auto",
	};

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		CHECK(kh_awsscope_region_ok(kh_slice_cstr(good[i])));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (kh_awsscope_region_ok(kh_slice_cstr(bad[i])))
			printf("#   region '%s' accepted\n", bad[i]);
		CHECK(!kh_awsscope_region_ok(kh_slice_cstr(bad[i])));
	}
}

static void names(void)
{
	CHECK(kh_awsscope_service_ok(KH_SLICE_LIT("s3")));
	CHECK(kh_awsscope_service_ok(KH_SLICE_LIT("bedrock")));
	CHECK(kh_awsscope_service_ok(KH_SLICE_LIT("route53-recovery-control-config")));
	CHECK(!kh_awsscope_service_ok(KH_SLICE_LIT("")));
	CHECK(!kh_awsscope_service_ok(KH_SLICE_LIT("S3")));
	CHECK(!kh_awsscope_service_ok(KH_SLICE_LIT("3s")));
	CHECK(!kh_awsscope_service_ok(KH_SLICE_LIT("s3-")));
	CHECK(!kh_awsscope_service_ok(KH_SLICE_LIT("a.b")));
	CHECK(kh_awsscope_bucket_ok(KH_SLICE_LIT("abc")));
	CHECK(kh_awsscope_bucket_ok(KH_SLICE_LIT("my.dotted-bucket1")));
	CHECK(!kh_awsscope_bucket_ok(KH_SLICE_LIT("ab")));
	CHECK(!kh_awsscope_bucket_ok(KH_SLICE_LIT("Upper")));
	CHECK(!kh_awsscope_bucket_ok(KH_SLICE_LIT("a..b")));
	CHECK(!kh_awsscope_bucket_ok(KH_SLICE_LIT("-abc")));
	CHECK(!kh_awsscope_bucket_ok(KH_SLICE_LIT("abc.")));
	CHECK(!kh_awsscope_bucket_ok(KH_SLICE_LIT("a_b_c")));
	CHECK(!kh_awsscope_bucket_ok(KH_SLICE_LIT("a%62c")));
}

static void s3_endpoints(void)
{
	OK("s3", "us-east-1", "s3.us-east-1.amazonaws.com");
	OK("s3", "us-east-1", "bucket.s3.us-east-1.amazonaws.com");
	OK("s3", "us-east-1", "s3.amazonaws.com");
	OK("s3", "us-east-1", "bucket.s3.amazonaws.com");
	OK("s3", "us-east-1", "s3-external-1.amazonaws.com");
	OK("s3", "eu-west-1", "s3.eu-west-1.amazonaws.com");
	OK("s3", "eu-west-1", "a.b.c.s3.eu-west-1.amazonaws.com");
	OK("s3", "eu-west-1", "s3.dualstack.eu-west-1.amazonaws.com");
	OK("s3", "eu-west-1", "bucket.s3.dualstack.eu-west-1.amazonaws.com");
	OK("s3", "us-gov-west-1", "s3-fips.us-gov-west-1.amazonaws.com");
	OK("s3", "us-east-1", "bucket.s3-fips.dualstack.us-east-1.amazonaws.com");
	OK("s3", "us-west-2", "s3-us-west-2.amazonaws.com");
	OK("s3", "us-west-2", "bucket.s3-us-west-2.amazonaws.com");
	OK("s3", "cn-north-1", "s3.cn-north-1.amazonaws.com.cn");
	OK("s3", "cn-north-1", "bucket.s3.cn-north-1.amazonaws.com.cn");
	/* another region, the global name for another region, other S3 hosts */
	MISMATCH("s3", "us-east-1", "s3.eu-west-1.amazonaws.com");
	MISMATCH("s3", "us-east-1", "bucket.s3.eu-west-1.amazonaws.com");
	MISMATCH("s3", "eu-west-1", "s3.amazonaws.com");
	MISMATCH("s3", "eu-west-1", "bucket.s3.amazonaws.com");
	MISMATCH("s3", "us-east-1", "s3.amazonaws.com.cn");
	MISMATCH("s3", "us-east-1", "bucket.s3-website-us-east-1.amazonaws.com");
	MISMATCH("s3", "us-east-1", "bucket.s3-website.us-east-1.amazonaws.com");
	MISMATCH("s3", "us-east-1", "ap-111122223333.s3-accesspoint.us-east-1.amazonaws.com");
	MISMATCH("s3", "us-east-1", "111122223333.s3-control.us-east-1.amazonaws.com");
	MISMATCH("s3", "us-east-1", "ap-1.s3-object-lambda.us-east-1.amazonaws.com");
	MISMATCH("s3", "us-east-1", "bucket.s3-accelerate.amazonaws.com");
	MISMATCH("s3", "us-east-1", "Bucket_x.s3.us-east-1.amazonaws.com");
	MISMATCH("s3", "us-east-1", "sts.us-east-1.amazonaws.com");
	/* not under an AWS domain: the mapping alone decides (resign.c) */
	OK("s3", "us-east-1", "s3.us-east-1.amazonaws.com.evil.example");
	/* the example: an attacker's API Gateway */
	MISMATCH("s3", "us-east-1", "x.execute-api.us-east-1.amazonaws.com");
	CHECK(strstr(res.why, "API Gateway") != NULL);
}

static void other_services(void)
{
	OK("sts", "us-east-1", "sts.us-east-1.amazonaws.com");
	OK("sts", "us-east-1", "sts.amazonaws.com");
	OK("sts", "eu-west-1", "sts.eu-west-1.amazonaws.com");
	OK("sts", "us-east-1", "sts-fips.us-east-1.amazonaws.com");
	OK("iam", "us-east-1", "iam.amazonaws.com");
	OK("route53", "us-east-1", "route53.amazonaws.com");
	OK("bedrock", "us-west-2", "bedrock-runtime.us-west-2.amazonaws.com");
	OK("bedrock", "us-west-2", "bedrock.us-west-2.amazonaws.com");
	OK("bedrock", "us-west-2", "bedrock-agent-runtime.us-west-2.amazonaws.com");
	OK("sagemaker", "us-west-2", "runtime.sagemaker.us-west-2.amazonaws.com");
	OK("ses", "eu-west-1", "email.eu-west-1.amazonaws.com");
	OK("dynamodb", "us-east-1", "dynamodb.us-east-1.amazonaws.com");
	OK("lambda", "us-east-1", "lambda.us-east-1.api.aws");
	OK("ec2", "cn-north-1", "ec2.cn-north-1.amazonaws.com.cn");
	MISMATCH("sts", "eu-west-1", "sts.amazonaws.com"); /* global only for us-east-1 */
	MISMATCH("dynamodb", "us-east-1", "dynamodb.amazonaws.com"); /* not a global service */
	MISMATCH("sts", "us-east-1", "sts.eu-west-1.amazonaws.com");
	MISMATCH("sts", "us-east-1", "iam.amazonaws.com");
	MISMATCH("bedrock", "us-west-2", "bedrock-runtime.us-east-1.amazonaws.com");
	MISMATCH("ses", "us-east-1", "bedrock-runtime.us-east-1.amazonaws.com");
	MISMATCH("sts", "us-east-1", "x.sts.us-east-1.amazonaws.com");
	/* customer-controlled hosts, whatever scope names them */
	MISMATCH("execute-api", "us-east-1", "x.execute-api.us-east-1.amazonaws.com");
	MISMATCH("execute-api", "us-east-1", "execute-api.us-east-1.amazonaws.com");
	MISMATCH("lambda", "us-east-1", "abc.lambda-url.us-east-1.on.aws");
	CHECK(strstr(res.why, "Lambda function URL") != NULL);
	MISMATCH("ec2", "us-east-1", "ec2-54-1-2-3.compute-1.amazonaws.com");
	CHECK(strstr(res.why, "EC2") != NULL);
	CHECK_INT(judge("ec2-54-1-2-3", "compute-1", "ec2-54-1-2-3.compute-1.amazonaws.com", "/",
			false, false),
		  KH_AWSSCOPE_BAD_SCOPE);
	MISMATCH("ec2", "us-west-2", "ec2-54-1-2-3.us-west-2.compute.amazonaws.com");
	MISMATCH("elasticloadbalancing", "us-east-1", "my-lb-1.us-east-1.elb.amazonaws.com");
	MISMATCH("cloudfront", "us-east-1", "d111111abcdef8.cloudfront.net");
	CHECK(strstr(res.why, "CloudFront") != NULL);
	MISMATCH("s3-object-lambda", "us-east-1", "s3-object-lambda.us-east-1.amazonaws.com");
	MISMATCH("s3-outposts", "us-east-1", "s3-outposts.us-east-1.amazonaws.com");
	MISMATCH("sts", "us-east-1", "app.us-east-1.elasticbeanstalk.com");
}

static void scope_shape(void)
{
	CHECK_INT(judge("s3", "auto", "s3.us-east-1.amazonaws.com", "/", false, false),
		  KH_AWSSCOPE_BAD_SCOPE);
	CHECK_INT(judge("S3", "us-east-1", "s3.us-east-1.amazonaws.com", "/", false, false),
		  KH_AWSSCOPE_BAD_SCOPE);
	/* outside AWS, a plain word passes: S3-compatible stores sign for "auto" */
	CHECK_INT(judge("s3", "auto", "store.example.com", "/", false, false), KH_AWSSCOPE_OK);
	CHECK_INT(judge("s3", "a b", "store.example.com", "/", false, false),
		  KH_AWSSCOPE_BAD_SCOPE);
}

static void operator_choice(void)
{
	/* named exactly in the mapping: the operator's decision */
	CHECK_INT(judge("execute-api", "us-east-1", "abc.execute-api.us-east-1.amazonaws.com", "/",
			true, false),
		  KH_AWSSCOPE_OK);
	/* outside AWS's domains and matched by the mapping: an endpoint the operator added */
	CHECK_INT(judge("sts", "us-east-1", "sts.wild.test", "/", false, false), KH_AWSSCOPE_OK);
}

#define BUCKET(host, path, named, want) \
	CHECK_INT(judge("s3", "us-east-1", host, path, named, true), want)

static void bucket_allowlist(void)
{
	const int ok = KH_AWSSCOPE_OK, no = KH_AWSSCOPE_BUCKET;

	BUCKET("allowed-bucket.s3.us-east-1.amazonaws.com", "/key", false, ok);
	CHECK_STR(res.bucket, "allowed-bucket");
	BUCKET("allowed-bucket.s3.amazonaws.com", "/other-bucket/key", false, ok);
	BUCKET("my.dotted.bucket.s3.us-east-1.amazonaws.com", "/", false, ok);
	BUCKET("s3.us-east-1.amazonaws.com", "/allowed-bucket/key", false, ok);
	BUCKET("s3.us-east-1.amazonaws.com", "/allowed-bucket", false, ok);
	BUCKET("s3.amazonaws.com", "/allowed-bucket/a/b/c.txt", false, ok);
	BUCKET("other-bucket.s3.us-east-1.amazonaws.com", "/allowed-bucket/key", false, no);
	CHECK_STR(res.bucket, "other-bucket");
	BUCKET("s3.us-east-1.amazonaws.com", "/other-bucket/key", false, no);
	CHECK_STR(res.bucket, "other-bucket");
	BUCKET("s3.us-east-1.amazonaws.com", "/", false, no); /* ListBuckets */
	BUCKET("s3.us-east-1.amazonaws.com", "//allowed-bucket/key", false, no);
	BUCKET("s3.us-east-1.amazonaws.com", "/allowed-bucket/../other-bucket/key", false, no);
	BUCKET("s3.us-east-1.amazonaws.com", "/allowed-bucket/%2E%2e/other-bucket/k", false, no);
	BUCKET("s3.us-east-1.amazonaws.com", "/allowed-bucket/./k", false, no);
	BUCKET("s3.us-east-1.amazonaws.com", "/allowed-bucket/a..b/k", false, ok);
	BUCKET("s3.us-east-1.amazonaws.com", "/%61llowed-bucket/key", false, no);
	BUCKET("s3.us-east-1.amazonaws.com", "/Allowed-bucket/key", false, no);
	BUCKET("s3.us-east-1.amazonaws.com", "allowed-bucket/key", false, no);
	BUCKET("allowed-bucket-2.s3.us-east-1.amazonaws.com", "/", false, no);
	/* outside AWS: path style only where the host is named exactly */
	BUCKET("store.example.com", "/allowed-bucket/key", true, ok);
	BUCKET("store.example.com", "/other-bucket/key", true, no);
	BUCKET("store.example.com", "/allowed-bucket/key", false, no);
	/* other services are not bucket-checked */
	CHECK_INT(judge("sts", "us-east-1", "sts.amazonaws.com", "/", false, true), ok);
}

int main(void)
{
	RUN(regions);
	RUN(names);
	RUN(s3_endpoints);
	RUN(other_services);
	RUN(scope_shape);
	RUN(operator_choice);
	RUN(bucket_allowlist);
	TAP_DONE();
}
