/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pckv: the store's calls (open, put, get, del, scan, sync, flushdb, stats).
 *
 * Design.  The data is an append-only log in one libpagecache object
 * (kv_log.c: record format, superblock, recovery), indexed in memory by a
 * sharded hash table (kv_index.c), and compacted in the background
 * (kv_compact.c).  A put or del appends one record under append_mu and
 * updates the index under the same hold, so the index always agrees with
 * the newest record of each key in log order, which is what recovery
 * rebuilds.  Deletes are tombstone records.
 *
 * Durability.  KV_SYNC_NONE: records reach the disk by background writeback
 * and are durable at kv_sync()/kv_close().  KV_SYNC_ALWAYS: a put/del does
 * not return before a pc_sync(m, 0, 0) that started after its record was
 * written has finished (group commit: one sync covers every record written
 * before it, kv_log.c invariant 1, and threads whose record is already
 * covered do not sync again).  The superblock's synced mark is raised by
 * kv_sync() and by compaction, not by every put; recovery treats a bad
 * record above the mark as a torn tail and below it as corruption.
 *
 * Reader vs compaction.  A get looks its key up (shard lock shared), drops
 * the lock, pins the page holding the value with pc_fault(), and only then
 * checks that the record is not below kv->punch_head.  Compaction (kv_compact.c)
 * does, in this order: (1) copy each live record of [head, new head) to the
 * tail and point the index at the copy, (2) sync, (3) store punch_head =
 * new head, (4) pc_punch() the whole pages below the new head.  Then:
 *  - A get that read an old offset and pinned its page before (4) removed
 *    that page holds valid old bytes (the same bytes as the copy, so the
 *    answer is right): pc_punch waits for the pin (G3) and, on the cached
 *    path, at worst removes the page from the index leaving the holder its
 *    copy.  It never sees zeros or reused blocks mid-use.
 *  - A get whose pin was taken after (4) began may hold a zero page.  But
 *    then (3) happened before its pc_fault (the store precedes the punch,
 *    and the punch's exclusive invalidate_lock orders it before any fill
 *    that sees the hole), so the check after the pin sees the new
 *    punch_head, finds its record below it, drops the pin and looks the
 *    key up again: (1) happened before (3), so the index now gives the copy
 *    (or a newer record, or nothing if the key was deleted meanwhile).
 *  - The pin and the check are separated by a full fence, and (3) is a
 *    seq_cst store, so "pinned before the punch saw no pin" and "check
 *    missed the new punch_head" cannot both happen.
 * The retry loop ends because each retry follows a compaction pass that
 * moved the record forward, and passes only move records past the tail as
 * it was when they started.  A value bigger than a page is read with
 * pc_read() into a buffer instead of pinned; the same check after the read
 * decides whether the copy may be used (a read that met a punched page
 * happened after (3), so it sees the new punch_head and retries).
 * kv_debug_set(KV_DEBUG_SKIP_RECHECK) removes the check, for the test that
 * shows readers then see punched zeros.
 *
 * The head of the log: compaction only ever punches a prefix, so offsets
 * below the head are a hole in the file (no blocks) and the log only grows
 * in offset.  A 64-bit offset does not run out; holes cost nothing.
 *
 * Lock order: kv_int.h, above struct kv.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kv_int.h"

static bool key_ok(const void *key, size_t klen)
{
	return key || !klen;
}

static int check_key(struct kv *kv, const void *key, size_t klen)
{
	if (!kv || !key_ok(key, klen))
		return -EINVAL;
	if (klen > KV_MAX_KEY)
		return -E2BIG;
	return 0;
}

static void kv_free(struct kv *kv)
{
	if (kv->m)
		pc_close(&kv->m);
	if (kv->be)
		pc_backend_delete(&kv->be);
	if (kv->cache)
		pc_cache_delete(&kv->cache);
	if (kv->lock_fd >= 0)
		close(kv->lock_fd);
	kv_index_destroy(&kv->ix);
	pthread_mutex_destroy(&kv->append_mu);
	pthread_mutex_destroy(&kv->compact_mu);
	pthread_mutex_destroy(&kv->sync_mu);
	pthread_mutex_destroy(&kv->sb_mu);
	pthread_mutex_destroy(&kv->bg_mu);
	pthread_cond_destroy(&kv->bg_cond);
	free(kv->log_path);
	free(kv);
}

