#include "policy/dnscache.h"

#include <ctype.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/hostname.h"

/* One name, its addresses stored compactly (16 bytes each, not a whole
 * sockaddr_storage): a full cache is about 0.4 MB. */
struct entry {
	char host[KH_HOST_BUF]; /* "": unused */
	uint64_t expires_ms;
	const char *error;
	uint8_t n_addrs;
	uint8_t family[KH_MAX_ADDRS]; /* 4 or 6 */
	uint8_t ip[KH_MAX_ADDRS][16];
	uint32_t scope[KH_MAX_ADDRS]; /* IPv6 scope id */
	int hnext; /* next in its bucket, or in the free list */
	int newer, older; /* recency list */
};

struct kh_dnscache {
	size_t n;
	int *bucket;
	int free_slot;
	int newest, oldest;
	struct entry *e;
};

static unsigned hash(const char *s, size_t n)
{
	unsigned h = 2166136261u; /* FNV-1a, case-insensitive */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned)tolower((unsigned char)*s)) * 16777619u;
	return h % n;
}

void kh_dnscache_clear(struct kh_dnscache *c)
{
	for (size_t i = 0; i < c->n; i++) {
		c->bucket[i] = -1;
		c->e[i].host[0] = '\0';
		c->e[i].hnext = i + 1 < c->n ? (int)i + 1 : -1;
	}
	c->free_slot = 0;
	c->newest = c->oldest = -1;
}

struct kh_dnscache *kh_dnscache_new(size_t entries)
{
	struct kh_dnscache *c = calloc(1, sizeof *c);

	if (c == NULL || entries == 0)
		goto fail;
	c->n = entries;
	c->bucket = calloc(entries, sizeof *c->bucket);
	c->e = calloc(entries, sizeof *c->e);
	if (c->bucket == NULL || c->e == NULL)
		goto fail;
	kh_dnscache_clear(c);
	return c;
fail:
	kh_dnscache_free(c);
	return NULL;
}

void kh_dnscache_free(struct kh_dnscache *c)
{
	if (c == NULL)
		return;
	free(c->bucket);
	free(c->e);
	free(c);
}

/* --- recency list --- */

static void unlink_recent(struct kh_dnscache *c, int i)
{
	struct entry *e = &c->e[i];

	if (e->newer >= 0)
		c->e[e->newer].older = e->older;
	else
		c->newest = e->older;
	if (e->older >= 0)
		c->e[e->older].newer = e->newer;
	else
		c->oldest = e->newer;
}

static void make_newest(struct kh_dnscache *c, int i)
{
	struct entry *e = &c->e[i];

	e->newer = -1;
	e->older = c->newest;
	if (c->newest >= 0)
		c->e[c->newest].newer = i;
	c->newest = i;
	if (c->oldest < 0)
		c->oldest = i;
}

/* --- entries --- */

static int find(const struct kh_dnscache *c, const char *host)
{
	for (int i = c->bucket[hash(host, c->n)]; i >= 0; i = c->e[i].hnext)
		if (strcasecmp(c->e[i].host, host) == 0)
			return i;
	return -1;
}

static void drop(struct kh_dnscache *c, int i)
{
	int *link = &c->bucket[hash(c->e[i].host, c->n)];

	while (*link != i)
		link = &c->e[*link].hnext;
	*link = c->e[i].hnext;
	unlink_recent(c, i);
	c->e[i].host[0] = '\0';
	c->e[i].hnext = c->free_slot;
	c->free_slot = i;
}

static void store(struct entry *e, const struct kh_dns_answer *a)
{
	e->error = a->error;
	e->n_addrs = 0;
	for (size_t k = 0; k < a->n_addrs && k < KH_MAX_ADDRS; k++) {
		const struct sockaddr_storage *ss = &a->addrs[k];
		uint8_t n = e->n_addrs;

		if (ss->ss_family == AF_INET) {
			e->family[n] = 4;
			memcpy(e->ip[n], &((const struct sockaddr_in *)ss)->sin_addr, 4);
		} else if (ss->ss_family == AF_INET6) {
			e->family[n] = 6;
			memcpy(e->ip[n], &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
			e->scope[n] = ((const struct sockaddr_in6 *)ss)->sin6_scope_id;
		} else {
			continue;
		}
		e->n_addrs++;
	}
}

static void load(const struct entry *e, struct kh_dns_answer *a)
{
	memset(a, 0, sizeof *a);
	a->error = e->error;
	for (uint8_t k = 0; k < e->n_addrs; k++) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a->addrs[k];
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->addrs[k];

		if (e->family[k] == 4) {
			s4->sin_family = AF_INET;
			memcpy(&s4->sin_addr, e->ip[k], 4);
			a->addrlens[k] = sizeof *s4;
		} else {
			s6->sin6_family = AF_INET6;
			memcpy(&s6->sin6_addr, e->ip[k], 16);
			s6->sin6_scope_id = e->scope[k];
			a->addrlens[k] = sizeof *s6;
		}
	}
	a->n_addrs = e->n_addrs;
}

bool kh_dnscache_get(struct kh_dnscache *c, const char *host, uint64_t now_ms,
		     struct kh_dns_answer *out)
{
	int i = find(c, host);

	if (i < 0)
		return false;
	if (now_ms >= c->e[i].expires_ms) {
		drop(c, i);
		return false;
	}
	unlink_recent(c, i);
	make_newest(c, i);
	load(&c->e[i], out);
	return true;
}

void kh_dnscache_put(struct kh_dnscache *c, const char *host, uint64_t now_ms, uint64_t ttl_ms,
		     const struct kh_dns_answer *a)
{
	int i = find(c, host);
	unsigned b;

	if (i >= 0)
		drop(c, i);
	if (ttl_ms == 0 || host[0] == '\0' || strlen(host) >= KH_HOST_BUF)
		return;
	if (c->free_slot < 0)
		drop(c, c->oldest);
	i = c->free_slot;
	c->free_slot = c->e[i].hnext;
	memcpy(c->e[i].host, host, strlen(host) + 1);
	c->e[i].expires_ms = now_ms + ttl_ms;
	store(&c->e[i], a);
	b = hash(host, c->n);
	c->e[i].hnext = c->bucket[b];
	c->bucket[b] = i;
	make_newest(c, i);
}
