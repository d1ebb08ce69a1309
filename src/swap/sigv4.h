/* AWS Signature Version 4, header form (`Authorization: AWS4-HMAC-SHA256
 * Credential=AKID/date/region/service/aws4_request, SignedHeaders=...,
 * Signature=...`): parsing that header, building the canonical request and
 * the string to sign, deriving the signing key and computing signatures.
 *
 * Pure: no I/O and no policy. resign.c decides when keyhole re-signs a
 * request and with which keys; this module only does the arithmetic, so it
 * can be checked against AWS's published test suite (tests/unit/test_sigv4.c).
 *
 * The canonical URI has three forms because AWS services disagree: S3 signs
 * the path exactly as sent, the others encode it again ("double encoding")
 * and most SDKs also normalize it first. keyhole does not guess which one a
 * client used; resign.c tries each and keeps the one whose signature
 * verifies. */
#ifndef KH_SIGV4_H
#define KH_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "http/http1.h"
#include "base/slice.h"

#define KH_SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define KH_SIGV4_HEX_LEN   64 /* a SHA-256 digest or signature in lowercase hex */
#define KH_SIGV4_KEY_LEN   32

struct kh_sigv4_auth {
	struct kh_slice akid; /* access key id */
	struct kh_slice scope; /* "date/region/service/aws4_request" */
	struct kh_slice date, region, service; /* parts of scope */
	struct kh_slice signed_headers; /* "host;x-amz-date", as sent */
	struct kh_slice signature; /* 64 lowercase hex */
};

/* Parses an Authorization value. Components may come in any order, separated
 * by commas and optional spaces; each must appear exactly once. Returns 0, or
 * -1 with *why set to a static explanation. Slices point into v. */
int kh_sigv4_parse_auth(struct kh_slice v, struct kh_sigv4_auth *a, const char **why);

enum kh_sigv4_path_form {
	KH_SIGV4_PATH_AS_SENT, /* S3: the path exactly as it is on the wire */
	KH_SIGV4_PATH_NORMALIZED, /* dot segments and empty segments removed, then encoded */
	KH_SIGV4_PATH_ENCODED, /* encoded as is: every byte but unreserved and '/' */
};

enum kh_sigv4_query_form {
	KH_SIGV4_QUERY_REENCODED, /* each name and value decoded, then strictly encoded */
	KH_SIGV4_QUERY_AS_SENT, /* the pairs as sent, only sorted (botocore's way) */
};

struct kh_sigv4_req {
	struct kh_slice method;
	struct kh_slice path; /* the target before '?' */
	struct kh_slice query; /* after '?', without it */
	const struct kh_http_header *headers;
	size_t n_headers;
	struct kh_slice signed_headers; /* lowercase names separated by ';' */
	struct kh_slice payload_hash; /* hex digest or a literal like UNSIGNED-PAYLOAD */
	/* When subst_name is set, that header's value is taken to be subst_value
	 * (the real session token signed in place of the sandbox's fake one). */
	struct kh_slice subst_name, subst_value;
	enum kh_sigv4_path_form path_form;
	enum kh_sigv4_query_form query_form;
};

/* Appends the canonical request to out (whose cap bounds it). Returns 0, or
 * -1 with *why set when out is too small or the input has too many query
 * parameters or signed headers. */
int kh_sigv4_canonical_request(const struct kh_sigv4_req *r, struct kh_buf *out, const char **why);

/* Appends "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256(creq)>" to
 * out. Returns 0 / -1 (does not fit). */
int kh_sigv4_string_to_sign(struct kh_slice amz_date, struct kh_slice scope, struct kh_slice creq,
			    struct kh_buf *out);

/* kSigning = HMAC chain over "AWS4"+secret, date, region, service,
 * "aws4_request". Returns 0, or -1 if the secret is longer than
 * KH_MAX_SECRET_LEN. Intermediate keys are wiped; the caller wipes key. */
int kh_sigv4_signing_key(const char *secret, size_t secret_len, const struct kh_sigv4_auth *a,
			 uint8_t key[KH_SIGV4_KEY_LEN]);

/* hex(HMAC-SHA256(key, sts)), NUL-terminated. */
void kh_sigv4_signature(const uint8_t key[KH_SIGV4_KEY_LEN], struct kh_slice sts,
			char hex[KH_SIGV4_HEX_LEN + 1]);

/* hex(SHA-256(p)), NUL-terminated. */
void kh_sigv4_sha256_hex(const void *p, size_t n, char hex[KH_SIGV4_HEX_LEN + 1]);

/* Parses an X-Amz-Date value, "yyyymmddThhmmssZ" (UTC, exactly 16 bytes,
 * every field in range), into Unix seconds. Returns 0 / -1. */
int kh_sigv4_parse_date(struct kh_slice v, int64_t *out);

/* Is v a payload hash as x-amz-content-sha256 declares one: 64 hex digits
 * (either case)? */
bool kh_sigv4_is_digest(struct kh_slice v);

/* A body checked against the digest its request declared (the signature
 * covers the digest, not the body): fed as it streams, compared at the end.
 * Owned by the caller; kh_sigv4_body_free accepts NULL. */
struct kh_sigv4_body;

/* NULL when out of memory or digest is not kh_sigv4_is_digest(). */
struct kh_sigv4_body *kh_sigv4_body_new(struct kh_slice digest);
void kh_sigv4_body_update(struct kh_sigv4_body *b, const void *p, size_t n);
/* Finishes the hash: does the body fed so far match the digest? Once. */
bool kh_sigv4_body_matches(struct kh_sigv4_body *b);
void kh_sigv4_body_free(struct kh_sigv4_body *b);

#endif
