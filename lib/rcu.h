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
#include <urcu/pointer.h>

#include "compiler.h"

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
	urcu_memb_read_unlock();
}

#define pc_rcu_dereference(p) rcu_dereference(p)
#define pc_rcu_assign_pointer(p, v) rcu_assign_pointer(p, v)

/* Queue @fn(@head) after a grace period.  The thread must be registered. */
static inline void pc_call_rcu(struct rcu_head *head, void (*fn)(struct rcu_head *))
{
	pc_rcu_register();
	urcu_memb_call_rcu(head, fn);
}

/* Wait until every callback queued so far has run.  Not under RCU. */
void pc_rcu_barrier(void);

#endif /* PC_RCU_H */
