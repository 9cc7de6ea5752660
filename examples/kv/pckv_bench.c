/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pckv bench: puts, then gets without compaction and gets during continuous
 * compaction, in the same run.
 *
 * In a fresh data directory it puts --n keys with --vsize byte values from
 * --threads threads, then runs --runs rounds of two phases: --n random gets
 * with compaction off, and --n random gets while another thread runs
 * kv_compact() back to back (each pass copies every live record forward and
 * punches the old log: the heaviest compaction there is).  A progress line
 * shows on stderr (rewritten with \r on a tty, a line every 5 s otherwise).
 * The summary gives, per phase, the median ops/s over the rounds, the ops
 * per second of the workers' own CPU time, and the p50/p99 latency over all
 * rounds.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kv.h"
#include "pckv.h"
#include "stamp.h"

enum phase { PH_PUT, PH_GET, PH_GET_COMPACT, PH_N };
static const char *const phase_name[PH_N] = { "put", "get", "get+compact" };

struct worker {
	pthread_t th;
	enum phase ph;
	uint64_t first, count;	/* keys for puts; op count for gets */
	uint64_t nkeys, seed;
	uint32_t *lat;		/* ns per op */
	uint64_t nlat;
	double end;		/* when this worker finished */
	double cpu;		/* its thread CPU time */
};

static struct kv *kv;
static size_t vsize = 100;
static uint64_t done_ops;	/* atomic, for the progress line */
static int compact_stop;	/* atomic */
static uint64_t compact_passes;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int touch_fn(void *arg, const void *val, size_t vlen)
{
	const unsigned char *v = val;

	*(unsigned *)arg += vlen ? v[0] + v[vlen - 1] : 0;
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned char *val = malloc(vsize ? vsize : 1);
	uint64_t x = w->seed * 0x9e3779b97f4a7c15ull + 1;
	unsigned sink = 0;
	struct timespec ts;
	char key[32];

	if (!val)
		pckv_die("bench", -ENOMEM);
	for (uint64_t i = 0; i < w->count; i++) {
		uint64_t id, t;
		int r;

		if (w->ph == PH_PUT) {
			id = w->first + i;
		} else {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			id = x % w->nkeys;
		}
		stamp_key(key, sizeof(key), id);
		t = now_ns();
		if (w->ph == PH_PUT) {
			memset(val, (int)('a' + id % 26), vsize);
			r = kv_put(kv, key, strlen(key), val, vsize);
		} else {
			r = kv_get(kv, key, strlen(key), touch_fn, &sink);
		}
		t = now_ns() - t;
		if (r)
			pckv_die(w->ph == PH_PUT ? "put" : "get", r);
		w->lat[w->nlat++] = t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
		if ((i & 255) == 255)
			__atomic_fetch_add(&done_ops, 256, __ATOMIC_RELAXED);
	}
	free(val);
	w->end = now();
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	w->cpu = ts.tv_sec + ts.tv_nsec / 1e9;
	return NULL;
}

static void *compactor(void *arg)
{
	while (!__atomic_load_n(&compact_stop, __ATOMIC_ACQUIRE)) {
		int r = kv_compact(kv);

		if (r)
			pckv_die("compact", r);
		compact_passes++;
	}
	return NULL;
}

/*
 * Run one phase of @n ops on @nt threads; returns ops/s, appends latencies
 * to @all and adds the workers' CPU time to @cpu.
 */
