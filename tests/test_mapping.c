/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of mappings and backends: pc_open, pc_close, pc_size, pc_backend_*. */
#include <pagecache/backend.h>

#include "helpers.h"

static void test_open_flags(void **state)
{
	struct pc_cache *c;
	struct pc_backend *b;
	struct pc_mapping *m = NULL, *m2 = NULL;
	uint64_t size;
	char buf[10];

	(void)state;
	assert_int_equal(pc_cache_new(&c, 0), 0);
	assert_int_equal(pc_backend_ram_new(&b, 1 << 20), 0);
	assert_int_equal(pc_open(&m, c, b, "a", 0), -ENOENT);
	assert_null(m);
	assert_int_equal(pc_open(&m, c, b, "a", PC_CREAT | PC_EXCL), 0);
	assert_int_equal(pc_size(m, &size), 0);
	assert_int_equal(size, 0);
	assert_int_equal(pc_write(m, "0123456789", 10, 0, 0), 10);
	/* One mapping per object: a second open is refused. */
	assert_int_equal(pc_open(&m2, c, b, "a", 0), -EBUSY);
	assert_int_equal(pc_open(&m2, c, b, "a", PC_CREAT), -EBUSY);
	assert_null(m2);
	assert_int_equal(pc_backend_unlink(b, "a"), -EBUSY);
	assert_int_equal(pc_close(&m), 0);
	assert_null(m);
	assert_int_equal(pc_open(&m, c, b, "a", PC_CREAT | PC_EXCL), -EEXIST);
	assert_int_equal(pc_open(&m, c, b, "a", 0), 0);
	assert_int_equal(pc_size(m, &size), 0);
	assert_int_equal(size, 10);
	assert_int_equal(pc_read(m, buf, 10, 0, 0), 10);
	assert_memory_equal(buf, "0123456789", 10);
	assert_int_equal(pc_close(&m), 0);
	assert_int_equal(pc_open(&m, c, b, "a", PC_TRUNC), 0);
	assert_int_equal(pc_size(m, &size), 0);
	assert_int_equal(size, 0);
	assert_int_equal(pc_read(m, buf, 10, 0, 0), 0);
	assert_int_equal(pc_close(&m), 0);
	assert_int_equal(pc_backend_unlink(b, "a"), 0);
	assert_int_equal(pc_backend_unlink(b, "a"), -ENOENT);
	assert_int_equal(pc_open(&m, c, b, "a", 0), -ENOENT);
	pc_backend_delete(&b);
	assert_null(b);
	pc_cache_delete(&c);
	assert_null(c);
}

static void test_objects_are_independent(void **state)
{
	struct fixture *f = fixture_new(0, 1 << 20);
	struct pc_mapping *o;
	char a[PS], b[PS], buf[PS];

	(void)state;
	fill_pattern(a, PS, 1);
	fill_pattern(b, PS, 2);
	assert_int_equal(pc_open(&o, f->cache, f->be, "other", PC_CREAT), 0);
	assert_int_equal(pc_write(f->m, a, PS, 0, 0), PS);
	assert_int_equal(pc_write(o, b, PS, 0, 0), PS);
	assert_int_equal(pc_sync(o, 0, 0), 0);
	assert_int_equal(pc_sync(f->m, 0, 0), 0);
	assert_int_equal(pc_close(&o), 0);
	assert_int_equal(pc_close(&f->m), 0);
	assert_int_equal(pc_open(&f->m, f->cache, f->be, "obj", 0), 0);
	assert_int_equal(pc_open(&o, f->cache, f->be, "other", 0), 0);
	assert_int_equal(pc_read(f->m, buf, PS, 0, 0), PS);
	assert_memory_equal(buf, a, PS);
	assert_int_equal(pc_read(o, buf, PS, 0, 0), PS);
	assert_memory_equal(buf, b, PS);
	assert_int_equal(pc_close(&o), 0);
	fixture_delete(f);
}

