/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Scenario "mmap": pc_fault() walking the object page by page from offset
 * 0, reading one byte of each page, against loads from an mmap() of the
 * tmpfs copy (read-only, shared).  Object as in "hit".
 *   A1 pc_fault first touch  before each pass over the object (untimed)
 *                   every page is dropped with pc_invalidate_lock(),
 *                   pc_invalidate_range(), pc_invalidate_unlock(), so each
 *                   fault fills its page from the RAM backend; the fills
 *                   counted by pc_stats() must equal the touches.
 *   B1 mmap first touch      before each pass a fresh mapping (munmap() and
 *                   mmap(), untimed) of the file, whose pages are all in
 *                   the kernel's page cache: each first touch is a minor
 *                   fault, or is mapped by the kernel's fault-around of a
 *                   nearby fault; the report gives faults per 1000 pages.
 *   A2, B2 warm     every page cached, and the whole file mapped and
 *                   touched once; walks wrap around the object.
 * Results are ns per page.  The first touches are not the same work: the
 * library's copies 4 KiB from its backend into a new page; the kernel's
 * only maps a page that its cache already holds.
 */
#include "hitobj.h"


struct mm_ctx {
	struct hit_ctx h;
	uint64_t pages;
	unsigned char *map;		/* the tmpfs copy, mapped read-only shared; or NULL */
	uint64_t cold_touches;		/* pc_fault first touches, calibration included */
	uint64_t kern_touches;		/* mmap first touches, likewise */
	uint64_t kern_minflt;		/* the minor faults they took (this thread's) */
};

static uint64_t thread_minflt(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru))
		die("getrusage: %s", strerror(errno));
	return (uint64_t)ru.ru_minflt;
}

/* Drop every page of the object from the cache: the next touch fills from the backend. */
static void mm_drop(struct mm_ctx *mm)
{
	int r;

	pc_invalidate_lock(mm->h.m);
	r = pc_invalidate_range(mm->h.m, 0, 0);
	pc_invalidate_unlock(mm->h.m);
	check(r, "pc_invalidate_range");
}

/* A fresh mapping of the tmpfs copy: its pages are in the page cache, none mapped. */
static void mm_remap(struct mm_ctx *mm)
{
	if (mm->map && munmap(mm->map, mm->h.size))
		die("munmap: %s", strerror(errno));
	mm->map = mmap(NULL, mm->h.size, PROT_READ, MAP_SHARED, mm->h.fd, 0);
	if (mm->map == MAP_FAILED)
		die("mmap: %s", strerror(errno));
}

/* @n pc_fault()s page by page from page @first (wrapping), one byte read from each. */
static uint64_t mm_fault_walk(struct mm_ctx *mm, uint64_t first, uint64_t n)
{
	uint64_t sum = 0, pg = first, page = mm->h.page;

	for (uint64_t i = 0; i < n; i++) {
		struct pc_page *p;
		int r = pc_fault(mm->h.m, pg * page, 0, &p);

		if (pcb_unlikely(r < 0))
			check(r, "pc_fault");
		sum += *(const volatile unsigned char *)pc_page_addr(p);
		pc_page_put(p);
		if (++pg == mm->pages)
			pg = 0;
	}
	return sum;
}

/* The same walk over the mapping: one load from each page. */
static uint64_t mm_touch_walk(struct mm_ctx *mm, uint64_t first, uint64_t n)
{
	const volatile unsigned char *map = mm->map;
	uint64_t sum = 0, pg = first, page = mm->h.page;

	for (uint64_t i = 0; i < n; i++) {
		sum += map[pg * page];
		if (++pg == mm->pages)
			pg = 0;
	}
	return sum;
}

enum mm_kind { MM_FAULT, MM_MMAP };

/* A walk of @n pages from @first: pc_fault() or loads from the mapping. */
static uint64_t mm_walk(struct mm_ctx *mm, int kind, uint64_t first, uint64_t n)
{
	return kind == MM_FAULT ? mm_fault_walk(mm, first, n) : mm_touch_walk(mm, first, n);
}

/*
 * First touch: @k pages in passes over the object.  Before each pass (not
 * timed) pc_fault's cache is emptied, so every fault fills from the RAM
 * backend, or the mmap is made afresh; only the walks are timed.
 */
