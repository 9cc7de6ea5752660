/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pckv: the command line of the key-value store.
 *
 *   pckv [--dir D] [--dax] [--sync always|none] [--cache BYTES] COMMAND ...
 *     put K V (V "-": read the value from stdin) | get K | del K | scan [PREFIX] | compact | stats
 *     bench [--n N] [--threads T] [--runs R] | demo | serve ...
 *
 * The data directory is --dir, else $PCKV_DIR, else ./pckv-data; demo and
 * bench use a fresh subdirectory ("demo", "bench") of --dir, or of the
 * directory pckv was built in.  get prints the value and a newline, and
 * exits 1 if the key is absent (del too).  Exit 2 is a usage or store error.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pagecache.h>

#include "kv.h"
#include "pckv.h"
#include "server.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pckv [--dir D] [--dax] [--sync always|none] [--cache BYTES] COMMAND\n"
		"  put K V          store V under K (V \"-\": the value is stdin)\n"
		"  get K            print K's value (exit 1 if absent)\n"
		"  del K            delete K (exit 1 if absent)\n"
		"  scan [PREFIX]    print \"key<TAB>value\" for each key, in key order\n"
		"  compact          compact the log now, show its allocated size before/after\n"
		"  stats            the store's and libpagecache's counters\n"
		"  bench [--n N] [--threads T] [--runs R] [--vsize B]\n"
		"                   puts, then gets without and during compaction\n"
		"  demo             the tour: puts, gets, compaction under readers, stats\n"
		"  serve ...        the Redis-protocol server (see pckv serve --help)\n");
}

