#include "policy/providers.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/http1.h"

const struct kh_provider kh_providers[] = {
	{ "OPENROUTER_API_KEY",
	  NULL,
	  "keyhole-openrouter",
	  { "openrouter.ai", "*.openrouter.ai" },
	  { "bearer" } },
	{ "OPENAI_API_KEY", NULL, "keyhole-openai", { "api.openai.com" }, { "bearer" } },
	{ "GROQ_API_KEY", NULL, "keyhole-groq", { "api.groq.com" }, { "bearer" } },
	{ "TOGETHER_API_KEY", NULL, "keyhole-together", { "api.together.xyz" }, { "bearer" } },
	{ "DEEPSEEK_API_KEY", NULL, "keyhole-deepseek", { "api.deepseek.com" }, { "bearer" } },
	{ "MISTRAL_API_KEY", NULL, "keyhole-mistral", { "api.mistral.ai" }, { "bearer" } },
	{ "XAI_API_KEY", NULL, "keyhole-xai", { "api.x.ai" }, { "bearer" } },
	{ "NOUS_API_KEY", NULL, "keyhole-nous", { "inference.nousresearch.com" }, { "bearer" } },
	{ "ANTHROPIC_API_KEY",
	  NULL,
	  "keyhole-anthropic",
	  { "api.anthropic.com" },
	  { "header x-api-key", "bearer" } },
	{ "AZURE_OPENAI_API_KEY",
	  NULL,
	  "keyhole-azure-openai",
	  { "*.openai.azure.com", "*.cognitiveservices.azure.com", "*.services.ai.azure.com" },
	  { "header api-key" } },
	{ "GEMINI_API_KEY",
	  "GOOGLE_API_KEY",
	  "keyhole-gemini",
	  { "generativelanguage.googleapis.com" },
	  { "header x-goog-api-key", "query key" } },
	{ KH_AWS_KEY_ID_ENV,
	  NULL,
	  "keyhole-aws-key",
	  { "*.amazonaws.com", "*.amazonaws.com.cn" },
	  { NULL } },
	{ KH_AWS_SECRET_ENV,
	  NULL,
	  "keyhole-aws-secret",
	  { "*.amazonaws.com", "*.amazonaws.com.cn" },
	  { NULL } },
	{ KH_AWS_SESSION_ENV,
	  NULL,
	  "keyhole-aws-session",
	  { "*.amazonaws.com", "*.amazonaws.com.cn" },
	  { NULL } },
};
const size_t kh_providers_count = sizeof kh_providers / sizeof kh_providers[0];

const char *const kh_default_allowed_hosts[] = {
	"openrouter.ai",
	"*.openrouter.ai",
	"api.openai.com",
	"api.anthropic.com",
	"generativelanguage.googleapis.com",
	"api.x.ai",
	"api.mistral.ai",
	"api.groq.com",
	"api.together.xyz",
	"api.deepseek.com",
	"inference.nousresearch.com",
};
const size_t kh_default_allowed_hosts_count = sizeof kh_default_allowed_hosts /
					      sizeof kh_default_allowed_hosts[0];

const char *const kh_uncovered_env[] = {
	"GOOGLE_APPLICATION_CREDENTIALS",
};
const size_t kh_uncovered_env_count = sizeof kh_uncovered_env / sizeof kh_uncovered_env[0];

/* Anthropic, Azure OpenAI and Gemini were the LLM-specific names here; their
 * header and query schemes are covered now, so nothing is left. */
const char *const kh_uncovered_strict_env[] = { NULL };
const size_t kh_uncovered_strict_env_count = 0;

const struct kh_provider *kh_provider_find(const char *env_name)
{
	for (size_t i = 0; i < kh_providers_count; i++)
		if (strcmp(kh_providers[i].env_name, env_name) == 0 ||
		    (kh_providers[i].alias_env && strcmp(kh_providers[i].alias_env, env_name) == 0))
			return &kh_providers[i];
	return NULL;
}

bool kh_provider_is_sigv4(const char *env_name)
{
	return strcmp(env_name, KH_AWS_KEY_ID_ENV) == 0 ||
	       strcmp(env_name, KH_AWS_SECRET_ENV) == 0 ||
	       strcmp(env_name, KH_AWS_SESSION_ENV) == 0;
}

const char *const *kh_provider_requires(const char *env_name)
{
	static const char *const key_id[] = { KH_AWS_SECRET_ENV, NULL };
	static const char *const secret[] = { KH_AWS_KEY_ID_ENV, NULL };
	static const char *const session[] = { KH_AWS_KEY_ID_ENV, KH_AWS_SECRET_ENV, NULL };
	static const char *const none[] = { NULL };

	if (strcmp(env_name, KH_AWS_KEY_ID_ENV) == 0)
		return key_id;
	if (strcmp(env_name, KH_AWS_SECRET_ENV) == 0)
		return secret;
	return strcmp(env_name, KH_AWS_SESSION_ENV) == 0 ? session : none;
}

