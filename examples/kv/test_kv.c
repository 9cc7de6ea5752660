/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_kv: the pckv store: calls, bad input, persistence, torn tails,
 * corruption, compaction under concurrent readers, and du after compaction.
 *
 * `test_kv --mutant` is the proof that the reader race test can fail: it
 * runs the same readers with the store's recheck after the pin switched
 * off (KV_DEBUG_SKIP_RECHECK) and passes only if they see a punched value.
 * `test_kv child DIR N` is the crashing writer the torn-tail tests run.
 * `test_kv --dax [--mutant]` runs the same cases with the log on the pmem
 * backend, mapped with PC_DAX (gets pin the backend's own memory); it exits
 * 77 (skipped) where the pmem backend is not built.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <pagecache.h>

#include "kv.h"
#include "stamp.h"

static char dir[96];
/*
 * The store on the pmem backend with PC_DAX (`test_kv --dax`, or
 * KV_TEST_DAX=1 in the environment, which the crashing children inherit).
 */
static bool use_dax;

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

static int setup(void **state)
{
	strcpy(dir, "kvtest.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

/*
 * The race tests run on tmpfs where there is one: a compaction pass there
 * is not dominated by fdatasync(), so passes are many and short, and the
 * reader's window meets more of them.
 */
static int setup_tmpfs(void **state)
{
	struct stat sb;

	if (stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0) {
		strcpy(dir, "/dev/shm/kvtest.XXXXXX");
		if (mkdtemp(dir))
			return 0;
	}
	return setup(state);
}

static int teardown(void **state)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct kv *open_kv(enum kv_sync sync)
{
	struct kv_options o = { .dir = dir, .dax = use_dax, .sync = sync };
	struct kv *kv = NULL;

	assert_int_equal(kv_open(&kv, &o), 0);
	return kv;
}

static char *log_path(void)
{
	static char p[128];

	snprintf(p, sizeof(p), "%s/log", dir);
	return p;
}

static uint64_t file_size(void)
{
	struct stat sb;

	assert_int_equal(stat(log_path(), &sb), 0);
	return (uint64_t)sb.st_size;
}

static uint64_t file_blocks(void)
{
	struct stat sb;

	assert_int_equal(stat(log_path(), &sb), 0);
	return (uint64_t)sb.st_blocks * 512;
}

/* Get @key as a NUL-terminated string into a static buffer, or NULL if absent. */
static const char *get_str(struct kv *kv, const char *key)
{
	static char buf[4096];
	long long n = kv_get_copy(kv, key, strlen(key), buf, sizeof(buf) - 1);

	if (n == -ENOENT)
		return NULL;
	assert_true(n >= 0 && n < (long long)sizeof(buf));
	buf[n] = '\0';
	return buf;
}

static void put_str(struct kv *kv, const char *key, const char *val)
{
	assert_int_equal(kv_put(kv, key, strlen(key), val, strlen(val)), 0);
}

static void put_stamp(struct kv *kv, uint64_t id, uint64_t version)
{
	unsigned char val[8192];
	char key[32];

	stamp_key(key, sizeof(key), id);
	stamp_fill(val, id, version);
	assert_int_equal(kv_put(kv, key, strlen(key), val, stamp_len(id, version)), 0);
}

struct check {
	uint64_t id;
	int64_t version;
};

static int check_fn(void *arg, const void *val, size_t vlen)
{
	struct check *c = arg;

	c->version = stamp_check(val, vlen, c->id);
	return 0;
}

/* The version of key @id in the store (-1: a bad value), or -2 if absent. */
static int64_t get_stamp(struct kv *kv, uint64_t id)
{
	struct check c = { id, -1 };
	char key[32];
	int r;

	stamp_key(key, sizeof(key), id);
	r = kv_get(kv, key, strlen(key), check_fn, &c);
	if (r == -ENOENT)
		return -2;
	assert_int_equal(r, 0);
	return c.version;
}

struct scan_out {
	char buf[1024];
	int stop_after;
	int seen;
};

static int scan_fn(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct scan_out *s = arg;
	size_t n = strlen(s->buf);

	snprintf(s->buf + n, sizeof(s->buf) - n, "%.*s=%.*s;", (int)klen, (const char *)key,
		 (int)vlen, (const char *)val);
	if (++s->seen == s->stop_after)
		return 42;
	return 0;
}

static int ret7_fn(void *arg, const void *val, size_t vlen)
{
	return 7;
}

/*
 * The run is on the path it says: with dax, gets pinned the backend's
 * memory (DAX pins, and no page of the cache filled); without, no DAX pin.
 */
static void check_path(struct kv *kv)
{
	struct pc_stats ps;

	assert_int_equal(pc_stats(kv_cache(kv), &ps, sizeof(ps)), 0);
	if (use_dax) {
		assert_true(ps.dax_faults > 0);
		assert_int_equal(ps.fills, 0);
	} else {
		assert_int_equal(ps.dax_faults, 0);
	}
}

static void test_basic(void **state)
{
	struct kv *kv = open_kv(KV_SYNC_NONE);
	struct scan_out s = { .stop_after = 0 };
	unsigned char *big = malloc(300000);
	long long n;

	assert_int_equal(kv_count(kv), 0);
	assert_null(get_str(kv, "a"));
	assert_int_equal(kv_del(kv, "a", 1), -ENOENT);
	put_str(kv, "b", "2");
	put_str(kv, "a", "1");
	put_str(kv, "ab", "12");
	put_str(kv, "c", "3");
	assert_string_equal(get_str(kv, "a"), "1");
	assert_int_equal(kv_exists(kv, "ab", 2), 1);
	assert_int_equal(kv_exists(kv, "abc", 3), 0);
	assert_int_equal(kv_count(kv), 4);
	put_str(kv, "a", "one");	/* overwrite */
	assert_string_equal(get_str(kv, "a"), "one");
	assert_int_equal(kv_count(kv), 4);
	assert_int_equal(kv_del(kv, "b", 1), 0);
	assert_null(get_str(kv, "b"));
	assert_int_equal(kv_count(kv), 3);
	/* the empty key and the empty value are a key and a value */
	assert_int_equal(kv_put(kv, NULL, 0, NULL, 0), 0);
	assert_string_equal(get_str(kv, ""), "");
	assert_int_equal(kv_count(kv), 4);
	assert_int_equal(kv_del(kv, "", 0), 0);
	/* fn's nonzero return comes back */
	assert_int_equal(kv_get(kv, "a", 1, ret7_fn, NULL), 7);
	/* scan: prefix, key order, stop */
	assert_int_equal(kv_scan(kv, "a", 1, scan_fn, &s), 0);
	assert_string_equal(s.buf, "a=one;ab=12;");
	memset(&s, 0, sizeof(s));
	assert_int_equal(kv_scan(kv, NULL, 0, scan_fn, &s), 0);
	assert_string_equal(s.buf, "a=one;ab=12;c=3;");
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	assert_int_equal(kv_scan(kv, "", 0, scan_fn, &s), 42);
	assert_string_equal(s.buf, "a=one;ab=12;");
	/* a value bigger than a page (the copied path) and a 64 KiB key */
	for (size_t i = 0; i < 300000; i++)
		big[i] = (unsigned char)(i * 7 + 3);
	assert_int_equal(kv_put(kv, big, KV_MAX_KEY, big, 300000), 0);
	unsigned char *out = malloc(300000);
	n = kv_get_copy(kv, big, KV_MAX_KEY, out, 300000);
	assert_int_equal(n, 300000);
	assert_memory_equal(out, big, 300000);
	/* flushdb */
	assert_int_equal(kv_flushdb(kv), 0);
	assert_int_equal(kv_count(kv), 0);
	assert_null(get_str(kv, "a"));
	put_str(kv, "after", "flush");
	assert_int_equal(kv_close(&kv), 0);
	assert_null(kv);
	kv = open_kv(KV_SYNC_NONE);
	assert_int_equal(kv_count(kv), 1);
	assert_string_equal(get_str(kv, "after"), "flush");
	assert_null(get_str(kv, "c"));
	check_path(kv);
	assert_int_equal(kv_close(&kv), 0);
	free(big);
	free(out);
}

/* G8: bad input gets -EINVAL or -E2BIG and changes nothing. */
static void test_bad_input(void **state)
{
	struct kv_options o = { .dir = dir, .dax = use_dax };
	struct kv *kv = open_kv(KV_SYNC_NONE), *k2 = NULL;
	struct kv_stats a, b;
	char buf[8];

	put_str(kv, "k", "v");
	assert_int_equal(kv_stats(kv, &a), 0);
	assert_int_equal(kv_put(NULL, "k", 1, "v", 1), -EINVAL);
	assert_int_equal(kv_put(kv, NULL, 1, "v", 1), -EINVAL);
	assert_int_equal(kv_put(kv, "k", 1, NULL, 1), -EINVAL);
	assert_int_equal(kv_put(kv, "k", KV_MAX_KEY + 1, "v", 1), -E2BIG);
	assert_int_equal(kv_put(kv, "k", 1, "v", (size_t)KV_MAX_VALUE + 1), -E2BIG);
	assert_int_equal(kv_get(kv, "k", 1, NULL, NULL), -EINVAL);
	assert_int_equal(kv_get(kv, NULL, 1, ret7_fn, NULL), -EINVAL);
	assert_int_equal(kv_get(NULL, "k", 1, ret7_fn, NULL), -EINVAL);
	assert_int_equal(kv_get_copy(kv, "k", 1, NULL, 8), -EINVAL);
	assert_int_equal(kv_del(kv, NULL, 1), -EINVAL);
	assert_int_equal(kv_del(kv, "k", KV_MAX_KEY + 1), -E2BIG);
	assert_int_equal(kv_exists(NULL, "k", 1), -EINVAL);
	assert_int_equal(kv_scan(kv, NULL, 1, scan_fn, NULL), -EINVAL);
	assert_int_equal(kv_scan(kv, "", 0, NULL, NULL), -EINVAL);
	assert_int_equal(kv_set_compaction(kv, 101, 0), -EINVAL);
	assert_int_equal(kv_debug_set(kv, 0x80, 0), -EINVAL);
	assert_int_equal(kv_stats(kv, NULL), -EINVAL);
	assert_int_equal(kv_sync(NULL), -EINVAL);
	assert_int_equal(kv_compact(NULL), -EINVAL);
	assert_int_equal(kv_flushdb(NULL), -EINVAL);
	assert_int_equal(kv_close(NULL), -EINVAL);
	assert_null(kv_cache(NULL));
	assert_int_equal(kv_count(NULL), 0);
	/* bad options, and a second open of the same directory */
	assert_int_equal(kv_open(&k2, NULL), -EINVAL);
	o.dir = NULL;
	assert_int_equal(kv_open(&k2, &o), -EINVAL);
	o.dir = dir;
	o.sync = (enum kv_sync)7;
	assert_int_equal(kv_open(&k2, &o), -EINVAL);
	o.sync = KV_SYNC_NONE;
	assert_int_equal(kv_open(NULL, &o), -EINVAL);
	assert_int_equal(kv_open(&k2, &o), -EBUSY);	/* flock: one opener per directory */
	assert_null(k2);
	/* nothing changed */
	assert_int_equal(kv_stats(kv, &b), 0);
	assert_int_equal(a.keys, b.keys);
	assert_int_equal(a.tail, b.tail);
	assert_int_equal(a.live_bytes, b.live_bytes);
	assert_int_equal(kv_get_copy(kv, "k", 1, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'v');
	assert_int_equal(kv_close(&kv), 0);
}

static void test_persist(void **state)
{
	struct kv *kv = open_kv(KV_SYNC_NONE);

	for (uint64_t id = 0; id < 3000; id++)
		put_stamp(kv, id, 1);
	for (uint64_t id = 0; id < 3000; id += 3)
		put_stamp(kv, id, 2);
	for (uint64_t id = 1; id < 3000; id += 3) {
		char key[32];

		stamp_key(key, sizeof(key), id);
		assert_int_equal(kv_del(kv, key, strlen(key)), 0);
	}
	assert_int_equal(kv_sync(kv), 0);
	assert_int_equal(kv_close(&kv), 0);
	kv = open_kv(KV_SYNC_NONE);
	assert_int_equal(kv_count(kv), 2000);
	for (uint64_t id = 0; id < 3000; id++)
		assert_int_equal(get_stamp(kv, id), id % 3 == 0 ? 2 : id % 3 == 1 ? -2 : 1);
	assert_int_equal(kv_close(&kv), 0);
}

/*
 * The crashing writer (run as `test_kv child DIR N`): N puts with
 * KV_SYNC_ALWAYS, so each is on disk, with a kv_sync() (the synced mark)
 * after the first N/2 when N is odd, then _exit() without closing.
 */
static int child_main(const char *d, unsigned n)
{
	struct kv_options o = { .dir = d, .dax = use_dax, .sync = KV_SYNC_ALWAYS };
	struct kv *kv;
	char key[32], val[64];

	if (kv_open(&kv, &o))
		return 3;
	for (unsigned i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "k%04u", i);
		snprintf(val, sizeof(val), "value of k%04u", i);
		if (kv_put(kv, key, strlen(key), val, strlen(val)))
			return 4;
		if (n % 2 && i == n / 2 && kv_sync(kv))
			return 5;
	}
	_exit(0);
}

static void run_child(unsigned n)
{
	char nbuf[16];
	pid_t pid;
	int st;

	snprintf(nbuf, sizeof(nbuf), "%u", n);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/proc/self/exe", "test_kv", "child", dir, nbuf, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void flip_byte(uint64_t off)
{
	int fd = open(log_path(), O_RDWR);
	unsigned char c;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, (off_t)off), 1);
	c ^= 0x5a;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)off), 1);
	close(fd);
}

