/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * DAX mappings: internal calls between dax.c, filemap.c, truncate.c,
 * writeback.c, mapping.c and mode.c.  The design is at the top of dax.c;
 * the mode switch is in mode.c, long-term range pins in pin.c.
 *
 * "__" means the caller holds the invalidate_lock (the mode is given for
 * each); debug builds assert it.
 */
#ifndef PC_DAX_H
#define PC_DAX_H

#include <stdbool.h>
#include <stdint.h>

#include "mapping.h"
#include "page.h"

/* m->mode bits (mapping.h says who writes them). */
#define PC_MODE_DAX		1u	/* faults and I/O go to the backend's storage */
#define PC_MODE_SWITCHING	2u	/* pc_set_dax() runs: lock-free hits step aside */

/* The mode, for a caller that holds the mmap lock or the invalidate_lock (any mode). */
static inline bool pc_mapping_is_dax(const struct pc_mapping *m)
{
	return (__atomic_load_n(&m->mode, __ATOMIC_ACQUIRE) & PC_MODE_DAX) != 0;
}

/*
 * The cache hit path: page @index of @m with a reference, or NULL if it is
 * not cached, or the mapping is not in cached mode, or a mode switch is
 * under way (the caller then takes its slow path, under the locks).  No
 * lock needed; RCU is taken here.  See mode.c for why this is coherent
 * with pc_set_dax().
 */
struct pc_page *pc_page_lookup_hit(struct pc_mapping *m, uint64_t index);

/*
 * A DAX fault of page @index: a pinned pc_page whose data points into the
 * backend's storage (or the shared zero page, for a read of a hole).  With
 * @write the entry is allocated if need be and marked dirty.  @nowait:
 * -EAGAIN instead of waiting for a locked entry.  The caller checked that
 * @index is below EOF.  invalidate_lock held, any mode; for pc_fault() the
 * mmap lock shared too.
 */
int __pc_dax_fault(struct pc_mapping *m, uint64_t index, bool write, bool nowait,
		   struct pc_page **out);
/* Drop a DAX pin (pc_page_put() of a PG_DAX page).  Any lock may be held. */
void pc_dax_page_put(struct pc_page *p);

/*
 * pc_read() on a DAX mapping: copy up to @len bytes at @off from storage
 * (zeros for holes) into @buf, page by page under each entry's lock, and
 * stop at EOF.  No pin is taken: the copy is done while the entry is
 * locked.  @nowait: stop at a locked entry (-EAGAIN if nothing was
 * copied).  Returns bytes (0 at EOF) or -errno.  invalidate_lock held.
 */
ssize_t __pc_dax_read(struct pc_mapping *m, void *buf, size_t len, uint64_t off, bool nowait);
/* Where pc_read() wants a DAX copy to go (filemap.c). */
struct pc_dax_read {
	void *dst;
	size_t len;
	uint64_t off;
	ssize_t got;
};

/*
 * pc_write() on a DAX mapping: copy @len bytes from @buf to storage at @off,
 * allocating blocks, and mark the entries dirty.  Returns bytes or -errno.
 * invalidate_lock held, any mode.
 */
ssize_t __pc_dax_write(struct pc_mapping *m, const void *buf, size_t len, uint64_t off);

/*
 * Persist the dirty entries with index in [first, last] and clear their
 * marks (an entry that is pinned keeps its mark: stores may still come
 * through the pin).  Returns the first error.  invalidate_lock held, any
 * mode.
 */
int __pc_dax_sync(struct pc_mapping *m, uint64_t first, uint64_t last);

/*
 * The first busy (pinned or locked) entry with index in [first, last]:
 * true and its index in *@busy, or false.  invalidate_lock held exclusive.
 */
bool __pc_dax_find_busy(struct pc_mapping *m, uint64_t first, uint64_t last, uint64_t *busy);
/* Wait, with no lock held, until entry @index is neither pinned nor locked. */
void pc_dax_wait_idle(struct pc_mapping *m, uint64_t index);
/* Wait, with no lock held, until @m has no DAX pin at all. */
void pc_dax_wait_no_pins(struct pc_mapping *m);

/*
 * Step 3 of a punch or zero range over bytes [start, end) of a DAX mapping
 * whose whole pages [first, last_excl) hold no busy entry: erase their
 * entries, zero the partial pages in storage, and have the backend free
 * the blocks.  invalidate_lock held exclusive.
 */
int __pc_dax_punch_locked(struct pc_mapping *m, uint64_t start, uint64_t end, uint64_t first,
			  uint64_t last_excl);
/* Step 3 of a truncate to @size of a DAX mapping.  invalidate_lock exclusive. */
int __pc_dax_truncate_locked(struct pc_mapping *m, uint64_t size);
/*
 * Persist and forget the entries with index in [first, last]: pinned ones
 * stay (-EBUSY).  For pc_invalidate_range(), pc_close() and the switch to
 * cached mode.  invalidate_lock held exclusive.
 */
int __pc_dax_invalidate(struct pc_mapping *m, uint64_t first, uint64_t last);
/* Raise the backend's size to at least @end (wb_lock inside).  invalidate_lock held. */
int __pc_dax_grow_backend(struct pc_mapping *m, uint64_t end);

/* Long-term range pins (pin.c): do any overlap pages [first, last]? */
bool pc_pins_overlap(struct pc_mapping *m, uint64_t first, uint64_t last);
/* Free the range pin records of a mapping being destroyed (there are none if closed cleanly). */
bool pc_pins_any(struct pc_mapping *m);

#endif /* PC_DAX_H */
