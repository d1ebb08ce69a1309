/* config.yaml loader.
 *
 * libyaml's document API turns the text into a node graph; each mapping we
 * understand (top level, timeouts, limits, bitwarden) has a table that maps
 * a key to a handler which checks the value and stores it. The walk never
 * recurses into values it does not understand, so aliases and deep nesting
 * in unknown keys cost nothing, and every list has a cap checked before any
 * allocation. Everything is reached through a struct ctx: no global state,
 * so the parser can be fuzzed. */
#include "policy/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <yaml.h>

#include "policy/awsscope.h"
#include "base/check.h"
#include "base/fsutil.h"
#include "base/slice.h"
#include "base/kh_limits.h"

#define SHOW_BUF (KH_CONFIG_SHOW_MAX + 4)

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define OFF(m)       offsetof(struct kh_config, m)
#define BUFSZ(m)     sizeof(((struct kh_config *)0)->m)

struct ctx {
	yaml_document_t *doc;
	const char *name; /* file name for messages */
	struct kh_config *c;
	struct kh_err *err;
};

struct field;
typedef int (*field_fn)(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path);

struct field {
	const char *name;
	field_fn set;
	size_t off; /* where the value goes in struct kh_config */
	uint64_t min, max; /* range of a number; buffer size of a string */
};

/* ---- messages ---- */

static unsigned long line_of(const yaml_node_t *n)
{
	return (unsigned long)n->start_mark.line + 1; /* libyaml counts from 0 */
}

static const char *kind_of(const yaml_node_t *n)
{
	if (n->type == YAML_SEQUENCE_NODE)
		return "a list";
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	return "a single value";
}

/* A scalar as it may be echoed back: printable ASCII only, so hostile bytes
 * (newlines, terminal escapes) cannot forge log lines, and cut short. */