void pckv_die(const char *what, int err)
{
	fprintf(stderr, "pckv: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(2);
}

int pckv_open(struct kv **kv, const struct kv_options *o)
{
	int r = kv_open(kv, o);

	if (r == -ENOTSUP && o->dax)
		fprintf(stderr, "pckv: --dax: the pmem backend or PC_DAX is not available "
				"in this build of libpagecache (%s)\n", strerror(-r));
	else if (r == -EBADMSG)
		fprintf(stderr, "pckv: %s/log: the log is corrupt in its synced part; "
				"nothing was changed\n", o->dir);
	else if (r == -EBUSY)
		fprintf(stderr, "pckv: %s: in use by another process\n", o->dir);
	else if (r)
		fprintf(stderr, "pckv: open %s: %s\n", o->dir, strerror(-r));
	return r;
}

static void print_u(FILE *f, const char *name, uint64_t v)
{
	fprintf(f, "%-22s %llu\n", name, (unsigned long long)v);
}

void pckv_print_stats(FILE *f, struct kv *kv)
{
	struct kv_stats st;
	struct pc_stats ps;

	if (kv_stats(kv, &st) == 0) {
		print_u(f, "keys", st.keys);
		print_u(f, "live_bytes", st.live_bytes);
		print_u(f, "log_bytes", st.log_bytes);
		print_u(f, "dead_bytes", st.dead_bytes);
		print_u(f, "log_head", st.head);
		print_u(f, "log_tail", st.tail);
		print_u(f, "log_allocated_bytes", st.alloc_bytes);
		print_u(f, "compactions", st.compactions);
		print_u(f, "copied_bytes", st.copied_bytes);
		print_u(f, "punched_bytes", st.punched_bytes);
		print_u(f, "get_retries", st.get_retries);
		print_u(f, "torn_bytes_dropped", st.torn_bytes);
		print_u(f, "puts", st.puts);
		print_u(f, "gets", st.gets);
		print_u(f, "dels", st.dels);
		print_u(f, "syncs", st.syncs);
	}
	if (pc_stats(kv_cache(kv), &ps, sizeof(ps)) == 0) {
		print_u(f, "pc_hits", ps.hits);
		print_u(f, "pc_misses", ps.misses);
		print_u(f, "pc_fills", ps.fills);
		print_u(f, "pc_hole_fills", ps.hole_fills);
		print_u(f, "pc_pages_cached", ps.pages_cached);
		print_u(f, "pc_bytes_cached", ps.bytes_cached);
		print_u(f, "pc_capacity", ps.capacity);
		print_u(f, "pc_writebacks", ps.writebacks);
		print_u(f, "pc_punches", ps.punches);
		print_u(f, "pc_pages_removed", ps.pages_removed);
		print_u(f, "pc_pin_waits", ps.pin_waits);
		print_u(f, "pc_evictions", ps.evictions);
		print_u(f, "pc_write_errors", ps.write_errors);
		print_u(f, "pc_dax_faults", ps.dax_faults);
		print_u(f, "pc_dax_zero_faults", ps.dax_zero_faults);
		print_u(f, "pc_dax_allocs", ps.dax_allocs);
		print_u(f, "pc_dax_entry_waits", ps.dax_entry_waits);
		print_u(f, "pc_dax_persists", ps.dax_persists);
		print_u(f, "pc_dax_busy_waits", ps.dax_busy_waits);
	}
}

/* The directory the pckv binary lives in (the build directory), for demo/bench. */
char *pckv_exe_dir(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	char *slash;

	if (n <= 0)
		return strdup(".");
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (slash)
		*slash = '\0';
	return strdup(buf);
}

char *pckv_fresh_dir(const char *dir, const char *name)
{
	char *base = dir ? strdup(dir) : pckv_exe_dir(), *path, *log;

	if (!base || asprintf(&path, "%s/%s", base, name) < 0)
		pckv_die("fresh directory", -ENOMEM);
	if (mkdir(base, 0777) < 0 && errno != EEXIST)
		pckv_die(base, -errno);
	free(base);
	if (mkdir(path, 0777) < 0 && errno != EEXIST)
		pckv_die(path, -errno);
	if (asprintf(&log, "%s/log", path) < 0)
		pckv_die("fresh directory", -ENOMEM);
	if (unlink(log) < 0 && errno != ENOENT)
		pckv_die(log, -errno);
	free(log);
	return path;
}

static int print_fn(void *arg, const void *val, size_t vlen)
{
	fwrite(val, 1, vlen, stdout);
	putchar('\n');
	return 0;
}

static int scan_fn(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	fwrite(key, 1, klen, stdout);
	putchar('\t');
	fwrite(val, 1, vlen, stdout);
	putchar('\n');
	return ferror(stdout) ? -EIO : 0;
}

/* Read all of stdin into a heap buffer (up to KV_MAX_VALUE + 1 bytes). */
static int read_stdin(char **out, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		size_t got;

		if (n == cap) {
			char *nb = cap > KV_MAX_VALUE ? NULL : realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				return cap > KV_MAX_VALUE ? -E2BIG : -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		got = fread(buf + n, 1, cap - n, stdin);
		n += got;
		if (got == 0) {
			if (ferror(stdin)) {
				free(buf);
				return -EIO;
			}
			break;
		}
	}
	*out = buf;
	*len = n;
	return 0;
}

/* Run a one-shot command on an open store; returns the exit status. */
static int command(struct kv *kv, const char *cmd, int argc, char **argv)
{
	int r;

	if (!strcmp(cmd, "put") && argc == 2) {
		char *val = argv[1];
		size_t vlen = strlen(val);

		if (!strcmp(val, "-")) {	/* the value is stdin, any bytes */
			r = read_stdin(&val, &vlen);
			if (r)
				pckv_die("put: stdin", r);
		}
		r = kv_put(kv, argv[0], strlen(argv[0]), val, vlen);
		if (val != argv[1])
			free(val);
		if (r)
			pckv_die("put", r);
		return 0;
	}
	if (!strcmp(cmd, "get") && argc == 1) {
		r = kv_get(kv, argv[0], strlen(argv[0]), print_fn, NULL);
		if (r == -ENOENT)
			return 1;
		if (r)
			pckv_die("get", r);
		return 0;
	}
	if (!strcmp(cmd, "del") && argc == 1) {
		r = kv_del(kv, argv[0], strlen(argv[0]));
		if (r == -ENOENT)
			return 1;
		if (r)
			pckv_die("del", r);
		return 0;
	}
	if (!strcmp(cmd, "scan") && argc <= 1) {
		r = kv_scan(kv, argc ? argv[0] : "", argc ? strlen(argv[0]) : 0, scan_fn, NULL);
		if (r)
			pckv_die("scan", r);
		return 0;
	}
	if (!strcmp(cmd, "compact") && argc == 0) {
		struct kv_stats a, b;

		kv_sync(kv);
		kv_stats(kv, &a);
		r = kv_compact(kv);
		if (r)
			pckv_die("compact", r);
		kv_stats(kv, &b);
		printf("log allocated %llu -> %llu bytes, live %llu bytes, punched %llu bytes\n",
		       (unsigned long long)a.alloc_bytes, (unsigned long long)b.alloc_bytes,
		       (unsigned long long)b.live_bytes, (unsigned long long)b.punched_bytes);
		return 0;
	}
	if (!strcmp(cmd, "stats") && argc == 0) {
		pckv_print_stats(stdout, kv);
		return 0;
	}
	usage(stderr);
	return 2;
}

int main(int argc, char **argv)
{
	struct kv_options o = { 0 };
	const char *dir = NULL;
	struct kv *kv;
	int i, st, r;

	for (i = 1; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
			dir = argv[++i];
		} else if (!strcmp(argv[i], "--dax")) {
			o.dax = true;
		} else if (!strcmp(argv[i], "--sync") && i + 1 < argc) {
			i++;
			if (!strcmp(argv[i], "always"))
				o.sync = KV_SYNC_ALWAYS;
			else if (!strcmp(argv[i], "none"))
				o.sync = KV_SYNC_NONE;
			else {
				usage(stderr);
				return 2;
			}
		} else if (!strcmp(argv[i], "--cache") && i + 1 < argc) {
			o.cache_bytes = strtoull(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[i], "demo"))
		return pckv_demo(&o, dir, argc - i - 1, argv + i + 1);
	if (!strcmp(argv[i], "bench"))
		return pckv_bench(&o, dir, argc - i - 1, argv + i + 1);
	if (!dir)
		dir = getenv("PCKV_DIR");
	o.dir = dir && *dir ? dir : "pckv-data";
	/*
	 * --sync always serve: the store on sync none and the server's group
	 * commit.  Same guarantee (no write is acknowledged before a kv_sync
	 * that began after it returned has finished; reads may see a write
	 * that is not durable yet in both), one sync per batch instead of one
	 * per write.
	 */
	bool group = !strcmp(argv[i], "serve") && o.sync == KV_SYNC_ALWAYS;
	if (group)
		o.sync = KV_SYNC_NONE;
	if (pckv_open(&kv, &o))
		return 2;
	if (!strcmp(argv[i], "serve"))
		st = pckv_serve(kv, group, argc - i - 1, argv + i + 1);
	else
		st = command(kv, argv[i], argc - i - 1, argv + i + 1);
	r = kv_close(&kv);
	if (r) {
		fprintf(stderr, "pckv: close: %s\n", strerror(-r));
		return 2;
	}
	return st;
}
