/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pcbench: micro-benchmarks of libpagecache, through its public API only.
 *
 * Usage: pcbench SCENARIO [--runs N] [--seconds S] [--size BYTES] [--quick]
 *                         [--json FILE]
 *        pcbench list
 *
 * Each scenario is one function in pcb_scenarios[].  It sets up its own
 * objects, times its variants and fills a struct pcb_report; main() prints
 * the report as a table (and as JSON with --json), so a new scenario only
 * has to measure.
 *
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
 *
 * Scenario "fileio": the two ways the file backend (lib/backend_file.c) can
 * do a vectored batch, measured directly, not through the library (the ops
 * table is private): 8 I/Os of 16 pages (64 KiB, as 16 page iovecs) at
 * random 64 KiB-aligned offsets of a 256 MiB file (--quick: 32 MiB) in
 * /var/tmp (the file system is reported; tmpfs would measure memcpy),
 *   A  io_uring: the 8 readv/writev SQEs in one io_uring_submit(), then the
 *      8 completions reaped, as file_ring_batch() does;
 *   B  the same 8 I/Os as preadv/pwritev, one after another, as file_rw().
 * Pairs 1 (writes) and 2 (reads) are buffered, the backend's default; the
 * file is in the kernel's page cache, so they measure per-call overheads.
 * Pairs 3 and 4 repeat them on an O_DIRECT fd (PC_FILE_DIRECT), where the 8
 * I/Os reach the device and io_uring can keep them in flight together.
 * Built only where liburing is found (as the backend's ring is).
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
 *
 * How results are taken.  The two variants of a pair run alternately (A, B,
 * A, B, ...) for --runs rounds, so slow drift of the machine (frequency,
 * neighbours on a shared host) lands on both alike.  Each run records its
 * own ns/op (or Mops/s); a variant reports the median of its runs and their
 * min and max as the spread.  A ratio is the ratio of the two medians, not
 * the median of per-round ratios.  The machine may be shared: the header
 * shows how much CPU other processes and the hypervisor took meanwhile, so
 * a noisy result says so.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include <limits.h>
#include <sys/uio.h>
#ifdef PC_HAVE_URING
#include <liburing.h>
#endif

#include <pagecache.h>

#define PCB_MIB			(1ull << 20)
#define PCB_MAX_VARIANTS	16
#define PCB_MAX_RATIOS		8
#define PCB_MAX_PARAMS		16
#define PCB_MAX_RUNS		1000
#define PCB_DEFAULT_RUNS	7
#define PCB_QUICK_RUNS		3
#define PCB_DEFAULT_SECONDS	0.3

#define pcb_unlikely(x) __builtin_expect(!!(x), 0)

/* Keeps results alive: the compiler must assume someone reads it. */
static volatile uint64_t pcb_sink;

/* ---- Options, reports and the scenario table ---- */

struct pcb_opts {
	unsigned runs;		/* rounds of alternation */
	double seconds;		/* target length of one run */
	uint64_t size;		/* object size in bytes; 0: the scenario's default */
	bool quick;		/* a smaller, shorter set, for `meson test --benchmark` */
	const char *json;	/* write the report here as JSON too */
};

struct pcb_variant {
	const char *name;
	const char *unit;	/* "ns/op" (lower is better) or "Mops/s" (higher) */
	uint64_t ops;		/* operations per run */
	double *runs;		/* one value per run, in run order */
	unsigned nruns;
	double median, min, max;
};

struct pcb_ratio {
	const char *name;
	const char *formula;	/* which medians, e.g. "B1 / A1" */
	double value;
	double goal;		/* met when value >= goal; 0: no goal, for reference */
};

struct pcb_param {
	const char *key;
	char val[128];
	bool number;		/* emit unquoted in JSON */
};

struct pcb_report {
	const char *scenario;
	struct pcb_param params[PCB_MAX_PARAMS];
	unsigned nparams;
	struct pcb_variant variants[PCB_MAX_VARIANTS];
	unsigned nvariants;
	struct pcb_ratio ratios[PCB_MAX_RATIOS];
	unsigned nratios;
};

struct pcb_scenario {
	const char *name;
	void (*fn)(const struct pcb_opts *o, struct pcb_report *rep);
	const char *description;
};

static void scenario_hit(const struct pcb_opts *o, struct pcb_report *rep);
static void scenario_fileio(const struct pcb_opts *o, struct pcb_report *rep);

static const struct pcb_scenario pcb_scenarios[] = {
	{ "hit", scenario_hit,
	  "cache hits at random pages of a fully cached object: pc_fault+put vs "
	  "pread of tmpfs, pc_read 4K vs memcpy, 1 vs 2 threads" },
	{ "fileio", scenario_fileio,
	  "file backend batches: 8 x 64 KiB vectored I/Os by one io_uring submit vs "
	  "preadv/pwritev one by one, buffered and O_DIRECT" },
};

/* ---- Helpers ---- */

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("pcbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Check the return of a pc_* call (or a negated errno) and stop on error. */
static long long check(long long r, const char *what)
{
	if (r < 0)
		die("%s: %s", what, strerror((int)-r));
	return r;
}

static void *xmalloc_aligned(size_t align, size_t size)
{
	void *p;
	int r = posix_memalign(&p, align, size);

	if (r)
		die("allocating %zu bytes: %s", size, strerror(r));
	return p;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: fast, fixed sequence for a fixed seed. */
static uint64_t xorshift64s(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median, min and max of the runs of @v. */
static void variant_summarise(struct pcb_variant *v)
{
	double *s;
	unsigned n = v->nruns;

	if (!n)
		return;
	s = malloc(n * sizeof(*s));
	if (!s)
		die("out of memory");
	memcpy(s, v->runs, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	v->min = s[0];
	v->max = s[n - 1];
	v->median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
}

static struct pcb_variant *report_variant(struct pcb_report *rep, const char *name,
					  const char *unit, unsigned runs)
{
	struct pcb_variant *v;

	if (rep->nvariants == PCB_MAX_VARIANTS)
		die("too many variants");
	v = &rep->variants[rep->nvariants++];
	v->name = name;
	v->unit = unit;
	v->runs = calloc(runs, sizeof(*v->runs));
	if (!v->runs)
		die("out of memory");
	return v;
}

static void report_ratio(struct pcb_report *rep, const char *name, const char *formula,
			 double value, double goal)
{
	struct pcb_ratio *r;

	if (rep->nratios == PCB_MAX_RATIOS)
		die("too many ratios");
	r = &rep->ratios[rep->nratios++];
	r->name = name;
	r->formula = formula;
	r->value = value;
	r->goal = goal;
}

static void __attribute__((format(printf, 4, 5)))
report_param(struct pcb_report *rep, const char *key, bool number, const char *fmt, ...)
{
	struct pcb_param *p;
	va_list ap;

	if (rep->nparams == PCB_MAX_PARAMS)
		die("too many parameters");
	p = &rep->params[rep->nparams++];
	p->key = key;
	p->number = number;
	va_start(ap, fmt);
	vsnprintf(p->val, sizeof(p->val), fmt, ap);
	va_end(ap);
}

static const char *report_param_get(const struct pcb_report *rep, const char *key)
{
	for (unsigned i = 0; i < rep->nparams; i++)
		if (!strcmp(rep->params[i].key, key))
			return rep->params[i].val;
	return NULL;
}

/* ---- Machine facts ---- */

struct pcb_machine {
	long nproc;
	char cpu[128];
	char date[64];
	char kernel[200];
	char thp[64];
	double other_cores;	/* CPU used by other processes during the scenario */
	double steal_cores;	/* CPU the hypervisor took, likewise */
};

/*
 * The machine is shared: other processes' CPU time during the scenario
 * makes results noisy, and it must show.  Busy and steal time of all CPUs
 * from /proc/stat, in seconds; our own share comes from getrusage().
 */
struct pcb_load {
	double busy, steal, self, wall;
};

static void load_sample(struct pcb_load *l)
{
	unsigned long long v[8] = { 0 };
	double tck = (double)sysconf(_SC_CLK_TCK);
	struct rusage ru;
	FILE *f = fopen("/proc/stat", "r");

	/* user nice system idle iowait irq softirq steal */
	if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
			 &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8)
		memset(v, 0, sizeof(v));
	if (f)
		fclose(f);
	l->busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6]) / tck;
	l->steal = (double)v[7] / tck;
	getrusage(RUSAGE_SELF, &ru);
	l->self = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		  (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	l->wall = (double)now_ns() / 1e9;
}

static void load_account(struct pcb_machine *mc, const struct pcb_load *a,
			 const struct pcb_load *b)
{
	double wall = b->wall - a->wall;
	double other = (b->busy - a->busy) - (b->self - a->self);

	if (wall <= 0)
		return;
	mc->other_cores = other > 0 ? other / wall : 0;
	mc->steal_cores = (b->steal - a->steal) / wall;
}

/* The "model name" of the first CPU in /proc/cpuinfo. */
static void read_cpuinfo_model(char *out, size_t size)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(out, size, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon;

		if (strncmp(line, "model name", 10))
			continue;
		colon = strchr(line, ':');
		if (!colon)
			continue;
		colon++;
		while (*colon == ' ' || *colon == '\t')
			colon++;
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(out, size, "%s", colon);
		break;
	}
	fclose(f);
}

/* The selected value of a sysfs choice file, "always [madvise] never". */
static void read_thp(char *out, size_t size)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char line[256], *open, *close;

	snprintf(out, size, "unknown");
	if (!f)
		return;
	if (fgets(line, sizeof(line), f)) {
		open = strchr(line, '[');
		close = open ? strchr(open, ']') : NULL;
		if (open && close) {
			*close = '\0';
			snprintf(out, size, "%s", open + 1);
		}
	}
	fclose(f);
}

static void machine_facts(struct pcb_machine *mc)
{
	struct utsname u;
	time_t t = time(NULL);
	struct tm tm;

	mc->nproc = sysconf(_SC_NPROCESSORS_ONLN);
	read_cpuinfo_model(mc->cpu, sizeof(mc->cpu));
	read_thp(mc->thp, sizeof(mc->thp));
	if (localtime_r(&t, &tm))
		strftime(mc->date, sizeof(mc->date), "%Y-%m-%d %H:%M:%S %Z", &tm);
	else
		snprintf(mc->date, sizeof(mc->date), "unknown");
	if (uname(&u) == 0)
		snprintf(mc->kernel, sizeof(mc->kernel), "%s %s %s", u.sysname, u.release,
			 u.machine);
	else
		snprintf(mc->kernel, sizeof(mc->kernel), "unknown");
}

/* ---- Scenario "hit" ---- */

#define HIT_DEFAULT_SIZE	(256 * PCB_MIB)
#define HIT_QUICK_SIZE		(64 * PCB_MIB)
#define HIT_SLACK		(16 * PCB_MIB)	/* cache and device beyond the object */
#define HIT_NR_OFFSETS		(1u << 20)	/* a power of two: walks wrap with a mask */
#define HIT_SEED		0x5eed5eed5eed5eedull
#define HIT_OBJECT		"pcbench-hit"
#define HIT_MAX_THREADS		2

struct hit_ctx {
	struct pc_mapping *m;
	int fd;				/* the tmpfs copy */
	unsigned char *plain;		/* the plain copy, page-aligned */
	unsigned char *buf;		/* destination of the 4 KiB copies */
	uint64_t size;
	size_t page;			/* pc_page_size() */
	uint64_t *offs;			/* HIT_NR_OFFSETS random page offsets */
};

/*
 * The A1 loop, shared with the threaded variants: @k hits at @offs[i & @mask],
 * reading one byte of each pinned page.
 */
static uint64_t hit_fault_loop(struct pc_mapping *m, const uint64_t *offs, uint64_t mask,
			       uint64_t k)
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

/* The B1 loop, shared with the threaded baseline (B3). */
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

static uint64_t hit_run_fault(struct hit_ctx *h, uint64_t k)
{
	uint64_t t0 = now_ns(), sum;

	sum = hit_fault_loop(h->m, h->offs, HIT_NR_OFFSETS - 1, k);
	t0 = now_ns() - t0;
	pcb_sink += sum;
	return t0;
}

static uint64_t hit_run_pread(struct hit_ctx *h, uint64_t k)
{
	uint64_t t0 = now_ns(), sum;

	sum = hit_pread_loop(h->fd, h->offs, HIT_NR_OFFSETS - 1, k);
	t0 = now_ns() - t0;
	pcb_sink += sum;
	return t0;
}

static uint64_t hit_run_pcread(struct hit_ctx *h, uint64_t k)
{
	uint64_t t0 = now_ns(), sum = 0;

	for (uint64_t i = 0; i < k; i++) {
		ssize_t r = pc_read(h->m, h->buf, h->page, h->offs[i & (HIT_NR_OFFSETS - 1)], 0);

		if (pcb_unlikely(r != (ssize_t)h->page)) {
			check(r, "pc_read");
			die("pc_read: short read of %zd bytes", r);
		}
		__asm__ __volatile__("" : : "r"(h->buf) : "memory");
		sum += h->buf[i & (h->page - 1)];
	}
	t0 = now_ns() - t0;
	pcb_sink += sum;
	return t0;
}

static uint64_t hit_run_memcpy(struct hit_ctx *h, uint64_t k)
{
	uint64_t t0 = now_ns(), sum = 0;

	for (uint64_t i = 0; i < k; i++) {
		memcpy(h->buf, h->plain + h->offs[i & (HIT_NR_OFFSETS - 1)], h->page);
		/* As pc_read() is opaque to the compiler, so must this copy be. */
		__asm__ __volatile__("" : : "r"(h->buf) : "memory");
		sum += h->buf[i & (h->page - 1)];
	}
	t0 = now_ns() - t0;
	pcb_sink += sum;
	return t0;
}

struct hit_worker {
	struct hit_ctx *h;
	const uint64_t *offs;		/* this thread's slice of the offsets */
	uint64_t mask;			/* slice length - 1 */
	uint64_t ops;
	bool pread;			/* the B3 baseline: pread instead of pc_fault */
	pthread_barrier_t *start;
	uint64_t t0, t1;
	uint64_t sum;
};

static uint64_t hit_worker_loop(struct hit_worker *w, uint64_t k)
{
	if (w->pread)
		return hit_pread_loop(w->h->fd, w->offs, w->mask, k);
	return hit_fault_loop(w->h->m, w->offs, w->mask, k);
}

static void *hit_worker_fn(void *arg)
{
	struct hit_worker *w = arg;

	/* One hit before the clock starts: the library registers the thread. */
	w->sum = hit_worker_loop(w, 1);
	pthread_barrier_wait(w->start);
	w->t0 = now_ns();
	w->sum += hit_worker_loop(w, w->ops);
	w->t1 = now_ns();
	return NULL;
}

/* @k hits split over @nthreads threads, each on its own slice; wall time. */
static uint64_t hit_run_threads(struct hit_ctx *h, uint64_t k, unsigned nthreads, bool pread)
{
	struct hit_worker w[HIT_MAX_THREADS];
	pthread_t tid[HIT_MAX_THREADS];
	pthread_barrier_t start;
	uint64_t slice = HIT_NR_OFFSETS / nthreads, t0 = UINT64_MAX, t1 = 0;
	int r;

	r = pthread_barrier_init(&start, NULL, nthreads);
	if (r)
		die("pthread_barrier_init: %s", strerror(r));
	for (unsigned i = 0; i < nthreads; i++) {
		w[i] = (struct hit_worker){
			.h = h,
			.offs = h->offs + i * slice,
			.mask = slice - 1,
			.ops = k / nthreads,
			.pread = pread,
			.start = &start,
		};
		r = pthread_create(&tid[i], NULL, hit_worker_fn, &w[i]);
		if (r)
			die("pthread_create: %s", strerror(r));
	}
	for (unsigned i = 0; i < nthreads; i++) {
		r = pthread_join(tid[i], NULL);
		if (r)
			die("pthread_join: %s", strerror(r));
		t0 = w[i].t0 < t0 ? w[i].t0 : t0;
		t1 = w[i].t1 > t1 ? w[i].t1 : t1;
		pcb_sink += w[i].sum;
	}
	pthread_barrier_destroy(&start);
	return t1 - t0;
}

static uint64_t hit_run_1thread(struct hit_ctx *h, uint64_t k)
{
	return hit_run_threads(h, k, 1, false);
}

static uint64_t hit_run_2threads(struct hit_ctx *h, uint64_t k)
{
	return hit_run_threads(h, k, 2, false);
}

static uint64_t hit_run_pread_1thread(struct hit_ctx *h, uint64_t k)
{
	return hit_run_threads(h, k, 1, true);
}

static uint64_t hit_run_pread_2threads(struct hit_ctx *h, uint64_t k)
{
	return hit_run_threads(h, k, 2, true);
}

typedef uint64_t (*hit_run_fn)(struct hit_ctx *h, uint64_t k);

/*
 * Operations per run so that @run takes about @seconds.  Doubles a trial
 * count until a trial lasts 1/10 of the target, then scales; the trials
 * also warm up the caches and the branch predictors.  Even, for the split
 * over two threads.
 */
static uint64_t hit_calibrate(struct hit_ctx *h, hit_run_fn run, double seconds)
{
	double target = seconds * 1e9;
	uint64_t k = 1024, t;
	double ops;

	for (;;) {
		t = run(h, k);
		if (t >= target / 10 || k >= (1ull << 40))
			break;
		k *= 2;
	}
	ops = target * (double)k / (double)(t ? t : 1);
	if (ops < 2)
		ops = 2;
	return ((uint64_t)ops + 1) & ~1ull;
}

/* Value of one run: ns/op, or aggregate Mops/s for throughput variants. */
static double hit_value(uint64_t ns, uint64_t ops, bool throughput)
{
	if (!ns)
		ns = 1;
	return throughput ? (double)ops * 1e3 / (double)ns : (double)ns / (double)ops;
}

/*
 * Time the pair (@a, @b) alternately for o->runs rounds.  With @shared_k
 * both run @a's calibrated count (the thread pair: same total work).
 */
static void hit_pair(struct hit_ctx *h, const struct pcb_opts *o, struct pcb_report *rep,
		     const char *name_a, hit_run_fn a, const char *name_b, hit_run_fn b,
		     bool throughput, bool shared_k)
{
	const char *unit = throughput ? "Mops/s" : "ns/op";
	struct pcb_variant *va = report_variant(rep, name_a, unit, o->runs);
	struct pcb_variant *vb = report_variant(rep, name_b, unit, o->runs);

	va->ops = hit_calibrate(h, a, o->seconds);
	vb->ops = shared_k ? va->ops : hit_calibrate(h, b, o->seconds);
	if (shared_k)
		b(h, vb->ops / 10 + 2);	/* warm-up */
	for (unsigned i = 0; i < o->runs; i++) {
		va->runs[va->nruns++] = hit_value(a(h, va->ops), va->ops, throughput);
		vb->runs[vb->nruns++] = hit_value(b(h, vb->ops), vb->ops, throughput);
	}
	variant_summarise(va);
	variant_summarise(vb);
}

/* Create the tmpfs copy in /dev/shm, or /tmp if that fails. */
static int hit_tmpfile(char *path, size_t size, bool *is_tmpfs)
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

static void hit_setup(struct hit_ctx *h, struct pc_cache **c, struct pc_backend **b,
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
	h->buf = xmalloc_aligned(h->page, h->page);
	scratch = xmalloc_aligned(h->page, chunk);

	/* The cache: write every page, write it back, check all are cached. */
	check(pc_cache_new(c, h->size + HIT_SLACK), "pc_cache_new");
	check(pc_backend_ram_new(b, h->size + HIT_SLACK), "pc_backend_ram_new");
	check(pc_open(&h->m, *c, *b, HIT_OBJECT, PC_CREAT | PC_TRUNC), "pc_open");
	for (uint64_t off = 0; off < h->size; off += chunk) {
		size_t n = h->size - off < chunk ? h->size - off : chunk;
		ssize_t r = pc_write(h->m, h->plain + off, n, off, 0);

		check(r, "pc_write");
		if ((size_t)r != n)
			die("pc_write: short write of %zd bytes at %" PRIu64, r, off);
	}
	check(pc_sync(h->m, 0, 0), "pc_sync");
	check(pc_stats(*c, &st, sizeof(st)), "pc_stats");
	if (st.pages_cached != h->size / h->page)
		die("%" PRIu64 " pages cached, expected %" PRIu64, st.pages_cached,
		    h->size / h->page);
	for (uint64_t off = 0; off < h->size; off += chunk) {
		size_t n = h->size - off < chunk ? h->size - off : chunk;
		ssize_t r = pc_read(h->m, scratch, n, off, 0);

		check(r, "pc_read");
		if ((size_t)r != n || memcmp(scratch, h->plain + off, n))
			die("pc_read at %" PRIu64 " does not return what was written", off);
	}

	/*
	 * The tmpfs copy.  It is unlinked at once, so that an exit on error
	 * cannot leave the object's size in /dev/shm; the fd keeps it alive.
	 */
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
	free(scratch);
	report_param(rep, "file", false, "%s%s", path,
		     is_tmpfs ? " (tmpfs, unlinked)" : " (not tmpfs, unlinked)");

	/* The random page offsets every variant walks. */
	h->offs = xmalloc_aligned(64, HIT_NR_OFFSETS * sizeof(*h->offs));
	seed = HIT_SEED;
	for (uint64_t i = 0; i < HIT_NR_OFFSETS; i++)
		h->offs[i] = (xorshift64s(&seed) % (h->size / h->page)) * h->page;
}

static void hit_teardown(struct hit_ctx *h, struct pc_cache **c, struct pc_backend **b)
{
	if (close(h->fd))
		die("close: %s", strerror(errno));
	check(pc_close(&h->m), "pc_close");
	check(pc_backend_unlink(*b, HIT_OBJECT), "pc_backend_unlink");
	pc_backend_delete(b);
	pc_cache_delete(c);
	free(h->offs);
	free(h->buf);
	free(h->plain);
}

static double median_of(const struct pcb_report *rep, const char *name)
{
	for (unsigned i = 0; i < rep->nvariants; i++)
		if (!strcmp(rep->variants[i].name, name))
			return rep->variants[i].median;
	die("no variant %s", name);
}

static void scenario_hit(const struct pcb_opts *o, struct pcb_report *rep)
{
	struct hit_ctx h = { .fd = -1 };
	struct pc_cache *c = NULL;
	struct pc_backend *b = NULL;
	struct pc_stats before, after;

	h.page = pc_page_size();
	h.size = o->size ? o->size : o->quick ? HIT_QUICK_SIZE : HIT_DEFAULT_SIZE;
	if (h.size < h.page || h.size % h.page)
		die("--size must be a positive multiple of the page size (%zu)", h.page);
	if (h.size > SIZE_MAX / 2)
		die("--size too large");
	report_param(rep, "size", true, "%" PRIu64, h.size);
	report_param(rep, "pages", true, "%" PRIu64, h.size / h.page);
	report_param(rep, "offsets", true, "%u", HIT_NR_OFFSETS);
	report_param(rep, "seed", false, "0x%" PRIx64, (uint64_t)HIT_SEED);

	hit_setup(&h, &c, &b, rep);
	check(pc_stats(c, &before, sizeof(before)), "pc_stats");

	hit_pair(&h, o, rep, "A1 fault+put", hit_run_fault, "B1 pread 1B", hit_run_pread,
		 false, false);
	hit_pair(&h, o, rep, "A2 pc_read 4K", hit_run_pcread, "B2 memcpy 4K", hit_run_memcpy,
		 false, false);
	hit_pair(&h, o, rep, "A3 fault+put 1 thread", hit_run_1thread,
		 "A3 fault+put 2 threads", hit_run_2threads, true, true);
	hit_pair(&h, o, rep, "B3 pread 1B 1 thread", hit_run_pread_1thread,
		 "B3 pread 1B 2 threads", hit_run_pread_2threads, true, true);

	check(pc_stats(c, &after, sizeof(after)), "pc_stats");
	if (after.misses != before.misses || after.fills != before.fills)
		die("%" PRIu64 " misses during timing: not every access was a hit",
		    after.misses - before.misses);
	/* Counted over calibration and runs: every pc_* access hit. */
	report_param(rep, "hits", true, "%" PRIu64, after.hits - before.hits);
	report_param(rep, "misses", true, "%" PRIu64, after.misses - before.misses);

	report_ratio(rep, "fault+put speedup over pread 1B", "B1 / A1",
		     median_of(rep, "B1 pread 1B") / median_of(rep, "A1 fault+put"), 20);
	report_ratio(rep, "pc_read 4K speed as a fraction of memcpy 4K", "B2 / A2",
		     median_of(rep, "B2 memcpy 4K") / median_of(rep, "A2 pc_read 4K"), 0.95);
	report_ratio(rep, "2-thread / 1-thread throughput (2 cores)", "A3(2) / A3(1)",
		     median_of(rep, "A3 fault+put 2 threads") /
			     median_of(rep, "A3 fault+put 1 thread"), 1.9);
	/* No goal: what this machine's two cores give the kernel's page cache. */
	report_ratio(rep, "pread 1B: 2-thread / 1-thread (machine)",
		     "B3(2) / B3(1)",
		     median_of(rep, "B3 pread 1B 2 threads") /
			     median_of(rep, "B3 pread 1B 1 thread"), 0);

	hit_teardown(&h, &c, &b);
}

/* ---- Scenario "fileio" ---- */

#define FIO_DEFAULT_SIZE	(256 * PCB_MIB)
#define FIO_QUICK_SIZE		(32 * PCB_MIB)
#define FIO_PAGE		4096u
#define FIO_PAGES		16			/* pages per I/O */
#define FIO_RUN			(FIO_PAGES * FIO_PAGE)	/* 64 KiB */
#define FIO_BATCH		8			/* I/Os per batch */
#define FIO_RING_ENTRIES	64			/* as the backend's ring */
#define FIO_NR_OFFSETS		(1u << 16)		/* a power of two */
#define FIO_SEED		0xf11e10f11e10ull

/* Without liburing there is nothing to compare: the scenario only says so. */
#ifdef PC_HAVE_URING
struct fio_ctx {
	int fd;				/* the fd this pair uses: buffered or O_DIRECT */
	bool write;
	uint64_t size;
	uint64_t *offs;			/* FIO_NR_OFFSETS random 64 KiB-aligned offsets */
	unsigned char *buf;		/* FIO_BATCH runs, page-aligned */
	struct iovec iov[FIO_BATCH][FIO_PAGES];	/* one iovec per page, as the library's */
	struct io_uring ring;
};

/* B: the 8 I/Os of batch @b with preadv/pwritev, one after another. */
static void fio_batch_sync(struct fio_ctx *h, uint64_t b)
{
	for (unsigned i = 0; i < FIO_BATCH; i++) {
		off_t off = (off_t)h->offs[(b * FIO_BATCH + i) & (FIO_NR_OFFSETS - 1)];
		ssize_t r = h->write ? pwritev(h->fd, h->iov[i], FIO_PAGES, off)
				     : preadv(h->fd, h->iov[i], FIO_PAGES, off);

		if (pcb_unlikely(r != FIO_RUN))
			die("%s: %s", h->write ? "pwritev" : "preadv",
			    r < 0 ? strerror(errno) : "short transfer");
	}
}

/* A: the same 8 I/Os as SQEs, one submit, then the 8 completions. */
static void fio_batch_ring(struct fio_ctx *h, uint64_t b)
{
	struct io_uring *ring = &h->ring;
	unsigned done = 0, queued = FIO_BATCH;

	for (unsigned i = 0; i < FIO_BATCH; i++) {
		uint64_t off = h->offs[(b * FIO_BATCH + i) & (FIO_NR_OFFSETS - 1)];
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

		if (pcb_unlikely(!sqe))
			die("io_uring: no free SQE");
		if (h->write)
			io_uring_prep_writev(sqe, h->fd, h->iov[i], FIO_PAGES, off);
		else
			io_uring_prep_readv(sqe, h->fd, h->iov[i], FIO_PAGES, off);
		io_uring_sqe_set_data64(sqe, i);
	}
	while (queued) {
		int r = io_uring_submit(ring);

		if (r < 0 && r != -EINTR)
			die("io_uring_submit: %s", strerror(-r));
		if (r > 0)
			queued -= (unsigned)r;
	}
	while (done < FIO_BATCH) {
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe(ring, &cqe);

		if (r == -EINTR)
			continue;
		if (r < 0)
			die("io_uring wait: %s", strerror(-r));
		if (pcb_unlikely(cqe->res != FIO_RUN))
			die("io_uring %s: %s", h->write ? "writev" : "readv",
			    cqe->res < 0 ? strerror(-cqe->res) : "short transfer");
		io_uring_cqe_seen(ring, cqe);
		done++;
	}
}

static bool fio_uring_setup(struct fio_ctx *h, char *why, size_t whylen)
{
	int r;

	r = io_uring_queue_init(FIO_RING_ENTRIES, &h->ring, 0);
	if (r < 0) {
		snprintf(why, whylen, "io_uring_queue_init: %s", strerror(-r));
		return false;
	}
	return true;
}

typedef void (*fio_batch_fn)(struct fio_ctx *h, uint64_t b);

/* @k batches from the start of the offsets; wall time in ns. */
static uint64_t fio_run(struct fio_ctx *h, fio_batch_fn fn, uint64_t k)
{
	uint64_t t0 = now_ns();

	for (uint64_t b = 0; b < k; b++)
		fn(h, b);
	return now_ns() - t0;
}

/* Batches per run so that @fn takes about @seconds (as hit_calibrate()). */
static uint64_t fio_calibrate(struct fio_ctx *h, fio_batch_fn fn, double seconds)
{
	double target = seconds * 1e9, ops;
	uint64_t k = 4, t;

	for (;;) {
		t = fio_run(h, fn, k);
		if (t >= target / 10 || k >= (1ull << 30))
			break;
		k *= 2;
	}
	ops = target * (double)k / (double)(t ? t : 1);
	return ops < 1 ? 1 : (uint64_t)ops;
}

static double fio_mbps(uint64_t ns, uint64_t batches)
{
	return (double)(batches * FIO_BATCH * FIO_RUN) * 1e3 / (double)(ns ? ns : 1);
}

/* Time @a and @b alternately, @fd and @write set for both. */
static void fio_pair(struct fio_ctx *h, const struct pcb_opts *o, struct pcb_report *rep,
		     int fd, bool write, const char *name_a, fio_batch_fn a,
		     const char *name_b, fio_batch_fn b)
{
	struct pcb_variant *va = report_variant(rep, name_a, "MB/s", o->runs);
	struct pcb_variant *vb = report_variant(rep, name_b, "MB/s", o->runs);

	h->fd = fd;
	h->write = write;
	va->ops = fio_calibrate(h, a, o->seconds);
	vb->ops = fio_calibrate(h, b, o->seconds);
	for (unsigned i = 0; i < o->runs; i++) {
		va->runs[va->nruns++] = fio_mbps(fio_run(h, a, va->ops), va->ops);
		vb->runs[vb->nruns++] = fio_mbps(fio_run(h, b, vb->ops), vb->ops);
	}
	variant_summarise(va);
	variant_summarise(vb);
	if (write && fdatasync(fd))
		die("fdatasync: %s", strerror(errno));
}

static const char *fio_fs_name(long type)
{
	switch (type) {
	case EXT4_SUPER_MAGIC: return "ext2/3/4";
	case XFS_SUPER_MAGIC: return "xfs";
	case BTRFS_SUPER_MAGIC: return "btrfs";
	case TMPFS_MAGIC: return "tmpfs";
	case OVERLAYFS_SUPER_MAGIC: return "overlay";
	default: return "other";
	}
}
#endif /* PC_HAVE_URING */

static void scenario_fileio(const struct pcb_opts *o, struct pcb_report *rep)
{
#ifndef PC_HAVE_URING
	(void)o;
	(void)rep;
	die("fileio: built without liburing");
#else
	static const char *const dirs[] = { "/var/tmp", "." };
	struct fio_ctx h = { .fd = -1 };
	char path[PATH_MAX], why[160];
	struct statfs sf;
	uint64_t seed;
	int fd = -1, dfd, derr;

	h.size = o->size ? o->size : o->quick ? FIO_QUICK_SIZE : FIO_DEFAULT_SIZE;
	if (h.size < FIO_RUN * FIO_BATCH || h.size % FIO_RUN)
		die("--size must be a multiple of 64 KiB, at least 512 KiB");
	if (!fio_uring_setup(&h, why, sizeof(why)))
		die("fileio: no io_uring: %s", why);
	report_param(rep, "size", true, "%" PRIu64, h.size);
	report_param(rep, "io", false, "%u I/Os x %u pages (%u KiB), 64 KiB-aligned random",
		     FIO_BATCH, FIO_PAGES, FIO_RUN / 1024);

	/* Not tmpfs: try /var/tmp, then the current (build) directory. */
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (fd >= 0)
			close(fd);
		snprintf(path, sizeof(path), "%s/pcbench-fileio-XXXXXX", dirs[i]);
		fd = mkstemp(path);
		if (fd >= 0 && fstatfs(fd, &sf) == 0 && sf.f_type != TMPFS_MAGIC)
			break;
		if (fd >= 0)
			unlink(path);
	}
	if (fd < 0)
		die("creating a file in /var/tmp or .: %s", strerror(errno));
	if (fstatfs(fd, &sf))
		die("fstatfs: %s", strerror(errno));
	report_param(rep, "file", false, "%s (%s, unlinked)", path, fio_fs_name((long)sf.f_type));
	/* A second fd for the O_DIRECT pairs, then unlink: the fds keep it. */
	dfd = open(path, O_RDWR | O_DIRECT);
	derr = errno;
	if (unlink(path))
		die("unlink %s: %s", path, strerror(errno));

	/* Content: the whole file written (allocated) and synced, then cached. */
	h.buf = xmalloc_aligned(FIO_PAGE, (size_t)FIO_BATCH * FIO_RUN);
	seed = FIO_SEED;
	for (size_t i = 0; i < (size_t)FIO_BATCH * FIO_RUN / 8; i++)
		((uint64_t *)h.buf)[i] = xorshift64s(&seed);
	for (uint64_t off = 0; off < h.size; off += FIO_BATCH * FIO_RUN)
		if (pwrite(fd, h.buf, FIO_BATCH * FIO_RUN, (off_t)off) != FIO_BATCH * FIO_RUN)
			die("writing %s: %s", path, strerror(errno));
	if (fsync(fd))
		die("fsync: %s", strerror(errno));
	for (unsigned i = 0; i < FIO_BATCH; i++)
		for (unsigned p = 0; p < FIO_PAGES; p++)
			h.iov[i][p] = (struct iovec){ h.buf + ((size_t)i * FIO_PAGES + p) * FIO_PAGE,
						      FIO_PAGE };
	h.offs = xmalloc_aligned(64, FIO_NR_OFFSETS * sizeof(*h.offs));
	seed = FIO_SEED;
	for (uint64_t i = 0; i < FIO_NR_OFFSETS; i++)
		h.offs[i] = (xorshift64s(&seed) % (h.size / FIO_RUN)) * FIO_RUN;

	fio_pair(&h, o, rep, fd, true, "A1 uring writev", fio_batch_ring,
		 "B1 pwritev", fio_batch_sync);
	fio_pair(&h, o, rep, fd, false, "A2 uring readv", fio_batch_ring,
		 "B2 preadv", fio_batch_sync);
	if (dfd >= 0) {
		fio_pair(&h, o, rep, dfd, true, "A3 uring writev direct", fio_batch_ring,
			 "B3 pwritev direct", fio_batch_sync);
		fio_pair(&h, o, rep, dfd, false, "A4 uring readv direct", fio_batch_ring,
			 "B4 preadv direct", fio_batch_sync);
	} else {
		report_param(rep, "direct", false, "O_DIRECT refused (%s): pairs 3, 4 not run",
			     strerror(derr));
	}

	/* No goals: these choose the backend's default, they do not judge it. */
	report_ratio(rep, "io_uring / one by one, buffered writes", "A1 / B1",
		     median_of(rep, "A1 uring writev") / median_of(rep, "B1 pwritev"), 0);
	report_ratio(rep, "io_uring / one by one, buffered reads", "A2 / B2",
		     median_of(rep, "A2 uring readv") / median_of(rep, "B2 preadv"), 0);
	if (dfd >= 0) {
		report_ratio(rep, "io_uring / one by one, O_DIRECT writes", "A3 / B3",
			     median_of(rep, "A3 uring writev direct") /
				     median_of(rep, "B3 pwritev direct"), 0);
		report_ratio(rep, "io_uring / one by one, O_DIRECT reads", "A4 / B4",
			     median_of(rep, "A4 uring readv direct") /
				     median_of(rep, "B4 preadv direct"), 0);
		close(dfd);
	}
	io_uring_queue_exit(&h.ring);
	close(fd);
	free(h.offs);
	free(h.buf);
#endif
}

