/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libpagecache: a page cache for storage engines over their own block storage.
 *
 * This is the one header a user includes.  Backend authors also get
 * <pagecache/backend.h>, which this header does not pull in.
 *
 * Conventions, for every call in this library:
 *  - Calls return 0 or a negative errno; calls that move bytes return a count
 *    or a negative errno.  errno itself is never used as the channel.
 *  - Bad input (NULL handles, unknown flags, overflowing ranges) gets a
 *    negative errno and changes nothing.
 *  - Constructors fill an out-pointer; destructors take a pointer to the
 *    handle and set it to NULL.
 *  - Every call is safe from any thread.  The library registers threads with
 *    its RCU implementation itself; callers never call liburcu.
 *
 * Locking, outermost first (the full tree is in doc/locking.md and at the top
 * of lib/mapping.c):
 *   the engine's own locks -> mmap (fault) lock -> invalidate_lock ->
 *   page lock or DAX entry lock -> index lock
 * A cache hit takes neither rw lock.  The mmap lock is held shared through
 * a fault's slow path and exclusive by pc_set_dax().
 */
#ifndef PAGECACHE_H
#define PAGECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PC_API __attribute__((visibility("default")))
#else
#define PC_API
#endif

#define PC_VERSION_MAJOR 0
#define PC_VERSION_MINOR 1
#define PC_VERSION_PATCH 0

struct pc_cache;	/* memory budget and page allocator, shared by mappings */
struct pc_backend;	/* an extent backend: named objects over block storage */
struct pc_mapping;	/* one open object and its page cache */
struct pc_page;		/* a pinned reference to one page */

/* pc_open() flags: they behave as O_CREAT, O_EXCL and O_TRUNC do for open(2). */
#define PC_CREAT	0x0001u
#define PC_EXCL		0x0002u
#define PC_TRUNC	0x0004u
/*
 * PC_DAX: open the object for direct access.  Faults and I/O go straight to
 * the backend's storage (no cached copy); the backend must be DAX-capable
 * (have direct_access), or pc_open() answers -EOPNOTSUPP.  A fault returns
 * a pin whose address points into the storage itself; a read fault of a
 * hole returns a shared read-only page of zeros, which a later write fault
 * replaces with newly allocated blocks.  Write faults and pc_write() mark
 * pages dirty; pc_sync() persists exactly the dirty pages (the backend's
 * persist op).  While a DAX pin is held its blocks are never freed: punch
 * and truncate wait for it (G3).  See pc_set_dax() to switch modes.
 */
#define PC_DAX		0x0008u

/*
 * pc_read()/pc_write() flags.
 * PC_LOCKED: the caller holds this mapping's invalidate_lock (exclusive or
 * shared); the call must not take it again.  This is how an engine that has
 * locked out all modification still populates pages, to copy or dedupe (G7).
 */
#define PC_LOCKED	0x0001u
/*
 * PC_NOWAIT (pc_read() only): answer from the cache without blocking.  The
 * read stops at the first page that is not cached and uptodate and returns
 * the bytes copied up to there, or -EAGAIN if none (0 at EOF, as always).
 * It never waits for the invalidate_lock or a page, and does no backend
 * I/O and no readahead.  It may be combined with PC_LOCKED.
 */
#define PC_NOWAIT	0x0002u

/* pc_fault() flags. */
#define PC_FAULT_WRITE	0x0001u	/* the caller will write; the page is dirtied */

/* Version of the library actually linked, as "MAJOR.MINOR.PATCH". */
PC_API const char *pc_version(void);

/* The page size of the cache: the unit of pc_fault() and of block I/O. */
PC_API size_t pc_page_size(void);

/*
 * Caches.  @capacity_bytes bounds the memory of cached page data; 0 selects
 * the default (PC_CACHE_DEFAULT_CAPACITY).  It is rounded down to whole
 * pages and must hold at least one page.  A full cache evicts clean pages
 * (CLOCK, across all its mappings) and has dirty ones written back first;
 * when every page is pinned, dirty and unwritable, or locked, a new page is
 * refused with -ENOMEM, counted in pc_stats().enomem.  Page structs and
 * index nodes are not charged; pc_stats().meta_bytes reports them.  Each
 * cache runs a flusher thread for background writeback.  A cache must have
 * no open mappings when it is deleted.
 */
#define PC_CACHE_DEFAULT_CAPACITY (256ull << 20)
PC_API int pc_cache_new(struct pc_cache **out, uint64_t capacity_bytes);
PC_API void pc_cache_delete(struct pc_cache **c);
/*
 * Background writeback: the flusher writes back dirty pages once more than
 * @dirty_percent (1-100; default 20) of the budget is dirty, and any dirty
 * page older than @expire_ms (default 5000).  -EINVAL outside those ranges.
 */
