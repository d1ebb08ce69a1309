#include "policy/admit.h"

#include <arpa/inet.h>
#include <string.h>

#include "base/err.h"
#include "base/sockaddr.h"
#include "policy/cidr.h"
#include "policy/ports.h"

static bool refuse(struct kh_verdict *v, const char *reason, const char *key)
{
	v->admitted = false;
	v->status = 403;
	v->reason = reason;
	v->key = key;
	return false;
}

static void clear(struct kh_verdict *v)
{
	memset(v, 0, sizeof *v);
	v->admitted = true;
}

bool kh_admit_tls(enum kh_admit_entry e)
{
	return e == KH_ENTRY_CONNECT || e == KH_ENTRY_SNI || e == KH_ENTRY_TUNNEL;
}

bool kh_admit(const struct kh_policy *p, enum kh_admit_entry e, const char *host, uint16_t port,
	      struct kh_verdict *v)
{
	const struct kh_cred *cred = kh_policy_token_scan(p, kh_slice_cstr(host));
	bool tls = kh_admit_tls(e);

	clear(v);
	if (cred != NULL) {
		v->host_has_token = true;
		kh_fmt(v->detail, sizeof v->detail,
		       "a proxy token for %s appears in the destination host name; it is never "
		       "sent anywhere",
		       cred->env_name);
		return refuse(v, "token_leak_attempt", NULL);
	}
	if (!kh_policy_host_allowed(p, host))
		return refuse(v, "host_not_allowed", "extra_allowed_hosts");
	if (kh_policy_port_allowed(p, host, port, tls))
		return true;
	kh_fmt(v->detail, sizeof v->detail,
	       "port %u on %s is not allowed (%s: port %u only, unless allowed_ports widens "
	       "it), so this request was refused.",
	       port, host, tls ? "CONNECT and TLS" : "plain HTTP", kh_port_default(tls));
	return refuse(v, "port_not_allowed", "allowed_ports");
}

/* Where the address came from (the literal itself, a resolve: pin, DNS)
 * and, when an IPv4 range caught an IPv6 address, the IPv4 address it
 * stands for. */
static void describe_denied(const struct kh_policy *p, const char *host, bool is_ip,
			    const struct sockaddr *sa, long idx, struct kh_verdict *v)
{
	char ip[INET6_ADDRSTRLEN], v4[INET6_ADDRSTRLEN], range[64], via[96] = "";
	const struct kh_cidr *r = &p->deny[idx];
	struct sockaddr_storage e;
	const char *form = kh_sockaddr_embedded_v4(sa, &e);

	kh_sockaddr_ip(sa, ip, sizeof ip);
	kh_cidr_format(r, range, sizeof range);
	if (form != NULL && r->v4) {
		kh_sockaddr_ip((const struct sockaddr *)&e, v4, sizeof v4);
		kh_fmt(via, sizeof via, " (%s for %s)", form, v4);
	}
	if (is_ip)
		kh_fmt(v->detail, sizeof v->detail,
		       "%s%s is inside the denied range %s (upstream_deny_cidrs)", ip, via, range);
	else
		kh_fmt(v->detail, sizeof v->detail,
		       "%s %s %s%s, which is inside the denied range %s (upstream_deny_cidrs)",
		       host, kh_policy_pin(p, host) ? "is pinned (resolve:) to" : "resolved to", ip,
		       via, range);
}

bool kh_admit_addr(const struct kh_policy *p, const char *host, bool is_ip,
		   const struct sockaddr *sa, struct kh_verdict *v)
{
	long idx = kh_policy_denied_addr(p, sa);

	clear(v);
	if (idx < 0)
		return true;
	describe_denied(p, host, is_ip, sa, idx, v);
	return refuse(v, "deny_cidr", "upstream_deny_cidrs");
}

bool kh_admit_cleartext(const struct kh_policy *p, const char *host, bool tls, const char *env_name,
			struct kh_verdict *v)
{
	clear(v);
	if (tls || kh_policy_cleartext_ok(p, host))
		return true;
	kh_fmt(v->detail, sizeof v->detail,
	       "refusing to send the %s credential to %s over plain HTTP; use https or list the "
	       "host in cleartext_credential_hosts",
	       env_name, host);
	return refuse(v, "cleartext_credential", "cleartext_credential_hosts");
}
