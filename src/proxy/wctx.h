/* The per-thread context a connection runs in: its worker's event loop, the
 * daemon-wide shared state, the parse scratch space, the idle upstream pool,
 * the list of open connections and two thread-wide services (giving freed
 * heap back, writing folded audit records when due).
 *
 * It sits below conn so that conn needs nothing from worker.c: the worker
 * (which accepts connections and owns their thread) embeds one and hands it
 * to every connection it accepts. Loop thread only, except where noted. */
#ifndef KH_WCTX_H
#define KH_WCTX_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "event/loop.h"
#include "http/http1.h"
#include "proxy/shared.h"

struct kh_conn;
struct kh_upool;

struct kh_mempipe;

struct kh_wctx {
	struct kh_shared *sh;
	struct kh_loop *loop;
	struct kh_http_header *hdrs; /* parse scratch, KH_MAX_HEADERS_CEIL entries */
	struct kh_upool *upool; /* idle upstream connections (upool.h) */
	struct kh_conn *conns; /* doubly linked list of open connections (conn.c) */
	size_t n_conns;
	bool draining; /* shutting down: nothing new is accepted or pooled */
	struct kh_timer trim; /* gives freed heap memory back once quiet */
	struct kh_timer audit_fold; /* writes folded refusals' records when due */
	/* Privsep (docs/design/privsep.md): gives the key holder its end of a
	 * new stream (ownership of fd passes), in a front process. NULL: this
	 * thread's connections dial the network themselves, or, with
	 * keyholder_pipe, reach a key holder on this same loop through a pipe
	 * end in memory (side 1 of p passes; event/mempipe.h). */
	void (*keyholder_stream)(struct kh_wctx *cx, int fd);
	void (*keyholder_pipe)(struct kh_wctx *cx, struct kh_mempipe *p);
	/* A front process: asks the CA signer for c->host's leaf without waiting
	 * (0: c waits in KH_CS_CERT_WAIT for kh_conn_leaf_ready; -1: cannot, why
	 * says so), and forgets c if it closes first. NULL: leaves are minted in
	 * place with the CA key this process holds. */
	int (*leaf_ask)(struct kh_wctx *cx, struct kh_conn *c, const char **why);
	void (*leaf_cancel)(struct kh_wctx *cx, struct kh_conn *c);
};

/* Creates the loop, the scratch space and the pool. On failure what was
 * created is left for kh_wctx_free. */
int kh_wctx_init(struct kh_wctx *cx, struct kh_shared *sh, struct kh_err *err);

/* Frees what kh_wctx_init created (connections must be closed first). */
void kh_wctx_free(struct kh_wctx *cx);

/* A connection finished its handshake or closed, leaving freed buffers in
 * the middle of the heap: once no worker has seen any of that for
 * KH_TRIM_QUIET_MS, one of them gives the free pages back to the system
 * (malloc_trim, which covers every thread's heap), so an idle proxy's RSS is
 * what its open connections hold. */
void kh_wctx_note_churn(struct kh_wctx *cx);

/* A refusal of this thread's was folded (auditgate.h): makes sure a timer
 * writes the fold record when its window ends. */
void kh_wctx_audit_folded(struct kh_wctx *cx);

#endif
