#include "cli/cmd_common.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "cli/ctl_client.h"
#include "cli/state.h"

int kh_cli_open(struct kh_cli_ctx *x, const char *cmd, const char *home)
{
	struct kh_err err = { "" };

	memset(x, 0, sizeof *x); /* a zeroed kh_config is safe to free */
	x->cmd = cmd;
	if (kh_paths_resolve(&x->paths, home, NULL, &err) != 0 ||
	    kh_config_load(x->paths.config, &x->cfg, &err) != 0) {
		fprintf(stderr, "keyhole %s: %s\n", cmd, err.msg);
		kh_config_free(&x->cfg); /* a failed load may hold warnings */
		return -1;
	}
	for (size_t i = 0; i < x->cfg.n_warnings; i++)
		fprintf(stderr, "keyhole %s: warning: %s\n", cmd, x->cfg.warnings[i]);
	return 0;
}

void kh_cli_close(struct kh_cli_ctx *x)
{
	kh_config_free(&x->cfg);
}

int kh_cli_fail(const struct kh_cli_ctx *x, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "keyhole %s: ", x->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

int kh_cli_mappings(const struct kh_cli_ctx *x, struct kh_mappings *m)
{
	struct kh_err err = { "" };
	bool existed;

	if (kh_mappings_load(x->paths.mappings, m, &existed, &err) != 0) {
		kh_cli_fail(x, "%s (fix or move the file aside, then run `keyhole setup`)",
			    err.msg);
		return -1;
	}
	return 0;
}

/* keyhole.pid gone or stale while a daemon of this home still runs (the file
 * was removed by hand): control.sock names it. Only this user (or root) can
 * have bound it, in a 0700 home, and only a daemon of this home binds it. */
static bool daemon_on_control(const struct kh_cli_ctx *x, pid_t *pid)
{
	struct kh_ctl_status st;
	struct kh_err err = { "" };

	if (kh_ctl_status(x->paths.control, KH_CTL_PROBE_MS, &st, &err) != 0 ||
	    !kh_proc_alive(st.pid) || !kh_proc_is_keyhole(st.pid, NULL))
		return false;
	*pid = st.pid;
	return true;
}

bool kh_cli_daemon_running(const struct kh_cli_ctx *x, pid_t *pid)
{
	char nonce[KH_NONCE_LEN + 1] = "";

	if (kh_pidfile_read(x->paths.pidfile, pid) != 0 || !kh_proc_alive(*pid))
		return daemon_on_control(x, pid);
	if (kh_nonce_read(x->paths.nonce, nonce, sizeof nonce) != 0)
		nonce[0] = '\0';
	return kh_proc_is_keyhole(*pid, nonce) || daemon_on_control(x, pid);
}

/* Docker names allow more than labels do: keep the label-safe characters. */
static void label_part(const char *name, char *out, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; name[i] != '\0' && o + 1 < len; i++)
		if ((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '.' || name[i] == '_' ||
		    name[i] == '-')
			out[o++] = name[i];
	out[o] = '\0';
}

int kh_cli_sandbox_tokens(const struct kh_cli_ctx *x, const char *kind, const char *name,
			  struct kh_mappings *m, char *label)
{
	struct kh_err err = { "" };
	char part[32] = "";

	if (name != NULL)
		label_part(name, part, sizeof part);
	/* the pid keeps it unique among running sandboxes */
	snprintf(label, KH_GRANT_LABEL_MAX, part[0] ? "%s-%s-%ld" : "%s%s-%ld", kind, part,
		 (long)getpid());
	if (kh_ctl_issue_into(x->paths.control, label, x->cfg.sandbox_token_ttl,
			      x->cfg.sandbox_token_budget, getpid(), m, &err) != 0) {
		kh_cli_fail(x,
			    "cannot get sandbox tokens from the daemon: %s (a daemon started "
			    "by an older keyhole has no control socket: restart it)",
			    err.msg);
		return -1;
	}
	return 0;
}

void kh_cli_sandbox_revoke(const struct kh_cli_ctx *x, const char *label)
{
	struct kh_err err = { "" };

	if (kh_ctl_revoke_label(x->paths.control, label, &err) < 0)
		fprintf(stderr,
			"keyhole %s: warning: could not revoke the tokens of sandbox %s: %s "
			"(revoke them with keyhole token revoke --label %s; they expire after "
			"sandbox_tokens.ttl = %u s)\n",
			x->cmd, label, err.msg, label, x->cfg.sandbox_token_ttl);
}