/* Each record of the child is kv_rec_size(5, 14) = 40 bytes. */
#define CHILD_REC 40

static void check_child_keys(struct kv *kv, unsigned n)
{
	char key[32], val[64];

	assert_int_equal(kv_count(kv), n);
	for (unsigned i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "k%04u", i);
		snprintf(val, sizeof(val), "value of k%04u", i);
		assert_string_equal(get_str(kv, key), val);
	}
}

static void test_torn_tail(void **state)
{
	struct kv_stats st;
	struct kv *kv;
	uint64_t size;

	/* 1. the last record cut short: dropped, the log truncated before it */
	run_child(100);
	size = file_size();
	assert_int_equal(truncate(log_path(), (off_t)(size - 7)), 0);
	kv = open_kv(KV_SYNC_NONE);
	check_child_keys(kv, 99);
	assert_null(get_str(kv, "k0099"));
	assert_int_equal(kv_stats(kv, &st), 0);
	assert_int_equal(st.torn_bytes, CHILD_REC - 7);
	assert_int_equal(file_size(), size - CHILD_REC);
	/* the store goes on from there */
	put_str(kv, "k0099", "again");
	assert_int_equal(kv_close(&kv), 0);
	kv = open_kv(KV_SYNC_NONE);
	assert_string_equal(get_str(kv, "k0099"), "again");
	assert_int_equal(kv_close(&kv), 0);
	teardown(state);
	setup(state);

	/* 2. a byte of the last record's value changed: its CRC fails, it goes */
	run_child(100);
	size = file_size();
	flip_byte(size - 10);
	kv = open_kv(KV_SYNC_NONE);
	check_child_keys(kv, 99);
	assert_int_equal(file_size(), size - CHILD_REC);
	assert_int_equal(kv_close(&kv), 0);
	teardown(state);
	setup(state);

	/* 3. a zeroed tail (file extended, data never written) is a torn tail too */
	run_child(100);
	size = file_size();
	assert_int_equal(truncate(log_path(), (off_t)(size + 8192)), 0);
	kv = open_kv(KV_SYNC_NONE);
	check_child_keys(kv, 100);
	assert_int_equal(file_size(), size);
	assert_int_equal(kv_close(&kv), 0);
}

