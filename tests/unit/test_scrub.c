/* The response scrubber: forms, leftmost-longest matching, and output that
 * does not depend on how the input was split or how small the sink is. */
#include <stdlib.h>

#include "secret/scrub.h"
#include "tap.h"

#define SECRET "sk-real-0123456789abcdef"
#define TOKEN  "keyhole-openai-00112233445566778899aabbccddeeff"

static struct kh_scrub_set set;

static void build(const struct kh_scrub_secret *sec, size_t n)
{
	struct kh_err err;

	kh_scrub_set_free(&set);
	if (kh_scrub_set_build(&set, sec, n, &err) != 0)
		abort();
}

static void build_one(const char *secret, const char *token)
{
	struct kh_scrub_secret s = { "OPENAI_API_KEY", (const uint8_t *)secret, strlen(secret),
				     (const uint8_t *)token, strlen(token) };

	build(&s, 1);
}

/* Leftmost-longest replacement over the whole input, the slow obvious way. */
static size_t reference(const uint8_t *in, size_t n, uint8_t *out)
{
	size_t o = 0, i = 0;

	while (i < n) {
		const struct kh_scrub_needle *best = NULL;

		for (size_t k = 0; k < set.n; k++) {
			const struct kh_scrub_needle *nd = &set.needles[k];

			if (nd->len <= n - i && memcmp(in + i, nd->p, nd->len) == 0 &&
			    (best == NULL || nd->len > best->len))
				best = nd;
		}
		if (best == NULL) {
			out[o++] = in[i++];
			continue;
		}
		memcpy(out + o, best->rep, best->rep_len);
		o += best->rep_len;
		i += best->len;
	}
	return o;
}

/* Feeds in[0..n) in pieces cut at the given points, through a sink of at
 * most sink_cap bytes per call; returns the output length. */
static size_t run_split(const uint8_t *in, size_t n, const size_t *cuts, size_t n_cuts,
			size_t sink_cap, uint8_t *out, size_t out_cap, uint64_t *total)
{
	struct kh_scrub_stream st;
	size_t o = 0, from = 0;

	if (kh_scrub_stream_init(&st, &set) != 0)
		abort();
	for (size_t c = 0; c <= n_cuts; c++) {
		size_t to = c < n_cuts ? cuts[c] : n;
		bool last = c == n_cuts;

		while (from < to || (last && kh_scrub_stream_pending(&st) > 0)) {
			size_t cap = out_cap - o < sink_cap ? out_cap - o : sink_cap;
			struct kh_scrub_sink k = { out + o, 0, cap };
			size_t used = kh_scrub_feed(&st, in + from, to - from, last, &k);

			from += used;
			o += k.len;
			if (used == 0 && k.len == 0)
				break; /* nothing fits: a bug the caller checks */
		}
	}
	if (total != NULL)
		*total = st.total;
	kh_scrub_stream_free(&st);
	return o;
}

static bool same_as_reference(const char *what, const uint8_t *in, size_t n, const size_t *cuts,
			      size_t n_cuts, size_t sink_cap)
{
	static uint8_t want[1 << 16], got[1 << 16];
	size_t wl = reference(in, n, want);
	size_t gl = run_split(in, n, cuts, n_cuts, sink_cap, got, sizeof got, NULL);

	if (wl != gl || memcmp(want, got, wl) != 0) {
		printf("#   %s: output differs (want %zu bytes, got %zu)\n", what, wl, gl);
		return false;
	}
	return true;
}

static bool contains(const uint8_t *h, size_t hl, const char *needle)
{
	size_t nl = strlen(needle);

	for (size_t i = 0; i + nl <= hl; i++)
		if (memcmp(h + i, needle, nl) == 0)
			return true;
	return false;
}

/* --- tests --- */

static void test_raw_in_json(void)
{
	const char *in = "{\"error\":\"invalid key " SECRET "\",\"again\":\"" SECRET "\"}";
	uint8_t out[512];
	uint64_t total;
	size_t n;

	build_one(SECRET, TOKEN);
	n = run_split((const uint8_t *)in, strlen(in), NULL, 0, 4096, out, sizeof out, &total);
	out[n] = '\0';
	CHECK_STR((char *)out, "{\"error\":\"invalid key " TOKEN "\",\"again\":\"" TOKEN "\"}");
	CHECK_INT(total, 2);
}

