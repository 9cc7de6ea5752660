/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pckv's log: appending records, the superblock, and recovery on open.
 *
 * The log is one libpagecache object.  Page 0 is the superblock (two slots,
 * kv_int.h); records follow from page 1 on, back to back at 8-byte aligned
 * offsets, in the order they were appended (the record format is in
 * kv_int.h).  The log only grows in offset: compaction punches its prefix
 * (the blocks are freed, the offsets stay as a hole), and the superblock's
 * head says where the kept records start.
 *
 * Invariants:
 *  1. Records are pc_written in log order under append_mu, and kv->tail
 *     moves past a record only once all of its bytes are pc_written.  So a
 *     pc_sync(m, 0, 0) that starts after a record's put returned makes that
 *     record and every earlier one durable: what survives a crash is always
 *     a durable prefix of the log, then possibly a torn remainder.
 *  2. The superblock's synced mark is only raised after a pc_sync of the
 *     log has covered it, and its head only after the records copied out of
 *     [old head, head) are durable (kv_compact.c).
 *  3. A record no bigger than a page never crosses a page boundary: if it
 *     would, a PAD fills the rest of the page first.  That is what lets a
 *     get hand out such a value from one pinned page (kv.c).
 *
 * Recovery (kv_log_recover) reads the records from head to EOF, checking
 * each one's tag, lengths and CRC, and replays them into the index (a PUT
 * sets the key's offset, a DEL removes the key).  It stops at the first
 * record that is not whole and valid.  If that point is at or past the
 * synced mark, what follows is a torn tail (invariant 1: nothing after it
 * was ever acknowledged as durable) and the log is pc_truncate()d there.
 * If it is below the mark, data that a sync made durable is damaged: that
 * is corruption, and open fails with -EBADMSG, changing nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "kv_int.h"

uint32_t kv_rec_crc(const struct kv_rec_hdr *h, const void *key, const void *val)
{
	struct kv_rec_hdr z = *h;
	uLong c;

	z.crc = 0;
	c = crc32(0L, (const Bytef *)&z, sizeof(z));
	if (h->klen)
		c = crc32(c, key, h->klen);
	/* zlib's length is a uInt: feed big values in pieces. */
	for (uint64_t done = 0; done < h->vlen;) {
		uint64_t n = h->vlen - done;

		if (n > (1u << 30))
			n = 1u << 30;
		c = crc32(c, (const Bytef *)val + done, (uInt)n);
		done += n;
	}
	return (uint32_t)c;
}

