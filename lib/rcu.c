/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Thread registration for liburcu's memb flavour (see rcu.h).
 *
 * A thread is registered the first time it enters the library and
 * unregistered by the destructor of pc_rcu_key when it exits.  The key is
 * created once per process.
 */
#include <pthread.h>
#include <stdlib.h>

#include "rcu.h"

__thread int pc_rcu_registered __attribute__((tls_model("initial-exec")));

char pc_rcu_tsan_gp;

static pthread_key_t pc_rcu_key;
static pthread_once_t pc_rcu_once = PTHREAD_ONCE_INIT;

static void pc_rcu_thread_exit(void *arg)
{
	(void)arg;
	if (pc_rcu_registered) {
		urcu_memb_unregister_thread();
		pc_rcu_registered = 0;
	}
}

static void pc_rcu_key_init(void)
{
	if (pthread_key_create(&pc_rcu_key, pc_rcu_thread_exit))
		abort();	/* out of keys at start-up: nothing sane to do */
}

void pc_rcu_register_slow(void)
{
	pthread_once(&pc_rcu_once, pc_rcu_key_init);
	urcu_memb_register_thread();
	pc_rcu_registered = 1;
	/* Any non-NULL value makes the destructor run at thread exit. */
	pthread_setspecific(pc_rcu_key, (void *)1);
}

void pc_rcu_barrier(void)
{
	pc_rcu_register();
	urcu_memb_barrier();
}
