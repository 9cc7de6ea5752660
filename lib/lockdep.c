/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The lock validator behind lockdep.h, compiled in with -Ddebug_locks=true.
 *
 * Each thread keeps a stack of the locks it holds, with their class and
 * mode.  pc_lockdep_acquire() checks, before the caller blocks, that the new
 * lock's class is above every class held, so an order violation is reported
 * where it is made rather than when two threads finally deadlock on it.
 * The one exception is PC_LC_INVALIDATE, which may nest inside itself when
 * the inner lock has the higher address (pc_invalidate_lock_two()).
 * Re-acquiring a held lock is always a violation: none of the locks is
 * recursive.  A trylock is recorded without the order check, since it
 * cannot wait (writeback locks a run of pages that way, reclaim a victim).
 *
 * Violations print the thread's held locks and abort.  Only the owning
 * thread touches its stack, so there is no locking here.
 */
#ifdef PC_DEBUG_LOCKS

#include <stdio.h>
#include <stdlib.h>

#include "lockdep.h"

#define PC_LOCKDEP_MAX 48

struct pc_held_lock {
	const void *lock;
	enum pc_lock_class cls;
	enum pc_lock_mode mode;
	const char *name;
};

static __thread struct pc_held_lock pc_ld_stack[PC_LOCKDEP_MAX];
static __thread int pc_ld_depth;

static void pc_lockdep_report(const char *what, const void *lock, const char *name)
{
	fprintf(stderr, "libpagecache lockdep: %s: %s (%p)\nheld by this thread:\n", what,
		name ? name : "?", lock);
	for (int i = 0; i < pc_ld_depth; i++)
		fprintf(stderr, "  #%d %s (%p) class %d %s\n", i, pc_ld_stack[i].name,
			pc_ld_stack[i].lock, pc_ld_stack[i].cls,
			pc_ld_stack[i].mode == PC_LOCK_EXCL ? "exclusive" : "shared");
	abort();
}

void pc_lockdep_acquire(const void *lock, enum pc_lock_class cls, enum pc_lock_mode mode,
			const char *name)
{
	for (int i = 0; i < pc_ld_depth; i++) {
		const struct pc_held_lock *h = &pc_ld_stack[i];

		if (h->lock == lock)
			pc_lockdep_report("recursive acquisition", lock, name);
		if (h->cls < cls)
			continue;
		if (h->cls == cls && cls == PC_LC_INVALIDATE &&
		    (const char *)h->lock < (const char *)lock)
			continue;
		pc_lockdep_report("lock order violation", lock, name);
	}
	if (pc_ld_depth == PC_LOCKDEP_MAX)
		pc_lockdep_report("too many locks held", lock, name);
	pc_ld_stack[pc_ld_depth++] = (struct pc_held_lock){ lock, cls, mode, name };
}

void pc_lockdep_acquire_try(const void *lock, enum pc_lock_class cls, enum pc_lock_mode mode,
			    const char *name)
{
	for (int i = 0; i < pc_ld_depth; i++)
		if (pc_ld_stack[i].lock == lock)
			pc_lockdep_report("recursive acquisition", lock, name);
	if (pc_ld_depth == PC_LOCKDEP_MAX)
		pc_lockdep_report("too many locks held", lock, name);
	pc_ld_stack[pc_ld_depth++] = (struct pc_held_lock){ lock, cls, mode, name };
}

void pc_lockdep_release(const void *lock)
{
	for (int i = pc_ld_depth - 1; i >= 0; i--) {
		if (pc_ld_stack[i].lock != lock)
			continue;
		for (int j = i; j < pc_ld_depth - 1; j++)
			pc_ld_stack[j] = pc_ld_stack[j + 1];
		pc_ld_depth--;
		return;
	}
	pc_lockdep_report("release of a lock not held", lock, NULL);
}

void pc_lockdep_assert_held(const void *lock, enum pc_lock_mode mode, const char *what)
{
	for (int i = 0; i < pc_ld_depth; i++)
		if (pc_ld_stack[i].lock == lock && (pc_ld_stack[i].mode & mode))
			return;
	pc_lockdep_report("required lock not held", lock, what);
}

void pc_lockdep_assert_not_held(const void *lock, const char *what)
{
	for (int i = 0; i < pc_ld_depth; i++)
		if (pc_ld_stack[i].lock == lock)
			pc_lockdep_report("lock must not be held", lock, what);
}

void pc_lockdep_assert_none_from(enum pc_lock_class cls, const char *what)
{
	for (int i = 0; i < pc_ld_depth; i++)
		if (pc_ld_stack[i].cls >= cls)
			pc_lockdep_report("no lock of this class or above may be held", NULL, what);
}

#else
/* ISO C wants a translation unit to declare something. */
typedef int pc_lockdep_disabled;
#endif /* PC_DEBUG_LOCKS */