static void test_every_split_point(void)
{
	const char *in = "a" SECRET SECRET "b" SECRET;
	size_t n = strlen(in);
	bool ok = true;

	build_one(SECRET, TOKEN);
	for (size_t a = 0; a <= n; a++) {
		ok &= same_as_reference("one cut", (const uint8_t *)in, n, &a, 1, 4096);
		for (size_t b = a; b <= n; b++) {
			size_t cuts[2] = { a, b };

			ok &= same_as_reference("two cuts", (const uint8_t *)in, n, cuts, 2, 4096);
		}
	}
	CHECK(ok);
}

static void test_byte_at_a_time_and_tiny_sink(void)
{
	const char *in = "xx" SECRET "yy" SECRET;
	size_t n = strlen(in), cuts[128];
	uint8_t out[512];
	bool ok = true;

	build_one(SECRET, TOKEN);
	for (size_t i = 0; i < n; i++)
		cuts[i] = i + 1;
	ok &= same_as_reference("bytewise", (const uint8_t *)in, n, cuts, n, 4096);
	/* The smallest sink that still fits one replacement. */
	ok &= same_as_reference("small sink", (const uint8_t *)in, n, cuts, n, set.max_rep);
	ok &= same_as_reference("small sink, one feed", (const uint8_t *)in, n, NULL, 0,
				set.max_rep);
	CHECK(ok);
	CHECK(!contains(
		out, run_split((const uint8_t *)in, n, cuts, n, set.max_rep, out, sizeof out, NULL),
		SECRET));
}

/* Bytes that cannot begin a needle are never held back (SSE must flow). */
static void test_nothing_held_without_prefix(void)
{
	struct kh_scrub_stream st;
	const char *ev = "data: {\"delta\":\"sk-re\"}\n\n";
	uint8_t out[256];
	struct kh_scrub_sink k = { out, 0, sizeof out };

	build_one(SECRET, TOKEN);
	CHECK(kh_scrub_stream_init(&st, &set) == 0);
	CHECK_INT(kh_scrub_feed(&st, (const uint8_t *)ev, strlen(ev), false, &k), strlen(ev));
	CHECK_INT(k.len, strlen(ev));
	CHECK_INT(kh_scrub_stream_pending(&st), 0);
	/* A possible start at the end is held, and only that. */
	k.len = 0;
	CHECK_INT(kh_scrub_feed(&st, (const uint8_t *)"data: sk-re", 11, false, &k), 11);
	CHECK_INT(k.len, 6);
	CHECK_INT(kh_scrub_stream_pending(&st), 5);
	/* End of body: the held bytes were not a secret after all. */
	CHECK_INT(kh_scrub_feed(&st, NULL, 0, true, &k), 0);
	CHECK_INT(k.len, 11);
	CHECK_INT(kh_scrub_stream_pending(&st), 0);
	kh_scrub_stream_free(&st);
}

static void test_overlapping_needles(void)
{
	/* One secret is a prefix of another; two overlap in the middle. */
	struct kh_scrub_secret s[3] = {
		{ "A", (const uint8_t *)"abcdefgh", 8, (const uint8_t *)"<A>", 3 },
		{ "B", (const uint8_t *)"abcdefghijkl", 12, (const uint8_t *)"<B>", 3 },
		{ "C", (const uint8_t *)"ghijklmnop", 10, (const uint8_t *)"<C>", 3 },
	};
	const char *cases[][2] = {
		{ "abcdefghijkl", "<B>" }, /* longest at the leftmost start */
		{ "abcdefghij", "<A>ij" },
		{ "xabcdefghijklmnop", "x<B>mnop" }, /* leftmost wins over C */
		{ "abcdefgabcdefgh", "abcdefg<A>" },
		{ "ghijklmnopabcdefgh", "<C><A>" },
	};
	uint8_t out[128];

	build(s, 3);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = strlen(cases[i][0]), o;
		bool ok = true;

		o = run_split((const uint8_t *)cases[i][0], n, NULL, 0, 64, out, sizeof out, NULL);
		out[o] = '\0';
		CHECK_STR((char *)out, cases[i][1]);
		for (size_t a = 0; a <= n; a++)
			ok &= same_as_reference("overlap", (const uint8_t *)cases[i][0], n, &a, 1,
						64);
		CHECK(ok);
	}
}

