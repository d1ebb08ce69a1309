/* Listening sockets. Each worker binds its own socket per address with
 * SO_REUSEPORT so the kernel spreads new connections across threads. Because
 * SO_REUSEPORT would also let a second copy of keyhole (same user) silently
 * share the port, every address is first probed with a plain bind: if that
 * fails, the address is taken and startup stops with a clear message. */
#ifndef KH_LISTENER_H
#define KH_LISTENER_H

#include <sys/socket.h>

#include "base/err.h"

/* Checks addr is free. With port 0, fills in the port the kernel chose so
 * every worker can bind the same one. */
int kh_listen_probe(struct sockaddr_storage *addr, socklen_t len, const char *text,
		    struct kh_err *err);

/* A non-blocking listening socket with SO_REUSEPORT. Returns fd or -1. */
int kh_listen_open(const struct sockaddr_storage *addr, socklen_t len, const char *text,
		   struct kh_err *err);

/* A non-blocking listening Unix socket at path (mode 0600). A leftover
 * socket nobody answers on is replaced; a live one means another daemon uses
 * this state directory; anything that is not a socket is refused. */
int kh_listen_unix(const char *path, struct kh_err *err);

/* "127.0.0.1:9090" / "[::1]:9090" for addr into out. */
void kh_listen_format(const struct sockaddr_storage *addr, char *out, size_t len);

#endif
