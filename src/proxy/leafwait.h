/* A front's leaves from the CA signer, asked for without waiting (privsep).
 *
 * A connection that needs a leaf the front's cache lacks asks here and
 * waits in KH_CS_CERT_WAIT while the front's loop serves every other
 * connection; connections to one host share one request. Each answer is
 * checked before use (kh_leafkey_check_leaf: the front's own key, exactly
 * the host, valid now: a signer taken over must not make the front serve
 * another certificate), filed in the cache, and resumes its waiters
 * (kh_conn_leaf_ready). A request unanswered after KH_FRONT_LEAF_WAIT_MS,
 * or whose channel closed or was replaced, fails its waiters: a hung or
 * dead signer costs only the handshakes that need a new leaf.
 *
 * One per front process, on its loop's thread, for the process's life. A
 * connection that joins a request already out shares its deadline. */
#ifndef KH_LEAFWAIT_H
#define KH_LEAFWAIT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "event/loop.h"
#include "tls/certcache.h"

struct kh_conn;
struct kh_leafwait;

/* key: the front's leaf key (borrowed), spki its public half as sent. */
struct kh_leafwait *kh_leafwait_new(struct kh_loop *loop, struct kh_certcache *cc, EVP_PKEY *key,
				    const uint8_t *spki, size_t spki_len, unsigned front_id);

/* The channel to the signer (fd passes; -1: none). Requests asked on the
 * channel before are failed: their answers would never come. */
void kh_leafwait_set_channel(struct kh_leafwait *lw, int fd);

/* Asks for c->host's leaf; 0: c waits for kh_conn_leaf_ready, -1: cannot
 * (no signer, too many hosts awaited, the channel full), why says so. */
int kh_leafwait_ask(struct kh_leafwait *lw, struct kh_conn *c, const char **why);

/* c no longer waits (it closes). A no-op for a connection not waiting. */
void kh_leafwait_cancel(struct kh_leafwait *lw, struct kh_conn *c);

/* Fails the requests older than KH_FRONT_LEAF_WAIT_MS (the front calls it
 * every KH_FRONTSTAT_PERIOD_MS). */
void kh_leafwait_expire(struct kh_leafwait *lw, uint64_t now_ms);

#endif
