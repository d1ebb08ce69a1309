/* Scrubbing the response that goes back to the sandbox (see scrub.h for the
 * matcher). relay.c hands a response here when the policy has secrets to
 * scrub:
 *
 *   head  every field name and value, and the status line, are scrubbed;
 *         framing fields are rewritten to match the body below. Responses
 *         without a body (HEAD, 1xx, 204, 304, Content-Length: 0) keep their
 *         framing fields as they were.
 *   body  de-chunked, inflated when Content-Encoding or Transfer-Encoding
 *         names gzip or deflate (then sent uncompressed, that coding
 *         removed), scrubbed as a stream, and re-framed: chunked toward
 *         HTTP/1.1 clients, delimited by close toward HTTP/1.0 ones, because
 *         a replacement changes the length. Upstream chunk extensions and
 *         trailers are dropped. Any other coding (br, zstd, compress, unknown
 *         tokens, two codings stacked in one field or across both) cannot be
 *         inspected, so the response is refused with 502
 *         response_not_scrubbable before a byte of it is sent; so is a 206
 *         to a request that carried a real key (kh_exchange.whole_response).
 *         Exception: an uncompressed Content-Length body keeps its framing
 *         when every replacement is as long as what it replaces
 *         (kh_scrub_set.same_len), since the length cannot change.
 *
 * The state lives in c->ex.scrub from the head until the exchange ends; it
 * holds a reference to the policy whose matcher it uses. */
#ifndef KH_RESPSCRUB_H
#define KH_RESPSCRUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/slice.h"

struct kh_conn;
struct kh_exchange;
struct kh_http_head;
struct kh_rscrub;

/* Does the connection's policy scrub responses at all? */
bool kh_rscrub_enabled(const struct kh_conn *c);

/* Writes the scrubbed form of the parsed response head (raw bytes p) to
 * c->cout and, for a final response with a body, prepares body scrubbing.
 * Returns 1 when written, 0 when cout has no room yet (try again later),
 * -1 when the response was refused (kh_conn_fail was called). */
int kh_rscrub_head(struct kh_conn *c, const struct kh_http_head *h, const uint8_t *p);

/* Moves response body bytes from c->uin through the scrubber to c->cout;
 * sets c->ex.resp_done at the end. Returns true on progress (including a
 * failure, which closes the connection). */
bool kh_rscrub_body(struct kh_conn *c);

/* Was the whole upstream body read (only our output is left to send)? */
bool kh_rscrub_source_done(const struct kh_conn *c);

/* The upstream closed a close-delimited body. Returns true the first time. */
bool kh_rscrub_source_closed(struct kh_conn *c);

/* Replacements so far, for the audit record: up to max (env name, count). */
size_t kh_rscrub_tally(const struct kh_exchange *ex, const char **names, uint64_t *counts,
		       size_t max);

/* Frees the exchange's scrub state (wiping held-back bytes). NULL-safe. */
void kh_rscrub_free(struct kh_exchange *ex);

/* Accept-Encoding toward the upstream while scrubbing: only the codings
 * keyhole can decode (gzip, x-gzip, deflate, identity) are kept, with their
 * parameters, so a server never picks br or zstd. Writes at most cap bytes;
 * returns the length, or 0 when nothing of the client's list survives (the
 * caller then sends "identity"). */
size_t kh_rscrub_accept_encoding(struct kh_slice in, char *out, size_t cap);

#endif