static uint64_t mm_run_cold(struct hit_ctx *h, int kind, uint64_t k)
{
	struct mm_ctx *mm = pcb_container_of(h, struct mm_ctx, h);
	uint64_t ns = 0, sum = 0;

	while (k) {
		uint64_t n = k < mm->pages ? k : mm->pages, t0, f0;

		if (kind == MM_FAULT)
			mm_drop(mm);
		else
			mm_remap(mm);
		f0 = thread_minflt();
		t0 = now_ns();
		sum += mm_walk(mm, kind, 0, n);
		ns += now_ns() - t0;
		if (kind == MM_FAULT) {
			mm->cold_touches += n;
		} else {
			mm->kern_minflt += thread_minflt() - f0;
			mm->kern_touches += n;
		}
		k -= n;
	}
	pcb_sink += sum;
	return ns;
}

/* Warm: every page cached (and, for mmap, mapped); walks wrap around the object. */
static uint64_t mm_loop_warm(struct hit_ctx *h, int kind, uint64_t k)
{
	return mm_walk(pcb_container_of(h, struct mm_ctx, h), kind, 0, k);
}

static const struct hit_variant mm_groups[][2] = {
	{ { "A1 pc_fault first touch", NULL, mm_run_cold, MM_FAULT, 0 },
	  { "B1 mmap first touch", NULL, mm_run_cold, MM_MMAP, 0 } },
	{ { "A2 pc_fault warm", mm_loop_warm, NULL, MM_FAULT, 0 },
	  { "B2 mmap warm", mm_loop_warm, NULL, MM_MMAP, 0 } },
};

static const struct pcb_ratio_of mm_ratios[] = {
	{ "pc_fault speed relative to mmap, first touch", "B1 / A1", "B1 mmap first touch",
	  "A1 pc_fault first touch", 0 },
	{ "pc_fault speed relative to mmap, warm", "B2 / A2", "B2 mmap warm", "A2 pc_fault warm",
	  0 },
};

void scenario_mmap(const struct pcb_opts *o, struct pcb_report *rep)
{
	struct mm_ctx mm = { .h = { .fd = -1 } };
	struct pc_cache *c = NULL;
	struct pc_backend *b = NULL;
	struct pc_stats before, mid, after;
	char shmem_thp[64] = "unknown";
	FILE *f;

	hit_init(&mm.h, o, rep, HIT_DEFAULT_SIZE, HIT_QUICK_SIZE);
	mm.pages = mm.h.size / mm.h.page;
	f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "r");
	if (f) {
		char line[256], *open, *close;

		if (fgets(line, sizeof(line), f) && (open = strchr(line, '[')) &&
		    (close = strchr(open, ']'))) {
			*close = '\0';
			snprintf(shmem_thp, sizeof(shmem_thp), "%s", open + 1);
		}
		fclose(f);
	}
	report_param(rep, "walk", false, "page by page from offset 0, one byte read per page; "
		     "first touch: cache emptied with pc_invalidate_range() / fresh mmap() "
		     "before each pass, untimed; tmpfs THP (shmem_enabled): %s", shmem_thp);
	hit_setup(&mm.h, &c, &b, rep);
	check(pc_stats(c, &before, sizeof(before)), "pc_stats");

	hit_group(&mm.h, o, rep, mm_groups[0], 2, false, "ns/page");
	check(pc_stats(c, &mid, sizeof(mid)), "pc_stats");
	if (mid.fills - before.fills != mm.cold_touches)
		die("%" PRIu64 " fills for %" PRIu64 " first touches: not every first touch "
		    "filled from the backend", mid.fills - before.fills, mm.cold_touches);
	report_param(rep, "first touch", false, "pc_fault: %" PRIu64 " fills from the backend "
		     "for %" PRIu64 " touches; mmap: %.1f minor faults per 1000 pages (%" PRIu64
		     " touches)", mid.fills - before.fills, mm.cold_touches,
		     mm.kern_touches ? 1000.0 * (double)mm.kern_minflt / (double)mm.kern_touches
				     : 0,
		     mm.kern_touches);

	/* Warm: the whole object cached, and the whole file mapped and touched. */
	mm_run_cold(&mm.h, MM_FAULT, mm.pages);
	mm_remap(&mm);
	pcb_sink += mm_touch_walk(&mm, 0, mm.pages);
	check(pc_stats(c, &mid, sizeof(mid)), "pc_stats");
	if (mid.pages_cached != mm.pages)
		die("%" PRIu64 " pages cached, expected %" PRIu64, mid.pages_cached, mm.pages);
	hit_group(&mm.h, o, rep, mm_groups[1], 2, false, "ns/page");
	check(pc_stats(c, &after, sizeof(after)), "pc_stats");
	if (after.misses != mid.misses)
		die("%" PRIu64 " misses in the warm runs", after.misses - mid.misses);

	report_ratios(rep, mm_ratios, PCB_N(mm_ratios));

	if (munmap(mm.map, mm.h.size))
		die("munmap: %s", strerror(errno));
	hit_teardown(&mm.h, &c, &b);
}