/* ---- Output ---- */

static void print_report(const struct pcb_report *rep, const struct pcb_opts *o,
			 const struct pcb_machine *mc, const char *desc)
{
	const char *size = report_param_get(rep, "size");

	printf("pcbench %s: %s\n", rep->scenario, desc);
	printf("  %-12s nproc %ld (%ld cores), CPU %s\n", "machine", mc->nproc, mc->nproc,
	       mc->cpu);
	printf("  %-12s %s, THP %s, libpagecache %s\n", "system", mc->kernel, mc->thp,
	       pc_version());
	printf("  %-12s %s\n", "date", mc->date);
	printf("  %-12s %.2f cores busy with other processes, %.2f stolen (average over "
	       "the scenario)%s\n", "other load", mc->other_cores, mc->steal_cores,
	       mc->other_cores + mc->steal_cores > 0.1 ? ": RESULTS ARE NOISY" : "");
	if (size)
		printf("  %-12s %g MiB\n", "object", strtod(size, NULL) / PCB_MIB);
	printf("  %-12s %u%s, ~%.2f s per run, pairs alternate\n", "runs", o->runs,
	       o->quick ? " (quick)" : "", o->seconds);
	for (unsigned i = 0; i < rep->nparams; i++)
		if (strcmp(rep->params[i].key, "size"))
			printf("  %-12s %s\n", rep->params[i].key, rep->params[i].val);

	printf("\n%-24s %-7s %10s %21s %12s\n", "variant", "unit", "median", "min - max",
	       "ops/run");
	for (unsigned i = 0; i < rep->nvariants; i++) {
		const struct pcb_variant *v = &rep->variants[i];

		printf("%-24s %-7s %10.2f %10.2f - %-8.2f %12" PRIu64 "\n", v->name, v->unit,
		       v->median, v->min, v->max, v->ops);
	}

	printf("\n%-46s %-14s %8s %7s\n", "ratio of medians", "", "value", "goal");
	for (unsigned i = 0; i < rep->nratios; i++) {
		const struct pcb_ratio *r = &rep->ratios[i];

		if (r->goal > 0)
			printf("%-46s %-14s %8.2f %7.2f  %s\n", r->name, r->formula, r->value,
			       r->goal, r->value >= r->goal ? "met" : "NOT met");
		else
			printf("%-46s %-14s %8.2f %7s  %s\n", r->name, r->formula, r->value, "-",
			       "(reference)");
	}
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_number(FILE *f, double x)
{
	if (isfinite(x))
		fprintf(f, "%.6g", x);
	else
		fputs("null", f);
}

static void write_json(const char *path, const struct pcb_report *rep,
		       const struct pcb_opts *o, const struct pcb_machine *mc)
{
	FILE *f = fopen(path, "w");

	if (!f)
		die("%s: %s", path, strerror(errno));
	fputs("{\n  \"scenario\": ", f);
	json_string(f, rep->scenario);
	fputs(",\n  \"machine\": {\"nproc\": ", f);
	fprintf(f, "%ld, \"cpu\": ", mc->nproc);
	json_string(f, mc->cpu);
	fputs(", \"kernel\": ", f);
	json_string(f, mc->kernel);
	fputs(", \"thp\": ", f);
	json_string(f, mc->thp);
	fputs(", \"date\": ", f);
	json_string(f, mc->date);
	fputs(", \"libpagecache\": ", f);
	json_string(f, pc_version());
	fputs(", \"other_load_cores\": ", f);
	json_number(f, mc->other_cores);
	fputs(", \"steal_cores\": ", f);
	json_number(f, mc->steal_cores);
	fprintf(f, "},\n  \"params\": {\"runs\": %u, \"seconds\": ", o->runs);
	json_number(f, o->seconds);
	fprintf(f, ", \"quick\": %s", o->quick ? "true" : "false");
	for (unsigned i = 0; i < rep->nparams; i++) {
		fputs(", ", f);
		json_string(f, rep->params[i].key);
		fputs(": ", f);
		if (rep->params[i].number)
			fputs(rep->params[i].val, f);
		else
			json_string(f, rep->params[i].val);
	}
	fputs("},\n  \"variants\": [", f);
	for (unsigned i = 0; i < rep->nvariants; i++) {
		const struct pcb_variant *v = &rep->variants[i];

		fputs(i ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
		json_string(f, v->name);
		fputs(", \"unit\": ", f);
		json_string(f, v->unit);
		fprintf(f, ", \"ops_per_run\": %" PRIu64 ", \"runs\": [", v->ops);
		for (unsigned j = 0; j < v->nruns; j++) {
			if (j)
				fputs(", ", f);
			json_number(f, v->runs[j]);
		}
		fputs("], \"median\": ", f);
		json_number(f, v->median);
		fputs(", \"min\": ", f);
		json_number(f, v->min);
		fputs(", \"max\": ", f);
		json_number(f, v->max);
		fputc('}', f);
	}
	fputs("\n  ],\n  \"ratios\": [", f);
	for (unsigned i = 0; i < rep->nratios; i++) {
		const struct pcb_ratio *r = &rep->ratios[i];

		fputs(i ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
		json_string(f, r->name);
		fputs(", \"formula\": ", f);
		json_string(f, r->formula);
		fputs(", \"value\": ", f);
		json_number(f, r->value);
		if (r->goal > 0) {
			fputs(", \"goal\": ", f);
			json_number(f, r->goal);
			fprintf(f, ", \"met\": %s}", r->value >= r->goal ? "true" : "false");
		} else {
			fputs(", \"goal\": null, \"met\": null}", f);
		}
	}
	fputs("\n  ]\n}\n", f);
	if (fclose(f))
		die("%s: %s", path, strerror(errno));
}

/* ---- Command line ---- */

static void usage(FILE *f)
{
	fputs("usage: pcbench SCENARIO [--runs N] [--seconds S] [--size BYTES] [--quick]\n"
	      "                        [--json FILE]\n"
	      "       pcbench list\n"
	      "  --runs N      rounds of alternating runs (default 7; --quick: 3)\n"
	      "  --seconds S   target length of one run in seconds (default 0.3)\n"
	      "  --size BYTES  object size, suffix K, M or G allowed (default per scenario)\n"
	      "  --quick       a smaller object and fewer runs\n"
	      "  --json FILE   also write the results as JSON\n", f);
}

static void list_scenarios(void)
{
	for (size_t i = 0; i < sizeof(pcb_scenarios) / sizeof(pcb_scenarios[0]); i++)
		printf("%-8s %s\n", pcb_scenarios[i].name, pcb_scenarios[i].description);
}

static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		die("bad size: %s", s);
	switch (toupper((unsigned char)*end)) {
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case '\0':
		break;
	default:
		die("bad size: %s", s);
	}
	if (shift && end[1] && strcasecmp(end + 1, "iB") && strcasecmp(end + 1, "B"))
		die("bad size: %s", s);
	if (v > (UINT64_MAX >> shift))
		die("size too large: %s", s);
	return (uint64_t)v << shift;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "runs", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ "size", required_argument, NULL, 'z' },
		{ "quick", no_argument, NULL, 'q' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct pcb_opts o = { .seconds = PCB_DEFAULT_SECONDS };
	const struct pcb_scenario *sc = NULL;
	struct pcb_report *rep;
	struct pcb_machine mc = { 0 };
	struct pcb_load l0, l1;
	const char *name;
	unsigned long runs = 0;
	char *end;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			errno = 0;
			runs = strtoul(optarg, &end, 10);
			if (errno || *end || runs < 1 || runs > PCB_MAX_RUNS)
				die("--runs wants 1..%d", PCB_MAX_RUNS);
			break;
		case 's':
			o.seconds = strtod(optarg, &end);
			if (*end || !(o.seconds > 0) || o.seconds > 3600)
				die("--seconds wants a positive number of seconds");
			break;
		case 'z':
			o.size = parse_size(optarg);
			if (!o.size)
				die("--size must not be 0");
			break;
		case 'q':
			o.quick = true;
			break;
		case 'j':
			o.json = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 1;
	}
	name = argv[optind];
	if (!strcmp(name, "list")) {
		list_scenarios();
		return 0;
	}
	for (size_t i = 0; i < sizeof(pcb_scenarios) / sizeof(pcb_scenarios[0]); i++)
		if (!strcmp(pcb_scenarios[i].name, name))
			sc = &pcb_scenarios[i];
	if (!sc)
		die("unknown scenario %s (try: pcbench list)", name);
	o.runs = runs ? (unsigned)runs : o.quick ? PCB_QUICK_RUNS : PCB_DEFAULT_RUNS;

	rep = calloc(1, sizeof(*rep));
	if (!rep)
		die("out of memory");
	rep->scenario = sc->name;
	machine_facts(&mc);
	load_sample(&l0);
	sc->fn(&o, rep);
	load_sample(&l1);
	load_account(&mc, &l0, &l1);

	print_report(rep, &o, &mc, sc->description);
	if (o.json)
		write_json(o.json, rep, &o, &mc);
	for (unsigned i = 0; i < rep->nvariants; i++)
		free(rep->variants[i].runs);
	free(rep);
	return 0;
}
