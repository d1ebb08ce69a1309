/* The protocol spoken inside a client connection, as an ops table (compare
 * HAProxy's mux_ops or h2o's httpclient): the connection owns the sockets,
 * the buffers, the timers, CONNECT and TLS; the protocol turns the client's
 * bytes into exchanges (exchange.h), sends each to an upstream (dial.h) and
 * the responses back.
 *
 * Layering: a protocol sits above conn, as a mux sits above its connection.
 * It uses what conn.h offers (buffers, fill/flush, kh_conn_fail and
 * kh_conn_reply, kh_conn_audit, the upstream, CONNECT); conn reaches the
 * protocol only through this table, which worker.c hands to kh_conn_accept.
 * conn.c includes no protocol's header.
 *
 * HTTP/1.1 (relay.h) is the one implementation: one exchange at a time,
 * pipelined requests waiting in cin. HTTP/2 would plug in by adding files:
 *   - proxy/h2.{c,h} with its own kh_proto_ops, whose state holds a stream
 *     table, each stream a struct kh_exchange plus its own kh_upstream
 *     (dial.h takes any owner: a stream gives its own callbacks and buffers);
 *   - open: points c->ex at a connection-level record (the CONNECT that made
 *     the tunnel) and sends the server preface; step: frames from cin into
 *     streams, each stream's head through the same admission, rewrite and
 *     dial as relay.c's forward(), responses framed back into cout; waiting:
 *     KH_PROTO_WAIT_CLIENT when no stream is open; timeout: per stream
 *     (RST_STREAM), the connection only when idle;
 *   - worker.c offers both tables, conn.c advertises "h2,http/1.1" by ALPN
 *     in start_tls_accept and opens the table the client chose.
 * Nothing in conn.c or relay.c has to change shape for that. */
#ifndef KH_PROTO_H
#define KH_PROTO_H

#include <stdbool.h>
#include <stdint.h>

struct kh_conn;

/* Which side the protocol is waiting for, between rounds. */
enum kh_proto_wait {
	KH_PROTO_WAIT_CLIENT, /* no exchange in flight: the next request */
	KH_PROTO_WAIT_UPSTREAM, /* a request went out: its response */
	KH_PROTO_WAIT_NONE, /* bytes to move both ways, or only ours to send */
};

struct kh_proto_ops {
	const char *name; /* its ALPN name */
	/* Sets up the protocol's state (c->proto_state) and points c->ex at the
	 * exchange that connection-level answers (kh_conn_fail) and records
	 * refer to. 0, or -1 when out of memory. */
	int (*open)(struct kh_conn *c);
	/* One round: moves what it can between cin, cout and the upstream
	 * (readiness is on the endpoints); true when anything changed. Called
	 * again while it makes progress. May fail, answer or close c. */
	bool (*step)(struct kh_conn *c);
	/* What it waits for (timeouts, draining, pooling, busy polling). */
	enum kh_proto_wait (*waiting)(const struct kh_conn *c);
	/* When timeout is due (loop clock, ms). */
	uint64_t (*deadline)(const struct kh_conn *c);
	/* The deadline passed: fail, close or park as the protocol sees fit. */
	void (*timeout)(struct kh_conn *c);
	/* The connection closes: free what the exchanges own (their records
	 * stay readable until free). */
	void (*close)(struct kh_conn *c);
	/* Frees the state, once no event can reach c any more. */
	void (*free)(struct kh_conn *c);
};

#endif
