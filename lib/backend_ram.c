/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The RAM backend: named objects over one anonymous memory "device".
 *
 * It is written only against the public ops table (<pagecache/backend.h>),
 * as an engine's own backend would be, and it is the backend the tests use
 * to make block reuse real: all objects draw from one small pool of blocks,
 * so a block freed by one object is at once handed to another.  A page
 * cache bug that reads through a stale mapping then shows another object's
 * data instead of passing by chance.
 *
 * What it owns:
 *  - the device: one private anonymous mmap of device_bytes, cut into
 *    RAM_PAGE blocks; block b lives at device address b * RAM_PAGE;
 *  - the block allocator: a LIFO stack of free block numbers, so the block
 *    freed last is the next one handed out (pagecache.h promises this);
 *  - the objects: a list of named objects, each with a size, an open count
 *    and a sparse two-level block table (page index -> block number).
 *
 * The free stack is virtual below its array.  Conceptually every block is
 * pushed at creation, highest first, so that block 0 is on top; in fact the
 * blocks never handed out, [next_fresh, nr_blocks), stand for that bottom
 * part and are taken in ascending order once the array is empty.  The order
 * is the same, and creating a large device costs nothing until it is used.
 *
 * Invariants (all under ram->lock):
 *  1. Every block is in exactly one state: free (in the stack array or at or
 *     past next_fresh) or owned (named by exactly one table entry of exactly
 *     one object).  Free + owned == nr_blocks.
 *  2. A block is all zeros when it leaves the free state, so no object ever
 *     reads data of a past owner.
 *  3. A chunk of a block table exists only while it holds at least one block
 *     (ram_alloc() may create empty ones for a moment, and removes them
 *     again if it fails).
 *  4. After ram_set_size() shrinks an object to S, it owns no block at or
 *     past round_up(S, RAM_PAGE), and the bytes of its last block past S are
 *     zero.  Blocks past the size can exist only when the library allocates
 *     ahead of setting the size; ram_map() answers a hole for them.
 *  5. An object with a non-zero open count is never removed.
 *
 * Block states and the functions that move blocks between them:
 *	free  --ram_alloc()----------------------------------> owned (zeroed)
 *	owned --ram_free(), ram_set_size() (shrink),
 *	        ram_open(PC_TRUNC), ram_unlink()-------------> free
 * ram_destroy() drops the whole device at once.  Each call that frees a
 * range pushes its blocks highest page first, so the next allocation of the
 * same range gets them back in ascending, contiguous order.
 *
 * Locking: ram->lock, one mutex per backend, guards the allocator, the
 * object list, and every object's size, open count and block table.  It is
 * a LEAF lock (class PC_LC_LEAF in lib/lockdep.h): the library calls the ops
 * with its own locks held (open, close and unlink under the backend handle's
 * lock in lib/backend.c; the rest under invalidate and writeback locks), and
 * no lock of the library, nor another backend's, is taken while ram->lock is
 * held.  It is not recursive.  Functions named __ram_*() require it held;
 * debug builds assert that.  ram_read(), ram_write() and
 * ram_direct_access() take no lock: they touch only block data, the page
 * cache owns the blocks it does I/O to (it never frees a block while I/O or
 * a direct pointer to it is live), and the device mapping itself does not
 * change until ram_destroy().
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <pagecache/backend.h>

#include "compiler.h"

/* Block size of the device; it must equal pc_page_size(). */
#define RAM_PAGE		4096u
#define RAM_PAGE_MASK		((uint64_t)RAM_PAGE - 1)
/* Largest device, and largest object (ops->max_size). */
#define RAM_MAX_BYTES		(1ull << 40)
#define RAM_MAX_PAGES		(RAM_MAX_BYTES / RAM_PAGE)
/* Block numbers per chunk of a block table. */
#define RAM_CHUNK_SHIFT		9
#define RAM_CHUNK		(1u << RAM_CHUNK_SHIFT)
#define RAM_CHUNK_MASK		((uint64_t)RAM_CHUNK - 1)
#define RAM_MAX_CHUNKS		(RAM_MAX_PAGES / RAM_CHUNK)
/* Table entry of a page that has no block. */
#define RAM_NO_BLOCK		UINT32_MAX

