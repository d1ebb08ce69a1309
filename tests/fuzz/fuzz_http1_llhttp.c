/* Differential: our strict request parser against llhttp (Debian's
 * node-llhttp sources, compiled into this harness in strict mode, lenient
 * flags off). The rule: a request head we accept must be accepted by llhttp
 * too, ending at the same byte with the same number of fields and the same
 * body framing; then the body that follows must end at the same byte in both
 * (or we must refuse it). A disagreement is abort()ed unless it is one of the
 * intentional differences listed in tests/fuzz/README.md (see
 * request_line_difference()).
 *
 * llhttp.c and api.c declare the same callbacks with `unsigned char *` and
 * `char *`; in one translation unit that clashes, so api.c/http.c are
 * compiled under renamed symbols and small adapters bridge the two.
 * The llhttp sources find "llhttp.h" through the include path: build with
 *   CPATH=/usr/share/include/llhttp make fuzz
 * Without it this harness compiles to a stub that says so and exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http1.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

#if !__has_include("llhttp.h")

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "fuzz_http1_llhttp: llhttp.h not on the include path; differential "
			"fuzzing skipped (build with CPATH=/usr/share/include/llhttp)\n");
	exit(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)data;
	(void)size;
	return 0;
}

#else

#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Weverything"
#define LLHTTP_STRICT_MODE 1
#include "/usr/share/llhttp/llhttp.c"

/* clang-format off */
#define KH_LL_CALLBACKS(X)                                                                 \
	X(on_message_begin) X(on_url) X(on_url_complete) X(on_status) X(on_status_complete)  \
	X(on_method) X(on_method_complete) X(on_version) X(on_version_complete)              \
	X(on_header_field) X(on_header_field_complete) X(on_header_value)                    \
	X(on_header_value_complete) X(on_headers_complete) X(on_message_complete) X(on_body) \
	X(on_chunk_header) X(on_chunk_extension_name) X(on_chunk_extension_name_complete)    \
	X(on_chunk_extension_value) X(on_chunk_extension_value_complete)                     \
	X(on_chunk_complete) X(on_reset) X(before_headers_complete)                          \
	X(after_headers_complete) X(after_message_complete)
/* clang-format on */

#define KH_LL_ADAPT(n)                                                                            \
	int kh_ll_##n(llhttp_t *s, const char *p, const char *endp);                              \
	int llhttp__##n(llhttp__internal_t *s, const unsigned char *p, const unsigned char *endp) \
	{                                                                                         \
		return kh_ll_##n(s, (const char *)p, (const char *)endp);                         \
	}
KH_LL_CALLBACKS(KH_LL_ADAPT)

#define llhttp__on_message_begin                  kh_ll_on_message_begin
#define llhttp__on_url                            kh_ll_on_url
#define llhttp__on_url_complete                   kh_ll_on_url_complete
#define llhttp__on_status                         kh_ll_on_status
#define llhttp__on_status_complete                kh_ll_on_status_complete
#define llhttp__on_method                         kh_ll_on_method
#define llhttp__on_method_complete                kh_ll_on_method_complete
#define llhttp__on_version                        kh_ll_on_version
#define llhttp__on_version_complete               kh_ll_on_version_complete
#define llhttp__on_header_field                   kh_ll_on_header_field
#define llhttp__on_header_field_complete          kh_ll_on_header_field_complete
#define llhttp__on_header_value                   kh_ll_on_header_value
#define llhttp__on_header_value_complete          kh_ll_on_header_value_complete
#define llhttp__on_headers_complete               kh_ll_on_headers_complete
#define llhttp__on_message_complete               kh_ll_on_message_complete
#define llhttp__on_body                           kh_ll_on_body
#define llhttp__on_chunk_header                   kh_ll_on_chunk_header
#define llhttp__on_chunk_extension_name           kh_ll_on_chunk_extension_name
#define llhttp__on_chunk_extension_name_complete  kh_ll_on_chunk_extension_name_complete
#define llhttp__on_chunk_extension_value          kh_ll_on_chunk_extension_value
#define llhttp__on_chunk_extension_value_complete kh_ll_on_chunk_extension_value_complete
#define llhttp__on_chunk_complete                 kh_ll_on_chunk_complete
#define llhttp__on_reset                          kh_ll_on_reset
#define llhttp__before_headers_complete           kh_ll_before_headers_complete
#define llhttp__after_headers_complete            kh_ll_after_headers_complete
#define llhttp__after_message_complete            kh_ll_after_message_complete
#include "/usr/share/llhttp/api.c"
#include "/usr/share/llhttp/http.c"
#include "fuzz_check.h"
#pragma clang diagnostic pop

