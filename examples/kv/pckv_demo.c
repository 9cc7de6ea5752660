/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pckv demo: the tour of the store that ./run.sh demo runs.
 *
 * In a fresh data directory under the build directory it puts keys, gets
 * them back, overwrites and deletes most of them, then compacts the log
 * while reader threads keep getting random keys and checking every value
 * byte for byte against what they must be (stamp.h).  It shows the log
 * file's allocated size (du) before and after, the store's and
 * libpagecache's counters, and finally reopens the store and checks every
 * key again.  Exit status 0 means every check held.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pagecache.h>

#include "kv.h"
#include "pckv.h"
#include "stamp.h"

#define DEMO_KEYS 20000
#define DEMO_READERS 2

static struct kv *kv;
static uint64_t expect[DEMO_KEYS];	/* version now; 0: deleted */
static int stop;			/* atomic */
static uint64_t verified, bad;		/* atomic */

struct check {
	uint64_t id, want;
	int ok;
};

static int check_fn(void *arg, const void *val, size_t vlen)
{
	struct check *c = arg;

	c->ok = stamp_check(val, vlen, c->id) == (int64_t)c->want;
	return 0;
}

/* Get key @id and compare with expect[id]; true if right. */
static bool check_key(uint64_t id)
{
	struct check c = { id, expect[id], 0 };
	char key[32];
	int r;

	stamp_key(key, sizeof(key), id);
	r = kv_get(kv, key, strlen(key), check_fn, &c);
	if (r == -ENOENT)
		return c.want == 0;
	return r == 0 && c.ok;
}

