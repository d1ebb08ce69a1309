/* The writable directory of keyhole sandbox and what stays read-only in it
 * (see workdir.h).
 *
 * The list follows the mandatory deny list of @anthropic-ai/sandbox-runtime:
 * shell startup files, .envrc (direnv), git's hooks, config, commondir and
 * info/attributes, .gitmodules and .gitconfig, editor settings (.vscode,
 * .idea) and agent settings (.claude, .mcp.json), plus .ssh and .gnupg for a
 * directory that is someone's home after all. Only the top of the writable
 * directory is covered (and the git directory a ".git" file names inside
 * it): nested repositories and .envrc files further down are not. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "sandbox/workdir.h"

enum stub { STUB_NONE, STUB_DIR, STUB_FILE };

/* Read-only at the top of the writable directory; a missing one gets an
 * empty directory as placeholder (git lists no empty directory, so the
 * placeholders never show up in `git status` or get committed). */
static const char *const top_names[] = {
	".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile",
	".zshrc",  ".zprofile",     ".zshenv",     ".zlogin",      ".zlogout",
	".envrc",  ".gitconfig",    ".gitmodules", ".mcp.json",    ".vscode",
	".idea",   ".claude",       ".ssh",        ".gnupg",       NULL
};

/* Directories a sandbox must not write even below: other programs' sockets,
 * the kernel's knobs, devices. */
static const char *const system_dirs[] = { "/proc", "/sys", "/dev", "/run", NULL };

/* Shared with every program on the machine: a directory holding one would
 * expose the others' files and sockets (/tmp/.X11-unix). */
static const char *const shared_dirs[] = { "/tmp", "/var/tmp", NULL };

/* path is dir or below it */
static bool within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return path[0] == '/';
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static void resolve(const char *p, char out[KH_MAX_PATH])
{
	if (realpath(p, out) == NULL)
		snprintf(out, KH_MAX_PATH, "%s", p);
}

static int refuse(struct kh_err *err, const char *dir, const char *why)
{
	kh_err_set(err,
		   "will not let the sandbox write %s: %s. Run keyhole sandbox from a "
		   "project directory, or choose one with --workdir DIR",
		   dir, why);
	return -1;
}

/* $HOME, the user's home in the password database, and the home of the
 * directory's owner (root working in /home/alice protects alice). */
static int check_homes(const struct kh_workdir *w, struct kh_err *err)
{
	const struct passwd *me = getpwuid(getuid()), *owner = getpwuid(w->owner);
	const char *homes[3] = { getenv("HOME"), me ? me->pw_dir : NULL,
				 owner ? owner->pw_dir : NULL };
	char home[KH_MAX_PATH], why[KH_MAX_PATH + 96];

	for (size_t i = 0; i < 3; i++) {
		if (homes[i] == NULL || homes[i][0] != '/')
			continue;
		resolve(homes[i], home);
		if (within(home, w->dir)) {
			snprintf(why, sizeof why,
				 "it %s the home directory %s, where a command could plant "
				 ".bashrc or .ssh/authorized_keys",
				 strcmp(home, w->dir) == 0 ? "is" : "holds", home);
			return refuse(err, w->dir, why);
		}
	}
	return 0;
}

static int check_system(const struct kh_workdir *w, const char *keyhole_home, struct kh_err *err)
{
	char p[KH_MAX_PATH], why[KH_MAX_PATH + 96];

	if (strcmp(w->dir, "/") == 0)
		return refuse(err, w->dir, "it is the root directory");
	for (size_t i = 0; shared_dirs[i] != NULL; i++) {
		resolve(shared_dirs[i], p);
		if (within(p, w->dir)) {
			snprintf(why, sizeof why, "it %s %s, which every program here shares",
				 strcmp(p, w->dir) == 0 ? "is" : "holds", p);
			return refuse(err, w->dir, why);
		}
	}
	for (size_t i = 0; system_dirs[i] != NULL; i++)
		if (within(w->dir, system_dirs[i])) {
			snprintf(why, sizeof why, "it is inside %s", system_dirs[i]);
			return refuse(err, w->dir, why);
		}
	if (within(w->dir, keyhole_home)) {
		snprintf(why, sizeof why, "it is inside KEYHOLE_HOME (%s), hidden in the sandbox",
			 keyhole_home);
		return refuse(err, w->dir, why);
	}
	return 0;
}

