/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The "sparse" example backend: named objects in memory, written only
 * against the public ops table, as an engine's own backend would be.
 *
 * Each object owns one buffer that grows (realloc) to cover the highest
 * page ever allocated in it, and a byte per page that says whether the page
 * is allocated.  A device address is simply the object offset, so every
 * object has its own address space, as in the bundled file backend.  An
 * extent is a run of pages that are all allocated (MAPPED) or all not (a
 * HOLE).  Memory follows the highest allocated page rather than the number
 * of pages: good for objects that grow at the end, such as logs, and a
 * poor fit for objects with data far apart.
 *
 * Storage is limited by a page budget shared by all objects: alloc answers
 * -ENOSPC when it is spent, and free, shrink and unlink give pages back.
 *
 * Invariants:
 *  1. present[p] is 1 for an allocated page p, 0 otherwise; pages at or
 *     past npages are not allocated.  used == the sum of allocated pages
 *     of all objects.
 *  2. A page is zeroed when it becomes allocated (alloc), so an object never
 *     shows bytes of a page that it freed earlier.  A read of a page that is
 *     not allocated returns zeros, whatever the buffer holds there.
 *  3. map answers a hole for pages at or past the size (rounded up to whole
 *     pages), even if they are allocated: the library may allocate and
 *     write them just before it raises the size, and a grow then shows them.
 *
 * Locking.  The library calls the ops with its own locks held (see
 * doc/backends.md), so the backend's locks are leaves: no op calls into the
 * library while it holds one.  Order: sp->lock, then obj->lock (open with
 * PC_TRUNC), never the reverse.
 *  - sp->lock guards the object list and open counts (open, close, unlink).
 *    The library already serialises those three per backend handle; the
 *    lock keeps the list safe without relying on that.
 *  - obj->lock guards an object's size, buffer and page table.  It is
 *    needed although the library never runs alloc, write, set_size or free
 *    of one object at the same time: map and read (cache fills, under the
 *    invalidate_lock shared) do run beside alloc and write (writeback), and
 *    alloc may move the buffer with realloc.
 *  - sp->used is atomic: objects allocate concurrently.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pagecache/backend.h>

#include "sparse_backend.h"

/* Largest object: 64 GiB (ops->max_size).  Offsets below it cannot overflow. */
#define SPARSE_MAX_BYTES	(64ull << 30)

struct sparse_obj {
	/* protected by sp->lock: */
	struct sparse_obj *next;
	unsigned int opens;
	/* set when the object is made, then constant: */
	char *name;
	pthread_mutex_t lock;
	/* protected by lock: */
	uint64_t size;			/* bytes */
	unsigned char *buf;		/* npages * ps bytes */
	unsigned char *present;		/* npages entries: 1 = allocated */
	uint64_t npages;		/* pages buf and present cover */
};

struct sparse {
	/* set by sparse_backend_new(), then constant: */
	size_t ps;			/* pc_page_size(): the unit of all block I/O */
	uint64_t budget;		/* pages */
	pthread_mutex_t lock;
	/* protected by lock: */
	struct sparse_obj *objs;
	/* atomic: */
	atomic_uint_fast64_t used;	/* pages allocated, all objects */
	atomic_uint_fast64_t allocs, frees, reads, writes, readvs, writevs, flushes;
};

static uint64_t pages_up(const struct sparse *sp, uint64_t bytes)
{
	return bytes / sp->ps + (bytes % sp->ps != 0);
}

static bool is_allocated(const struct sparse_obj *obj, uint64_t pg)
{
	return pg < obj->npages && obj->present[pg];
}

/* Take @n pages from the shared budget; false if it would be overdrawn. */
static bool budget_take(struct sparse *sp, uint64_t n)
{
	uint_fast64_t used = atomic_load(&sp->used);

	do {
		if (n > sp->budget - used)
			return false;
	} while (!atomic_compare_exchange_weak(&sp->used, &used, used + n));
	return true;
}

static void budget_give(struct sparse *sp, uint64_t n)
{
	atomic_fetch_sub(&sp->used, n);
}

