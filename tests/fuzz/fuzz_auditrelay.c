/* A front's audit message (proxy/auditrelay.c) as the daemon meets it:
 * bytes from a front that may be an attacker's. Invariants: it is taken or
 * refused with a message; a taken one is whole lines, as many as counted,
 * each within the cap, without a control byte, each a JSON object whose
 * decision is "deny" or "error" (never "allow"); and each such line, put
 * through kh_auditrelay_redact (here with a redactor that cuts every "k"),
 * comes out as one line that passes the check again (no control byte, no
 * DEL: jansson would write an escaped \u007f back as a raw byte). */
#include <jansson.h>
#include <stdbool.h>
#include <string.h>

#include "base/kh_limits.h"
#include "fuzz_check.h"
#include "proxy/auditrelay.h"

static size_t cut_k(void *arg, const char *in, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	(void)arg;
	for (size_t i = 0; i < n && o + 1 < cap; i++)
		if (in[i] != 'k')
			out[o++] = in[i];
	out[o] = '\0';
	return o;
}

static void check_redacted(const char *p, size_t len)
{
	static char out[2 * KH_AUDIT_LINE_MAX];
	struct kh_err err = { { 0 } };
	size_t n = kh_auditrelay_redact(p, len, cut_k, NULL, out, sizeof out), records = 0;

	if (n == 0)
		return; /* did not fit: not written */
	CHECK(kh_auditrelay_check(out, n, &records, &err) == 0 && records == 1);
}

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
		check_redacted(p + at, (size_t)(nl - (p + at)) + 1);
		at = (size_t)(nl - p) + 1;
		seen++;
	}
	CHECK(seen == records && records > 0);
	return 0;
}
