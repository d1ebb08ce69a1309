/* The control-socket protocol (kh_ctl_handle) on arbitrary request text.
 * Invariants: every request gets a JSON object with a boolean "ok"; a
 * refusal carries a non-empty "error"; an issue that succeeds returns valid
 * tokens, each also live in the registry; a list never shows more of a
 * token than KH_TOKEN_LOG_CHARS characters; the registry never exceeds its
 * capacity; a revoke that succeeds leaves no grant it names unrevoked; the
 * compact reply fits KH_CTL_MSG_MAX (the server sends nothing otherwise).
 * Each input may hold several requests, one per line, against one
 * registry, so issue, revoke and list meet. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/ctl_server.h"
#include "policy/grants.h"
#include "fuzz_check.h"

#define CAP 4

/* As the daemon does, minus the policy rebuild: one grant per name (or one
 * for "OPENAI_API_KEY" when none is named); an unknown name is refused. */
static int issue(void *arg, const struct kh_grant_req *r, const char *const *names, size_t n_names,
		 struct kh_grant **out, size_t cap, size_t *n, struct kh_err *err)
{
	struct kh_grants *g = arg;
	struct kh_mapping m = { 0 };

	*n = 0;
	snprintf(m.proxy_token, sizeof m.proxy_token, "keyhole-openai-%032d", 7);
	snprintf(m.env_name, sizeof m.env_name, "OPENAI_API_KEY");
	for (size_t i = 0; i < n_names; i++)
		if (strcmp(names[i], "openai") != 0 && strcmp(names[i], "OPENAI_API_KEY") != 0) {
			kh_err_set(err, "no mapping for that name");
			return -1;
		}
	if (cap == 0 || kh_grants_issue(g, &m, r, (int64_t)time(NULL), &out[0], err) != 0)
		return -1;
	*n = 1;
	return 0;
}

static void check_reply(struct kh_grants *g, json_t *a)
{
	json_t *ok = json_object_get(a, "ok"), *v;
	size_t i;

	CHECK(json_is_object(a) && json_is_boolean(ok));
	if (!json_is_true(ok)) {
		const char *e = json_string_value(json_object_get(a, "error"));

		CHECK(e != NULL && e[0] != '\0' && strlen(e) < KH_ERR_MAX);
		return;
	}
	json_array_foreach(json_object_get(a, "tokens"), i, v)
	{
		const char *t = json_string_value(json_object_get(v, "token"));
		bool live = false;

		CHECK(t != NULL && kh_token_valid(t));
		for (size_t k = 0; k < g->cap; k++)
			live |= g->v[k].in_use && strcmp(g->v[k].token, t) == 0;
		CHECK(live);
	}
	json_array_foreach(json_object_get(a, "grants"), i, v)
	{
		const char *t = json_string_value(json_object_get(v, "token"));

		CHECK(t != NULL && strlen(t) <= KH_TOKEN_LOG_CHARS + 3);
	}
}

/* After {"op":"revoke","token":T} or {"op":"revoke","label":L} answered
 * ok: every grant with that token or label is revoked. */
static void check_revoked(struct kh_grants *g, const char *text, size_t len, json_t *a)
{
	json_t *req = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	const char *op = json_string_value(json_object_get(req, "op"));
	const char *t = json_string_value(json_object_get(req, "token"));
	const char *l = json_string_value(json_object_get(req, "label"));

	if (op != NULL && strcmp(op, "revoke") == 0 && json_is_true(json_object_get(a, "ok")))
		for (size_t k = 0; k < g->cap; k++) {
			const struct kh_grant *v = &g->v[k];

			if (v->in_use && ((t && strcmp(v->token, t) == 0) ||
					  (l && !t && strcmp(v->label, l) == 0)))
				CHECK(atomic_load(&v->revoked_at) != 0);
		}
	json_decref(req);
}

static void check_size(json_t *a)
{
	char *text = json_dumps(a, JSON_COMPACT);

	CHECK(text != NULL && strlen(text) < KH_CTL_MSG_MAX);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kh_grants g;
	struct kh_err err = { "" };
	const char *p = (const char *)data, *end = p + size;

	CHECK(kh_grants_init(&g, CAP, NULL, (int64_t)time(NULL), &err) == 0);
	while (p <= end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		json_t *a = kh_ctl_handle(&g, issue, NULL, &g, p, len);

		CHECK(a != NULL);
		check_reply(&g, a);
		check_revoked(&g, p, len, a);
		check_size(a);
		json_decref(a);
		p += len + 1;
	}
	kh_grants_free(&g);
	return 0;
}
