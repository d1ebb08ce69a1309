/* `keyhole proxy`: run the daemon in the foreground. */
#include <getopt.h>

#include "cli/cli.h"
#include "proxy/daemon.h"

int kh_cmd_proxy(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "config", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	struct kh_daemon_opts o = { NULL, NULL, NULL };
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			o.home = optarg;
			break;
		case 'c':
			o.config = optarg;
			break;
		case 'l':
			o.log_level = optarg;
			break;
		default:
			return kh_cli_usage_error("proxy", "unknown or incomplete option '%s'",
						  argv[optind - 1]);
		}
	}
	if (optind < argc)
		return kh_cli_usage_error("proxy", "unexpected argument '%s'", argv[optind]);
	return kh_daemon_run(&o);
}
