/* The response scrubber on hostile secrets and bodies. Input layout:
 *   byte 0      number of secrets (1..3) and a sink-size seed
 *   per secret  a length byte (KH_SCRUB_MIN_SECRET - 1 .. 40), then that many
 *               bytes, folded into printable ASCII as real header-safe keys are
 *   4 bytes     seed for where the body is cut and how small the sink is
 *   the rest    the body
 * Checked on every run, against a slow obvious leftmost-longest replacer
 * over the set's own needles:
 *  - the streamed output, fed in random pieces through a random small sink,
 *    equals the reference output for the whole body at once;
 *  - one-shot scrubbing gives the same output;
 *  - no needle occurs inside any stretch of the reference output copied
 *    from the input (one can only straddle a replacement the upstream chose);
 *  - the stream holds back fewer bytes than the longest needle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secret/scrub.h"
#include "fuzz_check.h"
#include "scrub_reference.h"

#define MAX_BODY 8192
#define OUT_CAP  (MAX_BODY * 8 + 64)

static const char *const tokens[] = { "keyhole-openai-0123456789abcdef0123456789abcdef", "TOK",
				      "keyhole-x-ffffffffffffffffffffffffffffffff/+=" };
static const char *const names[] = { "A_KEY", "B_KEY", "C_KEY" };

static uint8_t ref[OUT_CAP], got[OUT_CAP], one[OUT_CAP];
static size_t runs[MAX_BODY + 1][2]; /* literal stretches of ref: start, end */

static uint32_t next(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 8;
}

static size_t streamed(const struct kh_scrub_set *s, const uint8_t *in, size_t n, uint32_t seed)
{
	struct kh_scrub_stream st;
	size_t o = 0, from = 0, sink = s->max_rep + 1 + next(&seed) % 64;

	CHECK(kh_scrub_stream_init(&st, s) == 0);
	while (from < n || kh_scrub_stream_pending(&st) > 0) {
		size_t piece = from < n ? 1 + next(&seed) % (n - from) : 0;
		bool last = from + piece == n;
		struct kh_scrub_sink k = { got + o, 0, sink };
		size_t used;

		CHECK(o + sink <= OUT_CAP);
		used = kh_scrub_feed(&st, in + from, piece, last, &k);
		CHECK(used > 0 || k.len > 0 || piece == 0);
		CHECK(kh_scrub_stream_pending(&st) + 1 <= (s->max_len ? s->max_len : 1));
		from += used;
		o += k.len;
		if (piece == 0 && k.len == 0)
			break;
	}
	CHECK(from == n && kh_scrub_stream_pending(&st) == 0);
	kh_scrub_stream_free(&st);
	return o;
}

static bool has_needle(const struct kh_scrub_set *s, const uint8_t *p, size_t n)
{
	for (size_t k = 0; k < s->n; k++)
		for (size_t i = 0; i + s->needles[k].len <= n; i++)
			if (memcmp(p + i, s->needles[k].p, s->needles[k].len) == 0)
				return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kh_scrub_secret sec[3];
	uint8_t vals[3][64];
	struct kh_scrub_set set;
	struct kh_scrub_stream st;
	struct kh_err err;
	size_t at = 1, n_sec, body_len, rl, gl, n_runs;
	ssize_t ol;
	uint32_t seed;

	if (size < 6)
		return 0;
	n_sec = 1 + data[0] % 3;
	for (size_t i = 0; i < n_sec; i++) {
		size_t len = KH_SCRUB_MIN_SECRET - 1 + (at < size ? data[at] % 34 : 0);

		at++;
		if (at + len > size)
			return 0;
		for (size_t k = 0; k < len; k++)
			vals[i][k] = (uint8_t)(0x20 + data[at + k] % 95);
		sec[i] = (struct kh_scrub_secret){ names[i], vals[i], len,
						   (const uint8_t *)tokens[i], strlen(tokens[i]) };
		at += len;
	}
	if (at + 4 > size)
		return 0;
	memcpy(&seed, data + at, 4);
	at += 4;
	body_len = size - at;
	if (body_len > MAX_BODY)
		body_len = MAX_BODY;
	CHECK(kh_scrub_set_build(&set, sec, n_sec, &err) == 0);
	rl = scrub_reference(&set, data + at, body_len, ref, runs, &n_runs);
	gl = streamed(&set, data + at, body_len, seed);
	CHECK(gl == rl && memcmp(got, ref, rl) == 0);
	CHECK(kh_scrub_stream_init(&st, &set) == 0);
	ol = kh_scrub_oneshot(&st, data + at, body_len, one, sizeof one);
	CHECK(ol == (ssize_t)rl && memcmp(one, ref, rl) == 0);
	kh_scrub_stream_free(&st);
	for (size_t r = 0; r < n_runs; r++)
		CHECK(!has_needle(&set, ref + runs[r][0], runs[r][1] - runs[r][0]));
	kh_scrub_set_free(&set);
	return 0;
}