/* Unallocate pages [pg, end) of @obj; returns how many were allocated.  obj->lock held. */
static uint64_t obj_release(struct sparse_obj *obj, uint64_t pg, uint64_t end)
{
	uint64_t n = 0;

	if (end > obj->npages)
		end = obj->npages;
	for (; pg < end; pg++) {
		n += obj->present[pg];
		obj->present[pg] = 0;
	}
	return n;
}

/*
 * Resize the buffer and page table of @obj to cover @npages pages (a grow
 * may give more, to amortise appends).  Pages past the old end start
 * unallocated.  On -ENOMEM nothing changed; a shrink that realloc refuses
 * keeps the larger arrays, which is harmless.  obj->lock held, or the
 * object is not open.
 */
static int obj_resize(struct sparse *sp, struct sparse_obj *obj, uint64_t npages)
{
	uint64_t max = SPARSE_MAX_BYTES / sp->ps;
	unsigned char *buf, *present;

	if (npages > max || npages > SIZE_MAX / sp->ps)
		return -ENOMEM;
	if (npages == 0) {
		free(obj->buf);
		free(obj->present);
		obj->buf = obj->present = NULL;
		obj->npages = 0;
		return 0;
	}
	if (npages > obj->npages) {
		if (npages < 2 * obj->npages)
			npages = 2 * obj->npages < max ? 2 * obj->npages : max;
		/* The page table first: larger than needed is harmless. */
		present = realloc(obj->present, npages);
		if (!present)
			return -ENOMEM;
		obj->present = present;
		buf = realloc(obj->buf, npages * sp->ps);
		if (!buf)
			return -ENOMEM;
		obj->buf = buf;
		memset(present + obj->npages, 0, npages - obj->npages);
	} else if (npages < obj->npages) {
		/* The buffer first, for the same reason. */
		buf = realloc(obj->buf, npages * sp->ps);
		if (!buf)
			return 0;
		obj->buf = buf;
		present = realloc(obj->present, npages);
		if (present)
			obj->present = present;
	}
	obj->npages = npages;
	return 0;
}

static void obj_free(struct sparse *sp, struct sparse_obj *obj)
{
	budget_give(sp, obj_release(obj, 0, obj->npages));
	pthread_mutex_destroy(&obj->lock);
	free(obj->buf);
	free(obj->present);
	free(obj->name);
	free(obj);
}

/* ---- objects: open, close, unlink, under sp->lock ---- */

static struct sparse_obj **find_obj(struct sparse *sp, const char *name)
{
	struct sparse_obj **pp;

	for (pp = &sp->objs; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->name, name) == 0)
			return pp;
	return NULL;
}

static int sparse_open(void *priv, const char *name, unsigned flags, void **objp)
{
	struct sparse *sp = priv;
	struct sparse_obj **pp, *obj;
	int err = 0;

	if (!name || !*name || (flags & ~(PC_CREAT | PC_EXCL | PC_TRUNC)))
		return -EINVAL;
	pthread_mutex_lock(&sp->lock);
	pp = find_obj(sp, name);
	if (pp) {
		obj = *pp;
		if ((flags & PC_CREAT) && (flags & PC_EXCL)) {
			err = -EEXIST;
			goto out;
		}
		if (flags & PC_TRUNC) {
			pthread_mutex_lock(&obj->lock);
			budget_give(sp, obj_release(obj, 0, obj->npages));
			obj_resize(sp, obj, 0);
			obj->size = 0;
			pthread_mutex_unlock(&obj->lock);
		}
	} else {
		if (!(flags & PC_CREAT)) {
			err = -ENOENT;
			goto out;
		}
		obj = calloc(1, sizeof(*obj));
		if (!obj || !(obj->name = strdup(name))) {
			free(obj);
			err = -ENOMEM;
			goto out;
		}
		pthread_mutex_init(&obj->lock, NULL);
		obj->next = sp->objs;
		sp->objs = obj;
	}
	obj->opens++;
	*objp = obj;
out:
	pthread_mutex_unlock(&sp->lock);
	return err;
}

