/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libpagecache extent backends: the interface for backend authors.
 *
 * A backend is a store of named objects over block storage.  It answers, in
 * the manner of the kernel's iomap, "where does byte @off of object @obj
 * live?" with an extent: a hole, a mapped run at a device address, or an
 * unwritten (allocated, reads as zero) run.  It allocates and frees blocks,
 * does block I/O at device addresses, and may hand out direct pointers
 * (DAX-capable backends).
 *
 * The page cache calls these ops under its own locks.  In short:
 *  - map and read run with the mapping's invalidate_lock held shared (fill);
 *  - alloc and write run with it held shared (writeback);
 *  - free, set_size run with it held exclusive (invalidation), after every
 *    cached page of the range is gone.
 * Of one object, alloc, write, writev, set_size and flush never run
 * concurrently with each other (writeback holds a per-mapping mutex, and
 * invalidation the exclusive lock), and free and a shrinking set_size run
 * alone.  But map, read and readv (fills) do run concurrently with alloc,
 * write and a growing set_size (writeback) of the same object, since both
 * hold the lock shared: a backend must keep its block map of an object
 * readable while writeback allocates in it.  Ops on different objects run
 * concurrently, so the allocator must be safe between objects.
 *
 * Device addresses are bytes, page-aligned, opaque to the cache: a backend
 * with one host file per object may use the file offset itself.
 *
 * The ops table is versioned: @version is PC_BACKEND_OPS_VERSION and @size
 * is sizeof(struct pc_backend_ops) as the backend was compiled.  Fields only
 * grow at the end; ops the library does not find within @size are NULL.
 */
#ifndef PAGECACHE_BACKEND_H
#define PAGECACHE_BACKEND_H

#include <sys/uio.h>

#include <pagecache.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PC_BACKEND_OPS_VERSION 1

enum pc_extent_type {
	PC_EXTENT_HOLE = 0,	/* no blocks: reads as zero */
	PC_EXTENT_MAPPED = 1,	/* blocks at @addr hold the data */
	PC_EXTENT_UNWRITTEN = 2,/* blocks at @addr are allocated but read as zero */
};

struct pc_extent {
	uint64_t offset;	/* object byte offset the extent starts at */
	uint64_t length;	/* bytes, a multiple of the page size, > 0 */
	uint64_t addr;		/* device address of @offset (MAPPED, UNWRITTEN) */
	uint32_t type;		/* enum pc_extent_type */
	uint32_t flags;		/* none defined yet: 0 */
};

/*
 * One vectored block I/O: the device range [addr, addr + total length of
 * @iov) moved from or to the page buffers of @iov, in order.  Lengths are
 * whole pages; buffers are page-aligned.
 */
struct pc_io {
	uint64_t addr;			/* device address of the first byte */
	const struct iovec *iov;	/* page buffers */
	unsigned int iovcnt;
	int result;			/* out: 0, or -errno for this I/O */
};

struct pc_backend_ops {
	uint32_t version;	/* PC_BACKEND_OPS_VERSION */
	uint32_t size;		/* sizeof(struct pc_backend_ops) */
	const char *name;	/* for messages: "ram", "file", ... */
	uint64_t max_size;	/* largest object size; writes past it are -EFBIG; 0: no limit */

	/* Open object @name (PC_CREAT, PC_EXCL, PC_TRUNC as for open(2)). */
	int (*open)(void *priv, const char *name, unsigned flags, void **obj);
	void (*close)(void *priv, void *obj);
	/* Remove object @name and free its blocks.  It is not open. */
	int (*unlink)(void *priv, const char *name);

	int (*get_size)(void *priv, void *obj, uint64_t *size);
	/*
	 * Set the size; shrinking frees the blocks wholly past the new size.
	 * The bytes of the last block past a new, smaller size need not be
	 * zeroed: the library writes zeros there itself.  The library may
	 * write blocks past the size it last set (it raises the size before
	 * writeback, but a write can extend the object meanwhile); a later
	 * grow must show those bytes.
	 */
	int (*set_size)(void *priv, void *obj, uint64_t size);

	/*
	 * Describe the extent that holds byte @off (page-aligned), looking no
	 * further than @len bytes.  Past the size, answer a hole.
	 */
	int (*map)(void *priv, void *obj, uint64_t off, uint64_t len, struct pc_extent *ext);
	/*
	 * Make [@off, @off + @len) (page-aligned) writable: allocate blocks
	 * where there are none, and describe the extent that holds @off.
	 * Newly allocated blocks must never show data of their past owners:
	 * zero them or answer PC_EXTENT_UNWRITTEN.  -ENOSPC when full.
	 */
	int (*alloc)(void *priv, void *obj, uint64_t off, uint64_t len, struct pc_extent *ext);
	/* Free the blocks of [@off, @off + @len) (page-aligned); reads as hole. */
	int (*free)(void *priv, void *obj, uint64_t off, uint64_t len);

	/*
	 * Block I/O at device addresses; whole pages; return 0 or -errno.  A
	 * read of device space that holds no data returns zeros.
	 */
	int (*read)(void *priv, void *obj, uint64_t addr, void *buf, size_t len);
	int (*write)(void *priv, void *obj, uint64_t addr, const void *buf, size_t len);
	/* Make writes to @obj, and its size, durable. NULL: nothing to do. */
	int (*flush)(void *priv, void *obj);

	/*
	 * Optional (DAX-capable backends): a pointer to @len bytes of storage
	 * at device address @addr, valid until the blocks are freed.
	 */
	void *(*direct_access)(void *priv, void *obj, uint64_t addr, size_t len);

	/* Release @priv.  Every object is closed. */
	void (*destroy)(void *priv);

	/*
	 * Optional: @n vectored reads (or writes) of @obj at once, done in any
	 * order, each with its own result.  This is how the library reads
	 * ahead and writes back runs of pages in few large I/Os; a backend may
	 * submit them together (io_uring).  Returns 0 once every I/O has a
	 * result, or -errno if none was attempted.  NULL: the library uses
	 * read/write page by page.
	 */
	int (*readv)(void *priv, void *obj, struct pc_io *io, unsigned int n);
	int (*writev)(void *priv, void *obj, struct pc_io *io, unsigned int n);

	/*
	 * Optional (DAX-capable backends): make the stores made through
	 * direct_access() pointers to device range [@addr, @addr + @len)
	 * durable (pmem: flush the CPU caches of the range and drain).  The
	 * library calls it from pc_sync() for the dirty DAX ranges only.
	 * NULL: the library calls flush() instead.
	 */
	int (*persist)(void *priv, void *obj, uint64_t addr, size_t len);
};

/*
 * Wrap @ops and @priv in a backend handle.  The table is copied; the
 * string @ops->name must outlive the handle.
 * -EINVAL for a version the library does not know, a size too small for
 * version 1, or a missing mandatory op (every op but flush and
 * direct_access is mandatory).
 */
PC_API int pc_backend_new(struct pc_backend **out, const struct pc_backend_ops *ops, void *priv);

#ifdef __cplusplus
}
#endif
#endif /* PAGECACHE_BACKEND_H */
