#include "cli.h"

#include <stdarg.h>
#include <string.h>

#include <openssl/opensslv.h>

#include "version.h"

#define HOME_OPTS \
	"  --home DIR       state directory (default: $KEYHOLE_HOME, else ~/.keyhole)\n"

const struct kh_command kh_commands[] = {
	{ "proxy", "run the proxy daemon in the foreground",
	  "Usage: keyhole proxy [--home DIR] [--config FILE] [--log-level LEVEL]\n"
	  "\n"
	  "Runs the egress proxy in the foreground until SIGTERM or SIGINT.\n"
	  "It listens on 127.0.0.1:<tunnel_port> (default 9090) plus any `listen:`\n"
	  "addresses, accepts HTTP CONNECT (TLS is intercepted with keyhole's CA) and\n"
	  "absolute-form HTTP, allows only listed hosts, refuses private and metadata\n"
	  "addresses after DNS, swaps proxy tokens for the real keys taken from this\n"
	  "process's environment, and appends one JSON line per request to audit.log.\n"
	  "A missing CA is created on first run.\n"
	  "\n"
	  "Options:\n" HOME_OPTS
	  "  --config FILE    configuration file (default: <home>/config.yaml; absent = defaults)\n"
	  "  --log-level L    debug, info, warn or error (default: info, or log_level:)\n",
	  kh_cmd_proxy },
	{ "setup", "create the CA and proxy tokens for the keys in your environment",
	  "Usage: keyhole setup [--home DIR] [--tunnel-port N] [--from-bitwarden | --no-bitwarden]\n"
	  "                     [--rotate-tokens] [--yes]\n",
	  NULL },
	{ "start", "start the daemon in the background",
	  "Usage: keyhole start [--home DIR]\n", NULL },
	{ "stop", "stop the background daemon",
	  "Usage: keyhole stop [--home DIR]\n", NULL },
	{ "status", "show whether keyhole is set up and running",
	  "Usage: keyhole status [--home DIR] [--show-tokens] [--json]\n", NULL },
	{ "disable", "turn keyhole off (enabled: false)",
	  "Usage: keyhole disable [--home DIR]\n", NULL },
	{ "config", "print the effective configuration",
	  "Usage: keyhole config [--home DIR]\n", NULL },
	{ "reload", "make the running daemon re-read its configuration",
	  "Usage: keyhole reload [--home DIR]\n", NULL },
	{ "docker", "print or apply `docker run` arguments for a sandbox",
	  "Usage: keyhole docker args [--env-file F] [--format shell|json|lines]\n"
	  "       keyhole docker run [docker run arguments...]\n",
	  NULL },
	{ "sandbox", "run a command in namespaces that can only reach keyhole",
	  "Usage: keyhole sandbox [--allow-host H]... -- COMMAND [ARGS...]\n", NULL },
	{ "bench", "load generator for benchmarks",
	  "Usage: keyhole bench [options]\n", NULL },
	{ NULL, NULL, NULL, NULL },
};

const struct kh_command *kh_command_find(const char *name)
{
	for (const struct kh_command *c = kh_commands; c->name != NULL; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

void kh_cli_print_help(FILE *out)
{
	fprintf(out,
		"keyhole %s - egress credential-injection firewall for AI-agent sandboxes\n"
		"\n"
		"Usage: keyhole <command> [options]\n"
		"\n"
		"Commands:\n",
		KH_VERSION);
	for (const struct kh_command *c = kh_commands; c->name != NULL; c++)
		fprintf(out, "  %-9s %s%s\n", c->name, c->summary, c->run ? "" : " (not implemented yet)");
	fprintf(out, "\n"
		     "Options:\n"
		     "  -h, --help       show this help; `keyhole <command> --help` for a command\n"
		     "  -V, --version    print the version\n"
		     "\n"
		     "State lives in $KEYHOLE_HOME (default ~/.keyhole).\n");
}

void kh_cli_print_version(FILE *out)
{
	fprintf(out, "keyhole %s (%s)\n", KH_VERSION, OPENSSL_VERSION_TEXT);
}

int kh_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "keyhole %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'keyhole %s --help'.\n", cmd);
	return KH_EXIT_USAGE;
}
