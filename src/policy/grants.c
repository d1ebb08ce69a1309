#include "policy/grants.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "base/fsutil.h"
#include "base/log.h"

#define FILE_VERSION 1

bool kh_grant_label_valid(const char *label)
{
	size_t n = strlen(label);

	if (n == 0 || n >= KH_GRANT_LABEL_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = label[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}

/* When the grant stopped being usable (0 while it still is). */
static int64_t ended_at(const struct kh_grant *gr, int64_t now)
{
	int64_t rev = atomic_load(&gr->revoked_at);

	if (rev != 0)
		return rev;
	if (gr->expires != 0 && gr->expires <= now)
		return gr->expires;
	return 0;
}

/* Revoked, expired, or OK as far as time and revocation go. */
static enum kh_grant_state end_state(const struct kh_grant *gr, int64_t now)
{
	if (atomic_load(&gr->revoked_at) != 0)
		return KH_GRANT_REVOKED;
	if (gr->expires != 0 && gr->expires <= now)
		return KH_GRANT_EXPIRED;
	return KH_GRANT_OK;
}

enum kh_grant_state kh_grant_state(const struct kh_grant *gr, int64_t now)
{
	enum kh_grant_state s = end_state(gr, now);

	if (s == KH_GRANT_OK && gr->budget != 0 && atomic_load(&gr->used) >= gr->budget)
		return KH_GRANT_EXHAUSTED;
	return s;
}

const char *kh_grant_state_name(enum kh_grant_state s)
{
	switch (s) {
	case KH_GRANT_OK:
		return "active";
	case KH_GRANT_REVOKED:
		return "revoked";
	case KH_GRANT_EXPIRED:
		return "expired";
	case KH_GRANT_EXHAUSTED:
		return "exhausted";
	}
	return "?";
}

/* Wakes the autosave thread, if there is one. Never blocks: an eventfd
 * write only fails when its counter is full, and then a wake is pending. */
static void poke(struct kh_grants *g)
{
	uint64_t one = 1;
	int fd = atomic_load(&g->wake);

	if (fd >= 0 && write(fd, &one, sizeof one) < 0)
		return;
}

enum kh_grant_state kh_grant_use(struct kh_grant *gr, const char *token, int64_t now)
{
	enum kh_grant_state s;
	uint_fast64_t n;

	if (strcmp(gr->token, token) != 0) /* the slot was reused: the old token is gone */
		return KH_GRANT_REVOKED;
	if ((s = end_state(gr, now)) != KH_GRANT_OK)
		return s;
	if (gr->budget == 0) {
		atomic_fetch_add(&gr->used, 1); /* shown by keyhole token list */
		return KH_GRANT_OK;
	}
	/* Counted only while under budget, so the count never runs past it. */
	n = atomic_load(&gr->used);
	do {
		if (n >= gr->budget)
			return KH_GRANT_EXHAUSTED;
	} while (!atomic_compare_exchange_weak(&gr->used, &n, n + 1));
	if (n + 1 == gr->budget && gr->owner != NULL)
		poke(gr->owner); /* this one spent it: a restart must not hand it back */
	return KH_GRANT_OK;
}

/* --- grants.json --- */

static json_t *grant_json(const struct kh_grant *gr)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "token", gr->token, "env_name",
			 gr->env_name, "label", gr->label, "issued", (json_int_t)gr->issued,
			 "expires", (json_int_t)gr->expires, "budget", (json_int_t)gr->budget,
			 "used", (json_int_t)atomic_load(&gr->used), "revoked_at",
			 (json_int_t)atomic_load(&gr->revoked_at));
}

/* Room for a copy of every slot, touched so that copying under the lock
 * does not fault pages in; wiped and freed with free_copy (it will hold
 * whole tokens). NULL when out of memory. */
static struct kh_grant *alloc_copy(const struct kh_grants *g)
{
	struct kh_grant *c = malloc((g->cap ? g->cap : 1) * sizeof *c);

	if (c != NULL)
		memset(c, 0, (g->cap ? g->cap : 1) * sizeof *c);
	return c;
}

/* Copies the grants in use into c (from alloc_copy; NULL: nothing), atomics
 * read once, and (saving) marks their counts saved; *n of them. The caller
 * holds lock. */
