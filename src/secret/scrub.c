#include "secret/scrub.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/check.h"

#define QUAD_BITS 16
#define QUAD_LEN  4 /* every needle is at least this long (KH_SCRUB_MIN_SECRET >= 8) */

static const char B64_STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64_URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static inline uint32_t quad_hash(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof v);
	return (v * 2654435761u) >> (32 - QUAD_BITS);
}

/* --- encoded forms --- */

enum form {
	F_RAW,
	F_PCT_UPPER,
	F_PCT_LOWER,
	F_B64_PAD, /* complete encoding, '=' padded */
	F_B64_NOPAD, /* complete encoding, unpadded */
	F_B64_A0, /* characters that depend on the secret alone, at byte offset 0, 1, 2 */
	F_B64_A1,
	F_B64_A2,
};

static bool unreserved(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static size_t pct(const uint8_t *in, size_t n, bool upper, uint8_t *out)
{
	const char *hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (unreserved(in[i])) {
			out[o++] = in[i];
			continue;
		}
		out[o++] = '%';
		out[o++] = (uint8_t)hex[in[i] >> 4];
		out[o++] = (uint8_t)hex[in[i] & 15];
	}
	return o;
}

/* Byte i of `skip` zero bytes followed by in[0..n) (a secret at an offset). */
static uint32_t byte_at(const uint8_t *in, size_t skip, size_t i)
{
	return i < skip ? 0 : in[i - skip];
}

/* Unpadded base64 of skip zero bytes + in[0..n): ceil(8 * (skip + n) / 6) chars. */
static size_t b64(const uint8_t *in, size_t n, size_t skip, const char *abc, uint8_t *out)
{
	size_t total = skip + n, o = 0;

	for (size_t i = 0; i < total; i += 3) {
		uint32_t v = byte_at(in, skip, i) << 16;
		size_t chars = total - i >= 3 ? 4 : total - i + 1;

		if (i + 1 < total)
			v |= byte_at(in, skip, i + 1) << 8;
		if (i + 2 < total)
			v |= byte_at(in, skip, i + 2);
		for (size_t k = 0; k < chars; k++)
			out[o++] = (uint8_t)abc[(v >> (18 - 6 * k)) & 63];
	}
	return o;
}

/* Writes form f of in[0..n) to out; returns its length. */
static size_t encode(enum form f, const char *abc, const uint8_t *in, size_t n, uint8_t *out)
{
	size_t len, a, from, to;

	switch (f) {
	case F_RAW:
		memcpy(out, in, n);
		return n;
	case F_PCT_UPPER:
	case F_PCT_LOWER:
		return pct(in, n, f == F_PCT_UPPER, out);
	case F_B64_PAD:
		len = b64(in, n, 0, abc, out);
		while (len % 4 != 0)
			out[len++] = '=';
		return len;
	case F_B64_NOPAD:
		return b64(in, n, 0, abc, out);
	default:
		/* The secret starts a bits-into-group; keep only the characters
		 * whose 6 bits all come from it. */
		a = (size_t)(f - F_B64_A0);
		len = b64(in, n, a, abc, out);
		from = (8 * a + 5) / 6;
		to = 8 * (a + n) / 6;
		KH_CHECK(to <= len && from < to);
		memmove(out, out + from, to - from);
		return to - from;
	}
}

/* Upper bound of encode() output for n bytes, any form. */
static size_t encoded_max(size_t n)
{
	return 3 * n + 8;
}

/* --- building --- */

static int arena_alloc(struct kh_scrub_set *s, size_t bytes)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t cap = (bytes + (size_t)page - 1) / (size_t)page * (size_t)page;
	void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	(void)mlock(p, cap); /* best effort, as for the secrets themselves */
	madvise(p, cap, MADV_DONTDUMP);
	s->arena = p;
	s->arena_cap = cap;
	return 0;
}

