/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Race: faults, reads and writes against pc_set_dax() flipping the mode
 * (G4, seeds/000 and seeds/003).
 *
 * One object of --pages pages, all written.  Worker thread t owns an 8-byte
 * counter slot in every page and keeps a shadow of its counters.  Each step
 * picks a page and, at random, a read fault, a write fault (increment the
 * counter through the pin), a pc_read of the slot, or a pc_write of the
 * incremented counter; every value seen must equal the shadow, so a store
 * lost across a switch (left in a cached page the DAX mode never reads, or
 * in storage the cached mode shadows) shows at the next visit.  A switcher
 * thread flips the mode as fast as it can, now without waiting (-EBUSY is
 * expected while pins are held), now with PC_WAIT.
 *
 * One mode per fault: with its pin held (which keeps the mode: a switch
 * answers -EBUSY), a fault checks that the page's address is the backend's
 * storage for that page (direct_access of the block the backend maps it
 * to) exactly when pc_get_dax() says DAX.  A fault that read the mode
 * before a switch and finished after it returns a cached copy in DAX mode,
 * or a pointer into storage in cached mode.
 *
 * Usage: race_mode_switch [--threads N] [--pages N] [--ops N] [--seconds S]
 *                         [--min-seconds S] [--backend ram|pmem] [--dir DIR]
 *                         [--expect-violations]
 * It runs for --min-seconds (default 3) and --ops steps (default 0) or,
 * with --expect-violations (the fault_ignores_mode_lock mutant build),
 * until the first violation or --seconds (default 60) (race_common.h), and
 * then passes only if it saw one.  Prints "N passed, N failed".
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pagecache.h>

#include "race_backend.h"
#include "race_common.h"

/* White-box: the backend's ops and object, to find a page's storage. */
#include "mapping.h"

#define MAX_THREADS 8
#define MAX_PAGES 64

static struct pc_mapping *m;
static int nthreads = 3, npages = 16;
static const struct race_int_opt options[] = {
	{ "--threads", &nthreads, 1, MAX_THREADS },
	{ "--pages", &npages, 1, MAX_PAGES },
	{ NULL, NULL, 0, 0 },
};
static uint64_t switches, busy;	/* atomic */

#define VIOLATION(...)								\
	do {									\
		if (race_violation_first(5)) {					\
			printf("violation: ");					\
			printf(__VA_ARGS__);					\
			printf("\n");						\
		}								\
	} while (0)

/* The backend's storage for byte @off, or NULL (a hole). */
static void *storage_of(uint64_t off)
{
	const struct pc_backend_ops *ops = &m->backend->ops;
	struct pc_extent ext;

	if (ops->map(m->backend->priv, m->obj, off, PS, &ext) || ext.type != PC_EXTENT_MAPPED)
		return NULL;
	return ops->direct_access(m->backend->priv, m->obj, ext.addr + (off - ext.offset), PS);
}

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg;
	uint64_t shadow[MAX_PAGES] = { 0 };
	uint64_t s = 0x2545f4914f6cdd1dull * (uint64_t)(t + 1);

	while (race_running()) {
		unsigned page = (unsigned)(rnd(&s) % (uint64_t)npages);
		uint64_t off = (uint64_t)page * PS + 64 + 8 * (uint64_t)t, v;
		unsigned op = (unsigned)(rnd(&s) % 4);

		if (op < 2) {	/* a read or a write fault */
			struct pc_page *p;
			int dax, r;
			void *st;

			r = pc_fault(m, off, op ? PC_FAULT_WRITE : 0, &p);
			if (r) {
				VIOLATION("pc_fault: %s", strerror(-r));
				continue;
			}
			dax = pc_get_dax(m);	/* kept by our pin */
			st = storage_of((uint64_t)page * PS);
			if ((pc_page_addr(p) == st) != (dax == 1))
				VIOLATION("page %u: the fault's address is %s storage, but "
					  "the mapping is in %s mode", page,
					  pc_page_addr(p) == st ? "the" : "not the",
					  dax == 1 ? "DAX" : "cached");
			memcpy(&v, (char *)pc_page_addr(p) + (off % PS), 8);
			if (v != shadow[page])
				VIOLATION("page %u: fault read %llu, expected %llu", page,
					  (unsigned long long)v, (unsigned long long)shadow[page]);
			if (op) {
				v = ++shadow[page];
				memcpy((char *)pc_page_addr(p) + (off % PS), &v, 8);
			}
			pc_page_put(p);
		} else if (op == 2) {
			if (pc_read(m, &v, 8, off, 0) != 8)
				VIOLATION("page %u: short read", page);
			else if (v != shadow[page])
				VIOLATION("page %u: pc_read read %llu, expected %llu", page,
					  (unsigned long long)v, (unsigned long long)shadow[page]);
		} else {
			v = shadow[page] + 1;
			if (pc_write(m, &v, 8, off, 0) != 8)
				VIOLATION("page %u: short write", page);
			else
				shadow[page] = v;
		}
		race_op();
	}
	return NULL;
}

static void *switcher(void *arg)
{
	uint64_t s = 77;

	(void)arg;
	while (race_running()) {
		bool on = pc_get_dax(m) == 0;
		int r = pc_set_dax(m, on, (rnd(&s) & 7) == 0 ? PC_WAIT : 0);

		if (r == 0)
			__atomic_fetch_add(&switches, 1, __ATOMIC_RELAXED);
		else if (r == -EBUSY)
			__atomic_fetch_add(&busy, 1, __ATOMIC_RELAXED);
		else
			VIOLATION("pc_set_dax: %s", strerror(-r));
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[MAX_THREADS + 1];
	struct pc_backend *dev;
	struct pc_cache *cache;
	char *buf;

	race_watched(3, 60);
	if (race_args(argc, argv, race_backend_option, options))
		return 2;
	if (race_backend_new(&dev, race_backend_kind, 4 << 20) || pc_cache_new(&cache, 0) ||
	    pc_open(&m, cache, dev, "obj", PC_CREAT | PC_TRUNC))
		return 1;
	/* Every page written (no holes: a hole's read pin is the zero page). */
	buf = calloc(npages, PS);
	if (pc_write(m, buf, (size_t)npages * PS, 0, 0) != (ssize_t)npages * PS || pc_sync(m, 0, 0))
		return 1;
	free(buf);
	for (int i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
	pthread_create(&th[nthreads], NULL, switcher, NULL);
	race_start();
	while (!race_over())
		usleep(10000);
	for (int i = 0; i <= nthreads; i++)
		pthread_join(th[i], NULL);
	printf("%llu steps, %llu switches, %llu -EBUSY, %llu violations in %.1f s\n",
	       (unsigned long long)race.ops_done, (unsigned long long)switches,
	       (unsigned long long)busy, (unsigned long long)race.violations, race_elapsed());
	if (!race.expect && switches < 10) {
		printf("too few switches to mean anything\n");
		race.violations++;
	}
	/* The mutant may leave the mapping unclosable; only a clean run closes. */
	if (!race.violations) {
		if (pc_close(&m))
			return 1;
		race_backend_delete(&dev);
		pc_cache_delete(&cache);
	}
	return race_verdict("mixed-mode fault");
}
