/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* White-box tests of the page index (lib/index.c), built with 8-slot nodes. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "index.h"

#if PC_INDEX_SHIFT != 3
#error "test_index counts nodes by hand for 8-slot nodes: build it with -DPC_INDEX_SHIFT=3"
#endif

#define BIT(n) (UINT64_C(1) << (n))
#define NO_MARKS 0u

/*
 * Every pointer entry in these tests is an item stamped with the index it
 * is inserted at, so that any lookup, and the tree checker, can tell an
 * entry found at the wrong index.
 */
struct item {
	uint64_t index;
};

static struct item items[8192];
static unsigned int nr_items;

static void *mkitem(uint64_t index)
{
	struct item *it = &items[nr_items++ % PC_ARRAY_SIZE(items)];

	it->index = index;
	return it;
}

static uint64_t rng_next(uint64_t *state)
{
	/* splitmix64: deterministic for a given seed */
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sort and remove duplicates; returns the new count. */
static size_t sort_unique(uint64_t *keys, size_t n)
{
	size_t out = 0;

	qsort(keys, n, sizeof(*keys), cmp_u64);
	for (size_t i = 0; i < n; i++)
		if (!out || keys[out - 1] != keys[i])
			keys[out++] = keys[i];
	return out;
}

/* ---- The writer calls, each under the index lock ---- */

static int ins(struct pc_index *ix, uint64_t index, void *entry)
{
	int ret;

	pc_index_lock(ix);
	ret = __pc_index_insert(ix, index, entry);
	pc_index_unlock(ix);
	return ret;
}

static void *era(struct pc_index *ix, uint64_t index)
{
	void *old;

	pc_index_lock(ix);
	old = __pc_index_erase(ix, index);
	pc_index_unlock(ix);
	return old;
}

static void *repl(struct pc_index *ix, uint64_t index, void *entry)
{
	void *old;

	pc_index_lock(ix);
	old = __pc_index_replace(ix, index, entry);
	pc_index_unlock(ix);
	return old;
}

static void setm(struct pc_index *ix, uint64_t index, enum pc_mark mark)
{
	pc_index_lock(ix);
	__pc_index_set_mark(ix, index, mark);
	pc_index_unlock(ix);
}

static void clrm(struct pc_index *ix, uint64_t index, enum pc_mark mark)
{
	pc_index_lock(ix);
	__pc_index_clear_mark(ix, index, mark);
	pc_index_unlock(ix);
}

static unsigned int marks_of(struct pc_index *ix, uint64_t index)
{
	unsigned int bits = 0;

	for (int m = 0; m < PC_MARK_COUNT; m++)
		if (pc_index_get_mark(ix, index, m))
			bits |= 1u << m;
	return bits;
}

/* Nodes allocated and not yet freed, once every queued RCU callback has run. */
static long nodes_live(void)
{
	pc_rcu_barrier();
	return __atomic_load_n(&pc_index_nodes_live, __ATOMIC_RELAXED);
}

/* ---- Tree checker: walks the nodes through a mirror of their layout ---- */

/* Must match struct pc_index_node in lib/index.c; test_node_layout checks the size. */
struct mirror_node {
	uint8_t shift;
	uint8_t offset;
	uint16_t count;
	struct mirror_node *parent;
	void *slots[PC_INDEX_FANOUT];
	uint64_t marks[PC_MARK_COUNT][(PC_INDEX_FANOUT + 63) / 64];
	struct rcu_head rcu;
};

static bool is_node(const void *p)
{
	return ((uintptr_t)p & 3) == 2;
}

static const struct mirror_node *to_node(const void *p)
{
	return (const struct mirror_node *)((uintptr_t)p - 2);
}

static unsigned int slot_marks(const struct mirror_node *node, unsigned int i)
{
	unsigned int bits = 0;

	for (unsigned int m = 0; m < PC_MARK_COUNT; m++)
		if ((node->marks[m][i / 64] >> (i % 64)) & 1)
			bits |= 1u << m;
	return bits;
}

static void check_entry(const void *entry, uint64_t index)
{
	assert_non_null(entry);
	assert_false(is_node(entry));
	if (!pc_index_is_value(entry))
		assert_int_equal(((const struct item *)entry)->index, index);
}

/* Checks one subtree; returns the marks present at or below it. */
static unsigned int check_node(const struct mirror_node *node, const struct mirror_node *parent,
			       unsigned int offset, uint64_t base, uint64_t *entries,
			       uint64_t *nodes)
{
	unsigned int below = 0, used = 0;

	(*nodes)++;
	assert_int_equal((uintptr_t)node % 64, 0);
	assert_ptr_equal(node->parent, parent);
	if (parent) {
		assert_int_equal(node->offset, offset);
		assert_int_equal(node->shift + PC_INDEX_SHIFT, parent->shift);
	}
#if PC_INDEX_FANOUT < 64
	/* No bits beyond the last slot. */
	for (unsigned int m = 0; m < PC_MARK_COUNT; m++)
		assert_int_equal(node->marks[m][0] >> PC_INDEX_FANOUT, 0);
#endif
	for (unsigned int i = 0; i < PC_INDEX_FANOUT; i++) {
		const void *slot = node->slots[i];
		unsigned int here = slot_marks(node, i);
		uint64_t index = base | ((uint64_t)i << node->shift);

		if (!slot) {
			assert_int_equal(here, NO_MARKS);
			continue;
		}
		used++;
		if (node->shift) {
			/* Invariant 3, both ways. */
			assert_true(is_node(slot));
			assert_int_equal(check_node(to_node(slot), node, i, index, entries, nodes),
					 here);
		} else {
			check_entry(slot, index);
			(*entries)++;
		}
		below |= here;
	}
	assert_int_equal(node->count, used);
	assert_true(used > 0);		/* invariant 2: empty nodes are freed */
	return below;
}

/* Every structural invariant of index.h, plus the counters. */
static void check_tree(struct pc_index *ix)
{
	uint64_t entries = 0, nodes = 0;
	const void *root = ix->root;

	if (root) {
		const struct mirror_node *node = to_node(root);

		/* Invariant 1: never an entry, even index 0 alone. */
		assert_true(is_node(root));
		check_node(node, NULL, 0, 0, &entries, &nodes);
		assert_true(node->shift <= 63 / PC_INDEX_SHIFT * PC_INDEX_SHIFT);
		/* Invariants 2 and 4: only a leaf may be a root that uses slot 0 alone. */
		if (node->count == 1 && node->slots[0])
			assert_int_equal(node->shift, 0);
	}
	assert_int_equal(entries, ix->nr_entries);
	assert_int_equal(nodes, ix->nr_nodes);
}

/*
 * The node count of a minimal-height tree holding the sorted @keys: one node
 * per distinct index prefix at each level up to the root, so at least one
 * leaf, even for index 0 alone.
 */
static uint64_t expected_nodes(const uint64_t *keys, size_t n)
{
	uint64_t total = 0;

	if (!n)
		return 0;
	for (unsigned int shift = 0;; shift += PC_INDEX_SHIFT) {
		unsigned int bits = shift + PC_INDEX_SHIFT;

		if (bits >= 64)		/* the top level: one root */
			return total + 1;
		for (size_t i = 0; i < n; i++)
			if (!i || (keys[i] >> bits) != (keys[i - 1] >> bits))
				total++;
		if (!(keys[n - 1] >> bits))
			return total;
	}
}

/* ---- Snapshots: everything a reader can see ---- */

#define SNAP_MAX 1024

struct snap {
	size_t n;
	uint64_t index[SNAP_MAX];
	void *entry[SNAP_MAX];
	unsigned int marks[SNAP_MAX];
	uint64_t nr_entries, nr_nodes;
};

static void take_snap(struct pc_index *ix, struct snap *s)
{
	uint64_t first = 0;
	bool done = false;

	s->n = 0;
	while (!done) {
		unsigned int got = pc_index_gang(ix, &first, UINT64_MAX, PC_MARK_NONE,
						 &s->entry[s->n], &s->index[s->n], 16, &done);

		for (unsigned int i = 0; i < got; i++)
			s->marks[s->n + i] = marks_of(ix, s->index[s->n + i]);
		s->n += got;
		assert_true(s->n <= SNAP_MAX - 16);
	}
	s->nr_entries = ix->nr_entries;
	s->nr_nodes = ix->nr_nodes;
}

static void assert_snap_equal(const struct snap *a, const struct snap *b)
{
	assert_int_equal(a->n, b->n);
	assert_int_equal(a->nr_entries, b->nr_entries);
	assert_int_equal(a->nr_nodes, b->nr_nodes);
	for (size_t i = 0; i < a->n; i++) {
		assert_int_equal(a->index[i], b->index[i]);
		assert_ptr_equal(a->entry[i], b->entry[i]);
		assert_int_equal(a->marks[i], b->marks[i]);
	}
}

/* Erase everything in @ix, which holds @keys, and check the tree is gone. */
static void erase_all(struct pc_index *ix, const uint64_t *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_non_null(era(ix, keys[i]));
	assert_null(ix->root);
	assert_int_equal(ix->nr_entries, 0);
	assert_int_equal(ix->nr_nodes, 0);
}

/* ---- 0. The mirror matches the real node ---- */

static void test_node_layout(void **state)
{
	(void)state;
	assert_int_equal(pc_index_node_size(), (sizeof(struct mirror_node) + 63) & ~(size_t)63);
}

/* ---- pc_index_slot: a re-read of the slot is a complete re-check ---- */

static void test_slot(void **state)
{
	long base = nodes_live();
	struct pc_index ix;
	void *a = mkitem(9), *b = mkitem(10), *c = mkitem(BIT(40));
	void **slot;

	(void)state;
	pc_index_init(&ix);
	assert_null(pc_index_slot(&ix, 9));		/* empty tree */
	assert_int_equal(ins(&ix, 9, a), 0);
	slot = pc_index_slot(&ix, 9);
	assert_non_null(slot);
	assert_ptr_equal(*slot, a);
	assert_null(pc_index_slot(&ix, 64));		/* no leaf covers it */
	assert_null(pc_index_slot(&ix, BIT(40)));	/* past the height */
	/* Growth and inserts elsewhere leave the leaf, and so the slot, in place. */
	assert_int_equal(ins(&ix, 10, b), 0);
	assert_int_equal(ins(&ix, BIT(40), c), 0);
	assert_ptr_equal(pc_index_slot(&ix, 9), slot);
	assert_ptr_equal(pc_index_slot(&ix, 10), slot + 1);
	/* Replace writes the same slot. */
	assert_ptr_equal(repl(&ix, 9, b), a);
	assert_ptr_equal(*slot, b);
	assert_ptr_equal(repl(&ix, 9, a), b);
	/* Erasing the other entries empties the leaf only when 9 goes too. */
	assert_ptr_equal(era(&ix, BIT(40)), c);
	assert_ptr_equal(era(&ix, 10), b);
	assert_ptr_equal(pc_index_slot(&ix, 9), slot);
	/* A reader still holding the slot of a retired leaf sees NULL, not a stale entry. */
	pc_rcu_read_lock();
	slot = pc_index_slot(&ix, 9);
	assert_ptr_equal(era(&ix, 9), a);
	assert_null(pc_rcu_dereference(*slot));
	assert_null(pc_index_slot(&ix, 9));
	pc_rcu_read_unlock();
	pc_index_destroy(&ix);
	assert_int_equal(nodes_live(), base);
}

/* ---- 1. Empty tree ---- */

static void test_empty(void **state)
{
	static const uint64_t probes[] = { 0, 1, 7, 8, BIT(32), UINT64_MAX };
	struct pc_index ix;
	void *entries[3];
	uint64_t indices[3], first;
	bool done = false;

	(void)state;
	pc_index_init(&ix);
	for (size_t i = 0; i < PC_ARRAY_SIZE(probes); i++) {
		assert_null(pc_index_load(&ix, probes[i]));
		assert_int_equal(marks_of(&ix, probes[i]), NO_MARKS);
		for (int m = PC_MARK_NONE; m < PC_MARK_COUNT; m++) {
			first = probes[i];
			assert_null(pc_index_find(&ix, &first, UINT64_MAX, m));
			assert_int_equal(first, probes[i]);
			assert_int_equal(pc_index_gang(&ix, &first, UINT64_MAX, m, entries, indices,
						       3, &done), 0);
			assert_true(done);
			assert_int_equal(first, probes[i]);
		}
		assert_null(era(&ix, probes[i]));
	}
	check_tree(&ix);
	assert_null(ix.root);
	pc_index_destroy(&ix);
}

/* ---- 2. Single entries ---- */

static const struct {
	uint64_t index;
	uint64_t nodes;		/* for this entry alone: a chain from its top level */
} singles[] = {
	{ 0, 1 },		/* one leaf, as root */
	{ 1, 1 },
	{ 7, 1 },
	{ 8, 2 },
	{ 63, 2 },
	{ 64, 3 },
	{ 4095, 4 },		/* 12 bits */
	{ BIT(32), 11 },	/* 33 bits: shifts 0..30 */
	{ BIT(63), 22 },	/* 64 bits: shifts 0..63 */
	{ UINT64_MAX, 22 },
};

static void test_single(void **state)
{
	long base = nodes_live();
	struct pc_index ix;

	(void)state;
	pc_index_init(&ix);
	for (size_t i = 0; i < PC_ARRAY_SIZE(singles); i++) {
		uint64_t index = singles[i].index, first = 0;
		void *p = mkitem(index), *q = mkitem(index);
		void *v0 = pc_index_mkvalue(0), *vmax = pc_index_mkvalue(BIT(63) - 1);

		assert_int_equal(ins(&ix, index, p), 0);
		assert_ptr_equal(pc_index_load(&ix, index), p);
		assert_int_equal(ix.nr_nodes, singles[i].nodes);
		assert_int_equal(ix.nr_entries, 1);
		check_tree(&ix);
		if (index)
			assert_null(pc_index_load(&ix, index - 1));
		if (index != UINT64_MAX)
			assert_null(pc_index_load(&ix, index + 1));
		assert_ptr_equal(pc_index_find(&ix, &first, UINT64_MAX, PC_MARK_NONE), p);
		assert_int_equal(first, index);

		assert_int_equal(ins(&ix, index, q), -EEXIST);
		assert_int_equal(ins(&ix, index, v0), -EEXIST);
		assert_ptr_equal(pc_index_load(&ix, index), p);
		/* Not entries: NULL, and anything tagged like an internal node. */
		assert_int_equal(ins(&ix, index ^ 1, NULL), -EINVAL);
		assert_int_equal(ins(&ix, index ^ 1, (void *)(uintptr_t)0x1002), -EINVAL);

		assert_ptr_equal(repl(&ix, index, q), p);
		assert_ptr_equal(pc_index_load(&ix, index), q);
		assert_ptr_equal(era(&ix, index), q);
		assert_null(era(&ix, index));
		assert_null(pc_index_load(&ix, index));
		assert_null(ix.root);
		assert_int_equal(ix.nr_nodes, 0);
		assert_int_equal(ix.nr_entries, 0);

		/* Value entries round-trip, at both ends of their range. */
		assert_int_equal(ins(&ix, index, v0), 0);
		assert_true(pc_index_is_value(pc_index_load(&ix, index)));
		assert_int_equal(pc_index_value(pc_index_load(&ix, index)), 0);
		assert_ptr_equal(repl(&ix, index, vmax), v0);
		assert_int_equal(pc_index_value(pc_index_load(&ix, index)), BIT(63) - 1);
		check_tree(&ix);
		assert_ptr_equal(era(&ix, index), vmax);
		assert_null(ix.root);
	}

	/* All of them at once, then erased one by one with the others intact. */
	for (size_t i = 0; i < PC_ARRAY_SIZE(singles); i++)
		assert_int_equal(ins(&ix, singles[i].index, mkitem(singles[i].index)), 0);
	check_tree(&ix);
	for (size_t i = 0; i < PC_ARRAY_SIZE(singles); i++) {
		assert_non_null(era(&ix, singles[i].index));
		check_tree(&ix);
		for (size_t j = 0; j < PC_ARRAY_SIZE(singles); j++) {
			const struct item *it = pc_index_load(&ix, singles[j].index);

			if (j <= i) {
				assert_null(it);
			} else {
				assert_non_null(it);
				assert_int_equal(it->index, singles[j].index);
			}
		}
	}
	assert_null(ix.root);
	assert_int_equal(nodes_live(), base);
	pc_index_destroy(&ix);
}

/* ---- 3. Node counting ---- */

static void insert_keys(struct pc_index *ix, const uint64_t *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ins(ix, keys[i], mkitem(keys[i])), 0);
	check_tree(ix);
}