/* The object and its data stay: this is a store, and a later open finds them. */
static void sparse_close(void *priv, void *objp)
{
	struct sparse *sp = priv;
	struct sparse_obj *obj = objp;

	pthread_mutex_lock(&sp->lock);
	obj->opens--;
	pthread_mutex_unlock(&sp->lock);
}

static int sparse_unlink(void *priv, const char *name)
{
	struct sparse *sp = priv;
	struct sparse_obj **pp, *obj;
	int err = 0;

	pthread_mutex_lock(&sp->lock);
	pp = name ? find_obj(sp, name) : NULL;
	if (!pp) {
		err = -ENOENT;
	} else if ((*pp)->opens) {
		err = -EBUSY;	/* the library never asks this; a direct caller might */
	} else {
		obj = *pp;
		*pp = obj->next;
		obj_free(sp, obj);
	}
	pthread_mutex_unlock(&sp->lock);
	return err;
}

/* ---- size and block map, under obj->lock ---- */

static int sparse_get_size(void *priv, void *objp, uint64_t *size)
{
	struct sparse_obj *obj = objp;

	(void)priv;
	pthread_mutex_lock(&obj->lock);
	*size = obj->size;
	pthread_mutex_unlock(&obj->lock);
	return 0;
}

static int sparse_set_size(void *priv, void *objp, uint64_t size)
{
	struct sparse *sp = priv;
	struct sparse_obj *obj = objp;

	if (size > SPARSE_MAX_BYTES)
		return -EFBIG;
	pthread_mutex_lock(&obj->lock);
	if (size < obj->size) {
		uint64_t keep = pages_up(sp, size), tail = size % sp->ps;

		/* Free every page past the new last one, also pages allocated ahead. */
		budget_give(sp, obj_release(obj, keep, obj->npages));
		/* Optional: the library zeroes these bytes itself (backend.h). */
		if (tail && is_allocated(obj, keep - 1))
			memset(obj->buf + size, 0, sp->ps - tail);
		if (keep < obj->npages)
			obj_resize(sp, obj, keep);	/* give memory back; may stay larger */
	}
	/* A grow keeps bytes written past the old size (invariant 3). */
	obj->size = size;
	pthread_mutex_unlock(&obj->lock);
	return 0;
}

/*
 * The run of pages from @pg that are all allocated or all not, at most
 * @max pages, pages at or past @limit counting as not allocated.  obj->lock held.
 */
static uint64_t run_length(const struct sparse_obj *obj, uint64_t pg, uint64_t max,
			   uint64_t limit)
{
	bool first = pg < limit && is_allocated(obj, pg);
	uint64_t n;

	for (n = 1; n < max; n++) {
		uint64_t p = pg + n;

		if (!first && (p >= limit || p >= obj->npages))
			return max;	/* nothing allocated from here on */
		if ((p < limit && is_allocated(obj, p)) != first)
			break;
	}
	return n;
}

static int sparse_map(void *priv, void *objp, uint64_t off, uint64_t len, struct pc_extent *ext)
{
	struct sparse *sp = priv;
	struct sparse_obj *obj = objp;
	uint64_t pg = off / sp->ps, max, n;
	bool mapped;

	if (off % sp->ps)
		return -EINVAL;
	if (off >= SPARSE_MAX_BYTES)
		return -EFBIG;
	max = pages_up(sp, len < SPARSE_MAX_BYTES - off ? len : SPARSE_MAX_BYTES - off);
	if (max == 0)
		max = 1;
	pthread_mutex_lock(&obj->lock);
	mapped = pg < pages_up(sp, obj->size) && is_allocated(obj, pg);
	n = run_length(obj, pg, max, pages_up(sp, obj->size));
	pthread_mutex_unlock(&obj->lock);
	ext->offset = off;
	ext->length = n * sp->ps;
	ext->addr = mapped ? off : 0;	/* device address == object offset */
	ext->type = mapped ? PC_EXTENT_MAPPED : PC_EXTENT_HOLE;
	ext->flags = 0;
	return 0;
}

