#include "policy/mappings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "base/fsutil.h"
#include "http/http1.h"

bool kh_token_valid(const char *t)
{
	const char *dash = strrchr(t, '-');
	size_t hex = 0;

	if (dash == NULL || dash == t || strlen(t) >= KH_TOKEN_MAX)
		return false;
	for (const char *p = t; p < dash; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	if (t[0] == '-')
		return false;
	for (const char *p = dash + 1; *p; p++, hex++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return hex >= 32;
}

bool kh_env_name_valid(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len >= KH_ENV_NAME_MAX || (n[0] >= '0' && n[0] <= '9'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((n[i] >= 'A' && n[i] <= 'Z') || (n[i] >= '0' && n[i] <= '9') || n[i] == '_'))
			return false;
	return true;
}

size_t kh_mappings_env_names(const struct kh_mappings *m, const char **names)
{
	for (size_t i = 0; i < m->n; i++)
		names[i] = m->v[i].env_name;
	return m->n;
}

const struct kh_mapping *kh_mappings_find(const struct kh_mappings *m, const char *env_name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->v[i].env_name, env_name) == 0)
			return &m->v[i];
	return NULL;
}

bool kh_mapping_named(const struct kh_mapping *m, const char *name)
{
	static const char kh[] = "keyhole-";
	const char *dash = strrchr(m->proxy_token, '-');
	size_t pre = sizeof kh - 1, len = dash ? (size_t)(dash - m->proxy_token) : 0;

	if (strcmp(m->env_name, name) == 0)
		return true;
	return len > pre && strncmp(m->proxy_token, kh, pre) == 0 && strlen(name) == len - pre &&
	       strncmp(m->proxy_token + pre, name, len - pre) == 0;
}

void kh_token_redact(const char *token, char *out, size_t len)
{
	snprintf(out, len, "%.*s...", KH_TOKEN_LOG_CHARS, token);
}

static bool header_name_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len >= KH_HEADER_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!kh_http_is_tchar((unsigned char)s[i]))
			return false;
	return true;
}

static int entry_hosts(json_t *arr, struct kh_mapping *m, size_t idx, struct kh_err *err)
{
	size_t i;
	json_t *h;

	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > KH_MAX_ALLOW_RULES) {
		kh_err_set(err, "tokens[%zu].upstream_hosts must be a non-empty list of hosts",
			   idx);
		return -1;
	}
	m->hosts = calloc(json_array_size(arr), sizeof *m->hosts);
	if (m->hosts == NULL) {
		kh_err_set(err, "out of memory");
		return -1;
	}
	json_array_foreach(arr, i, h)
	{
		if (!json_is_string(h) ||
		    kh_host_pattern_normalize(json_string_value(h), m->hosts[i]) != 0) {
			kh_err_set(
				err,
				"tokens[%zu].upstream_hosts[%zu] is not a host or *.domain pattern",
				idx, i);
			return -1;
		}
		m->n_hosts++;
	}
	return 0;
}

static int entry_headers(json_t *arr, struct kh_mapping *m, size_t idx, struct kh_err *err)
{
	size_t i;
	json_t *h;

	if (arr == NULL || json_is_null(arr))
		return 0; /* defaulted in parse_entry, after the locations */
	if (!json_is_array(arr) || json_array_size(arr) > KH_MAX_MATCH_HEADERS) {
		kh_err_set(err,
			   "tokens[%zu].match_headers must be a list of at most %d header names",
			   idx, KH_MAX_MATCH_HEADERS);
		return -1;
	}
	json_array_foreach(arr, i, h)
	{
		if (!json_is_string(h) || !header_name_valid(json_string_value(h))) {
			kh_err_set(err, "tokens[%zu].match_headers[%zu] is not a header name", idx,
				   i);
			return -1;
		}
		snprintf(m->match_headers[i], KH_HEADER_NAME_MAX, "%s", json_string_value(h));
		m->n_match_headers++;
	}
	return 0;
}

static void default_headers(struct kh_mapping *m)
{
	if (m->n_match_headers == 0) {
		snprintf(m->match_headers[0], KH_HEADER_NAME_MAX, "Authorization");
		m->n_match_headers = 1;
	}
}

/* The old meaning of match_headers, for files written before "locations". */
static void locations_from_headers(struct kh_mapping *m)
{
	for (size_t i = 0; i < m->n_match_headers && m->n_locs < KH_MAX_LOCATIONS; i++) {
		struct kh_location *l = &m->locs[m->n_locs++];

		memset(l, 0, sizeof *l);
		if (strcasecmp(m->match_headers[i], "authorization") == 0) {
			l->kind = KH_LOC_BEARER;
		} else {
			l->kind = KH_LOC_HEADER;
			snprintf(l->name, sizeof l->name, "%s", m->match_headers[i]);
		}
	}
}

