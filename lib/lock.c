/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pc_rwsem (see lock.h): a writer-preferring pthread rwlock and the per-thread
 * record of held rwsems.
 *
 * The record is a small array in thread-local storage.  Entries are pushed
 * on acquisition and removed on release (in any order).  Only the owning
 * thread reads or writes its record, so it needs no synchronisation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "lock.h"

struct pc_rwsem_held {
	const struct pc_rwsem *sem;
	int mode;
};

/* initial-exec: pc_rwsem_held() is on the fault path; avoid __tls_get_addr. */
static __thread struct pc_rwsem_held pc_held[PC_RWSEM_HELD_MAX]
	__attribute__((tls_model("initial-exec")));
static __thread int pc_nheld __attribute__((tls_model("initial-exec")));

static void pc_held_push(const struct pc_rwsem *s, int mode)
{
	if (pc_nheld == PC_RWSEM_HELD_MAX) {
		fprintf(stderr, "libpagecache: a thread holds more than %d rwsems\n",
			PC_RWSEM_HELD_MAX);
		abort();
	}
	pc_held[pc_nheld].sem = s;
	pc_held[pc_nheld].mode = mode;
	pc_nheld++;
}

static void pc_held_pop(const struct pc_rwsem *s, int mode)
{
	for (int i = pc_nheld - 1; i >= 0; i--) {
		if (pc_held[i].sem != s)
			continue;
		if (pc_held[i].mode != mode)
			break;
		pc_held[i] = pc_held[--pc_nheld];
		return;
	}
	fprintf(stderr, "libpagecache: %s released (%s) by a thread that does not hold it so\n",
		s->name, mode == PC_LOCK_EXCL ? "exclusive" : "shared");
	abort();
}

int pc_rwsem_held(const struct pc_rwsem *s)
{
	for (int i = 0; i < pc_nheld; i++)
		if (pc_held[i].sem == s)
			return pc_held[i].mode;
	return 0;
}

int pc_rwsem_init(struct pc_rwsem *s, enum pc_lock_class cls, const char *name)
{
	pthread_rwlockattr_t attr;
	int r;

	r = pthread_rwlockattr_init(&attr);
	if (r)
		return -r;
	/*
	 * Writer preference: a punch waiting for the lock stops new fills
	 * from entering.  It is also why the lock must not be taken shared
	 * recursively; pc_rwsem_held() lets callers refuse that.
	 */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	r = pthread_rwlock_init(&s->rw, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (r)
		return -r;
	s->cls = cls;
	s->name = name;
	return 0;
}

void pc_rwsem_destroy(struct pc_rwsem *s)
{
	pthread_rwlock_destroy(&s->rw);
}

void pc_rwsem_down_read(struct pc_rwsem *s)
{
	pc_lockdep_acquire(s, s->cls, PC_LOCK_SHARED, s->name);
	pthread_rwlock_rdlock(&s->rw);
	pc_held_push(s, PC_LOCK_SHARED);
}

bool pc_rwsem_try_down_read(struct pc_rwsem *s)
{
	if (pthread_rwlock_tryrdlock(&s->rw))
		return false;
	pc_lockdep_acquire_try(s, s->cls, PC_LOCK_SHARED, s->name);
	pc_held_push(s, PC_LOCK_SHARED);
	return true;
}

void pc_rwsem_up_read(struct pc_rwsem *s)
{
	pc_held_pop(s, PC_LOCK_SHARED);
	pthread_rwlock_unlock(&s->rw);
	pc_lockdep_release(s);
}

void pc_rwsem_down_write(struct pc_rwsem *s)
{
	pc_lockdep_acquire(s, s->cls, PC_LOCK_EXCL, s->name);
	pthread_rwlock_wrlock(&s->rw);
	pc_held_push(s, PC_LOCK_EXCL);
}

void pc_rwsem_up_write(struct pc_rwsem *s)
{
	pc_held_pop(s, PC_LOCK_EXCL);
	pthread_rwlock_unlock(&s->rw);
	pc_lockdep_release(s);
}
