/* Listening sockets on loopback: a probe fills in the kernel's port, every
 * worker's SO_REUSEPORT socket shares it, but a port someone already
 * listens on is refused by the probe with a clear message; addresses that
 * are not local are named as such; IPv6 on loopback; formatting.
 * Unix sockets: mode 0600 whatever the umask, a stale socket replaced, a
 * live one, a plain file, a symlink or an over-long path refused. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "event/listener.h"
#include "tap.h"
#include "tmpdir.h"

static struct sockaddr_storage v4(const char *ip, uint16_t port, socklen_t *len)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *a = (struct sockaddr_in *)&ss;

	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	inet_pton(AF_INET, ip, &a->sin_addr);
	*len = sizeof *a;
	return ss;
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static void tcp_probe_and_share(void)
{
	struct kh_err err = { "" };
	socklen_t len;
	struct sockaddr_storage a = v4("127.0.0.1", 0, &len);
	char text[64];
	int fd1, fd2, c;

	CHECK_INT(kh_listen_probe(&a, len, "127.0.0.1:0", &err), 0);
	CHECK(port_of(&a) != 0);
	kh_listen_format(&a, text, sizeof text);
	fd1 = kh_listen_open(&a, len, text, &err);
	fd2 = kh_listen_open(&a, len, text, &err); /* a second worker */
	CHECK(fd1 >= 0 && fd2 >= 0);
	CHECK(fd1 >= 0 && (fcntl(fd1, F_GETFL) & O_NONBLOCK) != 0);
	CHECK(fd1 >= 0 && accept(fd1, NULL, NULL) < 0); /* nobody yet: would block */
	/* the port is taken now: a second daemon's probe says so */
	CHECK_INT(kh_listen_probe(&a, len, text, &err), -1);
	CHECK(strstr(err.msg, "already in use") != NULL && strstr(err.msg, text) != NULL);
	/* a client reaches one of them */
	c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(c >= 0 && connect(c, (struct sockaddr *)&a, len) == 0);
	close(c);
	close(fd1);
	close(fd2);
}

static void tcp_refusals(void)
{
	struct kh_err err = { "" };
	socklen_t len;
	struct sockaddr_storage a = v4("192.0.2.1", 0, &len);

	CHECK_INT(kh_listen_probe(&a, len, "192.0.2.1:0", &err), -1);
	CHECK(strstr(err.msg, "192.0.2.1:0: no such local address") != NULL);
	CHECK_INT(kh_listen_open(&a, len, "192.0.2.1:0", &err), -1);
	CHECK(strstr(err.msg, "no such local address") != NULL);
	if (geteuid() == 0) {
		printf("# skipped the privileged-port check: running as root\n");
		return;
	}
	a = v4("127.0.0.1", 1, &len);
	CHECK_INT(kh_listen_probe(&a, len, "127.0.0.1:1", &err), -1);
	CHECK(strstr(err.msg, "permission denied") != NULL);
}

static void ipv6_loopback(void)
{
	struct kh_err err = { "" };
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
	char text[64];
	int fd, v6only = 0;
	socklen_t ol = sizeof v6only;

	a->sin6_family = AF_INET6;
	a->sin6_addr = in6addr_loopback;
	if (kh_listen_probe(&ss, sizeof *a, "[::1]:0", &err) != 0) {
		printf("# skipped: no IPv6 loopback here (%s)\n", err.msg);
		return;
	}
	kh_listen_format(&ss, text, sizeof text);
	CHECK(strncmp(text, "[::1]:", 6) == 0 && strlen(text) > 6);
	fd = kh_listen_open(&ss, sizeof *a, text, &err);
	CHECK(fd >= 0);
	/* (the kernel sets V6ONLY itself for ::1; it is keyhole's own doing only
	 * for ::, which a test does not bind: loopback only) */
	CHECK(fd >= 0 && getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &ol) == 0 && v6only);
	if (fd >= 0)
		close(fd);
}

static void format(void)
{
	socklen_t len;
	struct sockaddr_storage a = v4("10.1.2.3", 9090, &len);
	char out[64];

	kh_listen_format(&a, out, sizeof out);
	CHECK_STR(out, "10.1.2.3:9090");
	kh_listen_format(&a, out, 6);
	CHECK_STR(out, "10.1.");
}

/* A socket file at p whose listener is gone (closed, not unlinked). */
static void make_stale(const char *p)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(a.sun_path, sizeof a.sun_path, "%s", p);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
		printf("# cannot make a stale socket at %s\n", p);
	if (fd >= 0)
		close(fd);
}

static void unix_sockets(void)
{
	struct kh_err err = { "" };
	mode_t old = umask(0);
	char longp[200];
	int fd, fd2;
	FILE *f;

	fd = kh_listen_unix(path("a.sock"), &err);
	umask(old);
	CHECK(fd >= 0);
	CHECK_INT(mode_of(path("a.sock")), 0600);
	/* live: another daemon for this directory */
	fd2 = kh_listen_unix(path("a.sock"), &err);
	CHECK_INT(fd2, -1);
	CHECK(strstr(err.msg, "in use by another keyhole daemon") != NULL);
	if (fd >= 0)
		close(fd);
	/* the file is still there, nobody answers: replaced */
	fd = kh_listen_unix(path("a.sock"), &err);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	make_stale(path("b.sock"));
	fd = kh_listen_unix(path("b.sock"), &err);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);

	f = fopen(path("plain"), "w");
	if (f != NULL)
		fclose(f);
	CHECK_INT(kh_listen_unix(path("plain"), &err), -1);
	CHECK(strstr(err.msg, "is not a socket") != NULL);
	CHECK_INT(access(path("plain"), F_OK), 0); /* left alone */

	/* a symlink, even to a stale socket, is neither followed nor removed */
	make_stale(path("c.sock"));
	CHECK_INT(symlink(path("c.sock"), path("link.sock")), 0);
	CHECK_INT(kh_listen_unix(path("link.sock"), &err), -1);
	CHECK(strstr(err.msg, "is not a socket") != NULL);
	CHECK_INT(access(path("c.sock"), F_OK), 0);

	memset(longp, 'x', sizeof longp - 1);
	longp[0] = '/';
	longp[sizeof longp - 1] = '\0';
	CHECK_INT(kh_listen_unix(longp, &err), -1);
	CHECK(strstr(err.msg, "path too long for a Unix socket") != NULL);
}

int main(void)
{
	if (tmpdir_make("kh-listener") != 0) {
		printf("Bail out! no scratch directory\n");
		return 1;
	}
	RUN(tcp_probe_and_share);
	RUN(tcp_refusals);
	RUN(ipv6_loopback);
	RUN(format);
	RUN(unix_sockets);
	tmpdir_remove();
	TAP_DONE();
}
