#include "podmannet.h"

#include <arpa/inet.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"
#include "kh_limits.h"
#include "spawn.h"

#define INSPECT_FORMAT "{{.NetworkInterface}}{{range .Subnets}} {{.Gateway}}{{end}}"
#define WORD_CHARS     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"

/* Copies the next space-separated word of *p into buf; 0 when none. */
static size_t next_word(const char **p, char *buf, size_t len)
{
	size_t n;

	*p += strspn(*p, " \t\r\n");
	n = strcspn(*p, " \t\r\n");
	if (n == 0 || n >= len) {
		*p += n;
		return n >= len ? 0 : n;
	}
	memcpy(buf, *p, n);
	buf[n] = '\0';
	*p += n;
	return n;
}

int kh_podman_net_parse(const char *text, struct kh_podman_net *out, struct kh_err *err)
{
	char word[INET6_ADDRSTRLEN + 1];
	const char *p = text;

	if (next_word(&p, out->ifname, sizeof out->ifname) == 0 ||
	    out->ifname[strspn(out->ifname, WORD_CHARS)] != '\0') {
		kh_err_set(err, "the network has no bridge interface (not a bridge network?)");
		return -1;
	}
	while (*p != '\0') {
		if (next_word(&p, word, sizeof word) == 0 ||
		    inet_pton(AF_INET, word, &out->gateway) != 1)
			continue; /* an IPv6 subnet's gateway */
		if (kh_bridge_addr_ok(out->gateway))
			return 0;
		kh_err_set(err, "its gateway %s is not a private address (RFC 1918 or 100.64/10), "
				"where keyhole never listens", word);
		return -1;
	}
	kh_err_set(err, "the network has no IPv4 gateway");
	return -1;
}

int kh_podman_net_lookup(const char *engine, const char *network, struct kh_podman_net *out,
			 struct kh_err *err)
{
	extern char **environ;
	char *argv[] = { (char *)engine, "network", "inspect", "--format", INSPECT_FORMAT,
			 (char *)network, NULL };
	struct kh_spawn_result r = { 0 };
	int rc = -1;

	if (kh_spawn_capture(argv, environ, KH_PODMAN_INSPECT_MS, KH_PODMAN_INSPECT_MAX, &r,
			     err) != 0)
		return -1;
	if (r.exit_code != 0)
		kh_err_set(err, "`%s network inspect %s` failed: %s", engine, network,
			   r.err[0] ? r.err : "no message");
	else
		rc = kh_podman_net_parse(r.out, out, err);
	kh_spawn_result_free(&r);
	return rc;
}
