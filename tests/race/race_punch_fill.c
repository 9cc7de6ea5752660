/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Race: punch and truncate against read/fault fills, with block reuse (G1, G2).
 *
 * One victim object is read and faulted by two threads while a third
 * punches, truncates and rewrites it, and, between punch and rewrite,
 * writes other objects of the same RAM device.  The device is small and reuses freed blocks at once,
 * last freed first, so a block the victim loses is soon another object's.
 *
 * Every 16-byte record of every page written carries a stamp: magic, object
 * id, page index and a generation.  A reader of victim page i accepts a
 * record only if each of its words is zero (a hole) or carries the stamp
 * (victim, i): a page being rewritten may be read half old, half new, and
 * that is not a violation.  Anything else is: another object's data, or
 * another page's, seen through a stale block mapping.  The invalidator
 * drops rewritten pages from the cache now and then, so that readers fill
 * them from the blocks.
 *
 * Each punch or truncate rewrites its range with a new generation g, and
 * once the call has returned the invalidator raises the range's floor to
 * g.  A reader loads the floor of its page before it starts, and a record
 * of an older generation is then a violation too: the other half of G1, a
 * read that starts after the punch returned never sees the old contents
 * (a stale page that a fill put back in the index after the punch removed
 * it, say).
 *
 * Usage: race_punch_fill [--ops N] [--min-seconds S] [--seconds S] [--backend ram|file|pmem]
 *                        [--dir DIR] [--expect-violations]
 * On the file backend each object is a file, so blocks are not visibly
 * reused between objects; the test then checks that a read sees zeros or
 * the victim's own data, of a generation no older than its floor.
 * It runs until at least N operations (default 10^6) and S seconds (default
 * 5) are done, or --seconds (default 120) have passed; with
 * --expect-violations, until the first violation.
 * With --expect-violations (the mutant build passes it through meson), the
 * test passes only if it sees a violation: that proves it catches the race
 * when the fill path skips the invalidate_lock.  Prints one line:
 * "N passed, N failed".
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pagecache.h>

#include "race_backend.h"
#include "race_common.h"

#define MAGIC 0x5043a7e5u
#define VICTIM_ID 100
#define VICTIM_PAGES 128
#define OTHER_PAGES 32
#define NR_OTHERS 3
#define DEVICE_PAGES (VICTIM_PAGES + NR_OTHERS * OTHER_PAGES + 64)

static struct pc_cache *cache;
static struct pc_backend *dev;
static struct pc_mapping *victim, *others[NR_OTHERS];
static uint64_t first_bad[6];
static uint32_t target_first, target_n = 1;	/* atomic: the invalidator's next range */
/* Atomic: per page, the oldest generation a read that starts now may see. */
static uint32_t floor_gen[VICTIM_PAGES];

/* Page @page as read by a read that started after loading @floor. */
static void check_page(const void *buf, uint32_t page, uint32_t floor)
{
	const struct rec *r = buf;

	for (unsigned i = 0; i < PS / sizeof(*r); i++) {
		struct rec x = r[i];	/* one snapshot: the page may change under us */

		if ((x.magic == 0 || x.magic == MAGIC) && (x.obj == 0 || x.obj == VICTIM_ID) &&
		    (x.page == 0 || x.page == page) && (x.gen == 0 || x.gen >= floor))
			continue;
		if (race_violation()) {
			first_bad[0] = page;
			first_bad[1] = x.obj;
			first_bad[2] = x.page;
			first_bad[3] = x.magic;
			first_bad[4] = x.gen;
			first_bad[5] = floor;
		}
		return;
	}
}

static void *reader(void *arg)
{
	uint64_t s = (uintptr_t)arg * 7919 + 1;
	char *buf = aligned_alloc(PS, PS);

	while (race_keep_going()) {
		uint32_t page = (uint32_t)(rnd(&s) % VICTIM_PAGES), floor;
		struct pc_page *p;

		if (rnd(&s) % 4 != 0)	/* mostly the range about to be punched */
			page = __atomic_load_n(&target_first, __ATOMIC_RELAXED) +
			       (uint32_t)(rnd(&s) % __atomic_load_n(&target_n, __ATOMIC_RELAXED));
		if (page >= VICTIM_PAGES)
			page = VICTIM_PAGES - 1;
		/* Acquire: pairs with the release in invalidator(). */
		floor = __atomic_load_n(&floor_gen[page], __ATOMIC_ACQUIRE);
		if (rnd(&s) & 1) {
			ssize_t n = pc_read(victim, buf, PS, (uint64_t)page * PS, 0);

			if (n == PS)
				check_page(buf, page, floor);
			else if (n != 0 && n != -ENOMEM)
				abort();
		} else {
			int r = pc_fault(victim, (uint64_t)page * PS, 0, &p);

			if (r == 0) {
				check_page(pc_page_addr(p), page, floor);
				pc_page_put(p);
			} else if (r != -ENXIO && r != -ENOMEM) {
				abort();
			}
		}
	}
	free(buf);
	return NULL;
}

/*
 * Write victim pages [first, first + n) with a new generation and sync them;
 * with @drop, drop them from the cache so that readers fill from the blocks.
 */
