/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fully cached object of the scenarios "hit", "readhit", "mmap",
 * "punch", "scale" and "dax" (hitobj.c), and their variants: a variant is
 * a row of a table (struct hit_variant) naming a loop and its argument, and
 * hit_group() times a table's rows in alternation.
 */
#ifndef PCBENCH_HITOBJ_H
#define PCBENCH_HITOBJ_H

#include "harness.h"

#define HIT_DEFAULT_SIZE	(256 * PCB_MIB)
#define HIT_QUICK_SIZE		(64 * PCB_MIB)
#define HIT_SLACK		(16 * PCB_MIB)	/* cache and device beyond the object */
#define HIT_NR_OFFSETS		(1u << 20)	/* a power of two: walks wrap with a mask */
#define HIT_SEED		0x5eed5eed5eed5eedull
#define HIT_OBJECT		"pcbench-hit"
#define HIT_MAX_THREADS		4	/* "scale" runs 1, 2 and 4 */
#define HIT_MAX_COPY		(64u * 1024)	/* largest copy ("readhit": 64 KiB) */

/*
 * One fully cached object, its tmpfs copy and its plain copy (the same
 * bytes), and the random page offsets every variant walks.  Scenarios that
 * need more embed it (pcb_container_of() gets them back in a loop).
 */
struct hit_ctx {
	struct pc_mapping *m;
	int fd;				/* the tmpfs copy; -1 with no_tmpfs */
	bool no_tmpfs;			/* hit_setup(): skip the tmpfs copy */
	unsigned char *plain;		/* the plain copy, page-aligned */
	unsigned char *buf;		/* destination of copies, HIT_MAX_COPY bytes */
	uint64_t size;
	size_t page;			/* pc_page_size() */
	uint64_t *offs;			/* HIT_NR_OFFSETS random page offsets */
	uint64_t extra;			/* hit_setup(): cache and device bytes beyond
					 * size + HIT_SLACK, for the scenario's own use */
	size_t len;			/* bytes per copy: a power of two <= HIT_MAX_COPY */
	const uint64_t *copy_offs;	/* HIT_NR_OFFSETS offsets for copies of len */
	/* "dax" only: a second object of the same bytes, open with PC_DAX. */
	struct pc_mapping *dax;
	unsigned char **dax_addr;	/* per page: its storage, from a DAX fault */
};

/* The mapping a loop's argument names. */
enum hit_map { HIT_CACHED, HIT_DAX };

/*
 * @k operations of a variant with its argument @arg.  A loop returns a sum
 * of the bytes it read (hit_group() times it and keeps the sum alive); a
 * self-timed one returns the nanoseconds it measured.
 */
typedef uint64_t (*hit_loop_fn)(struct hit_ctx *h, int arg, uint64_t k);

/* One member of a group of variants timed in alternation. */
struct hit_variant {
	const char *name;
	hit_loop_fn loop;	/* timed by hit_group() */
	hit_loop_fn run;	/* or: times itself (untimed work between passes) */
	int arg;
	unsigned k_of;		/* 0: calibrate its own count; n: run the count of
				 * the group's variant n (1-based; same total work),
				 * which calibrates its own */
};

/* The loops (hitobj.c).  pc_fault+put of one byte, on the mapping @arg. */
uint64_t hit_loop_fault(struct hit_ctx *h, int arg, uint64_t k);
uint64_t hit_fault_loop(struct pc_mapping *m, const uint64_t *offs, uint64_t mask, uint64_t k);
/* pread() of one byte from the tmpfs copy. */
uint64_t hit_loop_pread(struct hit_ctx *h, int arg, uint64_t k);
/* Copies of h->len bytes at h->copy_offs: pc_read() of the mapping @arg. */
uint64_t hit_loop_pcread(struct hit_ctx *h, int arg, uint64_t k);
/* pread() from the tmpfs copy, memcpy() from the plain copy, memcpy() from
 * the DAX object's storage (h->dax_addr; copies of one page). */
uint64_t hit_loop_preadn(struct hit_ctx *h, int arg, uint64_t k);
uint64_t hit_loop_memcpy(struct hit_ctx *h, int arg, uint64_t k);
uint64_t hit_loop_storage(struct hit_ctx *h, int arg, uint64_t k);
/* Self-timed: pc_fault+put (on the mapping @arg) or pread 1B split over
 * threads, each on its own slice of the offsets; @arg threads. */
uint64_t hit_run_threads(struct hit_ctx *h, int arg, uint64_t k);
uint64_t hit_run_dax_threads(struct hit_ctx *h, int arg, uint64_t k);
uint64_t hit_run_pread_threads(struct hit_ctx *h, int arg, uint64_t k);

void hit_group(struct hit_ctx *h, const struct pcb_opts *o, struct pcb_report *rep,
	       const struct hit_variant *vs, unsigned n, bool throughput, const char *unit);
void hit_init(struct hit_ctx *h, const struct pcb_opts *o, struct pcb_report *rep,
	      uint64_t def, uint64_t quick);
void hit_setup(struct hit_ctx *h, struct pc_cache **c, struct pc_backend **b,
	       struct pcb_report *rep);
void hit_teardown(struct hit_ctx *h, struct pc_cache **c, struct pc_backend **b);
void hit_check_no_miss(struct pc_cache *c, const struct pc_stats *before,
		       struct pcb_report *rep);
int hit_tmpfile(char *path, size_t size, bool *is_tmpfs);

#endif /* PCBENCH_HITOBJ_H */
