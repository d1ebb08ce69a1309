/* audit.log writing into a memory file: a record is one whole JSON line; a
 * thread with a batch keeps its records until kh_audit_flush() (what the
 * worker loop calls before each wait), writes them when the batch fills, and
 * kh_audit_batch_end() writes what is left. Then into a real file with a
 * file size limit (RLIMIT_FSIZE), which makes a batch's write(2) stop
 * part-way as a full disk does: the whole records before the cut stay, the
 * torn one is cut off, only the rest count as lost. */
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proxy/audit.h"
#include "base/kh_limits.h"
#include "tap.h"
#include "tmpdir.h"

static int mem_fd;

static struct kh_audit_rec rec(const char *path)
{
	return (struct kh_audit_rec){ .client = "127.0.0.1:5000",
				      .mode = "mitm",
				      .method = "GET",
				      .host = "api.openai.test",
				      .port = 443,
				      .path = path,
				      .status = 200,
				      .decision = "allow",
				      .reason = "allowed" };
}

static void write_rec(const char *path)
{
	struct kh_audit_rec r = rec(path);

	kh_audit_write(&r);
}

/* Bytes in the file so far; lines counted into *lines, each checked whole. */
static size_t file_size(size_t *lines)
{
	static char buf[1 << 20];
	ssize_t n = pread(mem_fd, buf, sizeof buf - 1, 0);
	size_t count = 0;

	if (n < 0)
		n = 0;
	buf[n] = '\0';
	for (char *p = buf; *p != '\0';) {
		char *nl = strchr(p, '\n');

		CHECK(nl != NULL);
		if (nl == NULL)
			break;
		CHECK(p[0] == '{' && nl[-1] == '}');
		count++;
		p = nl + 1;
	}
	if (lines != NULL)
		*lines = count;
	return (size_t)n;
}

static void reset_file(void)
{
	CHECK_INT(ftruncate(mem_fd, 0), 0);
	CHECK_INT(lseek(mem_fd, 0, SEEK_SET), 0);
}

static void unbatched_writes_at_once(void)
{
	size_t lines;

	reset_file();
	write_rec("/v1/one");
	file_size(&lines);
	CHECK_INT(lines, 1);
	kh_audit_flush(); /* no batch: nothing to do */
	file_size(&lines);
	CHECK_INT(lines, 1);
}

static void batch_waits_for_flush(void)
{
	size_t lines;

	reset_file();
	CHECK_INT(kh_audit_batch_begin(), 0);
	write_rec("/v1/a");
	write_rec("/v1/b");
	write_rec("/v1/c");
	CHECK_INT(file_size(NULL), 0);
	kh_audit_flush();
	file_size(&lines);
	CHECK_INT(lines, 3);
	kh_audit_flush(); /* empty batch: writes nothing more */
	file_size(&lines);
	CHECK_INT(lines, 3);
	write_rec("/v1/d");
	kh_audit_batch_end(); /* flushes */
	file_size(&lines);
	CHECK_INT(lines, 4);
	write_rec("/v1/e"); /* after the end: at once again */
	file_size(&lines);
	CHECK_INT(lines, 5);
}

static void full_batch_is_written_whole(void)
{
	char long_path[KH_AUDIT_PATH_MAX];
	size_t lines = 0, n = 0;

	reset_file();
	memset(long_path, 'x', sizeof long_path - 1);
	long_path[0] = '/';
	long_path[sizeof long_path - 1] = '\0';
	CHECK_INT(kh_audit_batch_begin(), 0);
	/* Enough long records to fill the batch several times over. */
	while (n * (sizeof long_path / 2) < 3 * KH_AUDIT_BATCH_BYTES) {
		write_rec(long_path);
		n++;
	}
	CHECK(file_size(&lines) > 0); /* written when full, before any flush */
	CHECK(lines < n);
	kh_audit_batch_end();
	file_size(&lines);
	CHECK_INT(lines, n);
}

static off_t size_of(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 ? st.st_size : -1;
}

static void short_write_keeps_whole_records(void)
{
	struct kh_err err;
	struct rlimit was, lim;
	uint64_t lost0, lost1;
	off_t one, before;

	CHECK_INT(kh_audit_open(path("audit.log"), &err), 0);
	write_rec("/v1/zero"); /* unbatched: one line, the length of every record here */
	one = size_of(path("audit.log"));
	CHECK(one > 100);
	CHECK(!kh_audit_failing(&lost0));

	CHECK_INT(getrlimit(RLIMIT_FSIZE, &was), 0);
	lim = was;
	lim.rlim_cur = (rlim_t)(one + 2 * one + one / 2); /* room for 2.5 more */
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);
	CHECK_INT(kh_audit_batch_begin(), 0);
	write_rec("/v1/aaaa");
	write_rec("/v1/bbbb");
	write_rec("/v1/cccc");
	kh_audit_flush(); /* the write stops half-way into the third */
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &was), 0);
	CHECK_INT(size_of(path("audit.log")), 3 * one);
	CHECK(kh_audit_failing(&lost1));
	CHECK_INT(lost1 - lost0, 1);

	before = size_of(path("audit.log"));
	write_rec("/v1/dddd"); /* room again: the next flush writes and recovers */
	kh_audit_batch_end();
	CHECK_INT(size_of(path("audit.log")), before + one);
	CHECK(!kh_audit_failing(&lost1));
	CHECK_INT(lost1 - lost0, 1);
}

int main(void)
{
	signal(SIGXFSZ, SIG_IGN); /* past RLIMIT_FSIZE: a short write or EFBIG, not a signal */
	if (tmpdir_make("kh-audit") != 0)
		return 1;
	mem_fd = memfd_create("audit", MFD_CLOEXEC);
	CHECK(mem_fd >= 0);
	kh_audit_use_fd(mem_fd);
	RUN(unbatched_writes_at_once);
	RUN(batch_waits_for_flush);
	RUN(full_batch_is_written_whole);
	kh_audit_close();
	RUN(short_write_keeps_whole_records);
	kh_audit_close();
	tmpdir_remove();
	TAP_DONE();
}
