/* Redaction of record fields: every form of every secret and token is cut
 * out of a text before it is written to audit.log, keyhole.log or an error
 * body.
 *
 * A sandbox chooses the bytes of its path, query, Host, CONNECT target, SNI
 * and header values, and those end up in records. keyhole's token check
 * (policy.c) finds a token's random part as written; this finds it, and the
 * real keys, however the sandbox dressed them: percent-encoded byte by byte,
 * in mixed case, partly, or again (%25...), base64 or base64url at any
 * alignment, hex in either case, or split by dots as DNS labels. A text is
 * searched through each of these views:
 *
 *   the text; percent-decoded, up to KH_REDACT_PCT_DEPTH times while that
 *   changes it; each of those without dots; each of those lower-cased (for
 *   hex and for the random part of a token, both case-insensitive)
 *
 * with two multi-pattern matchers (scrub.c) built once per policy: one for
 * base64 forms (case-sensitive), one for raw and hex forms (over lower-cased
 * views). Each match is mapped back to the span of the original text it came
 * from, and every such span becomes "[redacted:NAME]". A text without a
 * needle's first bytes costs two table look-ups per byte and view.
 *
 * Items are tokens (their 32-hex random part: what makes a token a token,
 * so "keyhole-openai-" stays readable) and real keys. Items shorter than
 * KH_SCRUB_MIN_SECRET bytes are not searched for. */
#ifndef KH_REDACT_H
#define KH_REDACT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "secret/scrub.h"

struct kh_redact_item {
	const char *name; /* env name: what the marker says */
	const uint8_t *value; /* copied by kh_redact_build */
	size_t len;
};

struct kh_redact {
	struct kh_scrub_set exact; /* base64 and base64url forms, every alignment */
	struct kh_scrub_set folded; /* lower-cased raw value and hex, over lower-cased views */
	size_t margin; /* longest span a needle can take in a text (<= KH_REDACT_SCAN_MAX) */
};

/* Builds r from items (an empty r, which copies texts unchanged, when none
 * qualifies). 0 / -1; on failure r is empty and safe to free. */
int kh_redact_build(struct kh_redact *r, const struct kh_redact_item *items, size_t n,
		    struct kh_err *err);

/* Wipes and frees. NULL-safe and idempotent. */
void kh_redact_free(struct kh_redact *r);

/* Copies in[0..n) to out (cap bytes, cap > 0; always NUL-terminated, cut to
 * fit) with every form of every item replaced by "[redacted:NAME]". Only the
 * first KH_REDACT_SCAN_MAX bytes are searched; a longer text is cut where
 * no needle can reach past that. r NULL: a plain copy. Returns the length
 * written. Pure; uses about 48 KiB of stack. */
size_t kh_redact(const struct kh_redact *r, const char *in, size_t n, char *out, size_t cap);

#endif