static struct kh_grant *copy_grants(struct kh_grants *g, struct kh_grant *c, size_t *n, bool saving)
{
	*n = 0;
	for (size_t i = 0; c != NULL && i < g->cap; i++) {
		struct kh_grant *gr = &g->v[i], *o = &c[*n];
		uint64_t used = atomic_load(&gr->used);

		if (!gr->in_use)
			continue;
		if (saving)
			gr->saved_used = used;
		memcpy(o->token, gr->token, sizeof o->token);
		memcpy(o->env_name, gr->env_name, sizeof o->env_name);
		memcpy(o->label, gr->label, sizeof o->label);
		o->issued = gr->issued;
		o->expires = gr->expires;
		o->budget = gr->budget;
		atomic_store(&o->used, used);
		atomic_store(&o->revoked_at, atomic_load(&gr->revoked_at));
		(*n)++;
	}
	return c;
}

static struct kh_grant *copy_locked(struct kh_grants *g, struct kh_grant *c, size_t *n)
{
	return copy_grants(g, c, n, true);
}

static void free_copy(struct kh_grant *c, size_t n)
{
	if (c != NULL && n > 0)
		OPENSSL_cleanse(c, n * sizeof *c);
	free(c);
}

/* grants.json's text for n grants; the caller wipes and frees it with
 * free_text. NULL (err set) when out of memory. */
static char *render(const struct kh_grant *v, size_t n, const char *path, struct kh_err *err)
{
	json_t *arr = json_array(), *root;
	char *text;

	root = json_pack("{s:i, s:o}", "version", FILE_VERSION, "grants", arr);
	for (size_t i = 0; root != NULL && v != NULL && i < n; i++)
		if (json_array_append_new(arr, grant_json(&v[i])) != 0)
			break;
	text = root != NULL && v != NULL ? json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER)
					 : NULL;
	json_decref(root);
	if (text == NULL)
		kh_err_set(err, "out of memory writing %s", path);
	return text;
}

static void free_text(char *text)
{
	if (text != NULL)
		OPENSSL_cleanse(text, strlen(text));
	free(text);
}

/* Replaces grants.json by text. The caller holds save_lock. */
static int write_text(struct kh_grants *g, const char *text, struct kh_err *err)
{
	int rc = -1;

	if (text != NULL)
		rc = g->write_fn != NULL
			     ? g->write_fn(g->write_arg, text, strlen(text), err)
			     : kh_fs_write_atomic(g->path, text, strlen(text), 0600, err);

	g->save_failed = rc != 0;
	return rc;
}

/* Writes the state now, under both locks (an issue must know it was saved
 * before anything may depend on it). */
static int save_locked(struct kh_grants *g, struct kh_err *err)
{
	struct kh_grant *copy;
	char *text;
	size_t n;
	int rc;

	if (g->path[0] == '\0')
		return 0;
	copy = copy_locked(g, alloc_copy(g), &n);
	text = render(copy, n, g->path, err);
	rc = write_text(g, text, err);
	free_text(text);
	free_copy(copy, n);
	return rc;
}

/* Has a request moved a budget count since grants.json was written? */
static bool counts_changed(const struct kh_grants *g)
{
	for (size_t i = 0; i < g->cap; i++)
		if (g->v[i].in_use && atomic_load(&g->v[i].used) != g->v[i].saved_used)
			return true;
	return false;
}

char *kh_grants_text(struct kh_grants *g, size_t *len, struct kh_err *err)
{
	struct kh_grant *copy = alloc_copy(g);
	char *text;
	size_t n = 0;

	pthread_mutex_lock(&g->lock);
	copy_grants(g, copy, &n, false);
	pthread_mutex_unlock(&g->lock);
	text = render(copy, n, "the sandbox tokens", err);
	free_copy(copy, n);
	*len = text != NULL ? strlen(text) : 0;
	return text;
}

void kh_grants_text_free(char *text)
{
	free_text(text);
}

int kh_grants_save(struct kh_grants *g, struct kh_err *err)
{
	struct kh_grant *copy = NULL;
	char *text = NULL;
	size_t n = 0;
	bool due;
	int rc = 0;

	if (g->v == NULL || g->path[0] == '\0')
		return 0;
	pthread_mutex_lock(&g->save_lock);
	pthread_mutex_lock(&g->lock);
	due = g->save_failed || counts_changed(g);
	pthread_mutex_unlock(&g->lock);
	if (due) { /* counts only grow meanwhile: still due */
		copy = alloc_copy(g);
		/* Requests look labels up under lock: hold it only to copy. */
		pthread_mutex_lock(&g->lock);
		copy_locked(g, copy, &n);
		pthread_mutex_unlock(&g->lock);
		text = render(copy, n, g->path, err);
		rc = write_text(g, text, err);
	}
	pthread_mutex_unlock(&g->save_lock);
	free_text(text);
	free_copy(copy, n);
	return rc;
}

