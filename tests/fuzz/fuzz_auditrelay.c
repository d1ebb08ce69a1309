/* A front's audit message (proxy/auditrelay.c) as the daemon meets it:
 * bytes from a front that may be an attacker's. Invariants: it is taken or
 * refused with a message; a taken one is whole lines, as many as counted,
 * each within the cap, without a control byte, each a JSON object whose
 * decision is "deny" or "error" (never "allow"). */
#include <jansson.h>
#include <string.h>

#include "base/kh_limits.h"
#include "fuzz_check.h"
#include "proxy/auditrelay.h"

static void check_line(const char *p, size_t len)
{
	json_t *o = json_loadb(p, len - 1, JSON_REJECT_DUPLICATES, NULL);
	const char *d = json_string_value(json_object_get(o, "decision"));

	CHECK(len <= KH_AUDIT_LINE_MAX && p[len - 1] == '\n');
	for (size_t i = 0; i + 1 < len; i++)
		CHECK((unsigned char)p[i] >= 0x20 && p[i] != 0x7f);
	CHECK(json_is_object(o) && d != NULL);
	CHECK(strcmp(d, "deny") == 0 || strcmp(d, "error") == 0);
	json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct kh_err err = { { 0 } };
	size_t records = 0, seen = 0, at = 0;

	if (kh_auditrelay_check(p, size, &records, &err) != 0) {
		CHECK(err.msg[0] != '\0');
		return 0;
	}
	while (at < size) {
		const char *nl = memchr(p + at, '\n', size - at);

		CHECK(nl != NULL);
		check_line(p + at, (size_t)(nl - (p + at)) + 1);
		at = (size_t)(nl - p) + 1;
		seen++;
	}
	CHECK(seen == records && records > 0);
	return 0;
}
