/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Backend I/O errors injected through the hook backend: EIO on read, readv, write, writev and flush. */
#include <unistd.h>

#include "helpers.h"
#include "hook_backend.h"

/*
 * The hook backend with readv, writev and flush, and failures to inject
 * into them: the next @fail_reads page reads (by read or within a readv)
 * answer -EIO, and so do the next @fail_flushes flushes.  Writes fail with
 * hb.fail_writes, by write or within a writev.
 */
static struct {
	int fail_reads, fail_flushes;
	unsigned readv_calls, writev_calls, flushes;
} ioe;

static int ioe_read(void *priv, void *obj, uint64_t addr, void *buf, size_t len)
{
	if (ioe.fail_reads > 0) {
		ioe.fail_reads--;
		return -EIO;
	}
	return hb_read(priv, obj, addr, buf, len);
}

static int ioe_readv(void *priv, void *obj, struct pc_io *io, unsigned n)
{
	ioe.readv_calls++;
	for (unsigned k = 0; k < n; k++) {
		uint64_t addr = io[k].addr;

		io[k].result = 0;
		for (unsigned i = 0; i < io[k].iovcnt; i++) {
			int r = ioe_read(priv, obj, addr, io[k].iov[i].iov_base, io[k].iov[i].iov_len);

			if (r < 0)
				io[k].result = r;
			addr += io[k].iov[i].iov_len;
		}
	}
	return 0;
}

static int ioe_writev(void *priv, void *obj, struct pc_io *io, unsigned n)
{
	__atomic_fetch_add(&ioe.writev_calls, 1, __ATOMIC_RELAXED);
	for (unsigned k = 0; k < n; k++) {
		uint64_t addr = io[k].addr;

		io[k].result = 0;
		for (unsigned i = 0; i < io[k].iovcnt; i++) {
			int r = hb_write(priv, obj, addr, io[k].iov[i].iov_base, io[k].iov[i].iov_len);

			if (r < 0)
				io[k].result = r;
			addr += io[k].iov[i].iov_len;
		}
	}
	return 0;
}

static int ioe_flush(void *priv, void *obj)
{
	(void)priv, (void)obj;
	__atomic_fetch_add(&ioe.flushes, 1, __ATOMIC_RELAXED);
	if (ioe.fail_flushes > 0) {
		ioe.fail_flushes--;
		return -EIO;
	}
	return 0;
}

struct fx {
	struct pc_cache *c;
	struct pc_backend *b;
	struct pc_mapping *m;
};

/* A cache of @cache_bytes over the hook backend, with (@vec) or without readv/writev. */
static void fx_new(struct fx *f, uint64_t cache_bytes, bool vec)
{
	struct pc_backend_ops ops = hb_ops;

	memset(&hb, 0, sizeof(hb));
	memset(&ioe, 0, sizeof(ioe));
	ops.read = ioe_read;
	ops.flush = ioe_flush;
	if (vec) {
		ops.readv = ioe_readv;
		ops.writev = ioe_writev;
	}
	assert_int_equal(pc_cache_new(&f->c, cache_bytes), 0);
	assert_int_equal(pc_backend_new(&f->b, &ops, NULL), 0);
	assert_int_equal(pc_open(&f->m, f->c, f->b, "o", PC_CREAT), 0);
}

static void fx_delete(struct fx *f)
{
	assert_int_equal(pc_close(&f->m), 0);
	pc_backend_delete(&f->b);
	pc_cache_delete(&f->c);
}

/* Write @n pages of @ch from page @first, write them back and drop them from the cache. */
static void fx_put_cold(struct fx *f, unsigned first, unsigned n, char ch)
{
	char a[4 * PS];

	assert_true(n <= 4);
	memset(a, ch, sizeof(a));
	assert_int_equal(pc_write(f->m, a, (size_t)n * PS, (uint64_t)first * PS, 0),
			 (ssize_t)n * PS);
	assert_int_equal(pc_sync(f->m, 0, 0), 0);
	pc_invalidate_lock(f->m);
	assert_int_equal(pc_invalidate_range(f->m, 0, 0), 0);
	pc_invalidate_unlock(f->m);
	assert_int_equal(stats_of(f->c).pages_cached, 0);
}

