/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of caches: pc_cache_new/delete, the byte budget, pc_stats. */
#include "helpers.h"

static void test_new_and_delete(void **state)
{
	struct pc_cache *c = NULL;
	struct pc_stats st;

	(void)state;
	assert_int_equal(pc_cache_new(NULL, 0), -EINVAL);
	assert_int_equal(pc_cache_new(&c, 100), -EINVAL);	/* less than a page */
	assert_null(c);
	assert_int_equal(pc_cache_new(&c, 0), 0);
	assert_int_equal(pc_stats(c, &st, sizeof(st)), 0);
	assert_int_equal(st.capacity, PC_CACHE_DEFAULT_CAPACITY);
	assert_int_equal(st.pages_cached, 0);
	pc_cache_delete(&c);
	assert_null(c);
	pc_cache_delete(&c);	/* NULL is fine */
	pc_cache_delete(NULL);
	assert_int_equal(pc_cache_new(&c, 3 * PS + 5), 0);	/* rounded down */
	assert_int_equal(pc_stats(c, &st, sizeof(st)), 0);
	assert_int_equal(st.capacity, 3 * PS);
	pc_cache_delete(&c);
}

static void test_stats_sizes(void **state)
{
	struct fixture *f = fixture_new(0, 1 << 20);
	struct pc_stats st;
	uint64_t two[3];
	char buf[PS];

	(void)state;
	assert_int_equal(pc_read(f->m, buf, PS, 0, 0), 0);
	assert_int_equal(pc_write(f->m, buf, PS, 0, 0), PS);
	assert_int_equal(pc_stats(NULL, &st, sizeof(st)), -EINVAL);
	assert_int_equal(pc_stats(f->cache, NULL, sizeof(st)), -EINVAL);
	assert_int_equal(pc_stats(f->cache, &st, 0), -EINVAL);
	/* An older, smaller struct gets only its fields. */
	two[2] = 0xdeadbeef;
	assert_int_equal(pc_stats(f->cache, (struct pc_stats *)two, 2 * sizeof(uint64_t)), 0);
	assert_int_equal(two[0], 0);	/* hits */
	assert_int_equal(two[1], 1);	/* misses */
	assert_int_equal(two[2], 0xdeadbeef);
	/* A larger one is filled up to what this library knows. */
	assert_int_equal(pc_stats(f->cache, &st, sizeof(st)), 0);
	assert_int_equal(st.pages_cached, 1);
	fixture_delete(f);
}

/*
 * The budget is never overcommitted, across mappings of one cache: reclaim
 * makes room (writing dirty pages back first), and only when every page is
 * pinned does a new page get -ENOMEM.
 */
static void test_budget_shared(void **state)
{
	struct fixture *f = fixture_new(8 * PS, 1 << 20);
	struct pc_page *pins[8], *p;
	struct pc_mapping *o;
	char a[5 * PS], b[5 * PS], buf[5 * PS];

	(void)state;
	fill_pattern(a, sizeof(a), 1);
	fill_pattern(b, sizeof(b), 2);
	assert_int_equal(pc_open(&o, f->cache, f->be, "o", PC_CREAT), 0);
	assert_int_equal(pc_write(f->m, a, sizeof(a), 0, 0), (ssize_t)sizeof(a));
	assert_int_equal(pc_write(o, b, sizeof(b), 0, 0), (ssize_t)sizeof(b));
	assert_true(stats_of(f->cache).bytes_cached <= 8 * PS);
	assert_true(stats_of(f->cache).evictions >= 2);
	assert_int_equal(stats_of(f->cache).enomem, 0);
	assert_int_equal(pc_read(f->m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	assert_memory_equal(buf, a, sizeof(a));
	assert_int_equal(pc_read(o, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	assert_memory_equal(buf, b, sizeof(b));
	/* Everything pinned: no room, and -ENOMEM rather than a wait. */
	for (int i = 0; i < 8; i++)
		assert_int_equal(pc_fault(i < 5 ? f->m : o, (uint64_t)(i % 5) * PS, 0, &pins[i]),
				 0);
	assert_int_equal(stats_of(f->cache).bytes_cached, 8 * PS);
	assert_int_equal(pc_fault(o, 3 * PS, 0, &p), -ENOMEM);
	assert_int_equal(stats_of(f->cache).enomem, 1);
	for (int i = 0; i < 8; i++)
		pc_page_put(pins[i]);
	assert_int_equal(pc_fault(o, 3 * PS, 0, &p), 0);
	pc_page_put(p);
	/* Closing a mapping returns its pages to the budget. */
	uint64_t before = stats_of(f->cache).bytes_cached;
	assert_int_equal(pc_close(&o), 0);
	assert_true(stats_of(f->cache).bytes_cached < before);
	fixture_delete(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_and_delete),
		cmocka_unit_test(test_stats_sizes),
		cmocka_unit_test(test_budget_shared),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
