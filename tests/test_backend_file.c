/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* File backend: host files as objects, checked through pc_* and against the host files. */

/*
 * Each test gets a fresh directory under one temporary root (in
 * $MESON_BUILD_ROOT if set, else /tmp), removed at the end.  Most checks go
 * through the public API and then look at the host file directly (pread,
 * st_blocks, SEEK_HOLE).  The vectored batch ops are not called by the
 * library yet, so those tests call the ops table through the internal
 * struct pc_backend (lib/backend.h).
 *
 * Tests that need their own file system (a 64 KiB tmpfs for ENOSPC, ramfs
 * for a file system without O_DIRECT and fallocate) mount it in a private
 * mount namespace that main() enters while the process has one thread;
 * without root they are skipped.
 *
 * The durability test runs its reader in a new process image (fork + exec
 * of this program with --verify-child): a fork()ed child of a process that
 * has used liburcu may not use it again (its call_rcu thread is gone).
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef PC_HAVE_URING
#include <liburing.h>
#endif

#include "helpers.h"

#include <pagecache/backend.h>

#include "backend.h"	/* lib/backend.h: struct pc_backend, for the ops table */

#define MIB (1u << 20)

static char g_root[PATH_MAX];	/* the temporary root of this run */
static bool g_can_mount;	/* in a private mount namespace, as root */
static unsigned g_dir_seq;

struct ffix {
	char dir[PATH_MAX];	/* this test's directory */
	struct pc_cache *c;
};

/* ---- host-side helpers ---- */

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t x = rnd_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rnd_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

static void rnd_bytes(unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(rnd() >> 56) | 1;	/* never zero */
}

/* The whole host file, malloc'ed; its length in *@len. */
static unsigned char *host_read(const char *dir, const char *name, size_t *len)
{
	char p[PATH_MAX];
	struct stat st;
	unsigned char *buf;
	size_t done = 0;
	int fd;

	path_of(p, dir, name);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	while (done < (size_t)st.st_size) {
		ssize_t r = pread(fd, buf + done, (size_t)st.st_size - done, (off_t)done);

		assert_true(r > 0);
		done += (size_t)r;
	}
	close(fd);
	*len = done;
	return buf;
}

static void host_write(const char *dir, const char *name, const void *buf, size_t len,
		       uint64_t off)
{
	char p[PATH_MAX];
	int fd;

	path_of(p, dir, name);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

/* The host file holds exactly @sh[0, @len). */
static void host_check(const char *dir, const char *name, const unsigned char *sh, size_t len)
{
	size_t hl;
	unsigned char *h = host_read(dir, name, &hl);

	assert_int_equal(hl, len);
	assert_memory_equal(h, sh, len);
	free(h);
}

static off_t host_seek(const char *dir, const char *name, off_t off, int whence)
{
	char p[PATH_MAX];
	off_t r;
	int fd;

	path_of(p, dir, name);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	r = lseek(fd, off, whence);
	close(fd);
	return r;
}

/* Open fds of this process whose link (readlink /proc/self/fd/N) is @target. */
static int count_fds_to(const char *target)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		char p[PATH_MAX], l[PATH_MAX];
		ssize_t k;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
		k = readlink(p, l, sizeof(l) - 1);
		if (k < 0)
			continue;
		l[k] = '\0';
		if (!target || !strcmp(l, target))
			n++;
	}
	closedir(d);
	return n;
}

static int count_fds(void)
{
	return count_fds_to(NULL);
}

static int count_rings(void)
{
	return count_fds_to("anon_inode:[io_uring]");
}

/* The open(2) flags of the fd of ours that is open on @dir/@name; -1 if none. */
static long fd_flags_of(const char *dir, const char *name)
{
	char want[PATH_MAX], real[PATH_MAX];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long flags = -1;

	path_of(want, dir, name);
	assert_non_null(realpath(want, real));
	assert_non_null(d);
	while ((e = readdir(d)) && flags < 0) {
		char p[PATH_MAX], l[PATH_MAX], line[256];
		ssize_t k;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
		k = readlink(p, l, sizeof(l) - 1);
		if (k < 0)
			continue;
		l[k] = '\0';
		if (strcmp(l, real))
			continue;
		snprintf(p, sizeof(p), "/proc/self/fdinfo/%s", e->d_name);
		f = fopen(p, "r");
		assert_non_null(f);
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "flags: %lo", &flags) == 1)
				break;
		fclose(f);
	}
	closedir(d);
	return flags;
}

