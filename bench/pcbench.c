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
 *   A5, A6           pc_read() seq and rand 4K on the pmem backend (the same
 *                    file mapped with libpmem2, read by copies from the
 *                    mapping), against B5, B6: pread() on the buffered fd
 *                    again.  The pmem mapping is closed before each cold
 *                    drop and opened again after it (its mapping would
 *                    keep the file's pages in the kernel's cache), so the
 *                    file stays linked until the end (an exit on error
 *                    removes it).  Not run where the library has no pmem
 *                    backend (no libpmem2).
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
 *
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
 *
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
 *
 * Scenario "scale": the hits of "hit" (pc_fault+put at random pages, fully
 * cached object as "hit") on 1, 2 and 4 threads, and pread() of 1 byte the
 * same way as the machine's own scaling; the same total operations split
 * evenly (each thread its own slice of the offsets), aggregate Mops/s.
 * All six alternate.  4 threads oversubscribe a 2-CPU machine: the report
 * says so when there are fewer than 4 CPUs online.
 *
 * Scenario "memory": metadata bytes per cached page.  Objects of 1, 64,
 * 1024 and 65536 pages (dense) and a sparse one (1024 pages, one every 64
 * pages: 256 MiB of span), each in its own cache and RAM backend, all kept
 * open (so nothing is freed through RCU while counting), written with
 * pc_write() and synced.  Reported per object:
 *   meta     the growth of pc_stats().meta_bytes (page structs and index
 *            nodes as the library counts them), per page cached;
 *   heap     the growth of mallinfo2()'s allocated bytes over the same
 *            window, per page: the page structs and index nodes with
 *            malloc's own overhead, plus the RAM backend's block table.
 *            Background writeback is off, so it is all this thread's.
 * Nothing is timed and there is no baseline: the kernel's figures are
 * facts, given in RESULTS.md.
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
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include <limits.h>
#include <malloc.h>
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
#define pcb_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

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
	char val[256];
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
	bool untimed;		/* counted once, not timed: --runs and --seconds do not apply */
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
static void scenario_readhit(const struct pcb_opts *o, struct pcb_report *rep);
static void scenario_mmap(const struct pcb_opts *o, struct pcb_report *rep);
static void scenario_punch(const struct pcb_opts *o, struct pcb_report *rep);
static void scenario_scale(const struct pcb_opts *o, struct pcb_report *rep);
static void scenario_memory(const struct pcb_opts *o, struct pcb_report *rep);
static void scenario_dax(const struct pcb_opts *o, struct pcb_report *rep);

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
	{ "readhit", scenario_readhit,
	  "pc_read 4K and 64K at random offsets of a fully cached object vs pread of "
	  "tmpfs and memcpy from a plain buffer", 0 },
	{ "mmap", scenario_mmap,
	  "pc_fault page by page, first touch (fill from the RAM backend) and warm, "
	  "vs touching an mmap of tmpfs (fresh mapping, then mapped)", 0 },
	{ "punch", scenario_punch,
	  "pc_punch of a fully cached range vs fallocate(PUNCH_HOLE) on tmpfs; hits "
	  "elsewhere in the object while another thread punches and rewrites", 0 },
	{ "scale", scenario_scale,
	  "hit throughput (pc_fault+put) and pread 1B at 1, 2 and 4 threads over a "
	  "fully cached object", 0 },
	{ "memory", scenario_memory,
	  "metadata bytes per cached page (pc_stats meta_bytes, and malloc'd heap) "
	  "for objects of 1 to 65536 pages and a sparse one", 0 },
	{ "dax", scenario_dax,
	  "DAX mapping on the RAM backend: pc_fault+put vs a cached-mode hit, "
	  "pc_read 4K vs memcpy from the same storage", 0 },
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
#define HIT_MAX_THREADS		4	/* "scale" runs 1, 2 and 4 */
#define HIT_MAX_COPY		(64u * 1024)	/* largest copy ("readhit": 64 KiB) */

/*
 * Shared by "hit", "readhit", "mmap", "punch" and "scale": one fully cached
 * object on the RAM backend, its tmpfs copy and its plain copy (the same
 * bytes), and the random page offsets every variant walks.  Scenarios that
 * need more embed it (pcb_container_of() gets them back in a run function).
 */
