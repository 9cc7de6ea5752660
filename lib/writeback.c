/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writeback: dirty pages to the backend (pc_sync(), and before pages are
 * dropped by pc_invalidate_range() and pc_close()).
 *
 * Writeback looks up and allocates block mappings, so it is a fill path in
 * the sense of G2 and runs under the invalidate_lock (shared from pc_sync(),
 * exclusive from the invalidation calls).  A punch therefore never runs
 * while a page is being written, and a dirty page in a punched range is
 * dropped, never written into freed blocks (G6).
 *
 * Per page, under the page lock:
 *   dirty --clear PG_DIRTY, set PG_WRITEBACK--> being written
 *   being written --write ok--> clean   (or dirty again, see below)
 *   being written --write error--> dirty (the error is returned)
 * A page pinned for write (PG_WRMAPPED) may be stored into through the pin
 * while it is written, so while such a pin is held the page stays dirty and
 * the next pc_sync() writes it again.
 *
 * __pc_writeback_remove_range() is the same walk for pc_invalidate_range():
 * each page is written if dirty and removed under one hold of its page
 * lock, so a store that dirties it in between cannot be lost; a page pinned
 * for write is left in place (-EBUSY), since stores through the pin after
 * its removal would go nowhere.
 *
 * This is the simple writer of the core issue: one page per backend write,
 * no background flushing and no errseq; the writeback issue replaces it.
 * wb_lock serialises writers of one mapping so that the backend size is
 * raised once before any block past it is allocated.
 */
#include <errno.h>
#include <stdbool.h>

#include <pagecache.h>

#include "filemap.h"
#include "inject.h"

/* Write one locked dirty page.  Returns 0 or the backend's error. */
static int __pc_writepage(struct pc_mapping *m, struct pc_page *p)
{
	const struct pc_backend_ops *ops = &m->backend->ops;
	uint64_t off = p->index << PC_PAGE_SHIFT;
	struct pc_extent ext;
	bool wrmapped, pinned;
	int r;

	/*
	 * A write pin may store into the page while we copy it.  Take the
	 * PG_WRMAPPED flag and look at the pins before the copy and again
	 * after: a pin seen either time may have stored during the copy, so
	 * the page stays dirty.  This pairs with pc_fault_dirty(), which takes
	 * its reference before it sets the flag: either we see the flag, or
	 * we see the reference (both sides are sequentially consistent).
	 */
	__pc_page_clear_dirty(m, p);
	wrmapped = __atomic_fetch_and(&p->flags, ~PG_WRMAPPED, __ATOMIC_SEQ_CST) & PG_WRMAPPED;
	pinned = pc_page_refs(p) > 2;	/* the index and we hold two; more are pins */
	pc_page_set_flag(p, PG_WRITEBACK);
	r = ops->alloc(m->backend->priv, m->obj, off, PC_PAGE_SIZE, &ext);
	if (r == 0 && (ext.type == PC_EXTENT_HOLE || ext.offset > off ||
		       off - ext.offset >= ext.length))
		r = -EIO;	/* the backend did not allocate what we asked */
	PC_INJECT("writeback_after_alloc");
	if (r == 0)
		r = ops->write(m->backend->priv, m->obj, ext.addr + (off - ext.offset), p->data,
			       PC_PAGE_SIZE);
	pc_page_clear_flag(p, PG_WRITEBACK);
	if (wrmapped && pc_page_refs(p) > 2)
		pc_page_set_flag(p, PG_WRMAPPED);	/* the pin is still there */
	if (r < 0) {
		pc_stat_inc(m->cache, PC_STAT_WRITE_ERRORS);
		__pc_page_set_dirty(m, p);
		return r;
	}
	pc_stat_inc(m->cache, PC_STAT_WRITEBACKS);
	if (wrmapped && (pinned || pc_page_refs(p) > 2))
		__pc_page_set_dirty(m, p);
	return 0;
}

/*
 * Lock wb_lock and make sure the backend knows the size before blocks are
 * allocated past it.  Writeback only ever grows the backend's size: a
 * shrink is truncate's, under the exclusive lock.
 */
