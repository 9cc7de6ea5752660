/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pmem backend: each object is one file in a directory, mapped into
 * memory with libpmem2, and DAX-capable (direct_access, persist).  Like the
 * file backend, a device address is the file offset, holes are the file's
 * holes (SEEK_DATA/SEEK_HOLE), alloc is fallocate(), and free punches a
 * hole; but data moves through the mapping, with libpmem2's copy, flush and
 * drain functions, so one backend serves DAX mappings (pointers into the
 * mapping) and cached mappings (read/write copy to and from it).
 *
 * On a file system with DAX (or a platform with MAP_SYNC) libpmem2 maps
 * with cache-line or byte store granularity, and stores are made durable
 * by flushing CPU caches from user space.  On an ordinary file, which is
 * how it runs here, it maps with page granularity (we ask for
 * PMEM2_GRANULARITY_PAGE as the coarsest we accept): the file's pages are
 * in the kernel's page cache and durability is msync().
 *
 * Address stability.  A direct_access() pointer stays valid until its
 * blocks are freed, also while the object grows.  Each object has its own
 * pmem2 vm reservation of PMEM_RESERVE bytes (64 GiB) of address space,
 * made at open: file offset X always lives at reservation address base + X,
 * and growth maps new pieces of the file into the reservation, after the
 * ones already there, never moving them.  So the largest object is 64 GiB
 * (ops.max_size; pc_write() past it answers -EFBIG), and each open object
 * costs 64 GiB of (unbacked, PROT_NONE) address space: about 2,000 objects
 * can be open at once in a 47-bit address space.
 *
 * Segments.  The reservation holds pmem2 maps ("segments") that cover
 * [0, @mapped_end), each made by __pmem_map_to().  libpmem2 maps only what
 * the file holds (a map may not pass the file's size, and must be whole
 * pages), so to map ahead of the file, by 2 MiB and by 1/8 of what is
 * mapped, __pmem_map_to() extends the host file for the call and cuts it
 * back after: a MAP_SHARED mapping keeps its pages past the end of the
 * file; they have no storage (an access would fault) until the file grows
 * over them again, and the backend never touches them before that.  A
 * shrink deletes the segments wholly past the new size; the one that
 * straddles it stays (its pointers below the size must stay valid while
 * pins exist on them), with no storage behind its tail.
 *
 * Sizes, as in the file backend (lib/backend_file.c, top comment): @size
 * is the object's size, @file_end the host file's.  alloc() grows the host
 * file over the blocks it allocates (a mapping cannot hold data past the
 * end of its file), and the library may write blocks past the size it last
 * set (backend.h), so @file_end may pass @size for a while; flush() cuts
 * the file back where the bytes past @size are zero, close() always.
 *
 * Invariants:
 *  1. An object is in pb->table if and only if its open count is non-zero;
 *     then @fd, @src, @rsv and @cfg exist.  Names are unique in the table.
 *  2. @size <= @file_end <= @mapped_end, and @mapped_end is page-aligned
 *     (except inside __pmem_map_to() and set_size()).
 *  3. Reservation address base + X holds file offset X for every X below
 *     @mapped_end; segments are never moved, only added at @mapped_end or
 *     deleted when wholly past a new, smaller size.
 *  4. Host bytes in [@size, @file_end) are zero, or were written by the
 *     library ahead of a set_size() that will cover them.
 *
 * Durability.  Page granularity: write() copies without flushing
 * (PMEM2_F_MEM_NOFLUSH) and records the range it wrote; flush() and
 * persist() msync(MS_SYNC) the range.  We call msync() ourselves, as
 * libpmem2's page-granularity persist function does, because that function
 * abort()s the process when msync() fails (an EIO from the disk), and a
 * library must return the error: pc_sync() reports it.  Cache-line or byte
 * granularity: write() copies with PMEM2_F_MEM_NODRAIN (the lines are
 * flushed as they are written), flush() drains, and persist() is the map's
 * persist function.  Either way, what a store cannot make durable, the
 * file's size and its block map (ftruncate, fallocate, punch), needs
 * fdatasync(): set_size, alloc, free and a growing write mark the object
 * @meta_dirty, and flush() and persist() fdatasync() it once; a new name
 * also needs an fsync() of the directory (@dir_dirty), as in the file
 * backend.
 *
 * Object states and the functions that move them:
 *	absent --pmem_open(PC_CREAT)--> open (in the table: fd, source, reservation)
 *	closed --pmem_open()----------> open
 *	open   --pmem_open() again-----> open (opens + 1)
 *	open   --pmem_close() (last)---> closed (file cut to @size, segments and
 *	                                 reservation deleted, fd closed)
 *	closed --pmem_unlink()--------> absent     (open: -EBUSY, invariant 1)
 *
 * Which library lock each op runs under is as for the file backend: open,
 * close and unlink under the backend handle's lock; map, read, readv under
 * the invalidate_lock shared; alloc, write, writev, grow and flush under it
 * and wb_lock (one writer per object); free and shrink under it exclusive,
 * alone on the object.  direct_access and persist come from the DAX paths,
 * beside any of those except free and shrink of the same blocks.
 *
 * Locking: two kinds of mutex, both LEAF locks (class PC_LC_LEAF in
 * lib/lockdep.h), never held together, and no library lock is taken under
 * them.
 *  - pb->table.lock guards the object table (list, names, open counts;
 *    lib/hostfile.c, which the file backend shares).
 *  - obj->lock guards the object's segments, @cfg (one pmem2 config, reused
 *    for every map call) and the dirty range @dirty_lo..@dirty_hi.  It is
 *    taken by the ops that change the host file's size or mapping (alloc,
 *    write past @file_end, set_size), and by write and flush for the dirty
 *    range.  Functions named __pmem_*() require it held (or run on an
 *    object no one else can reach: open, last close).  persist takes none:
 *    it flushes a range below @file_end, and the metadata flag is atomic.
 * read(), the copy of write() and direct_access() take no lock: they touch
 * only blocks the library owns, below @file_end, which is inside the
 * mapping (invariant 2), and the addresses never move (invariant 3).
 * @size, @file_end and @mapped_end are atomics: @mapped_end is published
 * (release) after its segment is mapped, and @file_end after @mapped_end
 * covers it, so a reader that sees a @file_end (acquire) sees the mapping.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <libpmem2.h>

