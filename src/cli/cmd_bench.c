/* `keyhole bench`: command-line front end of the load generator (loadgen.c).
 * Parses and validates every option up front (a bad flag is a usage error
 * before any connection is made), resolves the address to connect to once,
 * runs the load and prints the result as text or one JSON object. */
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "http/http1.h"
#include "base/jsonl.h"
#include "tools/loadgen.h"
#include "base/kh_limits.h"

#define CMD "bench"

/* --connect-to / --resolve: (host, port) -> (address, port); empty host or
 * port 0 matches anything. */
struct override {
	char host[KH_HOST_BUF];
	uint16_t port;
	char to_host[KH_HOST_BUF];
	uint16_t to_port; /* 0: keep the target's port */
};

struct cli {
	struct kh_lg_opts o;
	const char *url;
	const char *proxy;
	char path[KH_LG_MAX_PATH + 2];
	struct override ov[KH_BENCH_MAX_OVERRIDES];
	size_t n_ov;
	bool json;
	bool method_set;
	uint64_t idle;
};

static volatile int interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* --- value parsers (no strto*: kh_slice_to_u64 is strict) --- */

/* "10", "2.5", "250ms" -> milliseconds. */
static int parse_seconds(const char *s, uint64_t *ms)
{
	struct kh_slice v = kh_slice_cstr(s), frac = { NULL, 0 };
	uint64_t whole, f = 0;

	if (v.len > 2 && strcmp(s + v.len - 2, "ms") == 0)
		return kh_slice_to_u64(kh_slice_make(s, v.len - 2),
				       (uint64_t)KH_LG_MAX_SECONDS * 1000u, ms);
	if (kh_slice_find(v, '.') >= 0) {
		struct kh_slice head;

		kh_slice_split(&v, '.', &head);
		frac = v;
		v = head;
	}
	if (frac.ptr != NULL && (frac.len == 0 || frac.len > 3))
		return -1;
	if (kh_slice_to_u64(v, KH_LG_MAX_SECONDS, &whole) != 0 ||
	    (frac.len && kh_slice_to_u64(frac, 999, &f) != 0))
		return -1;
	for (size_t i = frac.len; i < 3; i++)
		f *= 10;
	*ms = whole * 1000u + f;
	return 0;
}

/* "4096", "64k", "256M", "1G" (binary multiples). */
static int parse_size(const char *s, uint64_t max, uint64_t *out)
{
	struct kh_slice v = kh_slice_cstr(s);
	unsigned shift = 0;
	uint64_t n;

	if (v.len > 1) {
		char u = kh_ascii_lower(s[v.len - 1]);

		shift = u == 'k' ? 10 : u == 'm' ? 20 : u == 'g' ? 30 : 0;
		if (shift)
			v.len--;
	}
	if (kh_slice_to_u64(v, max >> shift, &n) != 0)
		return -1;
	*out = n << shift;
	return 0;
}

/* Next ':'-separated field; "[v6]" is one field, brackets kept. */
static bool next_field(struct kh_slice *s, struct kh_slice *f)
{
	if (s->ptr == NULL)
		return false;
	if (s->len > 0 && s->ptr[0] == '[') {
		long close = kh_slice_find(*s, ']');

		if (close < 0)
			return false;
		*f = kh_slice_make(s->ptr, (size_t)close + 1);
		*s = kh_slice_make(s->ptr + close + 1, s->len - (size_t)close - 1);
		if (s->len > 0 && s->ptr[0] != ':')
			return false;
		*s = s->len > 0 ? kh_slice_make(s->ptr + 1, s->len - 1)
				: (struct kh_slice){ NULL, 0 };
		return true;
	}
	if (!kh_slice_split(s, ':', f))
		s->ptr = NULL; /* last field */
	return true;
}

static int host_field(struct kh_slice f, char out[KH_HOST_BUF])
{
	if (f.len >= 2 && f.ptr[0] == '[' && f.ptr[f.len - 1] == ']')
		f = kh_slice_make(f.ptr + 1, f.len - 2);
	if (f.len == 0) {
		out[0] = '\0';
		return 0;
	}
	return kh_host_normalize(f, out) < 0 ? -1 : 0;
}