struct hit_ctx {
	struct pc_mapping *m;
	int fd;				/* the tmpfs copy; -1 with no_tmpfs */
	bool no_tmpfs;			/* hit_setup(): skip the tmpfs copy */
	unsigned char *plain;		/* the plain copy, page-aligned */
	unsigned char *buf;		/* destination of copies, HIT_MAX_COPY bytes */
	uint64_t size;
	size_t page;			/* pc_page_size() */
	uint64_t *offs;			/* HIT_NR_OFFSETS random page offsets */
	uint64_t extra;			/* hit_setup(): cache and device bytes beyond
					 * size + HIT_SLACK, for the scenario's own use */
	size_t len;			/* bytes per copy: a power of two <= HIT_MAX_COPY */
	const uint64_t *copy_offs;	/* HIT_NR_OFFSETS offsets for copies of len */
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

/* pc_read() of h->len bytes at the copy offsets ("hit": 4 KiB at h->offs). */
static uint64_t hit_run_pcread(struct hit_ctx *h, uint64_t k)
{
	uint64_t t0 = now_ns(), sum = 0;

	for (uint64_t i = 0; i < k; i++) {
		uint64_t off = h->copy_offs[i & (HIT_NR_OFFSETS - 1)];
		ssize_t r = pc_read(h->m, h->buf, h->len, off, 0);

		if (pcb_unlikely(r != (ssize_t)h->len)) {
			check(r, "pc_read");
			die("pc_read: short read of %zd bytes", r);
		}
		__asm__ __volatile__("" : : "r"(h->buf) : "memory");
		sum += h->buf[i & (h->len - 1)];
	}
	t0 = now_ns() - t0;
	pcb_sink += sum;
	return t0;
}

/* The same copies with pread() from the tmpfs copy ("readhit"). */
static uint64_t hit_run_preadn(struct hit_ctx *h, uint64_t k)
{
	uint64_t t0 = now_ns(), sum = 0;

	for (uint64_t i = 0; i < k; i++) {
		ssize_t r = pread(h->fd, h->buf, h->len,
				  (off_t)h->copy_offs[i & (HIT_NR_OFFSETS - 1)]);

		if (pcb_unlikely(r != (ssize_t)h->len))
			die("pread: %s", r < 0 ? strerror(errno) : "short read");
		__asm__ __volatile__("" : : "r"(h->buf) : "memory");
		sum += h->buf[i & (h->len - 1)];
	}
	t0 = now_ns() - t0;
	pcb_sink += sum;
	return t0;
}

static uint64_t hit_run_memcpy(struct hit_ctx *h, uint64_t k)
{
	uint64_t t0 = now_ns(), sum = 0;

	for (uint64_t i = 0; i < k; i++) {
		memcpy(h->buf, h->plain + h->copy_offs[i & (HIT_NR_OFFSETS - 1)], h->len);
		/* As pc_read() is opaque to the compiler, so must this copy be. */
		__asm__ __volatile__("" : : "r"(h->buf) : "memory");
		sum += h->buf[i & (h->len - 1)];
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

static uint64_t hit_run_4threads(struct hit_ctx *h, uint64_t k)
{
	return hit_run_threads(h, k, 4, false);
}

static uint64_t hit_run_pread_4threads(struct hit_ctx *h, uint64_t k)
{
	return hit_run_threads(h, k, 4, true);
}

typedef uint64_t (*hit_run_fn)(struct hit_ctx *h, uint64_t k);

/*
 * Operations per run so that @run takes about @seconds.  Doubles a trial
 * count until a trial lasts 1/10 of the target, then scales from the
 * fastest of three trials of that count; the trials also warm up the
 * caches and the branch predictors.  A multiple of 4, for
 * the split over two or four threads.
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
	/* Two more trials of that count, keeping the fastest: one preemption
	 * during the last trial must not shrink every run that follows. */
	for (int i = 0; i < 2; i++) {
		uint64_t t2 = run(h, k);

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

/* One member of a group of variants timed in alternation. */
struct hit_variant {
	const char *name;
	hit_run_fn run;
	int k_from;		/* -1: calibrate its own count; else run the count of
				 * the group's variant at this index (same total work),
				 * which must calibrate its own */
};

/*
 * Time the @n variants of @vs in turn (1, 2, .., n, 1, 2, ...) for o->runs
 * rounds, so that drift of the machine lands on all of them alike.  @unit
 * NULL: "Mops/s" for @throughput, else "ns/op".
 */
static void hit_group(struct hit_ctx *h, const struct pcb_opts *o, struct pcb_report *rep,
		      const struct hit_variant *vs, unsigned n, bool throughput,
		      const char *unit)
{
	struct pcb_variant *v[PCB_MAX_VARIANTS];

	if (!unit)
		unit = throughput ? "Mops/s" : "ns/op";
	for (unsigned j = 0; j < n; j++)
		v[j] = report_variant(rep, vs[j].name, unit, o->runs);
	for (unsigned j = 0; j < n; j++)
		if (vs[j].k_from < 0)
			v[j]->ops = hit_calibrate(h, vs[j].run, o->seconds);
	for (unsigned j = 0; j < n; j++) {
		if (vs[j].k_from >= 0) {
			v[j]->ops = v[vs[j].k_from]->ops;
			vs[j].run(h, v[j]->ops / 10 + 2);	/* warm-up */
		}
	}
	for (unsigned i = 0; i < o->runs; i++)
		for (unsigned j = 0; j < n; j++)
			v[j]->runs[v[j]->nruns++] =
				hit_value(vs[j].run(h, v[j]->ops), v[j]->ops, throughput);
	for (unsigned j = 0; j < n; j++)
		variant_summarise(v[j]);
}

/*
 * Time the pair (@a, @b) alternately for o->runs rounds.  With @shared_k
 * both run @a's calibrated count (the thread pair: same total work).
 */
static void hit_pair(struct hit_ctx *h, const struct pcb_opts *o, struct pcb_report *rep,
		     const char *name_a, hit_run_fn a, const char *name_b, hit_run_fn b,
		     bool throughput, bool shared_k)
{
	const struct hit_variant vs[2] = {
		{ name_a, a, -1 },
		{ name_b, b, shared_k ? 0 : -1 },
	};

	hit_group(h, o, rep, vs, 2, throughput, NULL);
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
	h->buf = xmalloc_aligned(h->page, HIT_MAX_COPY);
	scratch = xmalloc_aligned(h->page, chunk);

	/* The cache: write every page, write it back, check all are cached. */
	check(pc_cache_new(c, h->size + HIT_SLACK + h->extra), "pc_cache_new");
	check(pc_backend_ram_new(b, h->size + HIT_SLACK + h->extra), "pc_backend_ram_new");
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

static void hit_teardown(struct hit_ctx *h, struct pc_cache **c, struct pc_backend **b)
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

static double median_of(const struct pcb_report *rep, const char *name)
{
	for (unsigned i = 0; i < rep->nvariants; i++)
		if (!strcmp(rep->variants[i].name, name))
			return rep->variants[i].median;
	die("no variant %s", name);
}

/*
 * The object size from --size, or @def (@quick with --quick), checked, and
 * the parameters every scenario built on hit_setup() reports.
 */
static void hit_init(struct hit_ctx *h, const struct pcb_opts *o, struct pcb_report *rep,
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
static void hit_check_no_miss(struct pc_cache *c, const struct pc_stats *before,
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

static void scenario_hit(const struct pcb_opts *o, struct pcb_report *rep)
{
	struct hit_ctx h = { .fd = -1 };
	struct pc_cache *c = NULL;
	struct pc_backend *b = NULL;
	struct pc_stats before;

	hit_init(&h, o, rep, HIT_DEFAULT_SIZE, HIT_QUICK_SIZE);
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

	hit_check_no_miss(c, &before, rep);

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

/* ---- Scenario "dax" ---- */

/*
 * Scenario "dax": a second object with the same bytes, open with PC_DAX on
 * the same RAM device, next to the cached object of hit_setup():
 *   A1 DAX fault+put   pc_fault() of the DAX mapping, one byte read, put:
 *                      an entry lock and a pin on every fault (dax.c);
 *   B1 cached fault+put the cache hit of scenario "hit" (lock-free);
 *   A2 DAX pc_read 4K  pc_read() of a page of the DAX mapping: a copy
 *                      straight from storage;
 *   B2 memcpy 4K       memcpy() from the same storage, at the addresses the
 *                      DAX faults return (taken once, before timing).
 */
static struct pc_mapping *dax_m;
static unsigned char **dax_addr;	/* per page of the DAX object */

static uint64_t dax_run_fault(struct hit_ctx *h, uint64_t k)
{
	uint64_t t0 = now_ns(), sum;

	sum = hit_fault_loop(dax_m, h->offs, HIT_NR_OFFSETS - 1, k);
	t0 = now_ns() - t0;
	pcb_sink += sum;
	return t0;
}

static uint64_t dax_run_pcread(struct hit_ctx *h, uint64_t k)
{
	uint64_t t0 = now_ns(), sum = 0;

	for (uint64_t i = 0; i < k; i++) {
		ssize_t r = pc_read(dax_m, h->buf, h->page, h->offs[i & (HIT_NR_OFFSETS - 1)], 0);

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

static uint64_t dax_run_memcpy(struct hit_ctx *h, uint64_t k)
{
	uint64_t t0 = now_ns(), sum = 0;

	for (uint64_t i = 0; i < k; i++) {
		memcpy(h->buf, dax_addr[h->offs[i & (HIT_NR_OFFSETS - 1)] / h->page], h->page);
		__asm__ __volatile__("" : : "r"(h->buf) : "memory");
		sum += h->buf[i & (h->page - 1)];
	}
	t0 = now_ns() - t0;
	pcb_sink += sum;
	return t0;
}

static void scenario_dax(const struct pcb_opts *o, struct pcb_report *rep)
{
	struct hit_ctx h = { .fd = -1, .no_tmpfs = true };
	struct pc_cache *c = NULL;
	struct pc_backend *b = NULL;
	uint64_t pages;

	hit_init(&h, o, rep, HIT_DEFAULT_SIZE, HIT_QUICK_SIZE);
	h.extra = h.size;	/* room on the device for the DAX object */
	hit_setup(&h, &c, &b, rep);
	pages = h.size / h.page;
	check(pc_open(&dax_m, c, b, "pcbench-dax", PC_CREAT | PC_TRUNC | PC_DAX), "pc_open DAX");
	for (uint64_t off = 0; off < h.size; off += PCB_MIB) {
		size_t n = h.size - off < PCB_MIB ? h.size - off : PCB_MIB;

		if (check(pc_write(dax_m, h.plain + off, n, off, 0), "pc_write DAX") != (long long)n)
			die("pc_write DAX: short write");
	}
	check(pc_sync(dax_m, 0, 0), "pc_sync DAX");
	dax_addr = calloc(pages, sizeof(*dax_addr));
	if (!dax_addr)
		die("out of memory");
	for (uint64_t i = 0; i < pages; i++) {
		struct pc_page *p;

		check(pc_fault(dax_m, i * h.page, 0, &p), "pc_fault DAX");
		dax_addr[i] = pc_page_addr(p);
		if (memcmp(dax_addr[i], h.plain + i * h.page, h.page))
			die("the DAX object does not hold what was written");
		pc_page_put(p);
	}
	report_param(rep, "dax", false, "a second object with the same bytes, PC_DAX, same RAM device");

	hit_pair(&h, o, rep, "A1 DAX fault+put", dax_run_fault, "B1 cached fault+put",
		 hit_run_fault, false, false);
	hit_pair(&h, o, rep, "A2 DAX pc_read 4K", dax_run_pcread, "B2 memcpy 4K from storage",
		 dax_run_memcpy, false, false);
	report_ratio(rep, "DAX fault+put cost over a cached hit", "A1 / B1",
		     median_of(rep, "A1 DAX fault+put") / median_of(rep, "B1 cached fault+put"), 0);
	report_ratio(rep, "DAX pc_read 4K speed as a fraction of memcpy 4K", "B2 / A2",
		     median_of(rep, "B2 memcpy 4K from storage") /
			     median_of(rep, "A2 DAX pc_read 4K"), 0);

	check(pc_close(&dax_m), "pc_close DAX");
	check(pc_backend_unlink(b, "pcbench-dax"), "pc_backend_unlink");
	free(dax_addr);
	dax_addr = NULL;
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
	struct pc_mapping *mp;		/* the pmem backend's mapping (NULL: none) */
	struct pc_cache *cp;
	struct pc_backend *bp;
	char pmem_name[64];		/* the object's name for reopening it */
};

/* The file, kept linked while the pmem pairs run; removed at exit. */
static char miss_pmem_path[PATH_MAX];

static void miss_pmem_unlink(void)
{
	if (miss_pmem_path[0])
		unlink(miss_pmem_path);
	miss_pmem_path[0] = '\0';
}

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
	bool pmem_pair = h->mp && h->m == h->mp;
	uint64_t res;

	miss_invalidate(h->mb);
	if (h->md)
		miss_invalidate(h->md);
	/* The pmem backend's mapping pins the file's pages: close it for the drop. */
	if (h->mp)
		check(pc_close(&h->mp), "pc_close (pmem)");
	if (h->use_fadvise)
		check(miss_fadvise(h), "posix_fadvise");
	if (h->use_drop_caches)
		check(miss_drop_caches(), "writing /proc/sys/vm/drop_caches");
	if (h->bp) {
		check(pc_open(&h->mp, h->cp, h->bp, h->pmem_name, 0), "pc_open (pmem)");
		if (pmem_pair)
			h->m = h->mp;
	}
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
	int derr, perr;

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
	/* The pmem backend over the same file, if the library has one. */
	perr = pc_backend_pmem_new(&h->bp, dir, 0);
	if (perr == 0) {
		snprintf(h->pmem_name, sizeof(h->pmem_name), "%s", name);
		check(pc_cache_new(&h->cp, MISS_BUDGET), "pc_cache_new");
		if (pc_open(&h->mp, h->cp, h->bp, name, 0) < 0) {
			unlink(path);
			die("opening %s through the pmem backend failed", path);
		}
		snprintf(miss_pmem_path, sizeof(miss_pmem_path), "%s", path);
		atexit(miss_pmem_unlink);
		report_param(rep, "pmem", false, "pmem backend (libpmem2): pairs 5 and 6 run; "
			     "the file stays linked until the end");
	} else {
		report_param(rep, "pmem", false, "no pmem backend (%s): pairs 5 and 6 not run",
			     strerror(-perr));
		if (unlink(path))
			die("unlink %s: %s", path, strerror(errno));
	}
	report_param(rep, "file", false, "%s (%s%s)", path, pcb_fs_name(fs_type),
		     h->bp ? "" : ", unlinked");
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
		if (h->mp)
			miss_verify(h, h->mp, off, scratch);
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

	if (h.mp) {
		miss_pair(&h, o, rep, h.mp, h.bfd, MISS_SEQ_IO, "A5 pc_read seq pmem",
			  miss_seq_pcread, "B5 pread seq", miss_seq_pread);
		miss_pair(&h, o, rep, h.mp, h.bfd, MISS_RAND_IO, "A6 pc_read rand pmem",
			  miss_rand_pcread, "B6 pread rand 4K", miss_rand_pread);
	}

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

	if (h.mp) {
		report_ratio(rep, "pc_read / pread, cold sequential, pmem backend", "A5 / B5",
			     median_of(rep, "A5 pc_read seq pmem") / median_of(rep, "B5 pread seq"),
			     0);
		report_ratio(rep, "pc_read / pread, cold random 4 KiB, pmem backend", "A6 / B6",
			     median_of(rep, "A6 pc_read rand pmem") /
				     median_of(rep, "B6 pread rand 4K"), 0);
	}

	check(pc_close(&h.mb), "pc_close");
	if (h.md)
		check(pc_close(&h.md), "pc_close");
	if (h.mp)
		check(pc_close(&h.mp), "pc_close");
	if (h.bp)
		pc_backend_delete(&h.bp);
	if (h.cp)
		pc_cache_delete(&h.cp);
	miss_pmem_unlink();
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

/* ---- Scenario "readhit" ---- */

#define RH_BIG			(64u * 1024)	/* the large copy */
#define RH_SEED			0x4eadb16b4eadb16bull

static void scenario_readhit(const struct pcb_opts *o, struct pcb_report *rep)
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
	h.len = h.page;
	h.copy_offs = h.offs;
	hit_group(&h, o, rep, (const struct hit_variant[]){
			  { "A1 pc_read 4K", hit_run_pcread, -1 },
			  { "B1 pread 4K", hit_run_preadn, -1 },
			  { "C1 memcpy 4K", hit_run_memcpy, -1 },
		  }, 3, false, NULL);
	h.len = RH_BIG;
	h.copy_offs = offs_big;
	hit_group(&h, o, rep, (const struct hit_variant[]){
			  { "A2 pc_read 64K", hit_run_pcread, -1 },
			  { "B2 pread 64K", hit_run_preadn, -1 },
			  { "C2 memcpy 64K", hit_run_memcpy, -1 },
		  }, 3, false, NULL);
	hit_check_no_miss(c, &before, rep);

	/* No goals: issue 2's 0.95 of memcpy is judged by "hit"; these are references. */
	report_ratio(rep, "pc_read 4K speedup over pread 4K", "B1 / A1",
		     median_of(rep, "B1 pread 4K") / median_of(rep, "A1 pc_read 4K"), 0);
	report_ratio(rep, "pc_read 4K as a fraction of memcpy 4K", "C1 / A1",
		     median_of(rep, "C1 memcpy 4K") / median_of(rep, "A1 pc_read 4K"), 0);
	report_ratio(rep, "pc_read 64K speedup over pread 64K", "B2 / A2",
		     median_of(rep, "B2 pread 64K") / median_of(rep, "A2 pc_read 64K"), 0);
	report_ratio(rep, "pc_read 64K as a fraction of memcpy 64K", "C2 / A2",
		     median_of(rep, "C2 memcpy 64K") / median_of(rep, "A2 pc_read 64K"), 0);

	h.copy_offs = h.offs;
	free(offs_big);
	hit_teardown(&h, &c, &b);
}

/* ---- Scenario "scale" ---- */

static void scenario_scale(const struct pcb_opts *o, struct pcb_report *rep)
{
	struct hit_ctx h = { .fd = -1 };
	struct pc_cache *c = NULL;
	struct pc_backend *b = NULL;
	struct pc_stats before;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	hit_init(&h, o, rep, HIT_DEFAULT_SIZE, HIT_QUICK_SIZE);
	report_param(rep, "threads", false, "1, 2 and 4, the same total operations split "
		     "evenly; %ld CPUs online: %s", ncpu,
		     ncpu < 4 ? "4 threads OVERSUBSCRIBE this machine (more threads than CPUs)"
			      : "4 threads fit");
	hit_setup(&h, &c, &b, rep);
	check(pc_stats(c, &before, sizeof(before)), "pc_stats");

	/* All six alternate; each thread count runs its 1-thread count in total. */
	hit_group(&h, o, rep, (const struct hit_variant[]){
			  { "A1 fault+put 1 thread", hit_run_1thread, -1 },
			  { "B1 pread 1B 1 thread", hit_run_pread_1thread, -1 },
			  { "A2 fault+put 2 threads", hit_run_2threads, 0 },
			  { "B2 pread 1B 2 threads", hit_run_pread_2threads, 1 },
			  { "A4 fault+put 4 threads", hit_run_4threads, 0 },
			  { "B4 pread 1B 4 threads", hit_run_pread_4threads, 1 },
		  }, 6, true, NULL);
	hit_check_no_miss(c, &before, rep);

	/* No goals here: "hit" judges issue 2's 1.9 at 2 threads. */
	report_ratio(rep, "fault+put: 2 threads / 1", "A2 / A1",
		     median_of(rep, "A2 fault+put 2 threads") /
			     median_of(rep, "A1 fault+put 1 thread"), 0);
	report_ratio(rep, "fault+put: 4 threads / 1 (oversubscribed)", "A4 / A1",
		     median_of(rep, "A4 fault+put 4 threads") /
			     median_of(rep, "A1 fault+put 1 thread"), 0);
	report_ratio(rep, "pread 1B: 2 threads / 1 (machine)", "B2 / B1",
		     median_of(rep, "B2 pread 1B 2 threads") /
			     median_of(rep, "B1 pread 1B 1 thread"), 0);
	report_ratio(rep, "pread 1B: 4 threads / 1 (machine, oversub.)", "B4 / B1",
		     median_of(rep, "B4 pread 1B 4 threads") /
			     median_of(rep, "B1 pread 1B 1 thread"), 0);
	report_ratio(rep, "fault+put speedup over pread 1B, 1 thread", "A1 / B1",
		     median_of(rep, "A1 fault+put 1 thread") /
			     median_of(rep, "B1 pread 1B 1 thread"), 0);
	report_ratio(rep, "fault+put speedup over pread 1B, 2 threads", "A2 / B2",
		     median_of(rep, "A2 fault+put 2 threads") /
			     median_of(rep, "B2 pread 1B 2 threads"), 0);
	report_ratio(rep, "fault+put speedup over pread 1B, 4 threads", "A4 / B4",
		     median_of(rep, "A4 fault+put 4 threads") /
			     median_of(rep, "B4 pread 1B 4 threads"), 0);

	hit_teardown(&h, &c, &b);
}

/* ---- Scenario "mmap" ---- */

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

/*
 * First touch, pc_fault: @k pages in passes over the object; before each
 * pass (not timed) the cache is emptied, so every fault fills from the
 * RAM backend.  Only the walks are timed.
 */
static uint64_t mm_run_fault_cold(struct hit_ctx *h, uint64_t k)
{
	struct mm_ctx *mm = pcb_container_of(h, struct mm_ctx, h);
	uint64_t ns = 0, sum = 0;

	while (k) {
		uint64_t n = k < mm->pages ? k : mm->pages, t0;

		mm_drop(mm);
		t0 = now_ns();
		sum += mm_fault_walk(mm, 0, n);
		ns += now_ns() - t0;
		mm->cold_touches += n;
		k -= n;
	}
	pcb_sink += sum;
	return ns;
}

/* First touch, mmap: the same, each pass on a fresh mapping (made untimed). */
static uint64_t mm_run_mmap_cold(struct hit_ctx *h, uint64_t k)
{
	struct mm_ctx *mm = pcb_container_of(h, struct mm_ctx, h);
	uint64_t ns = 0, sum = 0;

	while (k) {
		uint64_t n = k < mm->pages ? k : mm->pages, t0, f0;

		mm_remap(mm);
		f0 = thread_minflt();
		t0 = now_ns();
		sum += mm_touch_walk(mm, 0, n);
		ns += now_ns() - t0;
		mm->kern_minflt += thread_minflt() - f0;
		mm->kern_touches += n;
		k -= n;
	}
	pcb_sink += sum;
	return ns;
}

/* Warm: every page cached (and, for mmap, mapped); walks wrap around the object. */
static uint64_t mm_run_fault_warm(struct hit_ctx *h, uint64_t k)
{
	struct mm_ctx *mm = pcb_container_of(h, struct mm_ctx, h);
	uint64_t t0 = now_ns(), sum;

	sum = mm_fault_walk(mm, 0, k);
	t0 = now_ns() - t0;
	pcb_sink += sum;
	return t0;
}

static uint64_t mm_run_mmap_warm(struct hit_ctx *h, uint64_t k)
{
	struct mm_ctx *mm = pcb_container_of(h, struct mm_ctx, h);
	uint64_t t0 = now_ns(), sum;

	sum = mm_touch_walk(mm, 0, k);
	t0 = now_ns() - t0;
	pcb_sink += sum;
	return t0;
}

static void scenario_mmap(const struct pcb_opts *o, struct pcb_report *rep)
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

	hit_group(&mm.h, o, rep, (const struct hit_variant[]){
			  { "A1 pc_fault first touch", mm_run_fault_cold, -1 },
			  { "B1 mmap first touch", mm_run_mmap_cold, -1 },
		  }, 2, false, "ns/page");
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
	mm_run_fault_cold(&mm.h, mm.pages);
	mm_remap(&mm);
	pcb_sink += mm_touch_walk(&mm, 0, mm.pages);
	check(pc_stats(c, &mid, sizeof(mid)), "pc_stats");
	if (mid.pages_cached != mm.pages)
		die("%" PRIu64 " pages cached, expected %" PRIu64, mid.pages_cached, mm.pages);
	hit_group(&mm.h, o, rep, (const struct hit_variant[]){
			  { "A2 pc_fault warm", mm_run_fault_warm, -1 },
			  { "B2 mmap warm", mm_run_mmap_warm, -1 },
		  }, 2, false, "ns/page");
	check(pc_stats(c, &after, sizeof(after)), "pc_stats");
	if (after.misses != mid.misses)
		die("%" PRIu64 " misses in the warm runs", after.misses - mid.misses);

	report_ratio(rep, "pc_fault speed relative to mmap, first touch", "B1 / A1",
		     median_of(rep, "B1 mmap first touch") /
			     median_of(rep, "A1 pc_fault first touch"), 0);
	report_ratio(rep, "pc_fault speed relative to mmap, warm", "B2 / A2",
		     median_of(rep, "B2 mmap warm") / median_of(rep, "A2 pc_fault warm"), 0);

	if (munmap(mm.map, mm.h.size))
		die("munmap: %s", strerror(errno));
	hit_teardown(&mm.h, &c, &b);
}

/* ---- Scenario "punch" ---- */

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
static uint64_t pu_run_hits(struct hit_ctx *h, uint64_t k, enum pu_mode mode)
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
	sum = hit_fault_loop(h->m, h->offs, HIT_NR_OFFSETS - 1, k);
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

static uint64_t pu_run_punch(struct hit_ctx *h, uint64_t k)
{
	return pu_run_hits(h, k, PU_PUNCH);
}

static uint64_t pu_run_alone(struct hit_ctx *h, uint64_t k)
{
	return pu_run_hits(h, k, PU_ALONE);
}

static uint64_t pu_run_memcpy(struct hit_ctx *h, uint64_t k)
{
	return pu_run_hits(h, k, PU_MEMCPY);
}

static uint64_t pu_run_elsewhere(struct hit_ctx *h, uint64_t k)
{
	return pu_run_hits(h, k, PU_ELSEWHERE);
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

	hit_group(&bg.h, o, rep, (const struct hit_variant[]){
			  { "A2 hits + punch thread", pu_run_punch, -1 },
			  { "B2 hits alone", pu_run_alone, 0 },
			  { "C2 hits + memcpy thread", pu_run_memcpy, 0 },
			  { "D2 hits + punch other $", pu_run_elsewhere, 0 },
		  }, 4, true, NULL);
	pu_rec_variant(rep, o, "A2 punch+rewrite rate", "cycles/s", bg.rec[PU_PUNCH].rate,
		       bg.rec[PU_PUNCH].n);
	pu_rec_variant(rep, o, "C2 memcpy rate", "cycles/s", bg.rec[PU_MEMCPY].rate,
		       bg.rec[PU_MEMCPY].n);
	pu_rec_variant(rep, o, "D2 punch+rewrite rate", "cycles/s", bg.rec[PU_ELSEWHERE].rate,
		       bg.rec[PU_ELSEWHERE].n);
	pu_rec_variant(rep, o, "A2 reader CPU share", "%", bg.rec[PU_PUNCH].cpu,
		       bg.rec[PU_PUNCH].n);
	pu_rec_variant(rep, o, "B2 reader CPU share", "%", bg.rec[PU_ALONE].cpu,
		       bg.rec[PU_ALONE].n);
	pu_rec_variant(rep, o, "C2 reader CPU share", "%", bg.rec[PU_MEMCPY].cpu,
		       bg.rec[PU_MEMCPY].n);
	pu_rec_variant(rep, o, "D2 reader CPU share", "%", bg.rec[PU_ELSEWHERE].cpu,
		       bg.rec[PU_ELSEWHERE].n);

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

static void scenario_punch(const struct pcb_opts *o, struct pcb_report *rep)
{
	uint64_t size = o->size ? o->size : o->quick ? PU_QUICK_SIZE : PU_DEFAULT_SIZE;

	if (size < PCB_MIB || size % PCB_MIB)
		die("--size must be a positive multiple of 1 MiB");
	report_param(rep, "size", true, "%" PRIu64, size);
	pu_part1(o, rep, size);
	pu_part2(o, rep);

	report_ratio(rep, "pc_punch speed relative to fallocate punch", "B1 / A1 (ms)",
		     median_of(rep, "B1 fallocate punch") / median_of(rep, "A1 pc_punch"), 0);
	report_ratio(rep, "hits with a punching thread / alone", "A2 / B2",
		     median_of(rep, "A2 hits + punch thread") / median_of(rep, "B2 hits alone"), 0);
	report_ratio(rep, "hits with a memcpy thread / alone (control)", "C2 / B2",
		     median_of(rep, "C2 hits + memcpy thread") /
			     median_of(rep, "B2 hits alone"), 0);
	report_ratio(rep, "hits with punching in another cache / alone", "D2 / B2",
		     median_of(rep, "D2 hits + punch other $") /
			     median_of(rep, "B2 hits alone"), 0);
	report_ratio(rep, "hits, punching same object / another cache", "A2 / D2",
		     median_of(rep, "A2 hits + punch thread") /
			     median_of(rep, "D2 hits + punch other $"), 0);
}

/* ---- Scenario "memory" ---- */

#define MEM_SPARSE_STRIDE	64	/* the sparse object: one page every 64 */
#define MEM_CHUNK		PCB_MIB

struct mem_obj {
	const char *meta_name, *heap_name;
	uint64_t pages;			/* pages written */
	uint64_t stride;		/* 1: dense; else one page every @stride */
};

static void scenario_memory(const struct pcb_opts *o, struct pcb_report *rep)
{
	static const struct mem_obj objs[] = {
		{ "meta 1 page", "heap 1 page", 1, 1 },
		{ "meta 64 pages", "heap 64 pages", 64, 1 },
		{ "meta 1024 pages", "heap 1024 pages", 1024, 1 },
		{ "meta 65536 pages", "heap 65536 pages", 65536, 1 },
		{ "meta sparse 1/64", "heap sparse 1/64", 1024, MEM_SPARSE_STRIDE },
	};
	enum { N = sizeof(objs) / sizeof(objs[0]) };
	struct pc_cache *c[N];
	struct pc_backend *b[N];
	struct pc_mapping *m[N];
	double meta[N], heap[N];
	uint64_t dmeta[N], dnodes[N], dpages[N];
	size_t page = pc_page_size();
	unsigned char *pattern = xmalloc_aligned(page, MEM_CHUNK);
	uint64_t seed = 0x3e3e3e3e3e3e3e3eull;
	char name[32];

	(void)o;
	rep->untimed = true;
	for (size_t i = 0; i < MEM_CHUNK / 8; i++)
		((uint64_t *)pattern)[i] = xorshift64s(&seed);
	report_param(rep, "method", false, "own cache + RAM backend each, all kept open; "
		     "pc_write + pc_sync; background writeback off");

	for (unsigned i = 0; i < N; i++) {
		uint64_t span = objs[i].pages * objs[i].stride * page;
		uint64_t bytes = objs[i].pages * page;
		struct pc_stats s0, s1;
		struct mallinfo2 mi0, mi1;

		check(pc_cache_new(&c[i], bytes + HIT_SLACK), "pc_cache_new");
		/* No background writeback: every allocation is this thread's, in this window. */
		check(pc_cache_set_writeback(c[i], 100, 3600 * 1000), "pc_cache_set_writeback");
		check(pc_backend_ram_new(&b[i], bytes + HIT_SLACK), "pc_backend_ram_new");
		snprintf(name, sizeof(name), "pcbench-memory-%u", i);
		check(pc_open(&m[i], c[i], b[i], name, PC_CREAT | PC_TRUNC), "pc_open");

		check(pc_stats(c[i], &s0, sizeof(s0)), "pc_stats");
		mi0 = mallinfo2();
		if (objs[i].stride == 1) {
			for (uint64_t off = 0; off < span; off += MEM_CHUNK) {
				size_t n = span - off < MEM_CHUNK ? span - off : MEM_CHUNK;
				ssize_t r = pc_write(m[i], pattern, n, off, 0);

				if (check(r, "pc_write") != (long long)n)
					die("pc_write: short write");
			}
		} else {
			for (uint64_t p = 0; p < objs[i].pages; p++) {
				uint64_t off = p * objs[i].stride * page;
				ssize_t r = pc_write(m[i], pattern, page, off, 0);

				if (check(r, "pc_write") != (long long)page)
					die("pc_write: short write");
			}
		}
		check(pc_sync(m[i], 0, 0), "pc_sync");
		mi1 = mallinfo2();
		check(pc_stats(c[i], &s1, sizeof(s1)), "pc_stats");
		if (s1.pages_cached != objs[i].pages || s0.pages_cached)
			die("%s: %" PRIu64 " pages cached, expected %" PRIu64, objs[i].meta_name,
			    s1.pages_cached, objs[i].pages);
		dmeta[i] = s1.meta_bytes - s0.meta_bytes;
		dnodes[i] = s1.index_nodes - s0.index_nodes;
		dpages[i] = s1.pages_cached;
		meta[i] = (double)dmeta[i] / (double)dpages[i];
		heap[i] = ((double)mi1.uordblks - (double)mi0.uordblks) / (double)dpages[i];
	}

	for (unsigned i = 0; i < N; i++) {
		struct pcb_variant *v = report_variant(rep, objs[i].meta_name, "B/page", 1);

		v->ops = dpages[i];
		v->runs[v->nruns++] = meta[i];
		variant_summarise(v);
	}
	for (unsigned i = 0; i < N; i++) {
		struct pcb_variant *v = report_variant(rep, objs[i].heap_name, "B/page", 1);

		v->ops = dpages[i];
		v->runs[v->nruns++] = heap[i];
		variant_summarise(v);
	}
	for (unsigned i = 0; i < N; i++) {
		static const char *const keys[N] = { "obj 1", "obj 64", "obj 1024", "obj 65536",
						     "obj sparse" };

		report_param(rep, keys[i], false, "%" PRIu64 " pages cached over %" PRIu64
			     " KiB, %" PRIu64 " index nodes, meta_bytes %" PRIu64, dpages[i],
			     objs[i].pages * objs[i].stride * page / 1024, dnodes[i], dmeta[i]);
	}
	/* The two sizes behind meta_bytes, from the first two objects (pages*P + nodes*N). */
	{
		double det = (double)dpages[0] * (double)dnodes[1] -
			     (double)dpages[1] * (double)dnodes[0];

		if (det != 0) {
			double pp = ((double)dmeta[0] * (double)dnodes[1] -
				     (double)dmeta[1] * (double)dnodes[0]) / det;
			double nn = ((double)dpages[0] * (double)dmeta[1] -
				     (double)dpages[1] * (double)dmeta[0]) / det;

			report_param(rep, "sizes", false, "page struct %.0f B, index node %.0f B "
				     "(%u slots), as meta_bytes counts them", pp, nn, 64u);
		}
	}
	report_ratio(rep, "metadata / page data, dense 65536 pages", "meta / 4096",
		     meta[3] / (double)page, 0);
	report_ratio(rep, "metadata / page data, sparse 1/64", "meta / 4096",
		     meta[4] / (double)page, 0);

	for (unsigned i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "pcbench-memory-%u", i);
		check(pc_close(&m[i]), "pc_close");
		check(pc_backend_unlink(b[i], name), "pc_backend_unlink");
		pc_backend_delete(&b[i]);
		pc_cache_delete(&c[i]);
	}
	free(pattern);
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
	if (rep->untimed)
		printf("  %-12s counted once, not timed (--runs and --seconds do not apply)\n",
		       "runs");
	else
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
	if (rep->untimed)
		fputs(", \"untimed\": true", f);
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
