/* `keyhole log` on hostile audit lines. Whatever the bytes (a line from
 * the file, or any string escaped on its own), the readable view and the
 * --json view (colors off) put no byte on the terminal that could drive it:
 * no control byte but the final newline, no DEL, no C1 control (C2 80..9F)
 * and no bidi override. Malformed lines are counted, never fatal. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd_log.h"
#include "fuzz_check.h"

static void check_clean(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		CHECK(s[i] >= 0x20 || s[i] == '\n');
		CHECK(s[i] != 0x7f);
		if (s[i] == 0xc2 && i + 1 < n)
			CHECK(s[i + 1] < 0x80 || s[i + 1] > 0x9f);
		if (s[i] == 0xe2 && i + 2 < n && s[i + 1] == 0x80)
			CHECK(s[i + 2] < 0xa8 || s[i + 2] > 0xae);
	}
}

static void view(const uint8_t *data, size_t size, bool json)
{
	struct kh_logview v = { .json = json };
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	int r;

	if (f == NULL)
		return;
	r = kh_logview_line(&v, (const char *)data, size, f);
	fclose(f);
	CHECK(r >= -1 && r <= 1);
	CHECK((r == -1) == (v.skipped == 1));
	check_clean((const unsigned char *)out, len);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (f != NULL) {
		kh_logview_escape(f, (const char *)data, size);
		fclose(f);
		check_clean((const unsigned char *)out, len);
		CHECK(memchr(out, '\n', len) == NULL);
		free(out);
	}
	view(data, size, false);
	view(data, size, true);
	return 0;
}