#include <pagecache/backend.h>

#include "compiler.h"
#include "hostfile.h"
#include "inject.h"

/* The unit of the library's block I/O (lib/hostfile.h). */
#define PMEM_PAGE		PC_HOSTFILE_PAGE
#define PMEM_PAGE_MASK		PC_HOSTFILE_PAGE_MASK
/* Address space reserved per object, and so the largest object. */
#define PMEM_RESERVE		(64ull << 30)
#define PMEM_MAX_BYTES		PMEM_RESERVE
/* Segments grow by at least this much (and by 1/8 of what is mapped). */
#define PMEM_CHUNK		(2ull << 20)

struct pmem_obj {
	struct pc_hostfile_entry ent;	/* in pb->table (lib/hostfile.h) */
	/* set by pmem_open() when the entry is made, then constant: */
	int fd;
	struct pmem2_source *src;
	struct pmem2_vm_reservation *rsv;
	unsigned char *base;		/* the reservation: file offset X is base + X */
	uint64_t slack;			/* mapped past the reservation by libpmem2 */
	/* set with the first segment, before @mapped_end is published: */
	bool page_gran;			/* PMEM2_GRANULARITY_PAGE: msync() for durability */
	pmem2_memcpy_fn memcpy_fn;
	pmem2_persist_fn persist_fn;
	pmem2_drain_fn drain_fn;

	pthread_mutex_t lock;		/* leaf lock, see the top of the file */
	/* protected by lock: */
	struct pmem2_config *cfg;
	uint64_t dirty_lo, dirty_hi;	/* written by write(), not yet persisted */
	/* atomic (see the top of the file): */
	uint64_t size;			/* the object's size */
	uint64_t file_end;		/* the host file's size (invariant 2) */
	uint64_t mapped_end;		/* segments cover [0, mapped_end) */
	int no_falloc;			/* fallocate() said EOPNOTSUPP: skip it */
	int meta_dirty;			/* size or block map changed: fdatasync() */
	int dir_dirty;			/* created, maybe: sync the directory */
	/* set by pmem_open(), then constant: */
	char name[];
};

struct pmem_backend {
	/* the directory and the open objects; table.lock is a leaf lock: */
	struct pc_hostfile_table table;
	/* set by pc_backend_pmem_new(), then constant: */
	bool verbose;			/* PC_PMEM_VERBOSE=1: print libpmem2's messages */
};

static inline uint64_t pmem_round_up(uint64_t x, uint64_t unit)
{
	return (x + unit - 1) / unit * unit;
}

/* ---- atomics ---- */

static inline uint64_t pmem_get_size(const struct pmem_obj *obj)
{
	return __atomic_load_n(&obj->size, __ATOMIC_RELAXED);
}

/* Acquire: pairs with the release in pmem_set_end(); the mapping covers it. */
static inline uint64_t pmem_get_end(const struct pmem_obj *obj)
{
	return __atomic_load_n(&obj->file_end, __ATOMIC_ACQUIRE);
}

static inline void pmem_set_end(struct pmem_obj *obj, uint64_t end)
{
	__atomic_store_n(&obj->file_end, end, __ATOMIC_RELEASE);
}

static inline void pmem_set_size(struct pmem_obj *obj, uint64_t size)
{
	__atomic_store_n(&obj->size, size, __ATOMIC_RELAXED);
}

/* Acquire: pairs with the release in __pmem_map_to(); the segment exists. */
static inline uint64_t pmem_get_mapped(const struct pmem_obj *obj)
{
	return __atomic_load_n(&obj->mapped_end, __ATOMIC_ACQUIRE);
}

