#include "proxy/auditlimit.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/hostname.h"
#include "base/kh_limits.h"
#include "secret/redact.h"

#define FIXED_COST 320 /* keys, punctuation, the time and the longest numbers */
#define OVERFLOW   KH_AUDIT_FOLD_KINDS /* the slot refusals of further kinds share */

/* One kind of refusal from one source, in its current window. */
struct fold {
	bool open;
	bool mixed; /* the overflow slot: refusals of several kinds */
	uint64_t start_ms;
	unsigned whole; /* written whole in this window */
	uint64_t folded;
	uint32_t hosts[KH_AUDIT_FOLD_DISTINCT]; /* hashes of the distinct hosts folded */
	unsigned n_hosts;
	char decision[16], reason[48];
	/* the first folded refusal, which the fold record shows */
	char client[64], mode[16], method[24], host[KH_HOST_BUF], sandbox[KH_GRANT_LABEL_MAX];
	uint16_t port;
	int status;
};

struct source {
	char name[KH_SOURCE_MAX]; /* "": slot free */
	uint64_t seen_ms; /* its last refusal */
	uint64_t refill_ms; /* when its budget was last topped up */
	int64_t budget; /* bytes of whole records it may still write */
	struct fold folds[KH_AUDIT_FOLD_KINDS + 1];
};

struct kh_auditlimit {
	void (*emit)(const struct kh_audit_rec *r, void *arg);
	void *arg;
	uint64_t next_due; /* no fold record is due before this (0: none pending) */
	struct source src[KH_AUDIT_SOURCES];
};

struct kh_auditlimit *kh_auditlimit_new(void (*emit)(const struct kh_audit_rec *r, void *arg),
					void *arg)
{
	struct kh_auditlimit *l = calloc(1, sizeof *l);

	if (l == NULL)
		return NULL;
	l->emit = emit;
	l->arg = arg;
	return l;
}

void kh_auditlimit_free(struct kh_auditlimit *l)
{
	free(l);
}

/* --- cost --- */

/* Bytes s can take as a JSON string body (each byte at most a \u00XX). */
static size_t escaped(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		n += *p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\' ? 6 : 1;
	return n;
}

size_t kh_auditlimit_cost(const struct kh_audit_rec *r)
{
	size_t n = FIXED_COST;

	n += escaped(r->client) + escaped(r->mode) + escaped(r->method) + escaped(r->host) +
	     escaped(r->path) + escaped(r->decision) + escaped(r->reason) + escaped(r->detail) +
	     escaped(r->sni) + escaped(r->sandbox);
	for (size_t i = 0; i < r->n_swapped; i++)
		n += escaped(r->swapped[i]) + 3;
	for (size_t i = 0; i < r->n_scrubbed; i++)
		n += escaped(r->scrubbed[i]) + 24;
	return n < KH_AUDIT_LINE_MAX ? n : KH_AUDIT_LINE_MAX;
}

/* --- folds --- */

static uint32_t host_hash(const char *h)
{
	uint32_t x = 2166136261u; /* FNV-1a, case-insensitive like host names */

	for (; h != NULL && *h != '\0'; h++)
		x = (x ^ (uint32_t)tolower((unsigned char)*h)) * 16777619u;
	return x;
}

static void copy(char *dst, size_t len, const char *s)
{
	snprintf(dst, len, "%s", s != NULL ? s : "");
}

/* A field the fold record will show later, when the record's redactor (owned
 * by a policy snapshot that a reload may free by then) is gone: redacted now. */
static void copy_shown(char *dst, size_t len, const char *s, const struct kh_redact *redact)
{
	if (s == NULL)
		s = "";
	kh_redact(redact, s, strlen(s), dst, len);
}

