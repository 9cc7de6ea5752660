/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* RAM backend: its allocator, block tables and object ops, driven through the ops table. */

/*
 * The test includes lib/backend_ram.c itself, to reach the static ops table
 * and the private state, and stubs pc_backend_new() (lib/backend.c), so it
 * needs nothing else from the library.  malloc, calloc and realloc of the
 * backend go through wrappers that can be told to fail, so every -ENOMEM
 * path is run; the headers the backend uses come first, so the macros only
 * rename its own calls.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static int alloc_fail_in = -1;	/* fail the allocation this many calls ahead; -1: never */

static bool alloc_should_fail(void)
{
	if (alloc_fail_in < 0)
		return false;
	return alloc_fail_in-- == 0;
}

static void *t_malloc(size_t n)
{
	return alloc_should_fail() ? NULL : malloc(n);
}

static void *t_calloc(size_t n, size_t m)
{
	return alloc_should_fail() ? NULL : calloc(n, m);
}

static void *t_realloc(void *p, size_t n)
{
	return alloc_should_fail() ? NULL : realloc(p, n);
}

#define malloc(n) t_malloc(n)
#define calloc(n, m) t_calloc(n, m)
#define realloc(p, n) t_realloc(p, n)
#include "../lib/backend_ram.c"
#undef malloc
#undef calloc
#undef realloc

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

/* ---- a stub of lib/backend.c ---- */

struct pc_backend {
	const struct pc_backend_ops *ops;
	void *priv;
};

static const struct pc_backend_ops *stub_ops;
static void *stub_priv;
static int stub_fail;		/* pc_backend_new() answers this if non-zero */

int pc_backend_new(struct pc_backend **out, const struct pc_backend_ops *ops, void *priv)
{
	struct pc_backend *b;

	if (stub_fail)
		return stub_fail;
	b = malloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ops = ops;
	b->priv = priv;
	stub_ops = ops;
	stub_priv = priv;
	*out = b;
	return 0;
}

static void stub_delete(struct pc_backend **b)
{
	(*b)->ops->destroy((*b)->priv);
	free(*b);
	*b = NULL;
	stub_ops = NULL;
	stub_priv = NULL;
}

/* ---- helpers ---- */

#define PG ((uint64_t)RAM_PAGE)
#define SMALL_BLOCKS 64u

struct fix {
	struct pc_backend *b;
	const struct pc_backend_ops *ops;
	void *priv;
	struct ram *ram;
};

static int fix_new(void **state, uint64_t blocks)
{
	struct fix *f = calloc(1, sizeof(*f));

	if (!f || pc_backend_ram_new(&f->b, blocks * PG))
		return -1;
	f->ops = f->b->ops;
	f->priv = f->b->priv;
	f->ram = f->priv;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return fix_new(state, SMALL_BLOCKS);
}

static int setup_tiny(void **state)
{
	return fix_new(state, 8);
}

static int teardown(void **state)
{
	struct fix *f = *state;
	struct ram_obj *o;

	alloc_fail_in = -1;
	/* A failed test leaves objects open; destroy asserts they are not. */
	for (o = f->ram->objs; o; o = o->next)
		o->opens = 0;
	stub_delete(&f->b);
	free(f);
	return 0;
}

static uint64_t nr_free(struct fix *f)
{
	uint64_t n;

	ram_lock(f->ram);
	n = __ram_nr_free(f->ram);
	ram_unlock(f->ram);
	return n;
}

static uint64_t nr_owned(struct fix *f, void *obj)
{
	uint64_t n;

	ram_lock(f->ram);
	n = __ram_count_owned(obj, 0, RAM_MAX_PAGES);
	ram_unlock(f->ram);
	return n;
}

/*
 * Invariants 1 and 3: every block is free or owned, exactly once, and every
 * chunk's count is right and non-zero.  Returns the number of owned blocks.
 */
static uint64_t check_accounting(struct fix *f)
{
	struct ram *ram = f->ram;
	uint8_t *seen = calloc(ram->nr_blocks, 1);
	uint64_t owned = 0, nfree = 0, i, ci;
	struct ram_obj *obj;

	assert_non_null(seen);
	ram_lock(ram);
	for (i = 0; i < ram->nr_stack; i++) {
		assert_true(ram->stack[i] < ram->nr_blocks);
		seen[ram->stack[i]]++;
		nfree++;
	}
	for (i = ram->next_fresh; i < ram->nr_blocks; i++) {
		seen[i]++;
		nfree++;
	}
	for (obj = ram->objs; obj; obj = obj->next) {
		for (ci = 0; ci < obj->nr_top; ci++) {
			struct ram_chunk *c = obj->top[ci];
			uint32_t used = 0;

			if (!c)
				continue;
			for (i = 0; i < RAM_CHUNK; i++) {
				if (c->blk[i] == RAM_NO_BLOCK)
					continue;
				assert_true(c->blk[i] < ram->nr_blocks);
				seen[c->blk[i]]++;
				used++;
			}
			assert_int_equal(used, c->used);
			assert_true(used > 0);
			owned += used;
		}
	}
	assert_int_equal(nfree, __ram_nr_free(ram));
	ram_unlock(ram);
	for (i = 0; i < ram->nr_blocks; i++)
		if (seen[i] != 1)
			fail_msg("block %" PRIu64 " is free or owned %u times", i,
				 (unsigned int)seen[i]);
	assert_int_equal(owned + nfree, ram->nr_blocks);
	free(seen);
	return owned;
}

