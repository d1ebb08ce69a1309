#include "proxy/front_proc.h"
#include "proxy/signer_proc.h"
#include "proxy/keyholder_probe.h"
#include "cli/cli.h"

#include <stdarg.h>
#include <string.h>

#include <openssl/opensslv.h>

#include "base/version.h"

#define HOME_OPTS "  --home DIR       state directory (default: $KEYHOLE_HOME, else ~/.keyhole)\n"

const struct kh_command kh_commands[] = {
	{ "proxy", "run the proxy daemon in the foreground",
	  "Usage: keyhole proxy [--home DIR] [--config FILE] [--log-level LEVEL]\n"
	  "\n"
	  "Runs the egress proxy in the foreground until SIGTERM or SIGINT.\n"
	  "It listens on 127.0.0.1:<tunnel_port> (default 9090) plus any `listen:`\n"
	  "addresses, accepts HTTP CONNECT (TLS is intercepted with keyhole's CA) and\n"
	  "absolute-form HTTP, allows only listed hosts, refuses private and metadata\n"
	  "addresses after DNS, swaps proxy tokens for the real keys taken from this\n"
	  "process's environment, replaces any real key an upstream echoes back in a\n"
	  "response by its token (scrub_responses:), and appends one JSON line per\n"
	  "request to audit.log (a client's repeated refusals are folded into one\n"
	  "record a second, with their count). Names are looked up with c-ares\n"
	  "(dns_servers:, else /etc/resolv.conf), fairly across clients and cached\n"
	  "within their TTL. A missing CA is created on first run.\n"
	  "\n"
	  "Options:\n" HOME_OPTS
	  "  --config FILE    configuration file (default: <home>/config.yaml; absent = defaults)\n"
	  "  --log-level L    debug, info, warn or error (default: info, or log_level:)\n",
	  kh_cmd_proxy },
	{ "setup", "create the CA and proxy tokens for the keys in your environment",
	  "Usage: keyhole setup [--home DIR] [--tunnel-port N] [--from-bitwarden | "
	  "--no-bitwarden]\n"
	  "                     [--rotate-tokens] [--yes]\n"
	  "\n"
	  "Creates the state directory and the local CA if absent, finds the provider keys\n"
	  "you have (in the environment, or in the Bitwarden project / credential_command\n"
	  "when that is the credential source), mints a proxy token for each, writes\n"
	  "mappings.json (0600) and the audit log, and sets enabled: true in config.yaml\n"
	  "(keeping your comments and other keys). Existing tokens are kept. Keys for APIs\n"
	  "keyhole has no built-in entry for are described under providers: in config.yaml\n"
	  "(env, hosts, location: bearer | basic | header NAME | query NAME; docs/CONFIG.md).\n"
	  "AWS_ACCESS_KEY_ID with AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN, if set) get\n"
	  "a fake key pair: keyhole re-signs SigV4 requests made with it (docs/CONFIG.md).\n"
	  "\n"
	  "Options:\n" HOME_OPTS
	  "  --tunnel-port N  port of the proxy on 127.0.0.1 (default 9090)\n"
	  "  --from-bitwarden take keys from Bitwarden Secrets Manager (credential_source: "
	  "bitwarden)\n"
	  "  --no-bitwarden   switch credential_source back to env\n"
	  "  --rotate-tokens  mint new tokens for every provider (asks first on a terminal; backs "
	  "up\n"
	  "                   mappings.json to mappings.json.rotated-<time>)\n"
	  "  -y, --yes        do not ask before rotating\n",
	  kh_cmd_setup },
	{ "start", "start the daemon in the background",
	  "Usage: keyhole start [--home DIR]\n"
	  "\n"
	  "Starts `keyhole proxy` detached, with only PATH, HOME, locale and TLS variables plus\n"
	  "the mapped keys from the credential source in its environment, logging to\n"
	  "keyhole.log, and waits up to 5 s until control.sock names it and its port answers\n"
	  "/healthz. If it cannot be run at all, says why (e.g. a directory on the binary's path\n"
	  "that the user cannot enter).\n"
	  "Refuses when keyhole is not enabled or the credential source is not usable.\n"
	  "\n"
	  "Options:\n" HOME_OPTS,
	  kh_cmd_start },
	{ "stop", "stop the background daemon",
	  "Usage: keyhole stop [--home DIR]\n"
	  "\n"
	  "Sends SIGTERM (in-flight requests get timeouts.shutdown_grace), then SIGKILL only if "
	  "the\n"
	  "same process is still there.\n"
	  "\n"
	  "Options:\n" HOME_OPTS,
	  kh_cmd_stop },
	{ "status", "show whether keyhole is set up and running",
	  "Usage: keyhole status [--home DIR] [--show-tokens] [--json]\n"
	  "\n"
	  "Options:\n" HOME_OPTS
	  "  --show-tokens    print proxy tokens in full (default: redacted)\n"
	  "  --json           one JSON object, for scripts\n"
	  "\n"
	  "A running daemon also reports its audit log: FAILING when records cannot be\n"
	  "written (disk full), with how many were lost (--json: audit_ok, audit_lost),\n"
	  "and how many sandbox tokens are active (--json: sandbox_tokens). It lists the\n"
	  "front processes and their confinement (privsep: true, the default), and checks\n"
	  "what each front reports against its /proc entry (--json: privsep.fronts[].kernel).\n"
	  "It shows the daemon's own confinement (the key holder: reads only system files,\n"
	  "writes none, execs only keyhole) and its monitor process (--json: keyholder).\n",
	  kh_cmd_status },
	{ "disable", "turn keyhole off (enabled: false)",
	  "Usage: keyhole disable [--home DIR]\n"
	  "\n"
	  "Sets enabled: false in config.yaml. A running daemon keeps running.\n"
	  "\n"
	  "Options:\n" HOME_OPTS,
	  kh_cmd_disable },
	{ "config", "print the effective configuration",
	  "Usage: keyhole config [--home DIR]\n"
	  "\n"
	  "Prints every setting with defaults filled in (secrets omitted) and the file paths.\n"
	  "Exits 1 when keyhole is not set up.\n"
	  "\n"
	  "Options:\n" HOME_OPTS,
	  kh_cmd_config },
	{ "reload", "make the running daemon re-read its configuration",
	  "Usage: keyhole reload [--home DIR]\n"
	  "\n"
	  "Sends SIGHUP: the daemon re-reads config.yaml, mappings.json and the credential source\n"
	  "without dropping connections, and keeps the old settings if the new ones are invalid.\n"
	  "Prints the daemon's verdict from keyhole.log.\n"
	  "\n"
	  "Options:\n" HOME_OPTS,
	  kh_cmd_reload },
	{ "log", "show the audit log: what sandboxes tried to reach and what keyhole decided",
	  "Usage: keyhole log [--home DIR] [--file FILE] [-f | --follow] [--denied] [--json]\n"
	  "\n"
	  "Prints audit.log one request per line: time, sandbox (its label when it used a\n"
	  "sandbox token, else its address), decision, status,\n"
	  "method, host and path, reason (with the detail of a refusal or error), the\n"
	  "credentials swapped in and any scrubbed from the response (a record that\n"
	  "folds a client's repeated refusals says how many in its detail). Colored on a\n"
	  "terminal unless NO_COLOR is set. Control characters and other bytes that could\n"
	  "drive a terminal are shown escaped (\\x1b, \\u{202e}). Lines that are not\n"
	  "audit records are skipped and counted.\n"
	  "\n"
	  "Options:\n" HOME_OPTS
	  "  --file FILE      read this audit log instead (e.g. a rotated copy)\n"
	  "  -f, --follow     keep printing records as they are appended; follows a rotated\n"
	  "                   or truncated log; stop with Ctrl-C\n"
	  "  --denied         only refusals (decision deny)\n"
	  "  --json           the records themselves, one JSON object per line (filtered)\n",
	  kh_cmd_log },
	{ "token", "issue, list and revoke per-sandbox tokens on the running daemon",
	  "Usage: keyhole token issue --label LABEL [--ttl DURATION] [--budget N]\n"
	  "                           [--provider NAME]... [--json] [--home DIR]\n"
	  "       keyhole token revoke (TOKEN | - | --label LABEL) [--home DIR]\n"
	  "       keyhole token list [--json] [--home DIR]\n"
	  "\n"
	  "Sandbox tokens stand for the same real keys as the mapping tokens, toward the\n"
	  "same hosts, but belong to one sandbox: they expire, may have a request budget,\n"
	  "can be revoked, and every audit record of a request made with one names its\n"
	  "label (field \"sandbox\"). A revoked or expired token gets 401, a spent budget\n"
	  "429, each with a body saying so. They are asked from the running daemon over\n"
	  "its control socket (<home>/control.sock, owner only) and kept in grants.json,\n"
	  "so a restart keeps them. keyhole docker run and keyhole sandbox take their own\n"
	  "and revoke them when the sandbox exits. AWS keys are re-signed, not swapped,\n"
	  "so they have no sandbox tokens (a sandbox keeps the mapping's fake AWS key).\n"
	  "\n"
	  "issue prints NAME=token lines (an env file), one per credential.\n"
	  "revoke with - reads the token from standard input (keeps it out of ps).\n"
	  "list shows each token by its first characters only.\n"
	  "\n"
	  "Options:\n" HOME_OPTS
	  "  --label LABEL    the sandbox: letters, digits, '.', '_', '-' (at most 63)\n"
	  "  --ttl DURATION   lifetime: 90s, 30m, 1h, 7d, or none (default 24h, at most 366d)\n"
	  "  --budget N       refuse requests after N swaps (default: no budget)\n"
	  "  --provider NAME  only this credential: an env name (OPENAI_API_KEY) or a\n"
	  "                   provider (openai); repeatable (default: every mapping)\n"
	  "  --json           JSON instead of text\n",
	  kh_cmd_token },
	{ "docker", "print or apply `docker run` arguments for a sandbox",
	  "Usage: keyhole docker args [--home DIR] [--env-file F]... [-e NAME[=VALUE]]...\n"
	  "                           [--format shell|json|lines] [--label LABEL]\n"
	  "       keyhole docker run [docker run options] IMAGE [COMMAND...]\n"
	  "\n"
	  "args prints the arguments that put a container behind keyhole: keyhole's CA\n"
	  "mounted read-only at "
	  "/etc/ssl/certs/hermes-egress-ca.crt (and keyhole-ca.crt),\n"
	  "HTTPS_PROXY/HTTP_PROXY (both cases) = http://host.docker.internal:<tunnel_port>,\n"
	  "NO_PROXY for loopback, the CA bundle variables, HERMES_EGRESS_PROXY=1, for each\n"
	  "mapping HERMES_PROXY_TOKEN_<NAME> and <NAME> set to its proxy token, NODE_OPTIONS\n"
	  "with --use-openssl-ca appended to yours, and --add-host\n"
	  "host.docker.internal:host-gateway. Give the container's own environment with\n"
	  "--env-file/-e so it can be checked: a value that would route around keyhole or put\n"
	  "a real key in the container is refused while enforce_on_docker is on.\n"
	  "  eval \"docker run $(keyhole docker args) IMAGE\"\n"
	  "With --label, the container gets sandbox tokens of its own under LABEL instead of\n"
	  "the mapping tokens, live until `keyhole token revoke --label LABEL` (or their TTL):\n"
	  "the way to run a detached (-d) container.\n"
	  "\n"
	  "run runs `docker run` with those arguments before yours (KEYHOLE_HOME selects the\n"
	  "state directory), but with sandbox tokens of the container's own (label\n"
	  "docker[-<--name>]-<pid>, see keyhole token) in place of the mapping tokens; it\n"
	  "waits for docker, revokes them when docker returns and exits with docker's\n"
	  "status; if it is killed, the daemon revokes them itself and docker gets SIGTERM.\n"
	  "-d/--detach is refused (use args --label). With keyhole enabled but not set up\n"
	  "or not running, or not answering on docker0 where containers reach it, both\n"
	  "refuse (enforce_on_docker: true) or warn and add nothing (false). With no\n"
	  "docker0 here, `docker --version` and `docker version` tell whether docker is\n"
	  "podman; if so, it is treated as in keyhole podman (see there).\n",
	  kh_cmd_docker },
	{ "podman", "print or apply `podman run` arguments for a sandbox",
	  "Usage: keyhole podman args [--home DIR] [--env-file F]... [-e NAME[=VALUE]]...\n"
	  "                           [--format shell|json|lines] [--label LABEL]\n"
	  "                           [--network NAME]\n"
	  "       keyhole podman run [podman run options] IMAGE [COMMAND...]\n"
	  "\n"
	  "The same as keyhole docker args / run, for podman (rootful, a bridge network),\n"
	  "except that host.docker.internal is mapped to the network's gateway address\n"
	  "(podman does not understand docker's host-gateway), asked of `podman network\n"
	  "inspect` for the container's --network (default: podman). keyhole listens on\n"
	  "that gateway when its bridge is podman0 or cni-podman0, which podman makes when\n"
	  "the network's first container starts (listen_docker_bridge: true); a network of\n"
	  "another bridge, or one whose gateway is not a private address, is refused\n"
	  "(enforce_on_docker: true) or warned about and given no arguments (false).\n"
	  "Sandbox tokens of run are labelled podman[-<--name>]-<pid>.\n"
	  "  eval \"podman run $(keyhole podman args) IMAGE\"\n"
	  "keyhole docker args / run find podman behind the docker command themselves when\n"
	  "there is no docker0 here (podman-docker, or DOCKER_HOST at podman's service:\n"
	  "there, only the default network).\n",
	  kh_cmd_podman },
	{ "sandbox", "run a command in namespaces that can only reach keyhole",
	  "Usage: keyhole sandbox [--home DIR] [--workdir DIR] [--allow-host H]... [--] COMMAND\n"
	  "       [ARGS...]\n"
	  "\n"
	  "Runs COMMAND in new user, mount, pid, network, ipc and uts namespaces\n"
	  "(bubblewrap), with no capabilities, no_new_privs and a seccomp filter; started by\n"
	  "root, COMMAND runs as the unprivileged uid 65534. Its network is loopback only:\n"
	  "127.0.0.1:<tunnel_port> inside is relayed to the running daemon's Unix socket, so\n"
	  "every connection goes through keyhole and nothing else leaves. The file system is\n"
	  "read-only except the working directory (the current one, or --workdir), which may\n"
	  "not be your home directory, one holding it, or /; in it, git hooks and config,\n"
	  "shell startup files, .envrc and editor settings stay read-only. /tmp is private;\n"
	  "KEYHOLE_HOME is hidden. The environment is the Docker sandbox's: proxy and CA\n"
	  "variables (CA at /run/keyhole/ca.crt) and each provider variable set to a sandbox\n"
	  "token of its own (label sandbox-<pid>, see keyhole token), revoked when it exits.\n"
	  "Exit status, signals and the terminal pass through. Needs a running daemon\n"
	  "(keyhole start).\n"
	  "\n"
	  "Options:\n" HOME_OPTS
	  "  --workdir DIR    run COMMAND in DIR, the one directory it may write (default: the\n"
	  "                   current directory)\n"
	  "  --allow-host H   only this host (or *.domain) may be reached from the sandbox;\n"
	  "                   repeatable; narrows the daemon's allowlist, never widens it\n",
	  kh_cmd_sandbox },
	{ "sandbox-init", NULL, "Usage: (internal) pid 1 inside keyhole sandbox\n",
	  kh_cmd_sandbox_init },
	{ "__front", NULL, "Usage: (internal) a front process of the daemon (privsep: true)\n",
	  kh_front_run },
	{ "__signer", NULL,
	  "Usage: (internal) the CA signer process of the daemon (privsep: true)\n",
	  kh_signer_run },
	{ "__keyholder-probe", NULL,
	  "Usage: (internal, for tests) keyhole __keyholder-probe DIR FILE\n"
	  "Confines itself as the daemon does once started, then tries to run a shell,\n"
	  "write, remove or chmod FILE, create a file in DIR, mount, ptrace; prints what\n"
	  "was allowed.\n",
	  kh_keyholder_probe_run },
	{ "bench", "load generator for benchmarks (HTTP/1.1, direct or through a proxy)",
	  "Usage: keyhole bench --url URL [--proxy http://HOST:PORT] [options]\n"
	  "\n"
	  "Closed-loop HTTP/1.1 load: each connection is opened directly or through an\n"
	  "HTTP proxy (CONNECT for https, absolute-form for http), does TLS with SNI and\n"
	  "certificate verification for https, then sends requests one at a time with\n"
	  "keep-alive. Stops at --duration or --requests, whichever comes first. Reports\n"
	  "requests/s, latency p50/p90/p99/max, time to first byte, connection setup\n"
	  "time, errors by kind and bytes/s. Exit status 0 when at least one request\n"
	  "succeeded.\n"
	  "\n"
	  "Target and route:\n"
	  "  --url URL             https://HOST[:PORT]/PATH or http://... (required)\n"
	  "  --proxy URL           http://HOST:PORT of the proxy (absent: connect directly)\n"
	  "  --resolve H:[P:]ADDR  connect to ADDR for host H (direct only; no DNS)\n"
	  "  --connect-to H:P:H2:P2  connect to H2:P2 instead of H:P (direct only)\n"
	  "  --cacert FILE         trust these CAs for the TLS the client sees (the proxy's\n"
	  "                        CA when proxied), besides the system store\n"
	  "Request:\n"
	  "  -X, --method M        request method (default GET, POST with --body-size)\n"
	  "  -H, --header 'N: V'   add a request header (repeatable; e.g. a Bearer token)\n"
	  "  --body-size N         request body bytes (suffix k, M, G allowed)\n"
	  "  --sse                 ask for text/event-stream; ttfb is the first body byte\n"
	  "Load and bounds:\n"
	  "  -c, --connections N   concurrent connections (default 1, at most 20000)\n"
	  "  -t, --threads N       event-loop threads (default 1, at most 64)\n"
	  "  -d, --duration T      seconds to measure (\"10\", \"2.5\", \"500ms\"; default 10)\n"
	  "  -n, --requests N      stop after N requests\n"
	  "  --warmup T            run this long before measuring (default 0)\n"
	  "  --new-conn            a new connection (CONNECT + handshakes) per request\n"
	  "  --ramp N              at most N connection setups in flight (default 256)\n"
	  "  --timeout T           limit for each connect, CONNECT, handshake and response\n"
	  "                        wait (default 10; 30 with --idle)\n"
	  "  --idle N              open N connections, complete one request on each, print\n"
	  "                        'holding N idle connections' on stderr, hold them idle\n"
	  "                        for --hold T (default 5) and report; -d bounds the setup\n"
	  "Output:\n"
	  "  --json                one JSON object: requests, requests_per_s, errors{},\n"
	  "                        latency_us/ttfb_us/setup_us{p50,p90,p99,p999,min,max,\n"
	  "                        mean,count}, bytes_rx, rx_bytes_per_s, ...\n",
	  kh_cmd_bench },
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
		if (c->summary != NULL) /* internal commands have none */
			fprintf(out, "  %-9s %s%s\n", c->name, c->summary,
				c->run ? "" : " (not implemented yet)");
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
