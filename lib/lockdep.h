/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A small lock validator, in the spirit of the kernel's lockdep (G9).
 *
 * Every lock of the library belongs to a class, and the classes have a fixed
 * order: a thread may acquire a lock only if every lock it already holds is
 * of a lower class.  The order is the tree at the top of lib/mapping.c:
 *
 *	PC_LC_MMAP < PC_LC_INVALIDATE < PC_LC_WRITEBACK < PC_LC_PAGE < PC_LC_RECLAIM
 *	< PC_LC_INDEX < PC_LC_LEAF
 *
 * Two locks of one class may be held together only where the class allows
 * nesting by address (invalidate_locks of two mappings, pc_invalidate_lock_two).
 *
 * Each thread keeps a small stack of the locks it holds.  With
 * -Ddebug_locks=true every acquisition is checked against it and
 * pc_lockdep_assert_held() checks "caller must hold" preconditions; a
 * violation prints both locks and aborts.  Without it these calls compile to
 * nothing.  The rw locks keep their own always-on record of holders (lock.h),
 * because public calls answer -EPERM/-EDEADLK from it in every build.
 */
#ifndef PC_LOCKDEP_H
#define PC_LOCKDEP_H

#include <stdbool.h>

enum pc_lock_class {
	PC_LC_MMAP = 1,		/* mapping->mmap_lock */
	PC_LC_INVALIDATE = 2,	/* mapping->invalidate_lock */
	PC_LC_WRITEBACK = 3,	/* mapping->wb_lock */
	PC_LC_PAGE = 4,		/* page->lock */
	PC_LC_RECLAIM = 5,	/* cache->reclaim_lock */
	PC_LC_INDEX = 6,	/* index->lock */
	PC_LC_LEAF = 7,		/* allocator, backend, wait tables: take no other lock */
};

enum pc_lock_mode {
	PC_LOCK_SHARED = 1,
	PC_LOCK_EXCL = 2,
	PC_LOCK_ANY = 3,	/* for assertions: shared or exclusive */
};

#ifdef PC_DEBUG_LOCKS
void pc_lockdep_acquire(const void *lock, enum pc_lock_class cls, enum pc_lock_mode mode,
			const char *name);
/* A trylock cannot deadlock: record it without checking the order. */
void pc_lockdep_acquire_try(const void *lock, enum pc_lock_class cls, enum pc_lock_mode mode,
			    const char *name);
void pc_lockdep_release(const void *lock);
void pc_lockdep_assert_held(const void *lock, enum pc_lock_mode mode, const char *what);
void pc_lockdep_assert_not_held(const void *lock, const char *what);
/* No lock of class >= @cls is held (for example: no page lock while waiting). */
void pc_lockdep_assert_none_from(enum pc_lock_class cls, const char *what);
#else
static inline void pc_lockdep_acquire(const void *lock, enum pc_lock_class cls,
				      enum pc_lock_mode mode, const char *name)
{
	(void)lock; (void)cls; (void)mode; (void)name;
}
static inline void pc_lockdep_acquire_try(const void *lock, enum pc_lock_class cls,
					  enum pc_lock_mode mode, const char *name)
{
	(void)lock; (void)cls; (void)mode; (void)name;
}
static inline void pc_lockdep_release(const void *lock) { (void)lock; }
static inline void pc_lockdep_assert_held(const void *lock, enum pc_lock_mode mode,
					  const char *what)
{
	(void)lock; (void)mode; (void)what;
}
static inline void pc_lockdep_assert_not_held(const void *lock, const char *what)
{
	(void)lock; (void)what;
}
static inline void pc_lockdep_assert_none_from(enum pc_lock_class cls, const char *what)
{
	(void)cls; (void)what;
}
#endif

#endif /* PC_LOCKDEP_H */