static inline void pmem_mark_meta(struct pmem_obj *obj)
{
	__atomic_store_n(&obj->meta_dirty, 1, __ATOMIC_RELAXED);
}

/* ---- errors ---- */

/*
 * A libpmem2 return value as a negative errno.  libpmem2 returns a
 * negative errno itself for a failed system call, and its own codes
 * (PMEM2_E_*, from -100000 down) otherwise; pmem2_err_to_errno() is not
 * exported by 1.12, and calls nearly all of them EINVAL.
 */
static int pmem_errno(int r)
{
	if (r == 0 || r > PMEM2_E_UNKNOWN)
		return r;
	switch (r) {
	case PMEM2_E_NOSUPP:
	case PMEM2_E_GRANULARITY_NOT_SUPPORTED:
	case PMEM2_E_SOURCE_TYPE_NOT_SUPPORTED:
		return -EOPNOTSUPP;
	case PMEM2_E_NO_ACCESS:
		return -EACCES;
	case PMEM2_E_IO_FAIL:
		return -EIO;
	case PMEM2_E_MAP_RANGE:
	case PMEM2_E_LENGTH_OUT_OF_RANGE:
	case PMEM2_E_OFFSET_OUT_OF_RANGE:
		return -ERANGE;	/* the host file changed under us */
	case PMEM2_E_MAPPING_EXISTS:
	case PMEM2_E_MAP_EXISTS:
	case PMEM2_E_VM_RESERVATION_NOT_EMPTY:
		return -EBUSY;
	case PMEM2_E_MAPPING_NOT_FOUND:
		return -ENOENT;
	case PMEM2_E_SOURCE_EMPTY:
		return -ENODATA;
	default:
		return -EINVAL;	/* argument errors: a bug of ours */
	}
}

/* pmem_errno(), printing libpmem2's message first if asked to. */
static int pmem_fail(const struct pmem_backend *pb, const char *what, int r)
{
	if (pb->verbose)
		fprintf(stderr, "libpagecache pmem: %s: %s (%d)\n", what, pmem2_errormsg(), r);
	return pmem_errno(r);
}

/* ---- segments ---- */

/*
 * Map the file up to at least @need (rounded up to pages), and leave the
 * host file @keep bytes long (>= @file_end).  New segments start at
 * @mapped_end and reach ahead (see "Segments" above).  Called with
 * obj->lock held, or on an object no one else can see yet (open).
 */
static int __pmem_map_to(struct pmem_backend *pb, struct pmem_obj *obj, uint64_t need,
			 uint64_t keep)
{
	uint64_t have = obj->mapped_end, end, old_end = obj->file_end;
	struct pmem2_map *map = NULL;
	int r, r2;

	need = pmem_round_up(need, PMEM_PAGE);
	if (need <= have) {
		if (keep > old_end) {
			r = pc_hostfile_truncate(obj->fd, keep);
			if (r)
				return r;
			pmem_set_end(obj, keep);
		}
		return 0;
	}
	end = PC_MAX(pmem_round_up(need, PMEM_CHUNK), pmem_round_up(have + have / 8, PMEM_CHUNK));
	end = PC_MIN(end, PMEM_RESERVE);
	/* libpmem2 maps only what the file holds: make it that long for the call. */
	r = pc_hostfile_truncate(obj->fd, PC_MAX(end, keep));
	if (r)
		return r;
	r = pmem2_config_set_offset(obj->cfg, have);
	if (!r)
		r = pmem2_config_set_length(obj->cfg, end - have);
	if (!r)
		r = pmem2_config_set_vm_reservation(obj->cfg, obj->rsv, have);
	if (!r)
		r = pmem2_map_new(&map, obj->cfg, obj->src);
	if (r)
		r = pmem_fail(pb, "pmem2_map_new", r);
	/* Back to the size we want; on failure, the size it was. */
	r2 = pc_hostfile_truncate(obj->fd, r ? old_end : keep);
	if (r) {
		(void)r2;	/* if even that failed, the file is longer: harmless zeros */
		return r;
	}
	if (have == 0) {
		obj->page_gran = pmem2_map_get_store_granularity(map) == PMEM2_GRANULARITY_PAGE;
		obj->memcpy_fn = pmem2_get_memcpy_fn(map);
		obj->persist_fn = pmem2_get_persist_fn(map);
		obj->drain_fn = pmem2_get_drain_fn(map);
	}
	assert(pmem2_map_get_address(map) == obj->base + have);
	/* Release: pairs with pmem_get_mapped(); the segment and the fns exist. */
	__atomic_store_n(&obj->mapped_end, end, __ATOMIC_RELEASE);
	if (r2) {
		/* The file stays at PC_MAX(end, keep): say so (invariant 2 holds). */
		pmem_set_end(obj, PC_MAX(end, keep));
		return 0;
	}
	pmem_set_end(obj, PC_MAX(keep, old_end));
	return 0;
}