static int port_field(struct kh_slice f, uint16_t *port)
{
	uint64_t v = 0;

	if (f.len > 0 && kh_slice_to_u64(f, 65535, &v) != 0)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* --connect-to HOST:PORT:CONNECT_HOST:CONNECT_PORT (curl's syntax). */
static int parse_connect_to(const char *s, struct override *ov)
{
	struct kh_slice in = kh_slice_cstr(s), f[4];

	for (int i = 0; i < 4; i++)
		if (!next_field(&in, &f[i]))
			return -1;
	if (in.ptr != NULL || host_field(f[0], ov->host) != 0 || port_field(f[1], &ov->port) != 0 ||
	    host_field(f[2], ov->to_host) != 0 || port_field(f[3], &ov->to_port) != 0 ||
	    ov->to_host[0] == '\0')
		return -1;
	return 0;
}

/* --resolve HOST:ADDR or HOST:PORT:ADDR (curl's). */
static int parse_resolve(const char *s, struct override *ov)
{
	struct kh_slice in = kh_slice_cstr(s), f[3];
	int n = 0;

	while (n < 3 && next_field(&in, &f[n]))
		n++;
	if (in.ptr != NULL || n < 2 || host_field(f[0], ov->host) != 0 || ov->host[0] == '\0')
		return -1;
	if (n == 3 && port_field(f[1], &ov->port) != 0)
		return -1;
	if (host_field(f[n - 1], ov->to_host) != 0 || ov->to_host[0] == '\0')
		return -1;
	ov->to_port = 0;
	return 0;
}

/* "Name: value": a token, a colon, a value without CR, LF or NUL. */
static int check_header(const char *h)
{
	const char *colon = strchr(h, ':');

	if (colon == NULL || colon == h || strlen(h) > KH_LG_MAX_HEADER_LEN)
		return -1;
	for (const char *p = h; p < colon; p++)
		if (!kh_http_is_tchar((unsigned char)*p))
			return -1;
	if (strpbrk(colon, "\r\n") != NULL)
		return -1;
	/* Host is derived from --url; a second one would make the request invalid. */
	return kh_slice_eq_cstr_nocase(kh_slice_make(h, (size_t)(colon - h)), "host") ? -1 : 0;
}

static int check_method(const char *m)
{
	if (m[0] == '\0' || strlen(m) > 32 || strcmp(m, "CONNECT") == 0)
		return -1;
	for (const char *p = m; *p; p++)
		if (!kh_http_is_tchar((unsigned char)*p))
			return -1;
	return 0;
}

/* --- URLs --- */

/* "scheme://authority[/path]" -> authority slice and path into cli->path. */
static int split_url(struct kh_slice u, const char *scheme, struct kh_slice *auth, struct cli *x,
		     bool want_path)
{
	size_t i = 0, sl = strlen(scheme);
	struct kh_slice path;

	if (!kh_slice_starts_with_nocase(u, scheme))
		return -1;
	u = kh_slice_make(u.ptr + sl, u.len - sl);
	while (i < u.len && u.ptr[i] != '/' && u.ptr[i] != '?')
		i++;
	*auth = kh_slice_make(u.ptr, i);
	path = kh_slice_make(u.ptr + i, u.len - i);
	if (auth->len == 0 || kh_slice_find(*auth, '@') >= 0)
		return -1;
	if (!want_path)
		return path.len == 0 || kh_slice_eq_cstr(path, "/") ? 0 : -1;
	for (size_t k = 0; k < path.len; k++)
		if ((unsigned char)path.ptr[k] <= 0x20 || (unsigned char)path.ptr[k] >= 0x7f)
			return -1; /* it goes into the request line verbatim */
	x->path[0] = '/';
	if (path.len > KH_LG_MAX_PATH)
		return -1;
	/* "" -> "/", "?q" -> "/?q", "/p" -> "/p" */
	memcpy(x->path + (path.len && path.ptr[0] == '/' ? 0 : 1), path.ptr, path.len);
	x->path[path.len + (path.len && path.ptr[0] == '/' ? 0 : 1)] = '\0';
	return 0;
}

static int parse_target(struct cli *x)
{
	struct kh_slice u = kh_slice_cstr(x->url), auth;
	int kind;

	x->o.tls = kh_slice_starts_with_nocase(u, "https://");
	if (split_url(u, x->o.tls ? "https://" : "http://", &auth, x, true) != 0)
		return -1;
	kind = kh_authority_parse(auth, x->o.tls ? 443 : 80, x->o.host, &x->o.port);
	if (kind < 0)
		return -1;
	x->o.host_is_ip = kind != KH_HOST_NAME;
	x->o.path = x->path;
	return 0;
}

static int resolve_addr(const char *host, uint16_t port, struct kh_lg_opts *o)
{
	struct addrinfo hints, *res = NULL;
	char portstr[8];

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	kh_fmt(portstr, sizeof portstr, "%u", (unsigned)port);
	if (getaddrinfo(host, portstr, &hints, &res) != 0 || res == NULL)
		return -1;
	memcpy(&o->addr, res->ai_addr, res->ai_addrlen);
	o->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int resolve_proxy(struct cli *x)
{
	struct kh_slice auth;
	char host[KH_HOST_BUF];
	uint16_t port;

	if (split_url(kh_slice_cstr(x->proxy), "http://", &auth, x, false) != 0 ||
	    kh_authority_parse(auth, 8080, host, &port) < 0)
		return kh_cli_usage_error(CMD, "--proxy must be http://HOST:PORT");
	if (resolve_addr(host, port, &x->o) != 0) {
		fprintf(stderr, "keyhole bench: cannot resolve proxy host %s\n", host);
		return KH_EXIT_FAIL;
	}
	x->o.via_proxy = true;
	return 0;
}

/* Direct: the first --connect-to/--resolve that matches, else DNS. */
static int resolve_direct(struct cli *x)
{
	const char *host = x->o.host;
	uint16_t port = x->o.port;

	for (size_t i = 0; i < x->n_ov; i++) {
		const struct override *v = &x->ov[i];

		if ((v->host[0] == '\0' || strcmp(v->host, x->o.host) == 0) &&
		    (v->port == 0 || v->port == x->o.port)) {
			host = v->to_host;
			port = v->to_port ? v->to_port : x->o.port;
			break;
		}
	}
	if (resolve_addr(host, port, &x->o) != 0) {
		fprintf(stderr, "keyhole bench: cannot resolve %s (use --resolve HOST:ADDR)\n",
			host);
		return KH_EXIT_FAIL;
	}
	return 0;
}

/* --- options --- */

static int need_value(int argc, char **argv, int *i, const char **val)
{
	if (*i + 1 >= argc)
		return kh_cli_usage_error(CMD, "%s needs a value", argv[*i]);
	*val = argv[++*i];
	return 0;
}

static int bad(const char *opt, const char *val)
{
	return kh_cli_usage_error(CMD, "invalid value for %s: '%s'", opt, val);
}

static int set_count(const char *opt, const char *val, uint64_t max, uint64_t *out)
{
	if (kh_parse_u64(val, max, out) != 0 || *out == 0)
		return kh_cli_usage_error(CMD, "%s must be 1..%llu, got '%s'", opt,
					  (unsigned long long)max, val);
	return 0;
}

static int add_override(struct cli *x, const char *opt, const char *val, bool resolve)
{
	if (x->n_ov == KH_BENCH_MAX_OVERRIDES)
		return kh_cli_usage_error(CMD, "at most %d --resolve/--connect-to",
					  KH_BENCH_MAX_OVERRIDES);
	if ((resolve ? parse_resolve(val, &x->ov[x->n_ov])
		     : parse_connect_to(val, &x->ov[x->n_ov])) != 0)
		return bad(opt, val);
	x->n_ov++;
	return 0;
}

static int add_header(struct cli *x, const char *val)
{
	if (x->o.n_headers == KH_LG_MAX_HEADERS)
		return kh_cli_usage_error(CMD, "at most %d --header options", KH_LG_MAX_HEADERS);
	if (check_header(val) != 0)
		return kh_cli_usage_error(
			CMD, "--header must be 'Name: value' (not Host), got '%s'", val);
	x->o.headers[x->o.n_headers++] = val;
	return 0;
}

/* Counted options: -c, -t, -n, --idle, --ramp. -1 if opt is not one. */
static int opt_count(struct cli *x, const char *opt, const char *val)
{
	const struct {
		const char *s, *l;
		uint64_t max;
		uint32_t *u32;
		uint64_t *u64;
	} t[] = {
		{ "-c", "--connections", KH_LG_MAX_CONNECTIONS, &x->o.connections, NULL },
		{ "-t", "--threads", KH_LG_MAX_THREADS, &x->o.threads, NULL },
		{ "-n", "--requests", KH_LG_MAX_REQUESTS, NULL, &x->o.max_requests },
		{ "--idle", "--idle", KH_LG_MAX_CONNECTIONS, NULL, &x->idle },
		{ "--ramp", "--ramp", KH_LG_MAX_CONNECTIONS, &x->o.ramp, NULL },
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		if (strcmp(opt, t[i].s) != 0 && strcmp(opt, t[i].l) != 0)
			continue;
		if (set_count(opt, val, t[i].max, &v) != 0)
			return KH_EXIT_USAGE;
		if (t[i].u32 != NULL)
			*t[i].u32 = (uint32_t)v;
		else
			*t[i].u64 = v;
		return 0;
	}
	return -1;
}

static int opt_value(struct cli *x, const char *opt, const char *val)
{
	if (!strcmp(opt, "--url"))
		x->url = val;
	else if (!strcmp(opt, "--proxy"))
		x->proxy = val;
	else if (!strcmp(opt, "--cacert"))
		x->o.cacert = val;
	else if (!strcmp(opt, "--resolve") || !strcmp(opt, "--connect-to"))
		return add_override(x, opt, val, opt[2] == 'r');
	else if (!strcmp(opt, "-H") || !strcmp(opt, "--header"))
		return add_header(x, val);
	else if (!strcmp(opt, "-X") || !strcmp(opt, "--method")) {
		if (check_method(val) != 0)
			return bad(opt, val);
		x->o.method = val;
		x->method_set = true;
	} else
		return opt_count(x, opt, val);
	return 0;
}

static int opt_time(struct cli *x, const char *opt, const char *val)
{
	uint64_t *dst;

	if (!strcmp(opt, "-d") || !strcmp(opt, "--duration"))
		dst = &x->o.duration_ms;
	else if (!strcmp(opt, "--warmup"))
		dst = &x->o.warmup_ms;
	else if (!strcmp(opt, "--timeout"))
		dst = &x->o.timeout_ms;
	else if (!strcmp(opt, "--hold"))
		dst = &x->o.hold_ms;
	else if (!strcmp(opt, "--body-size"))
		return parse_size(val, KH_LG_MAX_BODY, &x->o.body_size) == 0 ? 0 : bad(opt, val);
	else
		return -1;
	if (parse_seconds(val, dst) != 0)
		return bad(opt, val);
	if (*dst == 0 && dst != &x->o.warmup_ms)
		return kh_cli_usage_error(CMD, "%s must be more than 0", opt);
	return 0;
}

static bool opt_flag(struct cli *x, const char *opt)
{
	if (!strcmp(opt, "--new-conn"))
		x->o.mode = KH_LG_NEWCONN;
	else if (!strcmp(opt, "--sse"))
		x->o.sse = true;
	else if (!strcmp(opt, "--json"))
		x->json = true;
	else
		return false;
	return true;
}

static bool takes_value(const char *opt)
{
	static const char *const names[] = {
		"--url",        "--proxy",     "--cacert",      "--resolve",
		"--connect-to", "-H",          "--header",      "-X",
		"--method",     "-c",          "--connections", "-t",
		"--threads",    "-n",          "--requests",    "--idle",
		"-d",           "--duration",  "--warmup",      "--timeout",
		"--hold",       "--body-size", "--ramp",
	};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(opt, names[i]) == 0)
			return true;
	return false;
}

static int parse_args(struct cli *x, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = NULL;
		int rc;

		if (opt_flag(x, opt))
			continue;
		if (!takes_value(opt))
			return kh_cli_usage_error(CMD, "unknown option '%s'", opt);
		if ((rc = need_value(argc, argv, &i, &val)) != 0)
			return rc;
		rc = opt_value(x, opt, val);
		if (rc < 0)
			rc = opt_time(x, opt, val);
		if (rc < 0)
			return kh_cli_usage_error(CMD, "unknown option '%s'", opt);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void defaults(struct cli *x)
{
	memset(x, 0, sizeof *x);
	x->o.method = "GET";
	x->o.connections = 1;
	x->o.threads = 1;
	x->o.mode = KH_LG_KEEPALIVE;
}

/* Cross-option rules and defaults that depend on other options. */
static int finish_opts(struct cli *x)
{
	struct kh_lg_opts *o = &x->o;

	if (x->url == NULL)
		return kh_cli_usage_error(CMD, "--url is required");
	if (parse_target(x) != 0)
		return kh_cli_usage_error(
			CMD, "--url must be http(s)://HOST[:PORT][/PATH], got '%s'", x->url);
	if (!x->method_set && o->body_size > 0)
		o->method = "POST";
	if (x->idle) {
		if (o->mode == KH_LG_NEWCONN || o->max_requests)
			return kh_cli_usage_error(
				CMD, "--idle cannot be combined with --new-conn or -n");
		o->mode = KH_LG_IDLE;
		o->connections = (uint32_t)x->idle;
		o->hold_ms = o->hold_ms ? o->hold_ms : KH_BENCH_DEFAULT_HOLD_MS;
		o->timeout_ms = o->timeout_ms ? o->timeout_ms : KH_BENCH_IDLE_TIMEOUT_MS;
	} else if (o->hold_ms) {
		return kh_cli_usage_error(CMD, "--hold only applies with --idle");
	}
	if (o->threads > o->connections)
		o->threads = o->connections;
	if (o->timeout_ms == 0)
		o->timeout_ms = KH_BENCH_DEFAULT_TIMEOUT_MS;
	if (o->mode != KH_LG_IDLE && o->duration_ms == 0 && o->max_requests == 0)
		o->duration_ms = KH_BENCH_DEFAULT_DURATION_MS;
	return x->proxy ? resolve_proxy(x) : resolve_direct(x);
}

/* --- output --- */

static void fmt_dur(char *out, size_t len, uint64_t ns)
{
	if (ns < 1000000u)
		kh_fmt(out, len, "%.1f us", (double)ns / 1e3);
	else if (ns < 1000000000u)
		kh_fmt(out, len, "%.2f ms", (double)ns / 1e6);
	else
		kh_fmt(out, len, "%.3f s", (double)ns / 1e9);
}

static double per_sec(uint64_t n, uint64_t ns)
{
	return ns ? (double)n * 1e9 / (double)ns : 0.0;
}

static void print_hist(const char *label, const struct kh_lg_hist *h)
{
	static const uint32_t q[] = { 50000, 90000, 99000 };
	static const char *const qn[] = { "p50", "p90", "p99" };
	char v[32];

	if (h->n == 0)
		return;
	printf("%-9s", label);
	for (int i = 0; i < 3; i++) {
		fmt_dur(v, sizeof v, kh_lg_hist_quantile(h, q[i]));
		printf(" %s %-11s", qn[i], v);
	}
	fmt_dur(v, sizeof v, h->max);
	printf(" max %s\n", v);
}

static const char *mode_name(enum kh_lg_mode m)
{
	return m == KH_LG_NEWCONN ? "new connection per request"
	       : m == KH_LG_IDLE  ? "idle hold"
				  : "keep-alive";
}

static void print_text(const struct cli *x, const struct kh_lg_result *r)
{
	const struct kh_lg_opts *o = &x->o;
	double secs = (double)r->elapsed_ns / 1e9;

	printf("target    %s%s%s\n", x->url, x->proxy ? " via " : "", x->proxy ? x->proxy : "");
	printf("mode      %s, %u connection%s, %u thread%s, %.2f s measured\n", mode_name(o->mode),
	       o->connections, o->connections == 1 ? "" : "s", o->threads,
	       o->threads == 1 ? "" : "s", secs);
	if (o->mode == KH_LG_IDLE)
		printf("idle      %u of %u connections held\n", r->idle_established,
		       o->connections);
	printf("requests  %llu (%.1f/s), errors %llu\n", (unsigned long long)r->requests,
	       per_sec(r->requests, r->elapsed_ns), (unsigned long long)kh_lg_errors_total(r));
	print_hist("latency", &r->latency);
	print_hist(o->sse ? "ttfb(ev)" : "ttfb", &r->ttfb);
	print_hist("setup", &r->setup);
	printf("transfer  rx %.2f MB/s, tx %.2f MB/s (%llu connections opened)\n",
	       per_sec(r->bytes_rx, r->elapsed_ns) / 1e6, per_sec(r->bytes_tx, r->elapsed_ns) / 1e6,
	       (unsigned long long)r->connections_opened);
	if (kh_lg_errors_total(r) == 0)
		return;
	printf("errors   ");
	for (int i = 0; i < KH_LGE_COUNT; i++)
		if (r->errors[i])
			printf(" %s %llu", kh_lg_error_name(i), (unsigned long long)r->errors[i]);
	printf("\n");
}

static void json_hist(struct kh_json *j, const char *key, const struct kh_lg_hist *h)
{
	kh_json_key(j, key);
	kh_json_begin_object(j);
	kh_json_kv_uint(j, "count", h->n);
	/* Microseconds with three decimals (the values are nanoseconds). */
	kh_json_key(j, "p50");
	kh_json_milli(j, kh_lg_hist_quantile(h, 50000));
	kh_json_key(j, "p90");
	kh_json_milli(j, kh_lg_hist_quantile(h, 90000));
	kh_json_key(j, "p99");
	kh_json_milli(j, kh_lg_hist_quantile(h, 99000));
	kh_json_key(j, "p999");
	kh_json_milli(j, kh_lg_hist_quantile(h, 99900));
	kh_json_key(j, "min");
	kh_json_milli(j, h->min);
	kh_json_key(j, "max");
	kh_json_milli(j, h->max);
	kh_json_key(j, "mean");
	kh_json_milli(j, h->n ? h->sum / h->n : 0);
	kh_json_end_object(j);
}

static void json_rate(struct kh_json *j, const char *key, uint64_t n, uint64_t ns)
{
	kh_json_key(j, key);
	kh_json_milli(j, (uint64_t)(per_sec(n, ns) * 1000.0));
}

static void json_errors(struct kh_json *j, const struct kh_lg_result *r)
{
	kh_json_key(j, "errors");
	kh_json_begin_object(j);
	kh_json_kv_uint(j, "total", kh_lg_errors_total(r));
	for (int i = 0; i < KH_LGE_COUNT; i++)
		kh_json_kv_uint(j, kh_lg_error_name(i), r->errors[i]);
	kh_json_end_object(j);
}

static int print_json(const struct cli *x, const struct kh_lg_result *r)
{
	static char buf[KH_BENCH_JSON_MAX];
	struct kh_json j;
	ssize_t n;

	kh_json_init(&j, buf, sizeof buf);
	kh_json_begin_object(&j);
	kh_json_kv_cstr(&j, "url", x->url);
	kh_json_kv_cstr(&j, "proxy", x->proxy);
	kh_json_kv_cstr(&j, "mode",
			x->o.mode == KH_LG_NEWCONN ? "new-conn"
			: x->o.mode == KH_LG_IDLE  ? "idle"
						   : "keep-alive");
	kh_json_kv_uint(&j, "connections", x->o.connections);
	kh_json_kv_uint(&j, "threads", x->o.threads);
	kh_json_key(&j, "duration_s");
	kh_json_milli(&j, r->elapsed_ns / 1000000u);
	kh_json_kv_uint(&j, "requests", r->requests);
	json_rate(&j, "requests_per_s", r->requests, r->elapsed_ns);
	json_errors(&j, r);
	json_hist(&j, "latency_us", &r->latency);
	json_hist(&j, "ttfb_us", &r->ttfb);
	json_hist(&j, "setup_us", &r->setup);
	kh_json_kv_uint(&j, "bytes_rx", r->bytes_rx);
	kh_json_kv_uint(&j, "bytes_tx", r->bytes_tx);
	json_rate(&j, "rx_bytes_per_s", r->bytes_rx, r->elapsed_ns);
	json_rate(&j, "tx_bytes_per_s", r->bytes_tx, r->elapsed_ns);
	kh_json_kv_uint(&j, "connections_opened", r->connections_opened);
	kh_json_kv_uint(&j, "idle_established", r->idle_established);
	kh_json_end_object(&j);
	n = kh_json_finish_line(&j);
	if (n < 0)
		return -1;
	fwrite(buf, 1, (size_t)n, stdout);
	return 0;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* SSL_write on a socket the peer closed must not kill us. */
	signal(SIGPIPE, SIG_IGN);
}

int kh_cmd_bench(int argc, char **argv)
{
	static struct cli x;
	struct kh_lg_result *r;
	struct kh_err err = { { 0 } };
	int rc;

	defaults(&x);
	if ((rc = parse_args(&x, argc, argv)) != 0 || (rc = finish_opts(&x)) != 0)
		return rc;
	/* Each connection is one descriptor; epoll, eventfd and stdio need a few more. */
	if (kh_lg_raise_nofile((uint64_t)x.o.connections + 16u + 3u * x.o.threads, &err) != 0) {
		fprintf(stderr, "keyhole bench: %s\n", err.msg);
		return KH_EXIT_FAIL;
	}
	r = calloc(1, sizeof *r);
	if (r == NULL) {
		fprintf(stderr, "keyhole bench: out of memory\n");
		return KH_EXIT_FAIL;
	}
	install_signals();
	if (kh_lg_run(&x.o, r, &interrupted, &err) != 0) {
		fprintf(stderr, "keyhole bench: %s\n", err.msg);
		free(r);
		return KH_EXIT_FAIL;
	}
	if (x.json)
		rc = print_json(&x, r) == 0 ? KH_EXIT_OK : KH_EXIT_FAIL;
	else
		print_text(&x, r);
	rc = rc == KH_EXIT_OK && r->requests > 0 ? KH_EXIT_OK : KH_EXIT_FAIL;
	fflush(stdout);
	free(r);
	return rc;
}