int kv_open(struct kv **out, const struct kv_options *o)
{
	struct kv *kv;
	int r;

	if (!out || !o || !o->dir || !*o->dir ||
	    (o->sync != KV_SYNC_NONE && o->sync != KV_SYNC_ALWAYS))
		return -EINVAL;
	if (mkdir(o->dir, 0777) < 0 && errno != EEXIST)
		return -errno;
	kv = calloc(1, sizeof(*kv));
	if (!kv)
		return -ENOMEM;
	kv->lock_fd = -1;
	if (kv_index_init(&kv->ix)) {
		free(kv);
		return -ENOMEM;
	}
	pthread_mutex_init(&kv->append_mu, NULL);
	pthread_mutex_init(&kv->compact_mu, NULL);
	pthread_mutex_init(&kv->sync_mu, NULL);
	pthread_mutex_init(&kv->sb_mu, NULL);
	pthread_mutex_init(&kv->bg_mu, NULL);
	pthread_cond_init(&kv->bg_cond, NULL);
	kv->sync = o->sync;
	kv->ps = pc_page_size();
	kv->dead_percent = 50;
	kv->min_dead = 4u << 20;
	if (asprintf(&kv->log_path, "%s/log", o->dir) < 0) {
		kv->log_path = NULL;
		r = -ENOMEM;
		goto fail;
	}
	r = pc_cache_new(&kv->cache, o->cache_bytes);
	if (r)
		goto fail;
	if (o->dax)
		r = pc_backend_pmem_new(&kv->be, o->dir, 0);
	else
		r = pc_backend_file_new(&kv->be, o->dir, 0);
	if (r)
		goto fail;
	r = pc_open(&kv->m, kv->cache, kv->be, "log", PC_CREAT | (o->dax ? PC_DAX : 0));
	if (r)
		goto fail;
	/* One process per directory: two would append over each other. */
	kv->lock_fd = open(kv->log_path, O_RDONLY | O_CLOEXEC);
	if (kv->lock_fd < 0) {
		r = -errno;
		goto fail;
	}
	if (flock(kv->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto fail;
	}
	r = kv_log_recover(kv);
	if (r)
		goto fail;
	kv->punch_head = kv->head;
	kv->durable = kv->tail;
	kv->punched_to = kv->ps;
	/* Pages below the head a crash kept from being punched go now. */
	r = kv_punch_upto(kv, kv->head);
	if (r)
		goto fail;
	kv->punched_bytes = 0;
	r = kv_bg_start(kv);
	if (r)
		goto fail;
	*out = kv;
	return 0;
fail:
	kv_free(kv);
	return r;
}

int kv_close(struct kv **kvp)
{
	struct kv *kv;
	int r;

	if (!kvp || !*kvp)
		return -EINVAL;
	kv = *kvp;
	kv_bg_stop(kv);
	r = kv_sync(kv);
	if (kv->m) {
		int r2 = pc_close(&kv->m);

		if (!r)
			r = r2;
	}
	kv_free(kv);
	*kvp = NULL;
	return r;
}

/* Make every record below @end durable (group commit). */
static int sync_to(struct kv *kv, uint64_t end)
{
	uint64_t e;
	int r = 0;

	if (KV_LOAD(&kv->durable) >= end)
		return 0;
	pthread_mutex_lock(&kv->sync_mu);
	if (KV_LOAD(&kv->durable) < end) {
		e = KV_LOAD(&kv->tail);
		r = pc_sync(kv->m, 0, 0);
		if (!r && e > KV_LOAD(&kv->durable))
			KV_STORE(&kv->durable, e);
		KV_ADD(&kv->syncs, 1);
	}
	pthread_mutex_unlock(&kv->sync_mu);
	return r;
}

int kv_sync(struct kv *kv)
{
	uint64_t e;
	int r;

	if (!kv)
		return -EINVAL;
	pthread_mutex_lock(&kv->sync_mu);
	e = KV_LOAD(&kv->tail);
	r = pc_sync(kv->m, 0, 0);
	if (!r) {
		if (e > KV_LOAD(&kv->durable))
			KV_STORE(&kv->durable, e);
		r = kv_sb_store(kv, 0, e);
	}
	KV_ADD(&kv->syncs, 1);
	pthread_mutex_unlock(&kv->sync_mu);
	return r;
}

int kv_put(struct kv *kv, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct kv_rec_hdr h;
	struct kv_shard *s;
	struct kv_ent *e, *fresh;
	uint64_t hash, off;
	int r;

	r = check_key(kv, key, klen);
	if (r)
		return r;
	if (!val && vlen)
		return -EINVAL;
	if (vlen > KV_MAX_VALUE)
		return -E2BIG;
	hash = kv_hash(key, klen);
	s = kv_shard_of(&kv->ix, hash);
	h.tag = KV_TAG_MAGIC | KV_REC_PUT;
	h.klen = (uint32_t)klen;
	h.vlen = (uint32_t)vlen;
	h.crc = 0;
	h.crc = kv_rec_crc(&h, key, val);
	/* Allocated before anything is written, so -ENOMEM changes nothing. */
	fresh = kv_ent_new(key, klen, hash);
	if (!fresh)
		return -ENOMEM;

	pthread_mutex_lock(&kv->append_mu);
	r = __kv_log_append(kv, &h, key, val, 0, &off);
	if (r) {
		pthread_mutex_unlock(&kv->append_mu);
		free(fresh);
		return r;
	}
	pthread_rwlock_wrlock(&s->lock);
	e = __kv_index_find(s, hash, key, klen);
	if (e) {
		KV_STORE(&kv->live_bytes, kv->live_bytes - kv_rec_size(e->klen, e->vlen));
	} else {
		e = fresh;
		fresh = NULL;
		__kv_index_insert(s, e);
		KV_STORE(&kv->keys, kv->keys + 1);
	}
	e->off = off;
	e->vlen = (uint32_t)vlen;
	pthread_rwlock_unlock(&s->lock);
	KV_STORE(&kv->live_bytes, kv->live_bytes + kv_rec_size(klen, vlen));
	pthread_mutex_unlock(&kv->append_mu);
	free(fresh);

	KV_ADD(&kv->puts, 1);
	kv_bg_kick(kv);
	if (kv->sync == KV_SYNC_ALWAYS)
		return sync_to(kv, off + kv_rec_size(klen, vlen));
	return 0;
}

int kv_del(struct kv *kv, const void *key, size_t klen)
{
	struct kv_rec_hdr h;
	struct kv_shard *s;
	struct kv_ent *e;
	uint64_t hash, off;
	int r;

	r = check_key(kv, key, klen);
	if (r)
		return r;
	hash = kv_hash(key, klen);
	s = kv_shard_of(&kv->ix, hash);
	h.tag = KV_TAG_MAGIC | KV_REC_DEL;
	h.klen = (uint32_t)klen;
	h.vlen = 0;
	h.crc = 0;
	h.crc = kv_rec_crc(&h, key, NULL);

	pthread_mutex_lock(&kv->append_mu);
	/* Entries change only under append_mu (kv_index.c invariant 2). */
	pthread_rwlock_rdlock(&s->lock);
	e = __kv_index_find(s, hash, key, klen);
	pthread_rwlock_unlock(&s->lock);
	if (!e) {
		pthread_mutex_unlock(&kv->append_mu);
		return -ENOENT;
	}
	r = __kv_log_append(kv, &h, key, NULL, 0, &off);
	if (r) {
		pthread_mutex_unlock(&kv->append_mu);
		return r;
	}
	pthread_rwlock_wrlock(&s->lock);
	__kv_index_remove(s, e);
	pthread_rwlock_unlock(&s->lock);
	KV_STORE(&kv->live_bytes, kv->live_bytes - kv_rec_size(e->klen, e->vlen));
	KV_STORE(&kv->keys, kv->keys - 1);
	pthread_mutex_unlock(&kv->append_mu);
	free(e);

	KV_ADD(&kv->dels, 1);
	kv_bg_kick(kv);
	if (kv->sync == KV_SYNC_ALWAYS)
		return sync_to(kv, off + kv_rec_size(klen, 0));
	return 0;
}

/* Look the key up: its record's offset and value length, or -ENOENT. */
static int lookup(struct kv *kv, struct kv_shard *s, uint64_t hash, const void *key,
		  size_t klen, uint64_t *off, uint32_t *vlen)
{
	struct kv_ent *e;

	pthread_rwlock_rdlock(&s->lock);
	e = __kv_index_find(s, hash, key, klen);
	if (e) {
		*off = e->off;
		*vlen = e->vlen;
	}
	pthread_rwlock_unlock(&s->lock);
	return e ? 0 : -ENOENT;
}

/* The check after the pin (see "Reader vs compaction" above). */
static bool moved(struct kv *kv, uint64_t off)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (KV_LOAD(&kv->debug_flags) & KV_DEBUG_SKIP_RECHECK)
		return false;
	return off < __atomic_load_n(&kv->punch_head, __ATOMIC_SEQ_CST);
}