static void *xopen(struct fix *f, const char *name, unsigned flags)
{
	void *obj = NULL;

	assert_int_equal(f->ops->open(f->priv, name, flags, &obj), 0);
	assert_non_null(obj);
	return obj;
}

static void fill_block(struct fix *f, uint64_t addr, int byte)
{
	uint8_t buf[RAM_PAGE];

	memset(buf, byte, sizeof(buf));
	assert_int_equal(f->ops->write(f->priv, NULL, addr, buf, sizeof(buf)), 0);
}

/* Every byte of [addr + from, addr + to) is @byte. */
static void check_bytes(struct fix *f, uint64_t addr, size_t from, size_t to, int byte)
{
	uint8_t buf[RAM_PAGE];
	size_t i;

	assert_int_equal(f->ops->read(f->priv, NULL, addr, buf, sizeof(buf)), 0);
	for (i = from; i < to; i++)
		if (buf[i] != (uint8_t)byte)
			fail_msg("byte %zu of block at %#" PRIx64 " is %#x, not %#x", i, addr,
				 buf[i], (uint8_t)byte);
}

static void check_ext(const struct pc_extent *e, uint32_t type, uint64_t off, uint64_t len,
		      uint64_t addr)
{
	assert_int_equal(e->type, type);
	assert_int_equal(e->offset, off);
	assert_int_equal(e->length, len);
	assert_int_equal(e->flags, 0);
	if (type != PC_EXTENT_HOLE)
		assert_int_equal(e->addr, addr);
}

/* ---- tests ---- */

static void test_new_bad_input(void **state)
{
	struct pc_backend *sentinel = (struct pc_backend *)&sentinel;
	struct pc_backend *b = sentinel;
	static const uint64_t bad[] = {
		0, 1, 4095, 4097, 3 * 4096 + 512, (1ull << 40) + 4096, 1ull << 41,
		UINT64_MAX, UINT64_MAX & ~4095ull,
	};
	size_t i;
	int ret;

	(void)state;
	assert_int_equal(pc_backend_ram_new(NULL, 4096), -EINVAL);
	for (i = 0; i < PC_ARRAY_SIZE(bad); i++) {
		assert_int_equal(pc_backend_ram_new(&b, bad[i]), -EINVAL);
		assert_ptr_equal(b, sentinel);	/* bad input changes nothing */
	}

	/* One page is the smallest device; the table is complete. */
	assert_int_equal(pc_backend_ram_new(&b, 4096), 0);
	assert_ptr_equal(b->ops, &ram_ops);
	assert_int_equal(stub_ops->version, PC_BACKEND_OPS_VERSION);
	assert_int_equal(stub_ops->size, sizeof(struct pc_backend_ops));
	assert_string_equal(stub_ops->name, "ram");
	assert_int_equal(stub_ops->max_size, 1ull << 40);
	assert_non_null(stub_ops->open);
	assert_non_null(stub_ops->close);
	assert_non_null(stub_ops->unlink);
	assert_non_null(stub_ops->get_size);
	assert_non_null(stub_ops->set_size);
	assert_non_null(stub_ops->map);
	assert_non_null(stub_ops->alloc);
	assert_non_null(stub_ops->free);
	assert_non_null(stub_ops->read);
	assert_non_null(stub_ops->write);
	assert_non_null(stub_ops->direct_access);
	assert_non_null(stub_ops->destroy);
	assert_int_equal(((struct ram *)b->priv)->nr_blocks, 1);
	stub_delete(&b);

	/* 1 TiB is the largest: allowed (memory may still refuse it). */
	b = sentinel;
	ret = pc_backend_ram_new(&b, 1ull << 40);
	if (ret == 0) {
		assert_int_equal(((struct ram *)b->priv)->nr_blocks, 1u << 28);
		stub_delete(&b);
	} else {
		assert_int_equal(ret, -ENOMEM);
		assert_ptr_equal(b, sentinel);
	}

	/* pc_backend_new() failing: its error, and priv freed (leak checkers). */
	b = sentinel;
	stub_fail = -EINVAL;
	assert_int_equal(pc_backend_ram_new(&b, 16 * 4096), -EINVAL);
	stub_fail = 0;
	assert_ptr_equal(b, sentinel);
}

static void test_new_enomem(void **state)
{
	struct pc_backend *sentinel = (struct pc_backend *)&sentinel;
	struct pc_backend *b;
	int i;

	(void)state;
	/* Allocation 0 is the state, 1 the free stack: each failure is clean. */
	for (i = 0; i < 2; i++) {
		b = sentinel;
		alloc_fail_in = i;
		assert_int_equal(pc_backend_ram_new(&b, 16 * 4096), -ENOMEM);
		assert_ptr_equal(b, sentinel);
	}
	alloc_fail_in = -1;
	assert_int_equal(pc_backend_ram_new(&b, 16 * 4096), 0);
	stub_delete(&b);
}

