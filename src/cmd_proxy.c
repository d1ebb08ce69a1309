/* `keyhole proxy`: run the daemon in the foreground. */
#include "cli.h"

int kh_cmd_proxy(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "keyhole proxy: not implemented yet\n");
	return KH_EXIT_USAGE;
}
