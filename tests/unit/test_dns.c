#include "sandbox/dns.h"
#include "tap.h"

static uint8_t q[512], out[512];

/* A query for name with qtype, as a stub resolver would send it. */
static size_t query(const char *name, uint16_t qtype, bool edns)
{
	size_t n = 12, start;

	memset(q, 0, sizeof q);
	q[0] = 0x12, q[1] = 0x34, q[2] = 0x01; /* id, RD */
	q[5] = 1; /* qdcount */
	q[11] = edns ? 1 : 0; /* arcount */
	for (const char *p = name; *p;) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		q[n++] = (uint8_t)l;
		memcpy(q + n, p, l);
		n += l;
		p += l + (dot ? 1 : 0);
	}
	q[n++] = 0;
	q[n++] = (uint8_t)(qtype >> 8), q[n++] = (uint8_t)qtype;
	q[n++] = 0, q[n++] = 1;
	start = n;
	if (edns) { /* OPT pseudo-record */
		static const uint8_t opt[] = { 0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0 };

		memcpy(q + n, opt, sizeof opt);
		n += sizeof opt;
	}
	(void)start;
	return n;
}

static bool allow_api(const char *name, void *arg)
{
	(void)arg;
	return strcmp(name, "api.openai.com") == 0;
}

static void answers_allowed_a_and_aaaa(void)
{
	struct kh_dns_result r;
	size_t n = kh_dns_answer(out, 0, out, 0, allow_api, NULL, &r);

	CHECK_INT(n, 0);
	n = kh_dns_answer(q, query("API.OpenAI.com", 1, true), out, sizeof out, allow_api, NULL,
			  &r);
	CHECK_INT(r.verdict, KH_DNS_ANSWERED);
	CHECK_STR(r.name, "api.openai.com");
	CHECK(n > 16);
	CHECK(out[0] == 0x12 && out[1] == 0x34 && (out[2] & 0x80)); /* same id, a response */
	CHECK_INT(out[3] & 0x0f, 0);
	CHECK_INT(out[7], 1); /* one answer */
	CHECK(memcmp(out + n - 4, "\x7f\x00\x00\x01", 4) == 0);
	n = kh_dns_answer(q, query("api.openai.com", 28, false), out, sizeof out, allow_api, NULL,
			  &r);
	CHECK(out[n - 1] == 1 && out[n - 2] == 0); /* ::1 */
	n = kh_dns_answer(q, query("api.openai.com", 16, false), out, sizeof out, allow_api, NULL,
			  &r);
	CHECK_INT(out[7], 0); /* TXT: no data, no error */
	CHECK_INT(out[3] & 0x0f, 0);
}

static void refuses_other_names(void)
{
	struct kh_dns_result r;
	size_t n = kh_dns_answer(q, query("evil.test", 1, false), out, sizeof out, allow_api, NULL,
				 &r);

	CHECK_INT(r.verdict, KH_DNS_REFUSED);
	CHECK_STR(r.name, "evil.test");
	CHECK(n >= 12);
	CHECK_INT(out[3] & 0x0f, 3); /* NXDOMAIN */
	CHECK_INT(out[7], 0);
}

static void malformed(void)
{
	struct kh_dns_result r;
	size_t n = query("api.openai.com", 1, false);

	q[13] = 0xc0; /* a compression pointer inside the question */
	CHECK_INT(kh_dns_answer(q, n, out, sizeof out, allow_api, NULL, &r) > 0, 1);
	CHECK_INT(r.verdict, KH_DNS_MALFORMED);
	CHECK_INT(out[3] & 0x0f, 1); /* FORMERR */
	n = query("api.openai.com", 1, false);
	q[5] = 2; /* two questions */
	kh_dns_answer(q, n, out, sizeof out, allow_api, NULL, &r);
	CHECK_INT(r.verdict, KH_DNS_MALFORMED);
	n = query("api.openai.com", 1, false);
	q[2] |= 0x80; /* a response: never answered */
	CHECK_INT(kh_dns_answer(q, n, out, sizeof out, allow_api, NULL, &r), 0);
	n = query("api.openai.com", 1, false);
	CHECK_INT(kh_dns_answer(q, n - 3, out, sizeof out, allow_api, NULL, &r) > 0, 1); /* cut */
	CHECK_INT(r.verdict, KH_DNS_MALFORMED);
	n = query("a b.test", 1, false); /* a space is no host name */
	kh_dns_answer(q, n, out, sizeof out, allow_api, NULL, &r);
	CHECK_INT(r.verdict, KH_DNS_MALFORMED);
}

/* The name judged must be the name asked. A label may hold any byte on the
 * wire; one holding a NUL or a dot would be read as a different name
 * ("api.openai.com" for the labels "api" "openai" "com\0", or for the one
 * label "api.openai.com"), so such a question is malformed. */
static void label_with_nul_or_dot(void)
{
	struct kh_dns_result r;
	size_t n = query("api.openai.comx", 1, false);

	q[12 + 4 + 7 + 4] = '\0'; /* the last label is "com\0" */
	kh_dns_answer(q, n, out, sizeof out, allow_api, NULL, &r);
	CHECK_INT(r.verdict, KH_DNS_MALFORMED);
	CHECK_STR(r.name, "");
	n = query("apixopenaixcom", 1, false); /* one label... */
	q[16] = '.', q[23] = '.'; /* ...that reads "api.openai.com" */
	kh_dns_answer(q, n, out, sizeof out, allow_api, NULL, &r);
	CHECK_INT(r.verdict, KH_DNS_MALFORMED);
	CHECK_STR(r.name, "");
}

int main(void)
{
	RUN(answers_allowed_a_and_aaaa);
	RUN(refuses_other_names);
	RUN(malformed);
	RUN(label_with_nul_or_dot);
	TAP_DONE();
}
