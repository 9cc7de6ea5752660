/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reader-writer semaphores for the mapping's mmap lock and invalidate_lock.
 *
 * A pc_rwsem is a pthread rwlock that prefers writers (so a stream of cache
 * fills cannot starve a punch), plus a record, per thread, of which rwsems
 * the thread holds and how.  The record is kept in every build, not just
 * with -Ddebug_locks, because public calls use it to refuse misuse that
 * would otherwise hang: pc_punch() while holding the invalidate_lock
 * (-EDEADLK), pc_invalidate_range() without it (-EPERM).  It costs a few
 * thread-local stores on slow paths only: cache hits take no rwsem.
 *
 * The rwsems are not recursive.  A thread may hold at most PC_RWSEM_HELD_MAX
 * of them at once.
 */
#ifndef PC_LOCK_H
#define PC_LOCK_H

#include <pthread.h>
#include <stdbool.h>

#include "lockdep.h"

#define PC_RWSEM_HELD_MAX 32

struct pc_rwsem {
	pthread_rwlock_t rw;
	enum pc_lock_class cls;
	const char *name;
};

int pc_rwsem_init(struct pc_rwsem *s, enum pc_lock_class cls, const char *name);
void pc_rwsem_destroy(struct pc_rwsem *s);
void pc_rwsem_down_read(struct pc_rwsem *s);
/* Shared, if that can be had at once: true if taken. */
bool pc_rwsem_try_down_read(struct pc_rwsem *s);
void pc_rwsem_up_read(struct pc_rwsem *s);
void pc_rwsem_down_write(struct pc_rwsem *s);
void pc_rwsem_up_write(struct pc_rwsem *s);
/* How this thread holds @s: 0 (not at all), PC_LOCK_SHARED or PC_LOCK_EXCL. */
int pc_rwsem_held(const struct pc_rwsem *s);

#endif /* PC_LOCK_H */
