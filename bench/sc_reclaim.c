/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Scenario "reclaim": random 4 KiB pc_read()s over an object twice the
 * cache budget (object 128 MiB, budget 64 MiB; --quick: 32 and 16 MiB), so
 * about every other read misses and evicts a page.  The object is written
 * once through the cache with pc_write() (so writeback and reclaim run),
 * synced, and read back in full and compared.
 *   A1 RAM 1 thread  RAM backend;  B1 all hits 1 thread: the same object in
 *                    a cache larger than it, every page cached (the
 *                    ceiling: what the same reads cost with no reclaim).
 *   A2, B2           the same on 2 threads, same total reads.
 *   A3 file 1 thread and A3 file 2 threads: a buffered file backend (its
 *                    file in the kernel's page cache, so a miss costs the
 *                    library's fill and a pread() copy, not the disk).
 * For each reclaiming run the report adds the hit ratio (pc_stats() hits
 * and misses moved by the run; about 50% is what any policy gets from
 * uniform reads over twice the budget) and evictions per second as rows of
 * their own.  A sampler thread reads pc_stats() every millisecond during
 * every run: bytes_cached must never pass the capacity, and enomem must
 * stay 0; the report prints both for each cache, and pcbench exits 1 after
 * the report if either fails.  The ceiling must see no miss at all.
 *
 * In "miss", A and B read the same file, at the same offsets in the same
 * order, into the same page-aligned buffer, from the same cold state, and
 * the pairs alternate, so that neither sees the other's data in any cache.
 * The library's two caches are separate, so one mapping's pages never
 * evict the other's.  pread() has no cache of its own: that is the point,
 * and the random pairs show what the library's copy and bookkeeping cost
 * per miss.  In "reclaim", the reclaiming and the ceiling objects hold the
 * same bytes and every variant walks the same pre-generated random page
 * offsets from their start (2 threads: each half of them), as in "hit";
 * the sampler runs in every variant alike.
 */
#include "harness.h"


#define RCL_DEFAULT_SIZE	(128 * PCB_MIB)	/* the object; the budget is half */
#define RCL_QUICK_SIZE		(32 * PCB_MIB)
#define RCL_SLACK		(16 * PCB_MIB)	/* RAM devices and the ceiling's cache */
#define RCL_NR_OFFSETS		(1u << 20)	/* a power of two: walks wrap with a mask */
#define RCL_SEED		0x4ec1a1a54ec1a1a5ull
#define RCL_OBJECT		"pcbench-reclaim"
#define RCL_MAX_THREADS		2
#define RCL_SAMPLE_NS		1000000		/* the budget sampler's period */

/* One cache and mapping under test, and what the sampler saw of it. */
struct rcl_target {
	const char *what;
	struct pc_cache *c;
	struct pc_backend *b;
	struct pc_mapping *m;
	uint64_t capacity;
	uint64_t max_bytes;		/* largest bytes_cached sampled, all runs */
	uint64_t samples;
	uint64_t enomem;		/* enomem moved by this much, all runs */
};

/* What one run did to its cache. */
struct rcl_delta {
	uint64_t hits, misses, evictions;
};

struct rcl_ctx {
	uint64_t size;
	size_t page;
	uint64_t *offs;			/* RCL_NR_OFFSETS random page offsets */
	unsigned char *plain;		/* the object's bytes */
};

struct rcl_sampler {
	const struct pc_cache *c;
	int stop;
	uint64_t max_bytes, samples;
};

/* Sample bytes_cached every millisecond until told to stop. */
static void *rcl_sampler_fn(void *arg)
{
	struct rcl_sampler *s = arg;
	struct timespec ts = { 0, RCL_SAMPLE_NS };

	do {
		struct pc_stats st;

		check(pc_stats(s->c, &st, sizeof(st)), "pc_stats");
		if (st.bytes_cached > s->max_bytes)
			s->max_bytes = st.bytes_cached;
		s->samples++;
		nanosleep(&ts, NULL);
	} while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE));
	return NULL;
}

struct rcl_worker {
	struct pcb_thread t;
	struct pc_mapping *m;
	const uint64_t *offs;		/* this thread's slice of the offsets */
	uint64_t mask;			/* slice length - 1 */
	size_t page;
	unsigned char *buf;
};

