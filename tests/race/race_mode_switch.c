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
 * Usage: race_mode_switch [--threads N] [--pages N] [--seconds S] [--min-seconds S]
 *                         [--backend ram|pmem] [--dir DIR] [--expect-violations]
 * With --expect-violations (the fault_ignores_mode_lock mutant build) it
 * runs until the first violation or --seconds (default 60) and passes only
 * if it sees one.  Prints "N passed, N failed".
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pagecache.h>

#include "race_backend.h"

/* White-box: the backend's ops and object, to find a page's storage. */
#include "mapping.h"

#define PS 4096u
#define MAX_THREADS 8
#define MAX_PAGES 64

static struct pc_mapping *m;
static int nthreads = 3, npages = 16;
static uint64_t violations, steps, switches, busy;	/* atomic */
static int stop;					/* atomic */
static bool expect;

#define VIOLATION(...)								\
	do {									\
		if (__atomic_fetch_add(&violations, 1, __ATOMIC_RELAXED) < 5) {	\
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
	uint64_t shadow[MAX_PAGES] = { 0 };
	uint64_t rnd = 0x2545f4914f6cdd1dull * (uint64_t)(t + 1);

	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		unsigned page = (unsigned)(xorshift(&rnd) % (uint64_t)npages);
		uint64_t off = (uint64_t)page * PS + 64 + 8 * (uint64_t)t, v;
		unsigned op = (unsigned)(xorshift(&rnd) % 4);

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
		__atomic_fetch_add(&steps, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *switcher(void *arg)
{
	uint64_t rnd = 77;

	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		bool on = pc_get_dax(m) == 0;
		int r = pc_set_dax(m, on, (xorshift(&rnd) & 7) == 0 ? PC_WAIT : 0);

		if (r == 0)
			__atomic_fetch_add(&switches, 1, __ATOMIC_RELAXED);
		else if (r == -EBUSY)
			__atomic_fetch_add(&busy, 1, __ATOMIC_RELAXED);
		else
			VIOLATION("pc_set_dax: %s", strerror(-r));
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
	pthread_t th[MAX_THREADS + 1];
	struct pc_backend *dev;
	struct pc_cache *cache;
	char *buf;
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
	t0 = now();
	for (;;) {
		double t = now() - t0;

		if (expect ? (__atomic_load_n(&violations, __ATOMIC_RELAXED) || t > seconds)
			   : t > min_seconds)
			break;
		usleep(10000);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i <= nthreads; i++)
		pthread_join(th[i], NULL);
	printf("%llu steps, %llu switches, %llu -EBUSY, %llu violations in %.1f s\n",
	       (unsigned long long)steps, (unsigned long long)switches,
	       (unsigned long long)busy, (unsigned long long)violations, now() - t0);
	if (!expect && switches < 10) {
		printf("too few switches to mean anything\n");
		violations++;
	}
	/* The mutant may leave the mapping unclosable; only a clean run closes. */
	if (!violations) {
		if (pc_close(&m))
			return 1;
		race_backend_delete(&dev);
		pc_cache_delete(&cache);
	}
	bool ok = expect ? violations > 0 : violations == 0;

	if (expect)
		printf("mutant build: the mixed-mode fault was %s\n", violations ? "caught" : "MISSED");
	printf("%d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
	return ok ? 0 : 1;
}
