/* Name resolution off the event loops. getaddrinfo() blocks, so a small pool
 * of threads runs it and posts each finished job back to the loop that asked
 * (kh_loop_post). Jobs are owned by the asker; if the asker goes away first
 * it sets job->cancelled and the loop frees the job when it comes back. The
 * queue is bounded: a full queue refuses new jobs instead of growing. */
#ifndef KH_RESOLVER_H
#define KH_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "err.h"
#include "hostname.h"
#include "kh_limits.h"
#include "loop.h"

struct kh_resolve_job {
	struct kh_task task; /* posted back; task.cb runs on the loop */
	struct kh_loop *loop;
	char host[KH_HOST_BUF];
	bool cancelled; /* set by the loop thread only */
	int gai_error; /* 0, or a getaddrinfo() error */
	struct sockaddr_storage addrs[KH_MAX_ADDRS];
	socklen_t addrlens[KH_MAX_ADDRS];
	size_t n_addrs;
	struct kh_resolve_job *qnext; /* resolver queue link */
	void *owner;
};

int kh_resolver_start(unsigned threads, struct kh_err *err);

/* Queues job (host, loop, task.cb set by the caller). -1 if the queue is full
 * or the resolver is stopping. Never blocks. */
int kh_resolver_submit(struct kh_resolve_job *job);

/* Stops the threads; queued jobs are completed with EAI_AGAIN. Blocks until
 * the threads exit (each is at most in one getaddrinfo call). */
void kh_resolver_stop(void);

#endif
