/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * custom_backend: plug the "sparse" example backend into a cache with
 * pc_backend_new() and check, against a copy kept in memory, that every
 * call of the cache does what it says over it: write, read, fault, punch,
 * zero range, truncate, readahead, sync, close and reopen, unlink, -ENOSPC
 * when the backend is full, and two threads on two objects at once.
 * Exits 0 if every check held, 1 at the first that did not.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pagecache.h>

#include "sparse_backend.h"

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "custom_backend: %s:%d: check failed: %s\n", \
				__FILE__, __LINE__, #cond);                          \
			exit(1);                                                     \
		}                                                                    \
	} while (0)

/* A call that returns 0 or -errno must return 0. */
#define OK(call)                                                                      \
	do {                                                                          \
		int r_ = (call);                                                      \
		if (r_ != 0) {                                                        \
			fprintf(stderr, "custom_backend: %s:%d: %s: %s\n", __FILE__, \
				__LINE__, #call, strerror(-r_));                      \
			exit(1);                                                      \
		}                                                                     \
	} while (0)

#define MODEL_MAX (1u << 20)

static size_t ps;
static struct sparse *sp;

/* What the object "log" must hold: its bytes and its size. */
static unsigned char model[MODEL_MAX];
static uint64_t model_size;

static void fill(unsigned char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(seed + i * 7 + (i >> 9));
}

/* Write @len pattern bytes at @off through the cache, and into the model. */
static void write_both(struct pc_mapping *m, uint64_t off, size_t len, unsigned seed)
{
	CHECK(off + len <= MODEL_MAX);
	fill(model + off, len, seed);
	CHECK(pc_write(m, model + off, len, off, 0) == (ssize_t)len);
	if (off + len > model_size)
		model_size = off + len;
}

/* The whole object, read through the cache, equals the model. */
static void check_log(struct pc_mapping *m)
{
	static unsigned char buf[MODEL_MAX];
	uint64_t size;

	OK(pc_size(m, &size));
	CHECK(size == model_size);
	/* Ask for more than there is: the read stops at EOF. */
	CHECK(pc_read(m, buf, sizeof(buf), 0, 0) == (ssize_t)model_size);
	CHECK(memcmp(buf, model, model_size) == 0);
}

static struct sparse_stats backend_stats(void)
{
	struct sparse_stats st;

	sparse_get_stats(sp, &st);
	return st;
}

/* Two threads, each with its own object: ops on different objects run at once. */
static struct pc_cache *cache;
static struct pc_backend *be;

static void *worker(void *arg)
{
	const char *name = arg;
	unsigned char *in = malloc(16 * ps), *out = malloc(16 * ps);
	struct pc_mapping *m;

	CHECK(in && out);
	OK(pc_open(&m, cache, be, name, PC_CREAT | PC_EXCL));
	for (unsigned round = 0; round < 200; round++) {
		fill(in, 16 * ps, round + (unsigned)name[0]);
		CHECK(pc_write(m, in, 16 * ps, 0, 0) == (ssize_t)(16 * ps));
		OK(pc_sync(m, 0, 0));
		OK(pc_punch(m, 4 * ps, 8 * ps));
		memset(in + 4 * ps, 0, 8 * ps);
		CHECK(pc_read(m, out, 16 * ps, 0, 0) == (ssize_t)(16 * ps));
		CHECK(memcmp(in, out, 16 * ps) == 0);
	}
	OK(pc_close(&m));
	OK(pc_backend_unlink(be, name));
	free(in);
	free(out);
	return NULL;
}

int main(void)
{
	struct pc_mapping *m, *big;
	struct pc_page *pg;
	struct sparse_stats bs;
	struct pc_stats st;
	unsigned char *buf;
	uint64_t used;
	pthread_t t[2];

	ps = pc_page_size();
	buf = malloc(MODEL_MAX);
	CHECK(buf != NULL);

	/* A 4 MiB cache over a backend that stores at most 1 MiB. */
	OK(pc_cache_new(&cache, 4u << 20));
	/*
	 * Background writeback only after 10 minutes and a full cache: so
	 * that the -ENOSPC below is met by our pc_sync(), not the flusher.
	 */
	OK(pc_cache_set_writeback(cache, 100, 600000));
	OK(sparse_backend_new(&be, 1u << 20, &sp));

	OK(pc_open(&m, cache, be, "log", PC_CREAT | PC_EXCL));
	CHECK(pc_open(&big, cache, be, "log", 0) == -EBUSY);	/* one mapping per object */

	/* Write: 50 pages at 0, and 2.5 pages further on, leaving a hole. */
	write_both(m, 0, 50 * ps, 1);
	write_both(m, 128 * ps, 5 * ps / 2, 2);
	check_log(m);

	/* Sync: the backend allocates what was written, and flush runs. */
	OK(pc_sync(m, 0, 0));
	bs = backend_stats();
	CHECK(bs.pages_used == 50 + 3);
	CHECK(bs.flushes > 0 && bs.allocs > 0 && bs.writes + bs.writevs > 0);

	/* Fault a page for write and store through the pin. */
	OK(pc_fault(m, 3 * ps + 10, PC_FAULT_WRITE, &pg));
	CHECK(pc_page_offset(pg) == 3 * ps);
	memcpy((char *)pc_page_addr(pg) + 10, "faulted", 7);
	memcpy(model + 3 * ps + 10, "faulted", 7);
	pc_page_put(pg);
	/* A read fault in the hole gives zeros; past EOF there is no page. */
	OK(pc_fault(m, 100 * ps, 0, &pg));
	CHECK(((unsigned char *)pc_page_addr(pg))[0] == 0);
	pc_page_put(pg);
	CHECK(pc_fault(m, model_size, 0, &pg) == -ENXIO);
	OK(pc_sync(m, 0, 0));
	check_log(m);

	/* Punch: zeros in the range, the 3 whole pages in it freed, size kept. */
	used = backend_stats().pages_used;
	OK(pc_punch(m, 10 * ps + 100, 4 * ps));
	memset(model + 10 * ps + 100, 0, 4 * ps);
	check_log(m);
	OK(pc_sync(m, 0, 0));
	CHECK(backend_stats().pages_used == used - 3);

	/* Zero range across EOF: zeros, and the size grows. */
	OK(pc_zero_range(m, model_size - 100, 2 * ps));
	memset(model + model_size - 100, 0, 2 * ps);
	model_size += 2 * ps - 100;
	check_log(m);

	/* Truncate down to the middle of page 24: pages 25 on are freed. */
	OK(pc_truncate(m, 24 * ps + 1000));
	model_size = 24 * ps + 1000;
	check_log(m);
	OK(pc_sync(m, 0, 0));
	CHECK(backend_stats().pages_used == 25 - 3);
	/* Truncate up: the new bytes read as zero. */
	OK(pc_truncate(m, 40 * ps));
	memset(model + 24 * ps + 1000, 0, 40 * ps - (24 * ps + 1000));
	model_size = 40 * ps;
	check_log(m);

	/* Close (writes back) and reopen: the data now comes from the backend. */
	OK(pc_close(&m));
	CHECK(m == NULL);
	OK(pc_open(&m, cache, be, "log", 0));
	/* Nothing cached yet: PC_NOWAIT does not wait for a fill. */
	CHECK(pc_read(m, buf, ps, 0, PC_NOWAIT) == -EAGAIN);
	OK(pc_readahead(m, 0, 0));
	CHECK(pc_read(m, buf, ps, 0, PC_NOWAIT) == (ssize_t)ps);
	CHECK(memcmp(buf, model, ps) == 0);
	check_log(m);
	CHECK(backend_stats().reads + backend_stats().readvs > 0);

	/* An open object cannot be unlinked. */
	CHECK(pc_backend_unlink(be, "log") == -EBUSY);

	/* A full backend: pc_sync() reports -ENOSPC once, the pages stay dirty. */
	OK(pc_open(&big, cache, be, "big", PC_CREAT));
	memset(buf, 0x5a, MODEL_MAX);
	CHECK(pc_write(big, buf, MODEL_MAX, 0, 0) == (ssize_t)MODEL_MAX);
	CHECK(pc_sync(big, 0, 0) == -ENOSPC);
	OK(pc_stats(cache, &st, sizeof(st)));
	CHECK(st.dirty_pages > 0 && st.write_errors > 0);
	/* Dropping the data that did not fit: truncate removes dirty pages too. */
	OK(pc_truncate(big, 0));
	OK(pc_sync(big, 0, 0));
	OK(pc_close(&big));
	OK(pc_backend_unlink(be, "big"));
	CHECK(pc_open(&big, cache, be, "big", 0) == -ENOENT);
	check_log(m);

	/* Two threads, two objects, one shared budget. */
	pthread_create(&t[0], NULL, worker, "a");
	pthread_create(&t[1], NULL, worker, "b");
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	check_log(m);

	OK(pc_close(&m));
	OK(pc_backend_unlink(be, "log"));
	CHECK(backend_stats().pages_used == 0);	/* every page given back */

	OK(pc_stats(cache, &st, sizeof(st)));
	bs = backend_stats();
	printf("custom_backend: cache: %llu hits, %llu misses, %llu fills, %llu writebacks\n",
	       (unsigned long long)st.hits, (unsigned long long)st.misses,
	       (unsigned long long)st.fills, (unsigned long long)st.writebacks);
	printf("custom_backend: backend: %llu alloc, %llu free, %llu read, %llu readv, "
	       "%llu write, %llu writev, %llu flush\n",
	       (unsigned long long)bs.allocs, (unsigned long long)bs.frees,
	       (unsigned long long)bs.reads, (unsigned long long)bs.readvs,
	       (unsigned long long)bs.writes, (unsigned long long)bs.writevs,
	       (unsigned long long)bs.flushes);

	pc_backend_delete(&be);
	pc_cache_delete(&cache);
	CHECK(be == NULL && cache == NULL);
	free(buf);
	printf("custom_backend: all checks passed\n");
	return 0;
}