static void test_node_count(void **state)
{
	long base = nodes_live();
	struct pc_index ix;
	uint64_t keys[512];
	static const struct {
		uint64_t keys[4];
		size_t n;
		uint64_t nodes;
	} shapes[] = {
		{ { 0 }, 1, 1 },			/* one leaf */
		{ { 1 }, 1, 1 },
		{ { 0, 7 }, 2, 1 },			/* one leaf */
		{ { 0, 8 }, 2, 3 },			/* a shift-3 root over two leaves */
		{ { 0, BIT(63) }, 2, 43 },		/* root at 63, two chains of 21 */
		{ { UINT64_MAX, UINT64_MAX - 1 }, 2, 22 },	/* one chain */
		{ { UINT64_MAX, UINT64_MAX - 8 }, 2, 23 },	/* two leaves */
		{ { BIT(63), UINT64_MAX }, 2, 42 },	/* one root slot, split at shift 60 */
	};

	(void)state;
	pc_index_init(&ix);
	for (size_t s = 0; s < PC_ARRAY_SIZE(shapes); s++) {
		insert_keys(&ix, shapes[s].keys, shapes[s].n);
		assert_int_equal(ix.nr_nodes, shapes[s].nodes);
		assert_int_equal(expected_nodes(shapes[s].keys, shapes[s].n),
				 shapes[s].nodes);
		assert_int_equal(nodes_live() - base, shapes[s].nodes);
		erase_all(&ix, shapes[s].keys, shapes[s].n);
		assert_int_equal(nodes_live(), base);
	}

	/* 0..63: 8 leaves under one shift-3 root. */
	for (unsigned int i = 0; i < 64; i++)
		keys[i] = i;
	insert_keys(&ix, keys, 64);
	assert_int_equal(ix.nr_nodes, 9);
	/* Emptying leaf 0 frees it; the root keeps slots 1..7. */
	for (unsigned int i = 0; i < 8; i++)
		assert_non_null(era(&ix, i));
	assert_int_equal(ix.nr_nodes, 8);
	/* Only leaf 7 left: the root uses slot 7 alone, so it cannot shrink. */
	for (unsigned int i = 8; i < 56; i++)
		assert_non_null(era(&ix, i));
	assert_int_equal(ix.nr_nodes, 2);
	check_tree(&ix);
	erase_all(&ix, keys + 56, 8);
	assert_int_equal(nodes_live(), base);

	/* 0..511: 64 leaves, 8 nodes above them, 1 root. */
	for (unsigned int i = 0; i < 512; i++)
		keys[i] = i;
	insert_keys(&ix, keys, 512);
	assert_int_equal(ix.nr_nodes, 73);
	assert_int_equal(nodes_live() - base, 73);
	/* Erase from the top down: the tree shrinks on the way. */
	for (unsigned int i = 512; i-- > 1;) {
		assert_non_null(era(&ix, i));
		if (i == 64)
			assert_int_equal(ix.nr_nodes, 9);
		if (i == 8)
			assert_int_equal(ix.nr_nodes, 1);
	}
	/* Index 0 alone keeps its leaf as root; erasing it prunes the leaf. */
	assert_int_equal(ix.nr_nodes, 1);
	assert_true(is_node(ix.root));
	assert_int_equal(to_node(ix.root)->shift, 0);
	assert_int_equal(nodes_live() - base, 1);
	assert_non_null(era(&ix, 0));
	assert_null(ix.root);
	assert_int_equal(ix.nr_nodes, 0);
	assert_int_equal(nodes_live(), base);
	pc_index_destroy(&ix);

	/* Destroy frees a populated tree too. */
	pc_index_init(&ix);
	insert_keys(&ix, shapes[4].keys, shapes[4].n);
	pc_index_destroy(&ix);
	assert_null(ix.root);
	assert_int_equal(ix.nr_nodes, 0);
	assert_int_equal(ix.nr_entries, 0);
	assert_int_equal(nodes_live(), base);
}