static const char *show(const yaml_node_t *n, char out[SHOW_BUF])
{
	const unsigned char *s;
	size_t len, i;

	if (n->type != YAML_SCALAR_NODE)
		return kind_of(n);
	s = n->data.scalar.value;
	len = n->data.scalar.length;
	for (i = 0; i < len && i < KH_CONFIG_SHOW_MAX; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
	if (i < len) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

static int fail(struct ctx *x, const yaml_node_t *n, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* "<file>:<line>: <key path>: <what>", the one shape every error has. */
static int fail(struct ctx *x, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
	char what[KH_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	kh_err_set(x->err, "%s:%lu: %s%s%s", x->name, line_of(n), path, path[0] ? ": " : "", what);
	return -1;
}

static int oom(struct ctx *x)
{
	kh_err_set(x->err, "%s: out of memory while loading", x->name);
	return -1;
}

static int warn(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Adds a warning line; past the cap, one last line says more were dropped so
 * a file of junk keys cannot grow the list without bound. */
static int warn(struct ctx *x, const char *fmt, ...)
{
	struct kh_config *c = x->c;
	char line[KH_ERR_MAX];
	va_list ap;

	if (c->n_warnings == KH_MAX_CONFIG_WARNINGS)
		return 0;
	if (c->warnings == NULL) {
		c->warnings = calloc(KH_MAX_CONFIG_WARNINGS, sizeof *c->warnings);
		if (c->warnings == NULL)
			return oom(x);
	}
	if (c->n_warnings == KH_MAX_CONFIG_WARNINGS - 1) {
		snprintf(line, sizeof line, "%s: further warnings not shown", x->name);
	} else {
		va_start(ap, fmt);
		vsnprintf(line, sizeof line, fmt, ap);
		va_end(ap);
	}
	c->warnings[c->n_warnings] = strdup(line);
	if (c->warnings[c->n_warnings] == NULL)
		return oom(x);
	c->n_warnings++;
	return 0;
}

static void join_path(char out[KH_CONFIG_KEYPATH_MAX], const char *parent, const char *key)
{
	/* Truncating a key path only shortens a message, never changes a value. */
	if (snprintf(out, KH_CONFIG_KEYPATH_MAX, "%s%s%s", parent, parent[0] ? "." : "", key) < 0)
		out[0] = '\0';
}

/* ---- scalars ---- */

static bool is_null(const yaml_node_t *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	/* Only a plain scalar is null: '' or "null" in quotes is a string. */
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (size_t i = 0; i < ARRAY_LEN(nulls); i++)
		if (n->data.scalar.length == strlen(nulls[i]) &&
		    memcmp(n->data.scalar.value, nulls[i], n->data.scalar.length) == 0)
			return true;
	return false;
}

/* The value as a C string. A NUL from a "\0" escape would make C string
 * functions see a different value than the one written, so it is refused. */
static int get_scalar(struct ctx *x, yaml_node_t *v, const char *path, const char **s)
{
	if (v->type != YAML_SCALAR_NODE)
		return fail(x, v, path, "must be a single value, got %s", kind_of(v));
	if (memchr(v->data.scalar.value, '\0', v->data.scalar.length) != NULL)
		return fail(x, v, path, "contains a NUL byte");
	*s = (const char *)v->data.scalar.value;
	return 0;
}

static bool has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static bool printable_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

static void *field_ptr(struct ctx *x, const struct field *f)
{
	return (char *)x->c + f->off;
}

static int set_bool(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	bool *out = field_ptr(x, f);
	char shown[SHOW_BUF];
	const char *s;

	if (get_scalar(x, v, path, &s) != 0)
		return -1;
	for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
			*out = strcasecmp(s, yes[i]) == 0;
			return 0;
		}
	}
	return fail(x, v, path, "must be true or false (yes/no and on/off also work), got '%s'",
		    show(v, shown));
}

static int get_number(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path,
		      uint64_t *out)
{
	char shown[SHOW_BUF];
	const char *s;

	if (get_scalar(x, v, path, &s) != 0)
		return -1;
	if (kh_parse_u64(s, f->max, out) != 0 || *out < f->min)
		return fail(x, v, path, "must be an integer %llu-%llu, got '%s'",
			    (unsigned long long)f->min, (unsigned long long)f->max, show(v, shown));
	return 0;
}

static int set_u16(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	uint16_t *out = field_ptr(x, f);
	uint64_t n;

	if (get_number(x, f, v, path, &n) != 0)
		return -1;
	*out = (uint16_t)n;
	return 0;
}

static int set_uint(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	unsigned *out = field_ptr(x, f);
	uint64_t n;

	if (get_number(x, f, v, path, &n) != 0)
		return -1;
	*out = (unsigned)n;
	return 0;
}

static int set_size(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	size_t *out = field_ptr(x, f);
	uint64_t n;

	if (get_number(x, f, v, path, &n) != 0)
		return -1;
	*out = (size_t)n;
	return 0;
}

/* "30", "30s", "5m", "1h" -> seconds in [min, max]. */
static int parse_seconds(const char *s, const struct field *f, uint64_t *out)
{
	struct kh_slice d = kh_slice_cstr(s);
	uint64_t mult = 1;

	if (d.len > 0 && strchr("smh", d.ptr[d.len - 1]) != NULL) {
		mult = d.ptr[d.len - 1] == 'h' ? 3600 : d.ptr[d.len - 1] == 'm' ? 60 : 1;
		d.len--;
	}
	/* Capping the digits at max first keeps the product far from overflow. */
	if (kh_slice_to_u64(d, f->max, out) != 0)
		return -1;
	*out *= mult;
	return (*out >= f->min && *out <= f->max) ? 0 : -1;
}

static int set_seconds(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	unsigned *out = field_ptr(x, f);
	char shown[SHOW_BUF];
	const char *s;
	uint64_t n;

	if (get_scalar(x, v, path, &s) != 0)
		return -1;
	if (parse_seconds(s, f, &n) != 0)
		return fail(x, v, path,
			    "must be %llu-%llu seconds, as a number or with a unit like \"30s\", "
			    "\"5m\", \"1h\"; got '%s'",
			    (unsigned long long)f->min, (unsigned long long)f->max, show(v, shown));
	*out = (unsigned)n;
	return 0;
}

static int set_string(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	char *out = field_ptr(x, f);
	const char *s;

	if (get_scalar(x, v, path, &s) != 0)
		return -1;
	if (v->data.scalar.length >= f->max)
		return fail(x, v, path, "is %zu bytes long; at most %llu are allowed",
			    v->data.scalar.length, (unsigned long long)f->max - 1);
	if (has_control(s))
		return fail(x, v, path, "must be one line without control characters");
	memcpy(out, s, v->data.scalar.length + 1);
	return 0;
}

static bool env_name(const char *s)
{
	if (!(*s == '_' || (*s >= 'A' && *s <= 'Z')))
		return false;
	for (s++; *s != '\0'; s++)
		if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

static int set_env_name(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	char shown[SHOW_BUF];
	const char *s;

	if (get_scalar(x, v, path, &s) != 0)
		return -1;
	if (!env_name(s))
		return fail(x, v, path,
			    "must be an environment variable name like BWS_ACCESS_TOKEN (A-Z, 0-9 "
			    "and _, not starting with a digit), got '%s'",
			    show(v, shown));
	return set_string(x, f, v, path);
}

static int set_cred_source(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	static const enum kh_cred_source all[] = { KH_CRED_ENV, KH_CRED_BITWARDEN,
						   KH_CRED_COMMAND };
	char shown[SHOW_BUF];
	const char *s;

	(void)f;
	if (get_scalar(x, v, path, &s) != 0)
		return -1;
	for (size_t i = 0; i < ARRAY_LEN(all); i++) {
		if (strcmp(s, kh_cred_source_name(all[i])) == 0) {
			x->c->credential_source = all[i];
			return 0;
		}
	}
	return fail(x, v, path, "must be env, bitwarden or command, got '%s'", show(v, shown));
}

static int set_audit_failure(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	char shown[SHOW_BUF];
	const char *s;

	(void)f;
	if (get_scalar(x, v, path, &s) != 0)
		return -1;
	if (strcmp(s, "continue") != 0 && strcmp(s, "refuse") != 0)
		return fail(x, v, path, "must be continue or refuse, got '%s'", show(v, shown));
	x->c->audit_refuse = strcmp(s, "refuse") == 0;
	return 0;
}

static int set_log_level(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	char shown[SHOW_BUF];
	const char *s;

	(void)f;
	if (get_scalar(x, v, path, &s) != 0)
		return -1;
	if (kh_log_parse_level(s, &x->c->log_level) != 0)
		return fail(x, v, path, "must be debug, info, warn or error, got '%s'",
			    show(v, shown));
	return 0;
}

/* ---- lists ---- */

static int get_list(struct ctx *x, yaml_node_t *v, const char *path, size_t cap,
		    const char *example, size_t *n)
{
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(x, v, path, "must be a list, e.g. %s; got %s", example, kind_of(v));
	*n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (*n > cap)
		return fail(x, v, path, "has %zu entries; at most %zu are allowed", *n, cap);
	return 0;
}

/* Entry i of list as a string; ipath gets its key path, "key[i]". */
static int list_item(struct ctx *x, yaml_node_t *list, size_t i, const char *path,
		     char ipath[KH_CONFIG_KEYPATH_MAX], yaml_node_t **item, const char **s)
{
	if (snprintf(ipath, KH_CONFIG_KEYPATH_MAX, "%s[%zu]", path, i) < 0)
		ipath[0] = '\0';
	*item = yaml_document_get_node(x->doc, list->data.sequence.items.start[i]);
	if (*item == NULL)
		return fail(x, list, ipath, "malformed YAML document");
	return get_scalar(x, *item, ipath, s);
}

static int add_cidr(struct ctx *x, yaml_node_t *list, size_t i, const char *path)
{
	char ipath[KH_CONFIG_KEYPATH_MAX], shown[SHOW_BUF];
	struct kh_config *c = x->c;
	yaml_node_t *item;
	struct kh_err e;
	const char *s;

	if (list_item(x, list, i, path, ipath, &item, &s) != 0)
		return -1;
	/* kh_cidr_parse echoes its input: only hand it something safe to print. */
	if (item->data.scalar.length > KH_CONFIG_SHOW_MAX || !printable_ascii(s))
		return fail(x, item, ipath, "'%s' is not a CIDR range like 10.0.0.0/8 or fc00::/7",
			    show(item, shown));
	if (kh_cidr_parse(s, &c->deny_cidrs[c->n_deny_cidrs], &e) != 0)
		return fail(x, item, ipath, "%s", e.msg);
	c->n_deny_cidrs++;
	return 0;
}

static int set_deny_cidrs(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	struct kh_config *c = x->c;
	size_t count;

	(void)f;
	if (get_list(x, v, path, KH_MAX_DENY_CIDRS,
		     "[\"10.0.0.0/8\"] ([] turns the deny list off, null keeps the defaults)",
		     &count) != 0)
		return -1;
	free(c->deny_cidrs);
	c->deny_cidrs = NULL;
	c->n_deny_cidrs = 0;
	c->deny_cidrs_explicit = true;
	if (count > 0 && (c->deny_cidrs = calloc(count, sizeof *c->deny_cidrs)) == NULL)
		return oom(x);
	for (size_t i = 0; i < count; i++)
		if (add_cidr(x, v, i, path) != 0)
			return -1;
	return 0;
}

static int add_pattern(struct ctx *x, yaml_node_t *list, size_t i, const char *path, char **out)
{
	char ipath[KH_CONFIG_KEYPATH_MAX], shown[SHOW_BUF], pat[KH_HOST_BUF + 2];
	yaml_node_t *item;
	const char *s;

	if (list_item(x, list, i, path, ipath, &item, &s) != 0)
		return -1;
	if (strcmp(s, "*") == 0)
		return fail(x, item, ipath,
			    "'*' would match every host; write \"host.example.com\" or "
			    "\"*.example.com\"");
	if (kh_host_pattern_normalize(s, pat) != 0)
		return fail(x, item, ipath,
			    "'%s' is not a host pattern; write \"host.example.com\" or "
			    "\"*.example.com\"",
			    show(item, shown));
	*out = strdup(pat);
	return *out == NULL ? oom(x) : 0;
}

static int set_host_list(struct ctx *x, yaml_node_t *v, const char *path, char ***list, size_t *n)
{
	size_t count;

	if (get_list(x, v, path, KH_MAX_ALLOW_RULES, "[\"api.example.com\", \"*.example.com\"]",
		     &count) != 0)
		return -1;
	/* Each key is set once (duplicates are refused), so the list is empty here. */
	if (count > 0 && (*list = calloc(count, sizeof **list)) == NULL)
		return oom(x);
	for (size_t i = 0; i < count; i++) {
		if (add_pattern(x, v, i, path, &(*list)[i]) != 0)
			return -1;
		(*n)++;
	}
	return 0;
}

static int add_bucket(struct ctx *x, yaml_node_t *list, size_t i, const char *path)
{
	char ipath[KH_CONFIG_KEYPATH_MAX], shown[SHOW_BUF];
	struct kh_config *c = x->c;
	yaml_node_t *item;
	const char *s;

	if (list_item(x, list, i, path, ipath, &item, &s) != 0)
		return -1;
	if (!kh_awsscope_bucket_ok(kh_slice_cstr(s)))
		return fail(x, item, ipath,
			    "'%s' is not an S3 bucket name (3-63 lowercase letters, digits, '.' "
			    "and '-', starting and ending with a letter or digit)",
			    show(item, shown));
	if ((c->aws_buckets[c->n_aws_buckets] = strdup(s)) == NULL)
		return oom(x);
	c->n_aws_buckets++;
	return 0;
}

/* aws.buckets: when set (even to []), S3 requests are re-signed only for
 * these buckets. */
static int set_aws_buckets(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	size_t count;

	(void)f;
	if (get_list(x, v, path, KH_MAX_AWS_BUCKETS, "[\"my-bucket\", \"logs.example.com\"]",
		     &count) != 0)
		return -1;
	x->c->aws_buckets_set = true;
	if ((x->c->aws_buckets = calloc(count + 1, sizeof *x->c->aws_buckets)) == NULL)
		return oom(x);
	for (size_t i = 0; i < count; i++)
		if (add_bucket(x, v, i, path) != 0)
			return -1;
	return 0;
}

static int set_extra_hosts(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	(void)f;
	return set_host_list(x, v, path, &x->c->extra_allowed_hosts, &x->c->n_extra_allowed_hosts);
}

static int set_cleartext_hosts(struct ctx *x, const struct field *f, yaml_node_t *v,
			       const char *path)
{
	(void)f;
	return set_host_list(x, v, path, &x->c->cleartext_credential_hosts,
			     &x->c->n_cleartext_credential_hosts);
}

/* An IP literal (no name lookups in config) into a sockaddr. family is
 * AF_INET, AF_INET6, or AF_UNSPEC to try IPv4 and then IPv6. */
static int ip_to_sockaddr(const char *ip, int family, uint16_t port, struct sockaddr_storage *ss,
			  socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	if (family != AF_INET6 && inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*len = sizeof *s4;
		return 0;
	}
	if (family != AF_INET && inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof *s6;
		return 0;
	}
	return -1;
}

/* "a.b.c.d:port" or "[v6]:port"; the port is required, 0 means any free one. */
static int parse_listen(const char *s, struct kh_listen_addr *out)
{
	bool v6 = s[0] == '[';
	const char *end = v6 ? strchr(s, ']') : strchr(s, ':');
	char ip[INET6_ADDRSTRLEN];
	uint64_t port;

	if (end == NULL || (v6 && end[1] != ':'))
		return -1;
	if (v6)
		s++;
	if ((size_t)(end - s) >= sizeof ip)
		return -1;
	memcpy(ip, s, (size_t)(end - s));
	ip[end - s] = '\0';
	if (kh_parse_u64(end + (v6 ? 2 : 1), 65535, &port) != 0 ||
	    ip_to_sockaddr(ip, v6 ? AF_INET6 : AF_INET, (uint16_t)port, &out->addr,
			   &out->addrlen) != 0)
		return -1;
	kh_sockaddr_ip((const struct sockaddr *)&out->addr, ip, sizeof ip);
	if (v6)
		snprintf(out->text, sizeof out->text, "[%s]:%u", ip, (unsigned)port);
	else
		snprintf(out->text, sizeof out->text, "%s:%u", ip, (unsigned)port);
	return 0;
}

static bool listen_dup(const struct kh_config *c, const struct kh_listen_addr *l)
{
	/* Port 0 binds never collide: each gets its own free port. */
	if (strcmp(strrchr(l->text, ':'), ":0") == 0)
		return false;
	for (size_t i = 0; i < c->n_listen; i++)
		if (strcmp(c->listen[i].text, l->text) == 0)
			return true;
	return false;
}

static int set_listen(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	char ipath[KH_CONFIG_KEYPATH_MAX], shown[SHOW_BUF];
	struct kh_config *c = x->c;
	yaml_node_t *item;
	const char *s;
	size_t count;

	(void)f;
	if (get_list(x, v, path, KH_MAX_LISTENERS, "[\"127.0.0.1:9090\", \"[::1]:9090\"]",
		     &count) != 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		if (list_item(x, v, i, path, ipath, &item, &s) != 0)
			return -1;
		if (parse_listen(s, &c->listen[i]) != 0)
			return fail(
				x, item, ipath,
				"'%s' is not a listen address; write \"127.0.0.1:9090\" or "
				"\"[::1]:9090\" (an IP address, not a name; port 0 picks a free "
				"one)",
				show(item, shown));
		if (listen_dup(c, &c->listen[i]))
			return fail(x, item, ipath, "'%s' is listed twice", c->listen[i].text);
		c->n_listen++;
	}
	return 0;
}

/* A DNS server keyhole asks: "ip" (port 53), "ip:port" or "[v6]:port"; out
 * gets it as "ip:port" / "[v6]:port". Addresses only: no name to look up. */
static int parse_dns_server(const char *s, char *out, size_t len)
{
	struct kh_listen_addr a;
	char ip[INET6_ADDRSTRLEN];

	if (ip_to_sockaddr(s, AF_UNSPEC, 53, &a.addr, &a.addrlen) == 0) {
		kh_sockaddr_ip((const struct sockaddr *)&a.addr, ip, sizeof ip);
		kh_fmt(out, len, a.addr.ss_family == AF_INET6 ? "[%s]:53" : "%s:53", ip);
		return 0;
	}
	if (parse_listen(s, &a) != 0 ||
	    (a.addr.ss_family == AF_INET ? ((struct sockaddr_in *)&a.addr)->sin_port
					 : ((struct sockaddr_in6 *)&a.addr)->sin6_port) == 0)
		return -1;
	kh_fmt(out, len, "%s", a.text);
	return 0;
}

static int set_dns_servers(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	char ipath[KH_CONFIG_KEYPATH_MAX], shown[SHOW_BUF], text[64];
	struct kh_config *c = x->c;
	yaml_node_t *item;
	const char *s;
	size_t count;

	(void)f;
	if (get_list(x, v, path, KH_MAX_DNS_SERVERS, "[\"192.0.2.53\", \"[2001:db8::53]:5353\"]",
		     &count) != 0)
		return -1;
	if (count > 0 && (c->dns_servers = calloc(count, sizeof *c->dns_servers)) == NULL)
		return oom(x);
	for (size_t i = 0; i < count; i++) {
		if (list_item(x, v, i, path, ipath, &item, &s) != 0)
			return -1;
		if (parse_dns_server(s, text, sizeof text) != 0)
			return fail(
				x, item, ipath,
				"'%s' is not a DNS server address; write an IP address "
				"(\"192.0.2.53\"), optionally with a port (\"192.0.2.53:5353\", "
				"\"[2001:db8::53]:5353\")",
				show(item, shown));
		if ((c->dns_servers[i] = strdup(text)) == NULL)
			return oom(x);
		c->n_dns_servers++;
	}
	return 0;
}

/* Metrics say how busy keyhole is and which providers are used: only this
 * machine may ask. "off" turns the listener off. */
static bool loopback(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr);
}

static int set_metrics_listen(struct ctx *x, const struct field *f, yaml_node_t *v,
			      const char *path)
{
	char shown[SHOW_BUF];
	const char *s;

	(void)f;
	if (get_scalar(x, v, path, &s) != 0)
		return -1;
	if (strcmp(s, "off") == 0) {
		x->c->metrics_enabled = false;
		return 0;
	}
	if (parse_listen(s, &x->c->metrics_listen) != 0 || !loopback(&x->c->metrics_listen.addr))
		return fail(x, v, path,
			    "'%s' is not a loopback listen address; write \"127.0.0.1:9091\", "
			    "\"[::1]:9091\", \"127.0.0.1:0\" (a free port) or \"off\"",
			    show(v, shown));
	x->c->metrics_enabled = true;
	return 0;
}

/* ---- mappings ---- */

struct keyref {
	const unsigned char *s;
	size_t len, pos;
	yaml_node_t *node;
};

/* By bytes, then by position, so equal keys sit together in file order. */
static int cmp_keyref(const void *a, const void *b)
{
	const struct keyref *p = a, *q = b;
	int d;

	if (p->len != q->len)
		return p->len < q->len ? -1 : 1;
	d = memcmp(p->s, q->s, p->len);
	if (d != 0)
		return d;
	return p->pos < q->pos ? -1 : p->pos > q->pos;
}

static int collect_keys(struct ctx *x, yaml_node_t *map, const char *path, struct keyref *refs)
{
	yaml_node_pair_t *p = map->data.mapping.pairs.start;

	for (size_t i = 0; p + i < map->data.mapping.pairs.top; i++) {
		yaml_node_t *k = yaml_document_get_node(x->doc, p[i].key);

		if (k == NULL || yaml_document_get_node(x->doc, p[i].value) == NULL)
			return fail(x, map, path, "malformed YAML document");
		if (k->type != YAML_SCALAR_NODE)
			return fail(x, k, path, "keys must be plain names, got %s", kind_of(k));
		if (memchr(k->data.scalar.value, '\0', k->data.scalar.length) != NULL)
			return fail(x, k, path, "a key contains a NUL byte");
		refs[i] = (struct keyref){ k->data.scalar.value, k->data.scalar.length, i, k };
	}
	return 0;
}

/* Sorting makes this O(n log n) however many keys a hostile file has. The
 * repeat reported is the earliest one in the file. */
static int find_duplicate(struct ctx *x, struct keyref *refs, size_t n, const char *path)
{
	const struct keyref *dup = NULL, *first = NULL;
	char kpath[KH_CONFIG_KEYPATH_MAX], shown[SHOW_BUF];
	size_t g = 0;

	qsort(refs, n, sizeof *refs, cmp_keyref);
	for (size_t i = 1; i < n; i++) {
		if (refs[i].len != refs[g].len || memcmp(refs[i].s, refs[g].s, refs[g].len) != 0) {
			g = i;
			continue;
		}
		if (i == g + 1 && (dup == NULL || refs[i].pos < dup->pos)) {
			dup = &refs[i];
			first = &refs[g];
		}
	}
	if (dup == NULL)
		return 0;
	join_path(kpath, path, show(dup->node, shown));
	return fail(x, dup->node, kpath, "duplicate key; first set on line %lu",
		    line_of(first->node));
}

/* Every key a scalar without NUL, and none twice. */
static int check_keys(struct ctx *x, yaml_node_t *map, const char *path)
{
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	struct keyref *refs;
	int rc;

	if (n == 0)
		return 0;
	refs = calloc(n, sizeof *refs);
	if (refs == NULL)
		return oom(x);
	rc = collect_keys(x, map, path, refs);
	if (rc == 0)
		rc = find_duplicate(x, refs, n, path);
	free(refs);
	return rc;
}

static bool key_is(const yaml_node_t *k, const char *name)
{
	return k->data.scalar.length == strlen(name) &&
	       memcmp(k->data.scalar.value, name, k->data.scalar.length) == 0;
}

static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
	size_t prev[KH_CONFIG_EDIT_MAX + 1], cur[KH_CONFIG_EDIT_MAX + 1];

	if (la > KH_CONFIG_EDIT_MAX || lb > KH_CONFIG_EDIT_MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t ins = cur[j - 1] + 1, del = prev[j] + 1;

			cur[j] = sub < ins ? (sub < del ? sub : del) : (ins < del ? ins : del);
		}
		memcpy(prev, cur, sizeof prev);
	}
	return prev[lb];
}

/* The known key closest to k, if within 2 edits. */
static const struct field *nearest(const yaml_node_t *k, const struct field *tab, size_t n)
{
	const char *s = (const char *)k->data.scalar.value;
	size_t len = k->data.scalar.length, best_d = 3;
	const struct field *best = NULL;

	for (size_t i = 0; i < n; i++) {
		size_t fl = strlen(tab[i].name), d;

		/* The distance is at least the length difference: skip the work. */
		if (len > fl + 2 || fl > len + 2)
			continue;
		d = edit_distance(s, len, tab[i].name, fl);
		if (d < best_d) {
			best_d = d;
			best = &tab[i];
		}
	}
	return best;
}

static int warn_unknown(struct ctx *x, const yaml_node_t *k, const char *path,
			const struct field *tab, size_t n)
{
	const struct field *near = nearest(k, tab, n);
	char shown[SHOW_BUF], hint[80] = "";

	if (near != NULL)
		snprintf(hint, sizeof hint, " (did you mean '%s'?)", near->name);
	else if (path[0] == '\0' && key_is(k, "proxy"))
		/* A seed-style file nests its settings under proxy:; keyhole does not. */
		snprintf(hint, sizeof hint, " (keyhole reads these settings at the top level)");
	return warn(x, "%s:%lu: %s%sunknown key '%s' ignored%s", x->name, line_of(k), path,
		    path[0] ? ": " : "", show(k, shown), hint);
}

static int walk_pair(struct ctx *x, const yaml_node_pair_t *p, const char *path,
		     const struct field *tab, size_t n)
{
	yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
	yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
	char kpath[KH_CONFIG_KEYPATH_MAX];

	for (size_t i = 0; i < n; i++) {
		if (!key_is(k, tab[i].name))
			continue;
		if (is_null(v))
			return 0; /* key: ~ keeps the default */
		join_path(kpath, path, tab[i].name);
		return tab[i].set(x, &tab[i], v, kpath);
	}
	return warn_unknown(x, k, path, tab, n);
}

static int walk_map(struct ctx *x, yaml_node_t *map, const char *path, const struct field *tab,
		    size_t n)
{
	if (map->type != YAML_MAPPING_NODE)
		return fail(x, map, path, "must be a mapping (key: value lines), got %s",
			    kind_of(map));
	if (check_keys(x, map, path) != 0)
		return -1;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++)
		if (walk_pair(x, p, path, tab, n) != 0)
			return -1;
	return 0;
}

