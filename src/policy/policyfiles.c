/* The files a policy is built from, as bytes (policyfiles.h). */
#include "policy/policyfiles.h"

#include <stdlib.h>
#include <string.h>

#include "base/fsutil.h"
#include "base/kh_limits.h"

int kh_policy_files_read(const struct kh_paths *paths, struct kh_policy_files *f,
			 struct kh_err *err)
{
	struct kh_config cfg = { 0 }; /* kh_config_free-able; filled by kh_policy_files_config */
	int rc = -1;

	memset(f, 0, sizeof *f);
	if (kh_config_read(paths->config, &f->config.text, &f->config.len, &f->config.present,
			   err) != 0 ||
	    kh_mappings_read(paths->mappings, &f->mappings.text, &f->mappings.len,
			     &f->mappings.present, err) != 0 ||
	    kh_policy_files_config(f, paths->config, &cfg, err) != 0)
		goto out;
	rc = 0;
	if (cfg.upstream_ca_file[0] != '\0') {
		rc = kh_fs_read_file(cfg.upstream_ca_file, KH_MAX_CA_BUNDLE_BYTES, false,
				     &f->upstream_ca.text, &f->upstream_ca.len, err);
		if (rc != 0)
			kh_err_prefix(err, "upstream_ca_file");
		f->upstream_ca.present = rc == 0;
	}
out:
	kh_config_free(&cfg);
	if (rc != 0)
		kh_policy_files_free(f);
	return rc;
}

int kh_policy_files_config(const struct kh_policy_files *f, const char *path, struct kh_config *cfg,
			   struct kh_err *err)
{
	if (!f->config.present) {
		kh_config_defaults(cfg);
		return 0;
	}
	if (kh_config_parse(path, f->config.text, f->config.len, cfg, err) != 0)
		return -1;
	cfg->file_existed = true;
	return 0;
}

int kh_policy_files_mappings(const struct kh_policy_files *f, const char *path,
			     struct kh_mappings *maps, struct kh_err *err)
{
	memset(maps, 0, sizeof *maps);
	if (!f->mappings.present)
		return 0;
	if (kh_mappings_parse(f->mappings.text, f->mappings.len, maps, err) != 0) {
		kh_err_prefix(err, "%s", path);
		return -1;
	}
	return 0;
}

void kh_policy_files_free(struct kh_policy_files *f)
{
	struct kh_policy_file *v[3] = { &f->config, &f->mappings, &f->upstream_ca };

	for (int i = 0; i < 3; i++) {
		kh_fs_free_secret(v[i]->text, v[i]->len);
		*v[i] = (struct kh_policy_file){ 0 };
	}
}
