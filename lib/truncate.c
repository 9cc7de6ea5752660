/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Invalidation: pc_punch(), pc_zero_range(), pc_truncate() and
 * pc_invalidate_range().
 *
 * The first three run the same scheme (pc_invalidate()):
 *
 *   1. take the invalidate_lock exclusive: no fill path can create a page
 *      or look up a block mapping from here on (G2);
 *   2. look for a pinned page among the whole pages to be removed; if there
 *      is one, drop the lock, wait for its pins to go, and start again from
 *      1 (G3: the pin holder may need the lock to fault another page, which
 *      is the deadlock of seeds/002);
 *   3. otherwise, in the same locked section: set the size (truncate),
 *      remove the whole pages from the index, zero the partial pages at the
 *      ends in place, and only then have the backend free the blocks;
 *   4. drop the lock.
 *
 * All of the change happens in step 3, under one hold of the lock, so each
 * call is atomic with respect to every other call on the mapping: a read
 * or fault sees the range before it or after it, never a mix of stale
 * blocks and zeros.  Passes through step 2 change nothing, so a write that
 * lands while we wait is ordered before the invalidation.
 *
 * Step 2 cannot stop new pins from being taken while the lock is dropped,
 * so a range that is faulted without pause could keep it waiting.  After
 * PC_INVAL_MAX_RETRIES waits step 3 runs anyway: a cached page is a copy,
 * so removing it from the index while pinned leaves the holder valid memory
 * (G3) and frees no block under it.  Two kinds of pin never get this way
 * out: long-term range pins (pin.c), and every pin of a DAX mapping, where
 * the page is the block: a DAX mapping's step 2 looks for busy entries
 * (__pc_dax_find_busy()) and waits for them however often it must
 * (pc_invalidate_dax_busy()), and its step 3 is dax.c's.  PC_PUNCH_NOWAIT
 * (pc_punch_flags()) answers -EBUSY at step 2 instead of waiting.
 *
 * pc_invalidate_range() is called with the lock already held exclusive by
 * the engine; it writes each dirty page back and removes it, and does not
 * wait for pins, since it cannot drop the engine's lock: a page pinned for
 * write stays, and the call answers -EBUSY (writeback.c).
 */
#include <errno.h>
#include <string.h>

#include <pagecache.h>

#include "dax.h"
#include "filemap.h"
#include "inject.h"

#define PC_INVAL_MAX_RETRIES 64

/*
 * Walk pages with index in [first, last].  With @remove, take each out of
 * the index.  Returns the first page that has references besides the
 * index's and ours (a pin), with our reference, or NULL.  With !@remove the
 * walk stops at that page.  invalidate_lock held exclusive.
 */
static struct pc_page *__pc_walk_range(struct pc_mapping *m, uint64_t first, uint64_t last,
				       bool remove)
{
	struct pc_page *batch[PC_PAGE_GANG_MAX];
	struct pc_page *busy = NULL;
	bool done = false;

	pc_assert_invalidate_held(m, PC_LOCK_EXCL);
	while (!done) {
		unsigned n = pc_page_gang_get(m, &first, last, PC_MARK_NONE, batch,
					      PC_PAGE_GANG_MAX, &done);

		for (unsigned i = 0; i < n; i++) {
			struct pc_page *p = batch[i];
			int mine;

			if (remove) {
#ifdef PC_MUTANT_PUNCH_IGNORES_WRITEBACK
				/* Test only: do not wait for a page being written. */
				if (pc_page_test(p, PG_WRITEBACK)) {
					__pc_page_remove(m, p);
					pc_page_release(p);
					continue;
				}
#endif
				pc_page_lock(p);
				if (!pc_page_test(p, PG_REMOVED))
					__pc_page_remove(m, p);
				pc_page_unlock(p);
				mine = 1;
			} else {
				mine = 2;	/* the index's and ours */
#ifdef PC_MUTANT_PUNCH_IGNORES_WRITEBACK
				/* Test only: writeback's reference is not waited for. */
				if (pc_page_test(p, PG_WRITEBACK)) {
					pc_page_release(p);
					continue;
				}
#endif
			}
			if (!busy && pc_page_refs(p) > mine) {
				busy = p;
				if (!remove) {
					for (unsigned j = i + 1; j < n; j++)
						pc_page_release(batch[j]);
					return busy;
				}
				continue;
			}
			pc_page_release(p);
		}
	}
	return busy;
}