/* ---- 4. Shrink ---- */

static void test_shrink(void **state)
{
	long base = nodes_live();
	struct pc_index ix;
	void *p0 = mkitem(0), *p5 = mkitem(5), *p8 = mkitem(8), *p9 = mkitem(9);
	uint64_t big = BIT(40);

	(void)state;
	pc_index_init(&ix);
	/* Index 0 alone is one leaf, and the tree shrinks back to that leaf. */
	assert_int_equal(ins(&ix, 0, p0), 0);
	assert_int_equal(ix.nr_nodes, 1);
	assert_true(is_node(ix.root));
	assert_int_equal(to_node(ix.root)->shift, 0);
	assert_ptr_equal(to_node(ix.root)->slots[0], p0);
	assert_int_equal(ins(&ix, big, mkitem(big)), 0);
	assert_int_equal(ix.nr_nodes, 2 * (39 / 3) + 1);	/* top shift 39 */
	check_tree(&ix);
	assert_non_null(era(&ix, big));
	assert_int_equal(ix.nr_nodes, 1);
	assert_int_equal(to_node(ix.root)->shift, 0);
	assert_ptr_equal(to_node(ix.root)->slots[0], p0);
	assert_ptr_equal(pc_index_load(&ix, 0), p0);
	assert_null(pc_index_load(&ix, big));
	check_tree(&ix);
	assert_int_equal(nodes_live() - base, 1);

	/* Down to the one leaf that holds 0 and 5. */
	assert_int_equal(ins(&ix, 5, p5), 0);
	assert_int_equal(ins(&ix, UINT64_MAX, mkitem(UINT64_MAX)), 0);
	assert_int_equal(ix.nr_nodes, 1 + 21 + 21);
	assert_non_null(era(&ix, UINT64_MAX));
	assert_int_equal(ix.nr_nodes, 1);
	assert_ptr_equal(pc_index_load(&ix, 5), p5);
	check_tree(&ix);
	/* The leaf stays as root when 5 goes, and goes with 0. */
	assert_ptr_equal(era(&ix, 5), p5);
	assert_int_equal(ix.nr_nodes, 1);
	assert_int_equal(to_node(ix.root)->shift, 0);
	assert_ptr_equal(pc_index_load(&ix, 0), p0);
	check_tree(&ix);
	assert_ptr_equal(era(&ix, 0), p0);
	assert_null(ix.root);
	assert_int_equal(ix.nr_nodes, 0);
	assert_int_equal(nodes_live(), base);

	/* Down to a shift-3 root whose only leaf is in slot 1: no further. */
	assert_int_equal(ins(&ix, 8, p8), 0);
	assert_int_equal(ins(&ix, 9, p9), 0);
	assert_int_equal(ins(&ix, BIT(50), mkitem(BIT(50))), 0);
	assert_non_null(era(&ix, BIT(50)));
	assert_int_equal(ix.nr_nodes, 2);
	check_tree(&ix);
	assert_ptr_equal(pc_index_load(&ix, 9), p9);
	assert_ptr_equal(era(&ix, 8), p8);
	assert_ptr_equal(era(&ix, 9), p9);
	assert_null(ix.root);

	/* A marked index 0 keeps its leaf and its mark; clearing the mark changes no node. */
	assert_int_equal(ins(&ix, 0, p0), 0);
	assert_int_equal(ins(&ix, 1000, mkitem(1000)), 0);
	setm(&ix, 0, PC_MARK_TOWRITE);
	assert_non_null(era(&ix, 1000));
	assert_int_equal(ix.nr_nodes, 1);
	assert_true(pc_index_get_mark(&ix, 0, PC_MARK_TOWRITE));
	check_tree(&ix);
	clrm(&ix, 0, PC_MARK_TOWRITE);
	assert_int_equal(ix.nr_nodes, 1);
	assert_int_equal(to_node(ix.root)->shift, 0);
	assert_false(pc_index_get_mark(&ix, 0, PC_MARK_TOWRITE));
	check_tree(&ix);
	assert_ptr_equal(era(&ix, 0), p0);
	assert_null(ix.root);
	assert_int_equal(nodes_live(), base);
	pc_index_destroy(&ix);
}

