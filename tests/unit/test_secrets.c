/* The real-key store: values held exactly (the first of a name wins), caps
 * on length, count, room and name, values that cannot go in a header
 * refused with an error naming the variable and never the value, the arena
 * excluded from core dumps and wiped before it is unmapped (seen through a
 * second mapping of the same memory), and the environment's copies wiped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/kh_limits.h"
#include "secret/secrets.h"
#include "tap.h"

static void held(void)
{
	struct kh_secrets s;
	struct kh_err err = { "" };
	const char *v;
	size_t len = 0;

	CHECK_INT(kh_secrets_init(&s, 64, 3, &err), 0);
	CHECK_INT(kh_secrets_add(&s, "A_KEY", "alpha\tvalue", 11, &err), 0);
	CHECK_INT(kh_secrets_add(&s, "B_KEY", "beta", 4, &err), 0);
	CHECK_INT(kh_secrets_add(&s, "A_KEY", "other", 5, &err), 0); /* first one kept */
	v = kh_secrets_get(&s, "A_KEY", &len);
	CHECK(v != NULL && len == 11 && memcmp(v, "alpha\tvalue", 11) == 0 && v[11] == '\0');
	v = kh_secrets_get(&s, "B_KEY", &len);
	CHECK(v != NULL && len == 4 && strcmp(v, "beta") == 0);
	CHECK(kh_secrets_get(&s, "A_KE", NULL) == NULL);
	CHECK(kh_secrets_get(&s, "A_KEY_", NULL) == NULL);
	CHECK(kh_secrets_get(&s, "a_key", NULL) == NULL);
	CHECK_INT(s.n, 2);
	kh_secrets_free(&s);
	CHECK(s.arena == NULL && s.n == 0);
	kh_secrets_free(&s); /* idempotent */
	kh_secrets_free(NULL);
}

static bool names_only(const struct kh_err *err, const char *name, const char *value)
{
	return strstr(err->msg, name) != NULL && strstr(err->msg, value) == NULL;
}