_Static_assert(RAM_MAX_PAGES < RAM_NO_BLOCK, "block numbers must fit below RAM_NO_BLOCK");
_Static_assert(RAM_MAX_PAGES % RAM_CHUNK == 0, "max size must be whole chunks");

struct ram_chunk {
	uint32_t used;			/* entries that are not RAM_NO_BLOCK */
	uint32_t blk[RAM_CHUNK];	/* block number, or RAM_NO_BLOCK (hole) */
};

struct ram_obj {
	/* protected by ram->lock: */
	struct ram_obj *next;		/* ram->objs list */
	uint64_t size;			/* bytes */
	unsigned int opens;		/* ram_open() minus ram_close() */
	struct ram_chunk **top;		/* chunk of page p: top[p >> RAM_CHUNK_SHIFT] */
	uint64_t nr_top;		/* slots in top[] (NULL: no blocks there) */
	/* set by ram_open(), then constant: */
	char name[];
};

struct ram {
	/* set by pc_backend_ram_new(), then constant: */
	unsigned char *base;		/* the device */
	uint64_t device_bytes;
	uint32_t nr_blocks;

	pthread_mutex_t lock;		/* leaf lock, see the top of the file */
	/* protected by lock: */
	uint32_t *stack;		/* freed blocks; top is stack[nr_stack - 1] */
	uint32_t nr_stack;
	uint32_t next_fresh;		/* [next_fresh, nr_blocks) never handed out */
	struct ram_obj *objs;
};

/*
 * Lock state.  The lock is a leaf and not recursive, so a thread holds at
 * most one ram->lock at a time, and a thread-local pointer to it is enough
 * to assert "caller holds it" and "no ram lock is held yet".
 */
#ifndef NDEBUG
static __thread const struct ram *ram_lock_holder;
#endif

static void ram_lock(struct ram *ram)
{
#ifndef NDEBUG
	assert(ram_lock_holder == NULL);
#endif
#ifndef PC_MUTANT_RAM_NO_LOCK
	pthread_mutex_lock(&ram->lock);
#endif
#ifndef NDEBUG
	ram_lock_holder = ram;
#endif
}

static void ram_unlock(struct ram *ram)
{
#ifndef NDEBUG
	assert(ram_lock_holder == ram);
	ram_lock_holder = NULL;
#endif
#ifndef PC_MUTANT_RAM_NO_LOCK
	pthread_mutex_unlock(&ram->lock);
#endif
}

static inline void ram_assert_held(const struct ram *ram)
{
#ifndef NDEBUG
	assert(ram_lock_holder == ram);
#else
	(void)ram;
#endif
}

static inline uint64_t ram_pages_up(uint64_t bytes)
{
	return bytes / RAM_PAGE + ((bytes & RAM_PAGE_MASK) != 0);
}

/* ---- the block allocator ---- */

static uint64_t __ram_nr_free(const struct ram *ram)
{
	ram_assert_held(ram);
	return (uint64_t)ram->nr_stack + (ram->nr_blocks - ram->next_fresh);
}

/* Take the top of the free stack and zero it (invariant 2).  It must exist. */
static uint32_t __ram_block_get(struct ram *ram)
{
	uint32_t b;

	ram_assert_held(ram);
	if (ram->nr_stack) {
		b = ram->stack[--ram->nr_stack];
	} else {
		assert(ram->next_fresh < ram->nr_blocks);
		b = ram->next_fresh++;
	}
	/* Zeroed under the lock: the block is in a table as soon as we return. */
	memset(ram->base + (uint64_t)b * RAM_PAGE, 0, RAM_PAGE);
	return b;
}

static void __ram_block_put(struct ram *ram, uint32_t b)
{
	ram_assert_held(ram);
	assert(b < ram->next_fresh);
	/* Only handed-out blocks come back, so the array never overflows. */
	assert(ram->nr_stack < ram->next_fresh);
	ram->stack[ram->nr_stack++] = b;
}

/* ---- block tables ---- */

