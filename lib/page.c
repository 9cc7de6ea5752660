/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pages: allocation, references, speculative lookup, pin waits and the dirty
 * state (design and invariants in page.h).
 *
 * Life of a page:
 *   pc_page_alloc()            refcount 1 (caller), locked, not indexed
 *   __pc_index_insert()        the caller passes its reference on to the
 *                              index and takes one more (filemap.c)
 *   pc_page_lookup()/get       +1 per holder
 *   __pc_page_remove()         PG_REMOVED, the index reference is dropped
 *   last pc_page_release()     data back to the cache; struct freed after RCU
 *
 * Pin waits.  pc_page_wait_pins() sets PC_REF_PINWAIT in the refcount word
 * and pc_page_release() decrements that word; both are read-modify-writes of
 * one location, so one comes first.  If the decrement does, the waiter's
 * check sees the lower count; if the flag does, the decrement's result
 * shows it and the putter wakes the bucket.  The waiter checks the count
 * under the bucket mutex that the waker takes, so the wake-up cannot fall
 * between its check and its sleep.  The waiter holds a reference, so the
 * count cannot reach zero while it waits, and the waker needs only the
 * page's address to find the bucket: it never touches a page it no longer
 * holds.  The flag is never cleared: a later spurious wake-up costs a mutex
 * round trip.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "dax.h"
#include "mapping.h"
#include "page.h"

#define PC_WAIT_BUCKETS 64

static struct pc_wait_bucket {
	pthread_mutex_t lock;	/* PC_LC_LEAF */
	pthread_cond_t cond;
} pc_wait_table[PC_WAIT_BUCKETS];
static pthread_once_t pc_wait_once = PTHREAD_ONCE_INIT;

static void pc_wait_table_init(void)
{
	for (int i = 0; i < PC_WAIT_BUCKETS; i++) {
		pthread_mutex_init(&pc_wait_table[i].lock, NULL);
		pthread_cond_init(&pc_wait_table[i].cond, NULL);
	}
}

static struct pc_wait_bucket *pc_wait_bucket(const struct pc_page *p)
{
	uintptr_t h = (uintptr_t)p;

	h ^= h >> 17;
	h *= 0x9e3779b97f4a7c15ull;
	return &pc_wait_table[(h >> 32) % PC_WAIT_BUCKETS];
}

int pc_page_alloc(struct pc_mapping *m, uint64_t index, bool nowait, struct pc_page **out)
{
	struct pc_page *p;

	p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->data = pc_cache_alloc_data(m->cache, nowait);
	if (!p->data) {
		free(p);
		return -ENOMEM;
	}
	p->refcount = 1;
	p->flags = 0;
	p->index = index;
	p->mapping = m;
	p->cache = m->cache;
	pthread_mutex_init(&p->lock, NULL);
	pc_page_lock(p);
	__atomic_fetch_add(&m->cache->pages, 1, __ATOMIC_RELAXED);
	*out = p;
	return 0;
}

