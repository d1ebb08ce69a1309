/* Bounded byte buffer with lazy storage.
 *
 * A kh_buf never grows past the cap it was given at init: producers ask for
 * the writable tail and get at most cap - used bytes, which is what gives
 * every connection a hard memory ceiling and turns a slow reader into
 * backpressure instead of growth. Storage is allocated on first use and can
 * be released while empty, so idle connections hold no buffer memory.
 * Contents are wiped before storage is freed: relay buffers carry real
 * credentials after a rewrite. */
#ifndef KH_BUF_H
#define KH_BUF_H

#include <stddef.h>
#include <stdint.h>

struct kh_buf {
	uint8_t *data; /* owned; NULL until first use */
	size_t off; /* first unread byte */
	size_t len; /* unread bytes starting at off */
	size_t cap; /* hard cap and allocation size */
	size_t dirty; /* bytes [0, dirty) may hold data: what kh_buf_free wipes */
};

void kh_buf_init(struct kh_buf *b, size_t cap);

/* Unread bytes. */
static inline const uint8_t *kh_buf_data(const struct kh_buf *b)
{
	return b->data != NULL ? b->data + b->off : b->data; /* released buffers are NULL */
}
static inline size_t kh_buf_len(const struct kh_buf *b)
{
	return b->len;
}
static inline size_t kh_buf_room(const struct kh_buf *b)
{
	return b->cap - b->len;
}

/* Writable tail of at least min(want, room) bytes, compacting when needed.
 * Allocates storage on first use. Returns NULL when full or out of memory
 * (*avail is then 0). Call kh_buf_produced() with what was written. */
uint8_t *kh_buf_tail(struct kh_buf *b, size_t *avail);
void kh_buf_produced(struct kh_buf *b, size_t n);

/* Like kh_buf_tail, but slides unread bytes to the front when the tail is
 * shorter than min(want, room), so a writer that needs want contiguous bytes
 * gets them whenever the buffer has that much room. */
uint8_t *kh_buf_tail_min(struct kh_buf *b, size_t want, size_t *avail);

/* Appends n bytes; -1 (nothing written) if they do not fit under the cap. */
int kh_buf_append(struct kh_buf *b, const void *p, size_t n);
int kh_buf_append_str(struct kh_buf *b, const char *s);

/* Keeps only the first len unread bytes (undoes appends made after a
 * kh_buf_len() snapshot). */
void kh_buf_truncate(struct kh_buf *b, size_t len);

/* Drops n unread bytes from the front. */
void kh_buf_consume(struct kh_buf *b, size_t n);

/* Frees storage if the buffer is empty (wiping it first). */
void kh_buf_release_if_empty(struct kh_buf *b);

/* Changes the cap (and the allocation, keeping the unread bytes; the old
 * storage is wiped). -1 if cap < len or out of memory (b unchanged). */
int kh_buf_set_cap(struct kh_buf *b, size_t cap);

/* Wipes and frees storage; the buffer stays usable. NULL-safe. */
void kh_buf_free(struct kh_buf *b);

#endif