static uint64_t rcl_read_loop(struct pcb_thread *t, uint64_t k)
{
	struct rcl_worker *w = pcb_container_of(t, struct rcl_worker, t);
	uint64_t sum = 0;

	for (uint64_t i = 0; i < k; i++) {
		ssize_t r = pc_read(w->m, w->buf, w->page, w->offs[i & w->mask], 0);

		if (pcb_unlikely(r != (ssize_t)w->page)) {
			check(r, "pc_read");
			die("pc_read: short read of %zd bytes", r);
		}
		__asm__ __volatile__("" : : "r"(w->buf) : "memory");
		sum += w->buf[i & (w->page - 1)];
	}
	return sum;
}

/*
 * @k random pc_read()s of a page over @nthreads threads, each walking its
 * own slice of the offsets, while a sampler thread watches the budget.
 * Returns the wall time in ns; @d gets the run's stats deltas.
 */
static uint64_t rcl_run(struct rcl_ctx *h, struct rcl_target *t, uint64_t k,
			unsigned nthreads, struct rcl_delta *d)
{
	struct rcl_worker w[RCL_MAX_THREADS];
	struct pcb_thread *ts[RCL_MAX_THREADS];
	pthread_t stid;
	struct rcl_sampler s = { .c = t->c };
	struct pc_stats a, b;
	uint64_t slice = RCL_NR_OFFSETS / nthreads, ns;
	int r;

	check(pc_stats(t->c, &a, sizeof(a)), "pc_stats");
	r = pthread_create(&stid, NULL, rcl_sampler_fn, &s);
	if (r)
		die("pthread_create: %s", strerror(r));
	for (unsigned i = 0; i < nthreads; i++) {
		w[i] = (struct rcl_worker){
			.t = { .loop = rcl_read_loop, .ops = k / nthreads },
			.m = t->m,
			.offs = h->offs + i * slice,
			.mask = slice - 1,
			.page = h->page,
			.buf = xmalloc_aligned(h->page, h->page),
		};
		ts[i] = &w[i].t;
	}
	ns = pcb_threads_run(ts, nthreads);
	for (unsigned i = 0; i < nthreads; i++)
		free(w[i].buf);
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
	r = pthread_join(stid, NULL);
	if (r)
		die("pthread_join: %s", strerror(r));
	check(pc_stats(t->c, &b, sizeof(b)), "pc_stats");

	if (s.max_bytes > t->max_bytes)
		t->max_bytes = s.max_bytes;
	t->samples += s.samples;
	t->enomem += b.enomem - a.enomem;
	d->hits = b.hits - a.hits;
	d->misses = b.misses - a.misses;
	d->evictions = b.evictions - a.evictions;
	return ns;
}

/* Operations per run so that it takes about @seconds (as hit_calibrate()). */
static uint64_t rcl_calibrate(struct rcl_ctx *h, struct rcl_target *t, unsigned nthreads,
			      double seconds)
{
	double target = seconds * 1e9, ops;
	struct rcl_delta d;
	uint64_t k = 1024, ns;

	for (;;) {
		ns = rcl_run(h, t, k, nthreads, &d);
		if (ns >= target / 10 || k >= (1ull << 40))
			break;
		k *= 2;
	}
	ops = target * (double)k / (double)(ns ? ns : 1);
	if (ops < 2)
		ops = 2;
	return ((uint64_t)ops + 1) & ~1ull;
}

/* One side of a pair: where it reads, on how many threads, what it reports. */
struct rcl_side {
	const char *name;		/* the throughput variant */
	struct rcl_target *t;
	unsigned nthreads;
	const char *hit_name;		/* NULL: the ceiling, where every read must hit */
	const char *evict_name;
};

/*
 * Time @a and @b alternately.  A reclaiming side also reports, per run,
 * its hit ratio and evictions per second as variants of their own; the
 * ceiling must see no miss at all.  With @shared_k both run @a's count.
 */
