/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Scenarios "dax" (RAM backend) and "dax-pmem" (pmem backend): what direct
 * access costs against the cache, on one backend.  Two objects of the same
 * bytes live on the same backend: the fully cached object of hitobj.c, and
 * a second one open with PC_DAX, written with pc_write(), synced, and every
 * page faulted once before timing, so each DAX entry is already resolved to
 * its block (no allocation, no zero page in the timed runs).
 *   A1 DAX fault+put      pc_fault() of the DAX mapping at random pages, one
 *                         byte read, pc_page_put(): a DAX pin (an index
 *                         lookup and a pin count under the index lock,
 *                         lib/dax.c) on every hit;
 *   B1 cached fault+put   the same on the cached mapping: the lock-free hit
 *                         of scenario "hit";
 *   A2, B2                the same split over 2 threads, the same total
 *                         operations, as aggregate Mops/s (does the DAX
 *                         hit scale, or do its pins collide?);
 *   A3 DAX pc_read 4K     pc_read() of one page of the DAX mapping: a copy
 *                         straight from storage;
 *   B3 memcpy 4K storage  memcpy() from the same storage, at the addresses
 *                         the DAX faults of the setup returned: the limit;
 *   C3 cached pc_read 4K  pc_read() of the same page of the cached object.
 * All walk the same random page offsets (those of "hit").  Each pair or
 * triple alternates.  On "dax-pmem" the backend is pc_backend_pmem_new()
 * over a fresh directory in /dev/shm (tmpfs: libpmem2 maps its files with
 * page granularity, and their pages are memory), removed at the end and at
 * an exit on error; the cached object's fills and writeback go through
 * libpmem2 copies, but the timed hits touch only the cache's own pages.
 */
#include <ftw.h>

#include "hitobj.h"

#define DAX_OBJECT	"pcbench-dax"

static char dax_dir[64];

static int dax_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* At exit, error or not: no object may stay behind in /dev/shm. */
static void dax_dir_remove(void)
{
	if (dax_dir[0])
		nftw(dax_dir, dax_rm, 8, FTW_DEPTH | FTW_PHYS);
	dax_dir[0] = '\0';
}

static const struct hit_variant dax_groups[][3] = {
	{ { "A1 DAX fault+put", hit_loop_fault, NULL, HIT_DAX, 0 },
	  { "B1 cached fault+put", hit_loop_fault, NULL, HIT_CACHED, 0 } },
	/* Throughput: both run A2's calibrated count in total. */
	{ { "A2 DAX fault+put 2 thr", NULL, hit_run_dax_threads, 2, 0 },
	  { "B2 cached fault+put 2 thr", NULL, hit_run_threads, 2, 1 } },
	{ { "A3 DAX pc_read 4K", hit_loop_pcread, NULL, HIT_DAX, 0 },
	  { "B3 memcpy 4K from storage", hit_loop_storage, NULL, 0, 0 },
	  { "C3 cached pc_read 4K", hit_loop_pcread, NULL, HIT_CACHED, 0 } },
};
static const unsigned dax_group_size[] = { 2, 2, 3 };
static const bool dax_group_rate[] = { false, true, false };

/* Below 1: DAX is slower.  No goals: the DAX design spends on safety. */
static const struct pcb_ratio_of dax_ratios[] = {
	{ "DAX fault+put speed / cached hit", "B1 / A1", "B1 cached fault+put",
	  "A1 DAX fault+put", 0 },
	{ "DAX / cached hit throughput, 2 threads", "A2 / B2", "A2 DAX fault+put 2 thr",
	  "B2 cached fault+put 2 thr", 0 },
	{ "DAX pc_read 4K as a fraction of memcpy 4K", "B3 / A3", "B3 memcpy 4K from storage",
	  "A3 DAX pc_read 4K", 0 },
	{ "DAX pc_read 4K speed / cached pc_read 4K", "C3 / A3", "C3 cached pc_read 4K",
	  "A3 DAX pc_read 4K", 0 },
};

