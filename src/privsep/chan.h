/* The framed protocol between keyhole's processes (docs/design/privsep.md,
 * section 2): a pure codec, no I/O. A frame is a 16-byte little-endian
 * header (u16 type, u16 flags, u32 len, u64 stream) and len <= 
 * KH_CHAN_FRAME_MAX payload bytes laid out per type. Stream 0 is the
 * channel itself: HELLO, and the front<->signer requests (SIGN_LEAF, LEAF,
 * LEAF_FAIL), which are no streams but carry a request id; every other type
 * names a stream.
 *
 * The key holder reads frames written by an untrusted front, so decoding is
 * strict: unknown type, flags the type does not define, a payload not
 * exactly its type's layout, a string over its cap or with a byte outside
 * its class, a host that is not in normal form: each is a refusal in a
 * kh_err, never an abort. The encoder checks its output with the decoder,
 * so it never emits a frame the other side would refuse.
 *
 * Payload fields: integers little-endian; a string is a u16 length and that
 * many bytes (no NUL); the raw bytes of a body/head/tunnel frame are the
 * rest of the payload. */
#ifndef KH_CHAN_H
#define KH_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/hostname.h"
#include "base/kh_limits.h"

#define KH_CHAN_VERSION 1

enum kh_chan_type {
	KH_CHAN_HELLO = 1, /* both, stream 0: version, role, front id, max streams */
	KH_CHAN_OPEN, /* F->K: a new stream toward host:port */
	KH_CHAN_OPEN_OK, /* K->F: empty */
	KH_CHAN_OPEN_FAIL, /* K->F: status, reason, detail */
	KH_CHAN_REQ_HEAD, /* F->K: a normalised request head and what frames it */
	KH_CHAN_REQ_BODY, /* F->K: body bytes (at least one) */
	KH_CHAN_REQ_END, /* F->K: empty */
	KH_CHAN_RESP_HEAD, /* K->F: client-ready head bytes; flags KH_CHAN_F_* */
	KH_CHAN_RESP_BODY, /* K->F: client-ready body bytes */
	KH_CHAN_RESP_END, /* K->F: K's part of the audit record */
	KH_CHAN_FAIL, /* K->F: status, reason, detail; flag KH_CHAN_F_ABORT */
	KH_CHAN_WINDOW, /* both: credit bytes */
	KH_CHAN_DATA, /* both: tunnel bytes after 101 */
	KH_CHAN_SHUT, /* both: half-close, empty */
	KH_CHAN_CLOSE, /* both: client gone, empty */
	KH_CHAN_RST, /* both: stream error, reason */
	KH_CHAN_SIGN_LEAF, /* F->S, stream 0: request id, host, SPKI DER */
	KH_CHAN_LEAF, /* S->F, stream 0: request id, certificate DER */
	KH_CHAN_LEAF_FAIL, /* S->F, stream 0: request id, reason, detail */
	KH_CHAN_TYPE_END
};

/* Header flags: each type allows only its own (others must be 0). */
#define KH_CHAN_F_INTERIM 0x1u /* RESP_HEAD: a 1xx, the final head follows */
#define KH_CHAN_F_CLOSE   0x2u /* RESP_HEAD: close the client after this response */
#define KH_CHAN_F_UPGRADE 0x4u /* RESP_HEAD: 101, DATA frames follow */
#define KH_CHAN_F_ABORT   0x1u /* FAIL: bytes already went to the client: cut it */

enum kh_chan_role {
	KH_CHAN_ROLE_FRONT = 1,
	KH_CHAN_ROLE_KEYHOLDER,
	KH_CHAN_ROLE_SIGNER,
	KH_CHAN_ROLE_PARENT
};

/* How the front came by a stream; mirrors enum kh_admit_entry (policy/, which
 * this layer may not include; the backend in proxy/ maps one onto the other). */
#define KH_CHAN_ENTRY_COUNT 5

enum kh_chan_body {
	KH_CHAN_BODY_NONE,
	KH_CHAN_BODY_LENGTH,
	KH_CHAN_BODY_CHUNKED,
	KH_CHAN_BODY_CLOSE
};

/* REQ_HEAD bits */
#define KH_CHAN_R_KEEP_ALIVE 0x01u
#define KH_CHAN_R_HTTP10     0x02u
#define KH_CHAN_R_HEAD       0x04u /* the method is HEAD */
#define KH_CHAN_R_UPGRADE    0x08u
#define KH_CHAN_R_ABSOLUTE   0x10u /* absolute-form target */
#define KH_CHAN_R_ALL        0x1fu

/* Bytes a frame carries as they are: on decode they point into the frame. */
struct kh_chan_bytes {
	const uint8_t *p;
	size_t n;
};

struct kh_chan_hello {
	uint16_t version; /* KH_CHAN_VERSION */
	uint16_t role; /* enum kh_chan_role */
	uint32_t front_id;
	uint32_t max_streams; /* >= 1 */
};

struct kh_chan_open {
	uint8_t entry; /* < KH_CHAN_ENTRY_COUNT */
	bool tls;
	bool lazy; /* dial on the first REQ_HEAD, not now */
	uint16_t port; /* >= 1 */
	char host[KH_HOST_BUF]; /* normalised (kh_host_normalize gives it back) */
	char label[KH_GRANT_LABEL_MAX]; /* sandbox label; may be empty */
	char source[KH_BODYSHARE_KEY_MAX]; /* not empty */
	char client[KH_CHAN_ADDR_MAX]; /* not empty */
};

