/* Strict HTTP/1.1 message framing (RFC 9112), for a proxy that must never
 * disagree with the upstream about where a message ends.
 *
 * Heads are parsed in two steps. kh_http_scan_head() finds the end of a head
 * incrementally (so a byte-at-a-time sender costs linear time) and rejects
 * bare LF, bare CR and NUL as they arrive. kh_http_parse_request() /
 * kh_http_parse_response() then parse the complete head once into slices
 * over the caller's buffer and derive the body framing, refusing everything
 * that has been used for request smuggling: CL with TE, repeated or
 * non-numeric Content-Length, codings other than chunked in requests,
 * obs-fold, whitespace before a colon, bad tokens, unknown versions, and
 * underscore spellings of framing fields (Content_Length: CGI, WSGI and
 * nginx with underscores_in_headers read them as the real field).
 * Chunked bodies are validated by a streaming decoder that passes bytes
 * through unchanged. Nothing here allocates. */
#ifndef KH_HTTP1_H
#define KH_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/slice.h"

struct kh_http_header {
	struct kh_slice name;
	struct kh_slice value; /* OWS trimmed */
};

enum kh_body_kind {
	KH_BODY_NONE, /* no body */
	KH_BODY_LENGTH, /* content_length bytes */
	KH_BODY_CHUNKED, /* chunked transfer coding */
	KH_BODY_CLOSE, /* until the connection closes (responses only) */
};

struct kh_http_head {
	/* request line */
	struct kh_slice method;
	struct kh_slice target;
	/* status line */
	unsigned status;
	struct kh_slice reason;

	unsigned version_minor; /* HTTP/1.<n>, 0 or 1 */
	struct kh_http_header *headers; /* caller's array */
	size_t n_headers;
	size_t head_len; /* bytes including the final CRLF CRLF */

	enum kh_body_kind body;
	uint64_t content_length;

	/* Connection semantics (Connection header tokens and version defaults). */
	bool keep_alive; /* persistent after this message */
	bool conn_upgrade; /* Connection lists "upgrade" */
	struct kh_slice upgrade; /* Upgrade header value, if any */
	struct kh_slice host; /* Host header value (requests), if any */
	bool has_host;
	bool expect_continue;
};

struct kh_http_limits {
	size_t max_head; /* bytes */
	size_t max_headers; /* size of the caller's headers array */
};

/* Why a message was refused: the status to answer with and a short reason
 * for the audit record and the error body. */
struct kh_http_error {
	int status; /* 400, 431, 501, 505, or 502 for upstream responses */
	const char *why; /* static string */
	const char *reason; /* audit reason code when not the status's usual one, else NULL */
};

/* Incremental end-of-head search over p[0..len). *scan is the resume offset
 * (start at 0; keep it between calls while the buffer only grows at the end).
 * Returns the head length when complete, 0 if more bytes are needed, -1 on
 * a framing error (err set). Also fails with 431 once len passes max_head
 * without a complete head. */
ssize_t kh_http_scan_head(const uint8_t *p, size_t len, size_t *scan, size_t max_head,
			  struct kh_http_error *err);

/* Parses a complete request head p[0..head_len) (from kh_http_scan_head).
 * 0 / -1. out->headers must point at limits->max_headers entries. */
int kh_http_parse_request(const uint8_t *p, size_t head_len, const struct kh_http_limits *limits,
			  struct kh_http_head *out, struct kh_http_error *err);

/* Parses a complete response head. request_was_head and request_was_connect
 * decide bodiless responses together with the status (1xx, 204, 304). */
int kh_http_parse_response(const uint8_t *p, size_t head_len, const struct kh_http_limits *limits,
			   bool request_was_head, struct kh_http_head *out,
			   struct kh_http_error *err);

/* Number of leading empty lines (CRLF) a server may skip before a request
 * line (RFC 9112 section 2.2), at most 4 are skipped. Returns bytes to skip. */
size_t kh_http_skip_leading_crlf(const uint8_t *p, size_t len);

/* Is c a tchar (RFC 9110 token character)? */
bool kh_http_is_tchar(unsigned char c);

/* Iterates over the comma-separated list elements of a header value,
 * trimming OWS and skipping empty elements. Returns false at the end. */
bool kh_http_list_next(struct kh_slice *list, struct kh_slice *elem);

/* Streaming chunked-body validator. Bytes are consumed and can be forwarded
 * unchanged; it only tracks where the body ends and refuses bad framing:
 * non-hex or over-long sizes, bare LF/CR, malformed extensions or trailers. */
struct kh_chunked {
	int state;
	uint64_t remaining; /* bytes left in the current chunk's data */
	size_t line_len; /* bytes in the current size/ext/trailer line */
	size_t trailer_bytes; /* total trailer section bytes */
	unsigned size_digits;
	size_t max_trailer;
};

void kh_chunked_init(struct kh_chunked *c, size_t max_trailer);

/* Feeds up to len bytes. Returns how many were consumed (the body's own
 * bytes, framing included); sets *done when the message ended, in which case
 * bytes after the returned count belong to the next message. -1 on error. */
ssize_t kh_chunked_feed(struct kh_chunked *c, const uint8_t *p, size_t len, bool *done,
			struct kh_http_error *err);

/* For chunk data the caller may copy in bulk: how many of the next bytes are
 * plain data (0 when the decoder is inside framing). */
uint64_t kh_chunked_data_run(const struct kh_chunked *c);

/* Splits an absolute-form target "http://host[:port]/path?q". Only http is
 * accepted (https must use CONNECT). path_out is "/" when empty.
 * Returns the host kind (hostname.h) or -1. */
int kh_http_parse_absolute(struct kh_slice target, char *host, uint16_t *port,
			   struct kh_slice *path_out);

#endif
