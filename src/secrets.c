#include "secrets.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "kh_limits.h"

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

static int arena_init(struct kh_secrets *s, size_t need, size_t n, struct kh_err *err)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t cap = ((need + 1) + (size_t)page - 1) / (size_t)page * (size_t)page;
	void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		kh_err_set(err, "cannot allocate memory for secrets");
		return -1;
	}
	s->arena = p;
	s->cap = cap;
	s->locked = mlock(p, cap) == 0; /* best effort: RLIMIT_MEMLOCK may forbid it */
	madvise(p, cap, MADV_DONTDUMP);
	s->items = calloc(n ? n : 1, sizeof *s->items);
	s->max = n;
	if (s->items == NULL) {
		kh_err_set(err, "out of memory");
		return -1;
	}
	return 0;
}

static int add_item(struct kh_secrets *s, const char *name, const char *v, struct kh_err *err)
{
	size_t len = strlen(v);
	struct kh_secret_item *it = &s->items[s->n];

	if (len > KH_MAX_SECRET_LEN || !header_safe(v, len)) {
		kh_err_set(err, "%s holds a value that cannot be sent in an HTTP header "
				"(control characters or over %d bytes); check the variable",
			   name, KH_MAX_SECRET_LEN);
		return -1;
	}
	if (strlen(name) >= sizeof it->name) {
		kh_err_set(err, "variable name too long: %s", name);
		return -1;
	}
	memcpy(it->name, name, strlen(name) + 1);
	it->off = s->used;
	it->len = len;
	memcpy(s->arena + s->used, v, len);
	s->arena[s->used + len] = '\0';
	s->used += len + 1;
	s->n++;
	return 0;
}

int kh_secrets_load_env(struct kh_secrets *s, const char *const *names, size_t n,
			struct kh_err *err)
{
	size_t need = 0;

	memset(s, 0, sizeof *s);
	for (size_t i = 0; i < n; i++) {
		const char *v = getenv(names[i]);

		need += (v ? strlen(v) : 0) + 1;
	}
	if (arena_init(s, need, n, err) != 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const char *v = getenv(names[i]);

		if (v == NULL || v[0] == '\0' || kh_secrets_get(s, names[i], NULL) != NULL)
			continue;
		if (add_item(s, names[i], v, err) != 0)
			goto fail;
	}
	return 0;
fail:
	kh_secrets_free(s);
	return -1;
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