void __pc_remove_range(struct pc_mapping *m, uint64_t first, uint64_t last)
{
	struct pc_page *busy = __pc_walk_range(m, first, last, true);

	if (busy)
		pc_page_release(busy);
}

/*
 * The page that holds byte @a, about to have part of it zeroed: referenced
 * and uptodate in *@out, or NULL if there is nothing to zero (past EOF, or
 * not cached over a hole).  This is the only step of a punch or truncate
 * that can fail for want of memory or on a read error, so it runs before
 * anything changes.  invalidate_lock held exclusive.
 */
static int __pc_get_partial(struct pc_mapping *m, uint64_t a, struct pc_page **out)
{
	const struct pc_backend_ops *ops = &m->backend->ops;
	uint64_t index = a >> PC_PAGE_SHIFT;
	struct pc_page *p;
	int r;

	*out = NULL;
	if (a >= pc_mapping_size(m))
		return 0;	/* past EOF a page reads as zero already (filemap.c, inv. 1) */
	p = pc_page_lookup(m, index);
	if (!p) {
		struct pc_extent ext;

		r = ops->map(m->backend->priv, m->obj, index << PC_PAGE_SHIFT, PC_PAGE_SIZE, &ext);
		if (r < 0)
			return r;
		if (ext.type != PC_EXTENT_MAPPED)
			return 0;	/* not cached, and no data on the backend */
	} else {
		pc_page_release(p);
	}
	r = __pc_grab_page(m, index, true, &p);
	if (r < 0)
		return r;
	pc_page_unlock(p);
	*out = p;
	return 0;
}

/*
 * Zero bytes [a, b) of page @p (from __pc_get_partial(); may be NULL) in
 * place, so they read as zero from the cache and, after writeback, from the
 * backend, whatever the backend did with the block; drop the reference.
 */
static void __pc_zero_partial(struct pc_mapping *m, struct pc_page *p, uint64_t a, uint64_t b)
{
	if (!p)
		return;
	pc_page_lock(p);
	memset((char *)p->data + (a & (PC_PAGE_SIZE - 1)), 0, b - a);
	__pc_page_set_dirty(m, p);
	pc_page_unlock(p);
	pc_page_release(p);
}

enum pc_inval_op { PC_OP_PUNCH, PC_OP_ZERO, PC_OP_TRUNCATE };

/* Step 3 of the scheme for punch and zero range over bytes [start, end). */
static int __pc_punch_locked(struct pc_mapping *m, uint64_t start, uint64_t end,
			     uint64_t first, uint64_t last_excl)
{
	uint64_t head_end = start;
	uint64_t tail_start = end & ~(uint64_t)(PC_PAGE_SIZE - 1);
	struct pc_page *head = NULL, *tail = NULL;
	uint64_t size = pc_mapping_size(m);
	int r;

	/* What can fail comes first, so that a failure changes nothing (G8). */
	if (start & (PC_PAGE_SIZE - 1)) {
		head_end = PC_MIN(end, (start | (PC_PAGE_SIZE - 1)) + 1);
		r = __pc_get_partial(m, start, &head);
		if (r < 0)
			return r;
	}
	if ((end & (PC_PAGE_SIZE - 1)) && tail_start >= head_end) {
		r = __pc_get_partial(m, tail_start, &tail);
		if (r < 0) {
			if (head)
				pc_page_release(head);
			return r;
		}
	}
	if (first < last_excl)
		__pc_remove_range(m, first, last_excl - 1);
	/* Bytes past EOF read as zero already; a page there was not taken. */
	__pc_zero_partial(m, head, start, PC_MIN(head_end, PC_MAX(size, start)));
	__pc_zero_partial(m, tail, tail_start, PC_MIN(end, PC_MAX(size, tail_start)));
	PC_INJECT("punch_before_free");
	if (first < last_excl)
		return m->backend->ops.free(m->backend->priv, m->obj, first << PC_PAGE_SHIFT,
					    (last_excl - first) << PC_PAGE_SHIFT);
	return 0;
}

/*
 * Step 3 for truncate to @size.  A shrink removes the pages past the new
 * EOF, and only then has the backend free their blocks; then it zeroes the
 * tail of the new last page in the cache and dirties it, so the zeros reach
 * the backend whatever it does with the tail of a block.  If the backend
 * fails, the old size comes back: the pages past the new EOF are gone
 * (their data was being truncated anyway), the backend still holds its
 * blocks, and the last page is untouched.
 */
