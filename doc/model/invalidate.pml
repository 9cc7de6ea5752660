/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A spin model of libpagecache's invalidation protocol: fill, fault, pins,
 * punch with the pin wait, writeback, and block reuse by the backend.
 * tests/model.sh checks it exhaustively, and checks that each mutant below
 * fails.  Run by hand:
 *
 *   spin -a [-DCONFIG_WRITEBACK] [-DMUTANT_...] invalidate.pml
 *   gcc -O2 -DSAFETY -o pan pan.c
 *   ./pan -m100000
 *
 * "errors: 0" is a pass; otherwise pan leaves a trail that
 * `spin -t -p [the same -D options] invalidate.pml` replays step by step.
 *
 * What is modelled.  One victim object of two pages, A (index 0) and B
 * (index 1), each backed by its own block that holds OLD data.  A punch of
 * both pages removes them from the page cache and frees the blocks; the
 * backend gives a freed block to another object at once (the RAM backend's
 * pool is LIFO), which writes REUSED data into it.
 *
 * Processes, CONFIG_PINS (the default; G1, G2, G3):
 *   puncher   pc_punch(A..B)                      lib/truncate.c
 *   reader    READS faults of A or B, each read   lib/filemap.c pc_fault()
 *             and its pin put at once
 *   holder    seeds/002: pins A, then faults B,   pc_fault(), pc_page_put()
 *             then puts both
 *   reuser    the backend handing freed blocks    lib/backend_ram.c free/alloc
 *             to another object
 * CONFIG_WRITEBACK (G6): page A is cached and dirty; processes puncher,
 * syncer (pc_sync(): lib/writeback.c) and reuser.
 *
 * Granularity.  Each statement (or atomic/d_step block) is one atomic step
 * of the C: an atomic operation on a refcount or a flag, a critical section
 * under the index lock, or one backend call (the backends serialise their
 * own calls with leaf locks).  Between any two steps any other process may
 * run, which is what the PC_INJECT() points of lib/ widen in the C tests.
 *
 * Abstractions, and why they are sound for these properties:
 *  - Page structs are never reused within a run (nextf only grows).  This is
 *    what RCU gives the C: a struct found under pc_rcu_read_lock() is not
 *    freed before the reader leaves the read-side section, so a stale
 *    pointer can only meet a page whose refcount is 0 (get_unless_zero
 *    fails) or a page that is no longer in the slot (the re-check fails).
 *  - The pin wait (pc_page_wait_pins(): PC_REF_PINWAIT in the refcount word,
 *    a hashed condition variable woken by pc_page_release()) is modelled as
 *    a blocking guard "refs <= 2": the wake-up protocol itself (the top of
 *    lib/page.c) is checked by pinwait.pml, next to this file.
 *  - The mmap lock that pc_fault() takes shared before the invalidate_lock
 *    is left out: nothing in this model takes it exclusive (only a DAX mode
 *    switch will).
 *  - Reclaim, readahead, truncate's size change and partial pages are left
 *    out: reclaim never evicts a page with a pin or a lock holder
 *    (__pc_page_try_evict() freezes refs 2 -> 0), readahead fills under the
 *    same lock as a fault, and partial pages are zeroed in place under the
 *    exclusive lock.
 *  - pc_read() misses fill exactly as a fault does (pc_get_uptodate() ->
 *    pc_fill_lock() -> __pc_grab_page()), so the reader's faults stand for
 *    reads too; a read's "pin" lasts for its memcpy.
 *  - PC_INVAL_MAX_RETRIES (64) is kept: after that many pin waits a cached
 *    punch goes ahead with the page pinned (a cached page is a copy).  In
 *    this model a punch waits at most three times, so the cap is never
 *    reached; the G3 assertion names it so that a smaller cap shows up.
 *
 * Guarantees asserted (pan prints the name of the one that fails):
 *  G1_not_reused     a read never sees another object's data (REUSED), nor
 *                    page memory given back to the cache (POISON)
 *  G1_zero_after     a read that starts after pc_punch() returned sees ZERO
 *  G2_no_fill        no fill creates a page or looks up a block mapping
 *                    between the punch's removal of pages and its free
 *  G3_pins_honoured  when the punch frees the blocks, no pin taken before
 *                    its final exclusive section began is still held
 *  G3_valid_memory   a pinned page's memory is valid until pc_page_put()
 *  G3 (no deadlock)  every process reaches its end: pan's invalid end
 *                    state check (a deadlock is reported as such)
 *  G6_no_stale_write (CONFIG_WRITEBACK) writeback writes only into a block
 *                    that the victim owns
 *
 * Mutants (each must fail verification; tests/model.sh checks which check
 * fails):
 *  MUTANT_FILL_WITHOUT_INVALIDATE_LOCK  pc_fill_lock() takes nothing, as the
 *      C mutant of the same name: fails G1 (with -DNO_G2, the G2 ghost
 *      check is left out so that G1 itself is seen to fail):
 *      G1_not_reused; with -DNO_REUSE too (no reuser: freed blocks stay
 *      free, as with the file backend), G1_zero_after
 *  MUTANT_NO_PIN_WAIT                   the punch does not look for pins:
 *      fails G3_pins_honoured
 *  MUTANT_PIN_WAIT_WITH_LOCK_HELD       the pin wait keeps the lock, as the
 *      C mutant: the seeds/002 deadlock, an invalid end state
 *  MUTANT_PUNCH_IGNORES_WRITEBACK       (CONFIG_WRITEBACK) pc_sync() skips
 *      the lock and the punch does not wait for a page under writeback, as
 *      the C mutant: fails G6_no_stale_write
 */