/* ---- 5. Marks ---- */

static void *find_mark(struct pc_index *ix, uint64_t from, uint64_t last, int mark,
		       uint64_t *found)
{
	*found = from;
	return pc_index_find(ix, found, last, mark);
}

static void assert_find(struct pc_index *ix, uint64_t from, uint64_t last, int mark,
			uint64_t expect)
{
	uint64_t at;
	const struct item *it = find_mark(ix, from, last, mark, &at);

	assert_non_null(it);
	assert_int_equal(at, expect);
	assert_int_equal(it->index, expect);
}

static void assert_find_none(struct pc_index *ix, uint64_t from, uint64_t last, int mark)
{
	uint64_t at;

	assert_null(find_mark(ix, from, last, mark, &at));
	assert_int_equal(at, from);
}

static void test_marks(void **state)
{
	static const uint64_t keys[] = {
		0, 5, 7, 8, 63, 64, 1000, BIT(33), BIT(60) + 5, BIT(63), UINT64_MAX,
	};
	static const struct {
		uint64_t index;
		unsigned int marks;
	} marked[] = {
		{ 0, 1u << PC_MARK_WRITEBACK },
		{ 7, 1u << PC_MARK_DIRTY },
		{ 64, 1u << PC_MARK_DIRTY | 1u << PC_MARK_TOWRITE },
		{ BIT(60) + 5, 1u << PC_MARK_TOWRITE },
		{ BIT(63), 1u << PC_MARK_DIRTY },
		{ UINT64_MAX, 1u << PC_MARK_WRITEBACK },
	};
	long base = nodes_live();
	struct pc_index ix;
	void *q;

	(void)state;
	pc_index_init(&ix);
	/* A lone index 0 has its leaf already: marks on it change no node. */
	assert_int_equal(ins(&ix, 0, mkitem(0)), 0);
	assert_int_equal(ix.nr_nodes, 1);
	setm(&ix, 0, PC_MARK_DIRTY);
	assert_int_equal(ix.nr_nodes, 1);
	assert_true(pc_index_get_mark(&ix, 0, PC_MARK_DIRTY));
	assert_find(&ix, 0, 0, PC_MARK_DIRTY, 0);
	check_tree(&ix);
	clrm(&ix, 0, PC_MARK_DIRTY);
	assert_int_equal(ix.nr_nodes, 1);
	assert_false(pc_index_get_mark(&ix, 0, PC_MARK_DIRTY));
	check_tree(&ix);
	assert_non_null(era(&ix, 0));

	for (size_t i = 0; i < PC_ARRAY_SIZE(keys); i++)
		assert_int_equal(ins(&ix, keys[i], mkitem(keys[i])), 0);
	for (size_t i = 0; i < PC_ARRAY_SIZE(marked); i++)
		for (int m = 0; m < PC_MARK_COUNT; m++)
			if (marked[i].marks & 1u << m)
				setm(&ix, marked[i].index, m);
	check_tree(&ix);
	for (size_t i = 0; i < PC_ARRAY_SIZE(keys); i++) {
		unsigned int expect = 0;

		for (size_t j = 0; j < PC_ARRAY_SIZE(marked); j++)
			if (marked[j].index == keys[i])
				expect = marked[j].marks;
		assert_int_equal(marks_of(&ix, keys[i]), expect);
	}
	/* No marks where there is no entry, nor for an unknown mark. */
	assert_int_equal(marks_of(&ix, 6), NO_MARKS);
	assert_false(pc_index_get_mark(&ix, 7, PC_MARK_COUNT));
	assert_false(pc_index_get_mark(&ix, 7, (enum pc_mark)PC_MARK_NONE));

	/* Across leaves, across deep gaps, bounded by last. */
	assert_find(&ix, 0, UINT64_MAX, PC_MARK_DIRTY, 7);
	assert_find(&ix, 8, UINT64_MAX, PC_MARK_DIRTY, 64);
	assert_find(&ix, 65, UINT64_MAX, PC_MARK_DIRTY, BIT(63));
	assert_find_none(&ix, BIT(63) + 1, UINT64_MAX, PC_MARK_DIRTY);
	assert_find_none(&ix, 65, BIT(63) - 1, PC_MARK_DIRTY);
	assert_find(&ix, 65, BIT(63), PC_MARK_DIRTY, BIT(63));
	assert_find(&ix, 0, UINT64_MAX, PC_MARK_WRITEBACK, 0);
	assert_find(&ix, 1, UINT64_MAX, PC_MARK_WRITEBACK, UINT64_MAX);
	assert_find(&ix, UINT64_MAX, UINT64_MAX, PC_MARK_WRITEBACK, UINT64_MAX);
	assert_find(&ix, 0, UINT64_MAX, PC_MARK_TOWRITE, 64);
	assert_find(&ix, 65, UINT64_MAX, PC_MARK_TOWRITE, BIT(60) + 5);
	assert_find(&ix, 1001, UINT64_MAX, PC_MARK_NONE, BIT(33));
	assert_find_none(&ix, 1, 4, PC_MARK_NONE);
	assert_find_none(&ix, 9, 62, PC_MARK_NONE);
	assert_find_none(&ix, 0, UINT64_MAX, PC_MARK_COUNT);
	assert_find_none(&ix, 9, 8, PC_MARK_NONE);		/* first > last */

	/* Clearing the last mark below a subtree clears it all the way up. */
	clrm(&ix, 64, PC_MARK_DIRTY);
	assert_true(pc_index_get_mark(&ix, 64, PC_MARK_TOWRITE));
	assert_find(&ix, 8, UINT64_MAX, PC_MARK_DIRTY, BIT(63));
	check_tree(&ix);
	clrm(&ix, 7, PC_MARK_DIRTY);
	clrm(&ix, BIT(63), PC_MARK_DIRTY);
	clrm(&ix, BIT(63), PC_MARK_DIRTY);	/* already clear: nothing changes */
	assert_find_none(&ix, 0, UINT64_MAX, PC_MARK_DIRTY);
	check_tree(&ix);		/* no DIRTY bit left in any node */
	assert_find(&ix, 0, UINT64_MAX, PC_MARK_TOWRITE, 64);

	/* Replace keeps marks. */
	q = mkitem(64);
	assert_non_null(repl(&ix, 64, q));
	assert_true(pc_index_get_mark(&ix, 64, PC_MARK_TOWRITE));
	assert_ptr_equal(pc_index_find(&ix, &(uint64_t){ 0 }, UINT64_MAX, PC_MARK_TOWRITE), q);

	/* Erase clears marks, and a new entry there starts unmarked. */
	assert_non_null(era(&ix, 64));
	assert_non_null(era(&ix, UINT64_MAX));
	check_tree(&ix);
	assert_find(&ix, 0, UINT64_MAX, PC_MARK_TOWRITE, BIT(60) + 5);
	assert_find_none(&ix, 1, UINT64_MAX, PC_MARK_WRITEBACK);
	assert_int_equal(ins(&ix, 64, mkitem(64)), 0);
	assert_int_equal(ins(&ix, UINT64_MAX, mkitem(UINT64_MAX)), 0);
	assert_int_equal(marks_of(&ix, 64), NO_MARKS);
	assert_int_equal(marks_of(&ix, UINT64_MAX), NO_MARKS);

	/* Growth carries marks into the new root levels. */
	pc_index_destroy(&ix);
	pc_index_init(&ix);
	assert_int_equal(ins(&ix, 3, mkitem(3)), 0);
	setm(&ix, 3, PC_MARK_WRITEBACK);
	assert_int_equal(ins(&ix, BIT(45), mkitem(BIT(45))), 0);
	check_tree(&ix);
	assert_find(&ix, 0, UINT64_MAX, PC_MARK_WRITEBACK, 3);
	pc_index_destroy(&ix);
	assert_int_equal(nodes_live(), base);
}