/* "ip:port" / "[v6]:port": the host is always reached on that port (a
 * self-hosted endpoint, or a test upstream behind transparent mode). */
static int pin_with_port(const char *addr, struct kh_pin *pin)
{
	struct kh_listen_addr a;

	if (parse_listen(addr, &a) != 0)
		return -1;
	pin->port = ntohs(a.addr.ss_family == AF_INET
				  ? ((struct sockaddr_in *)&a.addr)->sin_port
				  : ((struct sockaddr_in6 *)&a.addr)->sin6_port);
	if (pin->port == 0)
		return -1;
	pin->addr = a.addr;
	pin->addrlen = a.addrlen;
	return 0;
}

static bool pin_dup(const struct kh_config *c, const char *host)
{
	for (size_t i = 0; i < c->n_pins; i++)
		if (strcmp(c->pins[i].host, host) == 0)
			return true;
	return false;
}

static int add_pin(struct ctx *x, yaml_node_t *k, yaml_node_t *v, const char *path)
{
	struct kh_pin *pin = &x->c->pins[x->c->n_pins];
	char kpath[KH_CONFIG_KEYPATH_MAX], shown[SHOW_BUF];
	const char *addr;

	join_path(kpath, path, show(k, shown));
	if (kh_host_normalize(kh_slice_make(k->data.scalar.value, k->data.scalar.length),
			      pin->host) != KH_HOST_NAME)
		return fail(x, k, kpath,
			    "'%s' is not a host name; pins are for exact names like "
			    "api.example.com (no wildcards, no addresses)",
			    shown);
	/* "API.example.com" and "api.example.com." are the same host. */
	if (pin_dup(x->c, pin->host))
		return fail(x, k, kpath, "'%s' is pinned twice", pin->host);
	if (is_null(v))
		return fail(x, k, kpath, "needs an IP address, e.g. 203.0.113.7");
	if (get_scalar(x, v, kpath, &addr) != 0)
		return -1;
	if (ip_to_sockaddr(addr, AF_UNSPEC, 0, &pin->addr, &pin->addrlen) != 0 &&
	    pin_with_port(addr, pin) != 0)
		return fail(
			x, v, kpath,
			"must be an IP address like 203.0.113.7 or 2001:db8::7, optionally with a "
			"port (203.0.113.7:8443, [2001:db8::7]:8443), got '%s'",
			show(v, shown));
	x->c->n_pins++;
	return 0;
}