static int loc_string(json_t *o, const char *key, char *out, size_t len)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= len ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -1;
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int parse_location(json_t *o, struct kh_location *l, const char **why)
{
	static const enum kh_loc_kind kinds[] = { KH_LOC_BEARER, KH_LOC_BASIC, KH_LOC_HEADER,
						  KH_LOC_QUERY };
	const char *type = json_string_value(json_object_get(o, "type"));
	size_t k = 0;

	memset(l, 0, sizeof *l);
	*why = "must be an object with \"type\": bearer, basic, header or query";
	if (!json_is_object(o) || type == NULL)
		return -1;
	while (k < sizeof kinds / sizeof kinds[0] && strcmp(type, kh_loc_kind_name(kinds[k])) != 0)
		k++;
	if (k == sizeof kinds / sizeof kinds[0])
		return -1;
	l->kind = kinds[k];
	*why = "name and template must be short strings";
	if (loc_string(o, "name", l->name, sizeof l->name) != 0 ||
	    loc_string(o, "template", l->tmpl, sizeof l->tmpl) != 0)
		return -1;
	return kh_location_check(l, why);
}

static int entry_locations(json_t *arr, struct kh_mapping *m, size_t idx, struct kh_err *err)
{
	bool had_headers = m->n_match_headers > 0;
	const char *why;
	size_t i;
	json_t *o;

	if (arr == NULL || json_is_null(arr)) {
		locations_from_headers(m);
		return 0;
	}
	/* AWS keys are re-signed with, never swapped in: they have no location. */
	if (!json_is_array(arr) ||
	    (json_array_size(arr) == 0 && !kh_provider_is_sigv4(m->env_name)) ||
	    json_array_size(arr) > KH_MAX_LOCATIONS) {
		kh_err_set(err, "tokens[%zu].locations must be a list of 1 to %d locations", idx,
			   KH_MAX_LOCATIONS);
		return -1;
	}
	json_array_foreach(arr, i, o)
	{
		if (parse_location(o, &m->locs[i], &why) != 0) {
			kh_err_set(err, "tokens[%zu].locations[%zu]: %s", idx, i, why);
			return -1;
		}
		m->n_locs++;
	}
	if (!had_headers)
		kh_mapping_headers_from_locations(m);
	return 0;
}

void kh_mapping_headers_from_locations(struct kh_mapping *m)
{
	m->n_match_headers = 0;
	for (size_t i = 0; i < m->n_locs && m->n_match_headers < KH_MAX_MATCH_HEADERS; i++) {
		const char *name = m->locs[i].kind == KH_LOC_HEADER  ? m->locs[i].name
				   : m->locs[i].kind == KH_LOC_QUERY ? NULL
								     : "Authorization";
		bool dup = false;

		for (size_t k = 0; name != NULL && k < m->n_match_headers; k++)
			dup |= strcasecmp(m->match_headers[k], name) == 0;
		if (name != NULL && !dup)
			snprintf(m->match_headers[m->n_match_headers++], KH_HEADER_NAME_MAX, "%s",
				 name);
	}
}

static int string_field(json_t *obj, const char *key, char *out, size_t len,
			bool (*valid)(const char *), size_t idx, struct kh_err *err)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v) || json_string_length(v) >= len ||
	    strlen(json_string_value(v)) != json_string_length(v) || !valid(json_string_value(v))) {
		kh_err_set(err, "tokens[%zu].%s is missing or malformed", idx, key);
		return -1;
	}
	snprintf(out, len, "%s", json_string_value(v));
	return 0;
}

static int parse_entry(json_t *e, struct kh_mapping *m, size_t idx, struct kh_err *err)
{
	if (!json_is_object(e)) {
		kh_err_set(err, "tokens[%zu] must be an object", idx);
		return -1;
	}
	if (string_field(e, "proxy_token", m->proxy_token, sizeof m->proxy_token, kh_token_valid,
			 idx, err) != 0 ||
	    string_field(e, "env_name", m->env_name, sizeof m->env_name, kh_env_name_valid, idx,
			 err) != 0)
		return -1;
	if (entry_hosts(json_object_get(e, "upstream_hosts"), m, idx, err) != 0)
		return -1;
	if (entry_headers(json_object_get(e, "match_headers"), m, idx, err) != 0)
		return -1;
	if (json_object_get(e, "locations") == NULL ||
	    json_is_null(json_object_get(e, "locations")))
		default_headers(m);
	if (entry_locations(json_object_get(e, "locations"), m, idx, err) != 0)
		return -1;
	default_headers(m);
	return 0;
}

