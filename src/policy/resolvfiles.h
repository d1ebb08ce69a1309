/* The resolver's copies of /etc/resolv.conf and /etc/hosts.
 *
 * The confined daemon may not read /etc as a whole (shadow, TLS and SSH
 * host keys live there), and a Landlock rule on one file holds that inode:
 * a file that NetworkManager, dhclient or an editor replaces by renaming a
 * new one over it could no longer be read. So the resolver reads copies in a
 * directory of keyhole's own (<home>/resolver/), which the daemon may read:
 * made at start, and made again by its monitor whenever the resolver sees
 * an original change (it may still stat them). Without them, a replaced
 * /etc/hosts could not be read and its entries would be lost (c-ares goes
 * on to DNS), and a replaced resolv.conf would keep the old servers. */
#ifndef KH_POLICY_RESOLVFILES_H
#define KH_POLICY_RESOLVFILES_H

#include <stddef.h>

#include "base/err.h"

#define KH_RESOLVFILES_RESOLV_CONF "/etc/resolv.conf"
#define KH_RESOLVFILES_HOSTS       "/etc/hosts"
#define KH_RESOLVFILES_MAX_BYTES   (64u << 20) /* each (ad-blocking hosts files run to MBs) */

/* Copies both originals into dir (made 0700 if missing), each replaced
 * atomically; an original that is missing removes its copy (c-ares then
 * behaves as without the file). A copy that fails (an original over
 * KH_RESOLVFILES_MAX_BYTES, say) leaves the previous one. */
int kh_resolvfiles_copy(const char *dir, struct kh_err *err);

/* dir/name ("resolv.conf" or "hosts") into out; -1 if it does not fit. */
int kh_resolvfiles_path(const char *dir, const char *name, char *out, size_t len);

#endif
