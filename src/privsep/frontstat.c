/* Front reports: confinement and metric deltas (frontstat.h). */
#include "privsep/frontstat.h"

#include <string.h>

#include "base/le.h"

enum {
	F_RLIMITS = 1,
	F_UID_DROPPED = 2,
	F_NO_NEW_PRIVS = 4,
	F_SECCOMP = 8,
	F_MASK = 15,
};

static void put32(uint8_t *p, uint32_t v)
{
	kh_le_put(p, v, 4);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)kh_le_get(p, 4);
}

int kh_frontstat_label_ok(const char *s, size_t n)
{
	if (n == 0 || n > KH_FRONTSTAT_LABEL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

void kh_frontstat_confine_encode(const struct kh_confine_report *r,
				 uint8_t out[KH_FRONTSTAT_CONFINE_LEN])
{
	int abi = r->landlock_abi < 0 ? 0 : r->landlock_abi;

	out[0] = KH_FRONTSTAT_VERSION;
	out[1] = (uint8_t)((r->rlimits ? F_RLIMITS : 0) | (r->uid_dropped ? F_UID_DROPPED : 0) |
			   (r->no_new_privs ? F_NO_NEW_PRIVS : 0) | (r->seccomp ? F_SECCOMP : 0));
	kh_le_put(out + 2, (uint64_t)abi, 2);
	put32(out + 4, (uint32_t)r->uid);
	put32(out + 8, (uint32_t)r->gid);
	put32(out + 12, r->nofile);
	put32(out + 16, (uint32_t)r->pid);
}

int kh_frontstat_confine_decode(const uint8_t *p, size_t n, struct kh_confine_report *r,
				struct kh_err *err)
{
	unsigned abi;

	if (n != KH_FRONTSTAT_CONFINE_LEN || p[0] != KH_FRONTSTAT_VERSION) {
		kh_err_set(err, "confinement report of %zu bytes, version %u (want %d, %d)", n,
			   n > 0 ? p[0] : 0, KH_FRONTSTAT_CONFINE_LEN, KH_FRONTSTAT_VERSION);
		return -1;
	}
	abi = (unsigned)kh_le_get(p + 2, 2);
	if ((p[1] & ~F_MASK) != 0 || abi > KH_FRONTSTAT_LANDLOCK) {
		kh_err_set(err, "confinement report with flags 0x%02x, landlock abi %u", p[1], abi);
		return -1;
	}
	*r = (struct kh_confine_report){ .rlimits = p[1] & F_RLIMITS,
					 .uid_dropped = p[1] & F_UID_DROPPED,
					 .no_new_privs = p[1] & F_NO_NEW_PRIVS,
					 .seccomp = p[1] & F_SECCOMP,
					 .landlock_abi = (int)abi,
					 .uid = (uid_t)get32(p + 4),
					 .gid = (gid_t)get32(p + 8),
					 .nofile = get32(p + 12),
					 .pid = (pid_t)get32(p + 16) };
	return 0;
}

static int count_ok(uint32_t n)
{
	return n >= 1 && n <= KH_FRONTSTAT_COUNT;
}

static size_t put_label(uint8_t *p, const char *s)
{
	size_t l = strlen(s);

	p[0] = (uint8_t)l;
	memcpy(p + 1, s, l);
	return l + 1;
}

ssize_t kh_frontstat_encode(const struct kh_frontstat *s, uint8_t *out, size_t cap)
{
	size_t at = KH_FRONTSTAT_HDR;

	if (cap < KH_FRONTSTAT_MAX || s->n_req > KH_FRONTSTAT_REQS || s->n_obs > KH_FRONTSTAT_OBS ||
	    s->active > KH_FRONTSTAT_COUNT)
		return -1;
	out[0] = KH_FRONTSTAT_VERSION;
	out[1] = (uint8_t)s->n_req;
	out[2] = (uint8_t)s->n_obs;
	out[3] = 0;
	put32(out + 4, s->active);
	for (size_t i = 0; i < s->n_req; i++) {
		const struct kh_frontstat_req *q = &s->req[i];

		if (!kh_frontstat_label_ok(q->decision, strnlen(q->decision, sizeof q->decision)) ||
		    !kh_frontstat_label_ok(q->reason, strnlen(q->reason, sizeof q->reason)) ||
		    !count_ok(q->n))
			return -1;
		at += put_label(out + at, q->decision);
		at += put_label(out + at, q->reason);
		put32(out + at, q->n);
		at += 4;
	}
	for (size_t i = 0; i < s->n_obs; i++) {
		const struct kh_frontstat_obs *o = &s->obs[i];

		if (!count_ok(o->n))
			return -1;
		out[at] = o->hist;
		put32(out + at + 1, (uint32_t)o->us);
		put32(out + at + 5, (uint32_t)(o->us >> 32));
		put32(out + at + 9, o->n);
		at += KH_FRONTSTAT_OBS_LEN;
	}
	return (ssize_t)at;
}

/* One label at p[*at..n) into dst (KH_FRONTSTAT_LABEL + 1 bytes). */
static int get_label(const uint8_t *p, size_t n, size_t *at, char *dst)
{
	size_t l;

	if (*at >= n)
		return -1;
	l = p[*at];
	if (l > n - *at - 1 || !kh_frontstat_label_ok((const char *)p + *at + 1, l))
		return -1;
	memcpy(dst, p + *at + 1, l);
	dst[l] = '\0';
	*at += l + 1;
	return 0;
}

static int get_req(const uint8_t *p, size_t n, size_t *at, struct kh_frontstat_req *q)
{
	if (get_label(p, n, at, q->decision) != 0 || get_label(p, n, at, q->reason) != 0 ||
	    n - *at < 4)
		return -1;
	q->n = get32(p + *at);
	*at += 4;
	return count_ok(q->n) ? 0 : -1;
}

static int get_obs(const uint8_t *p, size_t n, size_t *at, unsigned hist_count,
		   struct kh_frontstat_obs *o)
{
	if (n - *at < KH_FRONTSTAT_OBS_LEN)
		return -1;
	o->hist = p[*at];
	o->us = (uint64_t)get32(p + *at + 1) | (uint64_t)get32(p + *at + 5) << 32;
	o->n = get32(p + *at + 9);
	*at += KH_FRONTSTAT_OBS_LEN;
	return o->hist < hist_count && count_ok(o->n) ? 0 : -1;
}

int kh_frontstat_decode(const uint8_t *p, size_t n, unsigned hist_count, struct kh_frontstat *s,
			struct kh_err *err)
{
	size_t at = KH_FRONTSTAT_HDR;

	if (n < KH_FRONTSTAT_HDR || p[0] != KH_FRONTSTAT_VERSION || p[1] > KH_FRONTSTAT_REQS ||
	    p[2] > KH_FRONTSTAT_OBS || p[3] != 0 || get32(p + 4) > KH_FRONTSTAT_COUNT) {
		kh_err_set(err, "metrics report with a bad header (%zu bytes)", n);
		return -1;
	}
	s->n_req = p[1];
	s->n_obs = p[2];
	s->active = get32(p + 4);
	for (size_t i = 0; i < s->n_req; i++)
		if (get_req(p, n, &at, &s->req[i]) != 0)
			goto bad;
	for (size_t i = 0; i < s->n_obs; i++)
		if (get_obs(p, n, &at, hist_count, &s->obs[i]) != 0)
			goto bad;
	if (at != n)
		goto bad;
	return 0;
bad:
	kh_err_set(err, "metrics report with a bad entry at byte %zu of %zu", at, n);
	return -1;
}
