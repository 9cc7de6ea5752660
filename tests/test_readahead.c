/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of readahead: pc_readahead, sequential windows, vectored reads, PC_NOWAIT. */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

#include <pagecache/backend.h>

#include "filemap.h"	/* lib/: pc_ra_get_stats(), pc_page_lookup() */

/* ---- a counting backend with readv (device address = object offset) ---- */

#define CB_PAGES 1024u

static struct {
	unsigned char dev[CB_PAGES * PS];
	bool allocated[CB_PAGES];
	uint64_t size;
	unsigned max_extent;	/* pages of a mapped extent that map answers; 0: no limit */
	int fail_page;		/* an I/O that covers this page fails with -EIO ... */
	int fail_count;		/* ... this many times */
	int block_page;		/* a read of this page waits for stage 2; -1: none */
	/* Counters (atomic: two threads read at once in one test). */
	unsigned maps, reads, readv_calls, readv_ios, readv_pages;
} cb;

static pthread_mutex_t cb_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cb_cv = PTHREAD_COND_INITIALIZER;
static int cb_stage;

static void cb_set_stage(int s)
{
	pthread_mutex_lock(&cb_mu);
	cb_stage = s;
	pthread_cond_broadcast(&cb_cv);
	pthread_mutex_unlock(&cb_mu);
}

static void cb_wait_stage(int s)
{
	pthread_mutex_lock(&cb_mu);
	while (cb_stage < s)
		pthread_cond_wait(&cb_cv, &cb_mu);
	pthread_mutex_unlock(&cb_mu);
}

