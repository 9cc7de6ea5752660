/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of reclaim: a working set ten times the budget stays correct and within it. */
#include <pthread.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

#define BUDGET_PAGES 64
#define OBJ_PAGES (10 * BUDGET_PAGES)

/* Page i holds its index in every 8-byte word. */
static void stamp(uint64_t *w, uint64_t i)
{
	for (unsigned k = 0; k < PS / 8; k++)
		w[k] = i * 0x9e3779b97f4a7c15ull + k;
}

static bool stamped(const uint64_t *w, uint64_t i)
{
	for (unsigned k = 0; k < PS / 8; k++)
		if (w[k] != i * 0x9e3779b97f4a7c15ull + k)
			return false;
	return true;
}

static void check_budget(struct pc_cache *c)
{
	struct pc_stats st = stats_of(c);

	assert_true(st.bytes_cached <= st.capacity);
	assert_int_equal(st.enomem, 0);
}

static void write_object(struct pc_mapping *m, struct pc_cache *c)
{
	uint64_t buf[PS / 8];

	for (uint64_t i = 0; i < OBJ_PAGES; i++) {
		stamp(buf, i);
		assert_int_equal(pc_write(m, buf, PS, i * PS, 0), PS);
		if (i % 16 == 0)
			check_budget(c);
	}
	assert_int_equal(pc_sync(m, 0, 0), 0);
}

static void read_random_and_sequential(struct pc_mapping *m, struct pc_cache *c)
{
	uint64_t buf[PS / 8], x = 88172645463325252ull;
	struct pc_page *p;

	for (int n = 0; n < 20000; n++) {
		uint64_t i;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		i = x % OBJ_PAGES;
		if (n & 1) {
			assert_int_equal(pc_read(m, buf, PS, i * PS, 0), PS);
			assert_true(stamped(buf, i));
		} else {
			assert_int_equal(pc_fault(m, i * PS, 0, &p), 0);
			assert_true(stamped(pc_page_addr(p), i));
			pc_page_put(p);
		}
		if (n % 256 == 0)
			check_budget(c);
	}
	for (int pass = 0; pass < 3; pass++) {
		for (uint64_t i = 0; i < OBJ_PAGES; i++) {
			assert_int_equal(pc_read(m, buf, PS, i * PS, 0), PS);
			assert_true(stamped(buf, i));
		}
		check_budget(c);
	}
	assert_true(stats_of(c).evictions > (uint64_t)3 * OBJ_PAGES);
}

static void test_working_set_10x_ram(void **state)
{
	struct fixture *f = fixture_new(BUDGET_PAGES * PS, 2 * OBJ_PAGES * PS);

	(void)state;
	write_object(f->m, f->cache);
	read_random_and_sequential(f->m, f->cache);
	fixture_delete(f);
}

static void test_working_set_10x_file(void **state)
{
	char dir[] = "/tmp/pc-reclaim-XXXXXX", path[64];
	struct pc_cache *c;
	struct pc_backend *b;
	struct pc_mapping *m;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(pc_cache_new(&c, BUDGET_PAGES * PS), 0);
	assert_int_equal(pc_backend_file_new(&b, dir, 0), 0);
	assert_int_equal(pc_open(&m, c, b, "obj", PC_CREAT), 0);
	write_object(m, c);
	read_random_and_sequential(m, c);
	assert_int_equal(pc_close(&m), 0);
	pc_backend_delete(&b);
	pc_cache_delete(&c);
	snprintf(path, sizeof(path), "%s/obj", dir);
	unlink(path);
	rmdir(dir);
}

struct reader_arg {
	struct pc_mapping *m;
	uint64_t seed;
	int bad;
};

static void *reader(void *arg)
{
	struct reader_arg *a = arg;
	uint64_t buf[PS / 8], x = a->seed;

	for (int n = 0; n < 20000; n++) {
		uint64_t i;
		struct pc_page *p;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		i = x % OBJ_PAGES;
		if (n & 1) {
			if (pc_read(a->m, buf, PS, i * PS, 0) != PS || !stamped(buf, i))
				a->bad++;
		} else if (pc_fault(a->m, i * PS, 0, &p) != 0) {
			a->bad++;
		} else {
			if (!stamped(pc_page_addr(p), i))
				a->bad++;
			pc_page_put(p);
		}
	}
	return NULL;
}

/* Readers on both cores, evicting each other's pages all the time: never a wrong page. */
static void test_concurrent_readers_under_reclaim(void **state)
{
	struct fixture *f = fixture_new(BUDGET_PAGES * PS, 2 * OBJ_PAGES * PS);
	struct reader_arg a[3] = { { f->m, 1, 0 }, { f->m, 12345, 0 }, { f->m, 777, 0 } };
	pthread_t t[3];

	(void)state;
	write_object(f->m, f->cache);
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, reader, &a[i]);
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].bad, 0);
	}
	check_budget(f->cache);
	assert_true(stats_of(f->cache).evictions > 0);
	fixture_delete(f);
}

/* Dirty pages over a small budget: the writes all land, through writeback and eviction. */
static void test_dirty_working_set(void **state)
{
	struct fixture *f = fixture_new(BUDGET_PAGES * PS, 2 * OBJ_PAGES * PS);
	uint64_t buf[PS / 8];

	(void)state;
	for (int round = 0; round < 2; round++)
		write_object(f->m, f->cache);	/* twice: the second overwrites evicted pages */
	assert_int_equal(pc_close(&f->m), 0);
	assert_int_equal(pc_open(&f->m, f->cache, f->be, "obj", 0), 0);
	for (uint64_t i = 0; i < OBJ_PAGES; i++) {
		assert_int_equal(pc_read(f->m, buf, PS, i * PS, 0), PS);
		assert_true(stamped(buf, i));
	}
	assert_true(stats_of(f->cache).writebacks >= (uint64_t)OBJ_PAGES);
	fixture_delete(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_working_set_10x_ram),
		cmocka_unit_test(test_working_set_10x_file),
		cmocka_unit_test(test_concurrent_readers_under_reclaim),
		cmocka_unit_test(test_dirty_working_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
