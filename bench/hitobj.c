/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fully cached object shared by the scenarios "hit", "readhit", "mmap",
 * "punch", "scale" and "dax", and the loops and timing of their variants.
 *
 * Why the baselines are fair.  All three copies of the data (the cache, the
 * tmpfs file, the plain buffer) have the same size and bytes and are
 * resident before timing starts: the object is written with pc_write() and
 * pc_stats() must show every page cached; the tmpfs file is read once in
 * full; the plain buffer is written when it is filled.  The plain buffer is
 * page-aligned like cache pages, so memcpy() moves the same aligned 4 KiB.
 * Every variant walks the same pre-generated array of random page offsets
 * from its start, so they visit the same pages in the same order, and every
 * result feeds a volatile sink so the compiler cannot drop the work.  Fast
 * and slow variants run different operation counts (each is calibrated to
 * take about --seconds), but as the offsets are uniform over the object, a
 * shorter walk samples the same distribution of pages.  After timing, the
 * cache's miss counter must not have moved: every pc_* access was a hit.
 */
#include "hitobj.h"

static struct pc_mapping *hit_map(struct hit_ctx *h, int arg)
{
	return arg == HIT_DAX ? h->dax : h->m;
}

/*
 * The loop of a hit: @k faults at @offs[i & @mask], reading one byte of
 * each pinned page; shared with the threaded variants.
 */
uint64_t hit_fault_loop(struct pc_mapping *m, const uint64_t *offs, uint64_t mask, uint64_t k)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < k; i++) {
		struct pc_page *p;
		int r = pc_fault(m, offs[i & mask], 0, &p);

		if (pcb_unlikely(r < 0))
			check(r, "pc_fault");
		sum += *(const unsigned char *)pc_page_addr(p);
		pc_page_put(p);
	}
	return sum;
}

/* Its baseline, shared with the threaded baseline. */
static uint64_t hit_pread_loop(int fd, const uint64_t *offs, uint64_t mask, uint64_t k)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < k; i++) {
		unsigned char c;
		ssize_t r = pread(fd, &c, 1, (off_t)offs[i & mask]);

		if (pcb_unlikely(r != 1))
			die("pread: %s", r < 0 ? strerror(errno) : "short read");
		sum += c;
	}
	return sum;
}

uint64_t hit_loop_fault(struct hit_ctx *h, int arg, uint64_t k)
{
	return hit_fault_loop(hit_map(h, arg), h->offs, HIT_NR_OFFSETS - 1, k);
}

uint64_t hit_loop_pread(struct hit_ctx *h, int arg, uint64_t k)
{
	(void)arg;
	return hit_pread_loop(h->fd, h->offs, HIT_NR_OFFSETS - 1, k);
}

enum hit_copy { COPY_PCREAD, COPY_PREAD, COPY_MEMCPY, COPY_STORAGE };

/*
 * @k copies of h->len bytes at the copy offsets into h->buf, the way @how
 * says.  Inlined into each caller with @how a constant, so every loop is
 * as plain as if written out; the barrier makes memcpy() as opaque to the
 * compiler as pc_read() is.
 */
static inline __attribute__((always_inline)) uint64_t
hit_copy_loop(struct hit_ctx *h, struct pc_mapping *m, enum hit_copy how, uint64_t k)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < k; i++) {
		uint64_t off = h->copy_offs[i & (HIT_NR_OFFSETS - 1)];
		ssize_t r = (ssize_t)h->len;

		switch (how) {
		case COPY_PCREAD:
			r = pc_read(m, h->buf, h->len, off, 0);
			if (pcb_unlikely(r < 0))
				check(r, "pc_read");
			break;
		case COPY_PREAD:
			r = pread(h->fd, h->buf, h->len, (off_t)off);
			if (pcb_unlikely(r < 0))
				die("pread: %s", strerror(errno));
			break;
		case COPY_MEMCPY:
			memcpy(h->buf, h->plain + off, h->len);
			break;
		case COPY_STORAGE:
			memcpy(h->buf, h->dax_addr[off / h->page], h->len);
			break;
		}
		if (pcb_unlikely(r != (ssize_t)h->len))
			die("short read of %zd bytes", r);
		__asm__ __volatile__("" : : "r"(h->buf) : "memory");
		sum += h->buf[i & (h->len - 1)];
	}
	return sum;
}

