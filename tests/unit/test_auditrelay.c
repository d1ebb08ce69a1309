/* proxy/auditrelay.h: what the daemon takes as a front's audit records.
 * Whole JSON lines of refusals pass; an "allow" record, a cut line, a
 * control byte, a line over the cap, duplicate keys, bad UTF-8, a
 * missing field or a name records do not have (anywhere) are refused; the byte budget holds a burst and refills. */
#include <string.h>

#include "base/kh_limits.h"
#include "proxy/auditrelay.h"
#include "tap.h"

#define DENY  "{\"time\":\"t\",\"decision\":\"deny\",\"reason\":\"host_not_allowed\"}\n"
#define ERROR "{\"time\":\"t\",\"decision\":\"error\",\"reason\":\"header_timeout\",\"port\":1}\n"

static int check(const char *s, size_t *records)
{
	struct kh_err err = { "" };
	int rc = kh_auditrelay_check(s, strlen(s), records, &err);

	CHECK(rc == 0 || err.msg[0] != '\0');
	return rc;
}

static void refusals_pass(void)
{
	size_t n = 0;

	CHECK(check(DENY, &n) == 0);
	CHECK_INT(n, 1);
	CHECK(check(DENY ERROR DENY, &n) == 0);
	CHECK_INT(n, 3);
	CHECK(check("{\"time\":\"t\",\"decision\":\"deny\",\"reason\":\"r\",\"host\":\"\xc3\xa9\"}"
		    "\n",
		    &n) == 0); /* UTF-8 */
	CHECK(check("{\"time\":\"t\",\"decision\":\"deny\",\"reason\":\"r\",\"swapped\":[],"
		    "\"scrubbed\":{}}\n",
		    &n) == 0);
}

static void the_rest_is_refused(void)
{
	size_t n = 0;
	char big[KH_AUDIT_LINE_MAX + 64];

	CHECK(check("", &n) == -1);
	CHECK(check("{\"time\":\"t\",\"decision\":\"allow\",\"reason\":\"allowed\"}\n", &n) == -1);
	CHECK(check(DENY "{\"time\":\"t\",\"decision\":\"allow\",\"reason\":\"x\"}\n", &n) == -1);
	CHECK(check("{\"time\":\"t\",\"decision\":\"deny\",\"reason\":\"x\"}", &n) ==
	      -1); /* no \n */
	CHECK(check(DENY "{\"time\"", &n) == -1); /* a cut second line */
	CHECK(check("{\"time\":\"t\",\"decision\":\"deny\",\"reason\":\"x\x1b[2J\"}\n", &n) == -1);
	CHECK(check("{\"time\":\"t\",\"decision\":\"deny\",\"reason\":\"x\"}\r\n", &n) == -1);
	CHECK(check("{\"time\":\"t\",\"decision\":\"deny\",\"decision\":\"allow\",\"reason\":\"x\"}"
		    "\n",
		    &n) == -1); /* duplicate keys */
	CHECK(check("{\"time\":\"t\",\"decision\":\"deny\",\"reason\":\"\xff\"}\n", &n) == -1);
	CHECK(check("{\"decision\":\"deny\",\"reason\":\"x\"}\n", &n) == -1); /* no time */
	CHECK(check("{\"time\":\"t\",\"decision\":\"deny\",\"reason\":7}\n", &n) == -1);
	CHECK(check("[\"time\",\"decision\"]\n", &n) == -1);
	/* names are written as they came, not redacted: only records' own */
	CHECK(check("{\"time\":\"t\",\"decision\":\"deny\",\"reason\":\"x\",\"n\":1}\n", &n) == -1);
	CHECK(check("{\"time\":\"t\",\"decision\":\"deny\",\"reason\":\"x\",\"re\\u007fson\":\"\"}"
		    "\n",
		    &n) == -1);
	CHECK(check("{\"time\":\"t\",\"decision\":\"deny\",\"reason\":\"x\",\"scrubbed\":{\"K\":1}}"
		    "\n",
		    &n) == -1);
	CHECK(check("{\"time\":\"t\",\"decision\":\"deny\",\"reason\":\"x\",\"swapped\":[[{\"a\":1}"
		    "]]}\n",
		    &n) == -1);
	CHECK(check("\n", &n) == -1);
	memset(big, 'a', sizeof big);
	memcpy(big, "{\"time\":\"t\",\"decision\":\"deny\",\"reason\":\"", 41);
	memcpy(big + sizeof big - 4, "\"}\n", 4); /* one line, over the cap */
	CHECK(check(big, &n) == -1);
}

