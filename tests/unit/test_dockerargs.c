#include <arpa/inet.h>
#include <stdlib.h>

#include "proxy/bridge.h"
#include "cli/dockerargs.h"
#include "tap.h"

static struct kh_mappings maps;
static char tok[] = "keyhole-openai-0123456789abcdef0123456789abcdef";

static void setup(void)
{
	static struct kh_mapping m;
	static char hosts[1][KH_HOST_BUF + 2] = { "api.openai.com" };

	snprintf(m.proxy_token, sizeof m.proxy_token, "%s", tok);
	snprintf(m.env_name, sizeof m.env_name, "OPENAI_API_KEY");
	m.hosts = hosts;
	m.n_hosts = 1;
	maps.v = &m;
	maps.n = 1;
}

static int warnings;
static void count_warning(const char *line)
{
	(void)line;
	warnings++;
}

static bool has(const struct kh_argv *a, const char *flag, const char *value)
{
	for (size_t i = 0; i + 1 < a->n; i++)
		if (strcmp(a->v[i], flag) == 0 && strcmp(a->v[i + 1], value) == 0)
			return true;
	return false;
}

static int run(const struct kh_user_env *u, size_t n, bool enforce, struct kh_argv *out, char *node)
{
	struct kh_docker_in in = {
		"/home/u/.keyhole/ca.crt", 9090, &maps, NULL, u, n, enforce, NULL
	};
	struct kh_err err;

	memset(out, 0, sizeof *out);
	return kh_docker_args(&in, out, node, 512, count_warning, &err);
}

static void full_argument_set(void)
{
	struct kh_argv a;
	char node[512];

	CHECK_INT(run(NULL, 0, true, &a, node), 0);
	CHECK(has(&a, "-v", "/home/u/.keyhole/ca.crt:/etc/ssl/certs/hermes-egress-ca.crt:ro"));
	CHECK(has(&a, "--add-host", "host.docker.internal:host-gateway"));
	CHECK(has(&a, "-e", "HTTPS_PROXY=http://host.docker.internal:9090"));
	CHECK(has(&a, "-e", "http_proxy=http://host.docker.internal:9090"));
	CHECK(has(&a, "-e", "NO_PROXY=127.0.0.1,localhost,::1"));
	CHECK(has(&a, "-e", "SSL_CERT_FILE=/etc/ssl/certs/hermes-egress-ca.crt"));
	CHECK(has(&a, "-e", "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/hermes-egress-ca.crt"));
	CHECK(has(&a, "-e", "HERMES_EGRESS_PROXY=1"));
	CHECK(has(&a, "-e",
		  "HERMES_PROXY_TOKEN_OPENAI_API_KEY=keyhole-openai-"
		  "0123456789abcdef0123456789abcdef"));
	CHECK(has(&a, "-e", "OPENAI_API_KEY=keyhole-openai-0123456789abcdef0123456789abcdef"));
	CHECK(has(&a, "-e", "NODE_OPTIONS=--use-openssl-ca"));
	kh_argv_free(&a);
}

/* podman writes `host-gateway` literally into /etc/hosts: it gets the address */
static void podman_gateway(void)
{
	struct kh_docker_in in = { "/ca.crt", 9090, &maps, NULL, NULL, 0, true, "10.88.0.1" };
	struct kh_err err;
	struct kh_argv a = { 0 };
	char node[512];

	CHECK_INT(kh_docker_args(&in, &a, node, sizeof node, count_warning, &err), 0);
	CHECK(has(&a, "--add-host", "host.docker.internal:10.88.0.1"));
	CHECK(!has(&a, "--add-host", "host.docker.internal:host-gateway"));
	CHECK(has(&a, "-e", "HTTPS_PROXY=http://host.docker.internal:9090"));
	kh_argv_free(&a);
}

static void collisions_refused_or_warned(void)
{
	struct kh_user_env proxy[] = { { "HTTPS_PROXY", "http://evil:1" } };
	struct kh_user_env key[] = { { "OPENAI_API_KEY", "sk-real" } };
	struct kh_user_env same[] = { { "OPENAI_API_KEY", tok }, { "LANG", "C" } };
	struct kh_argv a;
	char node[512];

	CHECK_INT(run(proxy, 1, true, &a, node), -1);
	kh_argv_free(&a);
	CHECK_INT(run(key, 1, true, &a, node), -1); /* a real key in the container */
	kh_argv_free(&a);
	warnings = 0;
	CHECK_INT(run(key, 1, false, &a, node), 0); /* not enforcing: warn, user wins */
	CHECK_INT(warnings, 1);
	kh_argv_free(&a);
	CHECK_INT(run(same, 2, true, &a, node), 0); /* agreeing values are no collision */
	kh_argv_free(&a);
}

static void node_options_merge(void)
{
	char out[256];

	kh_node_options_merge("--max-old-space-size=8192", out, sizeof out);
	CHECK_STR(out, "--max-old-space-size=8192 --use-openssl-ca");
	kh_node_options_merge("--use-openssl-ca --x", out, sizeof out);
	CHECK_STR(out, "--use-openssl-ca --x"); /* no duplicate */
	kh_node_options_merge("--use-openssl-caX", out, sizeof out);
	CHECK_STR(out, "--use-openssl-caX --use-openssl-ca"); /* whole words only */
	kh_node_options_merge(NULL, out, sizeof out);
	CHECK_STR(out, "--use-openssl-ca");
	kh_node_options_merge("  ", out, sizeof out);
	CHECK_STR(out, "--use-openssl-ca");
}

static bool ok(const char *ip)
{
	struct in_addr a;

	inet_pton(AF_INET, ip, &a);
	return kh_bridge_addr_ok(a);
}

static void bridge_address_validation(void)
{
	CHECK(ok("172.17.0.1"));
	CHECK(ok("10.1.2.3"));
	CHECK(ok("192.168.5.1"));
	CHECK(!ok("0.0.0.0"));
	CHECK(!ok("127.0.0.1"));
	CHECK(!ok("169.254.1.1"));
	CHECK(!ok("224.0.0.1"));
	CHECK(!ok("255.255.255.255"));
	CHECK(!ok("8.8.8.8"));
	CHECK(!ok("172.32.0.1"));
}

int main(void)
{
	setup();
	RUN(full_argument_set);
	RUN(podman_gateway);
	RUN(collisions_refused_or_warned);
	RUN(node_options_merge);
	RUN(bridge_address_validation);
	TAP_DONE();
}
