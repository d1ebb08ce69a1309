/* The channel codec (privsep/chan.c): every type round-trips, every kind of
 * malformed frame is refused without harming the next one, and the frame
 * splitter gives the same frames however the bytes arrive. */
#include <stdlib.h>

#include "privsep/chan.h"
#include "tap.h"

#define NSAMPLES    21
#define SET(dst, s) snprintf((dst), sizeof(dst), "%s", (s))

static const uint8_t head_bytes[] = "GET /v1/models HTTP/1.1\r\nHost: api.example.com\r\n\r\n";
static const uint8_t body_bytes[] = "{\"model\":\"x\"}";
static uint8_t spki_bytes[KH_LEAF_SPKI_MAX]; /* the codec does not read keys: any bytes */
static uint8_t der_bytes[KH_LEAF_DER_MAX];

/* One or more valid messages of every type. */
static void samples(struct kh_chan_msg m[NSAMPLES])
{
	memset(m, 0, NSAMPLES * sizeof *m);
	for (int i = 0; i < NSAMPLES; i++) {
		/* 0..15: HELLO..RST; 16, 17: RESP_HEAD again; 18..20: SIGN_LEAF.. */
		m[i].type = (uint16_t)(i <= 15   ? i + 1
				       : i <= 17 ? KH_CHAN_RESP_HEAD
						 : KH_CHAN_SIGN_LEAF + i - 18);
		m[i].stream = i == 0 || i >= 18 ? 0 : 0x0102030405060708ull + (uint64_t)i;
	}
	for (size_t i = 0; i < sizeof der_bytes; i++)
		der_bytes[i] = spki_bytes[i % sizeof spki_bytes] = (uint8_t)(i * 13 + 1);
	m[0].u.hello = (struct kh_chan_hello){ KH_CHAN_VERSION, KH_CHAN_ROLE_FRONT, 7, 4096 };
	m[1].u.open = (struct kh_chan_open){ .entry = 1, .tls = true, .lazy = true, .port = 443 };
	SET(m[1].u.open.host, "api.example.com");
	SET(m[1].u.open.label, "agent-1");
	SET(m[1].u.open.source, "sandbox:agent-1");
	SET(m[1].u.open.client, "10.0.2.15");
	m[3].u.fail.status = 502;
	SET(m[3].u.fail.reason, "upstream_unreachable");
	SET(m[3].u.fail.detail, "connect to api.example.com:443 failed: timed out");
	m[4].u.req = (struct kh_chan_req_head){ .exchange = 3,
						.entry = 4,
						.body = KH_CHAN_BODY_LENGTH,
						.bits = KH_CHAN_R_KEEP_ALIVE | KH_CHAN_R_ABSOLUTE,
						.port = 8080,
						.body_len = 13 };
	SET(m[4].u.req.host, "::1");
	m[4].u.req.head = (struct kh_chan_bytes){ head_bytes, sizeof head_bytes - 1 };
	m[5].u.bytes = (struct kh_chan_bytes){ body_bytes, sizeof body_bytes - 1 };
	m[7].flags = KH_CHAN_F_CLOSE;
	m[7].u.bytes = (struct kh_chan_bytes){ head_bytes, 20 };
	m[8].u.bytes = (struct kh_chan_bytes){ body_bytes, 1 };
	m[9].u.end = (struct kh_chan_resp_end){ true, true, 200, 2, 12345678901ull, "", "" };
	SET(m[9].u.end.names, "authorization,x-api-key");
	SET(m[9].u.end.label, "agent-1");
	m[10].flags = KH_CHAN_F_ABORT;
	m[10].u.fail.status = 400;
	SET(m[10].u.fail.reason, "bad_request");
	m[11].u.credit = 65536;
	m[12].u.bytes = (struct kh_chan_bytes){ body_bytes, 5 };
	m[15].u.reason[0] = 'x';
	m[16].flags = KH_CHAN_F_INTERIM;
	m[16].u.bytes = (struct kh_chan_bytes){ (const uint8_t *)"HTTP/1.1 100 Continue\r\n\r\n",
						25 };
	m[17].flags = KH_CHAN_F_UPGRADE | KH_CHAN_F_CLOSE;
	m[17].u.bytes = (struct kh_chan_bytes){ head_bytes, 3 };
	m[18].u.sign.req = 0x1122334455667788ull;
	SET(m[18].u.sign.host, "api.example.com");
	m[18].u.sign.spki = (struct kh_chan_bytes){ spki_bytes, sizeof spki_bytes }; /* at cap */
	m[19].u.leaf.req = 1;
	m[19].u.leaf.der = (struct kh_chan_bytes){ der_bytes, sizeof der_bytes }; /* at cap */
	m[20].u.leaf_fail.req = 2;
	SET(m[20].u.leaf_fail.reason, "host_not_allowed");
	SET(m[20].u.leaf_fail.detail, "leaf refused: evil.com is not on the allowlist");
}

