/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host files: what the file backend (backend_file.c) and the pmem backend
 * (backend_pmem.c) share.  Both keep "a directory of host files, one per
 * object": an object's byte offset X is the host file's offset X, the host
 * file system is the block allocator, and a hole of the object is a hole
 * of the file.  This file owns the steps on the directory and on one host
 * file that do not depend on how data moves:
 *  - the object table: the directory, opened once per backend
 *    (pc_hostfile_table_open()), and the open objects in it (below), and
 *    the directory's fsync() after a name was created
 *    (pc_hostfile_sync_dir()); unlink;
 *  - open with PC_CREAT/PC_EXCL/PC_TRUNC turned into open(2) flags, and the
 *    check that the name is a regular file (pc_hostfile_open());
 *  - map from the file's holes (SEEK_DATA/SEEK_HOLE), alloc as
 *    fallocate(KEEP_SIZE), free as a punched hole, ftruncate, fdatasync.
 *
 * The table.  struct pc_hostfile_table is a backend's directory and its
 * open objects: one entry per name, so a host file has at most one fd of
 * the backend, shared by every open of the object.  Invariant: an entry
 * is in @objs if and only if its open count is non-zero
 * (__pc_hostfile_get() puts it there on the first open, __pc_hostfile_put()
 * takes it out on the last close), and pc_hostfile_unlink() refuses a name
 * that is in it (-EBUSY).  The table's lock guards the list, the names and
 * the open counts; the backend's open and close hold it around their own
 * steps (making or tearing down the object).
 *
 * Beyond the table it owns no state: the fds, the sizes and the dirty
 * flags stay in each backend, and what differs stays there too: the file
 * backend moves data with pread/pwrite or io_uring, the pmem backend through
 * a libpmem2 mapping inside an address-space reservation, which is why its
 * alloc grows the file before reserving blocks and its open must know
 * whether it created the file (it has steps after the open that can fail).
 *
 * Locks.  Each backend has leaf mutexes (class PC_LC_LEAF in lib/lockdep.h):
 * the library calls ops with its own locks held, and a backend takes no
 * library lock, nor a second lock of its own, while holding one.  No op of
 * one backend calls another backend, so a thread holds at most one lock of
 * all host-file backends, and one thread-local pointer asserts "the caller
 * holds it" (pc_hostfile_assert_held()) and "nothing is held yet"
 * (pc_hostfile_lock()) in debug builds.
 *
 * Every call here retries EINTR and returns 0 (or a count it names) or a
 * negative errno; none allocates (so none has a PC_FAIL() site: the
 * allocations, the object structs, stay in the backends with theirs).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/falloc.h>

#include <pagecache/backend.h>

#include "hostfile.h"

#ifndef NDEBUG
static __thread const pthread_mutex_t *hostfile_lock_holder;
#endif

void pc_hostfile_lock(pthread_mutex_t *lock)
{
#ifndef NDEBUG
	assert(hostfile_lock_holder == NULL);
#endif
	pthread_mutex_lock(lock);
#ifndef NDEBUG
	hostfile_lock_holder = lock;
#endif
}

void pc_hostfile_unlock(pthread_mutex_t *lock)
{
#ifndef NDEBUG
	assert(hostfile_lock_holder == lock);
	hostfile_lock_holder = NULL;
#endif
	pthread_mutex_unlock(lock);
}

void pc_hostfile_assert_held(const pthread_mutex_t *lock)
{
#ifndef NDEBUG
	assert(hostfile_lock_holder == lock);
#else
	(void)lock;
#endif
}

/* ---- the table ---- */

int pc_hostfile_table_init(struct pc_hostfile_table *t)
{
	t->dirfd = -1;
	t->objs = NULL;
	return pthread_mutex_init(&t->lock, NULL) ? -ENOMEM : 0;
}

int pc_hostfile_table_open(struct pc_hostfile_table *t, const char *dir)
{
	/* O_RDONLY, not O_PATH: pc_hostfile_sync_dir() fsync()s it. */
	do
		t->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	while (t->dirfd < 0 && errno == EINTR);
	return t->dirfd < 0 ? -errno : 0;
}

void pc_hostfile_table_fini(struct pc_hostfile_table *t)
{
	assert(t->objs == NULL);
	if (t->dirfd >= 0)
		close(t->dirfd);
	pthread_mutex_destroy(&t->lock);
}

static struct pc_hostfile_entry **__hostfile_find(struct pc_hostfile_table *t, const char *name)
{
	struct pc_hostfile_entry **pp;

	pc_hostfile_assert_held(&t->lock);
	for (pp = &t->objs; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, name))
			return pp;
	return NULL;
}

int __pc_hostfile_lookup(struct pc_hostfile_table *t, const char *name, unsigned int flags,
			 struct pc_hostfile_entry **e)
{
	struct pc_hostfile_entry **pp = __hostfile_find(t, name);

