/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fault injection (inject.h).
 *
 * Race-window points: each thread draws from its own xorshift generator, so
 * the points cost no shared cache line.  One point in eight sleeps for
 * 50 us, long enough for another thread to run a whole punch and a
 * writeback; the others yield.
 *
 * Allocation sites: a hit counter per site, and one armed site at a time.
 * Any thread may hit a site (the flusher allocates backend blocks), so the
 * counters are atomic; the arming is set by the test while it runs, with
 * relaxed stores: a hit that races a change of arming may go either way,
 * which a sweep does not care about.
 */
#include <stddef.h>

#include "inject.h"

static const char *const pc_fail_names[PC_FAIL_NR_SITES] = {
	[PC_FAIL_BACKEND] = "backend",
	[PC_FAIL_CACHE] = "cache",
	[PC_FAIL_CACHE_CHUNKS] = "cache_chunks",
	[PC_FAIL_CACHE_CHUNK] = "cache_chunk",
	[PC_FAIL_PAGE_DATA] = "page_data",
	[PC_FAIL_PAGE] = "page",
	[PC_FAIL_INDEX_NODE] = "index_node",
	[PC_FAIL_MAPPING] = "mapping",
	[PC_FAIL_MAPPING_NAME] = "mapping_name",
	[PC_FAIL_RAM] = "ram",
	[PC_FAIL_RAM_STACK] = "ram_stack",
	[PC_FAIL_RAM_DEVICE] = "ram_device",
	[PC_FAIL_RAM_OBJ] = "ram_obj",
	[PC_FAIL_RAM_TOP] = "ram_top",
	[PC_FAIL_RAM_CHUNK] = "ram_chunk",
	[PC_FAIL_FILE] = "file",
	[PC_FAIL_FILE_OBJ] = "file_obj",
	[PC_FAIL_PMEM] = "pmem",
	[PC_FAIL_PMEM_OBJ] = "pmem_obj",
	[PC_FAIL_PMEM_PROBE] = "pmem_probe",
	[PC_FAIL_DAX_PIN] = "dax_pin",
	[PC_FAIL_PIN_REC] = "pin_rec",
};

const char *pc_inject_fail_name(int site)
{
	return site >= 0 && site < PC_FAIL_NR_SITES ? pc_fail_names[site] : NULL;
}

#ifdef PC_FAULT_INJECT

#include <sched.h>
#include <time.h>

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

static uint64_t pc_fail_hits[PC_FAIL_NR_SITES];
static uint64_t pc_fail_failed;
static int pc_fail_site = -1;
static uint64_t pc_fail_nth, pc_fail_every;

bool pc_inject_fail(enum pc_fail_site site)
{
	uint64_t hit = __atomic_add_fetch(&pc_fail_hits[site], 1, __ATOMIC_RELAXED);
	uint64_t nth = __atomic_load_n(&pc_fail_nth, __ATOMIC_RELAXED);
	uint64_t every = __atomic_load_n(&pc_fail_every, __ATOMIC_RELAXED);

	if (__atomic_load_n(&pc_fail_site, __ATOMIC_RELAXED) != (int)site || !nth || hit < nth)
		return false;
	if (hit != nth && (!every || (hit - nth) % every))
		return false;
	__atomic_fetch_add(&pc_fail_failed, 1, __ATOMIC_RELAXED);
	return true;
}

void pc_inject_fail_set(int site, uint64_t nth, uint64_t every)
{
	__atomic_store_n(&pc_fail_nth, nth, __ATOMIC_RELAXED);
	__atomic_store_n(&pc_fail_every, every, __ATOMIC_RELAXED);
	__atomic_store_n(&pc_fail_site, site, __ATOMIC_RELAXED);
}

uint64_t pc_inject_fail_hits(int site)
{
	return site >= 0 && site < PC_FAIL_NR_SITES ?
	       __atomic_load_n(&pc_fail_hits[site], __ATOMIC_RELAXED) : 0;
}

uint64_t pc_inject_fail_count(void)
{
	return __atomic_load_n(&pc_fail_failed, __ATOMIC_RELAXED);
}

#else

void pc_inject_fail_set(int site, uint64_t nth, uint64_t every)
{
	(void)site, (void)nth, (void)every;
}

uint64_t pc_inject_fail_hits(int site)
{
	(void)site;
	return 0;
}

uint64_t pc_inject_fail_count(void)
{
	return 0;
}

#endif