#ifndef READS
#define READS 2		/* faults by the reader */
#endif
#ifndef MAXTRIES
#define MAXTRIES 64	/* PC_INVAL_MAX_RETRIES, lib/truncate.c */
#endif

#define NI 2		/* page indices: A and B */
#define PA 0
#define PB 1
#define NF 6		/* page structs ever allocated in one run */
#define NB 2		/* device blocks */
#define NONE 255
#define HOLE 255

/* Contents of a page or a block. */
#define ZERO 0		/* a hole */
#define OLD 1		/* the victim's data before the punch */
#define REUSED 2	/* another object's data, in a block the victim lost */
#define POISON 3	/* page memory given back to the cache (refcount 0) */
#define NEW 4		/* the victim's dirty data, not yet written back */

/* Block owners (ghost). */
#define O_FREE 0
#define O_VICTIM 1
#define O_OTHER 2

/* invalidate_lock: pc_rwsem, a writer-preferring rwlock (lib/lock.c). */
byte readers;
bool writer;
byte wwait;

/* The page structs (struct pc_page, lib/page.h). */
byte refs[NF];		/* refcount: invariant 1 of page.h */
bool plock[NF];		/* the page lock */
bool uptodate[NF];	/* PG_UPTODATE */
bool removed[NF];	/* PG_REMOVED */
bool dirty[NF];		/* PG_DIRTY */
bool wback[NF];		/* PG_WRITEBACK */
byte pdata[NF];		/* the page's memory */
byte nextf;		/* next page struct to allocate */

/* The page index (lib/index.c): slot per page index, a page struct or NONE. */
byte slot[NI];

/* The backend: the victim's block map, block contents, free blocks. */
byte bmap[NI];
byte blk[NB];
byte owner[NB];		/* ghost: who owns the block */

/* Ghosts for the assertions. */
bool punch_done;	/* pc_punch() has returned */
bool evicting;		/* between the first removal and the free (G2) */
byte pinmask;		/* pins handed out by pc_fault() and not yet put */
byte pinsnap;		/* of those, the ones held since the punch last took its lock */
#define PIN_HOLDER_A 1
#define PIN_HOLDER_B 2
#define PIN_READER 4

/* Named so that pan's "assertion violated" line says which guarantee. */
hidden byte G1_not_reused, G1_zero_after, G2_no_fill, G3_pins_honoured, G3_valid_memory,
	G6_no_stale_write;

#ifndef NO_G2
#define CHECK_G2 G2_no_fill = !evicting; assert(G2_no_fill)
#else
#define CHECK_G2 skip
#endif

/* ---- locks ---- */

/* pc_rwsem_down_read(): waits while a writer holds or waits for the lock. */
inline down_read()
{
	atomic { !writer && wwait == 0 -> readers++ }
}

inline up_read()
{
	readers--
}

/* pc_rwsem_down_write(): announces itself, so new readers wait (writer preference). */
inline down_write()
{
	wwait++;
	atomic { !writer && readers == 0 -> writer = true; wwait-- }
}

inline up_write()
{
	writer = false
}

/* pc_fill_lock()/pc_fill_unlock() (filemap.c): the invalidate_lock shared. */
inline fill_lock()
{
#ifndef MUTANT_FILL_WITHOUT_INVALIDATE_LOCK
	down_read()
#else
	skip
#endif
}

inline fill_unlock()
{
#ifndef MUTANT_FILL_WITHOUT_INVALIDATE_LOCK
	up_read()
#else
	skip
#endif
}