#define MAX_HEAD    16384
#define MAX_HEADERS 100

/* What llhttp saw. Offsets are from the start of the input. */
struct ll {
	llhttp_t p;
	const char *base;
	bool headers_done, stopped;
	size_t fields; /* header values completed */
	uint16_t flags; /* at headers_complete */
	uint64_t content_length;
	llhttp_errno_t err; /* HPE_OK, HPE_PAUSED (message complete), PAUSED_UPGRADE or an error */
	size_t pos; /* where it stopped */
};

static int on_value_done(llhttp_t *p)
{
	((struct ll *)p->data)->fields++;
	return 0;
}

static int on_headers_done(llhttp_t *p)
{
	struct ll *l = p->data;

	l->headers_done = true;
	l->flags = p->flags;
	l->content_length = p->content_length;
	return 0;
}

static int on_message_done(llhttp_t *p)
{
	(void)p;
	return HPE_PAUSED; /* stop right at the end of the message */
}

static void ll_init(struct ll *l, const uint8_t *base, const llhttp_settings_t *s)
{
	memset(l, 0, sizeof *l);
	llhttp_init(&l->p, HTTP_REQUEST, s);
	l->p.data = l;
	l->base = (const char *)base;
}

static void ll_feed(struct ll *l, size_t off, size_t len)
{
	llhttp_errno_t e;

	if (l->stopped)
		return;
	e = llhttp_execute(&l->p, l->base + off, len);
	if (e == HPE_OK)
		return;
	l->stopped = true;
	l->err = e;
	l->pos = (size_t)(llhttp_get_error_pos(&l->p) - l->base);
}

static bool is_error(const struct ll *l)
{
	return l->stopped && l->err != HPE_PAUSED && l->err != HPE_PAUSED_UPGRADE;
}

/* Where our side says the message ends (framing as the relay applies it). */
struct ours {
	bool done, refused;
	size_t end; /* valid if done */
	size_t accepted; /* bytes we consumed without complaint */
};

static void our_body(const uint8_t *data, size_t size, const struct kh_http_head *h, struct ours *o)
{
	size_t avail = size - h->head_len;

	memset(o, 0, sizeof *o);
	if (h->body == KH_BODY_NONE) {
		o->done = true;
		o->end = o->accepted = h->head_len;
	} else if (h->body == KH_BODY_LENGTH) {
		o->done = avail >= h->content_length;
		o->end = h->head_len + (size_t)(o->done ? h->content_length : 0);
		o->accepted = o->done ? o->end : size;
	} else {
		struct kh_chunked c;
		struct kh_http_error err;
		ssize_t r;

		kh_chunked_init(&c, MAX_HEAD);
		r = kh_chunked_feed(&c, data + h->head_len, avail, &o->done, &err);
		o->refused = r < 0;
		o->end = o->accepted = h->head_len + (r < 0 ? 0 : (size_t)r);
	}
}

/* Intentional differences in the request line (tests/fuzz/README.md): we
 * accept any token as a method and any run of visible ASCII as the target
 * (routing in relay.c narrows both later); llhttp knows a fixed method list
 * (RTSP and ICE ones only with their own versions), checks URL syntax and
 * reads PRI as the start of the HTTP/2 preface. Both end the line at its
 * CRLF (ours allows no other CTL in it), so the rest of the message is
 * compared again behind a canonical request line. */
static bool request_line_difference(const struct kh_http_head *h, const struct ll *l,
				    size_t line_end)
{
	if (kh_slice_eq_cstr(h->method, "PRI"))
		return true;
	return is_error(l) && l->pos <= line_end; /* some are reported just past the LF */
}

/* Where our decoder is at body byte pos: the start of the framing line pos
 * is on, or NULL if pos is chunk data (or our decoder stopped before it). */
