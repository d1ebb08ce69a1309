/* `keyhole log [--follow] [--denied] [--json]`: see cmd_log.h. The follow
 * loop polls (KH_LOG_VIEW_POLL_MS): it notices a rotated file (the path now
 * names another inode: the old one is read to its end, then the new one from
 * its start) and a truncated one (read again from the start). */
#include "cli/cmd_log.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "base/home.h"
#include "base/kh_limits.h"

#define COL_RESET "\033[0m"
#define COL_DIM   "\033[2m"

/* --- escaping --- */

/* Length of the valid UTF-8 sequence at s (1-4), its code point in *cp; 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t len, unsigned *cp)
{
	size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;

	if (n == 0 || s[0] > 0xf4 || n > len)
		return 0;
	*cp = s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && *cp < 0x800) || (n == 4 && (*cp < 0x10000 || *cp > 0x10ffff)) ||
	    (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return n;
}

/* C1 controls (a terminal may take 0x9b as CSI), and the characters that
 * reorder or hide text (Trojan Source): shown as \u{...}. */
static bool hostile_cp(unsigned cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

size_t kh_logview_escape(FILE *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t cols = 0;

	for (size_t i = 0; i < len;) {
		unsigned cp = 0;
		size_t n = p[i] < 0x80 ? 1 : utf8_seq(p + i, len - i, &cp);

		if (p[i] == '\\') {
			cols += (size_t)fprintf(out, "\\\\");
		} else if (p[i] < 0x20 || p[i] == 0x7f || n == 0) {
			cols += (size_t)fprintf(out, "\\x%02x", p[i]);
			n = 1;
		} else if (n > 1 && hostile_cp(cp)) {
			cols += (size_t)fprintf(out, "\\u{%04x}", cp);
		} else {
			fwrite(p + i, 1, n, out);
			cols++;
		}
		i += n;
	}
	return cols;
}

/* --- one record --- */

static const char *str(json_t *rec, const char *key)
{
	const char *s = json_string_value(json_object_get(rec, key));

	return s != NULL ? s : "";
}

static void field(FILE *out, const char *s, int width)
{
	size_t cols = kh_logview_escape(out, s, strlen(s));

	for (; (int)cols < width; cols++)
		fputc(' ', out);
}

static void colored(const struct kh_logview *v, FILE *out, const char *color, const char *s,
		    int width)
{
	if (v->color)
		fputs(color, out);
	field(out, s, width);
	if (v->color)
		fputs(COL_RESET, out);
}

static const char *decision_color(const char *d)
{
	return strcmp(d, "allow") == 0  ? "\033[32m"
	       : strcmp(d, "deny") == 0 ? "\033[1;31m"
					: "\033[33m";
}

static void upper(const char *s, char *out, size_t len)
{
	size_t i = 0;

	for (; s[i] != '\0' && i + 1 < len; i++)
		out[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 32) : s[i];
	out[i] = '\0';
}

/* host, ":port" unless it is the scheme's default, then the path. */
static void target(FILE *out, json_t *rec)
{
	json_int_t port = json_integer_value(json_object_get(rec, "port"));
	const char *mode = str(rec, "mode");
	json_int_t dflt = strcmp(mode, "http") == 0 ? 80 : 443;

	kh_logview_escape(out, str(rec, "host"), strlen(str(rec, "host")));
	if (port > 0 && port != dflt)
		fprintf(out, ":%lld", (long long)port);
	kh_logview_escape(out, str(rec, "path"), strlen(str(rec, "path")));
}

static void swapped(FILE *out, json_t *rec)
{
	json_t *arr = json_object_get(rec, "swapped"), *e;
	size_t i;

	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return;
	fputs("  swapped=", out);
	json_array_foreach(arr, i, e)
	{
		const char *s = json_string_value(e);

		if (i > 0)
			fputc(',', out);
		if (s != NULL)
			kh_logview_escape(out, s, strlen(s));
	}
}

/* Real keys an upstream echoed back that were replaced by their tokens. */
static void scrubbed(FILE *out, json_t *rec)
{
	json_t *obj = json_object_get(rec, "scrubbed"), *n;
	const char *name;
	bool first = true;

	if (!json_is_object(obj) || json_object_size(obj) == 0)
		return;
	fputs("  scrubbed=", out);
	json_object_foreach(obj, name, n)
	{
		if (!first)
			fputc(',', out);
		first = false;
		kh_logview_escape(out, name, strlen(name));
		fprintf(out, "(%lld)", (long long)json_integer_value(n));
	}
}

static void readable(const struct kh_logview *v, json_t *rec, FILE *out)
{
	const char *d = str(rec, "decision"), *detail = str(rec, "detail");
	json_int_t status = json_integer_value(json_object_get(rec, "status"));
	char dec[16], st[8];

	upper(d, dec, sizeof dec);
	snprintf(st, sizeof st, status > 0 && status < 1000 ? "%lld" : "-", (long long)status);
	colored(v, out, COL_DIM, str(rec, "time"), 24);
	fputs("  ", out);
	/* who: the sandbox label when a sandbox token was used, else the address */
	field(out, str(rec, "sandbox")[0] ? str(rec, "sandbox") : str(rec, "client"), 21);
	fputs("  ", out);
	colored(v, out, decision_color(d), dec, 5);
	fputs("  ", out);
	colored(v, out, decision_color(d), st, 3);
	fputs("  ", out);
	field(out, str(rec, "method"), 0);
	fputc(' ', out);
	target(out, rec);
	fputs("  ", out);
	colored(v, out, COL_DIM, str(rec, "reason"), 0);
	if (strcmp(d, "allow") != 0 && detail[0] != '\0') {
		fputs(" (", out);
		field(out, detail, 0);
		fputc(')', out);
	}
	swapped(out, rec);
	scrubbed(out, rec);
	fputc('\n', out);
}

static bool printable_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* The record as written, unless it holds bytes a terminal could act on:
 * then the same JSON value re-encoded with every non-ASCII character escaped. */
static void as_json(json_t *rec, const char *line, size_t len, FILE *out)
{
	char *s;

	if (printable_ascii(line, len)) {
		fwrite(line, 1, len, out);
		fputc('\n', out);
		return;
	}
	s = json_dumps(rec, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (s == NULL)
		return;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == 0x7f) /* ENSURE_ASCII keeps DEL; it can only be inside a string */
			fputs("\\u007f", out);
		else
			fputc(*p, out);
	}
	fputc('\n', out);
	free(s);
}