static struct kh_buf enc;
static struct kh_err err;

static int decode_buf(struct kh_chan_msg *out)
{
	return kh_chan_decode(kh_buf_data(&enc), kh_buf_len(&enc), out, &err);
}

static void round_trip_every_type(void)
{
	struct kh_chan_msg m[NSAMPLES], d;
	int seen[KH_CHAN_TYPE_END] = { 0 };

	samples(m);
	kh_buf_init(&enc, KH_CHAN_HDR + KH_CHAN_FRAME_MAX);
	for (int i = 0; i < NSAMPLES; i++) {
		struct kh_buf again;

		kh_buf_truncate(&enc, 0);
		CHECK_INT(kh_chan_encode(&m[i], &enc, &err), 0);
		CHECK_INT(decode_buf(&d), 0);
		CHECK(kh_chan_msg_equal(&m[i], &d));
		kh_buf_init(&again, KH_CHAN_HDR + KH_CHAN_FRAME_MAX);
		CHECK_INT(kh_chan_encode(&d, &again, &err), 0);
		CHECK(kh_buf_len(&again) == kh_buf_len(&enc) &&
		      memcmp(kh_buf_data(&again), kh_buf_data(&enc), kh_buf_len(&enc)) == 0);
		kh_buf_free(&again);
		seen[m[i].type] = 1;
	}
	for (int t = 1; t < KH_CHAN_TYPE_END; t++)
		CHECK(seen[t]);
	/* little-endian header: WINDOW, stream 0x0102030405060714, len 4 */
	kh_buf_truncate(&enc, 0);
	CHECK_INT(kh_chan_encode(&m[11], &enc, &err), 0);
	CHECK(memcmp(kh_buf_data(&enc),
		     "\x0c\x00\x00\x00\x04\x00\x00\x00\x13\x07\x06\x05\x04\x03\x02\x01"
		     "\x00\x00\x01\x00",
		     20) == 0);
	CHECK(!kh_chan_msg_equal(&m[3], &m[10]));
	kh_buf_free(&enc);
}

/* A raw frame: header with the payload's true length, then the payload. */
static uint8_t raw[KH_CHAN_HDR + KH_CHAN_FRAME_MAX + 16];

static size_t mkraw(uint16_t type, uint16_t flags, uint64_t stream, const void *pl, size_t n)
{
	uint8_t *p = raw;

	p[0] = (uint8_t)type, p[1] = (uint8_t)(type >> 8);
	p[2] = (uint8_t)flags, p[3] = (uint8_t)(flags >> 8);
	for (int i = 0; i < 4; i++)
		p[4 + i] = (uint8_t)(n >> (8 * i));
	for (int i = 0; i < 8; i++)
		p[8 + i] = (uint8_t)(stream >> (8 * i));
	if (n > 0)
		memcpy(p + KH_CHAN_HDR, pl, n);
	return KH_CHAN_HDR + n;
}

/* Decoding frame[0..n) is refused with a message holding want; the stream id
 * stays known; a valid frame decodes right after. */
