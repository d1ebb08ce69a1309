/* Where the state lives: --home over $KEYHOLE_HOME over $HOME/.keyhole (a
 * relative or empty $HOME is not trusted: the password database decides),
 * --config replacing only the config path, every file named inside the
 * home, and paths too long refused with a message rather than cut. */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/home.h"
#include "tap.h"

static void precedence(void)
{
	struct kh_paths p;
	struct kh_err err = { "" };
	struct passwd *pw = getpwuid(geteuid());
	char want[KH_MAX_PATH + 16];

	unsetenv("KEYHOLE_HOME");
	setenv("HOME", "/home/someone", 1);
	CHECK_INT(kh_paths_resolve(&p, NULL, NULL, &err), 0);
	CHECK_STR(p.home, "/home/someone/.keyhole");
	CHECK_STR(err.msg, "");
	setenv("KEYHOLE_HOME", "", 1); /* empty: as if unset */
	CHECK_INT(kh_paths_resolve(&p, NULL, NULL, &err), 0);
	CHECK_STR(p.home, "/home/someone/.keyhole");
	setenv("KEYHOLE_HOME", "/srv/kh", 1);
	CHECK_INT(kh_paths_resolve(&p, NULL, NULL, &err), 0);
	CHECK_STR(p.home, "/srv/kh");
	CHECK_INT(kh_paths_resolve(&p, "/opt/state", NULL, &err), 0);
	CHECK_STR(p.home, "/opt/state");
	CHECK_INT(kh_paths_resolve(&p, "", NULL, &err), 0); /* empty --home: not given */
	CHECK_STR(p.home, "/srv/kh");
	unsetenv("KEYHOLE_HOME");

	setenv("HOME", "relative/dir", 1);
	CHECK_INT(kh_paths_resolve(&p, NULL, NULL, &err), 0);
	if (pw != NULL) {
		snprintf(want, sizeof want, "%s/.keyhole", pw->pw_dir);
		CHECK_STR(p.home, want);
	}
	unsetenv("HOME");
	CHECK_INT(kh_paths_resolve(&p, NULL, NULL, &err), 0);
	if (pw != NULL)
		CHECK_STR(p.home, want);
}

static void files(void)
{
	struct kh_paths p;
	struct kh_err err = { "" };

	CHECK_INT(kh_paths_resolve(&p, "/s", "/etc/kh.yaml", &err), 0);
	CHECK_STR(p.config, "/etc/kh.yaml");
	CHECK_STR(p.ca_crt, "/s/ca.crt");
	CHECK_STR(p.ca_key, "/s/ca.key");
	CHECK_STR(p.mappings, "/s/mappings.json");
	CHECK_STR(p.pidfile, "/s/keyhole.pid");
	CHECK_STR(p.nonce, "/s/keyhole.nonce");
	CHECK_STR(p.log, "/s/keyhole.log");
	CHECK_STR(p.audit, "/s/audit.log");
	CHECK_STR(p.sock, "/s/proxy.sock");
	CHECK_STR(p.tls_sock, "/s/tls.sock");
	CHECK_STR(p.http_sock, "/s/http.sock");
	CHECK_STR(p.metrics, "/s/keyhole.metrics");
	CHECK_STR(p.control, "/s/control.sock");
	CHECK_STR(p.grants, "/s/grants.json");
	CHECK_INT(kh_paths_resolve(&p, "/s", NULL, &err), 0);
	CHECK_STR(p.config, "/s/config.yaml");
}

static void too_long(void)
{
	static char longp[KH_MAX_PATH + 8];
	struct kh_paths p;
	struct kh_err err = { "" };

	memset(longp, 'd', sizeof longp - 1);
	longp[0] = '/';
	CHECK_INT(kh_paths_resolve(&p, longp, NULL, &err), -1);
	CHECK(strstr(err.msg, "too long") != NULL);
	/* the home fits, a file inside it does not */
	longp[KH_MAX_PATH - 5] = '\0';
	CHECK_INT(kh_paths_resolve(&p, longp, NULL, &err), -1);
	CHECK(strstr(err.msg, "too long") != NULL);
	longp[KH_MAX_PATH - 5] = 'd';
	CHECK_INT(kh_paths_resolve(&p, "/s", longp, &err), -1);
	CHECK_STR(err.msg, "--config path is too long");
}

int main(void)
{
	RUN(precedence);
	RUN(files);
	RUN(too_long);
	TAP_DONE();
}
