#include "cli/dockerargs.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NODE_FLAG "--use-openssl-ca"

static const char *const egress_vars[] = {
	"HTTPS_PROXY",         "https_proxy",   "HTTP_PROXY",
	"http_proxy",          "NO_PROXY",      "no_proxy",
	"REQUESTS_CA_BUNDLE",  "SSL_CERT_FILE", "CURL_CA_BUNDLE",
	"NODE_EXTRA_CA_CERTS",
};

int kh_argv_add(struct kh_argv *a, const char *s)
{
	char **v;

	if (a->n + 1 >= KH_MAX_ARGS)
		return -1;
	v = realloc(a->v, (a->n + 2) * sizeof *v);
	if (v == NULL)
		return -1;
	a->v = v;
	if ((a->v[a->n] = strdup(s)) == NULL)
		return -1;
	a->v[++a->n] = NULL;
	return 0;
}

int kh_argv_addf(struct kh_argv *a, const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof buf)
		return -1;
	return kh_argv_add(a, buf);
}

void kh_argv_free(struct kh_argv *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

bool kh_docker_controls_egress(const char *name)
{
	for (size_t i = 0; i < sizeof egress_vars / sizeof egress_vars[0]; i++)
		if (strcmp(egress_vars[i], name) == 0)
			return true;
	return false;
}

void kh_node_options_merge(const char *user, char *out, size_t len)
{
	const char *p = user;
	size_t fl = strlen(NODE_FLAG);

	while (p != NULL && *p != '\0') { /* already there as a whole word? */
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, NODE_FLAG, fl) == 0 &&
		    (p[fl] == '\0' || p[fl] == ' ' || p[fl] == '\t')) {
			snprintf(out, len, "%s", user);
			return;
		}
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
	}
	if (user == NULL || user[strspn(user, " \t")] == '\0')
		snprintf(out, len, "%s", NODE_FLAG);
	else
		snprintf(out, len, "%s %s", user, NODE_FLAG);
}

/* The value keyhole gives name, or NULL if keyhole does not set it. */
static const char *our_value(const struct kh_docker_in *in, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "http://host.docker.internal:%u", in->port);
	if (strcasecmp(name, "https_proxy") == 0 || strcasecmp(name, "http_proxy") == 0)
		return buf;
	if (strcasecmp(name, "no_proxy") == 0)
		return "127.0.0.1,localhost,::1";
	if (kh_docker_controls_egress(name))
		return KH_DOCKER_CA_PATH;
	for (size_t i = 0; i < in->maps->n; i++)
		if (strcmp(in->maps->v[i].env_name, name) == 0)
			return in->maps->v[i].proxy_token;
	return NULL;
}

/* Is theirs what keyhole sets name to (or the shared token of name)? */
static bool same_as_ours(const struct kh_docker_in *in, const char *name, const char *ours,
			 const char *theirs)
{
	if (strcmp(ours, theirs) == 0)
		return true;
	for (size_t i = 0; in->shared != NULL && i < in->shared->n; i++)
		if (strcmp(in->shared->v[i].env_name, name) == 0 &&
		    strcmp(in->shared->v[i].proxy_token, theirs) == 0)
			return true;
	return false;
}

static const char *user_value(const struct kh_user_env *u)
{
	return u->value != NULL ? u->value : getenv(u->name);
}

static bool user_overrides(const struct kh_docker_in *in, const char *name)
{
	char buf[64];

	for (size_t i = 0; i < in->n_user; i++) {
		const char *ours, *theirs;

		if (strcmp(in->user[i].name, name) != 0)
			continue;
		ours = our_value(in, name, buf, sizeof buf);
		theirs = user_value(&in->user[i]);
		if (ours != NULL && theirs != NULL && !same_as_ours(in, name, ours, theirs))
			return true;
	}
	return false;
}

/* Collects the user variables that would change where traffic goes or put a
 * real key in the container. */