static void refused(const uint8_t *f, size_t n, const char *want, int line)
{
	struct kh_chan_msg d;
	uint8_t ok[KH_CHAN_HDR + 4];
	size_t okn;

	err.msg[0] = '\0';
	if (kh_chan_decode(f, n, &d, &err) != -1 || strstr(err.msg, want) == NULL) {
		printf("#   FAIL line %d: want refusal \"%s\", got \"%s\"\n", line, want, err.msg);
		tap_cur_failed = 1;
	}
	if (n >= KH_CHAN_HDR) {
		struct kh_chan_hdr h;

		kh_chan_hdr_read(f, &h);
		CHECK(d.stream == h.stream && d.type == h.type);
	}
	memcpy(ok,
	       "\x0c\x00\x00\x00\x04\x00\x00\x00\x09\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00",
	       20);
	okn = sizeof ok;
	CHECK_INT(kh_chan_decode(ok, okn, &d, &err), 0);
}
#define REFUSED(f, n, want) refused((f), (n), (want), __LINE__)

/* Encodes m into frame (a copy) and returns where s first occurs in it. */
static uint8_t frame[4096];
static size_t frame_n;

static uint8_t *encode_find(const struct kh_chan_msg *m, const char *s, size_t sn)
{
	struct kh_buf b;

	kh_buf_init(&b, sizeof frame);
	CHECK_INT(kh_chan_encode(m, &b, &err), 0);
	frame_n = kh_buf_len(&b);
	memcpy(frame, kh_buf_data(&b), frame_n);
	kh_buf_free(&b);
	return memmem(frame, frame_n, s, sn);
}

/* Replaces one byte of s inside m's frame with c: refused as want. */
static void patched(const struct kh_chan_msg *m, const char *s, size_t sn, uint8_t c,
		    const char *want, int line)
{
	uint8_t *at = encode_find(m, s, sn);

	if (at == NULL) {
		printf("#   FAIL line %d: \"%s\" not in frame\n", line, s);
		tap_cur_failed = 1;
		return;
	}
	*at = c;
	refused(frame, frame_n, want, line);
}
#define PATCHED(m, s, c, want) patched((m), (s), sizeof(s) - 1, (c), (want), __LINE__)

static void refuses_bad_header(void)
{
	uint8_t big[KH_CHAN_FRAME_MAX + 1] = { 0 };
	size_t n;

	REFUSED(raw, 0, "shorter than its header");
	REFUSED((const uint8_t *)"\x0c\x00\x00\x00", 4, "shorter than its header");
	REFUSED(raw, mkraw(0, 0, 1, NULL, 0), "unknown frame type 0");
	REFUSED(raw, mkraw(KH_CHAN_TYPE_END, 0, 1, NULL, 0), "unknown frame type 20");
	REFUSED(raw, mkraw(0xffff, 0, 1, NULL, 0), "unknown frame type 65535");
	big[0] = 'x';
	REFUSED(raw, mkraw(KH_CHAN_DATA, 0, 1, big, sizeof big), "cap 65536");
	CHECK_INT(kh_chan_decode(raw, mkraw(KH_CHAN_DATA, 0, 1, big, KH_CHAN_FRAME_MAX),
				 &(struct kh_chan_msg){ 0 }, &err),
		  0);
	n = mkraw(KH_CHAN_CLOSE, 0, 1, NULL, 0);
	REFUSED(raw, n + 1, "length 0, frame holds 1"); /* header says less than given */
	n = mkraw(KH_CHAN_WINDOW, 0, 1, "\x01\x00\x00\x00", 4);
	REFUSED(raw, n - 1, "length 4, frame holds 3");
	REFUSED(raw, mkraw(KH_CHAN_CLOSE, 1, 1, NULL, 0), "flags 0x1 not defined");
	REFUSED(raw, mkraw(KH_CHAN_RESP_HEAD, 8, 1, "H", 1), "flags 0x8 not defined");
	REFUSED(raw, mkraw(KH_CHAN_FAIL, 2, 1, NULL, 0), "flags 0x2 not defined");
	REFUSED(raw, mkraw(KH_CHAN_REQ_BODY, 0, 0, "x", 1), "stream 0 is the channel's");
	REFUSED(raw, mkraw(KH_CHAN_RST, 0, 0, "\x01\x00x", 3), "stream 0 is the channel's");
	REFUSED(raw, mkraw(KH_CHAN_HELLO, 0, 5, "\x01\x00\x01\x00\0\0\0\0\1\0\0\0", 12),
		"HELLO is on stream 0");
	REFUSED(raw, mkraw(KH_CHAN_LEAF, 0, 3, "\1\0\0\0\0\0\0\0x", 9), "LEAF is on stream 0");
	REFUSED(raw, mkraw(KH_CHAN_LEAF_FAIL, 1, 0, NULL, 0), "flags 0x1 not defined");
	CHECK_INT(kh_chan_decode(raw, mkraw(KH_CHAN_LEAF, 0, 0, "\1\0\0\0\0\0\0\0x", 9),
				 &(struct kh_chan_msg){ 0 }, &err),
		  0);
}

