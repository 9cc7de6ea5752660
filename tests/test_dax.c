/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of DAX mappings: faults into storage, the zero page, DAX I/O,
 * dirty tracking and persist, pins against punch, range pins, the mode
 * switch, and bad input (G8).  Usage: test_dax [--backend ram|pmem]
 * [--dir DIR]; the pmem run exits 77 where the pmem backend is not built.
 */
#include <pthread.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "hook_backend.h"

#include "inject.h"
#include "mapping.h"

/* Whether the memory at @p lies in a writable mapping (/proc/self/maps). */
static bool mapped_writable(const void *p)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512], perms[8];
	unsigned long lo, hi, a = (unsigned long)(uintptr_t)p;
	bool w = true;	/* not found: say writable, so the check fails */

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && a >= lo && a < hi) {
			w = perms[1] == 'w';
			break;
		}
	}
	fclose(f);
	return w;
}

static const char *backend_kind = "ram";
static char pmem_dir[4096];

/* The backend under test, wrapped so that persist calls are recorded. */
static struct pc_backend *inner;
static struct {
	uint64_t addr, len;
} persisted[256];
static int npersist;

static int w_persist(void *priv, void *obj, uint64_t addr, size_t len)
{
	if (npersist < (int)PC_ARRAY_SIZE(persisted))
		persisted[npersist++] = (typeof(persisted[0])){ addr, len };
	return inner->ops.persist ? inner->ops.persist(priv, obj, addr, len) : 0;
}

static void w_destroy(void *priv)
{
	(void)priv;	/* the inner backend is deleted on its own */
}

static int inner_new(struct pc_backend **b, uint64_t dev)
{
	if (!strcmp(backend_kind, "ram"))
		return pc_backend_ram_new(b, dev);
	return pc_backend_pmem_new(b, pmem_dir, 0);
}

struct dfix {
	struct pc_cache *cache;
	struct pc_backend *be;
	struct pc_mapping *m;
};

static struct dfix *dfix_new(uint64_t dev, unsigned flags)
{
	struct dfix *f = calloc(1, sizeof(*f));
	struct pc_backend_ops ops;

	assert_non_null(f);
	assert_int_equal(pc_cache_new(&f->cache, 0), 0);
	assert_int_equal(inner_new(&inner, dev), 0);
	ops = inner->ops;
	ops.persist = w_persist;
	ops.destroy = w_destroy;
	assert_int_equal(pc_backend_new(&f->be, &ops, inner->priv), 0);
	assert_int_equal(pc_open(&f->m, f->cache, f->be, "obj", PC_CREAT | PC_TRUNC | flags), 0);
	npersist = 0;
	return f;
}

static void dfix_delete(struct dfix *f)
{
	if (f->m)
		assert_int_equal(pc_close(&f->m), 0);
	pc_backend_delete(&f->be);
	pc_backend_delete(&inner);
	pc_cache_delete(&f->cache);
	free(f);
}

/* The storage address of byte @off of the object, from the backend itself (NULL: a hole). */
static void *storage_of(struct pc_mapping *m, uint64_t off)
{
	const struct pc_backend_ops *ops = &m->backend->ops;
	struct pc_extent ext;

	assert_int_equal(ops->map(m->backend->priv, m->obj, off, PS, &ext), 0);
	if (ext.type != PC_EXTENT_MAPPED)
		return NULL;
	return ops->direct_access(m->backend->priv, m->obj, ext.addr + (off - ext.offset), PS);
}

