/* mappings.json. A set that parses must be fully valid (tokens, env names,
 * normalized host patterns, header names, no repeated token) and must come
 * back identical after kh_mappings_save + kh_mappings_load. The file goes to
 * a private directory on tmpfs (created once, removed at exit) because save
 * fsyncs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/http1.h"
#include "policy/mappings.h"
#include "fuzz_check.h"

static char dir[64];
static char path[128];

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

static const char *temp_path(void)
{
	if (path[0] != '\0')
		return path;
	snprintf(dir, sizeof dir, "%s/kh-fuzz-XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/mappings.json", dir);
	atexit(cleanup);
	return path;
}

static void check_entry(const struct kh_mapping *m)
{
	char again[KH_HOST_BUF + 2], red[32];

	CHECK(kh_token_valid(m->proxy_token) && kh_env_name_valid(m->env_name));
	CHECK(m->n_hosts >= 1 && m->n_hosts <= KH_MAX_ALLOW_RULES);
	for (size_t i = 0; i < m->n_hosts; i++)
		CHECK(kh_host_pattern_normalize(m->hosts[i], again) == 0 &&
		      strcmp(again, m->hosts[i]) == 0);
	CHECK(m->n_match_headers >= 1 && m->n_match_headers <= KH_MAX_MATCH_HEADERS);
	for (size_t i = 0; i < m->n_match_headers; i++) {
		const char *h = m->match_headers[i];

		CHECK(h[0] != '\0');
		for (; *h; h++)
			CHECK(kh_http_is_tchar((unsigned char)*h));
	}
	/* The only loggable form of a token: its first 12 characters. */
	kh_token_redact(m->proxy_token, red, sizeof red);
	CHECK(strlen(red) <= KH_TOKEN_LOG_CHARS + 3 &&
	      strncmp(red, m->proxy_token, strlen(red) - 3) == 0);
}

static bool same_entry(const struct kh_mapping *a, const struct kh_mapping *b)
{
	if (strcmp(a->proxy_token, b->proxy_token) != 0 || strcmp(a->env_name, b->env_name) != 0 ||
	    a->n_hosts != b->n_hosts || a->n_match_headers != b->n_match_headers ||
	    a->n_locs != b->n_locs)
		return false;
	for (size_t i = 0; i < a->n_locs; i++)
		if (a->locs[i].kind != b->locs[i].kind ||
		    strcmp(a->locs[i].name, b->locs[i].name) ||
		    strcmp(a->locs[i].tmpl, b->locs[i].tmpl))
			return false;
	for (size_t i = 0; i < a->n_hosts; i++)
		if (strcmp(a->hosts[i], b->hosts[i]) != 0)
			return false;
	for (size_t i = 0; i < a->n_match_headers; i++)
		if (strcmp(a->match_headers[i], b->match_headers[i]) != 0)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kh_mappings m, back;
	struct kh_err err = { { 0 } };
	bool existed = false;

	if (kh_mappings_parse((const char *)data, size, &m, &err) != 0) {
		CHECK(err.msg[0] != '\0' && m.n == 0 && m.v == NULL);
		return 0;
	}
	CHECK(m.n <= KH_MAX_TOKENS);
	for (size_t i = 0; i < m.n; i++) {
		check_entry(&m.v[i]);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(m.v[i].proxy_token, m.v[j].proxy_token) != 0);
	}
	CHECK(kh_mappings_save(temp_path(), &m, &err) == 0);
	CHECK(kh_mappings_load(path, &back, &existed, &err) == 0 && existed);
	CHECK(back.n == m.n);
	for (size_t i = 0; i < m.n; i++)
		CHECK(same_entry(&m.v[i], &back.v[i]));
	kh_mappings_free(&back);
	kh_mappings_free(&m);
	kh_mappings_free(&m); /* idempotent */
	return 0;
}
