/* Deny-list CIDRs. Input: a C string for kh_cidr_parse, then (after its NUL,
 * if any) raw bytes used as extra addresses to test. A parsed range must
 * survive format + reparse unchanged, contain its own first and last address
 * (also in IPv4-mapped form for IPv4 ranges), agree with a bit-by-bit
 * reference for arbitrary addresses, and give the same answer for an IPv4
 * address and its ::ffff:a.b.c.d form; an IPv4 range holds an IPv6 address
 * exactly when the IPv4 address it stands for (mapped, NAT64, 6to4,
 * IPv4-compatible) is inside. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/cidr.h"
#include "fuzz_check.h"

static struct sockaddr_storage sa4(const uint8_t a[4])
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof ss);
	s4->sin_family = AF_INET;
	s4->sin_port = htons(443);
	memcpy(&s4->sin_addr, a, 4);
	return ss;
}

static struct sockaddr_storage sa6(const uint8_t a[16])
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof ss);
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(443);
	memcpy(s6->sin6_addr.s6_addr, a, 16);
	return ss;
}

static struct sockaddr_storage mapped(const uint8_t a[4])
{
	uint8_t v6[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	memcpy(v6 + 12, a, 4);
	return sa6(v6);
}

/* Reference: does addr (4 or 16 bytes) share the first bits of c? */
static bool ref_prefix(const struct kh_cidr *c, const uint8_t *addr)
{
	for (unsigned i = 0; i < c->bits; i++) {
		unsigned m = 0x80u >> (i % 8);

		if ((c->addr[i / 8] & m) != (addr[i / 8] & m))
			return false;
	}
	return true;
}

static bool has(const struct kh_cidr *c, const struct sockaddr_storage *ss)
{
	return kh_cidr_contains(c, (const struct sockaddr *)ss);
}

/* The range's first and last address, and one just past its edge. */
static void check_edges(const struct kh_cidr *c)
{
	unsigned total = c->v4 ? 32 : 128;
	uint8_t last[16], outside[16];
	struct sockaddr_storage first = c->v4 ? sa4(c->addr) : sa6(c->addr), l, o;

	memcpy(last, c->addr, 16);
	for (unsigned i = c->bits; i < total; i++)
		last[i / 8] |= (uint8_t)(0x80u >> (i % 8));
	l = c->v4 ? sa4(last) : sa6(last);
	CHECK(has(c, &first) && has(c, &l));
	CHECK(!has(c, &(struct sockaddr_storage){ 0 })); /* AF_UNSPEC */
	if (c->v4) {
		struct sockaddr_storage mf = mapped(c->addr), ml = mapped(last);

		CHECK(has(c, &mf) && has(c, &ml));
	}
	if (c->bits == 0)
		return;
	memcpy(outside, c->addr, 16);
	outside[(c->bits - 1) / 8] ^= (uint8_t)(0x80u >> ((c->bits - 1) % 8));
	o = c->v4 ? sa4(outside) : sa6(outside);
	CHECK(!has(c, &o));
}

/* The IPv4 address an IPv6 one stands for, from the RFCs' layouts (stated
 * again here, independently of cidr.c's table), or NULL. */
static const uint8_t *ref_embedded(const uint8_t *p)
{
	static const uint8_t zero[12], mapped_prefix[12] = { [10] = 0xff, [11] = 0xff },
				       nat64[12] = { 0, 0x64, 0xff, 0x9b };

	if (memcmp(p, mapped_prefix, 12) == 0 || memcmp(p, nat64, 12) == 0)
		return p + 12; /* ::ffff:a.b.c.d, 64:ff9b::a.b.c.d */
	if (p[0] == 0x20 && p[1] == 0x02)
		return p + 2; /* 2002:aabb:ccdd:: */
	if (memcmp(p, zero, 12) == 0 && (p[12] | p[13] | p[14] || p[15] > 1))
		return p + 12; /* ::a.b.c.d, but not :: or ::1 */
	return NULL;
}

/* Arbitrary addresses from the bytes after the string. */
static void check_addresses(const struct kh_cidr *c, const uint8_t *p, size_t n)
{
	for (; n >= 16; p += 16, n -= 16) {
		struct sockaddr_storage a4 = sa4(p), m4 = mapped(p), a6 = sa6(p);
		const uint8_t *embedded = ref_embedded(p);

		/* A v4 range judges an address and its mapped form alike; a v6 range
		 * never holds a plain AF_INET address (it may hold the mapped form). */
		CHECK(!c->v4 || has(c, &a4) == has(c, &m4));
		CHECK(has(c, &a4) == (c->v4 && ref_prefix(c, p)));
		if (!c->v4)
			CHECK(has(c, &m4) ==
			      ref_prefix(c, ((const struct sockaddr_in6 *)&m4)->sin6_addr.s6_addr));
		if (c->v4)
			CHECK(has(c, &a6) == (embedded != NULL && ref_prefix(c, embedded)));
		else
			CHECK(has(c, &a6) == ref_prefix(c, p));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t slen = nul ? (size_t)(nul - data) : size;
	char *s = malloc(slen + 1), text[64];
	struct kh_cidr c, again;
	struct kh_err err;

	CHECK(s != NULL);
	memcpy(s, data, slen);
	s[slen] = '\0';
	if (kh_cidr_parse(s, &c, &err) != 0) {
		CHECK(err.msg[0] != '\0');
		free(s);
		return 0;
	}
	CHECK(c.bits <= (c.v4 ? 32 : 128));
	kh_cidr_format(&c, text, sizeof text);
	CHECK(kh_cidr_parse(text, &again, &err) == 0);
	CHECK(memcmp(&c, &again, sizeof c) == 0);
	check_edges(&c);
	if (nul != NULL)
		check_addresses(&c, nul + 1, size - slen - 1);
	free(s);
	return 0;
}
