/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Readahead: pc_readahead(), and the windows pc_read() reads ahead by itself.
 *
 * The engine, __pc_readahead_pages(), populates one window of up to
 * PC_RA_MAX_PAGES pages under the invalidate_lock (G2: it creates pages and
 * looks up block mappings, so invalidation cannot run meanwhile):
 *
 *   size the window: clip it at EOF, and end it at the first hole past the
 *     pages the caller needs (a hint; see below)
 *   -> create each page that is not cached: allocated locked, inserted
 *      (a page already in the index is cached, or another thread is
 *      filling it: skipped, never waited for)
 *   -> __pc_read_pages() (filemap.c): map each run of new pages, zero the
 *      holes, read every mapped extent of the window in ONE readv call,
 *      zero the tail of the EOF page, set PG_UPTODATE
 *   -> unlock each page; one whose read failed leaves the index first, as
 *      in __pc_grab_page(), so its waiters look again and fill it themselves
 *
 * The single-page fill (__pc_fill_page()) is the same reader with one page.
 *
 * Invariants:
 *  1. A window's pages are locked from creation until they are uptodate or
 *     out of the index, so a reader never sees one half read, and a writer
 *     of the page waits for the read to finish before it writes.
 *  2. The block mapping of a page is looked up only once the page is
 *     locked in the index (in __pc_read_pages()).  The sizing probe that
 *     comes before (__pc_ra_data_end()) only decides how many pages to
 *     create: a stale answer costs a page more or less in the window, never
 *     data.  (Under the invalidate_lock blocks are never freed, but a hole
 *     may be filled by writeback and the page then evicted: only a lookup
 *     made after the page is locked in the index sees that.)
 *  3. Pages past EOF are never created (the window is clipped at EOF), and
 *     the reader zeroes any it is given (filemap.c, invariant 2).
 *  4. A window is at most 1/PC_RA_BUDGET_SHARE of the cache's budget (and
 *     one page at least).  Its pages are locked until read, so reclaim
 *     cannot evict them; the rest of the budget is left for reclaim to
 *     make room in, so that readahead in a small cache does not turn into
 *     -ENOMEM for itself or for others.
 *
 * Many page locks at once.  The lock order has no edge from one page lock
 * to another, and lockdep's stack is shorter than a window.  Holding the
 * pages of a window together is still safe, as in the kernel's readahead:
 * they are new, so nobody held them before us; while we hold them we only
 * create pages (pc_page_alloc() locks a page nobody else can see yet, and
 * reclaim, which may run inside it, only trylocks pages) and call the
 * backend, never waiting for a page lock.  So lockdep is told about one of
 * them at a time: each new page's lock leaves its record once the page is
 * inserted (pc_ra_untrack()) and comes back (pc_ra_retrack()) just before
 * it is removed or unlocked.
 *
 * Holes.  Readahead is about data: a hole page costs no I/O to fill later.
 * A window ends at the first extent that is not MAPPED after its first
 * @req pages (the pages a read needs, or just the first page), so it may
 * populate one hole page but never runs into a hole region.
 *
 * pc_read()'s policy (__pc_ra_read_miss(), pc_ra_async()), kept in the
 * mapping's struct pc_ra_state (readahead.h) with relaxed atomics:
 *  - A miss where the last window (or miss) ended is sequential: it reads a
 *    window from the miss, 4 pages the first time (PC_RA_INIT_PAGES), then
 *    twice the last window each time, up to 64 (PC_RA_MAX_PAGES), and at
 *    least the pages the read needs.  Any other miss is random: it reads
 *    only the pages its call needs (one batch) and starts the stream over.
 *    The first miss of a call classes the whole call.  A fresh mapping's
 *    stream "ended" at 0, so a read from the start is sequential.
 *  - The second half of a window is its async part: its first page is the
 *    trigger.  A read that hits the trigger reads the next window (twice
 *    the size, up to 64) before it returns, so a warm sequential reader has
 *    32 to 96 pages read ahead of it and misses no more.  On a hit it takes
 *    the invalidate_lock only by trylock (it has none: a hit takes no rw
 *    lock); if that fails, the window is left for the reader's next miss,
 *    which is sequential and so reads it, doubled, then.
 *  - PC_NOWAIT reads never read ahead.
 * Hits read the state (one relaxed load of the trigger) and never write it,
 * so readers on many threads share its line read-only.
 *
 * Counters for tests (pc_ra_get_stats()): windows of the policy, async
 * windows, pages they populated, the largest size.  Pages that readahead
 * creates are not counted as misses in pc_stats(): a miss is a lookup that
 * had to create its page, which is the page a read needed (counted once,
 * by __pc_readahead_pages() when it hands that page over).
 */
#include <errno.h>

#include <pagecache.h>

#include "dax.h"
#include "filemap.h"

#define PC_RA_BUDGET_SHARE 8	/* invariant 4 */

static uint64_t pc_ra_load(const uint64_t *f)
{
	return __atomic_load_n(f, __ATOMIC_RELAXED);
}

