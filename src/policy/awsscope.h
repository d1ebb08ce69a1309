/* Which hosts an AWS SigV4 request may be re-signed toward.
 *
 * A request's credential scope names the service and region it is signed
 * for, and the sandbox chooses that scope freely. `*.amazonaws.com` holds
 * AWS's own endpoints but also hosts that customers control (API Gateway's
 * `<id>.execute-api.<region>.amazonaws.com`, load balancers, EC2 instances,
 * S3 website endpoints), where a request signed with the real keys would
 * show them to whoever runs that host, and any bucket, including someone
 * else's. So resign.c asks this module, before signing anything, whether the
 * destination is an endpoint of the scope's service in the scope's region:
 *
 *   s3       [<bucket>.]s3.<region>.<P>, [<bucket>.]s3-fips.<region>.<P>,
 *            [<bucket>.]s3[-fips].dualstack.<region>.<P>,
 *            [<bucket>.]s3-<region>.amazonaws.com (legacy), and for us-east-1
 *            [<bucket>.]s3.amazonaws.com, [<bucket>.]s3-external-1.amazonaws.com
 *   other    <prefix>.<region>.<P>, <prefix>-fips.<region>.<P>,
 *            <prefix>[-fips].<region>.api.aws, where <prefix> is the service
 *            or an endpoint prefix AWS signs as that service (bedrock-runtime
 *            as bedrock, email as ses, ...); for us-east-1 also the global
 *            <service>.amazonaws.com of iam, sts, route53, cloudfront, waf
 *   never    execute-api, and every service named s3-something other than s3
 *            (s3-object-lambda runs customer code; s3-outposts and s3express
 *            name buckets keyhole cannot check)
 * with <P> amazonaws.com or amazonaws.com.cn. Any other host under an AWS
 * domain (amazonaws.com, amazonaws.com.cn, amazonaws.eu, *.aws,
 * cloudfront.net and AWS's customer-hosting domains) is refused. Two kinds
 * of host are the operator's choice instead and pass for any scope: a host
 * the AWS mapping names exactly (no '*'), and any host outside those domains
 * that the mapping matches (an S3-compatible store, a test upstream).
 *
 * With an S3 bucket allowlist (config.yaml aws.buckets), an S3 request must
 * also name a listed bucket: in the host (virtual-hosted style) or as the
 * first path segment (path style, on an endpoint without a bucket label).
 * A request whose bucket cannot be told is refused: no bucket at all
 * (ListBuckets), a path-style path with dot segments or escapes in its
 * first segment, or a host outside AWS that a wildcard matched.
 *
 * Pure: no I/O, no allocation. */
#ifndef KH_AWSSCOPE_H
#define KH_AWSSCOPE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/slice.h"
#include "base/kh_limits.h"

#define KH_S3_BUCKET_MIN 3
#define KH_S3_BUCKET_MAX 63

struct kh_awsscope_req {
	const char *host; /* normalized destination host (hostname.h) */
	struct kh_slice service, region; /* from the credential scope */
	struct kh_slice path; /* the request target before '?' */
	bool host_named; /* the AWS mapping names host exactly: the operator's choice */
	bool buckets_set; /* aws.buckets is configured: S3 only for those */
	char *const *buckets; /* valid bucket names (kh_awsscope_bucket_ok) */
	size_t n_buckets;
};

enum kh_awsscope_verdict {
	KH_AWSSCOPE_OK,
	KH_AWSSCOPE_BAD_SCOPE, /* the region or service is not shaped like AWS's */
	KH_AWSSCOPE_MISMATCH, /* the host is not an endpoint of that service in that region */
	KH_AWSSCOPE_BUCKET, /* an S3 request for no listed bucket, or one keyhole cannot tell */
};

struct kh_awsscope_result {
	enum kh_awsscope_verdict verdict;
	const char *why; /* static: what the host is, or why the bucket is refused */
	char bucket[KH_S3_BUCKET_MAX + 1]; /* the bucket asked for, "" if none or untold */
};

/* Judges r. Returns 0 (re-sign it) or -1 (refuse: out says why). */
int kh_awsscope_check(const struct kh_awsscope_req *r, struct kh_awsscope_result *out);

/* "us-east-1", "eu-central-2", "us-gov-west-1", "cn-northwest-1": two to
 * four letters, an optional partition qualifier (gov, iso, isob, isoe,
 * isof, de), a direction word and a one- or two-digit number. */
bool kh_awsscope_region_ok(struct kh_slice region);

/* A signing name: lowercase letters, digits and inner '-', starting with a
 * letter, at most KH_AWS_SERVICE_MAX bytes. */
bool kh_awsscope_service_ok(struct kh_slice service);

/* An S3 bucket name by today's rules: 3-63 bytes of lowercase letters,
 * digits, '.' and '-', starting and ending with a letter or digit, no "..". */
bool kh_awsscope_bucket_ok(struct kh_slice name);

#endif