/* ---- 6. Gang ---- */

/* A deterministic sparse set: dense runs, random spots, both ends. */
static size_t make_keys(uint64_t *keys, size_t max, uint64_t seed)
{
	size_t n = 0;

	while (n + 40 < max) {
		uint64_t r = rng_next(&seed), at;

		switch (r % 5) {
		case 0:		/* a run of up to 20 */
			at = rng_next(&seed) >> (rng_next(&seed) % 64);
			for (unsigned int i = 0; i < r % 20 && at + i >= at; i++)
				keys[n++] = at + i;
			break;
		case 1:
			keys[n++] = rng_next(&seed) % 4096;
			break;
		case 2:
			keys[n++] = UINT64_MAX - rng_next(&seed) % 100;
			break;
		default:
			keys[n++] = rng_next(&seed) >> (rng_next(&seed) % 64);
			break;
		}
	}
	keys[n++] = 0;
	keys[n++] = UINT64_MAX;
	return sort_unique(keys, n);
}

/* Gang over [first, last] in batches of 3; compares with the sorted @keys. */
static void check_gang(struct pc_index *ix, const uint64_t *keys, size_t n, uint64_t first,
		       uint64_t last, int mark, const bool *marked)
{
	size_t k = 0, calls = 0;
	bool done = false;

	while (!done) {
		void *entries[3];
		uint64_t indices[3], before = first;
		unsigned int got;

		got = pc_index_gang(ix, &first, last, mark, entries, indices, 3, &done);

		assert_true(++calls <= n + 2);
		assert_true(got <= 3);
		if (got < 3)
			assert_true(done);
		if (!got)
			assert_int_equal(first, before);
		for (unsigned int i = 0; i < got; i++) {
			/* The next expected key in range (with the mark). */
			while (k < n && (keys[k] < before || (marked && !marked[k])))
				k++;
			assert_true(k < n);
			assert_int_equal(indices[i], keys[k]);
			assert_true(indices[i] <= last);
			check_entry(entries[i], indices[i]);
			k++;
		}
		if (got && indices[got - 1] == UINT64_MAX) {
			assert_int_equal(first, UINT64_MAX);
			assert_true(done);
		} else if (got) {
			assert_int_equal(first, indices[got - 1] + 1);
			/* A full batch is "done" exactly when it ended on last. */
			if (got == 3)
				assert_int_equal(done, indices[got - 1] == last);
		}
	}
	/* Nothing in range was left out. */
	while (k < n && (keys[k] < first || (marked && !marked[k])))
		k++;
	assert_true(k == n || keys[k] > last);
}