static void pc_ra_store(uint64_t *f, uint64_t v)
{
	__atomic_store_n(f, v, __ATOMIC_RELAXED);
}

/* See the top: lockdep tracks one page lock of a window at a time. */
static void pc_ra_untrack(struct pc_page *p)
{
	pc_lockdep_release(&p->lock);
}

static void pc_ra_retrack(struct pc_page *p)
{
	/* We hold it already: nothing to wait for, so no order to check. */
	pc_lockdep_acquire_try(&p->lock, PC_LC_PAGE, PC_LOCK_EXCL, "page_lock");
}

/* Is page @index in the index (cached, or being filled)?  Takes RCU. */
static bool pc_ra_present(struct pc_mapping *m, uint64_t index)
{
	void *entry;

	pc_rcu_read_lock();
	entry = pc_index_load(&m->pages, index);
	pc_rcu_read_unlock();
	return entry != NULL;
}

/*
 * The first index in [@from, @end) whose extent is not MAPPED, or @end: a
 * hint that sizes a window (invariant 2).  A backend error ends it too; the
 * reader meets the error again if it matters.  invalidate_lock held.
 */
static uint64_t __pc_ra_data_end(struct pc_mapping *m, uint64_t from, uint64_t end)
{
	const struct pc_backend_ops *ops = &m->backend->ops;

	while (from < end) {
		uint64_t off = from << PC_PAGE_SHIFT;
		struct pc_extent ext;
		uint64_t k;

		if (ops->map(m->backend->priv, m->obj, off, (end - from) << PC_PAGE_SHIFT, &ext) < 0)
			break;
		k = pc_extent_pages(&ext, off);
		if (!k || ext.type != PC_EXTENT_MAPPED)
			break;
		from += PC_MIN(k, end - from);
	}
	return from;
}

void __pc_readahead_pages(struct pc_mapping *m, struct pc_ra_window *w)
{
	struct pc_page *pages[PC_RA_MAX_PAGES];
	uint64_t size = pc_mapping_size(m);
	uint64_t eof = (size + PC_PAGE_SIZE - 1) >> PC_PAGE_SHIFT;
	uint64_t end, req_end;
	unsigned n = 0;
	int r;

	pc_assert_fill_locked(m);
	/* Invariant 4. */
	w->nr = PC_MAX(PC_MIN(PC_MIN(w->nr, PC_RA_MAX_PAGES),
			      (m->cache->capacity >> PC_PAGE_SHIFT) / PC_RA_BUDGET_SHARE), 1);
	end = PC_MIN(w->first + w->nr, eof);
	req_end = w->first + PC_MAX(w->req, 1);
	w->page = NULL;
	w->populated = 0;
	w->err = 0;
	w->first_err = 0;
	if (w->first >= end) {
		w->end = w->first;	/* at or past EOF: invariant 3 */
		return;
	}
	if (req_end < end)
		end = __pc_ra_data_end(m, req_end, end);
	for (uint64_t index = w->first; index < end; index++) {
		struct pc_page *p;

		if (pc_ra_present(m, index))
			continue;
		/* Pages past what the reader asked for are not worth a wait. */
		r = __pc_add_page(m, index, index >= req_end, &p);
		if (r == -EEXIST)
			continue;	/* it appeared meanwhile: not ours */
		if (r < 0) {
			/* -ENOMEM: the budget is full even after reclaim; stop here. */
			w->err = r;
			if (index == w->first)
				w->first_err = r;
			end = index;
			break;
		}
		pc_ra_untrack(p);
		pages[n++] = p;
	}
	w->end = end;
	if (!n)
		return;
	r = __pc_read_pages(m, pages, n, "readahead_after_map");
	if (r < 0 && !w->err)
		w->err = r;
	for (unsigned i = 0; i < n; i++) {
		struct pc_page *p = pages[i];

		pc_ra_retrack(p);
		if (!pc_page_test(p, PG_UPTODATE)) {
			/* As __pc_grab_page() does on a failed fill: its waiters look again. */
			if (p->index == w->first)
				w->first_err = r;	/* the lowest failed page's error */
			__pc_page_remove(m, p);
			pc_page_unlock(p);
			pc_page_release(p);
			continue;
		}
		w->populated++;
		pc_page_unlock(p);
		if (w->want_first && p->index == w->first) {
			pc_stat_inc(m->cache, PC_STAT_MISSES);
			w->page = p;	/* our reference goes to the caller */
		} else {
			pc_page_release(p);
		}
	}
}

