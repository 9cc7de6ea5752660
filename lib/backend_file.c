/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The file backend: each object is one host file in a directory, and the
 * object's byte offsets are the file's offsets, so a device address is
 * simply a file offset.  Like the RAM backend it is written only against
 * the public ops table (<pagecache/backend.h>).  What it shares with the
 * pmem backend, the directory of host files and the object table, open,
 * map from the holes, alloc, free and the syncs, is lib/hostfile.c.  The host file system is
 * the block allocator: holes are the file's holes (SEEK_DATA/SEEK_HOLE),
 * alloc is fallocate(), free punches a hole, and flush is fdatasync().
 *
 * What it owns:
 *  - fb->table (lib/hostfile.h): the directory, opened once by
 *    pc_backend_file_new(), and the open objects: name -> one fd, an open
 *    count, and the object's size as the library last set it;
 *  - with liburing (PC_HAVE_URING), one io_uring per backend for vectored
 *    batches (readv/writev ops) of O_DIRECT objects, set up on first use.
 * It owns no data: an object that is not open is just its host file.
 *
 * Size.  The host file may be longer than the object, for a while.  The
 * library writes whole pages, and it may write a page that lies past the
 * size it last gave set_size(): writeback snapshots the size, calls
 * set_size(), then writes the dirty pages it finds, and a pc_write() that
 * runs meanwhile (both hold the invalidate_lock shared) can dirty pages and
 * grow the mapping's size after the snapshot.  The RAM backend keeps such
 * bytes past the size and shows them when the size grows (ram_set_size()).
 * A file cannot hold bytes past EOF, so pwrite() makes the file longer; if
 * we cut it back to the object size we would lose them, because the page is
 * clean now and the next writeback only raises the size.  So we track two
 * sizes: @size (the object's) and @file_end (the host file's), and we cut
 * the file back only where that provably loses nothing.
 *
 * Invariants:
 *  1. An object is in fb->table if and only if its open count is non-zero,
 *     and then @fd is open on its host file.  Names are unique in the
 *     table, so one host file has at most one fd of ours.
 *  2. @file_end is the host file's size and @file_end >= @size, except for
 *     a moment inside set_size() and flush().
 *  3. Host bytes in [0, @size) are the object's bytes.  Host bytes in
 *     [@size, @file_end) are zero, or were written by the library past the
 *     size ahead of a set_size() that will cover them; file_set_size()
 *     exposes them when it grows the size (the RAM backend does the same).
 *  4. Cutting the file back to @size happens only where it loses nothing:
 *     a write that would only put zero bytes past @size onto a file with
 *     nothing past @size is clipped at @size (buffered objects; O_DIRECT
 *     writes stay whole pages); flush() cuts [@size, @file_end) when those
 *     bytes read as zero; close() of the last opener cuts unconditionally,
 *     since no size change can follow.  So after pc_sync() or pc_close() of
 *     a quiet mapping the host file's size is the object's size, durably.
 *
 * Object states and the functions that move them:
 *	absent --file_open(PC_CREAT)--> open (in the table, fd held)
 *	closed --file_open()----------> open
 *	open   --file_open() again-----> open (opens + 1, same fd)
 *	open   --file_close() (last)---> closed (fd closed, entry freed)
 *	closed --file_unlink()--------> absent     (open: -EBUSY, invariant 1)
 *
 * Which library lock each op runs under (backend.h, lib/writeback.c,
 * lib/truncate.c, lib/backend.c):
 *  - open, close, unlink: the backend handle's lock (lib/backend.c);
 *  - map, read, readv: the mapping's invalidate_lock shared (fills);
 *  - set_size (grow), alloc, write, writev, flush: the invalidate_lock
 *    shared or exclusive, and wb_lock, which serialises writeback of one
 *    mapping (lib/writeback.c);
 *  - free, set_size (shrink, pc_truncate): the invalidate_lock exclusive,
 *    so nothing else runs on the object.
 * Hence the ops that change the host file (alloc, write, writev, set_size,
 * free, flush) never run concurrently on one object, and @size and
 * @file_end have a single writer at a time.  map and read may run beside
 * them, so @size and @file_end are accessed atomically.
 *
 * Locking: two mutexes per backend, both LEAF locks (class PC_LC_LEAF in
 * lib/lockdep.h): the library calls ops with its own locks held, and we take
 * no lock of the library, nor the other of our two, while holding one.
 *  - fb->table.lock guards the object table (the list, names, open
 *    counts).  Functions named __file_*() and __pc_hostfile_*() require it
 *    held; debug builds assert that (lib/hostfile.c, "Locks").
 *  - fb->ring_lock guards the io_uring: a batch holds it from its first
 *    submission to its last completion.  One ring per backend means that
 *    batches of different objects queue behind each other; a batch is one
 *    submit and a wait, so this costs little next to the I/O, and it avoids
 *    per-thread rings whose lifetime would outlive the backend.
 * Block I/O (read, write and the synchronous batch path) takes no lock: it
 * moves bytes between page buffers and the fd at offsets the library owns.
 * The library never frees or reuses a block while I/O to it is in flight
 * (G2, G6: free runs under the invalidate_lock exclusive), and concurrent
 * pread/pwrite on disjoint ranges of one fd are safe in the kernel.  The
 * fd itself stays open while the object is open.
 *
 * io_uring or not: a batch of two or more I/Os goes to the ring if the
 * object is O_DIRECT (the measured default, see enum file_uring), or always
 * with PC_FILE_URING=1 in the environment, or never with PC_FILE_URING=0
 * (how the tests run the fallback), and only if io_uring_queue_init()
 * works.  If it fails (a kernel or sandbox without io_uring) the backend
 * uses preadv/pwritev for good.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef PC_HAVE_URING
