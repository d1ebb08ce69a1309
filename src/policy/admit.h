/* Admission: may this request leave for this destination? The one place
 * that decides it, for every way a request reaches keyhole:
 *
 *   entry              how the destination was named     leg     port
 *   KH_ENTRY_CONNECT   CONNECT host:port                 TLS     as asked
 *   KH_ENTRY_SNI       transparent TLS: ClientHello SNI  TLS     443
 *   KH_ENTRY_TUNNEL    a request inside a CONNECT or     TLS     the tunnel's
 *                      SNI tunnel (checked again: a
 *                      reload may have removed the host)
 *   KH_ENTRY_ABSOLUTE  plain proxy: http://host:port/    plain   as asked
 *   KH_ENTRY_HOST      transparent HTTP: Host header     plain   80
 *
 * A WebSocket upgrade is an ordinary request of its entry: it is admitted
 * here before its head goes upstream, and only a 101 to an admitted request
 * becomes a tunnel.
 *
 * Contract: every function is pure (no I/O, no allocation, no logging, no
 * audit, no connection): it reads the policy snapshot and the request's
 * destination and returns a verdict. The caller applies it: a refusal is
 * answered with v->status, X-Keyhole-Reason v->reason, the detail (NULL
 * when v->detail is "") in the log and the audit record, and the host shown
 * redacted when v->host_has_token. Checks run in this order, the first
 * refusal wins:
 *
 *   1. a proxy token in the host name    403 token_leak_attempt (nothing
 *      allows it; the name would leak through DNS, SNI and Host)
 *   2. the host on the allowlist         403 host_not_allowed
 *                                        (key: extra_allowed_hosts)
 *   3. the port: 443 on TLS, 80 plain,   403 port_not_allowed
 *      or widened by allowed_ports       (key: allowed_ports)
 *
 * Two more decisions belong to admission but are made later, when what
 * they need is known:
 *   - kh_admit_addr: every address the dialer is about to connect to (an IP
 *     literal, a resolve: pin or a DNS answer, the IPv4 address embedded in
 *     an IPv6 one included) must be outside upstream_deny_cidrs, right
 *     before connecting, so a name that re-resolves inward is still caught:
 *     403 deny_cidr (key: upstream_deny_cidrs);
 *   - kh_admit_cleartext: a real credential goes over plain HTTP only to a
 *     cleartext_credential_hosts entry: 403 cleartext_credential (the
 *     rewriter asks, once it has found a credential to inject). */
#ifndef KH_ADMIT_H
#define KH_ADMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/kh_limits.h"
#include "policy/policy.h"

enum kh_admit_entry {
	KH_ENTRY_CONNECT,
	KH_ENTRY_SNI,
	KH_ENTRY_TUNNEL,
	KH_ENTRY_ABSOLUTE,
	KH_ENTRY_HOST,
};

struct kh_verdict {
	bool admitted;
	int status; /* when refused: 403 */
	const char *reason; /* when refused: X-Keyhole-Reason and audit reason */
	const char *key; /* the config key that would allow it, or NULL (nothing would) */
	bool host_has_token; /* the host holds a proxy token: show it only redacted */
	char detail[KH_DETAIL_MAX]; /* one line for people, or "" when the reason says it */
};

/* Does this entry reach its upstream over TLS? */
bool kh_admit_tls(enum kh_admit_entry e);

/* Decides host:port (host normalized, as the request named it: a DNS name
 * or an IP literal) for a request that came in through entry e. Returns
 * v->admitted. */
bool kh_admit(const struct kh_policy *p, enum kh_admit_entry e, const char *host, uint16_t port,
	      struct kh_verdict *v);

/* Decides one address the dialer is about to connect to for host (is_ip:
 * host is that IP literal itself, so the detail names no name). Returns
 * v->admitted. */
bool kh_admit_addr(const struct kh_policy *p, const char *host, bool is_ip,
		   const struct sockaddr *sa, struct kh_verdict *v);

/* May the credential env_name be sent to host over this leg (tls false:
 * plain HTTP)? Returns v->admitted. */
bool kh_admit_cleartext(const struct kh_policy *p, const char *host, bool tls, const char *env_name,
			struct kh_verdict *v);

#endif
