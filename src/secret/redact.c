#include "secret/redact.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/check.h"
#include "base/kh_limits.h"

#define MARK_FMT "[redacted:%s]"

_Static_assert(KH_REDACT_SCAN_MAX < UINT16_MAX, "view offsets are 16-bit");

/* A view of (a prefix of) the original text: p[i] came from the original's
 * bytes [at[i], at[i + 1]). */
struct view {
	uint8_t p[KH_REDACT_SCAN_MAX];
	uint16_t at[KH_REDACT_SCAN_MAX + 1];
	size_t len;
};

struct work {
	const struct kh_redact *r;
	struct view a, b, tmp;
	/* for each original byte: 0, or 1 + the name index (exact set's names
	 * first, then the folded set's) of a match covering it */
	uint16_t mark[KH_REDACT_SCAN_MAX];
};

/* --- building --- */

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* The folded set's two needles per item: the value lower-cased, and its
 * hex (lower-case digits): both are matched over lower-cased views. */
static int folded_values(const struct kh_redact_item *it, struct kh_scrub_secret *raw,
			 struct kh_scrub_secret *hex)
{
	static const char digits[] = "0123456789abcdef";
	uint8_t *l = malloc(it->len + 1), *h = malloc(2 * it->len + 1);

	if (l == NULL || h == NULL) {
		free(l);
		free(h);
		return -1;
	}
	for (size_t i = 0; i < it->len; i++) {
		l[i] = lower(it->value[i]);
		h[2 * i] = (uint8_t)digits[it->value[i] >> 4];
		h[2 * i + 1] = (uint8_t)digits[it->value[i] & 15];
	}
	*raw = (struct kh_scrub_secret){ it->name, l, it->len, NULL, 0 };
	*hex = (struct kh_scrub_secret){ it->name, h, 2 * it->len, NULL, 0 };
	return 0;
}

static void free_values(struct kh_scrub_secret *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].value != NULL)
			OPENSSL_cleanse((void *)(uintptr_t)v[i].value, v[i].len);
		free((void *)(uintptr_t)v[i].value);
	}
	free(v);
}

/* How far into a text a needle can reach: each percent-decoding round can
 * triple the bytes one decoded byte came from (%25%36%62). */
static size_t margin(const struct kh_redact *r)
{
	size_t longest = r->exact.max_len > r->folded.max_len ? r->exact.max_len
							      : r->folded.max_len;

	for (int d = 0; d < KH_REDACT_PCT_DEPTH && longest < KH_REDACT_SCAN_MAX; d++)
		longest *= 3;
	return longest < KH_REDACT_SCAN_MAX ? longest : KH_REDACT_SCAN_MAX;
}

int kh_redact_build(struct kh_redact *r, const struct kh_redact_item *items, size_t n,
		    struct kh_err *err)
{
	struct kh_scrub_secret *exact = calloc(n + 1, sizeof *exact);
	struct kh_scrub_secret *folded = calloc(2 * n + 1, sizeof *folded);
	int rc = -1;

	memset(r, 0, sizeof *r);
	if (exact == NULL || folded == NULL)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		exact[i] = (struct kh_scrub_secret){ items[i].name, items[i].value, items[i].len,
						     NULL, 0 };
		if (folded_values(&items[i], &folded[2 * i], &folded[2 * i + 1]) != 0)
			goto oom;
	}
	if (kh_scrub_set_build_forms(&r->exact, exact, n, KH_SCRUB_F_B64 | KH_SCRUB_F_B64_ALIGNED,
				     err) != 0 ||
	    kh_scrub_set_build_forms(&r->folded, folded, 2 * n, KH_SCRUB_F_RAW, err) != 0)
		goto fail;
	KH_CHECK(r->exact.n_names + r->folded.n_names < UINT16_MAX); /* marks are 16-bit */
	r->margin = margin(r);
	rc = 0;
	goto done;
oom:
	kh_err_set(err, "out of memory building the record redactor");
fail:
	kh_redact_free(r);
done:
	free(exact);
	if (folded != NULL)
		free_values(folded, 2 * n);
	return rc;
}

void kh_redact_free(struct kh_redact *r)
{
	if (r == NULL)
		return;
	kh_scrub_set_free(&r->exact);
	kh_scrub_set_free(&r->folded);
	memset(r, 0, sizeof *r);
}

/* --- views --- */

