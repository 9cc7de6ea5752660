/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pcdemo: a short tour of libpagecache on the RAM backend.
 *
 * It writes an object, reads it back through pc_read and pc_fault, then
 * punches holes in it while two reader threads keep faulting pages, and
 * checks that every page a reader sees is either the data written or zeros,
 * never a block some other object got back from the punch.  It ends with a
 * truncate and the cache's statistics.  Exit status 0 means every check
 * held.  (The bundled key-value store will replace this as the first thing
 * a user runs.)
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pagecache.h>

#define PAGES 2048	/* an 8 MiB object */

static struct pc_mapping *m;
static size_t ps;
static int done;		/* atomic */
static uint64_t seen_data, seen_zero, seen_bad;	/* atomic */

static void die(const char *what, int err)
{
	fprintf(stderr, "pcdemo: %s: %s\n", what, strerror(-err));
	exit(1);
}

/* Page i holds the byte (i % 251) + 1 everywhere. */
static unsigned char page_byte(uint64_t i)
{
	return (unsigned char)(i % 251 + 1);
}

static void *reader(void *arg)
{
	uint64_t x = (uintptr_t)arg;

	while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
		struct pc_page *p;
		const unsigned char *a;
		uint64_t i;
		int r;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		i = x % PAGES;
		r = pc_fault(m, i * ps, 0, &p);
		if (r < 0)
			die("pc_fault", r);
		a = pc_page_addr(p);
		if (a[0] == page_byte(i) && a[ps - 1] == page_byte(i))
			__atomic_fetch_add(&seen_data, 1, __ATOMIC_RELAXED);
		else if (a[0] == 0 && a[ps - 1] == 0)
			__atomic_fetch_add(&seen_zero, 1, __ATOMIC_RELAXED);
		else
			__atomic_fetch_add(&seen_bad, 1, __ATOMIC_RELAXED);
		pc_page_put(p);
	}
	return NULL;
}

int main(void)
{
	struct pc_cache *cache;
	struct pc_backend *ram;
	struct pc_mapping *other;
	struct pc_stats st;
	pthread_t t[2];
	unsigned char *buf;
	uint64_t size;
	int r;

	ps = pc_page_size();
	printf("libpagecache %s, page size %zu\n", pc_version(), ps);
	if ((r = pc_cache_new(&cache, 64ull << 20)) < 0)
		die("pc_cache_new", r);
	if ((r = pc_backend_ram_new(&ram, 16ull << 20)) < 0)
		die("pc_backend_ram_new", r);
	if ((r = pc_open(&m, cache, ram, "demo", PC_CREAT | PC_TRUNC)) < 0)
		die("pc_open demo", r);
	if ((r = pc_open(&other, cache, ram, "other", PC_CREAT | PC_TRUNC)) < 0)
		die("pc_open other", r);

	buf = malloc(ps);
	for (uint64_t i = 0; i < PAGES; i++) {
		memset(buf, page_byte(i), ps);
		if (pc_write(m, buf, ps, i * ps, 0) != (ssize_t)ps)
			die("pc_write", -EIO);
	}
	if ((r = pc_sync(m, 0, 0)) < 0)
		die("pc_sync", r);
	printf("wrote and synced %d pages (%d MiB)\n", PAGES, PAGES * (int)ps >> 20);

	/* Drop the cache so the readers fill pages from the blocks. */
	pc_invalidate_lock(m);
	if ((r = pc_invalidate_range(m, 0, 0)) < 0)
		die("pc_invalidate_range", r);
	pc_invalidate_unlock(m);

	pthread_create(&t[0], NULL, reader, (void *)(uintptr_t)88172645463325252ull);
	pthread_create(&t[1], NULL, reader, (void *)(uintptr_t)1234567);
	/*
	 * Punch every other 16-page run while they read, and each time give
	 * the freed blocks to another object with data of its own: without
	 * the invalidate_lock a reader could see it through a stale mapping.
	 */
	for (uint64_t i = 0; i < PAGES; i += 32) {
		if ((r = pc_punch(m, i * ps, 16 * ps)) < 0)
			die("pc_punch", r);
		memset(buf, 0xee, ps);
		for (int j = 0; j < 16; j++)
			if (pc_write(other, buf, ps, (uint64_t)j * ps, 0) != (ssize_t)ps)
				die("pc_write other", -EIO);
		if ((r = pc_sync(other, 0, 0)) < 0)
			die("pc_sync other", r);
		if ((r = pc_punch(other, 0, 16 * ps)) < 0)
			die("pc_punch other", r);
	}
	__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	printf("punched %d runs of 16 pages under 2 faulting readers: "
	       "%llu pages of data, %llu of zeros, %llu wrong\n", PAGES / 32,
	       (unsigned long long)seen_data, (unsigned long long)seen_zero,
	       (unsigned long long)seen_bad);

	/* Read back through pc_read: punched runs are zeros, the rest intact. */
	for (uint64_t i = 0; i < PAGES; i++) {
		unsigned char want = (i % 32) < 16 ? 0 : page_byte(i);

		if (pc_read(m, buf, ps, i * ps, 0) != (ssize_t)ps || buf[0] != want ||
		    buf[ps - 1] != want) {
			fprintf(stderr, "pcdemo: page %llu is wrong after the punches\n",
				(unsigned long long)i);
			return 1;
		}
	}
	printf("read back all %d pages: punched ranges read as zeros\n", PAGES);

	if ((r = pc_truncate(m, 1000 * ps + 10)) < 0)
		die("pc_truncate", r);
	pc_size(m, &size);
	r = pc_read(m, buf, ps, 1000 * ps, 0);
	printf("truncated to %llu bytes: a read of the last page returns %d bytes, "
	       "a fault past EOF says %s\n", (unsigned long long)size, r,
	       strerror(-pc_fault(m, 1001 * ps, 0, &(struct pc_page *){ NULL })));

	pc_stats(cache, &st, sizeof(st));
	printf("stats: hits %llu misses %llu fills %llu hole_fills %llu writebacks %llu\n"
	       "       punches %llu truncates %llu pages_removed %llu pin_waits %llu "
	       "retries %llu\n"
	       "       pages_cached %llu bytes_cached %llu of %llu, metadata %llu bytes, "
	       "enomem %llu\n",
	       (unsigned long long)st.hits, (unsigned long long)st.misses,
	       (unsigned long long)st.fills, (unsigned long long)st.hole_fills,
	       (unsigned long long)st.writebacks, (unsigned long long)st.punches,
	       (unsigned long long)st.truncates, (unsigned long long)st.pages_removed,
	       (unsigned long long)st.pin_waits, (unsigned long long)st.retries,
	       (unsigned long long)st.pages_cached, (unsigned long long)st.bytes_cached,
	       (unsigned long long)st.capacity, (unsigned long long)st.meta_bytes,
	       (unsigned long long)st.enomem);

	free(buf);
	if ((r = pc_close(&other)) < 0 || (r = pc_close(&m)) < 0)
		die("pc_close", r);
	pc_backend_delete(&ram);
	pc_cache_delete(&cache);
	if (seen_bad) {
		fprintf(stderr, "pcdemo: readers saw %llu wrong pages\n",
			(unsigned long long)seen_bad);
		return 1;
	}
	printf("pcdemo: all checks passed\n");
	return 0;
}
