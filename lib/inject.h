/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Named fault-injection points at the race windows (-Dfault_inject=true).
 *
 * PC_INJECT("name") marks a place where a concurrent invalidation could
 * slip in: between looking up a block mapping and reading the block, for
 * example.  In a fault-injection build the point yields the CPU now and
 * then, so that on a 2-core machine the race tests hit those windows within
 * seconds.  In a normal build it is nothing.
 */
#ifndef PC_INJECT_H
#define PC_INJECT_H

#ifdef PC_FAULT_INJECT
void pc_inject_point(const char *name);
#define PC_INJECT(name) pc_inject_point(name)
#else
#define PC_INJECT(name) do { } while (0)
#endif

/*
 * Allocation-failure sites, for the unit tests' G8 checks (every build: a
 * NULL test on slow paths).  PC_INJECT_FAIL("name") is true when the tests
 * have set pc_inject_fail_hook and it answers true for that site; the
 * caller then behaves as if its allocation had failed.
 */
#include <stdbool.h>
extern bool (*pc_inject_fail_hook)(const char *site);
#define PC_INJECT_FAIL(site) \
	(__builtin_expect(pc_inject_fail_hook != NULL, 0) && pc_inject_fail_hook(site))

#endif /* PC_INJECT_H */
