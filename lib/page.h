/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * struct pc_page: one cached page, its reference count, lock and state.
 *
 * Invariants:
 *  1. refcount counts the index's reference (while the page is in the
 *     index) plus one per holder: a pin from pc_fault(), or a temporary
 *     reference of the library.  At 0 the page is dead: its data goes back
 *     to the cache and the struct is freed after an RCU grace period, so a
 *     reader that found it under RCU may still look at it.
 *  2. A reference can be taken from nothing (speculatively) only with
 *     pc_page_get_unless_zero() under RCU, and is valid only if the index
 *     still holds the page afterwards (pc_page_lookup() re-checks).
 *  3. PG_REMOVED is set, under the index lock, when the page leaves the
 *     index; it is never cleared.  A removed page stays valid memory for its
 *     holders but is no longer part of the mapping.
 *  4. PG_UPTODATE is set with release order after the data is complete and
 *     is never cleared; readers test it with acquire order and then read
 *     the data without the page lock.
 *  5. PG_DIRTY and the index's dirty mark change together, under the page
 *     lock and the index lock (__pc_page_set_dirty/__pc_page_clear_dirty);
 *     so do PG_WRITEBACK and the writeback mark (__pc_page_start_writeback/
 *     __pc_page_end_writeback).
 *  6. @mapping, @index, @cache and @data never change.  @mapping may be
 *     freed once the page is PG_REMOVED, so a holder of a removed page must
 *     not follow it; pc_page_put() does not.
 *
 * Flags are changed with atomic bit operations; the page lock (a mutex)
 * serialises fills, writes into the page, writeback and invalidation of one
 * page.  Waiting for pins to drain uses a hashed table of condition
 * variables (pc_page_wait_pins()), woken by pc_page_put() when the refcount
 * word says a waiter is there (PC_REF_PINWAIT).
 */
#ifndef PC_PAGE_H
#define PC_PAGE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "lockdep.h"
#include "rcu.h"

struct pc_cache;
struct pc_mapping;

enum {
	PG_UPTODATE = 1u << 0,	/* data is valid */
	PG_DIRTY = 1u << 1,	/* data newer than the backend */
	PG_WRITEBACK = 1u << 2,	/* being written to the backend */
	PG_REMOVED = 1u << 3,	/* left the index (invariant 3) */
	PG_WRMAPPED = 1u << 4,	/* pinned for write since last clean */
	PG_REFERENCED = 1u << 5,/* looked up since reclaim last passed (reclaim.c) */
	/*
	 * A DAX pin (dax.c): not a cached page.  Its struct belongs to one
	 * holder, is never in an index, and @data points into the backend's
	 * storage (or, with PG_DAX_ZERO, at the shared read-only zero page).
	 * pc_page_put() gives it to pc_dax_page_put().
	 */
	PG_DAX = 1u << 6,
	PG_DAX_ZERO = 1u << 7,
};

/*
 * The refcount word holds the count in its low bits and PC_REF_PINWAIT, set
 * by pc_page_wait_pins(): a put that leaves the bit set must wake the
 * waiter.  Keeping the bit in the same word lets a put learn both from the
 * result of its own decrement, without touching the page again.
 */
#define PC_REF_PINWAIT (1 << 30)
#define PC_REF_MASK (PC_REF_PINWAIT - 1)

struct pc_page {
	int refcount;			/* atomic; invariant 1; PC_REF_* */
	unsigned flags;			/* atomic PG_* bits */
	uint64_t index;			/* page index in @mapping */
	struct pc_mapping *mapping;
	struct pc_cache *cache;
	void *data;			/* PC_PAGE_SIZE bytes, page-aligned */
	pthread_mutex_t lock;		/* the page lock: PC_LC_PAGE */
	struct rcu_head rcu;
};

static inline unsigned pc_page_flags(const struct pc_page *p)
{
	return __atomic_load_n(&p->flags, __ATOMIC_ACQUIRE);
}

static inline bool pc_page_test(const struct pc_page *p, unsigned bit)
{
	return (pc_page_flags(p) & bit) != 0;
}

static inline void pc_page_set_flag(struct pc_page *p, unsigned bit)
{
	__atomic_fetch_or(&p->flags, bit, __ATOMIC_SEQ_CST);
}

static inline void pc_page_clear_flag(struct pc_page *p, unsigned bit)
{
	__atomic_fetch_and(&p->flags, ~bit, __ATOMIC_SEQ_CST);
}

