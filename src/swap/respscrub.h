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
 *         to a request that carried a real key (kh_rscrub_req.whole_response).
 *         Exception: an uncompressed Content-Length body keeps its framing
 *         when every replacement is as long as what it replaces
 *         (kh_scrub_set.same_len), since the length cannot change.
 *
 * A pure stream filter: it sees only its own state, the response head and
 * the bytes in and out (kh_buf), never a connection. Every call returns a
 * verdict; the caller applies it. On a refusal it must answer the request
 * with v.status, v.reason and v.detail (kh_conn_fail) and call the filter
 * no more; v.abort says response bytes already went out, so all the caller
 * can do is cut the connection. The filter holds a reference to the policy
 * whose matcher it uses, so a reload cannot free it underneath. */
#ifndef KH_RESPSCRUB_H
#define KH_RESPSCRUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/slice.h"

struct kh_buf;
struct kh_http_head;
struct kh_policy;
struct kh_rscrub;

/* What the request said that shapes the response keyhole sends back. */
struct kh_rscrub_req {
	bool keep_alive; /* the client may send another request after this one */
	bool http10; /* the client speaks HTTP/1.0: no chunked toward it */
	bool whole_response; /* a real secret went upstream: a 206 is refused (rewrite.h) */
};

/* What one call decided. */
struct kh_rscrub_verdict {
	bool refused; /* the response cannot be scrubbed: status, reason, detail */
	bool abort; /* refused after bytes of the response were sent */
	int status;
	const char *reason; /* audit reason and X-Keyhole-Reason */
	const char *detail; /* one line for people (a static string) */
	size_t produced; /* bytes appended to out */
	bool close; /* head: the body ends where the client connection closes */
	bool done; /* body: its last byte is in out */
};

/* Does the policy scrub responses at all? */
bool kh_rscrub_enabled(const struct kh_policy *p);

/* A filter for one exchange over p's matcher (a reference to p is taken).
 * NULL when out of memory. */
struct kh_rscrub *kh_rscrub_new(struct kh_policy *p);

/* Writes the scrubbed form of the parsed response head h (raw bytes p) to
 * out and, for a final response with a body, prepares body scrubbing.
 * Returns 1 when written, 0 when out has no room yet (call again with the
 * same head later), -1 when refused (v says why). An interim (1xx) head
 * may come first, on the same filter. */
int kh_rscrub_head(struct kh_rscrub *rs, const struct kh_rscrub_req *req,
		   const struct kh_http_head *h, const uint8_t *p, struct kh_buf *out,
		   struct kh_rscrub_verdict *v);

/* Moves response body bytes from in (as the upstream framed them) through
 * the filter to out (framed anew). Returns 1 on progress, 0 when blocked
 * (in empty or out full), -1 when refused (v says why; v->abort is set).
 * v->done once the whole body is in out. */
int kh_rscrub_body(struct kh_rscrub *rs, struct kh_buf *in, struct kh_buf *out,
		   struct kh_rscrub_verdict *v);

/* Was the whole upstream body read from in (only our output is left)?
 * False for NULL or before a body was started. */
bool kh_rscrub_source_done(const struct kh_rscrub *rs, const struct kh_buf *in);

/* The upstream closed a close-delimited body. Returns true the first time. */
bool kh_rscrub_source_closed(struct kh_rscrub *rs);

/* Decoded body bytes read but not yet written to out: held back because
 * they may begin a secret (fewer than the longest needle of the set). */
size_t kh_rscrub_held(const struct kh_rscrub *rs);

/* Replacements so far, for the audit record: up to max (env name, count).
 * NULL-safe. */
size_t kh_rscrub_tally(const struct kh_rscrub *rs, const char **names, uint64_t *counts,
		       size_t max);

/* Frees the filter (wiping held-back bytes) and drops its policy
 * reference. NULL-safe. */
void kh_rscrub_free(struct kh_rscrub *rs);
/* Accept-Encoding toward the upstream while scrubbing: only the codings
 * keyhole can decode (gzip, x-gzip, deflate, identity) are kept, with their
 * parameters, so a server never picks br or zstd. Writes at most cap bytes;
 * returns the length, or 0 when nothing of the client's list survives (the
 * caller then sends "identity"). */
size_t kh_rscrub_accept_encoding(struct kh_slice in, char *out, size_t cap);

#endif