static int str_field(json_t *o, const char *key, char *out, size_t len)
{
	const char *s = json_string_value(json_object_get(o, key));

	if (s == NULL || strlen(s) >= len)
		return -1;
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int int_field(json_t *o, const char *key, int64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (int64_t)json_integer_value(v);
	return 0;
}

static int load_one(json_t *o, struct kh_grant *gr)
{
	int64_t budget, used, revoked;

	if (!json_is_object(o) || str_field(o, "token", gr->token, sizeof gr->token) != 0 ||
	    !kh_token_valid(gr->token) ||
	    str_field(o, "env_name", gr->env_name, sizeof gr->env_name) != 0 ||
	    !kh_env_name_valid(gr->env_name) ||
	    str_field(o, "label", gr->label, sizeof gr->label) != 0 ||
	    !kh_grant_label_valid(gr->label) || int_field(o, "issued", &gr->issued) != 0 ||
	    int_field(o, "expires", &gr->expires) != 0 || int_field(o, "budget", &budget) != 0 ||
	    int_field(o, "used", &used) != 0 || int_field(o, "revoked_at", &revoked) != 0)
		return -1;
	gr->budget = (uint64_t)budget;
	atomic_store(&gr->used, (uint_fast64_t)used);
	atomic_store(&gr->revoked_at, (long long)revoked);
	gr->in_use = true;
	return 0;
}

static int load(struct kh_grants *g, int64_t now, struct kh_err *err)
{
	char *text;
	size_t len;
	int rc;

	if (kh_fs_read_file(g->path, KH_MAX_MAPPINGS_BYTES, true, &text, &len, err) != 0)
		return -1;
	rc = kh_grants_load_text(g, text, len, now, err);
	kh_fs_free_secret(text, len);
	return rc;
}

int kh_grants_load_text(struct kh_grants *g, const char *text, size_t len, int64_t now,
			struct kh_err *err)
{
	json_error_t jerr;
	json_t *root, *arr, *o;
	size_t i, n = 0;
	int rc = 0;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	arr = json_object_get(root, "grants");
	if (root == NULL || !json_is_array(arr)) {
		kh_err_set(err,
			   "%s is not a keyhole grants file (%s); move it away to start afresh",
			   g->path, root == NULL ? jerr.text : "no \"grants\" array");
		json_decref(root);
		return -1;
	}
	json_array_foreach(arr, i, o)
	{
		struct kh_grant tmp = { 0 };

		if (load_one(o, &tmp) != 0) {
			kh_err_set(err,
				   "%s: grant %zu is malformed; move the file away to start afresh",
				   g->path, i);
			rc = -1;
			break;
		}
		if (kh_grant_forgotten(&tmp, now))
			continue; /* long dead */
		if (n == g->cap) {
			kh_err_set(err, "%s holds more than %zu grants", g->path, g->cap);
			rc = -1;
			break;
		}
		tmp.owner = g;
		tmp.saved_used = atomic_load(&tmp.used); /* as in the file */
		memcpy(&g->v[n++], &tmp, sizeof tmp);
	}
	json_decref(root);
	return rc;
}

int kh_grants_init(struct kh_grants *g, size_t cap, const char *path, int64_t now,
		   struct kh_err *err)
{
	memset(g, 0, sizeof *g);
	pthread_mutex_init(&g->lock, NULL);
	pthread_mutex_init(&g->save_lock, NULL);
	atomic_store(&g->wake, -1);
	g->v = calloc(cap, sizeof *g->v);
	if (g->v == NULL) {
		kh_err_set(err, "out of memory for %zu grants", cap);
		return -1;
	}
	g->cap = cap;
	if (path == NULL)
		return 0;
	if (strlen(path) >= sizeof g->path) {
		kh_err_set(err, "grants path too long: %s", path);
		return -1;
	}
	snprintf(g->path, sizeof g->path, "%s", path);
	return kh_fs_exists(path) ? load(g, now, err) : 0;
}

void kh_grants_free(struct kh_grants *g)
{
	kh_grants_autosave_stop(g);
	if (g->v != NULL && atomic_load(&g->wake) >= 0) {
		close(atomic_load(&g->wake));
		atomic_store(&g->wake, -1);
	}
	if (g->v != NULL) /* tokens are credentials toward the proxy */
		OPENSSL_cleanse(g->v, g->cap * sizeof *g->v);
	free(g->v);
	g->v = NULL;
	g->cap = 0;
	pthread_mutex_destroy(&g->lock);
	pthread_mutex_destroy(&g->save_lock);
}

/* --- the autosave thread --- */

static void *saver_main(void *arg)
{
	struct kh_grants *g = arg;
	struct pollfd p = { atomic_load(&g->wake), POLLIN, 0 };
	bool failing = false;
	uint64_t v;

	while (!atomic_load(&g->stopping)) {
		struct kh_err err = { "" };

		if (poll(&p, 1, (int)g->interval_ms) > 0 && read(p.fd, &v, sizeof v) < 0)
			continue; /* EINTR, or nothing to read after all */
		if (atomic_load(&g->stopping))
			break;
		if (kh_grants_save(g, &err) != 0) {
			if (!failing) /* once per run of failures, not every interval */
				kh_warn("grants: cannot save sandbox token budgets: %s; retrying "
					"every %u s",
					err.msg, g->interval_ms / 1000);
			failing = true;
		} else if (failing) {
			kh_info("grants: sandbox token budgets saved again");
			failing = false;
		}
	}
	return NULL;
}

int kh_grants_autosave_start(struct kh_grants *g, unsigned interval_ms, struct kh_err *err)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	if (fd < 0) {
		kh_err_set(err, "eventfd: %s", kh_strerror(errno));
		return -1;
	}
	g->interval_ms = interval_ms;
	atomic_store(&g->stopping, false);
	atomic_store(&g->wake, fd);
	if (pthread_create(&g->saver, NULL, saver_main, g) != 0) {
		kh_err_set(err, "cannot start the grants autosave thread");
		return -1; /* the eventfd is closed by kh_grants_free */
	}
	g->saver_started = true;
	return 0;
}

