/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pmem backend: files mapped with libpmem2, checked through pc_*, the ops table and the host files. */

/*
 * Each test gets a fresh directory under one temporary root (in
 * $MESON_BUILD_ROOT if set, else /tmp: an ordinary file system, so
 * libpmem2 maps with page granularity).  Most checks call the ops table
 * through the internal struct pc_backend (lib/backend.h), since direct
 * access and persist have no public caller yet, and then look at the host
 * file (pread, st_blocks, SEEK_HOLE) or at /proc/self/maps (which segments
 * of the object are mapped).  In a build without libpmem2 the backend
 * answers -ENOTSUP and the program exits 77 (skipped).
 *
 * The durability test reopens the object through a new backend and cache;
 * the host file is read with pread() as well, so the bytes are in the file
 * and not only in the mapping.
 */
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

#include <pagecache/backend.h>

#include "backend.h"	/* lib/backend.h: struct pc_backend, for the ops table */

#define MIB (1ull << 20)
#define GIB (1ull << 30)
/* The backend's reservation per object, and so its max_size. */
#define RESERVE (64 * GIB)

static char g_root[PATH_MAX];
static unsigned g_dir_seq;

struct pfix {
	char dir[PATH_MAX];
	struct pc_cache *c;
	struct pc_backend *b;
	const struct pc_backend_ops *ops;
	void *priv;
};

/* ---- host-side helpers ---- */

static void host_pread(const char *dir, const char *name, void *buf, size_t len, off_t off)
{
	char p[PATH_MAX];
	int fd;

	path_of(p, dir, name);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static void host_create(const char *dir, const char *name, const void *buf, size_t len)
{
	char p[PATH_MAX];
	int fd;

	path_of(p, dir, name);
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, 0), (ssize_t)len);
	close(fd);
}

/* Bytes of this process's address space mapped from host file @dir/@name. */
static uint64_t mapped_bytes_of(const char *dir, const char *name)
{
	char p[PATH_MAX], real[PATH_MAX], line[PATH_MAX + 256];
	uint64_t total = 0;
	FILE *f;

	path_of(p, dir, name);
	assert_non_null(realpath(p, real));
	f = fopen("/proc/self/maps", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char *path = strchr(line, '/');

		if (!path)
			continue;
		path[strcspn(path, "\n")] = '\0';
		if (strcmp(path, real) || sscanf(line, "%lx-%lx", &lo, &hi) != 2)
			continue;
		total += hi - lo;
	}
	fclose(f);
	return total;
}

/* ---- fixture ---- */

static int setup(void **state)
{
	struct pfix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_true(snprintf(f->dir, sizeof(f->dir), "%s/t%u", g_root, g_dir_seq++) <
		    (int)sizeof(f->dir));
	assert_int_equal(mkdir(f->dir, 0755), 0);
	assert_int_equal(pc_cache_new(&f->c, 64 * MIB), 0);
	assert_int_equal(pc_backend_pmem_new(&f->b, f->dir, 0), 0);
	f->ops = &f->b->ops;
	f->priv = f->b->priv;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct pfix *f = *state;

	pc_backend_delete(&f->b);
	pc_cache_delete(&f->c);
	rm_tree(f->dir);
	free(f);
	return 0;
}

static void *xopen(struct pfix *f, const char *name, unsigned flags)
{
	void *o = NULL;

	assert_int_equal(f->ops->open(f->priv, name, flags, &o), 0);
	assert_non_null(o);
	return o;
}

static uint64_t size_of(struct pfix *f, void *o)
{
	uint64_t s = UINT64_MAX;

	assert_int_equal(f->ops->get_size(f->priv, o, &s), 0);
	return s;
}

static void check_ext(const struct pc_extent *e, uint32_t type, uint64_t off, uint64_t len)
{
	assert_int_equal(e->type, type);
	assert_int_equal(e->offset, off);
	assert_int_equal(e->length, len);
	if (type != PC_EXTENT_HOLE)
		assert_int_equal(e->addr, off);
}

/* ---- construction, names, open flags ---- */

