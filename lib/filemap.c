/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fill paths: pc_read(), pc_write() and pc_fault(), and the page fill
 * that they share with invalidation (partial pages), readahead and each
 * other.
 *
 * A cache hit takes no rw lock: an RCU lookup and a speculative reference
 * (pc_page_lookup()), then the uptodate test.  Everything else runs under
 * the invalidate_lock held shared, because it creates pages or looks up
 * block mappings (G2):
 *
 *   miss: allocate a locked page -> insert it (__pc_add_page()) -> map the
 *         extent -> read the block (or zero a hole) -> set PG_UPTODATE ->
 *         unlock
 *
 * One reader, __pc_read_pages(), does the steps from "map" on, for one
 * page (__pc_fill_page()) or for the runs of a readahead window
 * (readahead.c), whose mapped extents it reads with one vectored backend
 * call.  pc_read() misses go through readahead.c, which reads the pages the
 * call needs, and a window ahead when the reads are sequential; PC_NOWAIT
 * reads stop at the first page that is not a hit.
 *
 * A concurrent miss on the same page finds the locked page in the index and
 * waits on its lock, so there is one read per page.  A fill that fails
 * removes its page again, and its waiters retry.
 *
 * Invariants kept here:
 *  1. Bytes of a cached page that lie past EOF are zero: fills zero them,
 *     and truncate zeroes the tail of the new last page.
 *  2. A page past EOF is never filled from the backend: the fill zeroes it,
 *     so that blocks an unfinished truncate has yet to free are never read.
 *  3. Reads check the size after they hold the page (truncate sets the size
 *     before it removes pages), so a read never returns bytes past an EOF
 *     that was set before the read found its page.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pagecache.h>

#include "dax.h"
#include "filemap.h"
#include "inject.h"

int pc_check_range(uint64_t off, uint64_t len)
{
	if (len == 0 || off > PC_MAX_SIZE)
		return -EINVAL;
	if (len > PC_MAX_SIZE - off)
		return -EFBIG;
	return 0;
}

int pc_check_not_holding(struct pc_mapping *m)
{
	return pc_rwsem_held(&m->invalidate_lock) ? -EDEADLK : 0;
}

void pc_mapping_grow_size(struct pc_mapping *m, uint64_t end)
{
	uint64_t size = __atomic_load_n(&m->size, __ATOMIC_RELAXED);

	/* Release: the data written below @end is in the page before the size says so. */
	while (size < end &&
	       !__atomic_compare_exchange_n(&m->size, &size, end, true, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED))
		;
}

void pc_assert_fill_locked(struct pc_mapping *m)
{
#ifndef PC_MUTANT_FILL_WITHOUT_INVALIDATE_LOCK
	pc_assert_invalidate_held(m, PC_LOCK_ANY);
#else
	(void)m;
#endif
}

/* Zero page @p and count it as a hole fill (a hole, unwritten, or past EOF). */
static void pc_zero_page(struct pc_mapping *m, struct pc_page *p)
{
	memset(p->data, 0, PC_PAGE_SIZE);
	pc_stat_inc(m->cache, PC_STAT_HOLE_FILLS);
}

/*
 * The I/O of __pc_read_pages(): @io[@nio] cover, in order, the @npages
 * pages of @pages whose @res is 1 (mapped: to be read); set each such @res
 * to 0 or the error.  One readv call for all of them when the backend has
 * readv and there is more than one page; else page by page with read.
 */
static void __pc_read_io(struct pc_mapping *m, struct pc_page **pages, int *res,
			 struct pc_io *io, unsigned nio, unsigned npages)
{
	const struct pc_backend_ops *ops = &m->backend->ops;
	bool vectored = ops->readv && npages > 1;
	unsigned i = 0;
	int batch = 0;

	if (vectored)
		batch = ops->readv(m->backend->priv, m->obj, io, nio);
	for (unsigned k = 0; k < nio; k++) {
		while (res[i] != 1)	/* to the first page of io[k] */
			i++;
		for (unsigned j = 0; j < io[k].iovcnt; j++, i++) {
			int r;

			if (vectored)
				r = batch < 0 ? batch : io[k].result;
			else
				r = ops->read(m->backend->priv, m->obj,
					      io[k].addr + ((uint64_t)j << PC_PAGE_SHIFT),
					      pages[i]->data, PC_PAGE_SIZE);
			res[i] = r < 0 ? r : 0;
			if (r >= 0)
				pc_stat_inc(m->cache, PC_STAT_FILLS);
		}
	}
}

