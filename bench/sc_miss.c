/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Scenario "miss": cold reads from the file backend against pread() of the
 * same file (issue 3's figure).  One file of --size bytes (1 GiB; --quick:
 * 128 MiB) of pseudo-random bytes is written once and fsync'ed, on a disk
 * file system (the build directory if it is ext4, xfs or btrfs, else
 * /var/tmp; the type is reported).  The library reads it through two
 * mappings: a buffered file backend and a PC_FILE_DIRECT one, each with a
 * 64 MiB cache.  Every timed run, of either variant, starts cold: both
 * mappings' pages are dropped (pc_invalidate_range() under the exclusive
 * invalidate_lock), and the file is dropped from the kernel's page cache
 * (fdatasync() and posix_fadvise(DONTNEED); if that leaves pages behind,
 * "1" to /proc/sys/vm/drop_caches, where allowed).  Both ways are tried
 * once at setup, and before every run mincore() counts the file's pages
 * still in the kernel's cache; the report gives the worst count.
 *   A1 pc_read seq   pc_read() of 128 KiB from offset 0 on, buffered backend;
 *   B1 pread seq     pread() of 128 KiB on a buffered fd, the same reads.
 *   A2, B2           the same on the O_DIRECT backend and an O_DIRECT fd:
 *                    the cold case that a VM's drop cannot fake (its host
 *                    may still cache the disk image; nothing here can drop
 *                    that, and it applies to A and B alike).
 *   A3 pc_read rand 4K  pc_read() of 4 KiB at distinct 4 KiB blocks in a
 *                    random order (a permutation, so every read misses in
 *                    every cache), buffered; B3 the same with pread().
 *   A4, B4           the same on O_DIRECT.
 *   A5, A6           pc_read() seq and rand 4K on the pmem backend (the same
 *                    file mapped with libpmem2, read by copies from the
 *                    mapping), against B5, B6: pread() on the buffered fd
 *                    again.  The pmem mapping is closed before each cold
 *                    drop and opened again after it (its mapping would
 *                    keep the file's pages in the kernel's cache), so the
 *                    file stays linked until the end (an exit on error
 *                    removes it).  Not run where the library has no pmem
 *                    backend (no libpmem2).
 * A sequential run reads the whole file, or a prefix of it sized to take
 * about --seconds (default 1 s for this scenario); a random run is sized
 * the same way, at most one read per block.  Only pc_read() is called:
 * readahead, where the library has it, is its own doing (the report says
 * whether pc_readahead() is exported).  Sequential results are MB/s,
 * random ones thousands of reads per second.
 *
 * In "miss", A and B read the same file, at the same offsets in the same
 * order, into the same page-aligned buffer, from the same cold state, and
 * the pairs alternate, so that neither sees the other's data in any cache.
 * The library's two caches are separate, so one mapping's pages never
 * evict the other's.  pread() has no cache of its own: that is the point,
 * and the random pairs show what the library's copy and bookkeeping cost
 * per miss.  In "reclaim", the reclaiming and the ceiling objects hold the
 * same bytes and every variant walks the same pre-generated random page
 * offsets from their start (2 threads: each half of them), as in "hit";
 * the sampler runs in every variant alike.
 */
#include "harness.h"


#define MISS_DEFAULT_SIZE	(1024 * PCB_MIB)
#define MISS_QUICK_SIZE		(128 * PCB_MIB)
#define MISS_BUDGET		(64 * PCB_MIB)
#define MISS_SEQ_IO		(128u * 1024)	/* bytes per sequential read */
#define MISS_RAND_IO		4096u		/* bytes per random read */
#define MISS_CHUNK		PCB_MIB		/* unit of the initial write */
#define MISS_SEED		0x3155c01d3155c01dull

