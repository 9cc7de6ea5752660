/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internal calls between the fill paths (filemap.c), readahead.c,
 * writeback.c and truncate.c.  "__" means: the caller holds the
 * invalidate_lock (the mode is given for each); debug builds assert it.
 */
#ifndef PC_FILEMAP_H
#define PC_FILEMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "mapping.h"
#include "page.h"

/*
 * Create page @index of @m: allocated, locked and inserted, with a reference
 * for the caller besides the index's.  -EEXIST if the index holds a page
 * there already (nothing changed), -ENOMEM.  @nowait: the allocation does
 * not wait for reclaim (pc_cache_alloc_data()).  invalidate_lock held, any
 * mode.
 */
int __pc_add_page(struct pc_mapping *m, uint64_t index, bool nowait, struct pc_page **out);

/*
 * A waiting allocation (__pc_add_page() with !nowait) of a caller that
 * holds @m's invalidate_lock exclusive failed.  If @m has dirty pages, they
 * may be what fills the budget, and only this thread can write them:
 * reclaim leaves dirty pages to the flusher, and the flusher needs the lock
 * shared.  So write them back here, as the invalidation calls do for the
 * pages they drop; the caller then tries once more, and reclaim can evict
 * them (doc/locking.md, "A full budget under the exclusive invalidate_lock").
 * Returns true if it wrote, false if the caller does not hold the lock
 * exclusive or @m has nothing dirty.  Call with no page lock held: the
 * writeback locks pages, and wb_lock ranks below page locks.  Nobody else
 * holds @m's wb_lock (writeback needs the invalidate_lock this thread
 * holds).  A write error is recorded for the next pc_sync(), as the
 * flusher's is.
 */
bool __pc_locked_writeback(struct pc_mapping *m);

/*
 * Fill @n (at most PC_RA_MAX_PAGES) locked, not uptodate pages of @m, in
 * increasing index order (runs of consecutive indices, with gaps allowed):
 * map each run, zero holes and pages past EOF, read the mapped extents (all
 * of them in one readv call when the backend has one and there is more
 * than one page to read), zero the tail of the EOF page, and set
 * PG_UPTODATE on each page that is now complete.  A page left without it
 * failed; the caller removes it.  Returns 0, or the error of the failed
 * page with the lowest index.  @site names the injection point between
 * mapping and reading.  invalidate_lock held, any mode.
 */
int __pc_read_pages(struct pc_mapping *m, struct pc_page **pages, unsigned n, const char *site);

/*
 * The extent @ext that the backend gave for byte @off (page-aligned): the
 * number of pages from @off that it covers (at least 1), or 0 if it does
 * not cover @off (the backend answered for another range).
 */
static inline uint64_t pc_extent_pages(const struct pc_extent *ext, uint64_t off)
{
	if (ext->offset > off || ext->length == 0 || off - ext->offset >= ext->length)
		return 0;
	return PC_MAX((ext->length - (off - ext->offset)) >> PC_PAGE_SHIFT, 1);
}

/*
 * Page @index of @m, referenced and locked, created on a miss.  With @fill,
 * it is uptodate on return (read from the backend, or zeros for a hole or
 * past EOF).  Without, a new page is not uptodate and the caller must make
 * it so (a write of the whole page).  invalidate_lock held, any mode.
 */
int __pc_grab_page(struct pc_mapping *m, uint64_t index, bool fill, struct pc_page **out);

/* Write back dirty pages with index in [first, last]; invalidate_lock held, any mode. */
int __pc_writeback_range(struct pc_mapping *m, uint64_t first, uint64_t last);
/*
 * Write back and remove every page with index in [first, last], each under
 * one hold of its page lock; pages pinned for write stay (-EBUSY).
 * invalidate_lock held exclusive.
 */
int __pc_writeback_remove_range(struct pc_mapping *m, uint64_t first, uint64_t last);

/*
 * Remove every page with index in [first, last] from the index.  Pinned
 * pages leave it too; their holders keep valid memory until they put them.
 * invalidate_lock held exclusive.
 */
void __pc_remove_range(struct pc_mapping *m, uint64_t first, uint64_t last);

/*
 * Write back the whole mapping for pc_close() and report, errseq-style,
 * the error to return.  invalidate_lock held exclusive.
 */
int pc_writeback_close(struct pc_mapping *m);

/*
 * Take (and drop) the invalidate_lock shared for a fill, unless the caller
 * holds it already (@locked: PC_LOCKED).
 */
void pc_fill_lock(struct pc_mapping *m, bool locked);
/* The same if it can be had at once: true if taken (or @locked). */
bool pc_fill_trylock(struct pc_mapping *m, bool locked);
void pc_fill_unlock(struct pc_mapping *m, bool locked);
/* Debug builds: assert that a fill holds the invalidate_lock (any mode). */
void pc_assert_fill_locked(struct pc_mapping *m);

/* Validate a byte range: 0, or -EINVAL/-EFBIG (see pc_punch()). */
int pc_check_range(uint64_t off, uint64_t len);

/* Set the size to at least @end (writes, zero range). */
void pc_mapping_grow_size(struct pc_mapping *m, uint64_t end);

/*
 * 0 if this thread may take @m's invalidate_lock itself now, -EDEADLK if it
 * already holds it (the lock is not recursive).
 */
int pc_check_not_holding(struct pc_mapping *m);

#endif /* PC_FILEMAP_H */