static void pc_page_free_rcu(struct rcu_head *head)
{
	struct pc_page *p = pc_container_of(head, struct pc_page, rcu);

	pc_rcu_callback_begin(head);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* The last reference is gone: nobody can reach the data any more. */
static void pc_page_free(struct pc_page *p)
{
	struct pc_cache *c = p->cache;

	pc_cache_free_data(c, p->data);
	__atomic_fetch_sub(&c->pages, 1, __ATOMIC_RELAXED);
	/* Readers that found @p under RCU may still test its refcount. */
	pc_call_rcu(&p->rcu, pc_page_free_rcu);
}

static void pc_page_wake(const struct pc_page *p)
{
	struct pc_wait_bucket *b = pc_wait_bucket(p);

	pthread_mutex_lock(&b->lock);
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

void pc_page_release(struct pc_page *p)
{
	/* Release: our accesses to the page come before a free by whoever drops it last. */
	int r = __atomic_sub_fetch(&p->refcount, 1, __ATOMIC_ACQ_REL);

	if ((r & PC_REF_MASK) == 0)
		pc_page_free(p);
	else if (pc_unlikely(r & PC_REF_PINWAIT))
		pc_page_wake(p);	/* see the top: uses @p's address only */
}

PC_API void pc_page_put(struct pc_page *p)
{
	if (!p)
		return;
	if (pc_unlikely(pc_page_flags(p) & PG_DAX))
		pc_dax_page_put(p);
	else
		pc_page_release(p);
}

PC_API void *pc_page_addr(const struct pc_page *p)
{
	return p ? p->data : NULL;
}

PC_API uint64_t pc_page_offset(const struct pc_page *p)
{
	return p ? p->index << PC_PAGE_SHIFT : 0;
}

struct pc_page *pc_page_lookup(struct pc_mapping *m, uint64_t index)
{
	struct pc_page *p;

	pc_rcu_read_lock();
	p = __pc_page_lookup_rcu(m, index);
	pc_rcu_read_unlock();
	return p;
}

struct pc_page *__pc_page_lookup_rcu(struct pc_mapping *m, uint64_t index)
{
	struct pc_page *p;
	void **slot;

	for (;;) {
		p = NULL;
		slot = pc_index_slot(&m->pages, index);
		if (!slot)
			break;
		p = pc_rcu_dereference(*slot);
		if (!p)
			break;
		if (!pc_page_get_unless_zero(p))
			continue;	/* dying: it is about to leave the index */
		/*
		 * The reference may have been taken after the page was removed
		 * (and its slot perhaps refilled): only a page the index still
		 * holds is the mapping's page.  Re-reading the slot is enough
		 * (index.h, pc_index_slot()).
		 */
		if (pc_likely(pc_rcu_dereference(*slot) == p)) {
			/* For reclaim's second chance; written once per pass. */
			if (!(pc_page_flags(p) & PG_REFERENCED))
				pc_page_set_flag(p, PG_REFERENCED);
			break;
		}
		pc_page_release(p);
	}
	return p;
}

unsigned pc_page_gang_get(struct pc_mapping *m, uint64_t *first, uint64_t last, int mark,
			  struct pc_page **pages, unsigned n, bool *done)
{
	uint64_t indices[PC_PAGE_GANG_MAX];
	unsigned found, kept = 0;

	pc_rcu_read_lock();
	found = pc_index_gang(&m->pages, first, last, mark, (void **)pages, indices,
			      PC_MIN(n, PC_PAGE_GANG_MAX), done);
	for (unsigned i = 0; i < found; i++)
		if (pc_page_get_unless_zero(pages[i]))
			pages[kept++] = pages[i];
	pc_rcu_read_unlock();
	return kept;
}

void pc_page_wait_pins(struct pc_page *p, int mine)
{
	struct pc_wait_bucket *b;

	pc_lockdep_assert_none_from(PC_LC_MMAP, "waiting for pins");
	pthread_once(&pc_wait_once, pc_wait_table_init);
	b = pc_wait_bucket(p);
	__atomic_fetch_or(&p->refcount, PC_REF_PINWAIT, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&b->lock);
	while (pc_page_refs(p) > mine)
		pthread_cond_wait(&b->cond, &b->lock);
	pthread_mutex_unlock(&b->lock);
}

/* One page more or fewer dirty in @m.  Index lock held. */
static void __pc_account_dirty(struct pc_mapping *m, int delta)
{
	struct pc_cache *c = m->cache;
	uint64_t was;

	if (delta > 0) {
		was = __atomic_fetch_add(&m->nr_dirty, 1, __ATOMIC_RELAXED);
		if (was == 0)
			__atomic_store_n(&m->dirtied_when, pc_now_ms(), __ATOMIC_RELAXED);
		was = __atomic_fetch_add(&c->nr_dirty, 1, __ATOMIC_RELAXED);
		if (was + 1 == c->dirty_limit)
			pc_flusher_kick(c);	/* crossing the line: write some back */
	} else {
		__atomic_fetch_sub(&m->nr_dirty, 1, __ATOMIC_RELAXED);
		__atomic_fetch_sub(&c->nr_dirty, 1, __ATOMIC_RELAXED);
	}
}

void __pc_page_set_dirty(struct pc_mapping *m, struct pc_page *p)
{
	pc_page_assert_locked(p);
	if (pc_page_test(p, PG_DIRTY))
		return;
	pc_index_lock(&m->pages);
	if (!pc_page_test(p, PG_REMOVED)) {
		pc_page_set_flag(p, PG_DIRTY);
		__pc_index_set_mark(&m->pages, p->index, PC_MARK_DIRTY);
		__pc_account_dirty(m, 1);
	}
	pc_index_unlock(&m->pages);
}

void __pc_page_clear_dirty(struct pc_mapping *m, struct pc_page *p)
{
	pc_page_assert_locked(p);
	if (!pc_page_test(p, PG_DIRTY))
		return;
	pc_index_lock(&m->pages);
	pc_page_clear_flag(p, PG_DIRTY);
	if (!pc_page_test(p, PG_REMOVED)) {
		__pc_index_clear_mark(&m->pages, p->index, PC_MARK_DIRTY);
		__pc_account_dirty(m, -1);
	}
	pc_index_unlock(&m->pages);
}

void __pc_page_start_writeback(struct pc_mapping *m, struct pc_page *p)
{
	pc_page_assert_locked(p);
	pc_index_lock(&m->pages);
	pc_page_set_flag(p, PG_WRITEBACK);
	if (!pc_page_test(p, PG_REMOVED))
		__pc_index_set_mark(&m->pages, p->index, PC_MARK_WRITEBACK);
	pc_index_unlock(&m->pages);
}

void __pc_page_end_writeback(struct pc_mapping *m, struct pc_page *p)
{
	pc_page_assert_locked(p);
	pc_index_lock(&m->pages);
	pc_page_clear_flag(p, PG_WRITEBACK);
	if (!pc_page_test(p, PG_REMOVED))
		__pc_index_clear_mark(&m->pages, p->index, PC_MARK_WRITEBACK);
	pc_index_unlock(&m->pages);
}

void __pc_page_remove(struct pc_mapping *m, struct pc_page *p)
{
	void *old;

	pc_page_assert_locked(p);
	pc_index_lock(&m->pages);
	old = __pc_index_erase(&m->pages, p->index);
	if (pc_page_test(p, PG_DIRTY))
		__pc_account_dirty(m, -1);
	pc_page_clear_flag(p, PG_DIRTY | PG_WRMAPPED);
	pc_page_set_flag(p, PG_REMOVED);
	pc_index_unlock(&m->pages);
	(void)old;
	pc_stat_inc(m->cache, PC_STAT_PAGES_REMOVED);
	/* The index's reference: the caller still holds its own. */
	pc_page_release(p);
}

bool __pc_page_try_evict(struct pc_mapping *m, struct pc_page *p)
{
	int two = 2;	/* the index's reference and the caller's */

	pc_page_assert_locked(p);
	/* Not dirty, under writeback, removed or being filled; no pin. */
	if ((pc_page_flags(p) & ~(PG_REFERENCED | PG_WRMAPPED)) != PG_UPTODATE ||
	    pc_page_refs(p) != 2)
		return false;
	pc_index_lock(&m->pages);
	/*
	 * Freeze: from 2 to 0, so that a speculative get (which fails on 0)
	 * cannot take a reference while the page leaves the index.  A get that
	 * came first makes the exchange fail, and the page stays.
	 */
	if (!__atomic_compare_exchange_n(&p->refcount, &two, 0, false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED)) {
		pc_index_unlock(&m->pages);
		return false;
	}
	__pc_index_erase(&m->pages, p->index);
	pc_page_set_flag(p, PG_REMOVED);
	pc_index_unlock(&m->pages);
	pc_stat_inc(m->cache, PC_STAT_EVICTIONS);
	pc_page_unlock(p);
	/* Nobody else can reach it now: free it as the last put would. */
	pc_page_free(p);
	return true;
}
