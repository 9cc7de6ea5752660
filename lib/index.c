/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The page index: how the radix tree of index.h is built.
 *
 * This file owns the nodes of every tree: their layout, their allocation
 * (all of an insert's nodes up front), their freeing through call_rcu, and
 * the counters ix->nr_nodes and pc_index_nodes_live.  Entries belong to the
 * callers.
 *
 * Layout.  A node at @shift resolves bits [shift, shift + PC_INDEX_SHIFT) of
 * the index.  Leaves have shift 0 and hold entries; the other nodes hold
 * nodes.  A node is stored in a slot or in ix->root as its address with bit 1
 * set (nodes are 64-byte aligned), which no pointer entry (low bits 00) and
 * no value entry (bit 0 set) has.  marks[m] holds one bit per slot.  count,
 * parent and offset are the writer's bookkeeping: readers never use them,
 * because shrinking rewrites parent under their feet; a scan keeps its own
 * stack of ancestors instead.
 *
 * Height.  The root node has the smallest shift whose span covers the
 * largest index present.  A full tree has ceil(64 / PC_INDEX_SHIFT) levels;
 * when PC_INDEX_SHIFT does not divide 64, the top level uses only the bits
 * that are left (one bit, slots 0 and 1, with 8-slot nodes).  Every entry
 * lives in a leaf, so root is NULL or a node, never an entry: the smallest
 * tree, even one that holds only index 0, is a single leaf.  The reason is
 * marks.  They live in the node that holds the entry, and struct pc_index
 * has no room for them, so an entry kept in root would need a leaf allocated
 * when it is first marked; but __pc_index_set_mark() runs after a write has
 * copied data into the page, where failing is not an option.  With every
 * entry in a leaf, setting a mark never allocates and never fails.
 *
 * Transitions, all under ix->lock:
 *  - Insert: index_nodes_needed() counts the nodes, and all of them are
 *    allocated before any is linked, so -ENOMEM changes nothing.
 *    index_grow() stacks new roots, each with the old root in slot 0 and, as
 *    the marks of slot 0, the OR of the old root's marks.  index_link() walks
 *    down and builds the missing part of the path (index_chain()) privately,
 *    then makes it reachable with a single store.
 *  - Set mark: set the slot's bit in the leaf, then in each ancestor up to
 *    the first bit already set (invariant 3: everything above it is set).
 *    The entry's leaf exists already, so this never allocates.
 *  - Clear mark, erase: clear the bit in the leaf, and in the parent while
 *    the node below has no bit of that mark left.  Erase then unlinks and
 *    retires each node whose count reached 0 (index_prune(); an emptied
 *    tree loses its root leaf too), and index_shrink() replaces a root whose
 *    only slot in use is slot 0 by that slot's node, stopping at a leaf: a
 *    leaf root stays, whatever it holds.  Clearing a mark never changes the
 *    shape of the tree.
 *  - Destroy retires every node.
 *
 * Concurrency.  Readers (pc_index_load, _get_mark, _find, _gang) run under
 * the RCU read lock while one writer changes the tree, or under ix->lock.
 * Memory ordering:
 *  1. Publication.  A node is complete (shift, slots, marks) before the
 *     pc_rcu_assign_pointer() (release) that links it into root or into a
 *     parent slot.  Readers load root and slots only with pc_rcu_dereference()
 *     (consume), which pairs with it.  Entries are stored the same way, so a
 *     reader that finds a pointer entry also sees what the caller wrote into
 *     the object before inserting it.  Re-linking a node that is already
 *     reachable (shrink moves a child into root) is a release store too: for
 *     a reader that starts at the new root, that store is its only path to
 *     the node.
 *  2. Unlinking stores NULL with a relaxed atomic store: nothing is published,
 *     so no order is needed, only a store the compiler cannot tear or repeat.
 *  3. A node that was ever reachable is freed only by pc_call_rcu(), after
 *     every reader that could have found it has left its read-side section.
 *  4. Marks are loaded and stored with relaxed atomics (only the writer
 *     stores, so it needs no read-modify-write).  Relaxed is enough because
 *     no reader follows a pointer it got from a mark word: a bit only says
 *     where to look, and the slot is then loaded through rule 1.  While the
 *     writer works, a reader may see a node's bit set above a subtree that
 *     has none left, or the bits of different nodes in any order; the scans
 *     treat a set bit that leads to nothing as "skip this slot", and a clear
 *     bit can only hide an entry whose mark changes during the scan.  A mark
 *     set before the scan began is seen, by coherence.
 *  5. A reader inside a node that stops being part of the tree:
 *     - growth leaves the old root in slot 0 of the new one, so it is still
 *       the right tree for every index it spans; the others read as absent;
 *     - a pruned node has every slot NULL, which was the truth when it was
 *       unlinked, so the reader answers "not found";
 *     - a root removed by shrink keeps its slot 0 pointing at the new root:
 *       indices under slot 0 get the live answer, the others "not found",
 *       which was true when the root was removed.
 *     Nodes are never copied, so an entry that stays present during a whole
 *     lookup is found through any of them, and a found entry is always the
 *     one at the index asked for.  An entry inserted or erased during the
 *     lookup may or may not be seen, as with any RCU reader.  That is enough
 *     because callers treat an RCU answer as a hint: they re-check the entry
 *     they found (page.c), or look again under ix->lock before acting on a
 *     "not found".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>


#include "index.h"
#include "inject.h"

_Static_assert(PC_INDEX_SHIFT >= 1 && PC_INDEX_SHIFT <= 8,
	       "offset is a uint8_t and count a uint16_t");

#define PC_INDEX_MARK_WORDS ((PC_INDEX_FANOUT + 63) / 64)
/* Levels of a tree that holds UINT64_MAX. */
#define PC_INDEX_HEIGHT ((64 + PC_INDEX_SHIFT - 1) / PC_INDEX_SHIFT)
/* Tag of a node pointer in a slot or in root (see the top of the file). */
#define PC_INDEX_NODE_TAG ((uintptr_t)2)

struct pc_index_node {
	uint8_t shift;			/* immutable once linked */
	/* protected by the index lock, never read by RCU readers: */
	uint8_t offset;			/* slot in parent */
	uint16_t count;			/* non-NULL slots */
	struct pc_index_node *parent;	/* NULL for the root */
	/* RCU-published (rule 1); marks are relaxed atomics (rule 4): */
	void *slots[PC_INDEX_FANOUT];
	uint64_t marks[PC_MARK_COUNT][PC_INDEX_MARK_WORDS];
	struct rcu_head rcu;
};

#define PC_INDEX_NODE_ALLOC \
	((sizeof(struct pc_index_node) + PC_CACHELINE - 1) & ~(size_t)(PC_CACHELINE - 1))

long pc_index_nodes_live;
bool (*pc_index_fail_hook)(void);

size_t pc_index_node_size(void)
{
	return PC_INDEX_NODE_ALLOC;
}

static inline bool index_is_node(const void *entry)
{
	return ((uintptr_t)entry & 3) == PC_INDEX_NODE_TAG;
}

static inline struct pc_index_node *index_to_node(const void *entry)
{
	return (struct pc_index_node *)((uintptr_t)entry - PC_INDEX_NODE_TAG);
}

static inline void *index_mknode(struct pc_index_node *node)
{
	return (void *)((uintptr_t)node | PC_INDEX_NODE_TAG);
}

/* Slot of @index in a node at @shift.  Shifts are at most 63. */
static inline unsigned int index_offset(uint64_t index, unsigned int shift)
{
	return (unsigned int)((index >> shift) & PC_INDEX_MASK);
}

/* The index bits a node at @shift resolves or lies below: all when it is a top-level node. */
static inline uint64_t index_span_mask(unsigned int shift)
{
	unsigned int bits = shift + PC_INDEX_SHIFT;

	return bits >= 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
}

/* The smallest root shift whose span covers @index. */
static unsigned int index_top_shift(uint64_t index)
{
	unsigned int shift = 0;

	while (shift + PC_INDEX_SHIFT < 64 && (index >> (shift + PC_INDEX_SHIFT)))
		shift += PC_INDEX_SHIFT;
	return shift;
}

/*
 * Move *idx to the first index after the slot that holds it in a node at
 * @shift.  Returns false instead of wrapping past UINT64_MAX.
 */
static inline bool index_skip(uint64_t *idx, unsigned int shift)
{
	uint64_t end = *idx | ((UINT64_C(1) << shift) - 1);

	if (end == UINT64_MAX)
		return false;
	*idx = end + 1;
	return true;
}

static inline bool index_mark_test(const struct pc_index_node *node, unsigned int mark,
				   unsigned int off)
{
	/* Relaxed: rule 4. */
	return (__atomic_load_n(&node->marks[mark][off / 64], __ATOMIC_RELAXED) >> (off % 64)) & 1;
}

/* Writer only, so a load and a store, not a read-modify-write. */
static inline void index_mark_store(struct pc_index_node *node, unsigned int mark, unsigned int off,
				    bool on)
{
	uint64_t *word = &node->marks[mark][off / 64];
	uint64_t bit = UINT64_C(1) << (off % 64);
	uint64_t old = __atomic_load_n(word, __ATOMIC_RELAXED);

	__atomic_store_n(word, on ? old | bit : old & ~bit, __ATOMIC_RELAXED);
}

static bool index_node_marked(const struct pc_index_node *node, unsigned int mark)
{
	for (unsigned int w = 0; w < PC_INDEX_MARK_WORDS; w++)
		if (__atomic_load_n(&node->marks[mark][w], __ATOMIC_RELAXED))
			return true;
	return false;
}

static struct pc_index_node *index_node_alloc(void)
{
	bool (*fail)(void) = CMM_LOAD_SHARED(pc_index_fail_hook);
	struct pc_index_node *node;

	if (fail && fail())
		return NULL;
	node = PC_FAIL(PC_FAIL_INDEX_NODE) ? NULL :
	       aligned_alloc(PC_CACHELINE, PC_INDEX_NODE_ALLOC);
	if (!node)
		return NULL;
	memset(node, 0, sizeof(*node));
	/* A statistic: relaxed; tests read it after pc_rcu_barrier(). */
	__atomic_fetch_add(&pc_index_nodes_live, 1, __ATOMIC_RELAXED);
	return node;
}

/* For nodes that were never linked, and for the RCU callback. */
static void index_node_free(struct pc_index_node *node)
{
	free(node);
	__atomic_fetch_sub(&pc_index_nodes_live, 1, __ATOMIC_RELAXED);
}

static void index_node_free_rcu(struct rcu_head *head)
{
	pc_rcu_callback_begin(head);
	index_node_free(pc_container_of(head, struct pc_index_node, rcu));
}

/* @node has just been unlinked from @ix: free it once no reader can hold it (rule 3). */
static void index_node_retire(struct pc_index *ix, struct pc_index_node *node)
{
	ix->nr_nodes--;
#ifdef PC_MUTANT_INDEX_FREE_WITHOUT_RCU
	/* TEST ONLY: readers may still walk @node; test_index must catch this. */
	index_node_free(node);
#else
	pc_call_rcu(&node->rcu, index_node_free_rcu);
#endif
}

/* ---- Readers ---- */

void **pc_index_slot(struct pc_index *ix, uint64_t index)
{
	void *entry = pc_rcu_dereference(ix->root);
	struct pc_index_node *node;

	if (!entry)
		return NULL;
	node = index_to_node(entry);
	if (index > index_span_mask(node->shift))
		return NULL;
	while (node->shift) {
		entry = pc_rcu_dereference(node->slots[index_offset(index, node->shift)]);
		if (!entry)
			return NULL;
		node = index_to_node(entry);
	}
	return &node->slots[index_offset(index, 0)];
}

void *pc_index_load(struct pc_index *ix, uint64_t index)
{
	void **slot = pc_index_slot(ix, index);

	return slot ? pc_rcu_dereference(*slot) : NULL;
}

static inline bool index_mark_valid(int mark)
{
	return mark >= 0 && mark < PC_MARK_COUNT;
}

bool pc_index_get_mark(struct pc_index *ix, uint64_t index, enum pc_mark mark)
{
	void *entry = pc_rcu_dereference(ix->root);
	struct pc_index_node *node;

	if (!index_mark_valid(mark) || !entry)
		return false;
	node = index_to_node(entry);
	if (index > index_span_mask(node->shift))
		return false;
	for (;;) {
		unsigned int off = index_offset(index, node->shift);

		if (!index_mark_test(node, mark, off))
			return false;
		if (!node->shift)
			return true;
		entry = pc_rcu_dereference(node->slots[off]);
		if (!index_is_node(entry))
			return false;	/* pruned under us */
		node = index_to_node(entry);
	}
}

/* First slot at or after @off that is in use (PC_MARK_NONE) or has @mark; -1 if none. */
static int index_next_slot(const struct pc_index_node *node, unsigned int off, int mark)
{
	if (mark == PC_MARK_NONE) {
		for (; off < PC_INDEX_FANOUT; off++)
			if (__atomic_load_n(&node->slots[off], __ATOMIC_RELAXED))
				return (int)off;
		return -1;
	}
	for (unsigned int w = off / 64; w < PC_INDEX_MARK_WORDS; w++) {
		uint64_t bits = __atomic_load_n(&node->marks[mark][w], __ATOMIC_RELAXED);

		if (w == off / 64)
			bits &= UINT64_MAX << (off % 64);
		if (bits)
			return (int)(w * 64 + (unsigned int)__builtin_ctzll(bits));
	}
	return -1;
}

/*
 * The scan behind pc_index_find() and pc_index_gang(): up to @n entries at
 * indices in [idx, last] (with @mark unless PC_MARK_NONE), in index order.
 * *exhausted tells whether the scan ran out of range or of tree, that is
 * whether no entry can follow the ones returned.
 *
 * Within a node the scan looks for the next candidate slot (in use, or with
 * the mark bit set) and descends into it; when a node has none left it skips
 * the rest of the node's span and climbs back to the first ancestor that
 * still has slots to the right.  A candidate that turns out empty (rule 4)
 * is skipped like a finished slot.  idx never wraps: every step that would
 * pass UINT64_MAX ends the scan.
 */
static unsigned int index_scan(struct pc_index *ix, uint64_t idx, uint64_t last, int mark,
			       void **entries, uint64_t *indices, unsigned int n, bool *exhausted)
{
	struct pc_index_node *stack[PC_INDEX_HEIGHT];
	struct pc_index_node *node;
	unsigned int depth = 0, found = 0;
	void *entry;

	*exhausted = true;
	if (idx > last || (mark != PC_MARK_NONE && !index_mark_valid(mark)))
		return 0;
	if (!n) {
		*exhausted = false;
		return 0;
	}
	entry = pc_rcu_dereference(ix->root);
	if (!entry)
		return 0;
	node = index_to_node(entry);
	if (idx > index_span_mask(node->shift))
		return 0;
	for (;;) {
		unsigned int off = index_offset(idx, node->shift);
		int slot = index_next_slot(node, off, mark);

		if (slot < 0) {
			/* Nothing left here: step past the node's last slot below. */
			idx |= index_span_mask(node->shift);
		} else {
			if ((unsigned int)slot != off)
				idx = (idx & ~index_span_mask(node->shift)) |
				      ((uint64_t)slot << node->shift);
			if (idx > last)
				return found;
			entry = pc_rcu_dereference(node->slots[slot]);
			if (index_is_node(entry)) {
				stack[depth++] = node;
				node = index_to_node(entry);
				continue;
			}
			if (entry && !node->shift) {
				entries[found] = entry;
				indices[found] = idx;
				if (++found == n) {
					*exhausted = idx == last;
					return found;
				}
			}
			/* Otherwise the slot emptied under us: skip it. */
		}
		if (!index_skip(&idx, node->shift))
			return found;
		/* Offset 0 after a step: this node is done, and maybe its parents too. */
		while (!index_offset(idx, node->shift)) {
			if (!depth)
				return found;
			node = stack[--depth];
		}
	}
}

void *pc_index_find(struct pc_index *ix, uint64_t *first, uint64_t last, int mark)
{
	void *entry;
	uint64_t index;
	bool exhausted;

	if (!index_scan(ix, *first, last, mark, &entry, &index, 1, &exhausted))
		return NULL;
	*first = index;
	return entry;
}

unsigned pc_index_gang(struct pc_index *ix, uint64_t *first, uint64_t last, int mark,
		       void **entries, uint64_t *indices, unsigned n, bool *done)
{
	bool exhausted;
	unsigned int got = index_scan(ix, *first, last, mark, entries, indices, n, &exhausted);

	if (got) {
		uint64_t end = indices[got - 1];

		/* *first cannot move past UINT64_MAX: it stays there, with *done set. */
		*first = end == UINT64_MAX ? end : end + 1;
		if (end == UINT64_MAX)
			exhausted = true;
	}
	if (done)
		*done = exhausted;
	return got;
}

/* ---- Writers ---- */

/*
 * The leaf that would hold @index, or NULL when the path to it is missing.
 * The reader's walk serves: under the lock its acquire loads cost nothing
 * extra on x86 and see the writer's own stores.
 */
static struct pc_index_node *index_leaf(struct pc_index *ix, uint64_t index)
{
	void **slot = pc_index_slot(ix, index);

	if (!slot)
		return NULL;
	return pc_container_of(slot - index_offset(index, 0), struct pc_index_node, slots);
}

/*
 * How many nodes inserting @index (absent) needs; in an empty tree that is
 * a chain down to a leaf, one leaf for index 0.  Because the top shift of
 * @index is the smallest that covers it, @index has a non-zero offset at
 * that level: growth never shares a node with the new path below the new
 * top.
 */
static unsigned int index_nodes_needed(const struct pc_index *ix, uint64_t index)
{
	unsigned int top = index_top_shift(index);
	void *entry = ix->root;
	const struct pc_index_node *node;

	if (!entry)				/* a chain from the top to a leaf */
		return top / PC_INDEX_SHIFT + 1;
	node = index_to_node(entry);
	if (top > node->shift)			/* new levels, then a chain below the top */
		return (top - node->shift) / PC_INDEX_SHIFT + top / PC_INDEX_SHIFT;
	while (node->shift) {
		entry = node->slots[index_offset(index, node->shift)];
		if (!entry)
			return node->shift / PC_INDEX_SHIFT;
		node = index_to_node(entry);
	}
	return 0;
}

/*
 * Add root levels until the root spans @index.  The old root goes into
 * slot 0 of the level above it.  The new levels are built privately and
 * published with one store (rule 1).
 */
static void index_grow(struct pc_index *ix, uint64_t index, struct pc_index_node **spare,
		       unsigned int *used)
{
	unsigned int top = index_top_shift(index), shift;
	void *child = ix->root;

	if (!child || top <= index_to_node(child)->shift)
		return;
	for (shift = index_to_node(child)->shift + PC_INDEX_SHIFT;; shift += PC_INDEX_SHIFT) {
		struct pc_index_node *node = spare[(*used)++];
		struct pc_index_node *below = index_to_node(child);

		node->shift = (uint8_t)shift;
		node->count = 1;
		node->slots[0] = child;
		below->parent = node;
		below->offset = 0;
		/* Invariant 3. */
		for (unsigned int m = 0; m < PC_MARK_COUNT; m++)
			if (index_node_marked(below, m))
				node->marks[m][0] = 1;
		ix->nr_nodes++;
		child = index_mknode(node);
		if (shift >= top)
			break;
	}
	pc_rcu_assign_pointer(ix->root, child);	/* pairs with pc_rcu_dereference(ix->root) */
}

/*
 * Build the path from a new node at @shift down to the leaf that holds
 * @entry at @index, under @parent (NULL: it becomes the root).  Nothing is
 * reachable yet, so plain stores do; the caller publishes the result.
 */
static void *index_chain(struct pc_index *ix, struct pc_index_node *parent, unsigned int shift,
			 uint64_t index, void *entry, struct pc_index_node **spare,
			 unsigned int *used)
{
	struct pc_index_node *up = parent;
	void *top = NULL;

	for (;; shift -= PC_INDEX_SHIFT) {
		struct pc_index_node *node = spare[(*used)++];

		node->shift = (uint8_t)shift;
		node->count = 1;
		node->parent = up;
		node->offset = up ? (uint8_t)index_offset(index, up->shift) : 0;
		if (up != parent)
			up->slots[node->offset] = index_mknode(node);
		else
			top = index_mknode(node);
		ix->nr_nodes++;
		if (!shift) {
			node->slots[index_offset(index, 0)] = entry;
			return top;
		}
		up = node;
	}
}

/* Link @entry at @index once the root spans it, building what is missing. */
static void index_link(struct pc_index *ix, uint64_t index, void *entry,
		       struct pc_index_node **spare, unsigned int *used)
{
	struct pc_index_node *node;
	void *next;

	if (!ix->root) {
		next = index_chain(ix, NULL, index_top_shift(index), index, entry, spare, used);
		pc_rcu_assign_pointer(ix->root, next);	/* pairs as in index_grow() */
		return;
	}
	node = index_to_node(ix->root);
	for (;;) {
		unsigned int off = index_offset(index, node->shift);

		if (!node->shift) {
			/* Pairs with pc_rcu_dereference() of the slot: publishes the entry. */
			pc_rcu_assign_pointer(node->slots[off], entry);
			break;
		}
		next = node->slots[off];
		if (!next) {
			next = index_chain(ix, node, node->shift - PC_INDEX_SHIFT, index, entry,
					   spare, used);
			/* Pairs with pc_rcu_dereference() of the slot: publishes the chain. */
			pc_rcu_assign_pointer(node->slots[off], next);
			break;
		}
		node = index_to_node(next);
	}
	node->count++;
}

int __pc_index_insert(struct pc_index *ix, uint64_t index, void *entry)
{
	struct pc_index_node *spare[2 * PC_INDEX_HEIGHT];
	unsigned int need, i, used = 0;

	pc_lockdep_assert_held(&ix->lock, PC_LOCK_EXCL, "__pc_index_insert");
	if (!entry || index_is_node(entry))
		return -EINVAL;
	if (pc_index_load(ix, index))
		return -EEXIST;
	need = index_nodes_needed(ix, index);
	for (i = 0; i < need; i++) {
		spare[i] = index_node_alloc();
		if (!spare[i]) {
			while (i--)
				index_node_free(spare[i]);	/* never linked */
			return -ENOMEM;
		}
	}
	index_grow(ix, index, spare, &used);
	index_link(ix, index, entry, spare, &used);
	ix->nr_entries++;
	return 0;
}

void *__pc_index_replace(struct pc_index *ix, uint64_t index, void *entry)
{
	struct pc_index_node *leaf;
	unsigned int off = index_offset(index, 0);
	void *old;

	pc_lockdep_assert_held(&ix->lock, PC_LOCK_EXCL, "__pc_index_replace");
	if (!entry || index_is_node(entry))
		return NULL;
	leaf = index_leaf(ix, index);
	if (!leaf || !(old = leaf->slots[off]))
		return NULL;
	pc_rcu_assign_pointer(leaf->slots[off], entry);	/* publishes the new entry */
	return old;
}

/*
 * Never allocates, so it cannot fail: the entry is in a leaf already (see
 * the top of the file).  The write path marks a page dirty after copying
 * data into it, when there is no way back.
 */
void __pc_index_set_mark(struct pc_index *ix, uint64_t index, enum pc_mark mark)
{
	struct pc_index_node *node;
	unsigned int off = index_offset(index, 0);

	pc_lockdep_assert_held(&ix->lock, PC_LOCK_EXCL, "__pc_index_set_mark");
	if (!index_mark_valid(mark))
		return;
	node = index_leaf(ix, index);
	if (!node || !node->slots[off])
		return;
	for (; node && !index_mark_test(node, mark, off); node = node->parent) {
		index_mark_store(node, mark, off, true);
		off = node->offset;
	}
}

/* Clear @mark of slot @off of @node, and upwards while a node has none of it left. */
static void index_mark_clear_up(struct pc_index_node *node, unsigned int mark, unsigned int off)
{
	for (; node && index_mark_test(node, mark, off); node = node->parent) {
		index_mark_store(node, mark, off, false);
		if (index_node_marked(node, mark))
			break;
		off = node->offset;
	}
}

/*
 * Replace the root by its child while the root's only slot in use is slot 0
 * and that child is a node, that is while the root is not a leaf.  A leaf
 * root stays, even when it holds index 0 alone: invariant 1.
 */
static void index_shrink(struct pc_index *ix)
{
	for (;;) {
		struct pc_index_node *node;
		void *child;

		if (!ix->root)
			return;
		node = index_to_node(ix->root);
		child = node->slots[0];
		if (!node->shift || node->count != 1 || !child)
			return;
		index_to_node(child)->parent = NULL;
		/*
		 * Release, although @child is already reachable: rule 1.  @node
		 * keeps slot 0, so a reader inside it still reaches @child (5).
		 */
		pc_rcu_assign_pointer(ix->root, child);
		index_node_retire(ix, node);
	}
}

void __pc_index_clear_mark(struct pc_index *ix, uint64_t index, enum pc_mark mark)
{
	struct pc_index_node *leaf;

	pc_lockdep_assert_held(&ix->lock, PC_LOCK_EXCL, "__pc_index_clear_mark");
	if (!index_mark_valid(mark))
		return;
	leaf = index_leaf(ix, index);
	if (!leaf)
		return;
	index_mark_clear_up(leaf, mark, index_offset(index, 0));
}

/* Unlink and retire @node and its ancestors while they are empty. */
static void index_prune(struct pc_index *ix, struct pc_index_node *node)
{
	while (node && !node->count) {
		struct pc_index_node *parent = node->parent;

		/* Its marks are clear already: they went with its last entry. */
		if (parent) {
			__atomic_store_n(&parent->slots[node->offset], NULL, __ATOMIC_RELAXED);	/* rule 2 */
			parent->count--;
		} else {
			__atomic_store_n(&ix->root, NULL, __ATOMIC_RELAXED);				/* rule 2 */
		}
		index_node_retire(ix, node);
		node = parent;
	}
}

void *__pc_index_erase(struct pc_index *ix, uint64_t index)
{
	struct pc_index_node *leaf;
	unsigned int off = index_offset(index, 0);
	void *old;

	pc_lockdep_assert_held(&ix->lock, PC_LOCK_EXCL, "__pc_index_erase");
	leaf = index_leaf(ix, index);
	if (!leaf || !(old = leaf->slots[off]))
		return NULL;
	for (unsigned int m = 0; m < PC_MARK_COUNT; m++)
		index_mark_clear_up(leaf, m, off);
	__atomic_store_n(&leaf->slots[off], NULL, __ATOMIC_RELAXED);	/* rule 2 */
	leaf->count--;
	ix->nr_entries--;
	index_prune(ix, leaf);
	index_shrink(ix);
	return old;
}

/* ---- Life cycle ---- */

void pc_index_init(struct pc_index *ix)
{
	ix->root = NULL;
	ix->nr_entries = 0;
	ix->nr_nodes = 0;
	pthread_mutex_init(&ix->lock, NULL);
}

/* Recursion is bounded by the height of the tree. */
static void index_destroy_node(struct pc_index *ix, struct pc_index_node *node)
{
	if (node->shift)
		for (unsigned int i = 0; i < PC_INDEX_FANOUT; i++)
			if (node->slots[i])
				index_destroy_node(ix, index_to_node(node->slots[i]));
	index_node_retire(ix, node);
}

void pc_index_destroy(struct pc_index *ix)
{
	if (ix->root)
		index_destroy_node(ix, index_to_node(ix->root));
	__atomic_store_n(&ix->root, NULL, __ATOMIC_RELAXED);
	ix->nr_entries = 0;
	ix->nr_nodes = 0;
	pthread_mutex_destroy(&ix->lock);
}
