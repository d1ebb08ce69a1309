/* The real credential values, held only by the daemon.
 *
 * Values are copied out of the environment into one arena of their own:
 * mmap'd, locked in RAM where the limit allows (never swapped), excluded
 * from core dumps, and wiped before it is unmapped. The copies left in the
 * process's environment block are overwritten in place, so even a reader
 * of /proc/<pid>/environ (root) finds no value there. */
#ifndef KH_SECRETS_H
#define KH_SECRETS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

struct kh_secret_item {
	char name[64];
	size_t off, len;
};

struct kh_secrets {
	char *arena; /* mmap'd, owned */
	size_t cap, used;
	bool locked; /* mlock succeeded */
	struct kh_secret_item *items;
	size_t n, max;
};

/* Prepares an empty store able to hold max_items values totalling bytes. */
int kh_secrets_init(struct kh_secrets *s, size_t bytes, size_t max_items, struct kh_err *err);

/* Adds name=value (len bytes). A name already present keeps its first value.
 * The value must be sendable in an HTTP header (see below). */
int kh_secrets_add(struct kh_secrets *s, const char *name, const char *value, size_t len,
		   struct kh_err *err);

/* Copies the values of the named variables that are set (unset or empty
 * ones are skipped: check with kh_secrets_get). A value with bytes that
 * cannot appear in an HTTP header (CR, LF, NUL, other controls) or longer
 * than KH_MAX_SECRET_LEN is an error naming the variable, never the value. */
int kh_secrets_load_env(struct kh_secrets *s, const char *const *names, size_t n,
			struct kh_err *err);

/* Value for name, or NULL. *len gets its length. */
const char *kh_secrets_get(const struct kh_secrets *s, const char *name, size_t *len);

/* Overwrites NAME=value strings in the process environment with zero bytes
 * and unsets them. Call after loading, before starting threads. */
void kh_secrets_scrub_environ(const char *const *names, size_t n);

/* Wipes and frees. NULL-safe and idempotent. */
void kh_secrets_free(struct kh_secrets *s);

#endif
