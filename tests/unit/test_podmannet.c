#include <arpa/inet.h>
#include <string.h>

#include "cli/podmannet.h"
#include "tap.h"

static int parse(const char *text, struct kh_podman_net *n)
{
	struct kh_err err = { "" };

	memset(n, 0, sizeof *n);
	return kh_podman_net_parse(text, true, n, &err);
}

static void gateway_found(void)
{
	struct kh_podman_net n;
	char ip[INET_ADDRSTRLEN];

	CHECK_INT(parse("cni-podman0 10.88.0.1\n", &n), 0);
	CHECK_STR(n.ifname, "cni-podman0");
	CHECK_STR(inet_ntop(AF_INET, &n.gateway, ip, sizeof ip), "10.88.0.1");
	/* dual stack: the IPv6 gateway is skipped, the IPv4 one taken */
	CHECK_INT(parse("podman0 fd00::1 192.168.77.1\n", &n), 0);
	CHECK_STR(n.ifname, "podman0");
	CHECK_STR(inet_ntop(AF_INET, &n.gateway, ip, sizeof ip), "192.168.77.1");
}

/* podman's Docker API answers in Docker's format: gateways, no bridge name */
static void api_gateway_found(void)
{
	struct kh_podman_net n;
	struct kh_err err = { "" };
	char ip[INET_ADDRSTRLEN];

	memset(&n, 'x', sizeof n);
	CHECK_INT(kh_podman_net_parse(" 10.88.0.1\n", false, &n, &err), 0);
	CHECK_STR(n.ifname, "");
	CHECK_STR(inet_ntop(AF_INET, &n.gateway, ip, sizeof ip), "10.88.0.1");
	CHECK_INT(kh_podman_net_parse("\n", false, &n, &err), -1);
	CHECK_INT(kh_podman_net_parse(" 1.2.3.4\n", false, &n, &err), -1);
}

static void refused(void)
{
	struct kh_podman_net n;

	CHECK_INT(parse("", &n), -1); /* no interface */
	CHECK_INT(parse("\n", &n), -1);
	CHECK_INT(parse("cni-podman0\n", &n), -1); /* no gateway */
	CHECK_INT(parse("podman0 fd00::1\n", &n), -1); /* IPv6 only */
	CHECK_INT(parse("podman0 8.8.8.1\n", &n), -1); /* public: never listened on */
	CHECK_INT(parse("podman0 127.0.0.1\n", &n), -1);
	CHECK_INT(parse("podman0 0.0.0.0\n", &n), -1);
	CHECK_INT(parse("a-very-long-interface-name 10.88.0.1", &n), -1);
	CHECK_INT(parse("pod$man0 10.88.0.1", &n), -1);
}

int main(void)
{
	RUN(gateway_found);
	RUN(api_gateway_found);
	RUN(refused);
	TAP_DONE();
}