static int __pc_truncate_locked(struct pc_mapping *m, uint64_t size)
{
	const struct pc_backend_ops *ops = &m->backend->ops;
	uint64_t old = pc_mapping_size(m);
	uint64_t first = (size + PC_PAGE_SIZE - 1) >> PC_PAGE_SHIFT;
	struct pc_page *tail = NULL;
	int r;

	if (size < old) {
		if (size & (PC_PAGE_SIZE - 1)) {
			r = __pc_get_partial(m, size, &tail);
			if (r < 0)
				return r;
		}
		/* Reads check the size after finding a page (filemap.c, inv. 3). */
		__atomic_store_n(&m->size, size, __ATOMIC_RELEASE);
		__pc_remove_range(m, first, UINT64_MAX);
	}
	PC_INJECT("truncate_before_free");
	r = ops->set_size(m->backend->priv, m->obj, size);
	if (r < 0) {
		if (size < old)
			__atomic_store_n(&m->size, old, __ATOMIC_RELEASE);
		if (tail)
			pc_page_release(tail);
		return r;
	}
	m->backend_size = size;
	/* Filemap.c, invariant 1: bytes past EOF in a cached page are zero. */
	__pc_zero_partial(m, tail, size, (size | (PC_PAGE_SIZE - 1)) + 1);
	if (size > old)
		__atomic_store_n(&m->size, size, __ATOMIC_RELEASE);
	return 0;
}

/*
 * Step 2 for a DAX mapping (dax.c, invariant 3): a busy entry is always
 * waited for, however often, since its block is the page.  Returns true if
 * one was found; with @nowait the caller answers -EBUSY, else the wait is
 * done here with every lock dropped.  Enters with the lock held exclusive
 * and, if it returns true, leaves with it dropped.
 */
static bool pc_invalidate_dax_busy(struct pc_mapping *m, uint64_t first, uint64_t last_excl,
				   bool nowait)
{
	uint64_t busy;

	if (first >= last_excl || !__pc_dax_find_busy(m, first, last_excl - 1, &busy))
		return false;
	pc_rwsem_up_write(&m->invalidate_lock);
	if (!nowait) {
		pc_stat_inc(m->cache, PC_STAT_DAX_BUSY_WAITS);
		PC_INJECT("dax_inval_before_wait");
		pc_dax_wait_idle(m, busy);
		pc_stat_inc(m->cache, PC_STAT_RETRIES);
	}
	return true;
}

static int pc_invalidate(struct pc_mapping *m, enum pc_inval_op op, uint64_t start,
			 uint64_t end, bool nowait)
{
	uint64_t first, last_excl;
	int r;

	r = pc_check_not_holding(m);
	if (r < 0)
		return r;
	if (op == PC_OP_TRUNCATE) {
		first = (start + PC_PAGE_SIZE - 1) >> PC_PAGE_SHIFT;
		last_excl = UINT64_MAX;
	} else {
		first = (start + PC_PAGE_SIZE - 1) >> PC_PAGE_SHIFT;
		last_excl = end >> PC_PAGE_SHIFT;
	}
	for (int tries = 0;; tries++) {
		struct pc_page *busy = NULL;

		pc_rwsem_down_write(&m->invalidate_lock);
		if (pc_mapping_is_dax(m)) {
			if (pc_invalidate_dax_busy(m, first, last_excl, nowait)) {
				if (nowait)
					return -EBUSY;
				continue;
			}
			if (op == PC_OP_TRUNCATE) {
				r = __pc_dax_truncate_locked(m, start);
			} else {
				r = __pc_dax_punch_locked(m, start, end, first, last_excl);
				if (r == 0 && op == PC_OP_ZERO) {
					r = __pc_dax_grow_backend(m, end);	/* dax.c, inv. 5 */
					if (r == 0)
						pc_mapping_grow_size(m, end);
				}
			}
			pc_rwsem_up_write(&m->invalidate_lock);
			break;
		}
		/*
		 * The way out after PC_INVAL_MAX_RETRIES (see the top) is not
		 * taken while a long-term range pin overlaps (pin.c).
		 */
		if (first < last_excl &&
		    (tries < PC_INVAL_MAX_RETRIES || nowait ||
		     pc_pins_overlap(m, first, last_excl - 1)))
			busy = __pc_walk_range(m, first, last_excl - 1, false);
		if (busy && nowait) {
			pc_rwsem_up_write(&m->invalidate_lock);
			pc_page_release(busy);
			return -EBUSY;
		}
		if (busy) {
#ifndef PC_MUTANT_PIN_WAIT_WITH_LOCK_HELD
			pc_rwsem_up_write(&m->invalidate_lock);
#endif
			pc_stat_inc(m->cache, PC_STAT_PIN_WAITS);
			PC_INJECT("inval_before_pin_wait");
			pc_page_wait_pins(busy, 2);
			pc_page_release(busy);
#ifdef PC_MUTANT_PIN_WAIT_WITH_LOCK_HELD
			pc_rwsem_up_write(&m->invalidate_lock);
#endif
			pc_stat_inc(m->cache, PC_STAT_RETRIES);
			continue;
		}
		if (op == PC_OP_TRUNCATE) {
			r = __pc_truncate_locked(m, start);
		} else {
			r = __pc_punch_locked(m, start, end, first, last_excl);
			if (r == 0 && op == PC_OP_ZERO)
				pc_mapping_grow_size(m, end);
		}
		pc_rwsem_up_write(&m->invalidate_lock);
		break;
	}
	if (r == 0)
		pc_stat_inc(m->cache, op == PC_OP_TRUNCATE ? PC_STAT_TRUNCATES : PC_STAT_PUNCHES);
	return r;
}