static int sparse_alloc(void *priv, void *objp, uint64_t off, uint64_t len, struct pc_extent *ext)
{
	struct sparse *sp = priv;
	struct sparse_obj *obj = objp;
	uint64_t pg = off / sp->ps, end, need = 0, p;
	int err = 0;

	atomic_fetch_add(&sp->allocs, 1);
	if (!len || off % sp->ps || len % sp->ps)
		return -EINVAL;
	if (off >= SPARSE_MAX_BYTES || len > SPARSE_MAX_BYTES - off)
		return -EFBIG;
	end = pg + len / sp->ps;
	pthread_mutex_lock(&obj->lock);
	for (p = pg; p < end; p++)
		need += !is_allocated(obj, p);
	/* All or nothing: on an error no page was allocated. */
	if (!budget_take(sp, need)) {
		err = -ENOSPC;
		goto out;
	}
	if (end > obj->npages) {
		err = obj_resize(sp, obj, end);
		if (err) {
			budget_give(sp, need);
			goto out;
		}
	}
	for (p = pg; p < end; p++) {
		if (obj->present[p])
			continue;
		memset(obj->buf + p * sp->ps, 0, sp->ps);	/* invariant 2 */
		obj->present[p] = 1;
	}
	/* The whole range is allocated now: one extent answers it. */
	ext->offset = off;
	ext->length = len;
	ext->addr = off;
	ext->type = PC_EXTENT_MAPPED;
	ext->flags = 0;
out:
	pthread_mutex_unlock(&obj->lock);
	return err;
}

static int sparse_free(void *priv, void *objp, uint64_t off, uint64_t len)
{
	struct sparse *sp = priv;
	struct sparse_obj *obj = objp;

	atomic_fetch_add(&sp->frees, 1);
	if (off % sp->ps || len % sp->ps)
		return -EINVAL;
	if (off > SPARSE_MAX_BYTES || len > SPARSE_MAX_BYTES - off)
		return -EFBIG;
	pthread_mutex_lock(&obj->lock);
	budget_give(sp, obj_release(obj, off / sp->ps, (off + len) / sp->ps));
	pthread_mutex_unlock(&obj->lock);
	return 0;
}

/* ---- block I/O ---- */

/*
 * Move @len bytes (whole pages) between @buf and device address @addr.
 * Reads of pages that are not allocated give zeros (invariant 2); writes
 * there are refused, since the library writes only where alloc answered.
 * obj->lock held.
 */
static int obj_io(struct sparse *sp, struct sparse_obj *obj, bool write, uint64_t addr,
		  void *buf, size_t len)
{
	if (addr % sp->ps || len % sp->ps)
		return -EINVAL;
	if (addr > SPARSE_MAX_BYTES || len > SPARSE_MAX_BYTES - addr)
		return -EFBIG;
	for (size_t done = 0; done < len; done += sp->ps) {
		uint64_t pg = (addr + done) / sp->ps;
		unsigned char *dev = obj->buf + pg * sp->ps;
		unsigned char *mem = (unsigned char *)buf + done;

		if (!is_allocated(obj, pg)) {
			if (write)
				return -EIO;
			memset(mem, 0, sp->ps);
		} else if (write) {
			memcpy(dev, mem, sp->ps);
		} else {
			memcpy(mem, dev, sp->ps);
		}
	}
	return 0;
}

static int sparse_read(void *priv, void *objp, uint64_t addr, void *buf, size_t len)
{
	struct sparse *sp = priv;
	struct sparse_obj *obj = objp;
	int r;

	atomic_fetch_add(&sp->reads, 1);
	pthread_mutex_lock(&obj->lock);
	r = obj_io(sp, obj, false, addr, buf, len);
	pthread_mutex_unlock(&obj->lock);
	return r;
}

static int sparse_write(void *priv, void *objp, uint64_t addr, const void *buf, size_t len)
{
	struct sparse *sp = priv;
	struct sparse_obj *obj = objp;
	int r;

	atomic_fetch_add(&sp->writes, 1);
	pthread_mutex_lock(&obj->lock);
	r = obj_io(sp, obj, true, addr, (void *)buf, len);
	pthread_mutex_unlock(&obj->lock);
	return r;
}