static void refuses_bad_layout(void)
{
	REFUSED(raw, mkraw(KH_CHAN_WINDOW, 0, 1, "\x01\x00\x00\x00\x00", 5),
		"1 bytes after the last field");
	REFUSED(raw, mkraw(KH_CHAN_CLOSE, 0, 1, "x", 1), "1 bytes after the last field");
	REFUSED(raw, mkraw(KH_CHAN_OPEN_OK, 0, 1, "x", 1), "after the last field");
	REFUSED(raw, mkraw(KH_CHAN_WINDOW, 0, 1, "\x01\x00", 2), "credit: frame too short");
	REFUSED(raw, mkraw(KH_CHAN_WINDOW, 0, 1, "\0\0\0\0", 4), "credit: 0 outside");
	REFUSED(raw, mkraw(KH_CHAN_REQ_BODY, 0, 1, NULL, 0), "REQ_BODY: empty");
	REFUSED(raw, mkraw(KH_CHAN_DATA, 0, 1, NULL, 0), "DATA: empty");
	REFUSED(raw, mkraw(KH_CHAN_HELLO, 0, 0, "\x02\x00\x01\x00\0\0\0\0\1\0\0\0", 12),
		"version 2");
	REFUSED(raw, mkraw(KH_CHAN_HELLO, 0, 0, "\x01\x00\x05\x00\0\0\0\0\1\0\0\0", 12),
		"role: 5 outside");
	REFUSED(raw, mkraw(KH_CHAN_HELLO, 0, 0, "\x01\x00\x01\x00\0\0\0\0\0\0\0\0", 12),
		"max streams: 0");
	REFUSED(raw, mkraw(KH_CHAN_HELLO, 0, 0, "\x01\x00\x01\x00\0\0\0\0\1\0\0", 11),
		"frame too short");
	REFUSED(raw, mkraw(KH_CHAN_RST, 0, 1, "\x05\x00x", 3), "reason: frame too short");
	REFUSED(raw, mkraw(KH_CHAN_RST, 0, 1, "\x00\x00", 2), "reason: length 0 outside");
	REFUSED(raw, mkraw(KH_CHAN_LEAF, 0, 0, "\1\0\0\0\0\0\0", 7), "request id: frame too short");
	REFUSED(raw, mkraw(KH_CHAN_LEAF, 0, 0, "\1\0\0\0\0\0\0\0", 8), "certificate: empty");
	REFUSED(raw, mkraw(KH_CHAN_SIGN_LEAF, 0, 0, "\1\0\0\0\0\0\0\0\3\0a.b", 13), "key: empty");
	REFUSED(raw, mkraw(KH_CHAN_SIGN_LEAF, 0, 0, "\1\0\0\0\0\0\0\0\0\0k", 11), "host: length 0");
	REFUSED(raw, mkraw(KH_CHAN_LEAF_FAIL, 0, 0, "\1\0\0\0\0\0\0\0\1\0x", 11),
		"detail: frame too short");
	REFUSED(raw, mkraw(KH_CHAN_LEAF_FAIL, 0, 0, "\1\0\0\0\0\0\0\0\1\0x\0\0z", 14),
		"1 bytes after the last field");
}

