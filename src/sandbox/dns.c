#include "sandbox/dns.h"

#include <string.h>

#include "base/kh_limits.h"

#define HDR            12
#define TYPE_A         1
#define TYPE_AAAA      28
#define CLASS_IN       1
#define RCODE_FORMERR  1
#define RCODE_NXDOMAIN 3

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Reads the question name at q[HDR..]; returns its end offset or 0. */
static size_t read_name(const uint8_t *q, size_t qlen, char *text, size_t cap)
{
	size_t pos = HDR, n = 0;

	while (pos < qlen) {
		uint8_t l = q[pos++];

		if (l == 0) {
			text[n ? n - 1 : 0] = '\0'; /* drop the last '.' */
			return n ? pos : 0;
		}
		if (l > 63 || pos + l > qlen || n + l + 1 >= cap)
			return 0; /* too long, or a compression pointer (not in questions) */
		if (memchr(q + pos, '.', l) != NULL || memchr(q + pos, '\0', l) != NULL)
			return 0; /* the text would name another host than the labels */
		memcpy(text + n, q + pos, l);
		n += l;
		text[n++] = '.';
		pos += l;
	}
	return 0;
}

static size_t reply(const uint8_t *q, size_t qend, uint8_t *out, size_t cap, int rcode)
{
	if (qend > cap)
		return 0;
	memcpy(out, q, qend);
	out[2] = (uint8_t)(0x84 | (q[2] & 0x01)); /* QR, AA, keep RD */
	out[3] = (uint8_t)(0x80 | rcode); /* RA */
	put16(out + 4, qend > HDR ? 1 : 0); /* FORMERR answers carry no question */
	put16(out + 6, 0);
	put16(out + 8, 0);
	put16(out + 10, 0);
	return qend;
}

static size_t add_answer(uint8_t *out, size_t len, size_t cap, uint16_t type)
{
	static const uint8_t v4[4] = { 127, 0, 0, 1 };
	static const uint8_t v6[16] = { [15] = 1 };
	size_t rdlen = type == TYPE_A ? 4 : 16;

	if (len + 12 + rdlen > cap)
		return 0;
	put16(out + len, 0xC00C); /* the name: a pointer to the question */
	put16(out + len + 2, type);
	put16(out + len + 4, CLASS_IN);
	put16(out + len + 6, 0);
	put16(out + len + 8, KH_SANDBOX_DNS_TTL);
	put16(out + len + 10, (uint16_t)rdlen);
	memcpy(out + len + 12, type == TYPE_A ? v4 : v6, rdlen);
	put16(out + 6, 1);
	return len + 12 + rdlen;
}

size_t kh_dns_answer(const uint8_t *q, size_t qlen, uint8_t *out, size_t outcap,
		     bool (*allowed)(const char *name, void *arg), void *arg,
		     struct kh_dns_result *res)
{
	char raw[KH_HOST_BUF + 2];
	size_t end;

	memset(res, 0, sizeof *res);
	res->verdict = KH_DNS_MALFORMED;
	if (qlen < HDR || (q[2] & 0x80) != 0) /* not a query: nothing to answer */
		return 0;
	if ((q[2] & 0x78) != 0 || get16(q + 4) != 1 || get16(q + 6) != 0 || get16(q + 8) != 0)
		return reply(q, HDR, out, outcap, RCODE_FORMERR);
	end = read_name(q, qlen, raw, sizeof raw);
	if (end == 0 || end + 4 > qlen || get16(q + end + 2) != CLASS_IN ||
	    kh_host_normalize(kh_slice_cstr(raw), res->name) != KH_HOST_NAME) {
		res->name[0] = '\0';
		return reply(q, HDR, out, outcap, RCODE_FORMERR);
	}
	res->qtype = get16(q + end);
	end += 4; /* anything after the question (an EDNS OPT record) is dropped */
	if (!allowed(res->name, arg)) {
		res->verdict = KH_DNS_REFUSED;
		return reply(q, end, out, outcap, RCODE_NXDOMAIN);
	}
	res->verdict = KH_DNS_ANSWERED;
	end = reply(q, end, out, outcap, 0);
	if (end != 0 && (res->qtype == TYPE_A || res->qtype == TYPE_AAAA))
		end = add_answer(out, end, outcap, res->qtype);
	return end;
}
