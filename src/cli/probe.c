#include "cli/probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"

static int wait_fd(int fd, short ev, uint64_t deadline)
{
	struct pollfd p = { fd, ev, 0 };
	uint64_t now = kh_mono_ms();

	if (now >= deadline)
		return -1;
	return poll(&p, 1, (int)(deadline - now)) == 1 ? 0 : -1;
}

static int connect_to(struct in_addr ip, uint16_t port, uint64_t deadline)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = ip };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), soerr = 0;
	socklen_t len = sizeof soerr;

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS)
		goto fail;
	if (wait_fd(fd, POLLOUT, deadline) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

int kh_probe_health(uint16_t port, unsigned timeout_ms)
{
	return kh_probe_health_at((struct in_addr){ htonl(INADDR_LOOPBACK) }, port, timeout_ms);
}

int kh_probe_health_at(struct in_addr ip, uint16_t port, unsigned timeout_ms)
{
	static const char req[] =
		"GET /healthz HTTP/1.1\r\nHost: keyhole\r\nConnection: close\r\n\r\n";
	uint64_t deadline = kh_mono_ms() + timeout_ms;
	char buf[1024];
	size_t n = 0;
	int fd = connect_to(ip, port, deadline), rc = -1;
	const char *body;

	if (fd < 0)
		return -1;
	if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1))
		goto out;
	while (n < sizeof buf - 1 && wait_fd(fd, POLLIN, deadline) == 0) {
		ssize_t r = recv(fd, buf + n, sizeof buf - 1 - n, 0);

		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	body = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.1 200 ", 13) == 0 && body != NULL &&
	    strncmp(body + 4, "keyhole ", 8) == 0)
		rc = 0;
out:
	close(fd);
	return rc;
}