int kh_workdir_choose(struct kh_workdir *w, const char *requested, const char *keyhole_home,
		      struct kh_err *err)
{
	struct stat st;

	memset(w, 0, sizeof *w);
	if (realpath(requested ? requested : ".", w->dir) == NULL) {
		kh_err_set(err, "--workdir %s: %s", requested ? requested : ".", strerror(errno));
		return -1;
	}
	if (stat(w->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		kh_err_set(err, "--workdir %s: not a directory", w->dir);
		return -1;
	}
	w->owner = st.st_uid;
	w->group = st.st_gid;
	if (check_system(w, keyhole_home, err) != 0 || check_homes(w, err) != 0)
		return -1;
	return 0;
}

/* --- finding and keeping the read-only paths --- */

static int symlink_refusal(const struct kh_workdir *w, const char *rel, struct kh_err *err)
{
	kh_err_set(err,
		   "%s/%s is a symbolic link: keyhole sandbox keeps it read-only, but a link "
		   "can be replaced; make it a real file or directory, or choose another "
		   "directory with --workdir DIR",
		   w->dir, rel);
	return -1;
}

/* The directory holding rel's last component, opened O_PATH without
 * following a symbolic link on the way; *name points into rel. */
static int open_parent(const struct kh_workdir *w, int wfd, const char *rel, const char **name,
		       struct kh_err *err)
{
	char comp[KH_WORKDIR_REL_MAX];
	const char *p = rel, *slash;
	int fd = dup(wfd), next;

	while (fd >= 0 && (slash = strchr(p, '/')) != NULL) {
		snprintf(comp, sizeof comp, "%.*s", (int)(slash - p), p);
		next = openat(fd, comp, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
		close(fd);
		if (next < 0) {
			if (errno == ELOOP || errno == ENOTDIR)
				symlink_refusal(w, rel, err);
			else
				kh_err_set(err, "%s/%s: %s", w->dir, rel, strerror(errno));
			return -1;
		}
		fd = next;
		p = slash + 1;
	}
	if (fd < 0)
		kh_err_set(err, "%s: %s", w->dir, strerror(errno));
	*name = p;
	return fd;
}

/* 0 and *st, 1 if rel does not exist, -1 with err (a symbolic link among them). */
static int look(const struct kh_workdir *w, int wfd, const char *rel, struct stat *st,
		struct kh_err *err)
{
	const char *name;
	int pfd = open_parent(w, wfd, rel, &name, err), rc;

	if (pfd < 0)
		return -1;
	rc = fstatat(pfd, name, st, AT_SYMLINK_NOFOLLOW);
	close(pfd);
	if (rc != 0 && errno == ENOENT)
		return 1;
	if (rc != 0) {
		kh_err_set(err, "%s/%s: %s", w->dir, rel, strerror(errno));
		return -1;
	}
	return S_ISLNK(st->st_mode) ? symlink_refusal(w, rel, err) : 0;
}

static int make_stub(const struct kh_workdir *w, int pfd, const char *name, enum stub kind,
		     const char *content, struct stat *st)
{
	int fd = -1;

	if (kind == STUB_DIR && mkdirat(pfd, name, 0755) != 0)
		return -1;
	if (kind == STUB_FILE) {
		fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0)
			return -1;
		if (kh_fs_write_all(fd, content, strlen(content)) != 0) {
			close(fd);
			unlinkat(pfd, name, 0);
			return -1;
		}
		close(fd);
	}
	if (geteuid() == 0) /* left behind only if we are killed: then it is the owner's */
		(void)!fchownat(pfd, name, w->owner, w->group, AT_SYMLINK_NOFOLLOW);
	return fstatat(pfd, name, st, AT_SYMLINK_NOFOLLOW);
}

/* Keeps rel read-only; a missing one gets a placeholder of kind (none for
 * STUB_NONE). A placeholder we may not make, the command may not either. */
static int keep(struct kh_workdir *w, int wfd, const char *rel, enum stub kind, const char *content,
		struct kh_err *err)
{
	struct kh_workdir_path *e = &w->ro[w->n_ro];
	struct stat st;
	const char *name;
	int found = look(w, wfd, rel, &st, err), pfd;