static int get_hashed(struct kv *kv, const void *key, size_t klen, uint64_t hash,
		      kv_value_fn fn, void *arg)
{
	struct kv_shard *s = kv_shard_of(&kv->ix, hash);

	uint64_t nget = KV_ADD(&kv->gets, 1);

	for (;;) {
		uint64_t off, voff;
		uint32_t vlen;
		int r;

		r = lookup(kv, s, hash, key, klen, &off, &vlen);
		if (r)
			return r;
		if (KV_LOAD(&kv->lookup_delay_us) && nget % 8 == 0) {
			usleep(KV_LOAD(&kv->lookup_delay_us));
			nget = 1;	/* a retry goes straight on */
		}
		voff = off + KV_HDR + klen;
		if (vlen == 0)
			return fn(arg, "", 0);
		if (voff % kv->ps + vlen <= kv->ps) {
			/* Zero-copy: the value lies in one page; pin it. */
			struct pc_page *pg;

			r = pc_fault(kv->m, voff, 0, &pg);
			if (r)
				return r;
			if (moved(kv, off)) {
				pc_page_put(pg);
				KV_ADD(&kv->get_retries, 1);
				continue;
			}
			r = fn(arg, (const char *)pc_page_addr(pg) + (voff - pc_page_offset(pg)),
			       vlen);
			pc_page_put(pg);
			return r;
		} else {
			void *buf = malloc(vlen);

			if (!buf)
				return -ENOMEM;
			r = kv_log_read(kv, buf, vlen, voff);
			if (r) {
				free(buf);
				return r;
			}
			if (moved(kv, off)) {
				free(buf);
				KV_ADD(&kv->get_retries, 1);
				continue;
			}
			r = fn(arg, buf, vlen);
			free(buf);
			return r;
		}
	}
}