static void test_fault_points_into_storage(void **state)
{
	struct dfix *f = dfix_new(1 << 20, PC_DAX);
	char buf[3 * PS], got[3 * PS];
	struct pc_page *p;

	(void)state;
	assert_int_equal(pc_get_dax(f->m), 1);
	fill_pattern(buf, sizeof(buf), 7);
	assert_int_equal(pc_write(f->m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(pc_fault(f->m, i * PS + 5, 0, &p), 0);
		assert_ptr_equal(pc_page_addr(p), storage_of(f->m, i * PS));
		assert_int_equal(pc_page_offset(p), i * PS);
		assert_memory_equal(pc_page_addr(p), buf + i * PS, PS);
		pc_page_put(p);
	}
	/* A store through a write fault is the storage: no copy, no writeback. */
	assert_int_equal(pc_fault(f->m, PS, PC_FAULT_WRITE, &p), 0);
	memset(pc_page_addr(p), 0xab, 100);
	pc_page_put(p);
	memset(buf + PS, 0xab, 100);
	assert_int_equal(pc_read(f->m, got, sizeof(got), 0, 0), (ssize_t)sizeof(got));
	assert_memory_equal(got, buf, sizeof(buf));
	assert_int_equal(stats_of(f->cache).pages_cached, 0);
	assert_true(stats_of(f->cache).dax_faults >= 4);
	assert_int_equal(pc_fault(f->m, 3 * PS, 0, &p), -ENXIO);
	dfix_delete(f);
}

static void test_zero_page_then_write(void **state)
{
	struct dfix *f = dfix_new(1 << 20, PC_DAX);
	struct pc_page *r1, *r2, *w, *r3;
	struct pc_stats st0 = stats_of(f->cache), st;

	(void)state;
	assert_int_equal(pc_truncate(f->m, 2 * PS), 0);	/* two pages of hole */
	if (storage_of(f->m, 0)) {
		/* A pmem file on a file system without SEEK_HOLE has no holes. */
		dfix_delete(f);
		skip();
	}
	assert_int_equal(pc_fault(f->m, 0, 0, &r1), 0);
	assert_int_equal(pc_fault(f->m, 10, 0, &r2), 0);
	assert_true(is_zero(pc_page_addr(r1), PS));
	assert_ptr_equal(pc_page_addr(r1), pc_page_addr(r2));	/* one shared zero page */
	assert_false(mapped_writable(pc_page_addr(r1)));	/* a store through it faults */
	assert_null(storage_of(f->m, 0));
	st = stats_of(f->cache);
	assert_int_equal(st.dax_zero_faults - st0.dax_zero_faults, 2);
	/* The write fault allocates and replaces the entry. */
	assert_int_equal(pc_fault(f->m, 0, PC_FAULT_WRITE, &w), 0);
	assert_ptr_not_equal(pc_page_addr(w), pc_page_addr(r1));
	memset(pc_page_addr(w), 0x5a, PS);
	/* (pmem's map answers a hole for a block never stored into: store first.) */
	assert_ptr_equal(pc_page_addr(w), storage_of(f->m, 0));
	st = stats_of(f->cache);
	assert_int_equal(st.dax_allocs - st0.dax_allocs, 1);
	/* Later read faults get the block, never the zero page again. */
	assert_int_equal(pc_fault(f->m, 0, 0, &r3), 0);
	assert_ptr_equal(pc_page_addr(r3), pc_page_addr(w));
	assert_int_equal(((unsigned char *)pc_page_addr(r3))[PS - 1], 0x5a);
	/* The old read pins still see zeros: the zero page never changes. */
	assert_true(is_zero(pc_page_addr(r1), PS));
	pc_page_put(r1);
	pc_page_put(r2);
	pc_page_put(w);
	pc_page_put(r3);
	/* The other hole page still reads as the zero page. */
	assert_int_equal(pc_fault(f->m, PS, 0, &r1), 0);
	assert_true(is_zero(pc_page_addr(r1), PS));
	pc_page_put(r1);
	dfix_delete(f);
}

static void test_read_write(void **state)
{
	struct dfix *f = dfix_new(1 << 20, PC_DAX);
	size_t len = 5 * PS + 321;
	char *buf = malloc(len), *got = malloc(len + PS);
	uint64_t size;

	(void)state;
	fill_pattern(buf, len, 3);
	/* Unaligned, across pages, in two pieces. */
	assert_int_equal(pc_write(f->m, buf, 1000, 0, 0), 1000);
	assert_int_equal(pc_write(f->m, buf + 1000, len - 1000, 1000, 0), (ssize_t)(len - 1000));
	assert_int_equal(pc_size(f->m, &size), 0);
	assert_int_equal(size, len);
	assert_int_equal(pc_read(f->m, got, len + PS, 0, 0), (ssize_t)len);	/* short at EOF */
	assert_memory_equal(got, buf, len);
	assert_int_equal(pc_read(f->m, got, 10, len, 0), 0);
	assert_int_equal(pc_read(f->m, got, 77, 2 * PS - 7, PC_NOWAIT), 77);
	assert_memory_equal(got, buf + 2 * PS - 7, 77);
	/* The bytes are in storage, page by page. */
	for (uint64_t off = 0; off < len; off += PS)
		assert_memory_equal(storage_of(f->m, off), buf + off, PC_MIN(PS, len - off));
	assert_int_equal(stats_of(f->cache).pages_cached, 0);
	/* Readahead has nothing to do in DAX mode. */
	assert_int_equal(pc_readahead(f->m, 0, 0), 0);
	assert_int_equal(stats_of(f->cache).pages_cached, 0);
	/* And they survive close and reopen in cached mode. */
	assert_int_equal(pc_close(&f->m), 0);
	assert_int_equal(pc_open(&f->m, f->cache, f->be, "obj", 0), 0);
	assert_int_equal(pc_get_dax(f->m), 0);
	assert_int_equal(pc_read(f->m, got, len, 0, 0), (ssize_t)len);
	assert_memory_equal(got, buf, len);
	free(buf);
	free(got);
	dfix_delete(f);
}

/* The persisted ranges are exactly those of @pages (object page numbers), each once. */
static void check_persisted(struct pc_mapping *m, const unsigned *pages, int n)
{
	uint64_t total = 0;

	for (int i = 0; i < npersist; i++)
		total += persisted[i].len;
	assert_int_equal(total, (uint64_t)n * PS);
	for (int k = 0; k < n; k++) {
		char *want = storage_of(m, (uint64_t)pages[k] * PS);
		int hits = 0;

		for (int i = 0; i < npersist; i++) {
			char *a = m->backend->ops.direct_access(m->backend->priv, m->obj,
								persisted[i].addr, persisted[i].len);

			if (want >= a && want < a + persisted[i].len)
				hits++;
		}
		assert_int_equal(hits, 1);
	}
	npersist = 0;
}

static void test_sync_persists_dirty_ranges(void **state)
{
	struct dfix *f = dfix_new(1 << 20, PC_DAX);
	static const unsigned first[] = { 0, 1, 5 }, three[] = { 3 };
	char buf[PS];
	struct pc_page *p;

	(void)state;
	assert_int_equal(pc_truncate(f->m, 8 * PS), 0);
	assert_int_equal(pc_sync(f->m, 0, 0), 0);	/* nothing dirty yet */
	npersist = 0;
	memset(buf, 1, sizeof(buf));
	assert_int_equal(pc_write(f->m, buf, PS, 0, 0), PS);
	assert_int_equal(pc_write(f->m, buf, PS, PS, 0), PS);
	assert_int_equal(pc_fault(f->m, 5 * PS, PC_FAULT_WRITE, &p), 0);
	pc_page_put(p);
	/* A read fault dirties nothing. */
	assert_int_equal(pc_fault(f->m, 6 * PS, 0, &p), 0);
	pc_page_put(p);
	assert_int_equal(pc_sync(f->m, 0, 0), 0);
	check_persisted(f->m, first, 3);
	assert_int_equal(pc_sync(f->m, 0, 0), 0);	/* the marks are gone */
	assert_int_equal(npersist, 0);
	/* A range: only the dirty pages inside it. */
	assert_int_equal(pc_write(f->m, buf, PS, 0, 0), PS);
	assert_int_equal(pc_write(f->m, buf, PS, 3 * PS, 0), PS);
	assert_int_equal(pc_sync(f->m, 2 * PS, 2 * PS), 0);
	check_persisted(f->m, three, 1);
	assert_int_equal(pc_sync(f->m, 0, 0), 0);
	check_persisted(f->m, first, 1);	/* page 0 */
	/* A page pinned for write stays dirty while pinned: stores may follow. */
	assert_int_equal(pc_fault(f->m, 3 * PS, PC_FAULT_WRITE, &p), 0);
	assert_int_equal(pc_sync(f->m, 0, 0), 0);
	check_persisted(f->m, three, 1);
	pc_page_put(p);
	assert_int_equal(pc_sync(f->m, 0, 0), 0);
	check_persisted(f->m, three, 1);
	assert_int_equal(pc_sync(f->m, 0, 0), 0);
	assert_int_equal(npersist, 0);
	assert_true(stats_of(f->cache).dax_persists >= 5);
	dfix_delete(f);
}

static void test_not_dax_capable(void **state)
{
	struct pc_cache *c;
	struct pc_backend *b;
	struct pc_mapping *m;

	(void)state;
	hb_setup(&c, &b, &m, 0);	/* the hook backend has no direct_access */
	assert_int_equal(pc_close(&m), 0);
	assert_int_equal(pc_open(&m, c, b, "o", PC_DAX), -EOPNOTSUPP);
	assert_null(m);
	assert_int_equal(pc_open(&m, c, b, "o", 0), 0);
	assert_int_equal(pc_set_dax(m, true, 0), -EOPNOTSUPP);
	assert_int_equal(pc_get_dax(m), 0);
	assert_int_equal(pc_set_dax(m, false, 0), 0);	/* already cached */
	assert_int_equal(pc_close(&m), 0);
	pc_backend_delete(&b);
	pc_cache_delete(&c);
}

/* Bad input changes nothing (G8), in both modes. */
static void g8_cases(struct dfix *f)
{
	char buf[4 * PS], got[4 * PS];
	struct pc_stats st0, st;
	int dax = pc_get_dax(f->m);

	fill_pattern(buf, sizeof(buf), 9);
	assert_int_equal(pc_write(f->m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	st0 = stats_of(f->cache);
	assert_int_equal(pc_set_dax(NULL, true, 0), -EINVAL);
	assert_int_equal(pc_set_dax(f->m, !dax, 0x80), -EINVAL);
	assert_int_equal(pc_get_dax(NULL), -EINVAL);
	assert_int_equal(pc_pin_range(NULL, 0, PS, 0), -EINVAL);
	assert_int_equal(pc_pin_range(f->m, 0, 0, 0), -EINVAL);
	assert_int_equal(pc_pin_range(f->m, 0, PS, 0x10), -EINVAL);
	assert_int_equal(pc_pin_range(f->m, PC_MAX_SIZE + 1, PS, 0), -EINVAL);
	assert_int_equal(pc_pin_range(f->m, PS, PC_MAX_SIZE, 0), -EFBIG);
	assert_int_equal(pc_pin_range(f->m, 3 * PS, 2 * PS, 0), -ENXIO);	/* past EOF */
	assert_int_equal(pc_pin_range(f->m, 0, (1ull << 30) + 1, 0), -EINVAL);
	assert_int_equal(pc_unpin_range(NULL, 0, PS, 0), -EINVAL);
	assert_int_equal(pc_unpin_range(f->m, 0, PS, 1), -EINVAL);
	assert_int_equal(pc_unpin_range(f->m, 0, 0, 0), -EINVAL);
	assert_int_equal(pc_unpin_range(f->m, 0, PS, 0), -ENOENT);
	assert_int_equal(pc_punch_flags(NULL, 0, PS, 0), -EINVAL);
	assert_int_equal(pc_punch_flags(f->m, 0, PS, 0x2), -EINVAL);
	assert_int_equal(pc_punch_flags(f->m, 0, 0, PC_PUNCH_NOWAIT), -EINVAL);
	assert_int_equal(pc_punch_flags(f->m, 1, PC_MAX_SIZE, PC_PUNCH_NOWAIT), -EFBIG);
	/* Holding the invalidate_lock: the switch would deadlock. */
	pc_invalidate_lock(f->m);
	assert_int_equal(pc_set_dax(f->m, !dax, 0), -EDEADLK);
	pc_invalidate_unlock(f->m);
	/* Nothing changed. */
	assert_int_equal(pc_get_dax(f->m), dax);
	assert_int_equal(pc_read(f->m, got, sizeof(got), 0, 0), (ssize_t)sizeof(got));
	assert_memory_equal(got, buf, sizeof(buf));
	st = stats_of(f->cache);
	assert_int_equal(st.punches, st0.punches);
	assert_int_equal(st.mode_switches, st0.mode_switches);
	assert_int_equal(pc_close(&f->m), 0);	/* no pin was left behind */
}

static void test_g8(void **state)
{
	struct dfix *f;

	(void)state;
	f = dfix_new(1 << 20, PC_DAX);
	g8_cases(f);
	dfix_delete(f);
	f = dfix_new(1 << 20, 0);
	g8_cases(f);
	dfix_delete(f);
}

static void test_set_dax_both_ways(void **state)
{
	struct dfix *f = dfix_new(1 << 20, 0);
	size_t len = 6 * PS + 99;
	char *buf = malloc(len), *got = malloc(len);
	struct pc_page *p;
	uint64_t switches = stats_of(f->cache).mode_switches;

	(void)state;
	fill_pattern(buf, len, 21);
	/* Cached, dirty, never written back. */
	assert_int_equal(pc_write(f->m, buf, len, 0, 0), (ssize_t)len);
	assert_true(stats_of(f->cache).dirty_pages > 0);
	assert_int_equal(pc_set_dax(f->m, true, 0), 0);
	assert_int_equal(pc_get_dax(f->m), 1);
	assert_int_equal(stats_of(f->cache).pages_cached, 0);	/* written back, dropped */
	assert_int_equal(stats_of(f->cache).dirty_pages, 0);
	assert_int_equal(pc_read(f->m, got, len, 0, 0), (ssize_t)len);
	assert_memory_equal(got, buf, len);
	assert_int_equal(pc_fault(f->m, 2 * PS, PC_FAULT_WRITE, &p), 0);
	assert_ptr_equal(pc_page_addr(p), storage_of(f->m, 2 * PS));
	memset(pc_page_addr(p), 0x33, PS);
	memset(buf + 2 * PS, 0x33, PS);
	pc_page_put(p);
	/* A DAX write that grows the object. */
	buf = realloc(buf, len + PS);
	got = realloc(got, len + PS);
	memset(buf + len, 0x44, PS);
	assert_int_equal(pc_write(f->m, buf + len, PS, len, 0), PS);
	len += PS;
	npersist = 0;
	assert_int_equal(pc_set_dax(f->m, false, 0), 0);
	assert_true(npersist > 0);	/* the dirty DAX pages were persisted first */
	assert_int_equal(pc_get_dax(f->m), 0);
	assert_int_equal(pc_read(f->m, got, len, 0, 0), (ssize_t)len);
	assert_memory_equal(got, buf, len);
	assert_int_equal(pc_fault(f->m, 2 * PS, 0, &p), 0);
	assert_ptr_not_equal(pc_page_addr(p), storage_of(f->m, 2 * PS));	/* a cached copy */
	pc_page_put(p);
	assert_int_equal(pc_set_dax(f->m, false, 0), 0);	/* no-op */
	assert_int_equal(stats_of(f->cache).mode_switches - switches, 2);
	/* And once more, through close and reopen. */
	assert_int_equal(pc_close(&f->m), 0);
	assert_int_equal(pc_open(&f->m, f->cache, f->be, "obj", PC_DAX), 0);
	assert_int_equal(pc_read(f->m, got, len, 0, 0), (ssize_t)len);
	assert_memory_equal(got, buf, len);
	free(buf);
	free(got);
	dfix_delete(f);
}

struct putter {
	struct pc_page *p;
	unsigned delay_us;
};

static void *put_later(void *arg)
{
	struct putter *pt = arg;

	usleep(pt->delay_us);
	pc_page_put(pt->p);
	return NULL;
}

static void test_set_dax_busy_and_wait(void **state)
{
	struct dfix *f = dfix_new(1 << 20, 0);
	char buf[2 * PS];
	struct putter pt = { NULL, 50000 };
	pthread_t t;
	struct pc_page *p;

	(void)state;
	memset(buf, 7, sizeof(buf));
	assert_int_equal(pc_write(f->m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	/* Cached mode, a pin: -EBUSY, nothing changed. */
	assert_int_equal(pc_fault(f->m, 0, 0, &p), 0);
	assert_int_equal(pc_set_dax(f->m, true, 0), -EBUSY);
	assert_int_equal(pc_get_dax(f->m), 0);
	assert_int_equal(stats_of(f->cache).pages_cached, 2);
	assert_true(stats_of(f->cache).dirty_pages > 0);
	/* PC_WAIT: the pin goes in another thread, and the switch goes through. */
	pt.p = p;
	pthread_create(&t, NULL, put_later, &pt);
	assert_int_equal(pc_set_dax(f->m, true, PC_WAIT), 0);
	pthread_join(t, NULL);
	assert_int_equal(pc_get_dax(f->m), 1);
	/* DAX mode: a pin, a range pin. */
	assert_int_equal(pc_fault(f->m, PS, PC_FAULT_WRITE, &p), 0);
	assert_int_equal(pc_set_dax(f->m, false, 0), -EBUSY);
	assert_int_equal(pc_close(&f->m), -EBUSY);	/* and the mapping stays open */
	pt.p = p;
	pthread_create(&t, NULL, put_later, &pt);
	assert_int_equal(pc_set_dax(f->m, false, PC_WAIT), 0);
	pthread_join(t, NULL);
	assert_int_equal(pc_get_dax(f->m), 0);
	assert_int_equal(pc_read(f->m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	assert_int_equal(buf[0], 7);
	assert_int_equal(buf[2 * PS - 1], 7);
	dfix_delete(f);
}

struct puncher {
	struct pc_mapping *m;
	uint64_t off, len;
	int ret;	/* atomic; 1 until done */
};

static void *punch_thread(void *arg)
{
	struct puncher *pu = arg;

	__atomic_store_n(&pu->ret, pc_punch(pu->m, pu->off, pu->len), __ATOMIC_RELEASE);
	return NULL;
}

/* A DAX pin holds off a punch, which waits with its lock dropped (G3, seeds/002). */
static void test_punch_waits_for_dax_pin(void **state)
{
	struct dfix *f = dfix_new(1 << 20, PC_DAX);
	struct puncher pu = { f->m, 0, 2 * PS, 1 };
	char buf[2 * PS];
	struct pc_page *a, *b;
	void *block;
	pthread_t t;

	(void)state;
	memset(buf, 0x61, sizeof(buf));
	assert_int_equal(pc_write(f->m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	assert_int_equal(pc_fault(f->m, 0, PC_FAULT_WRITE, &a), 0);
	block = pc_page_addr(a);
	assert_int_equal(pc_punch_flags(f->m, 0, PS, PC_PUNCH_NOWAIT), -EBUSY);
	assert_int_equal(pc_punch_flags(f->m, 0, 2 * PS, PC_PUNCH_NOWAIT), -EBUSY);
	assert_int_equal(((char *)block)[0], 0x61);	/* changed nothing */
	assert_int_equal(((char *)block)[200], 0x61);
	pthread_create(&t, NULL, punch_thread, &pu);
	while (stats_of(f->cache).dax_busy_waits == 0)
		usleep(100);
	assert_int_equal(__atomic_load_n(&pu.ret, __ATOMIC_ACQUIRE), 1);
	/* The holder faults B while the punch waits: no deadlock. */
	assert_int_equal(pc_fault(f->m, PS, 0, &b), 0);
	pc_page_put(b);
	usleep(20000);
	assert_int_equal(__atomic_load_n(&pu.ret, __ATOMIC_ACQUIRE), 1);
	assert_int_equal(((char *)block)[7], 0x61);	/* the block is still ours */
	pc_page_put(a);
	pthread_join(t, NULL);
	assert_int_equal(pu.ret, 0);
	assert_int_equal(pc_read(f->m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	assert_true(is_zero(buf, sizeof(buf)));
	assert_null(storage_of(f->m, 0));
	/* Without a pin, NOWAIT punches at once. */
	assert_int_equal(pc_write(f->m, buf, 10, 0, 0), 10);
	assert_int_equal(pc_punch_flags(f->m, 0, PS, PC_PUNCH_NOWAIT), 0);
	dfix_delete(f);
}

/* Truncate and zero range on DAX: partial pages zeroed in storage, pins waited for. */
static void test_dax_truncate_zero_range(void **state)
{
	struct dfix *f = dfix_new(1 << 20, PC_DAX);
	char buf[4 * PS], got[4 * PS];
	struct putter pt = { NULL, 30000 };
	struct pc_page *p;
	pthread_t t;
	uint64_t size;

	(void)state;
	memset(buf, 0x71, sizeof(buf));
	assert_int_equal(pc_write(f->m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	assert_int_equal(pc_zero_range(f->m, 100, 200), 0);
	memset(buf + 100, 0, 200);
	assert_int_equal(pc_zero_range(f->m, 4 * PS - 10, 30), 0);	/* grows the size */
	memset(buf + 4 * PS - 10, 0, 10);
	assert_int_equal(pc_size(f->m, &size), 0);
	assert_int_equal(size, 4 * PS + 20);
	assert_int_equal(pc_read(f->m, got, sizeof(got), 0, 0), (ssize_t)sizeof(got));
	assert_memory_equal(got, buf, sizeof(got));
	/* A pin past the new EOF holds the truncate off until it goes. */
	assert_int_equal(pc_fault(f->m, 3 * PS, 0, &p), 0);
	pt.p = p;
	pthread_create(&t, NULL, put_later, &pt);
	assert_int_equal(pc_truncate(f->m, PS + 50), 0);
	pthread_join(t, NULL);
	assert_int_equal(pc_size(f->m, &size), 0);
	assert_int_equal(size, PS + 50);
	/* The tail of the last page is zero in storage, so a grow shows zeros. */
	assert_int_equal(pc_truncate(f->m, 2 * PS), 0);
	assert_int_equal(pc_read(f->m, got, 2 * PS, 0, 0), 2 * PS);
	assert_memory_equal(got, buf, PS + 50);
	assert_true(is_zero(got + PS + 50, PS - 50));
	dfix_delete(f);
}

static void test_pin_range(void **state)
{
	struct dfix *f = dfix_new(1 << 20, PC_DAX);
	struct puncher pu;
	char buf[4 * PS];
	pthread_t t;

	(void)state;
	memset(buf, 0x3c, sizeof(buf));
	assert_int_equal(pc_write(f->m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	assert_int_equal(pc_pin_range(f->m, PS + 1, PS, PC_PIN_WRITE), 0);	/* pages 1 and 2 */
	assert_int_equal(pc_punch_flags(f->m, 2 * PS, PS, PC_PUNCH_NOWAIT), -EBUSY);
	assert_int_equal(pc_punch_flags(f->m, 3 * PS, PS, PC_PUNCH_NOWAIT), 0);	/* not pinned */
	assert_int_equal(pc_set_dax(f->m, false, 0), -EBUSY);
	assert_int_equal(pc_close(&f->m), -EBUSY);
	assert_int_equal(pc_unpin_range(f->m, PS, PS, 0), -ENOENT);	/* not that range */
	assert_int_equal(pc_unpin_range(f->m, PS + 1, PS, 0), 0);
	assert_int_equal(pc_unpin_range(f->m, PS + 1, PS, 0), -ENOENT);
	assert_int_equal(pc_punch_flags(f->m, 2 * PS, PS, PC_PUNCH_NOWAIT), 0);
	/* Cached mode: a range pin is never punched out, however long the wait. */
	assert_int_equal(pc_set_dax(f->m, false, 0), 0);
	assert_int_equal(pc_pin_range(f->m, 0, PS, 0), 0);
	assert_int_equal(pc_punch_flags(f->m, 0, PS, PC_PUNCH_NOWAIT), -EBUSY);
	assert_int_equal(pc_set_dax(f->m, true, 0), -EBUSY);
	pu = (struct puncher){ f->m, 0, PS, 1 };
	pthread_create(&t, NULL, punch_thread, &pu);
	usleep(100000);	/* far more than 64 pin waits of a short-term pin */
	assert_int_equal(__atomic_load_n(&pu.ret, __ATOMIC_ACQUIRE), 1);
	assert_int_equal(stats_of(f->cache).pages_cached >= 1, 1);
	assert_int_equal(pc_unpin_range(f->m, 0, PS, 0), 0);
	pthread_join(t, NULL);
	assert_int_equal(pu.ret, 0);
	assert_int_equal(pc_read(f->m, buf, PS, 0, 0), PS);
	assert_true(is_zero(buf, PS));
	dfix_delete(f);
}

/* An engine that moves blocks itself: PC_LOCKED I/O and pc_invalidate_range on DAX (G7). */
static void test_engine_lock_and_invalidate(void **state)
{
	struct dfix *f = dfix_new(1 << 20, PC_DAX);
	char buf[2 * PS], got[2 * PS];
	struct pc_page *p;

	(void)state;
	fill_pattern(buf, sizeof(buf), 41);
	assert_int_equal(pc_write(f->m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	pc_invalidate_lock(f->m);
	/* Copy under the exclusive lock: reads and writes still work. */
	assert_int_equal(pc_read(f->m, got, sizeof(got), 0, PC_LOCKED), (ssize_t)sizeof(got));
	assert_memory_equal(got, buf, sizeof(buf));
	assert_int_equal(pc_write(f->m, buf, 10, 3, PC_LOCKED), 10);
	assert_int_equal(pc_read(f->m, got, 10, 0, 0), -EDEADLK);
	npersist = 0;
	assert_int_equal(pc_invalidate_range(f->m, 0, 0), 0);
	assert_true(npersist > 0);	/* dirty entries persisted before they were dropped */
	assert_int_equal(f->m->dax.nr_entries, 0);
	pc_invalidate_unlock(f->m);
	/* A pinned entry stays, and the call says so. */
	assert_int_equal(pc_fault(f->m, PS, 0, &p), 0);
	pc_invalidate_lock(f->m);
	assert_int_equal(pc_invalidate_range(f->m, 0, 0), -EBUSY);
	assert_int_equal(f->m->dax.nr_entries, 1);
	pc_invalidate_unlock(f->m);
	pc_page_put(p);
	memcpy(got, buf, 10);	/* the shadow of that write, copied without overlap */
	memcpy(buf + 3, got, 10);
	assert_int_equal(pc_read(f->m, got, sizeof(got), 0, 0), (ssize_t)sizeof(got));
	assert_memory_equal(got, buf, sizeof(buf));
	dfix_delete(f);
}

static bool fail_nodes(void)
{
	return true;
}

/* Allocation failures: -ENOMEM (or -ENOSPC), nothing leaked or half-done (G8). */
static void test_alloc_failures(void **state)
{
	struct dfix *f = dfix_new(16 * PS, PC_DAX);
	char buf[PS];
	struct pc_page *p;

	(void)state;
	assert_int_equal(pc_truncate(f->m, 4 * PS), 0);
	/* The index cannot take the placeholder. */
	pc_index_fail_hook = fail_nodes;
	assert_int_equal(pc_fault(f->m, 0, PC_FAULT_WRITE, &p), -ENOMEM);
	assert_int_equal(pc_write(f->m, buf, PS, 0, 0), -ENOMEM);
	assert_int_equal(pc_read(f->m, buf, PS, 0, 0), -ENOMEM);
	pc_index_fail_hook = NULL;
	assert_int_equal(f->m->dax.nr_entries, 0);
	/* The pin cannot be allocated: the entry is left as it was, unlocked. */
#ifdef PC_FAULT_INJECT
	/* Fail every hit of the site from the next one on (hits count from start). */
	pc_inject_fail_set(PC_FAIL_DAX_PIN, pc_inject_fail_hits(PC_FAIL_DAX_PIN) + 1, 1);
	assert_int_equal(pc_fault(f->m, 0, PC_FAULT_WRITE, &p), -ENOMEM);
	assert_int_equal(pc_fault(f->m, 0, 0, &p), -ENOMEM);
	pc_inject_fail_set(PC_FAIL_PIN_REC, pc_inject_fail_hits(PC_FAIL_PIN_REC) + 1, 1);
	assert_int_equal(pc_pin_range(f->m, 0, PS, 0), -ENOMEM);
	pc_inject_fail_set(-1, 0, 0);
	assert_null(storage_of(f->m, 0));	/* nothing was allocated */
#endif
	/* A range pin whose last page cannot get a block releases the others (RAM: 16 blocks). */
	if (!strcmp(backend_kind, "ram")) {
		assert_int_equal(pc_truncate(f->m, 64 * PS), 0);
		assert_int_equal(pc_pin_range(f->m, 0, 64 * PS, PC_PIN_WRITE), -ENOSPC);
		assert_int_equal(__atomic_load_n(&f->m->dax_pins, __ATOMIC_SEQ_CST), 0);
		assert_int_equal(pc_punch_flags(f->m, 0, 64 * PS, PC_PUNCH_NOWAIT), 0);
	}
	/* Everything works afterwards. */
	assert_int_equal(pc_fault(f->m, 0, PC_FAULT_WRITE, &p), 0);
	pc_page_put(p);
	assert_int_equal(pc_set_dax(f->m, false, 0), 0);
	dfix_delete(f);
}

/* Durability (pmem only): DAX stores plus pc_sync survive a reopen in a new process. */
static void test_durable_across_processes(void **state)
{
	struct pc_cache *c;
	struct pc_backend *b;
	struct pc_mapping *m;
	char buf[3 * PS];
	struct pc_page *p;
	pid_t pid;
	int status;

	(void)state;
	if (strcmp(backend_kind, "pmem"))
		skip();	/* RAM keeps nothing across processes */
	fill_pattern(buf, sizeof(buf), 77);
	assert_int_equal(pc_cache_new(&c, 0), 0);
	assert_int_equal(pc_backend_pmem_new(&b, pmem_dir, 0), 0);
	assert_int_equal(pc_open(&m, c, b, "durable", PC_CREAT | PC_TRUNC | PC_DAX), 0);
	assert_int_equal(pc_write(m, buf, 2 * PS, 0, 0), 2 * PS);
	assert_int_equal(pc_truncate(m, sizeof(buf)), 0);
	assert_int_equal(pc_fault(m, 2 * PS, PC_FAULT_WRITE, &p), 0);
	memcpy(pc_page_addr(p), buf + 2 * PS, PS);
	pc_page_put(p);
	assert_int_equal(pc_sync(m, 0, 0), 0);
	assert_int_equal(pc_close(&m), 0);
	pc_backend_delete(&b);
	pc_cache_delete(&c);
	/* A fresh process (spawned, not forked: TSan and valgrind are fine with that). */
	{
		char *args[] = { (char *)"test_dax", (char *)"--check-durable", pmem_dir, NULL };

		assert_int_equal(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, args, environ), 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* The child of test_durable_across_processes: 0 if @dir's object "durable" is intact. */
static int check_durable(const char *dir)
{
	struct pc_cache *c;
	struct pc_backend *b;
	struct pc_mapping *m;
	char buf[3 * PS], got[3 * PS];
	uint64_t size = 0;
	int bad;

	fill_pattern(buf, sizeof(buf), 77);
	if (pc_cache_new(&c, 0) || pc_backend_pmem_new(&b, dir, 0) ||
	    pc_open(&m, c, b, "durable", PC_DAX) || pc_size(m, &size) || size != sizeof(buf) ||
	    pc_read(m, got, sizeof(got), 0, 0) != (ssize_t)sizeof(got))
		return 2;
	bad = memcmp(got, buf, sizeof(buf)) != 0;
	if (pc_close(&m))
		return 2;
	pc_backend_delete(&b);
	pc_cache_delete(&c);
	return bad;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fault_points_into_storage),
		cmocka_unit_test(test_zero_page_then_write),
		cmocka_unit_test(test_read_write),
		cmocka_unit_test(test_sync_persists_dirty_ranges),
		cmocka_unit_test(test_not_dax_capable),
		cmocka_unit_test(test_g8),
		cmocka_unit_test(test_set_dax_both_ways),
		cmocka_unit_test(test_set_dax_busy_and_wait),
		cmocka_unit_test(test_punch_waits_for_dax_pin),
		cmocka_unit_test(test_dax_truncate_zero_range),
		cmocka_unit_test(test_pin_range),
		cmocka_unit_test(test_engine_lock_and_invalidate),
		cmocka_unit_test(test_alloc_failures),
		cmocka_unit_test(test_durable_across_processes),
	};
	const char *dir = ".";

	if (argc == 3 && !strcmp(argv[1], "--check-durable"))
		return check_durable(argv[2]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--backend") && i + 1 < argc)
			backend_kind = argv[++i];
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir = argv[++i];
		else
			return 2;
	}
	if (!strcmp(backend_kind, "pmem")) {
		struct pc_backend *b;
		int r;

		snprintf(pmem_dir, sizeof(pmem_dir), "%s/test_dax_pmem.XXXXXX", dir);
		if (!mkdtemp(pmem_dir))
			return 1;
		r = pc_backend_pmem_new(&b, pmem_dir, 0);
		if (r == -ENOTSUP) {
			rmdir(pmem_dir);
			printf("pmem backend not built: skipped\n");
			return SKIP_EXIT;
		}
		if (r < 0)
			return 1;
		pc_backend_delete(&b);
	} else if (strcmp(backend_kind, "ram")) {
		return 2;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
