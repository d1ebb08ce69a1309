/* Reading the server name out of a TLS ClientHello without consuming it, for
 * transparent interception: the connection arrives with no CONNECT, so the
 * SNI is the only statement of where it wants to go. Strict: every length is
 * checked against its container, a handshake may span records (up to a
 * bound), and anything that is not a ClientHello with a valid host_name is
 * refused. No allocation; slices point into the caller's bytes. */
#ifndef KH_TLSPEEK_H
#define KH_TLSPEEK_H

#include <stddef.h>
#include <stdint.h>

#include "base/hostname.h"
#include "base/kh_limits.h"

enum kh_tlspeek_result {
	KH_TLSPEEK_MORE = 0, /* need more bytes */
	KH_TLSPEEK_SNI = 1, /* host filled in */
	KH_TLSPEEK_NO_SNI = 2, /* a valid ClientHello without server_name */
	KH_TLSPEEK_BAD = -1, /* not TLS, malformed, or too large */
};

/* Looks at the first len bytes of a connection. host gets the normalized
 * name (a name, never an IP literal: SNI carries names only). */
enum kh_tlspeek_result kh_tlspeek_sni(const uint8_t *p, size_t len, char host[KH_HOST_BUF]);

#endif