int __pc_read_pages(struct pc_mapping *m, struct pc_page **pages, unsigned n, const char *site)
{
	const struct pc_backend_ops *ops = &m->backend->ops;
	struct iovec iov[PC_RA_MAX_PAGES];
	struct pc_io io[PC_RA_MAX_PAGES];
	int res[PC_RA_MAX_PAGES];	/* per page: 0 done, 1 to read, or -errno */
	uint64_t size = pc_mapping_size(m);
	unsigned nio = 0, nread = 0;
	int err = 0;

	pc_assert_fill_locked(m);
	if (n > PC_RA_MAX_PAGES)
		return -EINVAL;	/* a caller bug */
	for (unsigned i = 0; i < n;) {
		uint64_t off = pages[i]->index << PC_PAGE_SHIFT;
		struct pc_extent ext;
		uint64_t k;
		unsigned j;
		int r;

		if (off >= size) {
			/* Invariant 2: never read, whatever the backend still holds. */
			pc_zero_page(m, pages[i]);
			res[i++] = 0;
			continue;
		}
		/* The run of consecutive pages from @i, below EOF. */
		for (j = i + 1; j < n && pages[j]->index == pages[j - 1]->index + 1 &&
				(pages[j]->index << PC_PAGE_SHIFT) < size; j++)
			;
		r = ops->map(m->backend->priv, m->obj, off, (uint64_t)(j - i) << PC_PAGE_SHIFT,
			     &ext);
		k = r < 0 ? 0 : pc_extent_pages(&ext, off);
		if (k == 0) {
			/* The rest of the run fails; its pages leave the index. */
			for (; i < j; i++)
				res[i] = r < 0 ? r : -EIO;
			continue;
		}
		k = PC_MIN(k, (uint64_t)(j - i));
		if (ext.type != PC_EXTENT_MAPPED) {
			for (; k; k--) {
				pc_zero_page(m, pages[i]);
				res[i++] = 0;
			}
			continue;
		}
		/* A backend that leaves a result unset has not read the pages. */
		io[nio] = (struct pc_io){ .addr = ext.addr + (off - ext.offset), .iov = &iov[i],
					  .iovcnt = (unsigned)k, .result = -EIO };
		nio++;
		for (; k; k--) {
			iov[i] = (struct iovec){ .iov_base = pages[i]->data, .iov_len = PC_PAGE_SIZE };
			res[i++] = 1;
			nread++;
		}
	}
	/* The window G2 closes: the blocks just mapped must not be freed now. */
	PC_INJECT(site);
	if (nio)
		__pc_read_io(m, pages, res, io, nio, nread);
	for (unsigned i = 0; i < n; i++) {
		struct pc_page *p = pages[i];
		uint64_t off = p->index << PC_PAGE_SHIFT;

		if (res[i] < 0) {
			if (!err)
				err = res[i];
			continue;
		}
		if (off < size && size - off < PC_PAGE_SIZE)	/* invariant 1 */
			memset((char *)p->data + (size - off), 0, PC_PAGE_SIZE - (size - off));
		/* Release: the data above is complete before a lockless reader sees the flag. */
		pc_page_set_flag(p, PG_UPTODATE);
	}
	return err;
}

/* Read page @p from the backend, or zero it.  Page locked, invalidate_lock held. */
static int __pc_fill_page(struct pc_mapping *m, struct pc_page *p)
{
	pc_page_assert_locked(p);
	return __pc_read_pages(m, &p, 1, "fill_after_map");
}

bool __pc_locked_writeback(struct pc_mapping *m)
{
	if (pc_rwsem_held(&m->invalidate_lock) != PC_LOCK_EXCL ||
	    !__atomic_load_n(&m->nr_dirty, __ATOMIC_RELAXED))
		return false;
	(void)__pc_writeback_range(m, 0, UINT64_MAX);
	return true;
}

int __pc_add_page(struct pc_mapping *m, uint64_t index, bool nowait, struct pc_page **out)
{
	struct pc_page *p;
	int r;

#ifdef PC_DEBUG_LOCKS
	/* A DAX mapping has no cached pages (mode.c, point 4). */
	if (pc_mapping_is_dax(m)) {
		fprintf(stderr, "libpagecache: a cached page added to a DAX mapping\n");
		abort();
	}
#endif
	r = pc_page_alloc(m, index, nowait, &p);
	if (r < 0)
		return r;
	pc_index_lock(&m->pages);
	r = __pc_index_insert(&m->pages, index, p);
	if (r == 0)
		pc_page_get(p);	/* the index's reference */
	pc_index_unlock(&m->pages);
	if (r < 0) {
		/* Never visible to anyone: just drop it. */
		pc_page_unlock(p);
		pc_page_release(p);
		return r;
	}
	*out = p;
	return 0;
}