static void test_bad_input(void **state)
{
	struct pc_cache *c;
	struct pc_backend *b;
	struct pc_mapping *m = NULL;
	char longname[300];

	(void)state;
	assert_int_equal(pc_cache_new(&c, 0), 0);
	assert_int_equal(pc_backend_ram_new(&b, 1 << 20), 0);
	assert_int_equal(pc_open(NULL, c, b, "a", PC_CREAT), -EINVAL);
	assert_int_equal(pc_open(&m, NULL, b, "a", PC_CREAT), -EINVAL);
	assert_int_equal(pc_open(&m, c, NULL, "a", PC_CREAT), -EINVAL);
	assert_int_equal(pc_open(&m, c, b, NULL, PC_CREAT), -EINVAL);
	assert_int_equal(pc_open(&m, c, b, "", PC_CREAT), -EINVAL);
	assert_int_equal(pc_open(&m, c, b, "a", 0x100), -EINVAL);
	assert_int_equal(pc_open(&m, c, b, "a/b", PC_CREAT), -EINVAL);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_int_equal(pc_open(&m, c, b, longname, PC_CREAT), -EINVAL);
	assert_null(m);
	/* None of these created "a". */
	assert_int_equal(pc_open(&m, c, b, "a", 0), -ENOENT);
	assert_int_equal(pc_close(NULL), -EINVAL);
	assert_int_equal(pc_close(&m), -EINVAL);
	assert_int_equal(pc_backend_unlink(NULL, "a"), -EINVAL);
	assert_int_equal(pc_backend_unlink(b, NULL), -EINVAL);
	assert_int_equal(pc_backend_unlink(b, ""), -EINVAL);
	assert_int_equal(pc_backend_ram_new(NULL, 1 << 20), -EINVAL);
	struct pc_backend *b2 = NULL;
	assert_int_equal(pc_backend_ram_new(&b2, 0), -EINVAL);
	assert_int_equal(pc_backend_ram_new(&b2, 100), -EINVAL);
	assert_null(b2);
	pc_backend_delete(NULL);
	pc_backend_delete(&b2);
	pc_backend_delete(&b);
	pc_cache_delete(&c);
}

static int dummy_open(void *p, const char *n, unsigned f, void **o)
{
	(void)p; (void)n; (void)f; (void)o;
	return -ENOSYS;
}

static void test_backend_new_validates_ops(void **state)
{
	struct pc_backend_ops ops = { 0 };
	struct pc_backend *b = NULL;

	(void)state;
	ops.version = PC_BACKEND_OPS_VERSION;
	ops.size = sizeof(ops);
	assert_int_equal(pc_backend_new(NULL, &ops, NULL), -EINVAL);
	assert_int_equal(pc_backend_new(&b, NULL, NULL), -EINVAL);
	assert_int_equal(pc_backend_new(&b, &ops, NULL), -EINVAL);	/* no ops */
	ops.open = dummy_open;
	assert_int_equal(pc_backend_new(&b, &ops, NULL), -EINVAL);	/* still missing ops */
	ops.version = 99;
	assert_int_equal(pc_backend_new(&b, &ops, NULL), -EINVAL);
	ops.version = PC_BACKEND_OPS_VERSION;
	ops.size = 8;
	assert_int_equal(pc_backend_new(&b, &ops, NULL), -EINVAL);
	assert_null(b);
	/*
	 * A table that ends before destroy is refused without reading past
	 * its end (a heap copy of just that size: ASan would see an overread).
	 */
	uint32_t short_size = (uint32_t)offsetof(struct pc_backend_ops, destroy);
	unsigned char *shorter = malloc(short_size);

	memcpy(shorter, &ops, short_size);
	memcpy(shorter + offsetof(struct pc_backend_ops, size), &short_size, sizeof(short_size));
	assert_int_equal(pc_backend_new(&b, (const struct pc_backend_ops *)(void *)shorter, NULL),
			 -EINVAL);
	assert_null(b);
	free(shorter);
}

/*
 * Object names are checked once, by the library (lib/backend.c), for every
 * backend: a bad name never reaches the open or unlink op.  A backend that
 * counts its calls and refuses everything shows it.
 */
static int name_calls;

static int name_open(void *p, const char *n, unsigned f, void **o)
{
	(void)p; (void)n; (void)f; (void)o;
	name_calls++;
	return -ENOSYS;
}

static int name_unlink(void *p, const char *n)
{
	(void)p; (void)n;
	name_calls++;
	return -ENOSYS;
}

