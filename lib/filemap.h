/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internal calls between the fill paths (filemap.c), writeback.c and
 * truncate.c.  "__" means: the caller holds the invalidate_lock (the mode
 * is given for each); debug builds assert it.
 */
#ifndef PC_FILEMAP_H
#define PC_FILEMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "mapping.h"
#include "page.h"

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