static void rcl_pair(struct rcl_ctx *h, const struct pcb_opts *o, struct pcb_report *rep,
		     const struct rcl_side *a, const struct rcl_side *b, bool shared_k)
{
	const struct rcl_side *side[2] = { a, b };
	struct pcb_variant *v[2], *hit[2] = { NULL, NULL }, *ev[2] = { NULL, NULL };

	for (int s = 0; s < 2; s++)
		v[s] = report_variant(rep, side[s]->name, "Mops/s", o->runs);
	for (int s = 0; s < 2; s++) {
		if (!side[s]->hit_name)
			continue;
		hit[s] = report_variant(rep, side[s]->hit_name, "%", o->runs);
		ev[s] = report_variant(rep, side[s]->evict_name, "k/s", o->runs);
	}
	v[0]->ops = rcl_calibrate(h, a->t, a->nthreads, o->seconds);
	v[1]->ops = shared_k ? v[0]->ops : rcl_calibrate(h, b->t, b->nthreads, o->seconds);
	for (unsigned i = 0; i < o->runs; i++) {
		for (int s = 0; s < 2; s++) {
			struct rcl_delta d;
			uint64_t ns = rcl_run(h, side[s]->t, v[s]->ops, side[s]->nthreads, &d);

			if (!ns)
				ns = 1;
			v[s]->runs[v[s]->nruns++] = (double)v[s]->ops * 1e3 / (double)ns;
			if (!hit[s]) {
				if (d.misses)
					die("%s: %" PRIu64 " misses: the ceiling must only hit",
					    side[s]->name, d.misses);
				continue;
			}
			hit[s]->runs[hit[s]->nruns++] =
				100.0 * (double)d.hits / (double)(d.hits + d.misses ? d.hits + d.misses : 1);
			ev[s]->runs[ev[s]->nruns++] = (double)d.evictions * 1e6 / (double)ns;
		}
	}
	for (int s = 0; s < 2; s++) {
		variant_summarise(v[s]);
		if (hit[s]) {
			hit[s]->ops = ev[s]->ops = v[s]->ops;
			variant_summarise(hit[s]);
			variant_summarise(ev[s]);
		}
	}
}

/* Write the object through @t's cache, sync it, and read it all back. */
static void rcl_fill(struct rcl_ctx *h, struct rcl_target *t)
{
	struct pc_stats st;

	pcb_write_sync(t->m, h->plain, h->size);
	/* Through a cache half its size, this read-back goes through reclaim. */
	pcb_read_check(t->m, h->plain, h->size, t->what);
	check(pc_stats(t->c, &st, sizeof(st)), "pc_stats");
	t->capacity = st.capacity;
	t->enomem = st.enomem;	/* while filling; runs add theirs */
}

static void rcl_target_close(struct rcl_target *t, bool unlink_object)
{
	check(pc_close(&t->m), "pc_close");
	if (unlink_object)
		check(pc_backend_unlink(t->b, RCL_OBJECT), "pc_backend_unlink");
	pc_backend_delete(&t->b);
	pc_cache_delete(&t->c);
}

/* "max 64.0 of 64.0 MiB (16384 samples)", and whether that is within budget. */
static void rcl_budget_param(struct pcb_report *rep, const char *key, const struct rcl_target *t)
{
	report_param(rep, key, false, "bytes_cached max %.1f of %.1f MiB over %" PRIu64
		     " samples: %s; enomem %" PRIu64 "%s", (double)t->max_bytes / PCB_MIB,
		     (double)t->capacity / PCB_MIB, t->samples,
		     t->max_bytes <= t->capacity ? "within budget" : "OVER BUDGET", t->enomem,
		     t->enomem ? " (NOT 0)" : "");
	if (t->max_bytes > t->capacity || t->enomem) {
		fprintf(stderr, "pcbench: %s: budget or enomem check failed\n", t->what);
		rep->failed = true;
	}
}