/*
 * A bad record in the middle.  Below the synced mark (a kv_sync() covered
 * it) it is corruption: kv_open() answers -EBADMSG and leaves the file as
 * it was.  Above the mark it cannot be told from a torn write (nothing
 * after it was acknowledged as durable): the log is cut there.
 */
static void test_corrupt_middle(void **state)
{
	struct kv_options o = { .dir = dir, .dax = use_dax };
	struct kv *kv = NULL;
	uint64_t size;
	unsigned char *before, *after;
	int fd;

	run_child(101);		/* odd: kv_sync() after k0050 */
	size = file_size();
	flip_byte(4096 + 10 * CHILD_REC + 20);	/* k0010's value */
	before = malloc(size);
	after = malloc(size);
	fd = open(log_path(), O_RDONLY);
	assert_int_equal(pread(fd, before, size, 0), (ssize_t)size);
	close(fd);
	assert_int_equal(kv_open(&kv, &o), -EBADMSG);
	assert_null(kv);
	assert_int_equal(file_size(), size);
	fd = open(log_path(), O_RDONLY);
	assert_int_equal(pread(fd, after, size, 0), (ssize_t)size);
	close(fd);
	assert_memory_equal(before, after, size);
	free(before);
	free(after);
	teardown(state);
	setup(state);

	run_child(101);
	flip_byte(4096 + 70 * CHILD_REC + 20);	/* k0070: above the mark */
	kv = open_kv(KV_SYNC_NONE);
	check_child_keys(kv, 70);
	assert_int_equal(file_size(), 4096 + 70 * CHILD_REC);
	assert_int_equal(kv_close(&kv), 0);
}