static int set_resolve(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	struct kh_config *c = x->c;
	size_t count;

	(void)f;
	if (v->type != YAML_MAPPING_NODE)
		return fail(
			x, v, path,
			"must be a mapping of host: address, e.g. {api.example.com: 203.0.113.7}; "
			"got %s",
			kind_of(v));
	count = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
	if (count > KH_MAX_PINS)
		return fail(x, v, path, "has %zu entries; at most %d are allowed", count,
			    KH_MAX_PINS);
	if (check_keys(x, v, path) != 0)
		return -1;
	if (count > 0 && (c->pins = calloc(count, sizeof *c->pins)) == NULL)
		return oom(x);
	for (size_t i = 0; i < count; i++) {
		yaml_node_pair_t *p = &v->data.mapping.pairs.start[i];

		if (add_pin(x, yaml_document_get_node(x->doc, p->key),
			    yaml_document_get_node(x->doc, p->value), path) != 0)
			return -1;
	}
	return 0;
}

/* ---- allowed_ports: host pattern -> ports beyond 443 / 80 ---- */

static int add_port_range(struct ctx *x, yaml_node_t *list, size_t i, const char *path,
			  struct kh_port_rule *r)
{
	char ipath[KH_CONFIG_KEYPATH_MAX], shown[SHOW_BUF];
	yaml_node_t *item;
	const char *s;

