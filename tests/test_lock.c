/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the locks engines use: invalidate_lock, PC_LOCKED reads (G7), lock_two. */
#include <pthread.h>
#include <unistd.h>

#include "helpers.h"

struct reader {
	struct pc_mapping *m;
	uint64_t off;
	int done;
	ssize_t ret;
};

static void *read_one(void *arg)
{
	struct reader *r = arg;
	char buf[PS];

	r->ret = pc_read(r->m, buf, PS, r->off, 0);
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * With the lock held exclusive, the holder still populates pages with
 * PC_LOCKED, while another thread's miss waits for the unlock.
 */
static void test_copy_under_exclusive_lock(void **state)
{
	struct fixture *f = fixture_new(0, 1 << 20);
	struct reader r = { 0 };
	char in[4 * PS], out[4 * PS];
	pthread_t t;

	(void)state;
	fill_pattern(in, sizeof(in), 1);
	assert_int_equal(pc_write(f->m, in, sizeof(in), 0, 0), (ssize_t)sizeof(in));
	/* The other thread reads far from what the holder reads (and reads ahead). */
	assert_int_equal(pc_write(f->m, in, PS, 200 * PS, 0), PS);
	assert_int_equal(pc_close(&f->m), 0);
	assert_int_equal(pc_open(&f->m, f->cache, f->be, "obj", 0), 0);

	pc_invalidate_lock(f->m);
	r.m = f->m;
	r.off = 200 * PS;
	pthread_create(&t, NULL, read_one, &r);
	assert_int_equal(pc_read(f->m, out, 3 * PS, 0, PC_LOCKED), 3 * PS);
	assert_memory_equal(out, in, 3 * PS);
	usleep(100000);
	assert_int_equal(__atomic_load_n(&r.done, __ATOMIC_ACQUIRE), 0);	/* blocked */
	/* Without PC_LOCKED the holder gets an error, not a deadlock. */
	assert_int_equal(pc_read(f->m, out, PS, 200 * PS, 0), -EDEADLK);
	struct pc_page *p;
	assert_int_equal(pc_fault(f->m, 200 * PS, 0, &p), -EDEADLK);	/* not cached */
	assert_int_equal(pc_fault(f->m, 0, 0, &p), -EDEADLK);	/* cached: same answer */
	pc_invalidate_unlock(f->m);
	pthread_join(t, NULL);
	assert_int_equal(r.ret, PS);
	fixture_delete(f);
}

static void test_shared_lock(void **state)
{
	struct fixture *f = fixture_new(0, 1 << 20);
	char in[PS], out[PS];

	(void)state;
	fill_pattern(in, sizeof(in), 2);
	assert_int_equal(pc_write(f->m, in, PS, 0, 0), PS);
	pc_invalidate_lock_shared(f->m);
	assert_int_equal(pc_read(f->m, out, PS, 0, PC_LOCKED), PS);
	assert_memory_equal(out, in, PS);
	assert_int_equal(pc_write(f->m, in, PS, PS, PC_LOCKED), PS);
	assert_int_equal(pc_read(f->m, out, PS, 0, 0), -EDEADLK);
	assert_int_equal(pc_punch(f->m, 0, PS), -EDEADLK);
	pc_invalidate_unlock_shared(f->m);
	assert_int_equal(pc_read(f->m, out, PS, PS, 0), PS);
	assert_memory_equal(out, in, PS);
	fixture_delete(f);
}

/* Two mappings lock in one fixed order, whichever way they are named. */
static void test_lock_two(void **state)
{
	struct fixture *f = fixture_new(0, 1 << 20);
	struct pc_mapping *o;
	char buf[PS];

	(void)state;
	memset(buf, 3, PS);
	assert_int_equal(pc_write(f->m, buf, PS, 0, 0), PS);
	assert_int_equal(pc_open(&o, f->cache, f->be, "other", PC_CREAT), 0);
	for (int order = 0; order < 2; order++) {
		struct pc_mapping *a = order ? o : f->m, *b = order ? f->m : o;

		pc_invalidate_lock_two(a, b);
		/* Copy from obj to other, atomically with respect to both. */
		assert_int_equal(pc_read(f->m, buf, PS, 0, PC_LOCKED), PS);
		assert_int_equal(pc_write(o, buf, PS, 0, PC_LOCKED), PS);
		assert_int_equal(pc_invalidate_range(o, 0, 0), 0);
		pc_invalidate_unlock_two(a, b);
	}
	pc_invalidate_lock_two(o, o);
	pc_invalidate_unlock_two(o, o);
	assert_int_equal(pc_read(o, buf, PS, 0, 0), PS);
	for (unsigned i = 0; i < PS; i++)
		assert_int_equal(buf[i], 3);
	assert_int_equal(pc_close(&o), 0);
	fixture_delete(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copy_under_exclusive_lock),
		cmocka_unit_test(test_shared_lock),
		cmocka_unit_test(test_lock_two),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
