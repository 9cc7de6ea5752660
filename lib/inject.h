/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fault injection (-Dfault_inject=true): two kinds of named sites.
 *
 * Race windows.  PC_INJECT("name") marks a place where a concurrent
 * invalidation could slip in: between looking up a block mapping and
 * reading the block, for example.  In a fault-injection build the point
 * yields the CPU now and then, so that on a 2-core machine the race tests
 * hit those windows within seconds.  In a normal build it is nothing.
 *
 * Allocation failures.  Every allocation of the library (malloc, calloc,
 * realloc, strdup, aligned_alloc, mmap of memory, and a page of the cache's
 * budget) is written as
 *
 *	p = PC_FAIL(PC_FAIL_PAGE) ? NULL : malloc(sizeof(*p));
 *
 * on one line, so that a test can fail each site in turn and check that
 * the call answers -ENOMEM and changes nothing (tests/pcx/pcx-sweep.py,
 * which also checks that no allocation in lib/ lacks its PC_FAIL).  In a
 * normal build PC_FAIL() is false and costs nothing.  A site is armed with
 * pc_inject_fail_set() (test builds link the static library to reach it):
 * hit number @nth of the site fails, and then every @every-th hit after it
 * if @every is non-zero.  Hits are counted whether armed or not, so a test
 * can tell that its workload reached a site.
 */
#ifndef PC_INJECT_H
#define PC_INJECT_H

#include <stdbool.h>
#include <stdint.h>

/* The allocation sites; pc_inject_fail_name() gives each its name. */
enum pc_fail_site {
	PC_FAIL_BACKEND,	/* backend.c: the struct pc_backend of a handle */
	PC_FAIL_CACHE,		/* cache.c: struct pc_cache */
	PC_FAIL_CACHE_CHUNKS,	/* cache.c: the table of page chunks, grown */
	PC_FAIL_CACHE_CHUNK,	/* cache.c: mmap of a chunk of page data */
	PC_FAIL_PAGE_DATA,	/* cache.c: a page of the budget (as if reclaim failed) */
	PC_FAIL_PAGE,		/* page.c: struct pc_page */
	PC_FAIL_INDEX_NODE,	/* index.c: a node of a mapping's page index */
	PC_FAIL_MAPPING,	/* mapping.c: struct pc_mapping */
	PC_FAIL_MAPPING_NAME,	/* mapping.c: the mapping's copy of the name */
	PC_FAIL_RAM,		/* backend_ram.c: the backend */
	PC_FAIL_RAM_STACK,	/* backend_ram.c: the free block stack */
	PC_FAIL_RAM_DEVICE,	/* backend_ram.c: mmap of the device */
	PC_FAIL_RAM_OBJ,	/* backend_ram.c: an object */
	PC_FAIL_RAM_TOP,	/* backend_ram.c: an object's chunk table, grown */
	PC_FAIL_RAM_CHUNK,	/* backend_ram.c: a chunk of an object's block map */
	PC_FAIL_FILE,		/* backend_file.c: the backend */
	PC_FAIL_FILE_OBJ,	/* backend_file.c: an open object */
	PC_FAIL_PMEM,		/* backend_pmem.c: the backend */
	PC_FAIL_PMEM_OBJ,	/* backend_pmem.c: an open object */
	PC_FAIL_PMEM_PROBE,	/* backend_pmem.c: mmap probing for room to reserve */
	PC_FAIL_DAX_PIN,	/* dax.c: the pin a DAX fault hands out */
	PC_FAIL_PIN_REC,	/* pin.c: the record of a range pin */
	PC_FAIL_NR_SITES
};

#ifdef PC_FAULT_INJECT
void pc_inject_point(const char *name);
bool pc_inject_fail(enum pc_fail_site site);
#define PC_INJECT(name) pc_inject_point(name)
#define PC_FAIL(site) pc_inject_fail(site)
#else
#define PC_INJECT(name) do { } while (0)
#define PC_FAIL(site) false
#endif

/*
 * Test controls; in a build without fault injection they do nothing and
 * report no hits.  @site -1 disarms.
 */
void pc_inject_fail_set(int site, uint64_t nth, uint64_t every);
uint64_t pc_inject_fail_hits(int site);
uint64_t pc_inject_fail_count(void);	/* failures injected so far */
const char *pc_inject_fail_name(int site);	/* NULL past the last */

#endif /* PC_INJECT_H */