static size_t b64_encode(const uint8_t *in, size_t n, bool url, char *out)
{
	const char *abc = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			      : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);

		out[o++] = abc[v >> 18 & 63];
		out[o++] = abc[v >> 12 & 63];
		out[o++] = i + 1 < n ? abc[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? abc[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

static int b64_val(char c)
{
	const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	for (int i = 0; i < 64; i++)
		if (abc[i] == c)
			return i;
	return -1;
}

/* Lenient decode (stops at the first non-alphabet char). */
static size_t b64_decode(const char *in, size_t n, uint8_t *out)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int v = b64_val(in[i]);

		if (v < 0)
			break;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return o;
}

/* base64(prefix + secret + suffix) for every alignment, both alphabets:
 * the output never decodes to the secret, nor holds its bits beyond the two
 * edge characters; a bare base64(secret) decodes to exactly the token. */
static void test_base64_alignments(void)
{
	static const char *secrets[] = { SECRET, SECRET "x", SECRET "xy", "s3cr3t+/?key>>>?" };
	bool ok = true;

	for (size_t si = 0; si < 4; si++) {
		build_one(secrets[si], TOKEN);
		for (int url = 0; url < 2; url++) {
			for (size_t pre = 0; pre < 6; pre++) {
				for (size_t suf = 0; suf < 6; suf++) {
					uint8_t plain[128], dec[256], out[512];
					char enc[256];
					size_t sl = strlen(secrets[si]), pl = 0, el, ol, dl;

					memcpy(plain, "ABCDEF", pre);
					pl += pre;
					memcpy(plain + pl, secrets[si], sl);
					pl += sl;
					memcpy(plain + pl, "uvwxyz", suf);
					pl += suf;
					el = b64_encode(plain, pl, url, enc);
					ol = run_split((const uint8_t *)enc, el, NULL, 0, 4096, out,
						       sizeof out, NULL);
					ok &= same_as_reference("b64", (const uint8_t *)enc, el,
								NULL, 0, 4096);
					/* Decoding from each of the 4 character offsets
					 * covers every bit alignment. */
					for (size_t at = 0; at < 4 && at < ol; at++) {
						dl = b64_decode((const char *)out + at, ol - at,
								dec);
						if (contains(dec, dl, secrets[si])) {
							printf("#   leak: secret %zu url %d pre "
							       "%zu suf %zu\n",
							       si, url, pre, suf);
							ok = false;
						}
					}
					dl = b64_decode((const char *)out, ol, dec);
					if (pre == 0 && suf == 0 &&
					    (dl != strlen(TOKEN) || memcmp(dec, TOKEN, dl) != 0)) {
						printf("#   bare base64 not the token: %zu\n", si);
						ok = false;
					}
				}
			}
		}
	}
	CHECK(ok);
}

static void test_percent_encoded(void)
{
	const char *secret = "ab/cd+ef=gh:ij";
	const char *in = "?key=ab%2Fcd%2Bef%3Dgh%3Aij&x=ab%2fcd%2bef%3dgh%3aij&raw=ab/cd+ef=gh:ij";
	uint8_t out[512];
	size_t n;

	build_one(secret, "tok~en/1+2=3");
	n = run_split((const uint8_t *)in, strlen(in), NULL, 0, 4096, out, sizeof out, NULL);
	out[n] = '\0';
	CHECK_STR((char *)out, "?key=tok~en%2F1%2B2%3D3&x=tok~en%2f1%2b2%3d3&raw=tok~en/1+2=3");
}

static void test_short_secret_ignored(void)
{
	const char *in = "a short abc1234 value";
	uint8_t out[64];

	build_one("abc1234", TOKEN); /* 7 bytes: would match ordinary text */
	CHECK_INT(set.n, 0);
	CHECK_INT(run_split((const uint8_t *)in, strlen(in), NULL, 0, 64, out, sizeof out, NULL),
		  strlen(in));
	CHECK(memcmp(out, in, strlen(in)) == 0);
}

static void test_oneshot_and_tally(void)
{
	struct kh_scrub_secret s[2] = {
		{ "OPENAI_API_KEY", (const uint8_t *)SECRET, strlen(SECRET), (const uint8_t *)TOKEN,
		  strlen(TOKEN) },
		{ "GROQ_API_KEY", (const uint8_t *)"gsk_groqgroqgroq", 16, (const uint8_t *)"tok-g",
		  5 },
	};
	struct kh_scrub_stream st;
	const char *line = "X-Echo: Bearer " SECRET ", gsk_groqgroqgroq, " SECRET;
	uint8_t out[256];
	ssize_t n;

	build(s, 2);
	CHECK(kh_scrub_stream_init(&st, &set) == 0);
	n = kh_scrub_oneshot(&st, (const uint8_t *)line, strlen(line), out, sizeof out);
	CHECK(n > 0);
	out[n > 0 ? n : 0] = '\0';
	CHECK_STR((char *)out, "X-Echo: Bearer " TOKEN ", tok-g, " TOKEN);
	CHECK_INT(st.total, 3);
	CHECK_INT(st.n_tally, 2);
	CHECK_STR(set.names[st.tally[0].secret], "OPENAI_API_KEY");
	CHECK_INT(st.tally[0].count, 2);
	CHECK_STR(set.names[st.tally[1].secret], "GROQ_API_KEY");
	/* Too small an output is refused, not truncated. */
	CHECK_INT(kh_scrub_oneshot(&st, (const uint8_t *)line, strlen(line), out, 20), -1);
	kh_scrub_stream_free(&st);
}

static void test_random_splits(void)
{
	static uint8_t in[8192];
	size_t cuts[16];
	bool ok = true;
	unsigned seed = 7;

	build_one(SECRET, TOKEN);
	for (int round = 0; round < 300; round++) {
		size_t n = 0;

		while (n < sizeof in - 64) {
			seed = seed * 1103515245u + 12345u;
			if (seed >> 28 == 0) {
				char enc[64];
				size_t el = b64_encode((const uint8_t *)SECRET, strlen(SECRET),
						       seed & 1, enc);

				memcpy(in + n, (seed & 2) ? SECRET : enc,
				       (seed & 2) ? strlen(SECRET) : el);
				n += (seed & 2) ? strlen(SECRET) : el;
			} else {
				in[n++] = (uint8_t) "sk-real-0123=cHJ\n"[(seed >> 16) % 17];
			}
		}
		for (size_t c = 0; c < 16; c++) {
			seed = seed * 1103515245u + 12345u;
			cuts[c] = (c ? cuts[c - 1] : 0) + (seed >> 16) % (n / 16 + 1);
			if (cuts[c] > n)
				cuts[c] = n;
		}
		ok &= same_as_reference("random", in, n, cuts, 16,
					set.max_rep + (seed >> 20) % 300);
	}
	CHECK(ok);
}

/* The skip table never jumps over a needle's start: every byte at position
 * j < window of every needle allows a shift of at most window - 1 - j, and a
 * byte no needle starts its window with (0 here) skips the whole window. */
static void test_skip_table(void)
{
	bool ok = true;

	build_one(SECRET, TOKEN);
	CHECK(set.window >= 4 && set.window <= strlen(SECRET));
	for (size_t i = 0; i < set.n; i++)
		for (size_t j = 0; j < set.window; j++)
			ok &= set.shift[set.needles[i].p[j]] <= set.window - 1 - j;
	CHECK(ok);
	CHECK_INT(set.shift[0], set.window);
	CHECK(!set.same_len);
	build_one(SECRET, "keyhole-openai-001122334");
	CHECK(set.same_len); /* as long as the secret, alphanumeric: every form keeps length */
}

/* Fills in[0..n) with filler (zeros, random bytes or text) and plants every
 * form of the secret at pos. Returns the planted length. */
static size_t plant(uint8_t *in, size_t at, int form)
{
	char enc[128];
	size_t el;

	switch (form) {
	case 0:
		memcpy(in + at, SECRET, strlen(SECRET));
		return strlen(SECRET);
	case 1:
	case 2:
		el = b64_encode((const uint8_t *)SECRET, strlen(SECRET), form == 2, enc);
		memcpy(in + at, enc, el);
		return el;
	default: { /* inside a longer base64 value: an alignment form */
		uint8_t plain[64];

		memcpy(plain, "xy", 2);
		memcpy(plain + 2, SECRET, strlen(SECRET));
		memcpy(plain + 2 + strlen(SECRET), "z", 1);
		el = b64_encode(plain, (size_t)form - 1 + strlen(SECRET), 0, enc);
		memcpy(in + at, enc, el);
		return el;
	}
	}
}

static void fill(uint8_t *in, size_t n, int kind, unsigned *seed)
{
	for (size_t i = 0; i < n; i++) {
		*seed = *seed * 1103515245u + 12345u;
		if (kind == 0)
			in[i] = 0;
		else
			in[i] = kind == 1 ? (uint8_t)(*seed >> 16)
					  : (uint8_t) "ab -x"[(*seed >> 16) % 5];
	}
}

/* Bodies the skip is for (zeros, binary, text), with secrets at every offset
 * around the window and the feed cut inside them: the output is the
 * reference's, and no secret survives. */
static void test_skip_matches_reference(void)
{
	static uint8_t in[4096], out[8192];
	unsigned seed = 11;
	bool ok = true;

	build_one(SECRET, TOKEN);
	for (int kind = 0; kind < 3; kind++) {
		for (size_t at = 0; at < 2 * set.window + 3; at++) {
			for (int form = 0; form < 5; form++) {
				size_t n = 200 + at % 7, pl, cuts[3];

				fill(in, sizeof in, kind, &seed);
				pl = plant(in, at, form);
				plant(in, at + pl + at % 5, 0); /* a second one close behind */
				cuts[0] = at + 1;
				cuts[1] = at + pl / 2; /* straddles the feed boundary */
				cuts[2] = at + pl + 1;
				ok &= same_as_reference("skip", in, n, cuts, 3, 4096);
				ok &= same_as_reference("skip, one feed", in, n, NULL, 0, 4096);
				ok &= !contains(out,
						run_split(in, n, cuts, 3, set.max_rep, out,
							  sizeof out, NULL),
						SECRET);
			}
		}
	}
	CHECK(ok);
}

/* A secret straddling the end of every feed (the 16 KiB relay buffer, a
 * chunk): the prefix before the cut is held back, whatever fills the rest. */
static void test_secret_straddles_buffer_end(void)
{
	static uint8_t in[16384 + 128], out[sizeof in + 256];
	size_t sl = strlen(SECRET);
	bool ok = true;

	build_one(SECRET, TOKEN);
	for (size_t k = 1; k < sl; k++) {
		size_t at = 16384 - k, cut = 16384;

		memset(in, 0, sizeof in);
		memcpy(in + at, SECRET, sl);
		ok &= same_as_reference("straddle", in, sizeof in, &cut, 1, sizeof in);
		ok &= !contains(
			out, run_split(in, sizeof in, &cut, 1, sizeof out, out, sizeof out, NULL),
			SECRET);
	}
	CHECK(ok);
}

int main(void)
{
	RUN(test_raw_in_json);
	RUN(test_every_split_point);
	RUN(test_byte_at_a_time_and_tiny_sink);
	RUN(test_nothing_held_without_prefix);
	RUN(test_overlapping_needles);
	RUN(test_base64_alignments);
	RUN(test_percent_encoded);
	RUN(test_short_secret_ignored);
	RUN(test_oneshot_and_tally);
	RUN(test_random_splits);
	RUN(test_skip_table);
	RUN(test_skip_matches_reference);
	RUN(test_secret_straddles_buffer_end);
	kh_scrub_set_free(&set);
	TAP_DONE();
}
