/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writeback: dirty pages to the backend, from pc_sync(), from the
 * invalidation calls before pages are dropped, from pc_close(), and from
 * the cache's flusher thread in the background.
 *
 * Writeback looks up and allocates block mappings, so it is a fill path in
 * the sense of G2 and runs under the invalidate_lock (shared from pc_sync()
 * and the flusher, exclusive from the invalidation calls).  A punch
 * therefore waits for writeback in flight in its range, and a dirty page in
 * a punched range is dropped, never written into freed blocks (G6).
 * wb_lock serialises the writers of one mapping: a pc_sync() waits for the
 * flusher's writeback in flight, and the backend size is raised once before
 * any block past it is allocated.
 *
 * Runs.  Dirty pages come from the index's dirty mark in index order.  The
 * first page of a run is locked (waiting); the following ones join it while
 * they are the next index, dirty, and can be locked at once (a trylock, so
 * that page locks are still only ever waited for one at a time).  The run
 * is allocated with one alloc call per extent the backend gives back, and
 * written with one vectored I/O per extent, all of the run's extents in one
 * writev call when the backend has it (io_uring for the file backend), or
 * page by page with write otherwise.
 *
 * Per page, under its page lock:
 *   dirty --clear PG_DIRTY, set PG_WRITEBACK--> being written
 *   being written --write ok--> clean   (or dirty again, see below)
 *   being written --write error--> dirty, and the error is recorded
 * A page pinned for write (PG_WRMAPPED) may be stored into while it is
 * written, so if such a pin is seen before or after the copy, the page is
 * dirty again afterwards (see pc_wb_page_begin()).
 *
 * Errors, as errseq_t.  Every failed write is recorded on the mapping with a
 * new sequence number (pc_wb_record_error()).  pc_sync() returns its own
 * first error, or else the newest error recorded since the last one it or
 * pc_close() reported, and reports each error once.  A page whose write
 * failed stays dirty, so the data is written by a later pc_sync() once the
 * backend recovers, or is lost at pc_close() with the error returned.
 *
 * The flusher.  One thread per cache, started with the first mapping.  It
 * wakes every dirty_expire/2 (and when kicked: the dirty pages of the cache
 * passed dirty_limit, or reclaim needs clean pages), and writes back every
 * mapping whose dirty pages are older than dirty_expire, or all of them if
 * kicked or over the limit.  It takes a mapping's invalidate_lock only if it
 * can have it at once: a mapping being punched or held by its engine is
 * left for the next pass, so the flusher never waits behind an engine that
 * may be waiting for it (reclaim).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>

#include <pagecache.h>

#include "dax.h"
#include "filemap.h"
#include "inject.h"

#define PC_WB_RUN_MAX 64	/* pages in one run: 256 KiB */

uint64_t pc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pc_wb_record_error(struct pc_mapping *m, int err)
{
	__atomic_store_n(&m->wb_err, err, __ATOMIC_RELAXED);
	/* Release: the error is there before the new sequence number. */
	__atomic_fetch_add(&m->wb_err_seq, 1, __ATOMIC_RELEASE);
	pc_stat_inc(m->cache, PC_STAT_WRITE_ERRORS);
}

/*
 * The newest error not reported yet, or 0; it is reported now.  A caller
 * that met its own error @err reports that, and marks the newest as seen.
 */
