/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pckv's compaction: copy the live records forward, then punch the log's
 * dead prefix; and the background thread that starts passes.
 *
 * A pass (kv_compact_pass, under compact_mu, so one at a time) takes the
 * tail as it is when the pass starts as its end, and walks the log from the
 * head to that end in chunks of KV_COMPACT_CHUNK bytes.  For each chunk:
 *
 *   1. each PUT record the index still points to is appended again at the
 *      tail, byte for byte (its CRC does not depend on where it lies), and
 *      the index entry is pointed at the copy, both under append_mu, so a
 *      put of the same key orders either before the copy (and the copy is
 *      not made: the index no longer points at the old record) or after it;
 *      dead PUTs, PADs and DEL tombstones are left behind (every older
 *      record of a tombstone's key lies below it, in this chunk or an
 *      earlier one, so nothing it hides survives the punch);
 *   2. pc_sync() the log: the copies are durable;
 *   3. raise the superblock's head to the chunk's end (durable): a crash
 *      from here on recovers from the new head, and never needs the chunk;
 *   4. store punch_head (readers' check, kv.c) and pc_punch() the whole
 *      pages below the new head.  A partial page is left alone: zeroing
 *      its lower part in place would not wait for pins, and its upper part
 *      holds kept records that readers may have pinned.  A later pass
 *      punches it once the head has moved past all of it.
 *
 * Copies go past the pass's end, so a pass finishes.  Records are never
 * rewritten in place and punched offsets are never written again.
 *
 * The background thread wakes every 100 ms, or when a put/del sees the
 * threshold crossed, and runs a pass when dead bytes are at least
 * dead_percent of the log and min_dead bytes, and there were writes since
 * its last pass (a pass that cannot shrink the log, because what is dead
 * is padding, is not repeated for nothing).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv_int.h"

#define KV_COMPACT_CHUNK (8u << 20)

/* Punch the whole pages below @new_head.  Caller holds compact_mu (or is kv_open). */
int kv_punch_upto(struct kv *kv, uint64_t new_head)
{
	uint64_t end = new_head & ~(kv->ps - 1);
	int r;

	/* Before the punch: kv.c, "Reader vs compaction" (3). */
	if (new_head > __atomic_load_n(&kv->punch_head, __ATOMIC_SEQ_CST))
		__atomic_store_n(&kv->punch_head, new_head, __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (end <= kv->punched_to)
		return 0;
	r = pc_punch(kv->m, kv->punched_to, end - kv->punched_to);
	if (r)
		return r;
	KV_ADD(&kv->punched_bytes, end - kv->punched_to);
	kv->punched_to = end;
	return 0;
}

/* Step 1 for the record at @pos: copy it forward if it is live. */
static int copy_if_live(struct kv *kv, const struct kv_rec_hdr *h, const void *key,
			uint64_t pos)
{
	uint64_t hash = kv_hash(key, h->klen), noff;
	struct kv_shard *s = kv_shard_of(&kv->ix, hash);
	struct kv_ent *e;
	int r = 0;

	pthread_mutex_lock(&kv->append_mu);
	pthread_rwlock_rdlock(&s->lock);
	e = __kv_index_find(s, hash, key, h->klen);
	pthread_rwlock_unlock(&s->lock);
	/* e stays valid: entries change only under append_mu (kv_index.c). */
	if (e && e->off == pos) {
		r = __kv_log_append(kv, h, key, NULL, pos + KV_HDR + h->klen, &noff);
		if (!r) {
			pthread_rwlock_wrlock(&s->lock);
			e->off = noff;
			pthread_rwlock_unlock(&s->lock);
			KV_ADD(&kv->copied_bytes, kv_rec_size(h->klen, h->vlen));
		}
	}
	pthread_mutex_unlock(&kv->append_mu);
	return r;
}

/* Walk [pos, limit): copy what is live.  Returns the end reached, or -errno. */
static int64_t compact_chunk(struct kv *kv, uint64_t pos, uint64_t limit, uint64_t end)
{
	unsigned char small[256];

	while (pos < end && pos < limit) {
		struct kv_rec_hdr h;
		unsigned char *key = small;
		uint32_t type;
		int r;

		r = kv_log_read(kv, &h, 8, pos);
		if (r)
			return r;
		type = h.tag & 0xff;
		if ((h.tag & KV_TAG_MASK) != KV_TAG_MAGIC)
			return -EIO;	/* we wrote this part of the log ourselves */
		if (type == KV_REC_PAD) {
			pos += h.crc;
			continue;
		}
		r = kv_log_read(kv, &h, KV_HDR, pos);
		if (r)
			return r;
		if (h.klen > KV_MAX_KEY || h.vlen > KV_MAX_VALUE)
			return -EIO;
		if (type == KV_REC_PUT) {
			if (h.klen > sizeof(small)) {
				key = malloc(h.klen);
				if (!key)
					return -ENOMEM;
			}
			r = kv_log_read(kv, key, h.klen, pos + KV_HDR);
			if (!r)
				r = copy_if_live(kv, &h, key, pos);
			if (key != small)
				free(key);
			if (r)
				return r;
		}
		pos += kv_rec_size(h.klen, h.vlen);
	}
	return (int64_t)pos;
}

int kv_compact_pass(struct kv *kv)
{
	uint64_t pos, end;
	int r = 0;

	pthread_mutex_lock(&kv->compact_mu);
	end = KV_LOAD(&kv->tail);
	pos = KV_LOAD(&kv->head);
	while (pos < end) {
		int64_t n = compact_chunk(kv, pos, pos + KV_COMPACT_CHUNK, end);
		uint64_t synced;

		if (n < 0) {
			r = (int)n;
			break;
		}
		pos = (uint64_t)n;
		/* 2: the copies (and everything before them) are durable. */
		pthread_mutex_lock(&kv->sync_mu);
		synced = KV_LOAD(&kv->tail);
		r = pc_sync(kv->m, 0, 0);
		if (!r && synced > KV_LOAD(&kv->durable))
			KV_STORE(&kv->durable, synced);
		pthread_mutex_unlock(&kv->sync_mu);
		if (r)
			break;
		pthread_mutex_lock(&kv->append_mu);
		KV_STORE(&kv->head, pos);
		pthread_mutex_unlock(&kv->append_mu);
		/* 3, then 4. */
		r = kv_sb_store(kv, pos, synced);
		if (!r)
			r = kv_punch_upto(kv, pos);
		if (r)
			break;
	}
	if (!r)
		KV_ADD(&kv->compactions, 1);
	pthread_mutex_lock(&kv->bg_mu);
	KV_STORE(&kv->bg_last_writes, KV_LOAD(&kv->puts) + KV_LOAD(&kv->dels));
	pthread_mutex_unlock(&kv->bg_mu);
	pthread_mutex_unlock(&kv->compact_mu);
	return r;
}

int kv_compact(struct kv *kv)
{
	if (!kv)
		return -EINVAL;
	return kv_compact_pass(kv);
}

/* Is a background pass due?  Racy reads; a wrong answer only delays a pass. */
static bool want_pass(struct kv *kv, uint64_t last_writes)
{
	unsigned dp = KV_LOAD(&kv->dead_percent);
	uint64_t head = KV_LOAD(&kv->head), tail = KV_LOAD(&kv->tail);
	uint64_t live = KV_LOAD(&kv->live_bytes), log, dead;

	if (!dp || tail < head)
		return false;
	log = tail - head;
	dead = live < log ? log - live : 0;
	return dead >= KV_LOAD(&kv->min_dead) && dead * 100 >= (uint64_t)dp * log &&
	       KV_LOAD(&kv->puts) + KV_LOAD(&kv->dels) != last_writes;
}

void kv_bg_kick(struct kv *kv)
{
	if (want_pass(kv, KV_LOAD(&kv->bg_last_writes))) {
		pthread_mutex_lock(&kv->bg_mu);
		pthread_cond_signal(&kv->bg_cond);
		pthread_mutex_unlock(&kv->bg_mu);
	}
}

static void *bg_main(void *arg)
{
	struct kv *kv = arg;

	pthread_mutex_lock(&kv->bg_mu);
	while (!kv->bg_stop) {
		struct timespec ts;

		if (!want_pass(kv, kv->bg_last_writes)) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 100 * 1000 * 1000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&kv->bg_cond, &kv->bg_mu, &ts);
			continue;
		}
		pthread_mutex_unlock(&kv->bg_mu);
		/* An error (say -ENOSPC) is met again by the next explicit pass. */
		(void)kv_compact_pass(kv);
		pthread_mutex_lock(&kv->bg_mu);
	}
	pthread_mutex_unlock(&kv->bg_mu);
	return NULL;
}

int kv_bg_start(struct kv *kv)
{
	int r = pthread_create(&kv->bg_thread, NULL, bg_main, kv);

	if (r)
		return -r;
	kv->bg_started = true;
	return 0;
}

void kv_bg_stop(struct kv *kv)
{
	if (!kv->bg_started)
		return;
	pthread_mutex_lock(&kv->bg_mu);
	kv->bg_stop = true;
	pthread_cond_signal(&kv->bg_cond);
	pthread_mutex_unlock(&kv->bg_mu);
	pthread_join(kv->bg_thread, NULL);
	kv->bg_started = false;
}

int kv_set_compaction(struct kv *kv, unsigned dead_percent, uint64_t min_dead_bytes)
{
	if (!kv || dead_percent > 100)
		return -EINVAL;
	KV_STORE(&kv->dead_percent, dead_percent);
	KV_STORE(&kv->min_dead, min_dead_bytes);
	pthread_mutex_lock(&kv->bg_mu);
	pthread_cond_signal(&kv->bg_cond);
	pthread_mutex_unlock(&kv->bg_mu);
	return 0;
}
