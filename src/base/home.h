/* Where keyhole keeps its state: KEYHOLE_HOME (default ~/.keyhole) and the
 * fixed file names inside it. Resolution is pure: nothing is created here. */
#ifndef KH_HOME_H
#define KH_HOME_H

#include "base/err.h"
#include "base/kh_limits.h"

struct kh_paths {
	char home[KH_MAX_PATH];
	char config[KH_MAX_PATH]; /* config.yaml (or --config) */
	char ca_crt[KH_MAX_PATH];
	char ca_key[KH_MAX_PATH];
	char mappings[KH_MAX_PATH];
	char pidfile[KH_MAX_PATH];
	char nonce[KH_MAX_PATH];
	char log[KH_MAX_PATH];
	char audit[KH_MAX_PATH];
	char sock[KH_MAX_PATH]; /* proxy.sock: the proxy on a Unix socket, for sandboxes */
	char tls_sock[KH_MAX_PATH]; /* tls.sock: transparent TLS (a sandbox's port 443) */
	char http_sock[KH_MAX_PATH]; /* http.sock: transparent HTTP (a sandbox's port 80) */
	char metrics[KH_MAX_PATH]; /* keyhole.metrics: "ip:port" of the running metrics listener */
	char control[KH_MAX_PATH]; /* control.sock: sandbox tokens (ctl_server.h) */
	char grants[KH_MAX_PATH]; /* grants.json: the sandbox tokens issued */
	char resolver[KH_MAX_PATH]; /* resolver/: the daemon's copies of /etc/hosts and resolv.conf */
};

/* home_override (--home) wins over $KEYHOLE_HOME, which wins over ~/.keyhole.
 * config_override (--config) replaces only the config path. Both may be NULL. */
int kh_paths_resolve(struct kh_paths *p, const char *home_override, const char *config_override,
		     struct kh_err *err);

#endif