static int __pc_writeback_begin(struct pc_mapping *m)
{
	const struct pc_backend_ops *ops = &m->backend->ops;
	uint64_t size;
	int r;

	pthread_mutex_lock(&m->wb_lock);
	pc_lockdep_acquire(&m->wb_lock, PC_LC_WRITEBACK, PC_LOCK_EXCL, "wb_lock");
	size = pc_mapping_size(m);
	if (size > m->backend_size) {
		r = ops->set_size(m->backend->priv, m->obj, size);
		if (r < 0)
			return r;
		m->backend_size = size;
	}
	return 0;
}

/* Make what was written durable, and unlock wb_lock.  Returns @err, or flush's error. */
static int __pc_writeback_end(struct pc_mapping *m, int err)
{
	const struct pc_backend_ops *ops = &m->backend->ops;

	if (ops->flush) {
		int r = ops->flush(m->backend->priv, m->obj);

		if (r < 0 && !err)
			err = r;
	}
	pc_lockdep_release(&m->wb_lock);
	pthread_mutex_unlock(&m->wb_lock);
	return err;
}

int __pc_writeback_range(struct pc_mapping *m, uint64_t first, uint64_t last)
{
	struct pc_page *batch[PC_PAGE_GANG_MAX];
	bool done = false;
	int err, r;

	pc_assert_invalidate_held(m, PC_LOCK_ANY);
	err = __pc_writeback_begin(m);
	while (!err && !done) {
		unsigned n = pc_page_gang_get(m, &first, last, PC_MARK_DIRTY, batch,
					      PC_PAGE_GANG_MAX, &done);

		for (unsigned i = 0; i < n; i++) {
			struct pc_page *p = batch[i];

			pc_page_lock(p);
			if (pc_page_test(p, PG_DIRTY) && !pc_page_test(p, PG_REMOVED)) {
				r = __pc_writepage(m, p);
				if (r < 0 && !err)
					err = r;
			}
			pc_page_unlock(p);
			pc_page_release(p);
		}
	}
	return __pc_writeback_end(m, err);
}

int __pc_writeback_remove_range(struct pc_mapping *m, uint64_t first, uint64_t last)
{
	struct pc_page *batch[PC_PAGE_GANG_MAX];
	bool done = false, busy = false;
	int err, r;

	pc_assert_invalidate_held(m, PC_LOCK_EXCL);
	err = __pc_writeback_begin(m);
	while (!err && !done) {
		unsigned n = pc_page_gang_get(m, &first, last, PC_MARK_NONE, batch,
					      PC_PAGE_GANG_MAX, &done);

		for (unsigned i = 0; i < n; i++) {
			struct pc_page *p = batch[i];

			pc_page_lock(p);
			if (pc_page_test(p, PG_REMOVED)) {
				/* gone already */
			} else if (pc_page_test(p, PG_WRMAPPED) && pc_page_refs(p) > 2) {
				/* Stores through a write pin would be lost: keep it. */
				busy = true;
			} else {
				r = pc_page_test(p, PG_DIRTY) ? __pc_writepage(m, p) : 0;
				if (r == 0)
					__pc_page_remove(m, p);
				else if (!err)
					err = r;
			}
			pc_page_unlock(p);
			pc_page_release(p);
		}
	}
	err = __pc_writeback_end(m, err);
	return err ? err : busy ? -EBUSY : 0;
}

PC_API int pc_sync(struct pc_mapping *m, uint64_t off, uint64_t len)
{
	uint64_t last;
	int r;

	if (!m || off > PC_MAX_SIZE)
		return -EINVAL;
	if (len == 0)
		last = UINT64_MAX;
	else if (len > PC_MAX_SIZE - off)
		return -EFBIG;
	else
		last = (off + len - 1) >> PC_PAGE_SHIFT;
	r = pc_check_not_holding(m);
	if (r < 0)
		return r;
	pc_rwsem_down_read(&m->invalidate_lock);
	r = __pc_writeback_range(m, off >> PC_PAGE_SHIFT, last);
	pc_rwsem_up_read(&m->invalidate_lock);
	return r;
}
