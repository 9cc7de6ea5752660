/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Scenario "punch", two parts.
 *   A1 pc_punch     pc_punch() of a whole object of --size (256 MiB;
 *                   --quick: 32 MiB) on the RAM backend, every page cached
 *                   and clean: before each punch (untimed) the object is
 *                   written with pc_write() and pc_sync()ed, and pc_stats()
 *                   must show every page cached and none dirty; after it,
 *                   none cached.
 *   B1 fallocate punch  fallocate(PUNCH_HOLE | KEEP_SIZE) of a tmpfs file
 *                   of the same size, rewritten with pwrite() before each
 *                   punch (untimed; st_blocks checked before and after).
 *                   One punch per run, the two alternating; ms per punch
 *                   and GiB/s from the same runs.
 *   A2 hits + punch thread  pc_fault+put at random pages of [0, S) (S as
 *                   "hit") of an object on this thread, while a second
 *                   thread loops pc_punch() and pc_write() of the 16 MiB
 *                   range [S, S + 16 MiB) of the same object (it completes
 *                   one cycle before the clock starts);
 *   B2 hits alone   the same hits with no second thread;
 *   C2 (control)    the second thread memcpy()s the same bytes into a
 *                   plain 16 MiB buffer: a busy neighbour that never calls
 *                   the library;
 *   D2 (control)    the second thread does A2's loop on an object of its
 *                   own cache and RAM backend: the same work, sharing
 *                   nothing with the hits but the library's globals.
 *   All four alternate with the same count, calibrated on A2 (so the
 *   slowest variant's runs take about --seconds, and the others less).  Also reported: the second
 *   thread's cycles per second and the reader's CPU share (its thread CPU
 *   time over wall time: on 2 cores, the library's helper threads and
 *   other processes take turns with it).  Evictions and enomem must not
 *   move, so every hit stayed a hit.
 */
#include "hitobj.h"


#define PU_DEFAULT_SIZE		(256 * PCB_MIB)	/* the punched range */
#define PU_QUICK_SIZE		(32 * PCB_MIB)
#define PU_BG_RANGE		(16 * PCB_MIB)	/* part 2: the range punched alongside */
#define PU_OBJECT		"pcbench-punch"
#define PU_POLL_NS		100000

/* Part 1: one object (and one tmpfs file) that is exactly the punched range. */
struct pu_ctx {
	struct pc_cache *c;
	struct pc_backend *b;
	struct pc_mapping *m;
	int fd;
	uint64_t size;
	size_t page;
	unsigned char *pattern;		/* PCB_MIB bytes written over and over */
};

/* Every page of the object written, written back and cached, clean. */
static void pu_fill_cache(struct pu_ctx *pu)
{
	struct pc_stats st;

	for (uint64_t off = 0; off < pu->size; off += PCB_MIB) {
		size_t n = pu->size - off < PCB_MIB ? pu->size - off : PCB_MIB;
		ssize_t r = pc_write(pu->m, pu->pattern, n, off, 0);

		check(r, "pc_write");
		if ((size_t)r != n)
			die("pc_write: short write of %zd bytes at %" PRIu64, r, off);
	}
	check(pc_sync(pu->m, 0, 0), "pc_sync");
	check(pc_stats(pu->c, &st, sizeof(st)), "pc_stats");
	if (st.pages_cached != pu->size / pu->page || st.dirty_pages)
		die("before a punch: %" PRIu64 " pages cached (%" PRIu64 " dirty), expected %"
		    PRIu64 " clean", st.pages_cached, st.dirty_pages, pu->size / pu->page);
}

/* Every page of the tmpfs file written: allocated and in the page cache. */
static void pu_fill_tmpfs(struct pu_ctx *pu)
{
	struct stat sb;

	for (uint64_t off = 0; off < pu->size; off += PCB_MIB) {
		size_t n = pu->size - off < PCB_MIB ? pu->size - off : PCB_MIB;

		if (pwrite(pu->fd, pu->pattern, n, (off_t)off) != (ssize_t)n)
			die("pwrite: %s", strerror(errno));
	}
	if (fstat(pu->fd, &sb))
		die("fstat: %s", strerror(errno));
	if ((uint64_t)sb.st_blocks * 512 < pu->size)
		die("tmpfs file: %" PRIu64 " bytes allocated, expected %" PRIu64,
		    (uint64_t)sb.st_blocks * 512, pu->size);
}

/* One punch of the whole object, re-populated first (untimed); ns. */
static uint64_t pu_punch_cache(struct pu_ctx *pu)
{
	struct pc_stats st;
	uint64_t t0;

	pu_fill_cache(pu);
	t0 = now_ns();
	check(pc_punch(pu->m, 0, pu->size), "pc_punch");
	t0 = now_ns() - t0;
	check(pc_stats(pu->c, &st, sizeof(st)), "pc_stats");
	if (st.pages_cached)
		die("after pc_punch: %" PRIu64 " pages still cached", st.pages_cached);
	return t0;
}

static uint64_t pu_punch_tmpfs(struct pu_ctx *pu)
{
	struct stat sb;
	uint64_t t0;

	pu_fill_tmpfs(pu);
	t0 = now_ns();
	if (fallocate(pu->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)pu->size))
		die("fallocate(PUNCH_HOLE): %s", strerror(errno));
	t0 = now_ns() - t0;
	if (fstat(pu->fd, &sb))
		die("fstat: %s", strerror(errno));
	if (sb.st_blocks)
		die("after fallocate(PUNCH_HOLE): %" PRIu64 " blocks left", (uint64_t)sb.st_blocks);
	return t0;
}

