/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A small in-memory backend for tests that need to stop the library inside
 * a backend call, or make one fail.  Written against the public ops table
 * only.  One device of HB_PAGES pages shared by every object name (tests use
 * one object); device address = object offset.
 *
 * Hooks: hb.write_mid runs in the middle of a page write (half the page is
 * copied); hb.fail_set_size and hb.fail_map make the next such call fail
 * with -EIO; hb.fail_writes fails that many page writes with hb.write_errno.  hb.zero_tail = false makes set_size leave the tail of the last
 * block alone, as backend.h allows.
 */
#ifndef PC_TEST_HOOK_BACKEND_H
#define PC_TEST_HOOK_BACKEND_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <pagecache/backend.h>

#define HB_PS 4096u
#define HB_PAGES 64u

static struct {
	unsigned char dev[HB_PAGES * HB_PS];
	bool allocated[HB_PAGES];
	uint64_t size;
	void (*write_mid)(void);
	int fail_set_size, fail_map;
	int fail_writes;	/* fail the next N page writes ... */
	int write_errno;	/* ... with this (negative) errno */
	unsigned writes;	/* page writes done */
	bool keep_tail;
} hb;

static int hb_open(void *priv, const char *name, unsigned flags, void **obj)
{
	(void)priv, (void)name;
	if (flags & PC_TRUNC) {
		memset(hb.allocated, 0, sizeof(hb.allocated));
		hb.size = 0;
	}
	*obj = &hb;
	return 0;
}

static void hb_close(void *priv, void *obj) { (void)priv, (void)obj; }
static int hb_unlink(void *priv, const char *name) { (void)priv, (void)name; return -ENOSYS; }

static int hb_get_size(void *priv, void *obj, uint64_t *size)
{
	(void)priv, (void)obj;
	*size = hb.size;
	return 0;
}

static int hb_set_size(void *priv, void *obj, uint64_t size)
{
	(void)priv, (void)obj;
	if (hb.fail_set_size && hb.fail_set_size-- == 1)
		return -EIO;
	for (uint64_t i = (size + HB_PS - 1) / HB_PS; i < HB_PAGES; i++)
		hb.allocated[i] = false;
	if (!hb.keep_tail && size % HB_PS && size < HB_PAGES * HB_PS)
		memset(hb.dev + size, 0, HB_PS - size % HB_PS);
	hb.size = size;
	return 0;
}

static int hb_extent(uint64_t off, struct pc_extent *e, bool mapped)
{
	e->offset = off;
	e->length = HB_PS;
	e->addr = off;
	e->flags = 0;
	e->type = mapped ? PC_EXTENT_MAPPED : PC_EXTENT_HOLE;
	return 0;
}

static int hb_map(void *priv, void *obj, uint64_t off, uint64_t len, struct pc_extent *e)
{
	(void)priv, (void)obj, (void)len;
	if (hb.fail_map && hb.fail_map-- == 1)
		return -EIO;
	return hb_extent(off, e, off < hb.size && off / HB_PS < HB_PAGES &&
				 hb.allocated[off / HB_PS]);
}

static int hb_alloc(void *priv, void *obj, uint64_t off, uint64_t len, struct pc_extent *e)
{
	(void)priv, (void)obj, (void)len;
	if (off / HB_PS >= HB_PAGES)
		return -ENOSPC;
	if (!hb.allocated[off / HB_PS]) {
		memset(hb.dev + off, 0, HB_PS);
		hb.allocated[off / HB_PS] = true;
	}
	return hb_extent(off, e, true);
}

static int hb_free(void *priv, void *obj, uint64_t off, uint64_t len)
{
	(void)priv, (void)obj;
	for (uint64_t i = off / HB_PS; i < (off + len) / HB_PS && i < HB_PAGES; i++)
		hb.allocated[i] = false;
	return 0;
}

static int hb_read(void *priv, void *obj, uint64_t addr, void *buf, size_t len)
{
	(void)priv, (void)obj;
	memcpy(buf, hb.dev + addr, len);
	return 0;
}

static int hb_write(void *priv, void *obj, uint64_t addr, const void *buf, size_t len)
{
	(void)priv, (void)obj;
	if (hb.fail_writes > 0) {
		hb.fail_writes--;
		return hb.write_errno;
	}
	__atomic_fetch_add(&hb.writes, 1, __ATOMIC_RELAXED);
	memcpy(hb.dev + addr, buf, len / 2);
	if (hb.write_mid)
		hb.write_mid();
	memcpy(hb.dev + addr + len / 2, (const char *)buf + len / 2, len - len / 2);
	return 0;
}

static void hb_destroy(void *priv) { (void)priv; }

static const struct pc_backend_ops hb_ops = {
	.version = PC_BACKEND_OPS_VERSION,
	.size = sizeof(struct pc_backend_ops),
	.name = "hook",
	.max_size = HB_PAGES * HB_PS,
	.open = hb_open,
	.close = hb_close,
	.unlink = hb_unlink,
	.get_size = hb_get_size,
	.set_size = hb_set_size,
	.map = hb_map,
	.alloc = hb_alloc,
	.free = hb_free,
	.read = hb_read,
	.write = hb_write,
	.destroy = hb_destroy,
};

/* A one-shot rendezvous between a hook and the test's main thread. */
static pthread_mutex_t hb_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hb_cv = PTHREAD_COND_INITIALIZER;
static int hb_stage;

static inline void hb_wait_stage(int s)
{
	pthread_mutex_lock(&hb_mu);
	while (hb_stage < s)
		pthread_cond_wait(&hb_cv, &hb_mu);
	pthread_mutex_unlock(&hb_mu);
}

static inline void hb_set_stage(int s)
{
	pthread_mutex_lock(&hb_mu);
	hb_stage = s;
	pthread_cond_broadcast(&hb_cv);
	pthread_mutex_unlock(&hb_mu);
}

/* A fresh device and a cache and mapping on it. */
static inline void hb_setup(struct pc_cache **c, struct pc_backend **b, struct pc_mapping **m,
			    uint64_t cache_bytes)
{
	memset(&hb, 0, sizeof(hb));
	hb_stage = 0;
	if (pc_cache_new(c, cache_bytes) || pc_backend_new(b, &hb_ops, NULL) ||
	    pc_open(m, *c, *b, "o", PC_CREAT))
		abort();
}

#endif /* PC_TEST_HOOK_BACKEND_H */
