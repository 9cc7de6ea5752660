/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * struct pc_mapping: one open object, its page index, size and locks.
 * The lock-ordering tree is at the top of mapping.c.
 */
#ifndef PC_MAPPING_H
#define PC_MAPPING_H

#include <pthread.h>
#include <stdint.h>

#include "backend.h"
#include "cache.h"
#include "index.h"
#include "lock.h"
#include "readahead.h"

struct pc_pin_rec;

struct pc_mapping {
	struct pc_cache *cache;
	struct pc_backend *backend;
	void *obj;			/* the backend's object handle */
	char *name;
	struct pc_mapping *next_open;	/* backend->open list; backend->lock */

	/*
	 * mmap_lock: shared for the whole of a pc_fault() slow path, from
	 * reading the mode to holding the pin (G4); exclusive for a mode
	 * switch (pc_set_dax(), mode.c).  Outermost library lock.
	 */
	struct pc_rwsem mmap_lock;
	/*
	 * The mode: PC_MODE_DAX and PC_MODE_SWITCHING (dax.h).  Written by
	 * pc_open() and by pc_set_dax() with the mmap lock and the
	 * invalidate_lock both held exclusive, so a holder of either (any
	 * mode) reads a stable value; lock-free hits read it under RCU
	 * (mode.c).  Atomic.
	 */
	unsigned mode;
	/*
	 * invalidate_lock: shared by every path that creates pages or looks
	 * up block mappings (read and fault fills, writes, writeback);
	 * exclusive for invalidation (punch, zero range, truncate,
	 * pc_invalidate_range) from evicting pages until the backend has freed
	 * the blocks (G2).
	 */
	struct pc_rwsem invalidate_lock;

	/* The page index; its own lock serialises stores and mark changes. */
	struct pc_index pages;
	/*
	 * DAX entries (dax.c): value entries, device address and flags, with
	 * the dirty mark; empty in cached mode, as @pages is in DAX mode.
	 */
	struct pc_index dax;
	uint64_t dax_pins;		/* atomic: DAX pins held (dax.c) */
	unsigned dax_pin_waiters;	/* atomic: threads in pc_dax_wait_no_pins() */
	bool dax_size_dirty;		/* atomic: the backend size changed since the last persist */

	/* Long-term range pins (pin.c).  pins_lock is a leaf (PC_LC_LEAF). */
	pthread_mutex_t pins_lock;
	struct pc_pin_rec *pin_recs;	/* pins_lock */

	/*
	 * The size.  Read anywhere with acquire loads.  Grown by writes with
	 * a CAS under invalidate_lock shared; set by truncate under it
	 * exclusive, so a shrink never races a grow.
	 */
	uint64_t size;

	pthread_mutex_t wb_lock;	/* serialises writeback of this mapping */
	/* protected by wb_lock (or invalidate_lock exclusive): */
	uint64_t backend_size;		/* the size the backend was last told */

	/*
	 * Write errors, as errseq_t: writeback records each error with a new
	 * sequence number; pc_sync() and pc_close() report the newest error
	 * not reported yet, once.  Atomic: writers hold wb_lock, readers none.
	 */
	int wb_err;			/* the newest error */
	uint32_t wb_err_seq;		/* bumped with each error recorded */
	uint32_t wb_err_reported;	/* wb_err_seq at the last report */

	/* Dirty accounting for background writeback; atomic. */
	uint64_t nr_dirty;		/* pages dirty now */
	uint64_t dirtied_when;		/* ms (monotonic) when nr_dirty left 0 */

	/*
	 * On the cache's list of mappings (cache->mappings_lock), and the hold
	 * the flusher or reclaim take on it while they work without that
	 * lock: pc_close() unlinks the mapping, then waits for users to reach
	 * 0 (cache->mappings_lock, mappings_cond).
	 */
	struct pc_mapping *cache_next, *cache_prev;
	unsigned int users;		/* flusher or reclaim working on it */
	uint64_t flush_pass;		/* the flusher pass that last visited it */

	/* Reclaim's clock hand in this mapping: the next index it looks at. */
	uint64_t reclaim_index;		/* cache->reclaim_lock */
	struct pc_ra_state ra;		/* readahead.h: relaxed atomics, no lock */
};

static inline uint64_t pc_mapping_size(const struct pc_mapping *m)
{
	return __atomic_load_n(&m->size, __ATOMIC_ACQUIRE);
}

#define pc_assert_invalidate_held(m, mode) \
	pc_lockdep_assert_held(&(m)->invalidate_lock, (mode), "invalidate_lock")

#endif /* PC_MAPPING_H */
