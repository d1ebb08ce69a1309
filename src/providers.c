#include "providers.h"

#include <string.h>

const struct kh_provider kh_providers[] = {
	{ "OPENROUTER_API_KEY",
	  NULL,
	  "keyhole-openrouter",
	  { "openrouter.ai", "*.openrouter.ai" },
	  { "Authorization" } },
	{ "OPENAI_API_KEY", NULL, "keyhole-openai", { "api.openai.com" }, { "Authorization" } },
	{ "GROQ_API_KEY", NULL, "keyhole-groq", { "api.groq.com" }, { "Authorization" } },
	{ "TOGETHER_API_KEY",
	  NULL,
	  "keyhole-together",
	  { "api.together.xyz" },
	  { "Authorization" } },
	{ "DEEPSEEK_API_KEY",
	  NULL,
	  "keyhole-deepseek",
	  { "api.deepseek.com" },
	  { "Authorization" } },
	{ "MISTRAL_API_KEY", NULL, "keyhole-mistral", { "api.mistral.ai" }, { "Authorization" } },
	{ "XAI_API_KEY", NULL, "keyhole-xai", { "api.x.ai" }, { "Authorization" } },
	{ "NOUS_API_KEY",
	  NULL,
	  "keyhole-nous",
	  { "inference.nousresearch.com" },
	  { "Authorization" } },
	{ "ANTHROPIC_API_KEY",
	  NULL,
	  "keyhole-anthropic",
	  { "api.anthropic.com" },
	  { "x-api-key", "Authorization" } },
	{ "AZURE_OPENAI_API_KEY",
	  NULL,
	  "keyhole-azure-openai",
	  { "*.openai.azure.com", "*.cognitiveservices.azure.com", "*.services.ai.azure.com" },
	  { "api-key", "Authorization" } },
	{ "GEMINI_API_KEY",
	  "GOOGLE_API_KEY",
	  "keyhole-gemini",
	  { "generativelanguage.googleapis.com" },
	  { "x-goog-api-key" } },
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

const struct kh_provider *kh_provider_find(const char *env_name)
{
	for (size_t i = 0; i < kh_providers_count; i++)
		if (strcmp(kh_providers[i].env_name, env_name) == 0)
			return &kh_providers[i];
	return NULL;
}

bool kh_provider_is_sigv4(const char *env_name)
{
	return strcmp(env_name, KH_AWS_KEY_ID_ENV) == 0 ||
	       strcmp(env_name, KH_AWS_SECRET_ENV) == 0 || strcmp(env_name, KH_AWS_SESSION_ENV) == 0;
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
