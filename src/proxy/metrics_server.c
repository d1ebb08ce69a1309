#include "proxy/metrics_server.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http1.h"
#include "base/kh_limits.h"
#include "event/listener.h"
#include "base/log.h"
#include "event/loop.h"

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

struct client {
	struct kh_io io;
	struct kh_timer timer;
	struct kh_metrics_server *s;
	struct client *prev, *next;
	char in[KH_METRICS_REQUEST_MAX];
	size_t in_len, scan;
	char *out; /* whole response once the request is in */
	size_t out_len, out_off;
	bool dead; /* closed; freed after the current batch of events */
	struct kh_task reap;
};

struct kh_metrics_server {
	struct kh_loop *loop;
	struct kh_io lis;
	struct client *clients;
	size_t n_clients;
	kh_metrics_gauges_fn gauges;
	void *arg;
	pthread_t thread;
	bool started;
};

void kh_health_text(char *out, size_t len)
{
	snprintf(out, len, "keyhole ok\n");
}

static void reap(struct kh_task *t)
{
	free(container_of(t, struct client, reap));
}

/* Closes c; its memory is freed after the current batch of events (an
 * evicted client may still have an event queued in it), or at once (now)
 * when the loop is no longer running. */
static void client_close(struct client *c, bool now)
{
	struct kh_metrics_server *s = c->s;

	if (c->dead)
		return;
	c->dead = true;
	kh_timer_cancel(s->loop, &c->timer);
	kh_loop_del(s->loop, &c->io);
	close(c->io.fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->n_clients--;
	free(c->out);
	c->out = NULL;
	if (now) {
		free(c);
		return;
	}
	c->reap.cb = reap;
	kh_loop_defer(s->loop, &c->reap);
}

/* Builds the whole response: head and body in one buffer. */
static int respond(struct client *c, int status, const char *ctype, const char *body,
		   size_t body_len)
{
	char head[KH_METRICS_HEAD_MAX];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
			 status,
			 status == 200   ? "OK"
			 : status == 404 ? "Not Found"
					 : "Bad Request",
			 ctype, body_len);

	if (n < 0 || (size_t)n >= sizeof head || (c->out = malloc((size_t)n + body_len)) == NULL)
		return -1;
	memcpy(c->out, head, (size_t)n);
	memcpy(c->out + n, body, body_len);
	c->out_len = (size_t)n + body_len;
	return 0;
}

static int respond_metrics(struct client *c)
{
	struct kh_metrics_gauges g = { 0 };
	char *body = malloc(KH_METRICS_BODY_MAX);
	ssize_t n;
	int rc = -1;

	if (body == NULL)
		return -1;
	if (c->s->gauges != NULL)
		c->s->gauges(c->s->arg, &g);
	n = kh_metrics_render(body, KH_METRICS_BODY_MAX, &g);
	if (n >= 0)
		rc = respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", body, (size_t)n);
	else
		kh_warn("metrics: the rendered metrics exceed %u bytes", KH_METRICS_BODY_MAX);
	free(body);
	return rc;
}

static int route(struct client *c, const struct kh_http_head *h)
{
	static const char nf[] = "not found: this listener serves GET /metrics and GET /healthz\n";
	char health[64];

	if (kh_slice_eq_cstr(h->method, "GET") && kh_slice_eq_cstr(h->target, "/metrics"))
		return respond_metrics(c);
	if (kh_slice_eq_cstr(h->method, "GET") && kh_slice_eq_cstr(h->target, "/healthz")) {
		kh_health_text(health, sizeof health);
		return respond(c, 200, "text/plain; charset=utf-8", health, strlen(health));
	}
	return respond(c, 404, "text/plain; charset=utf-8", nf, sizeof nf - 1);
}

/* Reads until a complete head is in. 1: response ready; 0: need more; -1: close. */
static int read_request(struct client *c)
{
	struct kh_http_header hdrs[KH_METRICS_MAX_HEADERS];
	struct kh_http_head h = { .headers = hdrs };
	struct kh_http_limits lim = { KH_METRICS_REQUEST_MAX, KH_METRICS_MAX_HEADERS };
	struct kh_http_error err;
	ssize_t n;

	for (;;) {
		if (c->in_len == sizeof c->in)
			break; /* too large: the scan below reports it */
		n = recv(c->io.fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
		if (n > 0) {
			c->in_len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		return -1; /* EOF or error before a complete head */
	}
	n = kh_http_scan_head((const uint8_t *)c->in, c->in_len, &c->scan, sizeof c->in, &err);
	if (n == 0 && c->in_len < sizeof c->in)
		return 0;
	if (n <= 0 || kh_http_parse_request((const uint8_t *)c->in, (size_t)n, &lim, &h, &err) != 0)
		return respond(c, 400, "text/plain; charset=utf-8", "bad request\n", 12) == 0 ? 1
											      : -1;
	return route(c, &h) == 0 ? 1 : -1;
}

/* 1: all sent; 0: wait for writability; -1: failed. */
static int write_response(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->io.fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL);

		if (n > 0)
			c->out_off += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else
			return n < 0 && errno == EAGAIN ? 0 : -1;
	}
	return 1;
}