static void test_gang(void **state)
{
	static uint64_t keys[2048];
	static bool marked[2048];
	long base = nodes_live();
	uint64_t seed = 42;
	struct pc_index ix;
	size_t n = make_keys(keys, PC_ARRAY_SIZE(keys), 7);

	(void)state;
	pc_index_init(&ix);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(ins(&ix, keys[i], mkitem(keys[i])), 0);
		marked[i] = rng_next(&seed) % 3 == 0;
		if (marked[i])
			setm(&ix, keys[i], PC_MARK_WRITEBACK);
	}
	check_tree(&ix);
	assert_int_equal(ix.nr_nodes, expected_nodes(keys, n));

	check_gang(&ix, keys, n, 0, UINT64_MAX, PC_MARK_NONE, NULL);
	check_gang(&ix, keys, n, 0, UINT64_MAX, PC_MARK_WRITEBACK, marked);
	check_gang(&ix, keys, n, UINT64_MAX, UINT64_MAX, PC_MARK_NONE, NULL);
	check_gang(&ix, keys, n, UINT64_MAX - 50, UINT64_MAX, PC_MARK_NONE, NULL);
	check_gang(&ix, keys, n, UINT64_MAX - 50, UINT64_MAX, PC_MARK_WRITEBACK, marked);
	check_gang(&ix, keys, n, 0, 0, PC_MARK_NONE, NULL);
	check_gang(&ix, keys, n, 1, 4095, PC_MARK_NONE, NULL);
	check_gang(&ix, keys, n, 0, UINT64_MAX, PC_MARK_DIRTY, (bool[2048]){ false });
	for (unsigned int r = 0; r < 300; r++) {
		uint64_t a = rng_next(&seed), b = rng_next(&seed);
		int mark = r % 2 ? PC_MARK_WRITEBACK : PC_MARK_NONE;

		if (r % 3 == 0)
			a = keys[a % n] - (r % 4 == 0);	/* start on or just before a key */
		if (r % 5 == 0)
			b = UINT64_MAX;
		if (a > b) {
			uint64_t t = a;

			a = b;
			b = t;
		}
		check_gang(&ix, keys, n, a, b, mark, mark == PC_MARK_NONE ? NULL : marked);
	}
	/* A zero-length request neither moves first nor claims the end. */
	{
		uint64_t first = 5;
		bool done = true;

		assert_int_equal(pc_index_gang(&ix, &first, UINT64_MAX, PC_MARK_NONE, NULL, NULL,
					       0, &done), 0);
		assert_int_equal(first, 5);
		assert_false(done);
	}
	pc_index_destroy(&ix);
	assert_int_equal(nodes_live(), base);
}

/* ---- 7. Allocation failure ---- */

static long alloc_calls, fail_at = -1;

/* Fails the fail_at-th allocation (counting from 0) since alloc_calls was reset. */
static bool fail_nth(void)
{
	return alloc_calls++ == fail_at;
}

static void check_enomem(struct pc_index *ix, uint64_t index, long need)
{
	struct snap *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
	long live = nodes_live();
	void *p = mkitem(index);

	assert_non_null(before);
	assert_non_null(after);
	take_snap(ix, before);
	pc_index_fail_hook = fail_nth;
	for (long j = 0; j < need; j++) {
		alloc_calls = 0;
		fail_at = j;
		assert_int_equal(ins(ix, index, p), -ENOMEM);
		assert_int_equal(alloc_calls, j + 1);	/* stops at the first failure */
		take_snap(ix, after);
		assert_snap_equal(before, after);
		check_tree(ix);
		assert_int_equal(nodes_live(), live);
	}
	/* The same insert with no failure uses exactly @need nodes. */
	alloc_calls = 0;
	fail_at = -1;
	assert_int_equal(ins(ix, index, p), 0);
	pc_index_fail_hook = NULL;
	assert_int_equal(alloc_calls, need);
	assert_int_equal(ix->nr_nodes, before->nr_nodes + (uint64_t)need);
	assert_int_equal(nodes_live(), live + need);
	assert_ptr_equal(pc_index_load(ix, index), p);
	check_tree(ix);
	free(before);
	free(after);
}

static void test_enomem(void **state)
{
	long base = nodes_live();
	struct pc_index ix;

	(void)state;
	pc_index_init(&ix);
	/* Empty tree, index 0: one leaf, and a failure leaves the tree empty. */
	check_enomem(&ix, 0, 1);
	assert_int_equal(to_node(ix.root)->shift, 0);
	pc_index_destroy(&ix);

	pc_index_init(&ix);
	/* Empty tree: a chain of 22. */
	check_enomem(&ix, UINT64_MAX, 22);
	pc_index_destroy(&ix);

	/* A lone index 0 in its leaf: 2^63 needs 21 levels above it, and a chain of 21. */
	pc_index_init(&ix);
	assert_int_equal(ins(&ix, 0, mkitem(0)), 0);
	check_enomem(&ix, BIT(63), 21 + 21);
	pc_index_destroy(&ix);

	/* A shift-6 root with a mark below: 19 new levels above it, then a chain of 21. */
	pc_index_init(&ix);
	assert_int_equal(ins(&ix, 5, mkitem(5)), 0);
	assert_int_equal(ins(&ix, 100, mkitem(100)), 0);
	setm(&ix, 100, PC_MARK_DIRTY);
	assert_int_equal(ix.nr_nodes, 5);	/* root, two shift-3 nodes, two leaves */
	check_enomem(&ix, UINT64_MAX, 19 + 21);
	/* Under an existing node: 2^62 shares the shift-63 root, needs 20 more. */
	check_enomem(&ix, BIT(62), 20);
	/* In an existing leaf: no allocation at all. */
	check_enomem(&ix, 6, 0);
	assert_true(pc_index_get_mark(&ix, 100, PC_MARK_DIRTY));
	pc_index_destroy(&ix);
	assert_int_equal(nodes_live(), base);
}

/* Fails every allocation, counting the attempts in alloc_calls. */
static bool fail_all(void)
{
	alloc_calls++;
	return true;
}

/* Sets, checks and clears every mark on @index, expecting no allocation attempt. */
static void check_marks_no_alloc(struct pc_index *ix, uint64_t index)
{
	uint64_t nodes = ix->nr_nodes;
	long live = nodes_live();

	for (int m = 0; m < PC_MARK_COUNT; m++) {
		setm(ix, index, m);
		assert_int_equal(marks_of(ix, index), (2u << m) - 1);
		assert_find(ix, index, index, m, index);
		setm(ix, index, m);		/* already set: nothing changes */
	}
	check_tree(ix);
	for (int m = 0; m < PC_MARK_COUNT; m++) {
		clrm(ix, index, m);
		assert_false(pc_index_get_mark(ix, index, m));
		assert_find_none(ix, index, index, m);
	}
	assert_int_equal(marks_of(ix, index), NO_MARKS);
	check_tree(ix);
	assert_int_equal(alloc_calls, 0);
	assert_int_equal(ix->nr_nodes, nodes);
	assert_int_equal(nodes_live(), live);
}