int __pc_grab_page(struct pc_mapping *m, uint64_t index, bool fill, struct pc_page **out)
{
	struct pc_page *p;
	int r;

	pc_assert_fill_locked(m);
	for (;;) {
		p = pc_page_lookup(m, index);
		if (p) {
			pc_page_lock(p);
			if (!pc_page_test(p, PG_REMOVED)) {
				pc_stat_inc(m->cache, PC_STAT_HITS);
				break;
			}
			/* Its fill failed, or it was invalidated: look again. */
			pc_page_unlock(p);
			pc_page_release(p);
			continue;
		}
		r = __pc_add_page(m, index, false, &p);
		if (r == -ENOMEM && __pc_locked_writeback(m))
			r = __pc_add_page(m, index, false, &p);	/* no page lock held here */
		if (r == 0) {
			pc_stat_inc(m->cache, PC_STAT_MISSES);
			break;
		}
		if (r != -EEXIST)
			return r;
	}
	if (fill && !pc_page_test(p, PG_UPTODATE)) {
		r = __pc_fill_page(m, p);
		if (r < 0) {
			__pc_page_remove(m, p);
			pc_page_unlock(p);
			pc_page_release(p);
			return r;
		}
	}
	*out = p;
	return 0;
}

/*
 * Take the invalidate_lock shared for a fill, unless the caller holds it
 * (PC_LOCKED).  The mutant build skips it, to prove the race tests see G2.
 */
void pc_fill_lock(struct pc_mapping *m, bool locked)
{
#ifndef PC_MUTANT_FILL_WITHOUT_INVALIDATE_LOCK
	if (!locked)
		pc_rwsem_down_read(&m->invalidate_lock);
#else
	(void)m;
	(void)locked;
#endif
}

bool pc_fill_trylock(struct pc_mapping *m, bool locked)
{
#ifndef PC_MUTANT_FILL_WITHOUT_INVALIDATE_LOCK
	return locked || pc_rwsem_try_down_read(&m->invalidate_lock);
#else
	(void)m;
	(void)locked;
	return true;
#endif
}

void pc_fill_unlock(struct pc_mapping *m, bool locked)
{
#ifndef PC_MUTANT_FILL_WITHOUT_INVALIDATE_LOCK
	if (!locked)
		pc_rwsem_up_read(&m->invalidate_lock);
#else
	(void)m;
	(void)locked;
#endif
}

/*
 * An uptodate page @index with a reference, for a read whose last page is
 * @last: the hit path (which may start the next readahead window), else a
 * fill with readahead (readahead.c); *@mode is the read's class
 * (readahead.h).  PC_NOWAIT: -EAGAIN instead of a fill.
 */
static int pc_get_uptodate(struct pc_mapping *m, uint64_t index, uint64_t last,
			   enum pc_ra_mode *mode, unsigned flags, struct pc_dax_read *dr,
			   struct pc_page **out)
{
	bool locked = flags & PC_LOCKED;
	struct pc_page *p = pc_page_lookup_hit(m, index);
	int r;

	if (pc_likely(p != NULL)) {
		if (pc_likely(pc_page_test(p, PG_UPTODATE))) {
			pc_stat_inc(m->cache, PC_STAT_HITS);
			if (pc_unlikely(pc_ra_is_trigger(&m->ra, index)) && !(flags & PC_NOWAIT))
				pc_ra_async(m, index, locked);
			*out = p;
			return 0;
		}
		pc_page_release(p);
	}
	if (flags & PC_NOWAIT) {
		/* DAX mode has no cache to answer from, but storage that never blocks. */
		if (!pc_fill_trylock(m, locked))
			return -EAGAIN;
		r = -EAGAIN;
		if (pc_mapping_is_dax(m))
			r = dr->got = __pc_dax_read(m, dr->dst, dr->len, dr->off, true);
		pc_fill_unlock(m, locked);
		*out = NULL;
		return r < 0 ? r : 0;
	}
	pc_fill_lock(m, locked);
	if (pc_mapping_is_dax(m)) {
		/*
		 * The mode is stable under the invalidate_lock (mode.c, point
		 * 1): the rest of the read copies straight from storage, under
		 * this one hold of the lock.
		 */
		r = dr->got = __pc_dax_read(m, dr->dst, dr->len, dr->off, false);
		pc_fill_unlock(m, locked);
		*out = NULL;
		return r < 0 ? r : 0;
	}
	r = __pc_ra_read_miss(m, index, last, mode, &p);
	if (r == 0 && !p) {
		/* Another thread is filling it: wait for that, or fill it after all. */
		r = __pc_grab_page(m, index, true, &p);
		if (r == 0)
			pc_page_unlock(p);
	}
	pc_fill_unlock(m, locked);
	if (r < 0)
		return r;
	*out = p;
	return 0;
}

