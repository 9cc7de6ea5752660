/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reclaim: keeping a cache within its byte budget.
 *
 * When a page cannot be charged to the budget (cache.c), the allocating
 * thread reclaims: it runs a CLOCK scan over the pages of every mapping of
 * the cache and evicts clean ones.  The clock hand is a mapping of the
 * cache's list and an index in it (m->reclaim_index); the scan walks each
 * mapping's index in order, in batches, and moves to the next mapping at
 * the end.  There is no separate LRU list to keep up to date on every
 * insert and removal: the page index is the list.
 *
 * Second chance: every lookup that finds a page sets PG_REFERENCED
 * (pc_page_lookup()).  The hand clears it and passes on (if a whole sweep
 * frees nothing because every page was looked up again meanwhile, a second
 * sweep takes referenced pages too); a page it finds without the bit, clean, uptodate, not under writeback, unlocked and with
 * no holder but the index, is evicted (__pc_page_try_evict(): the count is
 * frozen at 0 with a compare-and-swap, so a speculative get cannot race the
 * removal).  Dirty pages are not evicted: if a pass frees nothing and pages
 * are dirty, the flusher is asked for a pass, and the scan runs again, for
 * as long as the flusher makes progress (the dirty count falls).  When it
 * does not, everything is pinned, dirty and unwritable, or locked, and the
 * caller gets -ENOMEM (counted in pc_stats().enomem), never a hang.
 *
 * Eviction needs no invalidate_lock: it never looks up or frees a block,
 * and a fill that misses the evicted page reads the backend, which holds
 * the same bytes (the page was clean).
 *
 * Locks: reclaim_lock (one reclaimer at a time; PC_LC_RECLAIM) -> page lock
 * by trylock only -> index lock.  The caller may hold an invalidate_lock
 * and locked pages of its own (readahead), which is why pages are only
 * ever trylocked here.  mappings_lock is taken, briefly, to move the hand
 * from one mapping to the next: the hand holds a user reference on its
 * mapping, so pc_close() waits for it, or clears it (__pc_reclaim_forget()).
 */
#include <errno.h>
#include <stdbool.h>
#include <time.h>

#include "filemap.h"

#define PC_RECLAIM_BATCH 32
#define PC_FLUSH_WAIT_MS 200	/* one wait for the flusher ... */
#define PC_RECLAIM_WAITS 25	/* ... repeated while it makes progress */

/* Move the hand to the next mapping (or the first).  reclaim_lock held. */
static struct pc_mapping *pc_reclaim_next_mapping(struct pc_cache *c)
{
	struct pc_mapping *m, *next;

	pthread_mutex_lock(&c->mappings_lock);
	pc_lockdep_acquire(&c->mappings_lock, PC_LC_LEAF, PC_LOCK_EXCL, "mappings_lock");
	m = c->reclaim_mapping;
	next = m && m->cache_next ? m->cache_next : c->mapping_list;
	if (m && --m->users == 0)
		pthread_cond_broadcast(&c->mappings_cond);
	if (next) {
		next->users++;
		next->reclaim_index = 0;
	}
	c->reclaim_mapping = next;
	pc_lockdep_release(&c->mappings_lock);
	pthread_mutex_unlock(&c->mappings_lock);
	return next;
}

void __pc_reclaim_forget(struct pc_cache *c, struct pc_mapping *m)
{
	if (c->reclaim_mapping == m) {
		c->reclaim_mapping = NULL;
		m->users--;
	}
}

/*
 * One sweep of the hand over up to @budget pages; returns pages freed.
 * With @force, referenced pages get no second chance.  *@busy counts the
 * pages passed over only for a moment: locked (being filled or written
 * back) or under writeback.  reclaim_lock held.
 */