/* A read or fault the backend fails answers -EIO, leaves the buffer and the cache alone. */
static void read_error(bool vec)
{
	struct fx f;
	char b[2 * PS];
	struct pc_page *p;
	uint64_t size;

	fx_new(&f, 0, vec);
	fx_put_cold(&f, 0, 2, 'R');
	memset(b, 0x5a, sizeof(b));
	ioe.fail_reads = 2;
	assert_int_equal(pc_read(f.m, b, PS, 0, 0), -EIO);
	for (size_t i = 0; i < PS; i++)
		assert_int_equal(b[i], 0x5a);			/* nothing copied */
	ioe.fail_reads = 2;
	assert_int_equal(pc_fault(f.m, PS, 0, &p), -EIO);
	ioe.fail_reads = 2;
	assert_int_equal(pc_readahead(f.m, 0, 0), -EIO);
	/* No page with the failed contents stayed behind, nothing is dirty, the size holds. */
	assert_int_equal(stats_of(f.c).dirty_pages, 0);
	assert_int_equal(pc_size(f.m, &size), 0);
	assert_int_equal(size, 2 * PS);
	/* The error has cleared: everything reads back. */
	ioe.fail_reads = 0;
	assert_int_equal(pc_read(f.m, b, sizeof(b), 0, 0), (ssize_t)sizeof(b));
	for (size_t i = 0; i < sizeof(b); i++)
		assert_int_equal(b[i], 'R');
	assert_int_equal(hb.writes, 2);				/* a read wrote nothing */
	fx_delete(&f);
}

static void test_read_eio(void **state)
{
	(void)state;
	read_error(false);
}

static void test_readv_eio(void **state)
{
	(void)state;
	read_error(true);
}

/*
 * A readv batch of which one page fails: the read returns what it read
 * before that page (or -EIO for the first), never the failed page's bytes.
 */
static void test_readv_eio_mid_batch(void **state)
{
	struct fx f;
	char b[4 * PS];
	struct pc_page *p;
	ssize_t r;

	(void)state;
	fx_new(&f, 0, true);
	fx_put_cold(&f, 0, 4, 'M');
	memset(b, 0x5a, sizeof(b));
	/* Page 0 cached; pages 1-3 are read together, and the first of them fails. */
	assert_int_equal(pc_fault(f.m, 0, 0, &p), 0);
	pc_page_put(p);
	ioe.fail_reads = 1;
	r = pc_read(f.m, b, sizeof(b), 0, 0);
	assert_true(r == -EIO || (r >= (ssize_t)PS && r < (ssize_t)sizeof(b) && r % PS == 0));
	for (ssize_t i = 0; r > 0 && i < r; i++)
		assert_int_equal(b[i], 'M');
	for (size_t i = r > 0 ? (size_t)r : 0; i < sizeof(b); i++)
		assert_int_equal(b[i], 0x5a);
	assert_true(ioe.readv_calls >= 1);
	ioe.fail_reads = 0;
	assert_int_equal(pc_read(f.m, b, sizeof(b), 0, 0), (ssize_t)sizeof(b));
	for (size_t i = 0; i < sizeof(b); i++)
		assert_int_equal(b[i], 'M');
	fx_delete(&f);
}

/*
 * A run of dirty pages whose writev fails: pc_sync reports -EIO once, the
 * pages stay dirty, and the next pc_sync writes them: nothing lost.
 */