static void test_open_flags(void **state)
{
	struct fix *f = *state;
	void *sentinel = &sentinel, *obj = sentinel, *a, *a2;
	char name[257];
	struct pc_extent e;
	uint64_t size, free0;

	/* Missing without PC_CREAT (PC_EXCL or PC_TRUNC alone do not create). */
	assert_int_equal(f->ops->open(f->priv, "a", 0, &obj), -ENOENT);
	assert_int_equal(f->ops->open(f->priv, "a", PC_EXCL, &obj), -ENOENT);
	assert_int_equal(f->ops->open(f->priv, "a", PC_TRUNC, &obj), -ENOENT);
	assert_ptr_equal(obj, sentinel);

	/* PC_CREAT|PC_EXCL creates; a second one is -EEXIST. */
	a = xopen(f, "a", PC_CREAT | PC_EXCL);
	assert_int_equal(f->ops->open(f->priv, "a", PC_CREAT | PC_EXCL, &obj), -EEXIST);
	assert_ptr_equal(obj, sentinel);
	/* PC_CREAT alone, or no flag, or PC_EXCL alone: the same object. */
	a2 = xopen(f, "a", PC_CREAT);
	assert_ptr_equal(a2, a);
	f->ops->close(f->priv, a2);
	a2 = xopen(f, "a", 0);
	assert_ptr_equal(a2, a);
	f->ops->close(f->priv, a2);
	a2 = xopen(f, "a", PC_EXCL);
	assert_ptr_equal(a2, a);
	f->ops->close(f->priv, a2);
	assert_int_equal(((struct ram_obj *)a)->opens, 1);

	/* A different name is a different object. */
	a2 = xopen(f, "A", PC_CREAT);
	assert_ptr_not_equal(a2, a);
	f->ops->close(f->priv, a2);

	/* PC_TRUNC frees the blocks and zeroes the size. */
	free0 = nr_free(f);
	assert_int_equal(f->ops->alloc(f->priv, a, 0, 3 * PG, &e), 0);
	assert_int_equal(f->ops->set_size(f->priv, a, 3 * PG - 10), 0);
	assert_int_equal(nr_free(f), free0 - 3);
	a2 = xopen(f, "a", PC_TRUNC);
	assert_ptr_equal(a2, a);
	assert_int_equal(f->ops->get_size(f->priv, a, &size), 0);
	assert_int_equal(size, 0);
	assert_int_equal(nr_free(f), free0);
	assert_int_equal(nr_owned(f, a), 0);
	assert_int_equal(f->ops->map(f->priv, a, 0, 3 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 0, 3 * PG, 0);
	f->ops->close(f->priv, a2);

	/*
	 * Names are checked by the library (lib/backend.c; test_mapping.c
	 * tests it); the op refuses only NULL.
	 */
	obj = sentinel;
	assert_int_equal(f->ops->open(f->priv, NULL, PC_CREAT, &obj), -EINVAL);
	assert_ptr_equal(obj, sentinel);
	memset(name, 'n', 255);
	/* 255 bytes is fine. */
	name[255] = '\0';
	a2 = xopen(f, name, PC_CREAT | PC_EXCL);
	assert_string_equal(((struct ram_obj *)a2)->name, name);
	f->ops->close(f->priv, a2);

	/* Unknown flags, no out-pointer. */
	assert_int_equal(f->ops->open(f->priv, "a", 0x8, &obj), -EINVAL);
	assert_int_equal(f->ops->open(f->priv, "a", PC_CREAT | 0x100, &obj), -EINVAL);
	assert_int_equal(f->ops->open(f->priv, "new", PC_CREAT, NULL), -EINVAL);
	assert_ptr_equal(obj, sentinel);
	assert_int_equal(f->ops->open(f->priv, "new", 0, &obj), -ENOENT);

	f->ops->close(f->priv, a);
	assert_int_equal(((struct ram_obj *)a)->opens, 0);
	check_accounting(f);
}

static void test_open_enomem(void **state)
{
	struct fix *f = *state;
	void *obj = NULL;

	alloc_fail_in = 0;
	assert_int_equal(f->ops->open(f->priv, "x", PC_CREAT, &obj), -ENOMEM);
	assert_null(obj);
	alloc_fail_in = -1;
	assert_int_equal(f->ops->open(f->priv, "x", 0, &obj), -ENOENT);
	assert_null(f->ram->objs);
}

static void test_map_new_is_hole(void **state)
{
	struct fix *f = *state;
	void *a = xopen(f, "a", PC_CREAT);
	struct pc_extent e;

	memset(&e, 0xff, sizeof(e));
	assert_int_equal(f->ops->map(f->priv, a, 0, 16 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 0, 16 * PG, 0);

	/* Within the size as well as past it. */
	assert_int_equal(f->ops->set_size(f->priv, a, 10 * PG), 0);
	assert_int_equal(f->ops->map(f->priv, a, 5 * PG, 1 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 5 * PG, PG, 0);
	assert_int_equal(f->ops->map(f->priv, a, 5 * PG, 100 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 5 * PG, 100 * PG, 0);
	/* Any @len is a look-ahead: at least one page, rounded up. */
	assert_int_equal(f->ops->map(f->priv, a, 0, 0, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 0, PG, 0);
	assert_int_equal(f->ops->map(f->priv, a, 0, PG + 1, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 0, 2 * PG, 0);
	/* ... never past the largest object. */
	assert_int_equal(f->ops->map(f->priv, a, (1ull << 40) - PG, UINT64_MAX, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, (1ull << 40) - PG, PG, 0);

	assert_int_equal(f->ops->map(f->priv, a, 100, PG, &e), -EINVAL);
	assert_int_equal(f->ops->map(f->priv, a, 1ull << 40, PG, &e), -EFBIG);
	assert_int_equal(f->ops->map(f->priv, a, 0, PG, NULL), -EINVAL);
	assert_int_equal(nr_free(f), SMALL_BLOCKS);
	f->ops->close(f->priv, a);
}

static void test_alloc_then_map(void **state)
{
	struct fix *f = *state;
	void *a = xopen(f, "a", PC_CREAT), *b = xopen(f, "b", PC_CREAT), *c;
	struct pc_extent e;

	/* Four pages from an empty device: blocks 0..3, one extent. */
	assert_int_equal(f->ops->alloc(f->priv, a, 0, 4 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 0, 4 * PG, 0);
	assert_int_equal(nr_free(f), SMALL_BLOCKS - 4);
	/* Allocation leaves the size alone, and map sees no blocks past it. */
	assert_int_equal(f->ops->map(f->priv, a, 0, 4 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 0, 4 * PG, 0);
	assert_int_equal(f->ops->set_size(f->priv, a, 4 * PG), 0);

	assert_int_equal(f->ops->map(f->priv, a, 0, 8 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 0, 4 * PG, 0);
	assert_int_equal(f->ops->map(f->priv, a, PG, 2 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, PG, 2 * PG, PG);	/* limited by len */
	assert_int_equal(f->ops->map(f->priv, a, 3 * PG, 0, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 3 * PG, PG, 3 * PG);
	assert_int_equal(f->ops->map(f->priv, a, 4 * PG, 4 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 4 * PG, 4 * PG, 0);
	/* A partial last page counts. */
	assert_int_equal(f->ops->set_size(f->priv, a, 3 * PG + 1), 0);
	assert_int_equal(f->ops->map(f->priv, a, 0, 8 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 0, 4 * PG, 0);

	/* Interleave: b takes block 4, a's page 5 gets block 5, page 6 block 6. */
	assert_int_equal(f->ops->alloc(f->priv, b, 0, PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 0, PG, 4 * PG);
	assert_int_equal(f->ops->alloc(f->priv, a, 5 * PG, 2 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 5 * PG, 2 * PG, 5 * PG);
	/* a's page 4 is a hole between pages 3 and 5. */
	assert_int_equal(f->ops->set_size(f->priv, a, 8 * PG), 0);
	assert_int_equal(f->ops->map(f->priv, a, 0, 8 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 0, 4 * PG, 0);
	assert_int_equal(f->ops->map(f->priv, a, 4 * PG, 8 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 4 * PG, PG, 0);
	/* Filling page 4 now takes block 7: 3 -> 7 -> 5 is not contiguous. */
	assert_int_equal(f->ops->alloc(f->priv, a, 2 * PG, 4 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 2 * PG, 2 * PG, 2 * PG);
	assert_int_equal(nr_free(f), SMALL_BLOCKS - 8);
	assert_int_equal(f->ops->map(f->priv, a, 4 * PG, 8 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 4 * PG, PG, 7 * PG);
	assert_int_equal(f->ops->map(f->priv, a, 5 * PG, 8 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 5 * PG, 2 * PG, 5 * PG);

	/* Allocating what is there allocates nothing. */
	assert_int_equal(f->ops->alloc(f->priv, a, 0, 7 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 0, 4 * PG, 0);
	assert_int_equal(nr_free(f), SMALL_BLOCKS - 8);
	assert_int_equal(nr_owned(f, a), 7);

	/* A range across a chunk boundary of the table. */
	assert_int_equal(f->ops->alloc(f->priv, b, (RAM_CHUNK - 1) * PG, 2 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, (RAM_CHUNK - 1) * PG, 2 * PG, 8 * PG);

	/* Bad input. */
	assert_int_equal(f->ops->alloc(f->priv, a, 0, 0, &e), -EINVAL);
	assert_int_equal(f->ops->alloc(f->priv, a, 1, PG, &e), -EINVAL);
	assert_int_equal(f->ops->alloc(f->priv, a, 0, PG + 1, &e), -EINVAL);
	assert_int_equal(f->ops->alloc(f->priv, a, 0, PG, NULL), -EINVAL);
	assert_int_equal(f->ops->alloc(f->priv, a, (1ull << 40) - PG, 2 * PG, &e), -EFBIG);
	assert_int_equal(f->ops->alloc(f->priv, a, 1ull << 40, PG, &e), -EFBIG);
	assert_int_equal(f->ops->alloc(f->priv, a, PG, UINT64_MAX & ~(PG - 1), &e), -EFBIG);
	assert_int_equal(nr_free(f), SMALL_BLOCKS - 10);
	assert_int_equal(check_accounting(f), 10);

	/* A hole run crosses a chunk that does not exist. */
	c = xopen(f, "c", PC_CREAT);
	assert_int_equal(f->ops->alloc(f->priv, c, 0, PG, &e), 0);
	assert_int_equal(f->ops->alloc(f->priv, c, (2 * RAM_CHUNK + 6) * PG, PG, &e), 0);
	assert_int_equal(f->ops->set_size(f->priv, c, 4 * RAM_CHUNK * PG), 0);
	assert_null(((struct ram_obj *)c)->top[1]);
	assert_int_equal(f->ops->map(f->priv, c, PG, 8 * RAM_CHUNK * PG, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, PG, (2 * RAM_CHUNK + 5) * PG, 0);
	assert_int_equal(f->ops->map(f->priv, c, (2 * RAM_CHUNK + 7) * PG, 100 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, (2 * RAM_CHUNK + 7) * PG, 100 * PG, 0);
	assert_int_equal(f->ops->set_size(f->priv, c, 0), 0);
	f->ops->close(f->priv, c);

	/* The last page of the largest object works. */
	assert_int_equal(f->ops->alloc(f->priv, b, (1ull << 40) - PG, PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, (1ull << 40) - PG, PG, 10 * PG);
	assert_int_equal(f->ops->free(f->priv, b, (1ull << 40) - PG, PG), 0);

	f->ops->close(f->priv, a);
	f->ops->close(f->priv, b);
	check_accounting(f);
}

static void test_alloc_enomem(void **state)
{
	struct fix *f = *state;
	void *a = xopen(f, "a", PC_CREAT);
	struct ram_obj *o = a;
	struct pc_extent e;
	int i;

	/*
	 * A range across two chunks, failing in turn: the top-level array
	 * (0), then chunk 0 (1), then chunk 1 after chunk 0 was made (1 again,
	 * the array now exists), then chunk 0 again (0).
	 */
	static const int fail_at[] = { 0, 1, 1, 0 };

	for (i = 0; i < (int)PC_ARRAY_SIZE(fail_at); i++) {
		alloc_fail_in = fail_at[i];
		assert_int_equal(f->ops->alloc(f->priv, a, (RAM_CHUNK - 2) * PG, 4 * PG, &e),
				 -ENOMEM);
		alloc_fail_in = -1;
		assert_int_equal(nr_free(f), SMALL_BLOCKS);
		assert_int_equal(nr_owned(f, a), 0);
		if (o->nr_top) {
			assert_null(o->top[0]);	/* no empty chunk left behind */
			assert_null(o->top[1]);
		}
	}
	assert_int_equal(f->ops->alloc(f->priv, a, (RAM_CHUNK - 2) * PG, 4 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, (RAM_CHUNK - 2) * PG, 4 * PG, 0);
	assert_int_equal(check_accounting(f), 4);
	f->ops->close(f->priv, a);
}

static void test_write_read_back(void **state)
{
	struct fix *f = *state;
	void *a = xopen(f, "a", PC_CREAT);
	uint8_t in[3 * RAM_PAGE], out[3 * RAM_PAGE];
	uint64_t dev = SMALL_BLOCKS * PG;
	struct pc_extent e;
	uint8_t *p;
	size_t i;

	/* Move past block 0, so that a wrong address is caught. */
	assert_int_equal(f->ops->alloc(f->priv, a, 10 * PG, PG, &e), 0);
	assert_int_equal(f->ops->alloc(f->priv, a, 0, 3 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 0, 3 * PG, PG);
	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(f->ops->write(f->priv, a, e.addr, in, sizeof(in)), 0);
	memset(out, 0, sizeof(out));
	assert_int_equal(f->ops->read(f->priv, a, e.addr, out, sizeof(out)), 0);
	assert_memory_equal(in, out, sizeof(in));
	/* direct_access gives the same bytes. */
	p = f->ops->direct_access(f->priv, a, e.addr, 3 * RAM_PAGE);
	assert_ptr_equal(p, f->ram->base + PG);
	assert_memory_equal(p, in, sizeof(in));
	/* The other block was not touched. */
	check_bytes(f, 0, 0, RAM_PAGE, 0);

	/* Bounds. */
	assert_int_equal(f->ops->read(f->priv, a, dev - PG, out, PG), 0);
	assert_int_equal(f->ops->read(f->priv, a, dev - PG, out, 2 * PG), -EINVAL);
	assert_int_equal(f->ops->write(f->priv, a, dev, in, PG), -EINVAL);
	assert_int_equal(f->ops->write(f->priv, a, UINT64_MAX - PG + 1, in, PG), -EINVAL);
	assert_int_equal(f->ops->read(f->priv, a, 0, NULL, PG), -EINVAL);
	assert_null(f->ops->direct_access(f->priv, a, dev, PG));
	assert_null(f->ops->direct_access(f->priv, a, dev - PG, 2 * PG));
	assert_null(f->ops->direct_access(f->priv, a, UINT64_MAX - PG + 1, PG));
	assert_ptr_equal(f->ops->direct_access(f->priv, a, dev - PG, PG),
			 f->ram->base + dev - PG);
	assert_null(f->ops->flush);
	f->ops->close(f->priv, a);
}

static void test_lifo_reuse_zeroed(void **state)
{
	struct fix *f = *state;
	void *a = xopen(f, "a", PC_CREAT), *b = xopen(f, "b", PC_CREAT);
	struct pc_extent e;

	assert_int_equal(f->ops->alloc(f->priv, a, 0, 3 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 0, 3 * PG, 0);
	assert_int_equal(f->ops->set_size(f->priv, a, 3 * PG), 0);
	fill_block(f, 0, 0xaa);
	fill_block(f, PG, 0xab);
	fill_block(f, 2 * PG, 0xac);

	/* a frees its page 1 (block 1); b's next allocation gets exactly it, zeroed. */
	assert_int_equal(f->ops->free(f->priv, a, PG, PG), 0);
	assert_int_equal(f->ops->map(f->priv, a, PG, PG, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, PG, PG, 0);
	assert_int_equal(f->ops->alloc(f->priv, b, 7 * PG, PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 7 * PG, PG, PG);
	check_bytes(f, PG, 0, RAM_PAGE, 0);
	/* a's other blocks are untouched. */
	check_bytes(f, 0, 0, RAM_PAGE, 0xaa);
	check_bytes(f, 2 * PG, 0, RAM_PAGE, 0xac);

	/* Last freed first: free 2 then 0; b gets 0, then 2, then fresh 3. */
	assert_int_equal(f->ops->free(f->priv, a, 2 * PG, PG), 0);
	assert_int_equal(f->ops->free(f->priv, a, 0, PG), 0);
	assert_int_equal(f->ops->alloc(f->priv, b, 0, PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 0, PG, 0);
	check_bytes(f, 0, 0, RAM_PAGE, 0);
	assert_int_equal(f->ops->alloc(f->priv, b, PG, PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, PG, PG, 2 * PG);
	check_bytes(f, 2 * PG, 0, RAM_PAGE, 0);
	assert_int_equal(f->ops->alloc(f->priv, b, 2 * PG, PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 2 * PG, PG, 3 * PG);

	/*
	 * A range is freed so that the next allocation of its size gets the
	 * blocks back in order: b's pages 0..2 hold blocks 0, 2, 3; after the
	 * free, a's three pages get 0, 2, 3 again.
	 */
	fill_block(f, 3 * PG, 0x33);
	assert_int_equal(f->ops->free(f->priv, b, 0, 3 * PG), 0);
	assert_int_equal(f->ops->alloc(f->priv, a, 0, 3 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 0, PG, 0);
	assert_int_equal(f->ops->map(f->priv, a, PG, 2 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, PG, 2 * PG, 2 * PG);
	check_bytes(f, 3 * PG, 0, RAM_PAGE, 0);

	/* Freeing holes, or past the size, is fine and frees nothing. */
	assert_int_equal(f->ops->free(f->priv, a, 20 * PG, 100 * PG), 0);
	assert_int_equal(f->ops->free(f->priv, a, 0, 0), 0);
	assert_int_equal(nr_free(f), SMALL_BLOCKS - 4);
	assert_int_equal(f->ops->free(f->priv, a, 1, PG), -EINVAL);
	assert_int_equal(f->ops->free(f->priv, a, 0, PG - 1), -EINVAL);
	assert_int_equal(f->ops->free(f->priv, a, PG, UINT64_MAX & ~(PG - 1)), -EFBIG);
	assert_int_equal(check_accounting(f), 4);
	f->ops->close(f->priv, a);
	f->ops->close(f->priv, b);
}

static void test_shrink(void **state)
{
	struct fix *f = *state;
	void *a = xopen(f, "a", PC_CREAT), *b = xopen(f, "b", PC_CREAT);
	struct pc_extent e;
	uint64_t size;
	int i;

	assert_int_equal(f->ops->alloc(f->priv, a, 0, 4 * PG, &e), 0);
	assert_int_equal(f->ops->set_size(f->priv, a, 4 * PG), 0);
	for (i = 0; i < 4; i++)
		fill_block(f, i * PG, 0xaa);
	assert_int_equal(nr_free(f), SMALL_BLOCKS - 4);

	/* To 1 page + 100 bytes: pages 2 and 3 go, page 1's tail is zeroed. */
	assert_int_equal(f->ops->set_size(f->priv, a, PG + 100), 0);
	assert_int_equal(f->ops->get_size(f->priv, a, &size), 0);
	assert_int_equal(size, PG + 100);
	assert_int_equal(nr_free(f), SMALL_BLOCKS - 2);
	assert_int_equal(nr_owned(f, a), 2);
	check_bytes(f, 0, 0, RAM_PAGE, 0xaa);
	check_bytes(f, PG, 0, 100, 0xaa);
	check_bytes(f, PG, 100, RAM_PAGE, 0);

	/* Growing back shows a hole, and zeros past the old size. */
	assert_int_equal(f->ops->set_size(f->priv, a, 4 * PG), 0);
	assert_int_equal(nr_free(f), SMALL_BLOCKS - 2);
	assert_int_equal(f->ops->map(f->priv, a, 0, 4 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 0, 2 * PG, 0);
	assert_int_equal(f->ops->map(f->priv, a, 2 * PG, 4 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 2 * PG, 4 * PG, 0);	/* past EOF too */
	check_bytes(f, PG, 100, RAM_PAGE, 0);

	/* The freed blocks are next: page 2's block first. */
	assert_int_equal(f->ops->alloc(f->priv, b, 0, PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 0, PG, 2 * PG);
	check_bytes(f, 2 * PG, 0, RAM_PAGE, 0);

	/* To a page boundary: page 1 goes whole, page 0 keeps all its bytes. */
	assert_int_equal(f->ops->set_size(f->priv, a, PG), 0);
	assert_int_equal(nr_owned(f, a), 1);
	check_bytes(f, 0, 0, RAM_PAGE, 0xaa);
	/* Inside the first page. */
	assert_int_equal(f->ops->set_size(f->priv, a, 1), 0);
	assert_int_equal(nr_owned(f, a), 1);
	check_bytes(f, 0, 0, 1, 0xaa);
	check_bytes(f, 0, 1, RAM_PAGE, 0);

	/* Blocks allocated past the size go when it shrinks, too. */
	assert_int_equal(f->ops->alloc(f->priv, a, 40 * PG, PG, &e), 0);
	assert_int_equal(nr_owned(f, a), 2);
	assert_int_equal(f->ops->set_size(f->priv, a, 0), 0);
	assert_int_equal(nr_owned(f, a), 0);

	assert_int_equal(f->ops->set_size(f->priv, a, (1ull << 40) + 1), -EFBIG);
	assert_int_equal(f->ops->get_size(f->priv, a, &size), 0);
	assert_int_equal(size, 0);
	assert_int_equal(f->ops->set_size(f->priv, a, 1ull << 40), 0);
	assert_int_equal(check_accounting(f), 1);
	f->ops->close(f->priv, a);
	f->ops->close(f->priv, b);
}

static void test_enospc(void **state)
{
	struct fix *f = *state;	/* 8 blocks */
	void *a = xopen(f, "a", PC_CREAT), *b = xopen(f, "b", PC_CREAT);
	struct pc_extent e, before;

	assert_int_equal(f->ops->alloc(f->priv, a, 0, 2 * PG, &e), 0);
	assert_int_equal(f->ops->alloc(f->priv, b, 2 * PG, PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 2 * PG, PG, 2 * PG);
	assert_int_equal(f->ops->set_size(f->priv, b, 8 * PG), 0);
	fill_block(f, 2 * PG, 0xbb);
	assert_int_equal(nr_free(f), 5);

	/* b needs 6 more for pages 0..6: -ENOSPC, and nothing moved. */
	memset(&e, 0x5a, sizeof(e));
	before = e;
	assert_int_equal(f->ops->alloc(f->priv, b, 0, 7 * PG, &e), -ENOSPC);
	assert_memory_equal(&e, &before, sizeof(e));
	assert_int_equal(nr_free(f), 5);
	assert_int_equal(nr_owned(f, b), 1);
	assert_int_equal(nr_owned(f, a), 2);
	assert_int_equal(f->ops->map(f->priv, b, 0, 8 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 0, 2 * PG, 0);
	assert_int_equal(f->ops->map(f->priv, b, 2 * PG, 8 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 2 * PG, PG, 2 * PG);
	check_bytes(f, 2 * PG, 0, RAM_PAGE, 0xbb);
	assert_int_equal(check_accounting(f), 3);

	/* Exactly 5 fits, and leaves the device full. */
	assert_int_equal(f->ops->alloc(f->priv, b, 0, 6 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 0, 2 * PG, 3 * PG);
	assert_int_equal(nr_free(f), 0);
	check_bytes(f, 2 * PG, 0, RAM_PAGE, 0xbb);
	assert_int_equal(f->ops->alloc(f->priv, a, 2 * PG, PG, &e), -ENOSPC);
	assert_int_equal(nr_owned(f, a), 2);
	/* Allocating what exists needs no space. */
	assert_int_equal(f->ops->alloc(f->priv, a, 0, 2 * PG, &e), 0);
	assert_int_equal(check_accounting(f), 8);

	/* One block back: one page fits, two do not. */
	assert_int_equal(f->ops->free(f->priv, b, 5 * PG, PG), 0);
	assert_int_equal(f->ops->alloc(f->priv, a, 2 * PG, 2 * PG, &e), -ENOSPC);
	assert_int_equal(nr_free(f), 1);
	assert_int_equal(f->ops->alloc(f->priv, a, 3 * PG, PG, &e), 0);
	assert_int_equal(check_accounting(f), 8);
	f->ops->close(f->priv, a);
	f->ops->close(f->priv, b);
}

static void test_unlink(void **state)
{
	struct fix *f = *state;
	void *a, *a2, *obj = NULL;
	struct pc_extent e;

	assert_int_equal(f->ops->unlink(f->priv, "a"), -ENOENT);
	a = xopen(f, "a", PC_CREAT);
	assert_int_equal(f->ops->alloc(f->priv, a, 0, 5 * PG, &e), 0);
	assert_int_equal(f->ops->unlink(f->priv, "a"), -EBUSY);
	a2 = xopen(f, "a", 0);		/* open twice */
	f->ops->close(f->priv, a);
	assert_int_equal(f->ops->unlink(f->priv, "a"), -EBUSY);
	assert_int_equal(nr_owned(f, a2), 5);
	f->ops->close(f->priv, a2);

	assert_int_equal(f->ops->unlink(f->priv, NULL), -EINVAL);
	assert_int_equal(f->ops->unlink(f->priv, "b"), -ENOENT);
	assert_int_equal(nr_free(f), SMALL_BLOCKS - 5);

	assert_int_equal(f->ops->unlink(f->priv, "a"), 0);
	assert_int_equal(nr_free(f), SMALL_BLOCKS);
	assert_null(f->ram->objs);
	assert_int_equal(f->ops->unlink(f->priv, "a"), -ENOENT);
	assert_int_equal(f->ops->open(f->priv, "a", 0, &obj), -ENOENT);
	/* Its blocks are next, lowest page first. */
	a = xopen(f, "a", PC_CREAT | PC_EXCL);
	assert_int_equal(nr_owned(f, a), 0);
	assert_int_equal(f->ops->alloc(f->priv, a, 0, 5 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 0, 5 * PG, 0);
	f->ops->close(f->priv, a);
	check_accounting(f);
}

static void test_reopen_keeps_data(void **state)
{
	struct fix *f = *state;
	void *a = xopen(f, "keep", PC_CREAT), *b = xopen(f, "other", PC_CREAT);
	struct pc_extent e;
	uint64_t size;

	assert_int_equal(f->ops->alloc(f->priv, b, 0, PG, &e), 0);
	assert_int_equal(f->ops->alloc(f->priv, a, 2 * PG, 2 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 2 * PG, 2 * PG, PG);
	fill_block(f, PG, 0x11);
	fill_block(f, 2 * PG, 0x22);
	assert_int_equal(f->ops->set_size(f->priv, a, 3 * PG + 7), 0);
	f->ops->close(f->priv, a);
	f->ops->close(f->priv, b);

	a = xopen(f, "keep", 0);
	assert_int_equal(f->ops->get_size(f->priv, a, &size), 0);
	assert_int_equal(size, 3 * PG + 7);
	assert_int_equal(f->ops->map(f->priv, a, 0, 8 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 0, 2 * PG, 0);
	assert_int_equal(f->ops->map(f->priv, a, 2 * PG, 8 * PG, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 2 * PG, 2 * PG, PG);
	check_bytes(f, PG, 0, RAM_PAGE, 0x11);
	check_bytes(f, 2 * PG, 0, RAM_PAGE, 0x22);
	f->ops->close(f->priv, a);
	assert_int_equal(check_accounting(f), 3);
}

/* ---- two threads allocate and free on their own objects ---- */

#define RACE_ITERS 20000
#define RACE_PAGES 32

struct racer {
	struct fix *f;
	pthread_barrier_t *start;
	const char *name;
	uint8_t tag;
	unsigned int seed;
	int errors;		/* failed ops or foreign bytes seen */
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	struct fix *f = r->f;
	uint8_t buf[RAM_PAGE];
	void *obj = NULL;
	int i;

	if (f->ops->open(f->priv, r->name, PC_CREAT, &obj)) {
		r->errors++;
		pthread_barrier_wait(r->start);
		return NULL;
	}
	/* map() answers holes past the size. */
	if (f->ops->set_size(f->priv, obj, RACE_PAGES * PG))
		r->errors++;
	pthread_barrier_wait(r->start);
	for (i = 0; i < RACE_ITERS; i++) {
		uint64_t pg = (uint64_t)rand_r(&r->seed) % RACE_PAGES;
		uint64_t n = 1 + (uint64_t)rand_r(&r->seed) % 4;
		struct pc_extent e;
		uint64_t p;

		n = PC_MIN(n, RACE_PAGES - pg);
		if (f->ops->alloc(f->priv, obj, pg * PG, n * PG, &e)) {
			r->errors++;
			break;
		}
		/* Stamp our blocks; a block also owned by the other thread shows. */
		for (p = pg; p < pg + n; p++) {
			if (f->ops->map(f->priv, obj, p * PG, PG, &e) ||
			    e.type != PC_EXTENT_MAPPED) {
				r->errors++;
				continue;
			}
			memset(buf, r->tag, sizeof(buf));
			f->ops->write(f->priv, obj, e.addr, buf, sizeof(buf));
		}
		for (p = pg; p < pg + n; p++) {
			if (f->ops->map(f->priv, obj, p * PG, PG, &e) ||
			    e.type != PC_EXTENT_MAPPED) {
				r->errors++;
				continue;
			}
			f->ops->read(f->priv, obj, e.addr, buf, sizeof(buf));
			if (buf[0] != r->tag || buf[RAM_PAGE - 1] != r->tag)
				r->errors++;
		}
		if (rand_r(&r->seed) % 2) {
			pg = (uint64_t)rand_r(&r->seed) % RACE_PAGES;
			n = PC_MIN(1 + (uint64_t)rand_r(&r->seed) % 6, RACE_PAGES - pg);
			if (f->ops->free(f->priv, obj, pg * PG, n * PG))
				r->errors++;
		}
	}
	f->ops->close(f->priv, obj);
	return NULL;
}

static void test_concurrent_alloc_free(void **state)
{
	struct fix *f = *state;
	pthread_barrier_t start;
	struct racer r[2] = {
		{ .f = f, .start = &start, .name = "t0", .tag = 0x10, .seed = 1 },
		{ .f = f, .start = &start, .name = "t1", .tag = 0x20, .seed = 2 },
	};
	pthread_t t[2];
	uint64_t owned;
	struct ram_obj *o;
	int i;

	assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, racer_main, &r[i]), 0);
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	pthread_barrier_destroy(&start);

	assert_int_equal(r[0].errors, 0);
	assert_int_equal(r[1].errors, 0);
	/* Each block exactly once, free or owned; owned + free == total. */
	owned = check_accounting(f);
	assert_int_equal(owned + nr_free(f), SMALL_BLOCKS);
	/* And each object's blocks still hold its own stamp. */
	for (o = f->ram->objs; o; o = o->next) {
		uint8_t tag = !strcmp(o->name, "t0") ? 0x10 : 0x20;
		uint64_t p;

		for (p = 0; p < RACE_PAGES; p++) {
			uint32_t blk = __ram_lookup(o, p);

			if (blk != RAM_NO_BLOCK)
				check_bytes(f, (uint64_t)blk * PG, 0, RAM_PAGE, tag);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_bad_input),
		cmocka_unit_test(test_new_enomem),
		cmocka_unit_test_setup_teardown(test_open_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_enomem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_new_is_hole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_then_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_enomem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lifo_reuse_zeroed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shrink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc, setup_tiny, teardown),
		cmocka_unit_test_setup_teardown(test_unlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_alloc_free, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