static int cmp_needle(const void *a, const void *b)
{
	const struct kh_scrub_needle *x = a, *y = b;
	int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);

	if (c != 0)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static const struct {
	enum form f;
	unsigned mask;
} form_table[] = {
	{ F_RAW, KH_SCRUB_F_RAW },
	{ F_PCT_UPPER, KH_SCRUB_F_PCT },
	{ F_PCT_LOWER, KH_SCRUB_F_PCT },
	{ F_B64_PAD, KH_SCRUB_F_B64 },
	{ F_B64_NOPAD, KH_SCRUB_F_B64 },
	{ F_B64_A0, KH_SCRUB_F_B64_ALIGNED },
	{ F_B64_A1, KH_SCRUB_F_B64_ALIGNED },
	{ F_B64_A2, KH_SCRUB_F_B64_ALIGNED },
};

static bool base64_form(enum form f)
{
	return f >= F_B64_PAD && f <= F_B64_A2;
}

static void add_forms(struct kh_scrub_set *s, const struct kh_scrub_secret *sec, uint32_t idx,
		      unsigned mask)
{
	static const char *const abcs[] = { B64_STD, B64_URL };

	for (size_t a = 0; a < 2; a++) {
		for (size_t f = 0; f < sizeof form_table / sizeof form_table[0]; f++) {
			struct kh_scrub_needle *nd = &s->needles[s->n];
			enum form form = form_table[f].f;

			if (!(mask & form_table[f].mask) || (!base64_form(form) && a > 0))
				continue; /* only base64 forms have a second alphabet */
			nd->p = s->arena + s->arena_used;
			nd->len = encode(form, abcs[a], sec->value, sec->len,
					 s->arena + s->arena_used);
			s->arena_used += nd->len;
			nd->rep = s->arena + s->arena_used;
			nd->rep_len = sec->token == NULL
					      ? 0
					      : encode(form, abcs[a], sec->token, sec->token_len,
						       s->arena + s->arena_used);
			s->arena_used += nd->rep_len;
			nd->secret = idx;
			nd->seq = (uint32_t)s->n;
			s->n++;
		}
	}
}

#define FORMS_PER_SECRET 13 /* at most: every entry of form_table, base64 ones twice */

/* The skip table. A needle starting at k, seen through a window starting
 * at i <= k whose last byte b is the needle's byte j = i + window - 1 - k,
 * means shift[b] <= window - 1 - j = k - i: skipping shift[b] never passes
 * k. Bytes that appear in no needle's first `window` bytes (most of binary
 * data, all of a run of zeros) skip the whole window. */
static void index_shift(struct kh_scrub_set *s)
{
	size_t shortest = SIZE_MAX;

	for (size_t i = 0; i < s->n; i++)
		if (s->needles[i].len < shortest)
			shortest = s->needles[i].len;
	KH_CHECK(shortest >= QUAD_LEN && shortest != SIZE_MAX);
	s->window = shortest < UINT8_MAX ? shortest : UINT8_MAX; /* shifts fit a byte */
	memset(s->shift, (int)s->window, sizeof s->shift);
	for (size_t i = 0; i < s->n; i++)
		for (size_t j = 0; j < s->window; j++) {
			uint8_t b = s->needles[i].p[j], d = (uint8_t)(s->window - 1 - j);

			if (d < s->shift[b])
				s->shift[b] = d;
		}
}