/* Can this directory's file system do O_DIRECT at all? */
static bool dir_supports_direct(const char *dir)
{
	char p[PATH_MAX];
	int fd;

	path_of(p, dir, ".direct-probe");
	fd = open(p, O_RDWR | O_CREAT | O_DIRECT, 0644);
	unlink(p);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static bool kernel_has_uring(void)
{
#ifdef PC_HAVE_URING
	struct io_uring ring;

	if (io_uring_queue_init(4, &ring, 0) < 0)
		return false;
	io_uring_queue_exit(&ring);
	return true;
#else
	return false;
#endif
}

/* A new file backend on @dir; PC_FILE_URING as @uring says ("0", "1", NULL: default). */
static struct pc_backend *backend_on(const char *dir, unsigned flags, const char *uring)
{
	struct pc_backend *b = NULL;

	if (uring)
		assert_int_equal(setenv("PC_FILE_URING", uring, 1), 0);
	assert_int_equal(pc_backend_file_new(&b, dir, flags), 0);
	unsetenv("PC_FILE_URING");
	assert_non_null(b);
	return b;
}

static int mount_fs(const char *type, const char *opts, const char *dir)
{
	if (!g_can_mount)
		return -EPERM;
	return mount(type, dir, type, 0, opts) == 0 ? 0 : -errno;
}

/* ---- fixture ---- */

static int setup(void **state)
{
	struct ffix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_true(snprintf(f->dir, sizeof(f->dir), "%s/t%u", g_root, g_dir_seq++) <
		    (int)sizeof(f->dir));
	assert_int_equal(mkdir(f->dir, 0755), 0);
	assert_int_equal(pc_cache_new(&f->c, 64 * MIB), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct ffix *f = *state;

	pc_cache_delete(&f->c);
	rm_tree(f->dir);
	free(f);
	return 0;
}

/* ---- construction, names, open flags ---- */

static void test_new_bad_input(void **state)
{
	struct ffix *f = *state;
	struct pc_backend *b = NULL;
	char p[PATH_MAX];
	int fds = count_fds();

	assert_int_equal(pc_backend_file_new(NULL, f->dir, 0), -EINVAL);
	assert_int_equal(pc_backend_file_new(&b, NULL, 0), -EINVAL);
	assert_null(b);
	path_of(p, f->dir, "missing");
	assert_int_equal(pc_backend_file_new(&b, p, 0), -ENOENT);
	assert_null(b);
	host_write(f->dir, "plain", "x", 1, 0);
	path_of(p, f->dir, "plain");
	assert_int_equal(pc_backend_file_new(&b, p, 0), -ENOTDIR);
	assert_null(b);
	assert_int_equal(pc_backend_file_new(&b, f->dir, 0x2), -EINVAL);
	assert_int_equal(pc_backend_file_new(&b, f->dir, ~0u), -EINVAL);
	assert_int_equal(pc_backend_file_new(&b, f->dir, PC_FILE_DIRECT | 0x100), -EINVAL);
	assert_null(b);
	/* Nothing leaked: no fd stays open after a refusal. */
	assert_int_equal(count_fds(), fds);

	assert_int_equal(pc_backend_file_new(&b, f->dir, 0), 0);
	assert_non_null(b);
	pc_backend_delete(&b);
	assert_null(b);
	assert_int_equal(pc_backend_file_new(&b, f->dir, PC_FILE_DIRECT), 0);
	pc_backend_delete(&b);
	assert_int_equal(count_fds(), fds);
}

static void test_names(void **state)
{
	struct ffix *f = *state;
	struct pc_backend *b = backend_on(f->dir, 0, NULL);
	struct pc_mapping *m;
	char name[300];

	static const char *const bad[] = { "a/b", "/", ".", "..", "x/" };
	for (size_t i = 0; i < PC_ARRAY_SIZE(bad); i++) {
		assert_int_equal(pc_open(&m, f->c, b, bad[i], PC_CREAT), -EINVAL);
		assert_int_equal(pc_backend_unlink(b, bad[i]), -EINVAL);
	}
	assert_int_equal(pc_open(&m, f->c, b, "", PC_CREAT), -EINVAL);
	memset(name, 'n', 256);
	name[256] = '\0';
	assert_int_equal(pc_open(&m, f->c, b, name, PC_CREAT), -EINVAL);
	name[255] = '\0';	/* 255 bytes: the longest */
	assert_int_equal(pc_open(&m, f->c, b, name, PC_CREAT), 0);
	assert_true(host_exists(f->dir, name));
	assert_int_equal(pc_close(&m), 0);
	assert_int_equal(pc_backend_unlink(b, name), 0);
	assert_false(host_exists(f->dir, name));
	/* Dots elsewhere are ordinary names. */
	assert_int_equal(pc_open(&m, f->c, b, "...", PC_CREAT), 0);
	assert_int_equal(pc_close(&m), 0);
	assert_true(host_exists(f->dir, "..."));
	pc_backend_delete(&b);
}

static void test_open_flags(void **state)
{
	struct ffix *f = *state;
	struct pc_backend *b = backend_on(f->dir, 0, NULL);
	struct pc_mapping *m, *m2;
	char buf[16];
	uint64_t size;
	struct stat st;

	assert_int_equal(pc_open(&m, f->c, b, "obj", 0), -ENOENT);
	assert_false(host_exists(f->dir, "obj"));
	assert_int_equal(pc_open(&m, f->c, b, "obj", PC_CREAT), 0);
	st = host_stat(f->dir, "obj");
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0644);	/* main() sets umask 022 */
	assert_int_equal(st.st_size, 0);
	assert_int_equal(pc_open(&m2, f->c, b, "obj", 0), -EBUSY);	/* the library */
	assert_int_equal(pc_backend_unlink(b, "obj"), -EBUSY);
	assert_int_equal(pc_write(m, "hello", 5, 0, 0), 5);
	assert_int_equal(pc_close(&m), 0);
	host_check(f->dir, "obj", (const unsigned char *)"hello", 5);

	assert_int_equal(pc_open(&m, f->c, b, "obj", PC_CREAT | PC_EXCL), -EEXIST);
	/* A file written by someone else is an object with its bytes. */
	host_write(f->dir, "ext", "abc", 3, 0);
	assert_int_equal(pc_open(&m, f->c, b, "ext", 0), 0);
	assert_int_equal(pc_size(m, &size), 0);
	assert_int_equal(size, 3);
	assert_int_equal(pc_read(m, buf, sizeof(buf), 0, 0), 3);
	assert_memory_equal(buf, "abc", 3);
	assert_int_equal(pc_close(&m), 0);
	assert_int_equal(pc_open(&m, f->c, b, "ext", PC_TRUNC), 0);
	assert_int_equal(pc_size(m, &size), 0);
	assert_int_equal(size, 0);
	assert_int_equal(host_stat(f->dir, "ext").st_size, 0);
	assert_int_equal(pc_close(&m), 0);
	assert_int_equal(pc_open(&m, f->c, b, "new", PC_CREAT | PC_EXCL | PC_TRUNC), 0);
	assert_int_equal(pc_close(&m), 0);

	assert_int_equal(pc_backend_unlink(b, "obj"), 0);
	assert_false(host_exists(f->dir, "obj"));
	assert_int_equal(pc_backend_unlink(b, "obj"), -ENOENT);
	assert_int_equal(pc_open(&m, f->c, b, "obj", 0), -ENOENT);

	/* What is not a regular file is not an object. */
	{
		char p[PATH_MAX];

		path_of(p, f->dir, "sub");
		assert_int_equal(mkdir(p, 0755), 0);
		path_of(p, f->dir, "fifo");
		assert_int_equal(mkfifo(p, 0644), 0);
	}
	assert_int_equal(pc_open(&m, f->c, b, "sub", 0), -EISDIR);
	assert_int_equal(pc_backend_unlink(b, "sub"), -EISDIR);
	assert_int_equal(pc_open(&m, f->c, b, "fifo", 0), -EINVAL);
	pc_backend_delete(&b);
}

/* The backend itself shares one fd between two opens of a name. */
static void test_open_twice_shares(void **state)
{
	struct ffix *f = *state;
	struct pc_backend *b = backend_on(f->dir, 0, NULL);
	const struct pc_backend_ops *ops = &b->ops;
	void *o1, *o2, *o3;
	char p[PATH_MAX], real[PATH_MAX];

	assert_int_equal(ops->open(b->priv, "twice", PC_CREAT, &o1), 0);
	assert_int_equal(ops->open(b->priv, "twice", 0, &o2), 0);
	assert_ptr_equal(o1, o2);
	path_of(p, f->dir, "twice");
	assert_non_null(realpath(p, real));
	assert_int_equal(count_fds_to(real), 1);
	assert_int_equal(ops->open(b->priv, "twice", PC_CREAT | PC_EXCL, &o3), -EEXIST);
	assert_int_equal(ops->unlink(b->priv, "twice"), -EBUSY);
	assert_int_equal(ops->open(b->priv, "twice", 0x100, &o3), -EINVAL);
	ops->close(b->priv, o1);
	assert_int_equal(count_fds_to(real), 1);
	assert_int_equal(ops->unlink(b->priv, "twice"), -EBUSY);
	ops->close(b->priv, o2);
	assert_int_equal(count_fds_to(real), 0);
	assert_int_equal(ops->unlink(b->priv, "twice"), 0);
	pc_backend_delete(&b);
}

/* ---- data through the cache, against a shadow and the host file ---- */

#define SH_PAGES 80
#define SH_MAX ((size_t)SH_PAGES * PS)

static void shadow_read_check(struct pc_mapping *m, const unsigned char *sh, size_t s)
{
	unsigned char *buf = malloc(SH_MAX + PS);
	uint64_t size;

	assert_non_null(buf);
	assert_int_equal(pc_size(m, &size), 0);
	assert_int_equal(size, s);
	assert_int_equal(pc_read(m, buf, SH_MAX + PS, 0, 0), (ssize_t)s);
	assert_memory_equal(buf, sh, s);
	free(buf);
}

/*
 * Random writes, punches, zero ranges, truncates and write faults, each
 * applied to a shadow buffer too.  After every pc_sync() the host file
 * holds exactly the shadow; at the end the data survives a reopen.
 */
static void shadow_cycle(struct ffix *f, unsigned flags, uint64_t seed, unsigned steps)
{
	struct pc_backend *b = backend_on(f->dir, flags, NULL);
	unsigned char *sh = calloc(1, SH_MAX), *tmp = malloc(SH_MAX);
	struct pc_mapping *m;
	size_t s = 0;
	unsigned syncs = 0;

	assert_non_null(sh);
	assert_non_null(tmp);
	rnd_state = seed;
	assert_int_equal(pc_open(&m, f->c, b, "shadow", PC_CREAT | PC_TRUNC), 0);
	for (unsigned step = 0; step < steps; step++) {
		size_t off = rnd() % (64 * PS), len = 1 + rnd() % (8 * PS);
		unsigned op = (unsigned)(rnd() % 10);

		/* Invariant of the shadow: sh[s, SH_MAX) is zero. */
		switch (op) {
		case 0: case 1: case 2: case 3:
			rnd_bytes(tmp, len);
			assert_int_equal(pc_write(m, tmp, len, off, 0), (ssize_t)len);
			memcpy(sh + off, tmp, len);
			s = PC_MIN(SH_MAX, off + len > s ? off + len : s);
			break;
		case 4:
			assert_int_equal(pc_punch(m, off, len), 0);
			if (off < s)
				memset(sh + off, 0, PC_MIN(off + len, s) - off);
			break;
		case 5:
			assert_int_equal(pc_zero_range(m, off, len), 0);
			if (off < s)
				memset(sh + off, 0, PC_MIN(off + len, s) - off);
			s = off + len > s ? off + len : s;
			break;
		case 6: {
			size_t ns = rnd() % (72 * PS);

			assert_int_equal(pc_truncate(m, ns), 0);
			if (ns < s)
				memset(sh + ns, 0, s - ns);
			s = ns;
			break;
		}
		case 7:
			if (s) {
				struct pc_page *p;
				size_t at = rnd() % s, pg = at & ~(size_t)(PS - 1);
				size_t n = PC_MIN((size_t)16, PC_MIN(s, pg + PS) - at);

				assert_int_equal(pc_fault(m, at, PC_FAULT_WRITE, &p), 0);
				rnd_bytes(sh + at, n);
				memcpy((char *)pc_page_addr(p) + (at - pg), sh + at, n);
				pc_page_put(p);
			}
			break;
		case 8:
			assert_int_equal(pc_sync(m, 0, 0), 0);
			host_check(f->dir, "shadow", sh, s);
			syncs++;
			break;
		default:
			shadow_read_check(m, sh, s);
			break;
		}
	}
	assert_true(syncs > 0);
	assert_int_equal(pc_sync(m, 0, 0), 0);
	host_check(f->dir, "shadow", sh, s);
	assert_int_equal(pc_close(&m), 0);
	host_check(f->dir, "shadow", sh, s);
	assert_int_equal(pc_open(&m, f->c, b, "shadow", 0), 0);
	shadow_read_check(m, sh, s);
	assert_int_equal(pc_close(&m), 0);
	pc_backend_delete(&b);
	free(tmp);
	free(sh);
}

static void test_shadow_buffered(void **state)
{
	shadow_cycle(*state, 0, 0x1234567ull, 400);
	shadow_cycle(*state, 0, 0xabcdefull, 400);
}

static void test_shadow_direct(void **state)
{
	shadow_cycle(*state, PC_FILE_DIRECT, 0x7654321ull, 400);
}

/* Punch and zero range free host blocks: st_blocks drops, SEEK_HOLE sees the hole. */
static void test_punch_frees_host_blocks(void **state)
{
	struct ffix *f = *state;
	struct pc_backend *b = backend_on(f->dir, 0, NULL);
	unsigned char *buf = malloc(64 * PS);
	struct pc_mapping *m;
	blkcnt_t before, after;

	assert_non_null(buf);
	rnd_bytes(buf, 64 * PS);
	assert_int_equal(pc_open(&m, f->c, b, "p", PC_CREAT), 0);
	assert_int_equal(pc_write(m, buf, 64 * PS, 0, 0), 64 * PS);
	assert_int_equal(pc_sync(m, 0, 0), 0);
	before = host_stat(f->dir, "p").st_blocks;
	assert_true(before >= 64 * PS / 512);
	assert_int_equal(host_seek(f->dir, "p", 0, SEEK_HOLE), 64 * PS);

	assert_int_equal(pc_punch(m, 16 * PS, 16 * PS), 0);
	after = host_stat(f->dir, "p").st_blocks;
	assert_true(after <= before - 16 * PS / 512);
	assert_int_equal(host_seek(f->dir, "p", 0, SEEK_HOLE), 16 * PS);
	assert_int_equal(host_seek(f->dir, "p", 16 * PS, SEEK_DATA), 32 * PS);
	memset(buf + 16 * PS, 0, 16 * PS);

	/* A zero range with partial pages at both ends frees the whole ones. */
	assert_int_equal(pc_zero_range(m, 40 * PS + 100, 8 * PS), 0);
	memset(buf + 40 * PS + 100, 0, 8 * PS);
	assert_int_equal(pc_sync(m, 0, 0), 0);
	assert_true(host_stat(f->dir, "p").st_blocks <= after - 7 * PS / 512);
	assert_int_equal(host_seek(f->dir, "p", 32 * PS, SEEK_HOLE), 41 * PS);
	assert_int_equal(host_seek(f->dir, "p", 41 * PS, SEEK_DATA), 48 * PS);
	host_check(f->dir, "p", buf, 64 * PS);
	shadow_read_check(m, buf, 64 * PS);
	assert_int_equal(pc_close(&m), 0);
	pc_backend_delete(&b);
	free(buf);
}

/* Holes of a sparse host file are holes to the cache: filled with zeros, not read. */
static void test_sparse_file_fills(void **state)
{
	struct ffix *f = *state;
	struct pc_backend *b = backend_on(f->dir, 0, NULL);
	unsigned char page[PS], *buf = malloc(101 * PS);
	struct pc_mapping *m;
	struct pc_stats st0, st1;

	assert_non_null(buf);
	memset(page, 0x5a, PS);
	host_write(f->dir, "sparse", page, PS, 0);
	host_write(f->dir, "sparse", page, 100, 100 * PS);	/* size 100 pages + 100 */
	assert_int_equal(pc_open(&m, f->c, b, "sparse", 0), 0);
	st0 = stats_of(f->c);
	assert_int_equal(pc_read(m, buf, 101 * PS, 0, 0), 100 * PS + 100);
	st1 = stats_of(f->c);
	assert_int_equal(st1.fills - st0.fills, 2);
	assert_int_equal(st1.hole_fills - st0.hole_fills, 99);
	assert_memory_equal(buf, page, PS);
	assert_true(is_zero(buf + PS, 99 * PS));
	assert_memory_equal(buf + 100 * PS, page, 100);
	assert_int_equal(pc_close(&m), 0);
	pc_backend_delete(&b);
	free(buf);
}

static void check_ext(const struct pc_extent *e, uint32_t type, uint64_t off, uint64_t len)
{
	assert_int_equal(e->type, type);
	assert_int_equal(e->offset, off);
	assert_int_equal(e->length, len);
	assert_int_equal(e->flags, 0);
	if (type == PC_EXTENT_MAPPED)
		assert_int_equal(e->addr, off);
}

/* map and alloc, asked directly. */
static void test_map_alloc_ops(void **state)
{
	struct ffix *f = *state;
	struct pc_backend *b = backend_on(f->dir, 0, NULL);
	const struct pc_backend_ops *ops = &b->ops;
	unsigned char page[2 * PS];
	struct pc_extent e;
	blkcnt_t blocks;
	void *o;

	memset(page, 0x33, sizeof(page));
	/* Data [0, 2), hole [2, 10), data in page 10 up to EOF at 10 pages + 100. */
	host_write(f->dir, "m", page, 2 * PS, 0);
	host_write(f->dir, "m", page, 100, 10 * PS);
	assert_int_equal(ops->open(b->priv, "m", 0, &o), 0);
	assert_int_equal(ops->map(b->priv, o, 0, 100 * PS, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 0, 2 * PS);
	assert_int_equal(ops->map(b->priv, o, 0, PS, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 0, PS);
	assert_int_equal(ops->map(b->priv, o, PS, 0, &e), 0);	/* at least one page */
	check_ext(&e, PC_EXTENT_MAPPED, PS, PS);
	assert_int_equal(ops->map(b->priv, o, 2 * PS, 100 * PS, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 2 * PS, 8 * PS);
	assert_int_equal(ops->map(b->priv, o, 5 * PS, 2 * PS, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 5 * PS, 2 * PS);
	assert_int_equal(ops->map(b->priv, o, 10 * PS, 100 * PS, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 10 * PS, PS);	/* the page that holds EOF */
	assert_int_equal(ops->map(b->priv, o, 11 * PS, 5 * PS, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 11 * PS, 5 * PS);	/* past EOF */
	assert_int_equal(ops->map(b->priv, o, 1ull << 40, 1, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 1ull << 40, PS);
	assert_int_equal(ops->map(b->priv, o, 100, PS, &e), -EINVAL);
	assert_int_equal(ops->map(b->priv, o, 0, PS, NULL), -EINVAL);

	/* alloc reserves blocks and keeps the size. */
	blocks = host_stat(f->dir, "m").st_blocks;
	assert_int_equal(ops->alloc(b->priv, o, 20 * PS, 4 * PS, &e), 0);
	check_ext(&e, PC_EXTENT_MAPPED, 20 * PS, 4 * PS);
	assert_int_equal(host_stat(f->dir, "m").st_size, 10 * PS + 100);
	assert_true(host_stat(f->dir, "m").st_blocks >= blocks + 4 * PS / 512);
	/* Allocated in the middle of the file: reads as zero, mapped or not. */
	assert_int_equal(ops->alloc(b->priv, o, 4 * PS, PS, &e), 0);
	assert_int_equal(ops->map(b->priv, o, 4 * PS, PS, &e), 0);
	assert_int_equal(e.length, PS);
	if (e.type == PC_EXTENT_MAPPED) {
		unsigned char rd[PS];

		assert_int_equal(ops->read(b->priv, o, 4 * PS, rd, PS), 0);
		assert_true(is_zero(rd, PS));
	}
	assert_int_equal(ops->alloc(b->priv, o, 100, PS, &e), -EINVAL);
	assert_int_equal(ops->alloc(b->priv, o, 0, 0, &e), -EINVAL);
	assert_int_equal(ops->free(b->priv, o, 0, 2 * PS), 0);
	assert_int_equal(ops->map(b->priv, o, 0, 100 * PS, &e), 0);
	check_ext(&e, PC_EXTENT_HOLE, 0, 10 * PS);
	ops->close(b->priv, o);
	pc_backend_delete(&b);
}

/* ---- durability across processes ---- */

static int verify_child(const char *dir, const char *name, const char *expect)
{
	struct pc_cache *c = NULL;
	struct pc_backend *b = NULL;
	struct pc_mapping *m = NULL;
	unsigned char *want, *got;
	uint64_t size;
	struct stat st;
	int fd, rc = 0;

	fd = open(expect, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0)
		return 10;
	want = malloc((size_t)st.st_size + 1);
	got = malloc((size_t)st.st_size + PS);
	if (!want || !got || pread(fd, want, (size_t)st.st_size, 0) != st.st_size)
		return 11;
	close(fd);
	if (pc_cache_new(&c, 0) || pc_backend_file_new(&b, dir, 0) ||
	    pc_open(&m, c, b, name, 0))
		return 12;
	if (pc_size(m, &size) || size != (uint64_t)st.st_size)
		rc = 13;
	else if (pc_read(m, got, (size_t)st.st_size + PS, 0, 0) != st.st_size)
		rc = 14;
	else if (memcmp(got, want, (size_t)st.st_size))
		rc = 15;
	if (pc_close(&m))
		rc = rc ? rc : 16;
	pc_backend_delete(&b);
	pc_cache_delete(&c);
	free(want);
	free(got);
	return rc;
}

static void test_durable_across_processes(void **state)
{
	struct ffix *f = *state;
	struct pc_backend *b = backend_on(f->dir, 0, NULL);
	size_t len = 37 * PS + 123;
	unsigned char *sh = malloc(len);
	struct pc_mapping *m;
	char expect[PATH_MAX];
	pid_t pid;
	int status;

	assert_non_null(sh);
	rnd_state = 42;
	rnd_bytes(sh, len);
	assert_int_equal(pc_open(&m, f->c, b, "durable", PC_CREAT | PC_EXCL), 0);
	assert_int_equal(pc_write(m, sh, len, 0, 0), (ssize_t)len);
	assert_int_equal(pc_punch(m, 5 * PS + 7, 3 * PS), 0);
	memset(sh + 5 * PS + 7, 0, 3 * PS);
	assert_int_equal(pc_sync(m, 0, 0), 0);
	assert_int_equal(pc_close(&m), 0);
	pc_backend_delete(&b);

	/* The expected bytes, for the child, outside the backend's directory. */
	assert_true(snprintf(expect, sizeof(expect), "%s.expect", f->dir) < (int)sizeof(expect));
	{
		int fd = open(expect, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, sh, len), (ssize_t)len);
		close(fd);
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/proc/self/exe", "test_backend_file", "--verify-child", f->dir, "durable",
		      expect, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	unlink(expect);
	free(sh);
}

/* ---- O_DIRECT ---- */

static void direct_cycle(struct ffix *f, const char *dir, bool expect_direct)
{
	struct pc_backend *b = backend_on(dir, PC_FILE_DIRECT, NULL);
	size_t len = 19 * PS + 1000;
	unsigned char *sh = malloc(len), *buf = malloc(len + PS);
	struct pc_mapping *m;
	long fl;

	assert_non_null(sh);
	assert_non_null(buf);
	rnd_bytes(sh, len);
	assert_int_equal(pc_open(&m, f->c, b, "direct", PC_CREAT), 0);
	fl = fd_flags_of(dir, "direct");
	assert_true(fl >= 0);
	assert_int_equal(!!(fl & O_DIRECT), expect_direct);
	assert_int_equal(pc_write(m, sh, len, 0, 0), (ssize_t)len);
	assert_int_equal(pc_sync(m, 0, 0), 0);
	host_check(dir, "direct", sh, len);	/* the size is exact, not rounded to pages */
	assert_int_equal(pc_write(m, sh, 10, len, 0), 10);	/* grows within the last page */
	memcpy(buf, sh, len);
	memcpy(buf + len, sh, 10);
	assert_int_equal(pc_close(&m), 0);
	host_check(dir, "direct", buf, len + 10);
	assert_int_equal(pc_open(&m, f->c, b, "direct", 0), 0);
	shadow_read_check(m, buf, len + 10);
	assert_int_equal(pc_close(&m), 0);
	pc_backend_delete(&b);
	free(sh);
	free(buf);
}

static void test_direct_here(void **state)
{
	struct ffix *f = *state;

	direct_cycle(f, f->dir, dir_supports_direct(f->dir));
}

/* ramfs: no O_DIRECT, no fallocate.  Falls back to buffered I/O; punch reports. */
static void test_ramfs_fallbacks(void **state)
{
	struct ffix *f = *state;
	char mnt[PATH_MAX];
	struct pc_backend *b;
	struct pc_mapping *m;
	unsigned char buf[4 * PS];
	int r;

	path_of(mnt, f->dir, "ramfs");
	assert_int_equal(mkdir(mnt, 0755), 0);
	r = mount_fs("ramfs", NULL, mnt);
	if (r) {
		print_message("ramfs not mountable here (%s): skipped\n", strerror(-r));
		skip();
	}
	assert_false(dir_supports_direct(mnt));
	direct_cycle(f, mnt, false);

	b = backend_on(mnt, 0, NULL);
	rnd_bytes(buf, sizeof(buf));
	assert_int_equal(pc_open(&m, f->c, b, "nofalloc", PC_CREAT), 0);
	assert_int_equal(pc_write(m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));
	assert_int_equal(pc_sync(m, 0, 0), 0);	/* alloc proceeds without fallocate */
	host_check(mnt, "nofalloc", buf, sizeof(buf));
	assert_int_equal(pc_punch(m, PS, PS), -EOPNOTSUPP);	/* free says why */
	assert_int_equal(pc_close(&m), 0);
	pc_backend_delete(&b);
	assert_int_equal(umount2(mnt, MNT_DETACH), 0);
}

/* ---- vectored batches ---- */

#define NB 8		/* I/Os per batch */
#define SLOT (32 * PS)	/* each I/O in its own slot of the file */

struct batch {
	struct pc_io io[NB];
	struct iovec iov[NB][16];
	unsigned char *buf[NB];
	size_t len[NB];
};

/*
 * I/O i: 1..16 pages at a random page of slot i, as one iovec per page or
 * one iovec for the run (alternately), from @base on.
 */
static void batch_make(struct batch *bt, uint64_t base, bool fill)
{
	for (unsigned i = 0; i < NB; i++) {
		unsigned np = 1 + (unsigned)(rnd() % 16);
		uint64_t addr = base + i * SLOT + (rnd() % (SLOT / PS - 16)) * PS;

		bt->len[i] = (size_t)np * PS;
		assert_int_equal(posix_memalign((void **)&bt->buf[i], PS, bt->len[i]), 0);
		if (fill)
			rnd_bytes(bt->buf[i], bt->len[i]);
		else
			memset(bt->buf[i], 0xee, bt->len[i]);
		if (i % 2) {
			bt->iov[i][0] = (struct iovec){ bt->buf[i], bt->len[i] };
			bt->io[i] = (struct pc_io){ .addr = addr, .iov = bt->iov[i], .iovcnt = 1 };
		} else {
			for (unsigned p = 0; p < np; p++)
				bt->iov[i][p] = (struct iovec){ bt->buf[i] + (size_t)p * PS, PS };
			bt->io[i] = (struct pc_io){ .addr = addr, .iov = bt->iov[i], .iovcnt = np };
		}
		bt->io[i].result = 12345;	/* must be overwritten */
	}
}

/* A read batch of the same shape as @w, into fresh buffers. */
static void batch_like(struct batch *r, const struct batch *w)
{
	for (unsigned i = 0; i < NB; i++) {
		r->len[i] = w->len[i];
		assert_int_equal(posix_memalign((void **)&r->buf[i], PS, r->len[i]), 0);
		memset(r->buf[i], 0xee, r->len[i]);
		r->iov[i][0] = (struct iovec){ r->buf[i], r->len[i] };
		r->io[i] = (struct pc_io){ .addr = w->io[i].addr, .iov = r->iov[i], .iovcnt = 1,
					   .result = 12345 };
	}
}

static void batch_free(struct batch *bt)
{
	for (unsigned i = 0; i < NB; i++)
		free(bt->buf[i]);
}

static void batches(struct ffix *f, const char *uring, unsigned flags)
{
	struct pc_backend *b = backend_on(f->dir, flags, uring);
	const struct pc_backend_ops *ops = &b->ops;
	uint64_t size = (uint64_t)NB * SLOT * 2;
	struct batch w, r;
	struct rlimit old, lim;
	unsigned char *host, *last = NULL;
	size_t hl;
	int rings = count_rings();
	void *o;

	assert_int_equal(ops->open(b->priv, "batch", PC_CREAT | PC_TRUNC, &o), 0);
	assert_int_equal(ops->set_size(b->priv, o, size), 0);

	/* Writes, then the host file and reads agree. */
	rnd_state = 7;
	batch_make(&w, 0, true);
	assert_int_equal(ops->writev(b->priv, o, w.io, NB), 0);
	for (unsigned i = 0; i < NB; i++)
		assert_int_equal(w.io[i].result, 0);
	host = host_read(f->dir, "batch", &hl);
	assert_int_equal(hl, size);
	for (unsigned i = 0; i < NB; i++)
		assert_memory_equal(host + w.io[i].addr, w.buf[i], w.len[i]);
	free(host);
	batch_like(&r, &w);
	assert_int_equal(ops->readv(b->priv, o, r.io, NB), 0);
	for (unsigned i = 0; i < NB; i++) {
		assert_int_equal(r.io[i].result, 0);
		assert_memory_equal(r.buf[i], w.buf[i], w.len[i]);
	}
	batch_free(&r);

	/*
	 * io_uring was used if the kernel has it and it was asked for, or by
	 * default for an O_DIRECT object; and only then.
	 */
	if (kernel_has_uring() &&
	    ((uring && !strcmp(uring, "1")) ||
	     (!uring && (flags & PC_FILE_DIRECT) && dir_supports_direct(f->dir))))
		assert_int_equal(count_rings(), rings + 1);
	else
		assert_int_equal(count_rings(), rings);

	/* Reads past EOF give zeros; a bad I/O fails alone. */
	assert_int_equal(posix_memalign((void **)&last, PS, PS), 0);
	memset(last, 0x99, PS);
	assert_int_equal(ops->write(b->priv, o, size - PS, last, PS), 0);
	batch_like(&r, &w);
	free(r.buf[1]);
	r.len[1] = 4 * PS;
	assert_int_equal(posix_memalign((void **)&r.buf[1], PS, r.len[1]), 0);
	memset(r.buf[1], 0xee, r.len[1]);
	r.iov[1][0] = (struct iovec){ r.buf[1], r.len[1] };
	r.io[1].addr = size - PS;	/* one page of data, then EOF */
	r.io[3].iov = NULL;
	assert_int_equal(ops->readv(b->priv, o, r.io, NB), 0);
	assert_int_equal(r.io[1].result, 0);
	assert_memory_equal(r.buf[1], last, PS);
	assert_true(is_zero(r.buf[1] + PS, r.len[1] - PS));
	assert_int_equal(r.io[3].result, -EINVAL);
	for (unsigned i = 0; i < NB; i++)
		if (i != 1 && i != 3)
			assert_memory_equal(r.buf[i], w.buf[i], w.len[i]);
	batch_free(&r);
	batch_free(&w);
	free(last);

	/* A write past RLIMIT_FSIZE fails with -EFBIG; the others succeed. */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = NB * SLOT;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	batch_make(&w, 0, true);
	w.io[5].addr += NB * SLOT;	/* past the limit, within the size */
	assert_int_equal(ops->writev(b->priv, o, w.io, NB), 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	for (unsigned i = 0; i < NB; i++)
		assert_int_equal(w.io[i].result, i == 5 ? -EFBIG : 0);
	batch_like(&r, &w);
	assert_int_equal(ops->readv(b->priv, o, r.io, NB), 0);
	for (unsigned i = 0; i < NB; i++) {
		assert_int_equal(r.io[i].result, 0);
		if (i != 5)
			assert_memory_equal(r.buf[i], w.buf[i], w.len[i]);
	}
	batch_free(&r);
	batch_free(&w);

	assert_int_equal(ops->readv(b->priv, o, NULL, 1), -EINVAL);
	assert_int_equal(ops->readv(b->priv, o, NULL, 0), 0);
	assert_int_equal(ops->flush(b->priv, o), 0);
	ops->close(b->priv, o);
	assert_int_equal(ops->unlink(b->priv, "batch"), 0);
	pc_backend_delete(&b);
	assert_int_equal(count_rings(), rings);	/* destroy closed the ring */
}

static void test_batches_uring(void **state)
{
	batches(*state, "1", 0);
	batches(*state, "1", PC_FILE_DIRECT);
}

static void test_batches_fallback(void **state)
{
	batches(*state, "0", 0);
	batches(*state, "0", PC_FILE_DIRECT);
}

/* The default: preadv/pwritev for buffered objects, the ring for O_DIRECT ones. */
static void test_batches_default(void **state)
{
	batches(*state, NULL, 0);
	batches(*state, NULL, PC_FILE_DIRECT);
}

/*
 * io_uring_queue_init() fails (no fd left for the ring: RLIMIT_NOFILE at
 * the lowest free fd): the batch still completes, through preadv/pwritev,
 * and so do later ones.
 */
static void test_batches_ring_init_fails(void **state)
{
	struct ffix *f = *state;
	struct pc_backend *b = backend_on(f->dir, 0, "1");
	const struct pc_backend_ops *ops = &b->ops;
	struct rlimit old, lim;
	struct batch w, r;
	int rings = count_rings(), lowest;
	void *o;

	assert_int_equal(ops->open(b->priv, "noring", PC_CREAT, &o), 0);
	assert_int_equal(ops->set_size(b->priv, o, (uint64_t)NB * SLOT), 0);
	rnd_state = 99;
	batch_make(&w, 0, true);
	batch_like(&r, &w);
	lowest = dup(0);
	assert_true(lowest >= 0);
	close(lowest);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)lowest;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
	assert_int_equal(ops->writev(b->priv, o, w.io, NB), 0);
	assert_int_equal(ops->readv(b->priv, o, r.io, NB), 0);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	for (unsigned i = 0; i < NB; i++) {
		assert_int_equal(w.io[i].result, 0);
		assert_int_equal(r.io[i].result, 0);
		assert_memory_equal(r.buf[i], w.buf[i], w.len[i]);
	}
	assert_int_equal(count_rings(), rings);
	/* Given up for good: fds are back, but no ring is tried again. */
	assert_int_equal(ops->writev(b->priv, o, w.io, NB), 0);
	assert_int_equal(count_rings(), rings);
	batch_free(&w);
	batch_free(&r);
	ops->close(b->priv, o);
	pc_backend_delete(&b);
}

/*
 * Sizes: writes never change the object's size, pages written past it
 * are kept (the library may write them ahead of the set_size that covers
 * them), and flush cuts the host file back to the size where that loses
 * nothing.
 */
static void size_rules(struct ffix *f, unsigned flags)
{
	struct pc_backend *b = backend_on(f->dir, flags, NULL);
	const struct pc_backend_ops *ops = &b->ops;
	unsigned char *page = NULL, *rd = NULL;
	uint64_t s = 10 * PS + 100, got;
	void *o;

	assert_int_equal(posix_memalign((void **)&page, PS, PS), 0);
	assert_int_equal(posix_memalign((void **)&rd, PS, PS), 0);
	assert_int_equal(ops->open(b->priv, "sz", PC_CREAT | PC_TRUNC, &o), 0);
	assert_int_equal(ops->set_size(b->priv, o, s), 0);
	assert_int_equal(host_stat(f->dir, "sz").st_size, s);

	/* The last page, zero past the size. */
	memset(page, 0, PS);
	memset(page, 0x77, 100);
	assert_int_equal(ops->write(b->priv, o, 10 * PS, page, PS), 0);
	assert_int_equal(ops->flush(b->priv, o), 0);
	assert_int_equal(host_stat(f->dir, "sz").st_size, s);
	assert_int_equal(ops->get_size(b->priv, o, &got), 0);
	assert_int_equal(got, s);
	assert_int_equal(ops->read(b->priv, o, 10 * PS, rd, PS), 0);
	assert_memory_equal(rd, page, PS);

	/* The last page with data past the size: kept, and shown by a grow. */
	memset(page, 0x66, PS);
	assert_int_equal(ops->write(b->priv, o, 10 * PS, page, PS), 0);
	assert_int_equal(ops->write(b->priv, o, 20 * PS, page, PS), 0);	/* wholly past */
	assert_int_equal(ops->flush(b->priv, o), 0);
	assert_int_equal(host_stat(f->dir, "sz").st_size, 21 * PS);
	assert_int_equal(ops->get_size(b->priv, o, &got), 0);
	assert_int_equal(got, s);
	assert_int_equal(ops->read(b->priv, o, 10 * PS, rd, PS), 0);	/* all of it */
	assert_memory_equal(rd, page, PS);
	/* Rewriting the last page with zeros past the size must not leave 0x66 there. */
	memset(page + 100, 0, PS - 100);
	assert_int_equal(ops->write(b->priv, o, 10 * PS, page, PS), 0);
	/* A grow that stops short of page 20 keeps it for the next one. */
	assert_int_equal(ops->set_size(b->priv, o, 15 * PS), 0);
	assert_int_equal(ops->set_size(b->priv, o, 21 * PS), 0);
	assert_int_equal(ops->read(b->priv, o, 10 * PS, rd, PS), 0);
	assert_memory_equal(rd, page, PS);
	memset(page, 0x66, PS);
	assert_int_equal(ops->read(b->priv, o, 20 * PS, rd, PS), 0);
	assert_memory_equal(rd, page, PS);
	assert_int_equal(ops->write(b->priv, o, 10 * PS, page, PS), 0);

	/* Shrinking cuts, and a later grow reads zeros. */
	assert_int_equal(ops->set_size(b->priv, o, 10 * PS + 1), 0);
	assert_int_equal(host_stat(f->dir, "sz").st_size, 10 * PS + 1);
	assert_int_equal(ops->set_size(b->priv, o, 12 * PS), 0);
	assert_int_equal(ops->read(b->priv, o, 10 * PS, rd, PS), 0);
	assert_int_equal(rd[0], 0x66);
	assert_true(is_zero(rd + 1, PS - 1));

	/* Close cuts what a flush had to keep: nothing can grow over it now. */
	assert_int_equal(ops->write(b->priv, o, 14 * PS, page, PS), 0);
	assert_int_equal(host_stat(f->dir, "sz").st_size, 15 * PS);
	ops->close(b->priv, o);
	assert_int_equal(host_stat(f->dir, "sz").st_size, 12 * PS);
	pc_backend_delete(&b);
	free(page);
	free(rd);
}

static void test_size_rules(void **state)
{
	size_rules(*state, 0);
	size_rules(*state, PC_FILE_DIRECT);
}

/* ---- host errors ---- */

/* ENOSPC from a 64 KiB tmpfs: pc_sync fails, the pages stay dirty, a later sync works. */
static void test_enospc(void **state)
{
	struct ffix *f = *state;
	char mnt[PATH_MAX], p[PATH_MAX];
	unsigned char buf[8 * PS], page[PS];
	struct pc_backend *b;
	struct pc_mapping *m;
	struct pc_stats st;
	int fd, r;
	off_t off = 0;

	path_of(mnt, f->dir, "tiny");
	assert_int_equal(mkdir(mnt, 0755), 0);
	r = mount_fs("tmpfs", "size=64k", mnt);
	if (r) {
		print_message("tmpfs not mountable here (%s): skipped\n", strerror(-r));
		skip();
	}
	b = backend_on(mnt, 0, NULL);
	rnd_bytes(buf, sizeof(buf));
	assert_int_equal(pc_open(&m, f->c, b, "o", PC_CREAT), 0);
	assert_int_equal(pc_write(m, buf, sizeof(buf), 0, 0), (ssize_t)sizeof(buf));

	/* Fill the file system. */
	path_of(p, mnt, "filler");
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	memset(page, 1, PS);
	while (pwrite(fd, page, PS, off) == PS)
		off += PS;
	assert_int_equal(errno, ENOSPC);
	close(fd);

	assert_int_equal(pc_sync(m, 0, 0), -ENOSPC);
	st = stats_of(f->c);
	assert_true(st.write_errors > 0);
	assert_int_equal(pc_sync(m, 0, 0), -ENOSPC);	/* still dirty: tried again */
	assert_int_equal(unlink(p), 0);
	assert_int_equal(pc_sync(m, 0, 0), 0);
	host_check(mnt, "o", buf, sizeof(buf));
	assert_int_equal(pc_close(&m), 0);
	pc_backend_delete(&b);
	assert_int_equal(umount2(mnt, MNT_DETACH), 0);
}

/* ---- concurrency: objects opened, written and closed from two threads ---- */

struct worker {
	const char *dir;
	struct pc_cache *c;
	struct pc_backend *b;
	unsigned id;
	int err;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned char buf[6 * PS], rd[6 * PS];
	char name[32];

	memset(buf, (int)(0x10 + w->id), sizeof(buf));
	for (unsigned i = 0; i < 40 && !w->err; i++) {
		struct pc_mapping *m;

		snprintf(name, sizeof(name), "w%u-%u", w->id, i % 3);
		buf[i] = (unsigned char)i;
		if (pc_open(&m, w->c, w->b, name, PC_CREAT | PC_TRUNC) ||
		    pc_write(m, buf, sizeof(buf) - i, 0, 0) != (ssize_t)(sizeof(buf) - i) ||
		    pc_sync(m, 0, 0) || pc_close(&m)) {
			w->err = 1;
			break;
		}
		if (pc_open(&m, w->c, w->b, name, 0) ||
		    pc_read(m, rd, sizeof(rd), 0, 0) != (ssize_t)(sizeof(buf) - i) ||
		    memcmp(rd, buf, sizeof(buf) - i) || pc_close(&m))
			w->err = 2;
		if (i % 3 == 2 && pc_backend_unlink(w->b, name))
			w->err = 3;
	}
	return NULL;
}

/* A third thread runs batches on its own object meanwhile (the ring lock). */
static void *batcher_main(void *arg)
{
	struct worker *w = arg;
	const struct pc_backend_ops *ops = &w->b->ops;
	unsigned char *bufs;
	struct iovec iov[4];
	struct pc_io io[4];
	void *o;

	if (ops->open(w->b->priv, "batcher", PC_CREAT, &o) ||
	    ops->set_size(w->b->priv, o, 4 * 4 * PS) ||
	    posix_memalign((void **)&bufs, PS, 4 * PS)) {
		w->err = 1;
		return NULL;
	}
	for (unsigned i = 0; i < 200 && !w->err; i++) {
		for (unsigned k = 0; k < 4; k++) {
			memset(bufs + k * PS, (int)(i + k), PS);
			iov[k] = (struct iovec){ bufs + k * PS, PS };
			io[k] = (struct pc_io){ .addr = (uint64_t)k * 4 * PS, .iov = &iov[k],
						.iovcnt = 1 };
		}
		if (ops->writev(w->b->priv, o, io, 4))
			w->err = 2;
		memset(bufs, 0, 4 * PS);
		if (ops->readv(w->b->priv, o, io, 4))
			w->err = 3;
		for (unsigned k = 0; k < 4; k++)
			if (io[k].result || bufs[k * PS] != (unsigned char)(i + k) ||
			    bufs[k * PS + PS - 1] != (unsigned char)(i + k))
				w->err = 4;
	}
	ops->close(w->b->priv, o);
	free(bufs);
	return NULL;
}

static void test_concurrent(void **state)
{
	struct ffix *f = *state;
	struct pc_backend *b = backend_on(f->dir, 0, "1");
	struct worker w[3];
	pthread_t t[3];

	for (unsigned i = 0; i < 3; i++) {
		w[i] = (struct worker){ .dir = f->dir, .c = f->c, .b = b, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, i == 2 ? batcher_main : worker_main,
						&w[i]), 0);
	}
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].err, 0);
	}
	pc_backend_delete(&b);
}

/* ---- main ---- */

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_twice_shares, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shadow_buffered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shadow_direct, setup, teardown),
		cmocka_unit_test_setup_teardown(test_punch_frees_host_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sparse_file_fills, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_alloc_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_durable_across_processes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_here, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ramfs_fallbacks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batches_uring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batches_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batches_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batches_ring_init_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
	};
	int r;

	if (argc == 5 && !strcmp(argv[1], "--verify-child"))
		return verify_child(argv[2], argv[3], argv[4]);
	umask(022);
	/* The RLIMIT_FSIZE test must get EFBIG, not die of SIGXFSZ. */
	signal(SIGXFSZ, SIG_IGN);
	/* Still one thread: a private mount namespace, if we may. */
	g_can_mount = unshare(CLONE_NEWNS) == 0 &&
		      mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
	host_make_root(g_root, "test_backend_file");
	r = cmocka_run_group_tests(tests, NULL, NULL);
	rm_tree(g_root);
	return r;
}
