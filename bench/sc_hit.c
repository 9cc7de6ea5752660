/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Scenario "hit": the cost of a cache hit.  Every page of an object is
 * cached first, then each variant visits random pages of it:
 *   A1 fault+put    pc_fault(), read one byte of the page, pc_page_put():
 *                   the zero-copy hit an engine uses to look at a page.
 *   B1 pread 1B     pread() of one byte of a tmpfs file holding the same
 *                   bytes: the same question asked of the kernel's page
 *                   cache, which is what the engine would use without us.
 *   A2 pc_read 4K   pc_read() of a whole page: the copying hit.
 *   B2 memcpy 4K    memcpy() of the same page from a plain buffer: the
 *                   floor for any copying read (no lookup at all).
 *   A3 fault+put on 1 and on 2 threads, the same total number of
 *                   operations split over two halves of the offsets, as
 *                   aggregate throughput: does a hit scale across cores?
 *   B3 pread 1B on 1 and on 2 threads, the same way: how far this
 *                   machine's two cores scale at all (a VM's "cores" may
 *                   share a physical core or its memory bandwidth).
 */
#include "hitobj.h"

static const struct hit_variant hit_pairs[][2] = {
	{ { "A1 fault+put", hit_loop_fault, NULL, HIT_CACHED, 0 },
	  { "B1 pread 1B", hit_loop_pread, NULL, 0, 0 } },
	{ { "A2 pc_read 4K", hit_loop_pcread, NULL, HIT_CACHED, 0 },
	  { "B2 memcpy 4K", hit_loop_memcpy, NULL, 0, 0 } },
	/* Throughput; the 2-thread run does the 1-thread count in total. */
	{ { "A3 fault+put 1 thread", NULL, hit_run_threads, 1, 0 },
	  { "A3 fault+put 2 threads", NULL, hit_run_threads, 2, 1 } },
	{ { "B3 pread 1B 1 thread", NULL, hit_run_pread_threads, 1, 0 },
	  { "B3 pread 1B 2 threads", NULL, hit_run_pread_threads, 2, 1 } },
};

static const struct pcb_ratio_of hit_ratios[] = {
	{ "fault+put speedup over pread 1B", "B1 / A1", "B1 pread 1B", "A1 fault+put", 20 },
	{ "pc_read 4K speed as a fraction of memcpy 4K", "B2 / A2", "B2 memcpy 4K",
	  "A2 pc_read 4K", 0.95 },
	{ "2-thread / 1-thread throughput (2 cores)", "A3(2) / A3(1)",
	  "A3 fault+put 2 threads", "A3 fault+put 1 thread", 1.9 },
	/* No goal: what this machine's two cores give the kernel's page cache. */
	{ "pread 1B: 2-thread / 1-thread (machine)", "B3(2) / B3(1)",
	  "B3 pread 1B 2 threads", "B3 pread 1B 1 thread", 0 },
};

void scenario_hit(const struct pcb_opts *o, struct pcb_report *rep)
{
	struct hit_ctx h = { .fd = -1 };
	struct pc_cache *c = NULL;
	struct pc_backend *b = NULL;
	struct pc_stats before;

	hit_init(&h, o, rep, HIT_DEFAULT_SIZE, HIT_QUICK_SIZE);
	hit_setup(&h, &c, &b, rep);
	check(pc_stats(c, &before, sizeof(before)), "pc_stats");
	for (size_t i = 0; i < PCB_N(hit_pairs); i++)
		hit_group(&h, o, rep, hit_pairs[i], 2,
			  hit_pairs[i][0].run != NULL /* the threaded pairs: Mops/s */, NULL);
	hit_check_no_miss(c, &before, rep);
	report_ratios(rep, hit_ratios, PCB_N(hit_ratios));
	hit_teardown(&h, &c, &b);
}
