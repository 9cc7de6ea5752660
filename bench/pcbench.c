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
 * Scenario "miss": cold reads from the file backend against pread() of the
 * same file (issue 3's figure).  One file of --size bytes (1 GiB; --quick:
 * 128 MiB) of pseudo-random bytes is written once and fsync'ed, on a disk
 * file system (the build directory if it is ext4, xfs or btrfs, else
 * /var/tmp; the type is reported).  The library reads it through two
 * mappings: a buffered file backend and a PC_FILE_DIRECT one, each with a
 * 64 MiB cache.  Every timed run, of either variant, starts cold: both
 * mappings' pages are dropped (pc_invalidate_range() under the exclusive
 * invalidate_lock), and the file is dropped from the kernel's page cache
 * (fdatasync() and posix_fadvise(DONTNEED); if that leaves pages behind,
 * "1" to /proc/sys/vm/drop_caches, where allowed).  Both ways are tried
 * once at setup, and before every run mincore() counts the file's pages
 * still in the kernel's cache; the report gives the worst count.
 *   A1 pc_read seq   pc_read() of 128 KiB from offset 0 on, buffered backend;
 *   B1 pread seq     pread() of 128 KiB on a buffered fd, the same reads.
 *   A2, B2           the same on the O_DIRECT backend and an O_DIRECT fd:
 *                    the cold case that a VM's drop cannot fake (its host
 *                    may still cache the disk image; nothing here can drop
 *                    that, and it applies to A and B alike).
 *   A3 pc_read rand 4K  pc_read() of 4 KiB at distinct 4 KiB blocks in a
 *                    random order (a permutation, so every read misses in
 *                    every cache), buffered; B3 the same with pread().
 *   A4, B4           the same on O_DIRECT.
 * A sequential run reads the whole file, or a prefix of it sized to take
 * about --seconds (default 1 s for this scenario); a random run is sized
 * the same way, at most one read per block.  Only pc_read() is called:
 * readahead, where the library has it, is its own doing (the report says
 * whether pc_readahead() is exported).  Sequential results are MB/s,
 * random ones thousands of reads per second.
 *
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
#include <dlfcn.h>
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
#include <sys/mman.h>
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
	bool failed;		/* a check of the library failed: exit 1 after the report */
};

struct pcb_scenario {
	const char *name;
	void (*fn)(const struct pcb_opts *o, struct pcb_report *rep);
	const char *description;
	double seconds;		/* default length of one run; 0: PCB_DEFAULT_SECONDS */
};

static void scenario_hit(const struct pcb_opts *o, struct pcb_report *rep);
static void scenario_fileio(const struct pcb_opts *o, struct pcb_report *rep);
static void scenario_miss(const struct pcb_opts *o, struct pcb_report *rep);
static void scenario_reclaim(const struct pcb_opts *o, struct pcb_report *rep);

static const struct pcb_scenario pcb_scenarios[] = {
	{ "hit", scenario_hit,
	  "cache hits at random pages of a fully cached object: pc_fault+put vs "
	  "pread of tmpfs, pc_read 4K vs memcpy, 1 vs 2 threads", 0 },
	{ "fileio", scenario_fileio,
	  "file backend batches: 8 x 64 KiB vectored I/Os by one io_uring submit vs "
	  "preadv/pwritev one by one, buffered and O_DIRECT", 0 },
	{ "miss", scenario_miss,
	  "cold reads of a disk file: pc_read through the file backend vs pread, "
	  "sequential 128 KiB and random 4 KiB, buffered and O_DIRECT", 1.0 },
	{ "reclaim", scenario_reclaim,
	  "random 4 KiB pc_read over an object twice the budget (RAM and file "
	  "backends, 1 and 2 threads) vs the same reads all hits", 1.0 },
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

/* The name of a statfs() f_type, for the report. */
static const char *pcb_fs_name(long type)
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
	report_param(rep, "file", false, "%s (%s, unlinked)", path, pcb_fs_name((long)sf.f_type));
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

/* ---- Scenarios "miss" and "reclaim": a directory on a disk ---- */

static bool pcb_disk_fs(long type)
{
	return type == EXT4_SUPER_MAGIC || type == XFS_SUPER_MAGIC || type == BTRFS_SUPER_MAGIC;
}

/*
 * A directory on a real disk file system for the file backend's objects:
 * the build directory (where this program lives) if it is ext4, xfs or
 * btrfs, else /var/tmp, which must not be tmpfs (it would measure memcpy).
 */
static void pcb_disk_dir(char *dir, size_t size, long *fs_type)
{
	char exe[PATH_MAX];
	struct statfs sf;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash && slash != exe) {
			*slash = '\0';
			if (statfs(exe, &sf) == 0 && pcb_disk_fs((long)sf.f_type) &&
			    snprintf(dir, size, "%s", exe) < (int)size) {
				*fs_type = (long)sf.f_type;
				return;
			}
		}
	}
	if (statfs("/var/tmp", &sf))
		die("statfs /var/tmp: %s", strerror(errno));
	if (sf.f_type == TMPFS_MAGIC)
		die("neither the build directory nor /var/tmp is on a disk file system");
	snprintf(dir, size, "/var/tmp");
	*fs_type = (long)sf.f_type;
}