/*
 * Vectored batches: each I/O gets its own result, and the call returns 0
 * once every one has it.  Memory has no queue to submit to, so this is a
 * loop; a disk backend would submit all of them at once (io_uring).
 */
static int sparse_batch(struct sparse *sp, struct sparse_obj *obj, bool write, struct pc_io *io,
			unsigned int n)
{
	pthread_mutex_lock(&obj->lock);
	for (unsigned int i = 0; i < n; i++) {
		uint64_t addr = io[i].addr;

		io[i].result = 0;
		for (unsigned int j = 0; j < io[i].iovcnt && io[i].result == 0; j++) {
			io[i].result = obj_io(sp, obj, write, addr, io[i].iov[j].iov_base,
					      io[i].iov[j].iov_len);
			addr += io[i].iov[j].iov_len;
		}
	}
	pthread_mutex_unlock(&obj->lock);
	return 0;
}

static int sparse_readv(void *priv, void *obj, struct pc_io *io, unsigned int n)
{
	struct sparse *sp = priv;

	atomic_fetch_add(&sp->readvs, 1);
	return sparse_batch(sp, obj, false, io, n);
}

static int sparse_writev(void *priv, void *obj, struct pc_io *io, unsigned int n)
{
	struct sparse *sp = priv;

	atomic_fetch_add(&sp->writevs, 1);
	return sparse_batch(sp, obj, true, io, n);
}

/* Memory holds nothing durable; a disk backend would fdatasync() here. */
static int sparse_flush(void *priv, void *obj)
{
	struct sparse *sp = priv;

	(void)obj;
	atomic_fetch_add(&sp->flushes, 1);
	return 0;
}

/* Called once, by pc_backend_delete(), with every object closed and no op running. */
static void sparse_destroy(void *priv)
{
	struct sparse *sp = priv;

	while (sp->objs) {
		struct sparse_obj *obj = sp->objs;

		sp->objs = obj->next;
		obj_free(sp, obj);
	}
	pthread_mutex_destroy(&sp->lock);
	free(sp);
}

static const struct pc_backend_ops sparse_ops = {
	.version = PC_BACKEND_OPS_VERSION,
	.size = sizeof(struct pc_backend_ops),
	.name = "sparse",
	.max_size = SPARSE_MAX_BYTES,
	.open = sparse_open,
	.close = sparse_close,
	.unlink = sparse_unlink,
	.get_size = sparse_get_size,
	.set_size = sparse_set_size,
	.map = sparse_map,
	.alloc = sparse_alloc,
	.free = sparse_free,
	.read = sparse_read,
	.write = sparse_write,
	.flush = sparse_flush,
	.direct_access = NULL,	/* buffers move on realloc: no stable pointers */
	.destroy = sparse_destroy,
	.readv = sparse_readv,
	.writev = sparse_writev,
};

int sparse_backend_new(struct pc_backend **out, uint64_t budget_bytes, struct sparse **spp)
{
	struct sparse *sp;
	int err;

	if (!out)
		return -EINVAL;
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	sp->ps = pc_page_size();
	sp->budget = budget_bytes / sp->ps;
	pthread_mutex_init(&sp->lock, NULL);
	err = pc_backend_new(out, &sparse_ops, sp);
	if (err) {
		/* No handle was made, so destroy was not called: sp is still ours. */
		sparse_destroy(sp);
		return err;
	}
	if (spp)
		*spp = sp;
	return 0;
}

void sparse_get_stats(struct sparse *sp, struct sparse_stats *st)
{
	st->pages_used = atomic_load(&sp->used);
	st->pages_budget = sp->budget;
	st->allocs = atomic_load(&sp->allocs);
	st->frees = atomic_load(&sp->frees);
	st->reads = atomic_load(&sp->reads);
	st->writes = atomic_load(&sp->writes);
	st->readvs = atomic_load(&sp->readvs);
	st->writevs = atomic_load(&sp->writevs);
	st->flushes = atomic_load(&sp->flushes);
}