	if (list_item(x, list, i, path, ipath, &item, &s) != 0)
		return -1;
	if (kh_port_range_parse(s, &r->ranges[r->n_ranges]) != 0)
		return fail(x, item, ipath,
			    "'%s' is not a port 1-65535 or a range like \"9000-9100\"",
			    show(item, shown));
	r->n_ranges++;
	return 0;
}

static int add_port_rule(struct ctx *x, yaml_node_t *k, yaml_node_t *v, const char *path)
{
	struct kh_port_rule *r = &x->c->port_rules[x->c->n_port_rules];
	char kpath[KH_CONFIG_KEYPATH_MAX], shown[SHOW_BUF];
	size_t count;

	join_path(kpath, path, show(k, shown));
	if (!printable_ascii((const char *)k->data.scalar.value) ||
	    kh_port_pattern_normalize((const char *)k->data.scalar.value, r->pattern) != 0)
		return fail(x, k, kpath,
			    "'%s' is not a host pattern; write \"host.example.com\", "
			    "\"*.example.com\" or \"*\" (every allowed host)",
			    shown);
	if (get_list(x, v, kpath, KH_MAX_PORT_RANGES, "[8443, \"9000-9100\"]", &count) != 0)
		return -1;
	for (size_t i = 0; i < count; i++)
		if (add_port_range(x, v, i, kpath, r) != 0)
			return -1;
	x->c->n_port_rules++;
	return 0;
}

static int set_allowed_ports(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	struct kh_config *c = x->c;
	size_t count;

	(void)f;
	if (v->type != YAML_MAPPING_NODE)
		return fail(x, v, path,
			    "must be a mapping of host pattern: ports, e.g. "
			    "{api.example.com: [8443, \"9000-9100\"]}; got %s",
			    kind_of(v));
	count = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
	if (count > KH_MAX_PORT_RULES)
		return fail(x, v, path, "has %zu entries; at most %d are allowed", count,
			    KH_MAX_PORT_RULES);
	if (check_keys(x, v, path) != 0)
		return -1;
	if (count > 0 && (c->port_rules = calloc(count, sizeof *c->port_rules)) == NULL)
		return oom(x);
	for (size_t i = 0; i < count; i++) {
		yaml_node_pair_t *p = &v->data.mapping.pairs.start[i];

		if (add_port_rule(x, yaml_document_get_node(x->doc, p->key),
				  yaml_document_get_node(x->doc, p->value), path) != 0)
			return -1;
	}
	return 0;
}

/* ---- providers: custom credentials ---- */

struct prov_ctx {
	struct ctx *x;
	struct kh_custom_provider *p;
	const char *path; /* "providers[3]" */
	yaml_node_t *entry;
	yaml_node_t *location, *tmpl; /* applied once both are known */
};

static int prov_env(struct prov_ctx *pc, yaml_node_t *v, const char *path)
{
	struct kh_config *c = pc->x->c;
	char shown[SHOW_BUF];
	const char *s;
	size_t o = 0;

	if (get_scalar(pc->x, v, path, &s) != 0)
		return -1;
	if (!env_name(s) || strlen(s) >= sizeof pc->p->env_name)
		return fail(pc->x, v, path,
			    "must be an environment variable name like GITHUB_TOKEN (A-Z, 0-9 and "
			    "_, not starting with a digit, under 64 bytes), got '%s'",
			    show(v, shown));
	if (kh_provider_find(s) != NULL)
		return fail(pc->x, v, path,
			    "%s is a built-in provider; keyhole setup maps it without an entry", s);
	for (size_t i = 0; i < c->n_providers; i++)
		if (strcmp(c->providers[i].env_name, s) == 0)
			return fail(pc->x, v, path, "%s already has an entry (providers[%zu])", s,
				    i);
	memcpy(pc->p->env_name, s, strlen(s) + 1);
	memcpy(pc->p->token_prefix, "keyhole-", 8);
	for (o = 0; s[o] != '\0'; o++)
		pc->p->token_prefix[8 + o] = s[o] == '_' ? '-' : kh_ascii_lower(s[o]);
	pc->p->token_prefix[8 + o] = '\0';
	return 0;
}

