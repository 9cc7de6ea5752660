/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pcbench: micro-benchmarks of libpagecache, through its public API only.
 *
 * Usage: pcbench SCENARIO [--runs N] [--seconds S] [--size BYTES] [--quick]
 *                         [--json FILE]
 *        pcbench list
 *
 * Each scenario is one function in pcb_scenarios[].  It sets up its own
 * objects, times its variants and fills a struct pcb_report; main() prints
 * the report as a table (and as JSON with --json), so a new scenario only
 * has to measure.  The harness (harness.c) does the rest: the report, the
 * machine facts, the table and the JSON; hitobj.c holds the fully cached
 * object that most scenarios share, and each scenario is a file sc_*.c
 * whose design comment says what its variants measure and why the
 * baselines are fair.
 */
#include "harness.h"

static const struct pcb_scenario pcb_scenarios[] = {
	{ "hit", scenario_hit,
	  "cache hits at random pages of a fully cached object: pc_fault+put vs "
	  "pread of tmpfs, pc_read 4K vs memcpy, 1 vs 2 threads", 0 },
	{ "fileio", scenario_fileio,
	  "file backend batches: 8 x 64 KiB vectored I/Os by one io_uring submit vs "
	  "preadv/pwritev one by one, buffered and O_DIRECT", 0 },
	{ "miss", scenario_miss,
	  "cold reads of a disk file: pc_read through the file backend vs pread, "
	  "sequential 128 KiB and random 4 KiB, buffered and O_DIRECT", 1.0 },
	{ "reclaim", scenario_reclaim,
	  "random 4 KiB pc_read over an object twice the budget (RAM and file "
	  "backends, 1 and 2 threads) vs the same reads all hits", 1.0 },
	{ "readhit", scenario_readhit,
	  "pc_read 4K and 64K at random offsets of a fully cached object vs pread of "
	  "tmpfs and memcpy from a plain buffer", 0 },
	{ "mmap", scenario_mmap,
	  "pc_fault page by page, first touch (fill from the RAM backend) and warm, "
	  "vs touching an mmap of tmpfs (fresh mapping, then mapped)", 0 },
	{ "punch", scenario_punch,
	  "pc_punch of a fully cached range vs fallocate(PUNCH_HOLE) on tmpfs; hits "
	  "elsewhere in the object while another thread punches and rewrites", 0 },
	{ "scale", scenario_scale,
	  "hit throughput (pc_fault+put) and pread 1B at 1, 2 and 4 threads over a "
	  "fully cached object", 0 },
	{ "memory", scenario_memory,
	  "metadata bytes per cached page (pc_stats meta_bytes, and malloc'd heap) "
	  "for objects of 1 to 65536 pages and a sparse one", 0 },
	{ "dax", scenario_dax,
	  "DAX vs cached mapping on the RAM backend: pc_fault+put on 1 and 2 threads; "
	  "pc_read 4K vs memcpy from the storage and vs a cached pc_read", 0 },
	{ "dax-pmem", scenario_dax_pmem,
	  "as dax, on the pmem backend (libpmem2) over a directory in /dev/shm", 0 },
};

/* ---- Command line ---- */

static void usage(FILE *f)
{
	fputs("usage: pcbench SCENARIO [--runs N] [--seconds S] [--size BYTES] [--quick]\n"
	      "                        [--json FILE]\n"
	      "       pcbench list\n"
	      "  --runs N      rounds of alternating runs (default 7; --quick: 3)\n"
	      "  --seconds S   target length of one run in seconds (default 0.3;\n"
	      "                miss and reclaim: 1)\n"
	      "  --size BYTES  object size, suffix K, M or G allowed (default per scenario)\n"
	      "  --quick       a smaller object and fewer runs\n"
	      "  --json FILE   also write the results as JSON\n", f);
}

static void list_scenarios(void)
{
	for (size_t i = 0; i < sizeof(pcb_scenarios) / sizeof(pcb_scenarios[0]); i++)
		printf("%-8s %s\n", pcb_scenarios[i].name, pcb_scenarios[i].description);
}

static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		die("bad size: %s", s);
	switch (toupper((unsigned char)*end)) {
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case '\0':
		break;
	default:
		die("bad size: %s", s);
	}
	if (shift && end[1] && strcasecmp(end + 1, "iB") && strcasecmp(end + 1, "B"))
		die("bad size: %s", s);
	if (v > (UINT64_MAX >> shift))
		die("size too large: %s", s);
	return (uint64_t)v << shift;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "runs", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 's' },
		{ "size", required_argument, NULL, 'z' },
		{ "quick", no_argument, NULL, 'q' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct pcb_opts o = { 0 };
	const struct pcb_scenario *sc = NULL;
	struct pcb_report *rep;
	struct pcb_machine mc = { 0 };
	struct pcb_load l0, l1;
	const char *name;
	unsigned long runs = 0;
	double seconds = 0;
	char *end;
	int opt, status;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			errno = 0;
			runs = strtoul(optarg, &end, 10);
			if (errno || *end || runs < 1 || runs > PCB_MAX_RUNS)
				die("--runs wants 1..%d", PCB_MAX_RUNS);
			break;
		case 's':
			seconds = strtod(optarg, &end);
			if (*end || !(seconds > 0) || seconds > 3600)
				die("--seconds wants a positive number of seconds");
			break;
		case 'z':
			o.size = parse_size(optarg);
			if (!o.size)
				die("--size must not be 0");
			break;
		case 'q':
			o.quick = true;
			break;
		case 'j':
			o.json = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 1;
	}
	name = argv[optind];
	if (!strcmp(name, "list")) {
		list_scenarios();
		return 0;
	}
	for (size_t i = 0; i < sizeof(pcb_scenarios) / sizeof(pcb_scenarios[0]); i++)
		if (!strcmp(pcb_scenarios[i].name, name))
			sc = &pcb_scenarios[i];
	if (!sc)
		die("unknown scenario %s (try: pcbench list)", name);
	o.runs = runs ? (unsigned)runs : o.quick ? PCB_QUICK_RUNS : PCB_DEFAULT_RUNS;
	o.seconds = seconds > 0 ? seconds : sc->seconds > 0 ? sc->seconds : PCB_DEFAULT_SECONDS;

	rep = calloc(1, sizeof(*rep));
	if (!rep)
		die("out of memory");
	rep->scenario = sc->name;
	machine_facts(&mc);
	load_sample(&l0);
	sc->fn(&o, rep);
	load_sample(&l1);
	load_account(&mc, &l0, &l1);

	print_report(rep, &o, &mc, sc->description);
	if (o.json)
		write_json(o.json, rep, &o, &mc);
	for (unsigned i = 0; i < rep->nvariants; i++)
		free(rep->variants[i].runs);
	status = rep->failed ? 1 : 0;
	free(rep);
	return status;
}