static uint32_t __ram_lookup(const struct ram_obj *obj, uint64_t pg)
{
	uint64_t ci = pg >> RAM_CHUNK_SHIFT;

	if (ci >= obj->nr_top || !obj->top[ci])
		return RAM_NO_BLOCK;
	return obj->top[ci]->blk[pg & RAM_CHUNK_MASK];
}

/* Owned blocks of pages [pg, end). */
static uint64_t __ram_count_owned(const struct ram_obj *obj, uint64_t pg, uint64_t end)
{
	uint64_t n = 0;

	end = PC_MIN(end, obj->nr_top << RAM_CHUNK_SHIFT);
	while (pg < end) {
		const struct ram_chunk *c = obj->top[pg >> RAM_CHUNK_SHIFT];
		uint64_t cend = PC_MIN(end, (pg | RAM_CHUNK_MASK) + 1);

		if (!c) {
			pg = cend;
			continue;
		}
		for (; pg < cend; pg++)
			n += c->blk[pg & RAM_CHUNK_MASK] != RAM_NO_BLOCK;
	}
	return n;
}

/* Free the empty chunks among chunk slots [ci, cend); see invariant 3. */
static void __ram_drop_empty_chunks(struct ram_obj *obj, uint64_t ci, uint64_t cend)
{
	cend = PC_MIN(cend, obj->nr_top);
	for (; ci < cend; ci++) {
		if (obj->top[ci] && !obj->top[ci]->used) {
			free(obj->top[ci]);
			obj->top[ci] = NULL;
		}
	}
}

/*
 * Make sure chunks exist for pages [pg, end).  On -ENOMEM the table holds
 * the same blocks as before (a grown top[] array is harmless and kept).
 */
static int __ram_prepare_chunks(struct ram_obj *obj, uint64_t pg, uint64_t end)
{
	uint64_t cfirst = pg >> RAM_CHUNK_SHIFT;
	uint64_t clast = (end - 1) >> RAM_CHUNK_SHIFT;
	uint64_t ci;

	assert(pg < end && end <= RAM_MAX_PAGES);
	if (clast >= obj->nr_top) {
		uint64_t n = obj->nr_top ? obj->nr_top : 8;
		struct ram_chunk **top;

		while (n <= clast)
			n *= 2;
		n = PC_MIN(n, (uint64_t)RAM_MAX_CHUNKS);
		top = realloc(obj->top, n * sizeof(*top));
		if (!top)
			return -ENOMEM;
		memset(top + obj->nr_top, 0, (n - obj->nr_top) * sizeof(*top));
		obj->top = top;
		obj->nr_top = n;
	}
	for (ci = cfirst; ci <= clast; ci++) {
		struct ram_chunk *c;
		unsigned int i;

		if (obj->top[ci])
			continue;
		c = malloc(sizeof(*c));
		if (!c) {
			__ram_drop_empty_chunks(obj, cfirst, ci);
			return -ENOMEM;
		}
		c->used = 0;
		for (i = 0; i < RAM_CHUNK; i++)
			c->blk[i] = RAM_NO_BLOCK;
		obj->top[ci] = c;
	}
	return 0;
}

/*
 * Free the blocks of pages [pg, end), highest page first, so that the
 * lowest page's block ends on top of the stack.  Emptied chunks go too.
 */
static void __ram_free_range(struct ram *ram, struct ram_obj *obj, uint64_t pg, uint64_t end)
{
	ram_assert_held(ram);
	end = PC_MIN(end, obj->nr_top << RAM_CHUNK_SHIFT);
	while (end > pg) {
		uint64_t ci = (end - 1) >> RAM_CHUNK_SHIFT;
		uint64_t cstart = PC_MAX(pg, ci << RAM_CHUNK_SHIFT);
		struct ram_chunk *c = obj->top[ci];

		if (c) {
			uint64_t p;

			for (p = end; p-- > cstart;) {
				uint32_t *e = &c->blk[p & RAM_CHUNK_MASK];

				if (*e == RAM_NO_BLOCK)
					continue;
				__ram_block_put(ram, *e);
				*e = RAM_NO_BLOCK;
				c->used--;
			}
			if (!c->used) {
				free(c);
				obj->top[ci] = NULL;
			}
		}
		end = cstart;
	}
}