static size_t collisions(const struct kh_docker_in *in, char *list, size_t len)
{
	size_t n = 0;

	list[0] = '\0';
	for (size_t i = 0; i < in->n_user; i++) {
		char buf[64];
		const char *ours = our_value(in, in->user[i].name, buf, sizeof buf);
		const char *theirs = user_value(&in->user[i]);

		if (ours == NULL || theirs == NULL ||
		    same_as_ours(in, in->user[i].name, ours, theirs))
			continue;
		if (strstr(list, in->user[i].name) == NULL)
			snprintf(list + strlen(list), len - strlen(list), "%s%s", n++ ? ", " : "",
				 in->user[i].name);
	}
	return n;
}

/* With enforcement off a colliding variable is left to the user: docker
 * applies every -e after all env files, so adding ours would silently win
 * over an --env-file value the warning said would be used. */
static int add_env_unless(const struct kh_docker_in *in, struct kh_argv *a, const char *name,
			  const char *value)
{
	if (!in->enforce && user_overrides(in, name))
		return 0;
	return kh_argv_add(a, "-e") == 0 && kh_argv_addf(a, "%s=%s", name, value) == 0 ? 0 : -1;
}

static int base_args(const struct kh_docker_in *in, struct kh_argv *a)
{
	char url[64];
	int rc = 0;

	snprintf(url, sizeof url, "http://host.docker.internal:%u", in->port);
	rc |= kh_argv_add(a, "-v");
	rc |= kh_argv_addf(a, "%s:%s:ro", in->ca_path, KH_DOCKER_CA_PATH);
	rc |= kh_argv_add(a, "-v");
	rc |= kh_argv_addf(a, "%s:%s:ro", in->ca_path, KH_DOCKER_CA_ALIAS);
	rc |= kh_argv_add(a, "--add-host");
	rc |= kh_argv_addf(a, "host.docker.internal:%s",
			   in->gateway != NULL ? in->gateway : "host-gateway");
	for (size_t i = 0; i < sizeof egress_vars / sizeof egress_vars[0]; i++) {
		char buf[64];

		rc |= add_env_unless(in, a, egress_vars[i],
				     our_value(in, egress_vars[i], buf, sizeof buf));
	}
	rc |= add_env_unless(in, a, "HERMES_EGRESS_PROXY", "1");
	return rc;
}

static int token_args(const struct kh_docker_in *in, struct kh_argv *a)
{
	int rc = 0;

	for (size_t i = 0; i < in->maps->n; i++) {
		const struct kh_mapping *m = &in->maps->v[i];

		rc |= kh_argv_add(a, "-e");
		rc |= kh_argv_addf(a, "HERMES_PROXY_TOKEN_%s=%s", m->env_name, m->proxy_token);
		rc |= add_env_unless(in, a, m->env_name, m->proxy_token);
	}
	return rc;
}

static const struct kh_user_env *user_node_options(const struct kh_docker_in *in)
{
	const struct kh_user_env *found = NULL;

	for (size_t i = 0; i < in->n_user; i++) /* the last one wins, as in docker */
		if (strcmp(in->user[i].name, "NODE_OPTIONS") == 0)
			found = &in->user[i];
	return found;
}

int kh_docker_args(const struct kh_docker_in *in, struct kh_argv *out, char *node_options,
		   size_t node_len, void (*warn)(const char *line), struct kh_err *err)
{
	const struct kh_user_env *node = user_node_options(in);
	char list[1024], line[1400];

	if (collisions(in, list, sizeof list) > 0) {
		if (in->enforce) {
			kh_err_set(
				err,
				"the container's environment overrides egress variables [%s] "
				"while enforce_on_docker is on; remove them (they would send "
				"traffic around keyhole or put a real key in the sandbox) or set "
				"enforce_on_docker: false to opt out",
				list);
			return -1;
		}
		snprintf(line, sizeof line,
			 "warning: the container's own [%s] override keyhole's "
			 "(enforce_on_docker is off): that traffic or key bypasses "
			 "the proxy",
			 list);
		warn(line);
	}
	if (base_args(in, out) != 0 || token_args(in, out) != 0) {
		kh_err_set(err, "out of memory");
		return -1;
	}
	kh_node_options_merge(node ? user_value(node) : NULL, node_options, node_len);
	return add_env_unless(in, out, "NODE_OPTIONS", node_options);
}