PC_API int pc_cache_set_writeback(struct pc_cache *c, unsigned dirty_percent,
				  unsigned expire_ms);

/*
 * Backends.  The RAM backend is a fixed-size device of @device_bytes (whole
 * pages) with one block allocator shared by all of its objects.  Freed blocks
 * are reused at once, last freed first.  A backend must have no open mappings
 * when it is deleted.
 */
PC_API int pc_backend_ram_new(struct pc_backend **out, uint64_t device_bytes);
PC_API void pc_backend_delete(struct pc_backend **b);
/*
 * The file backend: object @name is the host file @dir/@name, with object
 * offsets equal to file offsets.  Holes are the file's holes (SEEK_HOLE),
 * freeing blocks punches them (FALLOC_FL_PUNCH_HOLE), and data synced with
 * pc_sync() is durable (fdatasync).  @dir must exist.
 * PC_FILE_DIRECT opens objects with O_DIRECT where the host file system
 * supports it (and falls back to buffered I/O where it does not).
 */
#define PC_FILE_DIRECT	0x0001u
PC_API int pc_backend_file_new(struct pc_backend **out, const char *dir, unsigned flags);
/*
 * The pmem backend: object @name is the file @dir/@name, mapped with
 * libpmem2 (a pmem file system, or page granularity on an ordinary file).
 * It is DAX-capable.  Built only where libpmem2 is found; elsewhere it
 * answers -ENOTSUP.  @flags: none defined yet, 0.
 * Each open object reserves 64 GiB of address space and grows inside it,
 * so direct pointers never move while it grows (nothing answers -EBUSY);
 * an object holds at most 64 GiB (-EFBIG past it).
 */
PC_API int pc_backend_pmem_new(struct pc_backend **out, const char *dir, unsigned flags);

/*
 * Remove the object @name and free its blocks; -EBUSY while it is open.
 * Object names, for every backend: 1 to 255 bytes, no '/', not "." or ".."
 * (pc_open() and pc_backend_unlink() answer -EINVAL for others).
 */
PC_API int pc_backend_unlink(struct pc_backend *b, const char *name);

/*
 * Mappings.  An object may be open through one mapping at a time: a second
 * pc_open() of the same name on the same backend answers -EBUSY, because two
 * page caches over one object could not be kept coherent.
 * pc_close() writes back every dirty page first (in DAX mode: persists
 * every dirty page); if that fails it returns the error and still closes
 * (the pages are lost, as the error says).  Bad input (-EINVAL), a caller
 * holding the invalidate_lock (-EDEADLK), or a DAX pin or range pin still
 * held (-EBUSY: those point into the object) closes nothing.
 */
PC_API int pc_open(struct pc_mapping **out, struct pc_cache *c, struct pc_backend *b,
		   const char *name, unsigned flags);
PC_API int pc_close(struct pc_mapping **m);

/*
 * Byte I/O through the cache.  Reads stop at EOF (short count, 0 at or past
 * it).  Writes extend the size.  Offsets and lengths are bytes, any alignment;
 * off + len may not pass PC_MAX_SIZE (-EFBIG for writes, -EINVAL for reads).
 */
#define PC_MAX_SIZE ((uint64_t)INT64_MAX)
PC_API ssize_t pc_read(struct pc_mapping *m, void *buf, size_t len, uint64_t off,
		       unsigned flags);
PC_API ssize_t pc_write(struct pc_mapping *m, const void *buf, size_t len, uint64_t off,
			unsigned flags);

/*
 * Readahead.  pc_readahead() populates the cache with the pages of
 * [off, off + len) (len 0: to EOF; the range is clipped at EOF), so that
 * later reads and faults of them hit.  It reads like a read miss, under the
 * invalidate_lock held shared, but in windows of up to 256 KiB (and 1/8 of
 * the cache), each read with one vectored backend I/O where the backend has
 * readv.  It does not wait for pages that another thread is filling, nor
 * read pages that are cached, and it stops at a hole region (a hole page
 * costs no I/O to fill later) and once it has populated as many pages as
 * the cache holds.  It is best effort: it returns 0 once it has populated
 * what it could, and an error (-EIO, -ENOMEM, ...) only if it could not
 * fill the first page of the range, or populated nothing.  Bad ranges get
 * -EINVAL or -EFBIG as for pc_sync(); calling it while holding the
 * invalidate_lock answers -EDEADLK.
 * pc_read() also reads ahead by itself when its misses are sequential.
 */
PC_API int pc_readahead(struct pc_mapping *m, uint64_t off, uint64_t len);