static void test_new_bad_input(void **state)
{
	struct pfix *f = *state;
	struct pc_backend *b = NULL;
	char file[PATH_MAX];

	assert_int_equal(pc_backend_pmem_new(NULL, f->dir, 0), -EINVAL);
	assert_int_equal(pc_backend_pmem_new(&b, NULL, 0), -EINVAL);
	assert_int_equal(pc_backend_pmem_new(&b, f->dir, 1), -EINVAL);
	assert_int_equal(pc_backend_pmem_new(&b, f->dir, 0x80000000u), -EINVAL);
	path_of(file, f->dir, "missing");
	assert_int_equal(pc_backend_pmem_new(&b, file, 0), -ENOENT);
	host_create(f->dir, "plain", "x", 1);
	path_of(file, f->dir, "plain");
	assert_int_equal(pc_backend_pmem_new(&b, file, 0), -ENOTDIR);
	assert_null(b);
	assert_string_equal(f->ops->name, "pmem");
	assert_int_equal(f->ops->max_size, RESERVE);
	assert_non_null(f->ops->direct_access);
	assert_non_null(f->ops->persist);
}

static void test_names(void **state)
{
	struct pfix *f = *state;
	struct pc_mapping *m = NULL;
	char name[300];

	static const char *const bad[] = { "", "a/b", "/", ".", "..", "x/" };
	for (size_t i = 0; i < PC_ARRAY_SIZE(bad); i++) {
		assert_int_equal(pc_open(&m, f->c, f->b, bad[i], PC_CREAT), -EINVAL);
		assert_int_equal(pc_backend_unlink(f->b, bad[i]), -EINVAL);
	}
	memset(name, 'n', 256);
	name[256] = '\0';
	assert_int_equal(pc_open(&m, f->c, f->b, name, PC_CREAT), -EINVAL);
	assert_null(m);
	name[255] = '\0';
	assert_int_equal(pc_open(&m, f->c, f->b, name, PC_CREAT), 0);
	assert_true(host_exists(f->dir, name));
	assert_int_equal(pc_close(&m), 0);
	assert_int_equal(pc_backend_unlink(f->b, name), 0);
	assert_false(host_exists(f->dir, name));
	assert_int_equal(pc_open(&m, f->c, f->b, "...", PC_CREAT), 0);
	assert_int_equal(pc_close(&m), 0);
	assert_true(host_exists(f->dir, "..."));
	/* A directory is not an object; nothing is left open. */
	path_of(name, f->dir, "sub");
	assert_int_equal(mkdir(name, 0755), 0);
	assert_int_equal(pc_open(&m, f->c, f->b, "sub", 0), -EISDIR);
	assert_null(m);
}

static void test_open_flags(void **state)
{
	struct pfix *f = *state;
	struct pc_mapping *m = NULL;
	unsigned char buf[100], out[100];
	uint64_t size;
	void *o, *o2;

	fill_pattern(buf, sizeof(buf), 3);
	assert_int_equal(pc_open(&m, f->c, f->b, "a", 0), -ENOENT);
	assert_false(host_exists(f->dir, "a"));
	assert_int_equal(pc_open(&m, f->c, f->b, "a", PC_CREAT | PC_EXCL), 0);
	assert_int_equal(pc_write(m, buf, sizeof(buf), 5000, 0), (ssize_t)sizeof(buf));
	assert_int_equal(pc_close(&m), 0);
	assert_int_equal(host_stat(f->dir, "a").st_size, 5100);
	assert_int_equal(pc_open(&m, f->c, f->b, "a", PC_CREAT | PC_EXCL), -EEXIST);
	assert_int_equal(pc_open(&m, f->c, f->b, "a", PC_CREAT), 0);
	assert_int_equal(pc_size(m, &size), 0);
	assert_int_equal(size, 5100);
	assert_int_equal(pc_read(m, out, sizeof(out), 5000, 0), (ssize_t)sizeof(out));
	assert_memory_equal(out, buf, sizeof(buf));
	assert_int_equal(pc_backend_unlink(f->b, "a"), -EBUSY);
	assert_int_equal(pc_close(&m), 0);
	assert_int_equal(pc_open(&m, f->c, f->b, "a", PC_TRUNC), 0);
	assert_int_equal(pc_size(m, &size), 0);
	assert_int_equal(size, 0);
	assert_int_equal(pc_close(&m), 0);
	assert_int_equal(host_stat(f->dir, "a").st_size, 0);

	/* The ops: a second open shares the object; EXCL and TRUNC on it. */
	o = xopen(f, "b", PC_CREAT);
	o2 = xopen(f, "b", 0);
	assert_ptr_equal(o, o2);
	assert_int_equal(f->ops->open(f->priv, "b", PC_CREAT | PC_EXCL, &o2), -EEXIST);
	assert_int_equal(f->ops->open(f->priv, "b", 0x100, &o2), -EINVAL);
	assert_int_equal(f->ops->open(f->priv, "b", 0, NULL), -EINVAL);
	assert_int_equal(f->ops->set_size(f->priv, o, 3 * PS), 0);
	assert_int_equal(f->ops->write(f->priv, o, 0, buf, sizeof(buf)), 0);
	o2 = xopen(f, "b", PC_TRUNC);
	assert_int_equal(size_of(f, o), 0);
	/* After the truncate the old pages read as zero when they grow back. */
	assert_int_equal(f->ops->set_size(f->priv, o, PS), 0);
	memset(out, 0xff, sizeof(out));
	assert_int_equal(f->ops->read(f->priv, o, 0, out, sizeof(out)), 0);
	assert_true(is_zero(out, sizeof(out)));
	assert_int_equal(f->ops->unlink(f->priv, "b"), -EBUSY);
	f->ops->close(f->priv, o);
	f->ops->close(f->priv, o);
	assert_int_equal(f->ops->unlink(f->priv, "b"), -EBUSY);	/* one open left */
	f->ops->close(f->priv, o2);
	assert_int_equal(f->ops->unlink(f->priv, "b"), 0);
	assert_int_equal(f->ops->unlink(f->priv, "b"), -ENOENT);
}

