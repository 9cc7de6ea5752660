/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Readahead: the window engine and pc_read()'s sequential policy
 * (readahead.c; the design is at the top of that file).
 *
 * mapping.h includes this header for struct pc_ra_state, so it includes no
 * library header but compiler.h.  "__" means: the caller holds the
 * invalidate_lock, in any mode; debug builds assert it.
 */
#ifndef PC_READAHEAD_H
#define PC_READAHEAD_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"

struct pc_mapping;
struct pc_page;

#define PC_RA_INIT_PAGES 4	/* the first window of a sequential stream: 16 KiB */
#if defined(__SANITIZE_THREAD__)
/*
 * A window holds one page mutex per page, and ThreadSanitizer's deadlock
 * detector aborts past 64 mutexes held by one thread: half-size windows.
 */
#define PC_RA_MAX_PAGES 32
#else
#define PC_RA_MAX_PAGES 64	/* the largest window, and a batch: 256 KiB */
#endif

/*
 * Per mapping (struct pc_mapping's @ra), zeroed at pc_open(): no stream yet,
 * no trigger.  Every field is read and written with relaxed atomics and no
 * lock: the state is a hint, and a racy update costs at worst a window
 * read twice (the engine skips cached pages) or one not read (a later miss
 * reads it).  Written on misses and triggers only, never on a plain hit,
 * so readers of cached pages on many threads share its line read-only.
 */
struct pc_ra_state {
	char pad[PC_CACHELINE];	/* keep the hot fields before us off our line */
	uint64_t start;		/* first index of the current window */
	uint64_t size;		/* its size in pages; 0: no sequential stream */
	uint64_t next;		/* where that window, or the last miss, ended */
	uint64_t trigger;	/* index + 1 whose hit starts the next window; 0: none */
	/* Counters, for tests (pc_ra_get_stats()). */
	uint64_t windows;	/* windows of the sequential policy, sync or async */
	uint64_t async_windows;	/* of which started by a hit on the trigger */
	uint64_t pages;		/* pages those windows populated */
	uint64_t max_size;	/* the largest window size they used */
};

struct pc_ra_stats {
	uint64_t windows, async_windows, pages, max_size;
};

/* A snapshot of @m's readahead counters (tests). */
void pc_ra_get_stats(struct pc_mapping *m, struct pc_ra_stats *st);

/* Does a hit on page @index start the next window?  Cheap: one relaxed load. */
static inline bool pc_ra_is_trigger(const struct pc_ra_state *ra, uint64_t index)
{
	return __atomic_load_n(&ra->trigger, __ATOMIC_RELAXED) == index + 1;
}

/*
 * One window of the engine.  The caller fills the "in" part (and zeroes the
 * rest); __pc_readahead_pages() fills the "out" part.
 */
struct pc_ra_window {
	/* in */
	uint64_t first;		/* first page index */
	uint64_t nr;		/* pages, 1 to PC_RA_MAX_PAGES */
	uint64_t req;		/* the first @req pages are read even over holes (>= 1) */
	bool want_first;	/* hand page @first to the caller if this window filled it */
	/* out */
	struct pc_page *page;	/* want_first: page @first, referenced, uptodate, unlocked; or NULL */
	uint64_t end;		/* the window covered [first, end): EOF, a hole or an error cut it */
	unsigned populated;	/* pages it made uptodate */
	int err;		/* the first error met (the window ends at or after it), or 0 */
	int first_err;		/* the error of page @first, if it failed (not if skipped) */
};

/*
 * Populate the window: create the pages that are not cached (skipping any
 * that another thread is filling), read them in one batch, and drop them
 * uptodate and unlocked; a page whose read failed leaves the index again.
 * invalidate_lock held, any mode.
 */
void __pc_readahead_pages(struct pc_mapping *m, struct pc_ra_window *w);

/* How pc_read() classed its access at its first miss; it holds for the whole call. */
enum pc_ra_mode {
	PC_RA_UNKNOWN = 0,	/* no miss yet */
	PC_RA_SEQUENTIAL,	/* the miss was where the stream's last window or miss ended */
	PC_RA_RANDOM,		/* anywhere else: read only what the call needs */
};

/*
 * pc_read()'s miss on page @index, of a read whose last page is @last;
 * *@mode is the call's class (set here at its first miss).  Reads the pages
 * the call needs from @index on (up to a window) and, if it is sequential,
 * a window ahead.  *@out is page @index (referenced, uptodate, unlocked),
 * or NULL if this call did not fill it (another thread is: the caller
 * waits for that page as before).  Returns 0 or the error of page @index.
 * invalidate_lock held, any mode.
 */
int __pc_ra_read_miss(struct pc_mapping *m, uint64_t index, uint64_t last,
		      enum pc_ra_mode *mode, struct pc_page **out);

/*
 * pc_read() hit the trigger page @index: read the next window ahead.  With
 * @locked (PC_LOCKED) the caller holds the invalidate_lock; else it is
 * tried shared, and if it is not free at once, nothing is done.
 */
void pc_ra_async(struct pc_mapping *m, uint64_t index, bool locked);

#endif /* PC_READAHEAD_H */
