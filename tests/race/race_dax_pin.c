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
 * Usage: race_dax_pin [--holders N] [--seconds S] [--min-seconds S]
 *                     [--backend ram|pmem] [--dir DIR] [--expect-violations]
 * With --expect-violations (the dax_punch_ignores_pins mutant build) it
 * runs until the first violation or --seconds (default 60) and passes only
 * if it sees one.  Prints "N passed, N failed".
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
#include <unistd.h>

#include <pagecache.h>

#include "race_backend.h"

#define PS 4096u
#define MAGIC 0xb10cb10cu
#define VICTIM_PAGES 16
#define OTHER_PAGES 64
#define DEVICE_PAGES (VICTIM_PAGES + OTHER_PAGES)
#define MAX_HOLDERS 8

struct stamp {
	uint32_t magic, who, gen, page;
};

static struct pc_mapping *victim, *other;
static int nholders = 3;
static uint64_t violations, progress, punches;	/* atomic */
static int stop;				/* atomic */
static bool expect;

static void stamp_page(void *data, uint32_t who, uint32_t gen, uint32_t page)
{
	struct stamp s = { MAGIC, who, gen, page };

	for (unsigned off = 0; off < PS; off += sizeof(s))
		memcpy((char *)data + off, &s, sizeof(s));
}

static bool check_page(const void *data, uint32_t who, uint32_t gen, uint32_t page)
{
	struct stamp want = { MAGIC, who, gen, page }, got;

	for (unsigned off = 0; off < PS; off += 512) {
		memcpy(&got, (const char *)data + off, sizeof(got));
		if (memcmp(&got, &want, sizeof(got))) {
			if (__atomic_fetch_add(&violations, 1, __ATOMIC_RELAXED) < 5)
				printf("violation: holder %u gen %u page %u: pinned page holds "
				       "%08x/%u/%u/%u at %u (block freed and reused under the pin)\n",
				       who, gen, page, got.magic, got.who, got.gen, got.page, off);
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

	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		struct pc_page *a, *b;
		int r;

		gen++;
		r = pc_fault(victim, (uint64_t)a_page * PS, PC_FAULT_WRITE, &a);
		if (r) {
			printf("fault A: %s\n", strerror(-r));
			__atomic_fetch_add(&violations, 1, __ATOMIC_RELAXED);
			break;
		}
		stamp_page(pc_page_addr(a), who, gen, a_page);
		sched_yield();	/* let a punch start and find the pin */
		r = pc_fault(victim, (uint64_t)b_page * PS, PC_FAULT_WRITE, &b);
		if (r) {
			printf("fault B: %s\n", strerror(-r));
			__atomic_fetch_add(&violations, 1, __ATOMIC_RELAXED);
			pc_page_put(a);
			break;
		}
		stamp_page(pc_page_addr(b), who, gen, b_page);
		for (int i = 0; i < 20; i++) {
			if (!check_page(pc_page_addr(a), who, gen, a_page) ||
			    !check_page(pc_page_addr(b), who, gen, b_page))
				break;
			usleep(50);
		}
		pc_page_put(b);
		pc_page_put(a);
		__atomic_fetch_add(&progress, 1, __ATOMIC_RELAXED);
		/* Idle for a moment: a punch that waits for our pins gets its turn. */
		usleep(100 + 50 * (gen % 5));
	}
	return NULL;
}

static void *puncher(void *arg)
{
	uint32_t gen = 0;

	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		int r = pc_punch(victim, 0, (uint64_t)VICTIM_PAGES * PS);

		if (r) {
			printf("punch: %s\n", strerror(-r));
			__atomic_fetch_add(&violations, 1, __ATOMIC_RELAXED);
			break;
		}
		__atomic_fetch_add(&punches, 1, __ATOMIC_RELAXED);
		/* Take the freed blocks at once, and scribble on them. */
		gen++;
		for (uint32_t pg = 0; pg < OTHER_PAGES; pg++) {
			struct pc_page *p;

			if (pc_fault(other, (uint64_t)pg * PS, PC_FAULT_WRITE, &p))
				break;	/* the device is full */
			stamp_page(pc_page_addr(p), 1000, gen, pg);
			pc_page_put(p);
		}
		if (pc_punch(other, 0, (uint64_t)OTHER_PAGES * PS))
			break;
		__atomic_fetch_add(&progress, 1, __ATOMIC_RELAXED);
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
	double seconds = 60, min_seconds = 3, t0, last_progress_t;
	const char *backend = "ram";
	pthread_t th[MAX_HOLDERS + 1];
	struct pc_backend *dev;
	struct pc_cache *cache;
	uint64_t last_progress = 0;
	bool deadlock = false;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--holders") && i + 1 < argc)
			nholders = atoi(argv[++i]);
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
	if (nholders < 1 || nholders > MAX_HOLDERS || 2 * nholders > VICTIM_PAGES)
		return 2;
	r = race_backend_new(&dev, backend, (uint64_t)DEVICE_PAGES * PS);
	if (r == -2)
		return 77;
	if (r < 0 || pc_cache_new(&cache, 0) ||
	    pc_open(&victim, cache, dev, "victim", PC_CREAT | PC_TRUNC | PC_DAX) ||
	    pc_open(&other, cache, dev, "other", PC_CREAT | PC_TRUNC | PC_DAX) ||
	    pc_truncate(victim, (uint64_t)VICTIM_PAGES * PS) ||
	    pc_truncate(other, (uint64_t)OTHER_PAGES * PS))
		return 1;
	for (int i = 0; i < nholders; i++)
		pthread_create(&th[i], NULL, holder, (void *)(intptr_t)i);
	pthread_create(&th[nholders], NULL, puncher, NULL);
	t0 = last_progress_t = now();
	for (;;) {
		double t = now();
		uint64_t pr = __atomic_load_n(&progress, __ATOMIC_RELAXED);

		if (pr != last_progress) {
			last_progress = pr;
			last_progress_t = t;
		} else if (t - last_progress_t > 20) {
			deadlock = true;
			break;
		}
		if (expect ? (__atomic_load_n(&violations, __ATOMIC_RELAXED) || t - t0 > seconds)
			   : t - t0 > min_seconds)
			break;
		usleep(10000);
	}
	if (deadlock) {
		/* Report and leave: the threads cannot be joined. */
		printf("deadlock: no fault or punch finished in 20 s\n");
		printf("%d passed, %d failed\n", 0, 1);
		fflush(stdout);
		_exit(1);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i <= nholders; i++)
		pthread_join(th[i], NULL);
	struct pc_stats st;

	pc_stats(cache, &st, sizeof(st));
	printf("%llu rounds, %llu punches (%llu waits for a pin), %llu violations in %.1f s\n",
	       (unsigned long long)progress, (unsigned long long)punches,
	       (unsigned long long)st.dax_busy_waits, (unsigned long long)violations,
	       now() - t0);
	if (pc_close(&victim) || pc_close(&other))
		return 1;
	race_backend_delete(&dev);
	pc_cache_delete(&cache);
	bool ok = expect ? violations > 0 : violations == 0;

	if (expect)
		printf("mutant build: the reuse under a pin was %s\n", violations ? "caught" : "MISSED");
	printf("%d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
	return ok ? 0 : 1;
}