/* Grow the host file to @len bytes (no-op if it is that long), mapped. */
static int __pmem_grow_file(struct pmem_backend *pb, struct pmem_obj *obj, uint64_t len)
{
	int r;

	if (len <= pmem_get_end(obj))
		return 0;
	r = __pmem_map_to(pb, obj, len, len);
	if (!r)
		pmem_mark_meta(obj);
	return r;
}

/*
 * Delete the segments wholly at or past @from (page-aligned), last first.
 * Nothing may use their addresses: the library holds no pin there.
 */
static int __pmem_unmap_from(struct pmem_backend *pb, struct pmem_obj *obj, uint64_t from)
{
	struct pmem2_map *map;
	uint64_t end = obj->mapped_end;
	int r = 0;

	while (end > from) {
		uint64_t start;

		map = NULL;
		r = pmem2_vm_reservation_map_find_last(obj->rsv, &map);
		if (r == PMEM2_E_MAPPING_NOT_FOUND) {
			r = 0;
			end = 0;
			break;
		}
		if (r) {
			r = pmem_fail(pb, "pmem2_vm_reservation_map_find_last", r);
			break;
		}
		start = (uint64_t)((unsigned char *)pmem2_map_get_address(map) - obj->base);
		if (start < from) {
			end = start + pmem2_map_get_size(map);
			break;
		}
		r = pmem2_map_delete(&map);
		if (r) {
			r = pmem_fail(pb, "pmem2_map_delete", r);
			break;
		}
		end = start;
	}
	/* Published before or after: no reader looks past @file_end anyway. */
	__atomic_store_n(&obj->mapped_end, end, __ATOMIC_RELEASE);
	return r;
}

/* Record bytes [@lo, @hi) written by write(), for flush() to persist. */
static void pmem_note_dirty(struct pmem_obj *obj, uint64_t lo, uint64_t hi)
{
	pc_hostfile_lock(&obj->lock);
	if (obj->dirty_hi <= obj->dirty_lo) {
		obj->dirty_lo = lo;
		obj->dirty_hi = hi;
	} else {
		obj->dirty_lo = PC_MIN(obj->dirty_lo, lo);
		obj->dirty_hi = PC_MAX(obj->dirty_hi, hi);
	}
	pc_hostfile_unlock(&obj->lock);
}

/*
 * Make the stores to file range [@lo, @hi) durable (see "Durability").
 * The range is within @file_end.
 */