/*
 * Setting a mark never allocates, so it cannot fail: the write path marks a
 * page dirty after copying data into it.  Index 0 is the case that used to
 * need a leaf on demand.
 */
static void test_marks_no_alloc(void **state)
{
	static const uint64_t keys[] = { 0, 5, 64, 1000, BIT(40), UINT64_MAX };
	long base = nodes_live();
	struct pc_index ix;
	void *p0 = mkitem(0);

	(void)state;
	pc_index_init(&ix);
	assert_int_equal(ins(&ix, 0, p0), 0);
	alloc_calls = 0;
	pc_index_fail_hook = fail_all;
	/* The hook is live: an insert that needs a node fails. */
	assert_int_equal(ins(&ix, 8, mkitem(8)), -ENOMEM);
	assert_int_equal(alloc_calls, 1);
	alloc_calls = 0;

	/* Index 0 alone, in its leaf. */
	check_marks_no_alloc(&ix, 0);
	/* Absent indices: a no-op, inside the leaf's span and beyond it. */
	for (int m = 0; m < PC_MARK_COUNT; m++) {
		setm(&ix, 1, m);
		setm(&ix, 8, m);
		setm(&ix, UINT64_MAX, m);
	}
	assert_int_equal(marks_of(&ix, 1), NO_MARKS);
	assert_int_equal(marks_of(&ix, 8), NO_MARKS);
	assert_find_none(&ix, 0, UINT64_MAX, PC_MARK_DIRTY);
	assert_int_equal(alloc_calls, 0);
	assert_int_equal(ix.nr_nodes, 1);
	check_tree(&ix);

	/* A multi-level tree, index 0 at the bottom of its leftmost chain. */
	pc_index_fail_hook = NULL;
	for (size_t i = 1; i < PC_ARRAY_SIZE(keys); i++)
		assert_int_equal(ins(&ix, keys[i], mkitem(keys[i])), 0);
	assert_int_equal(ix.nr_nodes, expected_nodes(keys, PC_ARRAY_SIZE(keys)));
	pc_index_fail_hook = fail_all;
	for (size_t i = 0; i < PC_ARRAY_SIZE(keys); i++)
		check_marks_no_alloc(&ix, keys[i]);

	/* Marks set with every allocation failing survive the shrink back to one leaf. */
	setm(&ix, 0, PC_MARK_DIRTY);
	setm(&ix, UINT64_MAX, PC_MARK_WRITEBACK);
	assert_find(&ix, 1, UINT64_MAX, PC_MARK_WRITEBACK, UINT64_MAX);
	for (size_t i = 1; i < PC_ARRAY_SIZE(keys); i++)
		assert_non_null(era(&ix, keys[i]));
	assert_int_equal(ix.nr_nodes, 1);
	assert_int_equal(marks_of(&ix, 0), 1u << PC_MARK_DIRTY);
	assert_find(&ix, 0, UINT64_MAX, PC_MARK_DIRTY, 0);
	assert_find_none(&ix, 0, UINT64_MAX, PC_MARK_WRITEBACK);
	check_tree(&ix);
	assert_ptr_equal(era(&ix, 0), p0);
	assert_null(ix.root);
	assert_int_equal(alloc_calls, 0);
	pc_index_fail_hook = NULL;
	pc_index_destroy(&ix);
	assert_int_equal(nodes_live(), base);
}

/* ---- 8. Randomised model ---- */

#define MODEL_KEYS 600
#define MODEL_OPS 100000
#define MODEL_BATCH 1000

struct model {
	uint64_t keys[MODEL_KEYS];	/* sorted */
	size_t n;
	void *entry[MODEL_KEYS];	/* NULL: absent */
	unsigned int marks[MODEL_KEYS];
	struct item items[MODEL_KEYS];
};

/* The model's answer to find(from, last, mark). */
static size_t model_find(const struct model *md, uint64_t from, uint64_t last, int mark)
{
	for (size_t k = 0; k < md->n; k++)
		if (md->keys[k] >= from && md->keys[k] <= last && md->entry[k] &&
		    (mark == PC_MARK_NONE || (md->marks[k] & 1u << mark)))
			return k;
	return SIZE_MAX;
}

static void model_check(struct pc_index *ix, struct model *md, uint64_t *seed)
{
	uint64_t present[MODEL_KEYS], entries = 0;

	for (size_t k = 0; k < md->n; k++) {
		assert_ptr_equal(pc_index_load(ix, md->keys[k]), md->entry[k]);
		assert_int_equal(marks_of(ix, md->keys[k]), md->marks[k]);
		if (md->entry[k])
			present[entries++] = md->keys[k];
	}
	assert_int_equal(ix->nr_entries, entries);
	assert_int_equal(ix->nr_nodes, expected_nodes(present, entries));
	check_tree(ix);
	for (unsigned int q = 0; q < 40; q++) {
		uint64_t r = rng_next(seed), from, last = UINT64_MAX, at;
		int mark = (int)(r % (PC_MARK_COUNT + 1)) - 1;
		size_t expect;
		void *got;

		from = r & 4 ? md->keys[rng_next(seed) % md->n] + (r & 8 ? 1 : 0) : rng_next(seed);
		if (r & 16) {
			uint64_t span = rng_next(seed) % 100000;

			last = from + span < from ? UINT64_MAX : from + span;
		}
		at = from;
		got = pc_index_find(ix, &at, last, mark);
		expect = model_find(md, from, last, mark);
		if (expect == SIZE_MAX) {
			assert_null(got);
			assert_int_equal(at, from);
		} else {
			assert_ptr_equal(got, md->entry[expect]);
			assert_int_equal(at, md->keys[expect]);
		}
	}
}

