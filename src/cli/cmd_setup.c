/* `keyhole setup`: the CA, a proxy token per provider key the operator has,
 * mappings.json, the audit log, and config.yaml switched on. Re-running it
 * keeps existing tokens (running sandboxes keep working) unless
 * --rotate-tokens, which asks first and backs the old mappings up. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls/ca.h"
#include "cli/cli.h"
#include "base/clock.h"
#include "cli/cmd_common.h"
#include "cli/config_edit.h"
#include "credsrc/credsrc.h"
#include "cli/discover.h"
#include "base/fsutil.h"
#include "policy/providers.h"

struct setup_opts {
	const char *home;
	long tunnel_port; /* -1: not given */
	bool from_bw, no_bw, rotate, yes;
};

static int parse(int argc, char **argv, struct setup_opts *o)
{
	static const struct option longopts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "tunnel-port", required_argument, NULL, 'p' },
		{ "from-bitwarden", no_argument, NULL, 'b' },
		{ "no-bitwarden", no_argument, NULL, 'n' },
		{ "rotate-tokens", no_argument, NULL, 'r' },
		{ "yes", no_argument, NULL, 'y' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t port;
	int ch;

	memset(o, 0, sizeof *o);
	o->tunnel_port = -1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "y", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			o->home = optarg;
			break;
		case 'b':
			o->from_bw = true;
			break;
		case 'n':
			o->no_bw = true;
			break;
		case 'r':
			o->rotate = true;
			break;
		case 'y':
			o->yes = true;
			break;
		case 'p':
			if (kh_parse_u64(optarg, 65535, &port) != 0 || port == 0)
				return kh_cli_usage_error("setup",
							  "--tunnel-port must be a TCP port "
							  "1-65535, got '%s'",
							  optarg);
			o->tunnel_port = (long)port;
			break;
		default:
			return kh_cli_usage_error("setup", "unknown or incomplete option '%s'",
						  argv[optind - 1]);
		}
	}
	if (optind < argc)
		return kh_cli_usage_error("setup", "unexpected argument '%s'", argv[optind]);
	if (o->from_bw && o->no_bw)
		return kh_cli_usage_error("setup",
					  "--from-bitwarden and --no-bitwarden contradict");
	return 0;
}

/* Which source the keys come from after this run. Never silently leaves
 * bitwarden: that needs --no-bitwarden. */
static enum kh_cred_source decide_source(const struct kh_cli_ctx *x, const struct setup_opts *o)
{
	if (o->from_bw)
		return KH_CRED_BITWARDEN;
	if (o->no_bw) {
		if (x->cfg.credential_source == KH_CRED_BITWARDEN)
			printf("  note          switching credential_source from bitwarden to "
			       "env\n");
		return KH_CRED_ENV;
	}
	if (x->cfg.credential_source == KH_CRED_BITWARDEN)
		printf("  note          keeping credential_source: bitwarden (use --no-bitwarden "
		       "to "
		       "switch to environment variables)\n");
	return x->cfg.credential_source;
}

/* Names the chosen source can provide (NULL list = look in the environment). */
static int source_names(struct kh_cli_ctx *x, enum kh_cred_source src, struct kh_secrets *s,
			const char ***names, size_t *n)
{
	struct kh_config cfg = x->cfg;
	struct kh_err err = { "" };

	*names = NULL;
	*n = 0;
	cfg.credential_source = src;
	if (kh_credsrc_of(&cfg)->reads_environ)
		return 0;
	if (kh_credsrc_fetch(&cfg, NULL, 0, s, &err) != 0) {
		kh_cli_fail(x, "%s", err.msg);
		return -1;
	}
	*names = calloc(s->n + 1, sizeof **names);
	if (*names == NULL)
		return -1;
	for (size_t i = 0; i < s->n; i++)
		(*names)[i] = s->items[i].name;
	*n = s->n;
	if (*n == 0) {
		kh_cli_fail(x, "the %s source returned no secrets; check %s",
			    kh_credsrc_of(&cfg)->name, kh_credsrc_of(&cfg)->check);
		return -1;
	}
	return 0;
}