static int check_duplicates(const struct kh_mappings *m, struct kh_err *err)
{
	for (size_t i = 0; i < m->n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(m->v[i].proxy_token, m->v[j].proxy_token) == 0) {
				kh_err_set(err,
					   "tokens[%zu] repeats the proxy_token of tokens[%zu]", i,
					   j);
				return -1;
			}
	return 0;
}

static int parse_root(json_t *root, struct kh_mappings *out, struct kh_err *err)
{
	json_t *tokens = json_object_get(root, "tokens"), *e;
	json_t *version = json_object_get(root, "version");
	size_t i;

	if (!json_is_object(root) || !json_is_integer(version) ||
	    json_integer_value(version) != 1) {
		kh_err_set(err, "expected {\"version\": 1, \"tokens\": [...]}");
		return -1;
	}
	if (!json_is_array(tokens) || json_array_size(tokens) > KH_MAX_TOKENS) {
		kh_err_set(err, "\"tokens\" must be a list of at most %d entries", KH_MAX_TOKENS);
		return -1;
	}
	out->v = calloc(json_array_size(tokens) + 1, sizeof *out->v);
	if (out->v == NULL) {
		kh_err_set(err, "out of memory");
		return -1;
	}
	json_array_foreach(tokens, i, e)
	{
		out->n++;
		if (parse_entry(e, &out->v[i], i, err) != 0)
			return -1;
	}
	return check_duplicates(out, err);
}

int kh_mappings_parse(const char *text, size_t len, struct kh_mappings *out, struct kh_err *err)
{
	json_error_t jerr;
	json_t *root;
	int rc;

	memset(out, 0, sizeof *out);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		kh_err_set(err, "line %d: %s", jerr.line, jerr.text);
		return -1;
	}
	rc = parse_root(root, out, err);
	json_decref(root);
	if (rc != 0)
		kh_mappings_free(out);
	return rc;
}

int kh_mappings_read(const char *path, char **text, size_t *len, bool *existed, struct kh_err *err)
{
	*text = NULL;
	*len = 0;
	*existed = kh_fs_exists(path);
	if (!*existed)
		return 0;
	return kh_fs_read_file(path, KH_MAX_MAPPINGS_BYTES, true, text, len, err);
}

int kh_mappings_load(const char *path, struct kh_mappings *out, bool *existed, struct kh_err *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof *out);
	if (kh_mappings_read(path, &text, &len, existed, err) != 0)
		return -1;
	if (!*existed)
		return 0;
	rc = kh_mappings_parse(text, len, out, err);
	kh_fs_free_secret(text, len);
	if (rc != 0)
		kh_err_prefix(err, "%s", path);
	return rc;
}

static json_t *entry_json(const struct kh_mapping *m)
{
	json_t *e = json_object(), *hosts = json_array(), *hdrs = json_array();
	json_t *locs = json_array();

	for (size_t i = 0; i < m->n_hosts; i++)
		json_array_append_new(hosts, json_string(m->hosts[i]));
	for (size_t i = 0; i < m->n_match_headers; i++)
		json_array_append_new(hdrs, json_string(m->match_headers[i]));
	for (size_t i = 0; i < m->n_locs; i++) {
		json_t *l = json_object();

		json_object_set_new(l, "type", json_string(kh_loc_kind_name(m->locs[i].kind)));
		if (m->locs[i].name[0] != '\0')
			json_object_set_new(l, "name", json_string(m->locs[i].name));
		if (m->locs[i].tmpl[0] != '\0')
			json_object_set_new(l, "template", json_string(m->locs[i].tmpl));
		json_array_append_new(locs, l);
	}
	json_object_set_new(e, "proxy_token", json_string(m->proxy_token));
	json_object_set_new(e, "env_name", json_string(m->env_name));
	json_object_set_new(e, "upstream_hosts", hosts);
	json_object_set_new(e, "match_headers", hdrs);
	json_object_set_new(e, "locations", locs);
	return e;
}

int kh_mappings_save(const char *path, const struct kh_mappings *m, struct kh_err *err)
{
	json_t *root = json_object(), *tokens = json_array();
	char *text;
	int rc;

	for (size_t i = 0; i < m->n; i++)
		json_array_append_new(tokens, entry_json(&m->v[i]));
	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(root, "tokens", tokens);
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (text == NULL) {
		kh_err_set(err, "out of memory");
		return -1;
	}
	rc = kh_fs_write_atomic(path, text, strlen(text), 0600, err);
	kh_fs_free_secret(text, strlen(text));
	return rc;
}

void kh_mappings_free(struct kh_mappings *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].hosts);
	free(m->v);
	m->v = NULL;
	m->n = 0;
}
