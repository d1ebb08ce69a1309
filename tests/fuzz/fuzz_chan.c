/* The channel codec (privsep/chan.c), as the key holder meets it: bytes from
 * an untrusted front. Byte 0 seeds the piece sizes; the whole input is the
 * byte stream. Invariants:
 * - the input read as one frame is refused with a message, or re-encodes to
 *   exactly the same bytes, and decoding that gives an equal message;
 * - the splitter fed in seeded pieces (1..64 bytes, or up to 70000) yields
 *   the same frames (same lengths, in order, concatenating to a prefix of the
 *   input) and the same broken/not-broken end as fed the whole input; it
 *   never holds more than KH_CHAN_HDR + KH_CHAN_FRAME_MAX bytes, and a frame
 *   is its header's length plus 16;
 * - every frame the splitter yields decodes or is refused as above, and the
 *   refusal keeps the frame's stream id. */
#include <string.h>

#include "fuzz_check.h"
#include "privsep/chan.h"

#define MAX_FRAMES 4096

struct run {
	size_t lens[MAX_FRAMES];
	size_t frames;
	size_t taken;
	int end; /* 0: out of input, -1: broken */
};

static struct kh_chan_split split;
static struct kh_buf enc;

static void check_frame(const uint8_t *f, size_t n)
{
	struct kh_chan_msg m, again;
	struct kh_err err = { { 0 } };

	if (kh_chan_decode(f, n, &m, &err) < 0) {
		CHECK(err.msg[0] != '\0');
		if (n >= KH_CHAN_HDR) {
			struct kh_chan_hdr h;

			kh_chan_hdr_read(f, &h);
			CHECK(m.stream == h.stream && m.type == h.type && m.flags == h.flags);
		}
		return;
	}
	kh_buf_truncate(&enc, 0);
	CHECK(kh_chan_encode(&m, &enc, &err) == 0);
	CHECK(kh_buf_len(&enc) == n && memcmp(kh_buf_data(&enc), f, n) == 0);
	CHECK(kh_chan_decode(kh_buf_data(&enc), n, &again, &err) == 0);
	CHECK(kh_chan_msg_equal(&m, &again));
}

static void run_split(const uint8_t *p, size_t n, uint32_t seed, size_t maxpiece, struct run *r)
{
	struct kh_err err;
	const uint8_t *f;
	size_t fn, off = 0;
	int got = 0;

	kh_chan_split_init(&split);
	memset(r, 0, sizeof *r);
	for (;;) {
		size_t piece = maxpiece ? 1 + seed % maxpiece : n - off;
		size_t used;

		seed = seed * 1103515245u + 12345u;
		if (piece > n - off)
			piece = n - off;
		used = kh_chan_split_feed(&split, p + off, piece);
		CHECK(used <= piece && split.len <= sizeof split.buf);
		off += used;
		while ((got = kh_chan_split_next(&split, &f, &fn, &err)) == 1) {
			struct kh_chan_hdr h;

			CHECK(r->frames < MAX_FRAMES && fn >= KH_CHAN_HDR);
			kh_chan_hdr_read(f, &h);
			CHECK(fn == KH_CHAN_HDR + (size_t)h.len && h.len <= KH_CHAN_FRAME_MAX);
			CHECK(r->taken + fn <= n && memcmp(f, p + r->taken, fn) == 0);
			r->lens[r->frames++] = fn;
			r->taken += fn;
			if (maxpiece == 0)
				check_frame(f, fn);
		}
		if (got < 0) {
			CHECK(err.msg[0] != '\0');
			r->end = -1;
			return;
		}
		if (off == n)
			return;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, pieces;
	uint32_t seed;

	if (enc.cap == 0)
		kh_buf_init(&enc, KH_CHAN_HDR + KH_CHAN_FRAME_MAX);
	check_frame(data, size);
	if (size == 0)
		return 0;
	seed = data[0];
	run_split(data, size, 0, 0, &whole);
	run_split(data, size, seed, seed & 1 ? 64 : 70000, &pieces);
	CHECK(whole.frames == pieces.frames && whole.taken == pieces.taken &&
	      whole.end == pieces.end);
	CHECK(memcmp(whole.lens, pieces.lens, whole.frames * sizeof whole.lens[0]) == 0);
	return 0;
}
