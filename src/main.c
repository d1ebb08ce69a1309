/* keyhole entry point: dispatches to the command table in cli.c. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static int wants_help(int argc, char **argv)
{
	/* docker, podman and sandbox carry another program's arguments (docker's
	 * -h is --hostname; a sandboxed `df -h` is df's): they handle --help
	 * themselves. */
	if (strcmp(argv[0], "docker") == 0 || strcmp(argv[0], "podman") == 0 ||
	    strcmp(argv[0], "sandbox") == 0)
		return 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return 0;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct kh_command *cmd;

	if (argc < 2) {
		kh_cli_print_help(stderr);
		return KH_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		if (argc > 2 && (cmd = kh_command_find(argv[2])) != NULL) {
			fputs(cmd->usage, stdout);
			return KH_EXIT_OK;
		}
		kh_cli_print_help(stdout);
		return KH_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		kh_cli_print_version(stdout);
		return KH_EXIT_OK;
	}
	cmd = kh_command_find(argv[1]);
	if (cmd == NULL) {
		fprintf(stderr, "keyhole: unknown command '%s'\nTry 'keyhole --help'.\n", argv[1]);
		return KH_EXIT_USAGE;
	}
	if (wants_help(argc - 1, argv + 1)) {
		fputs(cmd->usage, stdout);
		return KH_EXIT_OK;
	}
	if (cmd->run == NULL) {
		fprintf(stderr, "keyhole %s: not implemented yet\n", cmd->name);
		return KH_EXIT_USAGE;
	}
	return cmd->run(argc - 1, argv + 1);
}