static int prov_hosts(struct prov_ctx *pc, yaml_node_t *v, const char *path)
{
	size_t count;
	char *pat;

	if (get_list(pc->x, v, path, KH_MAX_PROVIDER_HOSTS, "[\"api.example.com\"]", &count) != 0)
		return -1;
	if (count == 0)
		return fail(pc->x, v, path, "must name at least one host the key may be sent to");
	for (size_t i = 0; i < count; i++) {
		if (add_pattern(pc->x, v, i, path, &pat) != 0)
			return -1;
		snprintf(pc->p->hosts[i], sizeof pc->p->hosts[i], "%s", pat);
		free(pat);
		pc->p->n_hosts++;
	}
	return 0;
}

/* One location spec; the template goes to header locations only. */
static int prov_one_location(struct prov_ctx *pc, yaml_node_t *v, const char *path,
			     const char *tmpl)
{
	struct kh_location *l = &pc->p->locs[pc->p->n_locs];
	char shown[SHOW_BUF];
	const char *s, *why;

	if (get_scalar(pc->x, v, path, &s) != 0)
		return -1;
	if (kh_location_parse(s, strncmp(s, "header", 6) == 0 ? tmpl : NULL, l, &why) != 0)
		return fail(pc->x, v, path, "'%s': %s", show(v, shown), why);
	pc->p->n_locs++;
	return 0;
}

static int prov_locations(struct prov_ctx *pc)
{
	yaml_node_t *v = pc->location;
	const char *tmpl = NULL;
	char path[KH_CONFIG_KEYPATH_MAX], ipath[KH_CONFIG_KEYPATH_MAX];
	size_t count;
	bool header = false;

	if (pc->tmpl != NULL) {
		join_path(path, pc->path, "template");
		if (get_scalar(pc->x, pc->tmpl, path, &tmpl) != 0)
			return -1;
	}
	join_path(path, pc->path, "location");
	if (v == NULL)
		return fail(pc->x, pc->entry, path,
			    "is required: bearer, basic, header NAME or query NAME");
	if (v->type == YAML_SCALAR_NODE) {
		if (prov_one_location(pc, v, path, tmpl) != 0)
			return -1;
	} else {
		if (get_list(pc->x, v, path, KH_MAX_LOCATIONS, "[bearer, \"header x-api-key\"]",
			     &count) != 0)
			return -1;
		if (count == 0)
			return fail(pc->x, v, path, "must name at least one location");
		for (size_t i = 0; i < count; i++) {
			snprintf(ipath, sizeof ipath, "%s[%zu]", path, i);
			if (prov_one_location(pc,
					      yaml_document_get_node(
						      pc->x->doc, v->data.sequence.items.start[i]),
					      ipath, tmpl) != 0)
				return -1;
		}
	}
	for (size_t i = 0; i < pc->p->n_locs; i++)
		header |= pc->p->locs[i].kind == KH_LOC_HEADER;
	if (tmpl != NULL && !header) {
		join_path(path, pc->path, "template");
		return fail(pc->x, pc->tmpl, path,
			    "applies to header locations only (e.g. location: header "
			    "Authorization, template: \"token {}\")");
	}
	return 0;
}

static int prov_pair(struct prov_ctx *pc, yaml_node_pair_t *pair)
{
	yaml_node_t *k = yaml_document_get_node(pc->x->doc, pair->key);
	yaml_node_t *v = yaml_document_get_node(pc->x->doc, pair->value);
	char kpath[KH_CONFIG_KEYPATH_MAX], shown[SHOW_BUF];

	join_path(kpath, pc->path, show(k, shown));
	if (key_is(k, "env"))
		return prov_env(pc, v, kpath);
	if (key_is(k, "hosts"))
		return prov_hosts(pc, v, kpath);
	if (key_is(k, "location"))
		pc->location = v;
	else if (key_is(k, "template"))
		pc->tmpl = v;
	else /* a typo here could silently change where a key goes: refuse */
		return fail(pc->x, k, kpath,
			    "unknown key; a provider has env, hosts, location "
			    "and optionally template");
	return 0;
}

static int add_provider(struct ctx *x, yaml_node_t *list, size_t i, const char *path)
{
	struct prov_ctx pc = { .x = x, .p = &x->c->providers[x->c->n_providers] };
	char ipath[KH_CONFIG_KEYPATH_MAX], kpath[KH_CONFIG_KEYPATH_MAX];

	snprintf(ipath, sizeof ipath, "%s[%zu]", path, i);
	pc.path = ipath;
	pc.entry = yaml_document_get_node(x->doc, list->data.sequence.items.start[i]);
	if (pc.entry == NULL || pc.entry->type != YAML_MAPPING_NODE)
		return fail(x, pc.entry ? pc.entry : list, ipath,
			    "must be a mapping: {env: NAME, hosts: [...], location: ...}");
	if (check_keys(x, pc.entry, ipath) != 0)
		return -1;
	for (yaml_node_pair_t *p = pc.entry->data.mapping.pairs.start;
	     p < pc.entry->data.mapping.pairs.top; p++)
		if (prov_pair(&pc, p) != 0)
			return -1;
	if (pc.p->env_name[0] == '\0' || pc.p->n_hosts == 0) {
		join_path(kpath, ipath, pc.p->env_name[0] == '\0' ? "env" : "hosts");
		return fail(x, pc.entry, kpath, "is required");
	}
	if (prov_locations(&pc) != 0)
		return -1;
	x->c->n_providers++;
	return 0;
}

static int set_providers(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	size_t count;

	(void)f;
	if (get_list(x, v, path, KH_MAX_PROVIDERS,
		     "[{env: GITHUB_TOKEN, hosts: [api.github.com], location: bearer}]",
		     &count) != 0)
		return -1;
	if (count > 0 && (x->c->providers = calloc(count, sizeof *x->c->providers)) == NULL)
		return oom(x);
	for (size_t i = 0; i < count; i++)
		if (add_provider(x, v, i, path) != 0)
			return -1;
	return 0;
}

static const struct field timeout_fields[] = {
	{ "handshake", set_seconds, OFF(timeouts.handshake), 1, KH_MAX_TIMEOUT },
	{ "header", set_seconds, OFF(timeouts.header), 1, KH_MAX_TIMEOUT },
	{ "keepalive", set_seconds, OFF(timeouts.keepalive), 1, KH_MAX_TIMEOUT },
	{ "connect", set_seconds, OFF(timeouts.connect), 1, KH_MAX_TIMEOUT },
	{ "response", set_seconds, OFF(timeouts.response), 1, KH_MAX_TIMEOUT },
	{ "idle", set_seconds, OFF(timeouts.idle), 1, KH_MAX_TIMEOUT },
	{ "shutdown_grace", set_seconds, OFF(timeouts.shutdown_grace), 1, KH_MAX_TIMEOUT },
};

static const struct field limit_fields[] = {
	{ "max_connections", set_size, OFF(limits.max_connections), 1, KH_MAX_CONNECTIONS_CEIL },
	{ "max_header_bytes", set_size, OFF(limits.max_header_bytes), 1024,
	  KH_MAX_HEADER_BYTES_CEIL },
	{ "max_headers", set_size, OFF(limits.max_headers), 8, KH_MAX_HEADERS_CEIL },
};

static const struct field bitwarden_fields[] = {
	{ "project_id", set_string, OFF(bitwarden_project_id), 0, BUFSZ(bitwarden_project_id) },
	{ "access_token_env", set_env_name, OFF(bitwarden_token_env), 0,
	  BUFSZ(bitwarden_token_env) },
};

