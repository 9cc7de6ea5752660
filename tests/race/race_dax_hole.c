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
 * Usage: race_dax_hole [--threads N] [--pages N] [--ops N] [--seconds S]
 *                      [--min-seconds S] [--backend ram|pmem] [--dir DIR]
 *                      [--expect-violations]
 * It runs for --min-seconds (default 3) and --ops faults (default 0) or,
 * with --expect-violations (the dax_no_entry_lock mutant build), until the
 * first violation or --seconds (default 60), in rounds (race_common.h).
 * With --expect-violations it passes only if it sees one.  Prints
 * "N passed, N failed".
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pagecache.h>

#include "race_backend.h"
#include "race_common.h"

#define MAGIC 0xdaull
#define MAX_THREADS 32
#define MAX_PAGES 256

/* A slot: magic (8 bits), owner (8), page (16), round (32). */
static uint64_t slot_stamp(uint32_t round, unsigned page, unsigned owner)
{
	return (uint64_t)MAGIC << 56 | (uint64_t)owner << 48 | (uint64_t)page << 32 | round;
}

static struct pc_mapping *m;
static int nthreads = 4, npages = 8;
static const struct race_int_opt options[] = {
	{ "--threads", &nthreads, 1, MAX_THREADS },
	{ "--pages", &npages, 1, MAX_PAGES },
	{ NULL, NULL, 0, 0 },
};
static uint32_t round_no;		/* atomic */
static uint64_t written[MAX_PAGES];	/* atomic: owners that wrote the page this round */
static pthread_barrier_t start_bar, end_bar;

static void report(const char *what, unsigned page, unsigned owner, uint64_t v)
{
	if (race_violation_first(5))
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
		} else if (v != slot_stamp(round, page, (unsigned)t)) {
			report("garbage", page, (unsigned)t, v);
		}
	}
	for (size_t i = (size_t)nthreads * 8; i < PS; i++)
		if (data[i]) {
			report("garbage past the slots", page, (unsigned)i, data[i]);
			break;
		}
}

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg;
	uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(t + 1);

	for (;;) {
		uint32_t round;

		pthread_barrier_wait(&start_bar);
		if (!race_running())	/* race_over() before the barrier */
			break;
		round = __atomic_load_n(&round_no, __ATOMIC_ACQUIRE);
		for (int k = 0; k < 4 * npages; k++) {
			unsigned page = (unsigned)(rnd(&s) % (uint64_t)npages);
			bool write = (rnd(&s) & 3) == 0 &&
				     !(__atomic_load_n(&written[page], __ATOMIC_ACQUIRE) & (1ull << t));
			uint64_t must = __atomic_load_n(&written[page], __ATOMIC_ACQUIRE);
			struct pc_page *p;
			int r;

			r = pc_fault(m, (uint64_t)page * PS, write ? PC_FAULT_WRITE : 0, &p);
			if (r) {
				printf("pc_fault: %s\n", strerror(-r));
				race_violation();
				continue;
			}
			race_op();
			if (write) {
				__atomic_store_n((uint64_t *)pc_page_addr(p) + t,
						 slot_stamp(round, page, (unsigned)t), __ATOMIC_RELAXED);
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

int main(int argc, char **argv)
{
	pthread_t th[MAX_THREADS];
	struct pc_backend *dev;
	struct pc_cache *cache;
	unsigned char *buf;
	uint32_t rounds = 0;
	int r;

	race_watched(3, 60);
	if (race_args(argc, argv, race_backend_option, options))
		return 2;
	if (race_backend_new(&dev, race_backend_kind, 4 << 20) || pc_cache_new(&cache, 0) ||
	    pc_open(&m, cache, dev, "victim", PC_CREAT | PC_TRUNC | PC_DAX) ||
	    pc_truncate(m, (uint64_t)npages * PS))
		return 1;
	buf = malloc((size_t)npages * PS);
	pthread_barrier_init(&start_bar, NULL, (unsigned)nthreads + 1);
	pthread_barrier_init(&end_bar, NULL, (unsigned)nthreads + 1);
	for (int t = 0; t < nthreads; t++)
		pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t);
	race_start();
	while (!race_over()) {
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
	pthread_barrier_wait(&start_bar);	/* the workers see the stop */
	for (int t = 0; t < nthreads; t++)
		pthread_join(th[t], NULL);
	if (pc_sync(m, 0, 0) || pc_close(&m))
		return 1;
	free(buf);
	race_backend_delete(&dev);
	pc_cache_delete(&cache);
	printf("%u rounds, %llu faults, %llu violations in %.1f s\n", rounds,
	       (unsigned long long)race.ops_done, (unsigned long long)race.violations,
	       race_elapsed());
	return race_verdict("lost write");
}