/*
 * Fill @ext for the extent at page @pg, looking at most @npages ahead.
 * Blocks at or past page @limit are treated as holes (ram_map() passes the
 * size in pages; ram_alloc() passes RAM_MAX_PAGES).
 */
static void __ram_describe(const struct ram *ram, const struct ram_obj *obj, uint64_t pg,
			   uint64_t npages, uint64_t limit, struct pc_extent *ext)
{
	uint32_t b = pg < limit ? __ram_lookup(obj, pg) : RAM_NO_BLOCK;
	uint64_t n = 1;

	ram_assert_held(ram);
	assert(npages >= 1);
	if (b != RAM_NO_BLOCK) {
		while (n < npages && pg + n < limit && __ram_lookup(obj, pg + n) == b + n)
			n++;
		ext->type = PC_EXTENT_MAPPED;
		ext->addr = (uint64_t)b * RAM_PAGE;
	} else {
		uint64_t tend = obj->nr_top << RAM_CHUNK_SHIFT;

		while (n < npages) {
			uint64_t p = pg + n;

			if (p >= limit || p >= tend) {
				n = npages;	/* nothing mapped beyond here */
				break;
			}
			if (!obj->top[p >> RAM_CHUNK_SHIFT]) {
				n = PC_MIN(npages, n + RAM_CHUNK - (p & RAM_CHUNK_MASK));
				continue;
			}
			if (__ram_lookup(obj, p) != RAM_NO_BLOCK)
				break;
			n++;
		}
		ext->type = PC_EXTENT_HOLE;
		ext->addr = 0;
	}
	ext->offset = pg * RAM_PAGE;
	ext->length = n * RAM_PAGE;
	ext->flags = 0;
}

/* ---- objects ---- */

static struct ram_obj **__ram_find(struct ram *ram, const char *name)
{
	struct ram_obj **pp;

	ram_assert_held(ram);
	for (pp = &ram->objs; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, name))
			return pp;
	return NULL;
}

static void __ram_obj_free(struct ram *ram, struct ram_obj *obj)
{
	__ram_free_range(ram, obj, 0, RAM_MAX_PAGES);
	free(obj->top);
	free(obj);
}

static int ram_open(void *priv, const char *name, unsigned flags, void **objp)
{
	struct ram *ram = priv;
	struct ram_obj **pp, *obj;
	int err = 0;

	/* The library checked @name (lib/backend.c) and @flags. */
	if (!ram || !name || !objp || (flags & ~(PC_CREAT | PC_EXCL | PC_TRUNC)))
		return -EINVAL;

	ram_lock(ram);
	pp = __ram_find(ram, name);
	if (pp) {
		obj = *pp;
		if ((flags & PC_CREAT) && (flags & PC_EXCL)) {
			err = -EEXIST;
			goto out;
		}
		if (flags & PC_TRUNC) {
			__ram_free_range(ram, obj, 0, RAM_MAX_PAGES);
			obj->size = 0;
		}
	} else {
		size_t len = strlen(name);

		if (!(flags & PC_CREAT)) {
			err = -ENOENT;
			goto out;
		}
		obj = calloc(1, sizeof(*obj) + len + 1);
		if (!obj) {
			err = -ENOMEM;
			goto out;
		}
		memcpy(obj->name, name, len + 1);
		obj->next = ram->objs;
		ram->objs = obj;
	}
	obj->opens++;
	*objp = obj;
out:
	ram_unlock(ram);
	return err;
}

static void ram_close(void *priv, void *objp)
{
	struct ram *ram = priv;
	struct ram_obj *obj = objp;

	if (!ram || !obj)
		return;
	ram_lock(ram);
	assert(obj->opens > 0);
	if (obj->opens)
		obj->opens--;
	ram_unlock(ram);
}

static int ram_unlink(void *priv, const char *name)
{
	struct ram *ram = priv;
	struct ram_obj **pp, *obj;
	int err = 0;

	if (!ram || !name)
		return -EINVAL;

	ram_lock(ram);
	pp = __ram_find(ram, name);
	if (!pp) {
		err = -ENOENT;
	} else if ((*pp)->opens) {
		err = -EBUSY;	/* invariant 5 */
	} else {
		obj = *pp;
		*pp = obj->next;
		__ram_obj_free(ram, obj);
	}
	ram_unlock(ram);
	return err;
}

