/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Race: DAX pins against punch, with block reuse (G3, seeds/002).
 *
 * Holder threads pin a page A of the victim object with a write fault,
 * stamp the whole page (magic, holder, generation), then, with A still
 * pinned, fault a page B (the pin-A / punch / fault-B pattern that
 * deadlocks if punch waits with its lock held), stamp it, and check both
 * stamps again and again for a while before they put the pins.  A puncher
 * thread punches the whole victim over and over, and after each punch has
 * an "other" object allocate and stamp as many pages as it can.  The RAM
 * device is small and hands out the block freed last first, so a block
 * freed from under a pin is at once the other object's, and the holder
 * sees the other object's stamp in its pinned page.
 *
 * Checks: a pinned page always holds its holder's stamp (no block freed or
 * reused while pinned); every round of faults and punches finishes (a
 * watchdog reports a deadlock after 20 s without progress).
 *
 * Usage: race_dax_pin [--holders N] [--ops N] [--seconds S] [--min-seconds S]
 *                     [--backend ram|pmem] [--dir DIR] [--expect-violations]
 * It runs for --min-seconds (default 3) and --ops rounds (default 0) or,
 * with --expect-violations (the dax_punch_ignores_pins mutant build), until
 * the first violation or --seconds (default 60) (race_common.h), and then
 * passes only if it saw one.  Prints "N passed, N failed".
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pagecache.h>

#include "race_backend.h"
#include "race_common.h"

#define MAGIC 0xb10cb10cu
#define VICTIM_PAGES 16
#define OTHER_PAGES 64
#define DEVICE_PAGES (VICTIM_PAGES + OTHER_PAGES)
#define MAX_HOLDERS 8

static struct pc_mapping *victim, *other;
static int nholders = 3;
static const struct race_int_opt options[] = {
	{ "--holders", &nholders, 1, MAX_HOLDERS },
	{ NULL, NULL, 0, 0 },
};
/* Each holder has two pages of its own. */
_Static_assert(2 * MAX_HOLDERS <= VICTIM_PAGES, "too few victim pages for the holders");
static uint64_t punches;	/* atomic */

/* True if pinned page @page still holds holder @who's stamp (the other object's is 1000). */
static bool check_page(const void *data, uint32_t who, uint32_t gen, uint32_t page)
{
	struct rec want = { MAGIC, who, page, gen }, got;

	for (unsigned off = 0; off < PS; off += 512) {
		memcpy(&got, (const char *)data + off, sizeof(got));
		if (memcmp(&got, &want, sizeof(got))) {
			if (race_violation_first(5))
				printf("violation: holder %u gen %u page %u: pinned page holds "
				       "%08x/%u/%u/%u at %u (block freed and reused under the pin)\n",
				       who, gen, page, got.magic, got.obj, got.gen, got.page, off);
			return false;
		}
	}
	return true;
}

static void *holder(void *arg)
{
	uint32_t who = (uint32_t)(intptr_t)arg, gen = 0;
	/* Each holder has two pages of its own: A and B. */
	uint32_t a_page = 2 * who, b_page = 2 * who + 1;

	while (race_running()) {
		struct pc_page *a, *b;
		int r;

		gen++;
		r = pc_fault(victim, (uint64_t)a_page * PS, PC_FAULT_WRITE, &a);
		if (r) {
			printf("fault A: %s\n", strerror(-r));
			race_violation();
			break;
		}
		stamp(pc_page_addr(a), MAGIC, who, a_page, gen);
		sched_yield();	/* let a punch start and find the pin */
		r = pc_fault(victim, (uint64_t)b_page * PS, PC_FAULT_WRITE, &b);
		if (r) {
			printf("fault B: %s\n", strerror(-r));
			race_violation();
			pc_page_put(a);
			break;
		}
		stamp(pc_page_addr(b), MAGIC, who, b_page, gen);
		for (int i = 0; i < 20; i++) {
			if (!check_page(pc_page_addr(a), who, gen, a_page) ||
			    !check_page(pc_page_addr(b), who, gen, b_page))
				break;
			usleep(50);
		}
		pc_page_put(b);
		pc_page_put(a);
		race_op();	/* progress, for the watchdog */
		/* Idle for a moment: a punch that waits for our pins gets its turn. */
		usleep(100 + 50 * (gen % 5));
	}
	return NULL;
}

static void *puncher(void *arg)
{
	uint32_t gen = 0;

	(void)arg;
	while (race_running()) {
		int r = pc_punch(victim, 0, (uint64_t)VICTIM_PAGES * PS);

		if (r) {
			printf("punch: %s\n", strerror(-r));
			race_violation();
			break;
		}
		__atomic_fetch_add(&punches, 1, __ATOMIC_RELAXED);
		/* Take the freed blocks at once, and scribble on them. */
		gen++;
		for (uint32_t pg = 0; pg < OTHER_PAGES; pg++) {
			struct pc_page *p;

			if (pc_fault(other, (uint64_t)pg * PS, PC_FAULT_WRITE, &p))
				break;	/* the device is full */
			stamp(pc_page_addr(p), MAGIC, 1000, pg, gen);
			pc_page_put(p);
		}
		if (pc_punch(other, 0, (uint64_t)OTHER_PAGES * PS))
			break;
		race_op();
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[MAX_HOLDERS + 1];
	struct pc_backend *dev;
	struct pc_cache *cache;
	struct pc_stats st;
	uint64_t last_progress = 0;
	double last_progress_t = 0;

	race_watched(3, 60);
	if (race_args(argc, argv, race_backend_option, options))
		return 2;
	if (race_backend_new(&dev, race_backend_kind, (uint64_t)DEVICE_PAGES * PS) ||
	    pc_cache_new(&cache, 0) ||
	    pc_open(&victim, cache, dev, "victim", PC_CREAT | PC_TRUNC | PC_DAX) ||
	    pc_open(&other, cache, dev, "other", PC_CREAT | PC_TRUNC | PC_DAX) ||
	    pc_truncate(victim, (uint64_t)VICTIM_PAGES * PS) ||
	    pc_truncate(other, (uint64_t)OTHER_PAGES * PS))
		return 1;
	for (int i = 0; i < nholders; i++)
		pthread_create(&th[i], NULL, holder, (void *)(intptr_t)i);
	pthread_create(&th[nholders], NULL, puncher, NULL);
	race_start();
	while (!race_over()) {
		double t = race_elapsed();
		uint64_t pr = __atomic_load_n(&race.ops_done, __ATOMIC_RELAXED);

		if (pr != last_progress) {
			last_progress = pr;
			last_progress_t = t;
		} else if (t - last_progress_t > 20) {
			/* Report and leave: the threads cannot be joined. */
			printf("deadlock: no fault or punch finished in 20 s\n");
			printf("%d passed, %d failed\n", 0, 1);
			fflush(stdout);
			_exit(1);
		}
		usleep(10000);
	}
	for (int i = 0; i <= nholders; i++)
		pthread_join(th[i], NULL);
	pc_stats(cache, &st, sizeof(st));
	printf("%llu rounds, %llu punches (%llu waits for a pin), %llu violations in %.1f s\n",
	       (unsigned long long)race.ops_done, (unsigned long long)punches,
	       (unsigned long long)st.dax_busy_waits, (unsigned long long)race.violations,
	       race_elapsed());
	if (pc_close(&victim) || pc_close(&other))
		return 1;
	race_backend_delete(&dev);
	pc_cache_delete(&cache);
	return race_verdict("reuse under a pin");
}