static int pc_wb_report_error(struct pc_mapping *m, int err)
{
	uint32_t seen = __atomic_load_n(&m->wb_err_reported, __ATOMIC_RELAXED);
	uint32_t seq = __atomic_load_n(&m->wb_err_seq, __ATOMIC_ACQUIRE);

	while (seen != seq) {
		if (__atomic_compare_exchange_n(&m->wb_err_reported, &seen, seq, false,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return err ? err : __atomic_load_n(&m->wb_err, __ATOMIC_RELAXED);
	}
	return err;
}

/* A page of a run being written. */
struct pc_wb_page {
	struct pc_page *page;
	bool wrmapped;		/* PG_WRMAPPED was set when we took it */
	bool pinned;		/* it had holders besides the index and us */
	int result;
};

/*
 * Take a locked dirty page into the run.  A write pin may store into the
 * page while we copy it: take the PG_WRMAPPED flag and look at the pins now
 * and again after the copy (pc_wb_page_end()); a pin seen either time may
 * have stored during the copy, so the page stays dirty.  This pairs with
 * pc_fault_dirty() (filemap.c), which takes its reference before it sets
 * the flag: either we see the flag, or we see the reference (both sides are
 * sequentially consistent read-modify-writes and loads).
 */
static void pc_wb_page_begin(struct pc_mapping *m, struct pc_wb_page *w, struct pc_page *p)
{
	w->page = p;
	__pc_page_clear_dirty(m, p);
	w->wrmapped = __atomic_fetch_and(&p->flags, ~PG_WRMAPPED, __ATOMIC_SEQ_CST) &
		      PG_WRMAPPED;
	w->pinned = pc_page_refs(p) > 2;	/* the index and we hold two; more are pins */
	w->result = 0;
	__pc_page_start_writeback(m, p);
}

/* The write of @w is over: settle the page's state.  Unlocks and releases it. */
static void pc_wb_page_end(struct pc_mapping *m, struct pc_wb_page *w)
{
	struct pc_page *p = w->page;
	bool pinned_now = pc_page_refs(p) > 2;

	__pc_page_end_writeback(m, p);
	if (w->wrmapped && pinned_now)
		pc_page_set_flag(p, PG_WRMAPPED);	/* the pin is still there */
	if (w->result < 0) {
		pc_wb_record_error(m, w->result);
		__pc_page_set_dirty(m, p);
	} else {
		pc_stat_inc(m->cache, PC_STAT_WRITEBACKS);
		if (w->wrmapped && (w->pinned || pinned_now))
			__pc_page_set_dirty(m, p);
	}
	pc_page_unlock(p);
	pc_page_release(p);
}

/*
 * Write the @n pages of @run (consecutive indices, locked, PG_WRITEBACK):
 * allocate, then one vectored I/O per extent.  Each page gets its result.
 */
static void pc_wb_write_run(struct pc_mapping *m, struct pc_wb_page *run, unsigned n)
{
	const struct pc_backend_ops *ops = &m->backend->ops;
	void *priv = m->backend->priv;
	struct iovec iov[PC_WB_RUN_MAX];
	struct pc_io io[PC_WB_RUN_MAX];
	unsigned first_of[PC_WB_RUN_MAX];	/* the run index each I/O starts at */
	uint64_t start = run[0].page->index << PC_PAGE_SHIFT;
	unsigned done = 0, nio = 0;
	int r = 0;

	for (unsigned i = 0; i < n; i++) {
		iov[i].iov_base = run[i].page->data;
		iov[i].iov_len = PC_PAGE_SIZE;
	}
	/*
	 * A page dirtied since __pc_writeback_begin() may lie past the size
	 * the backend was told then; a dirty page lies within our size
	 * (pc_write() grows it first), so raising the backend to that covers
	 * it.  Otherwise the backend could answer a hole there later.
	 */
	if ((run[n - 1].page->index << PC_PAGE_SHIFT) >= m->backend_size) {
		uint64_t size = pc_mapping_size(m);

		r = ops->set_size(priv, m->obj, size);
		if (r < 0) {
			for (unsigned i = 0; i < n; i++)
				run[i].result = r;
			return;
		}
		m->backend_size = size;
	}
	while (done < n) {
		uint64_t off = start + ((uint64_t)done << PC_PAGE_SHIFT);
		struct pc_extent ext;
		unsigned cnt;

		r = ops->alloc(priv, m->obj, off, (uint64_t)(n - done) << PC_PAGE_SHIFT, &ext);
		if (r == 0 && (ext.type == PC_EXTENT_HOLE || ext.offset > off ||
			       off - ext.offset >= ext.length))
			r = -EIO;	/* the backend did not allocate what we asked */
		if (r < 0)
			break;
		cnt = (unsigned)PC_MIN((uint64_t)(n - done),
				       (ext.offset + ext.length - off) >> PC_PAGE_SHIFT);
		if (!cnt)
			cnt = 1;
		io[nio] = (struct pc_io){ .addr = ext.addr + (off - ext.offset),
					  .iov = &iov[done], .iovcnt = cnt };
		first_of[nio++] = done;
		done += cnt;
	}
	for (unsigned i = done; i < n; i++)
		run[i].result = r;	/* allocation failed for the rest */
	PC_INJECT("writeback_after_alloc");

	if (ops->writev && n > 1) {
		for (unsigned k = 0; k < nio; k++)
			io[k].result = -EIO;	/* a result the backend forgets is a failure */
		r = ops->writev(priv, m->obj, io, nio);
		for (unsigned k = 0; k < nio; k++)
			for (unsigned i = 0; i < io[k].iovcnt; i++)
				run[first_of[k] + i].result = r < 0 ? r : io[k].result;
		return;
	}
	for (unsigned k = 0; k < nio; k++) {
		for (unsigned i = 0; i < io[k].iovcnt; i++) {
			struct pc_wb_page *w = &run[first_of[k] + i];

			w->result = ops->write(priv, m->obj,
					       io[k].addr + ((uint64_t)i << PC_PAGE_SHIFT),
					       w->page->data, PC_PAGE_SIZE);
		}
	}
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
		if (r < 0) {
			pc_wb_record_error(m, r);
			return r;
		}
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

		if (r < 0) {
			pc_wb_record_error(m, r);
			if (!err)
				err = r;
		}
	}
	pc_lockdep_release(&m->wb_lock);
	pthread_mutex_unlock(&m->wb_lock);
	return err;
}

/*
 * Write the dirty pages of @batch[*i...] from *i on, as runs.  Each page
 * of @batch is released here.  Returns the first error.
 */
static int __pc_writeback_batch(struct pc_mapping *m, struct pc_page **batch, unsigned n)
{
	struct pc_wb_page run[PC_WB_RUN_MAX];
	unsigned i = 0;
	int err = 0;

	while (i < n) {
		struct pc_page *p = batch[i++];
		unsigned len = 0;

		pc_page_lock(p);
		if (!pc_page_test(p, PG_DIRTY) || pc_page_test(p, PG_REMOVED)) {
			pc_page_unlock(p);
			pc_page_release(p);
			continue;
		}
		pc_wb_page_begin(m, &run[len++], p);
		while (i < n && len < PC_WB_RUN_MAX && batch[i]->index == p->index + 1 &&
		       pc_page_trylock(batch[i])) {
			if (!pc_page_test(batch[i], PG_DIRTY) || pc_page_test(batch[i], PG_REMOVED)) {
				pc_page_unlock(batch[i]);
				break;	/* it is looked at again as the start of a run */
			}
			p = batch[i++];
			pc_wb_page_begin(m, &run[len++], p);
		}
		pc_wb_write_run(m, run, len);
		for (unsigned k = 0; k < len; k++) {
			if (run[k].result < 0 && !err)
				err = run[k].result;
			pc_wb_page_end(m, &run[k]);
		}
	}
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

		r = __pc_writeback_batch(m, batch, n);
		if (r < 0 && !err)
			err = r;
	}
	return __pc_writeback_end(m, err);
}