static void refuses_bad_fields(void)
{
	struct kh_chan_msg m[NSAMPLES], t;
	char pl[200];
	size_t n = 0;

	samples(m);
	/* a string over its cap */
	memset(pl, 'a', sizeof pl);
	pl[0] = KH_CHAN_REASON_MAX, pl[1] = 0;
	REFUSED(raw, mkraw(KH_CHAN_RST, 0, 1, pl, 2 + KH_CHAN_REASON_MAX),
		"reason: length 48 outside 1..47");
	memcpy(pl,
	       "\x00\x00\x00\xbb\x01\x03\x00"
	       "a.b\x40\x00",
	       12); /* label: 64 bytes */
	n = 12 + 64;
	memcpy(pl + n,
	       "\x01\x00s\x01\x00"
	       "c",
	       6);
	REFUSED(raw, mkraw(KH_CHAN_OPEN, 0, 1, pl, n + 6), "label: length 64 outside 1..63");
	pl[10] = 63; /* the same frame, label at its cap, is fine once trimmed */
	memmove(pl + 12 + 63, pl + 12 + 64, 6);
	CHECK_INT(kh_chan_decode(raw, mkraw(KH_CHAN_OPEN, 0, 1, pl, n + 5), &t, &err), 0);
	CHECK_INT(strlen(t.u.open.label), 63);
	/* NUL, CR, LF, DEL, 8-bit and space where they have no place */
	PATCHED(&m[1], "example", 'E', "not a host name in normal form");
	PATCHED(&m[1], "example", '\n', "host: byte 0x0a");
	PATCHED(&m[1], "example", '\0', "host: byte 0x00");
	PATCHED(&m[1], "agent-1", '\r', "label: byte 0x0d");
	PATCHED(&m[1], "agent-1", ' ', "label: byte 0x20");
	PATCHED(&m[1], "agent-1", 0x80, "label: byte 0x80");
	PATCHED(&m[1], "sandbox:", 0x7f, "source: byte 0x7f");
	PATCHED(&m[1], "10.0", '\0', "client: byte 0x00");
	PATCHED(&m[3], "timed out", '\n', "detail: byte 0x0a");
	PATCHED(&m[3], "timed out", '\r', "detail: byte 0x0d");
	PATCHED(&m[3], "timed out", 0x1b, "detail: byte 0x1b");
	PATCHED(&m[3], "upstream_", 'U', "reason: byte 0x55");
	PATCHED(&m[10], "bad_", '-', "reason: byte 0x2d");
	PATCHED(&m[9], "x-api-key", '\0', "names: byte 0x00");
	PATCHED(&m[9], "x-api-key", ' ', "names: byte 0x20");
	PATCHED(&m[4], "::1", '\r', "host: byte 0x0d");
	/* numbers out of range: each also refused by the encoder */
	t = m[1], t.u.open.port = 0;
	CHECK_INT(kh_chan_encode(&t, &enc, &err), -1);
	CHECK(strstr(err.msg, "port: 0 outside") != NULL);
	CHECK_INT(kh_buf_len(&enc), 0);
	PATCHED(&m[1], "\x01\x01\x01\xbb\x01", 5, "entry: 5 outside"); /* entry 1, tls, lazy, 443 */
	PATCHED(&m[1], "\x01\x01\xbb\x01", 2, "tls: 2 is not 0 or 1");
	PATCHED(&m[3], "\xf6\x01", 0x8f, "status: 399 outside"); /* 502 -> 0x018f */
	PATCHED(&m[3], "\xf6\x01\x14", 0x2c, "status: 300 outside"); /* 0x012c */
	t = m[4], t.u.req.body = KH_CHAN_BODY_CHUNKED;
	CHECK_INT(kh_chan_encode(&t, &enc, &err), -1);
	CHECK(strstr(err.msg, "body length 13 without a length body") != NULL);
	t = m[4], t.u.req.body = 4, t.u.req.body_len = 0;
	CHECK_INT(kh_chan_encode(&t, &enc, &err), -1);
	CHECK(strstr(err.msg, "body kind: 4 outside") != NULL);
	t = m[4], t.u.req.bits = 0x20;
	CHECK_INT(kh_chan_encode(&t, &enc, &err), -1);
	CHECK(strstr(err.msg, "bits: 32 outside") != NULL);
	t = m[4], t.u.req.head.n = 0;
	CHECK_INT(kh_chan_encode(&t, &enc, &err), -1);
	CHECK(strstr(err.msg, "head: empty") != NULL);
	t = m[9], t.u.end.upstream_status = 99;
	CHECK_INT(kh_chan_encode(&t, &enc, &err), -1);
	CHECK(strstr(err.msg, "upstream status: 99 outside") != NULL);
	t = m[1], t.u.open.source[0] = '\0';
	CHECK_INT(kh_chan_encode(&t, &enc, &err), -1);
	CHECK(strstr(err.msg, "source: length 0") != NULL);
	t = m[1], memset(t.u.open.host, 'a', sizeof t.u.open.host); /* unterminated */
	CHECK_INT(kh_chan_encode(&t, &enc, &err), -1);
	CHECK(strstr(err.msg, "unterminated") != NULL);
	CHECK_INT(kh_buf_len(&enc), 0);
}

