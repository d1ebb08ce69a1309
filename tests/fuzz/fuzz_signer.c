/* The CA signer's request handler (tls/signer.c) as a compromised front
 * meets it. A fresh signer per input (3 fronts; bytes 0-2 pick a cache of
 * 1-4 leaves, 1-100 new leaves a second, a burst of 1-8), then a program of
 * requests, each:
 *   flags, front, dt (u16 LE), host (u8 length + bytes, or a pick from a
 *   list), key (u8 length + raw bytes, or one of three real P-256 keys,
 *   maybe with one byte changed)
 * flags: bit 0 allow every host (else a pattern list), bits 1-2 key source
 * (0 raw, else pool key 1-3), bit 3 change one byte of a pool key, bit 4
 * host from the list, bit 5 the clock goes back by dt instead of forward,
 * bit 6 (twice per input at most) instead of one request, enough new hosts
 * with pool key 1 to run the front's token bucket dry.
 * Invariants:
 * - never aborts; a refusal has a known reason token and a printable,
 *   non-empty message, and gives no bytes;
 * - the first failing check wins: unknown front, then a host not in normal
 *   form, then the allowlist (host_not_allowed for names, ip_not_allowed
 *   for IP literals); a real pool key is refused only for the rate;
 * - a success is exactly one DER certificate that verifies with the CA's
 *   key, whose public key is byte for byte the SPKI sent, whose one
 *   subjectAltName is the host (DNS name or IP address), whose subject is a
 *   CN equal to the host (or empty when the host is longer than 64), and
 *   which the front's own check (kh_leafkey_check_leaf) accepts for a pool
 *   key;
 * - a front never gets more new leaves than its burst plus its rate per
 *   second of clock it has seen go by. */
#include <arpa/inet.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "fuzz_check.h"
#include "base/hostname.h"
#include "base/kh_limits.h"
#include "tls/ca.h"
#include "tls/leafkey.h"
#include "tls/signer.h"

#define FRONTS 3
#define POOL   3
#define STEPS  24

static struct kh_ca ca;
static EVP_PKEY *pool[POOL];
static uint8_t pool_spki[POOL][KH_LEAF_SPKI_MAX];
static size_t pool_len[POOL];
static bool allow_all;
static struct kh_signer_opts opts;

static const char *const patterns[] = { "*.example.com", "api.openai.com", "10.1.2.3", "::1",
					"*.a" };
static const char *const hosts[] = {
	"api.openai.com",
	"x.example.com",
	"10.1.2.3",
	"::1",
	"evil.com",
	"API.openai.com",
	"a.a",
	"127.0.0.1",
	"2001:db8::1",
	"this-label-is-long-enough.to-push-the-name.past-sixty-four.example.com",
	"x.example.com.",
	"",
};

static bool allowed(const char *host)
{
	if (allow_all)
		return true;
	for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
		if (kh_host_match(patterns[i], host))
			return true;
	return false;
}

static bool allow_cb(void *ctx, const char *host, int kind)
{
	char norm[KH_HOST_BUF];

	(void)ctx;
	/* the callback only ever sees normal hosts of the kind it is told */
	CHECK(kh_host_normalize(kh_slice_cstr(host), norm) == kind && strcmp(norm, host) == 0);
	return allowed(host);
}

static void init(void)
{
	char dir[] = "/tmp/kh-fuzz-signer-XXXXXX", crt[64], key[64];
	struct kh_err err;
	bool created;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(crt, sizeof crt, "%s/ca.crt", dir);
	snprintf(key, sizeof key, "%s/ca.key", dir);
	CHECK(kh_ca_ensure(crt, key, &created, &err) == 0);
	CHECK(kh_ca_load(&ca, crt, key, &err) == 0);
	unlink(crt);
	unlink(key);
	rmdir(dir);
	for (int i = 0; i < POOL; i++) {
		pool[i] = kh_leafkey_new(&err);
		CHECK(pool[i] != NULL);
		CHECK(kh_leafkey_spki(pool[i], pool_spki[i], sizeof pool_spki[i], &pool_len[i],
				      &err) == 0);
	}
}

struct rd {
	const uint8_t *p;
	size_t n;
};

static uint8_t take(struct rd *r)
{
	uint8_t c = 0;

	if (r->n > 0) {
		c = *r->p++;
		r->n--;
	}
	return c;
}

/* One request as the program says. */
struct req {
	uint8_t flags;
	uint32_t front;
	char host[300];
	uint8_t spki[256];
	size_t spki_len;
	int pool_key; /* -1: raw or changed bytes */
};

