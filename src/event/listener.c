#include "event/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/sockaddr.h"
#include "base/kh_limits.h"

static uint16_t port_of(const struct sockaddr_storage *a)
{
	return ntohs(a->ss_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port
					     : ((const struct sockaddr_in6 *)a)->sin6_port);
}

void kh_listen_format(const struct sockaddr_storage *addr, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	kh_sockaddr_ip((const struct sockaddr *)addr, ip, sizeof ip);
	snprintf(out, len, addr->ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, port_of(addr));
}

static int bind_error(const char *text, struct kh_err *err)
{
	if (errno == EADDRINUSE)
		kh_err_set(err,
			   "%s is already in use (another keyhole? check `keyhole status`); "
			   "free it or change tunnel_port/listen in config.yaml",
			   text);
	else if (errno == EADDRNOTAVAIL)
		kh_err_set(err,
			   "%s: no such local address (listen: must name an address of this "
			   "machine)",
			   text);
	else if (errno == EACCES)
		kh_err_set(err, "%s: permission denied (ports below 1024 need privileges)", text);
	else
		kh_err_set(err, "cannot listen on %s: %s", text, kh_strerror(errno));
	return -1;
}

static int new_socket(const struct sockaddr_storage *addr, bool reuseport)
{
	int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	if (addr->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	return fd;
}

int kh_listen_probe(struct sockaddr_storage *addr, socklen_t len, const char *text,
		    struct kh_err *err)
{
	int fd = new_socket(addr, false);
	struct sockaddr_storage got;
	socklen_t glen = sizeof got;

	if (fd < 0)
		return bind_error(text, err);
	if (bind(fd, (struct sockaddr *)addr, len) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return bind_error(text, err);
	}
	if (port_of(addr) == 0 && getsockname(fd, (struct sockaddr *)&got, &glen) == 0) {
		if (addr->ss_family == AF_INET)
			((struct sockaddr_in *)addr)->sin_port =
				((struct sockaddr_in *)&got)->sin_port;
		else
			((struct sockaddr_in6 *)addr)->sin6_port =
				((struct sockaddr_in6 *)&got)->sin6_port;
	}
	close(fd);
	return 0;
}

static int unix_addr(const char *path, struct sockaddr_un *a, struct kh_err *err)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof a->sun_path) {
		kh_err_set(err,
			   "%s: path too long for a Unix socket (%zu bytes at most); use a "
			   "shorter KEYHOLE_HOME or set listen_unix: false",
			   path, sizeof a->sun_path - 1);
		return -1;
	}
	memcpy(a->sun_path, path, strlen(path) + 1);
	return 0;
}

/* Removes a socket file left by a daemon that is gone. */
static int clear_stale(const char *path, const struct sockaddr_un *a, struct kh_err *err)
{
	struct stat st;
	int fd, live;

	if (lstat(path, &st) != 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		kh_err_set(err, "%s exists and is not a socket; remove it", path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	live = fd >= 0 && connect(fd, (const struct sockaddr *)a, sizeof *a) == 0;
	if (fd >= 0)
		close(fd);
	if (live) {
		kh_err_set(err, "%s is in use by another keyhole daemon for this state directory",
			   path);
		return -1;
	}
	unlink(path);
	return 0;
}

int kh_listen_unix(const char *path, struct kh_err *err)
{
	struct sockaddr_un a;
	int fd;

	if (unix_addr(path, &a, err) != 0 || clear_stale(path, &a, err) != 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || chmod(path, 0600) != 0 ||
	    listen(fd, KH_LISTEN_BACKLOG) != 0) {
		kh_err_set(err, "cannot listen on %s: %s", path, kh_strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int kh_listen_open(const struct sockaddr_storage *addr, socklen_t len, const char *text,
		   struct kh_err *err)
{
	int fd = new_socket(addr, true);

	if (fd < 0 || bind(fd, (const struct sockaddr *)addr, len) != 0 ||
	    listen(fd, KH_LISTEN_BACKLOG) != 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		errno = e;
		return bind_error(text, err);
	}
	return fd;
}