struct miss_ctx {
	uint64_t size;
	struct pc_mapping *m;		/* the pair's mapping: buffered or direct */
	int fd;				/* the pair's fd for pread: buffered or O_DIRECT */
	struct pc_mapping *mb, *md;	/* the buffered and the PC_FILE_DIRECT mapping */
	int bfd, dfd;			/* buffered and O_DIRECT fds of the file (-1: none) */
	unsigned char *buf;		/* MISS_SEQ_IO bytes, page-aligned for O_DIRECT */
	uint32_t *perm;			/* the file's 4 KiB blocks in random order */
	uint64_t nblocks;		/* size / MISS_RAND_IO */
	unsigned char *map;		/* the file mapped, for mincore() only: never touched */
	unsigned char *vec;		/* mincore() output, one byte per host page */
	uint64_t host_pages;
	bool use_fadvise;		/* the host drop each run uses: fadvise, */
	bool use_drop_caches;		/* or /proc/sys/vm/drop_caches */
	uint64_t resident_max;		/* host pages of the file left by a drop, worst run */
	uint64_t colds;			/* cold starts so far */
	struct pc_mapping *mp;		/* the pmem backend's mapping (NULL: none) */
	struct pc_cache *cp;
	struct pc_backend *bp;
	char pmem_name[64];		/* the object's name for reopening it */
};

/* The file, kept linked while the pmem pairs run; removed at exit. */
static char miss_pmem_path[PATH_MAX];

static void miss_pmem_unlink(void)
{
	if (miss_pmem_path[0])
		unlink(miss_pmem_path);
	miss_pmem_path[0] = '\0';
}

/* Host pages of the file in the kernel's page cache now. */
static uint64_t miss_resident(struct miss_ctx *h)
{
	uint64_t n = 0;

	if (mincore(h->map, h->size, h->vec))
		die("mincore: %s", strerror(errno));
	for (uint64_t i = 0; i < h->host_pages; i++)
		n += h->vec[i] & 1;
	return n;
}

/* Write "1" to /proc/sys/vm/drop_caches: 0 or a negative errno. */
static int miss_drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, "1", 1) != 1)
		r = -errno;
	close(fd);
	return r;
}

static int miss_fadvise(struct miss_ctx *h)
{
	if (fdatasync(h->bfd))
		die("fdatasync: %s", strerror(errno));
	return -posix_fadvise(h->bfd, 0, 0, POSIX_FADV_DONTNEED);
}

/* Drop every cached page of @m from the library's cache. */
static void miss_invalidate(struct pc_mapping *m)
{
	int r;

	pc_invalidate_lock(m);
	r = pc_invalidate_range(m, 0, 0);
	pc_invalidate_unlock(m);
	check(r, "pc_invalidate_range");
}

/*
 * Before every timed run, of either variant: nothing of the file in the
 * library's caches (both mappings) nor in the kernel's page cache, checked.
 */
static void miss_cold(struct miss_ctx *h)
{
	bool pmem_pair = h->mp && h->m == h->mp;
	uint64_t res;

	miss_invalidate(h->mb);
	if (h->md)
		miss_invalidate(h->md);
	/* The pmem backend's mapping pins the file's pages: close it for the drop. */
	if (h->mp)
		check(pc_close(&h->mp), "pc_close (pmem)");
	if (h->use_fadvise)
		check(miss_fadvise(h), "posix_fadvise");
	if (h->use_drop_caches)
		check(miss_drop_caches(), "writing /proc/sys/vm/drop_caches");
	if (h->bp) {
		check(pc_open(&h->mp, h->cp, h->bp, h->pmem_name, 0), "pc_open (pmem)");
		if (pmem_pair)
			h->m = h->mp;
	}
	res = miss_resident(h);
	if (res > h->resident_max)
		h->resident_max = res;
	h->colds++;
}

typedef void (*miss_io_fn)(struct miss_ctx *h, uint64_t k);

