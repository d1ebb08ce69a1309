#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

#include "policy/dnscache.h"
#include "tap.h"

static struct kh_dns_answer v4(const char *ip)
{
	struct kh_dns_answer a = { 0 };
	struct sockaddr_in *s = (struct sockaddr_in *)&a.addrs[0];

	s->sin_family = AF_INET;
	inet_pton(AF_INET, ip, &s->sin_addr);
	a.addrlens[0] = sizeof *s;
	a.n_addrs = 1;
	return a;
}

static const char *ip_of(const struct kh_dns_answer *a, size_t k, char *buf)
{
	const struct sockaddr_storage *ss = &a->addrs[k];

	if (ss->ss_family == AF_INET)
		return inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, 64);
	return inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, buf, 64);
}

static void kept_for_its_ttl(void)
{
	struct kh_dnscache *c = kh_dnscache_new(8);
	struct kh_dns_answer a = v4("192.0.2.7"), got;
	char buf[64];

	CHECK(!kh_dnscache_get(c, "api.example.com", 0, &got));
	kh_dnscache_put(c, "api.example.com", 1000, 30000, &a);
	CHECK(kh_dnscache_get(c, "API.Example.com", 30999, &got)); /* names ignore case */
	CHECK_INT(got.n_addrs, 1);
	CHECK(got.error == NULL);
	CHECK_STR(ip_of(&got, 0, buf), "192.0.2.7");
	CHECK_INT(got.addrlens[0], sizeof(struct sockaddr_in));
	CHECK(!kh_dnscache_get(c, "api.example.com", 31000, &got)); /* expired */
	CHECK(!kh_dnscache_get(c, "api.example.com", 1000, &got)); /* and gone */
	kh_dnscache_free(c);
}

static void negative_and_forget(void)
{
	struct kh_dnscache *c = kh_dnscache_new(8);
	struct kh_dns_answer a = { .error = "Domain name not found" }, got;

	kh_dnscache_put(c, "nx.example.com", 0, 5000, &a);
	CHECK(kh_dnscache_get(c, "nx.example.com", 4999, &got));
	CHECK_STR(got.error, "Domain name not found");
	CHECK_INT(got.n_addrs, 0);
	kh_dnscache_put(c, "nx.example.com", 0, 0, &a); /* ttl 0: forget */
	CHECK(!kh_dnscache_get(c, "nx.example.com", 1, &got));
	a = v4("192.0.2.1");
	kh_dnscache_put(c, "x.example.com", 0, 5000, &a);
	kh_dnscache_clear(c);
	CHECK(!kh_dnscache_get(c, "x.example.com", 1, &got));
	kh_dnscache_free(c);
}

/* Bounded: the least recently used name goes first. */
static void least_recently_used_goes(void)
{
	struct kh_dnscache *c = kh_dnscache_new(3);
	struct kh_dns_answer a = v4("192.0.2.1"), got;

	kh_dnscache_put(c, "a.test", 0, 60000, &a);
	kh_dnscache_put(c, "b.test", 0, 60000, &a);
	kh_dnscache_put(c, "c.test", 0, 60000, &a);
	CHECK(kh_dnscache_get(c, "a.test", 1, &got)); /* a is fresh again */
	kh_dnscache_put(c, "d.test", 1, 60000, &a);
	CHECK(!kh_dnscache_get(c, "b.test", 2, &got));
	CHECK(kh_dnscache_get(c, "a.test", 2, &got));
	CHECK(kh_dnscache_get(c, "c.test", 2, &got));
	CHECK(kh_dnscache_get(c, "d.test", 2, &got));
	/* a flood of new names keeps the cache at its size */
	for (int i = 0; i < 1000; i++) {
		char name[32];

		snprintf(name, sizeof name, "n%d.test", i);
		kh_dnscache_put(c, name, 3, 60000, &a);
	}
	CHECK(kh_dnscache_get(c, "n999.test", 4, &got));
	CHECK(!kh_dnscache_get(c, "n996.test", 4, &got));
	kh_dnscache_free(c);
}

static void ipv6_and_many_addresses(void)
{
	struct kh_dnscache *c = kh_dnscache_new(4);
	struct kh_dns_answer a = { 0 }, got;
	char buf[64];

	for (size_t k = 0; k < KH_MAX_ADDRS; k++) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&a.addrs[k];

		s->sin6_family = AF_INET6;
		inet_pton(AF_INET6, "2001:db8::1", &s->sin6_addr);
		s->sin6_addr.s6_addr[15] = (uint8_t)k;
		s->sin6_scope_id = (uint32_t)k;
		a.addrlens[k] = sizeof *s;
	}
	a.n_addrs = KH_MAX_ADDRS;
	kh_dnscache_put(c, "v6.test", 0, 1000, &a);
	CHECK(kh_dnscache_get(c, "v6.test", 0, &got));
	CHECK_INT(got.n_addrs, KH_MAX_ADDRS);
	CHECK_STR(ip_of(&got, 3, buf), "2001:db8::3");
	CHECK_INT(((struct sockaddr_in6 *)&got.addrs[5])->sin6_scope_id, 5);
	CHECK_INT(got.addrlens[15], sizeof(struct sockaddr_in6));
	kh_dnscache_free(c);
}

int main(void)
{
	RUN(kept_for_its_ttl);
	RUN(negative_and_forget);
	RUN(least_recently_used_goes);
	RUN(ipv6_and_many_addresses);
	TAP_DONE();
}
