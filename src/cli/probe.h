/* Asking a running daemon whether it is up: a real GET /healthz over TCP, not
 * just a connect, so a port held by something else is not mistaken for
 * keyhole. Blocks up to timeout_ms. */
#ifndef KH_PROBE_H
#define KH_PROBE_H

#include <netinet/in.h>
#include <stdint.h>

/* 0 if 127.0.0.1:port answered GET /healthz with 200 "keyhole ...", -1
 * otherwise. It says only that a keyhole serves the port: which daemon it is
 * (its pid) is asked on the owner-only control socket (ctl_client.h). */
int kh_probe_health(uint16_t port, unsigned timeout_ms);

/* The same asked at ip:port (a bridge address of this machine). */
int kh_probe_health_at(struct in_addr ip, uint16_t port, unsigned timeout_ms);

#endif