static void test_writev_eio(void **state)
{
	struct fx f;
	char a[3 * PS];

	(void)state;
	fx_new(&f, 0, true);
	memset(a, 'V', sizeof(a));
	assert_int_equal(pc_write(f.m, a, sizeof(a), 0, 0), (ssize_t)sizeof(a));
	hb.fail_writes = 3;
	hb.write_errno = -EIO;
	assert_int_equal(pc_sync(f.m, 0, 0), -EIO);
	assert_true(ioe.writev_calls >= 1);
	assert_int_equal(stats_of(f.c).dirty_pages, 3);
	assert_int_equal(stats_of(f.c).write_errors, 3);
	assert_int_equal(pc_sync(f.m, 0, 0), 0);			/* once */
	assert_int_equal(stats_of(f.c).dirty_pages, 0);
	for (size_t i = 0; i < sizeof(a); i++)
		assert_int_equal(hb.dev[i], 'V');
	assert_int_equal(pc_sync(f.m, 0, 0), 0);
	fx_delete(&f);
}

/* One page of a run fails: only it stays dirty; the error is reported once. */
static void test_writev_eio_one_page(void **state)
{
	struct fx f;
	char a[3 * PS];

	(void)state;
	fx_new(&f, 0, true);
	memset(a, 'O', sizeof(a));
	assert_int_equal(pc_write(f.m, a, sizeof(a), 0, 0), (ssize_t)sizeof(a));
	hb.fail_writes = 1;
	hb.write_errno = -EIO;
	assert_int_equal(pc_sync(f.m, 0, 0), -EIO);
	assert_int_equal(stats_of(f.c).dirty_pages, 1);
	assert_int_equal(pc_sync(f.m, 0, 0), 0);
	assert_int_equal(stats_of(f.c).dirty_pages, 0);
	for (size_t i = 0; i < sizeof(a); i++)
		assert_int_equal(hb.dev[i], 'O');
	fx_delete(&f);
}

/*
 * A failed flush: the data was written but is not known durable, so the
 * error is pc_sync's, once; the next pc_sync flushes again and succeeds.
 */
static void test_flush_eio(void **state)
{
	struct fx f;
	char a[PS];
	unsigned flushes;

	(void)state;
	fx_new(&f, 0, false);
	memset(a, 'S', sizeof(a));
	assert_int_equal(pc_write(f.m, a, PS, 0, 0), PS);
	ioe.fail_flushes = 1;
	assert_int_equal(pc_sync(f.m, 0, 0), -EIO);
	assert_int_equal(stats_of(f.c).write_errors, 1);
	flushes = ioe.flushes;
	assert_int_equal(pc_sync(f.m, 0, 0), 0);			/* reported once */
	assert_true(ioe.flushes > flushes);			/* and flushed again */
	assert_int_equal(hb.dev[PS - 1], 'S');
	fx_delete(&f);
}

/* A writev error met by the flusher is the next pc_sync's, once; nothing lost. */
static void test_background_writev_eio(void **state)
{
	struct fx f;
	char a[2 * PS];

	(void)state;
	fx_new(&f, 0, true);
	assert_int_equal(pc_cache_set_writeback(f.c, 20, 10), 0);	/* expire after 10 ms */
	memset(a, 'G', sizeof(a));
	hb.fail_writes = 2;
	hb.write_errno = -EIO;
	assert_int_equal(pc_write(f.m, a, sizeof(a), 0, 0), (ssize_t)sizeof(a));
	for (int i = 0; i < 1000 && stats_of(f.c).write_errors < 2; i++)
		usleep(2000);
	assert_int_equal(stats_of(f.c).write_errors, 2);
	assert_int_equal(pc_sync(f.m, 0, 0), -EIO);
	assert_int_equal(pc_sync(f.m, 0, 0), 0);
	for (size_t i = 0; i < sizeof(a); i++)
		assert_int_equal(hb.dev[i], 'G');
	fx_delete(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_eio),
		cmocka_unit_test(test_readv_eio),
		cmocka_unit_test(test_readv_eio_mid_batch),
		cmocka_unit_test(test_writev_eio),
		cmocka_unit_test(test_writev_eio_one_page),
		cmocka_unit_test(test_flush_eio),
		cmocka_unit_test(test_background_writev_eio),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
