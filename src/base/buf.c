#include "base/buf.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/check.h"

void kh_buf_init(struct kh_buf *b, size_t cap)
{
	KH_CHECK(cap > 0);
	b->data = NULL;
	b->off = 0;
	b->len = 0;
	b->cap = cap;
	b->dirty = 0;
}

static int buf_ensure(struct kh_buf *b)
{
	if (b->data != NULL)
		return 0;
	b->data = malloc(b->cap);
	if (b->data == NULL)
		return -1;
	b->off = 0;
	return 0;
}

uint8_t *kh_buf_tail(struct kh_buf *b, size_t *avail)
{
	*avail = 0;
	if (b->len == b->cap || buf_ensure(b) != 0)
		return NULL;
	if (b->len == 0)
		b->off = 0;
	else if (b->off + b->len == b->cap) {
		/* Tail is at the end: slide unread bytes to the front. */
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	*avail = b->cap - (b->off + b->len);
	return b->data + b->off + b->len;
}

uint8_t *kh_buf_tail_min(struct kh_buf *b, size_t want, size_t *avail)
{
	uint8_t *t = kh_buf_tail(b, avail);

	if (want > kh_buf_room(b))
		want = kh_buf_room(b);
	if (t != NULL && *avail < want) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
		t = b->data + b->len;
		*avail = b->cap - b->len;
	}
	return t;
}

static void mark_dirty(struct kh_buf *b)
{
	if (b->off + b->len > b->dirty)
		b->dirty = b->off + b->len;
}

void kh_buf_produced(struct kh_buf *b, size_t n)
{
	KH_CHECK(b->data != NULL && b->off + b->len + n <= b->cap);
	b->len += n;
	mark_dirty(b);
}

int kh_buf_append(struct kh_buf *b, const void *p, size_t n)
{
	size_t avail;
	uint8_t *t;

	if (n == 0)
		return 0;
	if (n > kh_buf_room(b))
		return -1;
	t = kh_buf_tail(b, &avail);
	if (t == NULL)
		return -1;
	if (avail < n) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
		t = b->data + b->len;
	}
	memcpy(t, p, n);
	b->len += n;
	mark_dirty(b);
	return 0;
}

int kh_buf_append_str(struct kh_buf *b, const char *s)
{
	return kh_buf_append(b, s, strlen(s));
}

void kh_buf_truncate(struct kh_buf *b, size_t len)
{
	KH_CHECK(len <= b->len);
	b->len = len;
}

void kh_buf_consume(struct kh_buf *b, size_t n)
{
	KH_CHECK(n <= b->len);
	b->off += n;
	b->len -= n;
	if (b->len == 0)
		b->off = 0;
}

void kh_buf_release_if_empty(struct kh_buf *b)
{
	if (b->len == 0)
		kh_buf_free(b);
}

int kh_buf_set_cap(struct kh_buf *b, size_t cap)
{
	uint8_t *d;

	if (cap == 0 || cap < b->len)
		return -1;
	if (b->data == NULL) {
		b->cap = cap;
		return 0;
	}
	if ((d = malloc(cap)) == NULL)
		return -1;
	memcpy(d, b->data + b->off, b->len);
	OPENSSL_cleanse(b->data, b->dirty);
	free(b->data);
	b->data = d;
	b->off = 0;
	b->cap = cap;
	b->dirty = b->len;
	return 0;
}

void kh_buf_free(struct kh_buf *b)
{
	if (b == NULL || b->data == NULL)
		return;
	OPENSSL_cleanse(b->data, b->dirty); /* only what was ever written */
	free(b->data);
	b->data = NULL;
	b->off = 0;
	b->len = 0;
	b->dirty = 0;
}