	if (found < 0 || (found == 1 && kind == STUB_NONE))
		return found < 0 ? -1 : 0;
	if (w->n_ro == KH_WORKDIR_MAX_RO || strlen(rel) >= sizeof e->rel) {
		kh_err_set(err, "%s/%s: too many or too long paths to keep read-only", w->dir, rel);
		return -1;
	}
	memset(e, 0, sizeof *e);
	snprintf(e->rel, sizeof e->rel, "%s", rel);
	if (found == 1) {
		if ((pfd = open_parent(w, wfd, rel, &name, err)) < 0)
			return -1;
		if (make_stub(w, pfd, name, kind, content, &st) != 0) {
			int saved = errno;

			close(pfd);
			if (saved == EACCES || saved == EPERM || saved == EROFS)
				return 0;
			kh_err_set(err, "cannot make a placeholder at %s/%s: %s", w->dir, rel,
				   strerror(saved));
			return -1;
		}
		close(pfd);
		e->made = true;
		e->made_dir = kind == STUB_DIR;
		e->dev = st.st_dev;
		e->ino = st.st_ino;
		e->size = st.st_size;
	}
	w->n_ro++;
	return 0;
}

/* rel and every directory above it (inside the writable one) become mount
 * points: a mount point cannot be renamed or removed. */
static int pin(struct kh_workdir *w, const char *rel, struct kh_err *err)
{
	char prefix[KH_WORKDIR_REL_MAX];
	size_t len = strlen(rel);

	for (size_t i = 1; i <= len; i++) {
		bool dup = false;

		if (rel[i] != '/' && rel[i] != '\0')
			continue;
		snprintf(prefix, sizeof prefix, "%.*s", (int)i, rel);
		for (size_t k = 0; k < w->n_pins; k++)
			dup = dup || strcmp(w->pins[k].rel, prefix) == 0;
		if (dup)
			continue;
		if (w->n_pins == KH_WORKDIR_MAX_PINS || i >= KH_WORKDIR_REL_MAX) {
			kh_err_set(err, "%s/%s: too deep to keep read-only", w->dir, rel);
			return -1;
		}
		memset(&w->pins[w->n_pins], 0, sizeof w->pins[0]);
		snprintf(w->pins[w->n_pins++].rel, KH_WORKDIR_REL_MAX, "%s", prefix);
	}
	return 0;
}

static int keep_in(struct kh_workdir *w, int wfd, const char *dir, const char *name, enum stub kind,
		   const char *content, struct kh_err *err)
{
	char rel[KH_WORKDIR_REL_MAX];

	if ((size_t)snprintf(rel, sizeof rel, "%s/%s", dir, name) >= sizeof rel) {
		kh_err_set(err, "%s/%s: path too long", w->dir, dir);
		return -1;
	}
	return keep(w, wfd, rel, kind, content, err);
}

/* A git directory: hooks and config (core.fsmonitor, core.hooksPath, aliases
 * run commands), commondir (would send git to another directory's hooks and
 * config: its placeholder "." names this one, as git does when it is
 * absent), info/attributes (applies configured filters). config.worktree is
 * read only when config enables it, modules and worktrees hold other git
 * directories: read-only when present, no placeholder. */
static int keep_git_dir(struct kh_workdir *w, int wfd, const char *gd, struct kh_err *err)
{
	char info[KH_WORKDIR_REL_MAX];
	struct stat st;
	int found;

	if (pin(w, gd, err) != 0 || keep_in(w, wfd, gd, "hooks", STUB_DIR, "", err) != 0 ||
	    keep_in(w, wfd, gd, "config", STUB_FILE, "", err) != 0 ||
	    keep_in(w, wfd, gd, "commondir", STUB_FILE, ".\n", err) != 0 ||
	    keep_in(w, wfd, gd, "config.worktree", STUB_NONE, "", err) != 0 ||
	    keep_in(w, wfd, gd, "modules", STUB_NONE, "", err) != 0 ||
	    keep_in(w, wfd, gd, "worktrees", STUB_NONE, "", err) != 0)
		return -1;
	snprintf(info, sizeof info, "%s/info", gd);
	found = look(w, wfd, info, &st, err);
	if (found < 0)
		return -1;
	if (found == 1 || !S_ISDIR(st.st_mode)) /* no info/: none can be made */
		return keep(w, wfd, info, STUB_DIR, "", err);
	if (pin(w, info, err) != 0)
		return -1;
	return keep_in(w, wfd, info, "attributes", STUB_FILE, "", err);
}

/* "gitdir: PATH" of a .git file, as an absolute path; 1 if it has none. */
static int read_gitfile(const struct kh_workdir *w, int wfd, char out[KH_MAX_PATH],
			struct kh_err *err)
{
	char buf[KH_GITFILE_MAX];
	struct stat st;
	ssize_t n;
	int fd = openat(wfd, ".git", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		kh_err_set(err, "%s/.git: cannot read it: %s", w->dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 8 || memcmp(buf, "gitdir: ", 8) != 0)
		return 1; /* git would not follow it either */
	buf[n] = '\0';
	while (n > 8 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (buf[8] == '/')
		snprintf(out, KH_MAX_PATH, "%s", buf + 8);
	else if ((size_t)snprintf(out, KH_MAX_PATH, "%s/%s", w->dir, buf + 8) >= KH_MAX_PATH)
		return 1;
	return 0;
}

/* A .git file (worktree, submodule checkout) is kept read-only, and so is
 * the git directory it names when that lies inside the writable directory.
 * One that names a missing directory inside it is refused: the command could
 * create it, hooks included. */
static int keep_gitfile(struct kh_workdir *w, int wfd, struct kh_err *err)
{
	char target[KH_MAX_PATH], real[KH_MAX_PATH];
	struct stat st;
	int rc = keep(w, wfd, ".git", STUB_NONE, "", err);

	if (rc == 0)
		rc = read_gitfile(w, wfd, target, err);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (realpath(target, real) == NULL) {
		if (!within(target, w->dir))
			return 0;
		kh_err_set(err,
			   "%s/.git names %s, which does not exist; remove the file or "
			   "choose another directory with --workdir DIR",
			   w->dir, target);
		return -1;
	}
	if (!within(real, w->dir) || stat(real, &st) != 0 || !S_ISDIR(st.st_mode))
		return 0; /* outside: read-only like the rest of the host */
	if (strcmp(real, w->dir) == 0) {
		kh_err_set(err,
			   "%s/.git names the directory itself; choose another directory "
			   "with --workdir DIR",
			   w->dir);
		return -1;
	}
	return keep_git_dir(w, wfd, real + strlen(w->dir) + 1, err);
}

/* No .git: an empty placeholder directory, which git does not take for a
 * repository (it looks further up), and which stops `git init` here. */
static int keep_git(struct kh_workdir *w, int wfd, struct kh_err *err)
{
	struct stat st;
	int found = look(w, wfd, ".git", &st, err);

	if (found < 0)
		return -1;
	if (found == 1)
		return keep(w, wfd, ".git", STUB_DIR, "", err);
	if (S_ISDIR(st.st_mode))
		return keep_git_dir(w, wfd, ".git", err);
	if (S_ISREG(st.st_mode))
		return keep_gitfile(w, wfd, err);
	return keep(w, wfd, ".git", STUB_NONE, "", err);
}

int kh_workdir_protect(struct kh_workdir *w, struct kh_err *err)
{
	int wfd = open(w->dir, O_PATH | O_DIRECTORY | O_CLOEXEC), rc = -1;

	if (wfd < 0) {
		kh_err_set(err, "%s: %s", w->dir, strerror(errno));
		return -1;
	}
	for (size_t i = 0; top_names[i] != NULL; i++)
		if (keep(w, wfd, top_names[i], STUB_DIR, "", err) != 0)
			goto out;
	rc = keep_git(w, wfd, err);
out:
	close(wfd);
	if (rc != 0)
		kh_workdir_cleanup(w);
	return rc;
}

/* --- bwrap's view, and the way back --- */

static int add_dir(struct kh_argv *a, const char *p)
{
	return kh_argv_add(a, "--perms") | kh_argv_add(a, "0755") | kh_argv_add(a, "--dir") |
	       kh_argv_add(a, p);
}

int kh_workdir_bwrap_args(const struct kh_workdir *w, struct kh_argv *a)
{
	int rc = kh_argv_add(a, "--bind");

	rc |= kh_argv_add(a, w->dir);
	rc |= kh_argv_add(a, w->dir);
	/* pins were added shallowest first, each after the directories above it */
	for (size_t i = 0; i < w->n_pins; i++) {
		rc |= kh_argv_add(a, "--bind");
		rc |= kh_argv_addf(a, "%s/%s", w->dir, w->pins[i].rel);
		rc |= kh_argv_addf(a, "%s/%s", w->dir, w->pins[i].rel);
	}
	for (size_t i = 0; i < w->n_ro; i++) {
		rc |= kh_argv_add(a, "--ro-bind");
		rc |= kh_argv_addf(a, "%s/%s", w->dir, w->ro[i].rel);
		rc |= kh_argv_addf(a, "%s/%s", w->dir, w->ro[i].rel);
	}
	return rc;
}

int kh_workdir_open_path(const struct kh_workdir *w, struct kh_argv *a)
{
	char p[KH_MAX_PATH];
	struct stat st;
	bool made = false; /* below here, bwrap makes the directories on a tmpfs */
	int rc = 0;

	for (const char *s = strchr(w->dir + 1, '/'); s != NULL; s = strchr(s + 1, '/')) {
		snprintf(p, sizeof p, "%.*s", (int)(s - w->dir), w->dir);
		if (made) { /* bwrap would copy the host's mode, 0700 included */
			rc |= add_dir(a, p);
		} else if (strcmp(p, "/tmp") == 0 || strcmp(p, "/run") == 0) {
			made = true; /* the sandbox's own tmpfs, mode 0755 */
		} else if (stat(p, &st) == 0 && !(st.st_mode & S_IXOTH)) {
			rc |= kh_argv_add(a, "--tmpfs");
			rc |= kh_argv_add(a, p);
			made = true;
		}
	}
	return rc;
}

void kh_workdir_cleanup(struct kh_workdir *w)
{
	struct kh_err err = { "" };
	int wfd;

	if (w == NULL || (wfd = open(w->dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return;
	for (size_t i = w->n_ro; i-- > 0;) {
		struct kh_workdir_path *e = &w->ro[i];
		const char *name;
		struct stat st;
		int pfd;

		if (!e->made || (pfd = open_parent(w, wfd, e->rel, &name, &err)) < 0)
			continue;
		/* only the placeholder made, and (a file) still as made */
		if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == e->dev &&
		    st.st_ino == e->ino && (e->made_dir || st.st_size == e->size))
			(void)!unlinkat(pfd, name, e->made_dir ? AT_REMOVEDIR : 0);
		close(pfd);
		e->made = false;
	}
	close(wfd);
}
