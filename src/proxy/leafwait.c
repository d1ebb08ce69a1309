/* A front's leaves from the CA signer without waiting (leafwait.h). */
#include "proxy/leafwait.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/check.h"
#include "base/kh_limits.h"
#include "base/log.h"
#include "privsep/chanpkt.h"
#include "proxy/conn.h"
#include "tls/leafkey.h"

#define LEAF_PENDING_MAX 64 /* hosts awaited at once per front */

struct pending {
	bool used;
	uint64_t req; /* the SIGN_LEAF's id, echoed in the answer */
	uint64_t deadline_ms;
	char host[KH_HOST_BUF];
	struct kh_conn *waiters; /* linked by leaf_next */
};

struct kh_leafwait {
	struct kh_loop *loop;
	struct kh_certcache *cc;
	EVP_PKEY *key;
	uint8_t spki[KH_LEAF_SPKI_MAX];
	size_t spki_len;
	unsigned front_id;
	struct kh_io io; /* the channel to the signer; fd -1: none */
	uint64_t next_req;
	struct pending p[LEAF_PENDING_MAX];
};

static void on_readable(struct kh_io *io, uint32_t events);

struct kh_leafwait *kh_leafwait_new(struct kh_loop *loop, struct kh_certcache *cc, EVP_PKEY *key,
				    const uint8_t *spki, size_t spki_len, unsigned front_id)
{
	struct kh_leafwait *lw;

	if (spki_len == 0 || spki_len > KH_LEAF_SPKI_MAX || (lw = calloc(1, sizeof *lw)) == NULL)
		return NULL;
	lw->loop = loop;
	lw->cc = cc;
	lw->key = key;
	memcpy(lw->spki, spki, spki_len);
	lw->spki_len = spki_len;
	lw->front_id = front_id;
	lw->io.fd = -1;
	lw->io.cb = on_readable;
	return lw;
}

/* Takes p's waiters off it and frees the slot; then resumes each with leaf
 * (borrowed) or fails it with why. A waiter resumed may close, and closing
 * cancels: by then it is on no list. */
static void finish(struct pending *p, X509 *leaf, const char *why)
{
	struct kh_conn *c = p->waiters, *next;

	p->used = false;
	p->waiters = NULL;
	for (; c != NULL; c = next) {
		next = c->leaf_next;
		c->leaf_next = NULL;
		c->leaf_waiting = false;
		kh_conn_leaf_ready(c, leaf, why);
	}
}

static void fail_all(struct kh_leafwait *lw, const char *why)
{
	for (size_t i = 0; i < LEAF_PENDING_MAX; i++)
		if (lw->p[i].used)
			finish(&lw->p[i], NULL, why);
}

static void close_channel(struct kh_leafwait *lw)
{
	if (lw->io.fd < 0)
		return;
	kh_loop_del(lw->loop, &lw->io);
	close(lw->io.fd);
	lw->io.fd = -1;
}

void kh_leafwait_set_channel(struct kh_leafwait *lw, int fd)
{
	close_channel(lw);
	fail_all(lw, "the CA signer was started again");
	lw->io.fd = fd;
	if (fd >= 0 && kh_loop_add_listener(lw->loop, &lw->io) != 0) {
		kh_warn("front %u: cannot watch the channel to the CA signer", lw->front_id);
		close_channel(lw);
	}
}

static struct pending *find_host(struct kh_leafwait *lw, const char *host)
{
	for (size_t i = 0; i < LEAF_PENDING_MAX; i++)
		if (lw->p[i].used && strcmp(lw->p[i].host, host) == 0)
			return &lw->p[i];
	return NULL;
}

static struct pending *find_req(struct kh_leafwait *lw, uint64_t req)
{
	for (size_t i = 0; i < LEAF_PENDING_MAX; i++)
		if (lw->p[i].used && lw->p[i].req == req)
			return &lw->p[i];
	return NULL;
}

static struct pending *free_slot(struct kh_leafwait *lw)
{
	for (size_t i = 0; i < LEAF_PENDING_MAX; i++)
		if (!lw->p[i].used)
			return &lw->p[i];
	return NULL;
}

/* A new request for host into p. */
static int send_request(struct kh_leafwait *lw, struct pending *p, const char *host,
			const char **why)
{
	struct kh_chan_msg m = { .type = KH_CHAN_SIGN_LEAF };
	struct kh_err err = { "" };

	m.u.sign.req = ++lw->next_req;
	kh_fmt(m.u.sign.host, sizeof m.u.sign.host, "%s", host);
	m.u.sign.spki = (struct kh_chan_bytes){ lw->spki, lw->spki_len };
	if (kh_chanpkt_send(lw->io.fd, &m, &err) != 0) {
		kh_warn("front %u: %s", lw->front_id, err.msg);
		*why = "cannot ask the CA signer (its channel is full or gone)";
		return -1;
	}
	*p = (struct pending){ .used = true,
			       .req = m.u.sign.req,
			       .deadline_ms = kh_loop_now(lw->loop) + KH_FRONT_LEAF_WAIT_MS };
	kh_fmt(p->host, sizeof p->host, "%s", host);
	return 0;
}

