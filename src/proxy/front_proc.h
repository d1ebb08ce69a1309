/* A privsep front as a process of its own (docs/design/privsep.md): started
 * by the key holder (fronts.h) as `keyhole __front`, from keyhole's own
 * binary, with a clean environment and these descriptors: 3 the control
 * channel (privsep/ctlmsg.h), from 4 its TCP listeners then its Unix
 * ones; no file (its audit records go to the key holder on the channel). It builds its policy from config.yaml,
 * mappings.json and the grants (tokens, never a real value) as the key
 * holder sends them, makes its own leaf key, and runs one worker whose
 * client connections speak front_h1.h; their streams go to the key holder
 * over the control channel and each leaf certificate comes from the CA
 * signer (signer_proc.h) over a channel the daemon sends it (ctlmsg
 * SIGNER, again after the signer restarts). A new policy comes as a POLICY message
 * (the files' bytes in a sealed memfd), never from the files: once
 * confined, a front opens nothing. SIGTERM drains it and exits, and so does
 * the end of its channel. */
#ifndef KH_FRONT_PROC_H
#define KH_FRONT_PROC_H

/* argv[0] is "__front". Returns the process exit status. */
int kh_front_run(int argc, char **argv);

#endif
