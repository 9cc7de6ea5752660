/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Scenario "fileio": the two ways the file backend (lib/backend_file.c) can
 * do a vectored batch, measured directly, not through the library (the ops
 * table is private): 8 I/Os of 16 pages (64 KiB, as 16 page iovecs) at
 * random 64 KiB-aligned offsets of a 256 MiB file (--quick: 32 MiB) in
 * /var/tmp (the file system is reported; tmpfs would measure memcpy),
 *   A  io_uring: the 8 readv/writev SQEs in one io_uring_submit(), then the
 *      8 completions reaped, as file_ring_batch() does;
 *   B  the same 8 I/Os as preadv/pwritev, one after another, as file_rw().
 * Pairs 1 (writes) and 2 (reads) are buffered, the backend's default; the
 * file is in the kernel's page cache, so they measure per-call overheads.
 * Pairs 3 and 4 repeat them on an O_DIRECT fd (PC_FILE_DIRECT), where the 8
 * I/Os reach the device and io_uring can keep them in flight together.
 * Built only where liburing is found (as the backend's ring is).
 */
#include "harness.h"


#define FIO_DEFAULT_SIZE	(256 * PCB_MIB)
#define FIO_QUICK_SIZE		(32 * PCB_MIB)
#define FIO_PAGE		4096u
#define FIO_PAGES		16			/* pages per I/O */
#define FIO_RUN			(FIO_PAGES * FIO_PAGE)	/* 64 KiB */
#define FIO_BATCH		8			/* I/Os per batch */
#define FIO_RING_ENTRIES	64			/* as the backend's ring */
#define FIO_NR_OFFSETS		(1u << 16)		/* a power of two */
#define FIO_SEED		0xf11e10f11e10ull

/* Without liburing there is nothing to compare: the scenario only says so. */
#ifdef PC_HAVE_URING
struct fio_ctx {
	int fd;				/* the fd this pair uses: buffered or O_DIRECT */
	bool write;
	uint64_t size;
	uint64_t *offs;			/* FIO_NR_OFFSETS random 64 KiB-aligned offsets */
	unsigned char *buf;		/* FIO_BATCH runs, page-aligned */
	struct iovec iov[FIO_BATCH][FIO_PAGES];	/* one iovec per page, as the library's */
	struct io_uring ring;
};

/* B: the 8 I/Os of batch @b with preadv/pwritev, one after another. */
static void fio_batch_sync(struct fio_ctx *h, uint64_t b)
{
	for (unsigned i = 0; i < FIO_BATCH; i++) {
		off_t off = (off_t)h->offs[(b * FIO_BATCH + i) & (FIO_NR_OFFSETS - 1)];
		ssize_t r = h->write ? pwritev(h->fd, h->iov[i], FIO_PAGES, off)
				     : preadv(h->fd, h->iov[i], FIO_PAGES, off);

		if (pcb_unlikely(r != FIO_RUN))
			die("%s: %s", h->write ? "pwritev" : "preadv",
			    r < 0 ? strerror(errno) : "short transfer");
	}
}

/* A: the same 8 I/Os as SQEs, one submit, then the 8 completions. */
static void fio_batch_ring(struct fio_ctx *h, uint64_t b)
{
	struct io_uring *ring = &h->ring;
	unsigned done = 0, queued = FIO_BATCH;

	for (unsigned i = 0; i < FIO_BATCH; i++) {
		uint64_t off = h->offs[(b * FIO_BATCH + i) & (FIO_NR_OFFSETS - 1)];
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

		if (pcb_unlikely(!sqe))
			die("io_uring: no free SQE");
		if (h->write)
			io_uring_prep_writev(sqe, h->fd, h->iov[i], FIO_PAGES, off);
		else
			io_uring_prep_readv(sqe, h->fd, h->iov[i], FIO_PAGES, off);
		io_uring_sqe_set_data64(sqe, i);
	}
	while (queued) {
		int r = io_uring_submit(ring);

		if (r < 0 && r != -EINTR)
			die("io_uring_submit: %s", strerror(-r));
		if (r > 0)
			queued -= (unsigned)r;
	}
	while (done < FIO_BATCH) {
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe(ring, &cqe);

		if (r == -EINTR)
			continue;
		if (r < 0)
			die("io_uring wait: %s", strerror(-r));
		if (pcb_unlikely(cqe->res != FIO_RUN))
			die("io_uring %s: %s", h->write ? "writev" : "readv",
			    cqe->res < 0 ? strerror(-cqe->res) : "short transfer");
		io_uring_cqe_seen(ring, cqe);
		done++;
	}
}

static bool fio_uring_setup(struct fio_ctx *h, char *why, size_t whylen)
{
	int r;

	r = io_uring_queue_init(FIO_RING_ENTRIES, &h->ring, 0);
	if (r < 0) {
		snprintf(why, whylen, "io_uring_queue_init: %s", strerror(-r));
		return false;
	}
	return true;
}

typedef void (*fio_batch_fn)(struct fio_ctx *h, uint64_t b);

/* @k batches from the start of the offsets; wall time in ns. */
static uint64_t fio_run(struct fio_ctx *h, fio_batch_fn fn, uint64_t k)
{
	uint64_t t0 = now_ns();

	for (uint64_t b = 0; b < k; b++)
		fn(h, b);
	return now_ns() - t0;
}

/* Batches per run so that @fn takes about @seconds (as hit_calibrate()). */
static uint64_t fio_calibrate(struct fio_ctx *h, fio_batch_fn fn, double seconds)
{
	double target = seconds * 1e9, ops;
	uint64_t k = 4, t;

	for (;;) {
		t = fio_run(h, fn, k);
		if (t >= target / 10 || k >= (1ull << 30))
			break;
		k *= 2;
	}
	ops = target * (double)k / (double)(t ? t : 1);
	return ops < 1 ? 1 : (uint64_t)ops;
}

static double fio_mbps(uint64_t ns, uint64_t batches)
{
	return (double)(batches * FIO_BATCH * FIO_RUN) * 1e3 / (double)(ns ? ns : 1);
}

/* Time @a and @b alternately, @fd and @write set for both. */
static void fio_pair(struct fio_ctx *h, const struct pcb_opts *o, struct pcb_report *rep,
		     int fd, bool write, const char *name_a, fio_batch_fn a,
		     const char *name_b, fio_batch_fn b)
{
	struct pcb_variant *va = report_variant(rep, name_a, "MB/s", o->runs);
	struct pcb_variant *vb = report_variant(rep, name_b, "MB/s", o->runs);

	h->fd = fd;
	h->write = write;
	va->ops = fio_calibrate(h, a, o->seconds);
	vb->ops = fio_calibrate(h, b, o->seconds);
	for (unsigned i = 0; i < o->runs; i++) {
		va->runs[va->nruns++] = fio_mbps(fio_run(h, a, va->ops), va->ops);
		vb->runs[vb->nruns++] = fio_mbps(fio_run(h, b, vb->ops), vb->ops);
	}
	variant_summarise(va);
	variant_summarise(vb);
	if (write && fdatasync(fd))
		die("fdatasync: %s", strerror(errno));
}
#endif /* PC_HAVE_URING */

void scenario_fileio(const struct pcb_opts *o, struct pcb_report *rep)
{
#ifndef PC_HAVE_URING
	(void)o;
	(void)rep;
	die("fileio: built without liburing");
#else
	static const char *const dirs[] = { "/var/tmp", "." };
	struct fio_ctx h = { .fd = -1 };
	char path[PATH_MAX], why[160];
	struct statfs sf;
	uint64_t seed;
	int fd = -1, dfd, derr;

	h.size = o->size ? o->size : o->quick ? FIO_QUICK_SIZE : FIO_DEFAULT_SIZE;
	if (h.size < FIO_RUN * FIO_BATCH || h.size % FIO_RUN)
		die("--size must be a multiple of 64 KiB, at least 512 KiB");
	if (!fio_uring_setup(&h, why, sizeof(why)))
		die("fileio: no io_uring: %s", why);
	report_param(rep, "size", true, "%" PRIu64, h.size);
	report_param(rep, "io", false, "%u I/Os x %u pages (%u KiB), 64 KiB-aligned random",
		     FIO_BATCH, FIO_PAGES, FIO_RUN / 1024);

	/* Not tmpfs: try /var/tmp, then the current (build) directory. */
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (fd >= 0)
			close(fd);
		snprintf(path, sizeof(path), "%s/pcbench-fileio-XXXXXX", dirs[i]);
		fd = mkstemp(path);
		if (fd >= 0 && fstatfs(fd, &sf) == 0 && sf.f_type != TMPFS_MAGIC)
			break;
		if (fd >= 0)
			unlink(path);
	}
	if (fd < 0)
		die("creating a file in /var/tmp or .: %s", strerror(errno));
	if (fstatfs(fd, &sf))
		die("fstatfs: %s", strerror(errno));
	report_param(rep, "file", false, "%s (%s, unlinked)", path, pcb_fs_name((long)sf.f_type));
	/* A second fd for the O_DIRECT pairs, then unlink: the fds keep it. */
	dfd = open(path, O_RDWR | O_DIRECT);
	derr = errno;
	if (unlink(path))
		die("unlink %s: %s", path, strerror(errno));

	/* Content: the whole file written (allocated) and synced, then cached. */
	h.buf = xmalloc_aligned(FIO_PAGE, (size_t)FIO_BATCH * FIO_RUN);
	seed = FIO_SEED;
	for (size_t i = 0; i < (size_t)FIO_BATCH * FIO_RUN / 8; i++)
		((uint64_t *)h.buf)[i] = xorshift64s(&seed);
	for (uint64_t off = 0; off < h.size; off += FIO_BATCH * FIO_RUN)
		if (pwrite(fd, h.buf, FIO_BATCH * FIO_RUN, (off_t)off) != FIO_BATCH * FIO_RUN)
			die("writing %s: %s", path, strerror(errno));
	if (fsync(fd))
		die("fsync: %s", strerror(errno));
	for (unsigned i = 0; i < FIO_BATCH; i++)
		for (unsigned p = 0; p < FIO_PAGES; p++)
			h.iov[i][p] = (struct iovec){ h.buf + ((size_t)i * FIO_PAGES + p) * FIO_PAGE,
						      FIO_PAGE };
	h.offs = xmalloc_aligned(64, FIO_NR_OFFSETS * sizeof(*h.offs));
	seed = FIO_SEED;
	for (uint64_t i = 0; i < FIO_NR_OFFSETS; i++)
		h.offs[i] = (xorshift64s(&seed) % (h.size / FIO_RUN)) * FIO_RUN;

	fio_pair(&h, o, rep, fd, true, "A1 uring writev", fio_batch_ring,
		 "B1 pwritev", fio_batch_sync);
	fio_pair(&h, o, rep, fd, false, "A2 uring readv", fio_batch_ring,
		 "B2 preadv", fio_batch_sync);
	if (dfd >= 0) {
		fio_pair(&h, o, rep, dfd, true, "A3 uring writev direct", fio_batch_ring,
			 "B3 pwritev direct", fio_batch_sync);
		fio_pair(&h, o, rep, dfd, false, "A4 uring readv direct", fio_batch_ring,
			 "B4 preadv direct", fio_batch_sync);
	} else {
		report_param(rep, "direct", false, "O_DIRECT refused (%s): pairs 3, 4 not run",
			     strerror(derr));
	}

	/* No goals: these choose the backend's default, they do not judge it. */
	report_ratio(rep, "io_uring / one by one, buffered writes", "A1 / B1",
		     median_of(rep, "A1 uring writev") / median_of(rep, "B1 pwritev"), 0);
	report_ratio(rep, "io_uring / one by one, buffered reads", "A2 / B2",
		     median_of(rep, "A2 uring readv") / median_of(rep, "B2 preadv"), 0);
	if (dfd >= 0) {
		report_ratio(rep, "io_uring / one by one, O_DIRECT writes", "A3 / B3",
			     median_of(rep, "A3 uring writev direct") /
				     median_of(rep, "B3 pwritev direct"), 0);
		report_ratio(rep, "io_uring / one by one, O_DIRECT reads", "A4 / B4",
			     median_of(rep, "A4 uring readv direct") /
				     median_of(rep, "B4 preadv direct"), 0);
		close(dfd);
	}
	io_uring_queue_exit(&h.ring);
	close(fd);
	free(h.offs);
	free(h.buf);
#endif
}
