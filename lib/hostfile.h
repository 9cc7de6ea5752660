/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host files: a directory of host files, one per object, as the file and
 * pmem backends keep their objects (hostfile.c; the design is at the top
 * of that file).  Every call returns 0 (or a count, where it says) or a
 * negative errno, and retries EINTR itself.
 */
#ifndef PC_HOSTFILE_H
#define PC_HOSTFILE_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"

struct pc_extent;

/* The unit of the library's block I/O; it must equal pc_page_size(). */
#define PC_HOSTFILE_PAGE	4096u
#define PC_HOSTFILE_PAGE_MASK	((uint64_t)PC_HOSTFILE_PAGE - 1)
/* Host file mode of new objects (before the umask). */
#define PC_HOSTFILE_MODE	0644

/* Leaf locks of a host-file backend (see "Locks" in hostfile.c). */
void pc_hostfile_lock(pthread_mutex_t *lock);
void pc_hostfile_unlock(pthread_mutex_t *lock);
void pc_hostfile_assert_held(const pthread_mutex_t *lock);

static inline uint64_t pc_hostfile_pages_up(uint64_t bytes)
{
	return bytes / PC_HOSTFILE_PAGE + ((bytes & PC_HOSTFILE_PAGE_MASK) != 0);
}

/* The directory @dir, opened for the backend's lifetime: its fd or -errno. */
int pc_hostfile_open_dir(const char *dir);

/* open(2) flags for an object opened with PC_CREAT/PC_EXCL/PC_TRUNC @flags. */
int pc_hostfile_oflags(unsigned int flags);

/*
 * Open the host file @name in @dirfd with @oflags (from pc_hostfile_oflags()),
 * check that it is a regular file, and set *@size to its size.  With
 * @created NULL it is one openat(); else it also tells whether this call
 * created the file, and a failure here leaves no file it created.
 * The fd, or -errno.
 */
int pc_hostfile_open(int dirfd, const char *name, int oflags, bool *created,
		     uint64_t *size);

/* ftruncate(); 0 or -errno. */
int pc_hostfile_truncate(int fd, uint64_t size);

/* Whether [@off, @off + @len) ends past @max: 0, or -EFBIG. */
static inline int pc_hostfile_range(uint64_t off, uint64_t len, uint64_t max)
{
	return off > max || len > max - off ? -EFBIG : 0;
}

/*
 * map(): the extent at @off (look-ahead @len) of the host file @fd, from its
 * holes, for an object of @size bytes and at most @max.  Checks @ext and
 * @off (-EINVAL, -EFBIG) first.
 */
int pc_hostfile_map(int fd, uint64_t size, uint64_t max, uint64_t off, uint64_t len,
		    struct pc_extent *ext);

/* alloc()'s argument checks: 0, -EINVAL or -EFBIG. */
int pc_hostfile_alloc_check(uint64_t off, uint64_t len, uint64_t max, const struct pc_extent *ext);

/*
 * Reserve blocks [@off, @off + @len) of @fd with fallocate(KEEP_SIZE),
 * unless *@no_falloc says the file system cannot (which this sets on
 * EOPNOTSUPP).  1 if blocks were reserved, 0 if skipped, or -errno.
 */
int pc_hostfile_reserve(int fd, int *no_falloc, uint64_t off, uint64_t len);

/* *@ext = [@off, @off + @len) mapped at the same address. */
void pc_hostfile_extent(struct pc_extent *ext, uint64_t off, uint64_t len);

/*
 * free(): punch [@off, @off + @len) out of @fd (the size stays).  Checks
 * the range (-EINVAL, -EFBIG) first.  1 if punched, 0 if @len is 0, or
 * -errno (no fallback: the caller reports it).
 */
int pc_hostfile_punch(int fd, uint64_t off, uint64_t len, uint64_t max);

/* fdatasync(); 0 or -errno. */
int pc_hostfile_datasync(int fd);

/* If *@dir_dirty, fsync() @dirfd and clear it; 0 or -errno. */
int pc_hostfile_sync_dir(int dirfd, int *dir_dirty);

#endif /* PC_HOSTFILE_H */