uint64_t hit_loop_pcread(struct hit_ctx *h, int arg, uint64_t k)
{
	return hit_copy_loop(h, hit_map(h, arg), COPY_PCREAD, k);
}

uint64_t hit_loop_preadn(struct hit_ctx *h, int arg, uint64_t k)
{
	(void)arg;
	return hit_copy_loop(h, NULL, COPY_PREAD, k);
}

uint64_t hit_loop_memcpy(struct hit_ctx *h, int arg, uint64_t k)
{
	(void)arg;
	return hit_copy_loop(h, NULL, COPY_MEMCPY, k);
}

uint64_t hit_loop_storage(struct hit_ctx *h, int arg, uint64_t k)
{
	(void)arg;
	if (h->len != h->page)
		die("copies from DAX storage are of one page");
	return hit_copy_loop(h, NULL, COPY_STORAGE, k);
}

struct hit_worker {
	struct pcb_thread t;
	int fd;
	struct pc_mapping *m;		/* NULL: the baseline, pread instead of pc_fault */
	const uint64_t *offs;		/* this thread's slice of the offsets */
	uint64_t mask;			/* slice length - 1 */
};

static uint64_t hit_worker_loop(struct pcb_thread *t, uint64_t k)
{
	struct hit_worker *w = pcb_container_of(t, struct hit_worker, t);

	if (!w->m)
		return hit_pread_loop(w->fd, w->offs, w->mask, k);
	return hit_fault_loop(w->m, w->offs, w->mask, k);
}

/* @k hits of @m (NULL: pread) split over @nthreads threads; wall time. */
static uint64_t hit_threads(struct hit_ctx *h, struct pc_mapping *m, unsigned nthreads,
			    uint64_t k)
{
	struct hit_worker w[HIT_MAX_THREADS];
	struct pcb_thread *ts[HIT_MAX_THREADS];
	uint64_t slice;

	if (nthreads < 1 || nthreads > HIT_MAX_THREADS)
		die("%u threads: 1 to %d", nthreads, HIT_MAX_THREADS);
	slice = HIT_NR_OFFSETS / nthreads;
	for (unsigned i = 0; i < nthreads; i++) {
		w[i] = (struct hit_worker){
			.t = { .loop = hit_worker_loop, .ops = k / nthreads },
			.fd = h->fd,
			.m = m,
			.offs = h->offs + i * slice,
			.mask = slice - 1,
		};
		ts[i] = &w[i].t;
	}
	return pcb_threads_run(ts, nthreads);
}

uint64_t hit_run_threads(struct hit_ctx *h, int arg, uint64_t k)
{
	return hit_threads(h, h->m, (unsigned)arg, k);
}

uint64_t hit_run_dax_threads(struct hit_ctx *h, int arg, uint64_t k)
{
	return hit_threads(h, h->dax, (unsigned)arg, k);
}

uint64_t hit_run_pread_threads(struct hit_ctx *h, int arg, uint64_t k)
{
	return hit_threads(h, NULL, (unsigned)arg, k);
}

/* One run of @v: @k operations; nanoseconds. */
static uint64_t hit_time(struct hit_ctx *h, const struct hit_variant *v, uint64_t k)
{
	uint64_t t0, sum;

	if (v->run)
		return v->run(h, v->arg, k);
	t0 = now_ns();
	sum = v->loop(h, v->arg, k);
	t0 = now_ns() - t0;
	pcb_sink += sum;
	return t0;
}

/*
 * Operations per run so that @v takes about @seconds.  Doubles a trial
 * count until a trial lasts 1/10 of the target, then scales from the
 * fastest of three trials of that count; the trials also warm up the
 * caches and the branch predictors.  A multiple of 4, for
 * the split over two or four threads.
 */
static uint64_t hit_calibrate(struct hit_ctx *h, const struct hit_variant *v, double seconds)
{
	double target = seconds * 1e9;
	uint64_t k = 1024, t;
	double ops;

	for (;;) {
		t = hit_time(h, v, k);
		if (t >= target / 10 || k >= (1ull << 40))
			break;
		k *= 2;
	}
	/* Two more trials of that count, keeping the fastest: one preemption
	 * during the last trial must not shrink every run that follows. */
	for (int i = 0; i < 2; i++) {
		uint64_t t2 = hit_time(h, v, k);

		t = t2 < t ? t2 : t;
	}
	ops = target * (double)k / (double)(t ? t : 1);
	if (ops < 2)
		ops = 2;
	return ((uint64_t)ops + 3) & ~3ull;
}