	*e = pp ? *pp : NULL;
	/* Open already (the library refuses this itself): shared, unless EXCL. */
	if (*e && (flags & PC_CREAT) && (flags & PC_EXCL))
		return -EEXIST;
	return 0;
}

void __pc_hostfile_get(struct pc_hostfile_table *t, struct pc_hostfile_entry *e)
{
	pc_hostfile_assert_held(&t->lock);
	if (e->opens++ == 0) {
		e->next = t->objs;
		t->objs = e;
	}
}

bool __pc_hostfile_put(struct pc_hostfile_table *t, struct pc_hostfile_entry *e)
{
	struct pc_hostfile_entry **pp;

	pc_hostfile_assert_held(&t->lock);
	assert(e->opens > 0);
	if (!e->opens || --e->opens)
		return false;
	pp = __hostfile_find(t, e->name);
	assert(pp && *pp == e);
	if (pp)
		*pp = e->next;
	return true;
}

int pc_hostfile_unlink(struct pc_hostfile_table *t, const char *name)
{
	int err = 0;

	pc_hostfile_lock(&t->lock);
	if (__hostfile_find(t, name))
		err = -EBUSY;	/* open objects stay in their files */
	else if (unlinkat(t->dirfd, name, 0) < 0)
		err = -errno;
	pc_hostfile_unlock(&t->lock);
	return err;
}

/* ---- one host file ---- */

int pc_hostfile_oflags(unsigned int flags)
{
	int oflags = O_RDWR | O_CLOEXEC | O_NOCTTY;

	if (flags & PC_CREAT)
		oflags |= O_CREAT;
	if (flags & PC_EXCL)
		oflags |= O_EXCL;
	if (flags & PC_TRUNC)
		oflags |= O_TRUNC;
	return oflags;
}

static int hostfile_openat(int dirfd, const char *name, int oflags)
{
	int fd;

	do
		fd = openat(dirfd, name, oflags, PC_HOSTFILE_MODE);
	while (fd < 0 && errno == EINTR);
	return fd;
}

/*
 * Open, telling whether we create the file: an existing file first, and
 * creating with O_EXCL, so that "created" is known for sure.  The fd or
 * -errno.
 */
static int hostfile_open_tell(int dirfd, const char *name, int oflags, bool *created)
{
	int fd;

	*created = false;
	for (;;) {
		/* With O_EXCL, one try; else an existing file first. */
		int fl = oflags & O_EXCL ? oflags : oflags & ~O_CREAT;

		fd = hostfile_openat(dirfd, name, fl);
		if (fd >= 0) {
			*created = (fl & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL);
			return fd;
		}
		if (errno != ENOENT || (fl & O_EXCL) || !(oflags & O_CREAT))
			return -errno;
		fd = hostfile_openat(dirfd, name, oflags | O_EXCL);
		if (fd >= 0) {
			*created = true;
			return fd;
		}
		if (errno != EEXIST)
			return -errno;	/* EEXIST: made meanwhile by someone else: open that */
	}
}

int pc_hostfile_open(int dirfd, const char *name, int oflags, bool *created,
		     uint64_t *size)
{
	struct stat st;
	int fd, err;

	if (created) {
		fd = hostfile_open_tell(dirfd, name, oflags, created);
	} else {
		fd = hostfile_openat(dirfd, name, oflags);
		if (fd < 0)
			fd = -errno;
	}
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;	/* a device, FIFO or socket is not an object */
		goto fail;
	}
	*size = (uint64_t)st.st_size;
	return fd;
fail:
	if (created && *created) {
		(void)unlinkat(dirfd, name, 0);	/* as if never opened */
		*created = false;
	}
	close(fd);
	return err;
}