const char *kh_loc_kind_name(enum kh_loc_kind k)
{
	switch (k) {
	case KH_LOC_BEARER:
		return "bearer";
	case KH_LOC_BASIC:
		return "basic";
	case KH_LOC_HEADER:
		return "header";
	case KH_LOC_QUERY:
		return "query";
	}
	return "?";
}

/* Fields keyhole itself manages or drops: a credential there would be
 * rewritten away or desynchronize the upstream. */
static bool reserved_header(const char *n)
{
	static const char *const names[] = { "host",
					     "content-length",
					     "transfer-encoding",
					     "connection",
					     "proxy-connection",
					     "keep-alive",
					     "proxy-authorization",
					     "proxy-authenticate",
					     "te",
					     "upgrade",
					     "trailer" };

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcasecmp(n, names[i]) == 0)
			return true;
	return false;
}

static bool header_name_ok(const char *n)
{
	if (n[0] == '\0')
		return false;
	for (; *n != '\0'; n++)
		if (!kh_http_is_tchar((unsigned char)*n))
			return false;
	return true;
}

/* RFC 3986 unreserved: a parameter name needing no percent-encoding, so the
 * byte comparison with the request's target is exact. */
static bool query_name_ok(const char *n)
{
	if (n[0] == '\0')
		return false;
	for (; *n != '\0'; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		      (*n >= '0' && *n <= '9') || strchr("-._~", *n) != NULL))
			return false;
	return true;
}

static int template_check(const char *t, const char **why)
{
	const char *hole = strstr(t, "{}");
	size_t len = strlen(t);

	if (len == 0)
		return 0;
	for (const char *p = t; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e) {
			*why = "the template must be printable ASCII on one line";
			return -1;
		}
	if (hole == NULL || strstr(hole + 2, "{}") != NULL) {
		*why = "the template must contain {} exactly once, where the key goes";
		return -1;
	}
	if (t[0] == ' ' || t[len - 1] == ' ') {
		*why = "the template must not start or end with a space";
		return -1;
	}
	return 0;
}

int kh_location_check(const struct kh_location *loc, const char **why)
{
	size_t nlen = strnlen(loc->name, sizeof loc->name);

	if (nlen == sizeof loc->name || strnlen(loc->tmpl, sizeof loc->tmpl) == sizeof loc->tmpl) {
		*why = "the name or template is too long";
		return -1;
	}
	switch (loc->kind) {
	case KH_LOC_BEARER:
	case KH_LOC_BASIC:
		if (nlen != 0 || loc->tmpl[0] != '\0') {
			*why = "bearer and basic take no name and no template (for another "
			       "scheme word use: header Authorization with a template like "
			       "\"token {}\")";
			return -1;
		}
		return 0;
	case KH_LOC_HEADER:
		if (!header_name_ok(loc->name)) {
			*why = "the header name must be a valid HTTP field name";
			return -1;
		}
		if (reserved_header(loc->name)) {
			*why = "that header is managed by keyhole (hop-by-hop or framing) and "
			       "cannot carry a credential";
			return -1;
		}
		return template_check(loc->tmpl, why);
	case KH_LOC_QUERY:
		if (!query_name_ok(loc->name)) {
			*why = "the query parameter name must use only letters, digits and -._~";
			return -1;
		}
		if (loc->tmpl[0] != '\0') {
			*why = "a query location takes no template";
			return -1;
		}
		return 0;
	}
	*why = "unknown location kind";
	return -1;
}

int kh_location_parse(const char *spec, const char *tmpl, struct kh_location *out, const char **why)
{
	static const struct {
		const char *word;
		enum kh_loc_kind kind;
		bool named;
	} kinds[] = { { "bearer", KH_LOC_BEARER, false },
		      { "basic", KH_LOC_BASIC, false },
		      { "header", KH_LOC_HEADER, true },
		      { "query", KH_LOC_QUERY, true } };
	size_t wlen = strcspn(spec, " ");

	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		const char *name = spec + wlen;

		if (wlen != strlen(kinds[i].word) || strncmp(spec, kinds[i].word, wlen) != 0)
			continue;
		name += strspn(name, " ");
		if (kinds[i].named && *name == '\0') {
			*why = "header and query need a name: \"header x-api-key\", \"query key\"";
			return -1;
		}
		out->kind = kinds[i].kind;
		if (strlen(name) >= sizeof out->name ||
		    (tmpl != NULL && strlen(tmpl) >= sizeof out->tmpl)) {
			*why = "the name or template is too long";
			return -1;
		}
		memcpy(out->name, name, strlen(name) + 1);
		if (tmpl != NULL)
			memcpy(out->tmpl, tmpl, strlen(tmpl) + 1);
		return kh_location_check(out, why);
	}
	*why = "must be bearer, basic, header NAME or query NAME";
	return -1;
}
