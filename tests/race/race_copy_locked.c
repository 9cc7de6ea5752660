/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Race: copy under the exclusive invalidate_lock (G7).
 *
 * An engine that copies or dedupes a range takes both mappings'
 * invalidate_locks exclusive (pc_invalidate_lock_two()), reads the source
 * with PC_LOCKED, which still populates pages, writes the destination with
 * PC_LOCKED, and unlocks.  Every other modification of either mapping
 * holds the lock at least shared for its whole length, so the copy is
 * atomic with respect to them: it sees each of them whole or not at all.
 *
 * A writer rewrites the whole source range R (RANGE_PAGES pages) with one
 * pc_write() whose pages all carry one new generation (one writer: two
 * concurrent writes of one range may interleave page by page, which no
 * lock here forbids); a puncher punches all of R now and then (zeros:
 * generation 0 everywhere), and drops clean pages so that the copier's
 * PC_LOCKED reads have to fill them; a reader reads the source without
 * locks, racing those fills with its own.  The copier, holding both locks,
 * reads R and checks that every page has the same generation (a torn copy
 * mixes two), writes it to the destination, reads the destination back
 * under the same locks, and checks it equals what it read.
 *
 * Usage: race_copy_locked [--ops N] [--min-seconds S] [--seconds S]
 *                         [--backend ram|file|pmem] [--expect-violations]
 * The mutant write_without_invalidate_lock lets pc_write() run without the
 * lock; the copier then sees torn generations.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pagecache.h>

#include "race_backend.h"
#include "race_common.h"

#define RANGE_PAGES 8
#define MAGIC 0x67377a43u

static struct pc_cache *cache;
static struct pc_mapping *src, *dst;
static uint32_t next_gen = 1;	/* atomic */

static void report(const char *who, unsigned page, uint32_t got, uint32_t want)
{
	if (race_violation())
		fprintf(stderr, "violation (%s): page %u has generation %u, expected %u\n",
			who, page, got, want);
}

/* The generation a stamped page carries, or 0 for zeros; ~0 for garbage. */
static uint32_t gen_of(const unsigned char *page)
{
	const struct rec *r = (const struct rec *)page;
	uint32_t g = r[0].magic == MAGIC ? r[0].gen : 0;

	for (unsigned i = 0; i < PS / sizeof(*r); i++) {
		if (g == 0 ? (r[i].magic | r[i].gen | r[i].page | r[i].obj) != 0 :
			     r[i].magic != MAGIC || r[i].gen != g)
			return ~0u;
	}
	return g;
}

static void *writer(void *arg)
{
	unsigned char *buf = aligned_alloc(PS, RANGE_PAGES * PS);

	(void)arg;
	while (race_keep_going()) {
		uint32_t g = __atomic_fetch_add(&next_gen, 1, __ATOMIC_RELAXED);

		for (unsigned p = 0; p < RANGE_PAGES; p++)
			stamp(buf + p * PS, MAGIC, 1, p, g);
		if (pc_write(src, buf, RANGE_PAGES * PS, 0, 0) != RANGE_PAGES * PS) {
			fprintf(stderr, "pc_write failed\n");
			exit(2);
		}
	}
	free(buf);
	return NULL;
}

static void *puncher(void *arg)
{
	uint64_t s = 0x9e3779b97f4a7c15ull;

	(void)arg;
	while (race_keep_going()) {
		int r;

		if (rnd(&s) % 4 == 0) {
			r = pc_punch(src, 0, RANGE_PAGES * PS);
		} else {
			/* Drop clean pages, so that the copier's reads fill them. */
			pc_invalidate_lock(src);
			r = pc_invalidate_range(src, 0, RANGE_PAGES * PS);
			pc_invalidate_unlock(src);
			if (r == -EBUSY)
				r = 0;
		}
		if (r < 0) {
			fprintf(stderr, "punch/invalidate: %s\n", strerror(-r));
			exit(2);
		}
	}
	return NULL;
}

