/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The harness shared by pcbench's scenarios (harness.c, hitobj.c).
 */
#ifndef PCBENCH_HARNESS_H
#define PCBENCH_HARNESS_H

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
#define PCB_MAX_THREADS		4
#define PCB_DEFAULT_RUNS	7
#define PCB_QUICK_RUNS		3
#define PCB_DEFAULT_SECONDS	0.3

#define PCB_N(a)		(sizeof(a) / sizeof((a)[0]))
#define pcb_unlikely(x) __builtin_expect(!!(x), 0)
#define pcb_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* Keeps results alive: the compiler must assume someone reads it. */
extern volatile uint64_t pcb_sink;

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

/* The scenarios, one a file (sc_*.c), in the table of pcbench.c. */
void scenario_hit(const struct pcb_opts *o, struct pcb_report *rep);
void scenario_fileio(const struct pcb_opts *o, struct pcb_report *rep);
void scenario_miss(const struct pcb_opts *o, struct pcb_report *rep);
void scenario_reclaim(const struct pcb_opts *o, struct pcb_report *rep);
void scenario_readhit(const struct pcb_opts *o, struct pcb_report *rep);
void scenario_mmap(const struct pcb_opts *o, struct pcb_report *rep);
void scenario_punch(const struct pcb_opts *o, struct pcb_report *rep);
void scenario_scale(const struct pcb_opts *o, struct pcb_report *rep);
void scenario_memory(const struct pcb_opts *o, struct pcb_report *rep);
void scenario_dax(const struct pcb_opts *o, struct pcb_report *rep);
void scenario_dax_pmem(const struct pcb_opts *o, struct pcb_report *rep);

/* ---- Helpers (harness.c) ---- */

void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
long long check(long long r, const char *what);
void *xmalloc_aligned(size_t align, size_t size);
const char *pcb_fs_name(long type);

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: fast, fixed sequence for a fixed seed. */
static inline uint64_t xorshift64s(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* ---- Reports ---- */

void variant_summarise(struct pcb_variant *v);
struct pcb_variant *report_variant(struct pcb_report *rep, const char *name,
				   const char *unit, unsigned runs);
void report_ratio(struct pcb_report *rep, const char *name, const char *formula,
		  double value, double goal);
double median_of(const struct pcb_report *rep, const char *name);
/* A ratio of the medians of the variants @num and @den, as report_ratio(). */
struct pcb_ratio_of {
	const char *name, *formula, *num, *den;
	double goal;
};
void report_ratios(struct pcb_report *rep, const struct pcb_ratio_of *rs, size_t n);
void report_param(struct pcb_report *rep, const char *key, bool number, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
const char *report_param_get(const struct pcb_report *rep, const char *key);

/* ---- Objects ---- */

/* Write @size bytes of @src to @m from offset 0, in 1 MiB calls, and pc_sync(). */
void pcb_write_sync(struct pc_mapping *m, const unsigned char *src, uint64_t size);
/* Read @m back in 1 MiB calls; die (naming @what) unless it equals @src. */
void pcb_read_check(struct pc_mapping *m, const unsigned char *src, uint64_t size,
		    const char *what);

/* ---- Timed threads ---- */

/*
 * One thread of a timed run over several threads.  A scenario's worker
 * embeds it; loop() does @k operations and returns a sum of what it read.
 * Each thread does one operation before the clock starts (the library
 * registers the thread), then all start together at a barrier.
 */
struct pcb_thread {
	uint64_t (*loop)(struct pcb_thread *t, uint64_t k);
	uint64_t ops;
	/* Set by pcb_threads_run(): */
	pthread_barrier_t *start;
	uint64_t t0, t1, sum;
};

/* Run the @n threads of @ts, each its own ops; the wall time from the
 * first start to the last end, in ns. */
uint64_t pcb_threads_run(struct pcb_thread *const *ts, unsigned n);

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

void load_sample(struct pcb_load *l);
void load_account(struct pcb_machine *mc, const struct pcb_load *a, const struct pcb_load *b);
void machine_facts(struct pcb_machine *mc);

/* A directory on a disk file system ("miss", "reclaim"); its statfs type. */
bool pcb_disk_fs(long type);
void pcb_disk_dir(char *dir, size_t size, long *fs_type);

/* ---- Output ---- */

void print_report(const struct pcb_report *rep, const struct pcb_opts *o,
		  const struct pcb_machine *mc, const char *desc);
void write_json(const char *path, const struct pcb_report *rep, const struct pcb_opts *o,
		const struct pcb_machine *mc);

#endif /* PCBENCH_HARNESS_H */