/*
 * PC_LOCKED must mean the caller holds the lock; without it, the caller must
 * not hold it (we would take it again and could deadlock behind a writer).
 */
static int pc_check_locked_flag(struct pc_mapping *m, unsigned flags)
{
	int held = pc_rwsem_held(&m->invalidate_lock);

	if (flags & PC_LOCKED)
		return held ? 0 : -EPERM;
	return held ? -EDEADLK : 0;
}

PC_API ssize_t pc_read(struct pc_mapping *m, void *buf, size_t len, uint64_t off,
		       unsigned flags)
{
	enum pc_ra_mode mode = PC_RA_UNKNOWN;
	size_t done = 0;
	int r;

	if (!m || (!buf && len) || (flags & ~(PC_LOCKED | PC_NOWAIT)) || off > PC_MAX_SIZE ||
	    len > SSIZE_MAX || len > PC_MAX_SIZE - off)
		return -EINVAL;
	r = pc_check_locked_flag(m, flags);
	if (r < 0)
		return r;
	while (done < len) {
		uint64_t pos = off + done;
		uint64_t in_page = pos & (PC_PAGE_SIZE - 1);
		uint64_t size = pc_mapping_size(m);
		uint64_t last = (PC_MIN(off + len, size) - 1) >> PC_PAGE_SHIFT;
		struct pc_dax_read dr = { (char *)buf + done, len - done, pos, 0 };
		struct pc_page *p;
		size_t n;

		if (pos >= size)
			break;
		r = pc_get_uptodate(m, pos >> PC_PAGE_SHIFT, last, &mode, flags, &dr, &p);
		if (r < 0)
			return done ? (ssize_t)done : r;
		if (!p) {
			/* DAX mode: copied from storage already; 0 is EOF. */
			if (dr.got == 0)
				break;
			done += (size_t)dr.got;
			continue;
		}
		size = pc_mapping_size(m);	/* invariant 3 */
		if (pos >= size) {
			pc_page_release(p);
			break;
		}
		n = PC_MIN(PC_MIN((uint64_t)PC_PAGE_SIZE - in_page, len - done), size - pos);
		memcpy((char *)buf + done, (char *)p->data + in_page, n);
		pc_page_release(p);
		done += n;
	}
	return (ssize_t)done;
}

PC_API ssize_t pc_write(struct pc_mapping *m, const void *buf, size_t len, uint64_t off,
			unsigned flags)
{
	bool locked = flags & PC_LOCKED;
	uint64_t max = PC_MAX_SIZE;
	size_t done = 0;
	int r = 0;

	if (!m || (!buf && len) || (flags & ~PC_LOCKED) || off > PC_MAX_SIZE ||
	    len > SSIZE_MAX)
		return -EINVAL;
	if (m->backend->ops.max_size && m->backend->ops.max_size < max)
		max = m->backend->ops.max_size;
	if (off > max || len > max - off)
		return -EFBIG;
	r = pc_check_locked_flag(m, flags);
	if (r < 0)
		return r;
	if (len == 0)
		return 0;
	/*
	 * Writes create pages and move the size, so they always take the lock,
	 * and hold it for the whole write: a holder of the lock exclusive (a
	 * copy under lock, G7) sees each write whole or not at all.
	 */
#ifdef PC_MUTANT_WRITE_WITHOUT_INVALIDATE_LOCK
	locked = true;	/* the mutant: write as if the caller held the lock */
#endif
	if (!locked)
		pc_rwsem_down_read(&m->invalidate_lock);
	if (pc_mapping_is_dax(m)) {
		/* Straight to storage; the mode is stable under the lock (mode.c). */
		ssize_t w = __pc_dax_write(m, buf, len, off);

		if (!locked)
			pc_rwsem_up_read(&m->invalidate_lock);
		return w;
	}
	while (done < len) {
		uint64_t pos = off + done;
		uint64_t in_page = pos & (PC_PAGE_SIZE - 1);
		size_t n = PC_MIN((uint64_t)PC_PAGE_SIZE - in_page, len - done);
		bool whole = n == PC_PAGE_SIZE;
		struct pc_page *p;

		r = __pc_grab_page(m, pos >> PC_PAGE_SHIFT, !whole, &p);
		if (r < 0)
			break;
		memcpy((char *)p->data + in_page, (const char *)buf + done, n);
		if (whole)
			pc_page_set_flag(p, PG_UPTODATE);	/* release: after the copy */
		/*
		 * The size first, then the dirty mark: writeback raises the
		 * backend's size to ours before it writes, so a dirty page must
		 * never lie past our size (a block written past the backend's
		 * size could read as a hole).
		 */
		pc_mapping_grow_size(m, pos + n);
		__pc_page_set_dirty(m, p);
		pc_page_unlock(p);
		pc_page_release(p);
		done += n;
	}
	if (!locked)
		pc_rwsem_up_read(&m->invalidate_lock);
	return done ? (ssize_t)done : r;
}