int kv_get(struct kv *kv, const void *key, size_t klen, kv_value_fn fn, void *arg)
{
	int r = check_key(kv, key, klen);

	if (r)
		return r;
	if (!fn)
		return -EINVAL;
	return get_hashed(kv, key, klen, kv_hash(key, klen), fn, arg);
}

struct copy_arg {
	void *buf;
	size_t cap;
	size_t len;
};

static int copy_fn(void *arg, const void *val, size_t vlen)
{
	struct copy_arg *c = arg;

	memcpy(c->buf, val, vlen < c->cap ? vlen : c->cap);
	c->len = vlen;
	return 0;
}

long long kv_get_copy(struct kv *kv, const void *key, size_t klen, void *buf, size_t cap)
{
	struct copy_arg c = { buf, cap, 0 };
	int r;

	if (!buf && cap)
		return -EINVAL;
	r = kv_get(kv, key, klen, copy_fn, &c);
	return r ? r : (long long)c.len;
}

int kv_exists(struct kv *kv, const void *key, size_t klen)
{
	struct kv_shard *s;
	uint64_t hash, off;
	uint32_t vlen;
	int r = check_key(kv, key, klen);

	if (r)
		return r;
	hash = kv_hash(key, klen);
	s = kv_shard_of(&kv->ix, hash);
	return lookup(kv, s, hash, key, klen, &off, &vlen) == 0;
}

uint64_t kv_count(struct kv *kv)
{
	return kv ? KV_LOAD(&kv->keys) : 0;
}

int kv_flushdb(struct kv *kv)
{
	uint64_t new_head;
	int r;

	if (!kv)
		return -EINVAL;
	pthread_mutex_lock(&kv->compact_mu);
	pthread_mutex_lock(&kv->append_mu);
	for (unsigned i = 0; i < KV_SHARDS; i++) {
		struct kv_shard *s = &kv->ix.shards[i];

		pthread_rwlock_wrlock(&s->lock);
		__kv_index_clear(s);
		pthread_rwlock_unlock(&s->lock);
	}
	KV_STORE(&kv->keys, 0);
	KV_STORE(&kv->live_bytes, 0);
	new_head = kv->tail;
	KV_STORE(&kv->head, new_head);
	pthread_mutex_unlock(&kv->append_mu);
	/*
	 * Nothing below new_head is needed any more, so the superblock can
	 * move its head there at once; a crash before this is durable
	 * brings the old keys back, as it should (flushdb had not returned).
	 */
	r = kv_sb_store(kv, new_head, new_head);
	if (!r)
		r = kv_punch_upto(kv, new_head);
	pthread_mutex_unlock(&kv->compact_mu);
	return r;
}

