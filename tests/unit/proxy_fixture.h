/* A policy built from YAML, a worker's thread context (wctx.h) around a real
 * event loop, loopback upstreams and socket-pair clients: what the unit tests
 * of the proxy stages (exchange, dial, conn, relay) run on. No TLS, no DNS:
 * names reach upstreams through resolve: pins. Include once per test. */
#ifndef KH_PROXY_FIXTURE_H
#define KH_PROXY_FIXTURE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "policy/config.h"
#include "policy/mappings.h"
#include "policy/policy.h"
#include "proxy/shared.h"
#include "proxy/wctx.h"
#include "tap.h"

#define FIX_TOKEN "keyhole-openai-0123456789abcdef0123456789abcdef"
#define FIX_KEY   "sk-REAL-openai-fixture"

/* Builds a policy from config text (one OpenAI mapping, its real key in the
 * environment). NULL (and a TAP diagnostic) on failure. */
static struct kh_policy *fix_policy(const char *yaml)
{
	static const char *names[] = { "OPENAI_API_KEY" };
	static const char maps[] = "{\"version\":1,\"tokens\":[{\"proxy_token\":\"" FIX_TOKEN
				   "\",\"env_name\":\"OPENAI_API_KEY\","
				   "\"upstream_hosts\":[\"api.openai.com\"]}]}";
	struct kh_secrets secrets = { 0 };
	struct kh_config cfg;
	struct kh_mappings m;
	struct kh_policy *p = NULL;
	struct kh_err err;

	setenv("OPENAI_API_KEY", FIX_KEY, 1);
	if (kh_config_parse("test.yaml", yaml, strlen(yaml), &cfg, &err) != 0) {
		printf("# config: %s\n", err.msg);
		return NULL;
	}
	if (kh_mappings_parse(maps, sizeof maps - 1, &m, &err) == 0) {
		if (kh_secrets_load_env(&secrets, names, 1, &err) == 0)
			p = kh_policy_build(&cfg, &m, &secrets, NULL, &err);
		kh_mappings_free(&m);
	}
	if (p == NULL)
		printf("# policy: %s\n", err.msg);
	kh_config_free(&cfg);
	return p;
}

/* The daemon-wide state one test worker needs, and its thread context. */
struct fix_worker {
	struct kh_shared sh;
	struct kh_wctx cx;
};

static int fix_worker_init(struct fix_worker *fw, struct kh_policy *p)
{
	struct kh_err err;

	memset(fw, 0, sizeof *fw);
	pthread_mutex_init(&fw->sh.policy_lock, NULL);
	pthread_mutex_init(&fw->sh.bridge_lock, NULL);
	fw->sh.policy = p;
	if (kh_wctx_init(&fw->cx, &fw->sh, &err) != 0) {
		printf("# wctx: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static void fix_worker_free(struct fix_worker *fw)
{
	kh_wctx_free(&fw->cx);
	kh_policy_unref(fw->sh.policy);
	pthread_mutex_destroy(&fw->sh.policy_lock);
	pthread_mutex_destroy(&fw->sh.bridge_lock);
}

static void fix_stop(struct kh_timer *t);

/* Runs the loop until *done or ms milliseconds pass (a bound, not an
 * assertion: the test then checks what happened). */
static struct kh_loop *fix_loop;
static const bool *fix_done;

static void fix_stop(struct kh_timer *t)
{
	(void)t;
	kh_loop_stop(fix_loop);
}

static void fix_check_done(void *arg)
{
	(void)arg;
	if (fix_done != NULL && *fix_done)
		kh_loop_stop(fix_loop);
}

static void fix_run(struct kh_loop *l, const bool *done, uint64_t ms)
{
	struct kh_timer t = { .cb = fix_stop };

	fix_loop = l;
	fix_done = done;
	if (done != NULL && *done)
		return;
	kh_loop_set_idle_hook(l, fix_check_done, NULL);
	kh_timer_after(l, &t, ms);
	kh_loop_run(l);
	kh_timer_cancel(l, &t);
	kh_loop_set_idle_hook(l, NULL, NULL);
}

/* A loopback TCP listener; its port in *port. */
static int fix_listen(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

/* A loopback port nothing listens on (bound, then closed). */
static inline uint16_t fix_closed_port(void)
{
	uint16_t port = 0;
	int fd = fix_listen(&port);

	if (fd >= 0)
		close(fd);
	return port;
}

#endif