/* A1, A2: @k reads of 128 KiB from offset 0 on. */
static void miss_seq_pcread(struct miss_ctx *h, uint64_t k)
{
	for (uint64_t i = 0; i < k; i++) {
		ssize_t r = pc_read(h->m, h->buf, MISS_SEQ_IO, i * MISS_SEQ_IO, 0);

		if (pcb_unlikely(r != MISS_SEQ_IO)) {
			check(r, "pc_read");
			die("pc_read: short read of %zd bytes at %" PRIu64, r, i * MISS_SEQ_IO);
		}
	}
	pcb_sink += h->buf[k & (MISS_SEQ_IO - 1)];
}

/* B1, B2: the same reads with pread(). */
static void miss_seq_pread(struct miss_ctx *h, uint64_t k)
{
	for (uint64_t i = 0; i < k; i++) {
		ssize_t r = pread(h->fd, h->buf, MISS_SEQ_IO, (off_t)(i * MISS_SEQ_IO));

		if (pcb_unlikely(r != MISS_SEQ_IO))
			die("pread: %s", r < 0 ? strerror(errno) : "short read");
	}
	pcb_sink += h->buf[k & (MISS_SEQ_IO - 1)];
}

/* A3, A4: @k reads of 4 KiB at the first @k blocks of the permutation. */
static void miss_rand_pcread(struct miss_ctx *h, uint64_t k)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < k; i++) {
		uint64_t off = (uint64_t)h->perm[i] * MISS_RAND_IO;
		ssize_t r = pc_read(h->m, h->buf, MISS_RAND_IO, off, 0);

		if (pcb_unlikely(r != MISS_RAND_IO)) {
			check(r, "pc_read");
			die("pc_read: short read of %zd bytes at %" PRIu64, r, off);
		}
		sum += h->buf[i & (MISS_RAND_IO - 1)];
	}
	pcb_sink += sum;
}

/* B3, B4: the same reads with pread(). */
static void miss_rand_pread(struct miss_ctx *h, uint64_t k)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < k; i++) {
		ssize_t r = pread(h->fd, h->buf, MISS_RAND_IO,
				  (off_t)((uint64_t)h->perm[i] * MISS_RAND_IO));

		if (pcb_unlikely(r != MISS_RAND_IO))
			die("pread: %s", r < 0 ? strerror(errno) : "short read");
		sum += h->buf[i & (MISS_RAND_IO - 1)];
	}
	pcb_sink += sum;
}

/* One cold run of @k reads; the time of the reads alone, in ns. */
static uint64_t miss_run(struct miss_ctx *h, miss_io_fn fn, uint64_t k)
{
	uint64_t t0;

	miss_cold(h);
	t0 = now_ns();
	fn(h, k);
	return now_ns() - t0;
}

/*
 * Reads per run so that @fn takes about @seconds, at most @kmax (the whole
 * file, read once).  As hit_calibrate(), but every trial is cold too.
 */
static uint64_t miss_calibrate(struct miss_ctx *h, miss_io_fn fn, uint64_t kmax,
			       double seconds)
{
	double target = seconds * 1e9, ops;
	uint64_t k = 64, t;

	for (;;) {
		if (k > kmax)
			k = kmax;
		t = miss_run(h, fn, k);
		if (t >= target / 10 || k == kmax)
			break;
		k *= 2;
	}
	ops = target * (double)k / (double)(t ? t : 1);
	if (ops < 1)
		return 1;
	return ops > (double)kmax ? kmax : (uint64_t)ops;
}

/* MB/s for sequential reads (@io 128 KiB), kops/s for random ones. */
static double miss_value(uint64_t ns, uint64_t k, size_t io)
{
	if (!ns)
		ns = 1;
	if (io == MISS_SEQ_IO)
		return (double)(k * io) * 1e3 / (double)ns;
	return (double)k * 1e6 / (double)ns;
}