/* Part 1: pc_punch against fallocate(PUNCH_HOLE), one punch per run, alternating. */
static void pu_part1(const struct pcb_opts *o, struct pcb_report *rep, uint64_t size)
{
	struct pu_ctx pu = { .size = size, .page = pc_page_size(), .fd = -1 };
	struct pcb_variant *ams, *bms, *agb, *bgb;
	char path[64];
	bool is_tmpfs;
	uint64_t seed = 0x9c4c4c4c9c4c4c4cull;

	pu.pattern = xmalloc_aligned(pu.page, PCB_MIB);
	for (size_t i = 0; i < PCB_MIB / 8; i++)
		((uint64_t *)pu.pattern)[i] = xorshift64s(&seed);
	check(pc_cache_new(&pu.c, size + HIT_SLACK), "pc_cache_new");
	check(pc_backend_ram_new(&pu.b, size + HIT_SLACK), "pc_backend_ram_new");
	check(pc_open(&pu.m, pu.c, pu.b, PU_OBJECT, PC_CREAT | PC_TRUNC), "pc_open");
	pu.fd = hit_tmpfile(path, sizeof(path), &is_tmpfs);
	if (unlink(path))
		die("unlink %s: %s", path, strerror(errno));
	report_param(rep, "punch file", false, "%s%s", path,
		     is_tmpfs ? " (tmpfs, unlinked)" : " (not tmpfs, unlinked)");
	report_param(rep, "punch", false, "[0, %" PRIu64 " MiB) of an object (file) of that "
		     "size, every page cached and clean (written back) before each punch; "
		     "re-populating is untimed; one punch per run", (uint64_t)(size / PCB_MIB));

	ams = report_variant(rep, "A1 pc_punch", "ms", o->runs);
	bms = report_variant(rep, "B1 fallocate punch", "ms", o->runs);
	agb = report_variant(rep, "A1 pc_punch rate", "GiB/s", o->runs);
	bgb = report_variant(rep, "B1 fallocate rate", "GiB/s", o->runs);
	ams->ops = bms->ops = agb->ops = bgb->ops = 1;
	/* One of each first, untimed: faults in the device, the file and the pool. */
	pu_punch_cache(&pu);
	pu_punch_tmpfs(&pu);
	for (unsigned i = 0; i < o->runs; i++) {
		uint64_t a = pu_punch_cache(&pu), bt = pu_punch_tmpfs(&pu);

		a = a ? a : 1;
		bt = bt ? bt : 1;
		ams->runs[ams->nruns++] = (double)a / 1e6;
		bms->runs[bms->nruns++] = (double)bt / 1e6;
		agb->runs[agb->nruns++] = (double)size / (1u << 30) / ((double)a / 1e9);
		bgb->runs[bgb->nruns++] = (double)size / (1u << 30) / ((double)bt / 1e9);
	}
	variant_summarise(ams);
	variant_summarise(bms);
	variant_summarise(agb);
	variant_summarise(bgb);

	close(pu.fd);
	check(pc_close(&pu.m), "pc_close");
	check(pc_backend_unlink(pu.b, PU_OBJECT), "pc_backend_unlink");
	pc_backend_delete(&pu.b);
	pc_cache_delete(&pu.c);
	free(pu.pattern);
}

