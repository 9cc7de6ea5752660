/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Scenario "readhit": copying hits of two sizes.  The object of "hit"
 * (256 MiB; --quick: 64 MiB; the same setup code) is fully cached, and
 * three variants copy the same bytes at the same random offsets, in
 * alternation:
 *   A1 pc_read 4K   pc_read() of 4 KiB at random page offsets;
 *   B1 pread 4K     pread() of 4 KiB from the tmpfs copy (the kernel's
 *                   page cache);
 *   C1 memcpy 4K    memcpy() from the plain copy: the limit.
 *   A2, B2, C2      the same with 64 KiB at random page offsets (16 pages;
 *                   the copy always lies inside the object).
 * Ratios: pread over pc_read (speedup) and memcpy over pc_read (fraction).
 */
#include "hitobj.h"


#define RH_BIG			(64u * 1024)	/* the large copy */
#define RH_SEED			0x4eadb16b4eadb16bull

/* The same offsets for all three: 4 KiB copies, then 64 KiB ones. */
static const struct hit_variant rh_groups[][3] = {
	{ { "A1 pc_read 4K", hit_loop_pcread, NULL, HIT_CACHED, 0 },
	  { "B1 pread 4K", hit_loop_preadn, NULL, 0, 0 },
	  { "C1 memcpy 4K", hit_loop_memcpy, NULL, 0, 0 } },
	{ { "A2 pc_read 64K", hit_loop_pcread, NULL, HIT_CACHED, 0 },
	  { "B2 pread 64K", hit_loop_preadn, NULL, 0, 0 },
	  { "C2 memcpy 64K", hit_loop_memcpy, NULL, 0, 0 } },
};

/* No goals: issue 2's 0.95 of memcpy is judged by "hit"; these are references. */
static const struct pcb_ratio_of rh_ratios[] = {
	{ "pc_read 4K speedup over pread 4K", "B1 / A1", "B1 pread 4K", "A1 pc_read 4K", 0 },
	{ "pc_read 4K as a fraction of memcpy 4K", "C1 / A1", "C1 memcpy 4K", "A1 pc_read 4K", 0 },
	{ "pc_read 64K speedup over pread 64K", "B2 / A2", "B2 pread 64K", "A2 pc_read 64K", 0 },
	{ "pc_read 64K as a fraction of memcpy 64K", "C2 / A2", "C2 memcpy 64K",
	  "A2 pc_read 64K", 0 },
};

void scenario_readhit(const struct pcb_opts *o, struct pcb_report *rep)
{
	struct hit_ctx h = { .fd = -1 };
	struct pc_cache *c = NULL;
	struct pc_backend *b = NULL;
	struct pc_stats before;
	uint64_t *offs_big, seed, starts;

	hit_init(&h, o, rep, HIT_DEFAULT_SIZE, HIT_QUICK_SIZE);
	if (h.size < RH_BIG)
		die("--size must be at least %u bytes", RH_BIG);
	report_param(rep, "io", false, "4 KiB at random page offsets; 64 KiB at random page "
		     "offsets in [0, size - 64 KiB]; the same offsets for all three variants");
	hit_setup(&h, &c, &b, rep);

	/* Offsets of the 64 KiB copies: page-aligned, the whole copy inside the object. */
	starts = (h.size - RH_BIG) / h.page + 1;
	offs_big = xmalloc_aligned(64, HIT_NR_OFFSETS * sizeof(*offs_big));
	seed = RH_SEED;
	for (uint64_t i = 0; i < HIT_NR_OFFSETS; i++)
		offs_big[i] = (xorshift64s(&seed) % starts) * h.page;

	check(pc_stats(c, &before, sizeof(before)), "pc_stats");
	for (size_t i = 0; i < PCB_N(rh_groups); i++) {
		h.len = i ? RH_BIG : h.page;
		h.copy_offs = i ? offs_big : h.offs;
		hit_group(&h, o, rep, rh_groups[i], 3, false, NULL);
	}
	hit_check_no_miss(c, &before, rep);
	report_ratios(rep, rh_ratios, PCB_N(rh_ratios));

	h.copy_offs = h.offs;
	free(offs_big);
	hit_teardown(&h, &c, &b);
}
