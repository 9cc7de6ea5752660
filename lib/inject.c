/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fault-injection points (inject.h).  Each thread draws from its own
 * xorshift generator, so the points cost no shared cache line.  One point in
 * eight sleeps for 50 us, long enough for another thread to run a whole
 * punch and a writeback; the others yield.
 */
#include "inject.h"

bool (*pc_inject_fail_hook)(const char *site);

#ifdef PC_FAULT_INJECT

#include <sched.h>
#include <stdint.h>
#include <time.h>

#include "inject.h"

static __thread uint64_t pc_inject_state;

void pc_inject_point(const char *name)
{
	uint64_t x = pc_inject_state;

	(void)name;
	if (!x)
		x = (uint64_t)(uintptr_t)&pc_inject_state | 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	pc_inject_state = x;
	if ((x & 7) == 0) {
		struct timespec ts = { 0, 50000 };

		nanosleep(&ts, NULL);
	} else {
		sched_yield();
	}
}

#endif