/* pc_write all of @len, or -errno. */
static int write_all(struct kv *kv, const void *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pc_write(kv->m, buf, len, off, 0);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EIO;
		buf = (const char *)buf + n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* pc_read all of @len, or -errno; a short read (EOF) is -ENODATA. */
int kv_log_read(struct kv *kv, void *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pc_read(kv->m, buf, len, off, 0);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -ENODATA;
		buf = (char *)buf + n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/*
 * Append one record (caller holds append_mu).  The value comes from @val,
 * or, when @val is NULL, from the log at @val_log_off (compaction's copy).
 * On failure kv->tail does not move; bytes written past it are overwritten
 * by the next append or dropped as a torn tail on the next open.
 */
int __kv_log_append(struct kv *kv, const struct kv_rec_hdr *h, const void *key,
		    const void *val, uint64_t val_log_off, uint64_t *off_out)
{
	uint64_t size = kv_rec_size(h->klen, h->vlen);
	uint64_t pos = kv->tail, in_page = pos % kv->ps;
	uint64_t small = 64u << 10;
	int r;

	if (size <= kv->ps && in_page + size > kv->ps) {	/* invariant 3 */
		uint32_t pad[2] = { KV_TAG_MAGIC | KV_REC_PAD, (uint32_t)(kv->ps - in_page) };

		r = write_all(kv, pad, sizeof(pad), pos);
		if (r)
			return r;
		pos += kv->ps - in_page;
	}
	if (size <= small) {
		/* One buffer, one pc_write: header, key, value, alignment zeros. */
		unsigned char *b = calloc(1, size);

		if (!b)
			return -ENOMEM;
		memcpy(b, h, KV_HDR);
		if (h->klen)
			memcpy(b + KV_HDR, key, h->klen);
		r = 0;
		if (h->vlen && val)
			memcpy(b + KV_HDR + h->klen, val, h->vlen);
		else if (h->vlen)
			r = kv_log_read(kv, b + KV_HDR + h->klen, h->vlen, val_log_off);
		if (!r)
			r = write_all(kv, b, size, pos);
		free(b);
	} else {
		uint64_t voff = pos + KV_HDR + h->klen;
		uint64_t zeros = 0;

		r = write_all(kv, h, KV_HDR, pos);
		if (!r && h->klen)
			r = write_all(kv, key, h->klen, pos + KV_HDR);
		if (!r && val) {
			r = write_all(kv, val, h->vlen, voff);
		} else if (!r) {
			/* Copy from the log in 256 KiB pieces. */
			size_t chunk = h->vlen < (256u << 10) ? h->vlen : 256u << 10;
			void *buf = malloc(chunk);

			if (!buf)
				r = -ENOMEM;
			for (uint64_t done = 0; !r && done < h->vlen; done += chunk) {
				size_t n = h->vlen - done < chunk ? h->vlen - done : chunk;

				r = kv_log_read(kv, buf, n, val_log_off + done);
				if (!r)
					r = write_all(kv, buf, n, voff + done);
			}
			free(buf);
		}
		if (!r && size > KV_HDR + h->klen + h->vlen)
			r = write_all(kv, &zeros, size - (KV_HDR + h->klen + h->vlen),
				      voff + h->vlen);
	}
	if (r)
		return r;
	*off_out = pos;
	KV_STORE(&kv->tail, pos + size);	/* invariant 1 */
	return 0;
}

static uint32_t sb_crc(const struct kv_sb *sb)
{
	struct kv_sb z = *sb;

	z.crc = 0;
	return (uint32_t)crc32(0L, (const Bytef *)&z, sizeof(z));
}

/*
 * Raise the superblock's head and synced mark (never lower them) and make
 * it durable.  The log data it vouches for must already be durable
 * (invariant 2): the caller synced it.
 */
int kv_sb_store(struct kv *kv, uint64_t head, uint64_t synced)
{
	struct kv_sb sb;
	int r;

	pthread_mutex_lock(&kv->sb_mu);
	if (head > kv->sb_head)
		kv->sb_head = head;
	if (synced > kv->sb_synced)
		kv->sb_synced = synced;
	memset(&sb, 0, sizeof(sb));
	sb.magic = KV_SB_MAGIC;
	sb.version = 1;
	sb.gen = ++kv->sb_gen;
	sb.head = kv->sb_head;
	sb.synced = kv->sb_synced;
	sb.crc = sb_crc(&sb);
	r = write_all(kv, &sb, sizeof(sb), (sb.gen % 2) * KV_SB_SLOT);
	if (!r)
		r = pc_sync(kv->m, 0, kv->ps);
	pthread_mutex_unlock(&kv->sb_mu);
	return r;
}

static bool sb_valid(const struct kv_sb *sb, uint64_t ps)
{
	return sb->magic == KV_SB_MAGIC && sb->version == 1 && sb->crc == sb_crc(sb) &&
	       sb->head >= ps && sb->head % 8 == 0;
}

/* A new, empty log: page 0 with the first superblock slot. */
static int log_init(struct kv *kv)
{
	unsigned char *page = calloc(1, kv->ps);
	struct kv_sb sb;
	int r;

	if (!page)
		return -ENOMEM;
	memset(&sb, 0, sizeof(sb));
	sb.magic = KV_SB_MAGIC;
	sb.version = 1;
	sb.gen = 1;
	sb.head = kv->ps;
	sb.synced = kv->ps;
	sb.crc = sb_crc(&sb);
	memcpy(page + KV_SB_SLOT, &sb, sizeof(sb));	/* gen 1: slot 1 */
	r = pc_truncate(kv->m, 0);
	if (!r)
		r = write_all(kv, page, kv->ps, 0);
	if (!r)
		r = pc_sync(kv->m, 0, 0);
	free(page);
	if (r)
		return r;
	kv->sb_gen = 1;
	kv->sb_head = kv->sb_synced = kv->ps;
	kv->head = kv->tail = kv->ps;
	return 0;
}

/* A sequential reader over [.., end) with a window buffer. */
struct reader {
	struct kv *kv;
	uint64_t end;
	unsigned char *buf;
	size_t cap;
	uint64_t boff;		/* log offset of buf[0] */
	size_t blen;
};

/* Make [off, off + len) available; returns a pointer, or NULL (EOF, error in *err). */
static const unsigned char *reader_get(struct reader *rd, uint64_t off, uint64_t len, int *err)
{
	size_t want;

	*err = 0;
	if (off + len > rd->end || off + len < off)
		return NULL;
	if (off >= rd->boff && off + len <= rd->boff + rd->blen)
		return rd->buf + (off - rd->boff);
	want = len > (256u << 10) ? len : (256u << 10);
	if (want > rd->end - off)
		want = rd->end - off;
	if (want > rd->cap) {
		unsigned char *b = realloc(rd->buf, want);

		if (!b) {
			*err = -ENOMEM;
			return NULL;
		}
		rd->buf = b;
		rd->cap = want;
	}
	*err = kv_log_read(rd->kv, rd->buf, want, off);
	if (*err) {
		rd->blen = 0;
		return NULL;
	}
	rd->boff = off;
	rd->blen = want;
	return rd->buf;
}

/* Replay one valid record into the index. */
static int replay(struct kv *kv, const struct kv_rec_hdr *h, const unsigned char *key,
		  uint64_t off)
{
	uint64_t hash = kv_hash(key, h->klen);
	struct kv_shard *s = kv_shard_of(&kv->ix, hash);
	struct kv_ent *e = __kv_index_find(s, hash, key, h->klen);

	if (e)
		kv->live_bytes -= kv_rec_size(e->klen, e->vlen);
	if ((h->tag & 0xff) == KV_REC_DEL) {
		if (e) {
			__kv_index_remove(s, e);
			free(e);
			kv->keys--;
		}
		return 0;
	}
	if (!e) {
		e = kv_ent_new(key, h->klen, hash);
		if (!e)
			return -ENOMEM;
		__kv_index_insert(s, e);
		kv->keys++;
	}
	e->off = off;
	e->vlen = h->vlen;
	kv->live_bytes += kv_rec_size(h->klen, h->vlen);
	return 0;
}

/*
 * Check the record at @off: returns its size (> 0), 0 if it is not a whole
 * valid record (the end of the good log), or -errno.  Fills *h and *key.
 */
static int64_t check_record(struct kv *kv, struct reader *rd, uint64_t off,
			    struct kv_rec_hdr *h, const unsigned char **key)
{
	const unsigned char *p;
	uint64_t size;
	int err;

	p = reader_get(rd, off, 8, &err);
	if (!p)
		return err;
	memcpy(h, p, 8);
	if ((h->tag & KV_TAG_MASK) != KV_TAG_MAGIC)
		return 0;
	if ((h->tag & 0xff) == KV_REC_PAD)
		return h->crc == kv->ps - off % kv->ps && h->crc >= 8 ? h->crc : 0;
	if ((h->tag & 0xff) != KV_REC_PUT && (h->tag & 0xff) != KV_REC_DEL)
		return 0;
	p = reader_get(rd, off, KV_HDR, &err);
	if (!p)
		return err;
	memcpy(h, p, KV_HDR);
	if (h->klen > KV_MAX_KEY || h->vlen > KV_MAX_VALUE ||
	    ((h->tag & 0xff) == KV_REC_DEL && h->vlen))
		return 0;
	size = kv_rec_size(h->klen, h->vlen);
	p = reader_get(rd, off, size, &err);
	if (!p)
		return err;
	if (kv_rec_crc(h, p + KV_HDR, p + KV_HDR + h->klen) != h->crc)
		return 0;
	*key = p + KV_HDR;
	return (int64_t)size;
}

int kv_log_recover(struct kv *kv)
{
	struct kv_sb sb[2];
	const struct kv_sb *best = NULL;
	struct reader rd = { .kv = kv };
	uint64_t size, off;
	int r;

	r = pc_size(kv->m, &size);
	if (r)
		return r;
	if (size == 0)
		return log_init(kv);
	if (size >= KV_SB_SLOT + sizeof(sb[1])) {
		r = kv_log_read(kv, &sb[0], sizeof(sb[0]), 0);
		if (!r)
			r = kv_log_read(kv, &sb[1], sizeof(sb[1]), KV_SB_SLOT);
		if (r)
			return r;
		for (int i = 0; i < 2; i++)
			if (sb_valid(&sb[i], kv->ps) && (!best || sb[i].gen > best->gen))
				best = &sb[i];
	}
	if (!best) {
		/* A crash while the log was being created, or not a pckv log. */
		if (size <= kv->ps)
			return log_init(kv);
		return -EBADMSG;
	}
	kv->sb_gen = best->gen;
	kv->sb_head = best->head;
	kv->sb_synced = best->synced;
	kv->head = best->head;

	rd.end = size;
	for (off = kv->head; off < size;) {
		struct kv_rec_hdr h;
		const unsigned char *key = NULL;
		int64_t n = check_record(kv, &rd, off, &h, &key);

		if (n < 0) {
			free(rd.buf);
			return (int)n;
		}
		if (n == 0)
			break;
		if ((h.tag & 0xff) != KV_REC_PAD) {
			r = replay(kv, &h, key, off);
			if (r) {
				free(rd.buf);
				return r;
			}
		}
		off += (uint64_t)n;
	}
	free(rd.buf);
	if (off < kv->sb_synced)
		return -EBADMSG;	/* durable data is damaged or missing */
	if (off < size) {
		/* A torn tail: drop it (recovery's only change to the log). */
		r = pc_truncate(kv->m, off);
		if (!r)
			r = pc_sync(kv->m, 0, 0);
		if (r)
			return r;
		kv->torn_bytes = size - off;
	}
	kv->tail = off;
	return 0;
}