static double run_phase(enum phase ph, uint64_t n, unsigned nt, uint64_t nkeys, unsigned round,
			uint32_t *all, uint64_t *nall, double *cpu)
{
	struct worker *w = calloc(nt, sizeof(*w));
	bool tty = isatty(2);
	double t0, last = 0, last_end = 0;
	pthread_t ct;

	if (!w)
		pckv_die("bench", -ENOMEM);
	__atomic_store_n(&done_ops, 0, __ATOMIC_RELAXED);
	if (ph == PH_GET_COMPACT) {
		__atomic_store_n(&compact_stop, 0, __ATOMIC_RELEASE);
		if (pthread_create(&ct, NULL, compactor, NULL))
			pckv_die("pthread_create", -EAGAIN);
	}
	t0 = now();
	for (unsigned i = 0; i < nt; i++) {
		w[i].ph = ph;
		w[i].first = n / nt * i;
		w[i].count = i + 1 == nt ? n - n / nt * i : n / nt;
		w[i].nkeys = nkeys;
		w[i].seed = round * 1000 + i + 1;
		w[i].lat = all + *nall + n / nt * i;
		if (pthread_create(&w[i].th, NULL, worker_main, &w[i]))
			pckv_die("pthread_create", -EAGAIN);
	}
	/* The progress line, until the workers are done. */
	for (;;) {
		uint64_t d = __atomic_load_n(&done_ops, __ATOMIC_RELAXED);
		double t = now() - t0;

		if (d + 256 * nt >= n)
			break;
		if (tty && t - last >= 0.2) {
			fprintf(stderr, "\r  round %u %-12s %9llu/%llu  %9.0f ops/s ", round,
				phase_name[ph], (unsigned long long)d, (unsigned long long)n, d / t);
			last = t;
		} else if (!tty && t - last >= 5) {
			fprintf(stderr, "  round %u %s %llu/%llu %.0f ops/s\n", round,
				phase_name[ph], (unsigned long long)d, (unsigned long long)n, d / t);
			last = t;
		}
		usleep(10 * 1000);
	}
	/* The phase ends when its last worker does, not when we notice. */
	for (unsigned i = 0; i < nt; i++) {
		pthread_join(w[i].th, NULL);
		if (w[i].end > last_end)
			last_end = w[i].end;
		*cpu += w[i].cpu;
	}
	t0 = last_end - t0;
	if (ph == PH_GET_COMPACT) {
		__atomic_store_n(&compact_stop, 1, __ATOMIC_RELEASE);
		pthread_join(ct, NULL);
	}
	if (tty)
		fprintf(stderr, "\r\033[K");
	*nall += n;
	free(w);
	return n / t0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int pckv_bench(struct kv_options *o, const char *dir, int argc, char **argv)
{
	uint64_t n = 200000, nlat[PH_N] = { 0 };
	unsigned nt = 2, runs = 3;
	uint32_t *lat[PH_N];
	double rate[PH_N][64], cpu[PH_N] = { 0 };
	struct kv_stats st;
	char *data;
	int r;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--n") && i + 1 < argc)
			n = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			nt = (unsigned)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = (unsigned)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--vsize") && i + 1 < argc)
			vsize = strtoull(argv[++i], NULL, 0);
		else {
			fprintf(stderr, "usage: pckv bench [--n N] [--threads T] [--runs R] "
					"[--vsize B]\n");
			return 2;
		}
	}
	if (!n || !nt || nt > 256 || n < nt || !runs || runs > 64 || vsize > (1u << 20)) {
		fprintf(stderr, "pckv bench: need N >= T >= 1, T <= 256, 1 <= R <= 64, "
				"B <= 1 MiB\n");
		return 2;
	}
	data = pckv_fresh_dir(dir, dir ? "bench" : "pckv-bench");
	o->dir = data;
	if (pckv_open(&kv, o))
		return 2;
	kv_set_compaction(kv, 0, 0);	/* only the get+compact phase compacts */
	for (int p = 0; p < PH_N; p++) {
		lat[p] = malloc(sizeof(uint32_t) * n * (p == PH_PUT ? 1 : runs));
		if (!lat[p])
			pckv_die("bench", -ENOMEM);
	}
	printf("pckv bench: %llu keys, %zu-byte values, %u threads, %u rounds, %s backend, "
	       "sync %s, in %s\n", (unsigned long long)n, vsize, nt, runs,
	       o->dax ? "pmem (DAX)" : "file", o->sync == KV_SYNC_ALWAYS ? "always" : "none",
	       o->dir);
	rate[PH_PUT][0] = run_phase(PH_PUT, n, nt, n, 0, lat[PH_PUT], &nlat[PH_PUT],
				   &cpu[PH_PUT]);
	kv_sync(kv);
	for (unsigned rd = 0; rd < runs; rd++) {
		rate[PH_GET][rd] = run_phase(PH_GET, n, nt, n, rd + 1, lat[PH_GET], &nlat[PH_GET],
					    &cpu[PH_GET]);
		rate[PH_GET_COMPACT][rd] = run_phase(PH_GET_COMPACT, n, nt, n, rd + 1,
						    lat[PH_GET_COMPACT], &nlat[PH_GET_COMPACT],
						    &cpu[PH_GET_COMPACT]);
		printf("  round %u: get %.0f ops/s, get during compaction %.0f ops/s\n", rd + 1,
		       rate[PH_GET][rd], rate[PH_GET_COMPACT][rd]);
	}
	kv_stats(kv, &st);
	printf("\n%-12s %10s %12s %12s %10s %10s\n", "phase", "ops", "ops/s", "ops/cpu-s", "p50 us",
	       "p99 us");
	for (int p = 0; p < PH_N; p++) {
		unsigned nr = p == PH_PUT ? 1 : runs;
		double med;

		qsort(rate[p], nr, sizeof(double), cmp_double);
		med = nr % 2 ? rate[p][nr / 2] : (rate[p][nr / 2 - 1] + rate[p][nr / 2]) / 2;
		qsort(lat[p], nlat[p], sizeof(uint32_t), cmp_u32);
		printf("%-12s %10llu %12.0f %12.0f %10.2f %10.2f\n", phase_name[p],
		       (unsigned long long)nlat[p], med, nlat[p] / cpu[p], lat[p][nlat[p] / 2] / 1e3,
		       lat[p][nlat[p] * 99 / 100] / 1e3);
		free(lat[p]);
	}
	printf("(ops/s: median over rounds; ops/cpu-s: ops per second of the workers' own CPU\n"
	       " time, all rounds, which a machine shared with other work does not skew; latency:\n"
	       " all rounds pooled)\n");
	printf("compaction passes during get+compact: %llu, copied %llu MiB, punched %llu MiB, "
	       "gets retried: %llu\n", (unsigned long long)compact_passes,
	       (unsigned long long)(st.copied_bytes >> 20),
	       (unsigned long long)(st.punched_bytes >> 20), (unsigned long long)st.get_retries);
	printf("log file allocated %llu MiB for %llu MiB live\n",
	       (unsigned long long)(st.alloc_bytes >> 20), (unsigned long long)(st.live_bytes >> 20));
	r = kv_close(&kv);
	free(data);
	return r ? 2 : 0;
}
