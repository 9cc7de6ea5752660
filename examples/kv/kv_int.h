/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pckv internals: struct kv, the on-log record format, and the calls the
 * store's files make to each other (kv.c, kv_index.c, kv_log.c,
 * kv_compact.c).  The design and the reader/compaction protocol are written
 * at the top of kv.c.
 */
#ifndef PCKV_KV_INT_H
#define PCKV_KV_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <pagecache.h>

#include "kv.h"

/*
 * Records, in host byte order, each starting at an 8-byte aligned log offset:
 *
 *   u32 tag     KV_TAG_MAGIC | type
 *   u32 crc     zlib crc32 of the header with crc = 0, then key, then value
 *               (for a PAD: the pad's length instead)
 *   u32 klen
 *   u32 vlen    (0 for a DEL)
 *   key, value, zeros up to the next multiple of 8
 *
 * A PAD fills the rest of a page so that the next record, no bigger than a
 * page, does not cross a page boundary; only its first 8 bytes are written.
 */
#define KV_TAG_MAGIC	0x6b765000u	/* "\0Pvk" */
#define KV_TAG_MASK	0xffffff00u
#define KV_REC_PUT	1u
#define KV_REC_DEL	2u
#define KV_REC_PAD	3u
#define KV_HDR		16u

struct kv_rec_hdr {
	uint32_t tag;
	uint32_t crc;
	uint32_t klen;
	uint32_t vlen;
};

static inline uint64_t kv_rec_size(uint64_t klen, uint64_t vlen)
{
	return (KV_HDR + klen + vlen + 7) & ~(uint64_t)7;
}

/*
 * The superblock: page 0 of the log holds two slots (at 0 and at 512 bytes,
 * each in its own sector) written alternately; the valid one with the
 * higher generation wins, so a torn slot write loses only the newest
 * update.  Records start at page 1.
 */
#define KV_SB_MAGIC	0x31474f4c564b4350ull	/* "PCKVLOG1" */
#define KV_SB_SLOT	512u

struct kv_sb {
	uint64_t magic;
	uint32_t version;
	uint32_t crc;		/* crc32 of the slot with crc = 0 */
	uint64_t gen;
	uint64_t head;		/* first record to read on open */
	uint64_t synced;	/* records below this were made durable by a sync */
};

/* The hash index (kv_index.c): 64 shards, each a chained table under an rwlock. */
#define KV_SHARDS 64

struct kv_ent {
	struct kv_ent *next;
	uint64_t hash;
	uint64_t off;		/* log offset of the key's newest record */
	uint32_t vlen;
	uint32_t klen;
	unsigned char key[];
};

struct kv_shard {
	pthread_rwlock_t lock;
	/* protected by lock: */
	struct kv_ent **buckets;
	uint64_t nbuckets;	/* a power of two */
	uint64_t count;
} __attribute__((aligned(64)));

struct kv_index {
	struct kv_shard shards[KV_SHARDS];
};

uint64_t kv_hash(const void *key, size_t klen);
int kv_index_init(struct kv_index *ix);
void kv_index_destroy(struct kv_index *ix);
static inline struct kv_shard *kv_shard_of(struct kv_index *ix, uint64_t hash)
{
	return &ix->shards[hash >> 58];
}
/* The __ calls need the shard's lock: shared to find, exclusive to change. */
struct kv_ent *__kv_index_find(struct kv_shard *s, uint64_t hash, const void *key,
			       size_t klen);
void __kv_index_insert(struct kv_shard *s, struct kv_ent *e);	/* never fails */
void __kv_index_remove(struct kv_shard *s, struct kv_ent *e);	/* does not free */
void __kv_index_clear(struct kv_shard *s);			/* frees all */
struct kv_ent *kv_ent_new(const void *key, size_t klen, uint64_t hash);

/*
 * Lock order, outermost first (the tree lives here because struct kv owns
 * every lock of the store):
 *
 *   compact_mu                      kv_compact_pass(), kv_flushdb()
 *     -> append_mu                  copy_if_live(), kv_flushdb(); alone: kv_put(), kv_del()
 *          -> shard rwlock          every __kv_index_* caller (also alone: gets)
 *     -> sync_mu                    kv_compact_pass() (the sync of step 2)
 *          -> sb_mu                 kv_sync() -> kv_sb_store() (also alone)
 *     -> sb_mu                      kv_compact_pass(), kv_flushdb() -> kv_sb_store()
 *   bg_mu                           alone (the compaction thread's condition)
 *   libpagecache's locks are taken inside all of these ("the engine's own
 *   locks" come first in its order).  No kv lock is held across a pc_punch()
 *   that could wait for a pin except compact_mu, which no reader takes, so a
 *   reader holding a pin (even one calling kv_get() again from its
 *   callback) never waits for the punch that waits for it.
 */
struct kv {
	struct pc_cache *cache;
	struct pc_backend *be;
	struct pc_mapping *m;
	char *log_path;		/* dir/log, for st_blocks */
	int lock_fd;		/* flock()ed: one process per data directory */
	uint64_t ps;		/* pc_page_size() */
	enum kv_sync sync;

	struct kv_index ix;

	pthread_mutex_t append_mu;
	/* written under append_mu, read with atomic loads anywhere: */
	uint64_t tail;		/* next record offset; bytes below are pc_written */
	uint64_t head;		/* oldest record kept (compaction moves it) */
	uint64_t live_bytes;
	uint64_t keys;

	/*
	 * Readers compare the record they found with punch_head after
	 * pinning it; compaction stores it (seq_cst) before pc_punch().  See
	 * kv.c, "Reader vs compaction".
	 */
	uint64_t punch_head;	/* atomic */

	pthread_mutex_t compact_mu;
	/* protected by compact_mu: */
	uint64_t punched_to;	/* pages below this are punched */

	pthread_mutex_t sync_mu;
	uint64_t durable;	/* atomic: records below are durable (group commit) */

	pthread_mutex_t sb_mu;
	/* protected by sb_mu: */
	uint64_t sb_gen, sb_head, sb_synced;

	/* the background compaction thread */
	pthread_mutex_t bg_mu;
	pthread_cond_t bg_cond;
	pthread_t bg_thread;
	bool bg_started;
	/* protected by bg_mu: */
	bool bg_stop;
	unsigned dead_percent;
	uint64_t min_dead;
	uint64_t bg_last_writes;	/* puts + dels when the last pass ended */

	/* counters, atomic */
	uint64_t compactions, punched_bytes, copied_bytes, get_retries, torn_bytes;
	uint64_t puts, gets, dels, syncs;

	/* test only (kv_debug_set) */
	unsigned debug_flags;
	unsigned lookup_delay_us;
};

#define KV_LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define KV_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define KV_ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)

/* kv_log.c */
int kv_log_recover(struct kv *kv);
int __kv_log_append(struct kv *kv, const struct kv_rec_hdr *h, const void *key,
		    const void *val, uint64_t val_log_off, uint64_t *off_out);
uint32_t kv_rec_crc(const struct kv_rec_hdr *h, const void *key, const void *val);
int kv_sb_store(struct kv *kv, uint64_t head, uint64_t synced);
int kv_log_read(struct kv *kv, void *buf, size_t len, uint64_t off);

/* kv_compact.c */
int kv_compact_pass(struct kv *kv);
int kv_bg_start(struct kv *kv);
void kv_bg_stop(struct kv *kv);
void kv_bg_kick(struct kv *kv);
int kv_punch_upto(struct kv *kv, uint64_t new_head);

#endif /* PCKV_KV_INT_H */
