/* Response scrubbing: a streaming multi-pattern replacer that turns every
 * real secret (and its percent-encoded and base64 forms) in bytes going back
 * to the sandbox into the proxy token (in the same form).
 *
 * A kh_scrub_set is built once per policy snapshot from the loaded secrets
 * and is immutable afterwards, so worker threads share it read-only. For
 * each secret S with token T it holds these needles -> replacements:
 *
 *   raw          S                      -> T
 *   percent      %XX-encoded S (upper-   -> %XX-encoded T
 *                and lower-case hex), when that differs from S
 *   base64 and   the complete encoding   -> the same encoding of T
 *   base64url    of S, padded and not
 *                the characters that depend on S alone when S starts at
 *                byte offset 0, 1 or 2 of a 3-byte group inside a longer
 *                encoded value (the 3 alignments) -> the same slice of T's
 *                encoding at that alignment
 *
 * A base64 character carries 6 bits and a byte 8, so where a secret sits
 * inside a longer encoded value, the characters at its two edges mix bits of
 * the secret with bits of its neighbours. Those edge characters (at most 4
 * bits of the secret's first and last byte) are left alone; everything else
 * is replaced. When the whole value is base64(S) the complete-encoding
 * needle matches instead and the sandbox decodes exactly T. A set built
 * with kh_scrub_set_build_forms may hold fewer forms (redact.c finds
 * secrets and tokens in record fields with such sets).
 *
 * Matching is leftmost-longest: the stream is scanned left to right and, at
 * the first position where any needle matches, the longest needle there is
 * replaced and scanning resumes after it. A kh_scrub_stream holds back only
 * bytes that are a proper prefix of some needle (so fewer than the longest
 * needle) between feeds, which makes the output independent of how the input
 * was split, and lets streams (SSE) flow: bytes that cannot start a needle
 * are emitted at once. Nothing here allocates per byte; a stream allocates
 * its hold-back buffer once. Secrets shorter than KH_SCRUB_MIN_SECRET bytes
 * are not scrubbed (they would match ordinary text). */
#ifndef KH_SCRUB_H
#define KH_SCRUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "base/kh_limits.h"

/* One secret to scrub. The bytes are copied by kh_scrub_set_build. */
struct kh_scrub_secret {
	const char *name; /* env name: what the audit record shows */
	const uint8_t *value;
	size_t len;
	const uint8_t *token; /* what the sandbox sees instead; NULL: found, not replaced */
	size_t token_len;
};

/* Which forms of each secret a set holds (kh_scrub_set_build_forms). */
enum {
	KH_SCRUB_F_RAW = 1u << 0,
	KH_SCRUB_F_PCT = 1u << 1, /* %XX-encoded, upper- and lower-case hex */
	KH_SCRUB_F_B64 = 1u << 2, /* complete base64 and base64url, padded and not */
	KH_SCRUB_F_B64_ALIGNED = 1u << 3, /* the characters from the secret alone, 3 alignments */
	KH_SCRUB_F_RESPONSE = KH_SCRUB_F_RAW | KH_SCRUB_F_PCT | KH_SCRUB_F_B64 |
			      KH_SCRUB_F_B64_ALIGNED, /* what kh_scrub_set_build uses */
};

struct kh_scrub_needle {
	const uint8_t *p; /* into the set's arena */
	size_t len;
	const uint8_t *rep;
	size_t rep_len;
	uint32_t secret; /* index into names */
	uint32_t seq; /* build order: of equal needles the first one is kept */
};

struct kh_scrub_set {
	uint8_t *arena; /* mmap'd, locked where allowed, not dumped, wiped at free */
	size_t arena_cap, arena_used;
	struct kh_scrub_needle *needles; /* sorted lexicographically, no duplicates */
	size_t n;
	char (*names)[64];
	size_t n_names;
	size_t max_len; /* longest needle */
	size_t max_rep; /* longest replacement */
	bool same_len; /* every replacement as long as its needle: lengths never change */
	uint8_t first[256]; /* 1 if some needle starts with the byte */
	uint64_t quads[1024]; /* bit hash(first 4 bytes) of every needle */
	/* Set-Horspool skip over a window of `window` bytes (<= the shortest
	 * needle): no needle can start in [i, i + shift[b]) where b is the last
	 * byte of the window at i. */
	size_t window;
	uint8_t shift[256];
};

/* Builds the set (an empty set, n == 0, when no secret qualifies). 0 / -1.
 * On failure s is left empty and safe to free. */
int kh_scrub_set_build(struct kh_scrub_set *s, const struct kh_scrub_secret *secrets, size_t n,
		       struct kh_err *err);

/* The same with a chosen set of forms (KH_SCRUB_F_*), e.g. for a set that
 * only finds (redact.c). */
int kh_scrub_set_build_forms(struct kh_scrub_set *s, const struct kh_scrub_secret *secrets,
			     size_t n, unsigned forms, struct kh_err *err);

/* The leftmost-longest needle in p[0..len), all of which is known: returns
 * its offset and sets *hit, or returns len when there is none. Pure. */
size_t kh_scrub_find(const struct kh_scrub_set *s, const uint8_t *p, size_t len,
		     const struct kh_scrub_needle **hit);

/* Wipes and frees. NULL-safe and idempotent. */
void kh_scrub_set_free(struct kh_scrub_set *s);

/* Where a stream writes: p[len..cap) is free. */
struct kh_scrub_sink {
	uint8_t *p;
	size_t len, cap;
};

struct kh_scrub_tally {
	uint32_t secret; /* index into set->names */
	uint32_t count;
};

struct kh_scrub_stream {
	const struct kh_scrub_set *set; /* not owned */
	uint8_t *hold; /* held-back bytes, then a look-ahead window */
	size_t hold_len, hold_cap; /* hold_cap = 2 * set->max_len */
	uint64_t total; /* replacements made */
	struct kh_scrub_tally tally[KH_SCRUB_TALLY]; /* first distinct secrets seen */
	size_t n_tally;
};

/* Prepares a stream over set (which must outlive it). 0 / -1 (out of memory). */
int kh_scrub_stream_init(struct kh_scrub_stream *st, const struct kh_scrub_set *set);

/* Scrubs in[0..n) into sink. final means no byte follows in[n-1]: held-back
 * bytes are then decided and emitted. Returns how many input bytes were
 * consumed (emitted or held back); fewer than n only when the sink is full.
 * With final set, call again (n = 0) until kh_scrub_stream_pending() is 0.
 * sink->cap - sink->len must be at least set->max_rep for progress. */
size_t kh_scrub_feed(struct kh_scrub_stream *st, const uint8_t *in, size_t n, bool final,
		     struct kh_scrub_sink *sink);

/* Held-back bytes not yet emitted. */
static inline size_t kh_scrub_stream_pending(const struct kh_scrub_stream *st)
{
	return st->hold_len;
}

/* Scrubs a complete value (a header line) in one go: in -> out. Returns the
 * output length, or -1 if it would not fit in cap. */
ssize_t kh_scrub_oneshot(struct kh_scrub_stream *st, const uint8_t *in, size_t n, uint8_t *out,
			 size_t cap);

/* Wipes and frees the hold-back buffer. NULL-safe. */
void kh_scrub_stream_free(struct kh_scrub_stream *st);

#endif