/* Sorts, drops duplicates (keeping the first built) and fills the filters. */
static void index_needles(struct kh_scrub_set *s)
{
	size_t out = 0;

	qsort(s->needles, s->n, sizeof *s->needles, cmp_needle);
	for (size_t i = 0; i < s->n; i++) {
		const struct kh_scrub_needle *nd = &s->needles[i];

		if (out > 0 && s->needles[out - 1].len == nd->len &&
		    memcmp(s->needles[out - 1].p, nd->p, nd->len) == 0)
			continue;
		s->needles[out++] = *nd;
	}
	s->n = out;
	s->same_len = true;
	for (size_t i = 0; i < s->n; i++) {
		const struct kh_scrub_needle *nd = &s->needles[i];
		uint32_t h = quad_hash(nd->p);

		KH_CHECK(nd->len >= QUAD_LEN);
		s->first[nd->p[0]] = 1;
		s->quads[h >> 6] |= 1ULL << (h & 63);
		if (nd->len > s->max_len)
			s->max_len = nd->len;
		if (nd->rep_len > s->max_rep)
			s->max_rep = nd->rep_len;
		s->same_len &= nd->rep_len == nd->len;
	}
	index_shift(s);
}

int kh_scrub_set_build(struct kh_scrub_set *s, const struct kh_scrub_secret *secrets, size_t n,
		       struct kh_err *err)
{
	return kh_scrub_set_build_forms(s, secrets, n, KH_SCRUB_F_RESPONSE, err);
}

int kh_scrub_set_build_forms(struct kh_scrub_set *s, const struct kh_scrub_secret *secrets,
			     size_t n, unsigned forms, struct kh_err *err)
{
	size_t bytes = 0, used = 0;

	memset(s, 0, sizeof *s);
	for (size_t i = 0; i < n; i++) {
		if (secrets[i].len < KH_SCRUB_MIN_SECRET)
			continue;
		bytes += FORMS_PER_SECRET *
			 (encoded_max(secrets[i].len) + encoded_max(secrets[i].token_len));
		used++;
	}
	if (used == 0 || (forms & KH_SCRUB_F_RESPONSE) == 0)
		return 0;
	s->needles = calloc(used * FORMS_PER_SECRET, sizeof *s->needles);
	s->names = calloc(used, sizeof *s->names);
	if (s->needles == NULL || s->names == NULL || arena_alloc(s, bytes) != 0)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		if (secrets[i].len < KH_SCRUB_MIN_SECRET)
			continue;
		kh_fmt(s->names[s->n_names], sizeof s->names[0], "%s", secrets[i].name);
		add_forms(s, &secrets[i], (uint32_t)s->n_names, forms);
		s->n_names++;
	}
	KH_CHECK(s->arena_used <= s->arena_cap);
	index_needles(s);
	return 0;
oom:
	kh_scrub_set_free(s);
	kh_err_set(err, "out of memory building the response scrubber");
	return -1;
}

void kh_scrub_set_free(struct kh_scrub_set *s)
{
	if (s == NULL)
		return;
	if (s->arena != NULL) {
		OPENSSL_cleanse(s->arena, s->arena_cap);
		munlock(s->arena, s->arena_cap);
		munmap(s->arena, s->arena_cap);
	}
	free(s->needles);
	free(s->names);
	memset(s, 0, sizeof *s);
}

/* --- matching --- */

/* First needle whose first k bytes (k <= QUAD_LEN <= every needle's length)
 * compare >= key[0..k). Needles sharing a k-byte prefix follow it. */
static size_t lower_bound(const struct kh_scrub_set *s, const uint8_t *key, size_t k)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(s->needles[mid].p, key, k) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

enum at { AT_NONE, AT_MATCH, AT_PARTIAL };

/* What starts at p (avail bytes known): the longest needle, or, unless final,
 * a needle that the next bytes might still complete (which must win over a
 * shorter match, so the decision waits). */
static enum at decide(const struct kh_scrub_set *s, const uint8_t *p, size_t avail, bool final,
		      const struct kh_scrub_needle **hit)
{
	size_t k = avail < QUAD_LEN ? avail : QUAD_LEN;
	const struct kh_scrub_needle *best = NULL;

	for (size_t j = lower_bound(s, p, k); j < s->n && memcmp(s->needles[j].p, p, k) == 0; j++) {
		const struct kh_scrub_needle *nd = &s->needles[j];

		if (nd->len > avail) {
			if (!final && memcmp(nd->p, p, avail) == 0)
				return AT_PARTIAL;
			continue;
		}
		if ((best == NULL || nd->len > best->len) && memcmp(nd->p, p, nd->len) == 0)
			best = nd;
	}
	*hit = best;
	return best != NULL ? AT_MATCH : AT_NONE;
}

