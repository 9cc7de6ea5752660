/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the fill paths: pc_read, pc_write, pc_fault, pc_page_*, pc_sync. */
#include <pthread.h>

#include "helpers.h"
#include "hook_backend.h"

static void test_write_read_roundtrip(void **state)
{
	struct fixture *f = fixture_new(0, 4 << 20);
	char in[3 * PS + 100], out[sizeof(in)];
	uint64_t size;

	(void)state;
	fill_pattern(in, sizeof(in), 1);
	/* Unaligned, crossing three page boundaries. */
	assert_int_equal(pc_write(f->m, in, sizeof(in), 1000, 0), (ssize_t)sizeof(in));
	assert_int_equal(pc_size(f->m, &size), 0);
	assert_int_equal(size, 1000 + sizeof(in));
	memset(out, 0xee, sizeof(out));
	assert_int_equal(pc_read(f->m, out, sizeof(out), 1000, 0), (ssize_t)sizeof(out));
	assert_memory_equal(in, out, sizeof(in));
	/* The bytes before the write read as zero. */
	assert_int_equal(pc_read(f->m, out, 1000, 0, 0), 1000);
	assert_true(is_zero(out, 1000));
	fixture_delete(f);
}

static void test_read_eof_and_holes(void **state)
{
	struct fixture *f = fixture_new(0, 4 << 20);
	char buf[2 * PS];

	(void)state;
	assert_int_equal(pc_read(f->m, buf, sizeof(buf), 0, 0), 0);	/* empty object */
	fill_pattern(buf, 10, 2);
	assert_int_equal(pc_write(f->m, buf, 10, 5 * PS, 0), 10);	/* pages 0-4: hole */
	assert_int_equal(pc_read(f->m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	assert_true(is_zero(buf, sizeof(buf)));
	/* Short read at EOF, and 0 at and past it. */
	assert_int_equal(pc_read(f->m, buf, sizeof(buf), 5 * PS, 0), 10);
	assert_int_equal(pc_read(f->m, buf, sizeof(buf), 5 * PS + 10, 0), 0);
	assert_int_equal(pc_read(f->m, buf, sizeof(buf), 1ull << 40, 0), 0);
	assert_int_equal(pc_read(f->m, buf, 0, 0, 0), 0);
	/* Holes are not read from the backend. */
	assert_int_equal(stats_of(f->cache).fills, 0);
	fixture_delete(f);
}

static void test_durable_after_sync_and_reopen(void **state)
{
	struct fixture *f = fixture_new(0, 4 << 20);
	char in[5 * PS], out[5 * PS];

	(void)state;
	fill_pattern(in, sizeof(in), 3);
	assert_int_equal(pc_write(f->m, in, sizeof(in), 0, 0), (ssize_t)sizeof(in));
	assert_int_equal(pc_sync(f->m, 0, 0), 0);
	assert_int_equal(stats_of(f->cache).writebacks, 5);
	assert_int_equal(pc_sync(f->m, 0, 0), 0);	/* nothing dirty now */
	assert_int_equal(stats_of(f->cache).writebacks, 5);
	assert_int_equal(pc_close(&f->m), 0);
	assert_null(f->m);
	assert_int_equal(stats_of(f->cache).pages_cached, 0);
	assert_int_equal(pc_open(&f->m, f->cache, f->be, "obj", 0), 0);
	read_all(f->m, out, sizeof(out));
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(stats_of(f->cache).fills, 5);
	fixture_delete(f);
}

static void test_close_writes_back(void **state)
{
	struct fixture *f = fixture_new(0, 4 << 20);
	char in[PS + 7], out[PS + 7];

	(void)state;
	fill_pattern(in, sizeof(in), 4);
	assert_int_equal(pc_write(f->m, in, sizeof(in), 0, 0), (ssize_t)sizeof(in));
	assert_int_equal(pc_close(&f->m), 0);
	assert_int_equal(pc_open(&f->m, f->cache, f->be, "obj", 0), 0);
	read_all(f->m, out, sizeof(out));
	assert_memory_equal(in, out, sizeof(in));
	fixture_delete(f);
}

static void test_fault(void **state)
{
	struct fixture *f = fixture_new(0, 4 << 20);
	char in[2 * PS + 10];
	struct pc_page *p, *q;
	unsigned char *a;

	(void)state;
	fill_pattern(in, sizeof(in), 5);
	assert_int_equal(pc_write(f->m, in, sizeof(in), 0, 0), (ssize_t)sizeof(in));
	assert_int_equal(pc_fault(f->m, PS + 17, 0, &p), 0);	/* any byte of the page */
	a = pc_page_addr(p);
	assert_int_equal((uintptr_t)a % PS, 0);
	assert_int_equal(pc_page_offset(p), PS);
	assert_memory_equal(a, in + PS, PS);
	pc_page_put(p);
	/* The last page: bytes past EOF read as zero. */
	assert_int_equal(pc_fault(f->m, 2 * PS, 0, &p), 0);
	a = pc_page_addr(p);
	assert_memory_equal(a, in + 2 * PS, 10);
	assert_true(is_zero(a + 10, PS - 10));
	pc_page_put(p);
	/* At and past EOF: -ENXIO, and out untouched. */
	q = (struct pc_page *)0x1;
	assert_int_equal(pc_fault(f->m, sizeof(in), 0, &q), -ENXIO);
	assert_int_equal(pc_fault(f->m, 3 * PS, 0, &q), -ENXIO);
	assert_ptr_equal(q, (struct pc_page *)0x1);
	assert_int_equal(stats_of(f->cache).pages_cached, 3);
	fixture_delete(f);
}

static void test_fault_write_is_written_back(void **state)
{
	struct fixture *f = fixture_new(0, 4 << 20);
	char out[PS];
	struct pc_page *p;

	(void)state;
	assert_int_equal(pc_truncate(f->m, 2 * PS), 0);
	assert_int_equal(pc_fault(f->m, PS, PC_FAULT_WRITE, &p), 0);
	memset(pc_page_addr(p), 0x5a, PS);
	/* Written while pinned, and again after more stores through the pin. */
	assert_int_equal(pc_sync(f->m, 0, 0), 0);
	memset(pc_page_addr(p), 0x6b, 100);
	assert_int_equal(pc_sync(f->m, 0, 0), 0);
	pc_page_put(p);
	assert_int_equal(pc_close(&f->m), 0);
	assert_int_equal(pc_open(&f->m, f->cache, f->be, "obj", 0), 0);
	assert_int_equal(pc_read(f->m, out, PS, PS, 0), PS);
	for (int i = 0; i < 100; i++)
		assert_int_equal((unsigned char)out[i], 0x6b);
	for (unsigned i = 100; i < PS; i++)
		assert_int_equal((unsigned char)out[i], 0x5a);
	fixture_delete(f);
}

static void test_stats_hits_misses(void **state)
{
	struct fixture *f = fixture_new(0, 4 << 20);
	struct pc_stats st;
	struct pc_page *p;
	char buf[PS];

	(void)state;
	assert_int_equal(pc_truncate(f->m, 4 * PS), 0);
	st = stats_of(f->cache);
	assert_int_equal(pc_read(f->m, buf, PS, 0, 0), PS);
	assert_int_equal(stats_of(f->cache).misses, st.misses + 1);
	assert_int_equal(stats_of(f->cache).hole_fills, st.hole_fills + 1);
	assert_int_equal(pc_read(f->m, buf, PS, 0, 0), PS);
	assert_int_equal(pc_fault(f->m, 0, 0, &p), 0);
	pc_page_put(p);
	assert_int_equal(stats_of(f->cache).misses, st.misses + 1);
	assert_int_equal(stats_of(f->cache).hits, st.hits + 2);
	assert_int_equal(stats_of(f->cache).pages_cached, 1);
	assert_int_equal(stats_of(f->cache).bytes_cached, PS);
	assert_true(stats_of(f->cache).meta_bytes > 0);
	fixture_delete(f);
}

struct miss_arg {
	struct pc_mapping *m;
	int pages;
	pthread_barrier_t *bar;
};

static void *fault_all(void *arg)
{
	struct miss_arg *a = arg;

	for (int i = 0; i < a->pages; i++) {
		struct pc_page *p;

		pthread_barrier_wait(a->bar);
		assert_int_equal(pc_fault(a->m, (uint64_t)i * PS, 0, &p), 0);
		assert_int_equal(((unsigned char *)pc_page_addr(p))[0], (unsigned char)i);
		pc_page_put(p);
	}
	return NULL;
}

/* Concurrent misses on one page do one backend read. */
static void test_concurrent_misses_one_read(void **state)
{
	enum { PAGES = 200, THREADS = 4 };
	struct fixture *f = fixture_new(0, 4 << 20);
	pthread_t t[THREADS];
	pthread_barrier_t bar;
	struct miss_arg a = { f->m, PAGES, &bar };

	(void)state;
	for (int i = 0; i < PAGES; i++) {
		unsigned char c = (unsigned char)i;

		assert_int_equal(pc_write(f->m, &c, 1, (uint64_t)i * PS, 0), 1);
	}
	assert_int_equal(pc_truncate(f->m, PAGES * PS), 0);
	assert_int_equal(pc_close(&f->m), 0);	/* writes back, drops the pages */
	assert_int_equal(pc_open(&f->m, f->cache, f->be, "obj", 0), 0);
	a.m = f->m;
	pthread_barrier_init(&bar, NULL, THREADS);
	uint64_t fills0 = stats_of(f->cache).fills;
	uint64_t misses0 = stats_of(f->cache).misses;
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, fault_all, &a);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&bar);
	assert_int_equal(stats_of(f->cache).fills - fills0, PAGES);
	assert_int_equal(stats_of(f->cache).misses - misses0, PAGES);
	fixture_delete(f);
}