#include <liburing.h>
#endif

#include <pagecache/backend.h>

#include "compiler.h"
#include "hostfile.h"
#include "inject.h"

/* The unit of the library's block I/O (lib/hostfile.h). */
#define FILE_PAGE		PC_HOSTFILE_PAGE
#define FILE_PAGE_MASK		PC_HOSTFILE_PAGE_MASK
/* Largest object (ops->max_size): offsets must fit an off_t. */
#define FILE_MAX_BYTES		((uint64_t)INT64_MAX & ~FILE_PAGE_MASK)
/* iovecs per preadv/pwritev call of the synchronous path. */
#define FILE_IOV_CHUNK		64
/* Submission queue entries of the ring; at most this many I/Os in flight. */
#define FILE_RING_ENTRIES	64
/*
 * Which objects' batches use io_uring (fb->uring).  pcbench fileio, 8 I/Os
 * of 64 KiB at random offsets of a 256 MiB file on ext4 (virtio disk, 2
 * vCPUs, kernel 6.18), medians of 7 runs, one submit vs one call per I/O:
 *	buffered writes   3377 vs 5916 MB/s  (0.57: ext4 punts buffered ring
 *	                  writes to io-wq workers, serialised per inode)
 *	buffered reads   18623 vs 19177 MB/s (0.97: page cache hits either way)
 *	O_DIRECT writes   1301 vs  661 MB/s  (1.97: 8 I/Os in flight at once)
 *	O_DIRECT reads     869 vs  542 MB/s  (1.60)
 * So by default only O_DIRECT objects use the ring.  PC_FILE_URING=1 in
 * the environment makes every object use it, PC_FILE_URING=0 none.
 */
enum file_uring {
	FILE_URING_NEVER = 0,
	FILE_URING_DIRECT = 1,		/* the default */
	FILE_URING_ALWAYS = 2,
};
/* io->result while an I/O of a batch is still to be done by the ring. */
#define FILE_IO_PENDING		1

struct file_obj {
	struct pc_hostfile_entry ent;	/* in fb->table (lib/hostfile.h) */
	/* set by file_open() when the entry is made, then constant: */
	int fd;
	bool direct;			/* O_DIRECT is on for @fd */
	/* atomic; one writer at a time (see the top of the file): */
	uint64_t size;			/* the object's size */
	uint64_t file_end;		/* the host file's size, >= @size (inv. 2) */
	int no_falloc;			/* fallocate() said EOPNOTSUPP: skip it */
	int dir_dirty;			/* created, maybe: sync dirfd on flush */
	/* set by file_open(), then constant: */
	char name[];
};