static void view_init(struct view *v, const char *in, size_t n)
{
	memcpy(v->p, in, n);
	for (size_t i = 0; i <= n; i++)
		v->at[i] = (uint16_t)i;
	v->len = n;
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One round of percent-decoding (either case, mixed with plain bytes);
 * false when there was nothing to decode. */
static bool pct_decode(const struct view *in, struct view *out)
{
	size_t o = 0;
	bool any = false;

	for (size_t i = 0; i < in->len; o++) {
		out->at[o] = in->at[i];
		if (in->p[i] == '%' && i + 2 < in->len && hexval(in->p[i + 1]) >= 0 &&
		    hexval(in->p[i + 2]) >= 0) {
			out->p[o] = (uint8_t)(hexval(in->p[i + 1]) << 4 | hexval(in->p[i + 2]));
			i += 3;
			any = true;
		} else {
			out->p[o] = in->p[i++];
		}
	}
	out->at[o] = in->at[in->len];
	out->len = o;
	return any;
}

/* in without its dots (a name split into DNS labels); false if it had none. */
static bool undot(const struct view *in, struct view *out)
{
	size_t o = 0;

	for (size_t i = 0; i < in->len; i++) {
		if (in->p[i] == '.')
			continue;
		out->p[o] = in->p[i];
		out->at[o++] = in->at[i];
	}
	out->at[o] = in->at[in->len];
	out->len = o;
	return o < in->len;
}

/* Lower-cases v in place. */
static void fold(struct view *v)
{
	for (size_t i = 0; i < v->len; i++)
		v->p[i] = lower(v->p[i]);
}

static bool has_upper(const struct view *v)
{
	for (size_t i = 0; i < v->len; i++)
		if (v->p[i] >= 'A' && v->p[i] <= 'Z')
			return true;
	return false;
}

/* --- matching --- */

/* Marks every match of s in v (overlapping ones too) on the original. */
static void scan(struct work *w, const struct kh_scrub_set *s, size_t name_base,
		 const struct view *v)
{
	size_t from = 0;

	while (from < v->len) {
		const struct kh_scrub_needle *hit;
		size_t at = from + kh_scrub_find(s, v->p + from, v->len - from, &hit);

		if (hit == NULL)
			return;
		for (size_t k = v->at[at]; k < v->at[at + hit->len]; k++)
			w->mark[k] = (uint16_t)(name_base + hit->secret + 1);
		from = at + 1;
	}
}

/* v as it is and lower-cased (tmp holds the lower-cased copy when it
 * differs). v may be tmp itself, then it is folded in place. */
static void scan_view(struct work *w, struct view *v)
{
	const struct kh_redact *r = w->r;

	scan(w, &r->exact, 0, v);
	if (has_upper(v)) {
		if (v != &w->tmp)
			memcpy(&w->tmp, v, sizeof w->tmp);
		fold(&w->tmp);
		v = &w->tmp;
	}
	scan(w, &r->folded, r->exact.n_names, v);
}

static void search(struct work *w, const char *in, size_t n)
{
	struct view *cur = &w->a, *next = &w->b, *t;

	view_init(cur, in, n);
	for (int depth = 0;; depth++) {
		scan_view(w, cur);
		if (undot(cur, &w->tmp))
			scan_view(w, &w->tmp);
		if (depth == KH_REDACT_PCT_DEPTH || !pct_decode(cur, next))
			return;
		t = cur;
		cur = next;
		next = t;
	}
}

/* --- output --- */

static const char *mark_name(const struct kh_redact *r, uint16_t m)
{
	size_t i = (size_t)m - 1;

	if (i < r->exact.n_names)
		return r->exact.names[i];
	i -= r->exact.n_names;
	KH_CHECK(i < r->folded.n_names);
	return r->folded.names[i];
}

static size_t emit(const struct work *w, const char *in, size_t end, char *out, size_t cap)
{
	size_t o = 0, i = 0;

	while (i < end && o + 1 < cap) {
		int k;

		if (w->mark[i] == 0) {
			out[o++] = in[i++];
			continue;
		}
		k = snprintf(out + o, cap - o, MARK_FMT, mark_name(w->r, w->mark[i]));
		o = k > 0 && (size_t)k < cap - o ? o + (size_t)k : cap - 1;
		while (i < end && w->mark[i] != 0)
			i++;
	}
	out[o] = '\0';
	return o;
}

size_t kh_redact(const struct kh_redact *r, const char *in, size_t n, char *out, size_t cap)
{
	struct work w;
	size_t scanned = n < KH_REDACT_SCAN_MAX ? n : KH_REDACT_SCAN_MAX, end = n;

	KH_CHECK(cap > 0);
	if (r == NULL || (r->exact.n == 0 && r->folded.n == 0)) {
		end = n < cap - 1 ? n : cap - 1;
		memcpy(out, in, end);
		out[end] = '\0';
		return end;
	}
	/* A longer text is cut where every needle starting before the cut was
	 * seen whole; with long keys that cut may leave nothing (records' fields
	 * are far shorter than the scan window, so this costs nothing in practice). */
	if (n > scanned)
		end = scanned > r->margin ? scanned - r->margin : 0;
	w.r = r;
	memset(w.mark, 0, scanned * sizeof w.mark[0]);
	search(&w, in, scanned);
	return emit(&w, in, end, out, cap);
}