/* ---- extents, alloc, free ---- */

static void test_map_alloc_free(void **state)
{
	struct pfix *f = *state;
	unsigned char pg[PS], out[PS];
	struct pc_extent e;
	struct stat st0, st1;
	void *o;

	/* A host file with data in pages 1 and 4 of 6. */
	o = xopen(f, "m", PC_CREAT);
	assert_int_equal(f->ops->set_size(f->priv, o, 6 * PS), 0);
	fill_pattern(pg, PS, 1);
	assert_int_equal(f->ops->alloc(f->priv, o, PS, PS, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, PS, PS);
	assert_int_equal(f->ops->write(f->priv, o, PS, pg, PS), 0);
	assert_int_equal(f->ops->alloc(f->priv, o, 4 * PS, PS, &e), 0);
	assert_int_equal(f->ops->write(f->priv, o, 4 * PS, pg, PS), 0);
	assert_int_equal(f->ops->flush(f->priv, o), 0);

	assert_int_equal(f->ops->map(f->priv, o, 0, 6 * PS, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 0, PS);
	assert_int_equal(f->ops->map(f->priv, o, PS, 6 * PS, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, PS, PS);
	assert_int_equal(f->ops->map(f->priv, o, 2 * PS, 6 * PS, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 2 * PS, 2 * PS);
	assert_int_equal(f->ops->map(f->priv, o, 5 * PS, PS, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 5 * PS, PS);
	/* Past the size: a hole, however far. */
	assert_int_equal(f->ops->map(f->priv, o, 100 * PS, PS, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 100 * PS, PS);
	/* Data reads back through the mapping and is in the file. */
	assert_int_equal(f->ops->read(f->priv, o, 4 * PS, out, PS), 0);
	assert_memory_equal(out, pg, PS);
	host_pread(f->dir, "m", out, PS, PS);
	assert_memory_equal(out, pg, PS);

	/* alloc of a hole gives zeros, also over bytes a past owner left there. */
	assert_int_equal(f->ops->alloc(f->priv, o, 2 * PS, PS, &e), 0);
	memset(out, 0xff, PS);
	assert_int_equal(f->ops->read(f->priv, o, 2 * PS, out, PS), 0);
	assert_true(is_zero(out, PS));

	/* A large write, then free punches it: the host file's blocks go. */
	unsigned char *big = malloc(4 * MIB);

	assert_non_null(big);
	fill_pattern(big, 4 * MIB, 9);
	assert_int_equal(f->ops->set_size(f->priv, o, 8 * MIB), 0);
	assert_int_equal(f->ops->alloc(f->priv, o, 2 * MIB, 4 * MIB, &e), 0);
	assert_int_equal(f->ops->write(f->priv, o, 2 * MIB, big, 4 * MIB), 0);
	assert_int_equal(f->ops->flush(f->priv, o), 0);
	st0 = host_stat(f->dir, "m");
	assert_true((uint64_t)st0.st_blocks * 512 >= 4 * MIB);
	assert_int_equal(f->ops->free(f->priv, o, 2 * MIB, 4 * MIB), 0);
	st1 = host_stat(f->dir, "m");
	assert_true((uint64_t)(st0.st_blocks - st1.st_blocks) * 512 >= 4 * MIB - 64 * 1024);
	assert_int_equal(f->ops->map(f->priv, o, 2 * MIB, 4 * MIB, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 2 * MIB, 4 * MIB);
	memset(big, 0xff, PS);
	assert_int_equal(f->ops->read(f->priv, o, 3 * MIB, big, PS), 0);
	assert_true(is_zero(big, PS));
	/* free of nothing, and past the size, is fine. */
	assert_int_equal(f->ops->free(f->priv, o, 0, 0), 0);
	assert_int_equal(f->ops->free(f->priv, o, 100 * MIB, PS), 0);
	free(big);
	f->ops->close(f->priv, o);
}

/* ---- sizes and segments ---- */

static void test_set_size(void **state)
{
	struct pfix *f = *state;
	unsigned char pg[PS], out[PS];
	struct pc_extent e;
	void *o = xopen(f, "s", PC_CREAT);

	assert_int_equal(size_of(f, o), 0);
	assert_int_equal(mapped_bytes_of(f->dir, "s"), 0);
	/* Grow: reads as zero; the file is that long; a segment maps it. */
	assert_int_equal(f->ops->set_size(f->priv, o, 5000), 0);
	assert_int_equal(size_of(f, o), 5000);
	assert_int_equal(host_stat(f->dir, "s").st_size, 5000);
	assert_true(mapped_bytes_of(f->dir, "s") >= 2 * PS);
	memset(out, 0xff, PS);
	assert_int_equal(f->ops->read(f->priv, o, PS, out, PS), 0);
	assert_true(is_zero(out, PS));

	/* Grow a lot: 64 MiB of segments, the file that long, sparse. */
	assert_int_equal(f->ops->set_size(f->priv, o, 64 * MIB), 0);
	assert_int_equal(host_stat(f->dir, "s").st_size, 64 * MIB);
	assert_true(mapped_bytes_of(f->dir, "s") >= 64 * MIB);
	fill_pattern(pg, PS, 4);
	assert_int_equal(f->ops->alloc(f->priv, o, 40 * MIB, PS, &e), 0);
	assert_int_equal(f->ops->write(f->priv, o, 40 * MIB, pg, PS), 0);
	assert_int_equal(f->ops->alloc(f->priv, o, 0, PS, &e), 0);
	assert_int_equal(f->ops->write(f->priv, o, 0, pg, PS), 0);

	/* Shrink: the file is cut, the segments wholly past it are unmapped. */
	assert_int_equal(f->ops->set_size(f->priv, o, 3000), 0);
	assert_int_equal(size_of(f, o), 3000);
	assert_int_equal(host_stat(f->dir, "s").st_size, 3000);
	assert_true(mapped_bytes_of(f->dir, "s") < 64 * MIB);
	assert_true(mapped_bytes_of(f->dir, "s") >= PS);
	assert_null(f->ops->direct_access(f->priv, o, 40 * MIB, PS));
	/* The last page past the new size reads as zero (the host zeroes it). */
	assert_int_equal(f->ops->read(f->priv, o, 0, out, PS), 0);
	assert_memory_equal(out, pg, 3000);
	assert_true(is_zero(out + 3000, PS - 3000));
	/* Grown back, the freed range is zero. */
	assert_int_equal(f->ops->set_size(f->priv, o, 64 * MIB), 0);
	assert_int_equal(f->ops->read(f->priv, o, 40 * MIB, out, PS), 0);
	assert_true(is_zero(out, PS));

	/* Shrink to nothing: no segment is left. */
	assert_int_equal(f->ops->set_size(f->priv, o, 0), 0);
	assert_int_equal(mapped_bytes_of(f->dir, "s"), 0);
	assert_int_equal(host_stat(f->dir, "s").st_size, 0);
	f->ops->close(f->priv, o);
	assert_int_equal(mapped_bytes_of(f->dir, "s"), 0);
}

/*
 * Writes ahead of the size (the library writes a page past the size it last
 * set, backend.h): they show when the size grows, and flush cuts the host
 * file back only where the bytes past the size are zero.
 */
static void test_write_past_size(void **state)
{
	struct pfix *f = *state;
	unsigned char pg[PS], out[PS];
	void *o = xopen(f, "w", PC_CREAT);

	fill_pattern(pg, PS, 7);
	assert_int_equal(f->ops->set_size(f->priv, o, 100), 0);
	assert_int_equal(f->ops->write(f->priv, o, 2 * PS, pg, PS), 0);
	assert_int_equal(host_stat(f->dir, "w").st_size, 3 * PS);
	assert_int_equal(f->ops->flush(f->priv, o), 0);
	assert_int_equal(host_stat(f->dir, "w").st_size, 3 * PS);	/* data: kept */
	assert_int_equal(f->ops->set_size(f->priv, o, 3 * PS), 0);
	assert_int_equal(f->ops->read(f->priv, o, 2 * PS, out, PS), 0);
	assert_memory_equal(out, pg, PS);
	/* Shrink, then an all-zero page past the size: the file does not grow. */
	assert_int_equal(f->ops->set_size(f->priv, o, 100), 0);
	memset(pg, 0, PS);
	assert_int_equal(f->ops->write(f->priv, o, 2 * PS, pg, PS), 0);
	assert_int_equal(host_stat(f->dir, "w").st_size, 100);
	/* alloc past the size grows the file over its blocks; flush trims it. */
	struct pc_extent e;

	assert_int_equal(f->ops->alloc(f->priv, o, 4 * PS, PS, &e), 0);
	assert_int_equal(host_stat(f->dir, "w").st_size, 5 * PS);
	assert_int_equal(f->ops->flush(f->priv, o), 0);
	assert_int_equal(host_stat(f->dir, "w").st_size, 100);
	f->ops->close(f->priv, o);
}

/* ---- direct access ---- */

static void test_direct_access_stable(void **state)
{
	struct pfix *f = *state;
	unsigned char pg[PS], out[PS];
	struct pc_extent e;
	void *o = xopen(f, "d", PC_CREAT);
	unsigned char *p, *q;

	assert_null(f->ops->direct_access(f->priv, o, 0, PS));	/* empty */
	assert_int_equal(f->ops->set_size(f->priv, o, 2 * PS), 0);
	assert_int_equal(f->ops->alloc(f->priv, o, 0, 2 * PS, &e), 0);
	p = f->ops->direct_access(f->priv, o, 0, 2 * PS);
	assert_non_null(p);
	assert_ptr_equal(f->ops->direct_access(f->priv, o, PS, PS), p + PS);
	fill_pattern(pg, PS, 11);
	memcpy(p + PS, pg, PS);	/* a store through the pointer ... */
	assert_int_equal(f->ops->read(f->priv, o, PS, out, PS), 0);
	assert_memory_equal(out, pg, PS);	/* ... is the object's data */
	assert_int_equal(f->ops->persist(f->priv, o, PS, PS), 0);
	host_pread(f->dir, "d", out, PS, PS);
	assert_memory_equal(out, pg, PS);

	/* Grow by 8 GiB, in steps and at once: the pointer stays valid. */
	for (uint64_t s = 4 * MIB; s <= 256 * MIB; s *= 2)
		assert_int_equal(f->ops->set_size(f->priv, o, s), 0);
	assert_int_equal(f->ops->set_size(f->priv, o, 8 * GIB), 0);
	assert_int_equal(f->ops->alloc(f->priv, o, 8 * GIB - PS, PS, &e), 0);
	q = f->ops->direct_access(f->priv, o, 8 * GIB - PS, PS);
	assert_ptr_equal(q, p + 8 * GIB - PS);
	memcpy(q, pg, PS);
	assert_memory_equal(p + PS, pg, PS);	/* the same pointer, after growth */
	p[0] = 0x5a;
	assert_int_equal(f->ops->read(f->priv, o, 0, out, PS), 0);
	assert_int_equal(out[0], 0x5a);
	assert_ptr_equal(f->ops->direct_access(f->priv, o, 0, PS), p);

	/* Bad ranges: past the end of the file, empty, overflowing. */
	assert_null(f->ops->direct_access(f->priv, o, 8 * GIB, PS));
	assert_null(f->ops->direct_access(f->priv, o, 0, 0));
	assert_null(f->ops->direct_access(f->priv, o, UINT64_MAX - PS + 1, PS));
	assert_null(f->ops->direct_access(f->priv, o, RESERVE, PS));
	assert_null(f->ops->direct_access(NULL, o, 0, PS));
	assert_null(f->ops->direct_access(f->priv, NULL, 0, PS));
	f->ops->close(f->priv, o);
}

/*
 * A reader keeps using one pointer while another thread grows the object
 * (alloc past the end, as writeback does) by hundreds of segments: the
 * pointer's page never changes under it.
 */
struct grow_arg {
	struct pfix *f;
	void *o;
	int stop;	/* atomic */
};

static void *grow_thread(void *a)
{
	struct grow_arg *g = a;
	struct pc_extent e;

	for (uint64_t off = PS; off < 1024 * MIB; off += 3 * MIB + PS) {
		if (g->f->ops->alloc(g->f->priv, g->o, off, PS, &e))
			break;
	}
	__atomic_store_n(&g->stop, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_direct_access_concurrent_growth(void **state)
{
	struct pfix *f = *state;
	struct grow_arg g = { .f = f };
	struct pc_extent e;
	unsigned char *p;
	pthread_t t;
	unsigned long rounds = 0;

	g.o = xopen(f, "g", PC_CREAT);
	assert_int_equal(f->ops->alloc(f->priv, g.o, 0, PS, &e), 0);
	p = f->ops->direct_access(f->priv, g.o, 0, PS);
	assert_non_null(p);
	assert_int_equal(pthread_create(&t, NULL, grow_thread, &g), 0);
	while (!__atomic_load_n(&g.stop, __ATOMIC_ACQUIRE) || rounds < 1000) {
		unsigned char v = (unsigned char)(rounds * 13 + 1);

		p[rounds % PS] = v;
		assert_int_equal(p[rounds % PS], v);
		rounds++;
	}
	pthread_join(t, NULL);
	assert_true(mapped_bytes_of(f->dir, "g") >= 1000 * MIB);
	assert_ptr_equal(f->ops->direct_access(f->priv, g.o, 0, PS), p);
	f->ops->close(f->priv, g.o);
}

/* ---- durability ---- */

static void test_reopen_keeps_synced_data(void **state)
{
	struct pfix *f = *state;
	struct pc_mapping *m = NULL;
	unsigned char *buf = malloc(3 * MIB), *out = malloc(3 * MIB);
	uint64_t size;

	assert_non_null(buf);
	assert_non_null(out);
	fill_pattern(buf, 3 * MIB, 21);
	assert_int_equal(pc_open(&m, f->c, f->b, "dur", PC_CREAT), 0);
	assert_int_equal(pc_write(m, buf, 3 * MIB, 12345, 0), 3 * MIB);
	assert_int_equal(pc_punch(m, 1 * MIB, 256 * 1024), 0);
	memset(buf + 1 * MIB - 12345, 0, 256 * 1024);
	assert_int_equal(pc_sync(m, 0, 0), 0);
	assert_int_equal(pc_close(&m), 0);
	pc_backend_delete(&f->b);
	/* The host file holds it all, at its size. */
	assert_int_equal(host_stat(f->dir, "dur").st_size, 12345 + 3 * MIB);
	host_pread(f->dir, "dur", out, 3 * MIB, 12345);
	assert_memory_equal(out, buf, 3 * MIB);
	/* A new backend and cache see the same. */
	pc_cache_delete(&f->c);
	assert_int_equal(pc_cache_new(&f->c, 1 * MIB), 0);
	assert_int_equal(pc_backend_pmem_new(&f->b, f->dir, 0), 0);
	f->ops = &f->b->ops;
	f->priv = f->b->priv;
	assert_int_equal(pc_open(&m, f->c, f->b, "dur", 0), 0);
	assert_int_equal(pc_size(m, &size), 0);
	assert_int_equal(size, 12345 + 3 * MIB);
	assert_int_equal(pc_read(m, out, 3 * MIB, 12345, 0), 3 * MIB);
	assert_memory_equal(out, buf, 3 * MIB);
	/* Truncate and sync: the host file follows. */
	assert_int_equal(pc_truncate(m, 7000), 0);
	assert_int_equal(pc_sync(m, 0, 0), 0);
	assert_int_equal(host_stat(f->dir, "dur").st_size, 7000);
	assert_int_equal(pc_close(&m), 0);
	free(buf);
	free(out);
}

static void test_persist(void **state)
{
	struct pfix *f = *state;
	struct pc_extent e;
	unsigned char pg[PS], out[PS];
	void *o = xopen(f, "p", PC_CREAT);
	unsigned char *p;

	/* Nothing mapped yet: nothing to persist, and no fault. */
	assert_int_equal(f->ops->persist(f->priv, o, 0, PS), 0);
	assert_int_equal(f->ops->flush(f->priv, o), 0);
	assert_int_equal(f->ops->set_size(f->priv, o, 4 * PS), 0);
	assert_int_equal(f->ops->alloc(f->priv, o, 0, 4 * PS, &e), 0);
	p = f->ops->direct_access(f->priv, o, 0, 4 * PS);
	assert_non_null(p);
	fill_pattern(pg, PS, 31);
	memcpy(p + 2 * PS + 100, pg, PS - 200);
	/* Unaligned ranges are fine: whole pages around them are persisted. */
	assert_int_equal(f->ops->persist(f->priv, o, 2 * PS + 100, PS - 200), 0);
	host_pread(f->dir, "p", out, PS - 200, 2 * PS + 100);
	assert_memory_equal(out, pg, PS - 200);
	/* Past the end of the file: clipped, not an error. */
	assert_int_equal(f->ops->persist(f->priv, o, 0, 100 * PS), 0);
	assert_int_equal(f->ops->persist(f->priv, o, 0, 0), 0);
	f->ops->close(f->priv, o);
}

/* ---- G8: bad input gets an errno and changes nothing ---- */

static void test_bad_input(void **state)
{
	struct pfix *f = *state;
	unsigned char pg[PS], out[PS];
	struct pc_extent e;
	struct pc_io io;
	struct iovec v = { .iov_base = pg, .iov_len = PS };
	void *o = xopen(f, "g8", PC_CREAT);
	uint64_t s;

	fill_pattern(pg, PS, 41);
	assert_int_equal(f->ops->set_size(f->priv, o, 2 * PS), 0);
	assert_int_equal(f->ops->alloc(f->priv, o, 0, PS, &e), 0);
	assert_int_equal(f->ops->write(f->priv, o, 0, pg, PS), 0);

	struct {
		const char *what;
		int got;
		int want;
	} table[] = {
		{ "get_size NULL out", f->ops->get_size(f->priv, o, NULL), -EINVAL },
		{ "get_size NULL obj", f->ops->get_size(f->priv, NULL, &s), -EINVAL },
		{ "set_size past max", f->ops->set_size(f->priv, o, RESERVE + PS), -EFBIG },
		{ "set_size NULL obj", f->ops->set_size(f->priv, NULL, PS), -EINVAL },
		{ "map misaligned", f->ops->map(f->priv, o, 1, PS, &e), -EINVAL },
		{ "map NULL ext", f->ops->map(f->priv, o, 0, PS, NULL), -EINVAL },
		{ "map past max", f->ops->map(f->priv, o, RESERVE, PS, &e), -EFBIG },
		{ "alloc zero length", f->ops->alloc(f->priv, o, 0, 0, &e), -EINVAL },
		{ "alloc misaligned", f->ops->alloc(f->priv, o, 1, PS, &e), -EINVAL },
		{ "alloc odd length", f->ops->alloc(f->priv, o, 0, PS + 1, &e), -EINVAL },
		{ "alloc past max", f->ops->alloc(f->priv, o, RESERVE, PS, &e), -EFBIG },
		{ "alloc overflow", f->ops->alloc(f->priv, o, PS, UINT64_MAX & ~(uint64_t)(PS - 1), &e),
		  -EFBIG },
		{ "free misaligned", f->ops->free(f->priv, o, 1, PS), -EINVAL },
		{ "free past max", f->ops->free(f->priv, o, RESERVE, 2 * PS), -EFBIG },
		{ "read NULL buf", f->ops->read(f->priv, o, 0, NULL, PS), -EINVAL },
		{ "read past max", f->ops->read(f->priv, o, RESERVE, out, PS), -EFBIG },
		{ "write past max", f->ops->write(f->priv, o, RESERVE - 1, pg, 2), -EFBIG },
		{ "write overflow", f->ops->write(f->priv, o, UINT64_MAX - 1, pg, PS), -EFBIG },
		{ "write NULL obj", f->ops->write(f->priv, NULL, 0, pg, PS), -EINVAL },
		{ "flush NULL obj", f->ops->flush(f->priv, NULL), -EINVAL },
		{ "persist past max", f->ops->persist(f->priv, o, RESERVE, PS), -EFBIG },
		{ "persist NULL obj", f->ops->persist(f->priv, NULL, 0, PS), -EINVAL },
		{ "readv NULL io", f->ops->readv(f->priv, o, NULL, 1), -EINVAL },
		{ "unlink NULL name", f->ops->unlink(f->priv, NULL), -EINVAL },
	};
	for (size_t i = 0; i < PC_ARRAY_SIZE(table); i++) {
		if (table[i].got != table[i].want)
			fail_msg("%s: %d, want %d", table[i].what, table[i].got, table[i].want);
	}
	/* A batch with a bad I/O: that one fails, the call does not. */
	io = (struct pc_io){ .addr = RESERVE, .iov = &v, .iovcnt = 1 };
	assert_int_equal(f->ops->writev(f->priv, o, &io, 1), 0);
	assert_int_equal(io.result, -EFBIG);
	/* None of it changed the object. */
	assert_int_equal(size_of(f, o), 2 * PS);
	assert_int_equal(host_stat(f->dir, "g8").st_size, 2 * PS);
	assert_int_equal(f->ops->read(f->priv, o, 0, out, PS), 0);
	assert_memory_equal(out, pg, PS);
	assert_int_equal(f->ops->map(f->priv, o, PS, PS, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, PS, PS);
	/* An existing file larger than the reservation cannot be opened. */
	char p[PATH_MAX];

	path_of(p, f->dir, "huge");
	assert_int_equal(truncate(p, 0) == 0 || errno == ENOENT, 1);
	{
		int fd = open(p, O_RDWR | O_CREAT, 0644);

		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, (off_t)(RESERVE + PS)), 0);
		close(fd);
	}
	void *h = NULL;

	assert_int_equal(f->ops->open(f->priv, "huge", 0, &h), -EFBIG);
	assert_null(h);
	/* Through the library: past max_size is -EFBIG, nothing written. */
	struct pc_mapping *m = NULL;

	f->ops->close(f->priv, o);
	assert_int_equal(pc_open(&m, f->c, f->b, "g8", 0), 0);
	assert_int_equal(pc_write(m, pg, PS, RESERVE, 0), -EFBIG);
	assert_int_equal(pc_truncate(m, RESERVE + PS), -EFBIG);
	assert_int_equal(pc_size(m, &s), 0);
	assert_int_equal(s, 2 * PS);
	assert_int_equal(pc_close(&m), 0);
}

/* Vectored I/O, and whole-object I/O through the library. */
static void test_vectored(void **state)
{
	struct pfix *f = *state;
	unsigned char a[PS], b[2 * PS], ra[PS], rb[2 * PS];
	struct iovec w[2] = { { a, PS }, { b, 2 * PS } }, r[2] = { { ra, PS }, { rb, 2 * PS } };
	struct pc_io io[2];
	struct pc_extent e;
	void *o = xopen(f, "v", PC_CREAT);

	fill_pattern(a, sizeof(a), 51);
	fill_pattern(b, sizeof(b), 52);
	assert_int_equal(f->ops->set_size(f->priv, o, 8 * PS), 0);
	assert_int_equal(f->ops->alloc(f->priv, o, 0, 8 * PS, &e), 0);
	io[0] = (struct pc_io){ .addr = PS, .iov = w, .iovcnt = 2 };
	io[1] = (struct pc_io){ .addr = 5 * PS, .iov = w, .iovcnt = 1 };
	assert_int_equal(f->ops->writev(f->priv, o, io, 2), 0);
	assert_int_equal(io[0].result, 0);
	assert_int_equal(io[1].result, 0);
	io[0] = (struct pc_io){ .addr = PS, .iov = r, .iovcnt = 2 };
	assert_int_equal(f->ops->readv(f->priv, o, io, 1), 0);
	assert_int_equal(io[0].result, 0);
	assert_memory_equal(ra, a, PS);
	assert_memory_equal(rb, b, 2 * PS);
	/* Past the end of the file, a read gives zeros. */
	io[0] = (struct pc_io){ .addr = 100 * PS, .iov = r, .iovcnt = 1 };
	memset(ra, 0xff, PS);
	assert_int_equal(f->ops->readv(f->priv, o, io, 1), 0);
	assert_int_equal(io[0].result, 0);
	assert_true(is_zero(ra, PS));
	f->ops->close(f->priv, o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_alloc_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_past_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_access_stable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_access_concurrent_growth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_synced_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vectored, setup, teardown),
	};
	struct pc_backend *probe = NULL;
	int r;

	r = pc_backend_pmem_new(&probe, "/", 0);
	if (r == -ENOTSUP) {
		printf("no pmem backend in this build (no libpmem2): skipped\n");
		return SKIP_EXIT;
	}
	pc_backend_delete(&probe);
	umask(022);
	host_make_root(g_root, "test_backend_pmem");
	r = cmocka_run_group_tests(tests, NULL, NULL);
	rm_tree(g_root);
	return r;
}