/* Take a reference unless the count is 0 (the page is dying).  Invariant 2. */
static inline bool pc_page_get_unless_zero(struct pc_page *p)
{
	int r = __atomic_load_n(&p->refcount, __ATOMIC_RELAXED);

	do {
		if ((r & PC_REF_MASK) == 0)
			return false;
	} while (!__atomic_compare_exchange_n(&p->refcount, &r, r + 1, true, __ATOMIC_ACQUIRE,
					      __ATOMIC_RELAXED));
	return true;
}

/* Take another reference; the caller already holds one. */
static inline void pc_page_get(struct pc_page *p)
{
	__atomic_fetch_add(&p->refcount, 1, __ATOMIC_RELAXED);
}

static inline int pc_page_refs(const struct pc_page *p)
{
	return __atomic_load_n(&p->refcount, __ATOMIC_SEQ_CST) & PC_REF_MASK;
}

static inline void pc_page_lock(struct pc_page *p)
{
	pc_lockdep_acquire(&p->lock, PC_LC_PAGE, PC_LOCK_EXCL, "page_lock");
	pthread_mutex_lock(&p->lock);
}

static inline bool pc_page_trylock(struct pc_page *p)
{
	if (pthread_mutex_trylock(&p->lock))
		return false;
	pc_lockdep_acquire_try(&p->lock, PC_LC_PAGE, PC_LOCK_EXCL, "page_lock");
	return true;
}

static inline void pc_page_unlock(struct pc_page *p)
{
	pthread_mutex_unlock(&p->lock);
	pc_lockdep_release(&p->lock);
}

#define pc_page_assert_locked(p) pc_lockdep_assert_held(&(p)->lock, PC_LOCK_EXCL, "page_lock")

/*
 * A new page with one reference (the caller's), locked, not in the index.
 * @nowait: see pc_cache_alloc_data().
 */
int pc_page_alloc(struct pc_mapping *m, uint64_t index, bool nowait, struct pc_page **out);
/* Drop a reference (exported as pc_page_put). */
void pc_page_release(struct pc_page *p);
/*
 * Find page @index of @m and take a reference (invariant 2).  No lock needed;
 * takes the RCU read lock itself.
 */
struct pc_page *pc_page_lookup(struct pc_mapping *m, uint64_t index);
/* The same, for a caller that holds the RCU read lock. */
struct pc_page *__pc_page_lookup_rcu(struct pc_mapping *m, uint64_t index);
/*
 * Up to @n (at most PC_PAGE_GANG_MAX) pages of @m with index in [*first, last] (with @mark unless
 * PC_MARK_NONE), each with a reference, in index order; see pc_index_gang()
 * for *first and *done.  Pages that were dying are left out.  Takes the RCU
 * read lock itself.
 */
#define PC_PAGE_GANG_MAX 32
unsigned pc_page_gang_get(struct pc_mapping *m, uint64_t *first, uint64_t last, int mark,
			  struct pc_page **pages, unsigned n, bool *done);
/*
 * Wait until @p has no references but @mine (the caller's own).  Call with
 * no lock held: a holder may need any of them to finish.
 */
void pc_page_wait_pins(struct pc_page *p, int mine);

/*
 * Dirty state (invariant 5).  Page lock held; they take the index lock.
 * They keep the dirty counts of the mapping and the cache, which drive
 * background writeback.
 */
void __pc_page_set_dirty(struct pc_mapping *m, struct pc_page *p);
void __pc_page_clear_dirty(struct pc_mapping *m, struct pc_page *p);
/* PG_WRITEBACK and the index's writeback mark, together.  Page lock held. */
void __pc_page_start_writeback(struct pc_mapping *m, struct pc_page *p);
void __pc_page_end_writeback(struct pc_mapping *m, struct pc_page *p);
/*
 * Remove @p from @m's index and drop the index's reference; the caller keeps
 * its own.  Page lock held.  Clears its dirty state: the data is dropped.
 */
void __pc_page_remove(struct pc_mapping *m, struct pc_page *p);
/*
 * Evict @p, which the caller holds locked and referenced, if it is clean,
 * uptodate, not under writeback and has no other holder: freeze its count,
 * take it out of the index, free it.  Returns true if it was evicted (the
 * caller's reference and lock went with it).  Reclaim only.
 */
bool __pc_page_try_evict(struct pc_mapping *m, struct pc_page *p);

#endif /* PC_PAGE_H */
