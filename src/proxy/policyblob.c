/* A child's key-free policy from the daemon's blob (policyblob.h). */
#include "proxy/policyblob.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "base/kh_limits.h"
#include "base/le.h"
#include "policy/mappings.h"
#include "secret/secrets.h"

/* The next section (fronts.c: u32 length little-endian, then its bytes)
 * of p[0..n) from *at. -1 if the blob is cut. */
static int section(const uint8_t *p, size_t n, size_t *at, const char **text, size_t *len)
{
	uint32_t l;

	if (n - *at < 4)
		return -1;
	l = (uint32_t)kh_le_get(p + *at, 4);
	*at += 4;
	if (l > n - *at)
		return -1;
	*text = (const char *)p + *at;
	*len = l;
	*at += l;
	return 0;
}

static struct kh_policy *build(const char *config_path, const uint8_t *blob, size_t n,
			       struct kh_grants *grants, struct kh_config *cfg, struct kh_err *err)
{
	const char *t[4];
	size_t len[4], at = 0;
	uint32_t shortest;
	struct kh_mappings maps = { 0 };
	struct kh_secrets none = { 0 };
	struct kh_policy *p = NULL;

	for (int i = 0; i < 4; i++)
		if (section(blob, n, &at, &t[i], &len[i]) != 0 || (i == 3 && len[i] != 4)) {
			kh_err_set(err, "the policy from the key holder is cut short");
			return NULL;
		}
	shortest = (uint32_t)kh_le_get((const uint8_t *)t[3], 4);
	kh_config_defaults(cfg);
	if ((len[0] > 0 && kh_config_parse(config_path, t[0], len[0], cfg, err) != 0) ||
	    (len[1] > 0 && kh_mappings_parse(t[1], len[1], &maps, err) != 0))
		return NULL;
	kh_grants_free(grants);
	if (kh_grants_init(grants, KH_MAX_GRANTS, NULL, (int64_t)time(NULL), err) == 0 &&
	    (len[2] == 0 ||
	     kh_grants_load_text(grants, t[2], len[2], (int64_t)time(NULL), err) == 0))
		p = kh_policy_build_with_grants(cfg, &maps, &none, NULL, grants, err);
	kh_mappings_free(&maps);
	/* The grants are freed at the next update while this policy may still
	 * serve: a child needs the tokens (copied into its creds), never the
	 * grants behind them (only swapping, in the key holder, does). */
	for (size_t i = 0; p != NULL && i < p->n_creds; i++)
		p->creds[i].grant = NULL;
	if (p != NULL) {
		p->key_free = true;
		p->shortest_key = shortest;
	}
	return p;
}

struct kh_policy *kh_policyblob_load(int mfd, const char *config_path, struct kh_grants *grants,
				     struct kh_config *cfg, struct kh_err *err)
{
	/* three files and their u32 lengths, the shortest key's (4 + 4), and one
	 * byte more: a blob that fills the buffer is longer than any sent */
	size_t cap = KH_MAX_CONFIG_BYTES + 2 * KH_MAX_MAPPINGS_BYTES + 12 + 8 + 1, n = 0;
	uint8_t *blob = malloc(cap);
	struct kh_policy *p = NULL;
	ssize_t r = 0;

	if (blob == NULL) {
		kh_err_set(err, "out of memory for the policy");
		return NULL;
	}
	while (n < cap && (r = pread(mfd, blob + n, cap - n, (off_t)n)) > 0)
		n += (size_t)r;
	if (r < 0)
		kh_err_set(err, "cannot read the policy: %s", kh_strerror(errno));
	else if (n == cap)
		kh_err_set(err, "the policy from the key holder is longer than any it sends");
	else
		p = build(config_path, blob, n, grants, cfg, err);
	free(blob);
	return p;
}