int kh_logview_line(struct kh_logview *v, const char *line, size_t len, FILE *out)
{
	json_error_t jerr;
	json_t *rec;

	while (len > 0 && line[len - 1] == '\r')
		len--;
	rec = len > 0 && len <= KH_LOG_VIEW_LINE_MAX ? json_loadb(line, len, 0, &jerr) : NULL;
	if (!json_is_object(rec) || !json_is_string(json_object_get(rec, "time")) ||
	    !json_is_string(json_object_get(rec, "decision"))) {
		json_decref(rec);
		v->skipped++;
		return -1;
	}
	if (v->denied_only && strcmp(str(rec, "decision"), "deny") != 0) {
		json_decref(rec);
		return 0;
	}
	if (v->json)
		as_json(rec, line, len, out);
	else
		readable(v, rec, out);
	json_decref(rec);
	return 1;
}

/* --- reading and following --- */

struct reader {
	int fd;
	dev_t dev;
	ino_t ino;
	off_t off;
	char *buf; /* a partial line carried between reads */
	size_t len;
	bool overlong; /* discarding the rest of a line that was too long */
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int reader_open(struct reader *r, const char *path)
{
	struct stat st;

	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0 || fstat(r->fd, &st) != 0)
		return -1;
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	r->off = 0;
	r->len = 0;
	r->overlong = false;
	return 0;
}

/* Feeds one complete line (or, at the end of a non-follow read, the last
 * unterminated one). */
static void emit(struct kh_logview *v, struct reader *r, const char *p, size_t n)
{
	if (r->overlong) {
		v->skipped++;
		r->overlong = false;
		return;
	}
	if (n > 0)
		kh_logview_line(v, p, n, stdout);
}

static void consume(struct kh_logview *v, struct reader *r, const char *data, size_t n)
{
	while (n > 0) {
		const char *nl = memchr(data, '\n', n);
		size_t take = nl ? (size_t)(nl - data) : n;

		if (!r->overlong && r->len + take > KH_LOG_VIEW_LINE_MAX) {
			r->overlong = true; /* counted once, when its newline arrives */
			r->len = 0;
		}
		if (!r->overlong) {
			memcpy(r->buf + r->len, data, take);
			r->len += take;
		}
		if (nl == NULL)
			return;
		emit(v, r, r->buf, r->len);
		r->len = 0;
		data += take + 1;
		n -= take + 1;
	}
}

/* Reads what is there now. -1 on a read error. */
static int drain(struct kh_logview *v, struct reader *r)
{
	char chunk[KH_LOG_VIEW_READ_CHUNK];

	for (;;) {
		ssize_t n = read(r->fd, chunk, sizeof chunk);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		r->off += n;
		consume(v, r, chunk, (size_t)n);
	}
	fflush(stdout);
	return 0;
}

