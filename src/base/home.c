#include "base/home.h"

#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fsutil.h"

static const char *user_home(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h != NULL && h[0] == '/')
		return h;
	pw = getpwuid(geteuid());
	return pw != NULL ? pw->pw_dir : NULL;
}

static int resolve_home(char *out, size_t len, const char *override, struct kh_err *err)
{
	const char *env = getenv("KEYHOLE_HOME");
	const char *base;

	if (override != NULL && override[0] != '\0')
		return snprintf(out, len, "%s", override) < (int)len ? 0 : -1;
	if (env != NULL && env[0] != '\0')
		return snprintf(out, len, "%s", env) < (int)len ? 0 : -1;
	base = user_home();
	if (base == NULL) {
		kh_err_set(err,
			   "cannot find your home directory; set KEYHOLE_HOME or pass --home DIR");
		return -1;
	}
	return kh_path_join(out, len, base, ".keyhole");
}

int kh_paths_resolve(struct kh_paths *p, const char *home_override, const char *config_override,
		     struct kh_err *err)
{
	static const struct {
		size_t off;
		const char *name;
	} files[] = {
		{ offsetof(struct kh_paths, config), "config.yaml" },
		{ offsetof(struct kh_paths, ca_crt), "ca.crt" },
		{ offsetof(struct kh_paths, ca_key), "ca.key" },
		{ offsetof(struct kh_paths, mappings), "mappings.json" },
		{ offsetof(struct kh_paths, pidfile), "keyhole.pid" },
		{ offsetof(struct kh_paths, nonce), "keyhole.nonce" },
		{ offsetof(struct kh_paths, log), "keyhole.log" },
		{ offsetof(struct kh_paths, audit), "audit.log" },
		{ offsetof(struct kh_paths, sock), "proxy.sock" },
		{ offsetof(struct kh_paths, control), "control.sock" },
		{ offsetof(struct kh_paths, grants), "grants.json" },
		{ offsetof(struct kh_paths, tls_sock), "tls.sock" },
		{ offsetof(struct kh_paths, http_sock), "http.sock" },
		{ offsetof(struct kh_paths, metrics), "keyhole.metrics" },
		{ offsetof(struct kh_paths, resolver), "resolver" },
	};

	memset(p, 0, sizeof *p);
	kh_err_set(err, "state directory path is too long");
	if (resolve_home(p->home, sizeof p->home, home_override, err) != 0)
		return -1;
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		if (kh_path_join((char *)p + files[i].off, KH_MAX_PATH, p->home, files[i].name) !=
		    0)
			return -1;
	}
	if (config_override != NULL &&
	    snprintf(p->config, sizeof p->config, "%s", config_override) >= (int)sizeof p->config) {
		kh_err_set(err, "--config path is too long");
		return -1;
	}
	kh_err_clear(err);
	return 0;
}