static void emit_fold(struct kh_auditlimit *l, struct source *s, struct fold *f, uint64_t now)
{
	uint64_t span = now > f->start_ms ? now - f->start_ms : 0;
	char detail[KH_DETAIL_MAX];
	struct kh_audit_rec r = {
		.client = f->client,
		.mode = f->mode,
		.method = f->method,
		.host = f->host,
		.port = f->port,
		.status = f->status,
		.decision = f->decision,
		.reason = f->mixed ? "audit_folded" : f->reason,
		.detail = detail,
		.sandbox = f->sandbox,
		.repeated = f->folded,
		.distinct = f->n_hosts,
		.interval_ms = span < KH_AUDIT_FOLD_MS ? span : KH_AUDIT_FOLD_MS,
	};

	kh_fmt(detail, sizeof detail,
	       "%" PRIu64 " refusals %s%s%sfrom this source came too fast to record one by one: "
	       "folded into this record, which shows the first of them",
	       f->folded, f->mixed ? "of several kinds (the first: " : "",
	       f->mixed ? f->reason : "", f->mixed ? ") " : "");
	s->budget -= (int64_t)kh_auditlimit_cost(&r);
	if (s->budget < -(int64_t)KH_AUDIT_SOURCE_BYTES)
		s->budget = -(int64_t)KH_AUDIT_SOURCE_BYTES;
	l->emit(&r, l->arg);
}

/* Ends f's window, writing its fold record if anything was folded. */
static void close_fold(struct kh_auditlimit *l, struct source *s, struct fold *f, uint64_t now)
{
	if (f->open && f->folded > 0)
		emit_fold(l, s, f, now);
	f->open = false;
}

static bool window_over(const struct fold *f, uint64_t now)
{
	return f->open && now >= f->start_ms + KH_AUDIT_FOLD_MS;
}

static bool same_kind(const struct fold *f, const struct kh_audit_rec *r)
{
	return strcmp(f->decision, r->decision ? r->decision : "") == 0 &&
	       strcmp(f->reason, r->reason ? r->reason : "") == 0;
}

/* The slot for r's kind: its open window, else a free slot, else the
 * overflow slot. Windows that are over are closed on the way. */
static struct fold *fold_for(struct kh_auditlimit *l, struct source *s,
			     const struct kh_audit_rec *r, uint64_t now)
{
	struct fold *free_slot = NULL, *f;

	for (size_t i = 0; i <= OVERFLOW; i++)
		if (window_over(&s->folds[i], now))
			close_fold(l, s, &s->folds[i], now);
	for (size_t i = 0; i < OVERFLOW; i++) {
		f = &s->folds[i];
		if (f->open && same_kind(f, r))
			return f;
		if (!f->open && free_slot == NULL)
			free_slot = f;
	}
	f = free_slot != NULL ? free_slot : &s->folds[OVERFLOW];
	if (!f->open) {
		memset(f, 0, sizeof *f);
		f->open = true;
		f->mixed = f == &s->folds[OVERFLOW];
		f->start_ms = now;
		copy(f->decision, sizeof f->decision, r->decision);
		copy(f->reason, sizeof f->reason, r->reason);
	}
	return f;
}

static void fold_in(struct fold *f, const struct kh_audit_rec *r)
{
	uint32_t h = host_hash(r->host);
	bool seen = false;

	if (f->folded++ == 0) {
		copy_shown(f->client, sizeof f->client, r->client, r->redact);
		copy_shown(f->mode, sizeof f->mode, r->mode, r->redact);
		copy_shown(f->method, sizeof f->method, r->method, r->redact);
		copy_shown(f->host, sizeof f->host, r->host, r->redact);
		copy_shown(f->sandbox, sizeof f->sandbox, r->sandbox, r->redact);
		f->port = r->port;
		f->status = r->status;
	}
	for (unsigned i = 0; i < f->n_hosts && !seen; i++)
		seen = f->hosts[i] == h;
	if (!seen && f->n_hosts < KH_AUDIT_FOLD_DISTINCT)
		f->hosts[f->n_hosts++] = h;
}

/* --- sources --- */