/* Time @a (pc_read on @m) and @b (pread on @fd) alternately, each run cold. */
static void miss_pair(struct miss_ctx *h, const struct pcb_opts *o, struct pcb_report *rep,
		      struct pc_mapping *m, int fd, size_t io, const char *name_a,
		      miss_io_fn a, const char *name_b, miss_io_fn b)
{
	const char *unit = io == MISS_SEQ_IO ? "MB/s" : "kops/s";
	uint64_t kmax = io == MISS_SEQ_IO ? h->size / MISS_SEQ_IO : h->nblocks;
	struct pcb_variant *va = report_variant(rep, name_a, unit, o->runs);
	struct pcb_variant *vb = report_variant(rep, name_b, unit, o->runs);

	h->m = m;
	h->fd = fd;
	va->ops = miss_calibrate(h, a, kmax, o->seconds);
	vb->ops = miss_calibrate(h, b, kmax, o->seconds);
	for (unsigned i = 0; i < o->runs; i++) {
		va->runs[va->nruns++] = miss_value(miss_run(h, a, va->ops), va->ops, io);
		vb->runs[vb->nruns++] = miss_value(miss_run(h, b, vb->ops), vb->ops, io);
	}
	variant_summarise(va);
	variant_summarise(vb);
}

/* pc_read() of @m and pread() of the buffered fd must agree at @off. */
static void miss_verify(struct miss_ctx *h, struct pc_mapping *m, uint64_t off,
			unsigned char *scratch)
{
	ssize_t r = pc_read(m, h->buf, MISS_SEQ_IO, off, 0);

	check(r, "pc_read");
	if (r != MISS_SEQ_IO || pread(h->bfd, scratch, MISS_SEQ_IO, (off_t)off) != MISS_SEQ_IO ||
	    memcmp(h->buf, scratch, MISS_SEQ_IO))
		die("pc_read at %" PRIu64 " does not return the file's bytes", off);
}

/*
 * Which host drop works, tried on the file while it is in the kernel's
 * cache: posix_fadvise(DONTNEED) after fdatasync(), and writing "1" to
 * drop_caches (which drops the whole machine's clean page cache, so it is
 * tried once here and used per run only if fadvise does not work).
 */
static void miss_probe_drops(struct miss_ctx *h, struct pcb_report *rep)
{
	uint64_t before, after_f, after_d = 0, tenth = h->host_pages / 10;
	unsigned char *scratch = xmalloc_aligned(4096, MISS_CHUNK);
	char fmsg[96], dmsg[96];
	int rf, rd;

	before = miss_resident(h);
	rf = miss_fadvise(h);
	after_f = miss_resident(h);
	if (rf)
		snprintf(fmsg, sizeof(fmsg), "failed (%s)", strerror(-rf));
	else
		snprintf(fmsg, sizeof(fmsg), "%" PRIu64 " -> %" PRIu64 " pages", before, after_f);

	/* Bring a tenth of the file back, then try drop_caches on it. */
	for (uint64_t off = 0; off < tenth * 4096; off += MISS_CHUNK)
		if (pread(h->bfd, scratch, MISS_CHUNK, (off_t)off) <= 0)
			die("pread: %s", strerror(errno));
	before = miss_resident(h);
	rd = miss_drop_caches();
	if (rd)
		snprintf(dmsg, sizeof(dmsg), "refused (%s)", strerror(-rd));
	else {
		after_d = miss_resident(h);
		snprintf(dmsg, sizeof(dmsg), "%" PRIu64 " -> %" PRIu64 " pages", before, after_d);
	}
	free(scratch);

	h->use_fadvise = !rf;
	h->use_drop_caches = !rd && (rf || after_f > h->host_pages / 100) &&
			     after_d <= h->host_pages / 100;
	if (!rf && after_f > h->host_pages / 100 && !h->use_drop_caches)
		fprintf(stderr, "pcbench: warning: no way to drop the file from the host page "
				"cache; buffered pairs are not cold\n");
	report_param(rep, "host drop", false, "posix_fadvise(DONTNEED): %s%s; drop_caches: %s%s",
		     fmsg, h->use_fadvise ? " (used)" : "", dmsg,
		     h->use_drop_caches ? " (used)" : " (not used)");
}