static void client_io(struct kh_io *io, uint32_t events)
{
	struct client *c = container_of(io, struct client, io);
	int r = 1;

	(void)events; /* edge-triggered: just try both directions */
	if (c->dead)
		return;
	if (c->out == NULL)
		r = read_request(c);
	if (r > 0)
		r = write_response(c);
	if (r != 0) {
		if (r > 0)
			shutdown(c->io.fd, SHUT_WR);
		client_close(c, false);
	}
}

static void client_timeout(struct kh_timer *t)
{
	client_close(container_of(t, struct client, timer), false);
}

/* Full: the oldest connection goes, so a few silent ones cannot keep a
 * real scraper out for longer than it takes the next ones to arrive. */
static void evict_oldest(struct kh_metrics_server *s)
{
	struct client *c = s->clients;

	while (c->next != NULL)
		c = c->next;
	client_close(c, false);
}

static void admit(struct kh_metrics_server *s, int fd)
{
	struct client *c;

	if (s->n_clients >= KH_METRICS_MAX_CLIENTS)
		evict_oldest(s);
	if ((c = calloc(1, sizeof *c)) == NULL) {
		close(fd); /* a scraper retries; the proxy never notices */
		return;
	}
	c->s = s;
	c->io.fd = fd;
	c->io.cb = client_io;
	c->timer.cb = client_timeout;
	c->next = s->clients;
	if (s->clients != NULL)
		s->clients->prev = c;
	s->clients = c;
	s->n_clients++;
	if (kh_loop_add(s->loop, &c->io) != 0) {
		client_close(c, false);
		return;
	}
	kh_timer_after(s->loop, &c->timer, KH_METRICS_TIMEOUT_MS);
}

static void on_accept(struct kh_io *io, uint32_t events)
{
	struct kh_metrics_server *s = container_of(io, struct kh_metrics_server, lis);

	(void)events;
	for (int i = 0; i < KH_METRICS_MAX_CLIENTS; i++) {
		int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				kh_warn("metrics: accept: %s", kh_strerror(errno));
			return;
		}
		admit(s, fd);
	}
}

struct kh_metrics_server *kh_metrics_server_open(const struct sockaddr_storage *addr, socklen_t len,
						 kh_metrics_gauges_fn fn, void *arg, char *bound,
						 size_t bound_len, struct kh_err *err)
{
	struct kh_metrics_server *s = calloc(1, sizeof *s);
	struct sockaddr_storage a = *addr;

	if (s == NULL) {
		kh_err_set(err, "metrics: out of memory");
		return NULL;
	}
	s->lis.fd = -1;
	s->gauges = fn;
	s->arg = arg;
	kh_listen_format(&a, bound, bound_len);
	if (kh_listen_probe(&a, len, bound, err) != 0)
		goto fail;
	kh_listen_format(&a, bound, bound_len);
	s->lis.fd = kh_listen_open(&a, len, bound, err);
	s->lis.cb = on_accept;
	if (s->lis.fd < 0 || (s->loop = kh_loop_new(err)) == NULL)
		goto fail;
	if (kh_loop_add_listener(s->loop, &s->lis) != 0) {
		kh_err_set(err, "metrics: cannot watch %s: %s", bound, kh_strerror(errno));
		goto fail;
	}
	return s;
fail:
	kh_err_prefix(err, "metrics_listen");
	kh_metrics_server_stop(s);
	return NULL;
}

static void *thread_main(void *arg)
{
	struct kh_metrics_server *s = arg;

	kh_loop_run(s->loop);
	return NULL;
}

int kh_metrics_server_start(struct kh_metrics_server *s, struct kh_err *err)
{
	if (pthread_create(&s->thread, NULL, thread_main, s) != 0) {
		kh_err_set(err, "cannot start the metrics thread");
		return -1;
	}
	s->started = true;
	return 0;
}

void kh_metrics_server_stop(struct kh_metrics_server *s)
{
	if (s == NULL)
		return;
	if (s->started) {
		kh_loop_stop(s->loop);
		pthread_join(s->thread, NULL);
	}
	while (s->clients != NULL)
		client_close(s->clients, true);
	if (s->lis.fd >= 0) {
		if (s->loop != NULL)
			kh_loop_del(s->loop, &s->lis);
		close(s->lis.fd);
	}
	kh_loop_free(s->loop);
	free(s);
}
