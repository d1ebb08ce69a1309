/* A child's log bytes (proxy/childlog.c) as the daemon copies them: bytes a
 * front taken over writes to its stderr. The first input byte picks the
 * piece size. Invariants: every line written starts with "[name] ", is at
 * most the cap plus the prefix long, and holds no control byte. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "proxy/childlog.h"

#define PREFIX "[front 0] "

static void check_output(const char *o, size_t n)
{
	size_t at = 0;

	while (at < n) {
		const char *nl = memchr(o + at, '\n', n - at);
		size_t len;

		CHECK(nl != NULL);
		len = (size_t)(nl - (o + at));
		CHECK(len >= strlen(PREFIX) && memcmp(o + at, PREFIX, strlen(PREFIX)) == 0);
		CHECK(len <= strlen(PREFIX) + KH_CHILDLOG_LINE + 64);
		for (size_t i = 0; i < len; i++)
			CHECK((unsigned char)o[at + i] >= 0x20 && o[at + i] != 0x7f);
		at += len + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[1 << 20];
	struct kh_err err = { { 0 } };
	struct kh_childlog cl;
	size_t step;
	ssize_t got;
	int p[2];

	if (size < 1 || kh_childlog_init(&cl, "front 0", &err) != 0)
		return 0;
	step = (size_t)data[0] + 1;
	CHECK(pipe2(p, O_NONBLOCK) == 0);
	fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
	for (size_t at = 1; at < size; at += step)
		kh_childlog_feed(&cl, (const char *)data + at, size - at < step ? size - at : step,
				 p[1], 1000 + at);
	got = read(p[0], out, sizeof out);
	if (got > 0)
		check_output(out, (size_t)got);
	close(p[0]);
	close(p[1]);
	kh_childlog_free(&cl);
	return 0;
}
