/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Race: DAX read faults of a hole against write faults allocating the same
 * page (G5, seeds/001).
 *
 * Each round punches every page of a DAX object back to a hole; then
 * --threads threads fault the pages in random order, each fault at random
 * a read fault or a write fault.  Thread t owns an 8-byte slot of every
 * page; a write fault stores the stamp (magic, round, page, t) in the
 * slot, through the pin, and then publishes "t has written page p this
 * round" in a per-page bitmask.  A slot is one 64-bit word, stored and
 * loaded atomically, so a reader never sees half a stamp.
 *
 * A fault checks, with its pin held, every slot of its page: each must be
 * zero or its owner's stamp for this round and page (else: garbage), and
 * every owner whose bit was set before the fault began must be there (else:
 * a write was lost: a read fault stored "hole" over the block a write fault
 * had allocated, and the page now reads as the zero page).  At the end of a
 * round the whole object is read back with pc_read and checked the same
 * way against the final bitmasks.
 *
 * Usage: race_dax_hole [--threads N] [--pages N] [--seconds S] [--min-seconds S]
 *                      [--backend ram|pmem] [--dir DIR] [--expect-violations]
 * It runs for --min-seconds (default 3) or, with --expect-violations (the
 * dax_no_entry_lock mutant build), until the first violation or --seconds
 * (default 60).  With --expect-violations it passes only if it sees one.
 * Prints "N passed, N failed".
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pagecache.h>

#include "race_backend.h"

#define PS 4096u
#define MAGIC 0xdaull
#define MAX_THREADS 32
#define MAX_PAGES 256

/* A slot: magic (8 bits), owner (8), page (16), round (32). */
static uint64_t stamp(uint32_t round, unsigned page, unsigned owner)
{
	return (uint64_t)MAGIC << 56 | (uint64_t)owner << 48 | (uint64_t)page << 32 | round;
}

static struct pc_mapping *m;
static int nthreads = 4, npages = 8;
static uint32_t round_no;		/* atomic */
static uint64_t written[MAX_PAGES];	/* atomic: owners that wrote the page this round */
static uint64_t violations, faults;	/* atomic */
static pthread_barrier_t start_bar, end_bar;
static int stop;			/* atomic */
static bool expect;

static void report(const char *what, unsigned page, unsigned owner, uint64_t v)
{
	if (__atomic_fetch_add(&violations, 1, __ATOMIC_RELAXED) < 5)
		printf("violation (%s): round %u page %u slot %u holds %016llx\n", what,
		       __atomic_load_n(&round_no, __ATOMIC_RELAXED), page, owner,
		       (unsigned long long)v);
}