static void print_supported(const struct kh_config *cfg)
{
	fprintf(stderr, "keyhole setup: no provider keys found. Set at least one of these and run "
			"setup again:\n");
	for (size_t i = 0; i < kh_providers_count; i++) {
		const char *alias = kh_providers[i].alias_env;

		const char *const *needs = kh_provider_requires(kh_providers[i].env_name);

		fprintf(stderr, "  %s%s%s%s%s%s%s\n", kh_providers[i].env_name,
			alias ? " (or " : "", alias ? alias : "", alias ? ")" : "",
			needs[0] ? " (with " : "", needs[0] ? needs[0] : "", needs[0] ? ")" : "");
	}
	for (size_t i = 0; i < cfg->n_providers; i++)
		fprintf(stderr, "  %s (custom provider in config.yaml)\n",
			cfg->providers[i].env_name);
}

static bool confirm_rotation(const struct setup_opts *o)
{
	char line[64];

	if (o->yes || !isatty(0))
		return true;
	fprintf(stderr, "--rotate-tokens gives every provider a new proxy token: sandboxes running "
			"with the old ones will be refused until restarted.\nType 'rotate' to "
			"confirm: ");
	if (fgets(line, sizeof line, stdin) == NULL)
		return false;
	line[strcspn(line, "\r\n")] = '\0';
	return strcmp(line, "rotate") == 0;
}

static int backup_mappings(struct kh_cli_ctx *x)
{
	char stamp[32], dst[KH_MAX_PATH + 48];
	struct kh_err err = { "" };

	kh_stamp_time(stamp, sizeof stamp);
	snprintf(dst, sizeof dst, "%s.rotated-%s", x->paths.mappings, stamp);
	for (int i = 2; kh_fs_exists(dst) && i < 100; i++) /* two rotations within a second */
		snprintf(dst, sizeof dst, "%s.rotated-%s-%d", x->paths.mappings, stamp, i);
	if (kh_fs_copy_private(x->paths.mappings, dst, KH_MAX_MAPPINGS_BYTES, &err) != 0) {
		kh_cli_fail(x, "cannot back up mappings.json before rotating: %s", err.msg);
		return -1;
	}
	printf("  backup        %s\n", dst);
	return 0;
}

static void print_mappings(const struct kh_mappings *m, const struct kh_mappings *old)
{
	for (size_t i = 0; i < m->n; i++) {
		char shown[48], hosts[256] = "";
		bool kept = false;

		kh_token_display(m->v[i].proxy_token, shown, sizeof shown);
		for (size_t h = 0; h < m->v[i].n_hosts; h++)
			kh_fmt(hosts + strlen(hosts), sizeof hosts - strlen(hosts), "%s%s",
			       h ? ", " : "", m->v[i].hosts[h]);
		for (size_t k = 0; k < old->n; k++)
			kept |= strcmp(old->v[k].proxy_token, m->v[i].proxy_token) == 0;
		printf("    %-22s %-34s %s%s\n", m->v[i].env_name, hosts, shown,
		       kept ? " (kept)" : "");
	}
}

static void warn_uncovered(const char *const *names, size_t n)
{
	const char *found[8];
	size_t k = kh_uncovered_present(names, n, found, 8);

	for (size_t i = 0; i < k; i++)
		if (kh_provider_is_sigv4(found[i]))
			printf("  warning       %s is set without the rest of its AWS key pair "
			       "(%s and %s are needed together): not mapped\n",
			       found[i], KH_AWS_KEY_ID_ENV, KH_AWS_SECRET_ENV);
		else
			printf("  warning       %s is set, but keyhole cannot swap it yet: a "
			       "sandbox "
			       "given it holds the real credential\n",
			       found[i]);
}

static int write_state(struct kh_cli_ctx *x, const struct setup_opts *o,
		       const struct kh_mappings *m, enum kh_cred_source src)
{
	char port[24];
	struct kh_config_set sets[3] = {
		{ "enabled", "true" },
		{ "credential_source", kh_cred_source_name(src) },
		{ "tunnel_port", port },
	};
	size_t n_sets = 2;
	struct kh_err err = { "" };
	int fd;

	if (kh_mappings_save(x->paths.mappings, m, &err) != 0)
		return kh_cli_fail(x, "%s", err.msg);
	fd = kh_fs_open_private(x->paths.audit, O_WRONLY | O_CREAT | O_APPEND, 0600, &err);
	if (fd < 0)
		return kh_cli_fail(x, "audit log: %s", err.msg);
	close(fd);
	if (o->tunnel_port > 0 || !x->cfg.file_existed) {
		snprintf(port, sizeof port, "%ld",
			 o->tunnel_port > 0 ? o->tunnel_port : (long)x->cfg.tunnel_port);
		n_sets = 3;
	}
	if (kh_config_update(x->paths.config, sets, n_sets, &err) != 0)
		return kh_cli_fail(x, "%s", err.msg);
	printf("  mappings      %s (%zu token(s))\n", x->paths.mappings, m->n);
	printf("  audit log     %s\n", x->paths.audit);
	printf("  config        %s (enabled: true, credential_source: %s)\n", x->paths.config,
	       kh_cred_source_name(src));
	return 0;
}

