/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Scenario "memory": metadata bytes per cached page.  Objects of 1, 64,
 * 1024 and 65536 pages (dense) and a sparse one (1024 pages, one every 64
 * pages: 256 MiB of span), each in its own cache and RAM backend, all kept
 * open (so nothing is freed through RCU while counting), written with
 * pc_write() and synced.  Reported per object:
 *   meta     the growth of pc_stats().meta_bytes (page structs and index
 *            nodes as the library counts them), per page cached;
 *   heap     the growth of mallinfo2()'s allocated bytes over the same
 *            window, per page: the page structs and index nodes with
 *            malloc's own overhead, plus the RAM backend's block table.
 *            Background writeback is off, so it is all this thread's.
 * Nothing is timed and there is no baseline: the kernel's figures are
 * facts, given in RESULTS.md.
 */
#include "hitobj.h"


#define MEM_SPARSE_STRIDE	64	/* the sparse object: one page every 64 */
#define MEM_CHUNK		PCB_MIB

struct mem_obj {
	const char *meta_name, *heap_name;
	uint64_t pages;			/* pages written */
	uint64_t stride;		/* 1: dense; else one page every @stride */
};

void scenario_memory(const struct pcb_opts *o, struct pcb_report *rep)
{
	static const struct mem_obj objs[] = {
		{ "meta 1 page", "heap 1 page", 1, 1 },
		{ "meta 64 pages", "heap 64 pages", 64, 1 },
		{ "meta 1024 pages", "heap 1024 pages", 1024, 1 },
		{ "meta 65536 pages", "heap 65536 pages", 65536, 1 },
		{ "meta sparse 1/64", "heap sparse 1/64", 1024, MEM_SPARSE_STRIDE },
	};
	enum { N = sizeof(objs) / sizeof(objs[0]) };
	struct pc_cache *c[N];
	struct pc_backend *b[N];
	struct pc_mapping *m[N];
	double meta[N], heap[N];
	uint64_t dmeta[N], dnodes[N], dpages[N];
	size_t page = pc_page_size();
	unsigned char *pattern = xmalloc_aligned(page, MEM_CHUNK);
	uint64_t seed = 0x3e3e3e3e3e3e3e3eull;
	char name[32];

	(void)o;
	rep->untimed = true;
	for (size_t i = 0; i < MEM_CHUNK / 8; i++)
		((uint64_t *)pattern)[i] = xorshift64s(&seed);
	report_param(rep, "method", false, "own cache + RAM backend each, all kept open; "
		     "pc_write + pc_sync; background writeback off");

	for (unsigned i = 0; i < N; i++) {
		uint64_t span = objs[i].pages * objs[i].stride * page;
		uint64_t bytes = objs[i].pages * page;
		struct pc_stats s0, s1;
		struct mallinfo2 mi0, mi1;

		check(pc_cache_new(&c[i], bytes + HIT_SLACK), "pc_cache_new");
		/* No background writeback: every allocation is this thread's, in this window. */
		check(pc_cache_set_writeback(c[i], 100, 3600 * 1000), "pc_cache_set_writeback");
		check(pc_backend_ram_new(&b[i], bytes + HIT_SLACK), "pc_backend_ram_new");
		snprintf(name, sizeof(name), "pcbench-memory-%u", i);
		check(pc_open(&m[i], c[i], b[i], name, PC_CREAT | PC_TRUNC), "pc_open");

		check(pc_stats(c[i], &s0, sizeof(s0)), "pc_stats");
		mi0 = mallinfo2();
		if (objs[i].stride == 1) {
			for (uint64_t off = 0; off < span; off += MEM_CHUNK) {
				size_t n = span - off < MEM_CHUNK ? span - off : MEM_CHUNK;
				ssize_t r = pc_write(m[i], pattern, n, off, 0);

				if (check(r, "pc_write") != (long long)n)
					die("pc_write: short write");
			}
		} else {
			for (uint64_t p = 0; p < objs[i].pages; p++) {
				uint64_t off = p * objs[i].stride * page;
				ssize_t r = pc_write(m[i], pattern, page, off, 0);

				if (check(r, "pc_write") != (long long)page)
					die("pc_write: short write");
			}
		}
		check(pc_sync(m[i], 0, 0), "pc_sync");
		mi1 = mallinfo2();
		check(pc_stats(c[i], &s1, sizeof(s1)), "pc_stats");
		if (s1.pages_cached != objs[i].pages || s0.pages_cached)
			die("%s: %" PRIu64 " pages cached, expected %" PRIu64, objs[i].meta_name,
			    s1.pages_cached, objs[i].pages);
		dmeta[i] = s1.meta_bytes - s0.meta_bytes;
		dnodes[i] = s1.index_nodes - s0.index_nodes;
		dpages[i] = s1.pages_cached;
		meta[i] = (double)dmeta[i] / (double)dpages[i];
		heap[i] = ((double)mi1.uordblks - (double)mi0.uordblks) / (double)dpages[i];
	}

	for (unsigned i = 0; i < N; i++) {
		struct pcb_variant *v = report_variant(rep, objs[i].meta_name, "B/page", 1);

		v->ops = dpages[i];
		v->runs[v->nruns++] = meta[i];
		variant_summarise(v);
	}
	for (unsigned i = 0; i < N; i++) {
		struct pcb_variant *v = report_variant(rep, objs[i].heap_name, "B/page", 1);

		v->ops = dpages[i];
		v->runs[v->nruns++] = heap[i];
		variant_summarise(v);
	}
	for (unsigned i = 0; i < N; i++) {
		static const char *const keys[N] = { "obj 1", "obj 64", "obj 1024", "obj 65536",
						     "obj sparse" };

		report_param(rep, keys[i], false, "%" PRIu64 " pages cached over %" PRIu64
			     " KiB, %" PRIu64 " index nodes, meta_bytes %" PRIu64, dpages[i],
			     objs[i].pages * objs[i].stride * page / 1024, dnodes[i], dmeta[i]);
	}
	/* The two sizes behind meta_bytes, from the first two objects (pages*P + nodes*N). */
	{
		double det = (double)dpages[0] * (double)dnodes[1] -
			     (double)dpages[1] * (double)dnodes[0];

		if (det != 0) {
			double pp = ((double)dmeta[0] * (double)dnodes[1] -
				     (double)dmeta[1] * (double)dnodes[0]) / det;
			double nn = ((double)dpages[0] * (double)dmeta[1] -
				     (double)dpages[1] * (double)dmeta[0]) / det;

			report_param(rep, "sizes", false, "page struct %.0f B, index node %.0f B "
				     "(%u slots), as meta_bytes counts them", pp, nn, 64u);
		}
	}
	report_ratio(rep, "metadata / page data, dense 65536 pages", "meta / 4096",
		     meta[3] / (double)page, 0);
	report_ratio(rep, "metadata / page data, sparse 1/64", "meta / 4096",
		     meta[4] / (double)page, 0);

	for (unsigned i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "pcbench-memory-%u", i);
		check(pc_close(&m[i]), "pc_close");
		check(pc_backend_unlink(b[i], name), "pc_backend_unlink");
		pc_backend_delete(&b[i]);
		pc_cache_delete(&c[i]);
	}
	free(pattern);
}
