/* What every libFuzzer harness here shares: CHECK aborts with the broken
 * invariant named, so libFuzzer saves the input that broke it, and the
 * entry point's prototype. */
#ifndef KH_FUZZ_CHECK_H
#define KH_FUZZ_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x)) {                                                                        \
			fprintf(stderr, "invariant failed: %s (%s:%d)\n", #x, __FILE__, __LINE__); \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