int __pc_writeback_remove_range(struct pc_mapping *m, uint64_t first, uint64_t last)
{
	struct pc_page *batch[PC_PAGE_GANG_MAX];
	bool done = false, busy = false;
	int err;

	pc_assert_invalidate_held(m, PC_LOCK_EXCL);
	err = __pc_writeback_begin(m);
	while (!err && !done) {
		unsigned n = pc_page_gang_get(m, &first, last, PC_MARK_NONE, batch,
					      PC_PAGE_GANG_MAX, &done);

		for (unsigned i = 0; i < n; i++) {
			struct pc_page *p = batch[i];
			struct pc_wb_page w;

			pc_page_lock(p);
			if (pc_page_test(p, PG_REMOVED)) {
				/* gone already */
			} else if (pc_page_test(p, PG_WRMAPPED) && pc_page_refs(p) > 2) {
				/* Stores through a write pin would be lost: keep it. */
				busy = true;
			} else if (pc_page_test(p, PG_DIRTY)) {
				pc_wb_page_begin(m, &w, p);
				pc_wb_write_run(m, &w, 1);
				if (w.result == 0)
					__pc_page_remove(m, p);
				else if (!err)
					err = w.result;
				pc_wb_page_end(m, &w);	/* unlocks and releases */
				continue;
			} else {
				__pc_page_remove(m, p);
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
#ifndef PC_MUTANT_PUNCH_IGNORES_WRITEBACK
	pc_rwsem_down_read(&m->invalidate_lock);
#endif
	/* The mode is stable under the invalidate_lock (mode.c). */
	if (pc_mapping_is_dax(m))
		r = __pc_dax_sync(m, off >> PC_PAGE_SHIFT, last);
	else
		r = __pc_writeback_range(m, off >> PC_PAGE_SHIFT, last);
#ifndef PC_MUTANT_PUNCH_IGNORES_WRITEBACK
	pc_rwsem_up_read(&m->invalidate_lock);
#endif
	return pc_wb_report_error(m, r);
}

int pc_writeback_close(struct pc_mapping *m)
{
	return pc_wb_report_error(m, __pc_writeback_range(m, 0, UINT64_MAX));
}

/* ---- The flusher ---- */

static void pc_flusher_lock(struct pc_cache *c)
{
	pthread_mutex_lock(&c->mappings_lock);
	pc_lockdep_acquire(&c->mappings_lock, PC_LC_LEAF, PC_LOCK_EXCL, "mappings_lock");
}

static void pc_flusher_unlock(struct pc_cache *c)
{
	pc_lockdep_release(&c->mappings_lock);
	pthread_mutex_unlock(&c->mappings_lock);
}

/* One pass over the mappings.  mappings_lock held; dropped while writing. */
static void __pc_flusher_pass(struct pc_cache *c, bool all)
{
	uint64_t pass = c->flusher_passes + 1, now = pc_now_ms();
	struct pc_mapping *m;

	c->flusher_in_pass = true;
	/* Restart from the head after each mapping: the list may change meanwhile. */
	for (;;) {
		for (m = c->mapping_list; m; m = m->cache_next) {
			uint64_t dirty = __atomic_load_n(&m->nr_dirty, __ATOMIC_RELAXED);
			uint64_t since = __atomic_load_n(&m->dirtied_when, __ATOMIC_RELAXED);

			if (m->flush_pass == pass || !dirty)
				continue;
			if (all || now - since >= c->dirty_expire_ms)
				break;
		}
		if (!m)
			break;
		m->flush_pass = pass;
		m->users++;
		pc_flusher_unlock(c);
		if (pc_rwsem_try_down_read(&m->invalidate_lock)) {
			/* Errors are recorded on the mapping for its next pc_sync(). */
			__pc_writeback_range(m, 0, UINT64_MAX);
			pc_rwsem_up_read(&m->invalidate_lock);
		}
		pc_flusher_lock(c);
		if (--m->users == 0)
			pthread_cond_broadcast(&c->mappings_cond);
	}
	c->flusher_passes = pass;
	c->flusher_in_pass = false;
	pc_stat_inc(c, PC_STAT_FLUSHER_RUNS);
	pthread_cond_broadcast(&c->mappings_cond);
}

static void *pc_flusher_main(void *arg)
{
	struct pc_cache *c = arg;

	pc_flusher_lock(c);
	while (!c->flusher_stop) {
		struct timespec ts;
		uint64_t tick = c->dirty_expire_ms / 2 ? c->dirty_expire_ms / 2 : 1;
		bool all;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)(tick / 1000);
		ts.tv_nsec += (long)(tick % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pc_lockdep_release(&c->mappings_lock);
		if (!c->flusher_kicked)
			pthread_cond_timedwait(&c->flusher_cond, &c->mappings_lock, &ts);
		pc_lockdep_acquire(&c->mappings_lock, PC_LC_LEAF, PC_LOCK_EXCL, "mappings_lock");
		if (c->flusher_stop)
			break;
		all = c->flusher_kicked ||
		      __atomic_load_n(&c->nr_dirty, __ATOMIC_RELAXED) >= c->dirty_limit;
		c->flusher_kicked = false;
		__pc_flusher_pass(c, all);
	}
	pc_flusher_unlock(c);
	return NULL;
}

int __pc_flusher_start(struct pc_cache *c)
{
	int r;

	if (c->flusher_started)
		return 0;
	r = pthread_create(&c->flusher, NULL, pc_flusher_main, c);
	if (r)
		return -r;
	c->flusher_started = true;
	return 0;
}

void pc_flusher_kick(struct pc_cache *c)
{
	pc_flusher_lock(c);
	c->flusher_kicked = true;
	pthread_cond_signal(&c->flusher_cond);
	pc_flusher_unlock(c);
}

void pc_flusher_wait(struct pc_cache *c, unsigned ms)
{
	struct timespec ts;
	uint64_t target;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pc_flusher_lock(c);
	if (!c->flusher_started) {
		pc_flusher_unlock(c);
		return;
	}
	/* A pass running now may have passed our pages: then wait for the next one too. */
	target = c->flusher_passes + (c->flusher_in_pass ? 2 : 1);
	c->flusher_kicked = true;
	pthread_cond_signal(&c->flusher_cond);
	pc_lockdep_release(&c->mappings_lock);
	while (c->flusher_passes < target && !c->flusher_stop)
		if (pthread_cond_timedwait(&c->mappings_cond, &c->mappings_lock, &ts))
			break;
	pc_lockdep_acquire(&c->mappings_lock, PC_LC_LEAF, PC_LOCK_EXCL, "mappings_lock");
	pc_flusher_unlock(c);
}

void pc_flusher_stop(struct pc_cache *c)
{
	pc_flusher_lock(c);
	c->flusher_stop = true;
	pthread_cond_signal(&c->flusher_cond);
	pc_flusher_unlock(c);
	if (c->flusher_started)
		pthread_join(c->flusher, NULL);
}

PC_API int pc_cache_set_writeback(struct pc_cache *c, unsigned dirty_percent,
				  unsigned expire_ms)
{
	if (!c || dirty_percent < 1 || dirty_percent > 100 || expire_ms < 1)
		return -EINVAL;
	pc_flusher_lock(c);
	c->dirty_limit = PC_MAX((c->capacity >> PC_PAGE_SHIFT) * dirty_percent / 100, 1);
	c->dirty_expire_ms = expire_ms;
	pthread_cond_signal(&c->flusher_cond);	/* a shorter tick takes effect now */
	pc_flusher_unlock(c);
	return 0;
}