/* An existing CA may have had its modes loosened: put them back (the key
 * 0600, the certificate 0644) and say so, since a key others could read may
 * already be known to them. */
static int fix_ca_modes(struct kh_cli_ctx *x)
{
	struct kh_err err = { "" };
	struct stat st;
	int fd;

	if (lstat(x->paths.ca_key, &st) == 0 && (st.st_mode & 077) != 0)
		printf("  warning       %s was readable by group/other (mode %04o); tightened to "
		       "0600. If others could read it, remove ca.crt and ca.key and run setup "
		       "again\n",
		       x->paths.ca_key, (unsigned)(st.st_mode & 07777));
	fd = kh_fs_open_private(x->paths.ca_key, O_RDONLY, 0600, &err);
	if (fd < 0) {
		kh_cli_fail(x, "CA key: %s", err.msg);
		return -1;
	}
	close(fd);
	fd = open(x->paths.ca_crt, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchmod(fd, 0644) != 0) {
		kh_cli_fail(x, "CA certificate %s: %s", x->paths.ca_crt, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int make_ca(struct kh_cli_ctx *x)
{
	struct kh_err err = { "" };
	bool created = false;

	if (kh_fs_ensure_private_dir(x->paths.home, &err) != 0 ||
	    kh_ca_ensure(x->paths.ca_crt, x->paths.ca_key, &created, &err) != 0) {
		kh_cli_fail(x, "%s", err.msg);
		return -1;
	}
	printf("  CA            %s (%s)\n", x->paths.ca_crt, created ? "created" : "existing");
	return created ? 0 : fix_ca_modes(x);
}

static int run(struct kh_cli_ctx *x, const struct setup_opts *o)
{
	struct kh_mappings old = { 0 }, found = { 0 };
	struct kh_secrets s = { 0 };
	struct kh_err err = { "" };
	const char **names = NULL;
	size_t n = 0;
	enum kh_cred_source src;
	int rc = 1;

	printf("keyhole setup (%s)\n", x->paths.home);
	src = decide_source(x, o);
	if (make_ca(x) != 0 || kh_cli_mappings(x, &old) != 0 ||
	    source_names(x, src, &s, &names, &n) != 0)
		goto out;
	if (kh_discover(names, n, &found, &err) != 0 ||
	    kh_discover_custom(names, n, &x->cfg, &found, &err) != 0) {
		kh_cli_fail(x, "%s", err.msg);
		goto out;
	}
	if (found.n == 0) {
		print_supported(&x->cfg);
		goto out;
	}
	if (o->rotate && old.n > 0) {
		if (!confirm_rotation(o)) {
			kh_cli_fail(x, "rotation cancelled; nothing was changed");
			goto out;
		}
		if (backup_mappings(x) != 0)
			goto out;
	}
	if (kh_merge_tokens(&old, &found, o->rotate, &err) != 0) {
		kh_cli_fail(x, "%s", err.msg);
		goto out;
	}
	printf("  credentials   from %s:\n", kh_credsrc_by_id(src)->from);
	print_mappings(&found, &old);
	warn_uncovered(names, n);
	if (write_state(x, o, &found, src) != 0)
		goto out;
	printf("\nNext: keyhole start   (then: keyhole status, keyhole stop, keyhole disable)\n");
	rc = 0;
out:
	free(names);
	kh_secrets_free(&s);
	kh_mappings_free(&found);
	kh_mappings_free(&old);
	return rc;
}

int kh_cmd_setup(int argc, char **argv)
{
	struct setup_opts o;
	struct kh_cli_ctx x;
	int rc = parse(argc, argv, &o);

	if (rc != 0)
		return rc;
	if (kh_cli_open(&x, "setup", o.home) != 0)
		return KH_EXIT_FAIL;
	if (o.rotate && !kh_fs_exists(x.paths.mappings))
		printf("note: --rotate-tokens has nothing to rotate on a first setup\n");
	rc = run(&x, &o);
	kh_cli_close(&x);
	return rc;
}