void scenario_reclaim(const struct pcb_opts *o, struct pcb_report *rep)
{
	struct rcl_ctx h = { 0 };
	struct rcl_target ram = { .what = "RAM backend" }, ceil = { .what = "ceiling" },
			  file = { .what = "file backend" };
	char dir[PATH_MAX], name[64], path[PATH_MAX];
	struct pc_stats st;
	uint64_t seed, budget;
	long fs_type;

	h.page = pc_page_size();
	h.size = o->size ? o->size : o->quick ? RCL_QUICK_SIZE : RCL_DEFAULT_SIZE;
	if (h.size < 2 * h.page || h.size % (2 * h.page))
		die("--size must be a positive multiple of two pages (%zu)", 2 * h.page);
	if (h.size > SIZE_MAX / 2)
		die("--size too large");
	budget = h.size / 2;
	report_param(rep, "size", true, "%" PRIu64, h.size);
	report_param(rep, "budget", false, "%" PRIu64 " MiB (half the object); ceiling: %"
		     PRIu64 " MiB", (uint64_t)(budget / PCB_MIB),
		     (uint64_t)((h.size + RCL_SLACK) / PCB_MIB));
	report_param(rep, "offsets", true, "%u", RCL_NR_OFFSETS);

	h.plain = xmalloc_aligned(h.page, h.size);
	seed = ~RCL_SEED;
	for (uint64_t i = 0; i < h.size / 8; i++)
		((uint64_t *)h.plain)[i] = xorshift64s(&seed);
	h.offs = xmalloc_aligned(64, RCL_NR_OFFSETS * sizeof(*h.offs));
	seed = RCL_SEED;
	for (uint64_t i = 0; i < RCL_NR_OFFSETS; i++)
		h.offs[i] = (xorshift64s(&seed) % (h.size / h.page)) * h.page;

	/* RAM backend, budget half the object. */
	check(pc_cache_new(&ram.c, budget), "pc_cache_new");
	check(pc_backend_ram_new(&ram.b, h.size + RCL_SLACK), "pc_backend_ram_new");
	check(pc_open(&ram.m, ram.c, ram.b, RCL_OBJECT, PC_CREAT | PC_TRUNC), "pc_open");
	rcl_fill(&h, &ram);

	/* The ceiling: the same, with a budget that holds it all, all cached. */
	check(pc_cache_new(&ceil.c, h.size + RCL_SLACK), "pc_cache_new");
	check(pc_backend_ram_new(&ceil.b, h.size + RCL_SLACK), "pc_backend_ram_new");
	check(pc_open(&ceil.m, ceil.c, ceil.b, RCL_OBJECT, PC_CREAT | PC_TRUNC), "pc_open");
	rcl_fill(&h, &ceil);
	check(pc_stats(ceil.c, &st, sizeof(st)), "pc_stats");
	if (st.pages_cached != h.size / h.page)
		die("ceiling: %" PRIu64 " pages cached, expected %" PRIu64, st.pages_cached,
		    h.size / h.page);

	/* File backend, buffered, on a disk file system; unlinked once open. */
	pcb_disk_dir(dir, sizeof(dir), &fs_type);
	snprintf(name, sizeof(name), "%s-%ld", RCL_OBJECT, (long)getpid());
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		die("%s: path too long", dir);
	check(pc_cache_new(&file.c, budget), "pc_cache_new");
	check(pc_backend_file_new(&file.b, dir, 0), "pc_backend_file_new");
	check(pc_open(&file.m, file.c, file.b, name, PC_CREAT | PC_EXCL), "pc_open");
	if (unlink(path))
		die("unlink %s: %s", path, strerror(errno));
	report_param(rep, "file", false, "%s (%s, unlinked), buffered: in the host page cache",
		     path, pcb_fs_name(fs_type));
	rcl_fill(&h, &file);

	rcl_pair(&h, o, rep,
		 &(struct rcl_side){ "A1 RAM 1 thread", &ram, 1, "A1 hit ratio", "A1 evictions" },
		 &(struct rcl_side){ "B1 all hits 1 thread", &ceil, 1, NULL, NULL }, false);
	rcl_pair(&h, o, rep,
		 &(struct rcl_side){ "A2 RAM 2 threads", &ram, 2, "A2 hit ratio", "A2 evictions" },
		 &(struct rcl_side){ "B2 all hits 2 threads", &ceil, 2, NULL, NULL }, false);
	rcl_pair(&h, o, rep,
		 &(struct rcl_side){ "A3 file 1 thread", &file, 1, "A3(1) hit ratio",
				     "A3(1) evictions" },
		 &(struct rcl_side){ "A3 file 2 threads", &file, 2, "A3(2) hit ratio",
				     "A3(2) evictions" }, true);

	rcl_budget_param(rep, "RAM check", &ram);
	rcl_budget_param(rep, "file check", &file);
	rcl_budget_param(rep, "ceiling check", &ceil);

	/* No goals: what reclaim costs next to hits, and the file backend's share. */
	report_ratio(rep, "RAM, 1 thread: reclaiming / all hits", "A1 / B1",
		     median_of(rep, "A1 RAM 1 thread") / median_of(rep, "B1 all hits 1 thread"), 0);
	report_ratio(rep, "RAM, 2 threads: reclaiming / all hits", "A2 / B2",
		     median_of(rep, "A2 RAM 2 threads") / median_of(rep, "B2 all hits 2 threads"),
		     0);
	report_ratio(rep, "file: 2-thread / 1-thread", "A3(2) / A3(1)",
		     median_of(rep, "A3 file 2 threads") / median_of(rep, "A3 file 1 thread"), 0);
	/* Not a pair: A3 and A1 ran at different times. */
	report_ratio(rep, "file / RAM, 1 thread (not alternated)", "A3(1) / A1",
		     median_of(rep, "A3 file 1 thread") / median_of(rep, "A1 RAM 1 thread"), 0);

	rcl_target_close(&ram, true);
	rcl_target_close(&ceil, true);
	rcl_target_close(&file, false);
	free(h.offs);
	free(h.plain);
}