static int pmem_persist_range(struct pmem_obj *obj, uint64_t lo, uint64_t hi)
{
	if (hi <= lo)
		return 0;
	if (!obj->page_gran) {
		obj->persist_fn(obj->base + lo, hi - lo);
		return 0;
	}
	lo &= ~PMEM_PAGE_MASK;
	while (msync(obj->base + lo, hi - lo, MS_SYNC) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* fdatasync() the size and block map, and the directory entry, if changed. */
static int pmem_sync_meta(struct pmem_backend *pb, struct pmem_obj *obj)
{
	if (__atomic_exchange_n(&obj->meta_dirty, 0, __ATOMIC_RELAXED)) {
		int err = pc_hostfile_datasync(obj->fd);

		if (err) {
			pmem_mark_meta(obj);
			return err;
		}
	}
	return pc_hostfile_sync_dir(pb->table.dirfd, &obj->dir_dirty);
}

/* Whether the page at @a is mapped (msync() says ENOMEM where it is not). */
static bool pmem_page_mapped(uintptr_t a)
{
	return msync((void *)a, PMEM_PAGE, MS_ASYNC) == 0;
}

/*
 * A vm reservation of PMEM_RESERVE bytes.  libpmem2 1.12.1 (Debian) maps
 * the reservation with PMEM_SLACK more than asked, to align it, and never
 * unmaps that slack, not even when the reservation is deleted: 1 GiB of
 * address space and a VMA would be lost per object opened, and a process
 * that opens objects ~2,000 times would run out.  So we pick the address
 * ourselves, in a range we just saw free, and after the call we look past
 * the end of the reservation: if the slack is mapped now, libpmem2 mapped
 * it, and pmem_unreserve() unmaps it with the reservation.  (A libpmem2
 * that does not map slack leaves that range unmapped, and we touch
 * nothing.)  Another thread may take the address in between; libpmem2
 * maps with MAP_FIXED_NOREPLACE and says PMEM2_E_MAPPING_EXISTS, and we
 * try again.  The address is 2 MiB-aligned, for huge pages on DAX.
 */
#define PMEM_SLACK		(1ull << 30)

static int pmem_reserve(const struct pmem_backend *pb, struct pmem_obj *obj)
{
	const uint64_t align = PMEM_CHUNK, span = PMEM_RESERVE + 2 * PMEM_SLACK;
	int r = PMEM2_E_MAPPING_EXISTS;
	uintptr_t a = 0;

	for (int tries = 0; tries < 8 && r == PMEM2_E_MAPPING_EXISTS; tries++) {
		void *p = PC_FAIL(PC_FAIL_PMEM_PROBE) ? (errno = ENOMEM, MAP_FAILED) :
			  mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			       -1, 0);

		if (p == MAP_FAILED)
			return -errno;
		a = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
		munmap(p, span);
		r = pmem2_vm_reservation_new(&obj->rsv, (void *)a, PMEM_RESERVE);
	}
	if (r)
		return pmem_fail(pb, "pmem2_vm_reservation_new", r);
	obj->base = pmem2_vm_reservation_get_address(obj->rsv);
	if (pmem_page_mapped(a + PMEM_RESERVE) &&
	    pmem_page_mapped(a + PMEM_RESERVE + PMEM_SLACK - PMEM_PAGE) &&
	    !pmem_page_mapped(a + PMEM_RESERVE + PMEM_SLACK))
		obj->slack = PMEM_SLACK;
	return 0;
}

/* Delete the reservation (it holds no segment), and the slack libpmem2 left. */
static int pmem_unreserve(const struct pmem_backend *pb, struct pmem_obj *obj)
{
	int r = pmem2_vm_reservation_delete(&obj->rsv);

	if (r)
		return pmem_fail(pb, "pmem2_vm_reservation_delete", r);
	if (obj->slack)
		munmap(obj->base + PMEM_RESERVE, obj->slack);
	return 0;
}

/* ---- objects ---- */

/* Undo what __pmem_obj_new() made; every segment is deleted first. */
static void pmem_obj_free(const struct pmem_backend *pb, struct pmem_obj *obj)
{
	if (obj->rsv)
		(void)pmem_unreserve(pb, obj);
	if (obj->cfg)
		(void)pmem2_config_delete(&obj->cfg);
	if (obj->src)
		(void)pmem2_source_delete(&obj->src);
	if (obj->fd >= 0)
		close(obj->fd);
	pthread_mutex_destroy(&obj->lock);
	free(obj);
}

/* A new table entry for the host file @name, opened with @oflags and mapped. */
static int __pmem_obj_new(struct pmem_backend *pb, const char *name, int oflags,
			  struct pmem_obj **out)
{
	size_t len = strlen(name);
	struct pmem_obj *obj;
	bool created = false;
	uint64_t size;
	int r;

	pc_hostfile_assert_held(&pb->table.lock);
	obj = PC_FAIL(PC_FAIL_PMEM_OBJ) ? NULL : calloc(1, sizeof(*obj) + len + 1);
	if (!obj)
		return -ENOMEM;
	if (pthread_mutex_init(&obj->lock, NULL)) {
		free(obj);
		return -ENOMEM;
	}
	memcpy(obj->name, name, len + 1);
	obj->ent.name = obj->name;
	/*
	 * The steps after the open can fail (libpmem2 allocates; the
	 * reservation needs address space), and a failed open must not leave
	 * a file it created behind (G8): so have the open tell whether it
	 * created the file.
	 */
	obj->fd = pc_hostfile_open(pb->table.dirfd, name, oflags, &created, &size);
	if (obj->fd < 0) {
		r = obj->fd;
		obj->fd = -1;
		goto fail;
	}
	if (size > PMEM_MAX_BYTES) {
		r = -EFBIG;
		goto fail;
	}
	r = pmem2_source_from_fd(&obj->src, obj->fd);
	if (r) {
		r = pmem_fail(pb, "pmem2_source_from_fd", r);
		goto fail;
	}
	r = pmem2_config_new(&obj->cfg);
	if (!r)
		r = pmem2_config_set_required_store_granularity(obj->cfg, PMEM2_GRANULARITY_PAGE);
	if (r) {
		r = pmem_fail(pb, "pmem2_config", r);
		goto fail;
	}
	r = pmem_reserve(pb, obj);
	if (r)
		goto fail;
	pmem_set_size(obj, size);
	pmem_set_end(obj, size);
	if (size > 0) {
		r = __pmem_map_to(pb, obj, size, size);
		if (r)
			goto fail;
	}
	obj->dir_dirty = (oflags & O_CREAT) != 0;
	*out = obj;
	return 0;
fail:
	if (obj->rsv)
		(void)__pmem_unmap_from(pb, obj, 0);
	if (created)
		(void)unlinkat(pb->table.dirfd, name, 0);	/* as if never opened */
	pmem_obj_free(pb, obj);
	return r;
}

static int pmem_open(void *priv, const char *name, unsigned flags, void **objp)
{
	struct pmem_backend *pb = priv;
	struct pc_hostfile_entry *ent;
	struct pmem_obj *obj = NULL;
	int err;

	/* The library checked @name (lib/backend.c) and @flags. */
	if (!pb || !name || !objp || (flags & ~(PC_CREAT | PC_EXCL | PC_TRUNC)))
		return -EINVAL;

	pc_hostfile_lock(&pb->table.lock);
	err = __pc_hostfile_lookup(&pb->table, name, flags, &ent);
	if (err)
		goto out;
	if (ent) {
		/* Open already: share it. */
		obj = pc_container_of(ent, struct pmem_obj, ent);
		if (flags & PC_TRUNC) {
			/* The segments stay, past the end of the file (invariant 3). */
			err = pc_hostfile_truncate(obj->fd, 0);
			if (err)
				goto out;
			pmem_set_size(obj, 0);
			pmem_set_end(obj, 0);
			pmem_mark_meta(obj);
		}
	} else {
		err = __pmem_obj_new(pb, name, pc_hostfile_oflags(flags), &obj);
		if (err)
			goto out;
	}
	__pc_hostfile_get(&pb->table, &obj->ent);
	*objp = obj;
out:
	pc_hostfile_unlock(&pb->table.lock);
	return err;
}

static void pmem_close(void *priv, void *objp)
{
	struct pmem_backend *pb = priv;
	struct pmem_obj *obj = objp;

	if (!pb || !obj)
		return;
	pc_hostfile_lock(&pb->table.lock);
	if (__pc_hostfile_put(&pb->table, &obj->ent)) {
		/*
		 * Invariant 4: no size change can follow, so bytes past the size
		 * are dead.  Nothing to report an error to: best effort.
		 */
		if (pmem_get_end(obj) > pmem_get_size(obj))
			(void)pc_hostfile_truncate(obj->fd, pmem_get_size(obj));
		/* No op runs on @obj: its lock is not needed. */
		(void)__pmem_unmap_from(pb, obj, 0);
		pmem_obj_free(pb, obj);
	}
	pc_hostfile_unlock(&pb->table.lock);
}

static int pmem_unlink(void *priv, const char *name)
{
	struct pmem_backend *pb = priv;

	if (!pb || !name)
		return -EINVAL;
	return pc_hostfile_unlink(&pb->table, name);	/* open: -EBUSY (invariant 1) */
}

static int pmem_get_size_op(void *priv, void *objp, uint64_t *size)
{
	struct pmem_obj *obj = objp;

	if (!priv || !obj || !size)
		return -EINVAL;
	*size = pmem_get_size(obj);
	return 0;
}

static int pmem_set_size_op(void *priv, void *objp, uint64_t size)
{
	struct pmem_backend *pb = priv;
	struct pmem_obj *obj = objp;
	uint64_t end;
	int r = 0;

	if (!pb || !obj)
		return -EINVAL;
	if (size > PMEM_MAX_BYTES)
		return -EFBIG;
	pc_hostfile_lock(&obj->lock);
	end = pmem_get_end(obj);
	if (size < pmem_get_size(obj)) {
		/*
		 * Shrink: the host file system frees the blocks past @size and
		 * zeroes the rest of the last page; then the segments wholly past
		 * it go (the library holds no pin there).
		 */
		r = pc_hostfile_truncate(obj->fd, size);
		if (r)
			goto out;
		pmem_set_end(obj, size);
		pmem_set_size(obj, size);
		pmem_mark_meta(obj);
		r = __pmem_unmap_from(pb, obj, pmem_round_up(size, PMEM_PAGE));
		goto out;
	}
	if (size > end) {
		/* Grow past the host file: it reads as zero up to @size. */
		r = __pmem_grow_file(pb, obj, size);
		if (r)
			goto out;
	}
	/* Else a grow within @file_end: those bytes are ahead of it (inv. 4). */
	pmem_set_size(obj, size);
	pmem_mark_meta(obj);
out:
	pc_hostfile_unlock(&obj->lock);
	return r;
}

/* From the file's holes, as in the file backend (pc_hostfile_map()). */
static int pmem_map(void *priv, void *objp, uint64_t off, uint64_t len, struct pc_extent *ext)
{
	struct pmem_obj *obj = objp;

	if (!priv || !obj)
		return -EINVAL;
	return pc_hostfile_map(obj->fd, pmem_get_size(obj), PMEM_MAX_BYTES, off, len, ext);
}

static int pmem_alloc(void *priv, void *objp, uint64_t off, uint64_t len, struct pc_extent *ext)
{
	struct pmem_backend *pb = priv;
	struct pmem_obj *obj = objp;
	int r = 0;

	if (!pb || !obj)
		return -EINVAL;
	r = pc_hostfile_alloc_check(off, len, PMEM_MAX_BYTES, ext);
	if (r)
		return r;
	pc_hostfile_lock(&obj->lock);
	/* A mapping holds no data past the end of its file: cover the blocks. */
	r = __pmem_grow_file(pb, obj, off + len);
	/*
	 * Reserve the blocks, so that a full file system says ENOSPC here and
	 * not as a SIGBUS when a store through the mapping faults them in.
	 * A file system without fallocate() allocates at that fault.
	 */
	if (!r) {
		r = pc_hostfile_reserve(obj->fd, &obj->no_falloc, off, len);
		if (r > 0) {
			pmem_mark_meta(obj);
			r = 0;
		}
	}
	pc_hostfile_unlock(&obj->lock);
	if (r)
		return r;
	pc_hostfile_extent(ext, off, len);
	return 0;
}

static int pmem_free(void *priv, void *objp, uint64_t off, uint64_t len)
{
	struct pmem_obj *obj = objp;
	int r;

	if (!priv || !obj)
		return -EINVAL;
	/*
	 * The kernel drops the mapping's pages of the range; the addresses
	 * stay in the segment and read as a hole (no pin is left on them).
	 */
	r = pc_hostfile_punch(obj->fd, off, len, PMEM_MAX_BYTES);
	if (r <= 0)
		return r;
	pmem_mark_meta(obj);
	return 0;
}

/* ---- block I/O: copies to and from the mapping ---- */

/* 0, or -EINVAL/-EFBIG for a bad range. */
static int pmem_io_check(uint64_t addr, uint64_t len)
{
	return pc_hostfile_range(addr, len, PMEM_MAX_BYTES);
}

/*
 * Read @len bytes at @addr.  The mapping holds the file up to @file_end;
 * past it (a page the library never wrote) the bytes are zero, and the
 * mapping is not touched there, as a page past the end of the file would
 * fault.
 */
static int pmem_do_read(struct pmem_obj *obj, uint64_t addr, void *buf, size_t len)
{
	uint64_t end = pmem_get_end(obj), n = 0;

	if (addr < end)
		n = PC_MIN((uint64_t)len, end - addr);
	if (n)
		memcpy(buf, obj->base + addr, n);
	if (n < len)
		memset((char *)buf + n, 0, len - n);
	return 0;
}

static bool pmem_zero(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * Write @len bytes at @addr.  Past @file_end the file grows to take them,
 * unless they are all zero: then they are left out, and the file does not
 * grow for nothing (the bytes past it read as zero anyway).
 */
static int pmem_do_write(struct pmem_backend *pb, struct pmem_obj *obj, uint64_t addr,
			 const void *buf, size_t len)
{
	uint64_t end = pmem_get_end(obj), n = len;
	int r;

	if (addr + len > end) {
		uint64_t keep = addr < end ? end - addr : 0;

		if (pmem_zero((const unsigned char *)buf + keep, len - keep)) {
			n = keep;
		} else {
			pc_hostfile_lock(&obj->lock);
			r = __pmem_grow_file(pb, obj, addr + len);
			pc_hostfile_unlock(&obj->lock);
			if (r)
				return r;
		}
	}
	if (!n)
		return 0;
	/* Page granularity: copy only, flush() msyncs; else flush lines now. */
	obj->memcpy_fn(obj->base + addr, buf, n,
		       obj->page_gran ? PMEM2_F_MEM_NOFLUSH : PMEM2_F_MEM_NODRAIN);
	pmem_note_dirty(obj, addr, addr + n);
	return 0;
}

static int pmem_read(void *priv, void *objp, uint64_t addr, void *buf, size_t len)
{
	struct pmem_obj *obj = objp;
	int r;

	if (!priv || !obj || (!buf && len))
		return -EINVAL;
	r = pmem_io_check(addr, len);
	return r ? r : pmem_do_read(obj, addr, buf, len);
}

static int pmem_write(void *priv, void *objp, uint64_t addr, const void *buf, size_t len)
{
	struct pmem_obj *obj = objp;
	int r;

	if (!priv || !obj || (!buf && len))
		return -EINVAL;
	r = pmem_io_check(addr, len);
	return r ? r : pmem_do_write(priv, obj, addr, buf, len);
}

/* Vectored batches: each I/O is a few copies; each gets its own result. */
static int pmem_batch(struct pmem_backend *pb, struct pmem_obj *obj, bool write,
		      struct pc_io *io, unsigned int n)
{
	if (!pb || !obj || (!io && n))
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		struct pc_io *x = &io[i];
		uint64_t pos = x->addr, total = 0;

		x->result = 0;
		if (!x->iov && x->iovcnt) {
			x->result = -EINVAL;
			continue;
		}
		for (unsigned int j = 0; j < x->iovcnt && !x->result; j++) {
			if (x->iov[j].iov_len > UINT64_MAX - total)
				x->result = -EFBIG;
			total += x->iov[j].iov_len;
		}
		if (!x->result)
			x->result = pmem_io_check(x->addr, total);
		for (unsigned int j = 0; j < x->iovcnt && !x->result; j++) {
			const struct iovec *v = &x->iov[j];

			x->result = write ? pmem_do_write(pb, obj, pos, v->iov_base, v->iov_len)
					  : pmem_do_read(obj, pos, v->iov_base, v->iov_len);
			pos += v->iov_len;
		}
	}
	return 0;
}

static int pmem_readv(void *priv, void *obj, struct pc_io *io, unsigned int n)
{
	return pmem_batch(priv, obj, false, io, n);
}

static int pmem_writev(void *priv, void *obj, struct pc_io *io, unsigned int n)
{
	return pmem_batch(priv, obj, true, io, n);
}

/*
 * Cut the host file back to the object's size if the bytes past it are
 * zero (invariant 4).  Runs under wb_lock, like every write, so nothing
 * writes there between the check and the cut.  The segments stay.
 */
static int __pmem_trim(struct pmem_obj *obj)
{
	uint64_t size = pmem_get_size(obj), end = pmem_get_end(obj);
	int r;

	if (end <= size)
		return 0;
	if (!pmem_zero(obj->base + size, end - size))
		return 0;	/* data ahead of a size change: keep it */
	r = pc_hostfile_truncate(obj->fd, size);
	if (r)
		return r;
	pmem_set_end(obj, size);
	pmem_mark_meta(obj);
	return 0;
}

static int pmem_flush(void *priv, void *objp)
{
	struct pmem_backend *pb = priv;
	struct pmem_obj *obj = objp;
	uint64_t lo, hi;
	int r;

	if (!pb || !obj)
		return -EINVAL;
	pc_hostfile_lock(&obj->lock);
	r = __pmem_trim(obj);
	lo = obj->dirty_lo;
	hi = PC_MIN(obj->dirty_hi, pmem_get_end(obj));
	obj->dirty_lo = obj->dirty_hi = 0;
	if (!r) {
		if (obj->page_gran)
			r = pmem_persist_range(obj, lo, hi);
		else if (obj->drain_fn)
			obj->drain_fn();	/* write() flushed the lines */
		if (r) {
			/* Not persisted: keep the range for the next flush. */
			obj->dirty_lo = lo;
			obj->dirty_hi = hi;
		}
	}
	pc_hostfile_unlock(&obj->lock);
	return r ? r : pmem_sync_meta(pb, obj);
}

static int pmem_persist(void *priv, void *objp, uint64_t addr, size_t len)
{
	struct pmem_backend *pb = priv;
	struct pmem_obj *obj = objp;
	uint64_t end;
	int r;

	if (!pb || !obj)
		return -EINVAL;
	r = pmem_io_check(addr, len);
	if (r)
		return r;
	/* Stores can only have gone below @file_end (direct_access() says so). */
	end = PC_MIN(addr + len, pmem_get_end(obj));
	r = pmem_persist_range(obj, addr, end);
	return r ? r : pmem_sync_meta(pb, obj);
}

/*
 * A pointer to file range [@addr, @addr + @len): the reservation address.
 * NULL past the end of the file (rounded up to a page), where the mapping
 * has no storage, and for a bad range.  Valid until the blocks are freed:
 * growth never moves a segment (invariant 3).
 */
static void *pmem_direct_access(void *priv, void *objp, uint64_t addr, size_t len)
{
	struct pmem_obj *obj = objp;
	uint64_t end;

	if (!priv || !obj || !len || pmem_io_check(addr, len))
		return NULL;
	end = pmem_round_up(pmem_get_end(obj), PMEM_PAGE);
	if (addr + len > end || addr + len > pmem_get_mapped(obj))
		return NULL;
	return obj->base + addr;
}

/* Every object is closed and no op runs: no lock needed. */
static void pmem_destroy(void *priv)
{
	struct pmem_backend *pb = priv;

	if (!pb)
		return;
	pc_hostfile_table_fini(&pb->table);
	free(pb);
}

static const struct pc_backend_ops pmem_ops = {
	.version = PC_BACKEND_OPS_VERSION,
	.size = sizeof(struct pc_backend_ops),
	.name = "pmem",
	.max_size = PMEM_MAX_BYTES,
	.open = pmem_open,
	.close = pmem_close,
	.unlink = pmem_unlink,
	.get_size = pmem_get_size_op,
	.set_size = pmem_set_size_op,
	.map = pmem_map,
	.alloc = pmem_alloc,
	.free = pmem_free,
	.read = pmem_read,
	.write = pmem_write,
	.flush = pmem_flush,
	.direct_access = pmem_direct_access,
	.destroy = pmem_destroy,
	.readv = pmem_readv,
	.writev = pmem_writev,
	.persist = pmem_persist,
};

PC_API int pc_backend_pmem_new(struct pc_backend **out, const char *dir, unsigned flags)
{
	struct pmem_backend *pb;
	const char *env;
	int err;

	if (!out || !dir || flags)
		return -EINVAL;
	pb = PC_FAIL(PC_FAIL_PMEM) ? NULL : calloc(1, sizeof(*pb));
	if (!pb)
		return -ENOMEM;
	if (pc_hostfile_table_init(&pb->table)) {
		free(pb);
		return -ENOMEM;
	}
	env = getenv("PC_PMEM_VERBOSE");
	pb->verbose = env && !strcmp(env, "1");
	err = pc_hostfile_table_open(&pb->table, dir);
	if (err) {
		pmem_destroy(pb);
		return err;
	}
	/* On failure the handle was not made, so priv is still ours. */
	err = pc_backend_new(out, &pmem_ops, pb);
	if (err)
		pmem_destroy(pb);
	return err;
}
