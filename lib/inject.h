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

#endif /* PC_INJECT_H */