static void refused(void)
{
	struct kh_secrets s;
	struct kh_err err = { "" };
	static char big[KH_MAX_SECRET_LEN + 2];
	char name[80];

	CHECK_INT(kh_secrets_init(&s, 2 * KH_MAX_SECRET_LEN, 4, &err), 0);
	CHECK_INT(kh_secrets_add(&s, "CR_KEY", "sk-abc\r\nX-Evil: 1", 17, &err), -1);
	CHECK(names_only(&err, "CR_KEY", "sk-abc"));
	CHECK_INT(kh_secrets_add(&s, "NUL_KEY", "sk-abc\0def", 10, &err), -1);
	CHECK_INT(kh_secrets_add(&s, "DEL_KEY", "sk-abc\x7f", 7, &err), -1);
	CHECK_INT(kh_secrets_add(&s, "ESC_KEY", "\x1b[2J", 4, &err), -1);
	CHECK_INT(s.n, 0);
	memset(big, 'k', sizeof big - 1);
	CHECK_INT(kh_secrets_add(&s, "BIG_KEY", big, KH_MAX_SECRET_LEN + 1, &err), -1);
	CHECK(names_only(&err, "BIG_KEY", "kkkkkkkk"));
	CHECK_INT(kh_secrets_add(&s, "MAX_KEY", big, KH_MAX_SECRET_LEN, &err), 0);
	/* a name that does not fit the item is refused, not cut to another name */
	memset(name, 'N', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	CHECK_INT(kh_secrets_add(&s, name, "v", 1, &err), -1);
	name[64] = '\0';
	CHECK_INT(kh_secrets_add(&s, name, "v", 1, &err), -1);
	name[63] = '\0';
	CHECK_INT(kh_secrets_add(&s, name, "v", 1, &err), 0);
	kh_secrets_free(&s);

	/* count and room */
	CHECK_INT(kh_secrets_init(&s, 10, 2, &err), 0);
	CHECK(s.cap >= 11);
	CHECK_INT(kh_secrets_add(&s, "ONE", "1", 1, &err), 0);
	CHECK_INT(kh_secrets_add(&s, "TWO", "2", 1, &err), 0);
	CHECK_INT(kh_secrets_add(&s, "THREE", "3", 1, &err), -1);
	CHECK(strstr(err.msg, "THREE") != NULL);
	kh_secrets_free(&s);
	CHECK_INT(kh_secrets_init(&s, 1, 8, &err), 0);
	big[s.cap] = '\0';
	CHECK_INT(kh_secrets_add(&s, "FULL", big, s.cap, &err), -1); /* no room for its NUL */
	CHECK_INT(kh_secrets_add(&s, "FITS", big, s.cap - 1, &err), 0);
	CHECK_INT(kh_secrets_add(&s, "MORE", "x", 1, &err), -1);
	kh_secrets_free(&s);
}

static void from_environment(void)
{
	static const char *names[] = { "KH_T_SET", "KH_T_EMPTY", "KH_T_UNSET" };
	struct kh_secrets s;
	struct kh_err err = { "" };
	size_t len = 0;
	char *env_copy;

	setenv("KH_T_SET", "sk-from-env", 1);
	setenv("KH_T_EMPTY", "", 1);
	unsetenv("KH_T_UNSET");
	CHECK_INT(kh_secrets_load_env(&s, names, 3, &err), 0);
	CHECK_STR(kh_secrets_get(&s, "KH_T_SET", &len), "sk-from-env");
	CHECK(kh_secrets_get(&s, "KH_T_EMPTY", NULL) == NULL);
	CHECK(kh_secrets_get(&s, "KH_T_UNSET", NULL) == NULL);

	/* the process's own copy is overwritten, then the variable is unset
	 * (glibc keeps the NAME=value string it allocated, so it can be read) */
	env_copy = getenv("KH_T_SET");
	kh_secrets_scrub_environ(names, 3);
	CHECK(getenv("KH_T_SET") == NULL);
	CHECK(env_copy != NULL && env_copy[0] == '\0' && memchr(env_copy, 's', 11) == NULL);
	CHECK_STR(kh_secrets_get(&s, "KH_T_SET", NULL), "sk-from-env"); /* ours stays */
	kh_secrets_free(&s);

	/* a bad value fails the whole load, naming the variable only */
	setenv("KH_T_SET", "sk-line\nbreak", 1);
	CHECK_INT(kh_secrets_load_env(&s, names, 1, &err), -1);
	CHECK(names_only(&err, "KH_T_SET", "sk-line"));
	CHECK(s.arena == NULL);
	unsetenv("KH_T_SET");
}

/* Does /proc/self/smaps flag the mapping at addr with flag (e.g. "dd")? */
static bool vm_flag(const void *addr, const char *flag)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512], want[8];
	bool in = false, found = false;
	unsigned long lo, hi;

	if (f == NULL)
		return false;
	snprintf(want, sizeof want, " %s", flag);
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			in = (unsigned long)addr >= lo && (unsigned long)addr < hi;
		else if (in && strncmp(line, "VmFlags:", 8) == 0)
			found = strstr(line, want) != NULL;
	}
	fclose(f);
	return found;
}

/* The arena is swapped for a shared mapping of a memfd, mapped a second
 * time here: what kh_secrets_free leaves in it stays visible after it has
 * unmapped its own view. */
static void wiped_on_free(void)
{
	struct kh_secrets s;
	struct kh_err err = { "" };
	int fd = -1;
	unsigned char *spy = MAP_FAILED;
	size_t nonzero = 0, cap = 0;

	CHECK_INT(kh_secrets_init(&s, 100, 2, &err), 0);
	CHECK(vm_flag(s.arena, "dd")); /* never in a core dump */
	/* whether it is locked is not checked: ASan makes mlock() a no-op */
	fd = memfd_create("kh-secrets-test", 0);
	CHECK(fd >= 0 && ftruncate(fd, (off_t)s.cap) == 0);
	if (fd < 0)
		goto done;
	spy = mmap(NULL, s.cap, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(spy != MAP_FAILED);
	CHECK(mmap(s.arena, s.cap, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) ==
	      s.arena);
	s.locked = false; /* the new mapping is not locked */
	cap = s.cap;
	if (spy == MAP_FAILED)
		goto done;
	CHECK_INT(kh_secrets_add(&s, "WIPE_KEY", "sk-wipe-me-please", 17, &err), 0);
	CHECK(memmem(spy, s.cap, "sk-wipe-me-please", 17) != NULL);
	kh_secrets_free(&s);
	for (size_t i = 0; i < cap; i++)
		nonzero += spy[i] != 0;
	CHECK_INT(nonzero, 0);
done:
	if (spy != MAP_FAILED)
		munmap(spy, cap);
	if (fd >= 0)
		close(fd);
	kh_secrets_free(&s);
}

int main(void)
{
	RUN(held);
	RUN(refused);
	RUN(from_environment);
	RUN(wiped_on_free);
	TAP_DONE();
}