/*
 * A write fault: the page will be stored into through the pin.  Returns
 * false if the page left the index before it could be dirtied; the caller
 * then faults again, so that a write pin is never handed out on a page whose
 * stores nobody would write back.
 */
static bool pc_fault_dirty(struct pc_mapping *m, struct pc_page *p)
{
	/*
	 * Our reference is taken; now the flag, always, as a sequentially
	 * consistent RMW: it pairs with the flag taken in __pc_writepage()
	 * (writeback.c) so that writeback sees the flag or our reference.
	 */
	pc_page_set_flag(p, PG_WRMAPPED);
	if (!pc_page_test(p, PG_DIRTY)) {
		pc_page_lock(p);
		__pc_page_set_dirty(m, p);
		pc_page_unlock(p);
	}
	return !pc_page_test(p, PG_REMOVED);
}

/*
 * The mmap lock around a fault's slow path.  The mutant build skips it, to
 * prove that race_mode_switch sees a fault straddle a mode switch (G4).
 */
static void pc_fault_mode_lock(struct pc_mapping *m)
{
#ifndef PC_MUTANT_FAULT_IGNORES_MODE_LOCK
	pc_rwsem_down_read(&m->mmap_lock);
#else
	(void)m;
#endif
}

static void pc_fault_mode_unlock(struct pc_mapping *m)
{
#ifndef PC_MUTANT_FAULT_IGNORES_MODE_LOCK
	pc_rwsem_up_read(&m->mmap_lock);
#else
	(void)m;
#endif
}

PC_API int pc_fault(struct pc_mapping *m, uint64_t off, unsigned flags, struct pc_page **out)
{
	uint64_t index = off >> PC_PAGE_SHIFT;
	struct pc_page *p;
	int r;

	if (!m || !out || (flags & ~PC_FAULT_WRITE) || off > PC_MAX_SIZE)
		return -EINVAL;
again:
	/*
	 * A miss takes the mmap lock and then the invalidate_lock, so a holder
	 * of the latter may not fault.  Refuse on hits too, so the answer does
	 * not depend on what happens to be cached.
	 */
	if (pc_check_not_holding(m) < 0)
		return -EDEADLK;
	p = pc_page_lookup_hit(m, index);	/* cached mode only (mode.c) */
	if (pc_likely(p != NULL && pc_page_test(p, PG_UPTODATE))) {
		pc_stat_inc(m->cache, PC_STAT_HITS);
	} else {
		bool dax;

		if (p)
			pc_page_release(p);
		/*
		 * Lock order: mmap_lock, then invalidate_lock (mapping.c).  The
		 * mmap lock is held from reading the mode until the pin is
		 * taken, so the whole fault sees one mode (G4, mode.c).
		 */
		pc_fault_mode_lock(m);
		dax = pc_mapping_is_dax(m);
		PC_INJECT("fault_after_mode");
		pc_fill_lock(m, false);
		if (off >= pc_mapping_size(m))
			r = -ENXIO;
		else if (dax)
			r = __pc_dax_fault(m, index, flags & PC_FAULT_WRITE, false, &p);
		else
			r = __pc_grab_page(m, index, true, &p);
		pc_fill_unlock(m, false);
		pc_fault_mode_unlock(m);
		if (r < 0)
			return r;
		if (dax) {
			*out = p;	/* dirtied by the fault; EOF checked under the lock */
			return 0;
		}
		pc_page_unlock(p);
	}
	if (off >= pc_mapping_size(m)) {
		pc_page_release(p);
		return -ENXIO;
	}
	if ((flags & PC_FAULT_WRITE) && !pc_fault_dirty(m, p)) {
		pc_page_release(p);
		goto again;
	}
	*out = p;
	return 0;
}