static unsigned pc_reclaim_scan(struct pc_cache *c, unsigned want, uint64_t budget, bool force,
				unsigned *busy)
{
	struct pc_page *batch[PC_RECLAIM_BATCH];
	unsigned freed = 0;
	uint64_t scanned = 0;

	*busy = 0;
	while (freed < want && scanned < budget) {
		struct pc_mapping *m = c->reclaim_mapping;
		unsigned n;
		bool done;

		if (!m) {
			m = pc_reclaim_next_mapping(c);
			if (!m)
				break;	/* no mappings at all */
		}
		n = pc_page_gang_get(m, &m->reclaim_index, UINT64_MAX, PC_MARK_NONE, batch,
				     PC_RECLAIM_BATCH, &done);
		pc_stat_add(c, PC_STAT_RECLAIM_SCANS, n);
		scanned += n;
		for (unsigned i = 0; i < n; i++) {
			struct pc_page *p = batch[i];

			if (!force && pc_page_test(p, PG_REFERENCED)) {
				pc_page_clear_flag(p, PG_REFERENCED);	/* second chance */
			} else if (freed < want) {
				if (!pc_page_trylock(p)) {
					(*busy)++;
				} else if (__pc_page_try_evict(m, p)) {
					freed++;
					continue;	/* lock and reference went with it */
				} else {
					/*
					 * Under writeback, or held by someone besides the
					 * index and us: often for a moment only (a reader's
					 * copy, the flusher's batch).  A pin looks the same,
					 * so an all-pinned cache costs a few short waits.
					 */
					if (pc_page_test(p, PG_WRITEBACK) || pc_page_refs(p) > 2)
						(*busy)++;
					pc_page_unlock(p);
				}
			}
			pc_page_release(p);
		}
		if (done || !n) {
			/* The end of this mapping: on to the next, which costs a step too. */
			scanned++;
			if (!pc_reclaim_next_mapping(c))
				break;
		}
	}
	return freed;
}

unsigned pc_cache_reclaim(struct pc_cache *c, unsigned want, bool wait)
{
	/* Twice round the clock: once to clear the referenced bits, once to evict. */
	uint64_t budget = 2 * __atomic_load_n(&c->pages, __ATOMIC_RELAXED) + PC_RECLAIM_BATCH;
	unsigned freed, busy;

	pthread_mutex_lock(&c->reclaim_lock);
	pc_lockdep_acquire(&c->reclaim_lock, PC_LC_RECLAIM, PC_LOCK_EXCL, "reclaim_lock");
	freed = pc_reclaim_scan(c, want, budget, false, &busy);
	for (int waits = 0; !freed && waits < (wait ? PC_RECLAIM_WAITS : 1); waits++) {
		uint64_t dirty = __atomic_load_n(&c->nr_dirty, __ATOMIC_RELAXED);

		/*
		 * Pages looked up again as fast as the hand clears their bits
		 * (a hot set as large as the budget) would keep every second
		 * chance: from now on, take them anyway.
		 */
		freed = pc_reclaim_scan(c, want, budget / 2, true, &busy);
		if (freed)
			break;
		if (!wait || (!dirty && !busy))
			break;	/* all pinned (or removed), or no waiting: -ENOMEM for the caller */
		pc_lockdep_release(&c->reclaim_lock);
		pthread_mutex_unlock(&c->reclaim_lock);
		if (dirty) {
			/* Dirty pages are written back first, then evicted. */
			pc_flusher_wait(c, PC_FLUSH_WAIT_MS);
		} else {
			/* Pages being filled or written: they are free in a moment. */
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
		}
		pthread_mutex_lock(&c->reclaim_lock);
		pc_lockdep_acquire(&c->reclaim_lock, PC_LC_RECLAIM, PC_LOCK_EXCL, "reclaim_lock");
		/* No page written meanwhile: they cannot be (errors, locked mappings). */
		if (dirty && !busy && __atomic_load_n(&c->nr_dirty, __ATOMIC_RELAXED) >= dirty)
			break;
	}
	pc_lockdep_release(&c->reclaim_lock);
	pthread_mutex_unlock(&c->reclaim_lock);
	return freed;
}