static const uint8_t *framing_line(const uint8_t *data, const struct kh_http_head *h, size_t pos,
				   struct kh_chunked *c)
{
	struct kh_http_error err;
	size_t start = pos;
	bool done;

	kh_chunked_init(c, MAX_HEAD);
	if (h->body != KH_BODY_CHUNKED || pos < h->head_len ||
	    kh_chunked_feed(c, data + h->head_len, pos - h->head_len, &done, &err) < 0 || done ||
	    kh_chunked_data_run(c) != 0)
		return NULL;
	/* llhttp reports some field errors just past the line's LF. */
	if (start > h->head_len && data[start - 1] == '\n')
		start--;
	while (start > h->head_len && data[start - 1] != '\n')
		start--;
	return data + start;
}

/* Intentional body differences (tests/fuzz/README.md), both reported as src
 * findings and tolerated so the rest of the differential keeps running:
 *  - chunk extensions: we refuse CTLs, so a size line still ends at its first
 *    CRLF as in llhttp, but do not check the ;name=value grammar;
 *  - trailer fields: llhttp applies Content-Length/Transfer-Encoding rules to
 *    trailers and fails; we forward any well-formed trailer field. */
static bool body_difference(const uint8_t *data, const struct kh_http_head *h, size_t pos)
{
	struct kh_chunked c;
	const uint8_t *line = framing_line(data, h, pos, &c), *p = line;
	size_t len = line ? (size_t)(data + pos - line) : 0;

	if (line == NULL)
		return false;
	if (c.trailer_bytes > 0)
		return (len >= 15 && strncasecmp((const char *)line, "content-length:", 15) == 0) ||
		       (len >= 18 &&
			strncasecmp((const char *)line, "transfer-encoding:", 18) == 0);
	while (p < data + pos && strchr("0123456789abcdefABCDEF", *p) != NULL)
		p++;
	return p > line && p < data + pos && *p == ';';
}

static void disagree(const char *what, const struct kh_http_head *h, const struct ll *l)
{
	fprintf(stderr, "head as compared:\n%.*s", (int)h->head_len, l->base);
	fprintf(stderr,
		"llhttp disagrees: %s (our head_len %zu body %d cl %llu; llhttp %s at %zu: %s)\n",
		what, h->head_len, (int)h->body, (unsigned long long)h->content_length,
		llhttp_errno_name(l->err), l->pos, l->p.reason ? l->p.reason : "-");
	abort();
}

/* How llhttp's view of a head we accepted differs from ours, or NULL. */
static const char *head_difference(const struct kh_http_head *h, const struct ll *l)
{
	if (is_error(l))
		return "it rejects a head we accept";
	if (!l->headers_done)
		return "its head does not end where ours does";
	if (l->fields != h->n_headers)
		return "different number of header fields";
	if (l->p.http_major != 1 || l->p.http_minor != h->version_minor)
		return "different HTTP version";
	if (((l->flags & F_CHUNKED) != 0) != (h->body == KH_BODY_CHUNKED))
		return "chunked framing differs";
	if (h->body == KH_BODY_LENGTH &&
	    (!(l->flags & F_CONTENT_LENGTH) || l->content_length != h->content_length))
		return "Content-Length differs";
	if (h->body == KH_BODY_NONE && (l->flags & F_CONTENT_LENGTH) && l->content_length != 0)
		return "it expects a body where we expect none";
	return NULL;
}

static void compare_body(const struct kh_http_head *h, const struct ll *l, const struct ours *o)
{
	if (o->refused && (!l->stopped || l->pos >= o->accepted))
		return; /* we refuse first: fine */
	if (is_error(l)) {
		if (l->pos < o->accepted && !body_difference((const uint8_t *)l->base, h, l->pos))
			disagree("it rejects body bytes we accept", h, l);
		return;
	}
	if (!l->stopped) {
		if (o->done)
			disagree("it wants more body than we do", h, l);
		return;
	}
	/* PAUSED (message complete) or PAUSED_UPGRADE: the message ends at pos. */
	if (!o->done || o->end != l->pos)
		disagree("the message ends at a different byte", h, l);
}

static const llhttp_settings_t *settings(void)
{
	static llhttp_settings_t s;

	if (s.on_headers_complete == NULL) {
		llhttp_settings_init(&s);
		s.on_header_value_complete = on_value_done;
		s.on_headers_complete = on_headers_done;
		s.on_message_complete = on_message_done;
	}
	return &s;
}