/*
 * The writer that gets SIGKILLed (`test_kv crash DIR always|none`): puts
 * stamped values of 100 keys, version = a global counter, with background
 * compaction eager, and writes each acknowledged version to stdout: with
 * KV_SYNC_ALWAYS as soon as kv_put returns, with KV_SYNC_NONE only after
 * the kv_sync() that follows every 50 puts.
 */
#define CRASH_KEYS 100

static int crash_main(const char *d, const char *mode)
{
	struct kv_options o = { .dir = d, .dax = use_dax };
	unsigned char val[8192];
	uint64_t pending[50];
	unsigned npending = 0;
	struct kv *kv;
	char key[32];

	o.sync = !strcmp(mode, "always") ? KV_SYNC_ALWAYS : KV_SYNC_NONE;
	if (kv_open(&kv, &o))
		return 3;
	kv_set_compaction(kv, 20, 64 << 10);
	/* Go on from where the last life stopped: versions only grow. */
	uint64_t v = 1;
	for (uint64_t id = 0; id < CRASH_KEYS; id++) {
		int64_t have = -2;
		struct check c = { id, -1 };

		stamp_key(key, sizeof(key), id);
		if (kv_get(kv, key, strlen(key), check_fn, &c) == 0)
			have = c.version;
		if (have >= (int64_t)v)
			v = (uint64_t)have + 1;
	}
	for (;; v++) {
		uint64_t id = v % CRASH_KEYS;

		stamp_key(key, sizeof(key), id);
		stamp_fill(val, id, v);
		if (kv_put(kv, key, strlen(key), val, stamp_len(id, v)))
			return 4;
		if (o.sync == KV_SYNC_ALWAYS) {
			if (write(1, &v, sizeof(v)) != sizeof(v))
				return 5;
			continue;
		}
		pending[npending++] = v;
		if (npending == 50) {
			if (kv_sync(kv))
				return 6;
			if (write(1, pending, sizeof(pending)) != sizeof(pending))
				return 5;
			npending = 0;
		}
	}
}

