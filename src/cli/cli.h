/* The command table behind `keyhole <command>`: names, one-line summaries,
 * full --help texts and entry points. main.c only dispatches through it. Each
 * command lives in its own cmd_<name>.c. Exit codes everywhere: 0 success,
 * 1 refused or failed, 2 usage error (or not implemented yet). */
#ifndef KH_CLI_H
#define KH_CLI_H

#include <stdio.h>

enum { KH_EXIT_OK = 0, KH_EXIT_FAIL = 1, KH_EXIT_USAGE = 2 };

struct kh_command {
	const char *name;
	const char *summary;
	const char *usage; /* printed by `keyhole <name> --help` */
	int (*run)(int argc,
		   char **argv); /* argv[0] is the command name; NULL: not implemented yet */
};

/* The table, terminated by an entry with name == NULL. */
extern const struct kh_command kh_commands[];

const struct kh_command *kh_command_find(const char *name);
void kh_cli_print_help(FILE *out);
void kh_cli_print_version(FILE *out);

/* Prints "keyhole <cmd>: <msg>\nTry 'keyhole <cmd> --help'." and returns 2. */
int kh_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Command entry points (cmd_*.c). */
int kh_cmd_proxy(int argc, char **argv);
int kh_cmd_bench(int argc, char **argv);
int kh_cmd_setup(int argc, char **argv);
int kh_cmd_start(int argc, char **argv);
int kh_cmd_stop(int argc, char **argv);
int kh_cmd_reload(int argc, char **argv);
int kh_cmd_status(int argc, char **argv);
int kh_cmd_config(int argc, char **argv);
int kh_cmd_disable(int argc, char **argv);
int kh_cmd_docker(int argc, char **argv);
int kh_cmd_podman(int argc, char **argv);
int kh_cmd_token(int argc, char **argv);
int kh_cmd_log(int argc, char **argv);
int kh_cmd_sandbox(int argc, char **argv);
int kh_cmd_sandbox_init(int argc, char **argv);

#endif