/* The DAX object: the same bytes as h->plain, every entry resolved. */
static void dax_open(struct hit_ctx *h, struct pc_cache *c, struct pc_backend *b)
{
	uint64_t pages = h->size / h->page;

	check(pc_open(&h->dax, c, b, DAX_OBJECT, PC_CREAT | PC_TRUNC | PC_DAX), "pc_open DAX");
	pcb_write_sync(h->dax, h->plain, h->size);
	h->dax_addr = calloc(pages, sizeof(*h->dax_addr));
	if (!h->dax_addr)
		die("out of memory");
	for (uint64_t i = 0; i < pages; i++) {
		struct pc_page *p;

		check(pc_fault(h->dax, i * h->page, 0, &p), "pc_fault DAX");
		h->dax_addr[i] = pc_page_addr(p);
		if (memcmp(h->dax_addr[i], h->plain + i * h->page, h->page))
			die("the DAX object does not hold what was written");
		pc_page_put(p);
	}
}

static void dax_run(const struct pcb_opts *o, struct pcb_report *rep, bool pmem)
{
	struct hit_ctx h = { .fd = -1, .no_tmpfs = true };
	struct pc_cache *c = NULL;
	struct pc_backend *b = NULL;
	struct pc_stats before, after;

	hit_init(&h, o, rep, HIT_DEFAULT_SIZE, HIT_QUICK_SIZE);
	if (pmem) {
		int r;

		snprintf(dax_dir, sizeof(dax_dir), "/dev/shm/pcbench-dax-XXXXXX");
		if (!mkdtemp(dax_dir))
			die("mkdtemp %s: %s", dax_dir, strerror(errno));
		atexit(dax_dir_remove);
		r = pc_backend_pmem_new(&b, dax_dir, 0);
		if (r == -ENOTSUP)
			die("no pmem backend in this build (libpmem2 not found)");
		check(r, "pc_backend_pmem_new");
		report_param(rep, "backend", false, "pmem (libpmem2) over %s (tmpfs), "
			     "both objects", dax_dir);
	} else {
		h.extra = h.size;	/* room on the device for the DAX object */
		report_param(rep, "backend", false, "RAM, one device for both objects");
	}
	hit_setup(&h, &c, &b, rep);
	dax_open(&h, c, b);
	report_param(rep, "dax", false, "a second object with the same bytes, PC_DAX, "
		     "every entry resolved before timing");
	check(pc_stats(c, &before, sizeof(before)), "pc_stats");

	for (size_t i = 0; i < PCB_N(dax_groups); i++)
		hit_group(&h, o, rep, dax_groups[i], dax_group_size[i], dax_group_rate[i], NULL);

	/* The cached side all hit; the DAX side never allocated nor hit a hole. */
	hit_check_no_miss(c, &before, rep);
	check(pc_stats(c, &after, sizeof(after)), "pc_stats");
	if (after.dax_allocs != before.dax_allocs ||
	    after.dax_zero_faults != before.dax_zero_faults)
		die("DAX allocations or zero-page faults during timing");
	report_param(rep, "dax_faults", true, "%" PRIu64, after.dax_faults - before.dax_faults);
	report_param(rep, "dax_entry_waits", true, "%" PRIu64,
		     after.dax_entry_waits - before.dax_entry_waits);
	report_ratios(rep, dax_ratios, PCB_N(dax_ratios));

	check(pc_close(&h.dax), "pc_close DAX");
	check(pc_backend_unlink(b, DAX_OBJECT), "pc_backend_unlink");
	free(h.dax_addr);
	hit_teardown(&h, &c, &b);
	dax_dir_remove();
}

void scenario_dax(const struct pcb_opts *o, struct pcb_report *rep)
{
	dax_run(o, rep, false);
}

void scenario_dax_pmem(const struct pcb_opts *o, struct pcb_report *rep)
{
	dax_run(o, rep, true);
}
