/* The `docker run` arguments that put a container behind keyhole (the seed's
 * _egress_proxy_args_for_docker): the CA mounted read-only, proxy and CA
 * bundle variables pointing at it, one HERMES_PROXY_TOKEN_<NAME> per mapping
 * plus the provider's own variable set to its token (so unmodified SDKs work),
 * NODE_OPTIONS with --use-openssl-ca appended to the user's flags, and
 * host.docker.internal mapped to the host gateway (Docker's `host-gateway`,
 * or for podman, which writes `host-gateway` literally, the network's
 * gateway address).
 *
 * The user's own environment for the container is checked against the
 * variables that control egress and the real key names: with enforcement on
 * any disagreement is an error; with it off it is a warning and the user's
 * value wins. Pure: no I/O. */
#ifndef KH_DOCKERARGS_H
#define KH_DOCKERARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "policy/mappings.h"
#include "base/kh_limits.h"

#define KH_DOCKER_CA_PATH  "/etc/ssl/certs/hermes-egress-ca.crt"
#define KH_DOCKER_CA_ALIAS "/etc/ssl/certs/keyhole-ca.crt"

struct kh_argv {
	char **v; /* owned strings, NULL-terminated */
	size_t n;
};

int kh_argv_add(struct kh_argv *a, const char *s);
int kh_argv_addf(struct kh_argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kh_argv_free(struct kh_argv *a);

/* A NAME=value the user gives the container (-e, --env-file). */
struct kh_user_env {
	const char *name;
	const char *value; /* NULL: NAME alone, passed from the caller's environment if set */
};

struct kh_docker_in {
	const char *ca_path; /* host path of ca.crt */
	uint16_t port; /* tunnel_port */
	const struct kh_mappings *maps; /* the tokens the container gets */
	/* mappings.json's own tokens when maps holds sandbox tokens (docker run),
	 * else NULL: a user value equal to one of these is a keyhole token too,
	 * so it is no collision (that container then uses the shared token) */
	const struct kh_mappings *shared;
	const struct kh_user_env *user;
	size_t n_user;
	bool enforce;
	/* host.docker.internal's address: "10.88.0.1" (podman), or NULL for
	 * docker's own "host-gateway" */
	const char *gateway;
};

/* Appends the egress arguments to out. Collisions: -1 with err naming the
 * variables when enforcing; otherwise each is reported through warn (one
 * call per line) and left to the user. node_options gets the merged
 * NODE_OPTIONS value when the user set one (the caller must make it win). */
int kh_docker_args(const struct kh_docker_in *in, struct kh_argv *out, char *node_options,
		   size_t node_len, void (*warn)(const char *line), struct kh_err *err);

/* Is name one of the variables that decide where traffic goes and what TLS
 * trusts? */
bool kh_docker_controls_egress(const char *name);

/* NODE_OPTIONS with --use-openssl-ca appended unless already present. */
void kh_node_options_merge(const char *user, char *out, size_t len);

#endif