/* pc_page_lock()/pc_page_unlock() (page.h): a mutex. */
inline page_lock(f)
{
	atomic { !plock[f] -> plock[f] = true }
}

inline page_unlock(f)
{
	plock[f] = false
}

/* ---- pages (lib/page.c) ---- */

/* pc_page_release(): the last reference gives the memory back to the cache. */
inline page_put(f)
{
	d_step {
		refs[f]--;
		if
		:: refs[f] == 0 -> pdata[f] = POISON
		:: else -> skip
		fi
	}
}

/* pc_page_get_unless_zero() (page.h): a CAS loop that fails on 0. */
inline get_unless_zero(f, ok)
{
	d_step {
		if
		:: refs[f] > 0 -> refs[f]++; ok = true
		:: else -> ok = false
		fi
	}
}

/*
 * pc_page_lookup(): under RCU, read the slot, take a speculative reference,
 * and keep it only if the slot still holds the page.  f = NONE on a miss.
 */
inline page_lookup(i, f, ok)
{
	do
	:: f = slot[i];				/* pc_rcu_dereference(*slot) */
		if
		:: f == NONE -> break
		:: else ->
			get_unless_zero(f, ok);
			if
			:: ok && slot[i] == f -> break	/* re-check the slot */
			:: ok && slot[i] != f -> page_put(f)
			:: !ok -> skip			/* dying: look again */
			fi
		fi
	od
}

/*
 * pc_page_gang_get() for one index (the punch's walks, writeback): a
 * speculative reference without the re-check; callers lock the page and
 * test PG_REMOVED, or only count references.
 */
inline gang_get(i, f, ok)
{
	f = slot[i];
	if
	:: f != NONE -> get_unless_zero(f, ok)
	:: else -> ok = false
	fi
}

/*
 * __pc_page_remove(): page locked; under the index lock erase the slot and
 * set PG_REMOVED (a dirty page is dropped, never written: G6), then drop the
 * index's reference.
 */
inline page_remove(i, f)
{
	d_step {
		assert(slot[i] == f);
		slot[i] = NONE;
		removed[f] = true;
		dirty[f] = false
	};
	page_put(f)
}

/* ---- the fill path (lib/filemap.c) ---- */

/*
 * __pc_add_page(): pc_page_alloc() gives a locked page with our reference;
 * __pc_index_insert() under the index lock gives the index its own, or
 * fails with -EEXIST if another fill got there first.
 */
inline add_page(i, f, ok)
{
	d_step {
		assert(nextf < NF);
		f = nextf;
		nextf++;
		refs[f] = 1;
		plock[f] = true
	};
	d_step {
		CHECK_G2;
		if
		:: slot[i] == NONE -> slot[i] = f; refs[f]++; ok = true
		:: else -> ok = false
		fi
	};
	if
	:: !ok -> page_unlock(f); page_put(f)	/* never visible: dropped */
	:: else -> skip
	fi
}

/*
 * __pc_fill_page() -> __pc_read_pages(): ops->map, then (after the
 * "fill_after_map" injection point, the window G2 closes) ops->read or a
 * zeroed hole, then PG_UPTODATE with release order.  Page locked,
 * invalidate_lock held shared.
 */
inline fill_page(i, f, b)
{
	d_step {
		CHECK_G2;
		b = bmap[i]				/* ops->map */
	};
	if
	:: b == HOLE -> pdata[f] = ZERO		/* pc_zero_page() */
	:: else -> pdata[f] = blk[b]		/* ops->read */
	fi;
	uptodate[f] = true			/* pc_page_set_flag(PG_UPTODATE) */
}

/*
 * __pc_grab_page(fill = true): the page of index i, locked, uptodate, with
 * our reference.  A page found removed (its fill failed, or it was
 * invalidated) is looked up again.
 */
inline grab_page(i, f, ok, b)
{
	do
	:: page_lookup(i, f, ok);
		if
		:: f != NONE ->
			page_lock(f);
			if
			:: !removed[f] -> break
			:: else -> page_unlock(f); page_put(f)
			fi
		:: else ->
			add_page(i, f, ok);
			if
			:: ok -> break
			:: else -> skip			/* -EEXIST: look again */
			fi
		fi
	od;
	if
	:: !uptodate[f] -> fill_page(i, f, b)
	:: else -> skip
	fi
}

/*
 * pc_fault(): a hit is a lockless lookup of an uptodate page; a miss takes
 * the invalidate_lock shared (pc_fill_lock()) and grabs the page.  Returns
 * with a reference (the pin) in f.
 */