static void cb_count(unsigned *c, unsigned n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static unsigned cb_get(const unsigned *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static bool cb_has_data(uint64_t pg)
{
	return pg < CB_PAGES && pg * PS < cb.size && cb.allocated[pg];
}

/* Should the I/O of [addr, addr + len) fail now? */
static bool cb_fail_now(uint64_t addr, uint64_t len)
{
	uint64_t f = (uint64_t)cb.fail_page * PS;

	if (cb.fail_page < 0 || cb.fail_count <= 0 || f < addr || f >= addr + len)
		return false;
	cb.fail_count--;
	return true;
}

static int cb_open(void *priv, const char *name, unsigned flags, void **obj)
{
	(void)priv, (void)name, (void)flags;
	*obj = &cb;
	return 0;
}

static void cb_close(void *priv, void *obj) { (void)priv, (void)obj; }
static int cb_unlink(void *priv, const char *name) { (void)priv, (void)name; return -ENOSYS; }
static void cb_destroy(void *priv) { (void)priv; }

static int cb_get_size(void *priv, void *obj, uint64_t *size)
{
	(void)priv, (void)obj;
	*size = cb.size;
	return 0;
}

static int cb_set_size(void *priv, void *obj, uint64_t size)
{
	(void)priv, (void)obj;
	for (uint64_t i = (size + PS - 1) / PS; i < CB_PAGES; i++)
		cb.allocated[i] = false;
	cb.size = size;
	return 0;
}

static int cb_map(void *priv, void *obj, uint64_t off, uint64_t len, struct pc_extent *e)
{
	uint64_t pg = off / PS, n = len / PS ? len / PS : 1, k = 1;
	bool mapped = cb_has_data(pg);

	(void)priv, (void)obj;
	cb_count(&cb.maps, 1);
	while (k < n && cb_has_data(pg + k) == mapped && (!mapped || !cb.max_extent ||
							    k < cb.max_extent))
		k++;
	*e = (struct pc_extent){ .offset = off, .length = k * PS, .addr = off,
				 .type = mapped ? PC_EXTENT_MAPPED : PC_EXTENT_HOLE };
	return 0;
}

static int cb_alloc(void *priv, void *obj, uint64_t off, uint64_t len, struct pc_extent *e)
{
	(void)priv, (void)obj;
	if (off / PS >= CB_PAGES)
		return -ENOSPC;
	if (!cb.allocated[off / PS]) {
		memset(cb.dev + off, 0, PS);
		cb.allocated[off / PS] = true;
	}
	(void)len;
	*e = (struct pc_extent){ .offset = off, .length = PS, .addr = off,
				 .type = PC_EXTENT_MAPPED };
	return 0;
}

static int cb_free(void *priv, void *obj, uint64_t off, uint64_t len)
{
	(void)priv, (void)obj;
	for (uint64_t i = off / PS; i < (off + len) / PS && i < CB_PAGES; i++)
		cb.allocated[i] = false;
	return 0;
}

static int cb_read(void *priv, void *obj, uint64_t addr, void *buf, size_t len)
{
	(void)priv, (void)obj;
	cb_count(&cb.reads, 1);
	if (cb.block_page >= 0 && addr == (uint64_t)cb.block_page * PS) {
		cb_set_stage(1);
		cb_wait_stage(2);
	}
	if (cb_fail_now(addr, len))
		return -EIO;
	memcpy(buf, cb.dev + addr, len);
	return 0;
}

static int cb_write(void *priv, void *obj, uint64_t addr, const void *buf, size_t len)
{
	(void)priv, (void)obj;
	memcpy(cb.dev + addr, buf, len);
	return 0;
}

static int cb_readv(void *priv, void *obj, struct pc_io *io, unsigned int n)
{
	(void)priv, (void)obj;
	cb_count(&cb.readv_calls, 1);
	for (unsigned i = 0; i < n; i++) {
		uint64_t pos = io[i].addr;

		cb_count(&cb.readv_ios, 1);
		cb_count(&cb.readv_pages, io[i].iovcnt);
		if (cb_fail_now(io[i].addr, (uint64_t)io[i].iovcnt * PS)) {
			io[i].result = -EIO;
			continue;
		}
		for (unsigned j = 0; j < io[i].iovcnt; j++) {
			memcpy(io[i].iov[j].iov_base, cb.dev + pos, io[i].iov[j].iov_len);
			pos += io[i].iov[j].iov_len;
		}
		io[i].result = 0;
	}
	return 0;
}

static const struct pc_backend_ops cb_ops = {
	.version = PC_BACKEND_OPS_VERSION,
	.size = sizeof(struct pc_backend_ops),
	.name = "counting",
	.max_size = CB_PAGES * PS,
	.open = cb_open,
	.close = cb_close,
	.unlink = cb_unlink,
	.get_size = cb_get_size,
	.set_size = cb_set_size,
	.map = cb_map,
	.alloc = cb_alloc,
	.free = cb_free,
	.read = cb_read,
	.write = cb_write,
	.destroy = cb_destroy,
	.readv = cb_readv,
};

/* The same without readv: the library reads page by page. */
static struct pc_backend_ops cb_ops_plain;

struct cfix {
	struct pc_cache *c;
	struct pc_backend *b;
	struct pc_mapping *m;
};

/* A device whose object has data in @data_pages pages and size @size, open. */
static void cb_setup(struct cfix *f, uint64_t data_pages, uint64_t size, bool readv)
{
	memset(&cb, 0, sizeof(cb));
	cb.fail_page = -1;
	cb.block_page = -1;
	cb_stage = 0;
	for (uint64_t i = 0; i < data_pages; i++) {
		fill_pattern(cb.dev + i * PS, PS, (unsigned)i);
		cb.allocated[i] = true;
	}
	cb.size = size;
	cb_ops_plain = cb_ops;
	cb_ops_plain.readv = NULL;
	assert_int_equal(pc_cache_new(&f->c, 0), 0);
	assert_int_equal(pc_backend_new(&f->b, readv ? &cb_ops : &cb_ops_plain, NULL), 0);
	assert_int_equal(pc_open(&f->m, f->c, f->b, "o", 0), 0);
}

static void cb_teardown(struct cfix *f)
{
	if (f->m)
		assert_int_equal(pc_close(&f->m), 0);
	pc_backend_delete(&f->b);
	pc_cache_delete(&f->c);
}

/* Close and reopen: nothing cached, a fresh readahead state. */
static void reopen(struct pc_mapping **m, struct pc_cache *c, struct pc_backend *b,
		   const char *name)
{
	assert_int_equal(pc_close(m), 0);
	assert_int_equal(pc_open(m, c, b, name, 0), 0);
	assert_int_equal(stats_of(c).pages_cached, 0);
}

static struct pc_ra_stats ra_stats(struct pc_mapping *m)
{
	struct pc_ra_stats st;

	pc_ra_get_stats(m, &st);
	return st;
}

/* Every page of [0, pages) that is in the index is uptodate: no failed fill left behind. */
static void assert_no_stale_pages(struct pc_mapping *m, uint64_t pages)
{
	for (uint64_t i = 0; i < pages; i++) {
		struct pc_page *p = pc_page_lookup(m, i);

		if (!p)
			continue;
		assert_true(pc_page_test(p, PG_UPTODATE));
		pc_page_release(p);
	}
}

/* Page @i of a pattern object (fill_pattern(.., i)) reads back from the cache. */
static void assert_page_data(struct pc_mapping *m, uint64_t i)
{
	unsigned char want[PS], got[PS];

	fill_pattern(want, PS, (unsigned)i);
	assert_int_equal(pc_read(m, got, PS, i * PS, 0), PS);
	assert_memory_equal(want, got, PS);
}

/* Write @pages pattern pages (page i: fill_pattern(.., i)) and @tail bytes more. */
static unsigned char *write_object(struct pc_mapping *m, uint64_t pages, size_t tail)
{
	size_t len = pages * PS + tail;
	unsigned char *buf = malloc(len);

	assert_non_null(buf);
	for (uint64_t i = 0; i * PS < len; i++)
		fill_pattern(buf + i * PS, PC_MIN((size_t)PS, len - i * PS), (unsigned)i);
	assert_int_equal(pc_write(m, buf, len, 0, 0), (ssize_t)len);
	return buf;
}

/* ---- pc_readahead ---- */

static void test_readahead_populates(void **state)
{
	struct fixture *f = fixture_new(0, 8 << 20);
	const size_t len = 40 * PS + 100;
	unsigned char *in = write_object(f->m, 40, 100), *out = malloc(len);
	struct pc_stats st0, st1, st2;
	struct pc_page *p;

	(void)state;
	assert_non_null(out);
	reopen(&f->m, f->cache, f->be, "obj");
	st0 = stats_of(f->cache);
	assert_int_equal(pc_readahead(f->m, 0, 0), 0);
	st1 = stats_of(f->cache);
	assert_int_equal(st1.pages_cached, 41);	/* to EOF, not past it */
	assert_int_equal(st1.fills - st0.fills, 41);
	assert_int_equal(st1.misses, st0.misses);	/* no read asked for them */
	assert_int_equal(st1.hole_fills, st0.hole_fills);
	/* Now every read is a hit, and the data is right. */
	assert_int_equal(pc_read(f->m, out, len + PS, 0, 0), (ssize_t)len);
	assert_memory_equal(in, out, len);
	st2 = stats_of(f->cache);
	assert_int_equal(st2.hits - st1.hits, 41);
	assert_int_equal(st2.misses, st1.misses);
	assert_int_equal(st2.fills, st1.fills);
	/* The tail of the EOF page reads as zero (filemap.c, invariant 1). */
	assert_int_equal(pc_fault(f->m, 40 * PS, 0, &p), 0);
	assert_true(is_zero((char *)pc_page_addr(p) + 100, PS - 100));
	pc_page_put(p);
	/* Cached pages are not read again; ranges past EOF add nothing. */
	assert_int_equal(pc_readahead(f->m, 0, 1ull << 30), 0);
	assert_int_equal(pc_readahead(f->m, len, PS), 0);
	assert_int_equal(pc_readahead(f->m, 1ull << 40, PS), 0);
	assert_int_equal(stats_of(f->cache).pages_cached, 41);
	assert_int_equal(stats_of(f->cache).fills, st2.fills);
	/* A range in the middle: just its pages (5, 6 and 7). */
	reopen(&f->m, f->cache, f->be, "obj");
	assert_int_equal(pc_readahead(f->m, 5 * PS + 1, 2 * PS), 0);
	assert_int_equal(stats_of(f->cache).pages_cached, 3);
	for (uint64_t i = 5; i < 8; i++)
		assert_page_data(f->m, i);
	assert_int_equal(stats_of(f->cache).pages_cached, 3);
	free(in);
	free(out);
	fixture_delete(f);
}

static void test_readahead_stops_at_hole(void **state)
{
	struct fixture *f = fixture_new(0, 8 << 20);
	unsigned char buf[8 * PS];
	struct pc_stats st;

	(void)state;
	/* Data in pages 0-7 and 32-39; 8-31 is a hole. */
	fill_pattern(buf, sizeof(buf), 1);
	assert_int_equal(pc_write(f->m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	assert_int_equal(pc_write(f->m, buf, sizeof(buf), 32 * PS, 0), (ssize_t)sizeof(buf));
	reopen(&f->m, f->cache, f->be, "obj");
	st = stats_of(f->cache);
	assert_int_equal(pc_readahead(f->m, 0, 0), 0);
	assert_int_equal(stats_of(f->cache).pages_cached, 8);	/* not into the hole */
	assert_int_equal(stats_of(f->cache).fills - st.fills, 8);
	assert_int_equal(stats_of(f->cache).hole_fills, st.hole_fills);
	/* From inside the hole: its first page (zeros, no I/O), then stop. */
	assert_int_equal(pc_readahead(f->m, 8 * PS, 0), 0);
	assert_int_equal(stats_of(f->cache).pages_cached, 9);
	assert_int_equal(stats_of(f->cache).hole_fills - st.hole_fills, 1);
	assert_int_equal(stats_of(f->cache).fills - st.fills, 8);
	/* The data after the hole. */
	assert_int_equal(pc_readahead(f->m, 32 * PS, 0), 0);
	assert_int_equal(stats_of(f->cache).pages_cached, 17);
	assert_int_equal(stats_of(f->cache).fills - st.fills, 16);
	fixture_delete(f);
}

static void test_readahead_bad_input(void **state)
{
	struct fixture *f = fixture_new(0, 8 << 20);
	unsigned char *in = write_object(f->m, 4, 0);
	static const struct {
		uint64_t off, len;
		int err;
	} bad[] = {
		{ PC_MAX_SIZE + 1, 0, -EINVAL },
		{ PC_MAX_SIZE + 1, PS, -EINVAL },
		{ UINT64_MAX, 1, -EINVAL },
		{ 2, PC_MAX_SIZE, -EFBIG },
		{ PC_MAX_SIZE, 2, -EFBIG },
		{ PS, UINT64_MAX, -EFBIG },
	};
	struct pc_stats before, after;
	uint64_t size;

	(void)state;
	reopen(&f->m, f->cache, f->be, "obj");
	before = stats_of(f->cache);
	assert_int_equal(pc_readahead(NULL, 0, PS), -EINVAL);
	for (size_t i = 0; i < PC_ARRAY_SIZE(bad); i++)
		assert_int_equal(pc_readahead(f->m, bad[i].off, bad[i].len), bad[i].err);
	/* The lock is not recursive: holding it in either mode is -EDEADLK. */
	pc_invalidate_lock_shared(f->m);
	assert_int_equal(pc_readahead(f->m, 0, 0), -EDEADLK);
	pc_invalidate_unlock_shared(f->m);
	pc_invalidate_lock(f->m);
	assert_int_equal(pc_readahead(f->m, 0, PS), -EDEADLK);
	pc_invalidate_unlock(f->m);
	after = stats_of(f->cache);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(after.pages_cached, 0);
	assert_int_equal(pc_size(f->m, &size), 0);
	assert_int_equal(size, 4 * PS);
	/* The state is usable after all that. */
	assert_int_equal(pc_readahead(f->m, 0, 0), 0);
	assert_int_equal(stats_of(f->cache).pages_cached, 4);
	free(in);
	fixture_delete(f);
}

static void test_readahead_enomem_best_effort(void **state)
{
	/* A budget of 64 pages (windows of 8), of which 60 are pinned. */
	struct fixture *f = fixture_new(64 * PS, 8 << 20);
	unsigned char *in = write_object(f->m, 128, 0);
	struct pc_page *pins[64];
	struct pc_stats st;

	(void)state;
	reopen(&f->m, f->cache, f->be, "obj");
	for (unsigned i = 0; i < 60; i++)
		assert_int_equal(pc_fault(f->m, (uint64_t)(64 + i) * PS, 0, &pins[i]), 0);
	/*
	 * Four pages fit; the fifth finds nothing to evict (the window's own
	 * pages are locked): -ENOMEM, quiet, since some were populated.
	 */
	assert_int_equal(pc_readahead(f->m, 0, 0), 0);
	assert_int_equal(stats_of(f->cache).pages_cached, 64);
	assert_no_stale_pages(f->m, 128);
	for (uint64_t i = 0; i < 4; i++)
		assert_page_data(f->m, i);
	/* With every page pinned, nothing can be populated: the error, and no change. */
	for (unsigned i = 60; i < 64; i++)
		assert_int_equal(pc_fault(f->m, (uint64_t)(i - 60) * PS, 0, &pins[i]), 0);
	assert_int_equal(pc_readahead(f->m, 16 * PS, 0), -ENOMEM);
	assert_int_equal(stats_of(f->cache).pages_cached, 64);
	assert_no_stale_pages(f->m, 128);
	for (unsigned i = 0; i < 64; i++)
		pc_page_put(pins[i]);
	/* And with room again, it works. */
	assert_int_equal(pc_readahead(f->m, 16 * PS, 8 * PS), 0);
	for (uint64_t i = 16; i < 24; i++)
		assert_page_data(f->m, i);
	/* Sequential reads through the small cache: windows of 1/8 of it, never -ENOMEM. */
	st = stats_of(f->cache);
	for (uint64_t i = 0; i < 128; i++)
		assert_page_data(f->m, i);
	assert_int_equal(ra_stats(f->m).max_size, 8);
	assert_int_equal(stats_of(f->cache).enomem, st.enomem);
	free(in);
	fixture_delete(f);
}

/* ---- pc_read's sequential windows ---- */

static void test_sequential_read_windows_grow(void **state)
{
	enum { PAGES = 1024 };	/* 4 MiB */
	struct fixture *f = fixture_new(0, 16 << 20);
	unsigned char *in = write_object(f->m, PAGES, 0), *out = malloc(PAGES * PS);
	struct pc_stats st0, st1;
	struct pc_ra_stats ra;

	(void)state;
	assert_non_null(out);
	reopen(&f->m, f->cache, f->be, "obj");
	st0 = stats_of(f->cache);
	for (uint64_t i = 0; i < PAGES; i++)
		assert_int_equal(pc_read(f->m, out + i * PS, PS, i * PS, 0), PS);
	assert_memory_equal(in, out, PAGES * PS);
	st1 = stats_of(f->cache);
	assert_int_equal(st1.fills - st0.fills, PAGES);
	/* One read waited for the backend; the windows ran ahead of all the others. */
	assert_int_equal(st1.misses - st0.misses, 1);
	assert_int_equal(st1.hits - st0.hits, PAGES - 1);
	ra = ra_stats(f->m);
	assert_int_equal(ra.max_size, PC_RA_MAX_PAGES);	/* 4, 8, 16, 32, 64, 64, ... */
	assert_int_equal(ra.pages, PAGES);
	assert_true(ra.windows >= PAGES / PC_RA_MAX_PAGES);
	assert_int_equal(ra.async_windows, ra.windows - 1);

	/* Reads of 16 KiB: the same, one miss. */
	reopen(&f->m, f->cache, f->be, "obj");
	st0 = stats_of(f->cache);
	for (uint64_t i = 0; i < PAGES; i += 4)
		assert_int_equal(pc_read(f->m, out + i * PS, 4 * PS, i * PS, 0), 4 * PS);
	assert_memory_equal(in, out, PAGES * PS);
	assert_int_equal(stats_of(f->cache).misses - st0.misses, 1);

	/* One 4 MiB read: one miss, then windows of PC_RA_MAX_PAGES. */
	reopen(&f->m, f->cache, f->be, "obj");
	st0 = stats_of(f->cache);
	memset(out, 0, PAGES * PS);
	assert_int_equal(pc_read(f->m, out, PAGES * PS, 0, 0), PAGES * PS);
	assert_memory_equal(in, out, PAGES * PS);
	assert_int_equal(stats_of(f->cache).misses - st0.misses, 1);
	assert_int_equal(stats_of(f->cache).fills - st0.fills, PAGES);

	/* Random page reads (never where the last one ended): no readahead at all. */
	reopen(&f->m, f->cache, f->be, "obj");
	st0 = stats_of(f->cache);
	for (uint64_t k = 1; k <= 50; k++) {
		uint64_t i = k * 37 % PAGES;

		assert_int_equal(pc_read(f->m, out, PS, i * PS, 0), PS);
		assert_memory_equal(in + i * PS, out, PS);
	}
	ra = ra_stats(f->m);
	assert_int_equal(ra.windows, 0);
	assert_int_equal(stats_of(f->cache).pages_cached, 50);
	assert_int_equal(stats_of(f->cache).misses - st0.misses, 50);
	assert_int_equal(stats_of(f->cache).fills - st0.fills, 50);
	/* A random multi-page read reads what it needs, in one batch, and no more. */
	assert_int_equal(pc_read(f->m, out, 10 * PS, 500 * PS, 0), 10 * PS);
	assert_memory_equal(in + 500 * PS, out, 10 * PS);
	assert_int_equal(stats_of(f->cache).pages_cached, 60);
	assert_int_equal(ra_stats(f->m).windows, 0);
	/* The next read going on from there is sequential: a first window of 4. */
	assert_int_equal(pc_read(f->m, out, PS, 510 * PS, 0), PS);
	assert_int_equal(ra_stats(f->m).windows, 1);
	assert_int_equal(stats_of(f->cache).pages_cached, 64);
	free(in);
	free(out);
	fixture_delete(f);
}

static void test_sequential_read_stops_at_eof(void **state)
{
	struct fixture *f = fixture_new(0, 8 << 20);
	unsigned char *in = write_object(f->m, 6, 10), out[PS];

	(void)state;
	reopen(&f->m, f->cache, f->be, "obj");
	for (uint64_t i = 0; i < 7; i++)
		assert_int_equal(pc_read(f->m, out, PS, i * PS, 0), i < 6 ? PS : 10);
	assert_int_equal(stats_of(f->cache).pages_cached, 7);
	free(in);
	/* Four pages: the async window of the first one would start at EOF. */
	assert_int_equal(pc_truncate(f->m, 4 * PS), 0);
	reopen(&f->m, f->cache, f->be, "obj");
	for (uint64_t i = 0; i < 5; i++)
		assert_int_equal(pc_read(f->m, out, PS, i * PS, 0), i < 4 ? PS : 0);
	assert_int_equal(ra_stats(f->m).windows, 1);
	assert_int_equal(stats_of(f->cache).pages_cached, 4);
	fixture_delete(f);
}

/*
 * The tail of the EOF page reads as zero whatever the backend holds there
 * (filemap.c, invariant 1), with and without readv, through pc_readahead
 * and through pc_read's windows.
 */
static void test_eof_tail_zeroed(void **state)
{
	for (int readv = 0; readv < 2; readv++) {
		for (int via_read = 0; via_read < 2; via_read++) {
			unsigned char want[PS], got[PS];
			struct cfix f;

			/* Eleven pages of pattern on the device; the object ends 100 bytes into the last. */
			cb_setup(&f, 11, 10 * PS + 100, readv);
			if (via_read)
				assert_int_equal(pc_read(f.m, got, PS, 0, 0), PS);
			else
				assert_int_equal(pc_readahead(f.m, 0, 0), 0);
			assert_int_equal(stats_of(f.c).pages_cached, via_read ? 4 : 11);
			if (via_read)
				assert_int_equal(pc_read(f.m, got, PS, 2 * PS, 0), PS);	/* the trigger */
			assert_int_equal(stats_of(f.c).pages_cached, 11);
			assert_int_equal(cb_get(&cb.readv_calls) > 0, readv);
			fill_pattern(want, PS, 10);
			memset(want + 100, 0, PS - 100);
			assert_int_equal(pc_read(f.m, got, PS, 10 * PS, PC_NOWAIT), 100);
			assert_memory_equal(want, got, 100);
			{
				struct pc_page *p;

				assert_int_equal(pc_fault(f.m, 10 * PS, 0, &p), 0);
				assert_memory_equal(want, pc_page_addr(p), PS);
				pc_page_put(p);
			}
			cb_teardown(&f);
		}
	}
	(void)state;
}

/* ---- vectored reads ---- */

static void test_readv_one_call_per_window(void **state)
{
	enum { PAGES = 256, W = PC_RA_MAX_PAGES };
	struct cfix f;
	unsigned char out[PS];
	struct pc_ra_stats ra;

	(void)state;
	cb_setup(&f, PAGES, PAGES * PS, true);
	/* One extent: one readv call with one I/O of a whole window. */
	assert_int_equal(pc_readahead(f.m, 0, W * PS), 0);
	assert_int_equal(cb_get(&cb.readv_calls), 1);
	assert_int_equal(cb_get(&cb.readv_ios), 1);
	assert_int_equal(cb_get(&cb.readv_pages), W);
	assert_int_equal(cb_get(&cb.reads), 0);
	for (uint64_t i = 0; i < W; i++)
		assert_page_data(f.m, i);
	/* Extents of 8 pages: still one call, with W / 8 I/Os. */
	cb.max_extent = 8;
	assert_int_equal(pc_readahead(f.m, W * PS, W * PS), 0);
	assert_int_equal(cb_get(&cb.readv_calls), 2);
	assert_int_equal(cb_get(&cb.readv_ios), 1 + W / 8);
	assert_int_equal(cb_get(&cb.readv_pages), 2 * W);
	assert_int_equal(cb_get(&cb.reads), 0);
	for (uint64_t i = W; i < 2 * W; i++)
		assert_page_data(f.m, i);
	/* Cached pages split a window into runs; the runs still go in one call. */
	reopen(&f.m, f.c, f.b, "o");
	cb.max_extent = 0;
	for (uint64_t i = 0; i < W; i += 8) {
		struct pc_page *p;

		assert_int_equal(pc_fault(f.m, i * PS, 0, &p), 0);	/* no readahead */
		pc_page_put(p);
	}
	cb.readv_calls = cb.readv_ios = 0;
	assert_int_equal(pc_readahead(f.m, 0, W * PS), 0);
	assert_int_equal(cb_get(&cb.readv_calls), 1);
	assert_int_equal(cb_get(&cb.readv_ios), W / 8);	/* pages 1-7, 9-15, ... */
	/* A sequential reader: one readv call per window, no single-page read. */
	reopen(&f.m, f.c, f.b, "o");
	cb.readv_calls = cb.reads = 0;
	for (uint64_t i = 0; i < PAGES; i++) {
		unsigned char want[PS];

		assert_int_equal(pc_read(f.m, out, PS, i * PS, 0), PS);
		fill_pattern(want, PS, (unsigned)i);
		assert_memory_equal(want, out, PS);
	}
	ra = ra_stats(f.m);
	assert_true(ra.windows >= 5);
	assert_int_equal(cb_get(&cb.readv_calls), ra.windows);
	assert_int_equal(cb_get(&cb.reads), 0);
	cb_teardown(&f);
}

static char g_tmp[PATH_MAX];

/* Remove object @name's host file and @dir. */
static void rm_dir(const char *dir, const char *name)
{
	char path[PATH_MAX + 16];

	assert_true(snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* The file backend's readv (preadv or io_uring) through the windows. */
static void test_file_backend_windows(void **state)
{
	const char *root = getenv("MESON_BUILD_ROOT");
	const size_t len = 300 * PS + 123;
	struct pc_backend *b;
	struct pc_mapping *m;
	struct pc_cache *c;
	unsigned char *in, *out = malloc(len);
	struct pc_stats st;

	(void)state;
	assert_non_null(out);
	snprintf(g_tmp, sizeof(g_tmp), "%s/pc-ra-XXXXXX", root ? root : "/tmp");
	assert_non_null(mkdtemp(g_tmp));
	assert_int_equal(pc_cache_new(&c, 0), 0);
	assert_int_equal(pc_backend_file_new(&b, g_tmp, 0), 0);
	assert_int_equal(pc_open(&m, c, b, "f", PC_CREAT), 0);
	in = write_object(m, 300, 123);
	/* A hole in pages 100-149, so windows meet one. */
	assert_int_equal(pc_punch(m, 100 * PS, 50 * PS), 0);
	memset(in + 100 * PS, 0, 50 * PS);
	reopen(&m, c, b, "f");
	st = stats_of(c);
	for (size_t done = 0; done < len; done += 2 * PS)
		assert_int_equal(pc_read(m, out + done, 2 * PS, done, 0),
				 (ssize_t)PC_MIN((size_t)2 * PS, len - done));
	assert_memory_equal(in, out, len);
	assert_int_equal(stats_of(c).fills - st.fills, 251);
	assert_int_equal(stats_of(c).hole_fills - st.hole_fills, 50);
	assert_true(stats_of(c).misses - st.misses < 50);
	assert_int_equal(ra_stats(m).max_size, PC_RA_MAX_PAGES);
	/* pc_readahead on the file backend, and a read of it that only hits. */
	reopen(&m, c, b, "f");
	assert_int_equal(pc_readahead(m, 150 * PS, 0), 0);
	assert_int_equal(stats_of(c).pages_cached, 151);
	st = stats_of(c);
	assert_int_equal(pc_read(m, out, len - 150 * PS, 150 * PS, 0), (ssize_t)(len - 150 * PS));
	assert_memory_equal(in + 150 * PS, out, len - 150 * PS);
	assert_int_equal(stats_of(c).misses, st.misses);
	assert_int_equal(pc_close(&m), 0);
	pc_backend_delete(&b);
	pc_cache_delete(&c);
	rm_dir(g_tmp, "f");
	free(in);
	free(out);
}

/* ---- failures and concurrency ---- */

static void test_readahead_io_error(void **state)
{
	enum { PAGES = 32 };
	struct cfix f;

	(void)state;
	/* Extents of 4 pages: I/Os 0-3, 4-7, 8-11, 12-15 in one readv call. */
	cb_setup(&f, PAGES, PAGES * PS, true);
	cb.max_extent = 4;
	cb.fail_page = 9;
	cb.fail_count = 1;
	assert_int_equal(pc_readahead(f.m, 0, 16 * PS), 0);	/* past the first page: best effort */
	assert_int_equal(cb_get(&cb.readv_calls), 1);
	assert_int_equal(stats_of(f.c).pages_cached, 12);	/* 8-11 left the index again */
	assert_no_stale_pages(f.m, PAGES);
	assert_int_equal(pc_read(f.m, (char[PS]){ 0 }, PS, 9 * PS, PC_NOWAIT), -EAGAIN);
	assert_page_data(f.m, 9);	/* a later read retries, and succeeds */
	assert_page_data(f.m, 8);
	/* An error on the first page is returned; the rest is still populated. */
	cb.fail_page = 16;
	cb.fail_count = 1;
	assert_int_equal(pc_readahead(f.m, 16 * PS, 16 * PS), -EIO);
	assert_no_stale_pages(f.m, PAGES);
	assert_null(pc_page_lookup(f.m, 16));
	assert_int_equal(stats_of(f.c).pages_cached, 12 + 2 + 12);
	assert_page_data(f.m, 16);
	/*
	 * pc_read: one I/O per page now.  A failed page past the one the read
	 * needs is left out; a failure of the needed page is the read's error,
	 * and the rest of the window is still populated.
	 */
	reopen(&f.m, f.c, f.b, "o");
	cb.max_extent = 1;
	cb.fail_page = 1;
	cb.fail_count = 1;
	assert_int_equal(pc_read(f.m, (char[PS]){ 0 }, PS, 0, 0), PS);	/* window 0-3 */
	assert_no_stale_pages(f.m, PAGES);
	assert_null(pc_page_lookup(f.m, 1));
	assert_int_equal(stats_of(f.c).pages_cached, 3);
	assert_page_data(f.m, 1);
	reopen(&f.m, f.c, f.b, "o");
	cb.fail_page = 0;
	cb.fail_count = 1;
	assert_int_equal(pc_read(f.m, (char[PS]){ 0 }, PS, 0, 0), -EIO);
	assert_no_stale_pages(f.m, PAGES);
	assert_null(pc_page_lookup(f.m, 0));
	assert_int_equal(stats_of(f.c).pages_cached, 3);
	assert_page_data(f.m, 0);	/* the retry reads it */
	cb_teardown(&f);

	/* Without readv, page by page: only the page that failed is missing. */
	cb_setup(&f, PAGES, PAGES * PS, false);
	cb.fail_page = 9;
	cb.fail_count = 1;
	assert_int_equal(pc_readahead(f.m, 0, 16 * PS), 0);
	assert_int_equal(cb_get(&cb.reads), 16);
	assert_int_equal(stats_of(f.c).pages_cached, 15);
	assert_no_stale_pages(f.m, PAGES);
	assert_page_data(f.m, 9);
	cb_teardown(&f);
}

static struct pc_mapping *g_m;

static void *fault_page5(void *arg)
{
	struct pc_page *p;

	(void)arg;
	assert_int_equal(pc_fault(g_m, 5 * PS, 0, &p), 0);
	pc_page_put(p);
	return NULL;
}

/* Readahead skips a page another thread is filling, rather than wait for it. */
static void test_readahead_skips_page_being_filled(void **state)
{
	struct cfix f;
	pthread_t t;

	(void)state;
	cb_setup(&f, 16, 16 * PS, true);
	cb.block_page = 5;
	g_m = f.m;
	assert_int_equal(pthread_create(&t, NULL, fault_page5, NULL), 0);
	cb_wait_stage(1);	/* page 5 is locked in the index, its read under way */
	alarm(30);		/* a wait for page 5 would hang: fail instead */
	assert_int_equal(pc_readahead(f.m, 0, 0), 0);
	alarm(0);
	assert_int_equal(cb_get(&cb.readv_ios), 2);	/* 0-4 and 6-15 */
	assert_int_equal(cb_get(&cb.readv_pages), 15);
	cb.block_page = -1;
	cb_set_stage(2);
	assert_int_equal(pthread_join(t, NULL), 0);
	for (uint64_t i = 0; i < 16; i++)
		assert_page_data(f.m, i);
	assert_int_equal(stats_of(f.c).fills, 16);
	cb_teardown(&f);
}

/* ---- PC_NOWAIT ---- */

static void test_nowait(void **state)
{
	struct fixture *f = fixture_new(0, 8 << 20);
	unsigned char *in = write_object(f->m, 8, 0), out[8 * PS];
	struct pc_stats st;
	struct pc_page *p;

	(void)state;
	reopen(&f->m, f->cache, f->be, "obj");
	/* Nothing cached: -EAGAIN, and nothing happened. */
	st = stats_of(f->cache);
	assert_int_equal(pc_read(f->m, out, PS, 0, PC_NOWAIT), -EAGAIN);
	assert_int_equal(stats_of(f->cache).pages_cached, 0);
	assert_int_equal(stats_of(f->cache).misses, st.misses);
	assert_int_equal(stats_of(f->cache).fills, st.fills);
	/* Pages 0 and 1 cached (faults read no more): what is there, up to the gap. */
	for (uint64_t i = 0; i < 2; i++) {
		assert_int_equal(pc_fault(f->m, i * PS, 0, &p), 0);
		pc_page_put(p);
	}
	assert_int_equal(pc_read(f->m, out, 4 * PS, 0, PC_NOWAIT), 2 * PS);
	assert_memory_equal(in, out, 2 * PS);
	assert_int_equal(pc_read(f->m, out, 3 * PS, 100, PC_NOWAIT), 2 * PS - 100);
	assert_memory_equal(in + 100, out, 2 * PS - 100);
	assert_int_equal(pc_read(f->m, out, PS, 2 * PS, PC_NOWAIT), -EAGAIN);
	assert_int_equal(stats_of(f->cache).pages_cached, 2);
	/* All cached: all of it; at EOF: 0. */
	assert_int_equal(pc_readahead(f->m, 0, 0), 0);
	assert_int_equal(pc_read(f->m, out, sizeof(out) + PS, 0, PC_NOWAIT), (ssize_t)sizeof(out));
	assert_memory_equal(in, out, sizeof(out));
	assert_int_equal(pc_read(f->m, out, PS, 8 * PS, PC_NOWAIT), 0);
	/* Flags: PC_NOWAIT | PC_LOCKED is fine when the lock is held. */
	assert_int_equal(pc_read(f->m, out, PS, 0, PC_NOWAIT | PC_LOCKED), -EPERM);
	pc_invalidate_lock_shared(f->m);
	assert_int_equal(pc_read(f->m, out, PS, 0, PC_NOWAIT | PC_LOCKED), PS);
	assert_int_equal(pc_read(f->m, out, PS, 0, PC_NOWAIT), -EDEADLK);
	pc_invalidate_unlock_shared(f->m);
	assert_int_equal(pc_read(f->m, out, PS, 0, 0x4), -EINVAL);
	assert_int_equal(pc_read(f->m, out, PS, 0, PC_NOWAIT | 0x4), -EINVAL);
	assert_int_equal(pc_write(f->m, out, PS, 0, PC_NOWAIT), -EINVAL);
	/* A PC_NOWAIT hit on a window's trigger reads nothing ahead; a plain one does. */
	reopen(&f->m, f->cache, f->be, "obj");
	assert_int_equal(pc_read(f->m, out, PS, 0, 0), PS);	/* window 0-3, trigger at 2 */
	assert_int_equal(stats_of(f->cache).pages_cached, 4);
	assert_int_equal(pc_read(f->m, out, PS, 2 * PS, PC_NOWAIT), PS);
	assert_int_equal(stats_of(f->cache).pages_cached, 4);
	assert_int_equal(ra_stats(f->m).async_windows, 0);
	assert_int_equal(pc_read(f->m, out, PS, 2 * PS, 0), PS);
	assert_int_equal(ra_stats(f->m).async_windows, 1);
	assert_int_equal(stats_of(f->cache).pages_cached, 8);	/* 4-11, clipped at EOF */
	free(in);
	fixture_delete(f);
}

static void *hold_exclusive(void *arg)
{
	struct timespec until;

	pc_invalidate_lock(arg);
	cb_set_stage(1);
	/* Until the test is done, or 3 s: a reader that blocked would see the release late. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 3;
	pthread_mutex_lock(&cb_mu);
	while (cb_stage < 2 && pthread_cond_timedwait(&cb_cv, &cb_mu, &until) == 0)
		;
	pthread_mutex_unlock(&cb_mu);
	pc_invalidate_unlock(arg);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* While another thread holds the invalidate_lock exclusive, hits and PC_NOWAIT never block. */
static void test_nowait_while_invalidate_locked(void **state)
{
	struct fixture *f = fixture_new(0, 8 << 20);
	unsigned char *in = write_object(f->m, 64, 0), out[4 * PS];
	pthread_t t;
	double t0, t1;

	(void)state;
	reopen(&f->m, f->cache, f->be, "obj");
	assert_int_equal(pc_read(f->m, out, PS, 0, 0), PS);	/* window 0-3, trigger at 2 */
	assert_int_equal(stats_of(f->cache).pages_cached, 4);
	cb_stage = 0;
	assert_int_equal(pthread_create(&t, NULL, hold_exclusive, f->m), 0);
	cb_wait_stage(1);
	t0 = now_s();
	assert_int_equal(pc_read(f->m, out, 4 * PS, 0, PC_NOWAIT), 4 * PS);
	assert_memory_equal(in, out, 4 * PS);
	assert_int_equal(pc_read(f->m, out, PS, 4 * PS, PC_NOWAIT), -EAGAIN);
	assert_int_equal(pc_read(f->m, out, 2 * PS, 3 * PS, PC_NOWAIT), PS);
	/* A plain read that hits the trigger: the async window cannot have the lock now. */
	assert_int_equal(pc_read(f->m, out, PS, 2 * PS, 0), PS);
	t1 = now_s();
	cb_set_stage(2);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(t1 - t0 < 1.0);
	assert_int_equal(ra_stats(f->m).async_windows, 0);
	assert_int_equal(stats_of(f->cache).pages_cached, 4);
	/* The window it skipped comes with the next miss, which is sequential. */
	assert_int_equal(pc_read(f->m, out, PS, 4 * PS, 0), PS);
	assert_int_equal(ra_stats(f->m).windows, 2);
	assert_int_equal(stats_of(f->cache).pages_cached, 12);	/* 4-11 */
	free(in);
	fixture_delete(f);
}

/* G7: a holder of the exclusive lock reads ahead with PC_LOCKED, under its own lock. */
static void test_locked_reads_read_ahead(void **state)
{
	struct fixture *f = fixture_new(0, 8 << 20);
	unsigned char *in = write_object(f->m, 64, 0), out[PS];

	(void)state;
	reopen(&f->m, f->cache, f->be, "obj");
	pc_invalidate_lock(f->m);
	for (uint64_t i = 0; i < 64; i++) {
		assert_int_equal(pc_read(f->m, out, PS, i * PS, PC_LOCKED), PS);
		assert_memory_equal(in + i * PS, out, PS);
	}
	pc_invalidate_unlock(f->m);
	assert_int_equal(stats_of(f->cache).misses, 64 + 1);	/* the writes', and one */
	assert_true(ra_stats(f->m).async_windows > 0);
	free(in);
	fixture_delete(f);
}

/* ---- G1/G2: readahead against punch, with blocks reused at once ---- */

#define RACE_MAGIC 0x5241a7e5u
#define RACE_VICTIM 1
#define RACE_PAGES 128
#define RACE_OTHER_PAGES 32

struct race_rec {
	uint32_t magic, obj, page, gen;
};

static struct {
	struct pc_mapping *victim, *other;
	int stop;			/* atomic */
	uint64_t violations;		/* atomic */
	uint64_t reads;			/* atomic: pages checked */
} rc;

/* Stamp every record of page @page of object @obj with generation @gen. */
static void race_stamp(unsigned char *buf, uint32_t obj, uint32_t page, uint32_t gen)
{
	for (unsigned k = 0; k < PS / sizeof(struct race_rec); k++)
		memcpy(buf + k * sizeof(struct race_rec),
		       &(struct race_rec){ RACE_MAGIC, obj, page, gen }, sizeof(struct race_rec));
}

/*
 * A victim page may read as old data, new data, zeros or a mix of them,
 * but each word must be zero or the victim's own: anything else came from
 * a block that the punch freed and another object reused (G1).
 */
static void race_check(const unsigned char *buf, uint32_t page)
{
	for (unsigned k = 0; k < PS / sizeof(struct race_rec); k++) {
		struct race_rec r;

		memcpy(&r, buf + k * sizeof(r), sizeof(r));
		if ((r.magic && r.magic != RACE_MAGIC) || (r.obj && r.obj != RACE_VICTIM) ||
		    (r.page && r.page != page)) {
			__atomic_fetch_add(&rc.violations, 1, __ATOMIC_RELAXED);
			return;
		}
	}
}

static uint64_t race_rnd(uint64_t *s)
{
	*s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
	return *s;
}

/* Readahead of a random range, then a sequential read of it, checked. */
static void *race_reader(void *arg)
{
	uint64_t s = (uintptr_t)arg * 7919 + 1;
	unsigned char *buf = malloc(64 * PS);

	assert_non_null(buf);
	while (!__atomic_load_n(&rc.stop, __ATOMIC_RELAXED)) {
		uint32_t first = (uint32_t)(race_rnd(&s) % RACE_PAGES);
		uint32_t n = 1 + (uint32_t)(race_rnd(&s) % 64);
		ssize_t got;

		if (race_rnd(&s) & 1) {
			int r = pc_readahead(rc.victim, (uint64_t)first * PS, (uint64_t)n * PS);

			if (r != 0 && r != -ENOMEM)
				abort();
		}
		/* Page by page: sequential misses, so pc_read reads windows ahead too. */
		for (uint32_t i = 0; i < n; i++) {
			got = pc_read(rc.victim, buf + i * PS, PS, (uint64_t)(first + i) * PS, 0);
			if (got != PS && got != 0 && got != -ENOMEM)
				abort();
			if (got == PS) {
				race_check(buf + i * PS, first + i);
				__atomic_fetch_add(&rc.reads, 1, __ATOMIC_RELAXED);
			}
		}
	}
	free(buf);
	return NULL;
}

static void test_race_readahead_punch(void **state)
{
	/* A small device: the blocks a punch frees are the next ones allocated. */
	struct fixture *f = fixture_new(0, (RACE_PAGES + RACE_OTHER_PAGES + 16) * PS);
	unsigned char *page = malloc(PS);
	uint64_t s = 12345, rounds = 0, windows;
	pthread_t t[2];
	double end;

	(void)state;
	assert_non_null(page);
	rc.victim = f->m;
	rc.stop = 0;
	rc.violations = rc.reads = 0;
	assert_int_equal(pc_open(&rc.other, f->cache, f->be, "other", PC_CREAT), 0);
	for (uint32_t i = 0; i < RACE_PAGES; i++) {
		race_stamp(page, RACE_VICTIM, i, 0);
		assert_int_equal(pc_write(rc.victim, page, PS, (uint64_t)i * PS, 0), PS);
	}
	assert_int_equal(pc_sync(rc.victim, 0, 0), 0);
	for (uintptr_t i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race_reader, (void *)(i + 1)), 0);
	end = now_s() + 1.5;
	while (now_s() < end || rounds < 100) {
		uint32_t first = (uint32_t)(race_rnd(&s) % RACE_PAGES);
		uint32_t n = 1 + (uint32_t)(race_rnd(&s) % PC_MIN(RACE_OTHER_PAGES, RACE_PAGES - first));

		/* Free the other object's blocks, then the victim's: those are reused first. */
		assert_int_equal(pc_punch(rc.other, 0, RACE_OTHER_PAGES * PS), 0);
		assert_int_equal(pc_punch(rc.victim, (uint64_t)first * PS, (uint64_t)n * PS), 0);
		for (uint32_t i = 0; i < n; i++) {
			race_stamp(page, 2, i, (uint32_t)rounds);
			assert_int_equal(pc_write(rc.other, page, PS, (uint64_t)i * PS, 0), PS);
		}
		assert_int_equal(pc_sync(rc.other, 0, 0), 0);
		/* The victim gets its data back, in new blocks, and drops it from the cache. */
		for (uint32_t i = first; i < first + n; i++) {
			race_stamp(page, RACE_VICTIM, i, (uint32_t)rounds + 1);
			assert_int_equal(pc_write(rc.victim, page, PS, (uint64_t)i * PS, 0), PS);
		}
		assert_int_equal(pc_sync(rc.victim, 0, 0), 0);
		pc_invalidate_lock(rc.victim);
		assert_int_equal(pc_invalidate_range(rc.victim, (uint64_t)first * PS,
						     (uint64_t)n * PS), 0);
		pc_invalidate_unlock(rc.victim);
		rounds++;
	}
	__atomic_store_n(&rc.stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	windows = ra_stats(rc.victim).windows;
	print_message("race: %" PRIu64 " rounds, %" PRIu64 " pages read, %" PRIu64
		      " windows, %" PRIu64 " violations\n", rounds, rc.reads, windows,
		      rc.violations);
	assert_true(windows > 100);	/* the readers did read ahead */
	assert_int_equal(rc.violations, 0);
	assert_int_equal(pc_close(&rc.other), 0);
	free(page);
	fixture_delete(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readahead_populates),
		cmocka_unit_test(test_readahead_stops_at_hole),
		cmocka_unit_test(test_readahead_bad_input),
		cmocka_unit_test(test_readahead_enomem_best_effort),
		cmocka_unit_test(test_sequential_read_windows_grow),
		cmocka_unit_test(test_sequential_read_stops_at_eof),
		cmocka_unit_test(test_eof_tail_zeroed),
		cmocka_unit_test(test_readv_one_call_per_window),
		cmocka_unit_test(test_file_backend_windows),
		cmocka_unit_test(test_readahead_io_error),
		cmocka_unit_test(test_readahead_skips_page_being_filled),
		cmocka_unit_test(test_nowait),
		cmocka_unit_test(test_nowait_while_invalidate_locked),
		cmocka_unit_test(test_locked_reads_read_ahead),
		cmocka_unit_test(test_race_readahead_punch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
