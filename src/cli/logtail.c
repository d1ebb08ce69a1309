#include "cli/logtail.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

off_t kh_logtail_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : 0;
}

char *kh_logtail_since(const char *path, off_t offset, size_t cap)
{
	off_t size = kh_logtail_size(path), from = offset;
	int fd;
	char *buf;
	ssize_t n;

	if (size <= offset)
		return NULL;
	if ((size_t)(size - offset) > cap)
		from = size - (off_t)cap;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	buf = malloc(cap + 1);
	n = buf ? pread(fd, buf, cap, from) : -1;
	close(fd);
	if (n <= 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

void kh_logtail_print(FILE *out, const char *path, off_t offset, int n)
{
	char *text = kh_logtail_since(path, offset, 64u << 10);
	char *p;
	int lines = 0;

	if (text == NULL) {
		fprintf(out, "  (keyhole.log has nothing new)\n");
		return;
	}
	p = text + strlen(text);
	if (p > text && p[-1] == '\n')
		p--;
	while (p > text && lines < n) {
		p--;
		if (*p == '\n')
			lines++;
	}
	if (*p == '\n')
		p++;
	while (*p != '\0') {
		char *nl = strchr(p, '\n');

		fprintf(out, "  | %.*s\n", nl ? (int)(nl - p) : (int)strlen(p), p);
		p = nl ? nl + 1 : p + strlen(p);
	}
	free(text);
}

char *kh_logtail_daemon_says(char *text, pid_t pid, const char *what)
{
	char tag[32];

	snprintf(tag, sizeof tag, " keyhole[%d] ", (int)pid);
	for (char *line = text; line != NULL && *line != '\0';) {
		char *nl = strchr(line, '\n'), *sp = strchr(line, ' ');
		char *hit = strstr(line, what);

		if (sp != NULL && (nl == NULL || sp < nl) && line[0] >= '0' && line[0] <= '9' &&
		    strncmp(sp, tag, strlen(tag)) == 0 && hit != NULL && (nl == NULL || hit < nl))
			return hit;
		line = nl != NULL ? nl + 1 : NULL;
	}
	return NULL;
}