/* Check page @page's bytes @data against the writers in @must (and no garbage). */
static void check_page(const unsigned char *data, unsigned page, uint64_t must, uint32_t round)
{
	const uint64_t *slots = (const uint64_t *)data;

	for (int t = 0; t < nthreads; t++) {
		uint64_t v = __atomic_load_n(&slots[t], __ATOMIC_RELAXED);

		if (v == 0) {
			if (must & (1ull << t))
				report("lost write", page, (unsigned)t, v);
		} else if (v != stamp(round, page, (unsigned)t)) {
			report("garbage", page, (unsigned)t, v);
		}
	}
	for (size_t i = (size_t)nthreads * 8; i < PS; i++)
		if (data[i]) {
			report("garbage past the slots", page, (unsigned)i, data[i]);
			break;
		}
}

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg;
	uint64_t rnd = 0x9e3779b97f4a7c15ull * (uint64_t)(t + 1);

	for (;;) {
		uint32_t round;

		pthread_barrier_wait(&start_bar);
		if (__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
			break;
		round = __atomic_load_n(&round_no, __ATOMIC_ACQUIRE);
		for (int k = 0; k < 4 * npages; k++) {
			unsigned page = (unsigned)(xorshift(&rnd) % (uint64_t)npages);
			bool write = (xorshift(&rnd) & 3) == 0 &&
				     !(__atomic_load_n(&written[page], __ATOMIC_ACQUIRE) & (1ull << t));
			uint64_t must = __atomic_load_n(&written[page], __ATOMIC_ACQUIRE);
			struct pc_page *p;
			int r;

			r = pc_fault(m, (uint64_t)page * PS, write ? PC_FAULT_WRITE : 0, &p);
			if (r) {
				printf("pc_fault: %s\n", strerror(-r));
				__atomic_fetch_add(&violations, 1, __ATOMIC_RELAXED);
				continue;
			}
			__atomic_fetch_add(&faults, 1, __ATOMIC_RELAXED);
			if (write) {
				__atomic_store_n((uint64_t *)pc_page_addr(p) + t,
						 stamp(round, page, (unsigned)t), __ATOMIC_RELAXED);
				must |= 1ull << t;
			}
			check_page(pc_page_addr(p), page, must, round);
			pc_page_put(p);
			if (write)
				__atomic_fetch_or(&written[page], 1ull << t, __ATOMIC_RELEASE);
		}
		pthread_barrier_wait(&end_bar);
	}
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double seconds = 60, min_seconds = 3, t0;
	const char *backend = "ram";
	pthread_t th[MAX_THREADS];
	struct pc_backend *dev;
	struct pc_cache *cache;
	unsigned char *buf;
	uint32_t rounds = 0;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			nthreads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--pages") && i + 1 < argc)
			npages = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--min-seconds") && i + 1 < argc)
			min_seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--backend") && i + 1 < argc)
			backend = argv[++i];
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			race_base_dir = argv[++i];
		else if (!strcmp(argv[i], "--expect-violations"))
			expect = true;
		else
			return 2;
	}
	if (nthreads < 1 || nthreads > MAX_THREADS || npages < 1 || npages > MAX_PAGES)
		return 2;
	r = race_backend_new(&dev, backend, 4 << 20);
	if (r == -2)
		return 77;
	if (r < 0 || pc_cache_new(&cache, 0) ||
	    pc_open(&m, cache, dev, "victim", PC_CREAT | PC_TRUNC | PC_DAX) ||
	    pc_truncate(m, (uint64_t)npages * PS))
		return 1;
	buf = malloc((size_t)npages * PS);
	pthread_barrier_init(&start_bar, NULL, (unsigned)nthreads + 1);
	pthread_barrier_init(&end_bar, NULL, (unsigned)nthreads + 1);
	for (int t = 0; t < nthreads; t++)
		pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t);
	t0 = now();
	for (;;) {
		double el = now() - t0;

		if (expect ? (__atomic_load_n(&violations, __ATOMIC_RELAXED) || el > seconds)
			   : el > min_seconds)
			break;
		/* Back to holes; no pin is held between rounds. */
		if ((r = pc_punch(m, 0, (uint64_t)npages * PS))) {
			printf("pc_punch: %s\n", strerror(-r));
			return 1;
		}
		memset(written, 0, sizeof(written));
		__atomic_store_n(&round_no, ++rounds, __ATOMIC_RELEASE);
		pthread_barrier_wait(&start_bar);
		pthread_barrier_wait(&end_bar);
		/* Every write of the round is there, read through pc_read as well. */
		if (pc_read(m, buf, (size_t)npages * PS, 0, 0) != (ssize_t)npages * PS)
			return 1;
		for (int pg = 0; pg < npages; pg++)
			check_page(buf + (size_t)pg * PS, (unsigned)pg, written[pg], rounds);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_barrier_wait(&start_bar);
	for (int t = 0; t < nthreads; t++)
		pthread_join(th[t], NULL);
	if (pc_sync(m, 0, 0) || pc_close(&m))
		return 1;
	free(buf);
	race_backend_delete(&dev);
	pc_cache_delete(&cache);
	printf("%u rounds, %llu faults, %llu violations in %.1f s\n", rounds,
	       (unsigned long long)faults, (unsigned long long)violations, now() - t0);
	bool ok = expect ? violations > 0 : violations == 0;

	if (expect)
		printf("mutant build: the lost write was %s\n", violations ? "caught" : "MISSED");
	printf("%d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
	return ok ? 0 : 1;
}
