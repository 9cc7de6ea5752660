/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Mappings: pc_open(), pc_close(), pc_size() and the locks an engine uses.
 *
 * This file owns the outermost lock of the library, so the lock-ordering
 * tree lives here.  Each edge names a function that creates it.
 *
 *   engine's own locks
 *     -> mmap_lock (shared)                   pc_fault() slow path, from reading the
 *                                             mode until the pin is taken (G4)
 *        -> invalidate_lock (shared)          pc_fault() slow path
 *     -> mmap_lock (exclusive)                pc_set_dax() (mode.c)
 *        -> invalidate_lock (exclusive)       pc_set_dax(), after synchronize_rcu()
 *                                             (lock-free hits step aside: mode.c)
 *   invalidate_lock (any mode), DAX mode      faults, reads, writes, sync, punch (dax.c)
 *     -> wb_lock                              __pc_dax_grow_backend()
 *     -> DAX entry lock (PC_LC_PAGE)          dax_lock_entry(): one at a time
 *        -> backend ops                       dax_resolve(), dax_persist_run()
 *        -> index lock of m->dax              dax_lock_entry(), dax_unlock_entry()
 *           -> DAX wait bucket (leaf)         __dax_wait(), dax_wake()
 *   any lock -> index lock of m->dax          pc_dax_page_put() (a DAX pin's put)
 *   pins_lock (leaf)                          pc_pin_range(), pc_pins_overlap()
 *   invalidate_lock (shared)                  pc_read() miss, pc_write(), pc_sync(),
 *                                             pc_readahead(); the flusher, by trylock
 *   invalidate_lock (exclusive)               pc_punch(), pc_zero_range(),
 *                                             pc_truncate(), pc_close(), and the engine
 *                                             around pc_invalidate_range()
 *     -> invalidate_lock of a second mapping  pc_invalidate_lock_two(), lower
 *                                             address first (G7)
 *     -> wb_lock                              __pc_writeback_begin()
 *        -> page lock                         __pc_writeback_batch(): the first page
 *                                             of a run; the rest by trylock
 *     -> page lock                            __pc_grab_page(), __pc_walk_range(),
 *                                             __pc_zero_partial()
 *     -> page locks of a readahead window      __pc_readahead_pages(): new pages only,
 *                                             that no one else can lock before they
 *                                             are uptodate (readahead.c)
 *        -> reclaim_lock                      pc_page_alloc() -> pc_cache_reclaim()
 *           -> page lock of a victim          by trylock only (pc_reclaim_scan())
 *           -> index lock                     __pc_page_try_evict()
 *           -> mappings_lock                  pc_reclaim_next_mapping()
 *        -> index lock                        __pc_index_insert() in __pc_grab_page(),
 *                                             __pc_page_set_dirty(), __pc_page_remove()
 *           -> mappings_lock                  pc_flusher_kick() from the dirty count
 *        -> backend ops (their own leaf locks) fills, __pc_writeback_batch()
 *           -> cache pool_lock               pc_page_alloc(), pc_page_release()
 *   reclaim_lock -> mappings_lock             pc_close(): pc_cache_unlink()
 *
 * Never held while waiting for pins: any of the above (pc_page_wait_pins(),
 * pc_dax_wait_idle() and pc_dax_wait_no_pins() assert it).  A page lock is waited for only while no other page lock is
 * held; a second one is only ever trylocked.  The index lock is never held
 * across a call out of index.c or page.c.  Reclaim waits for the flusher with
 * reclaim_lock dropped, for a bounded time, and the flusher takes an
 * invalidate_lock only by trylock: so a thread that holds an invalidate_lock
 * while it allocates cannot deadlock with the flusher.
 * Cache hits take RCU only: pc_page_lookup().  A pc_read() hit on a readahead
 * trigger takes the invalidate_lock shared by trylock only (pc_ra_async()).
 * Readahead allocates the pages past the reader's with no reclaim wait, so a
 * window's locked pages are never held across a wait for the flusher.
 *
 * lockdep.h gives the classes their numbers; -Ddebug_locks=true checks every
 * acquisition against this order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <pagecache.h>

#include "dax.h"
#include "filemap.h"

static void pc_mapping_free(struct pc_mapping *m)
{
	pc_index_destroy(&m->pages);
	pc_index_destroy(&m->dax);
	pthread_mutex_destroy(&m->pins_lock);
	pc_rwsem_destroy(&m->mmap_lock);
	pc_rwsem_destroy(&m->invalidate_lock);
	pthread_mutex_destroy(&m->wb_lock);
	free(m->name);
	free(m);
}

PC_API int pc_open(struct pc_mapping **out, struct pc_cache *c, struct pc_backend *b,
		   const char *name, unsigned flags)
{
	struct pc_mapping *m;
	uint64_t size;
	int r;

	if (!out || !c || !b || pc_backend_check_name(name) ||
	    (flags & ~(PC_CREAT | PC_EXCL | PC_TRUNC | PC_DAX)))
		return -EINVAL;
	if ((flags & PC_DAX) && !b->ops.direct_access)
		return -EOPNOTSUPP;
	pc_rcu_register();
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->name = strdup(name);
	if (!m->name) {
		free(m);
		return -ENOMEM;
	}
	m->cache = c;
	m->backend = b;
	pc_index_init(&m->pages);
	pc_index_init(&m->dax);
	pthread_mutex_init(&m->pins_lock, NULL);
	m->mode = (flags & PC_DAX) ? PC_MODE_DAX : 0;
	pthread_mutex_init(&m->wb_lock, NULL);
	r = pc_rwsem_init(&m->mmap_lock, PC_LC_MMAP, "mmap_lock");
	if (r == 0) {
		r = pc_rwsem_init(&m->invalidate_lock, PC_LC_INVALIDATE, "invalidate_lock");
		if (r < 0)
			pc_rwsem_destroy(&m->mmap_lock);
	}
	if (r < 0) {
		pc_index_destroy(&m->pages);
		pc_index_destroy(&m->dax);
		pthread_mutex_destroy(&m->pins_lock);
		pthread_mutex_destroy(&m->wb_lock);
		free(m->name);
		free(m);
		return r;
	}
	r = pc_backend_attach(b, m, flags & ~PC_DAX);	/* PC_DAX is ours, not the backend's */
	if (r < 0) {
		pc_mapping_free(m);
		return r;
	}
	r = b->ops.get_size(b->priv, m->obj, &size);
	if (r < 0) {
		pc_backend_detach(b, m);
		pc_mapping_free(m);
		return r;
	}
	m->size = size;
	m->backend_size = size;
	/* On the cache's list, for the flusher and reclaim; the first starts the flusher. */
	pthread_mutex_lock(&c->mappings_lock);
	r = __pc_flusher_start(c);
	if (r == 0) {
		m->cache_next = c->mapping_list;
		if (m->cache_next)
			m->cache_next->cache_prev = m;
		c->mapping_list = m;
	}
	pthread_mutex_unlock(&c->mappings_lock);
	if (r < 0) {
		pc_backend_detach(b, m);
		pc_mapping_free(m);
		return r;
	}
	*out = m;
	return 0;
}

/*
 * Take @m off its cache's list, so that neither the flusher nor reclaim
 * starts on it again, and wait for them to let go of it.  No lock held.
 */
static void pc_cache_unlink(struct pc_mapping *m)
{
	struct pc_cache *c = m->cache;

	/* reclaim_lock first: no scan is running, so its hand can be moved. */
	pthread_mutex_lock(&c->reclaim_lock);
	pc_lockdep_acquire(&c->reclaim_lock, PC_LC_RECLAIM, PC_LOCK_EXCL, "reclaim_lock");
	pthread_mutex_lock(&c->mappings_lock);
	if (m->cache_prev)
		m->cache_prev->cache_next = m->cache_next;
	else
		c->mapping_list = m->cache_next;
	if (m->cache_next)
		m->cache_next->cache_prev = m->cache_prev;
	m->cache_next = m->cache_prev = NULL;
	__pc_reclaim_forget(c, m);
	pc_lockdep_release(&c->reclaim_lock);
	pthread_mutex_unlock(&c->reclaim_lock);
	while (m->users)
		pthread_cond_wait(&c->mappings_cond, &c->mappings_lock);
	pthread_mutex_unlock(&c->mappings_lock);
}

PC_API int pc_close(struct pc_mapping **mp)
{
	struct pc_mapping *m;
	int r;

	if (!mp || !*mp)
		return -EINVAL;
	m = *mp;
	r = pc_check_not_holding(m);
	if (r < 0)
		return r;
	/* DAX pins point into the object's storage; range pins are records on @m. */
	if (__atomic_load_n(&m->dax_pins, __ATOMIC_SEQ_CST) || pc_pins_any(m))
		return -EBUSY;
	pc_cache_unlink(m);
	pc_rwsem_down_write(&m->invalidate_lock);
	if (pc_mapping_is_dax(m))
		r = __pc_dax_invalidate(m, 0, UINT64_MAX);
	else
		r = pc_writeback_close(m);
	/*
	 * Whatever writeback could not write is lost now, as @r says.  Pinned
	 * pages leave the index too and stay valid until put; they refer to
	 * the cache, not to @m (page.h, invariant 6).
	 */
	__pc_remove_range(m, 0, UINT64_MAX);
	pc_rwsem_up_write(&m->invalidate_lock);
	pc_backend_detach(m->backend, m);
	pc_mapping_free(m);
	*mp = NULL;
	return r;
}

PC_API int pc_size(struct pc_mapping *m, uint64_t *size)
{
	if (!m || !size)
		return -EINVAL;
	*size = pc_mapping_size(m);
	return 0;
}

PC_API void pc_invalidate_lock(struct pc_mapping *m)
{
	pc_rwsem_down_write(&m->invalidate_lock);
}

PC_API void pc_invalidate_unlock(struct pc_mapping *m)
{
	pc_rwsem_up_write(&m->invalidate_lock);
}

PC_API void pc_invalidate_lock_shared(struct pc_mapping *m)
{
	pc_rwsem_down_read(&m->invalidate_lock);
}

PC_API void pc_invalidate_unlock_shared(struct pc_mapping *m)
{
	pc_rwsem_up_read(&m->invalidate_lock);
}

PC_API void pc_invalidate_lock_two(struct pc_mapping *a, struct pc_mapping *b)
{
	if (a == b) {
		pc_invalidate_lock(a);
		return;
	}
	if ((uintptr_t)a > (uintptr_t)b) {
		struct pc_mapping *t = a;

		a = b;
		b = t;
	}
	pc_invalidate_lock(a);
	pc_invalidate_lock(b);
}

PC_API void pc_invalidate_unlock_two(struct pc_mapping *a, struct pc_mapping *b)
{
	pc_invalidate_unlock(a);
	if (a != b)
		pc_invalidate_unlock(b);
}
