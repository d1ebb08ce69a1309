/* Messages on the control channel between a front process and the key
 * holder (docs/design/privsep.md, section 2a): an AF_UNIX SOCK_SEQPACKET
 * socketpair, so each message keeps its boundaries and may carry one file
 * descriptor (SCM_RIGHTS). A message is a one-byte type and a payload of at
 * most KH_CTLMSG_MAX bytes. The key holder reads what an untrusted front
 * sends: kh_ctlmsg_recv refuses a message that was cut (longer than the
 * buffer, or with more descriptors than one) and closes any descriptor it
 * did not hand over. */
#ifndef KH_CTLMSG_H
#define KH_CTLMSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "base/kh_limits.h"

enum kh_ctlmsg_type {
	KH_CTLMSG_STREAM = 'S', /* F->K: a new stream (the descriptor), no payload */
	KH_CTLMSG_POLICY = 'P', /* K->F: a sealed memfd (the descriptor) with the policy's files */
	KH_CTLMSG_CONFINED = 'C', /* F->K, once: its confinement (frontstat.h) */
	KH_CTLMSG_METRICS = 'N', /* F->K: metric deltas, every KH_FRONTSTAT_PERIOD_MS at most */
	/* K->F: container bridge listeners (kh_ctlmsg_listen_decode) */
	KH_CTLMSG_LISTEN_ADD = 'B', /* one byte, the bridge slot; the listening socket */
	KH_CTLMSG_LISTEN_DEL = 'b', /* one byte, the bridge slot; no descriptor */
	/* The CA signer (privsep: true; docs/design/privsep.md 2b): the daemon
	 * sends a front its end of a SOCK_SEQPACKET channel to the signer, and
	 * the signer the other end with the front's id (u32 little-endian)
	 * as payload; again after either restarts. The signer also gets
	 * POLICY and sends CONFINED on its own control channel. */
	KH_CTLMSG_SIGNER = 'G',
	/* F->K: whole audit lines, the front's refusals (proxy/auditrelay.h) */
	KH_CTLMSG_AUDIT = 'A',
	/* K->F, at start after POLICY: the connection counters of every front
	 * (connslots.h, the descriptor) and how many fronts there are (u32, LE) */
	KH_CTLMSG_CONNS = 'U',
	/* The daemon's watchdog of the CA signer: PING (u64 sequence, LE) every
	 * KH_SIGNER_PING_MS, which the signer's loop echoes as PONG; one
	 * unanswered for KH_SIGNER_HANG_MS gets the signer killed and started
	 * again (signerctl.h). */
	KH_CTLMSG_PING = 'p',
	KH_CTLMSG_PONG = 'o',
};

#define KH_CTLMSG_RECV_CLOSED (-2) /* the other side is gone (0 bytes or ECONNRESET) */
#define KH_CTLMSG_RECV_BAD    (-3) /* a message this side refuses (dropped) */

/* Sends one message: type, n bytes at p, and fd (-1 for none). 0, or -1
 * with errno (EAGAIN when the socket is full). */
int kh_ctlmsg_send(int sock, uint8_t type, const void *p, size_t n, int fd);

/* Receives one message without blocking: its payload into buf (cap bytes),
 * its descriptor (if any) in *fd (else -1). Returns the payload length,
 * -1 with errno EAGAIN when none is waiting, KH_CTLMSG_RECV_CLOSED, or
 * KH_CTLMSG_RECV_BAD. */
ssize_t kh_ctlmsg_recv(int sock, uint8_t *type, void *buf, size_t cap, int *fd);

/* The same, and the pid of the process that sent it, as the kernel saw it
 * (SCM_CREDENTIALS: the receiving end needs SO_PASSCRED, see
 * kh_ctlmsg_pass_creds); 0 when none came. A sender cannot choose it
 * without CAP_SYS_ADMIN in its namespace, which no confined child has. */
ssize_t kh_ctlmsg_recv_from(int sock, uint8_t *type, void *buf, size_t cap, int *fd, pid_t *pid);

/* Asks the kernel to attach each sender's credentials on sock. */
int kh_ctlmsg_pass_creds(int sock);

/* Waits up to timeout_ms for one message (kh_ctlmsg_recv's results; -1 with
 * errno ETIMEDOUT when the time ran out). */
ssize_t kh_ctlmsg_wait(int sock, unsigned timeout_ms, uint8_t *type, void *buf, size_t cap,
		       int *fd);

/* Reads and drops every message waiting on sock (at most
 * KH_CTLMSG_DRAIN_MAX), closing the descriptors they carry: what a child
 * that died left, or was sent and never read, must not reach the next. */
void kh_ctlmsg_drain(int sock);

/* --- container bridges (privsep: true; docs/design/privsep.md, 2b) --- */

/* Sends LISTEN_ADD for slot with the listening socket fd, or LISTEN_DEL for
 * slot when fd is -1. 0, or -1 with errno. */
int kh_ctlmsg_send_listen(int sock, unsigned slot, int fd);

/* Checks a LISTEN_ADD / LISTEN_DEL as a front received it (type, payload of
 * n bytes at p, descriptor fd or -1): the payload is one byte, a slot below
 * KH_MAX_BRIDGES; ADD carries a listening IPv4 TCP socket (SO_ACCEPTCONN,
 * SO_DOMAIN, SO_TYPE, SO_PROTOCOL), DEL no descriptor. 0 with *slot, or -1
 * with the reason. The descriptor stays the caller's either way. */
int kh_ctlmsg_listen_decode(uint8_t type, const void *p, ssize_t n, int fd, unsigned *slot,
			    struct kh_err *err);

#endif