/* ---- Scenario "miss" ---- */

#define MISS_DEFAULT_SIZE	(1024 * PCB_MIB)
#define MISS_QUICK_SIZE		(128 * PCB_MIB)
#define MISS_BUDGET		(64 * PCB_MIB)
#define MISS_SEQ_IO		(128u * 1024)	/* bytes per sequential read */
#define MISS_RAND_IO		4096u		/* bytes per random read */
#define MISS_CHUNK		PCB_MIB		/* unit of the initial write */
#define MISS_SEED		0x3155c01d3155c01dull

struct miss_ctx {
	uint64_t size;
	struct pc_mapping *m;		/* the pair's mapping: buffered or direct */
	int fd;				/* the pair's fd for pread: buffered or O_DIRECT */
	struct pc_mapping *mb, *md;	/* the buffered and the PC_FILE_DIRECT mapping */
	int bfd, dfd;			/* buffered and O_DIRECT fds of the file (-1: none) */
	unsigned char *buf;		/* MISS_SEQ_IO bytes, page-aligned for O_DIRECT */
	uint32_t *perm;			/* the file's 4 KiB blocks in random order */
	uint64_t nblocks;		/* size / MISS_RAND_IO */
	unsigned char *map;		/* the file mapped, for mincore() only: never touched */
	unsigned char *vec;		/* mincore() output, one byte per host page */
	uint64_t host_pages;
	bool use_fadvise;		/* the host drop each run uses: fadvise, */
	bool use_drop_caches;		/* or /proc/sys/vm/drop_caches */
	uint64_t resident_max;		/* host pages of the file left by a drop, worst run */
	uint64_t colds;			/* cold starts so far */
};

/* Host pages of the file in the kernel's page cache now. */
static uint64_t miss_resident(struct miss_ctx *h)
{
	uint64_t n = 0;

	if (mincore(h->map, h->size, h->vec))
		die("mincore: %s", strerror(errno));
	for (uint64_t i = 0; i < h->host_pages; i++)
		n += h->vec[i] & 1;
	return n;
}

/* Write "1" to /proc/sys/vm/drop_caches: 0 or a negative errno. */
static int miss_drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, "1", 1) != 1)
		r = -errno;
	close(fd);
	return r;
}

static int miss_fadvise(struct miss_ctx *h)
{
	if (fdatasync(h->bfd))
		die("fdatasync: %s", strerror(errno));
	return -posix_fadvise(h->bfd, 0, 0, POSIX_FADV_DONTNEED);
}

/* Drop every cached page of @m from the library's cache. */
static void miss_invalidate(struct pc_mapping *m)
{
	int r;

	pc_invalidate_lock(m);
	r = pc_invalidate_range(m, 0, 0);
	pc_invalidate_unlock(m);
	check(r, "pc_invalidate_range");
}

/*
 * Before every timed run, of either variant: nothing of the file in the
 * library's caches (both mappings) nor in the kernel's page cache, checked.
 */
static void miss_cold(struct miss_ctx *h)
{
	uint64_t res;

	miss_invalidate(h->mb);
	if (h->md)
		miss_invalidate(h->md);
	if (h->use_fadvise)
		check(miss_fadvise(h), "posix_fadvise");
	if (h->use_drop_caches)
		check(miss_drop_caches(), "writing /proc/sys/vm/drop_caches");
	res = miss_resident(h);
	if (res > h->resident_max)
		h->resident_max = res;
	h->colds++;
}

