/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A small example backend for libpagecache, written only against
 * <pagecache/backend.h>: named objects kept in memory, one growable buffer
 * per object, with a page budget shared by all objects.  See
 * sparse_backend.c for its design and doc/backends.md for the ops contract.
 */
#ifndef SPARSE_BACKEND_H
#define SPARSE_BACKEND_H

#include <stdint.h>

#include <pagecache/backend.h>

struct sparse;	/* the backend's private state (the ops' @priv) */

/* What the backend has done so far; for checks and curiosity. */
struct sparse_stats {
	uint64_t pages_used;	/* pages allocated, over all objects */
	uint64_t pages_budget;	/* the most pages it will allocate */
	uint64_t allocs, frees, reads, writes, readvs, writevs, flushes;	/* op calls */
};

/*
 * Make a backend handle that allocates at most @budget_bytes (whole pages)
 * of storage over all its objects; alloc answers -ENOSPC beyond that.
 * If @sp is not NULL it receives the private state, for sparse_get_stats(),
 * valid until pc_backend_delete().  Returns 0 or a negative errno.
 */
int sparse_backend_new(struct pc_backend **out, uint64_t budget_bytes, struct sparse **sp);
void sparse_get_stats(struct sparse *sp, struct sparse_stats *st);

#endif /* SPARSE_BACKEND_H */
