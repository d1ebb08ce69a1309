/* What a front process reports to the key holder on its control channel
 * (docs/design/privsep.md, section 2b): the confinement it applied (once,
 * after kh_confine_apply), for `keyhole status`, and its metric deltas
 * (batched, at most every KH_FRONTSTAT_PERIOD_MS), for /metrics. Both are
 * fixed, versioned, little-endian formats. The key holder decodes bytes
 * from a process that may be an attacker's: a decoder refuses anything
 * that is not exactly one well-formed message (length, version, flag bits,
 * ranges, label bytes [a-z0-9_] and lengths, entry counts, counts) with a
 * message in err, and never aborts. A front can still lie about its own
 * numbers; it cannot make them unbounded or put text into /metrics. */
#ifndef KH_FRONTSTAT_H
#define KH_FRONTSTAT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "base/kh_limits.h"
#include "privsep/confine.h"

#define KH_FRONTSTAT_VERSION     2
#define KH_FRONTSTAT_CONFINE_LEN 20 /* version, flags, landlock (u16), uid, gid, nofile, pid */
#define KH_FRONTSTAT_HDR         8 /* version, n_req, n_obs, pad, active (u32) */
#define KH_FRONTSTAT_REQ_LEN     (2 + 2 * KH_FRONTSTAT_LABEL + 4) /* most bytes of one */
#define KH_FRONTSTAT_OBS_LEN     13 /* hist, us (u64), n (u32) */
#define KH_FRONTSTAT_MAX                                               \
	(KH_FRONTSTAT_HDR + KH_FRONTSTAT_REQS * KH_FRONTSTAT_REQ_LEN + \
	 KH_FRONTSTAT_OBS * KH_FRONTSTAT_OBS_LEN)

/* One (decision, reason) pair counted n times. */
struct kh_frontstat_req {
	char decision[KH_FRONTSTAT_LABEL + 1], reason[KH_FRONTSTAT_LABEL + 1];
	uint32_t n;
};

/* n observations of us microseconds in histogram hist (enum kh_hist). */
struct kh_frontstat_obs {
	uint8_t hist;
	uint64_t us;
	uint32_t n;
};

struct kh_frontstat {
	uint32_t active; /* connections open in the front now (a gauge, not a delta) */
	size_t n_req, n_obs;
	struct kh_frontstat_req req[KH_FRONTSTAT_REQS];
	struct kh_frontstat_obs obs[KH_FRONTSTAT_OBS];
};

/* Whether s is a label the key holder takes: 1..KH_FRONTSTAT_LABEL bytes of [a-z0-9_]. */
int kh_frontstat_label_ok(const char *s, size_t n);

/* The report into out (KH_FRONTSTAT_CONFINE_LEN bytes). */
void kh_frontstat_confine_encode(const struct kh_confine_report *r,
				 uint8_t out[KH_FRONTSTAT_CONFINE_LEN]);

/* A report from p[0..n): exactly KH_FRONTSTAT_CONFINE_LEN bytes, this
 * version, known flag bits only, landlock ABI 0..KH_FRONTSTAT_LANDLOCK. */
int kh_frontstat_confine_decode(const uint8_t *p, size_t n, struct kh_confine_report *r,
				struct kh_err *err);

/* s into out (cap bytes). Returns the length, or -1 if s breaks a rule the
 * decoder checks (so a front never sends what the key holder refuses). */
ssize_t kh_frontstat_encode(const struct kh_frontstat *s, uint8_t *out, size_t cap);

/* A metrics message from p[0..n): exactly the bytes its counts say, labels
 * as kh_frontstat_label_ok, hist below hist_count, every n 1..KH_FRONTSTAT_COUNT,
 * active at most KH_FRONTSTAT_COUNT. */
int kh_frontstat_decode(const uint8_t *p, size_t n, unsigned hist_count, struct kh_frontstat *s,
			struct kh_err *err);

#endif