static const struct field sandbox_token_fields[] = {
	{ "ttl", set_seconds, OFF(sandbox_token_ttl), 0, (uint64_t)KH_MAX_GRANT_TTL },
	{ "budget", set_size, OFF(sandbox_token_budget), 0, KH_MAX_GRANT_BUDGET },
	{ "save_interval", set_seconds, OFF(sandbox_token_save_interval), 1,
	  KH_MAX_GRANT_SAVE_SECS },
};

static const struct field aws_fields[] = {
	{ "buckets", set_aws_buckets, 0, 0, 0 },
};

static int set_aws(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	(void)f;
	return walk_map(x, v, path, aws_fields, ARRAY_LEN(aws_fields));
}

static int set_sandbox_tokens(struct ctx *x, const struct field *f, yaml_node_t *v,
			      const char *path)
{
	(void)f;
	return walk_map(x, v, path, sandbox_token_fields, ARRAY_LEN(sandbox_token_fields));
}

static int set_timeouts(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	(void)f;
	return walk_map(x, v, path, timeout_fields, ARRAY_LEN(timeout_fields));
}

static int set_limits(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	(void)f;
	return walk_map(x, v, path, limit_fields, ARRAY_LEN(limit_fields));
}

static int set_bitwarden(struct ctx *x, const struct field *f, yaml_node_t *v, const char *path)
{
	(void)f;
	return walk_map(x, v, path, bitwarden_fields, ARRAY_LEN(bitwarden_fields));
}

static const struct field top_fields[] = {
	{ "enabled", set_bool, OFF(enabled), 0, 0 },
	{ "tunnel_port", set_u16, OFF(tunnel_port), 0, 65535 },
	{ "credential_source", set_cred_source, 0, 0, 0 },
	{ "enforce_on_docker", set_bool, OFF(enforce_on_docker), 0, 0 },
	{ "fail_on_uncovered_providers", set_bool, OFF(fail_on_uncovered_providers), 0, 0 },
	{ "allow_env_fallback", set_bool, OFF(allow_env_fallback), 0, 0 },
	{ "upstream_deny_cidrs", set_deny_cidrs, 0, 0, 0 },
	{ "extra_allowed_hosts", set_extra_hosts, 0, 0, 0 },
	{ "allowed_ports", set_allowed_ports, 0, 0, 0 },
	{ "listen", set_listen, 0, 0, 0 },
	{ "listen_docker_bridge", set_bool, OFF(listen_docker_bridge), 0, 0 },
	{ "listen_unix", set_bool, OFF(listen_unix), 0, 0 },
	{ "metrics_listen", set_metrics_listen, 0, 0, 0 },
	{ "upstream_ca_file", set_string, OFF(upstream_ca_file), 0, BUFSZ(upstream_ca_file) },
	{ "resolve", set_resolve, 0, 0, 0 },
	{ "dns_servers", set_dns_servers, 0, 0, 0 },
	{ "cleartext_credential_hosts", set_cleartext_hosts, 0, 0, 0 },
	{ "scrub_responses", set_bool, OFF(scrub_responses), 0, 0 },
	{ "privsep", set_bool, OFF(privsep), 0, 0 },
	{ "workers", set_uint, OFF(workers), 0, KH_MAX_WORKERS },
	{ "busy_poll_us", set_uint, OFF(busy_poll_us), 0, KH_MAX_BUSY_POLL_US },
	{ "cert_cache_size", set_size, OFF(cert_cache_size), 1, KH_MAX_CERT_CACHE },
	{ "timeouts", set_timeouts, 0, 0, 0 },
	{ "sandbox_tokens", set_sandbox_tokens, 0, 0, 0 },
	{ "limits", set_limits, 0, 0, 0 },
	{ "log_level", set_log_level, 0, 0, 0 },
	{ "audit_failure", set_audit_failure, 0, 0, 0 },
	{ "bitwarden", set_bitwarden, 0, 0, 0 },
	{ "credential_command", set_string, OFF(credential_command), 0, BUFSZ(credential_command) },
	{ "providers", set_providers, 0, 0, 0 },
	{ "aws", set_aws, 0, 0, 0 },
};

/* ---- documents ---- */

static unsigned long line_at(const char *text, size_t len, size_t off)
{
	unsigned long line = 1;

	for (size_t i = 0; i < off && i < len; i++)
		line += text[i] == '\n';
	return line;
}

static int syntax_error(struct ctx *x, const yaml_parser_t *p, const char *text, size_t len)
{
	const char *problem = p->problem != NULL ? p->problem : "unreadable input";

	if (p->error == YAML_MEMORY_ERROR)
		return oom(x);
	/* Reader (encoding) errors carry a byte offset instead of a mark. */
	if (p->error == YAML_READER_ERROR)
		kh_err_set(x->err, "%s:%lu: YAML syntax error: %s (byte %zu)", x->name,
			   line_at(text, len, p->problem_offset), problem, p->problem_offset);
	else if (p->context != NULL)
		kh_err_set(x->err, "%s:%lu: YAML syntax error: %s (%s on line %lu)", x->name,
			   (unsigned long)p->problem_mark.line + 1, problem, p->context,
			   (unsigned long)p->context_mark.line + 1);
	else
		kh_err_set(x->err, "%s:%lu: YAML syntax error: %s", x->name,
			   (unsigned long)p->problem_mark.line + 1, problem);
	return -1;
}

static int walk_root(struct ctx *x)
{
	yaml_node_t *root = yaml_document_get_root_node(x->doc);

	if (root == NULL || is_null(root))
		return 0; /* empty file: all defaults */
	if (root->type != YAML_MAPPING_NODE)
		return fail(x, root, "",
			    "top level must be a mapping of settings (key: value lines), got %s",
			    kind_of(root));
	return walk_map(x, root, "", top_fields, ARRAY_LEN(top_fields));
}

/* A second "---" document would be silently ignored; refuse it instead. */
static int check_single_doc(struct ctx *x, yaml_parser_t *p, const char *text, size_t len)
{
	yaml_document_t extra;
	yaml_node_t *root;
	int rc = 0;

	if (!yaml_parser_load(p, &extra))
		return syntax_error(x, p, text, len);
	root = yaml_document_get_root_node(&extra);
	if (root != NULL && !is_null(root))
		rc = fail(x, root, "",
			  "only one YAML document is allowed; remove the second '---'");
	yaml_document_delete(&extra);
	return rc;
}

/* Deepest flow nesting ([ and {) outside quotes and comments, and the line
 * it is reached on. libyaml re-scans its whole stack of open flow levels for
 * every token, so a file of nested brackets takes time quadratic in their
 * depth (minutes for a few hundred thousand): it is refused before libyaml
 * sees it. A bracket inside a plain scalar counts too; that only errs on the
 * side of refusing files no real config resembles. */
static size_t flow_depth(const char *t, size_t len, unsigned long *line_at)
{
	size_t depth = 0, max = 0;
	unsigned long line = 1;
	char quote = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = t[i];

		line += ch == '\n';
		if (quote != 0) {
			if (ch == '\\' && quote == '"' && i + 1 < len)
				i++;
			else if (ch == quote)
				quote = 0;
		} else if (ch == '\'' || ch == '"') {
			quote = ch;
		} else if (ch == '#' &&
			   (i == 0 || t[i - 1] == ' ' || t[i - 1] == '\t' || t[i - 1] == '\n')) {
			while (i + 1 < len && t[i + 1] != '\n')
				i++;
		} else if ((ch == '[' || ch == '{') && ++depth > max) {
			max = depth;
			*line_at = line;
		} else if ((ch == ']' || ch == '}') && depth > 0) {
			depth--;
		}
	}
	return max;
}

