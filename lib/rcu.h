/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * RCU for libpagecache: a thin layer over liburcu's memb flavour.
 *
 * The memb flavour needs every reader thread registered.  Users never call
 * liburcu (issue contract), so every public entry point that may read under
 * RCU or queue a callback calls pc_rcu_register() first.  It costs one
 * thread-local load once a thread is registered; the registration is undone
 * by a pthread key destructor when the thread exits.
 *
 * Rules, as in the kernel: no blocking and no synchronize/barrier inside a
 * read-side section; pointers published to readers go through
 * pc_rcu_assign_pointer() and are read with pc_rcu_dereference().
 */
#ifndef PC_RCU_H
#define PC_RCU_H

#define _LGPL_SOURCE
#include <urcu/urcu-memb.h>

#include "compiler.h"

/*
 * ThreadSanitizer cannot see liburcu's grace periods (liburcu is not built
 * with it), so it reports every RCU-deferred free as racing with the
 * accesses that came before it.  Under TSan only, we tell it what a grace
 * period implies: every read-side section that ended, and every access made
 * before call_rcu(), happens before the callback.  Each callback calls
 * pc_rcu_callback_begin() first.  Nothing of this exists in other builds.
 */
#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define pc_tsan_acquire(a) __tsan_acquire(a)
#define pc_tsan_release(a) __tsan_release(a)
#else
#define pc_tsan_acquire(a) ((void)(a))
#define pc_tsan_release(a) ((void)(a))
#endif
extern char pc_rcu_tsan_gp;	/* the address TSan synchronises grace periods on */

extern __thread int pc_rcu_registered __attribute__((tls_model("initial-exec")));
void pc_rcu_register_slow(void);

static inline void pc_rcu_register(void)
{
	if (pc_unlikely(!pc_rcu_registered))
		pc_rcu_register_slow();
}

static inline void pc_rcu_read_lock(void)
{
	pc_rcu_register();
	urcu_memb_read_lock();
}

static inline void pc_rcu_read_unlock(void)
{
	pc_tsan_release(&pc_rcu_tsan_gp);
	urcu_memb_read_unlock();
}

/*
 * Publication and lookup of RCU-protected pointers.  These are the C11
 * forms of liburcu's rcu_assign_pointer()/rcu_dereference() (a release
 * store, a consume load that compilers treat as acquire): the same code on
 * x86, and unlike liburcu's volatile accesses, ThreadSanitizer understands
 * them.
 */
#define pc_rcu_dereference(p) __atomic_load_n(&(p), __ATOMIC_CONSUME)
#define pc_rcu_assign_pointer(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)

/* Queue @fn(@head) after a grace period.  The thread must be registered. */
static inline void pc_call_rcu(struct rcu_head *head, void (*fn)(struct rcu_head *))
{
	pc_rcu_register();
	pc_tsan_release(head);
	urcu_memb_call_rcu(head, fn);
}

/* First thing in every call_rcu callback (see the TSan note above). */
static inline void pc_rcu_callback_begin(struct rcu_head *head)
{
	pc_tsan_acquire(&pc_rcu_tsan_gp);
	pc_tsan_acquire(head);
}

/*
 * Wait for a grace period: every read-side section that began before the
 * call has ended.  Not under RCU.  (pc_set_dax(): mode.c.)
 */
static inline void pc_synchronize_rcu(void)
{
	pc_rcu_register();
	urcu_memb_synchronize_rcu();
	pc_tsan_acquire(&pc_rcu_tsan_gp);
}

/* Wait until every callback queued so far has run.  Not under RCU. */
void pc_rcu_barrier(void);

#endif /* PC_RCU_H */