static void rewrite_victim(uint32_t first, uint32_t n, uint32_t gen, char *buf, bool drop)
{
	for (uint32_t i = first; i < first + n; i++) {
		stamp(buf, MAGIC, VICTIM_ID, i, gen);
		if (pc_write(victim, buf, PS, (uint64_t)i * PS, 0) != PS)
			abort();
	}
	if (pc_sync(victim, (uint64_t)first * PS, (uint64_t)n * PS) != 0)
		abort();
	if (drop) {
		pc_invalidate_lock(victim);
		if (pc_invalidate_range(victim, (uint64_t)first * PS, (uint64_t)n * PS))
			abort();
		pc_invalidate_unlock(victim);
	}
}

/*
 * The invalidator publishes the range it will punch next, so the readers
 * can be filling it (its pages were dropped after the last rewrite) when the
 * punch frees the blocks.  Right after the punch it writes another object,
 * which gets the freed blocks back first (LIFO), then frees those again and
 * rewrites the victim.
 */

static void give_blocks_to_other(uint32_t n, uint32_t gen, char *buf)
{
	struct pc_mapping *o = others[gen % NR_OTHERS];

	for (uint32_t i = 0; i < n; i++) {
		stamp(buf, MAGIC, 1 + gen % NR_OTHERS, i, gen);
		if (pc_write(o, buf, PS, (uint64_t)i * PS, 0) != PS)
			abort();
	}
	if (pc_sync(o, 0, 0) != 0 || pc_punch(o, 0, (uint64_t)n * PS) != 0)
		abort();
}

static void *invalidator(void *arg)
{
	uint64_t s = 0x9e3779b97f4a7c15ull;
	char *buf = aligned_alloc(PS, PS);
	uint32_t gen = 1;

	(void)arg;
	while (race_keep_going()) {
		uint32_t first = (uint32_t)(rnd(&s) % VICTIM_PAGES);
		uint32_t n = 1 + (uint32_t)(rnd(&s) % 16);
		bool truncate = rnd(&s) % 8 == 0;

		if (first + n > VICTIM_PAGES)
			n = VICTIM_PAGES - first;
		if (truncate)
			n = VICTIM_PAGES - first;
		__atomic_store_n(&target_n, n, __ATOMIC_RELAXED);
		__atomic_store_n(&target_first, first, __ATOMIC_RELAXED);
		for (int i = 0; i < 3; i++)
			sched_yield();	/* let the readers start filling the target */
		gen++;
		if (truncate) {
			if (pc_truncate(victim, (uint64_t)first * PS) != 0)
				abort();
		} else if (pc_punch(victim, (uint64_t)first * PS, (uint64_t)n * PS) != 0) {
			abort();
		}
		/* Release: a reader that sees the floor starts after the call returned. */
		for (uint32_t i = first; i < first + n; i++)
			__atomic_store_n(&floor_gen[i], gen, __ATOMIC_RELEASE);
		give_blocks_to_other(n > OTHER_PAGES ? OTHER_PAGES : n, gen, buf);
		rewrite_victim(first, n, gen, buf, rnd(&s) % 4 != 0);
	}
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[3];
	char *buf = aligned_alloc(PS, PS);

	race.max_ops = 1000000;
	race.max_seconds = 120;
	race.min_seconds = 5;
	race.check_every = 1023;
	for (int i = 1; i < argc; i++) {
		if (!race_option(argc, argv, &i) && !race_backend_option(argc, argv, &i)) {
			fprintf(stderr, "usage: %s [--ops N] [--min-seconds S] [--seconds S] [--backend ram|file|pmem] "
				"[--dir DIR] [--expect-violations]\n",
				argv[0]);
			return 2;
		}
	}
	if (pc_cache_new(&cache, 64ull << 20) ||
	    race_backend_new(&dev, race_backend_kind, DEVICE_PAGES * PS) ||
	    pc_open(&victim, cache, dev, "victim", PC_CREAT))
		return 1;
	for (int i = 0; i < NR_OTHERS; i++) {
		char name[16];

		snprintf(name, sizeof(name), "other%d", i);
		if (pc_open(&others[i], cache, dev, name, PC_CREAT))
			return 1;
	}
	race_options_done();
	rewrite_victim(0, VICTIM_PAGES, 1, buf, true);
	race_start();
	pthread_create(&t[0], NULL, reader, (void *)1);
	pthread_create(&t[1], NULL, reader, (void *)2);
	pthread_create(&t[2], NULL, invalidator, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);

	struct pc_stats st;
	pc_stats(cache, &st, sizeof(st));
	printf("ops %llu in %.1fs, violations %llu; punches %llu truncates %llu fills %llu "
	       "hits %llu pin_waits %llu\n",
	       (unsigned long long)race.ops_done, race_elapsed(), (unsigned long long)race.violations,
	       (unsigned long long)st.punches, (unsigned long long)st.truncates,
	       (unsigned long long)st.fills, (unsigned long long)st.hits,
	       (unsigned long long)st.pin_waits);
	if (race.violations)
		printf("first violation: victim page %llu held a record of object %llu page %llu "
		       "(magic %#llx) generation %llu, for a read that started at floor %llu\n",
		       (unsigned long long)first_bad[0], (unsigned long long)first_bad[1],
		       (unsigned long long)first_bad[2], (unsigned long long)first_bad[3],
		       (unsigned long long)first_bad[4], (unsigned long long)first_bad[5]);
	for (int i = 0; i < NR_OTHERS; i++)
		pc_close(&others[i]);
	pc_close(&victim);
	race_backend_delete(&dev);
	pc_cache_delete(&cache);
	free(buf);
	return race_verdict("race");
}