struct file_backend {
	/* the directory and the open objects; table.lock is a leaf lock: */
	struct pc_hostfile_table table;
	/* set by pc_backend_file_new(), then constant: */
	unsigned int flags;		/* PC_FILE_* */
	enum file_uring uring;		/* which objects' batches use io_uring */

#ifdef PC_HAVE_URING
	pthread_mutex_t ring_lock;	/* leaf lock, see the top of the file */
	/* protected by ring_lock: */
	int ring_state;			/* 0: not tried, 1: ready, -1: not available */
	struct io_uring ring;
#endif
};

/*
 * @size and @file_end: relaxed is enough.  Their writers are serialised by
 * the library's locks, which also order them with the I/O; a concurrent
 * map() only needs an untorn value.
 */
static inline uint64_t file_get_size(const struct file_obj *obj)
{
	return __atomic_load_n(&obj->size, __ATOMIC_RELAXED);
}

static inline uint64_t file_get_end(const struct file_obj *obj)
{
	return __atomic_load_n(&obj->file_end, __ATOMIC_RELAXED);
}

static inline void file_set_sizes(struct file_obj *obj, uint64_t size, uint64_t end)
{
	__atomic_store_n(&obj->size, size, __ATOMIC_RELAXED);
	__atomic_store_n(&obj->file_end, end, __ATOMIC_RELAXED);
}

