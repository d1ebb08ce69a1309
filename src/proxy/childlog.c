#include "proxy/childlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"

int kh_childlog_init(struct kh_childlog *cl, const char *name, struct kh_err *err)
{
	int p[2];

	*cl = (struct kh_childlog){ .rd = -1, .wr = -1 };
	snprintf(cl->name, sizeof cl->name, "%s", name);
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
		kh_err_set(err, "%s: log pipe: %s", name, kh_strerror(errno));
		return -1;
	}
	cl->rd = p[0];
	cl->wr = p[1];
	return 0;
}

void kh_childlog_in_child(const struct kh_childlog *cl)
{
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (null >= 0)
		dup2(null, 0);
	dup2(cl->wr, 1); /* dup2 clears close-on-exec on the copy */
	dup2(cl->wr, 2);
}

/* Writes "[name] line\n" with control bytes replaced, and first how many
 * lines the rate dropped since the last one written. */
static void emit(struct kh_childlog *cl, int out, uint64_t now_ms)
{
	static _Thread_local char clean[KH_CHILDLOG_LINE + 1];
	char line[KH_CHILDLOG_LINE + 96];
	const char *text = cl->part;
	size_t n = 0, len = cl->n_part;

	if (!kh_rate_take(&cl->rate, 1, KH_CHILDLOG_RATE, KH_CHILDLOG_BURST, now_ms)) {
		cl->dropped++;
		return;
	}
	if (cl->dropped > 0)
		n = kh_fmt(line, sizeof line, "[%s] (%llu line(s) dropped: over the log rate)\n",
			   cl->name, (unsigned long long)cl->dropped);
	cl->dropped = 0;
	n += kh_fmt(line + n, sizeof line - n, "[%s] ", cl->name);
	if (cl->redact != NULL) {
		len = cl->redact(cl->redact_arg, cl->part, cl->n_part, clean, sizeof clean);
		text = clean;
	}
	if (len > sizeof line - n - 2)
		len = sizeof line - n - 2;
	memcpy(line + n, text, len);
	kh_log_sanitize(line + n, len);
	n += len;
	line[n++] = '\n';
	(void)!write(out, line, n); /* the daemon's own log: as kh_log does */
}

void kh_childlog_feed(struct kh_childlog *cl, const char *p, size_t n, int out, uint64_t now_ms)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			if (!cl->cutting)
				emit(cl, out, now_ms);
			cl->n_part = 0;
			cl->cutting = false;
		} else if (cl->cutting) {
			continue; /* the rest of a line too long */
		} else if (cl->n_part < sizeof cl->part) {
			cl->part[cl->n_part++] = p[i];
		} else { /* too long: out it goes as it is, the rest skipped */
			emit(cl, out, now_ms);
			cl->n_part = 0;
			cl->cutting = true;
		}
	}
}

void kh_childlog_drain(struct kh_childlog *cl, int out, uint64_t now_ms)
{
	char buf[4096];

	for (int i = 0; i < KH_CHILDLOG_READS; i++) {
		ssize_t n = read(cl->rd, buf, sizeof buf);

		if (n <= 0)
			return;
		kh_childlog_feed(cl, buf, (size_t)n, out, now_ms);
	}
}

void kh_childlog_free(struct kh_childlog *cl)
{
	if (cl->rd >= 0)
		close(cl->rd);
	if (cl->wr >= 0)
		close(cl->wr);
	cl->rd = cl->wr = -1;
}
