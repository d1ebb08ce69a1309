/* `keyhole disable`: enabled: false in config.yaml, everything else in the
 * file untouched. A running daemon is left running (and said so). */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/cmd_common.h"
#include "cli/config_edit.h"

int kh_cmd_disable(int argc, char **argv)
{
	static const struct option longopts[] = { { "home", required_argument, NULL, 'H' },
						  { NULL, 0, NULL, 0 } };
	static const struct kh_config_set off = { "enabled", "false" };
	struct kh_cli_ctx x;
	struct kh_err err = { "" };
	const char *home = NULL;
	pid_t pid;
	int ch, rc = KH_EXIT_OK;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch != 'H')
			return kh_cli_usage_error("disable", "unknown or incomplete option '%s'",
						  argv[optind - 1]);
		home = optarg;
	}
	if (optind < argc)
		return kh_cli_usage_error("disable", "unexpected argument '%s'", argv[optind]);
	if (kh_cli_open(&x, "disable", home) != 0)
		return KH_EXIT_FAIL;
	if (!x.cfg.enabled) {
		printf("keyhole was already disabled\n");
	} else if (kh_config_update(x.paths.config, &off, 1, &err) != 0) {
		rc = kh_cli_fail(&x, "%s", err.msg);
	} else {
		printf("keyhole disabled (enabled: false in %s)\n", x.paths.config);
	}
	if (rc == KH_EXIT_OK && kh_cli_daemon_running(&x, &pid))
		printf("the daemon is still running (pid %d); stop it with `keyhole stop`\n",
		       (int)pid);
	kh_cli_close(&x);
	return rc;
}