static void budget(void)
{
	struct kh_auditrelay r = { 0 };

	CHECK(kh_auditrelay_admit(&r, KH_AUDIT_FRONT_BURST, 1000)); /* the whole burst at once */
	CHECK(!kh_auditrelay_admit(&r, 1, 1000)); /* and nothing more */
	CHECK(kh_auditrelay_admit(&r, KH_AUDIT_FRONT_BYTES / 2,
				  1500)); /* half a second refills half */
	CHECK(!kh_auditrelay_admit(&r, 64, 1500));
	CHECK(kh_auditrelay_admit(&r, KH_AUDIT_FRONT_BURST, 1000000)); /* capped at the burst */
	CHECK(!kh_auditrelay_admit(&r, KH_AUDIT_FRONT_BYTES + 1, 1001000));
	CHECK(kh_auditrelay_admit(&r, KH_AUDIT_FRONT_BYTES, 1001000));
	CHECK(!kh_auditrelay_admit(&r, 1, 999000)); /* a clock going back adds nothing */
}

/* A stand-in redactor: "SECRET" becomes "[r]". */
static size_t cut_secret(void *arg, const char *in, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	(void)arg;
	for (size_t i = 0; i < n && o + 4 < cap;) {
		if (n - i >= 6 && memcmp(in + i, "SECRET", 6) == 0) {
			memcpy(out + o, "[r]", 3);
			o += 3;
			i += 6;
		} else {
			out[o++] = in[i++];
		}
	}
	out[o] = '\0';
	return o;
}

#define REAL "{\"time\":\"t\",\"decision\":\"deny\",\"reason\":\"r\",\"duration_ms\":0.003}\n"

#define SPLIT                                                                               \
	"{\"time\":\"t\",\"decision\":\"deny\",\"reason\":\"r\",\"host\":\"SEC\",\"path\":" \
	"\"RET/p\"}\n"

/* Every string is redacted decoded, so a JSON escape cannot hide a secret
 * from the redactor; the result is one checked line. */
static void redaction(void)
{
	static const char in[] =
		"{\"time\":\"t\",\"decision\":\"deny\",\"reason\":\"r\","
		"\"host\":\"\\u0053ECRET.example\",\"list\":[\"aSECRET\",{\"k\":\"SECRET\"}],"
		"\"n\":3}\n";
	char out[512];
	size_t n = kh_auditrelay_redact(in, strlen(in), cut_secret, NULL, out, sizeof out), records;
	struct kh_err err = { "" };

	CHECK(n > 0 && out[n - 1] == '\n');
	out[n] = '\0';
	CHECK(strstr(out, "SECRET") == NULL && strstr(out, "u0053") == NULL);
	CHECK(strstr(out, "\"host\":\"[r].example\"") != NULL);
	CHECK(strstr(out, "[\"a[r]\",{\"k\":\"[r]\"}]") != NULL);
	/* numbers keep the short form the daemon writes (duration_ms), and a
	 * record redacted is one that passes the check (that one has names
	 * records do not: it only shows the redactor goes everywhere) */
	n = kh_auditrelay_redact(REAL, strlen(REAL), cut_secret, NULL, out, sizeof out);
	CHECK(n > 0);
	out[n] = '\0';
	CHECK(strstr(out, "\"duration_ms\":0.003}") != NULL);
	CHECK(kh_auditrelay_check(out, n, &records, &err) == 0 && records == 1);
	/* a secret split across host and path, as `keyhole log` joins them */
	n = kh_auditrelay_redact(SPLIT, strlen(SPLIT), cut_secret, NULL, out, sizeof out);
	CHECK(n > 0);
	out[n] = '\0';
	CHECK(strstr(out, "\"host\":\"[redacted]\",\"path\":\"[r]/p\"") != NULL);
	n = kh_auditrelay_redact(DENY, strlen(DENY), cut_secret, NULL, out, sizeof out);
	CHECK(n == strlen(DENY) && memcmp(out, DENY, n) == 0); /* nothing to cut: as it came */
	CHECK(kh_auditrelay_redact("not json\n", 9, cut_secret, NULL, out, sizeof out) == 0);
	CHECK(kh_auditrelay_redact(in, strlen(in), cut_secret, NULL, out, 16) == 0); /* no room */
}

int main(void)
{
	RUN(refusals_pass);
	RUN(the_rest_is_refused);
	RUN(budget);
	RUN(redaction);
	TAP_DONE();
}