/* Value of one run: ns/op, or aggregate Mops/s for throughput variants. */
static double hit_value(uint64_t ns, uint64_t ops, bool throughput)
{
	if (!ns)
		ns = 1;
	return throughput ? (double)ops * 1e3 / (double)ns : (double)ns / (double)ops;
}

/*
 * Time the @n variants of @vs in turn (1, 2, .., n, 1, 2, ...) for o->runs
 * rounds, so that drift of the machine lands on all of them alike.  @unit
 * NULL: "Mops/s" for @throughput, else "ns/op".
 */
void hit_group(struct hit_ctx *h, const struct pcb_opts *o, struct pcb_report *rep,
	       const struct hit_variant *vs, unsigned n, bool throughput, const char *unit)
{
	struct pcb_variant *v[PCB_MAX_VARIANTS];

	if (!unit)
		unit = throughput ? "Mops/s" : "ns/op";
	for (unsigned j = 0; j < n; j++)
		v[j] = report_variant(rep, vs[j].name, unit, o->runs);
	for (unsigned j = 0; j < n; j++)
		if (!vs[j].k_of)
			v[j]->ops = hit_calibrate(h, &vs[j], o->seconds);
	for (unsigned j = 0; j < n; j++) {
		if (vs[j].k_of) {
			v[j]->ops = v[vs[j].k_of - 1]->ops;
			hit_time(h, &vs[j], v[j]->ops / 10 + 2);	/* warm-up */
		}
	}
	for (unsigned i = 0; i < o->runs; i++)
		for (unsigned j = 0; j < n; j++)
			v[j]->runs[v[j]->nruns++] =
				hit_value(hit_time(h, &vs[j], v[j]->ops), v[j]->ops, throughput);
	for (unsigned j = 0; j < n; j++)
		variant_summarise(v[j]);
}

/* Create the tmpfs copy in /dev/shm, or /tmp if that fails. */
int hit_tmpfile(char *path, size_t size, bool *is_tmpfs)
{
	static const char *const dirs[] = { "/dev/shm", "/tmp" };
	struct statfs sf;
	int fd = -1;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && fd < 0; i++) {
		snprintf(path, size, "%s/pcbench-hit-XXXXXX", dirs[i]);
		fd = mkstemp(path);
	}
	if (fd < 0)
		die("creating a file in /dev/shm or /tmp: %s", strerror(errno));
	*is_tmpfs = fstatfs(fd, &sf) == 0 && sf.f_type == TMPFS_MAGIC;
	return fd;
}

void hit_setup(struct hit_ctx *h, struct pc_cache **c, struct pc_backend **b,
	       struct pcb_report *rep)
{
	const size_t chunk = PCB_MIB;
	unsigned char *scratch;
	char path[64];
	struct pc_stats st;
	bool is_tmpfs;
	uint64_t seed;

	/* Content: the same pseudo-random bytes in all three copies. */
	h->plain = xmalloc_aligned(h->page, h->size);
	seed = ~HIT_SEED;
	for (uint64_t i = 0; i < h->size / 8; i++)
		((uint64_t *)h->plain)[i] = xorshift64s(&seed);
	h->buf = xmalloc_aligned(h->page, HIT_MAX_COPY);
	scratch = xmalloc_aligned(h->page, chunk);

	/* The cache: write every page, write it back, check all are cached. */
	check(pc_cache_new(c, h->size + HIT_SLACK + h->extra), "pc_cache_new");
	if (!*b)	/* else the caller's backend ("dax": pmem) */
		check(pc_backend_ram_new(b, h->size + HIT_SLACK + h->extra),
		      "pc_backend_ram_new");
	check(pc_open(&h->m, *c, *b, HIT_OBJECT, PC_CREAT | PC_TRUNC), "pc_open");
	pcb_write_sync(h->m, h->plain, h->size);
	check(pc_stats(*c, &st, sizeof(st)), "pc_stats");
	if (st.pages_cached != h->size / h->page)
		die("%" PRIu64 " pages cached, expected %" PRIu64, st.pages_cached,
		    h->size / h->page);
	pcb_read_check(h->m, h->plain, h->size, HIT_OBJECT);