/* The signer's frames: the same strictness, caps of their own. */
static void refuses_bad_leaf_frames(void)
{
	struct kh_chan_msg m[NSAMPLES], t;

	samples(m);
	PATCHED(&m[18], "example", 'E', "SIGN_LEAF: host: not a host name in normal form");
	PATCHED(&m[18], "example", '\0', "host: byte 0x00");
	PATCHED(&m[20], "host_not", 'H', "LEAF_FAIL: reason: byte 0x48");
	PATCHED(&m[20], "evil.com", '\n', "LEAF_FAIL: detail: byte 0x0a");
	PATCHED(&m[20], "evil.com", 0xc3, "detail: byte 0xc3");
	/* one byte over each cap, refused by the encoder (and so the decoder) */
	t = m[18], t.u.sign.spki.n = KH_LEAF_SPKI_MAX + 1;
	t.u.sign.spki.p = der_bytes;
	CHECK_INT(kh_chan_encode(&t, &enc, &err), -1);
	CHECK(strstr(err.msg, "key: 129 bytes, more than 128") != NULL);
	t = m[19], t.u.leaf.der.n = 0;
	CHECK_INT(kh_chan_encode(&t, &enc, &err), -1);
	CHECK(strstr(err.msg, "certificate: empty") != NULL);
	t = m[20], t.u.leaf_fail.reason[0] = '\0';
	CHECK_INT(kh_chan_encode(&t, &enc, &err), -1);
	CHECK(strstr(err.msg, "reason: length 0") != NULL);
	t = m[18], SET(t.u.sign.host, "[::1]");
	CHECK_INT(kh_chan_encode(&t, &enc, &err), -1);
	CHECK(strstr(err.msg, "not a host name in normal form") != NULL);
	CHECK_INT(kh_buf_len(&enc), 0);
	{
		static uint8_t big[KH_LEAF_DER_MAX + 1];
		struct kh_buf wide;

		kh_buf_init(&wide, KH_CHAN_HDR + KH_CHAN_FRAME_MAX);
		t = m[19], t.u.leaf.der = (struct kh_chan_bytes){ big, sizeof big };
		CHECK_INT(kh_chan_encode(&t, &wide, &err), -1);
		CHECK(strstr(err.msg, "certificate: 4097 bytes, more than 4096") != NULL);
		CHECK_INT(kh_buf_len(&wide), 0);
		kh_buf_free(&wide);
	}
	/* an empty detail is fine; the request id is any u64 */
	t = m[20], t.u.leaf_fail.detail[0] = '\0', t.u.leaf_fail.req = UINT64_MAX;
	CHECK_INT(kh_chan_encode(&t, &enc, &err), 0);
	kh_buf_truncate(&enc, 0);
}

/* --- the splitter --- */

static uint8_t stream_bytes[8 * 4096 + 2 * (KH_CHAN_HDR + KH_CHAN_FRAME_MAX)];
static size_t stream_n;
static uint8_t big_payload[KH_CHAN_FRAME_MAX];

static void build_stream(void)
{
	struct kh_chan_msg m[NSAMPLES], d = { .type = KH_CHAN_DATA, .stream = 9 };
	struct kh_buf b;

	samples(m);
	kh_buf_init(&b, sizeof stream_bytes);
	for (int i = 0; i < NSAMPLES; i++)
		CHECK_INT(kh_chan_encode(&m[i], &b, &err), 0);
	for (size_t i = 0; i < sizeof big_payload; i++)
		big_payload[i] = (uint8_t)(i * 7);
	d.u.bytes = (struct kh_chan_bytes){ big_payload,
					    sizeof big_payload }; /* a frame at the cap */
	CHECK_INT(kh_chan_encode(&d, &b, &err), 0);
	for (int i = 0; i < NSAMPLES; i++)
		CHECK_INT(kh_chan_encode(&m[NSAMPLES - 1 - i], &b, &err), 0);
	stream_n = kh_buf_len(&b);
	memcpy(stream_bytes, kh_buf_data(&b), stream_n);
	kh_buf_free(&b);
}