typedef void (*miss_io_fn)(struct miss_ctx *h, uint64_t k);

/* A1, A2: @k reads of 128 KiB from offset 0 on. */
static void miss_seq_pcread(struct miss_ctx *h, uint64_t k)
{
	for (uint64_t i = 0; i < k; i++) {
		ssize_t r = pc_read(h->m, h->buf, MISS_SEQ_IO, i * MISS_SEQ_IO, 0);

		if (pcb_unlikely(r != MISS_SEQ_IO)) {
			check(r, "pc_read");
			die("pc_read: short read of %zd bytes at %" PRIu64, r, i * MISS_SEQ_IO);
		}
	}
	pcb_sink += h->buf[k & (MISS_SEQ_IO - 1)];
}

/* B1, B2: the same reads with pread(). */
static void miss_seq_pread(struct miss_ctx *h, uint64_t k)
{
	for (uint64_t i = 0; i < k; i++) {
		ssize_t r = pread(h->fd, h->buf, MISS_SEQ_IO, (off_t)(i * MISS_SEQ_IO));

		if (pcb_unlikely(r != MISS_SEQ_IO))
			die("pread: %s", r < 0 ? strerror(errno) : "short read");
	}
	pcb_sink += h->buf[k & (MISS_SEQ_IO - 1)];
}

/* A3, A4: @k reads of 4 KiB at the first @k blocks of the permutation. */
static void miss_rand_pcread(struct miss_ctx *h, uint64_t k)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < k; i++) {
		uint64_t off = (uint64_t)h->perm[i] * MISS_RAND_IO;
		ssize_t r = pc_read(h->m, h->buf, MISS_RAND_IO, off, 0);

		if (pcb_unlikely(r != MISS_RAND_IO)) {
			check(r, "pc_read");
			die("pc_read: short read of %zd bytes at %" PRIu64, r, off);
		}
		sum += h->buf[i & (MISS_RAND_IO - 1)];
	}
	pcb_sink += sum;
}

/* B3, B4: the same reads with pread(). */
static void miss_rand_pread(struct miss_ctx *h, uint64_t k)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < k; i++) {
		ssize_t r = pread(h->fd, h->buf, MISS_RAND_IO,
				  (off_t)((uint64_t)h->perm[i] * MISS_RAND_IO));

		if (pcb_unlikely(r != MISS_RAND_IO))
			die("pread: %s", r < 0 ? strerror(errno) : "short read");
		sum += h->buf[i & (MISS_RAND_IO - 1)];
	}
	pcb_sink += sum;
}

/* One cold run of @k reads; the time of the reads alone, in ns. */
static uint64_t miss_run(struct miss_ctx *h, miss_io_fn fn, uint64_t k)
{
	uint64_t t0;

	miss_cold(h);
	t0 = now_ns();
	fn(h, k);
	return now_ns() - t0;
}

/*
 * Reads per run so that @fn takes about @seconds, at most @kmax (the whole
 * file, read once).  As hit_calibrate(), but every trial is cold too.
 */
static uint64_t miss_calibrate(struct miss_ctx *h, miss_io_fn fn, uint64_t kmax,
			       double seconds)
{
	double target = seconds * 1e9, ops;
	uint64_t k = 64, t;

	for (;;) {
		if (k > kmax)
			k = kmax;
		t = miss_run(h, fn, k);
		if (t >= target / 10 || k == kmax)
			break;
		k *= 2;
	}
	ops = target * (double)k / (double)(t ? t : 1);
	if (ops < 1)
		return 1;
	return ops > (double)kmax ? kmax : (uint64_t)ops;
}

/* MB/s for sequential reads (@io 128 KiB), kops/s for random ones. */
static double miss_value(uint64_t ns, uint64_t k, size_t io)
{
	if (!ns)
		ns = 1;
	if (io == MISS_SEQ_IO)
		return (double)(k * io) * 1e3 / (double)ns;
	return (double)k * 1e6 / (double)ns;
}