static void read_host(struct rd *r, struct req *q)
{
	size_t n;

	if (q->flags & 0x10) {
		snprintf(q->host, sizeof q->host, "%s",
			 hosts[take(r) % (sizeof hosts / sizeof hosts[0])]);
		return;
	}
	n = take(r);
	if (n > r->n)
		n = r->n;
	memcpy(q->host, r->p, n);
	q->host[n] = '\0'; /* a NUL inside only shortens it */
	r->p += n;
	r->n -= n;
}

static void read_key(struct rd *r, struct req *q)
{
	unsigned k = (q->flags >> 1) & 3;

	q->pool_key = -1;
	if (k == 0) {
		q->spki_len = take(r);
		if (q->spki_len > r->n)
			q->spki_len = r->n;
		memcpy(q->spki, r->p, q->spki_len);
		r->p += q->spki_len;
		r->n -= q->spki_len;
		return;
	}
	memcpy(q->spki, pool_spki[k - 1], pool_len[k - 1]);
	q->spki_len = pool_len[k - 1];
	q->pool_key = (int)k - 1;
	if (q->flags & 0x08) {
		uint8_t at = take(r), x = take(r);

		q->spki[at % q->spki_len] ^= x;
		if (x != 0)
			q->pool_key = -1;
	}
}

static bool printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static bool known_reason(const char *r)
{
	static const char *const all[] = { KH_SIGNER_R_UNKNOWN_FRONT, KH_SIGNER_R_BAD_HOST,
					   KH_SIGNER_R_HOST,          KH_SIGNER_R_IP,
					   KH_SIGNER_R_RATE,          KH_SIGNER_R_SIGN,
					   KH_LEAFKEY_R_BAD_KEY,      KH_LEAFKEY_R_NOT_P256 };

	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (r != NULL && strcmp(r, all[i]) == 0)
			return true;
	return false;
}

/* The host's kind if it is in normal form, else -1. */
static int normal_kind(const char *host)
{
	char norm[KH_HOST_BUF];
	int kind;

	if (strlen(host) >= KH_HOST_BUF)
		return -1;
	kind = kh_host_normalize(kh_slice_cstr(host), norm);
	return kind >= 0 && strcmp(norm, host) == 0 ? kind : -1;
}

static void check_refusal(const struct req *q, const char *reason, const struct kh_err *err)
{
	int kind = normal_kind(q->host);

	CHECK(known_reason(reason));
	CHECK(err->msg[0] != '\0' && printable(err->msg));
	if (q->front >= FRONTS) {
		CHECK(strcmp(reason, KH_SIGNER_R_UNKNOWN_FRONT) == 0);
		return;
	}
	if (kind < 0) {
		CHECK(strcmp(reason, KH_SIGNER_R_BAD_HOST) == 0);
		return;
	}
	if (!allowed(q->host)) {
		CHECK(strcmp(reason, kind == KH_HOST_NAME ? KH_SIGNER_R_HOST : KH_SIGNER_R_IP) ==
		      0);
		return;
	}
	if (q->pool_key >= 0)
		CHECK(strcmp(reason, KH_SIGNER_R_RATE) == 0);
}

/* The one subjectAltName is host, checked without tls/leafkey.c. */
static void check_names(X509 *x, const char *host, int kind)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	const GENERAL_NAME *gn;
	X509_NAME *subj = X509_get_subject_name(x);
	char cn[256];
	unsigned char addr[16];

	CHECK(names != NULL && sk_GENERAL_NAME_num(names) == 1);
	gn = sk_GENERAL_NAME_value(names, 0);
	if (kind == KH_HOST_NAME) {
		CHECK(gn->type == GEN_DNS);
		CHECK((size_t)ASN1_STRING_length(gn->d.dNSName) == strlen(host));
		CHECK(memcmp(ASN1_STRING_get0_data(gn->d.dNSName), host, strlen(host)) == 0);
	} else {
		int alen = kind == KH_HOST_IPV4 ? 4 : 16;

		CHECK(inet_pton(kind == KH_HOST_IPV4 ? AF_INET : AF_INET6, host, addr) == 1);
		CHECK(gn->type == GEN_IPADD && ASN1_STRING_length(gn->d.iPAddress) == alen);
		CHECK(memcmp(ASN1_STRING_get0_data(gn->d.iPAddress), addr, (size_t)alen) == 0);
	}
	GENERAL_NAMES_free(names);
	if (strlen(host) > 64) {
		CHECK(X509_NAME_entry_count(subj) == 0);
	} else {
		CHECK(X509_NAME_entry_count(subj) == 1);
		CHECK(X509_NAME_get_text_by_NID(subj, NID_commonName, cn, sizeof cn) ==
		      (int)strlen(host));
		CHECK(strcmp(cn, host) == 0);
	}
}