/* A write reached @end: the host file is at least that long now. */
static void file_note_end(struct file_obj *obj, uint64_t end)
{
	uint64_t cur = file_get_end(obj);

	while (cur < end &&
	       !__atomic_compare_exchange_n(&obj->file_end, &cur, end, true, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

/* ---- objects ---- */

/* A new table entry for the host file @name, opened with open(2) @oflags. */
static int __file_obj_new(struct file_backend *fb, const char *name, int oflags,
			  struct file_obj **out)
{
	size_t len = strlen(name);
	struct file_obj *obj;
	uint64_t size;
	int fd;

	pc_hostfile_assert_held(&fb->table.lock);
	obj = PC_FAIL(PC_FAIL_FILE_OBJ) ? NULL : calloc(1, sizeof(*obj) + len + 1);
	if (!obj)
		return -ENOMEM;
	fd = pc_hostfile_open(fb->table.dirfd, name, oflags, NULL, &size);
	if (fd < 0) {
		free(obj);
		return fd;
	}
	if (fb->flags & PC_FILE_DIRECT) {
		/*
		 * Set after open, not passed to it: a file system that cannot
		 * do O_DIRECT refuses it with EINVAL only after O_CREAT made the
		 * file, and a retry would then break PC_EXCL.  fcntl() refuses
		 * the same way and leaves the fd as it was: buffered I/O.
		 */
		int fl = fcntl(fd, F_GETFL);

		obj->direct = fl >= 0 && fcntl(fd, F_SETFL, fl | O_DIRECT) == 0;
	}
	obj->fd = fd;
	file_set_sizes(obj, size, size);
	obj->dir_dirty = (oflags & O_CREAT) != 0;
	memcpy(obj->name, name, len + 1);
	obj->ent.name = obj->name;
	*out = obj;
	return 0;
}

static int file_open(void *priv, const char *name, unsigned flags, void **objp)
{
	struct file_backend *fb = priv;
	struct pc_hostfile_entry *ent;
	struct file_obj *obj = NULL;
	int err;

	/* The library checked @name (lib/backend.c) and @flags. */
	if (!fb || !name || !objp || (flags & ~(PC_CREAT | PC_EXCL | PC_TRUNC)))
		return -EINVAL;

	pc_hostfile_lock(&fb->table.lock);
	err = __pc_hostfile_lookup(&fb->table, name, flags, &ent);
	if (err)
		goto out;
	if (ent) {
		/* Open already: share the fd. */
		obj = pc_container_of(ent, struct file_obj, ent);
		if (flags & PC_TRUNC) {
			err = pc_hostfile_truncate(obj->fd, 0);
			if (err)
				goto out;
			file_set_sizes(obj, 0, 0);
		}
	} else {
		err = __file_obj_new(fb, name, pc_hostfile_oflags(flags), &obj);
		if (err)
			goto out;
	}
	__pc_hostfile_get(&fb->table, &obj->ent);
	*objp = obj;
out:
	pc_hostfile_unlock(&fb->table.lock);
	return err;
}

static void file_close(void *priv, void *objp)
{
	struct file_backend *fb = priv;
	struct file_obj *obj = objp;

	if (!fb || !obj)
		return;
	pc_hostfile_lock(&fb->table.lock);
	if (__pc_hostfile_put(&fb->table, &obj->ent)) {
		/*
		 * Invariant 4: no size change can follow, so bytes past the size
		 * are dead.  Nothing to report an error to: best effort.
		 */
		if (file_get_end(obj) > file_get_size(obj))
			(void)pc_hostfile_truncate(obj->fd, file_get_size(obj));
		close(obj->fd);
		free(obj);
	}
	pc_hostfile_unlock(&fb->table.lock);
}

static int file_unlink(void *priv, const char *name)
{
	struct file_backend *fb = priv;

	if (!fb || !name)
		return -EINVAL;
	return pc_hostfile_unlink(&fb->table, name);	/* open: -EBUSY (invariant 1) */
}

static int file_get_size_op(void *priv, void *objp, uint64_t *size)
{
	struct file_obj *obj = objp;

	if (!priv || !obj || !size)
		return -EINVAL;
	/* fstat() of the open made it; only set_size() and PC_TRUNC change it. */
	*size = file_get_size(obj);
	return 0;
}

static int file_set_size(void *priv, void *objp, uint64_t size)
{
	struct file_obj *obj = objp;
	uint64_t end;
	int err;

	if (!priv || !obj)
		return -EINVAL;
	if (size > FILE_MAX_BYTES)
		return -EFBIG;
	end = file_get_end(obj);
	if (size < file_get_size(obj) || size > end) {
		/*
		 * A shrink frees the blocks past @size and zeroes the rest of
		 * the last block (the host file system does both); a grow past
		 * the host size reads as zero up to @size.
		 */
		err = pc_hostfile_truncate(obj->fd, size);
		if (err)
			return err;
		end = size;
	}
	/*
	 * Else a grow within @file_end: keep the host bytes, they are ahead of
	 * this very size change (invariant 3).
	 */
	file_set_sizes(obj, size, end);
	return 0;
}

/* From the file's holes (pc_hostfile_map()). */
static int file_map(void *priv, void *objp, uint64_t off, uint64_t len, struct pc_extent *ext)
{
	struct file_obj *obj = objp;

	if (!priv || !obj)
		return -EINVAL;
	return pc_hostfile_map(obj->fd, file_get_size(obj), FILE_MAX_BYTES, off, len, ext);
}

static int file_alloc(void *priv, void *objp, uint64_t off, uint64_t len, struct pc_extent *ext)
{
	struct file_obj *obj = objp;
	int r;

	if (!priv || !obj)
		return -EINVAL;
	r = pc_hostfile_alloc_check(off, len, FILE_MAX_BYTES, ext);
	if (r)
		return r;
	/*
	 * Reserve the blocks now (pc_hostfile_reserve()), at writeback's
	 * allocation step, where the page stays dirty, and not in the middle
	 * of a buffered write that the kernel would defer.
	 */
	r = pc_hostfile_reserve(obj->fd, &obj->no_falloc, off, len);
	if (r < 0)
		return r;
	pc_hostfile_extent(ext, off, len);
	return 0;
}

static int file_free(void *priv, void *objp, uint64_t off, uint64_t len)
{
	struct file_obj *obj = objp;
	int r;

	if (!priv || !obj)
		return -EINVAL;
	r = pc_hostfile_punch(obj->fd, off, len, FILE_MAX_BYTES);
	return r < 0 ? r : 0;
}

/* ---- block I/O: no lock, see the top of the file ---- */

/* Bytes of @iov[@cnt]; UINT64_MAX if that overflows. */
static uint64_t file_iov_total(const struct iovec *iov, unsigned int cnt)
{
	uint64_t total = 0;

	for (unsigned int i = 0; i < cnt; i++) {
		if (iov[i].iov_len > UINT64_MAX - total)
			return UINT64_MAX;
		total += iov[i].iov_len;
	}
	return total;
}

/* Whether bytes [@from, @to) of the buffers of @iov are all zero. */
static bool file_iov_zero(const struct iovec *iov, unsigned int cnt, uint64_t from, uint64_t to)
{
	uint64_t pos = 0;

	for (unsigned int i = 0; i < cnt && pos < to; i++) {
		uint64_t a = PC_MAX(from, pos), b = PC_MIN(to, pos + iov[i].iov_len);
		const unsigned char *p = iov[i].iov_base;

		for (uint64_t j = a; j < b; j++)
			if (p[j - pos])
				return false;
		pos += iov[i].iov_len;
	}
	return true;
}

/* Zero the buffers of @iov from byte @skip on. */
static void file_iov_clear(const struct iovec *iov, unsigned int cnt, uint64_t skip)
{
	for (unsigned int i = 0; i < cnt; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		memset((char *)iov[i].iov_base + skip, 0, iov[i].iov_len - skip);
		skip = 0;
	}
}

/*
 * How many of the @total bytes a write at @addr must move (invariant 4):
 * all, except on a buffered object whose host file holds nothing past the
 * size, where zero bytes past the size are left out, so the file does not
 * grow.  Called before the write; the library owns the range.
 */
static uint64_t file_write_limit(const struct file_obj *obj, uint64_t addr,
				 const struct iovec *iov, unsigned int cnt, uint64_t total)
{
	uint64_t size = file_get_size(obj);

	if (obj->direct || addr >= size || total <= size - addr || file_get_end(obj) > size)
		return total;
	return file_iov_zero(iov, cnt, size - addr, total) ? size - addr : total;
}

/*
 * Move bytes [@skip, @limit) of the buffers @iov[@cnt] from or to the file
 * at @addr + @skip, with preadv/pwritev, retrying short transfers and
 * EINTR.  A read past EOF fills the rest of the buffers (to their end, not
 * @limit) with zeros.  On an O_DIRECT object a read that stops off a page
 * boundary stopped at EOF (direct reads are clamped to the file size), and
 * another read from there would be misaligned: that is EOF too.
 * 0 or -errno.
 */
static int file_rw(struct file_obj *obj, bool write, uint64_t addr, const struct iovec *iov,
		   unsigned int cnt, uint64_t skip, uint64_t limit)
{
	unsigned int i = 0;
	uint64_t in = skip, pos = skip;
	int err = 0;

	/* The cursor (i, in): iovec i, byte in of it. */
	while (i < cnt && in >= iov[i].iov_len)
		in -= iov[i++].iov_len;
	while (pos < limit) {
		struct iovec v[FILE_IOV_CHUNK];
		unsigned int k = 0, j = i;
		uint64_t want = 0, jin = in;
		ssize_t r;

		if (!write && obj->direct && ((addr + pos) & FILE_PAGE_MASK)) {
			file_iov_clear(iov, cnt, pos);
			break;
		}
		for (; j < cnt && k < FILE_IOV_CHUNK && want < limit - pos; j++, jin = 0) {
			uint64_t n = PC_MIN(iov[j].iov_len - jin, limit - pos - want);

			if (!n)
				continue;
			v[k].iov_base = (char *)iov[j].iov_base + jin;
			v[k++].iov_len = n;
			want += n;
		}
		if (write)
			r = pwritev(obj->fd, v, (int)k, (off_t)(addr + pos));
		else
			r = preadv(obj->fd, v, (int)k, (off_t)(addr + pos));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (r == 0) {
			if (write) {
				err = -EIO;	/* no progress and no reason */
				break;
			}
			file_iov_clear(iov, cnt, pos);	/* EOF */
			break;
		}
		pos += (uint64_t)r;
		in += (uint64_t)r;
		while (i < cnt && in >= iov[i].iov_len)
			in -= iov[i++].iov_len;
	}
	if (write && pos > skip)
		file_note_end(obj, addr + pos);
	return err;
}

/* Arguments of one I/O: 0, or -EINVAL/-EFBIG.  Sets *@total. */
static int file_io_check(uint64_t addr, const struct iovec *iov, unsigned int cnt,
			 uint64_t *total)
{
	if (!iov && cnt)
		return -EINVAL;
	*total = file_iov_total(iov, cnt);
	return pc_hostfile_range(addr, *total, FILE_MAX_BYTES);
}

static int file_read(void *priv, void *objp, uint64_t addr, void *buf, size_t len)
{
	struct iovec v = { .iov_base = buf, .iov_len = len };
	struct file_obj *obj = objp;
	uint64_t total;
	int r;

	if (!priv || !obj || (!buf && len))
		return -EINVAL;
	r = file_io_check(addr, &v, 1, &total);
	return r ? r : file_rw(obj, false, addr, &v, 1, 0, total);
}

static int file_write(void *priv, void *objp, uint64_t addr, const void *buf, size_t len)
{
	struct iovec v = { .iov_base = (void *)buf, .iov_len = len };
	struct file_obj *obj = objp;
	uint64_t total;
	int r;

	if (!priv || !obj || (!buf && len))
		return -EINVAL;
	r = file_io_check(addr, &v, 1, &total);
	if (r)
		return r;
	return file_rw(obj, true, addr, &v, 1, 0, file_write_limit(obj, addr, &v, 1, total));
}

#ifdef PC_HAVE_URING
/* Set up the ring on first use; false if this backend cannot have one. */
static bool __file_ring_ready(struct file_backend *fb)
{
	pc_hostfile_assert_held(&fb->ring_lock);
	if (fb->ring_state == 0)
		fb->ring_state = io_uring_queue_init(FILE_RING_ENTRIES, &fb->ring, 0) == 0 ? 1 : -1;
	return fb->ring_state > 0;
}

/* The ring failed us: give it up; the rest goes through preadv/pwritev. */
static void __file_ring_give_up(struct file_backend *fb)
{
	pc_hostfile_assert_held(&fb->ring_lock);
	io_uring_queue_exit(&fb->ring);
	fb->ring_state = -1;
}

/* The completion of I/O @io: its result, finishing a short transfer. */
static void file_ring_complete(struct file_obj *obj, bool write, struct pc_io *io, int res)
{
	uint64_t total = file_iov_total(io->iov, io->iovcnt);

	if (res == -EINTR || res == -EAGAIN) {
		/* Not done at all: do it here. */
		io->result = file_rw(obj, write, io->addr, io->iov, io->iovcnt, 0, total);
	} else if (res < 0) {
		io->result = res;
	} else {
		if (write && res > 0)
			file_note_end(obj, io->addr + (uint64_t)res);
		/* A short transfer: the remainder (or EOF's zeros) synchronously. */
		io->result = (uint64_t)res < total ?
			file_rw(obj, write, io->addr, io->iov, io->iovcnt, (uint64_t)res, total) : 0;
	}
}

/*
 * The I/Os of @io[@n] whose result is FILE_IO_PENDING, through the ring:
 * queue as many as fit, one io_uring_submit() for them, reap, repeat.
 * Returns false if there is no ring (nothing done).
 */
static bool file_ring_batch(struct file_backend *fb, struct file_obj *obj, bool write,
			    struct pc_io *io, unsigned int n)
{
	struct io_uring *ring = &fb->ring;
	unsigned int next = 0, queued = 0, inflight = 0;
	bool broken = false;

	pc_hostfile_lock(&fb->ring_lock);
	if (!__file_ring_ready(fb)) {
		pc_hostfile_unlock(&fb->ring_lock);
		return false;
	}
	while (!broken && (next < n || queued || inflight)) {
		struct io_uring_cqe *cqe;
		int r;

		/* At most FILE_RING_ENTRIES in flight, so the CQ cannot overflow. */
		for (; next < n && queued + inflight < FILE_RING_ENTRIES; next++) {
			struct io_uring_sqe *sqe;

			if (io[next].result != FILE_IO_PENDING)
				continue;
			sqe = io_uring_get_sqe(ring);
			if (!sqe)
				break;
			if (write)
				io_uring_prep_writev(sqe, obj->fd, io[next].iov, io[next].iovcnt,
						     io[next].addr);
			else
				io_uring_prep_readv(sqe, obj->fd, io[next].iov, io[next].iovcnt,
						    io[next].addr);
			io_uring_sqe_set_data64(sqe, next);
			queued++;
		}
		if (queued) {
			r = io_uring_submit(ring);
			if (r > 0) {
				queued -= PC_MIN((unsigned int)r, queued);
				inflight += (unsigned int)r;
			} else if (r != -EINTR && !((r == 0 || r == -EAGAIN || r == -EBUSY) && inflight)) {
				broken = true;	/* no progress possible: drain, give up */
			}
		}
		/* Reap one; then queue again, as completions free SQ entries. */
		while (inflight) {
			r = io_uring_wait_cqe(ring, &cqe);
			if (r == -EINTR || r == -EAGAIN)
				continue;
			/*
			 * The kernel may still write into the buffers of I/Os in
			 * flight; returning them to the caller now would corrupt
			 * memory.  With at most FILE_RING_ENTRIES in flight and a
			 * CQ twice that, this cannot happen.
			 */
			if (r < 0)
				abort();
			file_ring_complete(obj, write, &io[io_uring_cqe_get_data64(cqe)], cqe->res);
			io_uring_cqe_seen(ring, cqe);
			inflight--;
			if (!broken)
				break;
		}
	}
	if (broken)
		__file_ring_give_up(fb);	/* drops the queued, unsubmitted SQEs */
	pc_hostfile_unlock(&fb->ring_lock);
	/* What the ring left undone (given up), the caller does synchronously. */
	return true;
}
#endif /* PC_HAVE_URING */

/*
 * Vectored batches.  Each I/O gets its own result; the return value is 0,
 * or -EINVAL if the batch itself is bad (then nothing was attempted).
 * Invalid I/Os get -EINVAL or -EFBIG and the others still run.
 */
static int file_batch(struct file_backend *fb, struct file_obj *obj, bool write,
		      struct pc_io *io, unsigned int n)
{
	unsigned int ring_ios = 0;
	bool ring;

	if (!fb || !obj || (!io && n))
		return -EINVAL;
	ring = fb->uring == FILE_URING_ALWAYS || (fb->uring == FILE_URING_DIRECT && obj->direct);
	for (unsigned int i = 0; i < n; i++) {
		struct pc_io *x = &io[i];
		uint64_t total, limit;

		x->result = file_io_check(x->addr, x->iov, x->iovcnt, &total);
		if (x->result || !total)
			continue;
		limit = write ? file_write_limit(obj, x->addr, x->iov, x->iovcnt, total) : total;
		/*
		 * The ring moves whole iovec arrays: a clipped write (at most
		 * one per batch, at EOF) and arrays longer than IOV_MAX go the
		 * synchronous way.
		 */
		if (ring && limit == total && x->iovcnt <= IOV_MAX) {
			x->result = FILE_IO_PENDING;
			ring_ios++;
		} else {
			x->result = file_rw(obj, write, x->addr, x->iov, x->iovcnt, 0, limit);
		}
	}
#ifdef PC_HAVE_URING
	/* One I/O alone gains nothing from a ring: a syscall either way. */
	if (ring_ios > 1)
		file_ring_batch(fb, obj, write, io, n);
#endif
	/* Anything still pending: no ring, a ring given up, or one lone I/O. */
	for (unsigned int i = 0; i < n && ring_ios; i++) {
		struct pc_io *x = &io[i];

		if (x->result != FILE_IO_PENDING)
			continue;
		x->result = file_rw(obj, write, x->addr, x->iov, x->iovcnt, 0,
				    file_iov_total(x->iov, x->iovcnt));
	}
	return 0;
}

static int file_readv(void *priv, void *obj, struct pc_io *io, unsigned int n)
{
	return file_batch(priv, obj, false, io, n);
}

static int file_writev(void *priv, void *obj, struct pc_io *io, unsigned int n)
{
	return file_batch(priv, obj, true, io, n);
}

/*
 * Cut the host file back to the object's size if the bytes past it read as
 * zero (invariant 4).  Runs under wb_lock, like every write, so nothing
 * writes there between the check and the cut.
 */
static int file_trim(struct file_obj *obj)
{
	/* Page-aligned, for an O_DIRECT fd. */
	unsigned char buf[FILE_PAGE] __attribute__((aligned(FILE_PAGE)));
	uint64_t size = file_get_size(obj), end = file_get_end(obj);
	int r;

	if (end <= size)
		return 0;
	for (uint64_t pg = size & ~FILE_PAGE_MASK; pg < end; pg += FILE_PAGE) {
		struct iovec v = { .iov_base = buf, .iov_len = FILE_PAGE };
		uint64_t from = pg < size ? size - pg : 0;

		r = file_rw(obj, false, pg, &v, 1, 0, FILE_PAGE);
		if (r)
			return r;
		if (!file_iov_zero(&v, 1, from, FILE_PAGE))
			return 0;	/* data ahead of a size change: keep it */
	}
	r = pc_hostfile_truncate(obj->fd, size);
	if (r)
		return r;
	file_set_sizes(obj, size, size);
	return 0;
}

static int file_flush(void *priv, void *objp)
{
	struct file_backend *fb = priv;
	struct file_obj *obj = objp;
	int r;

	if (!fb || !obj)
		return -EINVAL;
	r = file_trim(obj);
	if (r)
		return r;
	/* fdatasync() also makes a size change durable; O_DIRECT needs it too. */
	r = pc_hostfile_datasync(obj->fd);
	return r ? r : pc_hostfile_sync_dir(fb->table.dirfd, &obj->dir_dirty);
}

/* Every object is closed and no op runs: no lock needed. */
static void file_destroy(void *priv)
{
	struct file_backend *fb = priv;

	if (!fb)
		return;
#ifdef PC_HAVE_URING
	if (fb->ring_state > 0)
		io_uring_queue_exit(&fb->ring);
	pthread_mutex_destroy(&fb->ring_lock);
#endif
	pc_hostfile_table_fini(&fb->table);
	free(fb);
}

static const struct pc_backend_ops file_ops = {
	.version = PC_BACKEND_OPS_VERSION,
	.size = sizeof(struct pc_backend_ops),
	.name = "file",
	.max_size = FILE_MAX_BYTES,
	.open = file_open,
	.close = file_close,
	.unlink = file_unlink,
	.get_size = file_get_size_op,
	.set_size = file_set_size,
	.map = file_map,
	.alloc = file_alloc,
	.free = file_free,
	.read = file_read,
	.write = file_write,
	.flush = file_flush,
	.direct_access = NULL,	/* no DAX: data lives in the host's page cache or on disk */
	.destroy = file_destroy,
	.readv = file_readv,
	.writev = file_writev,
};

#ifdef PC_HAVE_URING
/* PC_FILE_URING=0 or 1 overrides the default (the tests run every path). */
static enum file_uring file_uring_mode(void)
{
	const char *env = getenv("PC_FILE_URING");

	if (env && !strcmp(env, "0"))
		return FILE_URING_NEVER;
	if (env && !strcmp(env, "1"))
		return FILE_URING_ALWAYS;
	return FILE_URING_DIRECT;
}
#endif

int pc_backend_file_new(struct pc_backend **out, const char *dir, unsigned flags)
{
	struct file_backend *fb;
	int err;

	if (!out || !dir || (flags & ~PC_FILE_DIRECT))
		return -EINVAL;

	fb = PC_FAIL(PC_FAIL_FILE) ? NULL : calloc(1, sizeof(*fb));
	if (!fb)
		return -ENOMEM;
	if (pc_hostfile_table_init(&fb->table)) {
		free(fb);
		return -ENOMEM;
	}
#ifdef PC_HAVE_URING
	if (pthread_mutex_init(&fb->ring_lock, NULL)) {
		pthread_mutex_destroy(&fb->table.lock);
		free(fb);
		return -ENOMEM;
	}
#endif
	fb->flags = flags;
#ifdef PC_HAVE_URING
	fb->uring = file_uring_mode();
#else
	fb->uring = FILE_URING_NEVER;
#endif
	err = pc_hostfile_table_open(&fb->table, dir);
	if (err) {
		file_destroy(fb);
		return err;
	}

	/* On failure the handle was not made, so priv is still ours. */
	err = pc_backend_new(out, &file_ops, fb);
	if (err)
		file_destroy(fb);
	return err;
}