static void refill(struct source *s, uint64_t now)
{
	if (now > s->refill_ms) {
		uint64_t add = (now - s->refill_ms) * KH_AUDIT_SOURCE_BYTES / 1000;

		s->budget = s->budget +
			    (int64_t)(add < KH_AUDIT_SOURCE_BYTES ? add : KH_AUDIT_SOURCE_BYTES);
		if (s->budget > KH_AUDIT_SOURCE_BYTES)
			s->budget = KH_AUDIT_SOURCE_BYTES;
		s->refill_ms = now;
	}
}

/* The source's slot; a new source takes a free one or the one seen least
 * recently (whose pending fold records are written first). */
static struct source *source_for(struct kh_auditlimit *l, const char *name, uint64_t now)
{
	char key[KH_SOURCE_MAX];
	struct source *s, *oldest = NULL;

	copy(key, sizeof key, name != NULL && name[0] != '\0' ? name : "-"); /* "": slot free */
	for (size_t i = 0; i < KH_AUDIT_SOURCES; i++) {
		s = &l->src[i];
		if (s->name[0] != '\0' && strcmp(s->name, key) == 0)
			return s;
		if (oldest == NULL || s->name[0] == '\0' ||
		    (oldest->name[0] != '\0' && s->seen_ms < oldest->seen_ms))
			oldest = s;
	}
	for (size_t i = 0; i <= OVERFLOW; i++)
		close_fold(l, oldest, &oldest->folds[i], now);
	memset(oldest, 0, sizeof *oldest);
	memcpy(oldest->name, key, sizeof key);
	oldest->budget = KH_AUDIT_SOURCE_BYTES;
	oldest->refill_ms = now;
	return oldest;
}

/* A token headed where it does not belong is the refusal an operator must see
 * one by one: cheap refusals of other kinds must not be able to spend the byte
 * budget it needs, so it is bounded by its window alone (KH_AUDIT_FOLD_WHOLE
 * a second per source). */
static bool beyond_budget(const struct kh_audit_rec *r)
{
	return r->reason != NULL && strcmp(r->reason, "token_leak_attempt") == 0;
}

bool kh_auditlimit_admit(struct kh_auditlimit *l, const char *source, const struct kh_audit_rec *r,
			 uint64_t now_ms)
{
	struct source *s = source_for(l, source, now_ms);
	int64_t cost = (int64_t)kh_auditlimit_cost(r);
	struct fold *f;

	s->seen_ms = now_ms;
	refill(s, now_ms);
	f = fold_for(l, s, r, now_ms);
	if ((f->mixed || f->whole < KH_AUDIT_FOLD_WHOLE) &&
	    (s->budget >= cost || beyond_budget(r))) {
		f->whole++;
		s->budget -= cost;
		if (s->budget < -(int64_t)KH_AUDIT_SOURCE_BYTES)
			s->budget = -(int64_t)KH_AUDIT_SOURCE_BYTES;
		return true;
	}
	fold_in(f, r);
	if (l->next_due == 0 || f->start_ms + KH_AUDIT_FOLD_MS < l->next_due)
		l->next_due = f->start_ms + KH_AUDIT_FOLD_MS;
	return false;
}

uint64_t kh_auditlimit_next_due(const struct kh_auditlimit *l)
{
	return l->next_due;
}

uint64_t kh_auditlimit_tick(struct kh_auditlimit *l, uint64_t now_ms, bool all)
{
	uint64_t next = 0;

	for (size_t i = 0; i < KH_AUDIT_SOURCES; i++) {
		struct source *s = &l->src[i];

		if (s->name[0] == '\0')
			continue;
		for (size_t k = 0; k <= OVERFLOW; k++) {
			struct fold *f = &s->folds[k];

			if (all || window_over(f, now_ms))
				close_fold(l, s, f, now_ms);
			else if (f->open && f->folded > 0 &&
				 (next == 0 || f->start_ms + KH_AUDIT_FOLD_MS < next))
				next = f->start_ms + KH_AUDIT_FOLD_MS;
		}
	}
	l->next_due = next;
	return next;
}