static void *reader(void *arg)
{
	uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;

	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		if (check_key(x % DEMO_KEYS))
			__atomic_fetch_add(&verified, 1, __ATOMIC_RELAXED);
		else
			__atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void put_id(uint64_t id, uint64_t version)
{
	unsigned char val[8192];
	char key[32];
	int r;

	stamp_key(key, sizeof(key), id);
	stamp_fill(val, id, version);
	r = kv_put(kv, key, strlen(key), val, stamp_len(id, version));
	if (r)
		pckv_die("put", r);
	expect[id] = version;
}

static int show_fn(void *arg, const void *val, size_t vlen)
{
	printf("   get %s -> %.*s\n", (const char *)arg, (int)vlen, (const char *)val);
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t kib(uint64_t b)
{
	return b >> 10;
}

int pckv_demo(struct kv_options *o, const char *dir, int argc, char **argv)
{
	struct kv_stats st0, st1;
	struct pc_stats ps;
	pthread_t th[DEMO_READERS];
	uint64_t wrong = 0, dels = 0;
	double t0, t1;
	int r;

	if (argc) {
		fprintf(stderr, "usage: pckv [--dir D] demo\n");
		return 2;
	}
	char *data = pckv_fresh_dir(dir, dir ? "demo" : "pckv-demo");

	o->dir = data;
	printf("pckv demo: a key-value store on libpagecache, data in %s/log (%s backend)\n",
	       o->dir, o->dax ? "pmem, DAX" : "file");
	if (pckv_open(&kv, o))
		return 2;
	kv_set_compaction(kv, 0, 0);	/* compaction runs below, explicitly */

	printf("1. put and get\n");
	kv_put(kv, "hello", 5, "world", 5);
	kv_put(kv, "pagecache", 9, "zero-copy reads under hole punch", 32);
	kv_get(kv, "hello", 5, show_fn, "hello");
	kv_get(kv, "pagecache", 9, show_fn, "pagecache");
	for (uint64_t id = 0; id < DEMO_KEYS; id++)
		put_id(id, 1);
	for (uint64_t id = 0; id < DEMO_KEYS; id++)
		wrong += !check_key(id);
	printf("   put %d stamped values (64 B to 6 KiB), got each back: %llu wrong\n",
	       DEMO_KEYS, (unsigned long long)wrong);

	printf("2. overwrite every key twice, delete a quarter of them\n");
	for (uint64_t v = 2; v <= 3; v++)
		for (uint64_t id = 0; id < DEMO_KEYS; id++)
			put_id(id, v);
	for (uint64_t id = 0; id < DEMO_KEYS; id += 4) {
		char key[32];

		stamp_key(key, sizeof(key), id);
		if (kv_del(kv, key, strlen(key)) == 0)
			dels++;
		expect[id] = 0;
	}
	r = kv_sync(kv);
	if (r)
		pckv_die("sync", r);
	kv_stats(kv, &st0);
	printf("   %llu keys, live %llu KiB, dead %llu KiB of a %llu KiB log; "
	       "log file allocated (du) %llu KiB\n",
	       (unsigned long long)st0.keys, (unsigned long long)kib(st0.live_bytes),
	       (unsigned long long)kib(st0.dead_bytes), (unsigned long long)kib(st0.log_bytes),
	       (unsigned long long)kib(st0.alloc_bytes));

	printf("3. compact while %d reader threads get random keys and check every byte\n",
	       DEMO_READERS);
	for (int i = 0; i < DEMO_READERS; i++)
		if (pthread_create(&th[i], NULL, reader, (void *)(uintptr_t)(i + 1)))
			pckv_die("pthread_create", -EAGAIN);
	t0 = now();
	r = kv_compact(kv);
	t1 = now();
	while (now() - t1 < 0.2)	/* and read on a little after it */
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < DEMO_READERS; i++)
		pthread_join(th[i], NULL);
	if (r)
		pckv_die("compact", r);
	kv_stats(kv, &st1);
	printf("   compaction took %.0f ms: copied %llu KiB forward, punched %llu KiB\n",
	       (t1 - t0) * 1e3, (unsigned long long)kib(st1.copied_bytes),
	       (unsigned long long)kib(st1.punched_bytes));
	printf("   readers: %llu values checked, %llu wrong, %llu gets retried after their "
	       "record moved\n", (unsigned long long)verified, (unsigned long long)bad,
	       (unsigned long long)st1.get_retries);
	printf("   log file allocated (du): %llu KiB -> %llu KiB\n",
	       (unsigned long long)kib(st0.alloc_bytes), (unsigned long long)kib(st1.alloc_bytes));

	printf("4. stats\n");
	pc_stats(kv_cache(kv), &ps, sizeof(ps));
	printf("   keys %llu, live %llu KiB, dead %llu KiB, log head %llu, tail %llu\n",
	       (unsigned long long)st1.keys, (unsigned long long)kib(st1.live_bytes),
	       (unsigned long long)kib(st1.dead_bytes), (unsigned long long)st1.head,
	       (unsigned long long)st1.tail);
	printf("   libpagecache: %llu hits, %llu misses, %llu pages cached, %llu punches, "
	       "%llu pin waits, %llu pages written back\n",
	       (unsigned long long)ps.hits, (unsigned long long)ps.misses,
	       (unsigned long long)ps.pages_cached, (unsigned long long)ps.punches,
	       (unsigned long long)ps.pin_waits, (unsigned long long)ps.writebacks);
	if (o->dax)
		printf("   DAX: %llu pins of the backend's memory (%llu of holes), %llu allocating "
		       "writes, %llu persists, %llu punch waits for a pinned entry\n",
		       (unsigned long long)ps.dax_faults, (unsigned long long)ps.dax_zero_faults,
		       (unsigned long long)ps.dax_allocs, (unsigned long long)ps.dax_persists,
		       (unsigned long long)ps.dax_busy_waits);

	printf("5. close, reopen (the index is rebuilt from the log), check every key\n");
	r = kv_close(&kv);
	if (r)
		pckv_die("close", r);
	if (pckv_open(&kv, o))
		return 2;
	wrong = 0;
	for (uint64_t id = 0; id < DEMO_KEYS; id++)
		wrong += !check_key(id);
	printf("   %llu keys after reopen, %llu wrong\n", (unsigned long long)kv_count(kv),
	       (unsigned long long)wrong);
	wrong += bad;
	if (st1.alloc_bytes >= st0.alloc_bytes) {
		printf("   the log file did not shrink\n");
		wrong++;
	}
	r = kv_close(&kv);
	if (r)
		pckv_die("close", r);
	printf("pckv demo: %s\n", wrong ? "FAILED" : "all checks held");
	{
		char *bin = pckv_exe_dir();

		printf("try: %s/pckv --dir %s scan key:0000001\n", bin ? bin : ".", o->dir);
		free(bin);
	}
	free(data);
	return wrong ? 1 : 0;
}
