/* The CA signer as a process of its own (privsep: true;
 * docs/design/privsep.md, sections 1 and 2b): started by the daemon
 * (signerctl.h) as `keyhole __signer --home H --config C --fronts N` from
 * keyhole's own binary, with a clean environment and descriptor 3 its
 * control channel to the daemon (privsep/ctlmsg.h). It alone reads ca.key.
 * It loads the CA, waits for the key-free policy (POLICY, a sealed memfd,
 * policyblob.h), confines itself (KH_CONFINE_SIGNER) and then serves
 * SIGN_LEAF on one SOCK_SEQPACKET channel per front (chanpkt.h), each
 * given by the daemon as ctlmsg SIGNER with the front's id: the id of a
 * request is the channel's, never the frame's. Answers are LEAF or
 * LEAF_FAIL from kh_signer_handle (tls/signer.h: allowlist, key check,
 * per-front rate limit, cache). A new POLICY replaces the allowlist. It
 * stops on SIGTERM or when the daemon's end of its channel closes. */
#ifndef KH_SIGNER_PROC_H
#define KH_SIGNER_PROC_H

/* argv[0] is "__signer". Returns the process exit status. */
int kh_signer_run(int argc, char **argv);

#endif