static void name_close(void *p, void *o) { (void)p; (void)o; }
static int name_get_size(void *p, void *o, uint64_t *s) { (void)p; (void)o; *s = 0; return 0; }
static int name_set_size(void *p, void *o, uint64_t s) { (void)p; (void)o; (void)s; return 0; }
static int name_ext(void *p, void *o, uint64_t off, uint64_t len, struct pc_extent *e)
{
	(void)p; (void)o; (void)off; (void)len; (void)e;
	return -ENOSYS;
}
static int name_free(void *p, void *o, uint64_t off, uint64_t len)
{
	(void)p; (void)o; (void)off; (void)len;
	return -ENOSYS;
}
static int name_read(void *p, void *o, uint64_t a, void *b, size_t l)
{
	(void)p; (void)o; (void)a; (void)b; (void)l;
	return -ENOSYS;
}
static int name_write(void *p, void *o, uint64_t a, const void *b, size_t l)
{
	(void)p; (void)o; (void)a; (void)b; (void)l;
	return -ENOSYS;
}
static void name_destroy(void *p) { (void)p; }

static void test_names(void **state)
{
	static const struct pc_backend_ops ops = {
		.version = PC_BACKEND_OPS_VERSION, .size = sizeof(struct pc_backend_ops),
		.name = "names", .open = name_open, .close = name_close,
		.unlink = name_unlink, .get_size = name_get_size, .set_size = name_set_size,
		.map = name_ext, .alloc = name_ext, .free = name_free, .read = name_read,
		.write = name_write, .destroy = name_destroy,
	};
	static const char *const bad[] = { "", "a/b", "/", "a/", "/a", ".", "..", "x/.." };
	struct pc_backend *backends[2];
	struct pc_cache *c;
	struct pc_mapping *m = NULL;
	char name[300];

	(void)state;
	assert_int_equal(pc_cache_new(&c, 0), 0);
	assert_int_equal(pc_backend_new(&backends[0], &ops, NULL), 0);
	assert_int_equal(pc_backend_ram_new(&backends[1], 1 << 20), 0);
	for (size_t k = 0; k < 2; k++) {
		struct pc_backend *b = backends[k];

		name_calls = 0;
		for (size_t i = 0; i < PC_ARRAY_SIZE(bad); i++) {
			assert_int_equal(pc_open(&m, c, b, bad[i], PC_CREAT), -EINVAL);
			assert_int_equal(pc_backend_unlink(b, bad[i]), -EINVAL);
		}
		assert_int_equal(pc_open(&m, c, b, NULL, PC_CREAT), -EINVAL);
		assert_int_equal(pc_backend_unlink(b, NULL), -EINVAL);
		memset(name, 'n', 256);
		name[256] = '\0';
		assert_int_equal(pc_open(&m, c, b, name, PC_CREAT), -EINVAL);
		assert_int_equal(pc_backend_unlink(b, name), -EINVAL);
		assert_null(m);
		assert_int_equal(name_calls, 0);
		/* 255 bytes, and dots that are not "." or "..", are names. */
		name[255] = '\0';
		if (k == 0) {
			assert_int_equal(pc_open(&m, c, b, name, PC_CREAT), -ENOSYS);
			assert_int_equal(pc_open(&m, c, b, "...", PC_CREAT), -ENOSYS);
			assert_int_equal(pc_backend_unlink(b, ".a"), -ENOSYS);
			assert_int_equal(name_calls, 3);
		} else {
			assert_int_equal(pc_open(&m, c, b, name, PC_CREAT), 0);
			assert_int_equal(pc_close(&m), 0);
			assert_int_equal(pc_open(&m, c, b, "...", PC_CREAT), 0);
			assert_int_equal(pc_close(&m), 0);
			assert_int_equal(pc_backend_unlink(b, name), 0);
			assert_int_equal(pc_backend_unlink(b, "..."), 0);
		}
		pc_backend_delete(&backends[k]);
	}
	pc_cache_delete(&c);
}

static void test_version(void **state)
{
	(void)state;
	assert_string_equal(pc_version(), "0.1.0");
	assert_int_equal(pc_page_size(), 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_flags),
		cmocka_unit_test(test_objects_are_independent),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_backend_new_validates_ops),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_version),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
