/* The sandbox's DNS responder (dns.c) on arbitrary packets. Invariants: an
 * answer fits the buffer and KH_DNS_MAX, echoes the query id, has the QR bit
 * set and one question; ANSWERED only for a name the policy allowed (the
 * callback saw exactly that normalized name), REFUSED answers NXDOMAIN and
 * MALFORMED answers FORMERR or nothing. A name judged is the question's
 * labels as sent, lower-cased and joined with dots (decoded here on their
 * own), each label only letters, digits, '-' and '_': a label holding a dot
 * or a NUL would make the name judged differ from the name asked. The policy
 * here allows names whose length is even, so both verdicts are reached. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/dns.h"
#include "fuzz_check.h"

static char asked[KH_HOST_BUF];
static int calls;

static bool even_length(const char *name, void *arg)
{
	(void)arg;
	calls++;
	snprintf(asked, sizeof asked, "%s", name);
	return strlen(name) % 2 == 0;
}

/* The question's name as the wire says: labels lower-cased, joined by dots;
 * "" if a label holds anything a host name may not. */
static void wire_name(const uint8_t *q, size_t qlen, char *out, size_t cap)
{
	size_t pos = 12, n = 0;

	out[0] = '\0';
	while (pos < qlen && q[pos] != 0 && q[pos] <= 63 && pos + 1 + q[pos] <= qlen) {
		for (size_t i = 0; i < q[pos]; i++) {
			uint8_t c = q[pos + 1 + i];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '-' || c == '_') ||
			    n + 2 >= cap) {
				out[0] = '\0';
				return;
			}
			out[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		}
		out[n++] = '.';
		pos += 1 + q[pos];
	}
	out[n ? n - 1 : 0] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[KH_DNS_MAX + 64];
	char want[KH_DNS_MAX];
	struct kh_dns_result res;
	size_t n;

	memset(out, 0xAA, sizeof out);
	calls = 0;
	asked[0] = '\0';
	n = kh_dns_answer(data, size, out, KH_DNS_MAX, even_length, NULL, &res);
	CHECK(n <= KH_DNS_MAX);
	CHECK(out[KH_DNS_MAX] == 0xAA); /* nothing written past the cap */
	if (n == 0) {
		CHECK(res.verdict == KH_DNS_MALFORMED);
		return 0;
	}
	CHECK(n >= 12 && size >= 2);
	CHECK(out[0] == data[0] && out[1] == data[1]); /* same id */
	CHECK(out[2] & 0x80); /* a response */
	if (res.verdict != KH_DNS_MALFORMED) {
		wire_name(data, size, want, sizeof want);
		CHECK(strcmp(res.name, want) == 0);
	}
	switch (res.verdict) {
	case KH_DNS_ANSWERED:
		CHECK(calls == 1 && strcmp(asked, res.name) == 0 && strlen(res.name) % 2 == 0);
		CHECK((out[3] & 0x0F) == 0); /* NOERROR */
		break;
	case KH_DNS_REFUSED:
		CHECK(calls == 1 && strcmp(asked, res.name) == 0 && strlen(res.name) % 2 == 1);
		CHECK((out[3] & 0x0F) == 3); /* NXDOMAIN */
		break;
	case KH_DNS_MALFORMED:
		CHECK((out[3] & 0x0F) == 1); /* FORMERR */
		break;
	}
	return 0;
}