void kh_grants_autosave_stop(struct kh_grants *g)
{
	uint64_t one = 1;

	if (!g->saver_started)
		return;
	atomic_store(&g->stopping, true);
	if (write(atomic_load(&g->wake), &one, sizeof one) < 0)
		kh_warn("grants: cannot wake the autosave thread: %s", kh_strerror(errno));
	pthread_join(g->saver, NULL);
	g->saver_started = false;
}

/* --- issuing and revoking --- */

bool kh_grant_forgotten(const struct kh_grant *gr, int64_t now)
{
	int64_t end = ended_at(gr, now);

	return end != 0 && now - end > KH_GRANT_TOMBSTONE_SECS;
}

/* A free slot, or one forgotten so long ago that no policy a request can
 * still be judged by points at it (policies are rebuilt at every issue and
 * leave forgotten grants out, and each request takes the newest). */
static struct kh_grant *free_slot(struct kh_grants *g, int64_t now)
{
	for (size_t i = 0; i < g->cap; i++)
		if (!g->v[i].in_use)
			return &g->v[i];
	for (size_t i = 0; i < g->cap; i++)
		if (kh_grant_forgotten(&g->v[i], now - KH_GRANT_TOMBSTONE_SECS))
			return &g->v[i];
	return NULL;
}

/* "<the mapping token's prefix>-<32 random hex>", so SDKs that check a key's
 * shape accept it like the mapping's own token. */
static int new_token(const char *mapping_token, char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const char *dash = strrchr(mapping_token, '-');
	unsigned char raw[16];
	size_t p;

	if (dash == NULL || RAND_bytes(raw, sizeof raw) != 1)
		return -1;
	p = (size_t)(dash - mapping_token) + 1;
	if (p + 2 * sizeof raw + 1 > len)
		return -1;
	memcpy(out, mapping_token, p);
	for (size_t i = 0; i < sizeof raw; i++) {
		out[p + 2 * i] = hex[raw[i] >> 4];
		out[p + 2 * i + 1] = hex[raw[i] & 15];
	}
	out[p + 2 * sizeof raw] = '\0';
	return 0;
}