/*
 * Page faults.  pc_fault() pins the page that holds byte @off and returns it
 * in @out; it stays valid memory until pc_page_put().  A fault at or past
 * EOF is -ENXIO.  Bytes of the last page past EOF read as zero.  With
 * PC_FAULT_WRITE the page is marked dirty, and a later pc_sync() writes it
 * (again) while the pin is held, so stores made through the pin are not lost.
 * Punch and truncate wait for pins on the pages they remove (G3), so hold a
 * pin only as long as you use it.
 * In DAX mode (PC_DAX, pc_set_dax()) the pin's address is the backend's
 * storage itself, or for a read fault of a hole a shared read-only page of
 * zeros; its blocks are never freed while it is held, and the mode does not
 * change while any pin is held.  Release every pin with pc_page_put().
 */
PC_API int pc_fault(struct pc_mapping *m, uint64_t off, unsigned flags, struct pc_page **out);
PC_API void *pc_page_addr(const struct pc_page *p);	/* page-aligned, pc_page_size() bytes */
PC_API uint64_t pc_page_offset(const struct pc_page *p);	/* byte offset of the page */
PC_API void pc_page_put(struct pc_page *p);

/*
 * Invalidation.  pc_punch() frees the blocks of the range and keeps the size.
 * pc_zero_range() does the same and grows the size to off + len if that is
 * past EOF.  Partial pages at either end are zeroed in place; whole pages are
 * removed from the cache before the backend frees their blocks (G1, G2).
 * pc_truncate() shrinks (freeing blocks past the new EOF) or grows.
 * Pinned pages in the range are waited for with the lock dropped (G3).
 * Reading the partial pages is the only step that can fail for want of
 * memory, and it comes first, so -ENOMEM changes nothing.  If the backend
 * fails to free blocks, the error is returned; a failed shrink keeps the old
 * size.  These take the invalidate_lock exclusive themselves: calling them
 * while holding it answers -EDEADLK.
 */
PC_API int pc_punch(struct pc_mapping *m, uint64_t off, uint64_t len);
/*
 * pc_punch() with flags.  PC_PUNCH_NOWAIT: where pc_punch() would wait for
 * a pin (or a busy DAX entry) in the range, answer -EBUSY instead, having
 * changed nothing.  pc_punch(m, off, len) is pc_punch_flags(m, off, len, 0).
 */
#define PC_PUNCH_NOWAIT	0x0001u
PC_API int pc_punch_flags(struct pc_mapping *m, uint64_t off, uint64_t len, unsigned flags);
PC_API int pc_zero_range(struct pc_mapping *m, uint64_t off, uint64_t len);
PC_API int pc_truncate(struct pc_mapping *m, uint64_t size);
PC_API int pc_size(struct pc_mapping *m, uint64_t *size);

/*
 * Write back dirty pages in [off, off + len) (len 0: to EOF), waiting for
 * background writeback in flight, and make the backend durable.  Returns
 * the first error this call met; or else, once, the newest write error that
 * background writeback met since the last pc_sync() or pc_close() reported
 * one (as errseq does).  A page whose write failed stays dirty.
 */
PC_API int pc_sync(struct pc_mapping *m, uint64_t off, uint64_t len);

/*
 * The invalidate_lock.  Fill paths (read, fault, writeback) hold it shared;
 * invalidation holds it exclusive.  An engine that moves blocks itself takes
 * it exclusive, calls pc_invalidate_range(), changes its block map, and
 * unlocks.  It is not recursive, it must be unlocked by the thread that
 * took it, and one thread may hold at most 32 invalidate_locks at once.
 */
PC_API void pc_invalidate_lock(struct pc_mapping *m);		/* exclusive */
PC_API void pc_invalidate_unlock(struct pc_mapping *m);
PC_API void pc_invalidate_lock_shared(struct pc_mapping *m);
PC_API void pc_invalidate_unlock_shared(struct pc_mapping *m);
/*
 * Lock two mappings' invalidate_locks exclusive, in the library's fixed
 * order (by address), for copy or dedupe between them (G7).  @a may equal @b.
 */
PC_API void pc_invalidate_lock_two(struct pc_mapping *a, struct pc_mapping *b);
PC_API void pc_invalidate_unlock_two(struct pc_mapping *a, struct pc_mapping *b);

/*
 * Drop the cached pages that overlap [off, off + len) (len 0: to EOF) without
 * freeing backend blocks, for an engine that moves blocks itself.  Each
 * dirty page is written back before it is dropped, so no data is lost.
 * The caller must hold the invalidate_lock exclusive (-EPERM if not).
 * Pins are not waited for (the caller's lock cannot be dropped): a page
 * pinned for read is dropped and its holder keeps the old copy; a page
 * pinned while it may have a write pin (one taken with PC_FAULT_WRITE since
 * the page was last written back: read and write pins look alike) stays
 * cached, since stores through the pin would otherwise go nowhere, and the
 * call answers -EBUSY after dropping the others.  A write error is returned, and that page stays.
 */
