#include "resolver.h"

#include <netdb.h>
#include <pthread.h>
#include <string.h>

#include "log.h"

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct kh_resolve_job *head, *tail;
	size_t queued;
	bool stopping;
	pthread_t threads[KH_RESOLVER_THREADS];
	unsigned n_threads;
} R = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void resolve(struct kh_resolve_job *job)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;

	job->n_addrs = 0;
	job->gai_error = getaddrinfo(job->host, NULL, &hints, &res);
	for (struct addrinfo *a = res; a != NULL && job->n_addrs < KH_MAX_ADDRS; a = a->ai_next) {
		if (a->ai_addrlen > sizeof job->addrs[0])
			continue;
		memcpy(&job->addrs[job->n_addrs], a->ai_addr, a->ai_addrlen);
		job->addrlens[job->n_addrs++] = a->ai_addrlen;
	}
	if (res != NULL)
		freeaddrinfo(res);
	if (job->gai_error == 0 && job->n_addrs == 0)
		job->gai_error = EAI_NONAME;
}

static struct kh_resolve_job *take(void)
{
	struct kh_resolve_job *job;

	pthread_mutex_lock(&R.lock);
	while (R.head == NULL && !R.stopping)
		pthread_cond_wait(&R.cond, &R.lock);
	job = R.head;
	if (job != NULL) {
		R.head = job->qnext;
		if (R.head == NULL)
			R.tail = NULL;
		R.queued--;
	}
	pthread_mutex_unlock(&R.lock);
	return job;
}

static void *worker(void *arg)
{
	struct kh_resolve_job *job;

	(void)arg;
	while ((job = take()) != NULL) {
		if (R.stopping)
			job->gai_error = EAI_AGAIN;
		else
			resolve(job);
		kh_loop_post(job->loop, &job->task);
	}
	return NULL;
}

int kh_resolver_start(unsigned threads, struct kh_err *err)
{
	if (threads > KH_RESOLVER_THREADS)
		threads = KH_RESOLVER_THREADS;
	R.stopping = false;
	for (R.n_threads = 0; R.n_threads < threads; R.n_threads++) {
		if (pthread_create(&R.threads[R.n_threads], NULL, worker, NULL) != 0) {
			kh_err_set(err, "cannot start resolver threads");
			kh_resolver_stop();
			return -1;
		}
	}
	return 0;
}

int kh_resolver_submit(struct kh_resolve_job *job)
{
	int rc = -1;

	job->qnext = NULL;
	pthread_mutex_lock(&R.lock);
	if (!R.stopping && R.queued < KH_RESOLVER_QUEUE) {
		if (R.tail != NULL)
			R.tail->qnext = job;
		else
			R.head = job;
		R.tail = job;
		R.queued++;
		rc = 0;
		pthread_cond_signal(&R.cond);
	}
	pthread_mutex_unlock(&R.lock);
	return rc;
}

void kh_resolver_stop(void)
{
	pthread_mutex_lock(&R.lock);
	R.stopping = true;
	pthread_cond_broadcast(&R.cond);
	pthread_mutex_unlock(&R.lock);
	for (unsigned i = 0; i < R.n_threads; i++)
		pthread_join(R.threads[i], NULL);
	R.n_threads = 0;
}
