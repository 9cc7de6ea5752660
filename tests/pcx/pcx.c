/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pcx: a random-operation exerciser for libpagecache, after fsx.
 *
 * One thread, deterministic from a seed.  pcx opens 1-3 objects and keeps a
 * shadow of each: a plain byte array of --max-size bytes, zero past the
 * shadow size, so that growth reads as zeros.  It then runs --ops operations
 * chosen by weight (the table ops[] below), each against one object, and
 * checks every answer against the shadow:
 *
 *   read       pc_read at any offset and length, past EOF too: the count
 *              (short at EOF), the bytes, and that nothing past the count
 *              was written into the buffer
 *   nowait     pc_read with PC_NOWAIT: -EAGAIN, a prefix that ends on a page
 *              boundary, or all of it; the bytes it gives must be right
 *   write      pc_write of bytes made from the op's seed; extends the size
 *   fread      pc_fault for read: the page, or -ENXIO at and past EOF; in
 *              mode 1 pc_invalidate_range drops the page while it is
 *              pinned: the pin keeps the old copy, a read refills it.  If
 *              the page may have a write pin (pcx took one since it last
 *              knew the page written back: a sync, an inval, a close), the
 *              call may instead keep it and answer -EBUSY, as pagecache.h
 *              allows
 *   fwrite     pc_fault with PC_FAULT_WRITE, stores through pc_page_addr,
 *              pc_page_put; between two halves of the stores, mode 1 calls
 *              pc_sync with the pin held, mode 3 pc_invalidate_range (which
 *              must answer -EBUSY and keep the page), mode 4 sleeps for a
 *              millisecond (rare); mode 2 reads the page with pc_read while
 *              pinned (it must see the stores)
 *   truncate   down, up or to the same size
 *   punch      pc_punch; the size stays
 *   zero       pc_zero_range; grows the size
 *   sync       pc_sync of a range (len 0: to EOF)
 *   inval      pc_invalidate_lock, pc_invalidate_range (dirty pages are
 *              written back, clean ones dropped), and in mode 1 a PC_LOCKED
 *              read of the range under the lock (G7), then unlock
 *   readahead  pc_readahead of a range (len 0: to EOF)
 *   reopen     pc_close, then pc_open without flags (mode 1: PC_CREAT); the
 *              object must read back the same
 *   remount    close every object, delete the cache (and on the file backend
 *              the backend too), create them again over the same storage,
 *              reopen and compare every object in full
 *   bad        bad input (G8): overflowing ranges, unknown flags, a call
 *              that must not be made under the invalidate_lock, a second
 *              open; each must answer its errno and change nothing
 *
 * --dax (ram and pmem: the backends with direct access) adds DAX.  Each
 * object starts in DAX mode or not (from its own stream of the seed), a
 * reopen's mode bit 1 opens with PC_DAX, and four more ops are drawn (only
 * with --dax, so that old seeds and logs run exactly as before):
 *   setdax     pc_set_dax, mode bit 0 the mode to go to, bit 1 PC_WAIT
 *              (pcx first releases its range pins, or it would wait for
 *              ever).  Without PC_WAIT it must answer -EBUSY if, and only
 *              if, pcx holds a range pin on the mapping and the mode
 *              changes.  pc_get_dax must agree with pcx after every op.
 *   pin        pc_pin_range (mode 1: PC_PIN_WRITE), mostly inside the
 *              object, else past EOF (-ENXIO).  pcx holds up to 4 pins per
 *              object across ops (a fifth releases the oldest); in cached
 *              mode under a --budget they may hold at most a quarter of it
 *   unpin      pc_unpin_range of pin number mode (modulo those held), or,
 *              when none is held, of the op's range: -ENOENT
 *   punchnw    pc_punch_flags with PC_PUNCH_NOWAIT (mode 1: over the whole
 *              pages of pcx's newest pin, if any; off and len unused).
 *              -EBUSY is accepted only if a pin of pcx's holds a whole page
 *              of the range, and then the range must read unchanged; it is
 *              required if that pin holds a page (cached mode) or a block
 *              (a DAX write pin; a DAX read pin of a hole holds only the
 *              zero page, which blocks nothing)
 * Ops that would wait for a range pin (punch, zero, truncate, a setdax with
 * PC_WAIT) or that it would make answer -EBUSY (inval, fread mode 1, fwrite
 * mode 3, close: reopen, remount and the final check) release the pins in
 * their range first, as pcx puts its own fault pins before them.  Faults in
 * DAX mode store through pc_page_addr as in cached mode, and the shadow
 * checks are the same in both modes, across switches, reopens and syncs.
 * pcx also keeps, per page, whether its blocks are surely a hole (never
 * written since made, punched or truncated away): a DAX read fault of such
 * a page must be counted by pc_stats as a zero-page fault, every zero-page
 * fault must give the same address (the shared zero page, whose contents
 * the shadow checks as zeros), and no other fault may give that address;
 * a DAX read pin of the zero page does not keep pc_invalidate_range from
 * dropping the entry (0), a pin of a block does (-EBUSY).  --dax adds three
 * bad-input kinds: pc_set_dax with an unknown flag, pc_unpin_range of a
 * range not pinned, and pc_close with range pins held (-EBUSY, stays open)
 * or pc_pin_range with an unknown flag.  The log's config line says dax=1.
 *
 * After every op, pc_size of the object must equal the shadow size, and the
 * last page, faulted in, must match the shadow up to EOF and be zero past it;
 * a fault at EOF must answer -ENXIO.  And writeback must not run away: an
 * op may cause no more than 4 * (budget pages + pages the op spans) + 64
 * page writebacks (pc_stats(); checked where that bound is below 10^5).
 * --verify-all also reads every object in full after every op.  At the end
 * every object is compared in full, closed, reopened and compared again.
 *
 * Eviction is a configuration, not an op: --budget sets the cache budget
 * (default 0: the library's default, 256 MiB), and a budget of a few pages
 * makes reclaim evict (and write back) all the time.
 *
 * --tolerate NAME[,NAME...]: do not fail on these known library bugs until
 * they are fixed, so that the CI runs keep guarding everything else; the
 * log's config line records them, and "none" clears the list.
 *   locked-enomem   a call made under the exclusive invalidate_lock (punch,
 *                   zero, truncate; inval's PC_LOCKED read) answers -ENOMEM
 *                   when the budget is full of the mapping's own dirty
 *                   pages: reclaim leaves them to the flusher, which cannot
 *                   take the lock.  Tolerated only if pc_stats() counted a
 *                   refusal during the call, and pcx then checks that the
 *                   call changed nothing.  Fixed: the lock holder writes
 *                   those pages itself (lib/filemap.h,
 *                   __pc_locked_writeback()); --fail-site still checks
 *                   failed calls this way.
 *   reclaim-enomem  pc_read, pc_write, pc_fault or pc_readahead answers
 *                   -ENOMEM (or a short count) although pcx holds no pin:
 *                   reclaim gave up on a page that was only transiently
 *                   referenced (fixed in 109bb90), or on a flusher that
 *                   did not get to run.  Seen with budgets of a few pages
 *                   on a busy machine.  pcx waits 1 ms and retries the rest
 *                   of the call, up to 1000 times, if pc_stats() counted a
 *                   refusal.
 *   wrmapped-storm  while a page is pinned for write and the cache is over
 *                   its dirty limit, the flusher writes that page again and
 *                   again (each write leaves it dirty, which kicks the
 *                   flusher again): thousands of writebacks in one op.
 *                   Fixed (writeback's redirty no longer kicks the
 *                   flusher, lib/page.h); the name stays for old logs.
 *
 * Injected allocation failures (pcx_fi only: pcx linked with the static
 * library of a -Dfault_inject=true build).  --fail-site NAME fails hit
 * --fail-nth K (default 1) of that allocation site of the library
 * (lib/inject.h; --fail-list names them), and with --fail-every N every
 * N-th hit after it.  pcx then accepts -ENOMEM from a call only if a
 * failure was injected meanwhile (from pc_sync and pc_close: at all, since
 * they report background writeback's errors), and checks what the API
 * promises: punch, zero, truncate and PC_LOCKED reads change nothing (as
 * for locked-enomem); a write that stops grew the size only over what it
 * wrote; pc_open leaves no handle; reads, writes, faults, readahead, syncs
 * and invalidations are retried (reclaim-enomem), and a reopen reads the
 * object back in full: nothing was lost.  The last lines say how often the
 * site was hit and failed.  pcx-sweep.py runs this for every site.
 *
 * The op log.  Every op is one line, and the bytes an op writes are made
 * from the seed on its own line, so a log replays without the generator:
 *
 *   config backend=file budget=32768 max-size=4194304 max-len=131072 objects=2 seed=7
 *   write 1 40960 7000 1234567
 *   fwrite 0 100 50 99 1
 *   truncate 1 512
 *
 * On a mismatch pcx prints the seed, the op number, what differed and the
 * last --history ops, writes the log up to the failing op to --log FILE (or
 * pcx-SEED.log in the current directory), keeps the file backend's
 * directory, and exits 1.  pcx keeps no log while it runs: the generator
 * depends only on its random state and the object sizes, so the log is made
 * again, without the library, when it is needed.  --log FILE on a run that
 * passes writes the whole log.  --replay FILE runs a log instead of
 * generating ops (a left-out mode is 0); the config line sets the options
 * that the command line does not.  A failing replay writes a log (of the
 * ops up to the failure) only if --log is given.
 *
 * Usage: pcx [--backend ram|file|file-direct|pmem] [--seed N] [--ops N]
 *            [--budget BYTES] [--max-size BYTES] [--max-len BYTES]
 *            [--objects 1-3] [--writeback PERCENT,MS] [--verify-all]
 *            [--history N] [--log FILE] [--replay FILE] [--dir DIR]
 *            [--tolerate NAME[,NAME...]] [--quiet]
 *            [--fail-site NAME [--fail-nth K] [--fail-every N]] [--fail-list]
 *            [--dax]
 * Sizes take a k, m or g suffix, or p for pages: --budget 8p.  The file
 * and pmem backends work in a new directory under --dir (default $TMPDIR or
 * /tmp), removed at the end unless the run fails.  A build without
 * libpmem2 has no pmem backend: --backend pmem then exits 77 (skipped).
 * The last line printed is "N passed, N failed" (one run: 1 passed).
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include <pagecache.h>

#ifdef PCX_FAIL_SWEEP
#include "inject.h"	/* pcx_fi links the static library: the sites' controls */
#endif

#define MAX_OBJ 3
#define CANARY 0xa5

enum op_kind {
	OP_READ, OP_NOWAIT, OP_WRITE, OP_FREAD, OP_FWRITE, OP_TRUNCATE, OP_PUNCH,
	OP_ZERO, OP_SYNC, OP_INVAL, OP_READAHEAD, OP_REOPEN, OP_REMOUNT, OP_BAD,
	/* --dax only: drawn only then, so that old seeds and logs run as before. */
	OP_SETDAX, OP_PIN, OP_UNPIN, OP_PUNCHNW,
	NR_OP_KINDS
};

/*
 * The fields of each kind's log line, in order: o object, f offset (the new
 * size, for truncate), l length, s data seed, m mode.  Weights are relative
 * (they sum to about 1100).
 */
static const struct {
	const char *name;
	const char *fields;
	unsigned weight;
} ops[NR_OP_KINDS] = {
	[OP_READ]	= { "read",	 "ofl",	  160 },
	[OP_NOWAIT]	= { "nowait",	 "ofl",	  60 },
	[OP_WRITE]	= { "write",	 "ofls",  170 },
	[OP_FREAD]	= { "fread",	 "ofm",	  80 },
	[OP_FWRITE]	= { "fwrite",	 "oflsm", 90 },
	[OP_TRUNCATE]	= { "truncate",	 "of",	  70 },
	[OP_PUNCH]	= { "punch",	 "ofl",	  70 },
	[OP_ZERO]	= { "zero",	 "ofl",	  60 },
	[OP_SYNC]	= { "sync",	 "ofl",	  70 },
	[OP_INVAL]	= { "inval",	 "oflm",  70 },
	[OP_READAHEAD]	= { "readahead", "ofl",	  50 },
	[OP_REOPEN]	= { "reopen",	 "om",	  15 },
	[OP_REMOUNT]	= { "remount",	 "",	  1 },
	[OP_BAD]	= { "bad",	 "om",	  32 },
	[OP_SETDAX]	= { "setdax",	 "om",	  25 },
	[OP_PIN]	= { "pin",	 "oflm",  30 },
	[OP_UNPIN]	= { "unpin",	 "oflm",  25 },
	[OP_PUNCHNW]	= { "punchnw",	 "oflm",  30 },
};
#define FIRST_DAX_OP OP_SETDAX

/* Range pins pcx holds at once per object (a pin op beyond that unpins the oldest). */
#define MAX_PINS 4

#define NR_BAD_KINDS 10
#define NR_BAD_DAX_KINDS 3	/* more, with --dax only */

struct op {
	enum op_kind kind;
	unsigned obj, mode;
	uint64_t off, len, seed;
};

/* Options.  A replayed log's config line sets those the command line did not. */
static struct {
	const char *backend;
	uint64_t seed, nr_ops, budget, max_size, max_len;
	unsigned nr_obj, wb_pct, wb_ms, history;
	bool verify_all, quiet, dax;
	unsigned tolerate;	/* TOL_* */
	const char *log_path, *replay_path, *dir;
	int fail_site;		/* --fail-site, -1: none (pcx_fi only) */
	uint64_t fail_nth, fail_every;
} cfg = {
	.fail_site = -1,
	.backend = "ram", .nr_ops = 100000, .max_size = 4 << 20, .max_len = 128 << 10,
	.history = 20,
};
enum { SET_BACKEND = 1, SET_BUDGET = 2, SET_MAX_SIZE = 4, SET_OBJECTS = 8, SET_WB = 16,
       SET_SEED = 32, SET_MAX_LEN = 64, SET_TOLERATE = 128, SET_DAX = 256 };

/* Known library bugs that --tolerate names. */
enum { TOL_LOCKED_ENOMEM = 1, TOL_RECLAIM_ENOMEM = 2, TOL_WRMAPPED_STORM = 4 };
static const char *const tol_names[] = { "locked-enomem", "reclaim-enomem", "wrmapped-storm" };
#define NR_TOL (sizeof(tol_names) / sizeof(tol_names[0]))
static unsigned cfg_set;

struct obj {
	struct pc_mapping *m;
	char name[16];
	unsigned char *sh;	/* the shadow: max_size bytes, zero at and past size */
	uint64_t size;
	/*
	 * Per page: pcx took a write pin on it since it last knew the page
	 * written back, so it may still look write-pinned (pagecache.h,
	 * pc_invalidate_range).  Set by fwrite; cleared by a sync or an inval
	 * over the page, and by close.  Never cleared too early: the flusher
	 * may write the page back sooner, which only makes -EBUSY unlikely.
	 */
	unsigned char *wp;
	bool dax;		/* the mode pcx expects: pc_get_dax() must agree */
	/*
	 * Per page: its blocks are surely a hole (never written since the
	 * object was made, or since a punch or truncate freed them): a DAX
	 * read fault of it must give the zero page.  Cleared by anything that
	 * may have stored into it.
	 */
	unsigned char *hole;
	/* The range pins pcx holds, oldest first (pc_pin_range). */
	struct { uint64_t off, len; bool write; } pin[MAX_PINS];
	unsigned nr_pins;
};

static size_t ps;
static struct pc_cache *cache;
static struct pc_backend *be;
static char dir[256];
static dev_t dir_dev;			/* the directory pcx made, to tell if it went */
static ino_t dir_ino;
static struct obj objs[MAX_OBJ];
static unsigned char *buf, *pat;	/* scratch, bufsz bytes each */
static size_t bufsz;

static uint64_t op_nr;			/* the op being run, from 0 */
static const struct op *cur;		/* and its description */
static bool failed;
static struct op *hist;			/* the last cfg.history ops, a ring */

/* Counters for the summary; cache stats are summed over remounts. */
static uint64_t kind_count[NR_OP_KINDS];
static double kind_time[NR_OP_KINDS];
static uint64_t nowait_eagain, nowait_short, fault_enxio, nr_locked_enomem, nr_wp_ebusy,
	nr_reclaim_enomem, nr_wb_storm;
/* --dax counters. */
static uint64_t nr_dax_opens, nr_setdax_ok, nr_setdax_ebusy, nr_setdax_same, nr_pins_taken,
	nr_pin_enxio, nr_unpins, nr_unpin_enoent, nr_pins_released, nr_punchnw_ebusy,
	nr_zero_page_faults, nr_dax_faults;
static const void *zero_page;		/* the address of the first hole read fault in DAX mode */
static struct pc_stats st_sum;

/* ---- random numbers and op data ---- */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rnd(uint64_t *s, uint64_t n)	/* [0, n) */
{
	return n ? splitmix(s) % n : 0;
}

/* The bytes an op writes: byte i of op seed @seed, for i in [from, from + len). */
static void op_data(unsigned char *out, uint64_t seed, uint64_t from, size_t len)
{
	uint64_t s = seed * 0x2545f4914f6cdd1dull + 1;

	for (size_t i = 0; i < len; i++) {
		uint64_t x = (from + i) * 0x9e3779b97f4a7c15ull ^ s;

		x ^= x >> 29;
		x *= 0xbf58476d1ce4e5b9ull;
		out[i] = (unsigned char)(x >> 56);
	}
}

/* ---- the log ---- */

static void op_format(const struct op *op, char *out, size_t n)
{
	int k = snprintf(out, n, "%s", ops[op->kind].name);

	for (const char *f = ops[op->kind].fields; *f && k > 0 && (size_t)k < n; f++) {
		uint64_t v = *f == 'o' ? op->obj : *f == 'f' ? op->off : *f == 'l' ? op->len :
			     *f == 's' ? op->seed : op->mode;

		k += snprintf(out + k, n - (size_t)k, " %" PRIu64, v);
	}
}

/* 1 and *op filled, 0 for a blank or comment line, -1 if bad. */
static int op_parse(const char *line, struct op *op)
{
	char name[32];
	const char *p = line;
	int k;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p || *p == '\n' || *p == '#')
		return 0;
	if (sscanf(p, "%31s%n", name, &k) != 1)
		return -1;
	p += k;
	memset(op, 0, sizeof(*op));
	for (op->kind = 0; op->kind < NR_OP_KINDS; op->kind++)
		if (!strcmp(name, ops[op->kind].name))
			break;
	if (op->kind == NR_OP_KINDS)
		return -1;
	for (const char *f = ops[op->kind].fields; *f; f++) {
		char *end;
		uint64_t v;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*f == 'm' && (!*p || *p == '\n' || *p == '#'))
			break;	/* a mode left out is 0 */
		errno = 0;
		v = strtoull(p, &end, 0);
		if (end == p || errno)
			return -1;
		p = end;
		switch (*f) {
		case 'o': op->obj = (unsigned)v; break;
		case 'f': op->off = v; break;
		case 'l': op->len = v; break;
		case 's': op->seed = v; break;
		default: op->mode = (unsigned)v; break;
		}
	}
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return *p && *p != '#' ? -1 : 1;
}

static void config_format(FILE *f)
{
	fprintf(f, "config backend=%s budget=%" PRIu64 " max-size=%" PRIu64 " max-len=%" PRIu64
		" objects=%u", cfg.backend, cfg.budget, cfg.max_size, cfg.max_len, cfg.nr_obj);
	if (cfg.wb_pct)
		fprintf(f, " writeback=%u,%u", cfg.wb_pct, cfg.wb_ms);
	if (cfg.dax)
		fprintf(f, " dax=1");
	for (unsigned i = 0, n = 0; i < NR_TOL; i++)
		if (cfg.tolerate & (1u << i))
			fprintf(f, "%s%s", n++ ? "," : " tolerate=", tol_names[i]);
	fprintf(f, " seed=%" PRIu64 "\n", cfg.seed);
}

/* ---- failure reports ---- */

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	char line[128];
	va_list ap;

	if (failed)
		return;	/* the first mismatch is the one to report */
	failed = true;
	op_format(cur, line, sizeof(line));
	fprintf(stderr, "pcx: FAILED: seed %" PRIu64 ", op %" PRIu64 " (%s): ", cfg.seed, op_nr,
		line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static bool expect_r(const char *call, long long got, long long want)
{
	if (got == want)
		return true;
	fail("%s returned %lld (%s), expected %lld%s%s", call, got,
	     got < 0 ? strerror((int)-got) : "", want, want < 0 ? " " : "",
	     want < 0 ? strerror((int)-want) : "");
	return false;
}

/* @got must equal @want over @n bytes that are object offsets @base on. */
static bool check_bytes(const char *what, const unsigned char *got, const unsigned char *want,
			size_t n, uint64_t base)
{
	size_t first = 0, last = 0, nbad = 0;

	if (!memcmp(got, want, n))
		return true;
	for (size_t i = 0; i < n; i++)
		if (got[i] != want[i]) {
			if (!nbad++)
				first = i;
			last = i;
		}
	fail("%s: %zu of %zu bytes differ, object offsets %" PRIu64 "..%" PRIu64
	     "; first at %" PRIu64 " (page %" PRIu64 " + %" PRIu64 "): expected 0x%02x, got 0x%02x",
	     what, nbad, n, base + first, base + last, base + first, (base + first) / ps,
	     (base + first) % ps, want[first], got[first]);
	return false;
}

static bool check_zero(const char *what, const unsigned char *got, size_t n, uint64_t base)
{
	static unsigned char *zeros;

	if (!zeros)
		zeros = calloc(1, bufsz);
	return check_bytes(what, got, zeros, n, base);
}

/* ---- injected allocation failures (--fail-site, pcx_fi only) ---- */

static uint64_t nr_inj_enomem;		/* -ENOMEM answers pcx accepted */

/* Failures injected so far. */
static uint64_t inj_count(void)
{
#ifdef PCX_FAIL_SWEEP
	return cfg.fail_site >= 0 ? pc_inject_fail_count() : 0;
#else
	return 0;
#endif
}

/*
 * @r is -ENOMEM and a failure was injected since @inj0 (for calls that
 * report a background writeback's error, such as pc_sync: since the start,
 * @inj0 = 0): accept it, and count it.
 */
static bool inj_enomem(long long r, uint64_t inj0)
{
	if (r != -ENOMEM || inj_count() == inj0)
		return false;
	nr_inj_enomem++;
	return true;
}

/*
 * pc_sync, retried while it answers an injected -ENOMEM: a page whose
 * write failed stays dirty, and the error is reported once.
 */
static int x_sync(struct pc_mapping *m, uint64_t off, uint64_t len)
{
	int r, tries = 0;

	do
		r = pc_sync(m, off, len);
	while (inj_enomem(r, 0) && ++tries < 1000);
	return r;
}

/* pc_invalidate_range (lock held), the same: a dirty page it could not write stays. */
static int x_inval(struct pc_mapping *m, uint64_t off, uint64_t len)
{
	int r, tries = 0;

	do
		r = pc_invalidate_range(m, off, len);
	while (inj_enomem(r, 0) && ++tries < 1000);
	return r;
}

/* pc_open, retried after an injected -ENOMEM, which must leave it closed. */
static int x_open(struct pc_mapping **m, const char *name, unsigned flags)
{
	int r, tries = 0;

	do {
		uint64_t inj0 = inj_count();

		r = pc_open(m, cache, be, name, flags);
		if (!inj_enomem(r, inj0))
			return r;
		if (*m) {
			fail("pc_open answered -ENOMEM but set the handle");
			return -EFAULT;
		}
	} while (++tries < 1000);
	return r;
}

/*
 * pc_close after pc_sync: a -ENOMEM it answers is then an injected
 * background error reported once, not lost data (the reopen's full read
 * after it says if anything was lost).
 */
static int x_close(struct pc_mapping **m)
{
	int r = x_sync(*m, 0, 0);

	if (r < 0)
		return r;
	r = pc_close(m);
	return inj_enomem(r, 0) ? 0 : r;
}

/* ---- backend and cache setup ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int backend_new_once(void);

/* The backend, retried after an injected -ENOMEM. */
static int backend_new(void)
{
	int r, tries = 0;
	uint64_t inj0;

	do {
		inj0 = inj_count();
		r = backend_new_once();
	} while (inj_enomem(r, inj0) && ++tries < 1000);
	if (r < 0 && !(r == -ENOTSUP && !strcmp(cfg.backend, "pmem")))	/* that is a skip */
		fprintf(stderr, "pcx: backend %s: %s\n", cfg.backend, strerror(-r));
	return r;
}

static int backend_new_once(void)
{
	int r;

	if (!strcmp(cfg.backend, "ram")) {
		/* Room for every object at its largest, so writeback never meets ENOSPC. */
		uint64_t pages = cfg.nr_obj * (cfg.max_size / ps + 2) + 64;

		r = pc_backend_ram_new(&be, pages * ps);
	} else if (!strcmp(cfg.backend, "pmem")) {
		r = pc_backend_pmem_new(&be, dir, 0);
	} else {
		r = pc_backend_file_new(&be, dir, strcmp(cfg.backend, "file") ? PC_FILE_DIRECT : 0);
	}
	return r;
}

static int cache_new(void)
{
	int r, tries = 0;
	uint64_t inj0;

	do {
		inj0 = inj_count();
		r = pc_cache_new(&cache, cfg.budget);
	} while (inj_enomem(r, inj0) && ++tries < 1000);

	if (r == 0 && cfg.wb_pct)
		r = pc_cache_set_writeback(cache, cfg.wb_pct, cfg.wb_ms);
	if (r < 0)
		fprintf(stderr, "pcx: cache: %s\n", strerror(-r));
	return r;
}

static void cache_delete(void)
{
	struct pc_stats st;

	if (pc_stats(cache, &st, sizeof(st)) == 0) {
		st_sum.evictions += st.evictions;
		st_sum.writebacks += st.writebacks;
		st_sum.fills += st.fills;
		st_sum.hole_fills += st.hole_fills;
		st_sum.enomem += st.enomem;
		st_sum.flusher_runs += st.flusher_runs;
		st_sum.hits += st.hits;
		st_sum.misses += st.misses;
	}
	pc_cache_delete(&cache);
}

/* ---- cache counters, and calls retried on a known bug (reclaim-enomem) ---- */

static uint64_t writeback_count(void)
{
	struct pc_stats st;

	return pc_stats(cache, &st, sizeof(st)) == 0 ? st.writebacks : 0;
}

static uint64_t enomem_count(void)
{
	struct pc_stats st;

	return (pc_stats(cache, &st, sizeof(st)) == 0 ? st.enomem : 0) + inj_count();
}

/*
 * --tolerate reclaim-enomem: the call that started when the cache's enomem
 * count was @enomem0 was refused a page.  Wait a moment and say whether to
 * retry.
 */
static bool reclaim_enomem(uint64_t enomem0, unsigned *tries)
{
	if (!(cfg.tolerate & TOL_RECLAIM_ENOMEM) || enomem_count() == enomem0 || ++*tries > 1000)
		return false;
	nr_reclaim_enomem++;
	if (cfg.fail_site < 0)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	return true;
}

/* pc_read (@flags 0) and pc_write, retried as reclaim_enomem() says. */
static ssize_t x_io(struct pc_mapping *m, unsigned char *b, size_t len, uint64_t off, bool write)
{
	unsigned tries = 0;
	size_t done = 0;
	uint64_t size0 = 0, size;

	if (write && pc_size(m, &size0) < 0)
		return -EBADF;
	for (;;) {
		uint64_t enomem0 = enomem_count();
		ssize_t r = write ? pc_write(m, b + done, len - done, off + done, 0)
				  : pc_read(m, b + done, len - done, off + done, 0);

		if (r > 0)
			done += (size_t)r;
		if (write && done < len && inj_count() && pc_size(m, &size) == 0 &&
		    size != (done && off + done > size0 ? off + done : size0)) {
			/* A write that stopped must have grown the size only over what it wrote. */
			fail("pc_write stopped after %zu bytes (%zd) but made the size %" PRIu64, done,
			     r, size);
			return -EFAULT;
		}
		if ((r < 0 && r != -ENOMEM) || (r >= 0 && done == len) ||
		    !reclaim_enomem(enomem0, &tries))
			return done ? (ssize_t)done : r;
		/* At EOF a retried read answers 0: done. */
	}
}

static int x_fault(struct pc_mapping *m, uint64_t off, unsigned flags, struct pc_page **p)
{
	unsigned tries = 0;
	int r;

	do {
		uint64_t enomem0 = enomem_count();

		r = pc_fault(m, off, flags, p);
		if (r != -ENOMEM || !reclaim_enomem(enomem0, &tries))
			return r;
	} while (1);
}

static int x_readahead(struct pc_mapping *m, uint64_t off, uint64_t len)
{
	unsigned tries = 0;
	int r;

	do {
		uint64_t enomem0 = enomem_count();

		r = pc_readahead(m, off, len);
		if (r != -ENOMEM || !reclaim_enomem(enomem0, &tries))
			return r;
	} while (1);
}


/* ---- range pins and holes (--dax) ---- */

static uint64_t zero_fault_count(void)
{
	struct pc_stats st;

	return pc_stats(cache, &st, sizeof(st)) == 0 ? st.dax_zero_faults : 0;
}

/* Pages [off, off + len) may have been stored into: no longer surely holes. */
static void hole_clear(struct obj *o, uint64_t off, uint64_t len)
{
	uint64_t first = off / ps, end = (off + len + ps - 1) / ps;

	if (len && first < end)
		memset(o->hole + first, 0, end - first);
}

/* Pages [first, end) (page indices, clipped to the shadow) lost their blocks. */
static void hole_set(struct obj *o, uint64_t first, uint64_t end)
{
	if (end > cfg.max_size / ps)
		end = cfg.max_size / ps;
	if (first < end)
		memset(o->hole + first, 1, end - first);
}

/* Release pcx's range pin @i of @o. */
static bool pin_release(struct obj *o, unsigned i)
{
	int r = pc_unpin_range(o->m, o->pin[i].off, o->pin[i].len, 0);

	/* Its pages were write-pinned until now: a sync meanwhile did not end that. */
	if (o->pin[i].write)
		memset(o->wp + o->pin[i].off / ps, 1,
		       (o->pin[i].off + o->pin[i].len - 1) / ps - o->pin[i].off / ps + 1);
	memmove(&o->pin[i], &o->pin[i + 1], (o->nr_pins - i - 1) * sizeof(o->pin[0]));
	o->nr_pins--;
	return expect_r("pc_unpin_range of a pin pcx holds", r, 0);
}

/* Does pin @i hold a page of [first, last] (page indices)? */
static bool pin_overlaps(const struct obj *o, unsigned i, uint64_t first, uint64_t last)
{
	uint64_t a = o->pin[i].off / ps, b = (o->pin[i].off + o->pin[i].len - 1) / ps;

	return first <= last && a <= last && first <= b;
}

/*
 * Release the range pins that hold any page of [first, last] (page
 * indices), before an op that would wait for them (punch, truncate, a
 * mode switch with PC_WAIT) or that they would make answer -EBUSY
 * (invalidation, close): as pcx puts its own fault pins before such ops.
 */
static bool pins_release(struct obj *o, uint64_t first, uint64_t last)
{
	bool ok = true;

	for (unsigned i = 0; i < o->nr_pins;) {
		if (pin_overlaps(o, i, first, last)) {
			ok = pin_release(o, i) && ok;
			nr_pins_released++;
		} else {
			i++;
		}
	}
	return ok;
}

/* Pages range-pinned in cached mode, over every object: they hold budget. */
static uint64_t cached_pinned_pages(void)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < cfg.nr_obj; i++)
		for (unsigned k = 0; !objs[i].dax && k < objs[i].nr_pins; k++)
			n += (objs[i].pin[k].off + objs[i].pin[k].len - 1) / ps -
			     objs[i].pin[k].off / ps + 1;
	return n;
}

/* ---- checks ---- */

/* Read @o in full and compare. */
static bool verify_full(struct obj *o, const char *what)
{
	ssize_t r;

	memset(buf, CANARY, o->size + ps);
	r = x_io(o->m, buf, o->size + ps, 0, false);
	if (!expect_r(what, r, (long long)o->size))
		return false;
	return check_bytes(what, buf, o->sh, o->size, 0);
}

/* The size, the last page up to EOF and past it, and -ENXIO at EOF. */
static bool check_obj(struct obj *o)
{
	struct pc_page *p;
	uint64_t size, last;
	const unsigned char *a;
	bool ok;
	int r;

	r = pc_size(o->m, &size);
	if (!expect_r("pc_size", r, 0))
		return false;
	if (size != o->size) {
		fail("%s: pc_size says %" PRIu64 ", expected %" PRIu64, o->name, size, o->size);
		return false;
	}
	r = pc_get_dax(o->m);
	if (!expect_r("pc_get_dax", r, o->dax))
		return false;
	r = pc_fault(o->m, size, 0, &p);
	if (r == 0)
		pc_page_put(p);
	if (!expect_r("pc_fault at EOF", r, -ENXIO))
		return false;
	if (size == 0)
		return true;
	last = (size - 1) / ps * ps;
	r = x_fault(o->m, last, 0, &p);
	if (!expect_r("pc_fault of the last page", r, 0))
		return false;
	a = pc_page_addr(p);
	ok = pc_page_offset(p) == last;
	if (!ok)
		fail("pc_page_offset of the last page is %" PRIu64 ", expected %" PRIu64,
		     pc_page_offset(p), last);
	ok = ok && check_bytes("last page, before EOF", a, o->sh + last, size - last, last);
	ok = ok && check_zero("last page, past EOF", a + (size - last), ps - (size - last), size);
	pc_page_put(p);
	return ok;
}

/* ---- the ops ---- */

/*
 * --tolerate locked-enomem: -ENOMEM from a call made under the exclusive
 * invalidate_lock, with the cache's enomem count risen since @enomem0.  The
 * caller then checks that nothing changed.
 */
static bool locked_enomem(long long r, uint64_t enomem0)
{
	if (r != -ENOMEM || !(cfg.tolerate & TOL_LOCKED_ENOMEM) || enomem_count() == enomem0)
		return false;
	nr_locked_enomem++;
	return true;
}

static bool do_read(struct obj *o, const struct op *op, unsigned flags)
{
	uint64_t want = op->off < o->size ? (o->size - op->off < op->len ? o->size - op->off : op->len)
					  : 0;
	uint64_t enomem0 = enomem_count(), inj0 = inj_count();
	ssize_t r;

	memset(buf, CANARY, op->len + 1);
	r = flags ? pc_read(o->m, buf, op->len, op->off, flags)
		  : x_io(o->m, buf, op->len, op->off, false);
	if ((flags & PC_LOCKED) && locked_enomem(r, enomem0))
		return true;
	if ((flags & PC_NOWAIT) && inj_enomem(r, inj0))
		return true;	/* a read changes nothing */
	if ((flags & PC_LOCKED) && r > 0 && (uint64_t)r < want && locked_enomem(-ENOMEM, enomem0))
		want = (uint64_t)r;	/* it stopped at the page it could not have */
	if (flags & PC_NOWAIT) {
		if (r == -EAGAIN && want > 0) {
			nowait_eagain++;
			return true;
		}
		if (r > 0 && (uint64_t)r < want) {
			nowait_short++;
			if ((op->off + (uint64_t)r) % ps) {
				fail("PC_NOWAIT read returned %zd, which does not end on a page", r);
				return false;
			}
			want = (uint64_t)r;
		}
	}
	if (!expect_r("pc_read", r, (long long)want))
		return false;
	if (!check_bytes("read data", buf, o->sh + op->off, want, op->off))
		return false;
	for (size_t i = want; i <= op->len; i++)
		if (buf[i] != CANARY) {
			fail("pc_read returned %zd but wrote byte %zu of the buffer", r, i);
			return false;
		}
	return true;
}

static bool do_write(struct obj *o, const struct op *op)
{
	ssize_t r;

	op_data(pat, op->seed, 0, op->len);
	r = x_io(o->m, pat, op->len, op->off, true);
	memcpy(o->sh + op->off, pat, op->len);
	hole_clear(o, op->off, op->len);
	if (op->off + op->len > o->size)
		o->size = op->off + op->len;
	return expect_r("pc_write", r, (long long)op->len);
}

/* Store bytes [from, to) of the op's data, object offsets off + from on, through @a. */
static void fault_store(struct obj *o, const struct op *op, unsigned char *a, uint64_t pg,
			uint64_t from, uint64_t to)
{
	op_data(pat, op->seed, from, to - from);
	memcpy(a + (op->off + from - pg), pat, to - from);
	memcpy(o->sh + op->off + from, pat, to - from);
}

static bool do_fault(struct obj *o, const struct op *op, bool write)
{
	struct pc_page *p;
	uint64_t pg = op->off / ps * ps, n;
	unsigned char *a;
	bool ok = true, zero = false;
	uint64_t zf0;
	int r;

	/* Modes that invalidate the page with a pin held: pcx's range pins go first. */
	if ((write && op->mode == 3) || (!write && op->mode == 1))
		if (!pins_release(o, pg / ps, pg / ps))
			return false;
	zf0 = zero_fault_count();
	r = x_fault(o->m, op->off, write ? PC_FAULT_WRITE : 0, &p);
	if (op->off >= o->size) {
		if (r == 0)
			pc_page_put(p);
		fault_enxio++;
		return expect_r("pc_fault past EOF", r, -ENXIO);
	}
	if (!expect_r("pc_fault", r, 0))
		return false;
	a = pc_page_addr(p);
	if (pc_page_offset(p) != pg) {
		fail("pc_page_offset is %" PRIu64 ", expected %" PRIu64, pc_page_offset(p), pg);
		ok = false;
	}
	if (o->dax) {
		/*
		 * A read fault of a hole gets the one shared zero page (and only
		 * then does pc_stats count a zero fault); a write fault never.
		 */
		nr_dax_faults++;
		zero = zero_fault_count() != zf0;
		if (zero && write) {
			fail("a DAX write fault was counted as a zero-page fault");
			ok = false;
		} else if (!write && o->hole[pg / ps] && !zero) {
			fail("a DAX read fault of a hole (page %" PRIu64 ") did not give the zero page",
			     pg / ps);
			ok = false;
		} else if (zero && zero_page && a != zero_page) {
			fail("the zero page was at %p, and now a hole read fault gives %p", zero_page,
			     (void *)a);
			ok = false;
		} else if (!zero && zero_page && a == zero_page) {
			fail("a DAX fault that was not a zero-page fault gives the zero page %p",
			     zero_page);
			ok = false;
		}
		if (zero) {
			zero_page = a;
			nr_zero_page_faults++;
		}
	}
	/* The page as faulted: the shadow up to EOF, zeros past it. */
	n = o->size - pg < ps ? o->size - pg : ps;
	ok = ok && check_bytes("faulted page", a, o->sh + pg, n, pg);
	ok = ok && check_zero("faulted page, past EOF", a + n, ps - n, pg + n);
	if (ok && write) {
		/* Stores stay inside the page and before EOF. */
		uint64_t len = op->len;

		if (len > pg + ps - op->off)
			len = pg + ps - op->off;
		if (len > o->size - op->off)
			len = o->size - op->off;
		if (op->mode == 1) {
			fault_store(o, op, a, pg, 0, len / 2);
			r = x_sync(o->m, 0, 0);
			ok = expect_r("pc_sync with a write pin held", r, 0);
			fault_store(o, op, a, pg, len / 2, len);
		} else if (op->mode == 4) {
			/* A slow writer: the pin is held for a millisecond. */
			fault_store(o, op, a, pg, 0, len / 2);
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
			fault_store(o, op, a, pg, len / 2, len);
		} else if (op->mode == 3) {
			/* A page pinned for write stays cached: -EBUSY. */
			fault_store(o, op, a, pg, 0, len / 2);
			pc_invalidate_lock(o->m);
			r = x_inval(o->m, pg, ps);
			pc_invalidate_unlock(o->m);
			ok = expect_r("pc_invalidate_range of a page pinned for write", r, -EBUSY);
			fault_store(o, op, a, pg, len / 2, len);
		} else {
			fault_store(o, op, a, pg, 0, len);
		}
		if (ok && op->mode == 2) {
			ssize_t rr;

			rr = x_io(o->m, buf, n, pg, false);
			ok = expect_r("pc_read of a page pinned for write", rr, (long long)n) &&
			     check_bytes("pc_read of a page pinned for write", buf, o->sh + pg, n, pg);
		}
	}
	if (ok && !write && op->mode == 1) {
		/*
		 * A page pinned for read is dropped (after writeback, if it
		 * was dirty); the pin keeps the old copy, and a read fills a
		 * new page from the backend with the same bytes.
		 */
		ssize_t rr;

		pc_invalidate_lock(o->m);
		r = x_inval(o->m, pg, ps);
		pc_invalidate_unlock(o->m);
		if (o->dax) {
			/*
			 * A DAX page is the block: a pinned one stays (-EBUSY);
			 * a zero-page pin pins no block, and the hole's entry goes.
			 */
			ok = expect_r(zero ? "pc_invalidate_range of a zero-page pin in DAX mode" :
					     "pc_invalidate_range of a DAX page pinned for read", r,
				      zero ? 0 : -EBUSY);
			r = 0;
		} else if (r == -EBUSY && o->wp[pg / ps]) {
			nr_wp_ebusy++;	/* it may have a write pin: it stays */
			r = 0;
		} else if (r == 0) {
			o->wp[pg / ps] = 0;
		}
		ok = ok && expect_r("pc_invalidate_range of a page pinned for read", r, 0) &&
		     check_bytes("page pinned for read, after pc_invalidate_range", a, o->sh + pg, n,
				 pg);
		pc_page_put(p);	/* its memory counts against the budget until now */
		rr = ok ? x_io(o->m, buf, n, pg, false) : 0;
		return ok && expect_r("pc_read after pc_invalidate_range", rr, (long long)n) &&
		       check_bytes("pc_read after pc_invalidate_range", buf, o->sh + pg, n, pg);
	}
	pc_page_put(p);
	if (write) {
		o->wp[pg / ps] = 1;
		o->hole[pg / ps] = 0;
	}
	return ok;
}

/* Pages [off, off + len) (len 0: to EOF) were written back: no write pin now. */
static void wp_clear(struct obj *o, uint64_t off, uint64_t len)
{
	uint64_t first = off / ps, end = len && off + len < cfg.max_size ?
					  (off + len - 1) / ps + 1 : cfg.max_size / ps;

	if (first < end)
		memset(o->wp + first, 0, end - first);
}

static bool do_truncate(struct obj *o, const struct op *op)
{
	uint64_t enomem0, keep = (op->off + ps - 1) / ps;	/* pages it keeps */
	int r;

	if (op->off < o->size && !pins_release(o, keep, UINT64_MAX))
		return false;
	enomem0 = enomem_count();
	r = pc_truncate(o->m, op->off);
	if (locked_enomem(r, enomem0))
		return verify_full(o, "full read after pc_truncate failed with -ENOMEM");
	if (op->off < o->size) {
		memset(o->sh + op->off, 0, o->size - op->off);
		hole_clear(o, op->off, 1);	/* the tail of the new last page is zeroed */
		hole_set(o, keep, UINT64_MAX);
	}
	o->size = op->off;
	return expect_r("pc_truncate", r, 0);
}

/* Shadow and holes after a punch or zero of @op's range that succeeded. */
static void punch_apply(struct obj *o, const struct op *op, bool zero)
{
	uint64_t end = op->off + op->len, size0 = o->size;

	if (op->off < o->size)
		memset(o->sh + op->off, 0, (end < o->size ? end : o->size) - op->off);
	if (zero && end > o->size)
		o->size = end;
	hole_clear(o, op->off, 1);	/* partial pages are zeroed in place */
	hole_clear(o, end - 1, 1);
	/*
	 * Whole pages below the old EOF lose their blocks.  The page that
	 * holds the old EOF need not (a punch may stop at EOF, and that page
	 * is then a partial one: seen on pmem); pages past it were holes.
	 */
	hole_set(o, (op->off + ps - 1) / ps, (end < size0 ? end : size0) / ps);
	if (size0 < end)
		hole_clear(o, size0, 1);
}

static bool do_punch(struct obj *o, const struct op *op, bool zero)
{
	uint64_t enomem0, end = op->off + op->len;
	int r;

	if (end / ps > (op->off + ps - 1) / ps &&
	    !pins_release(o, (op->off + ps - 1) / ps, end / ps - 1))
		return false;
	enomem0 = enomem_count();
	r = zero ? pc_zero_range(o->m, op->off, op->len) : pc_punch(o->m, op->off, op->len);
	if (locked_enomem(r, enomem0))
		return verify_full(o, zero ? "full read after pc_zero_range failed with -ENOMEM" :
					     "full read after pc_punch failed with -ENOMEM");
	if (r == 0)
		punch_apply(o, op, zero);
	return expect_r(zero ? "pc_zero_range" : "pc_punch", r, 0);
}

/*
 * pc_punch_flags(PC_PUNCH_NOWAIT), with pcx's range pins kept: -EBUSY only
 * if one of them holds a whole page of the range (a page the punch would
 * remove), and then nothing may have changed; and it must be -EBUSY if a
 * pin there holds a page (cached mode) or a block (a DAX write pin: a DAX
 * read pin of a hole holds only the zero page, which blocks nothing).
 */
static bool do_punchnw(struct obj *o, const struct op *pop)
{
	struct op aim = *pop;
	const struct op *op = &aim;
	uint64_t first, end, enomem0 = enomem_count();
	bool may = false, must = false;
	int r;

	if (pop->mode == 1 && o->nr_pins) {
		/* Mode 1 aims at the whole pages of pcx's newest range pin (off and len unused). */
		aim.off = o->pin[o->nr_pins - 1].off / ps * ps;
		aim.len = (o->pin[o->nr_pins - 1].off + o->pin[o->nr_pins - 1].len + ps - 1) / ps * ps -
			  aim.off;
		if (aim.len > cfg.max_size - aim.off)
			aim.len = cfg.max_size - aim.off;
	}
	first = (op->off + ps - 1) / ps;
	end = (op->off + op->len) / ps;
	for (unsigned i = 0; first < end && i < o->nr_pins; i++)
		if (pin_overlaps(o, i, first, end - 1)) {
			may = true;
			must = must || !o->dax || o->pin[i].write;
		}
	r = pc_punch_flags(o->m, op->off, op->len, PC_PUNCH_NOWAIT);
	if (locked_enomem(r, enomem0))
		return verify_full(o, "full read after pc_punch_flags failed with -ENOMEM");
	if (r == -EBUSY && may) {
		struct op rd = *op;

		nr_punchnw_ebusy++;
		return do_read(o, &rd, 0);	/* it changed nothing */
	}
	if (r == 0 && must) {
		fail("pc_punch_flags(PC_PUNCH_NOWAIT) answered 0 with a page of the range range-pinned");
		return false;
	}
	if (r == 0)
		punch_apply(o, op, false);
	return expect_r("pc_punch_flags(PC_PUNCH_NOWAIT)", r, 0);
}

/*
 * pc_set_dax: mode bit 0 the mode to go to, bit 1 PC_WAIT (pcx first puts
 * its own range pins, or it would wait for ever).  Without it, -EBUSY if
 * and only if pcx holds a range pin on the mapping (and the mode changes).
 */
static bool do_setdax(struct obj *o, const struct op *op)
{
	bool on = op->mode & 1, wait = op->mode & 2, pinned;
	uint64_t inj0;
	int r, want;

	if (wait && !pins_release(o, 0, UINT64_MAX))
		return false;
	pinned = o->nr_pins > 0;
	inj0 = inj_count();
	r = pc_set_dax(o->m, on, wait ? PC_WAIT : 0);
	if (inj_enomem(r, inj0))
		return true;	/* check_obj: the mode stayed */
	want = on == o->dax ? 0 : pinned ? -EBUSY : 0;
	if (!expect_r(on ? "pc_set_dax(on)" : "pc_set_dax(off)", r, want))
		return false;
	if (on == o->dax)
		nr_setdax_same++;
	else if (r == -EBUSY)
		nr_setdax_ebusy++;
	else
		nr_setdax_ok++;
	if (r == 0 && on != o->dax) {
		o->dax = on;
		wp_clear(o, 0, 0);	/* every page was written back, or there was none */
	}
	return true;
}

/* pc_pin_range: mode bit 0 PC_PIN_WRITE.  pcx keeps the pin until an unpin or an op that needs it gone. */
static bool do_pin(struct obj *o, const struct op *op)
{
	uint64_t off = op->off, len = op->len, end = off + len;
	unsigned flags = (op->mode & 1) ? PC_PIN_WRITE : 0, tries = 0;
	int r;

	if (o->nr_pins == MAX_PINS && !pin_release(o, 0))
		return false;
	if (cfg.budget && !o->dax && end <= o->size) {
		/* In cached mode pinned pages hold budget: keep them to a quarter of it. */
		uint64_t cap = cfg.budget / ps / 4 ? cfg.budget / ps / 4 : 1;

		if (cached_pinned_pages() + (end - 1) / ps - off / ps + 1 > cap)
			len = ps - off % ps < len ? ps - off % ps : len;	/* one page */
		if (cached_pinned_pages() + 1 > cap)
			return true;	/* no room for it */
	}
	for (;;) {
		uint64_t enomem0 = enomem_count(), inj0 = inj_count();

		r = pc_pin_range(o->m, off, len, flags);
		if (inj_enomem(r, inj0))
			return true;	/* nothing pinned (a retry could fail for ever) */
		if (r != -ENOMEM || !reclaim_enomem(enomem0, &tries))
			break;
	}
	if (off + len > o->size) {
		nr_pin_enxio++;
		return expect_r("pc_pin_range past EOF", r, -ENXIO);
	}
	if (!expect_r("pc_pin_range", r, 0))
		return false;
	o->pin[o->nr_pins].off = off;
	o->pin[o->nr_pins].len = len;
	o->pin[o->nr_pins].write = flags != 0;
	o->nr_pins++;
	nr_pins_taken++;
	if (flags) {
		/* Write faults: dirtied (allocated, in DAX mode), and write-pinned. */
		hole_clear(o, off, len);
		memset(o->wp + off / ps, 1, (off + len - 1) / ps - off / ps + 1);
	}
	return true;
}

/* pc_unpin_range of pcx's pin number mode (modulo those held), or of a range it does not hold: -ENOENT. */
static bool do_unpin(struct obj *o, const struct op *op)
{
	int r;

	if (o->nr_pins) {
		nr_unpins++;
		return pin_release(o, op->mode % o->nr_pins);
	}
	r = pc_unpin_range(o->m, op->off, op->len, 0);
	nr_unpin_enoent++;
	return expect_r("pc_unpin_range of a range not pinned", r, -ENOENT);
}

static bool do_inval(struct obj *o, const struct op *op)
{
	bool ok;
	int r;

	if (!pins_release(o, op->off / ps, op->len ? (op->off + op->len - 1) / ps : UINT64_MAX))
		return false;
	pc_invalidate_lock(o->m);
	r = x_inval(o->m, op->off, op->len);
	ok = expect_r("pc_invalidate_range", r, 0);
	if (ok)
		wp_clear(o, op->off, op->len);
	if (ok && op->mode == 1) {
		/* G7: the holder of the exclusive lock still populates pages. */
		struct op rd = *op;

		rd.len = op->len ? op->len : (o->size > op->off ? o->size - op->off : 1);
		if (rd.len > cfg.max_len)
			rd.len = cfg.max_len;
		ok = do_read(o, &rd, PC_LOCKED);
	}
	pc_invalidate_unlock(o->m);
	return ok;
}

/*
 * After an open failed: say so if the file backend's directory, or the
 * object's host file, is gone or was replaced.  pcx never removes either
 * while it runs, and neither does the library (only pc_backend_unlink(),
 * which pcx does not call), so that is someone else cleaning up the temp
 * directory under a running pcx (how pcx_file_disk_tiny and
 * pcx_file_direct once failed with -ENOENT in /tmp); the CI runs work in
 * the build tree for that reason.
 */
static void dir_check(const char *name)
{
	char path[sizeof(dir) + 32];
	struct stat st;

	if (!dir[0])
		return;
	if (stat(dir, &st) < 0 || st.st_dev != dir_dev || st.st_ino != dir_ino) {
		fprintf(stderr, "pcx: %s was removed or replaced under pcx, not by it nor by the"
			" library: someone cleaned up the temp directory\n", dir);
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (stat(path, &st) < 0)
		fprintf(stderr, "pcx: the host file %s is gone: %s\n", path, strerror(errno));
}

static bool reopen(struct obj *o, unsigned flags)
{
	int r;

	if (!pins_release(o, 0, UINT64_MAX))	/* pc_close answers -EBUSY while they are held */
		return false;
	r = x_close(&o->m);

	if (!expect_r("pc_close", r, 0))
		return false;
	if (o->m) {
		fail("pc_close left the handle set");
		return false;
	}
	wp_clear(o, 0, 0);	/* pc_close wrote every page back */
	r = x_open(&o->m, o->name, flags);
	if (!expect_r("pc_open", r, 0)) {
		dir_check(o->name);
		return false;
	}
	o->dax = flags & PC_DAX;
	nr_dax_opens += o->dax;
	/* After an injected failure, nothing may have been lost. */
	return !inj_count() || verify_full(o, "full read after a reopen");
}

/* Close everything, drop the cache (and the file backend), build them again. */
static bool remount(void)
{
	bool file = strcmp(cfg.backend, "ram") != 0;
	int r;

	for (unsigned i = 0; i < cfg.nr_obj; i++) {
		if (!pins_release(&objs[i], 0, UINT64_MAX))
			return false;
		r = x_close(&objs[i].m);
		if (!expect_r("pc_close", r, 0))
			return false;
		wp_clear(&objs[i], 0, 0);
	}
	cache_delete();
	if (file)
		pc_backend_delete(&be);
	if (cache_new() < 0 || (file && backend_new() < 0)) {
		fail("could not build the cache or backend again");
		return false;
	}
	for (unsigned i = 0; i < cfg.nr_obj; i++) {
		r = x_open(&objs[i].m, objs[i].name, objs[i].dax ? PC_DAX : 0);
		if (!expect_r("pc_open after remount", r, 0)) {
			dir_check(objs[i].name);
			return false;
		}
	}
	for (unsigned i = 0; i < cfg.nr_obj; i++)
		if (!check_obj(&objs[i]) || !verify_full(&objs[i], "full read after remount"))
			return false;
	return true;
}

/* Bad input: each call must answer its errno and change nothing (G8). */
static bool do_bad(struct obj *o, const struct op *op)
{
	struct pc_mapping *m2 = NULL;
	struct pc_page *p = NULL;
	bool ok = true;
	long long r;

	switch (op->mode) {
	case 0:
		r = pc_write(o->m, pat, 2, PC_MAX_SIZE - 1, 0);
		return expect_r("pc_write past PC_MAX_SIZE", r, -EFBIG);
	case 1:
		r = pc_read(o->m, buf, 2, PC_MAX_SIZE - 1, 0);
		return expect_r("pc_read past PC_MAX_SIZE", r, -EINVAL);
	case 2:
		r = pc_punch(o->m, op->off, 0);
		return expect_r("pc_punch of length 0", r, -EINVAL);
	case 3:
		r = pc_truncate(o->m, PC_MAX_SIZE + 1);
		return expect_r("pc_truncate past PC_MAX_SIZE", r, -EFBIG);
	case 4:
		r = pc_fault(o->m, 0, 0x80, &p);
		if (r == 0)
			pc_page_put(p);
		return expect_r("pc_fault with an unknown flag", r, -EINVAL);
	case 5:
		r = pc_read(o->m, buf, 1, 0, 0x80);
		return expect_r("pc_read with an unknown flag", r, -EINVAL);
	case 6:
		r = pc_invalidate_range(o->m, 0, 0);
		return expect_r("pc_invalidate_range without the lock", r, -EPERM);
	case 7:
		r = pc_zero_range(o->m, op->off + 1, PC_MAX_SIZE);
		return expect_r("pc_zero_range past PC_MAX_SIZE", r, -EFBIG);
	case 8:
		/* Calls that take the invalidate_lock themselves, made while holding it. */
		pc_invalidate_lock(o->m);
		ok = expect_r("pc_sync under the invalidate_lock", pc_sync(o->m, 0, 0), -EDEADLK) &&
		     expect_r("pc_punch under the invalidate_lock", pc_punch(o->m, 0, 1), -EDEADLK) &&
		     expect_r("pc_truncate under the invalidate_lock", pc_truncate(o->m, 0),
			      -EDEADLK) &&
		     expect_r("pc_readahead under the invalidate_lock", pc_readahead(o->m, 0, 0),
			      -EDEADLK) &&
		     expect_r("pc_read without PC_LOCKED under the invalidate_lock",
			      pc_read(o->m, buf, 1, 0, 0), -EDEADLK);
		r = pc_fault(o->m, 0, 0, &p);
		if (r == 0)
			pc_page_put(p);
		ok = ok && expect_r("pc_fault under the invalidate_lock", r, -EDEADLK);
		pc_invalidate_unlock(o->m);
		return ok;
	case 10:
		r = pc_set_dax(o->m, !o->dax, 0x80);
		return expect_r("pc_set_dax with an unknown flag", r, -EINVAL);
	case 11:
		for (unsigned i = 0; i < o->nr_pins; i++)
			if (o->pin[i].off == op->off && o->pin[i].len == 1)
				return true;	/* that one is held */
		r = pc_unpin_range(o->m, op->off, 1, 0);
		return expect_r("pc_unpin_range of a range not pinned", r, -ENOENT);
	case 12:
		if (!o->nr_pins) {
			r = pc_pin_range(o->m, 0, 1, 0x80);
			return expect_r("pc_pin_range with an unknown flag", r, -EINVAL);
		}
		/* A mapping with range pins cannot be closed, and stays open. */
		r = pc_close(&o->m);
		if (!o->m) {
			fail("pc_close with range pins held closed the mapping (%lld)", r);
			return false;
		}
		return expect_r("pc_close with range pins held", r, -EBUSY);
	case 9:
	default: {
		uint64_t inj0 = inj_count();

		r = pc_open(&m2, cache, be, o->name, PC_CREAT);
		if (r == 0)
			pc_close(&m2);
		return inj_enomem(r, inj0) ||
		       expect_r("a second pc_open of an open object", r, -EBUSY);
	}
	}
}

/* Run @op and check it and the object after it. */
static bool run_op(const struct op *op)
{
	struct obj *o = &objs[op->obj];
	bool ok;
	int r;

	uint64_t wb0 = writeback_count(), wb, bound;

	cur = op;
	kind_count[op->kind]++;
	switch (op->kind) {
	case OP_READ: ok = do_read(o, op, 0); break;
	case OP_NOWAIT: ok = do_read(o, op, PC_NOWAIT); break;
	case OP_WRITE: ok = do_write(o, op); break;
	case OP_FREAD: ok = do_fault(o, op, false); break;
	case OP_FWRITE: ok = do_fault(o, op, true); break;
	case OP_TRUNCATE: ok = do_truncate(o, op); break;
	case OP_PUNCH: ok = do_punch(o, op, false); break;
	case OP_ZERO: ok = do_punch(o, op, true); break;
	case OP_SYNC:
		r = x_sync(o->m, op->off, op->len);
		ok = expect_r("pc_sync", r, 0);
		if (ok)
			wp_clear(o, op->off, op->len);
		break;
	case OP_INVAL: ok = do_inval(o, op); break;
	case OP_READAHEAD:
		r = x_readahead(o->m, op->off, op->len);
		ok = expect_r("pc_readahead", r, 0);
		break;
	case OP_REOPEN:
		ok = reopen(o, ((op->mode & 1) ? PC_CREAT : 0) | ((op->mode & 2) ? PC_DAX : 0));
		break;
	case OP_REMOUNT: ok = remount(); break;
	case OP_SETDAX: ok = do_setdax(o, op); break;
	case OP_PIN: ok = do_pin(o, op); break;
	case OP_UNPIN: ok = do_unpin(o, op); break;
	case OP_PUNCHNW: ok = do_punchnw(o, op); break;
	default: ok = do_bad(o, op); break;
	}
	ok = ok && check_obj(o);
	for (unsigned i = 0; ok && cfg.verify_all && i < cfg.nr_obj; i++)
		ok = verify_full(&objs[i], "--verify-all full read");
	/* A remount starts a new cache, and with it new stats. */
	bound = 4 * ((cfg.budget ? cfg.budget : PC_CACHE_DEFAULT_CAPACITY) / ps + op->len / ps + 2) + 64;
	wb = writeback_count() - wb0;
	if (ok && op->kind != OP_REMOUNT && bound < 100000 && wb > bound) {
		if (cfg.tolerate & TOL_WRMAPPED_STORM) {
			nr_wb_storm++;
		} else {
			fail("%" PRIu64 " pages written back during the op, more than %" PRIu64, wb,
			     bound);
			ok = false;
		}
	}
	return ok && !failed;
}

/* ---- the generator: it sees only its random state and the sizes ---- */

struct gen {
	uint64_t rng;
	uint64_t size[MAX_OBJ];
	unsigned wsum;
};

static void gen_init(struct gen *g)
{
	memset(g, 0, sizeof(*g));
	g->rng = cfg.seed;
	for (int k = 0; k < NR_OP_KINDS; k++)
		if (k < FIRST_DAX_OP || cfg.dax)
			g->wsum += ops[k].weight;
}

/* An offset in [0, max_size): near EOF, page-aligned, in or near the object, anywhere. */
static uint64_t gen_off(struct gen *g, uint64_t size)
{
	uint64_t max = cfg.max_size, off;

	switch (rnd(&g->rng, 16)) {
	case 0: case 1: case 2: case 3:
		off = size + rnd(&g->rng, 4 * ps);
		off = off > 2 * ps ? off - 2 * ps : 0;
		break;
	case 4: case 5:
		off = rnd(&g->rng, max / ps) * ps;
		break;
	case 6: case 7: case 8: case 9: case 10: case 11:
		off = rnd(&g->rng, size + ps);
		break;
	default:
		off = rnd(&g->rng, max);
		break;
	}
	return off < max ? off : max - 1;
}

/* A length in [1, max_len]: mostly small, sometimes whole pages, sometimes large. */
static uint64_t gen_len(struct gen *g)
{
	uint64_t len;

	switch (rnd(&g->rng, 8)) {
	case 0: case 1: case 2:
		len = 1 + rnd(&g->rng, 64);
		break;
	case 3: case 4:
		len = 1 + rnd(&g->rng, ps);
		break;
	case 5:
		len = (1 + rnd(&g->rng, 16)) * ps;
		break;
	case 6:
		len = 1 + rnd(&g->rng, 64 << 10);
		break;
	default:
		len = 1 + rnd(&g->rng, cfg.max_len);
		break;
	}
	return len < cfg.max_len ? len : cfg.max_len;
}

static uint64_t clip_len(uint64_t off, uint64_t len)
{
	return len < cfg.max_size - off ? len : cfg.max_size - off;
}

static void gen_op(struct gen *g, struct op *op)
{
	unsigned w = (unsigned)rnd(&g->rng, g->wsum);
	uint64_t size;

	memset(op, 0, sizeof(*op));
	while (w >= ops[op->kind].weight)
		w -= ops[op->kind++].weight;
	op->obj = (unsigned)rnd(&g->rng, cfg.nr_obj);
	size = g->size[op->obj];
	op->off = gen_off(g, size);
	op->len = gen_len(g);
	op->seed = splitmix(&g->rng) >> 24;	/* short enough to read */
	switch (op->kind) {
	case OP_WRITE:
	case OP_ZERO:
	case OP_PUNCH:
		op->len = clip_len(op->off, op->len);
		break;
	case OP_SETDAX:
		op->mode = (unsigned)rnd(&g->rng, 4);
		break;
	case OP_PIN:
		/* Mostly inside the object; else past EOF (-ENXIO). */
		if (size && rnd(&g->rng, 8)) {
			uint64_t room = size - (op->off = rnd(&g->rng, size));

			op->len = 1 + rnd(&g->rng, room < 8 * ps ? room : 8 * ps);
		}
		op->mode = (unsigned)rnd(&g->rng, 2);
		break;
	case OP_UNPIN:
		op->mode = (unsigned)rnd(&g->rng, MAX_PINS);
		break;
	case OP_PUNCHNW:
		op->len = clip_len(op->off, op->len);
		op->mode = (unsigned)rnd(&g->rng, 2);
		break;
	case OP_FREAD:
		op->mode = rnd(&g->rng, 4) == 0;
		break;
	case OP_FWRITE:
		op->len = 1 + rnd(&g->rng, ps);
		op->mode = (unsigned)rnd(&g->rng, 5) % 4;	/* 0 twice as often */
		if (rnd(&g->rng, 256) == 0)
			op->mode = 4;
		break;
	case OP_TRUNCATE:
		switch (rnd(&g->rng, 6)) {
		case 0: case 1: op->off = rnd(&g->rng, size + 1); break;	/* down */
		case 2: op->off = size + rnd(&g->rng, 8 * ps); break;		/* up a little */
		case 3: op->off = rnd(&g->rng, cfg.max_size + 1); break;
		case 4: op->off = rnd(&g->rng, cfg.max_size / ps + 1) * ps; break;
		default: op->off = size; break;
		}
		if (op->off > cfg.max_size)
			op->off = cfg.max_size;
		break;
	case OP_SYNC:
	case OP_READAHEAD:
		if (rnd(&g->rng, 4) == 0)
			op->len = 0;	/* to EOF */
		break;
	case OP_INVAL:
		if (rnd(&g->rng, 4) == 0)
			op->len = 0;
		op->mode = (unsigned)rnd(&g->rng, 2);
		break;
	case OP_REOPEN:
		op->mode = (unsigned)rnd(&g->rng, 2);
		if (cfg.dax)
			op->mode |= (unsigned)rnd(&g->rng, 2) << 1;	/* PC_DAX */
		break;
	case OP_REMOUNT:
		op->obj = 0;
		break;
	case OP_BAD:
		op->mode = (unsigned)rnd(&g->rng, NR_BAD_KINDS + (cfg.dax ? NR_BAD_DAX_KINDS : 0));
		break;
	default:
		break;
	}
}

/* The size of the object after @op, as the generator tracks it. */
static void gen_apply(struct gen *g, const struct op *op)
{
	uint64_t *size = &g->size[op->obj];

	switch (op->kind) {
	case OP_WRITE:
	case OP_ZERO:
		if (op->off + op->len > *size)
			*size = op->off + op->len;
		break;
	case OP_TRUNCATE:
		*size = op->off;
		break;
	default:
		break;
	}
}

/* ---- replay ---- */

/* A replayed op must stay inside the shadow and the scratch buffers. */
static bool op_fits(const struct op *op)
{
	uint64_t max = cfg.max_size;

	if (op->obj >= cfg.nr_obj || op->off >= max)
		return op->kind == OP_REMOUNT || (op->obj < cfg.nr_obj && op->kind == OP_TRUNCATE &&
						  op->off == max);
	switch (op->kind) {
	case OP_WRITE: case OP_ZERO: case OP_PUNCH: case OP_PUNCHNW:
		return op->len <= max - op->off;
	case OP_READ: case OP_NOWAIT: case OP_INVAL:
		return op->len <= cfg.max_len;
	default:
		return true;
	}
}

static struct op *replay_ops;
static uint64_t replay_nr;

/* --tolerate: a comma-separated list of tol_names[], or "none". */
static bool set_tolerate(const char *v)
{
	while (*v) {
		size_t n = strcspn(v, ",");
		unsigned i;

		for (i = 0; i < NR_TOL; i++)
			if (strlen(tol_names[i]) == n && !strncmp(v, tol_names[i], n))
				break;
		if (i < NR_TOL)
			cfg.tolerate |= 1u << i;
		else if (n == 4 && !strncmp(v, "none", 4))
			cfg.tolerate = 0;
		else
			return false;
		v += n + (v[n] == ',');
	}
	return true;
}

static int parse_config(char *line)
{
	char *save = NULL;

	for (char *t = strtok_r(line + 6, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
		char *v = strchr(t, '=');

		if (!v)
			return -1;
		*v++ = '\0';
		if (!strcmp(t, "backend")) {
			if (!(cfg_set & SET_BACKEND))
				cfg.backend = strdup(v);
		} else if (!strcmp(t, "budget")) {
			if (!(cfg_set & SET_BUDGET))
				cfg.budget = strtoull(v, NULL, 0);
		} else if (!strcmp(t, "max-size")) {
			if (!(cfg_set & SET_MAX_SIZE))
				cfg.max_size = strtoull(v, NULL, 0);
		} else if (!strcmp(t, "max-len")) {
			if (!(cfg_set & SET_MAX_LEN))
				cfg.max_len = strtoull(v, NULL, 0);
		} else if (!strcmp(t, "objects")) {
			if (!(cfg_set & SET_OBJECTS))
				cfg.nr_obj = (unsigned)strtoul(v, NULL, 0);
		} else if (!strcmp(t, "writeback")) {
			if (!(cfg_set & SET_WB) && sscanf(v, "%u,%u", &cfg.wb_pct, &cfg.wb_ms) != 2)
				return -1;
		} else if (!strcmp(t, "tolerate")) {
			if (!(cfg_set & SET_TOLERATE) && !set_tolerate(v))
				return -1;
		} else if (!strcmp(t, "dax")) {
			if (!(cfg_set & SET_DAX))
				cfg.dax = strtoul(v, NULL, 0) != 0;
		} else if (!strcmp(t, "seed")) {
			if (!(cfg_set & SET_SEED))
				cfg.seed = strtoull(v, NULL, 0);
		} else {
			return -1;
		}
	}
	return 0;
}

static int load_replay(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	uint64_t cap = 0, lineno = 0;

	if (!f) {
		perror(path);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		struct op op;
		int r;

		lineno++;
		if (!strncmp(line, "config ", 7)) {
			r = parse_config(line) < 0 ? -1 : 0;
		} else {
			r = op_parse(line, &op);
			if (r == 1 && ((op.obj >= MAX_OBJ) || op.kind == NR_OP_KINDS))
				r = -1;
		}
		if (r < 0) {
			fprintf(stderr, "%s:%" PRIu64 ": cannot parse: %s", path, lineno, line);
			fclose(f);
			return -1;
		}
		if (r == 0 || !strncmp(line, "config ", 7))
			continue;
		if (replay_nr == cap) {
			cap = cap ? 2 * cap : 1024;
			replay_ops = realloc(replay_ops, cap * sizeof(*replay_ops));
			if (!replay_ops) {
				fclose(f);
				return -1;
			}
		}
		replay_ops[replay_nr++] = op;
	}
	fclose(f);
	return 0;
}

/* The ops of the run up to and including op @upto, replayed or generated again. */
static void write_log(const char *path, uint64_t upto)
{
	FILE *f = fopen(path, "w");
	char line[128];
	struct gen g;
	struct op op;

	if (!f) {
		perror(path);
		return;
	}
	fprintf(f, "# pcx log: pcx --replay %s\n", path);
	config_format(f);
	gen_init(&g);
	for (uint64_t i = 0; i <= upto; i++) {
		if (replay_ops) {
			op = replay_ops[i];
		} else {
			gen_op(&g, &op);
			gen_apply(&g, &op);
		}
		op_format(&op, line, sizeof(line));
		fprintf(f, "%s\n", line);
	}
	if (fclose(f) != 0)
		perror(path);
}

/* ---- main ---- */

static void usage(void)
{
	fprintf(stderr,
		"usage: pcx [--backend ram|file|file-direct|pmem] [--seed N] [--ops N] [--budget BYTES]\n"
		"           [--max-size BYTES] [--max-len BYTES] [--objects 1-3]\n"
		"           [--writeback PERCENT,MS] [--verify-all] [--history N] [--log FILE]\n"
		"           [--replay FILE] [--dir DIR] [--tolerate NAME[,NAME...]] [--quiet]\n"
		"           [--fail-site NAME [--fail-nth K] [--fail-every N]] [--fail-list]  (pcx_fi)\n"
		"           [--dax]  (ram, pmem)\n"
		"known bugs for --tolerate: locked-enomem, reclaim-enomem, wrmapped-storm, none\n");
	exit(2);
}

static uint64_t num_arg(const char *s)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		usage();
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	case 'p': v *= pc_page_size(); end++; break;	/* pages */
	default: break;
	}
	if (*end)
		usage();
	return v;
}

/* --fail-site NAME: the site's number; pcx_fi only. */
static int fail_site_arg(const char *name)
{
#ifdef PCX_FAIL_SWEEP
	for (int i = 0; pc_inject_fail_name(i); i++)
		if (!strcmp(pc_inject_fail_name(i), name))
			return i;
	fprintf(stderr, "pcx: no allocation site %s (--fail-list)\n", name);
#else
	(void)name;
	fprintf(stderr, "pcx: --fail-site needs pcx_fi, from a -Dfault_inject=true build\n");
#endif
	exit(2);
}

/* --fail-list: the allocation sites, one a line. */
static void fail_list(void)
{
#ifdef PCX_FAIL_SWEEP
	for (int i = 0; pc_inject_fail_name(i); i++)
		printf("%s\n", pc_inject_fail_name(i));
	exit(0);
#else
	fail_site_arg(NULL);
#endif
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "seed", required_argument, NULL, 's' },
		{ "ops", required_argument, NULL, 'n' },
		{ "budget", required_argument, NULL, 'B' },
		{ "max-size", required_argument, NULL, 'S' },
		{ "max-len", required_argument, NULL, 'L' },
		{ "objects", required_argument, NULL, 'o' },
		{ "writeback", required_argument, NULL, 'w' },
		{ "verify-all", no_argument, NULL, 'V' },
		{ "history", required_argument, NULL, 'H' },
		{ "log", required_argument, NULL, 'l' },
		{ "replay", required_argument, NULL, 'r' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "dir", required_argument, NULL, 'd' },
		{ "tolerate", required_argument, NULL, 'T' },
		{ "fail-site", required_argument, NULL, 'F' },
		{ "fail-nth", required_argument, NULL, 'N' },
		{ "fail-every", required_argument, NULL, 'E' },
		{ "fail-list", no_argument, NULL, 'Z' },
		{ "dax", no_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'b': cfg.backend = optarg; cfg_set |= SET_BACKEND; break;
		case 's': cfg.seed = num_arg(optarg); cfg_set |= SET_SEED; break;
		case 'n': cfg.nr_ops = num_arg(optarg); break;
		case 'B': cfg.budget = num_arg(optarg); cfg_set |= SET_BUDGET; break;
		case 'S': cfg.max_size = num_arg(optarg); cfg_set |= SET_MAX_SIZE; break;
		case 'L': cfg.max_len = num_arg(optarg); cfg_set |= SET_MAX_LEN; break;
		case 'o': cfg.nr_obj = (unsigned)num_arg(optarg); cfg_set |= SET_OBJECTS; break;
		case 'w':
			if (sscanf(optarg, "%u,%u", &cfg.wb_pct, &cfg.wb_ms) != 2)
				usage();
			cfg_set |= SET_WB;
			break;
		case 'V': cfg.verify_all = true; break;
		case 'H': cfg.history = (unsigned)num_arg(optarg); break;
		case 'l': cfg.log_path = optarg; break;
		case 'r': cfg.replay_path = optarg; break;
		case 'q': cfg.quiet = true; break;
		case 'd': cfg.dir = optarg; break;
		case 'T':
			if (!(cfg_set & SET_TOLERATE))
				cfg.tolerate = 0;	/* the command line replaces the log's */
			if (!set_tolerate(optarg))
				usage();
			cfg_set |= SET_TOLERATE;
			break;
		case 'F': cfg.fail_site = fail_site_arg(optarg); break;
		case 'N': cfg.fail_nth = num_arg(optarg); break;
		case 'E': cfg.fail_every = num_arg(optarg); break;
		case 'Z': fail_list(); break;
		case 'D': cfg.dax = true; cfg_set |= SET_DAX; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (cfg.fail_site >= 0) {
		if (!cfg.fail_nth)
			cfg.fail_nth = 1;
		/* What a refused allocation may cause, pcx checks as for these. */
		cfg.tolerate |= TOL_LOCKED_ENOMEM | TOL_RECLAIM_ENOMEM;
	}
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void print_stats(FILE *f)
{
	struct pc_stats st;

	if (!cache || pc_stats(cache, &st, sizeof(st)) < 0)
		return;
	fprintf(f, "pcx: cache now: %" PRIu64 " pages cached (%" PRIu64 " dirty) of a budget of %"
		PRIu64 " bytes; %" PRIu64 " evictions, %" PRIu64 " writebacks, %" PRIu64
		" flusher runs, %" PRIu64 " -ENOMEM, %" PRIu64 " reclaim scans\n", st.pages_cached,
		st.dirty_pages, st.capacity, st.evictions, st.writebacks, st.flusher_runs, st.enomem,
		st.reclaim_scans);
}

static void print_history(uint64_t upto)
{
	uint64_t from = upto + 1 > cfg.history ? upto + 1 - cfg.history : 0;
	char line[128];

	fprintf(stderr, "pcx: the last %" PRIu64 " ops:\n", upto + 1 - from);
	for (uint64_t i = from; i <= upto; i++) {
		op_format(&hist[i % cfg.history], line, sizeof(line));
		fprintf(stderr, "  op %" PRIu64 ": %s\n", i, line);
	}
}

/* Compare every object in full, close, reopen, compare again. */
static bool final_check(void)
{
	static struct op fin = { .kind = OP_REOPEN };	/* what a failure names */

	cur = &fin;
	for (fin.obj = 0; fin.obj < cfg.nr_obj; fin.obj++)
		if (!verify_full(&objs[fin.obj], "final full read"))
			return false;
	for (fin.obj = 0; fin.obj < cfg.nr_obj; fin.obj++)
		if (!reopen(&objs[fin.obj], objs[fin.obj].dax ? PC_DAX : 0) ||
		    !check_obj(&objs[fin.obj]) ||
		    !verify_full(&objs[fin.obj], "full read after the final reopen"))
			return false;
	return true;
}

/* pcx could not start: an unreadable log, no memory, no backend. */
/* --fail-site: how often the site was hit and failed (pcx-sweep.py reads this line). */
static void fail_report(void)
{
#ifdef PCX_FAIL_SWEEP
	if (cfg.fail_site >= 0)
		printf("pcx: fail-site %s: %" PRIu64 " hits, %" PRIu64 " failed, %" PRIu64
		       " -ENOMEM answers taken\n", pc_inject_fail_name(cfg.fail_site),
		       pc_inject_fail_hits(cfg.fail_site), pc_inject_fail_count(),
		       nr_inj_enomem + nr_locked_enomem + nr_reclaim_enomem);
#endif
}

static int setup_failed(void)
{
	fail_report();
	printf("0 passed, 1 failed\n");
	return 1;
}

int main(int argc, char **argv)
{
	uint64_t n;
	struct gen g;
	double t0, t;
	bool ok;
	int r;

	parse_args(argc, argv);
	if (cfg.replay_path && load_replay(cfg.replay_path) < 0)
		return setup_failed();
	ps = pc_page_size();
	if (!(cfg_set & SET_SEED) && !cfg.replay_path)
		cfg.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
	if (!cfg.nr_obj)
		cfg.nr_obj = 1 + (unsigned)(cfg.seed % MAX_OBJ);
	if (cfg.nr_obj > MAX_OBJ || cfg.max_size < 2 * ps || !cfg.max_len || !cfg.history ||
	    (strcmp(cfg.backend, "ram") && strcmp(cfg.backend, "file") &&
	     strcmp(cfg.backend, "file-direct") && strcmp(cfg.backend, "pmem")) ||
	    (cfg.dax && strcmp(cfg.backend, "ram") && strcmp(cfg.backend, "pmem"))) {
		fprintf(stderr, "pcx: bad options\n");
		usage();
	}
	cfg.max_size = cfg.max_size / ps * ps;
	bufsz = (cfg.max_size > cfg.max_len ? cfg.max_size : cfg.max_len) + 2 * ps;
	buf = malloc(bufsz);
	pat = malloc(bufsz);
	hist = calloc(cfg.history, sizeof(*hist));
	if (!buf || !pat || !hist)
		return setup_failed();
	for (uint64_t i = 0; i < replay_nr; i++)
		if (!op_fits(&replay_ops[i])) {
			fprintf(stderr, "pcx: op %" PRIu64 " of the log does not fit %u objects of"
				" --max-size %" PRIu64 " and --max-len %" PRIu64 "\n", i, cfg.nr_obj,
				cfg.max_size, cfg.max_len);
			return setup_failed();
		}

	if (strcmp(cfg.backend, "ram")) {
		const char *tmp = cfg.dir ? cfg.dir : getenv("TMPDIR");
		struct stat st;

		snprintf(dir, sizeof(dir), "%s/pcx-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(dir) || stat(dir, &st) < 0) {
			perror(dir);
			return setup_failed();
		}
		dir_dev = st.st_dev;
		dir_ino = st.st_ino;
	}
#ifdef PCX_FAIL_SWEEP
	if (cfg.fail_site >= 0)
		pc_inject_fail_set(cfg.fail_site, cfg.fail_nth, cfg.fail_every);
#endif
	if (cache_new() < 0)
		return setup_failed();
	r = backend_new();
	if (r == -ENOTSUP && !strcmp(cfg.backend, "pmem")) {
		printf("pcx: no pmem backend in this build (no libpmem2): skipped\n");
		rmdir(dir);
		return 77;
	}
	if (r < 0)
		return setup_failed();
	for (unsigned i = 0; i < cfg.nr_obj; i++) {
		struct obj *o = &objs[i];

		snprintf(o->name, sizeof(o->name), "obj%u", i);
		o->sh = calloc(1, cfg.max_size + ps);
		o->wp = calloc(1, cfg.max_size / ps + 1);
		o->hole = malloc(cfg.max_size / ps + 1);
		if (!o->sh || !o->wp || !o->hole)
			return setup_failed();
		memset(o->hole, 1, cfg.max_size / ps + 1);	/* a new object is all hole */
		if (cfg.dax) {
			/* Some objects start in DAX mode, from their own stream. */
			uint64_t s = cfg.seed ^ (0xdaull << 8 | i);

			o->dax = rnd(&s, 2);
			nr_dax_opens += o->dax;
		}
		r = x_open(&o->m, o->name, PC_CREAT | PC_EXCL | (o->dax ? PC_DAX : 0));
		if (r < 0) {
			fprintf(stderr, "pcx: pc_open %s: %s\n", o->name, strerror(-r));
			return setup_failed();
		}
	}
	if (!cfg.quiet) {
		printf("pcx: ");
		config_format(stdout);
		fflush(stdout);
	}

	n = cfg.replay_path ? replay_nr : cfg.nr_ops;
	gen_init(&g);
	t0 = now();
	for (op_nr = 0; op_nr < n; op_nr++) {
		struct op *op = &hist[op_nr % cfg.history];

		if (cfg.replay_path) {
			*op = replay_ops[op_nr];
		} else {
			gen_op(&g, op);
			gen_apply(&g, op);
		}
		t = now();
		ok = run_op(op);
		kind_time[op->kind] += now() - t;
		if (!ok)
			break;
	}
	if (!failed) {
#ifdef PCX_FAIL_SWEEP
		pc_inject_fail_set(-1, 0, 0);	/* the final check fails nothing */
#endif
		final_check();	/* a failure there is reported as op N, after the last */
	}
	t = now() - t0;

	if (failed) {
		char path[64];
		const char *log = cfg.log_path;
		uint64_t upto = op_nr < n ? op_nr : n - 1;

		if (n)
			print_history(upto);
		print_stats(stderr);
		if (!log) {
			snprintf(path, sizeof(path), "pcx-%" PRIu64 ".log", cfg.seed);
			log = path;
		}
		if (n && (!cfg.replay_path || cfg.log_path)) {
			write_log(log, upto);
			fprintf(stderr, "pcx: the log of ops 0..%" PRIu64 " is in %s; replay: pcx --replay %s\n",
				upto, log, log);
		}
		if (dir[0])
			fprintf(stderr, "pcx: the file backend's directory is kept: %s\n", dir);
		fail_report();
		printf("0 passed, 1 failed\n");
		return 1;
	}
	if (cfg.log_path)
		write_log(cfg.log_path, n ? n - 1 : 0);

	for (unsigned i = 0; i < cfg.nr_obj; i++) {
		pc_close(&objs[i].m);
		free(objs[i].sh);
		free(objs[i].wp);
		free(objs[i].hole);
	}
	cache_delete();
	pc_backend_delete(&be);
	if (dir[0])
		nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	if (!cfg.quiet) {
		printf("pcx: %" PRIu64 " ops in %.2f s: %.0f ops/s\n", n, t, (double)n / (t > 0 ? t : 1));
		printf("pcx: ops (count, seconds):");
		for (int k = 0; k < NR_OP_KINDS; k++)
			printf(" %s %" PRIu64 " %.2f", ops[k].name, kind_count[k], kind_time[k]);
		printf("\npcx: nowait: %" PRIu64 " -EAGAIN, %" PRIu64 " short; faults past EOF: %" PRIu64
		       "; -EBUSY for a page that may have a write pin: %" PRIu64
		       "\npcx: tolerated: locked-enomem %" PRIu64 ", reclaim-enomem %" PRIu64
		       ", wrmapped-storm %" PRIu64 "\n", nowait_eagain, nowait_short, fault_enxio,
		       nr_wp_ebusy, nr_locked_enomem, nr_reclaim_enomem, nr_wb_storm);
		if (cfg.dax)
			printf("pcx: dax: %" PRIu64 " DAX opens, %" PRIu64 " DAX faults (%" PRIu64
			       " of the zero page); setdax %" PRIu64 " switched, %" PRIu64
			       " -EBUSY (pins held), %" PRIu64 " already so; pin %" PRIu64
			       " held, %" PRIu64 " -ENXIO; unpin %" PRIu64 ", %" PRIu64
			       " -ENOENT; %" PRIu64 " pins released for an op; punchnw %" PRIu64
			       " -EBUSY\n", nr_dax_opens, nr_dax_faults, nr_zero_page_faults,
			       nr_setdax_ok, nr_setdax_ebusy, nr_setdax_same, nr_pins_taken,
			       nr_pin_enxio, nr_unpins, nr_unpin_enoent, nr_pins_released,
			       nr_punchnw_ebusy);
		printf("pcx: cache: %" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64 " fills, %" PRIu64
		       " hole fills, %" PRIu64 " evictions, %" PRIu64 " writebacks, %" PRIu64
		       " flusher runs, %" PRIu64 " -ENOMEM\n", st_sum.hits, st_sum.misses, st_sum.fills,
		       st_sum.hole_fills, st_sum.evictions, st_sum.writebacks, st_sum.flusher_runs,
		       st_sum.enomem);
	}
	free(buf);
	free(pat);
	free(hist);
	free(replay_ops);
	fail_report();
	printf("1 passed, 0 failed\n");
	return 0;
}
