/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Race: punch against writeback of the same range, with block reuse (G6).
 *
 * A writer keeps dirtying pages of a victim object and a syncer keeps
 * writing them back, while a puncher punches ranges of the victim and, at
 * once, gives the freed blocks to another object of the same RAM device:
 * it writes that object's stamped pages, syncs them (the LIFO allocator
 * hands it the blocks just freed), drops them from the cache, and reads
 * them back from the blocks.  If writeback could still write a victim page
 * into a block the punch freed, the other object would read the victim's
 * stamp there: a violation.
 *
 * Usage: race_punch_writeback [--ops N] [--min-seconds S] [--seconds S]
 *                             [--expect-violations]
 * With --expect-violations (the punch_ignores_writeback mutant, where a
 * punch neither excludes writeback nor waits for a page being written), the
 * test passes only if it sees a violation.  Prints "N passed, N failed".
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

#include "race_common.h"

#define MAGIC 0x57b4c0deu
#define VICTIM_ID 7
#define OTHER_ID 9
#define VICTIM_PAGES 64
#define OTHER_PAGES 16
#define DEVICE_PAGES (VICTIM_PAGES + OTHER_PAGES + 8)

static struct pc_cache *cache;
static struct pc_mapping *victim, *other;

static void *writer(void *arg)
{
	uint64_t s = 99;
	char *buf = aligned_alloc(PS, PS);
	uint32_t gen = 0;

	(void)arg;
	while (race_keep_going()) {
		uint32_t page = (uint32_t)(rnd(&s) % VICTIM_PAGES);

		stamp(buf, MAGIC, VICTIM_ID, page, ++gen);
		if (pc_write(victim, buf, PS, (uint64_t)page * PS, 0) != PS)
			abort();
	}
	free(buf);
	return NULL;
}

static void *syncer(void *arg)
{
	(void)arg;
	while (race_keep_going()) {
		int r = pc_sync(victim, 0, 0);

		if (r != 0 && r != -ENOSPC)
			abort();
	}
	return NULL;
}

static void *puncher(void *arg)
{
	uint64_t s = 0x1234567;
	char *buf = aligned_alloc(PS, PS);
	uint32_t gen = 0;

	(void)arg;
	while (race_keep_going()) {
		uint32_t first = (uint32_t)(rnd(&s) % VICTIM_PAGES);
		uint32_t n = 1 + (uint32_t)(rnd(&s) % 8);
		int r;

		if (first + n > VICTIM_PAGES)
			n = VICTIM_PAGES - first;
		if (pc_punch(victim, (uint64_t)first * PS, (uint64_t)n * PS))
			abort();
		/* The other object takes the freed blocks, last freed first. */
		gen++;
		for (uint32_t i = 0; i < n; i++) {
			stamp(buf, MAGIC, OTHER_ID, i, gen);
			if (pc_write(other, buf, PS, (uint64_t)i * PS, 0) != PS)
				abort();
		}
		r = pc_sync(other, 0, 0);
		if (r != 0 && r != -ENOSPC)
			abort();
		/* Give writeback in flight time to land, then read the blocks back. */
		nanosleep(&(struct timespec){ 0, 200000 }, NULL);
		pc_invalidate_lock(other);
		if (pc_invalidate_range(other, 0, 0))
			abort();
		pc_invalidate_unlock(other);
		for (uint32_t i = 0; i < n && r == 0; i++) {
			const struct rec *x = (const struct rec *)buf;

			if (pc_read(other, buf, PS, (uint64_t)i * PS, 0) != PS)
				abort();
			if (x[0].obj != OTHER_ID || x[PS / sizeof(*x) - 1].obj != OTHER_ID) {
				if (race_violation())
					printf("first violation: block of other page %u holds "
					       "object %u page %u\n", i, x[0].obj, x[0].page);
			}
		}
		if (pc_punch(other, 0, (uint64_t)OTHER_PAGES * PS))
			abort();
	}
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	struct pc_backend *dev;
	pthread_t t[3];
	struct pc_stats st;

	race.max_ops = 200000;
	race.max_seconds = 120;
	race.min_seconds = 5;
	race.check_every = 255;
	for (int i = 1; i < argc; i++)
		if (!race_option(argc, argv, &i))
			return 2;
	race_options_done();
	if (pc_cache_new(&cache, 16ull << 20) || pc_backend_ram_new(&dev, DEVICE_PAGES * PS) ||
	    pc_open(&victim, cache, dev, "victim", PC_CREAT) ||
	    pc_open(&other, cache, dev, "other", PC_CREAT) ||
	    pc_truncate(victim, (uint64_t)VICTIM_PAGES * PS))
		return 1;
	race_start();
	pthread_create(&t[0], NULL, writer, NULL);
	pthread_create(&t[1], NULL, syncer, NULL);
	pthread_create(&t[2], NULL, puncher, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	pc_stats(cache, &st, sizeof(st));
	printf("ops %llu in %.1fs, violations %llu; punches %llu writebacks %llu\n",
	       (unsigned long long)race.ops_done, race_elapsed(), (unsigned long long)race.violations,
	       (unsigned long long)st.punches, (unsigned long long)st.writebacks);
	pc_close(&other);
	pc_close(&victim);
	pc_backend_delete(&dev);
	pc_cache_delete(&cache);
	return race_verdict("race");
}