static void test_model(void **state)
{
	long base = nodes_live();
	struct model *md = calloc(1, sizeof(*md));
	uint64_t seed = 2024;
	struct pc_index ix;
	uint64_t counts[5] = { 0 };

	(void)state;
	assert_non_null(md);
	/* Dense low keys, a few clusters, random keys, the top of the range. */
	for (unsigned int i = 0; i < 200; i++)
		md->keys[md->n++] = i;
	for (unsigned int i = 0; i < 100; i++)
		md->keys[md->n++] = BIT(20) + i * 3;
	for (unsigned int i = 0; i < 50; i++)
		md->keys[md->n++] = UINT64_MAX - i;
	while (md->n < MODEL_KEYS)
		md->keys[md->n++] = rng_next(&seed) >> (rng_next(&seed) % 64);
	md->n = sort_unique(md->keys, md->n);
	for (size_t k = 0; k < md->n; k++)
		md->items[k].index = md->keys[k];

	pc_index_init(&ix);
	for (unsigned int op = 0; op < MODEL_OPS; op++) {
		uint64_t r = rng_next(&seed);
		size_t k = rng_next(&seed) % md->n;
		uint64_t key = md->keys[k];
		int mark = (int)((r >> 32) % PC_MARK_COUNT);
		/* Alternate filling and draining phases, so the tree empties now and then. */
		unsigned int insert_pct = (op / 10000) % 2 ? 20 : 60;
		unsigned int pct = r % 100;

		if (pct < insert_pct) {
			void *e = r & BIT(40) ? pc_index_mkvalue(k) : &md->items[k];

			assert_int_equal(ins(&ix, key, e), md->entry[k] ? -EEXIST : 0);
			if (!md->entry[k])
				md->entry[k] = e;
			counts[0]++;
		} else if (pct < insert_pct + 25) {
			assert_ptr_equal(era(&ix, key), md->entry[k]);
			md->entry[k] = NULL;
			md->marks[k] = 0;
			counts[1]++;
		} else if (!md->entry[k]) {
			/* The other calls want an entry. */
		} else if (pct < insert_pct + 30) {
			setm(&ix, key, mark);
			md->marks[k] |= 1u << mark;
			counts[2]++;
		} else if (pct < insert_pct + 37) {
			clrm(&ix, key, mark);
			md->marks[k] &= ~(1u << mark);
			counts[3]++;
		} else {
			void *e = pc_index_is_value(md->entry[k]) ? (void *)&md->items[k] :
				  pc_index_mkvalue(k);

			assert_ptr_equal(repl(&ix, key, e), md->entry[k]);
			md->entry[k] = e;
			counts[4]++;
		}
		if (op % MODEL_BATCH == MODEL_BATCH - 1)
			model_check(&ix, md, &seed);
	}
	model_check(&ix, md, &seed);
	for (int i = 0; i < 5; i++)
		assert_true(counts[i] > 1000);
	pc_index_destroy(&ix);
	assert_int_equal(nodes_live(), base);
	free(md);
}

/* ---- 9. RCU readers against a writer ---- */

#define RACE_WRITER_OPS 200000
#define RACE_READERS 2

static const uint64_t race_keys[] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
	64, 65, 66, 67, 68, 69, 70, 71,
	/* Few keys up high, so the height changes all the time. */
	1000, BIT(40) + 3, BIT(63) + 5, UINT64_MAX,
};

static struct item race_items[PC_ARRAY_SIZE(race_keys)];
static struct pc_index race_ix;
static int race_stop;

struct race_reader {
	pthread_t thread;
	uint64_t seed;
	unsigned long ops, hits, violations;
};

static uint64_t race_key(uint64_t *seed)
{
	return race_keys[rng_next(seed) % PC_ARRAY_SIZE(race_keys)];
}

/* An entry found at @index must be the item stamped with @index. */
static bool race_bad(const void *entry, uint64_t index)
{
	return ((const struct item *)entry)->index != index;
}

static void *race_reader_fn(void *arg)
{
	struct race_reader *rd = arg;

	while (!__atomic_load_n(&race_stop, __ATOMIC_ACQUIRE)) {
		uint64_t key = race_key(&rd->seed), from, indices[4];
		int mark = (int)(rng_next(&rd->seed) % (PC_MARK_COUNT + 1)) - 1;
		void *entry, *entries[4];
		unsigned int got;

		pc_rcu_read_lock();
		entry = pc_index_load(&race_ix, key);
		if (entry) {
			rd->hits++;
			rd->violations += race_bad(entry, key);
		}
		if (mark != PC_MARK_NONE)
			(void)pc_index_get_mark(&race_ix, key, mark);
		from = key;
		entry = pc_index_find(&race_ix, &from, UINT64_MAX, mark);
		if (entry)
			rd->violations += from < key || race_bad(entry, from);
		from = race_key(&rd->seed);
		got = pc_index_gang(&race_ix, &from, UINT64_MAX, mark, entries, indices, 4, NULL);
		for (unsigned int i = 0; i < got; i++)
			rd->violations += race_bad(entries[i], indices[i]) ||
					  (i && indices[i] <= indices[i - 1]);
		pc_rcu_read_unlock();
		rd->ops++;
	}
	return NULL;
}

static void *race_writer_fn(void *arg)
{
	uint64_t seed = 99;
	unsigned long *changes = arg;

	for (unsigned int op = 0; op < RACE_WRITER_OPS; op++) {
		size_t k = rng_next(&seed) % PC_ARRAY_SIZE(race_keys);
		uint64_t key = race_keys[k], r = rng_next(&seed);
		enum pc_mark mark = (enum pc_mark)((r >> 8) % PC_MARK_COUNT);

		pc_index_lock(&race_ix);
		switch (r % 8) {
		case 0: case 1: case 2:
			*changes += !__pc_index_insert(&race_ix, key, &race_items[k]);
			break;
		case 3: case 4: case 5:
			*changes += !!__pc_index_erase(&race_ix, key);
			break;
		case 6:
			if (pc_index_load(&race_ix, key))
				__pc_index_set_mark(&race_ix, key, mark);
			break;
		default:
			if (pc_index_load(&race_ix, key))
				__pc_index_clear_mark(&race_ix, key, mark);
			break;
		}
		pc_index_unlock(&race_ix);
	}
	__atomic_store_n(&race_stop, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_rcu_race(void **state)
{
	struct race_reader readers[RACE_READERS];
	unsigned long changes = 0, violations = 0;
	long base = nodes_live();
	pthread_t writer;

	(void)state;
	for (size_t k = 0; k < PC_ARRAY_SIZE(race_keys); k++)
		race_items[k].index = race_keys[k];
	pc_index_init(&race_ix);
	race_stop = 0;
	for (int i = 0; i < RACE_READERS; i++) {
		readers[i] = (struct race_reader){ .seed = 1000 + (uint64_t)i };
		assert_int_equal(pthread_create(&readers[i].thread, NULL, race_reader_fn,
						&readers[i]), 0);
	}
	assert_int_equal(pthread_create(&writer, NULL, race_writer_fn, &changes), 0);
	assert_int_equal(pthread_join(writer, NULL), 0);
	for (int i = 0; i < RACE_READERS; i++) {
		assert_int_equal(pthread_join(readers[i].thread, NULL), 0);
		violations += readers[i].violations;
		/* The readers ran, and found things, while the tree changed. */
		assert_true(readers[i].ops > 100);
		assert_true(readers[i].hits > 0);
	}
	assert_int_equal(violations, 0);
	assert_true(changes > RACE_WRITER_OPS / 4);
	check_tree(&race_ix);
	pc_index_destroy(&race_ix);
	assert_int_equal(nodes_live(), base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_layout),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_single),
		cmocka_unit_test(test_slot),
		cmocka_unit_test(test_node_count),
		cmocka_unit_test(test_shrink),
		cmocka_unit_test(test_marks),
		cmocka_unit_test(test_gang),
		cmocka_unit_test(test_enomem),
		cmocka_unit_test(test_marks_no_alloc),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_rcu_race),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	pc_rcu_barrier();
	return failed;
}