/* OPEN_FAIL and FAIL */
struct kh_chan_fail {
	uint16_t status; /* 400-599 */
	char reason[KH_CHAN_REASON_MAX]; /* [a-z0-9_]+ */
	char detail[KH_DETAIL_MAX]; /* printable ASCII, may be empty; redacted by K */
};

struct kh_chan_req_head {
	uint32_t exchange; /* number of the request on its stream */
	uint8_t entry; /* < KH_CHAN_ENTRY_COUNT */
	uint8_t body; /* enum kh_chan_body */
	uint16_t bits; /* KH_CHAN_R_* */
	uint16_t port; /* >= 1 */
	uint64_t body_len; /* only with KH_CHAN_BODY_LENGTH, else 0 */
	char host[KH_HOST_BUF]; /* normalised */
	struct kh_chan_bytes head; /* at least one byte */
};

struct kh_chan_resp_end {
	bool keep_alive;
	bool admitted;
	uint16_t upstream_status; /* 0 (none) or 100-599 */
	uint32_t scrubbed; /* secrets cut out of the response */
	uint64_t bytes_up;
	char names[KH_CHAN_NAMES_MAX]; /* swapped header names; no space, may be empty */
	char label[KH_GRANT_LABEL_MAX]; /* sandbox label of the token used; may be empty */
};

/* A front asks the signer for a leaf for its own key (tls/signer.h). */
struct kh_chan_sign_leaf {
	uint64_t req; /* chosen by the front, echoed in the answer */
	char host[KH_HOST_BUF]; /* normalised */
	struct kh_chan_bytes spki; /* 1..KH_LEAF_SPKI_MAX bytes, the rest of the payload */
};

struct kh_chan_leaf {
	uint64_t req;
	struct kh_chan_bytes der; /* 1..KH_LEAF_DER_MAX bytes, the rest of the payload */
};

struct kh_chan_leaf_fail {
	uint64_t req;
	char reason[KH_CHAN_REASON_MAX]; /* [a-z0-9_]+ (KH_SIGNER_R_*, KH_LEAFKEY_R_*) */
	char detail[KH_DETAIL_MAX]; /* printable ASCII, may be empty */
};

struct kh_chan_msg {
	uint16_t type; /* enum kh_chan_type */
	uint16_t flags;
	uint64_t stream;
	union {
		struct kh_chan_hello hello;
		struct kh_chan_open open;
		struct kh_chan_fail fail; /* OPEN_FAIL, FAIL */
		struct kh_chan_req_head req;
		struct kh_chan_bytes bytes; /* REQ_BODY, RESP_HEAD, RESP_BODY, DATA: >= 1 byte */
		struct kh_chan_resp_end end;
		uint32_t credit; /* WINDOW: >= 1 */
		char reason[KH_CHAN_REASON_MAX]; /* RST */
		struct kh_chan_sign_leaf sign;
		struct kh_chan_leaf leaf;
		struct kh_chan_leaf_fail leaf_fail;
	} u; /* OPEN_OK, REQ_END, SHUT, CLOSE: nothing */
};

/* The header of a frame (at least KH_CHAN_HDR bytes at p). */
struct kh_chan_hdr {
	uint16_t type;
	uint16_t flags;
	uint32_t len;
	uint64_t stream;
};
void kh_chan_hdr_read(const uint8_t *p, struct kh_chan_hdr *h);

/* Name of a type ("REQ_HEAD"), "?" for an unknown one. */
const char *kh_chan_type_name(uint16_t type);

/* Appends m as one frame to out. -1 (out unchanged, err says why) when m is
 * not a frame the decoder accepts or does not fit under out's cap. */
int kh_chan_encode(const struct kh_chan_msg *m, struct kh_buf *out, struct kh_err *err);

/* Decodes exactly one frame of n bytes. On refusal -1, err says why and m
 * holds only type, flags and stream from the header (when n covers it), so
 * the caller can fail that stream. Bytes fields point into frame. */
int kh_chan_decode(const uint8_t *frame, size_t n, struct kh_chan_msg *m, struct kh_err *err);

/* Same type, flags, stream and fields (bytes compared by content). */
bool kh_chan_msg_equal(const struct kh_chan_msg *a, const struct kh_chan_msg *b);

/* Cuts a byte stream into whole frames, holding at most one frame
 * (KH_CHAN_HDR + KH_CHAN_FRAME_MAX bytes). A header announcing more than
 * KH_CHAN_FRAME_MAX breaks the stream for good: there is no way to find
 * the next frame. */
struct kh_chan_split {
	size_t len; /* bytes held */
	bool handed; /* the held frame went to the caller: drop it on next use */
	bool broken;
	uint8_t buf[KH_CHAN_HDR + KH_CHAN_FRAME_MAX];
};

void kh_chan_split_init(struct kh_chan_split *s);

/* Takes bytes from p up to the end of the frame being gathered; returns how
 * many (0 while a whole frame waits for kh_chan_split_next, or once broken). */
size_t kh_chan_split_feed(struct kh_chan_split *s, const uint8_t *p, size_t n);

/* 1 and the whole frame in *frame / *n (valid until the next call on s),
 * 0 when none is complete yet, -1 when the stream is broken (err says why). */
int kh_chan_split_next(struct kh_chan_split *s, const uint8_t **frame, size_t *n,
		       struct kh_err *err);

#endif