int kh_leafwait_ask(struct kh_leafwait *lw, struct kh_conn *c, const char **why)
{
	struct pending *p = find_host(lw, c->host);

	if (p == NULL) {
		if (lw->io.fd < 0) {
			*why = "the CA signer is not running";
			return -1;
		}
		if ((p = free_slot(lw)) == NULL) {
			*why = "too many new hosts awaited from the CA signer at once";
			return -1;
		}
		if (send_request(lw, p, c->host, why) != 0)
			return -1;
	}
	c->leaf_next = p->waiters;
	c->leaf_waiting = true;
	p->waiters = c;
	return 0;
}

void kh_leafwait_cancel(struct kh_leafwait *lw, struct kh_conn *c)
{
	for (size_t i = 0; i < LEAF_PENDING_MAX; i++) {
		struct kh_conn **pp = &lw->p[i].waiters;

		if (!lw->p[i].used)
			continue;
		while (*pp != NULL && *pp != c)
			pp = &(*pp)->leaf_next;
		if (*pp == c) {
			*pp = c->leaf_next;
			c->leaf_next = NULL;
			c->leaf_waiting = false;
			return; /* the request stays: its leaf is cached for the next one */
		}
	}
}

void kh_leafwait_expire(struct kh_leafwait *lw, uint64_t now_ms)
{
	for (size_t i = 0; i < LEAF_PENDING_MAX; i++)
		if (lw->p[i].used && now_ms >= lw->p[i].deadline_ms)
			finish(&lw->p[i], NULL, "no answer from the CA signer in time");
}

/* One answer: the leaf checked and cached, then its waiters resumed. An
 * answer to no request (one that expired) is dropped. */
static void take_answer(struct kh_leafwait *lw, const struct kh_chan_msg *m)
{
	bool ok = m->type == KH_CHAN_LEAF;
	struct pending *p = find_req(lw, ok ? m->u.leaf.req : m->u.leaf_fail.req);
	struct kh_err err = { "" };
	char why[KH_ERR_MAX + 64] = "";
	X509 *leaf = NULL;

	if (p == NULL)
		return;
	if (!ok) {
		kh_fmt(why, sizeof why, "the CA signer refused: %s (%s)", m->u.leaf_fail.reason,
		       m->u.leaf_fail.detail);
	} else {
		leaf = kh_leafkey_check_leaf(lw->key, p->host, m->u.leaf.der.p, m->u.leaf.der.n,
					     &err);
		if (leaf != NULL)
			leaf = kh_certcache_insert(lw->cc, p->host, leaf);
		else
			kh_fmt(why, sizeof why, "the CA signer's leaf is not for us: %s", err.msg);
	}
	finish(p, leaf, why);
	X509_free(leaf);
}

static void on_readable(struct kh_io *io, uint32_t events)
{
	struct kh_leafwait *lw = container_of(io, struct kh_leafwait, io);
	static uint8_t buf[KH_CHAN_HDR + KH_CHAN_FRAME_MAX]; /* one thread */
	struct kh_chan_msg m;
	struct kh_err err = { "" };
	unsigned bad = 0;
	int r = KH_CHANPKT_NONE;

	(void)events;
	/* a bounded number a turn (the watch is level-triggered: the rest next
	 * turn), so a signer that floods cannot hold this front's loop */
	for (int i = 0;
	     i < KH_ACCEPT_BATCH && lw->io.fd >= 0 &&
	     (r = kh_chanpkt_recv(lw->io.fd, buf, sizeof buf, &m, &err)) != KH_CHANPKT_NONE;
	     i++) {
		if (r == KH_CHANPKT_MSG &&
		    (m.type == KH_CHAN_LEAF || m.type == KH_CHAN_LEAF_FAIL)) {
			take_answer(lw, &m);
			continue;
		}
		if (r == KH_CHANPKT_CLOSED) { /* a new one comes when the daemon starts it again */
			close_channel(lw);
			fail_all(lw, "the CA signer is gone");
			return;
		}
		if (r == KH_CHANPKT_MSG)
			kh_err_set(&err, "a %s frame", kh_chan_type_name(m.type));
		bad++;
	}
	if (bad > 0) /* one line a turn, not one a frame */
		kh_warn("front %u: the CA signer sent %u message(s) it may not (the last: %s)",
			lw->front_id, bad, err.msg);
}