int kh_grants_issue(struct kh_grants *g, const struct kh_mapping *m, const struct kh_grant_req *r,
		    int64_t now, struct kh_grant **out, struct kh_err *err)
{
	struct kh_grant *gr, saved;
	int rc = -1;

	if (!kh_grant_label_valid(r->label)) {
		kh_err_set(err, "invalid label (use letters, digits, '.', '_' and '-', at most %d)",
			   KH_GRANT_LABEL_MAX - 1);
		return -1;
	}
	pthread_mutex_lock(&g->save_lock);
	pthread_mutex_lock(&g->lock);
	if ((gr = free_slot(g, now)) == NULL) {
		kh_err_set(err, "%zu sandbox tokens are live; revoke some (keyhole token revoke)",
			   g->cap);
		goto out;
	}
	memcpy(&saved, gr, sizeof saved);
	memset(gr, 0, sizeof *gr);
	if (new_token(m->proxy_token, gr->token, sizeof gr->token) != 0) {
		kh_err_set(err, "cannot make a token for %s", m->env_name);
		memcpy(gr, &saved, sizeof saved);
		goto out;
	}
	gr->owner = g;
	memcpy(gr->env_name, m->env_name, sizeof gr->env_name);
	snprintf(gr->label, sizeof gr->label, "%s", r->label);
	gr->issued = now;
	gr->expires = r->ttl > 0 ? now + r->ttl : 0;
	gr->budget = r->budget;
	gr->in_use = true;
	if (save_locked(g, err) != 0) {
		memcpy(gr, &saved, sizeof saved); /* not issued: nothing may depend on it */
		goto out;
	}
	*out = gr;
	rc = 0;
out:
	pthread_mutex_unlock(&g->lock);
	pthread_mutex_unlock(&g->save_lock);
	return rc;
}

int kh_grants_bind(struct kh_grants *g, const char *label, pid_t pid, struct kh_err *err)
{
	struct kh_grant_bind *free_bind = NULL;
	int rc = 0;

	if (!kh_grant_label_valid(label) || pid <= 0) {
		kh_err_set(err, "bind needs a valid label and a pid");
		return -1;
	}
	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; i < KH_MAX_GRANT_BINDS; i++) {
		struct kh_grant_bind *b = &g->binds[i];

		if (b->pid == pid || (b->pid == 0 && free_bind == NULL))
			free_bind = b;
		if (b->pid == pid)
			break;
	}
	if (free_bind != NULL) {
		free_bind->pid = pid;
		snprintf(free_bind->label, sizeof free_bind->label, "%s", label);
	} else {
		kh_err_set(err, "%d sandboxes are bound already", KH_MAX_GRANT_BINDS);
		rc = -1;
	}
	pthread_mutex_unlock(&g->lock);
	return rc;
}

bool kh_grants_label_of(struct kh_grants *g, pid_t pid, char *out)
{
	bool found = false;

	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; i < KH_MAX_GRANT_BINDS && !found; i++)
		if (g->binds[i].pid == pid) {
			memcpy(out, g->binds[i].label, KH_GRANT_LABEL_MAX);
			found = true;
		}
	pthread_mutex_unlock(&g->lock);
	return found;
}

long kh_grants_revoke(struct kh_grants *g, const char *token, const char *label, int64_t now,
		      struct kh_err *err)
{
	long n = 0;

	pthread_mutex_lock(&g->save_lock);
	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; label != NULL && i < KH_MAX_GRANT_BINDS; i++)
		if (strcmp(g->binds[i].label, label) == 0)
			memset(&g->binds[i], 0, sizeof g->binds[i]); /* its sandbox is gone */
	for (size_t i = 0; i < g->cap; i++) {
		struct kh_grant *gr = &g->v[i];

		if (!gr->in_use || atomic_load(&gr->revoked_at) != 0 ||
		    (token != NULL && strcmp(gr->token, token) != 0) ||
		    (label != NULL && strcmp(gr->label, label) != 0))
			continue;
		atomic_store(&gr->revoked_at, (long long)(now > 0 ? now : 1));
		n++;
	}
	if (n > 0 && save_locked(g, err) != 0)
		n = -1;
	pthread_mutex_unlock(&g->lock);
	pthread_mutex_unlock(&g->save_lock);
	return n;
}