/* Time @a (pc_read on @m) and @b (pread on @fd) alternately, each run cold. */
static void miss_pair(struct miss_ctx *h, const struct pcb_opts *o, struct pcb_report *rep,
		      struct pc_mapping *m, int fd, size_t io, const char *name_a,
		      miss_io_fn a, const char *name_b, miss_io_fn b)
{
	const char *unit = io == MISS_SEQ_IO ? "MB/s" : "kops/s";
	uint64_t kmax = io == MISS_SEQ_IO ? h->size / MISS_SEQ_IO : h->nblocks;
	struct pcb_variant *va = report_variant(rep, name_a, unit, o->runs);
	struct pcb_variant *vb = report_variant(rep, name_b, unit, o->runs);

	h->m = m;
	h->fd = fd;
	va->ops = miss_calibrate(h, a, kmax, o->seconds);
	vb->ops = miss_calibrate(h, b, kmax, o->seconds);
	for (unsigned i = 0; i < o->runs; i++) {
		va->runs[va->nruns++] = miss_value(miss_run(h, a, va->ops), va->ops, io);
		vb->runs[vb->nruns++] = miss_value(miss_run(h, b, vb->ops), vb->ops, io);
	}
	variant_summarise(va);
	variant_summarise(vb);
}

/* pc_read() of @m and pread() of the buffered fd must agree at @off. */
static void miss_verify(struct miss_ctx *h, struct pc_mapping *m, uint64_t off,
			unsigned char *scratch)
{
	ssize_t r = pc_read(m, h->buf, MISS_SEQ_IO, off, 0);

	check(r, "pc_read");
	if (r != MISS_SEQ_IO || pread(h->bfd, scratch, MISS_SEQ_IO, (off_t)off) != MISS_SEQ_IO ||
	    memcmp(h->buf, scratch, MISS_SEQ_IO))
		die("pc_read at %" PRIu64 " does not return the file's bytes", off);
}

/*
 * Which host drop works, tried on the file while it is in the kernel's
 * cache: posix_fadvise(DONTNEED) after fdatasync(), and writing "1" to
 * drop_caches (which drops the whole machine's clean page cache, so it is
 * tried once here and used per run only if fadvise does not work).
 */
static void miss_probe_drops(struct miss_ctx *h, struct pcb_report *rep)
{
	uint64_t before, after_f, after_d = 0, tenth = h->host_pages / 10;
	unsigned char *scratch = xmalloc_aligned(4096, MISS_CHUNK);
	char fmsg[96], dmsg[96];
	int rf, rd;

	before = miss_resident(h);
	rf = miss_fadvise(h);
	after_f = miss_resident(h);
	if (rf)
		snprintf(fmsg, sizeof(fmsg), "failed (%s)", strerror(-rf));
	else
		snprintf(fmsg, sizeof(fmsg), "%" PRIu64 " -> %" PRIu64 " pages", before, after_f);

	/* Bring a tenth of the file back, then try drop_caches on it. */
	for (uint64_t off = 0; off < tenth * 4096; off += MISS_CHUNK)
		if (pread(h->bfd, scratch, MISS_CHUNK, (off_t)off) <= 0)
			die("pread: %s", strerror(errno));
	before = miss_resident(h);
	rd = miss_drop_caches();
	if (rd)
		snprintf(dmsg, sizeof(dmsg), "refused (%s)", strerror(-rd));
	else {
		after_d = miss_resident(h);
		snprintf(dmsg, sizeof(dmsg), "%" PRIu64 " -> %" PRIu64 " pages", before, after_d);
	}
	free(scratch);

	h->use_fadvise = !rf;
	h->use_drop_caches = !rd && (rf || after_f > h->host_pages / 100) &&
			     after_d <= h->host_pages / 100;
	if (!rf && after_f > h->host_pages / 100 && !h->use_drop_caches)
		fprintf(stderr, "pcbench: warning: no way to drop the file from the host page "
				"cache; buffered pairs are not cold\n");
	report_param(rep, "host drop", false, "posix_fadvise(DONTNEED): %s%s; drop_caches: %s%s",
		     fmsg, h->use_fadvise ? " (used)" : "", dmsg,
		     h->use_drop_caches ? " (used)" : " (not used)");
}

static void miss_setup(struct miss_ctx *h, struct pc_cache **cb, struct pc_cache **cd,
		       struct pc_backend **bb, struct pc_backend **bd, struct pcb_report *rep)
{
	char dir[PATH_MAX], name[64], path[PATH_MAX];
	unsigned char *chunk, *scratch;
	long fs_type;
	uint64_t seed;
	int derr;