	/*
	 * The tmpfs copy.  It is unlinked at once, so that an exit on error
	 * cannot leave the object's size in /dev/shm; the fd keeps it alive.
	 */
	h->fd = -1;
	if (h->no_tmpfs)
		goto offsets;
	h->fd = hit_tmpfile(path, sizeof(path), &is_tmpfs);
	if (unlink(path))
		die("unlink %s: %s", path, strerror(errno));
	for (uint64_t off = 0; off < h->size;) {
		ssize_t r = pwrite(h->fd, h->plain + off, h->size - off, (off_t)off);

		if (r <= 0)
			die("writing %s: %s", path, r < 0 ? strerror(errno) : "no progress");
		off += (uint64_t)r;
	}
	/* Read it fully once, so it is in the kernel's page cache; check it. */
	for (uint64_t off = 0; off < h->size;) {
		ssize_t r = pread(h->fd, scratch, chunk, (off_t)off);

		if (r <= 0)
			die("reading %s: %s", path, r < 0 ? strerror(errno) : "early EOF");
		if (memcmp(scratch, h->plain + off, (size_t)r))
			die("%s does not hold what was written", path);
		off += (uint64_t)r;
	}
	report_param(rep, "file", false, "%s%s", path,
		     is_tmpfs ? " (tmpfs, unlinked)" : " (not tmpfs, unlinked)");

offsets:
	free(scratch);
	/* The random page offsets every variant walks; copies of a page use them too. */
	h->offs = xmalloc_aligned(64, HIT_NR_OFFSETS * sizeof(*h->offs));
	seed = HIT_SEED;
	for (uint64_t i = 0; i < HIT_NR_OFFSETS; i++)
		h->offs[i] = (xorshift64s(&seed) % (h->size / h->page)) * h->page;
	h->len = h->page;
	h->copy_offs = h->offs;
}

void hit_teardown(struct hit_ctx *h, struct pc_cache **c, struct pc_backend **b)
{
	if (h->fd >= 0 && close(h->fd))
		die("close: %s", strerror(errno));
	check(pc_close(&h->m), "pc_close");
	check(pc_backend_unlink(*b, HIT_OBJECT), "pc_backend_unlink");
	pc_backend_delete(b);
	pc_cache_delete(c);
	free(h->offs);
	free(h->buf);
	free(h->plain);
}

/*
 * The object size from --size, or @def (@quick with --quick), checked, and
 * the parameters every scenario built on hit_setup() reports.
 */
void hit_init(struct hit_ctx *h, const struct pcb_opts *o, struct pcb_report *rep,
	      uint64_t def, uint64_t quick)
{
	h->fd = -1;
	h->page = pc_page_size();
	h->size = o->size ? o->size : o->quick ? quick : def;
	if (h->size < h->page || h->size % h->page)
		die("--size must be a positive multiple of the page size (%zu)", h->page);
	if (h->size > SIZE_MAX / 2)
		die("--size too large");
	report_param(rep, "size", true, "%" PRIu64, h->size);
	report_param(rep, "pages", true, "%" PRIu64, h->size / h->page);
	report_param(rep, "offsets", true, "%u", HIT_NR_OFFSETS);
	report_param(rep, "seed", false, "0x%" PRIx64, (uint64_t)HIT_SEED);
}

/* Die if @c took a miss or a fill since @before: every access was to hit. */
void hit_check_no_miss(struct pc_cache *c, const struct pc_stats *before,
		       struct pcb_report *rep)
{
	struct pc_stats after;

	check(pc_stats(c, &after, sizeof(after)), "pc_stats");
	if (after.misses != before->misses || after.fills != before->fills)
		die("%" PRIu64 " misses during timing: not every access was a hit",
		    after.misses - before->misses);
	/* Counted over calibration and runs: every pc_* access hit. */
	report_param(rep, "hits", true, "%" PRIu64, after.hits - before->hits);
	report_param(rep, "misses", true, "%" PRIu64, after.misses - before->misses);
}

