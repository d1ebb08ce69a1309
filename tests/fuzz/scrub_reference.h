/* The scrubber's specification, the slow way, for the harnesses that check
 * kh_scrub_stream and the response filter against it: at each position the
 * longest needle that starts there is replaced, else the byte is copied.
 * Include once per harness. */
#ifndef KH_FUZZ_SCRUB_REFERENCE_H
#define KH_FUZZ_SCRUB_REFERENCE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "secret/scrub.h"

/* Writes the replaced text to out (room for n times the longest
 * replacement) and returns its length. When runs is not NULL, also records
 * the stretches of out copied from the input ([start, end) each) and their
 * count in *n_runs. */
static size_t scrub_reference(const struct kh_scrub_set *s, const uint8_t *in, size_t n,
			      uint8_t *out, size_t (*runs)[2], size_t *n_runs)
{
	size_t o = 0, i = 0, nr = 0;

	while (i < n) {
		const struct kh_scrub_needle *best = NULL;

		for (size_t k = 0; k < s->n; k++) {
			const struct kh_scrub_needle *nd = &s->needles[k];

			if (nd->len <= n - i && memcmp(in + i, nd->p, nd->len) == 0 &&
			    (best == NULL || nd->len > best->len))
				best = nd;
		}
		if (best == NULL) {
			if (runs != NULL && (nr == 0 || runs[nr - 1][1] != o))
				runs[nr++][0] = o;
			out[o++] = in[i++];
			if (runs != NULL)
				runs[nr - 1][1] = o;
			continue;
		}
		memcpy(out + o, best->rep, best->rep_len);
		o += best->rep_len;
		i += best->len;
	}
	if (n_runs != NULL)
		*n_runs = nr;
	return o;
}

#endif
