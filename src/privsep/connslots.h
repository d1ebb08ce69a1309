/* One limits.max_connections across every front process (privsep: true,
 * docs/design/privsep.md section 2b): a page of shared memory with one
 * connection counter per front. The daemon creates it (a memfd sealed
 * against shrinking and growing, so no process can make another's mapping
 * fault), hands each front the descriptor, and zeroes a front's slot when
 * it reaps that front, so a front that dies never leaks its share: only
 * its own process writes its slot while it runs, and its connections died
 * with it.
 *
 * Why a slot per front rather than one shared total: a front killed
 * between its increment and its decrement would leave the total wrong for
 * good; a slot is exactly the dead front's count, which the daemon can
 * forget whole.
 *
 * Admission is "add to my slot, then sum every slot; over the cap: take it
 * back and refuse". Never more than the cap are admitted; two fronts
 * admitting the last free connection at the same instant may both refuse
 * it (the next attempt gets in).
 *
 * Trust: a front taken over can write any value into any slot (the mapping
 * is writable): it can make the other fronts refuse new connections, which
 * it could nearly do anyway by accepting every connection on the shared
 * listeners. The daemon never reads the slots for anything: it keeps its
 * own per-front cap on streams (fronts.c). */
#ifndef KH_CONNSLOTS_H
#define KH_CONNSLOTS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/kh_limits.h"

struct kh_connslots {
	_Atomic uint32_t *page; /* the mapping; NULL: none */
	unsigned n; /* slots in use (the number of fronts) */
};

/* Daemon: a new zeroed page for n slots (1..KH_MAX_WORKERS), mapped here
 * too; *fd is its descriptor (close-on-exec) to send to each front. */
int kh_connslots_create(struct kh_connslots *cs, unsigned n, int *fd, struct kh_err *err);

/* Front: maps the page the daemon sent (fd may be closed afterwards),
 * refusing one too small for n slots or not sealed as create seals it. */
int kh_connslots_map(struct kh_connslots *cs, int fd, unsigned n, struct kh_err *err);

/* One more connection for slot mine, if the sum of every slot stays at most
 * max; false (nothing counted) if not. */
bool kh_connslots_enter(struct kh_connslots *cs, unsigned mine, uint64_t max);

/* One connection of slot mine has closed. */
void kh_connslots_leave(struct kh_connslots *cs, unsigned mine);

/* The sum of every slot. */
uint64_t kh_connslots_total(const struct kh_connslots *cs);

/* Daemon: slot's front has exited; its count is void. */
void kh_connslots_clear(struct kh_connslots *cs, unsigned slot);

void kh_connslots_unmap(struct kh_connslots *cs);

#endif
