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

/*
 * The object table of a backend: the directory and the objects open in it,
 * one entry per name (see "The table" in hostfile.c).  A backend's object
 * struct embeds a struct pc_hostfile_entry.  "__" means: the caller holds
 * @lock; debug builds assert it.
 */
struct pc_hostfile_entry {
	/* protected by the table's lock: */
	struct pc_hostfile_entry *next;	/* the table's list */
	unsigned int opens;		/* opens minus closes */
	/* set when the entry is made, then constant: */
	const char *name;
};

struct pc_hostfile_table {
	int dirfd;			/* set by pc_hostfile_table_open(), then constant */
	pthread_mutex_t lock;		/* leaf lock */
	/* protected by lock: */
	struct pc_hostfile_entry *objs;
};

/* Before any other call: no directory yet; 0 or -ENOMEM. */
int pc_hostfile_table_init(struct pc_hostfile_table *t);
/* Open the directory @dir, for the backend's lifetime; 0 or -errno. */
int pc_hostfile_table_open(struct pc_hostfile_table *t, const char *dir);
/* Every object is closed: close the directory, destroy the lock. */
void pc_hostfile_table_fini(struct pc_hostfile_table *t);
/*
 * For an open of @name with PC_* @flags: -EEXIST if it is open and @flags
 * say PC_CREAT | PC_EXCL, else 0 with *@e its entry, or NULL if not open.
 */
int __pc_hostfile_lookup(struct pc_hostfile_table *t, const char *name, unsigned int flags,
			 struct pc_hostfile_entry **e);
/* One more open of @e, which enters the table on its first. */
void __pc_hostfile_get(struct pc_hostfile_table *t, struct pc_hostfile_entry *e);
/* One open less of @e: true if that was the last, and @e left the table. */
bool __pc_hostfile_put(struct pc_hostfile_table *t, struct pc_hostfile_entry *e);
/* unlink(): -EBUSY while @name is open, else unlinkat()'s 0 or -errno. */
int pc_hostfile_unlink(struct pc_hostfile_table *t, const char *name);

/* Leaf locks of a host-file backend (see "Locks" in hostfile.c). */
void pc_hostfile_lock(pthread_mutex_t *lock);
void pc_hostfile_unlock(pthread_mutex_t *lock);
void pc_hostfile_assert_held(const pthread_mutex_t *lock);

static inline uint64_t pc_hostfile_pages_up(uint64_t bytes)
{
	return bytes / PC_HOSTFILE_PAGE + ((bytes & PC_HOSTFILE_PAGE_MASK) != 0);
}

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
