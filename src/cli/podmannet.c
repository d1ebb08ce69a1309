#include "cli/podmannet.h"

#include <arpa/inet.h>
#include <string.h>
#include <unistd.h>

#include "proxy/bridge.h"
#include "base/kh_limits.h"
#include "base/spawn.h"

#define INSPECT_FORMAT     "{{.NetworkInterface}}{{range .Subnets}} {{.Gateway}}{{end}}"
#define API_INSPECT_FORMAT "{{range .IPAM.Config}} {{.Gateway}}{{end}}"
#define COMPONENTS_FORMAT  "{{range .Server.Components}}{{.Name}}|{{end}}"
#define WORD_CHARS         "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"

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

int kh_podman_net_parse(const char *text, bool with_ifname, struct kh_podman_net *out,
			struct kh_err *err)
{
	char word[INET6_ADDRSTRLEN + 1];
	const char *p = text;

	out->ifname[0] = '\0';
	if (with_ifname && (next_word(&p, out->ifname, sizeof out->ifname) == 0 ||
			    out->ifname[strspn(out->ifname, WORD_CHARS)] != '\0')) {
		kh_err_set(err, "the network has no bridge interface (not a bridge network?)");
		return -1;
	}
	while (*p != '\0') {
		if (next_word(&p, word, sizeof word) == 0 ||
		    inet_pton(AF_INET, word, &out->gateway) != 1)
			continue; /* an IPv6 subnet's gateway */
		if (kh_bridge_addr_ok(out->gateway))
			return 0;
		kh_err_set(err,
			   "its gateway %s is not a private address (RFC 1918 or 100.64/10), "
			   "where keyhole never listens",
			   word);
		return -1;
	}
	kh_err_set(err, "the network has no IPv4 gateway");
	return -1;
}

/* argv's standard output in r, or -1 (err set, naming what) if it did not
 * succeed. */
static int capture(char *const argv[], const char *what, struct kh_spawn_result *r,
		   struct kh_err *err)
{
	extern char **environ;

	*r = (struct kh_spawn_result){ 0 };
	if (kh_spawn_capture(argv, environ, KH_PODMAN_INSPECT_MS, KH_PODMAN_INSPECT_MAX, r, err) !=
	    0)
		return -1;
	if (r->exit_code == 0)
		return 0;
	kh_err_set(err, "`%s %s` failed: %s", argv[0], what, r->err[0] ? r->err : "no message");
	kh_spawn_result_free(r);
	return -1;
}

int kh_podman_net_lookup(const char *cmd, enum kh_engine kind, const char *network,
			 struct kh_podman_net *out, struct kh_err *err)
{
	bool api = kind == KH_ENGINE_PODMAN_API;
	char *argv[] = { (char *)cmd,
			 "network",
			 "inspect",
			 "--format",
			 api ? API_INSPECT_FORMAT : INSPECT_FORMAT,
			 (char *)network,
			 NULL };
	struct kh_spawn_result r;
	int rc;

	if (capture(argv, "network inspect", &r, err) != 0)
		return -1;
	rc = kh_podman_net_parse(r.out, !api, out, err);
	kh_spawn_result_free(&r);
	return rc;
}

enum kh_engine kh_podman_detect(const char *cmd)
{
	char *version[] = { (char *)cmd, "--version", NULL };
	char *components[] = { (char *)cmd, "version", "--format", COMPONENTS_FORMAT, NULL };
	struct kh_err err = { "" };
	struct kh_spawn_result r;
	enum kh_engine kind = KH_ENGINE_DOCKER;

	if (capture(version, "--version", &r, &err) == 0) {
		/* podman names itself after argv[0] in lower case ("podman
		 * version 4.3.1", "docker version 4.3.1" through a symlink);
		 * Docker's CLI says "Docker version 28.2.2, build ..." */
		if (strncmp(r.out, "podman version ", 15) == 0 ||
		    strncmp(r.out, "docker version ", 15) == 0)
			kind = KH_ENGINE_PODMAN;
		kh_spawn_result_free(&r);
	}
	if (kind == KH_ENGINE_DOCKER && capture(components, "version", &r, &err) == 0) {
		if (strstr(r.out, "Podman Engine|") != NULL)
			kind = KH_ENGINE_PODMAN_API;
		kh_spawn_result_free(&r);
	}
	return kind;
}