/*
 * Kill the writer with SIGKILL at a random moment, several lives in a row
 * in one directory; after each, every acknowledged put must be there (the
 * key holds that version or a newer one) and every value whole.
 */
static void crash_rounds(const char *mode)
{
	uint64_t acked[CRASH_KEYS] = { 0 };
	unsigned seed = (unsigned)time(NULL);

	for (int life = 0; life < 4; life++) {
		uint64_t v, nacks = 0;
		struct kv_stats st;
		struct kv *kv;
		int fds[2], status;
		pid_t pid;

		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			dup2(fds[1], 1);
			close(fds[0]);
			close(fds[1]);
			execl("/proc/self/exe", "test_kv", "crash", dir, mode, (char *)NULL);
			_exit(127);
		}
		close(fds[1]);
		/*
		 * Wait for the first acknowledgement (the writer has opened the
		 * store and synced once: slow on a loaded machine, and slower
		 * on DAX, where each new log page is allocated on its own),
		 * then read them for 0.3 to 1.3 s more, then kill.
		 */
		struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
		assert_int_equal(poll(&pfd, 1, 60 * 1000), 1);
		fcntl(fds[0], F_SETFL, O_NONBLOCK);
		double until = now() + 0.3 + (rand_r(&seed) % 1000) / 1000.0;
		while (now() < until) {
			ssize_t n = read(fds[0], &v, sizeof(v));

			if (n == sizeof(v)) {
				acked[v % CRASH_KEYS] = v;
				nacks++;
			} else {
				usleep(1000);
			}
		}
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		fcntl(fds[0], F_SETFL, 0);
		while (read(fds[0], &v, sizeof(v)) == sizeof(v)) {
			acked[v % CRASH_KEYS] = v;
			nacks++;
		}
		close(fds[0]);

		kv = open_kv(KV_SYNC_NONE);
		assert_int_equal(kv_stats(kv, &st), 0);
		for (uint64_t id = 0; id < CRASH_KEYS; id++) {
			int64_t have = get_stamp(kv, id);

			if (acked[id])
				assert_true(have >= (int64_t)acked[id]);
			else
				assert_true(have == -2 || have > 0);
		}
		print_message("sync %s, life %d: %llu puts acknowledged, all there; log head %llu, "
			      "%llu KiB kept, %llu B torn tail dropped\n", mode, life,
			      (unsigned long long)nacks, (unsigned long long)st.head,
			      (unsigned long long)st.log_bytes >> 10, (unsigned long long)st.torn_bytes);
		assert_true(nacks > 0);
		/* the head only moves by compaction: the kills met it at work */
		if (life == 3)
			assert_true(st.head > 4096);
		assert_int_equal(kv_close(&kv), 0);
	}
}

