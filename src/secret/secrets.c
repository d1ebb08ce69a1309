#include "secret/secrets.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/kh_limits.h"

extern char **environ;

static bool header_safe(const char *v, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

int kh_secrets_init(struct kh_secrets *s, size_t bytes, size_t max_items, struct kh_err *err)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t cap = ((bytes + 1) + (size_t)page - 1) / (size_t)page * (size_t)page;
	void *p;

	memset(s, 0, sizeof *s);
	p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		kh_err_set(err, "cannot allocate memory for secrets");
		return -1;
	}
	s->arena = p;
	s->cap = cap;
	s->locked = mlock(p, cap) == 0; /* best effort: RLIMIT_MEMLOCK may forbid it */
	madvise(p, cap, MADV_DONTDUMP);
	s->items = calloc(max_items ? max_items : 1, sizeof *s->items);
	s->max = max_items;
	if (s->items == NULL) {
		kh_err_set(err, "out of memory");
		kh_secrets_free(s);
		return -1;
	}
	return 0;
}

int kh_secrets_add(struct kh_secrets *s, const char *name, const char *v, size_t len,
		   struct kh_err *err)
{
	struct kh_secret_item *it;

	if (kh_secrets_get(s, name, NULL) != NULL)
		return 0;
	if (len > KH_MAX_SECRET_LEN || !header_safe(v, len)) {
		kh_err_set(err,
			   "%s holds a value that cannot be sent in an HTTP header "
			   "(control characters or over %d bytes); check the variable",
			   name, KH_MAX_SECRET_LEN);
		return -1;
	}
	if (strlen(name) >= sizeof s->items[0].name || s->n == s->max ||
	    len + 1 > s->cap - s->used) {
		kh_err_set(err, "no room for the value of %s", name);
		return -1;
	}
	it = &s->items[s->n++];
	memcpy(it->name, name, strlen(name) + 1);
	it->off = s->used;
	it->len = len;
	memcpy(s->arena + s->used, v, len);
	s->arena[s->used + len] = '\0';
	s->used += len + 1;
	return 0;
}

int kh_secrets_load_env(struct kh_secrets *s, const char *const *names, size_t n,
			struct kh_err *err)
{
	size_t need = 0;

	for (size_t i = 0; i < n; i++) {
		const char *v = getenv(names[i]);

		need += (v ? strlen(v) : 0) + 1;
	}
	if (kh_secrets_init(s, need, n, err) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *v = getenv(names[i]);

		if (v == NULL || v[0] == '\0')
			continue;
		if (kh_secrets_add(s, names[i], v, strlen(v), err) != 0) {
			kh_secrets_free(s);
			return -1;
		}
	}
	return 0;
}

const char *kh_secrets_get(const struct kh_secrets *s, const char *name, size_t *len)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->items[i].name, name) == 0) {
			if (len != NULL)
				*len = s->items[i].len;
			return s->arena + s->items[i].off;
		}
	}
	return NULL;
}

void kh_secrets_scrub_environ(const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(names[i]);

		for (char **e = environ; e != NULL && *e != NULL; e++) {
			if (strncmp(*e, names[i], nl) == 0 && (*e)[nl] == '=')
				OPENSSL_cleanse(*e + nl + 1, strlen(*e + nl + 1));
		}
		unsetenv(names[i]);
	}
}

void kh_secrets_free(struct kh_secrets *s)
{
	if (s == NULL)
		return;
	if (s->arena != NULL) {
		OPENSSL_cleanse(s->arena, s->cap);
		if (s->locked)
			munlock(s->arena, s->cap);
		munmap(s->arena, s->cap);
	}
	free(s->items);
	memset(s, 0, sizeof *s);
}
