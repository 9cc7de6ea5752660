/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * DAX mappings: faults and I/O that go straight to the backend's storage,
 * through its direct_access() pointers, with no cached copy.
 *
 * In DAX mode the page is the block, so each race of the seeds becomes data
 * corruption; this file is built around the three rules that prevent them.
 *
 * Entries.  A DAX mapping keeps, per page index, a value entry in its own
 * index m->dax (never in m->pages: reclaim, the flusher and every cached
 * walk read m->pages without locks and expect page pointers, so keeping the
 * two apart means none of them can ever meet a value entry; in one mode the
 * other index is empty).  An entry's 63 bits are:
 *
 *	bit 0		DAX_LOCKED	its block mapping is being resolved or used
 *	bit 1		DAX_ZERO	a hole: read faults get the shared zero page
 *	bit 2		DAX_EMPTY	a placeholder: nothing resolved yet
 *	bit 3		DAX_WAITERS	someone sleeps on it (wake on unlock/unpin)
 *	bits 4-19	pins		pc_page pins on its block (not the zero page)
 *	bits 20-62	page frame	device address >> 12, when neither ZERO nor EMPTY
 *
 * The index's dirty mark on an entry means "stored into since last
 * persisted".  Every change of an entry is made under the index lock.
 *
 * Invariants:
 *  1. (G5) An entry's state (ZERO/EMPTY/address) changes only while its
 *     changer holds DAX_LOCKED; the lock is taken and dropped under the
 *     index lock (dax_lock_entry(), dax_unlock_entry()).  A fault on an
 *     index with no entry inserts a locked EMPTY placeholder first, so two
 *     faults on one page always serialise: a read fault that finds a hole
 *     can never store DAX_ZERO over the address a write fault stored.
 *  2. Pins change under the index lock, whether or not the entry is
 *     locked; dax_unlock_entry() keeps the pins that others added or
 *     dropped meanwhile.  m->dax_pins is the sum of all DAX pins of the
 *     mapping, zero-page pins included.
 *  3. (G3) The blocks of an entry with pins are never freed: punch and
 *     truncate, under the invalidate_lock exclusive, look for busy (pinned
 *     or locked) entries first (__pc_dax_find_busy()); if one is found they
 *     drop every lock, sleep until it is idle (pc_dax_wait_idle()), and
 *     start again (truncate.c), or answer -EBUSY with PC_PUNCH_NOWAIT.
 *     A punch can so wait as long as new pins keep coming in its range (as
 *     the kernel's layout breaking can); PC_PUNCH_NOWAIT lets the caller
 *     choose to give up instead.
 *  4. Entries are only resolved, pinned or dirtied under the
 *     invalidate_lock held (shared), so under it held exclusive no entry is
 *     locked and no entry gains a pin.
 *  5. A mapping in DAX mode keeps its backend's size at least its own
 *     size (__pc_dax_grow_backend()), so that a block allocated below EOF
 *     is never past the backend's size (where it would read as a hole).
 *
 * Life of an entry:
 *	none --fault/read/write: dax_lock_entry()--> EMPTY|LOCKED
 *	EMPTY|LOCKED --dax_resolve(read)--> ZERO or address --unlock--> idle
 *	EMPTY or ZERO |LOCKED --dax_resolve(write): backend alloc--> address
 *	EMPTY|LOCKED --resolution failed--> erased (its waiters retry)
 *	idle --punch/truncate/invalidate/switch (no pins), exclusive--> erased
 *
 * Waiting.  Waiters sleep on a hashed table of wait queues (a mutex and a
 * condition variable per bucket) keyed by mapping and index.  A waiter sets
 * DAX_WAITERS and takes the bucket mutex before it drops the index lock; an
 * unlocker or unpinner changes the entry under the index lock and then
 * takes the bucket mutex to broadcast, so a wake-up cannot fall between a
 * waiter's check and its sleep.  Buckets are shared, so waiters re-check.
 * pc_dax_wait_no_pins() (mode switch) waits on the bucket of (m, ~0) for
 * m->dax_pins to reach 0, with a waiter count read by the last putter.
 *
 * Reads (__pc_dax_read()) take no pin: each page is copied while its
 * entry is locked, or, for an unlocked entry that has a block, with no
 * entry lock at all, since under the invalidate_lock such an entry cannot
 * change (invariant 4).  Writes (__pc_dax_write()) copy under the entry
 * lock and set the dirty mark.
 *
 * Zero page.  One const page per process, in .rodata, which is mapped
 * read-only: a store through a read pin of a hole faults, as it should, and
 * the page needs no allocation that could fail.
 *
 * Dirty tracking and persistence (__pc_dax_sync(), in the manner of
 * dax_writeback_mapping_range): write faults and pc_write() set the dirty
 * mark; pc_sync() locks each dirty entry, clears its mark, unlocks, and
 * persists the runs of pages that are contiguous both in the object and on
 * the device with one persist() call each.  A pinned entry keeps its mark,
 * since stores may still come through the pin (we cannot write-protect a
 * pointer as the kernel write-protects a PTE).  Backends without persist
 * get one flush() instead.
 *
 * Lock order (the tree is in mapping.c): mmap_lock (faults) ->
 * invalidate_lock -> entry lock (class PC_LC_PAGE; one at a time) ->
 * wb_lock is never taken under it -> index lock of m->dax -> wait bucket
 * (leaf).  Backend ops (map, alloc, direct_access, persist) run with an
 * entry lock held and no index lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <pagecache.h>

#include "dax.h"
#include "filemap.h"
#include "inject.h"

#define DAX_LOCKED	1ull
#define DAX_ZERO	2ull
#define DAX_EMPTY	4ull
#define DAX_WAITERS	8ull
#define DAX_PIN_SHIFT	4
#define DAX_PIN_MAX	0xffffull
#define DAX_PFN_SHIFT	20
#define DAX_PFN_LIMIT	(1ull << (63 - DAX_PFN_SHIFT))
/* The bits that say what the entry resolves to. */
#define DAX_STATE	(DAX_ZERO | DAX_EMPTY | ((DAX_PFN_LIMIT - 1) << DAX_PFN_SHIFT))

#define DAX_GANG	32
#define DAX_WAIT_BUCKETS 256

static inline uint64_t dax_pins(uint64_t v)
{
	return (v >> DAX_PIN_SHIFT) & DAX_PIN_MAX;
}

/* Busy: pinned, or locked by someone resolving it; punch must not free it. */
static inline bool dax_busy(uint64_t v)
{
	return dax_pins(v) || (v & DAX_LOCKED);
}

static inline bool dax_mapped(uint64_t v)
{
	return !(v & (DAX_ZERO | DAX_EMPTY));
}

static inline uint64_t dax_addr(uint64_t v)
{
	return (v >> DAX_PFN_SHIFT) << PC_PAGE_SHIFT;
}

static struct dax_wait_bucket {
	pthread_mutex_t lock;	/* PC_LC_LEAF */
	pthread_cond_t cond;
} dax_wait_table[DAX_WAIT_BUCKETS];
static pthread_once_t dax_once = PTHREAD_ONCE_INIT;
/*
 * The shared zero page: const, so it lives in .rodata, which the loader maps
 * read-only, and a store through a read pin of a hole faults at once, as
 * the kernel's zero page does.  Being static it cannot fail to exist.
 */
static const unsigned char dax_zero_page[PC_PAGE_SIZE] __attribute__((aligned(PC_PAGE_SIZE)));

static void dax_init_once(void)
{
	for (int i = 0; i < DAX_WAIT_BUCKETS; i++) {
		pthread_mutex_init(&dax_wait_table[i].lock, NULL);
		pthread_cond_init(&dax_wait_table[i].cond, NULL);
	}
}

static void dax_init(void)
{
	pthread_once(&dax_once, dax_init_once);
}

static struct dax_wait_bucket *dax_bucket(const struct pc_mapping *m, uint64_t index)
{
	uint64_t h = (uint64_t)(uintptr_t)m ^ (index * 0x9e3779b97f4a7c15ull);

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return &dax_wait_table[(h >> 32) % DAX_WAIT_BUCKETS];
}

static void dax_bucket_lock(struct dax_wait_bucket *b)
{
	pthread_mutex_lock(&b->lock);
	pc_lockdep_acquire(&b->lock, PC_LC_LEAF, PC_LOCK_EXCL, "dax_wait_bucket");
}

static void dax_bucket_unlock(struct dax_wait_bucket *b)
{
	pc_lockdep_release(&b->lock);
	pthread_mutex_unlock(&b->lock);
}

static void dax_wake(struct pc_mapping *m, uint64_t index)
{
	struct dax_wait_bucket *b = dax_bucket(m, index);

	dax_bucket_lock(b);
	pthread_cond_broadcast(&b->cond);
	dax_bucket_unlock(b);
}

/*
 * Sleep until entry @index (value @v) changes: set DAX_WAITERS, then trade
 * the index lock for the bucket's (see the top).  Index lock held; it is
 * held again on return.  The caller re-checks.
 */
static void __dax_wait(struct pc_mapping *m, uint64_t index, uint64_t v)
{
	struct dax_wait_bucket *b = dax_bucket(m, index);

	if (!(v & DAX_WAITERS))
		__pc_index_replace(&m->dax, index, pc_index_mkvalue(v | DAX_WAITERS));
	dax_bucket_lock(b);
	pc_index_unlock(&m->dax);
	pthread_cond_wait(&b->cond, &b->lock);
	dax_bucket_unlock(b);
	pc_index_lock(&m->dax);
}

/*
 * Lock entry @index and return its value (with DAX_LOCKED) in *@out.  With
 * @create, an index with no entry gets a locked EMPTY placeholder (-ENOMEM
 * if the index cannot grow); without, it answers -ENOENT.  @nowait: -EAGAIN
 * instead of sleeping on a locked entry.  invalidate_lock held.
 */
static int dax_lock_entry(struct pc_mapping *m, uint64_t index, bool create, bool nowait,
			  uint64_t *out)
{
	int r = 0;

	pc_lockdep_acquire(&m->dax, PC_LC_PAGE, PC_LOCK_EXCL, "dax_entry_lock");
	pc_index_lock(&m->dax);
	for (;;) {
		void *e = pc_index_load(&m->dax, index);
		uint64_t v;

		if (!e) {
			if (!create) {
				r = -ENOENT;
				break;
			}
#ifdef PC_MUTANT_DAX_NO_ENTRY_LOCK
			/* Test only: no placeholder; whoever stores last wins. */
			*out = DAX_EMPTY;
			break;
#endif
			v = DAX_LOCKED | DAX_EMPTY;
			r = __pc_index_insert(&m->dax, index, pc_index_mkvalue(v));
			if (r == 0)
				*out = v;
			break;
		}
		v = pc_index_value(e);
#ifdef PC_MUTANT_DAX_NO_ENTRY_LOCK
		/* Test only: the lock bit is neither waited for nor taken. */
		*out = v & ~(DAX_LOCKED | DAX_WAITERS);
		break;
#endif
		if (!(v & DAX_LOCKED)) {
			v |= DAX_LOCKED;
			__pc_index_replace(&m->dax, index, pc_index_mkvalue(v));
			*out = v;
			break;
		}
		if (nowait) {
			r = -EAGAIN;
			break;
		}
		pc_stat_inc(m->cache, PC_STAT_DAX_ENTRY_WAITS);
		__dax_wait(m, index, v);
	}
	pc_index_unlock(&m->dax);
	if (r < 0)
		pc_lockdep_release(&m->dax);
	return r;
}

enum {
	DAX_SET_DIRTY = 1,	/* set the dirty mark */
	DAX_CLEAR_DIRTY = 2,	/* clear it */
	DAX_ERASE = 4,		/* erase the entry, unless it has pins */
};

/*
 * Unlock entry @index, which now resolves to @state (DAX_STATE bits), with
 * @dpins pins more; @op: DAX_*.  The pins others added or dropped while we
 * held the lock are kept (invariant 2).
 */
static void dax_unlock_entry(struct pc_mapping *m, uint64_t index, uint64_t state,
			     unsigned dpins, unsigned op)
{
	uint64_t cur, pins;
	bool wake;
	void *e;

	pc_index_lock(&m->dax);
	e = pc_index_load(&m->dax, index);
	/* Always present, but in the dax_no_entry_lock mutant build. */
	cur = e ? pc_index_value(e) : 0;
	pins = dax_pins(cur) + dpins;
	wake = (cur & DAX_WAITERS) != 0;
	if ((op & DAX_ERASE) && pins == 0) {
		if (e)
			__pc_index_erase(&m->dax, index);
	} else {
		void *v = pc_index_mkvalue((state & DAX_STATE) | (pins << DAX_PIN_SHIFT));

		if (e)
			__pc_index_replace(&m->dax, index, v);
		else
			(void)__pc_index_insert(&m->dax, index, v);
		if (op & DAX_SET_DIRTY)
			__pc_index_set_mark(&m->dax, index, PC_MARK_DIRTY);
		if (op & DAX_CLEAR_DIRTY)
			__pc_index_clear_mark(&m->dax, index, PC_MARK_DIRTY);
	}
	pc_index_unlock(&m->dax);
	pc_lockdep_release(&m->dax);
	if (wake)
		dax_wake(m, index);
}

/*
 * What locked entry @v at @index resolves to for a read or a @write: its
 * state if it has one that will do; else the backend's answer, from map
 * (read) or alloc (write: a hole or the zero page gets blocks).  Entry
 * locked, invalidate_lock held.
 */
static int dax_resolve(struct pc_mapping *m, uint64_t index, uint64_t v, bool write,
		       uint64_t *state)
{
	const struct pc_backend_ops *ops = &m->backend->ops;
	uint64_t off = index << PC_PAGE_SHIFT;
	struct pc_extent ext;
	uint64_t addr;
	int r;

	if (!(v & DAX_EMPTY) && !(write && (v & DAX_ZERO))) {
		*state = v & DAX_STATE;
		return 0;
	}
	if (write)
		r = ops->alloc(m->backend->priv, m->obj, off, PC_PAGE_SIZE, &ext);
	else
		r = ops->map(m->backend->priv, m->obj, off, PC_PAGE_SIZE, &ext);
	if (r < 0)
		return r;
	if (!pc_extent_pages(&ext, off))
		return -EIO;
	if (ext.type != PC_EXTENT_MAPPED) {
		/*
		 * An unwritten extent would need converting once stored into,
		 * which the ops table cannot ask for: a DAX-capable backend's
		 * alloc answers MAPPED, with zeroed blocks (backends.md).
		 */
		if (write)
			return -EIO;
		*state = DAX_ZERO;
	} else {
		addr = ext.addr + (off - ext.offset);
		if ((addr & (PC_PAGE_SIZE - 1)) || (addr >> PC_PAGE_SHIFT) >= DAX_PFN_LIMIT)
			return -EIO;
		*state = (addr >> PC_PAGE_SHIFT) << DAX_PFN_SHIFT;
		if (write)
			pc_stat_inc(m->cache, PC_STAT_DAX_ALLOCS);
	}
	/* The window of seeds/001: the block map is read, the entry not yet updated. */
	PC_INJECT("dax_after_map");
	return 0;
}

static void *dax_ptr(struct pc_mapping *m, uint64_t state)
{
	return m->backend->ops.direct_access(m->backend->priv, m->obj, dax_addr(state),
					     PC_PAGE_SIZE);
}

int __pc_dax_fault(struct pc_mapping *m, uint64_t index, bool write, bool nowait,
		   struct pc_page **out)
{
	struct pc_page *p;
	uint64_t v, state = 0;
	void *data = NULL;
	bool zero;
	int r;

	pc_assert_fill_locked(m);
	dax_init();
	/* First: after the entry is resolved nothing may fail for want of memory. */
	p = PC_FAIL(PC_FAIL_DAX_PIN) ? NULL : malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	r = dax_lock_entry(m, index, true, nowait, &v);
	if (r < 0) {
		free(p);
		return r;
	}
	r = dax_resolve(m, index, v, write, &state);
	zero = !write && (state & DAX_ZERO);
	if (r == 0 && !zero && dax_pins(v) >= DAX_PIN_MAX)
		r = -EAGAIN;	/* 65535 pins on one page */
	if (r == 0) {
		data = zero ? (void *)dax_zero_page : dax_ptr(m, state);
		if (!data)
			r = -EIO;	/* the backend gave no pointer to its storage */
	}
	if (r < 0) {
		/* A placeholder goes (its waiters retry); a resolved entry stays as it was. */
		dax_unlock_entry(m, index, v, 0, (v & DAX_EMPTY) ? DAX_ERASE : 0);
		free(p);
		return r;
	}
	dax_unlock_entry(m, index, state, zero ? 0 : 1, write ? DAX_SET_DIRTY : 0);
	/* Under the locks the fault holds: a mode switch or close sees it (mode.c). */
	__atomic_fetch_add(&m->dax_pins, 1, __ATOMIC_SEQ_CST);
	pc_stat_inc(m->cache, PC_STAT_DAX_FAULTS);
	if (zero)
		pc_stat_inc(m->cache, PC_STAT_DAX_ZERO_FAULTS);
	p->refcount = 1;
	p->flags = PG_UPTODATE | PG_DAX | (zero ? PG_DAX_ZERO : 0);
	p->index = index;
	p->mapping = m;
	p->cache = m->cache;
	p->data = data;
	*out = p;
	return 0;
}

void pc_dax_page_put(struct pc_page *p)
{
	struct pc_mapping *m = p->mapping;
	bool wake = false;

	if (!(p->flags & PG_DAX_ZERO)) {
		void *e;

		pc_index_lock(&m->dax);
		e = pc_index_load(&m->dax, p->index);
		if (e) {	/* always, but in a mutant build */
			uint64_t v = pc_index_value(e);

			if (dax_pins(v))
				v -= 1ull << DAX_PIN_SHIFT;
			if (!dax_busy(v) && (v & DAX_WAITERS)) {
				v &= ~DAX_WAITERS;
				wake = true;
			}
			__pc_index_replace(&m->dax, p->index, pc_index_mkvalue(v));
		}
		pc_index_unlock(&m->dax);
		if (wake)
			dax_wake(m, p->index);
	}
	/* Pairs with the waiter count's increment in pc_dax_wait_no_pins(). */
	if (__atomic_sub_fetch(&m->dax_pins, 1, __ATOMIC_SEQ_CST) == 0 &&
	    __atomic_load_n(&m->dax_pin_waiters, __ATOMIC_SEQ_CST))
		dax_wake(m, UINT64_MAX);
	free(p);
}

void pc_dax_wait_no_pins(struct pc_mapping *m)
{
	struct dax_wait_bucket *b;

	pc_lockdep_assert_none_from(PC_LC_MMAP, "waiting for DAX pins");
	dax_init();
	b = dax_bucket(m, UINT64_MAX);
	/*
	 * The count first, then the pins, both sequentially consistent; a
	 * putter drops the pins, then reads the count.  One of us sees the
	 * other, and the bucket mutex closes the window before the sleep.
	 */
	__atomic_fetch_add(&m->dax_pin_waiters, 1, __ATOMIC_SEQ_CST);
	dax_bucket_lock(b);
	while (__atomic_load_n(&m->dax_pins, __ATOMIC_SEQ_CST))
		pthread_cond_wait(&b->cond, &b->lock);
	dax_bucket_unlock(b);
	__atomic_fetch_sub(&m->dax_pin_waiters, 1, __ATOMIC_SEQ_CST);
}

void pc_dax_wait_idle(struct pc_mapping *m, uint64_t index)
{
	void *e;

	pc_lockdep_assert_none_from(PC_LC_MMAP, "waiting for a busy DAX entry");
	dax_init();
	pc_index_lock(&m->dax);
	e = pc_index_load(&m->dax, index);
	if (e) {
		uint64_t v = pc_index_value(e);

		if (dax_busy(v))
			__dax_wait(m, index, v);
	}
	pc_index_unlock(&m->dax);
}

bool __pc_dax_find_busy(struct pc_mapping *m, uint64_t first, uint64_t last, uint64_t *busy)
{
	pc_assert_invalidate_held(m, PC_LOCK_EXCL);
#ifdef PC_MUTANT_DAX_PUNCH_IGNORES_PINS
	/* Test only: pinned blocks are freed under their holders. */
	(void)first, (void)last, (void)busy;
	return false;
#else
	void *entries[DAX_GANG];
	uint64_t indices[DAX_GANG];
	bool done = false;

	pc_index_lock(&m->dax);
	while (!done) {
		unsigned n = pc_index_gang(&m->dax, &first, last, PC_MARK_NONE, entries, indices,
					   DAX_GANG, &done);

		if (n == 0)
			break;
		for (unsigned i = 0; i < n; i++) {
			uint64_t v = pc_index_value(entries[i]);

			if (dax_busy(v)) {
				*busy = indices[i];
				pc_index_unlock(&m->dax);
				return true;
			}
		}
	}
	pc_index_unlock(&m->dax);
	return false;
#endif
}

/*
 * Erase the idle entries with index in [first, last]; count the busy ones,
 * which stay.  invalidate_lock held exclusive.
 */
static unsigned __dax_erase_range(struct pc_mapping *m, uint64_t first, uint64_t last)
{
	void *entries[DAX_GANG];
	uint64_t indices[DAX_GANG];
	unsigned busy = 0;
	bool done = false;

	pc_index_lock(&m->dax);
	while (!done) {
		unsigned n = pc_index_gang(&m->dax, &first, last, PC_MARK_NONE, entries, indices,
					   DAX_GANG, &done);

		if (n == 0)
			break;
		for (unsigned i = 0; i < n; i++) {
			uint64_t v = pc_index_value(entries[i]);

			if (dax_busy(v)) {
#ifndef PC_MUTANT_DAX_PUNCH_IGNORES_PINS
				busy++;
				continue;
#endif
			}
			__pc_index_erase(&m->dax, indices[i]);
		}
	}
	pc_index_unlock(&m->dax);
	return busy;
}

int __pc_dax_grow_backend(struct pc_mapping *m, uint64_t end)
{
	int r = 0;

	pc_assert_fill_locked(m);
	pthread_mutex_lock(&m->wb_lock);
	pc_lockdep_acquire(&m->wb_lock, PC_LC_WRITEBACK, PC_LOCK_EXCL, "wb_lock");
	if (end > m->backend_size) {
		r = m->backend->ops.set_size(m->backend->priv, m->obj, end);
		if (r == 0) {
			m->backend_size = end;
			__atomic_store_n(&m->dax_size_dirty, true, __ATOMIC_RELAXED);
		}
	}
	pc_lockdep_release(&m->wb_lock);
	pthread_mutex_unlock(&m->wb_lock);
	return r;
}

ssize_t __pc_dax_write(struct pc_mapping *m, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	int r;

	pc_assert_fill_locked(m);
	r = __pc_dax_grow_backend(m, off + len);	/* invariant 5 */
	if (r < 0)
		return r;
	while (done < len) {
		uint64_t pos = off + done;
		uint64_t in_page = pos & (PC_PAGE_SIZE - 1);
		uint64_t index = pos >> PC_PAGE_SHIFT;
		size_t n = PC_MIN((uint64_t)PC_PAGE_SIZE - in_page, len - done);
		uint64_t v, state = 0;
		char *ptr = NULL;

		r = dax_lock_entry(m, index, true, false, &v);
		if (r < 0)
			break;
		r = dax_resolve(m, index, v, true, &state);
		if (r == 0) {
			ptr = dax_ptr(m, state);
			if (!ptr)
				r = -EIO;
		}
		if (r < 0) {
			dax_unlock_entry(m, index, v, 0, (v & DAX_EMPTY) ? DAX_ERASE : 0);
			break;
		}
		memcpy(ptr + in_page, (const char *)buf + done, n);
		pc_mapping_grow_size(m, pos + n);
		dax_unlock_entry(m, index, state, 0, DAX_SET_DIRTY);
		done += n;
	}
	return done ? (ssize_t)done : r;
}

ssize_t __pc_dax_read(struct pc_mapping *m, void *buf, size_t len, uint64_t off, bool nowait)
{
	size_t done = 0;
	int r = 0;

	pc_assert_fill_locked(m);
	while (done < len) {
		uint64_t pos = off + done;
		uint64_t in_page = pos & (PC_PAGE_SIZE - 1);
		uint64_t index = pos >> PC_PAGE_SHIFT;
		/* Stable: a truncate needs the invalidate_lock exclusive. */
		uint64_t size = pc_mapping_size(m);
		uint64_t v, state = 0;
		const char *ptr = NULL;
		size_t n;

		void *e;

		if (pos >= size)
			break;
		n = PC_MIN(PC_MIN((uint64_t)PC_PAGE_SIZE - in_page, len - done), size - pos);
		/*
		 * Fast path: an unlocked entry with a block.  Under the
		 * invalidate_lock that state cannot change (invariant 4: only
		 * an exclusive holder erases it; a locker can only store the
		 * same block), so the copy needs no entry lock, as a cached
		 * read hit needs no page lock.
		 */
		pc_rcu_read_lock();
		e = pc_index_load(&m->dax, index);
		pc_rcu_read_unlock();
		if (e && !(pc_index_value(e) & DAX_LOCKED) && dax_mapped(pc_index_value(e))) {
			ptr = dax_ptr(m, pc_index_value(e) & DAX_STATE);
			if (ptr) {
				memcpy((char *)buf + done, ptr + in_page, n);
				done += n;
				continue;
			}
		}
		r = dax_lock_entry(m, index, true, nowait, &v);
		if (r < 0)
			break;
		r = dax_resolve(m, index, v, false, &state);
		if (r == 0 && dax_mapped(state)) {
			ptr = dax_ptr(m, state);
			if (!ptr)
				r = -EIO;
		}
		if (r < 0) {
			dax_unlock_entry(m, index, v, 0, (v & DAX_EMPTY) ? DAX_ERASE : 0);
			break;
		}
		if (ptr)
			memcpy((char *)buf + done, ptr + in_page, n);
		else
			memset((char *)buf + done, 0, n);	/* a hole */
		dax_unlock_entry(m, index, state, 0, 0);
		done += n;
	}
	return done ? (ssize_t)done : r;
}

/* A run of dirty pages contiguous in the object and on the device. */
struct dax_run {
	uint64_t index, addr, n;
};

/* Persist @run and empty it; a failed run is marked dirty again. */
static int dax_persist_run(struct pc_mapping *m, struct dax_run *run)
{
	const struct pc_backend_ops *ops = &m->backend->ops;
	int r;

	if (!run->n || !ops->persist) {
		run->n = 0;
		return 0;
	}
	r = ops->persist(m->backend->priv, m->obj, run->addr, run->n << PC_PAGE_SHIFT);
	pc_stat_inc(m->cache, PC_STAT_DAX_PERSISTS);
	if (r < 0) {
		pc_index_lock(&m->dax);
		for (uint64_t k = 0; k < run->n; k++)
			__pc_index_set_mark(&m->dax, run->index + k, PC_MARK_DIRTY);
		pc_index_unlock(&m->dax);
	}
	run->n = 0;
	return r;
}

int __pc_dax_sync(struct pc_mapping *m, uint64_t first, uint64_t last)
{
	const struct pc_backend_ops *ops = &m->backend->ops;
	struct dax_run run = { 0 };
	void *entries[DAX_GANG];
	uint64_t indices[DAX_GANG];
	bool done = false, any = false, size_dirty;
	int err = 0, r;

	pc_assert_fill_locked(m);
	dax_init();
	while (!done) {
		unsigned n;

		pc_rcu_read_lock();
		n = pc_index_gang(&m->dax, &first, last, PC_MARK_DIRTY, entries, indices, DAX_GANG,
				  &done);
		pc_rcu_read_unlock();
		if (n == 0)
			break;
		for (unsigned i = 0; i < n; i++) {
			uint64_t index = indices[i], v, state, addr;
			bool keep;

			if (dax_lock_entry(m, index, false, false, &v) < 0)
				continue;	/* gone meanwhile */
			state = v & DAX_STATE;
			/* Stores may still come through a pin: its mark stays for the next sync. */
			keep = dax_mapped(state) && dax_pins(v) > 0;
			dax_unlock_entry(m, index, state, 0, keep ? 0 : DAX_CLEAR_DIRTY);
			if (!dax_mapped(state))
				continue;
			any = true;
			addr = dax_addr(state);
			if (run.n && index == run.index + run.n &&
			    addr == run.addr + (run.n << PC_PAGE_SHIFT)) {
				run.n++;
				continue;
			}
			r = dax_persist_run(m, &run);
			if (r < 0 && !err)
				err = r;
			run = (struct dax_run){ index, addr, 1 };
		}
	}
	r = dax_persist_run(m, &run);
	if (r < 0 && !err)
		err = r;
	size_dirty = __atomic_exchange_n(&m->dax_size_dirty, false, __ATOMIC_RELAXED);
	if (ops->flush && (size_dirty || (any && !ops->persist))) {
		/* The size, and without persist the data, by the backend's own means. */
		r = ops->flush(m->backend->priv, m->obj);
		if (r < 0 && !err)
			err = r;
	}
	return err;
}

/*
 * Where bytes of page @index live, for zeroing them in place: *@ptr, or
 * NULL if there is nothing to zero (past EOF, or a hole).  The entry is
 * made to exist so that it can carry the dirty mark.  This is the step of
 * a DAX punch or truncate that can fail, so it runs before anything
 * changes.  invalidate_lock held exclusive (so no entry is locked).
 */
static int __dax_partial_get(struct pc_mapping *m, uint64_t index, char **ptr)
{
	const struct pc_backend_ops *ops = &m->backend->ops;
	uint64_t off = index << PC_PAGE_SHIFT, state;
	struct pc_extent ext;
	void *e;
	int r;

	*ptr = NULL;
	if (off >= pc_mapping_size(m))
		return 0;
	pc_index_lock(&m->dax);
	e = pc_index_load(&m->dax, index);
	pc_index_unlock(&m->dax);
	if (e) {
		state = pc_index_value(e) & DAX_STATE;
		if (!dax_mapped(state))
			return 0;
	} else {
		r = ops->map(m->backend->priv, m->obj, off, PC_PAGE_SIZE, &ext);
		if (r < 0)
			return r;
		if (!pc_extent_pages(&ext, off))
			return -EIO;
		if (ext.type != PC_EXTENT_MAPPED)
			return 0;
		state = ((ext.addr + (off - ext.offset)) >> PC_PAGE_SHIFT) << DAX_PFN_SHIFT;
		pc_index_lock(&m->dax);
		r = __pc_index_insert(&m->dax, index, pc_index_mkvalue(state));
		pc_index_unlock(&m->dax);
		if (r < 0)
			return r;
	}
	*ptr = dax_ptr(m, state);
	return *ptr ? 0 : -EIO;
}

/* Zero bytes [a, b) of page @index at @ptr (may be NULL) and mark it dirty. */
static void __dax_zero_partial(struct pc_mapping *m, uint64_t index, char *ptr, uint64_t a,
			       uint64_t b)
{
	if (!ptr || a >= b)
		return;
	memset(ptr + (a & (PC_PAGE_SIZE - 1)), 0, b - a);
	pc_index_lock(&m->dax);
	__pc_index_set_mark(&m->dax, index, PC_MARK_DIRTY);
	pc_index_unlock(&m->dax);
}

int __pc_dax_punch_locked(struct pc_mapping *m, uint64_t start, uint64_t end, uint64_t first,
			  uint64_t last_excl)
{
	uint64_t head_end = start;
	uint64_t tail_start = end & ~(uint64_t)(PC_PAGE_SIZE - 1);
	uint64_t size = pc_mapping_size(m);
	char *head = NULL, *tail = NULL;
	int r;

	pc_assert_invalidate_held(m, PC_LOCK_EXCL);
	if (start & (PC_PAGE_SIZE - 1)) {
		head_end = PC_MIN(end, (start | (PC_PAGE_SIZE - 1)) + 1);
		r = __dax_partial_get(m, start >> PC_PAGE_SHIFT, &head);
		if (r < 0)
			return r;
	}
	if ((end & (PC_PAGE_SIZE - 1)) && tail_start >= head_end) {
		r = __dax_partial_get(m, tail_start >> PC_PAGE_SHIFT, &tail);
		if (r < 0)
			return r;
	}
	if (first < last_excl)
		__dax_erase_range(m, first, last_excl - 1);
	__dax_zero_partial(m, start >> PC_PAGE_SHIFT, head, start,
			   PC_MIN(head_end, PC_MAX(size, start)));
	__dax_zero_partial(m, tail_start >> PC_PAGE_SHIFT, tail, tail_start,
			   PC_MIN(end, PC_MAX(size, tail_start)));
	PC_INJECT("dax_punch_before_free");
	if (first < last_excl)
		return m->backend->ops.free(m->backend->priv, m->obj, first << PC_PAGE_SHIFT,
					    (last_excl - first) << PC_PAGE_SHIFT);
	return 0;
}

int __pc_dax_truncate_locked(struct pc_mapping *m, uint64_t size)
{
	uint64_t old = pc_mapping_size(m);
	uint64_t first = (size + PC_PAGE_SIZE - 1) >> PC_PAGE_SHIFT;
	char *tail = NULL;
	int r;

	pc_assert_invalidate_held(m, PC_LOCK_EXCL);
	if (size < old) {
		if (size & (PC_PAGE_SIZE - 1)) {
			r = __dax_partial_get(m, size >> PC_PAGE_SHIFT, &tail);
			if (r < 0)
				return r;
		}
		__atomic_store_n(&m->size, size, __ATOMIC_RELEASE);
		__dax_erase_range(m, first, UINT64_MAX);
	}
	PC_INJECT("dax_truncate_before_free");
	r = m->backend->ops.set_size(m->backend->priv, m->obj, size);
	if (r < 0) {
		if (size < old)
			__atomic_store_n(&m->size, old, __ATOMIC_RELEASE);
		return r;
	}
	m->backend_size = size;
	__atomic_store_n(&m->dax_size_dirty, true, __ATOMIC_RELAXED);
	/* Bytes past EOF read as zero (filemap.c, invariant 1, in storage here). */
	__dax_zero_partial(m, size >> PC_PAGE_SHIFT, tail, size, (size | (PC_PAGE_SIZE - 1)) + 1);
	if (size > old)
		__atomic_store_n(&m->size, size, __ATOMIC_RELEASE);
	return 0;
}

int __pc_dax_invalidate(struct pc_mapping *m, uint64_t first, uint64_t last)
{
	int r;

	pc_assert_invalidate_held(m, PC_LOCK_EXCL);
	r = __pc_dax_sync(m, first, last);
	if (__dax_erase_range(m, first, last) && r == 0)
		r = -EBUSY;
	return r;
}