/* Record window @w, asked for with @w->nr pages, as the stream's current one. */
static void pc_ra_note(struct pc_ra_state *ra, const struct pc_ra_window *w, bool async)
{
	uint64_t trigger = w->first + w->nr - w->nr / 2;	/* the async part's first page */
	uint64_t max = pc_ra_load(&ra->max_size);

	pc_ra_store(&ra->start, w->first);
	pc_ra_store(&ra->size, w->nr);
	pc_ra_store(&ra->next, w->end);
	/* A window cut short (EOF, a hole, an error) has no trigger: the next miss reads on. */
	pc_ra_store(&ra->trigger, trigger < w->end ? trigger + 1 : 0);
	if (w->end == w->first)
		return;
	__atomic_fetch_add(&ra->windows, 1, __ATOMIC_RELAXED);
	if (async)
		__atomic_fetch_add(&ra->async_windows, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&ra->pages, w->populated, __ATOMIC_RELAXED);
	while (max < w->nr && !__atomic_compare_exchange_n(&ra->max_size, &max, w->nr, true,
							    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

int __pc_ra_read_miss(struct pc_mapping *m, uint64_t index, uint64_t last,
		      enum pc_ra_mode *mode, struct pc_page **out)
{
	struct pc_ra_state *ra = &m->ra;
	uint64_t need = last >= index ? PC_MIN(last - index + 1, PC_RA_MAX_PAGES) : 1;
	struct pc_ra_window w = { .first = index, .nr = need, .req = need, .want_first = true };

	if (*mode == PC_RA_UNKNOWN)
		*mode = index == pc_ra_load(&ra->next) ? PC_RA_SEQUENTIAL : PC_RA_RANDOM;
	if (*mode == PC_RA_SEQUENTIAL) {
		uint64_t size = pc_ra_load(&ra->size);

		size = size ? PC_MIN(2 * size, PC_RA_MAX_PAGES) : PC_RA_INIT_PAGES;
		w.nr = PC_MAX(size, need);
	}
	__pc_readahead_pages(m, &w);
	if (*mode == PC_RA_SEQUENTIAL) {
		pc_ra_note(ra, &w, false);
	} else {
		/* No window; a read that goes on from here is sequential. */
		pc_ra_store(&ra->size, 0);
		pc_ra_store(&ra->next, w.end);
	}
	*out = w.page;
	return w.first_err;
}

void pc_ra_async(struct pc_mapping *m, uint64_t index, bool locked)
{
	struct pc_ra_state *ra = &m->ra;
	struct pc_ra_window w = { .req = 1 };
	uint64_t trigger = index + 1, size;

	/* One hit starts the window, however many readers hit the trigger. */
	if (!__atomic_compare_exchange_n(&ra->trigger, &trigger, 0, false, __ATOMIC_RELAXED,
					 __ATOMIC_RELAXED))
		return;
	size = pc_ra_load(&ra->size);
	if (!size)
		return;	/* a random miss reset the stream meanwhile */
	w.first = pc_ra_load(&ra->start) + size;
	w.nr = PC_MIN(2 * size, PC_RA_MAX_PAGES);
	if (!pc_fill_trylock(m, locked))
		return;	/* next == w.first still: the reader's miss there reads it */
	if (pc_mapping_is_dax(m)) {
		/* The hit was in cached mode; a switch to DAX came in between. */
		pc_fill_unlock(m, locked);
		return;
	}
	__pc_readahead_pages(m, &w);
	pc_fill_unlock(m, locked);
	pc_ra_note(ra, &w, true);
}

void pc_ra_get_stats(struct pc_mapping *m, struct pc_ra_stats *st)
{
	st->windows = pc_ra_load(&m->ra.windows);
	st->async_windows = pc_ra_load(&m->ra.async_windows);
	st->pages = pc_ra_load(&m->ra.pages);
	st->max_size = pc_ra_load(&m->ra.max_size);
}

PC_API int pc_readahead(struct pc_mapping *m, uint64_t off, uint64_t len)
{
	uint64_t first = off >> PC_PAGE_SHIFT, index = first, populated = 0;
	int r;

	if (!m || off > PC_MAX_SIZE)
		return -EINVAL;
	if (len && len > PC_MAX_SIZE - off)
		return -EFBIG;
	r = pc_check_not_holding(m);
	if (r < 0)
		return r;
	/* One window per hold of the lock, so that a punch waits for one window at most. */
	for (;;) {
		struct pc_ra_window w = { .first = index, .req = 1 };
		uint64_t size, end;

		pc_fill_lock(m, false);
		size = pc_mapping_size(m);
		end = len ? PC_MIN(off + len, size) : size;
		end = (end + PC_PAGE_SIZE - 1) >> PC_PAGE_SHIFT;
		/* DAX mode has no cache to populate: reads go to storage (dax.c). */
		if (index >= end || pc_mapping_is_dax(m)) {
			pc_fill_unlock(m, false);
			return 0;
		}
		w.nr = PC_MIN(end - index, PC_RA_MAX_PAGES);
		__pc_readahead_pages(m, &w);
		pc_fill_unlock(m, false);
		populated += w.populated;
		if (w.err) {
			/* Best effort: only the first page's error, or one that left nothing done. */
			if (w.first_err && index == first)
				return w.first_err;
			return populated ? 0 : w.err;
		}
		if (w.end < index + w.nr)
			return 0;	/* a hole region: readahead is for data */
		/* More than the budget holds would evict what this call read. */
		if (populated >= m->cache->capacity >> PC_PAGE_SHIFT)
			return 0;
		index = w.end;
	}
}