static int ram_get_size(void *priv, void *objp, uint64_t *size)
{
	struct ram *ram = priv;
	struct ram_obj *obj = objp;

	if (!ram || !obj || !size)
		return -EINVAL;
	ram_lock(ram);
	*size = obj->size;
	ram_unlock(ram);
	return 0;
}

static int ram_set_size(void *priv, void *objp, uint64_t size)
{
	struct ram *ram = priv;
	struct ram_obj *obj = objp;

	if (!ram || !obj)
		return -EINVAL;
	if (size > RAM_MAX_BYTES)
		return -EFBIG;

	ram_lock(ram);
	if (size < obj->size) {
		uint64_t tail = size & RAM_PAGE_MASK;

		/* Invariant 4.  Past the old size too: blocks allocated ahead. */
		__ram_free_range(ram, obj, ram_pages_up(size), RAM_MAX_PAGES);
		if (tail) {
			uint32_t b = __ram_lookup(obj, size / RAM_PAGE);

			if (b != RAM_NO_BLOCK)
				memset(ram->base + (uint64_t)b * RAM_PAGE + tail, 0,
				       RAM_PAGE - tail);
		}
	}
	/*
	 * Growing does not zero the old tail: the library may have written
	 * the page that holds the new data (alloc, write, then set_size), and
	 * the tail is zero already unless it did so.
	 */
	obj->size = size;
	ram_unlock(ram);
	return 0;
}

static int ram_map(void *priv, void *objp, uint64_t off, uint64_t len, struct pc_extent *ext)
{
	struct ram *ram = priv;
	struct ram_obj *obj = objp;
	uint64_t pg, npages;

	if (!ram || !obj || !ext || (off & RAM_PAGE_MASK))
		return -EINVAL;
	if (off >= RAM_MAX_BYTES)
		return -EFBIG;
	pg = off / RAM_PAGE;
	/* @len only bounds the look-ahead: at least one page, not past the max. */
	npages = PC_MIN(PC_MAX(ram_pages_up(len), 1), RAM_MAX_PAGES - pg);

	ram_lock(ram);
	__ram_describe(ram, obj, pg, npages, ram_pages_up(obj->size), ext);
	ram_unlock(ram);
	return 0;
}

static int ram_alloc(void *priv, void *objp, uint64_t off, uint64_t len, struct pc_extent *ext)
{
	struct ram *ram = priv;
	struct ram_obj *obj = objp;
	uint64_t pg, end, p, need;
	int err;

	if (!ram || !obj || !ext || !len || ((off | len) & RAM_PAGE_MASK))
		return -EINVAL;
	if (off >= RAM_MAX_BYTES || len > RAM_MAX_BYTES - off)
		return -EFBIG;
	pg = off / RAM_PAGE;
	end = pg + len / RAM_PAGE;

	ram_lock(ram);
	/*
	 * Check space and build the table first, so that nothing below can
	 * fail: on -ENOSPC or -ENOMEM no block has left the free stack and
	 * the object is as it was.
	 */
	need = (end - pg) - __ram_count_owned(obj, pg, end);
	if (need > __ram_nr_free(ram)) {
		err = -ENOSPC;
		goto out;
	}
	if (need) {
		err = __ram_prepare_chunks(obj, pg, end);
		if (err)
			goto out;
		for (p = pg; p < end; p++) {
			struct ram_chunk *c = obj->top[p >> RAM_CHUNK_SHIFT];
			uint32_t *e = &c->blk[p & RAM_CHUNK_MASK];

			if (*e != RAM_NO_BLOCK)
				continue;
			*e = __ram_block_get(ram);
			c->used++;
		}
	}
	/* Not limited by the size: the caller sets it after allocating. */
	__ram_describe(ram, obj, pg, end - pg, RAM_MAX_PAGES, ext);
	err = 0;
out:
	ram_unlock(ram);
	return err;
}