inline fault(i, f, ok, b)
{
	page_lookup(i, f, ok);
	if
	:: f != NONE && uptodate[f] -> skip	/* hit: no lock */
	:: else ->
		if
		:: f != NONE -> page_put(f)
		:: else -> skip
		fi;
		fill_lock();
		grab_page(i, f, ok, b);
		fill_unlock();
		page_unlock(f)
	fi
}

/* ---- invalidation (lib/truncate.c) ---- */

/*
 * pc_invalidate(PC_OP_PUNCH) over A and B:
 *  1. pc_rwsem_down_write(invalidate_lock);
 *  2. __pc_walk_range(remove = false): the first page with refs > 2 (the
 *     index's and ours) is pinned; if there is one, drop the lock,
 *     pc_page_wait_pins(busy, 2), and start again;
 *  3. __pc_punch_locked(): __pc_remove_range() (__pc_walk_range(remove =
 *     true): lock each page, __pc_page_remove()), then ops->free;
 *  4. pc_rwsem_up_write().
 */
proctype puncher()
{
	byte f, busy, i, tries;
	bool ok;

again:
	down_write();
	d_step { pinsnap = pinmask };		/* ghost: the pins held now */
	busy = NONE;
#ifndef MUTANT_NO_PIN_WAIT
	if
	:: tries < MAXTRIES ->
		i = 0;
		do
		:: i < NI ->
			gang_get(i, f, ok);
			if
#ifdef MUTANT_PUNCH_IGNORES_WRITEBACK
			:: ok && wback[f] -> page_put(f)	/* writeback's reference: not waited for */
			:: ok && !wback[f] && refs[f] > 2 -> busy = f; break
#else
			:: ok && refs[f] > 2 -> busy = f; break
#endif
			:: ok && refs[f] <= 2 -> page_put(f)
			:: else -> skip
			fi;
			i++
		:: else -> break
		od
	:: else -> skip
	fi;
#endif
	if
	:: busy != NONE ->
#ifndef MUTANT_PIN_WAIT_WITH_LOCK_HELD
		up_write();
#endif
		(refs[busy] <= 2);		/* pc_page_wait_pins(busy, 2) */
		page_put(busy);
#ifdef MUTANT_PIN_WAIT_WITH_LOCK_HELD
		up_write();
#endif
		tries++;
		goto again
	:: else -> skip
	fi;

	/* __pc_remove_range() */
	i = 0;
	do
	:: i < NI ->
		gang_get(i, f, ok);
		if
		:: ok ->
#ifdef MUTANT_PUNCH_IGNORES_WRITEBACK
			if
			:: wback[f] ->		/* remove it without its page lock */
				d_step {
					evicting = true;
					if
					:: !removed[f] -> slot[i] = NONE; removed[f] = true; dirty[f] = false;
						refs[f]--
					:: else -> skip
					fi
				};
				page_put(f);
				i++;
				goto next
			:: else -> skip
			fi;
#endif
			page_lock(f);
			evicting = true;
			if
			:: !removed[f] -> page_remove(i, f)
			:: else -> skip
			fi;
			page_unlock(f);
			page_put(f)
		:: else -> skip
		fi;
		i++;
next:		skip
	:: else -> break
	od;

	/* PC_INJECT("punch_before_free"), then ops->free of both blocks. */
	skip;	/* (spin: a loop's exit may not jump into a d_step) */
	d_step {
		G3_pins_honoured = (pinsnap == 0 || tries >= MAXTRIES);
		assert(G3_pins_honoured);
		i = 0;
		do
		:: i < NI ->
			if
			:: bmap[i] != HOLE -> owner[bmap[i]] = O_FREE; bmap[i] = HOLE
			:: else -> skip
			fi;
			i++
		:: else -> break
		od;
		evicting = false;
		i = 0;
		f = 0;
		busy = 0;
		ok = false
	};
	up_write();
	punch_done = true
}

/*
 * The backend gives a freed block to another object, which writes its own
 * data there at once: the RAM backend's LIFO pool (lib/backend_ram.c,
 * ops->free then another object's ops->alloc and ops->write).
 */
proctype reuser()
{
end_reuse:
	do
	:: d_step { owner[0] == O_FREE -> owner[0] = O_OTHER; blk[0] = REUSED }
	:: d_step { owner[1] == O_FREE -> owner[1] = O_OTHER; blk[1] = REUSED }
	od
}

#ifndef CONFIG_WRITEBACK

/*
 * A user of the mapping: READS faults (pc_fault(), or pc_read()), each of
 * page A or B, its data read through the pin, then pc_page_put().
 */