/*
 * Part 2: hits on [0, size) on this thread, while a second thread loops
 * over [size, size + range) of the same object: pc_punch, then pc_write of
 * the range again (A2).  B2: no second thread.  Two controls: C2, the
 * second thread copies the same bytes into a plain buffer of the range's
 * size (a busy neighbour that never calls the library); D2, it punches and
 * rewrites an object of the range's size in another cache and RAM backend
 * (the same work, sharing no mapping, cache or backend with the hits).
 * What A2 loses beyond D2 is due to sharing the object.
 */
enum pu_mode { PU_ALONE, PU_PUNCH, PU_MEMCPY, PU_ELSEWHERE, PU_NMODES };

struct pu_rec {
	double *rate;			/* second thread's cycles per second, per run */
	double *cpu;			/* reader's CPU time / wall time, per run */
	unsigned n, cap;
};

struct pu_bg {
	struct hit_ctx h;
	uint64_t range_off, range_len;
	unsigned char *pattern;		/* PCB_MIB bytes */
	unsigned char *plain;		/* C2's target, range_len bytes */
	struct pc_cache *oc;		/* D2: another cache, backend and object */
	struct pc_backend *ob;
	struct pc_mapping *om;
	enum pu_mode mode;		/* of the running second thread */
	struct pc_mapping *pm;		/* what it punches and rewrites (A2, D2), */
	uint64_t poff;			/* and where */
	int stop;			/* atomic */
	uint64_t cycles;		/* atomic: cycles completed in this run */
	uint64_t started;		/* punch cycles started, all runs */
	struct pu_rec rec[PU_NMODES];	/* every run, calibration included */
};