/* Feeds the stream in pieces (step 0: all at once; else seeded sizes up to
 * step) and concatenates every frame out: must give the stream back. */
static uint8_t out_bytes[sizeof stream_bytes];

static int split_pieces(size_t step, unsigned seed, size_t *frames)
{
	struct kh_chan_split *s = malloc(sizeof *s);
	size_t off = 0, out = 0;
	const uint8_t *f;
	size_t fn;
	int r = 0;

	kh_chan_split_init(s);
	*frames = 0;
	while (off < stream_n && r >= 0) {
		size_t piece = step == 0 ? stream_n - off : 1 + (size_t)rand_r(&seed) % step;
		size_t used;

		if (piece > stream_n - off)
			piece = stream_n - off;
		used = kh_chan_split_feed(s, stream_bytes + off, piece);
		off += used;
		CHECK(s->len <= KH_CHAN_HDR + KH_CHAN_FRAME_MAX);
		while ((r = kh_chan_split_next(s, &f, &fn, &err)) == 1) {
			memcpy(out_bytes + out, f, fn);
			out += fn;
			++*frames;
		}
	}
	CHECK_INT(kh_chan_split_next(s, &f, &fn, &err), 0);
	free(s);
	return r < 0 || out != stream_n || memcmp(out_bytes, stream_bytes, stream_n) != 0 ? -1 : 0;
}

static void splitter_piecewise_equals_whole(void)
{
	size_t whole, frames;

	build_stream();
	CHECK_INT(split_pieces(0, 0, &whole), 0);
	CHECK_INT(whole, 2 * NSAMPLES + 1);
	CHECK_INT(split_pieces(1, 0, &frames), 0); /* byte by byte */
	CHECK_INT(frames, whole);
	for (unsigned seed = 1; seed <= 20; seed++) {
		CHECK_INT(split_pieces(seed % 2 ? 97 : 9000, seed, &frames), 0);
		CHECK_INT(frames, whole);
	}
}

static void splitter_refuses_oversized(void)
{
	struct kh_chan_split *s = malloc(sizeof *s);
	const uint8_t *f;
	size_t fn;
	uint8_t hdr[KH_CHAN_HDR + 8] = {
		KH_CHAN_DATA, 0, 0, 0, 0x01, 0x00, 0x01, 0x00, 1
	}; /* len 65537 */

	kh_chan_split_init(s);
	CHECK_INT(kh_chan_split_feed(s, hdr, sizeof hdr),
		  KH_CHAN_HDR); /* the header, nothing after */
	CHECK_INT(kh_chan_split_next(s, &f, &fn, &err), -1);
	CHECK(strstr(err.msg, "more than 65536") != NULL);
	CHECK_INT(kh_chan_split_feed(s, hdr, sizeof hdr), 0); /* stays broken */
	CHECK_INT(kh_chan_split_next(s, &f, &fn, &err), -1);
	hdr[4] = 0, hdr[6] = 1; /* len 65536 exactly: waits for the payload */
	kh_chan_split_init(s);
	CHECK_INT(kh_chan_split_feed(s, hdr, sizeof hdr), sizeof hdr);
	CHECK_INT(kh_chan_split_next(s, &f, &fn, &err), 0);
	free(s);
}

int main(void)
{
	kh_buf_init(&enc, 4096);
	RUN(round_trip_every_type);
	kh_buf_init(&enc, 4096);
	RUN(refuses_bad_header);
	RUN(refuses_bad_layout);
	RUN(refuses_bad_fields);
	RUN(refuses_bad_leaf_frames);
	RUN(splitter_piecewise_equals_whole);
	RUN(splitter_refuses_oversized);
	kh_buf_free(&enc);
	TAP_DONE();
}