struct found {
	size_t pos; /* where it starts; len when nothing was found */
	const struct kh_scrub_needle *hit; /* a match, or NULL */
	bool partial; /* p[pos..len) may begin a needle: wait for more */
};

/* Two table look-ups rule out almost every position of ordinary data before
 * any comparison is made (the quad filter needs 4 bytes: not at the end). */
static bool may_start(const struct kh_scrub_set *s, const uint8_t *p, size_t i, size_t len)
{
	uint32_t h;

	if (!s->first[p[i]])
		return false;
	if (len - i < QUAD_LEN)
		return true;
	h = quad_hash(p + i);
	return s->quads[h >> 6] >> (h & 63) & 1;
}

/* Checks position i: true (and *f set) when a needle or a needle's prefix
 * starts there. */
static bool check_at(const struct kh_scrub_set *s, const uint8_t *p, size_t i, size_t len,
		     bool final, struct found *f)
{
	const struct kh_scrub_needle *hit;

	if (!may_start(s, p, i, len))
		return false;
	switch (decide(s, p + i, len - i, final, &hit)) {
	case AT_MATCH:
		*f = (struct found){ i, hit, false };
		return true;
	case AT_PARTIAL:
		*f = (struct found){ i, NULL, true };
		return true;
	default:
		return false;
	}
}

/* The hot loop. While a whole window fits, the byte at its end says how far
 * no needle can start (index_shift); the last positions are checked one by
 * one. Every position where a needle or a needle's prefix could start is
 * still checked, in order, so the result is the same leftmost one. */
static struct found find(const struct kh_scrub_set *s, const uint8_t *p, size_t len, bool final)
{
	const size_t w = s->window;
	struct found f;
	size_t i = 0;

	while (len - i >= w) {
		uint8_t skip = s->shift[p[i + w - 1]];

		if (skip != 0) {
			i += skip;
			continue;
		}
		if (check_at(s, p, i, len, final, &f))
			return f;
		i++;
	}
	for (; i < len; i++)
		if (check_at(s, p, i, len, final, &f))
			return f;
	return (struct found){ len, NULL, false };
}

size_t kh_scrub_find(const struct kh_scrub_set *s, const uint8_t *p, size_t len,
		     const struct kh_scrub_needle **hit)
{
	struct found f;

	*hit = NULL;
	if (s->n == 0)
		return len;
	f = find(s, p, len, true);
	*hit = f.hit;
	return f.hit != NULL ? f.pos : len;
}

/* --- streams --- */

int kh_scrub_stream_init(struct kh_scrub_stream *st, const struct kh_scrub_set *set)
{
	memset(st, 0, sizeof *st);
	st->set = set;
	if (set->n == 0)
		return 0;
	st->hold = malloc(2 * set->max_len);
	st->hold_cap = st->hold != NULL ? 2 * set->max_len : 0;
	return st->hold != NULL ? 0 : -1;
}

void kh_scrub_stream_free(struct kh_scrub_stream *st)
{
	if (st == NULL)
		return;
	if (st->hold != NULL) {
		OPENSSL_cleanse(st->hold, st->hold_cap);
		free(st->hold);
	}
	memset(st, 0, sizeof *st);
}

static size_t put(struct kh_scrub_sink *k, const uint8_t *p, size_t n)
{
	if (n > k->cap - k->len)
		n = k->cap - k->len;
	if (n > 0)
		memcpy(k->p + k->len, p, n);
	k->len += n;
	return n;
}

