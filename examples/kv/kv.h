/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pckv: a small key-value store on libpagecache (the store library).
 *
 * The data lives in an append-only log, one libpagecache object named "log"
 * in @dir (the file backend; the pmem backend and PC_DAX with dax = true).
 * An in-memory hash index, rebuilt on open by reading the log, maps each
 * key to the offset of its newest record.  Gets read the value zero-copy
 * through a pc_fault() pin; compaction copies live records forward and
 * pc_punch()es the dead part of the log, in the background, while gets go on.
 * kv.c has the design, the record format and the reader/compaction protocol.
 *
 * Conventions (libpagecache's): calls return 0 or a negative errno; bad
 * input gets -EINVAL (or -E2BIG for a key or value over the limits) and
 * changes nothing; every call is safe from many threads at once.
 *
 * Limits: keys of 0 to KV_MAX_KEY bytes (the empty key is a key), values of
 * 0 to KV_MAX_VALUE bytes.  A NULL pointer is allowed only with length 0.
 */
#ifndef PCKV_KV_H
#define PCKV_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KV_MAX_KEY	(64u << 10)	/* 64 KiB */
#define KV_MAX_VALUE	(512u << 20)	/* 512 MiB */

struct kv;
struct pc_cache;

enum kv_sync {
	KV_SYNC_NONE = 0,	/* durable at kv_sync() / kv_close() */
	KV_SYNC_ALWAYS = 1,	/* every put/del is durable (pc_sync) before it returns */
};

struct kv_options {
	const char *dir;	/* data directory; must exist; holds the object "log" */
	bool dax;		/* pmem backend + PC_DAX instead of the file backend */
	enum kv_sync sync;
	uint64_t cache_bytes;	/* libpagecache budget; 0: the library's default */
};

/*
 * Open (creating dir/log if absent) and rebuild the index from the log.  A
 * torn or partial tail (records written after the last kv_sync() that did
 * not fully reach the disk) is dropped: the log is pc_truncate()d to the
 * last whole record.  A bad checksum in the part of the log that a kv_sync()
 * made durable is corruption, not a torn tail: kv_open() answers -EBADMSG
 * and changes nothing.  The background compaction thread starts here.
 */
int kv_open(struct kv **out, const struct kv_options *o);
/* Stop compaction, sync, close; sets *kv to NULL.  Returns the sync's error. */
int kv_close(struct kv **kv);

int kv_put(struct kv *kv, const void *key, size_t klen, const void *val, size_t vlen);

/*
 * kv_get() calls @fn once with the value, then returns 0, or fn's return
 * value if that is nonzero; -ENOENT if the key is absent.
 * Zero-copy: a record no bigger than a page never crosses a page boundary
 * in the log (the writer pads to the next page first), so its value is
 * handed to @fn straight from the pinned page (pc_fault) and stays valid,
 * untouched by compaction, until @fn returns.  A value whose record is
 * bigger than a page is read (pc_read) into a heap buffer and @fn sees that
 * copy.  @fn must not call into the same store with a write (put, del,
 * flushdb, compact): gets are fine.
 */
typedef int (*kv_value_fn)(void *arg, const void *val, size_t vlen);
int kv_get(struct kv *kv, const void *key, size_t klen, kv_value_fn fn, void *arg);
/* Copy the value into @buf (up to @cap bytes); returns the value's length or -errno. */
long long kv_get_copy(struct kv *kv, const void *key, size_t klen, void *buf, size_t cap);

int kv_del(struct kv *kv, const void *key, size_t klen);	/* -ENOENT if absent */
int kv_exists(struct kv *kv, const void *key, size_t klen);	/* 1 or 0 (or -EINVAL) */
uint64_t kv_count(struct kv *kv);
/* Make every put/del that returned before this call durable. */
int kv_sync(struct kv *kv);
/* Delete every key; the log is punched at once.  Durable when it returns. */
int kv_flushdb(struct kv *kv);

/*
 * Call @fn for every key that starts with @prefix (plen 0: every key), in
 * byte order of the keys, with its value (as kv_get() hands it).  A key
 * deleted during the scan may be skipped.  A nonzero return from @fn stops
 * the scan and is returned.
 */
typedef int (*kv_scan_fn)(void *arg, const void *key, size_t klen, const void *val,
			  size_t vlen);
int kv_scan(struct kv *kv, const void *prefix, size_t plen, kv_scan_fn fn, void *arg);

/* Compact the whole log now (copy live records forward, punch the rest). */
int kv_compact(struct kv *kv);
/*
 * Background compaction: a pass starts when dead bytes are at least
 * @dead_percent of the log and at least @min_dead_bytes.  Defaults: 50 %,
 * 4 MiB.  dead_percent 0 turns background compaction off; over 100: -EINVAL.
 */
int kv_set_compaction(struct kv *kv, unsigned dead_percent, uint64_t min_dead_bytes);

/* Counters (compactions, puts, ...) count from kv_open(); the rest is the state now. */
struct kv_stats {
	uint64_t keys;
	uint64_t live_bytes;	/* bytes of the records the index points to */
	uint64_t log_bytes;	/* log tail - log head: the part not yet punched */
	uint64_t dead_bytes;	/* log_bytes - live_bytes: overwritten, deleted, padding */
	uint64_t compactions;	/* compaction passes finished */
	uint64_t punched_bytes;	/* bytes handed to pc_punch(), in total */
	/* added after the first version: */
	uint64_t head;		/* log offset of the oldest record kept */
	uint64_t tail;		/* log offset where the next record goes */
	uint64_t alloc_bytes;	/* allocated size of the log file (st_blocks * 512) */
	uint64_t copied_bytes;	/* bytes compaction copied forward */
	uint64_t get_retries;	/* gets that found their record moved and looked again */
	uint64_t torn_bytes;	/* bytes of torn tail dropped by kv_open() */
	uint64_t puts, gets, dels, syncs;
};
int kv_stats(struct kv *kv, struct kv_stats *st);
struct pc_cache *kv_cache(struct kv *kv);	/* for pc_stats() */

/*
 * TEST ONLY.  KV_DEBUG_SKIP_RECHECK makes kv_get() skip the check that
 * keeps it from using a record compaction has punched (see kv.c); with
 * @lookup_delay_us, one kv_get() in 8 sleeps that long between the index
 * lookup and the pin, which widens that window.  tests/ uses both to show that the check is
 * what keeps readers safe.
 */
#define KV_DEBUG_SKIP_RECHECK 0x1u
int kv_debug_set(struct kv *kv, unsigned flags, unsigned lookup_delay_us);

#ifdef __cplusplus
}
#endif
#endif /* PCKV_KV_H */
