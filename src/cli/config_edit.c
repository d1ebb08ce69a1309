#include "cli/config_edit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/config.h"
#include "base/fsutil.h"

/* Offsets of the value on a "key: value  # comment" line. */
struct span {
	size_t start, end; /* value bytes [start, end) relative to the line */
};

static bool line_is_key(const char *line, size_t len, const char *key, size_t *colon)
{
	size_t k = strlen(key), i = k;

	if (len < k + 1 || memcmp(line, key, k) != 0)
		return false;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i == len || line[i] != ':')
		return false;
	if (i + 1 < len && line[i + 1] != ' ' && line[i + 1] != '\t')
		return false;
	*colon = i;
	return true;
}

static struct span value_span(const char *line, size_t len, size_t colon)
{
	size_t i = colon + 1, end;

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	end = i;
	if (i < len && (line[i] == '"' || line[i] == '\'')) {
		const char *q = memchr(line + i + 1, line[i], len - i - 1);

		end = q ? (size_t)(q - line) + 1 : len;
	}
	while (end < len && !(line[end] == '#' && (line[end - 1] == ' ' || line[end - 1] == '\t')))
		end++;
	while (end > i && (line[end - 1] == ' ' || line[end - 1] == '\t'))
		end--;
	return (struct span){ i, end };
}

/* Does the line after pos start an indented block (the key has a nested value)? */
static bool nested_follows(const char *text, size_t len, size_t pos)
{
	while (pos < len && text[pos] != '\n')
		pos++;
	pos++;
	return pos < len && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '-');
}

/* text with [at, at+cut) replaced by pre + ins + post. */
static int splice(const char *text, size_t len, size_t at, size_t cut, const char *pre,
		  const char *ins, const char *post, char **out, size_t *out_len)
{
	size_t plen = strlen(pre), ilen = strlen(ins), slen = strlen(post);
	size_t n = len - cut + plen + ilen + slen;
	char *buf = malloc(n + 1);

	if (buf == NULL)
		return -1;
	memcpy(buf, text, at);
	memcpy(buf + at, pre, plen);
	memcpy(buf + at + plen, ins, ilen);
	memcpy(buf + at + plen + ilen, post, slen);
	memcpy(buf + at + plen + ilen + slen, text + at + cut, len - at - cut);
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	return 0;
}

static int append_key(const char *text, size_t len, const struct kh_config_set *set, char **out,
		      size_t *out_len, struct kh_err *err)
{
	size_t n = strlen(set->key) + strlen(set->value) + 5;
	const char *eol = memmem(text, len, "\r\n", 2) != NULL ? "\r\n" : "\n"; /* keep CRLF */
	char *line = malloc(n);
	int rc;

	if (line == NULL) {
		kh_err_set(err, "out of memory");
		return -1;
	}

	snprintf(line, n, "%s%s: %s", len > 0 && text[len - 1] != '\n' ? eol : "", set->key,
		 set->value);
	rc = splice(text, len, len, 0, "", line, eol, out, out_len);
	free(line);
	if (rc != 0)
		kh_err_set(err, "out of memory");
	return rc;
}

int kh_config_edit_text(const char *text, size_t len, const struct kh_config_set *set, char **out,
			size_t *out_len, struct kh_err *err)
{
	size_t pos = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t next = nl ? (size_t)(nl - (text + pos)) + 1 : len - pos;
		size_t llen = nl ? next - 1 : next, colon;
		struct span v;

		if (llen > 0 && text[pos + llen - 1] == '\r')
			llen--; /* CRLF files: the CR stays where it is */
		if (line_is_key(text + pos, llen, set->key, &colon)) {
			v = value_span(text + pos, llen, colon);
			if (v.start == v.end && nested_follows(text, len, pos)) {
				kh_err_set(err,
					   "%s has a nested value in config.yaml; edit it by hand",
					   set->key);
				return -1;
			}
			/* "key:" needs the space YAML requires before a value, and a
			 * value put in front of a comment needs one after it. */
			if (splice(text, len, pos + v.start, v.end - v.start,
				   v.start == colon + 1 ? " " : "", set->value,
				   v.start == v.end && v.end < llen ? " " : "", out,
				   out_len) != 0) {
				kh_err_set(err, "out of memory");
				return -1;
			}
			return 0;
		}
		pos += next;
	}
	return append_key(text, len, set, out, out_len, err);
}

static int validate(const char *path, const char *text, size_t len, struct kh_err *err)
{
	struct kh_config c;
	int rc;

	kh_config_defaults(&c);
	kh_config_free(&c);
	rc = kh_config_parse(path, text, len, &c, err);
	kh_config_free(&c);
	if (rc != 0)
		kh_err_prefix(err, "refusing to write an invalid config");
	return rc;
}

int kh_config_update(const char *path, const struct kh_config_set *sets, size_t n,
		     struct kh_err *err)
{
	char *text = NULL, *next;
	size_t len = 0, next_len;
	int rc = -1;

	if (kh_fs_exists(path)) {
		if (kh_fs_read_file(path, KH_MAX_CONFIG_BYTES, false, &text, &len, err) != 0)
			return -1;
	} else if ((text = calloc(1, 1)) == NULL) {
		kh_err_set(err, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (kh_config_edit_text(text, len, &sets[i], &next, &next_len, err) != 0)
			goto out;
		free(text);
		text = next;
		len = next_len;
	}
	if (validate(path, text, len, err) != 0)
		goto out;
	rc = kh_fs_write_atomic(path, text, len, 0600, err);
out:
	free(text);
	return rc;
}