struct scan_key {
	size_t klen;
	unsigned char key[];
};

static int scan_key_cmp(const void *a, const void *b)
{
	const struct scan_key *x = *(const struct scan_key *const *)a;
	const struct scan_key *y = *(const struct scan_key *const *)b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = n ? memcmp(x->key, y->key, n) : 0;

	if (c)
		return c;
	return x->klen < y->klen ? -1 : x->klen > y->klen;
}

struct scan_arg {
	kv_scan_fn fn;
	void *arg;
	const struct scan_key *k;
};

static int scan_value_fn(void *arg, const void *val, size_t vlen)
{
	struct scan_arg *a = arg;

	return a->fn(a->arg, a->k->key, a->k->klen, val, vlen);
}

int kv_scan(struct kv *kv, const void *prefix, size_t plen, kv_scan_fn fn, void *arg)
{
	struct scan_key **keys = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	if (!kv || !fn || !key_ok(prefix, plen))
		return -EINVAL;
	/* Collect the matching keys shard by shard, then sort them. */
	for (unsigned i = 0; i < KV_SHARDS && !r; i++) {
		struct kv_shard *s = &kv->ix.shards[i];

		pthread_rwlock_rdlock(&s->lock);
		for (uint64_t b = 0; b < s->nbuckets && !r; b++)
			for (struct kv_ent *e = s->buckets[b]; e && !r; e = e->next) {
				struct scan_key *k;

				if (e->klen < plen || (plen && memcmp(e->key, prefix, plen)))
					continue;
				if (n == cap) {
					size_t nc = cap ? cap * 2 : 64;
					struct scan_key **nk = realloc(keys, nc * sizeof(*keys));

					if (!nk) {
						r = -ENOMEM;
						break;
					}
					keys = nk;
					cap = nc;
				}
				k = malloc(sizeof(*k) + e->klen);
				if (!k) {
					r = -ENOMEM;
					break;
				}
				k->klen = e->klen;
				memcpy(k->key, e->key, e->klen);
				keys[n++] = k;
			}
		pthread_rwlock_unlock(&s->lock);
	}
	if (!r && n)
		qsort(keys, n, sizeof(*keys), scan_key_cmp);
	for (size_t i = 0; i < n && !r; i++) {
		struct scan_arg a = { fn, arg, keys[i] };

		r = get_hashed(kv, keys[i]->key, keys[i]->klen,
			       kv_hash(keys[i]->key, keys[i]->klen), scan_value_fn, &a);
		if (r == -ENOENT)
			r = 0;	/* deleted since we collected it */
	}
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	return r;
}

int kv_stats(struct kv *kv, struct kv_stats *st)
{
	struct stat sb;

	if (!kv || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&kv->append_mu);
	st->keys = kv->keys;
	st->live_bytes = kv->live_bytes;
	st->head = kv->head;
	st->tail = kv->tail;
	pthread_mutex_unlock(&kv->append_mu);
	st->log_bytes = st->tail - st->head;
	st->dead_bytes = st->log_bytes - st->live_bytes;
	st->compactions = KV_LOAD(&kv->compactions);
	st->punched_bytes = KV_LOAD(&kv->punched_bytes);
	st->copied_bytes = KV_LOAD(&kv->copied_bytes);
	st->get_retries = KV_LOAD(&kv->get_retries);
	st->torn_bytes = kv->torn_bytes;
	st->puts = KV_LOAD(&kv->puts);
	st->gets = KV_LOAD(&kv->gets);
	st->dels = KV_LOAD(&kv->dels);
	st->syncs = KV_LOAD(&kv->syncs);
	if (stat(kv->log_path, &sb) == 0)
		st->alloc_bytes = (uint64_t)sb.st_blocks * 512;
	return 0;
}

struct pc_cache *kv_cache(struct kv *kv)
{
	return kv ? kv->cache : NULL;
}

int kv_debug_set(struct kv *kv, unsigned flags, unsigned lookup_delay_us)
{
	if (!kv || (flags & ~KV_DEBUG_SKIP_RECHECK))
		return -EINVAL;
	KV_STORE(&kv->debug_flags, flags);
	KV_STORE(&kv->lookup_delay_us, lookup_delay_us);
	return 0;
}