static void test_crash_always(void **state)
{
	crash_rounds("always");
}

static void test_crash_none(void **state)
{
	crash_rounds("none");
}

/* Compaction frees the log's blocks: st_blocks (du) shrinks. */
static void test_du_shrinks(void **state)
{
	struct kv *kv = open_kv(KV_SYNC_NONE);
	struct kv_stats st;
	uint64_t before, after;

	kv_set_compaction(kv, 0, 0);
	for (uint64_t v = 1; v <= 3; v++)
		for (uint64_t id = 0; id < 3000; id++)
			put_stamp(kv, id, v);
	assert_int_equal(kv_sync(kv), 0);
	before = file_blocks();
	assert_int_equal(kv_compact(kv), 0);
	after = file_blocks();
	assert_int_equal(kv_stats(kv, &st), 0);
	print_message("du: %llu KiB -> %llu KiB (live %llu KiB, punched %llu KiB)\n",
		      (unsigned long long)before >> 10, (unsigned long long)after >> 10,
		      (unsigned long long)st.live_bytes >> 10,
		      (unsigned long long)st.punched_bytes >> 10);
	assert_true(after < before / 2);
	assert_true(after < st.live_bytes * 2 + (1 << 20));
	assert_int_equal(st.alloc_bytes, after);
	for (uint64_t id = 0; id < 3000; id++)
		assert_int_equal(get_stamp(kv, id), 3);
	assert_int_equal(kv_close(&kv), 0);
	kv = open_kv(KV_SYNC_NONE);
	assert_int_equal(kv_count(kv), 3000);
	for (uint64_t id = 0; id < 3000; id++)
		assert_int_equal(get_stamp(kv, id), 3);
	assert_int_equal(kv_close(&kv), 0);
}