static void test_enomem_budget(void **state)
{
	struct fixture *f = fixture_new(4 * PS, 4 << 20);
	char buf[6 * PS], out[6 * PS];
	struct pc_page *pins[4], *p;
	uint64_t size;

	(void)state;
	fill_pattern(buf, sizeof(buf), 6);
	/* Six pages through a four-page cache: the dirty ones are written, then evicted. */
	assert_int_equal(pc_write(f->m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	assert_true(stats_of(f->cache).bytes_cached <= 4 * PS);
	assert_true(stats_of(f->cache).writebacks >= 2);
	assert_int_equal(pc_read(f->m, out, sizeof(out), 0, 0), (ssize_t)sizeof(out));
	assert_memory_equal(out, buf, sizeof(buf));
	/* Four pins fill it: a fifth page is refused, and nothing changes. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(pc_fault(f->m, (uint64_t)i * PS, 0, &pins[i]), 0);
	assert_int_equal(pc_fault(f->m, 4 * PS, 0, &p), -ENOMEM);
	assert_int_equal(pc_write(f->m, buf, PS, 6 * PS, 0), -ENOMEM);
	assert_int_equal(pc_size(f->m, &size), 0);
	assert_int_equal(size, 6 * PS);
	assert_int_equal(stats_of(f->cache).enomem, 2);
	assert_int_equal(stats_of(f->cache).bytes_cached, 4 * PS);
	for (int i = 0; i < 4; i++)
		pc_page_put(pins[i]);
	assert_int_equal(pc_fault(f->m, 4 * PS, 0, &p), 0);
	pc_page_put(p);
	fixture_delete(f);
}

static void test_bad_input_changes_nothing(void **state)
{
	struct fixture *f = fixture_new(0, 4 << 20);
	char in[PS], out[PS];
	struct pc_stats before, after;
	struct pc_page *p = NULL;
	uint64_t size;

	(void)state;
	fill_pattern(in, sizeof(in), 7);
	assert_int_equal(pc_write(f->m, in, sizeof(in), 0, 0), PS);
	before = stats_of(f->cache);

	assert_int_equal(pc_read(NULL, out, 1, 0, 0), -EINVAL);
	assert_int_equal(pc_read(f->m, NULL, 1, 0, 0), -EINVAL);
	assert_int_equal(pc_read(f->m, out, 1, 0, 0x80), -EINVAL);
	assert_int_equal(pc_read(f->m, out, 1, PC_MAX_SIZE + 1, 0), -EINVAL);
	assert_int_equal(pc_read(f->m, out, (size_t)SSIZE_MAX + 1, 0, 0), -EINVAL);
	assert_int_equal(pc_read(f->m, out, 1, 0, PC_LOCKED), -EPERM);
	assert_int_equal(pc_write(NULL, in, 1, 0, 0), -EINVAL);
	assert_int_equal(pc_write(f->m, NULL, 1, 0, 0), -EINVAL);
	assert_int_equal(pc_write(f->m, in, 1, 0, 0x80), -EINVAL);
	assert_int_equal(pc_write(f->m, in, 1, PC_MAX_SIZE + 1, 0), -EINVAL);
	assert_int_equal(pc_write(f->m, in, 2, PC_MAX_SIZE - 1, 0), -EFBIG);
	assert_int_equal(pc_write(f->m, in, 1, 1ull << 41, 0), -EFBIG);	/* RAM max 1 TiB */
	assert_int_equal(pc_write(f->m, in, 1, 0, PC_LOCKED), -EPERM);
	assert_int_equal(pc_fault(NULL, 0, 0, &p), -EINVAL);
	assert_int_equal(pc_fault(f->m, 0, 0, NULL), -EINVAL);
	assert_int_equal(pc_fault(f->m, 0, 0x80, &p), -EINVAL);
	assert_int_equal(pc_fault(f->m, PC_MAX_SIZE + 1, 0, &p), -EINVAL);
	assert_int_equal(pc_fault(f->m, PS, PC_FAULT_WRITE, &p), -ENXIO);
	assert_null(p);
	assert_int_equal(pc_sync(NULL, 0, 0), -EINVAL);
	assert_int_equal(pc_sync(f->m, PC_MAX_SIZE + 1, 0), -EINVAL);
	assert_int_equal(pc_sync(f->m, 2, PC_MAX_SIZE), -EFBIG);
	assert_int_equal(pc_size(NULL, &size), -EINVAL);
	assert_int_equal(pc_size(f->m, NULL), -EINVAL);
	assert_null(pc_page_addr(NULL));
	pc_page_put(NULL);

	after = stats_of(f->cache);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(pc_size(f->m, &size), 0);
	assert_int_equal(size, PS);
	read_all(f->m, out, PS);
	assert_memory_equal(in, out, PS);
	fixture_delete(f);
}

static struct pc_mapping *wb_m;

/* In the middle of the page write: let the test store through the pin and put it. */
static void wb_mid(void)
{
	hb.write_mid = NULL;
	hb_set_stage(1);
	hb_wait_stage(2);
}

static void *wb_sync(void *arg)
{
	(void)arg;
	assert_int_equal(pc_sync(wb_m, 0, 0), 0);
	return NULL;
}

/*
 * G6: a store through a write pin made while writeback copies the page, with
 * the pin put before the copy ends, still reaches the backend.
 */
static void test_write_pin_put_during_writeback(void **state)
{
	struct pc_cache *c;
	struct pc_backend *b;
	struct pc_page *p;
	char buf[PS];
	pthread_t t;

	(void)state;
	hb_setup(&c, &b, &wb_m, 0);
	memset(buf, 'A', PS);
	assert_int_equal(pc_write(wb_m, buf, PS, 0, 0), PS);
	assert_int_equal(pc_sync(wb_m, 0, 0), 0);
	assert_int_equal(pc_fault(wb_m, 0, PC_FAULT_WRITE, &p), 0);
	hb.write_mid = wb_mid;
	pthread_create(&t, NULL, wb_sync, NULL);
	hb_wait_stage(1);		/* the first half of the page is on the device */
	((char *)pc_page_addr(p))[0] = 'Z';
	pc_page_put(p);
	hb_set_stage(2);
	pthread_join(t, NULL);
	assert_int_equal(hb.dev[0], 'A');	/* that write had copied byte 0 already */
	assert_int_equal(pc_sync(wb_m, 0, 0), 0);
	assert_int_equal(hb.dev[0], 'Z');
	assert_int_equal(pc_close(&wb_m), 0);
	pc_backend_delete(&b);
	pc_cache_delete(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_read_roundtrip),
		cmocka_unit_test(test_read_eof_and_holes),
		cmocka_unit_test(test_durable_after_sync_and_reopen),
		cmocka_unit_test(test_close_writes_back),
		cmocka_unit_test(test_fault),
		cmocka_unit_test(test_fault_write_is_written_back),
		cmocka_unit_test(test_stats_hits_misses),
		cmocka_unit_test(test_concurrent_misses_one_read),
		cmocka_unit_test(test_enomem_budget),
		cmocka_unit_test(test_bad_input_changes_nothing),
		cmocka_unit_test(test_write_pin_put_during_writeback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
