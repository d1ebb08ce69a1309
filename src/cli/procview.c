/* /proc/PID/status and /proc/PID/limits, parsed for the fields procview.h
 * names. Both are a few KiB; anything past KH_PROCVIEW_FILE_MAX is refused. */
#include "cli/procview.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsutil.h"
#include "base/kh_limits.h"
#include "base/slice.h"
#include "base/err.h"

/* The next whitespace-separated word of *s (tabs and spaces). */
static struct kh_slice next_word(struct kh_slice *s)
{
	size_t i = 0, start;
	struct kh_slice w;

	while (i < s->len && (s->ptr[i] == ' ' || s->ptr[i] == '\t'))
		i++;
	start = i;
	while (i < s->len && s->ptr[i] != ' ' && s->ptr[i] != '\t')
		i++;
	w = kh_slice_make(s->ptr + start, i - start);
	*s = kh_slice_make(s->ptr + i, s->len - i);
	return w;
}

static int word_i64(struct kh_slice w, int64_t *out)
{
	uint64_t v;

	if (kh_slice_eq_cstr(w, "unlimited")) {
		*out = KH_PROCVIEW_UNLIMITED;
		return 0;
	}
	if (kh_slice_to_u64(w, INT64_MAX, &v) != 0)
		return -1;
	*out = (int64_t)v;
	return 0;
}

/* "Name:\tv0\tv1...": word index `which` of the line that starts with name. */
static int status_field(struct kh_slice line, const char *name, int which, int64_t *out)
{
	size_t n = strlen(name);
	struct kh_slice rest, w;

	if (line.len < n || memcmp(line.ptr, name, n) != 0)
		return 1; /* not this line */
	rest = kh_slice_make(line.ptr + n, line.len - n);
	w = next_word(&rest);
	while (which-- > 0)
		w = next_word(&rest);
	return word_i64(w, out) == 0 ? 0 : -1;
}

static int parse_status_line(struct kh_slice line, struct kh_procview *v)
{
	int64_t x;
	int rc;

	if ((rc = status_field(line, "PPid:", 0, &x)) <= 0) {
		v->ppid = rc == 0 ? (pid_t)x : v->ppid;
		return rc;
	}
	if ((rc = status_field(line, "Uid:", 1, &v->uid)) <= 0) /* real, effective, ... */
		return rc;
	if ((rc = status_field(line, "Gid:", 1, &v->gid)) <= 0)
		return rc;
	if ((rc = status_field(line, "NoNewPrivs:", 0, &x)) <= 0) {
		v->no_new_privs = rc == 0 ? (int)x : v->no_new_privs;
		return rc;
	}
	if ((rc = status_field(line, "Seccomp:", 0, &x)) <= 0) {
		v->seccomp = rc == 0 ? (int)x : v->seccomp;
		return rc;
	}
	return 1;
}

/* "Max open files            1024                 4096                 files": the soft limit. */
static int parse_limits_line(struct kh_slice line, struct kh_procview *v)
{
	static const struct {
		const char *name;
		size_t off;
	} rows[] = {
		{ "Max open files", offsetof(struct kh_procview, nofile) },
		{ "Max processes", offsetof(struct kh_procview, nproc) },
		{ "Max core file size", offsetof(struct kh_procview, core) },
	};

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		size_t n = strlen(rows[i].name);
		struct kh_slice rest;

		if (line.len <= n || memcmp(line.ptr, rows[i].name, n) != 0 ||
		    (line.ptr[n] != ' ' && line.ptr[n] != '\t'))
			continue;
		rest = kh_slice_make(line.ptr + n, line.len - n);
		return word_i64(next_word(&rest), (int64_t *)((char *)v + rows[i].off));
	}
	return 0;
}

static int each_line(const char *text, int (*fn)(struct kh_slice, struct kh_procview *),
		     struct kh_procview *v)
{
	struct kh_slice s = kh_slice_cstr(text), line;

	while (s.len > 0) {
		kh_slice_split(&s, '\n', &line); /* the last line may lack its newline */
		if (fn(line, v) < 0)
			return -1;
	}
	return 0;
}

static int status_line(struct kh_slice line, struct kh_procview *v)
{
	return parse_status_line(line, v) < 0 ? -1 : 0;
}

int kh_procview_parse(const char *status, const char *limits, struct kh_procview *out,
		      struct kh_err *err)
{
	*out = (struct kh_procview){ .ppid = KH_PROCVIEW_UNKNOWN,
				     .uid = KH_PROCVIEW_UNKNOWN,
				     .gid = KH_PROCVIEW_UNKNOWN,
				     .no_new_privs = KH_PROCVIEW_UNKNOWN,
				     .seccomp = KH_PROCVIEW_UNKNOWN,
				     .nofile = KH_PROCVIEW_UNKNOWN,
				     .nproc = KH_PROCVIEW_UNKNOWN,
				     .core = KH_PROCVIEW_UNKNOWN };
	if (each_line(status, status_line, out) != 0) {
		kh_err_set(err, "/proc status: a field is not a number");
		return -1;
	}
	if (limits != NULL && each_line(limits, parse_limits_line, out) != 0) {
		kh_err_set(err, "/proc limits: a limit is not a number");
		return -1;
	}
	return 0;
}

int kh_procview_read(pid_t pid, struct kh_procview *out, struct kh_err *err)
{
	char path[64], *status = NULL, *limits = NULL;
	size_t n;
	int rc = -1;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (kh_fs_read_file(path, KH_PROCVIEW_FILE_MAX, true, &status, &n, err) != 0)
		goto out;
	snprintf(path, sizeof path, "/proc/%d/limits", (int)pid);
	if (kh_fs_read_file(path, KH_PROCVIEW_FILE_MAX, true, &limits, &n, err) != 0)
		goto out;
	rc = kh_procview_parse(status, limits, out, err);
out:
	free(status);
	free(limits);
	return rc;
}

/* Is the kernel's value v shown and different from want? */
static bool shown_and_not(int64_t v, int64_t want)
{
	return v != KH_PROCVIEW_UNKNOWN && v != want;
}

void kh_procview_disagrees(const struct kh_ctl_front *f, const struct kh_procview *k, char *out,
			   size_t len)
{
	size_t at = 0;

	out[0] = '\0';
	if (!f->confined)
		return;
	if (f->no_new_privs && shown_and_not(k->no_new_privs, 1))
		at += kh_fmt(out + at, len - at,
			     "; reports no_new_privs, /proc shows NoNewPrivs %d", k->no_new_privs);
	if (f->seccomp && shown_and_not(k->seccomp, KH_PROCVIEW_SECCOMP_FILTER))
		at += kh_fmt(out + at, len - at, "; reports seccomp, /proc shows Seccomp %d",
			     k->seccomp);
	if (shown_and_not(k->uid, (int64_t)f->uid))
		at += kh_fmt(out + at, len - at, "; reports uid %u, /proc shows %lld",
			     (unsigned)f->uid, (long long)k->uid);
	if (f->rlimits && (shown_and_not(k->core, 0) || shown_and_not(k->nproc, 0)))
		kh_fmt(out + at, len - at, "; reports rlimits, /proc shows core %lld, nproc %lld",
		       (long long)k->core, (long long)k->nproc);
}
