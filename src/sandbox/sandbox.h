/* keyhole sandbox: a command in namespaces whose only way out is keyhole.
 * sandbox.c launches it (outside); init.c is pid 1 inside. */
#ifndef KH_SANDBOX_H
#define KH_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

#include "cli/cmd_common.h"
#include "policy/policy.h"
#include "sandbox/workdir.h"
#include "base/kh_limits.h"

struct sandbox_opts {
	const char *allow[KH_SANDBOX_MAX_ALLOW]; /* --allow-host: narrow what it may reach */
	size_t n_allow;
	int argc; /* the command */
	char **argv;
	uint16_t port; /* the proxy port inside (tunnel_port) */
	int home_fd; /* O_PATH KEYHOLE_HOME, inherited by pid 1 */
	int audit_fd; /* audit.log, inherited by pid 1 */
	int id_fd[2]; /* pipe: pid 1 learns its host-side pid */
	const struct kh_mappings *mappings; /* token keys for pid 1's DNS tripwire */
	char resolv[KH_MAX_PATH]; /* resolv.conf naming pid 1's responder */
	struct kh_policy *policy; /* what the daemon allows (DNS answers) */
	const char *workdir_arg; /* --workdir, or NULL: the current directory */
	struct kh_workdir *wd; /* the writable directory, chosen and protected */
	bool root; /* started by root: the command gets KH_SANDBOX_UID */
	int userns_block[2]; /* pipe: bwrap waits while we write its maps */
	int idmap_fd; /* user namespace of the idmapped workdir (root) */
};

/* Outside: builds and runs the sandbox; returns the command's exit status. */
int kh_sandbox_run(struct kh_cli_ctx *x, struct sandbox_opts *o);

#endif