	pcb_disk_dir(dir, sizeof(dir), &fs_type);
	snprintf(name, sizeof(name), "pcbench-miss-%ld", (long)getpid());
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		die("%s: path too long", dir);

	/* Written once, with pseudo-random bytes, and made durable. */
	h->bfd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (h->bfd < 0)
		die("creating %s: %s", path, strerror(errno));
	chunk = xmalloc_aligned(4096, MISS_CHUNK);
	seed = MISS_SEED;
	for (uint64_t off = 0; off < h->size; off += MISS_CHUNK) {
		size_t n = h->size - off < MISS_CHUNK ? h->size - off : MISS_CHUNK;

		for (size_t i = 0; i < MISS_CHUNK / 8; i++)
			((uint64_t *)chunk)[i] = xorshift64s(&seed);
		if (pwrite(h->bfd, chunk, n, (off_t)off) != (ssize_t)n) {
			int e = errno;

			unlink(path);
			die("writing %s: %s", path, strerror(e));
		}
	}
	free(chunk);
	if (fsync(h->bfd)) {
		int e = errno;

		unlink(path);
		die("fsync %s: %s", path, strerror(e));
	}

	/*
	 * The same file through two backends (the object is the host file
	 * @dir/@name): buffered, and PC_FILE_DIRECT; one 64 MiB cache each.
	 * Then the O_DIRECT fd, and unlink: the fds keep the file, and an
	 * exit on error cannot leave a gigabyte behind.
	 */
	h->dfd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	derr = errno;
	check(pc_cache_new(cb, MISS_BUDGET), "pc_cache_new");
	check(pc_backend_file_new(bb, dir, 0), "pc_backend_file_new");
	if (pc_open(&h->mb, *cb, *bb, name, 0) < 0 ||
	    (h->dfd >= 0 && (pc_cache_new(cd, MISS_BUDGET) < 0 ||
			     pc_backend_file_new(bd, dir, PC_FILE_DIRECT) < 0 ||
			     pc_open(&h->md, *cd, *bd, name, 0) < 0))) {
		unlink(path);
		die("opening %s through the file backend failed", path);
	}
	if (unlink(path))
		die("unlink %s: %s", path, strerror(errno));
	report_param(rep, "file", false, "%s (%s, unlinked)", path, pcb_fs_name(fs_type));
	if (h->dfd >= 0)
		report_param(rep, "direct", false, "O_DIRECT accepted: pairs 2 and 4 run");
	else
		report_param(rep, "direct", false, "O_DIRECT refused (%s): pairs 2 and 4 not run",
			     strerror(derr));

	h->buf = xmalloc_aligned(4096, MISS_SEQ_IO);
	scratch = xmalloc_aligned(4096, MISS_SEQ_IO);
	for (int i = 0; i < 3; i++) {
		uint64_t off = (h->size - MISS_SEQ_IO) / 2 * (uint64_t)i / MISS_SEQ_IO * MISS_SEQ_IO;

		miss_verify(h, h->mb, off, scratch);
		if (h->md)
			miss_verify(h, h->md, off, scratch);
	}
	free(scratch);