static int parse_text(struct kh_config *c, const char *text, size_t len, struct kh_err *err)
{
	struct ctx x = { .name = c->path, .c = c, .err = err };
	yaml_parser_t parser;
	yaml_document_t doc;
	int rc;

	unsigned long deep_line = 0;

	if (len > KH_MAX_CONFIG_BYTES) {
		kh_err_set(err, "%s is %zu bytes; the limit is %u", c->path, len,
			   KH_MAX_CONFIG_BYTES);
		return -1;
	}
	if (text != NULL && flow_depth(text, len, &deep_line) > KH_MAX_CONFIG_NESTING) {
		kh_err_set(err, "%s:%lu: [ ] and { } nested more than %d deep", c->path, deep_line,
			   KH_MAX_CONFIG_NESTING);
		return -1;
	}
	if (!yaml_parser_initialize(&parser))
		return oom(&x);
	yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""), len);
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	/* On failure yaml_parser_load has already freed the document. */
	if (!yaml_parser_load(&parser, &doc)) {
		rc = syntax_error(&x, &parser, text, len);
		goto out;
	}
	x.doc = &doc;
	rc = check_single_doc(&x, &parser, text, len);
	if (rc == 0)
		rc = walk_root(&x);
	yaml_document_delete(&doc);
out:
	yaml_parser_delete(&parser);
	return rc;
}

/* ---- public ---- */

static void default_deny_cidrs(struct kh_config *c)
{
	c->deny_cidrs = calloc(kh_default_deny_cidrs_count, sizeof *c->deny_cidrs);
	/* The interface promises that defaults never fail, and running without
	 * the deny list is not an option: a few hundred bytes missing is fatal. */
	if (c->deny_cidrs == NULL)
		kh_check_failed("memory for the default upstream_deny_cidrs", __FILE__, __LINE__);
	for (size_t i = 0; i < kh_default_deny_cidrs_count; i++) {
		int rc = kh_cidr_parse(kh_default_deny_cidrs[i], &c->deny_cidrs[i], NULL);

		KH_CHECK(rc == 0);
	}
	c->n_deny_cidrs = kh_default_deny_cidrs_count;
}

/* c is overwritten, not freed: pass a fresh struct (or one already freed). */
void kh_config_defaults(struct kh_config *c)
{
	memset(c, 0, sizeof *c);
	c->tunnel_port = KH_DEFAULT_TUNNEL_PORT;
	c->listen_docker_bridge = true;
	c->listen_unix = true;
	c->privsep = true;
	c->scrub_responses = true;
	c->metrics_enabled = parse_listen("127.0.0.1:0", &c->metrics_listen) == 0;
	c->credential_source = KH_CRED_ENV;
	c->enforce_on_docker = true;
	c->cert_cache_size = KH_DEFAULT_CERT_CACHE;
	c->busy_poll_us = KH_DEFAULT_BUSY_POLL_US;
	c->sandbox_token_ttl = KH_DEFAULT_GRANT_TTL;
	c->sandbox_token_save_interval = KH_DEFAULT_GRANT_SAVE_SECS;
	c->timeouts = (struct kh_timeouts){
		.handshake = KH_DEFAULT_HANDSHAKE_TIMEOUT,
		.header = KH_DEFAULT_HEADER_TIMEOUT,
		.keepalive = KH_DEFAULT_KEEPALIVE_TIMEOUT,
		.connect = KH_DEFAULT_CONNECT_TIMEOUT,
		.response = KH_DEFAULT_RESPONSE_TIMEOUT,
		.idle = KH_DEFAULT_IDLE_TIMEOUT,
		.shutdown_grace = KH_DEFAULT_SHUTDOWN_GRACE,
	};
	c->limits = (struct kh_config_limits){
		.max_connections = KH_DEFAULT_MAX_CONNECTIONS,
		.max_header_bytes = KH_DEFAULT_MAX_HEADER_BYTES,
		.max_headers = KH_DEFAULT_MAX_HEADERS,
	};
	c->log_level = KH_LOG_INFO;
	memcpy(c->bitwarden_token_env, "BWS_ACCESS_TOKEN", sizeof "BWS_ACCESS_TOKEN");
	default_deny_cidrs(c);
}

/* On failure c holds whatever was read before the error (and the warnings so
 * far): report err, then kh_config_free(c); do not run with it. */
int kh_config_parse(const char *name, const char *text, size_t len, struct kh_config *c,
		    struct kh_err *err)
{
	kh_config_defaults(c);
	snprintf(c->path, sizeof c->path, "%s", name != NULL ? name : "config.yaml");
	return parse_text(c, text, len, err);
}

/* 1 if path is simply not there, 0 if it is (or a read should say why not). */
static int config_missing(const char *path, struct kh_err *err)
{
	struct stat st;

	if (stat(path, &st) == 0 || errno != ENOENT)
		return 0;
	/* A dotfiles symlink pointing nowhere is a mistake, not "no config". */
	if (lstat(path, &st) == 0) {
		kh_err_set(err, "%s is a symlink to a missing file", path);
		return -1;
	}
	return 1;
}

int kh_config_read(const char *path, char **text, size_t *len, bool *present, struct kh_err *err)
{
	int rc = config_missing(path, err);

	*text = NULL;
	*len = 0;
	*present = false;
	if (rc != 0)
		return rc > 0 ? 0 : -1;
	/* Not nofollow: config.yaml is often a symlink managed by dotfiles. */
	if (kh_fs_read_file(path, KH_MAX_CONFIG_BYTES, false, text, len, err) != 0)
		return -1;
	*present = true;
	return 0;
}

int kh_config_load(const char *path, struct kh_config *c, struct kh_err *err)
{
	size_t plen = strlen(path), len = 0;
	char *text = NULL;
	bool present;
	int rc;

	kh_config_defaults(c);
	if (plen >= sizeof c->path) {
		kh_err_set(err, "config path is too long (%zu bytes)", plen);
		return -1;
	}
	if (kh_config_read(path, &text, &len, &present, err) != 0)
		return -1;
	if (!present)
		return 0;
	memcpy(c->path, path, plen + 1);
	c->file_existed = true;
	rc = parse_text(c, text, len, err);
	free(text);
	return rc;
}

static void free_strv(char ***v, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
	*n = 0;
}

void kh_config_free(struct kh_config *c)
{
	if (c == NULL)
		return;
	free(c->deny_cidrs);
	c->deny_cidrs = NULL;
	c->n_deny_cidrs = 0;
	free_strv(&c->extra_allowed_hosts, &c->n_extra_allowed_hosts);
	free(c->port_rules);
	c->port_rules = NULL;
	c->n_port_rules = 0;
	free_strv(&c->cleartext_credential_hosts, &c->n_cleartext_credential_hosts);
	free_strv(&c->dns_servers, &c->n_dns_servers);
	free_strv(&c->aws_buckets, &c->n_aws_buckets);
	c->aws_buckets_set = false;
	free_strv(&c->warnings, &c->n_warnings);
	free(c->pins);
	c->pins = NULL;
	c->n_pins = 0;
	free(c->providers);
	c->providers = NULL;
	c->n_providers = 0;
}

const char *kh_cred_source_name(enum kh_cred_source s)
{
	switch (s) {
	case KH_CRED_ENV:
		return "env";
	case KH_CRED_BITWARDEN:
		return "bitwarden";
	case KH_CRED_COMMAND:
		return "command";
	}
	return "unknown";
}
