/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of invalidation: pc_punch, pc_zero_range, pc_truncate, pc_invalidate_range. */
#include <pthread.h>
#include <unistd.h>

#include "helpers.h"
#include "hook_backend.h"

/* Write @len bytes of pattern @seed at 0 into @m and into the shadow @sh. */
static void put_pattern(struct pc_mapping *m, char *sh, size_t len, unsigned seed)
{
	fill_pattern(sh, len, seed);
	assert_int_equal(pc_write(m, sh, len, 0, 0), (ssize_t)len);
}

static void check_equal(struct pc_mapping *m, const char *sh, size_t len)
{
	char *buf = malloc(len + PS);
	uint64_t size;

	assert_int_equal(pc_size(m, &size), 0);
	assert_int_equal(size, len);
	assert_int_equal(pc_read(m, buf, len + PS, 0, 0), (ssize_t)len);
	assert_memory_equal(buf, sh, len);
	free(buf);
}

/* Punch the same ranges cached, and uncached (after close/reopen). */
static void punch_cases(bool cached)
{
	static const struct { uint64_t off, len; } cases[] = {
		{ 0, PS }, { PS, 3 * PS }, { 100, 50 }, { 100, PS }, { PS - 1, 2 },
		{ 3 * PS + 5, 4 * PS + 9 }, { 7 * PS, 100 * PS }, { 0, 8 * PS },
	};
	size_t len = 8 * PS + 123;

	for (size_t i = 0; i < PC_ARRAY_SIZE(cases); i++) {
		struct fixture *f = fixture_new(0, 4 << 20);
		char *sh = malloc(len);
		uint64_t end = cases[i].off + cases[i].len;

		put_pattern(f->m, sh, len, (unsigned)i + 10);
		if (!cached) {
			assert_int_equal(pc_close(&f->m), 0);
			assert_int_equal(pc_open(&f->m, f->cache, f->be, "obj", 0), 0);
		}
		assert_int_equal(pc_punch(f->m, cases[i].off, cases[i].len), 0);
		memset(sh + cases[i].off, 0, PC_MIN(end, len) - cases[i].off);
		check_equal(f->m, sh, len);	/* and the size is unchanged */
		/* The backend agrees once the cache is gone. */
		assert_int_equal(pc_close(&f->m), 0);
		assert_int_equal(pc_open(&f->m, f->cache, f->be, "obj", 0), 0);
		check_equal(f->m, sh, len);
		free(sh);
		fixture_delete(f);
	}
}

static void test_punch_cached(void **state)
{
	(void)state;
	punch_cases(true);
}

static void test_punch_uncached(void **state)
{
	(void)state;
	punch_cases(false);
}

