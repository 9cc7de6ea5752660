/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Switching a mapping between cached and DAX mode: pc_set_dax(), and the
 * cache hit path that must stay coherent with it without taking a lock.
 *
 * The problem (seeds/000, seeds/003): a fault that reads the mode, then
 * acts on it in several steps, breaks if the mode changes in between; and
 * cached pages left over from one mode are invisible (and their data lost)
 * in the other.  So (G4):
 *
 *  1. The mode (m->mode) changes only with the mmap lock and the
 *     invalidate_lock both held exclusive.  A pc_fault() slow path holds the
 *     mmap lock shared from before it reads the mode until its pin is
 *     taken; read, write, sync, readahead and invalidation read the mode
 *     under the invalidate_lock (shared or exclusive) they hold anyway.
 *     Either way the mode cannot change under them.
 *  2. The cached hit path takes neither rw lock (an RCU lookup and a
 *     speculative reference, pc_page_lookup_hit()).  It reads the mode
 *     inside its RCU read section and hits only if it says "cached, not
 *     switching".  pc_set_dax() first sets PC_MODE_SWITCHING, then waits
 *     for a grace period: every hit that read the mode before the flag has
 *     left its read section by then, holding its reference (which the
 *     switch then sees as a pin), and every later one sees the flag and
 *     takes the slow path, which blocks on the locks the switch holds.
 *  3. Pins are honoured: with the locks held, the switch looks for pins
 *     (a cached page with a reference beyond the index's, any DAX pin, any
 *     long-term range pin).  If there is one it answers -EBUSY, or, with
 *     PC_WAIT, drops every lock, waits for the pins to go, and starts over.
 *  4. Going to DAX, every dirty page is written back and every cached page
 *     removed before the mode changes, and the backend's size is raised to
 *     the mapping's (dax.c, invariant 5).  Going back, every dirty DAX entry
 *     is persisted and every entry dropped.  So each mode starts with the
 *     other mode's index empty, and the data is the backend's.
 *
 * State of m->mode:
 *	cached --pc_set_dax(on): SWITCHING, grace period, locks--> cached|SWITCHING
 *	cached|SWITCHING --no pins: write back, invalidate--> DAX
 *	cached|SWITCHING --pins (or a write error)--> cached
 *	and the same the other way round, from DAX.
 */
#include <errno.h>

#include <pagecache.h>

#include "dax.h"
#include "filemap.h"

struct pc_page *pc_page_lookup_hit(struct pc_mapping *m, uint64_t index)
{
	struct pc_page *p = NULL;

	pc_rcu_read_lock();
	/* Point 2: relaxed is enough, the grace period orders it with the flag. */
	if (pc_likely(__atomic_load_n(&m->mode, __ATOMIC_RELAXED) == 0))
		p = __pc_page_lookup_rcu(m, index);
	pc_rcu_read_unlock();
	return p;
}

/*
 * A page of @m with references beyond the index's, or NULL; the page comes
 * with our reference.  invalidate_lock held exclusive.
 */
static struct pc_page *__pc_find_pinned_page(struct pc_mapping *m)
{
	struct pc_page *batch[PC_PAGE_GANG_MAX];
	struct pc_page *busy = NULL;
	uint64_t first = 0;
	bool done = false;

	while (!done && !busy) {
		unsigned n = pc_page_gang_get(m, &first, UINT64_MAX, PC_MARK_NONE, batch,
					      PC_PAGE_GANG_MAX, &done);

		if (n == 0)
			break;
		for (unsigned i = 0; i < n; i++) {
			if (!busy && pc_page_refs(batch[i]) > 2)
				busy = batch[i];	/* the index's, ours, and a pin */
			else
				pc_page_release(batch[i]);
		}
	}
	return busy;
}

static void pc_mode_store(struct pc_mapping *m, unsigned mode)
{
	__atomic_store_n(&m->mode, mode, __ATOMIC_RELEASE);
}

PC_API int pc_set_dax(struct pc_mapping *m, bool on, unsigned flags)
{
	int r;

	if (!m || (flags & ~PC_WAIT))
		return -EINVAL;
	if (on && !m->backend->ops.direct_access)
		return -EOPNOTSUPP;
	r = pc_check_not_holding(m);
	if (r < 0)
		return r;
	for (;;) {
		struct pc_page *busy = NULL;
		unsigned mode;
		bool pinned;

		pc_rwsem_down_write(&m->mmap_lock);
		mode = __atomic_load_n(&m->mode, __ATOMIC_RELAXED);
		if (!!(mode & PC_MODE_DAX) == on) {
			pc_rwsem_up_write(&m->mmap_lock);
			return 0;
		}
		pc_mode_store(m, mode | PC_MODE_SWITCHING);
		pc_synchronize_rcu();	/* point 2 */
		pc_rwsem_down_write(&m->invalidate_lock);
		if (mode & PC_MODE_DAX)
			pinned = __atomic_load_n(&m->dax_pins, __ATOMIC_SEQ_CST) != 0;
		else
			pinned = (busy = __pc_find_pinned_page(m)) != NULL;
		if (pinned) {
			pc_mode_store(m, mode);
			pc_rwsem_up_write(&m->invalidate_lock);
			pc_rwsem_up_write(&m->mmap_lock);
			if (!(flags & PC_WAIT)) {
				if (busy)
					pc_page_release(busy);
				return -EBUSY;
			}
			/* Point 3: wait with no lock held; a holder may fault meanwhile. */
			pc_stat_inc(m->cache, PC_STAT_PIN_WAITS);
			if (busy) {
				pc_page_wait_pins(busy, 2);
				pc_page_release(busy);
			} else {
				pc_dax_wait_no_pins(m);
			}
			continue;
		}
		if (on) {
			/* Point 4: the writeback raises the backend's size to ours first. */
			r = __pc_writeback_remove_range(m, 0, UINT64_MAX);
			if (r == 0)
				r = __pc_dax_grow_backend(m, pc_mapping_size(m));
		} else {
			r = __pc_dax_invalidate(m, 0, UINT64_MAX);
		}
		pc_mode_store(m, r == 0 ? (on ? PC_MODE_DAX : 0) : mode);
		pc_rwsem_up_write(&m->invalidate_lock);
		pc_rwsem_up_write(&m->mmap_lock);
		if (r == 0)
			pc_stat_inc(m->cache, PC_STAT_MODE_SWITCHES);
		return r;
	}
}

PC_API int pc_get_dax(struct pc_mapping *m)
{
	if (!m)
		return -EINVAL;
	return (__atomic_load_n(&m->mode, __ATOMIC_ACQUIRE) & PC_MODE_DAX) ? 1 : 0;
}