static void *copier(void *arg)
{
	unsigned char *buf = aligned_alloc(PS, RANGE_PAGES * PS);
	unsigned char *back = aligned_alloc(PS, RANGE_PAGES * PS);

	(void)arg;
	while (race_keep_going()) {
		uint32_t g0;
		ssize_t n;

		pc_invalidate_lock_two(src, dst);
		n = pc_read(src, buf, RANGE_PAGES * PS, 0, PC_LOCKED);
		if (n != RANGE_PAGES * PS) {
			fprintf(stderr, "PC_LOCKED read: %zd\n", n);
			exit(2);
		}
		g0 = gen_of(buf);
		for (unsigned p = 0; p < RANGE_PAGES; p++) {
			uint32_t g = gen_of(buf + p * PS);

			if (g != g0 || g == ~0u) {
				report("copy is torn", p, g, g0);
				break;
			}
		}
		if (pc_write(dst, buf, RANGE_PAGES * PS, 0, PC_LOCKED) != RANGE_PAGES * PS ||
		    pc_read(dst, back, RANGE_PAGES * PS, 0, PC_LOCKED) != RANGE_PAGES * PS) {
			fprintf(stderr, "PC_LOCKED copy failed\n");
			exit(2);
		}
		if (memcmp(buf, back, RANGE_PAGES * PS))
			report("destination differs from the copy", 0, gen_of(back), g0);
		pc_invalidate_unlock_two(src, dst);
	}
	free(buf);
	free(back);
	return NULL;
}

static void *reader(void *arg)
{
	unsigned char *page = aligned_alloc(PS, PS);
	uint64_t s = 0x2545f4914f6cdd1dull;

	(void)arg;
	while (race_keep_going()) {
		unsigned p = (unsigned)(rnd(&s) % RANGE_PAGES);

		/* Unchecked: a read may see a page mid-write (no lock forbids it). */
		if (pc_read(src, page, PS, (uint64_t)p * PS, 0) != PS) {
			fprintf(stderr, "pc_read failed\n");
			exit(2);
		}
	}
	free(page);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *backend = "ram";
	struct pc_backend *b;
	void *(*fn[])(void *) = { writer, puncher, copier, reader };
	pthread_t t[sizeof(fn) / sizeof(fn[0])];
	unsigned char *zero = calloc(1, RANGE_PAGES * PS);

	race.max_ops = 200000;
	race.max_seconds = 120;
	race.min_seconds = 3;
	race.check_every = 255;
	for (int i = 1; i < argc; i++) {
		if (race_option(argc, argv, &i))
			continue;
		if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
			backend = argv[++i];
		} else {
			fprintf(stderr, "usage: %s [--ops N] [--min-seconds S] [--seconds S] "
				"[--backend ram|file|pmem] [--expect-violations]\n", argv[0]);
			return 2;
		}
	}
	race_options_done();
	if (pc_cache_new(&cache, 4 << 20) < 0) {
		fprintf(stderr, "pc_cache_new failed\n");
		return 2;
	}
	if (race_backend_new(&b, backend, 64 << 20) < 0)	/* exits 77 without pmem */
		return 2;
	if (pc_open(&src, cache, b, "src", PC_CREAT | PC_TRUNC) < 0 ||
	    pc_open(&dst, cache, b, "dst", PC_CREAT | PC_TRUNC) < 0 ||
	    pc_write(src, zero, RANGE_PAGES * PS, 0, 0) < 0 ||
	    pc_write(dst, zero, RANGE_PAGES * PS, 0, 0) < 0) {
		fprintf(stderr, "setup failed\n");
		return 2;
	}
	race_start();
	for (unsigned i = 0; i < sizeof(fn) / sizeof(fn[0]); i++)
		pthread_create(&t[i], NULL, fn[i], NULL);
	for (unsigned i = 0; i < sizeof(fn) / sizeof(fn[0]); i++)
		pthread_join(t[i], NULL);
	printf("race_copy_locked (%s): %llu ops in %.1f s, %llu violations\n", backend,
	       (unsigned long long)race.ops_done, race_elapsed(),
	       (unsigned long long)race.violations);
	if (pc_close(&src) < 0 || pc_close(&dst) < 0)
		fprintf(stderr, "pc_close reported an error\n");
	race_backend_delete(&b);
	pc_cache_delete(&cache);
	free(zero);
	return race_verdict("race");
}