static void miss_setup(struct miss_ctx *h, struct pc_cache **cb, struct pc_cache **cd,
		       struct pc_backend **bb, struct pc_backend **bd, struct pcb_report *rep)
{
	char dir[PATH_MAX], name[64], path[PATH_MAX];
	unsigned char *chunk, *scratch;
	long fs_type;
	uint64_t seed;
	int derr, perr;

	pcb_disk_dir(dir, sizeof(dir), &fs_type);
	snprintf(name, sizeof(name), "pcbench-miss-%ld", (long)getpid());
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		die("%s: path too long", dir);

	/* Written once, with pseudo-random bytes, and made durable. */
	h->bfd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (h->bfd < 0)
		die("creating %s: %s", path, strerror(errno));
	chunk = xmalloc_aligned(4096, MISS_CHUNK);
	seed = MISS_SEED;
	for (uint64_t off = 0; off < h->size; off += MISS_CHUNK) {
		size_t n = h->size - off < MISS_CHUNK ? h->size - off : MISS_CHUNK;

		for (size_t i = 0; i < MISS_CHUNK / 8; i++)
			((uint64_t *)chunk)[i] = xorshift64s(&seed);
		if (pwrite(h->bfd, chunk, n, (off_t)off) != (ssize_t)n) {
			int e = errno;

			unlink(path);
			die("writing %s: %s", path, strerror(e));
		}
	}
	free(chunk);
	if (fsync(h->bfd)) {
		int e = errno;

		unlink(path);
		die("fsync %s: %s", path, strerror(e));
	}

	/*
	 * The same file through two backends (the object is the host file
	 * @dir/@name): buffered, and PC_FILE_DIRECT; one 64 MiB cache each.
	 * Then the O_DIRECT fd, and unlink: the fds keep the file, and an
	 * exit on error cannot leave a gigabyte behind.
	 */
	h->dfd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	derr = errno;
	check(pc_cache_new(cb, MISS_BUDGET), "pc_cache_new");
	check(pc_backend_file_new(bb, dir, 0), "pc_backend_file_new");
	if (pc_open(&h->mb, *cb, *bb, name, 0) < 0 ||
	    (h->dfd >= 0 && (pc_cache_new(cd, MISS_BUDGET) < 0 ||
			     pc_backend_file_new(bd, dir, PC_FILE_DIRECT) < 0 ||
			     pc_open(&h->md, *cd, *bd, name, 0) < 0))) {
		unlink(path);
		die("opening %s through the file backend failed", path);
	}
	/* The pmem backend over the same file, if the library has one. */
	perr = pc_backend_pmem_new(&h->bp, dir, 0);
	if (perr == 0) {
		snprintf(h->pmem_name, sizeof(h->pmem_name), "%s", name);
		check(pc_cache_new(&h->cp, MISS_BUDGET), "pc_cache_new");
		if (pc_open(&h->mp, h->cp, h->bp, name, 0) < 0) {
			unlink(path);
			die("opening %s through the pmem backend failed", path);
		}
		snprintf(miss_pmem_path, sizeof(miss_pmem_path), "%s", path);
		atexit(miss_pmem_unlink);
		report_param(rep, "pmem", false, "pmem backend (libpmem2): pairs 5 and 6 run; "
			     "the file stays linked until the end");
	} else {
		report_param(rep, "pmem", false, "no pmem backend (%s): pairs 5 and 6 not run",
			     strerror(-perr));
		if (unlink(path))
			die("unlink %s: %s", path, strerror(errno));
	}
	report_param(rep, "file", false, "%s (%s%s)", path, pcb_fs_name(fs_type),
		     h->bp ? "" : ", unlinked");
	if (h->dfd >= 0)
		report_param(rep, "direct", false, "O_DIRECT accepted: pairs 2 and 4 run");
	else
		report_param(rep, "direct", false, "O_DIRECT refused (%s): pairs 2 and 4 not run",
			     strerror(derr));