/* Rotation: the path now names a different file. Truncation: shorter than
 * what was read. Returns true if r was reset. */
static bool check_replaced(struct kh_logview *v, struct reader *r, const char *path)
{
	struct stat now, mine;

	if (fstat(r->fd, &mine) == 0 && mine.st_size < r->off) {
		fprintf(stderr, "keyhole log: %s was truncated; reading it from the start\n", path);
		lseek(r->fd, 0, SEEK_SET);
		r->off = 0;
		r->len = 0;
		r->overlong = false;
		return true;
	}
	if (stat(path, &now) != 0 || (now.st_dev == r->dev && now.st_ino == r->ino))
		return false;
	drain(v, r); /* the last lines written before the rotation */
	close(r->fd);
	if (reader_open(r, path) != 0) {
		r->fd = -1;
		return false;
	}
	return true;
}

static int follow(struct kh_logview *v, struct reader *r, const char *path)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	while (!interrupted) {
		if (r->fd < 0 && reader_open(r, path) != 0)
			r->fd = -1; /* rotated away and not recreated yet */
		if (r->fd >= 0) {
			if (drain(v, r) != 0)
				return -1;
			check_replaced(v, r, path);
		}
		if (ferror(stdout))
			break; /* the reader went away (e.g. | head) */
		poll(NULL, 0, KH_LOG_VIEW_POLL_MS);
	}
	return 0;
}

/* --- command --- */

struct log_opts {
	const char *home, *file;
	bool follow;
	struct kh_logview v;
};

static int parse_args(int argc, char **argv, struct log_opts *o)
{
	static const struct option longopts[] = {
		{ "home", required_argument, NULL, 'H' }, { "file", required_argument, NULL, 'F' },
		{ "follow", no_argument, NULL, 'f' },     { "denied", no_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },       { NULL, 0, NULL, 0 },
	};
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "f", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			o->home = optarg;
			break;
		case 'F':
			o->file = optarg;
			break;
		case 'f':
			o->follow = true;
			break;
		case 'd':
			o->v.denied_only = true;
			break;
		case 'j':
			o->v.json = true;
			break;
		default:
			return kh_cli_usage_error("log", "unknown or incomplete option '%s'",
						  argv[optind - 1]);
		}
	}
	if (optind < argc)
		return kh_cli_usage_error("log", "unexpected argument '%s'", argv[optind]);
	return 0;
}

static bool want_color(void)
{
	const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");

	return isatty(STDOUT_FILENO) && (nc == NULL || nc[0] == '\0') &&
	       !(term != NULL && strcmp(term, "dumb") == 0);
}

static int run(struct log_opts *o, const char *path)
{
	struct reader r = { .fd = -1 };
	int rc = KH_EXIT_OK;

	r.buf = malloc(KH_LOG_VIEW_LINE_MAX);
	if (r.buf == NULL || reader_open(&r, path) != 0) {
		fprintf(stderr, "keyhole log: cannot read %s: %s\n", path,
			r.buf ? strerror(errno) : "out of memory");
		rc = KH_EXIT_FAIL;
		goto out;
	}
	if (o->follow) {
		if (follow(&o->v, &r, path) != 0)
			rc = KH_EXIT_FAIL;
	} else if (drain(&o->v, &r) != 0) {
		fprintf(stderr, "keyhole log: reading %s: %s\n", path, strerror(errno));
		rc = KH_EXIT_FAIL;
	} else if (r.len > 0 || r.overlong) {
		emit(&o->v, &r, r.buf, r.len); /* a last line without its newline */
	}
	fflush(stdout);
	if (o->v.skipped > 0)
		fprintf(stderr, "keyhole log: skipped %lu malformed line(s)\n", o->v.skipped);
out:
	if (r.fd >= 0)
		close(r.fd);
	free(r.buf);
	return rc;
}

int kh_cmd_log(int argc, char **argv)
{
	struct log_opts o = { 0 };
	struct kh_paths paths;
	struct kh_err err;
	int rc = parse_args(argc, argv, &o);

	if (rc != 0)
		return rc;
	if (o.file == NULL && kh_paths_resolve(&paths, o.home, NULL, &err) != 0) {
		fprintf(stderr, "keyhole log: %s\n", err.msg);
		return KH_EXIT_FAIL;
	}
	o.v.color = !o.v.json && want_color();
	return run(&o, o.file != NULL ? o.file : paths.audit);
}