static void *pu_bg_fn(void *arg)
{
	struct pu_bg *bg = arg;

	while (!__atomic_load_n(&bg->stop, __ATOMIC_ACQUIRE)) {
		if (bg->pm) {
			if (bg->mode == PU_PUNCH)
				bg->started++;
			check(pc_punch(bg->pm, bg->poff, bg->range_len), "pc_punch");
		}
		for (uint64_t x = 0; x < bg->range_len; x += PCB_MIB) {
			size_t n = bg->range_len - x < PCB_MIB ? bg->range_len - x : PCB_MIB;

			if (bg->pm) {
				ssize_t r = pc_write(bg->pm, bg->pattern, n, bg->poff + x, 0);

				check(r, "pc_write");
				if ((size_t)r != n)
					die("pc_write: short write");
			} else {
				memcpy(bg->plain + x, bg->pattern, n);
				__asm__ __volatile__("" : : "r"(bg->plain) : "memory");
			}
		}
		__atomic_fetch_add(&bg->cycles, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * @k hits on this thread, with the second thread of @mode running (it has
 * finished one cycle before the clock starts).  Records the cycles per
 * second it made during the timed hits, and this thread's CPU share.
 */
static uint64_t pu_run_hits(struct hit_ctx *h, int mode, uint64_t k)
{
	struct pu_bg *bg = pcb_container_of(h, struct pu_bg, h);
	struct pu_rec *rec = &bg->rec[mode];
	struct timespec ts = { 0, PU_POLL_NS };
	uint64_t t0, cpu0, c0 = 0, c1 = 0, sum;
	pthread_t tid;
	int r;

	if (mode != PU_ALONE) {
		bg->mode = mode;
		bg->pm = mode == PU_PUNCH ? h->m : mode == PU_ELSEWHERE ? bg->om : NULL;
		bg->poff = mode == PU_PUNCH ? bg->range_off : 0;
		__atomic_store_n(&bg->stop, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&bg->cycles, 0, __ATOMIC_RELAXED);
		r = pthread_create(&tid, NULL, pu_bg_fn, bg);
		if (r)
			die("pthread_create: %s", strerror(r));
		while (!__atomic_load_n(&bg->cycles, __ATOMIC_ACQUIRE))
			nanosleep(&ts, NULL);
		c0 = __atomic_load_n(&bg->cycles, __ATOMIC_ACQUIRE);
	}
	cpu0 = thread_cpu_ns();
	t0 = now_ns();
	sum = hit_loop_fault(h, HIT_CACHED, k);
	t0 = now_ns() - t0;
	cpu0 = thread_cpu_ns() - cpu0;
	if (mode != PU_ALONE) {
		c1 = __atomic_load_n(&bg->cycles, __ATOMIC_ACQUIRE);
		__atomic_store_n(&bg->stop, 1, __ATOMIC_RELEASE);
		r = pthread_join(tid, NULL);
		if (r)
			die("pthread_join: %s", strerror(r));
	}
	pcb_sink += sum;
	t0 = t0 ? t0 : 1;
	if (rec->n == rec->cap) {
		rec->cap = rec->cap ? 2 * rec->cap : 64;
		rec->rate = realloc(rec->rate, rec->cap * sizeof(*rec->rate));
		rec->cpu = realloc(rec->cpu, rec->cap * sizeof(*rec->cpu));
		if (!rec->rate || !rec->cpu)
			die("out of memory");
	}
	rec->rate[rec->n] = (double)(c1 - c0) * 1e9 / (double)t0;
	rec->cpu[rec->n++] = 100.0 * (double)cpu0 / (double)t0;
	return t0;
}

/* A variant from the last o->runs values of @vals (the timed runs; calibration came first). */
static void pu_rec_variant(struct pcb_report *rep, const struct pcb_opts *o, const char *name,
			   const char *unit, const double *vals, unsigned n)
{
	struct pcb_variant *v = report_variant(rep, name, unit, o->runs);

	v->ops = 1;
	for (unsigned i = n - o->runs; i < n; i++)
		v->runs[v->nruns++] = vals[i];
	variant_summarise(v);
}

/* All four run A2's count: the same hits, with each neighbour. */
static const struct hit_variant pu_variants[] = {
	{ "A2 hits + punch thread", NULL, pu_run_hits, PU_PUNCH, 0 },
	{ "B2 hits alone", NULL, pu_run_hits, PU_ALONE, 1 },
	{ "C2 hits + memcpy thread", NULL, pu_run_hits, PU_MEMCPY, 1 },
	{ "D2 hits + punch other $", NULL, pu_run_hits, PU_ELSEWHERE, 1 },
};

/* What the runs recorded besides their hits: the neighbour's rate, the reader's CPU. */
static const struct {
	const char *name;
	enum pu_mode mode;
	bool cpu;
} pu_recs[] = {
	{ "A2 punch+rewrite rate", PU_PUNCH, false },
	{ "C2 memcpy rate", PU_MEMCPY, false },
	{ "D2 punch+rewrite rate", PU_ELSEWHERE, false },
	{ "A2 reader CPU share", PU_PUNCH, true },
	{ "B2 reader CPU share", PU_ALONE, true },
	{ "C2 reader CPU share", PU_MEMCPY, true },
	{ "D2 reader CPU share", PU_ELSEWHERE, true },
};

static void pu_part2(const struct pcb_opts *o, struct pcb_report *rep)
{
	struct pu_bg bg = { .h = { .fd = -1, .no_tmpfs = true } };
	struct pc_cache *c = NULL;
	struct pc_backend *b = NULL;
	struct pc_stats before, after;
	uint64_t seed = 0xb6b6b6b6b6b6b6b6ull;

	bg.h.page = pc_page_size();
	bg.h.size = o->quick ? HIT_QUICK_SIZE : HIT_DEFAULT_SIZE;
	bg.h.extra = PU_BG_RANGE;
	bg.range_off = bg.h.size;
	bg.range_len = PU_BG_RANGE;
	report_param(rep, "alongside", false, "pc_fault+put at random pages of [0, %" PRIu64
		     ") MiB; 2nd thread: pc_punch + pc_write of [%" PRIu64 ", %" PRIu64
		     ") MiB (A2), none (B2), memcpy of as much (C2), A2's work on another "
		     "cache (D2)",
		     (uint64_t)(bg.h.size / PCB_MIB), (uint64_t)(bg.range_off / PCB_MIB),
		     (uint64_t)((bg.range_off + bg.range_len) / PCB_MIB));
	hit_setup(&bg.h, &c, &b, rep);
	bg.pattern = xmalloc_aligned(bg.h.page, PCB_MIB);
	for (size_t i = 0; i < PCB_MIB / 8; i++)
		((uint64_t *)bg.pattern)[i] = xorshift64s(&seed);
	bg.plain = xmalloc_aligned(bg.h.page, bg.range_len);
	memset(bg.plain, 0, bg.range_len);
	for (uint64_t x = 0; x < bg.range_len; x += PCB_MIB)
		check(pc_write(bg.h.m, bg.pattern, PCB_MIB, bg.range_off + x, 0), "pc_write");
	check(pc_sync(bg.h.m, 0, 0), "pc_sync");
	check(pc_cache_new(&bg.oc, bg.range_len + HIT_SLACK), "pc_cache_new");
	check(pc_backend_ram_new(&bg.ob, bg.range_len + HIT_SLACK), "pc_backend_ram_new");
	check(pc_open(&bg.om, bg.oc, bg.ob, PU_OBJECT, PC_CREAT | PC_TRUNC), "pc_open");
	for (uint64_t x = 0; x < bg.range_len; x += PCB_MIB)
		check(pc_write(bg.om, bg.pattern, PCB_MIB, x, 0), "pc_write");
	check(pc_sync(bg.om, 0, 0), "pc_sync");
	check(pc_stats(c, &before, sizeof(before)), "pc_stats");

	hit_group(&bg.h, o, rep, pu_variants, PCB_N(pu_variants), true, NULL);
	for (size_t i = 0; i < PCB_N(pu_recs); i++) {
		const struct pu_rec *rec = &bg.rec[pu_recs[i].mode];

		pu_rec_variant(rep, o, pu_recs[i].name, pu_recs[i].cpu ? "%" : "cycles/s",
			       pu_recs[i].cpu ? rec->cpu : rec->rate, rec->n);
	}

	/* No eviction, so the hit range stayed cached: every timed access hit. */
	check(pc_stats(c, &after, sizeof(after)), "pc_stats");
	if (after.evictions != before.evictions || after.enomem != before.enomem)
		die("%" PRIu64 " evictions, %" PRIu64 " enomem during the runs",
		    after.evictions - before.evictions, after.enomem - before.enomem);
	if (after.misses - before.misses > bg.started * (bg.range_len / bg.h.page))
		die("%" PRIu64 " misses: more than the rewrites account for",
		    after.misses - before.misses);
	report_param(rep, "bg check", false, "%" PRIu64 " punch+rewrite cycles started; misses "
		     "%" PRIu64 " (<= the rewrites' %" PRIu64 "), evictions 0, enomem 0",
		     bg.started, after.misses - before.misses,
		     bg.started * (bg.range_len / bg.h.page));

	for (int i = 0; i < PU_NMODES; i++) {
		free(bg.rec[i].rate);
		free(bg.rec[i].cpu);
	}
	check(pc_close(&bg.om), "pc_close");
	check(pc_backend_unlink(bg.ob, PU_OBJECT), "pc_backend_unlink");
	pc_backend_delete(&bg.ob);
	pc_cache_delete(&bg.oc);
	free(bg.plain);
	free(bg.pattern);
	hit_teardown(&bg.h, &c, &b);
}

static const struct pcb_ratio_of pu_ratios[] = {
	{ "pc_punch speed relative to fallocate punch", "B1 / A1 (ms)", "B1 fallocate punch",
	  "A1 pc_punch", 0 },
	{ "hits with a punching thread / alone", "A2 / B2", "A2 hits + punch thread",
	  "B2 hits alone", 0 },
	{ "hits with a memcpy thread / alone (control)", "C2 / B2", "C2 hits + memcpy thread",
	  "B2 hits alone", 0 },
	{ "hits with punching in another cache / alone", "D2 / B2", "D2 hits + punch other $",
	  "B2 hits alone", 0 },
	{ "hits, punching same object / another cache", "A2 / D2", "A2 hits + punch thread",
	  "D2 hits + punch other $", 0 },
};

void scenario_punch(const struct pcb_opts *o, struct pcb_report *rep)
{
	uint64_t size = o->size ? o->size : o->quick ? PU_QUICK_SIZE : PU_DEFAULT_SIZE;

	if (size < PCB_MIB || size % PCB_MIB)
		die("--size must be a positive multiple of 1 MiB");
	report_param(rep, "size", true, "%" PRIu64, size);
	pu_part1(o, rep, size);
	pu_part2(o, rep);

	report_ratios(rep, pu_ratios, PCB_N(pu_ratios));
}