static void check_leaf(const struct req *q, const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	unsigned char *spki = NULL;
	int kind = normal_kind(q->host), n;
	struct kh_err err;

	CHECK(q->front < FRONTS && kind > 0 && allowed(q->host));
	CHECK(len > 0 && len <= KH_LEAF_DER_MAX);
	CHECK(x != NULL && p == der + len);
	CHECK(X509_verify(x, ca.key) == 1);
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
	CHECK(n > 0 && (size_t)n == q->spki_len && memcmp(spki, q->spki, q->spki_len) == 0);
	check_names(x, q->host, kind);
	if (q->pool_key >= 0) {
		X509 *y = kh_leafkey_check_leaf(pool[q->pool_key], q->host, der, len, &err);

		CHECK(y != NULL);
		X509_free(y);
	}
	OPENSSL_free(spki);
	X509_free(x);
}

/* Per front: new leaves and the clock span they were asked over. */
struct seen {
	uint64_t mints;
	uint64_t first_ms, max_ms;
	bool started;
};

static void check_rate(struct seen *f, const struct kh_signer_stats *before,
		       const struct kh_signer_stats *after, uint64_t now)
{
	bool attempt = after->mints > before->mints || after->rate_limited > before->rate_limited;

	if (!attempt)
		return;
	if (!f->started) {
		f->started = true;
		f->first_ms = f->max_ms = now;
	}
	if (now > f->max_ms)
		f->max_ms = now;
	f->mints += after->mints - before->mints;
	CHECK(f->mints <= opts.mint_burst + (f->max_ms - f->first_ms) * opts.mint_rate / 1000);
}

static void run_one(struct kh_signer *s, const struct req *q, uint64_t now, struct seen *fronts)
{
	static uint8_t out[KH_LEAF_DER_MAX];
	struct kh_signer_stats before, after;
	struct kh_signer_req rq = { q->front, q->host, q->spki, q->spki_len, now };
	const char *reason = "x";
	struct kh_err err;
	size_t len = 1;
	int rc;

	kh_signer_stats(s, &before);
	rc = kh_signer_handle(s, &rq, out, sizeof out, &len, &reason, &err);
	kh_signer_stats(s, &after);
	CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		CHECK(reason == NULL);
		check_leaf(q, out, len);
	} else {
		CHECK(len == 0);
		check_refusal(q, reason, &err);
	}
	if (q->front < FRONTS)
		check_rate(&fronts[q->front], &before, &after, now);
	CHECK(after.entries <= 4);
}

/* Enough new hosts for pool key 0 to run the front's bucket dry. */
static void drain(struct kh_signer *s, uint32_t front, uint64_t now, struct seen *fronts)
{
	struct req q = { .front = front, .pool_key = 0, .spki_len = pool_len[0] };

	memcpy(q.spki, pool_spki[0], pool_len[0]);
	for (unsigned i = 0; i < opts.mint_burst + 4; i++) {
		snprintf(q.host, sizeof q.host, "d%u.example.com", i);
		run_one(s, &q, now, fronts);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd r = { data, size };
	struct seen fronts[FRONTS];
	struct kh_signer *s;
	struct kh_err err;
	uint64_t now = 1u << 20;
	int drains = 0; /* at most 2 an input: each signs up to 12 leaves */

	if (ca.cert == NULL)
		init();
	memset(fronts, 0, sizeof fronts);
	opts = (struct kh_signer_opts){ .ca = &ca,
					.n_fronts = FRONTS,
					.cache_cap = 1 + take(&r) % 4,
					.mint_rate = 1 + take(&r) % 100,
					.mint_burst = 1 + take(&r) % 8,
					.allow = allow_cb };
	s = kh_signer_new(&opts, &err);
	CHECK(s != NULL);
	for (int step = 0; step < STEPS && r.n > 0; step++) {
		struct req q = { .flags = take(&r) };
		uint16_t dt;

		q.front = take(&r) % (FRONTS + 2);
		dt = (uint16_t)(take(&r) | take(&r) << 8);
		now = q.flags & 0x20 ? (now > dt ? now - dt : 0) : now + dt;
		allow_all = q.flags & 1;
		if ((q.flags & 0x40) && drains++ < 2) {
			drain(s, q.front, now, fronts);
			continue;
		}
		read_host(&r, &q);
		read_key(&r, &q);
		run_one(s, &q, now, fronts);
	}
	kh_signer_free(s);
	ERR_clear_error();
	return 0;
}
