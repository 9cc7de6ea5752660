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

struct pc_mapping {
	struct pc_cache *cache;
	struct pc_backend *backend;
	void *obj;			/* the backend's object handle */
	char *name;
	struct pc_mapping *next_open;	/* backend->open list; backend->lock */

	/*
	 * mmap_lock: shared for the whole of a pc_fault() slow path;
	 * exclusive for a mode switch (DAX issue).  Outermost library lock.
	 */
	struct pc_rwsem mmap_lock;
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