	h->buf = xmalloc_aligned(4096, MISS_SEQ_IO);
	scratch = xmalloc_aligned(4096, MISS_SEQ_IO);
	for (int i = 0; i < 3; i++) {
		uint64_t off = (h->size - MISS_SEQ_IO) / 2 * (uint64_t)i / MISS_SEQ_IO * MISS_SEQ_IO;

		miss_verify(h, h->mb, off, scratch);
		if (h->md)
			miss_verify(h, h->md, off, scratch);
		if (h->mp)
			miss_verify(h, h->mp, off, scratch);
	}
	free(scratch);

	h->host_pages = (h->size + 4095) / 4096;
	h->vec = malloc(h->host_pages);
	if (!h->vec)
		die("out of memory");
	h->map = mmap(NULL, h->size, PROT_READ, MAP_SHARED, h->bfd, 0);
	if (h->map == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	miss_probe_drops(h, rep);

	/* A random permutation of the blocks: every random read is a miss. */
	h->nblocks = h->size / MISS_RAND_IO;
	if (h->nblocks > UINT32_MAX)
		die("--size too large");
	h->perm = xmalloc_aligned(64, h->nblocks * sizeof(*h->perm));
	for (uint64_t i = 0; i < h->nblocks; i++)
		h->perm[i] = (uint32_t)i;
	seed = MISS_SEED;
	for (uint64_t i = h->nblocks - 1; i > 0; i--) {
		uint64_t j = xorshift64s(&seed) % (i + 1);
		uint32_t t = h->perm[i];

		h->perm[i] = h->perm[j];
		h->perm[j] = t;
	}
}

/* Which mapping a ratio needs: O_DIRECT and pmem may be missing. */
enum miss_needs { MISS_BUFFERED, MISS_DIRECT, MISS_PMEM };

/* "No slower" than pread once pc_read reads ahead; the rest for reference. */
static const struct {
	enum miss_needs needs;
	struct pcb_ratio_of r;
} miss_ratios[] = {
	{ MISS_BUFFERED, { "pc_read / pread, cold sequential 128 KiB", "A1 / B1",
			   "A1 pc_read seq", "B1 pread seq", 0.9 } },
	{ MISS_DIRECT, { "pc_read / pread, cold sequential, O_DIRECT", "A2 / B2",
			 "A2 pc_read seq direct", "B2 pread seq direct", 0.9 } },
	{ MISS_BUFFERED, { "pc_read / pread, cold random 4 KiB", "A3 / B3",
			   "A3 pc_read rand 4K", "B3 pread rand 4K", 0 } },
	{ MISS_DIRECT, { "pc_read / pread, cold random 4 KiB, O_DIRECT", "A4 / B4",
			 "A4 pc_read rand direct", "B4 pread rand direct", 0 } },
	{ MISS_PMEM, { "pc_read / pread, cold sequential, pmem backend", "A5 / B5",
		       "A5 pc_read seq pmem", "B5 pread seq", 0 } },
	{ MISS_PMEM, { "pc_read / pread, cold random 4 KiB, pmem backend", "A6 / B6",
		       "A6 pc_read rand pmem", "B6 pread rand 4K", 0 } },
};

void scenario_miss(const struct pcb_opts *o, struct pcb_report *rep)
{
	struct miss_ctx h = { .bfd = -1, .dfd = -1 };
	struct pc_cache *cb = NULL, *cd = NULL;
	struct pc_backend *bb = NULL, *bd = NULL;
	struct pc_stats st;

	h.size = o->size ? o->size : o->quick ? MISS_QUICK_SIZE : MISS_DEFAULT_SIZE;
	if (h.size < 4 * MISS_SEQ_IO || h.size % MISS_SEQ_IO)
		die("--size must be a multiple of 128 KiB, at least 512 KiB");
	report_param(rep, "size", true, "%" PRIu64, h.size);
	report_param(rep, "budget", false, "%llu MiB per cache (one for each mapping)",
		     MISS_BUDGET / PCB_MIB);
	report_param(rep, "io", false, "sequential: %u KiB reads from offset 0; random: %u KiB "
		     "reads at distinct blocks in random order", MISS_SEQ_IO / 1024,
		     MISS_RAND_IO / 1024);
	/* Looked up, not called: pc_read()'s readahead is automatic when there. */
	report_param(rep, "readahead", false, "pc_readahead() %s in the library",
		     dlsym(RTLD_DEFAULT, "pc_readahead") ? "exported" : "not exported");

	miss_setup(&h, &cb, &cd, &bb, &bd, rep);

	miss_pair(&h, o, rep, h.mb, h.bfd, MISS_SEQ_IO, "A1 pc_read seq", miss_seq_pcread,
		  "B1 pread seq", miss_seq_pread);
	if (h.md)
		miss_pair(&h, o, rep, h.md, h.dfd, MISS_SEQ_IO, "A2 pc_read seq direct",
			  miss_seq_pcread, "B2 pread seq direct", miss_seq_pread);
	miss_pair(&h, o, rep, h.mb, h.bfd, MISS_RAND_IO, "A3 pc_read rand 4K",
		  miss_rand_pcread, "B3 pread rand 4K", miss_rand_pread);
	if (h.md)
		miss_pair(&h, o, rep, h.md, h.dfd, MISS_RAND_IO, "A4 pc_read rand direct",
			  miss_rand_pcread, "B4 pread rand direct", miss_rand_pread);

	if (h.mp) {
		miss_pair(&h, o, rep, h.mp, h.bfd, MISS_SEQ_IO, "A5 pc_read seq pmem",
			  miss_seq_pcread, "B5 pread seq", miss_seq_pread);
		miss_pair(&h, o, rep, h.mp, h.bfd, MISS_RAND_IO, "A6 pc_read rand pmem",
			  miss_rand_pcread, "B6 pread rand 4K", miss_rand_pread);
	}

	report_param(rep, "cold check", false, "after %" PRIu64 " drops, at most %" PRIu64
		     " of %" PRIu64 " host pages of the file were still cached", h.colds,
		     h.resident_max, h.host_pages);
	check(pc_stats(cb, &st, sizeof(st)), "pc_stats");
	if (h.md) {
		struct pc_stats sd;

		check(pc_stats(cd, &sd, sizeof(sd)), "pc_stats");
		st.enomem += sd.enomem;
	}
	report_param(rep, "enomem", true, "%" PRIu64, st.enomem);

	for (size_t i = 0; i < PCB_N(miss_ratios); i++)
		if (miss_ratios[i].needs == MISS_BUFFERED ||
		    (miss_ratios[i].needs == MISS_DIRECT && h.md) ||
		    (miss_ratios[i].needs == MISS_PMEM && h.mp))
			report_ratios(rep, &miss_ratios[i].r, 1);

	check(pc_close(&h.mb), "pc_close");
	if (h.md)
		check(pc_close(&h.md), "pc_close");
	if (h.mp)
		check(pc_close(&h.mp), "pc_close");
	if (h.bp)
		pc_backend_delete(&h.bp);
	if (h.cp)
		pc_cache_delete(&h.cp);
	miss_pmem_unlink();
	pc_backend_delete(&bb);
	pc_cache_delete(&cb);
	if (bd)
		pc_backend_delete(&bd);
	if (cd)
		pc_cache_delete(&cd);
	munmap(h.map, h.size);
	if (h.dfd >= 0)
		close(h.dfd);
	close(h.bfd);
	free(h.vec);
	free(h.perm);
	free(h.buf);
}
