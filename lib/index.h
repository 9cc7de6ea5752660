/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The page index: an xarray-like radix tree keyed by 64-bit page index.
 *
 * Entries are either pointers (4-byte aligned, so their two low bits are
 * clear) or value entries made by pc_index_mkvalue() (low bit set), which
 * carry a 63-bit integer; DAX stores device addresses in them.  NULL means
 * "no entry".  Internal node pointers carry a tag of their own (bit 1) and
 * never reach a caller.
 *
 * Nodes have PC_INDEX_FANOUT slots (64 normally; the white-box tests build
 * this file with PC_INDEX_SHIFT=3, 8 slots, so that trees get deep).  Each
 * node keeps, per mark, one bit per slot, set when the entry in that slot (or
 * any entry below it) carries the mark.
 *
 * Concurrency (two tiers, as xa_* and xas_*):
 *  - Readers: pc_index_load(), pc_index_get_mark(), pc_index_find() and
 *    pc_index_gang() run under the RCU read lock, concurrently with one
 *    writer, or under the index lock.  Under RCU they may see an entry that
 *    is being removed; callers that care re-check (see page.c).
 *  - Writers: the __pc_index_*() calls require the index lock
 *    (pc_index_lock()), asserted in debug builds.  Exactly one writer runs at
 *    a time.  Nodes are published with a release store after they are fully
 *    built, and freed through call_rcu, so a reader never sees a half-built
 *    or freed node.
 *
 * Invariants:
 *  1. root is NULL or a node, never an entry: every entry, even a lone
 *     index 0, lives in a leaf.  An entry's marks are kept in the node that
 *     holds it (struct pc_index has no room for them), and
 *     __pc_index_set_mark() must not fail, so it must never have to allocate
 *     a leaf for an entry that lacks one.
 *  2. A node's count is the number of non-NULL slots; a node with count 0 is
 *     freed (an emptied tree has root NULL and no node), and a root above
 *     the leaves whose only slot in use is slot 0 is collapsed into its
 *     child.  A leaf root stays.
 *  3. A mark bit is set in a node slot iff some entry at or below that slot
 *     has the mark.  Marks of a slot are cleared when its entry is erased.
 *  4. The height is the smallest that covers the largest index present, with
 *     one leaf as the least: a tree that holds only index 0 is one leaf.
 *
 * Allocation: an insert allocates every node it needs before linking any of
 * them, so -ENOMEM leaves the tree unchanged.  Nothing else allocates.
 */
#ifndef PC_INDEX_H
#define PC_INDEX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "lockdep.h"
#include "rcu.h"

#ifndef PC_INDEX_SHIFT
#define PC_INDEX_SHIFT 6
#endif
#define PC_INDEX_FANOUT (1u << PC_INDEX_SHIFT)
#define PC_INDEX_MASK ((uint64_t)PC_INDEX_FANOUT - 1)

enum pc_mark {
	PC_MARK_DIRTY = 0,
	PC_MARK_WRITEBACK = 1,
	PC_MARK_TOWRITE = 2,
	PC_MARK_COUNT = 3,
};
#define PC_MARK_NONE (-1)	/* pc_index_find()/pc_index_gang(): any entry */

struct pc_index_node;

struct pc_index {
	void *root;		/* RCU-published; see invariant 1 */
	pthread_mutex_t lock;	/* the index lock: serialises writers */
	/* protected by lock: */
	uint64_t nr_entries;	/* entries present */
	uint64_t nr_nodes;	/* nodes linked into this tree */
};

/* Value entries. @v must be below 2^63. */
static inline void *pc_index_mkvalue(uint64_t v)
{
	return (void *)(uintptr_t)((v << 1) | 1);
}
static inline bool pc_index_is_value(const void *entry)
{
	return ((uintptr_t)entry & 1) != 0;
}
static inline uint64_t pc_index_value(const void *entry)
{
	return (uint64_t)(uintptr_t)entry >> 1;
}

void pc_index_init(struct pc_index *ix);
/*
 * Free every node.  Entries are the caller's; the tree must not be in use.
 * Nodes go through call_rcu, so a reader that still walks them is safe.
 */
void pc_index_destroy(struct pc_index *ix);

static inline void pc_index_lock(struct pc_index *ix)
{
	pthread_mutex_lock(&ix->lock);
	pc_lockdep_acquire(&ix->lock, PC_LC_INDEX, PC_LOCK_EXCL, "index_lock");
}

static inline void pc_index_unlock(struct pc_index *ix)
{
	pc_lockdep_release(&ix->lock);
	pthread_mutex_unlock(&ix->lock);
}

/* --- Readers: RCU read lock or the index lock held. --- */

void *pc_index_load(struct pc_index *ix, uint64_t index);
/*
 * The leaf slot of @index, or NULL if no leaf covers it; read it with
 * pc_rcu_dereference().  Under RCU the slot stays readable, and it goes on
 * telling the truth about @index: a leaf leaves the tree only once all of
 * its slots are NULL (invariant 2), and is never reused.  So re-reading the
 * slot is a complete re-check of the index, as xas_reload() is.
 */
void **pc_index_slot(struct pc_index *ix, uint64_t index);
bool pc_index_get_mark(struct pc_index *ix, uint64_t index, enum pc_mark mark);
/*
 * The first entry at an index in [*first, last] (with @mark set unless
 * @mark is PC_MARK_NONE).  Stores its index in *first and returns it;
 * returns NULL, leaving *first alone, if there is none.
 */
void *pc_index_find(struct pc_index *ix, uint64_t *first, uint64_t last, int mark);
/*
 * Up to @n entries (with @mark, unless PC_MARK_NONE) at indices in
 * [*first, last], in index order, into @entries and @indices.  Returns how
 * many; *first is moved past the last one returned (it does not wrap: if the
 * last index returned was UINT64_MAX, *first stays UINT64_MAX and the call
 * returns with *done set).  @done may be NULL.
 */
unsigned pc_index_gang(struct pc_index *ix, uint64_t *first, uint64_t last, int mark,
		       void **entries, uint64_t *indices, unsigned n, bool *done);

/* --- Writers: the index lock held. --- */

/* Insert @entry (non-NULL) at @index: -EEXIST if occupied, -ENOMEM. */
int __pc_index_insert(struct pc_index *ix, uint64_t index, void *entry);
/*
 * Replace the entry at @index, which must be present, with @entry (non-NULL).
 * Marks stay.  Never allocates.  Returns the old entry.
 */
void *__pc_index_replace(struct pc_index *ix, uint64_t index, void *entry);
/* Remove the entry at @index (NULL if none); clears its marks; shrinks. */
void *__pc_index_erase(struct pc_index *ix, uint64_t index);
/*
 * Set or clear @mark on the entry at @index; nothing happens if there is
 * none.  They never allocate, so they cannot fail.
 */
void __pc_index_set_mark(struct pc_index *ix, uint64_t index, enum pc_mark mark);
void __pc_index_clear_mark(struct pc_index *ix, uint64_t index, enum pc_mark mark);

/*
 * Accounting and fault injection (for pc_stats() and the white-box tests).
 * pc_index_nodes_live counts nodes allocated and not yet freed (after RCU),
 * across all trees; node size is pc_index_node_size().  If
 * pc_index_fail_hook is set and returns true, the next node allocation fails.
 */
extern long pc_index_nodes_live;	/* atomic */
size_t pc_index_node_size(void);
extern bool (*pc_index_fail_hook)(void);

#endif /* PC_INDEX_H */