	h->host_pages = (h->size + 4095) / 4096;
	h->vec = malloc(h->host_pages);
	if (!h->vec)
		die("out of memory");
	h->map = mmap(NULL, h->size, PROT_READ, MAP_SHARED, h->bfd, 0);
	if (h->map == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	miss_probe_drops(h, rep);

	/* A random permutation of the blocks: every random read is a miss. */
	h->nblocks = h->size / MISS_RAND_IO;
	if (h->nblocks > UINT32_MAX)
		die("--size too large");
	h->perm = xmalloc_aligned(64, h->nblocks * sizeof(*h->perm));
	for (uint64_t i = 0; i < h->nblocks; i++)
		h->perm[i] = (uint32_t)i;
	seed = MISS_SEED;
	for (uint64_t i = h->nblocks - 1; i > 0; i--) {
		uint64_t j = xorshift64s(&seed) % (i + 1);
		uint32_t t = h->perm[i];

		h->perm[i] = h->perm[j];
		h->perm[j] = t;
	}
}

static void scenario_miss(const struct pcb_opts *o, struct pcb_report *rep)
{
	struct miss_ctx h = { .bfd = -1, .dfd = -1 };
	struct pc_cache *cb = NULL, *cd = NULL;
	struct pc_backend *bb = NULL, *bd = NULL;
	struct pc_stats st;

	h.size = o->size ? o->size : o->quick ? MISS_QUICK_SIZE : MISS_DEFAULT_SIZE;
	if (h.size < 4 * MISS_SEQ_IO || h.size % MISS_SEQ_IO)
		die("--size must be a multiple of 128 KiB, at least 512 KiB");
	report_param(rep, "size", true, "%" PRIu64, h.size);
	report_param(rep, "budget", false, "%llu MiB per cache (one for each mapping)",
		     MISS_BUDGET / PCB_MIB);
	report_param(rep, "io", false, "sequential: %u KiB reads from offset 0; random: %u KiB "
		     "reads at distinct blocks in random order", MISS_SEQ_IO / 1024,
		     MISS_RAND_IO / 1024);
	/* Looked up, not called: pc_read()'s readahead is automatic when there. */
	report_param(rep, "readahead", false, "pc_readahead() %s in the library",
		     dlsym(RTLD_DEFAULT, "pc_readahead") ? "exported" : "not exported");

	miss_setup(&h, &cb, &cd, &bb, &bd, rep);

	miss_pair(&h, o, rep, h.mb, h.bfd, MISS_SEQ_IO, "A1 pc_read seq", miss_seq_pcread,
		  "B1 pread seq", miss_seq_pread);
	if (h.md)
		miss_pair(&h, o, rep, h.md, h.dfd, MISS_SEQ_IO, "A2 pc_read seq direct",
			  miss_seq_pcread, "B2 pread seq direct", miss_seq_pread);
	miss_pair(&h, o, rep, h.mb, h.bfd, MISS_RAND_IO, "A3 pc_read rand 4K",
		  miss_rand_pcread, "B3 pread rand 4K", miss_rand_pread);
	if (h.md)
		miss_pair(&h, o, rep, h.md, h.dfd, MISS_RAND_IO, "A4 pc_read rand direct",
			  miss_rand_pcread, "B4 pread rand direct", miss_rand_pread);

	report_param(rep, "cold check", false, "after %" PRIu64 " drops, at most %" PRIu64
		     " of %" PRIu64 " host pages of the file were still cached", h.colds,
		     h.resident_max, h.host_pages);
	check(pc_stats(cb, &st, sizeof(st)), "pc_stats");
	if (h.md) {
		struct pc_stats sd;

		check(pc_stats(cd, &sd, sizeof(sd)), "pc_stats");
		st.enomem += sd.enomem;
	}
	report_param(rep, "enomem", true, "%" PRIu64, st.enomem);

	/* "No slower" than pread once pc_read reads ahead; the rest for reference. */
	report_ratio(rep, "pc_read / pread, cold sequential 128 KiB", "A1 / B1",
		     median_of(rep, "A1 pc_read seq") / median_of(rep, "B1 pread seq"), 0.9);
	if (h.md)
		report_ratio(rep, "pc_read / pread, cold sequential, O_DIRECT", "A2 / B2",
			     median_of(rep, "A2 pc_read seq direct") /
				     median_of(rep, "B2 pread seq direct"), 0.9);
	report_ratio(rep, "pc_read / pread, cold random 4 KiB", "A3 / B3",
		     median_of(rep, "A3 pc_read rand 4K") / median_of(rep, "B3 pread rand 4K"), 0);
	if (h.md)
		report_ratio(rep, "pc_read / pread, cold random 4 KiB, O_DIRECT", "A4 / B4",
			     median_of(rep, "A4 pc_read rand direct") /
				     median_of(rep, "B4 pread rand direct"), 0);

	check(pc_close(&h.mb), "pc_close");
	if (h.md)
		check(pc_close(&h.md), "pc_close");
	pc_backend_delete(&bb);
	pc_cache_delete(&cb);
	if (bd)
		pc_backend_delete(&bd);
	if (cd)
		pc_cache_delete(&cd);
	munmap(h.map, h.size);
	if (h.dfd >= 0)
		close(h.dfd);
	close(h.bfd);
	free(h.vec);
	free(h.perm);
	free(h.buf);
}

/* ---- Scenario "reclaim" ---- */

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
	struct pc_mapping *m;
	const uint64_t *offs;		/* this thread's slice of the offsets */
	uint64_t mask;			/* slice length - 1 */
	uint64_t ops;
	size_t page;
	unsigned char *buf;
	pthread_barrier_t *start;
	uint64_t t0, t1, sum;
};

