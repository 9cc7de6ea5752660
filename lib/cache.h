/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * struct pc_cache: the memory budget, the page-data allocator and the
 * statistics shared by every mapping of a cache.
 *
 * Budget: @used counts the bytes of page data handed out; a page that would
 * take it past @capacity is not charged until reclaim (reclaim.c) has freed
 * room, and if it cannot, the caller gets -ENOMEM (counted in enomem): the
 * cache never overcommits.  Metadata (page structs, index nodes) is not
 * charged; pc_stats() reports it separately in meta_bytes (about 2.5% of
 * the page data: a 96-byte page struct and a share of an index node per
 * 4 KiB page).
 *
 * Page data comes from chunks of PC_CHUNK_PAGES pages mapped on demand and
 * kept until the cache is deleted; free pages sit on a free list.  A chunk
 * is mapped only when the free list is empty and the budget allows, so at
 * most capacity + one chunk is ever mapped.
 *
 * Statistics are striped counters.  The first PC_STAT_STRIPES - 1 threads
 * that count get a stripe each, which only they write, with a plain
 * (relaxed atomic, unlocked) load and store, so a cache hit pays no locked
 * instruction for its statistics and two threads share no line.  Later
 * threads share stripe 0 and add to it atomically.  pc_stats() sums the
 * stripes with relaxed loads.
 */
#ifndef PC_CACHE_H
#define PC_CACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"

#define PC_PAGE_SHIFT 12
#define PC_PAGE_SIZE (1u << PC_PAGE_SHIFT)
#define PC_CHUNK_PAGES 512	/* 2 MiB: one transparent huge page */
#define PC_DIRTY_PERCENT 20	/* default share of the budget that may be dirty */
#define PC_DIRTY_EXPIRE_MS 5000	/* default age at which dirt is written back */
#define PC_RECLAIM_WANT 32	/* pages one reclaim call tries to free */

enum pc_stat {
	PC_STAT_HITS,
	PC_STAT_MISSES,
	PC_STAT_FILLS,
	PC_STAT_HOLE_FILLS,
	PC_STAT_ENOMEM,
	PC_STAT_WRITEBACKS,
	PC_STAT_PUNCHES,
	PC_STAT_TRUNCATES,
	PC_STAT_PAGES_REMOVED,
	PC_STAT_PIN_WAITS,
	PC_STAT_RETRIES,
	PC_STAT_WRITE_ERRORS,
	PC_STAT_EVICTIONS,
	PC_STAT_RECLAIM_SCANS,
	PC_STAT_FLUSHER_RUNS,
	PC_STAT_DAX_FAULTS,
	PC_STAT_DAX_ZERO_FAULTS,
	PC_STAT_DAX_ALLOCS,
	PC_STAT_DAX_ENTRY_WAITS,
	PC_STAT_DAX_PERSISTS,
	PC_STAT_DAX_BUSY_WAITS,
	PC_STAT_MODE_SWITCHES,
	PC_STAT_NR,
};

#define PC_STAT_STRIPES 64

struct pc_stat_stripe {
	uint64_t v[PC_STAT_NR];
} pc_cacheline_aligned;

struct pc_cache {
	uint64_t capacity;		/* bytes; whole pages; constant */
	uint64_t used;			/* atomic: bytes of page data charged */
	uint64_t pages;			/* atomic: live page structs */

	pthread_mutex_t pool_lock;	/* PC_LC_LEAF */
	/* protected by pool_lock: */
	void *free_list;		/* free page-data pages, linked through their first word */
	void **chunks;			/* mapped chunks, for munmap at delete */
	size_t nr_chunks, chunks_cap;

	/*
	 * Background writeback (writeback.c).  mappings_lock (PC_LC_LEAF)
	 * guards the list of open mappings, the flusher's state and each
	 * mapping's flusher_refs.
	 */
	pthread_mutex_t mappings_lock;
	pthread_cond_t flusher_cond;	/* wakes the flusher */
	pthread_cond_t mappings_cond;	/* flusher_refs dropped; a flusher pass ended */
	struct pc_mapping *mapping_list;
	pthread_t flusher;
	bool flusher_started, flusher_stop, flusher_kicked, flusher_in_pass;
	uint64_t flusher_passes;	/* passes completed */
	uint64_t nr_dirty;		/* atomic: dirty pages in all mappings */
	uint64_t dirty_limit;		/* pages: past it, the flusher writes; constant-ish */
	uint64_t dirty_expire_ms;	/* older dirt is written back */

	/*
	 * Reclaim (reclaim.c): one reclaimer at a time, under reclaim_lock
	 * (PC_LC_RECLAIM); its clock hand is a mapping of the list
	 * (reclaim_mapping, held with a user reference) and an index in it.
	 */
	pthread_mutex_t reclaim_lock;
	struct pc_mapping *reclaim_mapping;

	struct pc_stat_stripe stats[PC_STAT_STRIPES];
};

/* Milliseconds on the monotonic clock. */
uint64_t pc_now_ms(void);
/* Start the flusher if it is not running; mappings_lock held. */
int __pc_flusher_start(struct pc_cache *c);
/* Ask the flusher for a pass now (any context: takes mappings_lock). */
void pc_flusher_kick(struct pc_cache *c);
void pc_flusher_stop(struct pc_cache *c);
/* Kick the flusher and wait up to @ms for it to finish a pass. */
void pc_flusher_wait(struct pc_cache *c, unsigned ms);
/*
 * Free up to @want clean pages of the cache, with a CLOCK scan over its
 * mappings (reclaim.c); returns how many were freed.  When none could be,
 * and pages are dirty, it has the flusher write back and tries once more.
 * Any lock but an index lock or a leaf may be held.  Without @wait it only
 * scans: no waiting for the flusher or for busy pages.
 */
unsigned pc_cache_reclaim(struct pc_cache *c, unsigned want, bool wait);
/* Forget @m as reclaim's clock hand: pc_close(), reclaim_lock and mappings_lock held. */
void __pc_reclaim_forget(struct pc_cache *c, struct pc_mapping *m);

extern __thread unsigned pc_stat_stripe_id __attribute__((tls_model("initial-exec")));
unsigned pc_stat_stripe_slow(void);

static inline void pc_stat_add(struct pc_cache *c, enum pc_stat s, uint64_t n)
{
	unsigned id = pc_stat_stripe_id;
	uint64_t *v;

	if (pc_unlikely(!id))
		id = pc_stat_stripe_slow();
	if (pc_likely(id < PC_STAT_STRIPES)) {
		v = &c->stats[id].v[s];	/* ours alone */
		__atomic_store_n(v, __atomic_load_n(v, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
	} else {
		__atomic_fetch_add(&c->stats[0].v[s], n, __ATOMIC_RELAXED);
	}
}

static inline void pc_stat_inc(struct pc_cache *c, enum pc_stat s)
{
	pc_stat_add(c, s, 1);
}

/*
 * Charge one page to the budget and take page data for it: NULL if full.
 * With @nowait, reclaim only scans and never waits (readahead pages beyond
 * the one a reader needs: they are not worth a wait).
 */
void *pc_cache_alloc_data(struct pc_cache *c, bool nowait);
/* Return page data and uncharge it. */
void pc_cache_free_data(struct pc_cache *c, void *data);

#endif /* PC_CACHE_H */