/* The background thread compacts once the dead ratio passes its threshold. */
static void test_background(void **state)
{
	struct kv *kv = open_kv(KV_SYNC_NONE);
	struct kv_stats st;

	assert_int_equal(kv_set_compaction(kv, 30, 256 << 10), 0);
	for (uint64_t v = 1; v <= 4; v++)
		for (uint64_t id = 0; id < 1000; id++)
			put_stamp(kv, id, v);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(kv_stats(kv, &st), 0);
		if (st.compactions && st.punched_bytes)
			break;
		usleep(50 * 1000);
	}
	assert_true(st.compactions >= 1);
	assert_true(st.punched_bytes > 0);
	for (uint64_t id = 0; id < 1000; id++)
		assert_int_equal(get_stamp(kv, id), 4);
	assert_int_equal(kv_close(&kv), 0);
}

/* ---- compaction vs readers ---- */

#define RACE_KEYS 2000
#define RACE_READERS 6

static struct kv *race_kv;
static int race_stop;		/* atomic */
static uint64_t race_bad, race_gets;	/* atomic */

static void *race_reader(void *arg)
{
	int64_t *last = calloc(RACE_KEYS, sizeof(*last));
	uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 7;

	assert_non_null(last);
	while (!__atomic_load_n(&race_stop, __ATOMIC_ACQUIRE)) {
		uint64_t id;
		int64_t v;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		id = x % RACE_KEYS;
		v = get_stamp(race_kv, id);
		/* a whole value of this key, never older than one seen before */
		if (v < 0 || v < last[id])
			__atomic_fetch_add(&race_bad, 1, __ATOMIC_RELAXED);
		else
			last[id] = v;
		__atomic_fetch_add(&race_gets, 1, __ATOMIC_RELAXED);
	}
	free(last);
	return NULL;
}

static void *race_writer(void *arg)
{
	uint64_t x = 12345, v = 2;

	while (!__atomic_load_n(&race_stop, __ATOMIC_ACQUIRE)) {
		for (int i = 0; i < 200; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			put_stamp(race_kv, x % RACE_KEYS, v);
		}
		v++;
		usleep(1000);
	}
	return NULL;
}

static void *race_compactor(void *arg)
{
	while (!__atomic_load_n(&race_stop, __ATOMIC_ACQUIRE))
		assert_int_equal(kv_compact(race_kv), 0);
	return NULL;
}

/*
 * Readers verify stamped values while a writer overwrites keys and
 * compaction runs back to back.  A lookup delay widens the window between
 * the index lookup and the pin, so gets do find their record moved and
 * punched (get_retries > 0); the recheck must send every one of them back
 * to the index.  With @mutant the recheck is off and the test needs a
 * reader to see a bad value (zeros from the punched page) to pass.
 */