static uint64_t rcl_read_loop(struct rcl_worker *w, uint64_t k)
{
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

static void *rcl_worker_fn(void *arg)
{
	struct rcl_worker *w = arg;

	/* One read before the clock starts: the library registers the thread. */
	w->sum = rcl_read_loop(w, 1);
	pthread_barrier_wait(w->start);
	w->t0 = now_ns();
	w->sum += rcl_read_loop(w, w->ops);
	w->t1 = now_ns();
	return NULL;
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
	pthread_t tid[RCL_MAX_THREADS], stid;
	struct rcl_sampler s = { .c = t->c };
	pthread_barrier_t start;
	struct pc_stats a, b;
	uint64_t slice = RCL_NR_OFFSETS / nthreads, t0 = UINT64_MAX, t1 = 0;
	int r;

	check(pc_stats(t->c, &a, sizeof(a)), "pc_stats");
	r = pthread_create(&stid, NULL, rcl_sampler_fn, &s);
	if (r)
		die("pthread_create: %s", strerror(r));
	r = pthread_barrier_init(&start, NULL, nthreads);
	if (r)
		die("pthread_barrier_init: %s", strerror(r));
	for (unsigned i = 0; i < nthreads; i++) {
		w[i] = (struct rcl_worker){
			.m = t->m,
			.offs = h->offs + i * slice,
			.mask = slice - 1,
			.ops = k / nthreads,
			.page = h->page,
			.buf = xmalloc_aligned(h->page, h->page),
			.start = &start,
		};
		r = pthread_create(&tid[i], NULL, rcl_worker_fn, &w[i]);
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
		free(w[i].buf);
	}
	pthread_barrier_destroy(&start);
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
	return t1 - t0;
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
	const size_t chunk = PCB_MIB;
	unsigned char *scratch = xmalloc_aligned(h->page, chunk);
	struct pc_stats st;

	for (uint64_t off = 0; off < h->size; off += chunk) {
		size_t n = h->size - off < chunk ? h->size - off : chunk;
		ssize_t r = pc_write(t->m, h->plain + off, n, off, 0);

		check(r, "pc_write");
		if ((size_t)r != n)
			die("pc_write: short write of %zd bytes at %" PRIu64, r, off);
	}
	check(pc_sync(t->m, 0, 0), "pc_sync");
	/* Through a cache half its size, this read-back goes through reclaim. */
	for (uint64_t off = 0; off < h->size; off += chunk) {
		size_t n = h->size - off < chunk ? h->size - off : chunk;
		ssize_t r = pc_read(t->m, scratch, n, off, 0);

		check(r, "pc_read");
		if ((size_t)r != n || memcmp(scratch, h->plain + off, n))
			die("%s: pc_read at %" PRIu64 " does not return what was written",
			    t->what, off);
	}
	free(scratch);
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

static void scenario_reclaim(const struct pcb_opts *o, struct pcb_report *rep)
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
	      "  --seconds S   target length of one run in seconds (default 0.3;\n"
	      "                miss and reclaim: 1)\n"
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
	struct pcb_opts o = { 0 };
	const struct pcb_scenario *sc = NULL;
	struct pcb_report *rep;
	struct pcb_machine mc = { 0 };
	struct pcb_load l0, l1;
	const char *name;
	unsigned long runs = 0;
	double seconds = 0;
	char *end;
	int opt, status;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			errno = 0;
			runs = strtoul(optarg, &end, 10);
			if (errno || *end || runs < 1 || runs > PCB_MAX_RUNS)
				die("--runs wants 1..%d", PCB_MAX_RUNS);
			break;
		case 's':
			seconds = strtod(optarg, &end);
			if (*end || !(seconds > 0) || seconds > 3600)
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
	o.seconds = seconds > 0 ? seconds : sc->seconds > 0 ? sc->seconds : PCB_DEFAULT_SECONDS;

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
	status = rep->failed ? 1 : 0;
	free(rep);
	return status;
}
