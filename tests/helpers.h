/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared helpers for the cmocka tests: a RAM-backed fixture and assertions. */
#ifndef PC_TEST_HELPERS_H
#define PC_TEST_HELPERS_H

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <pagecache.h>

#define PS 4096u
#define SKIP_EXIT 77
#define PC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PC_MIN(a, b) ((a) < (b) ? (a) : (b))

struct fixture {
	struct pc_cache *cache;
	struct pc_backend *be;
	struct pc_mapping *m;
};

/* A cache of @cache_bytes, a RAM device of @dev_bytes, object "obj" open. */
static inline struct fixture *fixture_new(uint64_t cache_bytes, uint64_t dev_bytes)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(pc_cache_new(&f->cache, cache_bytes), 0);
	assert_int_equal(pc_backend_ram_new(&f->be, dev_bytes), 0);
	assert_int_equal(pc_open(&f->m, f->cache, f->be, "obj", PC_CREAT), 0);
	return f;
}

static inline void fixture_delete(struct fixture *f)
{
	if (f->m)
		assert_int_equal(pc_close(&f->m), 0);
	pc_backend_delete(&f->be);
	pc_cache_delete(&f->cache);
	free(f);
}

static inline struct pc_stats stats_of(struct pc_cache *c)
{
	struct pc_stats st;

	assert_int_equal(pc_stats(c, &st, sizeof(st)), 0);
	return st;
}

static inline void fill_pattern(void *buf, size_t len, unsigned seed)
{
	unsigned char *b = buf;

	for (size_t i = 0; i < len; i++)
		b[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 8));
}

static inline int is_zero(const void *buf, size_t len)
{
	const unsigned char *b = buf;

	for (size_t i = 0; i < len; i++)
		if (b[i])
			return 0;
	return 1;
}

/* The object's whole contents, read through the cache. */
static inline void read_all(struct pc_mapping *m, void *buf, size_t len)
{
	assert_int_equal(pc_read(m, buf, len, 0, 0), (ssize_t)len);
}

/*
 * Host directories, for the tests of the backends that keep one host file
 * per object (file, pmem): a temporary root per run, and the host files.
 */

/* Make @root (PATH_MAX bytes) a new directory "@prog-XXXXXX" in the build root or /tmp. */
static inline void host_make_root(char *root, const char *prog)
{
	const char *base = getenv("MESON_BUILD_ROOT");

	if (!base || !*base)
		base = "/tmp";
	snprintf(root, PATH_MAX, "%s/%s-XXXXXX", base, prog);
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		exit(1);
	}
}

static inline int host_rm_entry(const char *path, const struct stat *st, int flag,
				struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove @path and everything below it. */
static inline void rm_tree(const char *path)
{
	nftw(path, host_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* @out (PATH_MAX bytes) = "@dir/@name". */
static inline void path_of(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	assert_true(n > 0 && n < PATH_MAX);
}

static inline bool host_exists(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	path_of(p, dir, name);
	return stat(p, &st) == 0;
}

static inline struct stat host_stat(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	path_of(p, dir, name);
	assert_int_equal(stat(p, &st), 0);
	return st;
}

#endif /* PC_TEST_HELPERS_H */
