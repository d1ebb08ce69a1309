/* Socket-address helpers: prefix comparison at every bit boundary, the
 * IPv4 an IPv6 address stands for (each form named, the port kept, the
 * look-alikes not taken), unmapping, and printing. The deny list built on
 * these is tested in test_cidr.c. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "base/sockaddr.h"
#include "tap.h"

static struct sockaddr_storage v6(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

	a->sin6_family = AF_INET6;
	a->sin6_port = htons(port);
	inet_pton(AF_INET6, ip, &a->sin6_addr);
	return ss;
}

static void prefixes(void)
{
	const uint8_t a[4] = { 0xc0, 0xa8, 0x01, 0x80 }, b[4] = { 0xc0, 0xa8, 0x01, 0x00 };

	CHECK(kh_addr_prefix_equal(a, b, 0));
	CHECK(kh_addr_prefix_equal(a, b, 24));
	CHECK(!kh_addr_prefix_equal(a, b, 25));
	CHECK(!kh_addr_prefix_equal(a, b, 32));
	CHECK(kh_addr_prefix_equal(a, a, 32));
	const uint8_t c[2] = { 0xfe, 0x80 }, d[2] = { 0xfe, 0xbf }, e[2] = { 0xfe, 0xc0 };

	CHECK(kh_addr_prefix_equal(c, d, 10)); /* fe80::/10 holds febf:: */
	CHECK(!kh_addr_prefix_equal(c, e, 10));
	CHECK(kh_addr_prefix_equal(c, e, 9));
}

/* The embedded IPv4 of ip as text, and the form's name; "" if none. */
static const char *embedded(const char *ip, char *out, size_t len, uint16_t *port)
{
	struct sockaddr_storage ss = v6(ip, 8443), v4;
	const char *name = kh_sockaddr_embedded_v4((struct sockaddr *)&ss, &v4);

	out[0] = '\0';
	*port = 0;
	if (name == NULL)
		return "";
	kh_sockaddr_ip((struct sockaddr *)&v4, out, len);
	*port = ntohs(((struct sockaddr_in *)&v4)->sin_port);
	CHECK_INT(v4.ss_family, AF_INET);
	return name;
}

static void embedded_forms(void)
{
	char ip[64];
	uint16_t port;

	CHECK_STR(embedded("::ffff:169.254.169.254", ip, sizeof ip, &port), "IPv4-mapped");
	CHECK_STR(ip, "169.254.169.254");
	CHECK_INT(port, 8443);
	CHECK_STR(embedded("64:ff9b::a9fe:a9fe", ip, sizeof ip, &port), "NAT64");
	CHECK_STR(ip, "169.254.169.254");
	CHECK_STR(embedded("2002:7f00:1:abcd::1", ip, sizeof ip, &port), "6to4");
	CHECK_STR(ip, "127.0.0.1");
	CHECK_STR(embedded("::10.0.0.1", ip, sizeof ip, &port), "IPv4-compatible");
	CHECK_STR(ip, "10.0.0.1");
	/* look-alikes that carry no IPv4 */
	CHECK_STR(embedded("::1", ip, sizeof ip, &port), "");
	CHECK_STR(embedded("::", ip, sizeof ip, &port), "");
	CHECK_STR(embedded("64:ff9b:1::a9fe:a9fe", ip, sizeof ip, &port), "");
	CHECK_STR(embedded("2003:7f00:1::", ip, sizeof ip, &port), "");
	CHECK_STR(embedded("::fffe:a9fe:a9fe", ip, sizeof ip, &port), "");
	CHECK_STR(embedded("2606:4700::1111", ip, sizeof ip, &port), "");
}

static void unmap_and_print(void)
{
	struct sockaddr_storage m = v6("::ffff:10.9.8.7", 80), n = v6("2001:db8::1", 80), out;
	struct sockaddr_un u = { .sun_family = AF_UNIX };
	char ip[64];

	CHECK(kh_sockaddr_unmap((struct sockaddr *)&m, &out));
	kh_sockaddr_ip((struct sockaddr *)&out, ip, sizeof ip);
	CHECK_STR(ip, "10.9.8.7");
	CHECK_INT(ntohs(((struct sockaddr_in *)&out)->sin_port), 80);
	CHECK(!kh_sockaddr_unmap((struct sockaddr *)&n, &out));
	CHECK(!kh_sockaddr_unmap((struct sockaddr *)&out, &out)); /* already IPv4 */
	kh_sockaddr_ip((struct sockaddr *)&n, ip, sizeof ip);
	CHECK_STR(ip, "2001:db8::1");
	kh_sockaddr_ip((struct sockaddr *)&u, ip, sizeof ip);
	CHECK_STR(ip, "?");
}

int main(void)
{
	RUN(prefixes);
	RUN(embedded_forms);
	RUN(unmap_and_print);
	TAP_DONE();
}
