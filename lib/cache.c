/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pc_cache: budget, page-data pool and statistics (design in cache.h).
 *
 * State of a page-data page:
 *   unmapped --pc_cache_alloc_data() maps a chunk--> free
 *   free --pc_cache_alloc_data()--> in use (charged)
 *   in use --pc_cache_free_data()--> free (uncharged)
 *   free --pc_cache_delete()--> unmapped
 * Under AddressSanitizer, free pages are poisoned, so a use after
 * pc_page_put() of a freed page is reported.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <pagecache.h>

#include "cache.h"
#include "index.h"
#include "page.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define PC_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define PC_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define PC_POISON(p, n) ((void)(p), (void)(n))
#define PC_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

__thread unsigned pc_stat_stripe_id __attribute__((tls_model("initial-exec")));
static unsigned pc_stat_next_stripe;

/*
 * Threads get ids in turn, from 1 (0 means "not yet").  Ids below
 * PC_STAT_STRIPES own the stripe of that number; the rest share stripe 0.
 * The counter saturates, so ids are never reused by a later thread.
 */
unsigned pc_stat_stripe_slow(void)
{
	unsigned id = __atomic_load_n(&pc_stat_next_stripe, __ATOMIC_RELAXED);

	do {
		if (id >= PC_STAT_STRIPES) {
			id = PC_STAT_STRIPES;
			break;
		}
	} while (!__atomic_compare_exchange_n(&pc_stat_next_stripe, &id, id + 1, true,
					      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	if (id < PC_STAT_STRIPES)
		id++;
	pc_stat_stripe_id = id;
	return id;
}

PC_API const char *pc_version(void)
{
	return "0.1.0";
}

PC_API size_t pc_page_size(void)
{
	return PC_PAGE_SIZE;
}

PC_API int pc_cache_new(struct pc_cache **out, uint64_t capacity_bytes)
{
	struct pc_cache *c;

	if (!out)
		return -EINVAL;
	if (capacity_bytes == 0)
		capacity_bytes = PC_CACHE_DEFAULT_CAPACITY;
	capacity_bytes &= ~(uint64_t)(PC_PAGE_SIZE - 1);
	if (capacity_bytes == 0)
		return -EINVAL;
	c = aligned_alloc(PC_CACHELINE, sizeof(*c));
	if (!c)
		return -ENOMEM;
	memset(c, 0, sizeof(*c));
	c->capacity = capacity_bytes;
	pthread_mutex_init(&c->pool_lock, NULL);
	pthread_mutex_init(&c->mappings_lock, NULL);
	pthread_mutex_init(&c->reclaim_lock, NULL);
	pthread_cond_init(&c->flusher_cond, NULL);
	pthread_cond_init(&c->mappings_cond, NULL);
	c->dirty_limit = PC_MAX((capacity_bytes >> PC_PAGE_SHIFT) * PC_DIRTY_PERCENT / 100, 1);
	c->dirty_expire_ms = PC_DIRTY_EXPIRE_MS;
	*out = c;
	return 0;
}

PC_API void pc_cache_delete(struct pc_cache **cp)
{
	struct pc_cache *c;

	if (!cp || !*cp)
		return;
	c = *cp;
	/* Deleting a cache with open mappings is a caller bug (pagecache.h). */
	if (c->mapping_list)
		abort();
	pc_flusher_stop(c);
	/*
	 * Page structs are freed through call_rcu and give their data back
	 * before that; wait for them so that nothing refers to @c.
	 */
	pc_rcu_barrier();
	for (size_t i = 0; i < c->nr_chunks; i++) {
		PC_UNPOISON(c->chunks[i], (size_t)PC_CHUNK_PAGES * PC_PAGE_SIZE);
		munmap(c->chunks[i], (size_t)PC_CHUNK_PAGES * PC_PAGE_SIZE);
	}
	free(c->chunks);
	pthread_mutex_destroy(&c->pool_lock);
	pthread_mutex_destroy(&c->mappings_lock);
	pthread_mutex_destroy(&c->reclaim_lock);
	pthread_cond_destroy(&c->flusher_cond);
	pthread_cond_destroy(&c->mappings_cond);
	free(c);
	*cp = NULL;
}

/*
 * Map @bytes (a multiple of 2 MiB) at a 2 MiB boundary and ask for
 * transparent huge pages: random hits over a large cache then cost no TLB
 * miss for the data, as the kernel's direct map does for its page cache.
 * Where THP is off the advice is ignored and 4 KiB pages are used.
 */
static void *pc_map_chunk(size_t bytes)
{
	size_t align = (size_t)2 << 20;
	char *raw, *start;
	size_t head;

	raw = mmap(NULL, bytes + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	start = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
	head = (size_t)(start - raw);
	if (head)
		munmap(raw, head);
	munmap(start + bytes, align - head);
	madvise(start, bytes, MADV_HUGEPAGE);
	return start;
}

/* Map one more chunk and put its pages on the free list.  pool_lock held. */
static int __pc_cache_grow(struct pc_cache *c)
{
	size_t bytes = (size_t)PC_CHUNK_PAGES * PC_PAGE_SIZE;
	char *chunk;

	if (c->nr_chunks == c->chunks_cap) {
		size_t cap = c->chunks_cap ? c->chunks_cap * 2 : 16;
		void **n = realloc(c->chunks, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->chunks = n;
		c->chunks_cap = cap;
	}
	chunk = pc_map_chunk(bytes);
	if (!chunk)
		return -ENOMEM;
	c->chunks[c->nr_chunks++] = chunk;
	for (size_t i = PC_CHUNK_PAGES; i-- > 0;) {
		void **pg = (void **)(chunk + i * PC_PAGE_SIZE);

		*pg = c->free_list;
		c->free_list = pg;
		PC_POISON((char *)pg + sizeof(void *), PC_PAGE_SIZE - sizeof(void *));
	}
	return 0;
}

static bool pc_cache_has_room(const struct pc_cache *c)
{
	return __atomic_load_n(&c->used, __ATOMIC_RELAXED) + PC_PAGE_SIZE <= c->capacity;
}

/* Charge one page to the budget: false if it is full. */
static bool pc_cache_charge(struct pc_cache *c)
{
	uint64_t used = __atomic_load_n(&c->used, __ATOMIC_RELAXED);

	do {
		if (used + PC_PAGE_SIZE > c->capacity)
			return false;
	} while (!__atomic_compare_exchange_n(&c->used, &used, used + PC_PAGE_SIZE, false,
					      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return true;
}

void *pc_cache_alloc_data(struct pc_cache *c, bool nowait)
{
	void **pg;

	/*
	 * A full budget is made room in by reclaim (reclaim.c), a batch at a
	 * time: at most 1/16 of the budget, so a small cache is not emptied
	 * for one page.  Others may take what it frees first, and a reclaimer
	 * that ran just before ours may have freed room already; so retry
	 * while reclaim makes progress or room is there.  When it frees
	 * nothing and there is no room, everything is pinned, dirty and
	 * unwritable, or locked.
	 */
	for (int tries = 0; !pc_cache_charge(c); tries++) {
		unsigned want = (unsigned)PC_MIN((uint64_t)PC_RECLAIM_WANT,
						 (c->capacity >> PC_PAGE_SHIFT) / 16 + 1);

		if (tries < (nowait ? 1 : 16) &&
		    (pc_cache_reclaim(c, want, !nowait) || pc_cache_has_room(c)))
			continue;
		pc_stat_inc(c, PC_STAT_ENOMEM);
		return NULL;
	}

	pthread_mutex_lock(&c->pool_lock);
	pc_lockdep_acquire(&c->pool_lock, PC_LC_LEAF, PC_LOCK_EXCL, "pool_lock");
	if (!c->free_list && __pc_cache_grow(c) < 0) {
		pc_lockdep_release(&c->pool_lock);
		pthread_mutex_unlock(&c->pool_lock);
		__atomic_fetch_sub(&c->used, PC_PAGE_SIZE, __ATOMIC_RELAXED);
		pc_stat_inc(c, PC_STAT_ENOMEM);
		return NULL;
	}
	pg = c->free_list;
	c->free_list = *pg;
	pc_lockdep_release(&c->pool_lock);
	pthread_mutex_unlock(&c->pool_lock);
	PC_UNPOISON(pg, PC_PAGE_SIZE);
	return pg;
}

void pc_cache_free_data(struct pc_cache *c, void *data)
{
	void **pg = data;

	PC_POISON((char *)pg + sizeof(void *), PC_PAGE_SIZE - sizeof(void *));
	pthread_mutex_lock(&c->pool_lock);
	pc_lockdep_acquire(&c->pool_lock, PC_LC_LEAF, PC_LOCK_EXCL, "pool_lock");
	*pg = c->free_list;
	c->free_list = pg;
	pc_lockdep_release(&c->pool_lock);
	pthread_mutex_unlock(&c->pool_lock);
	__atomic_fetch_sub(&c->used, PC_PAGE_SIZE, __ATOMIC_RELAXED);
}

PC_API int pc_stats(const struct pc_cache *c, struct pc_stats *st, size_t size)
{
	uint64_t sum[PC_STAT_NR] = { 0 };
	struct pc_stats s;

	if (!c || !st || size == 0)
		return -EINVAL;
	for (int i = 0; i < PC_STAT_STRIPES; i++)
		for (int j = 0; j < PC_STAT_NR; j++)
			sum[j] += __atomic_load_n(&c->stats[i].v[j], __ATOMIC_RELAXED);
	memset(&s, 0, sizeof(s));
	s.hits = sum[PC_STAT_HITS];
	s.misses = sum[PC_STAT_MISSES];
	s.fills = sum[PC_STAT_FILLS];
	s.hole_fills = sum[PC_STAT_HOLE_FILLS];
	s.enomem = sum[PC_STAT_ENOMEM];
	s.writebacks = sum[PC_STAT_WRITEBACKS];
	s.punches = sum[PC_STAT_PUNCHES];
	s.truncates = sum[PC_STAT_TRUNCATES];
	s.pages_removed = sum[PC_STAT_PAGES_REMOVED];
	s.pin_waits = sum[PC_STAT_PIN_WAITS];
	s.retries = sum[PC_STAT_RETRIES];
	s.write_errors = sum[PC_STAT_WRITE_ERRORS];
	s.evictions = sum[PC_STAT_EVICTIONS];
	s.reclaim_scans = sum[PC_STAT_RECLAIM_SCANS];
	s.flusher_runs = sum[PC_STAT_FLUSHER_RUNS];
	s.dax_faults = sum[PC_STAT_DAX_FAULTS];
	s.dax_zero_faults = sum[PC_STAT_DAX_ZERO_FAULTS];
	s.dax_allocs = sum[PC_STAT_DAX_ALLOCS];
	s.dax_entry_waits = sum[PC_STAT_DAX_ENTRY_WAITS];
	s.dax_persists = sum[PC_STAT_DAX_PERSISTS];
	s.dax_busy_waits = sum[PC_STAT_DAX_BUSY_WAITS];
	s.mode_switches = sum[PC_STAT_MODE_SWITCHES];
	s.dirty_pages = __atomic_load_n(&c->nr_dirty, __ATOMIC_RELAXED);
	s.pages_cached = __atomic_load_n(&c->pages, __ATOMIC_RELAXED);
	s.bytes_cached = __atomic_load_n(&c->used, __ATOMIC_RELAXED);
	s.capacity = c->capacity;
	s.index_nodes = (uint64_t)__atomic_load_n(&pc_index_nodes_live, __ATOMIC_RELAXED);
	s.meta_bytes = s.pages_cached * sizeof(struct pc_page) +
		       s.index_nodes * pc_index_node_size();
	memcpy(st, &s, PC_MIN(size, sizeof(s)));
	return 0;
}