proctype reader()
{
	byte f, b, i, n;
	bool ok, after;

	do
	:: n < READS ->
		if
		:: i = PA
		:: i = PB
		fi;
		after = punch_done;
		fault(i, f, ok, b);
		d_step {
			pinmask = pinmask | PIN_READER;
			G1_not_reused = (pdata[f] != REUSED && pdata[f] != POISON);
			assert(G1_not_reused);
			G1_zero_after = (!after || pdata[f] == ZERO);
			assert(G1_zero_after);
			pinmask = pinmask & ~PIN_READER;
			pinsnap = pinsnap & ~PIN_READER
		};
		page_put(f);
		d_step { n++; f = 0; b = 0; i = 0; after = false; ok = false }
	:: else -> break
	od
}

/*
 * seeds/002 and tests/race/race_pin_deadlock.c: pin A, then fault B while a
 * punch of A and B may be waiting for A's pin; then put both.  The fault of
 * B needs the invalidate_lock (B is not cached), so it makes progress only
 * if the punch waits with the lock dropped.
 */
proctype holder()
{
	byte fa, fb, b;
	bool ok;

	fault(PA, fa, ok, b);
	d_step {
		pinmask = pinmask | PIN_HOLDER_A;
		G1_not_reused = (pdata[fa] != REUSED && pdata[fa] != POISON);
		assert(G1_not_reused)
	};
	fault(PB, fb, ok, b);
	d_step {
		pinmask = pinmask | PIN_HOLDER_B;
		G1_not_reused = (pdata[fb] != REUSED && pdata[fb] != POISON);
		assert(G1_not_reused);
		pinmask = pinmask & ~PIN_HOLDER_B;
		pinsnap = pinsnap & ~PIN_HOLDER_B
	};
	page_put(fb);
	d_step {
		/* pc_page_addr(A) is still the data it was faulted with. */
		G3_valid_memory = (pdata[fa] == OLD || pdata[fa] == ZERO);
		assert(G3_valid_memory);
		pinmask = pinmask & ~PIN_HOLDER_A;
		pinsnap = pinsnap & ~PIN_HOLDER_A
	};
	page_put(fa)
}

#else /* CONFIG_WRITEBACK */

/*
 * pc_sync() -> __pc_writeback_range() -> __pc_writeback_batch() for the
 * dirty page A: under the invalidate_lock shared, gang-get the dirty page,
 * lock it, skip it if clean or removed, clear PG_DIRTY and set PG_WRITEBACK
 * (pc_wb_page_begin()), ops->alloc (the block under it), then
 * (PC_INJECT("writeback_after_alloc")) ops->write with the page lock held,
 * end the writeback, unlock.
 */
proctype syncer()
{
	byte f, b;
	bool ok;

#ifndef MUTANT_PUNCH_IGNORES_WRITEBACK
	down_read();
#endif
	gang_get(PA, f, ok);
	if
	:: ok ->
		page_lock(f);
		if
		:: dirty[f] && !removed[f] ->
			d_step { dirty[f] = false; wback[f] = true };
			d_step {
				CHECK_G2;
				b = bmap[PA]		/* ops->alloc: the block is mapped */
			};
			if
			:: b != HOLE ->
				d_step {
					G6_no_stale_write = (owner[b] == O_VICTIM);
					assert(G6_no_stale_write);
					blk[b] = pdata[f]	/* ops->write */
				}
			:: else -> skip	/* punched: ops->alloc would give a fresh block */
			fi;
			wback[f] = false
		:: else -> skip
		fi;
		page_unlock(f);
		page_put(f)
	:: else -> skip
	fi;
#ifndef MUTANT_PUNCH_IGNORES_WRITEBACK
	up_read()
#endif
}

#endif /* CONFIG_WRITEBACK */

init {
	atomic {
		slot[PA] = NONE;
		slot[PB] = NONE;
		bmap[PA] = 0;
		bmap[PB] = 1;
		blk[0] = OLD;
		blk[1] = OLD;
		owner[0] = O_VICTIM;
		owner[1] = O_VICTIM;
#ifdef CONFIG_WRITEBACK
		/* Page A is cached, uptodate and dirty (pc_write() before the sync). */
		nextf = 1;
		refs[0] = 1;
		uptodate[0] = true;
		dirty[0] = true;
		pdata[0] = NEW;
		slot[PA] = 0;
		run syncer();
#else
		run reader();
		run holder();
#endif
		run puncher();
#ifndef NO_REUSE
		run reuser()
#else
		skip
#endif
	}
}