int pc_hostfile_truncate(int fd, uint64_t size)
{
	while (ftruncate(fd, (off_t)size) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* One lseek(); the new offset or -errno. */
static int64_t hostfile_seek(int fd, uint64_t off, int whence)
{
	off_t r = lseek(fd, (off_t)off, whence);

	return r < 0 ? -errno : (int64_t)r;
}

/*
 * An extent that is allocated but unwritten (fallocate() by alloc, not yet
 * written) reads as zero either way: some file systems report it as data,
 * some as a hole (ext4 and XFS call it a hole unless the kernel caches
 * pages there), and we answer MAPPED or HOLE accordingly; a MAPPED read of
 * it returns zeros, as PC_EXTENT_UNWRITTEN would promise.  The lseek()s
 * move the fd's position, which no I/O of the backends uses (the file
 * backend's is positional, the pmem backend's goes through the mapping).
 */
int pc_hostfile_map(int fd, uint64_t size, uint64_t max, uint64_t off, uint64_t len,
		    struct pc_extent *ext)
{
	uint64_t limit, npages, n;
	int64_t data, hole;

	if (!ext || (off & PC_HOSTFILE_PAGE_MASK))
		return -EINVAL;
	if (off >= max)
		return -EFBIG;
	/* @len only bounds the look-ahead: at least one page, not past the max. */
	npages = PC_MIN(PC_MAX(pc_hostfile_pages_up(len), 1), (max - off) / PC_HOSTFILE_PAGE);
	/* The page that holds EOF counts. */
	limit = pc_hostfile_pages_up(size) * PC_HOSTFILE_PAGE;

	ext->offset = off;
	ext->flags = 0;
	ext->addr = 0;
	ext->type = PC_EXTENT_HOLE;
	n = npages;	/* a hole unless the file says otherwise */
	if (off < limit) {
		data = hostfile_seek(fd, off, SEEK_DATA);
		if (data == -ENXIO)
			data = (int64_t)limit;	/* no data at or after @off */
		else if (data == -EINVAL || data == -EOPNOTSUPP)
			data = (int64_t)off;	/* no SEEK_DATA here: all data */
		else if (data < 0)
			return (int)data;
		if ((uint64_t)data < limit && ((uint64_t)data & ~PC_HOSTFILE_PAGE_MASK) <= off) {
			/*
			 * Data in the page of @off (a block smaller than a page
			 * may start inside it): mapped up to the next hole,
			 * rounded up, as a page with any data must be read.
			 */
			hole = hostfile_seek(fd, off, SEEK_HOLE);
			if (hole == -EINVAL || hole == -EOPNOTSUPP)
				hole = (int64_t)limit;
			else if (hole < 0)
				return (int)hole;
			if ((uint64_t)hole <= off)	/* a racing punch; see it as mapped */
				hole = (int64_t)(off + PC_HOSTFILE_PAGE);
			n = PC_MIN(npages, pc_hostfile_pages_up(PC_MIN((uint64_t)hole, limit) - off));
			ext->type = PC_EXTENT_MAPPED;
			ext->addr = off;
		} else if ((uint64_t)data < limit) {
			/* A hole up to the page where data starts. */
			n = PC_MIN(npages,
				   (((uint64_t)data & ~PC_HOSTFILE_PAGE_MASK) - off) / PC_HOSTFILE_PAGE);
		}
		/* Else no data below the size: a hole, to the end of the look-ahead. */
	}
	ext->length = PC_MAX(n, 1) * PC_HOSTFILE_PAGE;
	return 0;
}

int pc_hostfile_alloc_check(uint64_t off, uint64_t len, uint64_t max, const struct pc_extent *ext)
{
	if (!ext || !len || ((off | len) & PC_HOSTFILE_PAGE_MASK))
		return -EINVAL;
	if (off >= max || len > max - off)
		return -EFBIG;
	return 0;
}

/*
 * Reserving the blocks at alloc makes a full file system say ENOSPC (or
 * EDQUOT) there, at writeback's allocation step, where the page stays
 * dirty, and not later in a deferred write or as a SIGBUS of a store
 * through a mapping.  KEEP_SIZE: the backend sets the size itself.  New
 * blocks read as zero, as backend.h requires.  A file system without
 * fallocate() allocates at the write instead.
 */
int pc_hostfile_reserve(int fd, int *no_falloc, uint64_t off, uint64_t len)
{
	int r;

	if (__atomic_load_n(no_falloc, __ATOMIC_RELAXED))
		return 0;
	do
		r = fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno != EOPNOTSUPP)
			return -errno;
		__atomic_store_n(no_falloc, 1, __ATOMIC_RELAXED);
		return 0;
	}
	return 1;
}

void pc_hostfile_extent(struct pc_extent *ext, uint64_t off, uint64_t len)
{
	ext->offset = off;
	ext->length = len;
	ext->addr = off;
	ext->type = PC_EXTENT_MAPPED;
	ext->flags = 0;
}

int pc_hostfile_punch(int fd, uint64_t off, uint64_t len, uint64_t max)
{
	int r;

	if ((off | len) & PC_HOSTFILE_PAGE_MASK)
		return -EINVAL;
	r = pc_hostfile_range(off, len, max);
	if (r || !len)
		return r;
	do
		r = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
			      (off_t)len);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 1;
}

int pc_hostfile_datasync(int fd)
{
	while (fdatasync(fd) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

int pc_hostfile_sync_dir(int dirfd, int *dir_dirty)
{
	/* The name of a file we may have created is only durable with its directory. */
	if (!__atomic_load_n(dir_dirty, __ATOMIC_RELAXED))
		return 0;
	/* EINVAL: a file system that has no directory sync to do. */
	while (fsync(dirfd) < 0 && errno != EINVAL)
		if (errno != EINTR)
			return -errno;
	__atomic_store_n(dir_dirty, 0, __ATOMIC_RELAXED);
	return 0;
}