/* Arguments of pc_punch() and pc_zero_range(): 0, -EINVAL or -EFBIG. */
static int pc_check_punch(struct pc_mapping *m, uint64_t off, uint64_t len)
{
	uint64_t max = m ? m->backend->ops.max_size : 0;
	int r;

	if (!m)
		return -EINVAL;
	r = pc_check_range(off, len);
	if (r == 0 && max && off + len > max)
		r = -EFBIG;
	return r;
}

PC_API int pc_punch_flags(struct pc_mapping *m, uint64_t off, uint64_t len, unsigned flags)
{
	int r = pc_check_punch(m, off, len);

	if (r == 0 && (flags & ~PC_PUNCH_NOWAIT))
		r = -EINVAL;
	return r < 0 ? r : pc_invalidate(m, PC_OP_PUNCH, off, off + len, flags & PC_PUNCH_NOWAIT);
}

PC_API int pc_punch(struct pc_mapping *m, uint64_t off, uint64_t len)
{
	return pc_punch_flags(m, off, len, 0);
}

PC_API int pc_zero_range(struct pc_mapping *m, uint64_t off, uint64_t len)
{
	int r = pc_check_punch(m, off, len);

	return r < 0 ? r : pc_invalidate(m, PC_OP_ZERO, off, off + len, false);
}

PC_API int pc_truncate(struct pc_mapping *m, uint64_t size)
{
	uint64_t max;

	if (!m)
		return -EINVAL;
	if (size > PC_MAX_SIZE)
		return -EFBIG;
	max = m->backend->ops.max_size;
	if (max && size > max)
		return -EFBIG;
	return pc_invalidate(m, PC_OP_TRUNCATE, size, UINT64_MAX, false);
}

PC_API int pc_invalidate_range(struct pc_mapping *m, uint64_t off, uint64_t len)
{
	uint64_t first, last;

	if (!m || off > PC_MAX_SIZE)
		return -EINVAL;
	if (len && len > PC_MAX_SIZE - off)
		return -EFBIG;
	if (pc_rwsem_held(&m->invalidate_lock) != PC_LOCK_EXCL)
		return -EPERM;
	first = off >> PC_PAGE_SHIFT;
	last = len ? (off + len - 1) >> PC_PAGE_SHIFT : UINT64_MAX;
	/*
	 * No data may be lost: each page is written back if dirty and removed
	 * under one page-lock hold.  We cannot wait for pins with the engine's
	 * lock held; read pins keep their (old) memory, write pins keep their
	 * page in the cache and the call answers -EBUSY.  In DAX mode the
	 * entries cache block addresses that the engine is about to change:
	 * each is persisted and dropped, and a pinned one stays (-EBUSY).
	 */
	if (pc_mapping_is_dax(m))
		return __pc_dax_invalidate(m, first, last);
	return __pc_writeback_remove_range(m, first, last);
}
