/* Turning the keys an operator has into token mappings (keyhole setup):
 * which known providers are present, minting their proxy tokens, and keeping
 * existing tokens on a re-run so running sandboxes keep working. */
#ifndef KH_DISCOVER_H
#define KH_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/config.h"
#include "base/err.h"
#include "policy/mappings.h"

/* "<prefix>-<32 lowercase hex>" from the CSPRNG (128 bits). */
int kh_token_mint(const char *prefix, char *out, size_t len);

/* A mapping (without token) for every built-in provider whose variable is
 * available: set and non-empty in the environment when names is NULL, else
 * listed in names (e.g. from Bitwarden). An alias counts for its provider
 * (GOOGLE_API_KEY for Gemini) and is then the variable used. */
int kh_discover(const char *const *names, size_t n, struct kh_mappings *out, struct kh_err *err);

/* Appends a mapping for every custom provider in cfg (config.yaml
 * providers:) whose variable is available, as kh_discover does. */
int kh_discover_custom(const char *const *names, size_t n, const struct kh_config *cfg,
		       struct kh_mappings *out, struct kh_err *err);

/* Gives each discovered mapping a token: the existing one for the same
 * variable unless rotate, else a new one. Providers no longer discovered are
 * dropped (their tokens stop working). */
int kh_merge_tokens(const struct kh_mappings *existing, struct kh_mappings *discovered, bool rotate,
		    struct kh_err *err);

/* Known variables keyhole cannot swap that are set (or listed in names),
 * and half AWS key pairs (set without the variable they need).
 * Returns how many were written to out (at most max). */
size_t kh_uncovered_present(const char *const *names, size_t n, const char **out, size_t max);

/* "keyhole-ope…abcd" for display: first 12 and last 4 characters. */
void kh_token_display(const char *token, char *out, size_t len);

#endif