/* Whole pages punched go back to the device: another object can use them. */
static void test_punch_frees_blocks(void **state)
{
	struct fixture *f = fixture_new(0, 16 * PS);
	struct pc_mapping *o;
	char buf[16 * PS];

	(void)state;
	fill_pattern(buf, sizeof(buf), 20);
	assert_int_equal(pc_write(f->m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	assert_int_equal(pc_sync(f->m, 0, 0), 0);
	assert_int_equal(pc_open(&o, f->cache, f->be, "other", PC_CREAT), 0);
	assert_int_equal(pc_write(o, buf, 8 * PS, 0, 0), 8 * PS);
	assert_int_equal(pc_sync(o, 0, 0), -ENOSPC);	/* the device is full */
	assert_int_equal(pc_punch(f->m, 4 * PS, 8 * PS), 0);
	assert_int_equal(pc_sync(o, 0, 0), 0);
	/* And the punched range of "obj" reads zeros, not "other"'s data. */
	assert_int_equal(pc_close(&f->m), 0);
	assert_int_equal(pc_open(&f->m, f->cache, f->be, "obj", 0), 0);
	assert_int_equal(pc_read(f->m, buf, 8 * PS, 4 * PS, 0), 8 * PS);
	assert_true(is_zero(buf, 8 * PS));
	assert_int_equal(pc_close(&o), 0);
	fixture_delete(f);
}

/* A dirty page in a punched range is dropped, never written (G6). */
static void test_punch_discards_dirty(void **state)
{
	struct fixture *f = fixture_new(0, 4 << 20);
	char buf[2 * PS];

	(void)state;
	fill_pattern(buf, sizeof(buf), 21);
	assert_int_equal(pc_write(f->m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	assert_int_equal(pc_punch(f->m, 0, 2 * PS), 0);
	assert_int_equal(pc_sync(f->m, 0, 0), 0);
	assert_int_equal(stats_of(f->cache).writebacks, 0);
	assert_int_equal(pc_close(&f->m), 0);
	assert_int_equal(pc_open(&f->m, f->cache, f->be, "obj", 0), 0);
	read_all(f->m, buf, sizeof(buf));
	assert_true(is_zero(buf, sizeof(buf)));
	fixture_delete(f);
}

static void test_punch_past_eof_keeps_size(void **state)
{
	struct fixture *f = fixture_new(0, 4 << 20);
	char sh[PS + 10];
	uint64_t size;

	(void)state;
	put_pattern(f->m, sh, sizeof(sh), 22);
	assert_int_equal(pc_punch(f->m, PS + 5, 10 * PS), 0);
	memset(sh + PS + 5, 0, 5);
	check_equal(f->m, sh, sizeof(sh));
	assert_int_equal(pc_punch(f->m, 100 * PS, PS), 0);
	assert_int_equal(pc_size(f->m, &size), 0);
	assert_int_equal(size, sizeof(sh));
	assert_int_equal(stats_of(f->cache).punches, 2);
	fixture_delete(f);
}

static void test_zero_range(void **state)
{
	struct fixture *f = fixture_new(0, 4 << 20);
	char sh[4 * PS];
	char buf[8 * PS];
	uint64_t size;

	(void)state;
	put_pattern(f->m, sh, sizeof(sh), 23);
	assert_int_equal(pc_zero_range(f->m, 10, 2 * PS), 0);
	memset(sh + 10, 0, 2 * PS);
	check_equal(f->m, sh, sizeof(sh));
	/* Past EOF it grows the size, and the new part reads zero. */
	assert_int_equal(pc_zero_range(f->m, 3 * PS, 5 * PS), 0);
	assert_int_equal(pc_size(f->m, &size), 0);
	assert_int_equal(size, 8 * PS);
	assert_int_equal(pc_read(f->m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	assert_memory_equal(buf, sh, 3 * PS);
	assert_true(is_zero(buf + 3 * PS, 5 * PS));
	fixture_delete(f);
}

static void truncate_cycle(bool reopen)
{
	struct fixture *f = fixture_new(0, 4 << 20);
	char sh[3 * PS], buf[4 * PS];
	struct pc_page *p;
	uint64_t size;

	put_pattern(f->m, sh, sizeof(sh), 24);
	assert_int_equal(pc_sync(f->m, 0, 0), 0);
	assert_int_equal(pc_truncate(f->m, 100), 0);
	assert_int_equal(pc_size(f->m, &size), 0);
	assert_int_equal(size, 100);
	assert_int_equal(pc_read(f->m, buf, sizeof(buf), 0, 0), 100);
	assert_memory_equal(buf, sh, 100);
	assert_int_equal(pc_fault(f->m, 100, 0, &p), -ENXIO);
	assert_int_equal(pc_fault(f->m, PS, 0, &p), -ENXIO);
	assert_int_equal(stats_of(f->cache).pages_cached, 1);
	if (reopen) {
		assert_int_equal(pc_close(&f->m), 0);
		assert_int_equal(pc_open(&f->m, f->cache, f->be, "obj", 0), 0);
	}
	/* Growing again shows zeros, never the old bytes. */
	assert_int_equal(pc_truncate(f->m, 3 * PS), 0);
	assert_int_equal(pc_read(f->m, buf, sizeof(buf), 0, 0), 3 * PS);
	assert_memory_equal(buf, sh, 100);
	assert_true(is_zero(buf + 100, 3 * PS - 100));
	assert_int_equal(pc_close(&f->m), 0);
	assert_int_equal(pc_open(&f->m, f->cache, f->be, "obj", 0), 0);
	assert_int_equal(pc_read(f->m, buf, sizeof(buf), 0, 0), 3 * PS);
	assert_memory_equal(buf, sh, 100);
	assert_true(is_zero(buf + 100, 3 * PS - 100));
	assert_int_equal(stats_of(f->cache).truncates, 2);
	fixture_delete(f);
}

static void test_truncate_cached(void **state)
{
	(void)state;
	truncate_cycle(false);
}

static void test_truncate_reopened(void **state)
{
	(void)state;
	truncate_cycle(true);
}

static void test_bad_input_changes_nothing(void **state)
{
	struct fixture *f = fixture_new(0, 4 << 20);
	char sh[2 * PS];
	struct pc_stats before, after;

	(void)state;
	put_pattern(f->m, sh, sizeof(sh), 25);
	before = stats_of(f->cache);
	assert_int_equal(pc_punch(NULL, 0, PS), -EINVAL);
	assert_int_equal(pc_punch(f->m, 0, 0), -EINVAL);
	assert_int_equal(pc_punch(f->m, PC_MAX_SIZE + 1, 1), -EINVAL);
	assert_int_equal(pc_punch(f->m, 10, PC_MAX_SIZE), -EFBIG);
	assert_int_equal(pc_punch(f->m, 10, UINT64_MAX), -EFBIG);
	assert_int_equal(pc_zero_range(NULL, 0, PS), -EINVAL);
	assert_int_equal(pc_zero_range(f->m, 0, 0), -EINVAL);
	assert_int_equal(pc_zero_range(f->m, 10, UINT64_MAX - 5), -EFBIG);
	assert_int_equal(pc_zero_range(f->m, 1ull << 40, 1), -EFBIG);	/* RAM max */
	assert_int_equal(pc_punch(f->m, (1ull << 40) - 1, 2), -EFBIG);
	assert_int_equal(pc_truncate(NULL, 0), -EINVAL);
	assert_int_equal(pc_truncate(f->m, PC_MAX_SIZE + 1), -EFBIG);
	assert_int_equal(pc_truncate(f->m, (1ull << 40) + 1), -EFBIG);
	assert_int_equal(pc_invalidate_range(NULL, 0, 0), -EINVAL);
	assert_int_equal(pc_invalidate_range(f->m, 0, 0), -EPERM);	/* lock not held */
	pc_invalidate_lock_shared(f->m);
	assert_int_equal(pc_invalidate_range(f->m, 0, 0), -EPERM);	/* shared is not enough */
	pc_invalidate_unlock_shared(f->m);
	pc_invalidate_lock(f->m);
	assert_int_equal(pc_invalidate_range(f->m, PC_MAX_SIZE + 1, 1), -EINVAL);
	assert_int_equal(pc_invalidate_range(f->m, 5, PC_MAX_SIZE), -EFBIG);
	/* Calls that take the lock themselves refuse to deadlock on it. */
	assert_int_equal(pc_punch(f->m, 0, PS), -EDEADLK);
	assert_int_equal(pc_zero_range(f->m, 0, PS), -EDEADLK);
	assert_int_equal(pc_truncate(f->m, 0), -EDEADLK);
	assert_int_equal(pc_sync(f->m, 0, 0), -EDEADLK);
	assert_int_equal(pc_close(&f->m), -EDEADLK);
	assert_non_null(f->m);
	pc_invalidate_unlock(f->m);
	after = stats_of(f->cache);
	assert_memory_equal(&before, &after, sizeof(before));
	check_equal(f->m, sh, sizeof(sh));
	fixture_delete(f);
}

static void test_invalidate_range(void **state)
{
	struct fixture *f = fixture_new(0, 4 << 20);
	char sh[4 * PS];

	(void)state;
	put_pattern(f->m, sh, sizeof(sh), 26);	/* dirty, never synced */
	pc_invalidate_lock(f->m);
	assert_int_equal(pc_invalidate_range(f->m, PS + 1, PS), 0);	/* pages 1 and 2 */
	pc_invalidate_unlock(f->m);
	assert_int_equal(stats_of(f->cache).writebacks, 2);
	assert_int_equal(stats_of(f->cache).pages_cached, 2);
	/* Nothing lost: the dropped pages come back from the backend. */
	uint64_t fills = stats_of(f->cache).fills;
	check_equal(f->m, sh, sizeof(sh));
	assert_int_equal(stats_of(f->cache).fills, fills + 2);
	/* len 0: to EOF. */
	pc_invalidate_lock(f->m);
	assert_int_equal(pc_invalidate_range(f->m, 0, 0), 0);
	pc_invalidate_unlock(f->m);
	assert_int_equal(stats_of(f->cache).pages_cached, 0);
	check_equal(f->m, sh, sizeof(sh));
	fixture_delete(f);
}

struct punch_arg {
	struct pc_mapping *m;
	int done;
	int ret;
};

static void *do_punch(void *arg)
{
	struct punch_arg *a = arg;

	a->ret = pc_punch(a->m, 0, 2 * PS);
	__atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* A punch waits for pins on its pages; the pinned memory stays valid. */
static void test_punch_waits_for_pin(void **state)
{
	struct fixture *f = fixture_new(0, 4 << 20);
	struct punch_arg a = { f->m, 0, -1 };
	char sh[2 * PS], buf[2 * PS];
	struct pc_page *p;
	pthread_t t;

	(void)state;
	put_pattern(f->m, sh, sizeof(sh), 27);
	assert_int_equal(pc_fault(f->m, PS, 0, &p), 0);
	pthread_create(&t, NULL, do_punch, &a);
	for (int i = 0; i < 5000 && stats_of(f->cache).pin_waits == 0; i++)
		usleep(1000);
	assert_int_equal(stats_of(f->cache).pin_waits, 1);
	usleep(20000);
	assert_int_equal(__atomic_load_n(&a.done, __ATOMIC_ACQUIRE), 0);
	/* Not punched yet: the page and the object still hold the data. */
	assert_memory_equal(pc_page_addr(p), sh + PS, PS);
	assert_int_equal(pc_read(f->m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	assert_memory_equal(buf, sh, sizeof(buf));
	pc_page_put(p);
	pthread_join(t, NULL);
	assert_int_equal(a.ret, 0);
	assert_true(stats_of(f->cache).retries >= 1);
	assert_int_equal(pc_read(f->m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	assert_true(is_zero(buf, sizeof(buf)));
	fixture_delete(f);
}

/* Closing a mapping with a pin held leaves the pinned page valid until put. */
static void test_close_with_pin(void **state)
{
	struct fixture *f = fixture_new(0, 4 << 20);
	char sh[PS];
	struct pc_page *p;

	(void)state;
	put_pattern(f->m, sh, sizeof(sh), 28);
	assert_int_equal(pc_fault(f->m, 0, 0, &p), 0);
	assert_int_equal(pc_close(&f->m), 0);
	assert_memory_equal(pc_page_addr(p), sh, PS);
	assert_int_equal(stats_of(f->cache).pages_cached, 1);
	pc_page_put(p);
	assert_int_equal(stats_of(f->cache).pages_cached, 0);
	assert_int_equal(stats_of(f->cache).bytes_cached, 0);
	fixture_delete(f);
}

/* A page pinned for write is not dropped: stores through the pin would be lost. */
static void test_invalidate_range_keeps_write_pins(void **state)
{
	struct fixture *f = fixture_new(0, 4 << 20);
	struct pc_page *p;
	char sh[2 * PS], buf[PS];

	(void)state;
	put_pattern(f->m, sh, sizeof(sh), 29);
	assert_int_equal(pc_fault(f->m, PS, PC_FAULT_WRITE, &p), 0);
	((char *)pc_page_addr(p))[5] = 'Q';
	pc_invalidate_lock(f->m);
	assert_int_equal(pc_invalidate_range(f->m, 0, 0), -EBUSY);
	pc_invalidate_unlock(f->m);
	assert_int_equal(stats_of(f->cache).pages_cached, 1);	/* page 0 went, page 1 stayed */
	((char *)pc_page_addr(p))[6] = 'R';
	pc_page_put(p);
	pc_invalidate_lock(f->m);
	assert_int_equal(pc_invalidate_range(f->m, 0, 0), 0);
	pc_invalidate_unlock(f->m);
	assert_int_equal(stats_of(f->cache).pages_cached, 0);
	assert_int_equal(pc_read(f->m, buf, PS, PS, 0), PS);
	assert_int_equal(buf[5], 'Q');
	assert_int_equal(buf[6], 'R');
	assert_memory_equal(buf, sh + PS, 5);
	fixture_delete(f);
}

/* G8: a punch that fails for want of memory has changed nothing. */
static void test_punch_enomem_changes_nothing(void **state)
{
	struct fixture *f = fixture_new(4 * PS, 4 << 20);
	struct pc_page *pins[3];
	struct pc_mapping *o;
	char a[3 * PS], buf[3 * PS];

	(void)state;
	memset(a, 'A', sizeof(a));
	for (int i = 0; i < 3; i++) {	/* all on the backend, nothing cached */
		assert_int_equal(pc_write(f->m, a, PS, (uint64_t)i * PS, 0), PS);
		pc_invalidate_lock(f->m);
		assert_int_equal(pc_invalidate_range(f->m, 0, 0), 0);
		pc_invalidate_unlock(f->m);
	}
	memset(a + PS, 'B', PS);
	assert_int_equal(pc_write(f->m, a + PS, PS, PS, 0), PS);	/* page 1 dirty */
	assert_int_equal(pc_open(&o, f->cache, f->be, "o", PC_CREAT), 0);
	assert_int_equal(pc_truncate(o, 3 * PS), 0);
	for (int i = 0; i < 3; i++)	/* the cache is full, and only page 1 can go */
		assert_int_equal(pc_fault(o, (uint64_t)i * PS, 0, &pins[i]), 0);
	/* The partial head and tail pages (0 and 2) cannot both be read in. */
	assert_int_equal(pc_punch(f->m, 100, 2 * PS), -ENOMEM);
	for (int i = 0; i < 3; i++)
		pc_page_put(pins[i]);
	assert_int_equal(pc_close(&o), 0);
	assert_int_equal(pc_read(f->m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	assert_memory_equal(buf, a, sizeof(a));
	assert_int_equal(stats_of(f->cache).punches, 0);
	fixture_delete(f);
}

/* A read error on a partial page fails the punch before anything changes. */
static void test_punch_map_error_changes_nothing(void **state)
{
	struct pc_cache *c;
	struct pc_backend *b;
	struct pc_mapping *m;
	char a[3 * PS], buf[3 * PS];

	(void)state;
	hb_setup(&c, &b, &m, 0);
	memset(a, 'A', sizeof(a));
	assert_int_equal(pc_write(m, a, sizeof(a), 0, 0), (ssize_t)sizeof(a));
	assert_int_equal(pc_close(&m), 0);
	assert_int_equal(pc_open(&m, c, b, "o", 0), 0);
	memset(a + PS, 'B', PS);
	assert_int_equal(pc_write(m, a + PS, PS, PS, 0), PS);
	hb.fail_map = 1;
	assert_int_equal(pc_punch(m, 100, 2 * PS), -EIO);
	assert_int_equal(pc_read(m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	assert_memory_equal(buf, a, sizeof(a));
	assert_int_equal(pc_close(&m), 0);
	pc_backend_delete(&b);
	pc_cache_delete(&c);
}

/* A backend that fails to shrink leaves the old size, and the data under it. */
static void test_truncate_backend_error_keeps_size(void **state)
{
	struct pc_cache *c;
	struct pc_backend *b;
	struct pc_mapping *m;
	char a[2 * PS], buf[2 * PS];
	uint64_t size;

	(void)state;
	hb_setup(&c, &b, &m, 0);
	memset(a, 'A', sizeof(a));
	assert_int_equal(pc_write(m, a, sizeof(a), 0, 0), (ssize_t)sizeof(a));
	assert_int_equal(pc_sync(m, 0, 0), 0);
	hb.fail_set_size = 1;
	assert_int_equal(pc_truncate(m, 10), -EIO);
	assert_int_equal(pc_size(m, &size), 0);
	assert_int_equal(size, sizeof(a));
	assert_int_equal(hb.size, sizeof(a));
	assert_int_equal(pc_read(m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	assert_memory_equal(buf, a, sizeof(a));
	/* Writeback never shrinks the backend behind truncate's back. */
	assert_int_equal(pc_sync(m, 0, 0), 0);
	assert_int_equal(hb.size, sizeof(a));
	assert_int_equal(pc_close(&m), 0);
	pc_backend_delete(&b);
	pc_cache_delete(&c);
}

/*
 * After truncate down and up, the old bytes past the short size read as zero
 * even from a backend that leaves the tail of its last block alone.
 */
static void test_truncate_tail_zeroed_by_the_cache(void **state)
{
	struct pc_cache *c;
	struct pc_backend *b;
	struct pc_mapping *m;
	char a[PS], buf[PS];

	(void)state;
	hb_setup(&c, &b, &m, 0);
	hb.keep_tail = true;
	memset(a, 'A', sizeof(a));
	assert_int_equal(pc_write(m, a, PS, 0, 0), PS);
	assert_int_equal(pc_close(&m), 0);
	assert_int_equal(pc_open(&m, c, b, "o", 0), 0);	/* page 0 not cached */
	assert_int_equal(pc_truncate(m, 100), 0);
	assert_int_equal(pc_truncate(m, PS), 0);
	assert_int_equal(pc_read(m, buf, PS, 0, 0), PS);
	assert_memory_equal(buf, a, 100);
	assert_true(is_zero(buf + 100, PS - 100));
	assert_int_equal(pc_close(&m), 0);
	assert_int_equal(pc_open(&m, c, b, "o", 0), 0);
	assert_int_equal(pc_read(m, buf, PS, 0, 0), PS);
	assert_true(is_zero(buf + 100, PS - 100));
	assert_int_equal(pc_close(&m), 0);
	pc_backend_delete(&b);
	pc_cache_delete(&c);
}

/*
 * locked-enomem: the budget is full of the mapping's own dirty pages, the
 * flusher cannot take the invalidate_lock that a PC_LOCKED read, punch or
 * truncate holds exclusive, and the call needs a page.  The lock holder
 * writes those pages back itself and goes on (__pc_locked_writeback());
 * before, it answered -ENOMEM.
 */
static void test_locked_caller_writes_own_dirt(void **state)
{
	struct fixture *f = fixture_new(8 * PS, 4 << 20);
	char sh[10 * PS], b[PS];

	(void)state;
	fill_pattern(sh, sizeof(sh), 3);
	assert_int_equal(pc_write(f->m, sh, sizeof(sh), 0, 0), (ssize_t)sizeof(sh));
	assert_int_equal(pc_sync(f->m, 0, 0), 0);
	pc_invalidate_lock(f->m);
	assert_int_equal(pc_invalidate_range(f->m, 0, 0), 0);
	/*
	 * Under the lock, so the flusher cannot write them: pages 0-7 dirty,
	 * the whole budget.  Page 8 is on the backend only.  A PC_LOCKED read
	 * of it (G7) needs a page.
	 */
	fill_pattern(sh, 8 * PS, 4);
	assert_int_equal(pc_write(f->m, sh, 8 * PS, 0, PC_LOCKED), 8 * PS);
	assert_int_equal(stats_of(f->cache).dirty_pages, 8);
	assert_int_equal(pc_read(f->m, b, PS, 8 * PS, PC_LOCKED), PS);
	assert_memory_equal(b, sh + 8 * PS, PS);
	assert_true(stats_of(f->cache).dirty_pages <= 1);	/* written back by the reader */
	pc_invalidate_unlock(f->m);

	/*
	 * Punch and truncate take the lock themselves; whether the flusher
	 * cleaned the pages first depends on timing, the answer does not.
	 */
	assert_int_equal(pc_write(f->m, sh, 8 * PS, 0, 0), 8 * PS);
	assert_int_equal(pc_punch(f->m, 9 * PS + 100, 50), 0);
	memset(sh + 9 * PS + 100, 0, 50);
	assert_int_equal(pc_write(f->m, sh, 7 * PS, 0, 0), 7 * PS);
	assert_int_equal(pc_truncate(f->m, 9 * PS + 1000), 0);
	memset(sh + 9 * PS + 1000, 0, PS - 1000);
	check_equal(f->m, sh, 9 * PS + 1000);
	fixture_delete(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_punch_cached),
		cmocka_unit_test(test_punch_uncached),
		cmocka_unit_test(test_punch_frees_blocks),
		cmocka_unit_test(test_punch_discards_dirty),
		cmocka_unit_test(test_punch_past_eof_keeps_size),
		cmocka_unit_test(test_zero_range),
		cmocka_unit_test(test_truncate_cached),
		cmocka_unit_test(test_truncate_reopened),
		cmocka_unit_test(test_bad_input_changes_nothing),
		cmocka_unit_test(test_invalidate_range),
		cmocka_unit_test(test_punch_waits_for_pin),
		cmocka_unit_test(test_close_with_pin),
		cmocka_unit_test(test_invalidate_range_keeps_write_pins),
		cmocka_unit_test(test_punch_enomem_changes_nothing),
		cmocka_unit_test(test_punch_map_error_changes_nothing),
		cmocka_unit_test(test_truncate_backend_error_keeps_size),
		cmocka_unit_test(test_truncate_tail_zeroed_by_the_cache),
		cmocka_unit_test(test_locked_caller_writes_own_dirt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