static int ram_free(void *priv, void *objp, uint64_t off, uint64_t len)
{
	struct ram *ram = priv;
	struct ram_obj *obj = objp;

	if (!ram || !obj || ((off | len) & RAM_PAGE_MASK))
		return -EINVAL;
	if (off > RAM_MAX_BYTES || len > RAM_MAX_BYTES - off)
		return -EFBIG;
	if (!len)
		return 0;

	ram_lock(ram);
	__ram_free_range(ram, obj, off / RAM_PAGE, (off + len) / RAM_PAGE);
	ram_unlock(ram);
	return 0;
}

/* ---- block I/O: no lock, see the top of the file ---- */

static bool ram_range_ok(const struct ram *ram, uint64_t addr, uint64_t len)
{
	return addr <= ram->device_bytes && len <= ram->device_bytes - addr;
}

static int ram_read(void *priv, void *obj, uint64_t addr, void *buf, size_t len)
{
	struct ram *ram = priv;

	(void)obj;
	if (!ram || (!buf && len) || !ram_range_ok(ram, addr, len))
		return -EINVAL;
	if (len)
		memcpy(buf, ram->base + addr, len);
	return 0;
}

static int ram_write(void *priv, void *obj, uint64_t addr, const void *buf, size_t len)
{
	struct ram *ram = priv;

	(void)obj;
	if (!ram || (!buf && len) || !ram_range_ok(ram, addr, len))
		return -EINVAL;
	if (len)
		memcpy(ram->base + addr, buf, len);
	return 0;
}

static void *ram_direct_access(void *priv, void *obj, uint64_t addr, size_t len)
{
	struct ram *ram = priv;

	(void)obj;
	if (!ram || addr >= ram->device_bytes || !ram_range_ok(ram, addr, len))
		return NULL;
	return ram->base + addr;
}

/* Every object is closed and no op runs: no lock needed. */
static void ram_destroy(void *priv)
{
	struct ram *ram = priv;
	struct ram_obj *obj;

	if (!ram)
		return;
	while ((obj = ram->objs)) {
		uint64_t ci;

		assert(obj->opens == 0);
		ram->objs = obj->next;
		/* The blocks need no freeing: they go with the device below. */
		for (ci = 0; ci < obj->nr_top; ci++)
			free(obj->top[ci]);
		free(obj->top);
		free(obj);
	}
	free(ram->stack);
	if (ram->base)
		munmap(ram->base, ram->device_bytes);
	pthread_mutex_destroy(&ram->lock);
	free(ram);
}

static const struct pc_backend_ops ram_ops = {
	.version = PC_BACKEND_OPS_VERSION,
	.size = sizeof(struct pc_backend_ops),
	.name = "ram",
	.max_size = RAM_MAX_BYTES,
	.open = ram_open,
	.close = ram_close,
	.unlink = ram_unlink,
	.get_size = ram_get_size,
	.set_size = ram_set_size,
	.map = ram_map,
	.alloc = ram_alloc,
	.free = ram_free,
	.read = ram_read,
	.write = ram_write,
	.flush = NULL,		/* memory: nothing to make durable */
	.direct_access = ram_direct_access,
	.destroy = ram_destroy,
};

int pc_backend_ram_new(struct pc_backend **out, uint64_t device_bytes)
{
	struct ram *ram;
	void *base;
	int err;

	if (!out || !device_bytes || (device_bytes & RAM_PAGE_MASK) ||
	    device_bytes > RAM_MAX_BYTES)
		return -EINVAL;

	ram = calloc(1, sizeof(*ram));
	if (!ram)
		return -ENOMEM;
	if (pthread_mutex_init(&ram->lock, NULL)) {
		free(ram);
		return -ENOMEM;
	}
	ram->device_bytes = device_bytes;
	ram->nr_blocks = (uint32_t)(device_bytes / RAM_PAGE);
	/* Touched lazily: a large device costs only what its objects use. */
	ram->stack = malloc((size_t)ram->nr_blocks * sizeof(*ram->stack));
	base = mmap(NULL, device_bytes, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base != MAP_FAILED)
		ram->base = base;
	if (!ram->stack || !ram->base) {
		ram_destroy(ram);
		return -ENOMEM;
	}

	/* On failure the handle was not made, so priv is still ours. */
	err = pc_backend_new(out, &ram_ops, ram);
	if (err)
		ram_destroy(ram);
	return err;
}
