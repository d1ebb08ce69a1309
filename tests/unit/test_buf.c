#include "base/buf.h"
#include "tap.h"

static void append_respects_cap(void)
{
	struct kh_buf b;

	kh_buf_init(&b, 8);
	CHECK(b.data == NULL); /* lazy */
	CHECK_INT(kh_buf_append(&b, "12345", 5), 0);
	CHECK_INT(kh_buf_append(&b, "6789", 4), -1); /* would exceed the cap */
	CHECK_INT(kh_buf_len(&b), 5);
	CHECK_INT(kh_buf_append(&b, "678", 3), 0);
	CHECK_INT(kh_buf_room(&b), 0);
	CHECK(memcmp(kh_buf_data(&b), "12345678", 8) == 0);
	kh_buf_free(&b);
	CHECK(b.data == NULL);
}

static void tail_compacts_after_consume(void)
{
	struct kh_buf b;
	size_t avail;
	uint8_t *t;

	kh_buf_init(&b, 8);
	kh_buf_append(&b, "abcdefgh", 8);
	t = kh_buf_tail(&b, &avail);
	CHECK(t == NULL && avail == 0); /* full */
	kh_buf_consume(&b, 6);
	t = kh_buf_tail(&b, &avail);
	CHECK(t != NULL);
	CHECK_INT(avail, 6);
	memcpy(t, "123456", 6);
	kh_buf_produced(&b, 6);
	CHECK_INT(kh_buf_len(&b), 8);
	CHECK(memcmp(kh_buf_data(&b), "gh123456", 8) == 0);
	kh_buf_free(&b);
}

static void append_after_partial_consume_moves_data(void)
{
	struct kh_buf b;

	kh_buf_init(&b, 8);
	kh_buf_append(&b, "abcdef", 6);
	kh_buf_consume(&b, 4); /* "ef" at offset 4, room 6, tail only 2 */
	CHECK_INT(kh_buf_append(&b, "XYZW", 4), 0);
	CHECK_INT(kh_buf_len(&b), 6);
	CHECK(memcmp(kh_buf_data(&b), "efXYZW", 6) == 0);
	kh_buf_free(&b);
}

static void release_only_when_empty(void)
{
	struct kh_buf b;

	kh_buf_init(&b, 16);
	kh_buf_append(&b, "x", 1);
	kh_buf_release_if_empty(&b);
	CHECK(b.data != NULL);
	kh_buf_consume(&b, 1);
	kh_buf_release_if_empty(&b);
	CHECK(b.data == NULL);
	CHECK_INT(kh_buf_append(&b, "again", 5), 0); /* usable after release */
	kh_buf_free(&b);
	kh_buf_free(NULL);
}

int main(void)
{
	RUN(append_respects_cap);
	RUN(tail_compacts_after_consume);
	RUN(append_after_partial_consume_moves_data);
	RUN(release_only_when_empty);
	TAP_DONE();
}