PC_API int pc_invalidate_range(struct pc_mapping *m, uint64_t off, uint64_t len);

/*
 * Direct access mode.  pc_set_dax() switches an open mapping between cached
 * and DAX mode (@on) (G4).  It locks out faults (the mmap lock, exclusive)
 * and I/O (the invalidate_lock, exclusive).  Going to DAX it writes back and
 * drops every cached page; going back it persists the dirty DAX pages; the
 * data is kept either way.  While any page is pinned (a pc_fault() pin, a
 * range pin, or a read in progress that holds a page) it answers -EBUSY and
 * changes nothing, unless @flags has PC_WAIT: then it waits, with every lock
 * dropped, for the pins to go, and tries again.  -EOPNOTSUPP if the backend
 * has no direct_access; -EDEADLK if the caller holds the invalidate_lock.
 * Switching to the mode the mapping is in already returns 0.
 * pc_get_dax() answers 1 in DAX mode, 0 in cached mode.
 */
#define PC_WAIT		0x0001u
PC_API int pc_set_dax(struct pc_mapping *m, bool on, unsigned flags);
PC_API int pc_get_dax(struct pc_mapping *m);

/*
 * Long-term pins, in the spirit of pinning pages for DMA.  pc_pin_range()
 * faults every page that overlaps [off, off + len) (PC_PIN_WRITE: as write
 * faults) and keeps the pins until pc_unpin_range() is called with the same
 * @off and @len.  Pinned pages are not evicted, punch and truncate of them
 * wait (or answer -EBUSY with PC_PUNCH_NOWAIT), and pc_set_dax() answers
 * -EBUSY, in both modes.  The range must lie below EOF (-ENXIO) and span at
 * most 1 GiB of pages (-EINVAL).  A mapping with range pins cannot be
 * closed (-EBUSY).  pc_unpin_range() answers -ENOENT if no pin of exactly
 * that range is held; its @flags must be 0.
 */
#define PC_PIN_WRITE	0x0001u
PC_API int pc_pin_range(struct pc_mapping *m, uint64_t off, uint64_t len, unsigned flags);
PC_API int pc_unpin_range(struct pc_mapping *m, uint64_t off, uint64_t len, unsigned flags);

/*
 * Statistics.  pc_stats() fills up to @size bytes of @st, so a program built
 * against an older, smaller struct keeps working; fields only grow at the end.
 */
struct pc_stats {
	uint64_t hits;		/* lookups answered from the cache */
	uint64_t misses;	/* lookups that had to create a page */
	uint64_t fills;		/* pages read from the backend (holes excluded) */
	uint64_t hole_fills;	/* pages filled with zeros from a hole */
	uint64_t pages_cached;	/* pages in the cache now */
	uint64_t bytes_cached;	/* page data bytes charged to the budget now */
	uint64_t capacity;	/* the budget, in bytes */
	uint64_t enomem;	/* pages refused because the budget was full */
	uint64_t writebacks;	/* pages written to the backend */
	uint64_t punches;	/* pc_punch and pc_zero_range calls that succeeded */
	uint64_t truncates;	/* pc_truncate calls that succeeded */
	uint64_t pages_removed;	/* pages removed by invalidation */
	uint64_t pin_waits;	/* waits for a pinned page during invalidation */
	uint64_t retries;	/* invalidation restarts after a pin wait */
	uint64_t meta_bytes;	/* page structs and index nodes: not charged to the budget */
	uint64_t index_nodes;	/* index nodes live, in every cache of the process */
	uint64_t write_errors;	/* backend write failures seen by writeback */
	uint64_t evictions;	/* clean pages evicted by reclaim */
	uint64_t reclaim_scans;	/* pages looked at by reclaim */
	uint64_t flusher_runs;	/* background writeback passes */
	uint64_t dirty_pages;	/* pages dirty now */
	/* DAX (fields added in 0.1 with DAX mappings): */
	uint64_t dax_faults;	/* DAX pins handed out (pc_fault, range pins) */
	uint64_t dax_zero_faults; /* of them, reads of holes answered with the zero page */
	uint64_t dax_allocs;	/* DAX write faults and writes that allocated blocks */
	uint64_t dax_entry_waits; /* waits for a locked DAX entry */
	uint64_t dax_persists;	/* backend persist calls from pc_sync */
	uint64_t dax_busy_waits; /* punch/truncate waits for a pinned or locked DAX entry */
	uint64_t mode_switches;	/* pc_set_dax calls that changed the mode */
};
PC_API int pc_stats(const struct pc_cache *c, struct pc_stats *st, size_t size);

#ifdef __cplusplus
}
#endif
#endif /* PAGECACHE_H */