/* Retries already applied to this input (each at most once). */
#define CANON_LINE  1u
#define NORMALIZED  2u

static void differential(const uint8_t *data, size_t size, unsigned done);

/* The same message behind "GET / HTTP/1.x". */
static void retry_canonical(const uint8_t *data, size_t size, const struct kh_http_head *h,
			    unsigned done)
{
	const uint8_t *eol = memmem(data, size, "\r\n", 2);
	size_t rest = size - (size_t)(eol - data), n;
	uint8_t *alt = malloc(rest + 16);

	CHECK(eol != NULL && alt != NULL);
	n = (size_t)snprintf((char *)alt, 16, "GET / HTTP/1.%u", h->version_minor);
	memcpy(alt + n, eol, rest);
	differential(alt, n + rest, done | CANON_LINE);
	free(alt);
}

static void put(uint8_t *out, size_t *n, const void *p, size_t len)
{
	memcpy(out + *n, p, len);
	*n += len;
}

/* The head as rewrite.c forwards it ("name: value" with OWS trimmed), then
 * the body bytes unchanged. */
static void retry_normalized(const uint8_t *data, size_t size, const struct kh_http_head *h,
			     unsigned done)
{
	size_t n = 0, cap = size + 4 * h->n_headers + 32;
	uint8_t *alt = malloc(cap);

	CHECK(alt != NULL);
	put(alt, &n, h->method.ptr, h->method.len);
	put(alt, &n, " ", 1);
	put(alt, &n, h->target.ptr, h->target.len);
	put(alt, &n, h->version_minor ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n", 11);
	for (size_t i = 0; i < h->n_headers; i++) {
		put(alt, &n, h->headers[i].name.ptr, h->headers[i].name.len);
		put(alt, &n, ": ", 2);
		put(alt, &n, h->headers[i].value.ptr, h->headers[i].value.len);
		put(alt, &n, "\r\n", 2);
	}
	put(alt, &n, "\r\n", 2);
	CHECK(n <= h->head_len + 2 * h->n_headers + 2);
	put(alt, &n, data + h->head_len, size - h->head_len);
	differential(alt, n, done | NORMALIZED);
	free(alt);
}

static void differential(const uint8_t *data, size_t size, unsigned done)
{
	struct kh_http_header hdrs[MAX_HEADERS];
	struct kh_http_limits lim = { MAX_HEAD, MAX_HEADERS };
	struct kh_http_head h = { .headers = hdrs };
	struct kh_http_error err;
	struct ours o;
	struct ll l;
	size_t scan = 0, line_end;
	ssize_t n = kh_http_scan_head(data, size, &scan, MAX_HEAD, &err);
	const char *why;

	if (n <= 0 || kh_http_parse_request(data, (size_t)n, &lim, &h, &err) != 0) {
		/* A retry must stay acceptable to us (": " may push it past the cap). */
		CHECK(done == 0 || err.status == 431);
		return; /* we refuse: whatever llhttp thinks is fine */
	}
	ll_init(&l, data, settings());
	ll_feed(&l, 0, (size_t)n - 1);
	if (l.headers_done)
		disagree("its head ends before ours", &h, &l);
	if (!is_error(&l))
		ll_feed(&l, (size_t)n - 1, 1);
	line_end = (size_t)(h.target.ptr - (const char *)data) + h.target.len + 11;
	if (!(done & CANON_LINE) && request_line_difference(&h, &l, line_end)) {
		retry_canonical(data, size, &h, done);
		return;
	}
	/* Raw differences that only concern whitespace around field values are
	 * gone from the head we forward: judge that one instead. */
	why = head_difference(&h, &l);
	if (why != NULL && !(done & NORMALIZED)) {
		retry_normalized(data, size, &h, done);
		return;
	}
	if (why != NULL)
		disagree(why, &h, &l);
	if (kh_slice_eq_cstr(h.method, "CONNECT"))
		return; /* keyhole ends CONNECT itself and refuses one with a body */
	ll_feed(&l, (size_t)n, size - (size_t)n);
	our_body(data, size, &h, &o);
	compare_body(&h, &l, &o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	differential(data, size, 0);
	return 0;
}

#endif
