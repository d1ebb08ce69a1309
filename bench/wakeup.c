/* What one hop between two processes costs on this machine: the floor under
 * privsep's front -> key holder -> front round trip (docs/PERFORMANCE.md).
 *
 * Two processes bounce one byte over an AF_UNIX stream socketpair, each
 * waiting in epoll_wait as keyhole's loops do: blocking, or first polling
 * without blocking for up to SPIN_US (as busy_poll_us does). Prints the
 * round trip's p50 and p90 over N rounds.
 *
 *   cc -O2 -o /tmp/wakeup bench/wakeup.c && /tmp/wakeup [SPIN_US] [N]
 *   taskset -c 0 /tmp/wakeup     both on one core: a switch, no cross-core wakeup */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Until fd's epoll says readable: polling for spin_us first, then blocking. */
static void wait_readable(int ep, unsigned spin_us)
{
	struct epoll_event e;
	uint64_t start = now_ns();

	while (spin_us > 0 && now_ns() - start < (uint64_t)spin_us * 1000u) {
		if (epoll_wait(ep, &e, 1, 0) > 0)
			return;
		sched_yield();
	}
	while (epoll_wait(ep, &e, 1, -1) < 1)
		;
}

static int watch(int fd)
{
	struct epoll_event e = { .events = EPOLLIN };
	int ep = epoll_create1(0);

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0) {
		perror("epoll");
		exit(1);
	}
	return ep;
}

/* A decimal argument (digits only, at most max), or def when absent; -1 if bad. */
static long number(int argc, char **argv, int i, long def, long max)
{
	long v = 0;

	if (argc <= i)
		return def;
	for (const char *p = argv[i]; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || v > max / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	return argv[i][0] != '\0' && v <= max ? v : -1;
}

static int by_value(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long spin = number(argc, argv, 1, 0, 1000000),
	     rounds = number(argc, argv, 2, 20000, 10000000);
	unsigned spin_us = (unsigned)spin;
	int n = (int)rounds, sv[2];
	uint64_t *rtt;
	char b[64];
	pid_t echo;
	int ep;

	if (spin < 0 || n < 1 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 ||
	    (rtt = calloc((size_t)n, sizeof *rtt)) == NULL) {
		fprintf(stderr, "usage: wakeup [SPIN_US] [N>0]\n");
		return 2;
	}
	echo = fork();
	if (echo == 0) { /* the other process: answers each byte */
		ep = watch(sv[1]);
		for (int i = 0; i < n; i++) {
			wait_readable(ep, spin_us);
			if (read(sv[1], b, sizeof b) < 1 || write(sv[1], b, 1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	ep = watch(sv[0]);
	for (int i = 0; i < n; i++) {
		uint64_t t0 = now_ns();

		if (write(sv[0], "x", 1) != 1)
			return 1;
		wait_readable(ep, spin_us);
		if (read(sv[0], b, sizeof b) < 1)
			return 1;
		rtt[i] = now_ns() - t0;
	}
	waitpid(echo, NULL, 0);
	qsort(rtt, (size_t)n, sizeof *rtt, by_value);
	printf("round trip between two processes, spin %u us: p50 %.1f us, p90 %.1f us (%d "
	       "rounds)\n",
	       spin_us, (double)rtt[n / 2] / 1000, (double)rtt[n * 9 / 10] / 1000, n);
	return 0;
}