/* Emits a needle's replacement whole, or nothing. */
static bool replace(struct kh_scrub_stream *st, const struct kh_scrub_needle *nd,
		    struct kh_scrub_sink *k)
{
	if (k->cap - k->len < nd->rep_len)
		return false;
	put(k, nd->rep, nd->rep_len);
	st->total++;
	for (size_t i = 0; i < st->n_tally; i++) {
		if (st->tally[i].secret == nd->secret) {
			st->tally[i].count++;
			return true;
		}
	}
	if (st->n_tally < KH_SCRUB_TALLY)
		st->tally[st->n_tally++] = (struct kh_scrub_tally){ nd->secret, 1 };
	return true;
}

/* Keeps hold[from..hold_len). */
static void hold_keep(struct kh_scrub_stream *st, size_t from)
{
	memmove(st->hold, st->hold + from, st->hold_len - from);
	st->hold_len -= from;
}

/* Decides the held-back bytes, looking ahead into in through a window after
 * them. Returns true when the hold is empty and *used input bytes were
 * consumed by a match that ran past it; false when the caller must stop
 * (sink full, or all of in joined the hold: *used says which). */
static bool drain_hold(struct kh_scrub_stream *st, const uint8_t *in, size_t n, bool final,
		       struct kh_scrub_sink *k, size_t *used)
{
	const struct kh_scrub_set *s = st->set;
	size_t look = n < s->max_len ? n : s->max_len, wlen, start = 0;

	*used = 0;
	if (look > 0)
		memcpy(st->hold + st->hold_len, in, look);
	wlen = st->hold_len + look;
	while (start < st->hold_len) {
		struct found f = find(s, st->hold + start, wlen - start, final && look == n);
		size_t at = start + f.pos, lit = (at < st->hold_len ? at : st->hold_len) - start;

		start += put(k, st->hold + start, lit);
		if (start < st->hold_len && start < at)
			break; /* sink full */
		if (at >= st->hold_len)
			break; /* nothing starts inside the hold: it is all out */
		if (f.partial) {
			/* The window from at is a proper prefix of a needle, so it
			 * is shorter than max_len: all of in is in it. */
			KH_CHECK(look == n);
			memmove(st->hold, st->hold + at, wlen - at);
			st->hold_len = wlen - at;
			*used = n;
			return false;
		}
		if (!replace(st, f.hit, k))
			break;
		start = at + f.hit->len;
		if (start >= st->hold_len) {
			*used = start - st->hold_len;
			st->hold_len = 0;
			return true;
		}
	}
	if (start >= st->hold_len) {
		st->hold_len = 0;
		return true;
	}
	hold_keep(st, start);
	return false;
}

size_t kh_scrub_feed(struct kh_scrub_stream *st, const uint8_t *in, size_t n, bool final,
		     struct kh_scrub_sink *k)
{
	const struct kh_scrub_set *s = st->set;
	size_t used = 0;

	if (s->n == 0)
		return put(k, in, n);
	if (st->hold_len > 0 && !drain_hold(st, in, n, final, k, &used))
		return used;
	while (used < n) {
		struct found f = find(s, in + used, n - used, final);
		size_t out = put(k, in + used, f.pos);

		used += out;
		if (out < f.pos)
			break; /* sink full */
		if (f.hit != NULL) {
			if (!replace(st, f.hit, k))
				break;
			used += f.hit->len;
			continue;
		}
		if (f.partial) {
			KH_CHECK(n - used < s->max_len);
			memcpy(st->hold, in + used, n - used);
			st->hold_len = n - used;
			used = n;
		}
		break;
	}
	return used;
}

ssize_t kh_scrub_oneshot(struct kh_scrub_stream *st, const uint8_t *in, size_t n, uint8_t *out,
			 size_t cap)
{
	struct kh_scrub_sink k = { out, 0, cap };

	KH_CHECK(st->hold_len == 0);
	if (kh_scrub_feed(st, in, n, true, &k) != n || st->hold_len != 0)
		return -1;
	return (ssize_t)k.len;
}
