#include "proxy/auditrelay.h"

#include <jansson.h>
#include <string.h>

#include "base/kh_limits.h"

/* The names audit.c gives a record's fields. The daemon redacts a front's
 * values, not its names (jansson would also write an escaped DEL in a name
 * back raw): a record with any other name is refused. */
static const char *const field_names[] = {
	"bytes_in", "bytes_out",   "client",   "decision", "detail", "distinct", "duration_ms",
	"host",     "interval_ms", "method",   "mode",     "path",   "port",     "reason",
	"repeated", "sandbox",     "scrubbed", "sni",      "status", "swapped",  "time",
};

static bool field_name_known(const char *k)
{
	for (size_t i = 0; i < sizeof field_names / sizeof *field_names; i++)
		if (strcmp(k, field_names[i]) == 0)
			return true;
	return false;
}

/* v holds no named member at any depth: an object inside is empty (a
 * front's "scrubbed" is: it holds no key to scrub). Nesting deeper than the
 * redactor goes is refused too. */
static bool no_names_inside(json_t *v, int depth)
{
	json_t *x;
	size_t i;

	if (json_is_object(v))
		return json_object_size(v) == 0;
	if (!json_is_array(v))
		return true;
	if (depth >= 4)
		return false;
	json_array_foreach(v, i, x)
	{
		if (!no_names_inside(x, depth + 1))
			return false;
	}
	return true;
}

static bool fields_known(json_t *o)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v)
	{
		if (!field_name_known(k) || !no_names_inside(v, 0))
			return false;
	}
	return true;
}

/* "deny" or "error", the other fields a record always has, and no field a
 * record does not have. */
static int check_object(const char *line, size_t len, struct kh_err *err)
{
	json_error_t je;
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	const char *decision = json_string_value(json_object_get(o, "decision"));
	int rc = -1;

	if (!json_is_object(o))
		kh_err_set(err, "audit line is not a JSON object (%s)", je.text);
	else if (!json_is_string(json_object_get(o, "time")) ||
		 !json_is_string(json_object_get(o, "reason")) || decision == NULL)
		kh_err_set(err, "audit record without time, reason or decision");
	else if (strcmp(decision, "deny") != 0 && strcmp(decision, "error") != 0)
		kh_err_set(err, "audit record with decision \"%.16s\" (a front only refuses)",
			   decision);
	else if (!fields_known(o))
		kh_err_set(err, "audit record with a field name records do not have, or one "
				"inside a value");
	else
		rc = 0;
	json_decref(o);
	return rc;
}

/* The length of the line at p (its newline included), or 0 when it is not
 * one whole line of allowed bytes within the cap. */
static size_t line_len(const char *p, size_t n)
{
	size_t cap = n < KH_AUDIT_LINE_MAX ? n : KH_AUDIT_LINE_MAX;

	for (size_t i = 0; i < cap; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\n')
			return i + 1;
		if (c < 0x20 || c == 0x7f)
			return 0;
	}
	return 0;
}

int kh_auditrelay_check(const char *p, size_t n, size_t *records, struct kh_err *err)
{
	size_t at = 0;

	*records = 0;
	if (n == 0) {
		kh_err_set(err, "empty audit message");
		return -1;
	}
	while (at < n) {
		size_t len = line_len(p + at, n - at);

		if (len < 3) { /* "{}\n" at the least */
			kh_err_set(err,
				   "audit record %zu is not one line of at most %d bytes "
				   "without control characters",
				   *records + 1, KH_AUDIT_LINE_MAX);
			return -1;
		}
		if (check_object(p + at, len - 1, err) != 0)
			return -1;
		at += len;
		(*records)++;
	}
	return 0;
}

bool kh_auditrelay_admit(struct kh_auditrelay *r, size_t n, uint64_t now_ms)
{
	return kh_rate_take(&r->bytes, n, KH_AUDIT_FRONT_BYTES, KH_AUDIT_FRONT_BURST, now_ms);
}

/* Every string in v through fn, in place; false if one failed. */
static bool redact_value(json_t *v, kh_redact_fn *fn, void *arg, int depth)
{
	static _Thread_local char buf[KH_AUDIT_LINE_MAX * 2];
	const char *k;
	json_t *x;
	size_t i, n;

	if (depth > 4)
		return false;
	if (json_is_string(v)) {
		n = fn(arg, json_string_value(v), json_string_length(v), buf, sizeof buf);
		/* jansson writes DEL as it is, which audit.log never holds (the
		 * daemon's own writer escapes it): a "?" in its place */
		for (char *d = memchr(buf, 0x7f, n); d != NULL;
		     d = memchr(d, 0x7f, n - (size_t)(d - buf)))
			*d = '?';
		return json_string_setn(v, buf, n) == 0;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, x) if (!redact_value(x, fn, arg, depth + 1)) return false;
	}
	if (json_is_object(v)) {
		json_object_foreach(v, k, x) if (!redact_value(x, fn, arg, depth + 1)) return false;
	}
	return true;
}

/* host and path, each redacted alone, can still spell a key together
 * ("sk-real" + "/openai+..." for a key with a slash), and `keyhole log`
 * shows them joined: when redacting the two joined changes them, the host
 * gives up its text and the path carries the redacted whole. */
static bool redact_joined(json_t *o, kh_redact_fn *fn, void *arg)
{
	static _Thread_local char joined[KH_AUDIT_LINE_MAX * 2], red[KH_AUDIT_LINE_MAX * 2];
	json_t *h = json_object_get(o, "host"), *p = json_object_get(o, "path");
	size_t hn, pn, n;

	if (!json_is_string(h) || !json_is_string(p))
		return true;
	hn = json_string_length(h);
	pn = json_string_length(p);
	if (hn + pn >= sizeof joined)
		return false;
	memcpy(joined, json_string_value(h), hn);
	memcpy(joined + hn, json_string_value(p), pn);
	n = fn(arg, joined, hn + pn, red, sizeof red);
	if (n == hn + pn && memcmp(red, joined, n) == 0)
		return true;
	return json_string_set(h, "[redacted]") == 0 && json_string_setn(p, red, n) == 0;
}

size_t kh_auditrelay_redact(const char *line, size_t len, kh_redact_fn *fn, void *arg, char *out,
			    size_t cap)
{
	json_t *o = len > 1 ? json_loadb(line, len - 1, JSON_REJECT_DUPLICATES, NULL) : NULL;
	size_t n = 0;

	if (o != NULL && redact_value(o, fn, arg, 0) && redact_joined(o, fn, arg)) {
		/* 15 digits: 0.003 stays 0.003 (17 would print the double's 0.0030000000000000001) */
		n = json_dumpb(o, out, cap,
			       JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(15));
		if (n == 0 || n >= cap || memchr(out, '\n', n) != NULL)
			n = 0; /* too long for out, or not one line */
		else
			out[n++] = '\n';
	}
	json_decref(o);
	return n;
}