static void race_run(bool mutant)
{
	pthread_t rd[RACE_READERS], wr, cp;
	struct kv_stats st;
	double t0, limit = 60;

	race_kv = open_kv(KV_SYNC_NONE);
	kv_set_compaction(race_kv, 0, 0);
	for (uint64_t id = 0; id < RACE_KEYS; id++)
		put_stamp(race_kv, id, 1);
	assert_int_equal(kv_debug_set(race_kv, mutant ? KV_DEBUG_SKIP_RECHECK : 0, 20000), 0);
	race_stop = 0;
	race_bad = race_gets = 0;
	for (int i = 0; i < RACE_READERS; i++)
		assert_int_equal(pthread_create(&rd[i], NULL, race_reader, (void *)(uintptr_t)(i + 1)),
				 0);
	assert_int_equal(pthread_create(&wr, NULL, race_writer, NULL), 0);
	assert_int_equal(pthread_create(&cp, NULL, race_compactor, NULL), 0);
	/*
	 * Run for at least 3 s, and until the window was hit (a retry; for
	 * the mutant, a bad value), up to a minute.  The lookup delay follows
	 * the length of a compaction pass, which a loaded machine (or TSan)
	 * stretches, so that one delayed get can span a whole pass.
	 */
	t0 = now();
	for (;;) {
		double t;

		usleep(100 * 1000);
		t = now() - t0;
		assert_int_equal(kv_stats(race_kv, &st), 0);
		if (st.compactions) {
			double pass_us = t * 1e6 / (double)st.compactions * 2;

			kv_debug_set(race_kv, mutant ? KV_DEBUG_SKIP_RECHECK : 0,
				     pass_us < 20000 ? 20000 : pass_us > 500000 ? 500000 : (unsigned)pass_us);
		}
		if (mutant ? __atomic_load_n(&race_bad, __ATOMIC_RELAXED) > 0
			   : t >= 3 && st.get_retries > 0)
			break;
		if (t >= limit)
			break;
	}
	__atomic_store_n(&race_stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < RACE_READERS; i++)
		pthread_join(rd[i], NULL);
	pthread_join(wr, NULL);
	pthread_join(cp, NULL);
	assert_int_equal(kv_stats(race_kv, &st), 0);
	print_message("%s: %llu gets, %llu bad, %llu retried, %llu compactions, %llu KiB punched "
		      "in %.1f s\n", mutant ? "mutant (no recheck)" : "recheck on",
		      (unsigned long long)race_gets, (unsigned long long)race_bad,
		      (unsigned long long)st.get_retries, (unsigned long long)st.compactions,
		      (unsigned long long)st.punched_bytes >> 10, now() - t0);
	assert_int_equal(kv_debug_set(race_kv, 0, 0), 0);
	check_path(race_kv);
	assert_int_equal(kv_close(&race_kv), 0);
	assert_true(st.compactions >= 2);
	if (mutant) {
		assert_true(race_bad > 0);
	} else {
		assert_int_equal(race_bad, 0);
		assert_true(st.get_retries > 0);	/* the window was hit, and handled */
	}
}

static void test_compact_readers(void **state)
{
	race_run(false);
}

static void test_compact_readers_mutant(void **state)
{
	race_run(true);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_basic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_middle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_always, setup_tmpfs, teardown),
		cmocka_unit_test_setup_teardown(test_crash_none, setup_tmpfs, teardown),
		cmocka_unit_test_setup_teardown(test_du_shrinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_background, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compact_readers, setup_tmpfs, teardown),
	};
	const struct CMUnitTest mutant[] = {
		cmocka_unit_test_setup_teardown(test_compact_readers_mutant, setup_tmpfs, teardown),
	};

	if (argc >= 2 && !strcmp(argv[1], "--dax")) {
		setenv("KV_TEST_DAX", "1", 1);	/* for the children exec()ed below */
		argv[1] = argv[0];
		argv++;
		argc--;
	}
	use_dax = getenv("KV_TEST_DAX") && !strcmp(getenv("KV_TEST_DAX"), "1");
	if (use_dax) {
		struct pc_backend *be = NULL;
		int r = pc_backend_pmem_new(&be, ".", 0);

		if (r == -ENOTSUP) {
			fprintf(stderr, "test_kv: no pmem backend in this build: skipped\n");
			return 77;
		}
		if (r) {
			fprintf(stderr, "test_kv: pc_backend_pmem_new: %s\n", strerror(-r));
			return 1;
		}
		pc_backend_delete(&be);
	}
	if (argc == 4 && !strcmp(argv[1], "crash"))
		return crash_main(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "child"))
		return child_main(argv[2], (unsigned)atoi(argv[3]));
	if (argc == 2 && !strcmp(argv[1], "--mutant"))
		return cmocka_run_group_tests(mutant, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
