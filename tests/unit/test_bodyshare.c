/* The SigV4 body budget: one client never holds more than its share, all
 * clients together never more than the budget, and what is given back can
 * be taken again. */
#include "swap/bodyshare.h"
#include "tap.h"

static void share_per_client(void)
{
	static struct kh_bodyshare b = KH_BODYSHARE_INIT(100, 40);

	CHECK_INT(kh_bodyshare_take(&b, "addr:10.0.0.1", 30), KH_BODYSHARE_OK);
	CHECK_INT(kh_bodyshare_take(&b, "addr:10.0.0.1", 11), KH_BODYSHARE_SHARE);
	CHECK_INT(kh_bodyshare_take(&b, "addr:10.0.0.1", 10), KH_BODYSHARE_OK);
	CHECK_INT(kh_bodyshare_held(&b, "addr:10.0.0.1"), 40);
	CHECK_INT(kh_bodyshare_take(&b, "addr:10.0.0.1", 1), KH_BODYSHARE_SHARE);
	/* another client still finds room */
	CHECK_INT(kh_bodyshare_take(&b, "sandbox:agent-1", 40), KH_BODYSHARE_OK);
	CHECK_INT(kh_bodyshare_take(&b, "addr:10.0.0.2", 41), KH_BODYSHARE_SHARE);
	/* the budget: 80 of 100 held */
	CHECK_INT(kh_bodyshare_take(&b, "addr:10.0.0.2", 21), KH_BODYSHARE_BUSY);
	CHECK_INT(kh_bodyshare_take(&b, "addr:10.0.0.2", 20), KH_BODYSHARE_OK);
	CHECK_INT(kh_bodyshare_take(&b, "addr:10.0.0.3", 1), KH_BODYSHARE_BUSY);
	kh_bodyshare_give(&b, "addr:10.0.0.1", 40);
	CHECK_INT(kh_bodyshare_held(&b, "addr:10.0.0.1"), 0);
	CHECK_INT(kh_bodyshare_take(&b, "addr:10.0.0.3", 40), KH_BODYSHARE_OK);
	CHECK_INT(kh_bodyshare_take(&b, "addr:10.0.0.1", 0), KH_BODYSHARE_OK);
	kh_bodyshare_give(&b, "sandbox:agent-1", 40);
	kh_bodyshare_give(&b, "addr:10.0.0.2", 20);
	kh_bodyshare_give(&b, "addr:10.0.0.3", 40);
	CHECK_INT(b.used, 0);
}

static void table_full(void)
{
	static struct kh_bodyshare b = KH_BODYSHARE_INIT(1u << 30, 10);
	char key[32];

	for (int i = 0; i < KH_SIGV4_BODY_SOURCES; i++) {
		snprintf(key, sizeof key, "addr:10.0.%d.%d", i / 256, i % 256);
		CHECK_INT(kh_bodyshare_take(&b, key, 1), KH_BODYSHARE_OK);
	}
	CHECK_INT(kh_bodyshare_take(&b, "addr:192.0.2.1", 1), KH_BODYSHARE_BUSY);
	CHECK_INT(kh_bodyshare_take(&b, "addr:10.0.0.0", 1), KH_BODYSHARE_OK); /* known: fine */
	kh_bodyshare_give(&b, "addr:10.0.0.5", 1);
	CHECK_INT(kh_bodyshare_take(&b, "addr:192.0.2.1", 1), KH_BODYSHARE_OK);
}

static void long_keys(void)
{
	static struct kh_bodyshare b = KH_BODYSHARE_INIT(100, 10);
	char a[200], c[200];

	memset(a, 'a', sizeof a - 1);
	a[sizeof a - 1] = '\0';
	memcpy(c, a, sizeof c);
	c[150] = 'c'; /* differs only past what is kept: the same client */
	CHECK_INT(kh_bodyshare_take(&b, a, 6), KH_BODYSHARE_OK);
	CHECK_INT(kh_bodyshare_take(&b, c, 6), KH_BODYSHARE_SHARE);
	kh_bodyshare_give(&b, c, 6);
	CHECK_INT(b.used, 0);
}

int main(void)
{
	RUN(share_per_client);
	RUN(table_full);
	RUN(long_keys);
	TAP_DONE();
}
