/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The harness of pcbench: reports, machine facts, the alternation of
 * variants, and the table and JSON output.
 *
 * How results are taken.  The two variants of a pair run alternately (A, B,
 * A, B, ...) for --runs rounds, so slow drift of the machine (frequency,
 * neighbours on a shared host) lands on both alike.  Each run records its
 * own ns/op (or Mops/s); a variant reports the median of its runs and their
 * min and max as the spread.  A ratio is the ratio of the two medians, not
 * the median of per-round ratios.  The machine may be shared: the header
 * shows how much CPU other processes and the hypervisor took meanwhile, so
 * a noisy result says so.
 */
#include "harness.h"

/* Keeps results alive: the compiler must assume someone reads it. */
volatile uint64_t pcb_sink;

/* ---- Helpers ---- */

void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("pcbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Check the return of a pc_* call (or a negated errno) and stop on error. */
long long check(long long r, const char *what)
{
	if (r < 0)
		die("%s: %s", what, strerror((int)-r));
	return r;
}

void *xmalloc_aligned(size_t align, size_t size)
{
	void *p;
	int r = posix_memalign(&p, align, size);

	if (r)
		die("allocating %zu bytes: %s", size, strerror(r));
	return p;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median, min and max of the runs of @v. */
void variant_summarise(struct pcb_variant *v)
{
	double *s;
	unsigned n = v->nruns;

	if (!n)
		return;
	s = malloc(n * sizeof(*s));
	if (!s)
		die("out of memory");
	memcpy(s, v->runs, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	v->min = s[0];
	v->max = s[n - 1];
	v->median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
}

struct pcb_variant *report_variant(struct pcb_report *rep, const char *name,
					  const char *unit, unsigned runs)
{
	struct pcb_variant *v;

	if (rep->nvariants == PCB_MAX_VARIANTS)
		die("too many variants");
	v = &rep->variants[rep->nvariants++];
	v->name = name;
	v->unit = unit;
	v->runs = calloc(runs, sizeof(*v->runs));
	if (!v->runs)
		die("out of memory");
	return v;
}

void report_ratio(struct pcb_report *rep, const char *name, const char *formula,
			 double value, double goal)
{
	struct pcb_ratio *r;

	if (rep->nratios == PCB_MAX_RATIOS)
		die("too many ratios");
	r = &rep->ratios[rep->nratios++];
	r->name = name;
	r->formula = formula;
	r->value = value;
	r->goal = goal;
}

void report_param(struct pcb_report *rep, const char *key, bool number, const char *fmt, ...)
{
	struct pcb_param *p;
	va_list ap;

	if (rep->nparams == PCB_MAX_PARAMS)
		die("too many parameters");
	p = &rep->params[rep->nparams++];
	p->key = key;
	p->number = number;
	va_start(ap, fmt);
	vsnprintf(p->val, sizeof(p->val), fmt, ap);
	va_end(ap);
}

/* The median of the variant called @name. */
double median_of(const struct pcb_report *rep, const char *name)
{
	for (unsigned i = 0; i < rep->nvariants; i++)
		if (!strcmp(rep->variants[i].name, name))
			return rep->variants[i].median;
	die("no variant %s", name);
}

/* The ratios of @rs, each of two variants' medians. */
void report_ratios(struct pcb_report *rep, const struct pcb_ratio_of *rs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		report_ratio(rep, rs[i].name, rs[i].formula,
			     median_of(rep, rs[i].num) / median_of(rep, rs[i].den), rs[i].goal);
}

const char *report_param_get(const struct pcb_report *rep, const char *key)
{
	for (unsigned i = 0; i < rep->nparams; i++)
		if (!strcmp(rep->params[i].key, key))
			return rep->params[i].val;
	return NULL;
}

void pcb_write_sync(struct pc_mapping *m, const unsigned char *src, uint64_t size)
{
	for (uint64_t off = 0; off < size; off += PCB_MIB) {
		size_t n = size - off < PCB_MIB ? size - off : PCB_MIB;
		ssize_t r = pc_write(m, src + off, n, off, 0);

		check(r, "pc_write");
		if ((size_t)r != n)
			die("pc_write: short write of %zd bytes at %" PRIu64, r, off);
	}
	check(pc_sync(m, 0, 0), "pc_sync");
}

void pcb_read_check(struct pc_mapping *m, const unsigned char *src, uint64_t size,
		    const char *what)
{
	unsigned char *scratch = xmalloc_aligned(4096, PCB_MIB);

	for (uint64_t off = 0; off < size; off += PCB_MIB) {
		size_t n = size - off < PCB_MIB ? size - off : PCB_MIB;
		ssize_t r = pc_read(m, scratch, n, off, 0);

		check(r, "pc_read");
		if ((size_t)r != n || memcmp(scratch, src + off, n))
			die("%s: pc_read at %" PRIu64 " does not return what was written",
			    what, off);
	}
	free(scratch);
}

static void *pcb_thread_fn(void *arg)
{
	struct pcb_thread *t = arg;

	t->sum = t->loop(t, 1);
	pthread_barrier_wait(t->start);
	t->t0 = now_ns();
	t->sum += t->loop(t, t->ops);
	t->t1 = now_ns();
	return NULL;
}

uint64_t pcb_threads_run(struct pcb_thread *const *ts, unsigned n)
{
	pthread_t tid[PCB_MAX_THREADS];
	pthread_barrier_t start;
	uint64_t t0 = UINT64_MAX, t1 = 0;
	int r;

	if (n < 1 || n > PCB_MAX_THREADS)
		die("%u threads: 1 to %d", n, PCB_MAX_THREADS);
	r = pthread_barrier_init(&start, NULL, n);
	if (r)
		die("pthread_barrier_init: %s", strerror(r));
	for (unsigned i = 0; i < n; i++) {
		ts[i]->start = &start;
		r = pthread_create(&tid[i], NULL, pcb_thread_fn, ts[i]);
		if (r)
			die("pthread_create: %s", strerror(r));
	}
	for (unsigned i = 0; i < n; i++) {
		r = pthread_join(tid[i], NULL);
		if (r)
			die("pthread_join: %s", strerror(r));
		t0 = ts[i]->t0 < t0 ? ts[i]->t0 : t0;
		t1 = ts[i]->t1 > t1 ? ts[i]->t1 : t1;
		pcb_sink += ts[i]->sum;
	}
	pthread_barrier_destroy(&start);
	return t1 - t0;
}

/* The name of a statfs() f_type, for the report. */
const char *pcb_fs_name(long type)
{
	switch (type) {
	case EXT4_SUPER_MAGIC: return "ext2/3/4";
	case XFS_SUPER_MAGIC: return "xfs";
	case BTRFS_SUPER_MAGIC: return "btrfs";
	case TMPFS_MAGIC: return "tmpfs";
	case OVERLAYFS_SUPER_MAGIC: return "overlay";
	default: return "other";
	}
}

/* ---- Machine facts ---- */

void load_sample(struct pcb_load *l)
{
	unsigned long long v[8] = { 0 };
	double tck = (double)sysconf(_SC_CLK_TCK);
	struct rusage ru;
	FILE *f = fopen("/proc/stat", "r");

	/* user nice system idle iowait irq softirq steal */
	if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
			 &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8)
		memset(v, 0, sizeof(v));
	if (f)
		fclose(f);
	l->busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6]) / tck;
	l->steal = (double)v[7] / tck;
	getrusage(RUSAGE_SELF, &ru);
	l->self = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		  (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	l->wall = (double)now_ns() / 1e9;
}

void load_account(struct pcb_machine *mc, const struct pcb_load *a,
			 const struct pcb_load *b)
{
	double wall = b->wall - a->wall;
	double other = (b->busy - a->busy) - (b->self - a->self);

	if (wall <= 0)
		return;
	mc->other_cores = other > 0 ? other / wall : 0;
	mc->steal_cores = (b->steal - a->steal) / wall;
}

/* The "model name" of the first CPU in /proc/cpuinfo. */
static void read_cpuinfo_model(char *out, size_t size)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(out, size, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon;

		if (strncmp(line, "model name", 10))
			continue;
		colon = strchr(line, ':');
		if (!colon)
			continue;
		colon++;
		while (*colon == ' ' || *colon == '\t')
			colon++;
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(out, size, "%s", colon);
		break;
	}
	fclose(f);
}

/* The selected value of a sysfs choice file, "always [madvise] never". */
static void read_thp(char *out, size_t size)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char line[256], *open, *close;

	snprintf(out, size, "unknown");
	if (!f)
		return;
	if (fgets(line, sizeof(line), f)) {
		open = strchr(line, '[');
		close = open ? strchr(open, ']') : NULL;
		if (open && close) {
			*close = '\0';
			snprintf(out, size, "%s", open + 1);
		}
	}
	fclose(f);
}

void machine_facts(struct pcb_machine *mc)
{
	struct utsname u;
	time_t t = time(NULL);
	struct tm tm;

	mc->nproc = sysconf(_SC_NPROCESSORS_ONLN);
	read_cpuinfo_model(mc->cpu, sizeof(mc->cpu));
	read_thp(mc->thp, sizeof(mc->thp));
	if (localtime_r(&t, &tm))
		strftime(mc->date, sizeof(mc->date), "%Y-%m-%d %H:%M:%S %Z", &tm);
	else
		snprintf(mc->date, sizeof(mc->date), "unknown");
	if (uname(&u) == 0)
		snprintf(mc->kernel, sizeof(mc->kernel), "%s %s %s", u.sysname, u.release,
			 u.machine);
	else
		snprintf(mc->kernel, sizeof(mc->kernel), "unknown");
}

/* ---- Scenarios "miss" and "reclaim": a directory on a disk ---- */

bool pcb_disk_fs(long type)
{
	return type == EXT4_SUPER_MAGIC || type == XFS_SUPER_MAGIC || type == BTRFS_SUPER_MAGIC;
}

/*
 * A directory on a real disk file system for the file backend's objects:
 * the build directory (where this program lives) if it is ext4, xfs or
 * btrfs, else /var/tmp, which must not be tmpfs (it would measure memcpy).
 */
void pcb_disk_dir(char *dir, size_t size, long *fs_type)
{
	char exe[PATH_MAX];
	struct statfs sf;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash && slash != exe) {
			*slash = '\0';
			if (statfs(exe, &sf) == 0 && pcb_disk_fs((long)sf.f_type) &&
			    snprintf(dir, size, "%s", exe) < (int)size) {
				*fs_type = (long)sf.f_type;
				return;
			}
		}
	}
	if (statfs("/var/tmp", &sf))
		die("statfs /var/tmp: %s", strerror(errno));
	if (sf.f_type == TMPFS_MAGIC)
		die("neither the build directory nor /var/tmp is on a disk file system");
	snprintf(dir, size, "/var/tmp");
	*fs_type = (long)sf.f_type;
}

/* ---- Output ---- */

void print_report(const struct pcb_report *rep, const struct pcb_opts *o,
			 const struct pcb_machine *mc, const char *desc)
{
	const char *size = report_param_get(rep, "size");

	printf("pcbench %s: %s\n", rep->scenario, desc);
	printf("  %-12s nproc %ld (%ld cores), CPU %s\n", "machine", mc->nproc, mc->nproc,
	       mc->cpu);
	printf("  %-12s %s, THP %s, libpagecache %s\n", "system", mc->kernel, mc->thp,
	       pc_version());
	printf("  %-12s %s\n", "date", mc->date);
	printf("  %-12s %.2f cores busy with other processes, %.2f stolen (average over "
	       "the scenario)%s\n", "other load", mc->other_cores, mc->steal_cores,
	       mc->other_cores + mc->steal_cores > 0.1 ? ": RESULTS ARE NOISY" : "");
	if (size)
		printf("  %-12s %g MiB\n", "object", strtod(size, NULL) / PCB_MIB);
	if (rep->untimed)
		printf("  %-12s counted once, not timed (--runs and --seconds do not apply)\n",
		       "runs");
	else
		printf("  %-12s %u%s, ~%.2f s per run, pairs alternate\n", "runs", o->runs,
		       o->quick ? " (quick)" : "", o->seconds);
	for (unsigned i = 0; i < rep->nparams; i++)
		if (strcmp(rep->params[i].key, "size"))
			printf("  %-12s %s\n", rep->params[i].key, rep->params[i].val);

	printf("\n%-24s %-7s %10s %21s %12s\n", "variant", "unit", "median", "min - max",
	       "ops/run");
	for (unsigned i = 0; i < rep->nvariants; i++) {
		const struct pcb_variant *v = &rep->variants[i];

		printf("%-24s %-7s %10.2f %10.2f - %-8.2f %12" PRIu64 "\n", v->name, v->unit,
		       v->median, v->min, v->max, v->ops);
	}

	printf("\n%-46s %-14s %8s %7s\n", "ratio of medians", "", "value", "goal");
	for (unsigned i = 0; i < rep->nratios; i++) {
		const struct pcb_ratio *r = &rep->ratios[i];

		if (r->goal > 0)
			printf("%-46s %-14s %8.2f %7.2f  %s\n", r->name, r->formula, r->value,
			       r->goal, r->value >= r->goal ? "met" : "NOT met");
		else
			printf("%-46s %-14s %8.2f %7s  %s\n", r->name, r->formula, r->value, "-",
			       "(reference)");
	}
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_number(FILE *f, double x)
{
	if (isfinite(x))
		fprintf(f, "%.6g", x);
	else
		fputs("null", f);
}

/* @sep, then "@key": and the string @val. */
static void json_field(FILE *f, const char *sep, const char *key, const char *val)
{
	fprintf(f, "%s\"%s\": ", sep, key);
	json_string(f, val);
}

/* @sep, then "@key": and the number @x. */
static void json_field_number(FILE *f, const char *sep, const char *key, double x)
{
	fprintf(f, "%s\"%s\": ", sep, key);
	json_number(f, x);
}

void write_json(const char *path, const struct pcb_report *rep, const struct pcb_opts *o,
		const struct pcb_machine *mc)
{
	FILE *f = fopen(path, "w");

	if (!f)
		die("%s: %s", path, strerror(errno));
	json_field(f, "{\n  ", "scenario", rep->scenario);
	fprintf(f, ",\n  \"machine\": {\"nproc\": %ld", mc->nproc);
	json_field(f, ", ", "cpu", mc->cpu);
	json_field(f, ", ", "kernel", mc->kernel);
	json_field(f, ", ", "thp", mc->thp);
	json_field(f, ", ", "date", mc->date);
	json_field(f, ", ", "libpagecache", pc_version());
	json_field_number(f, ", ", "other_load_cores", mc->other_cores);
	json_field_number(f, ", ", "steal_cores", mc->steal_cores);
	fprintf(f, "},\n  \"params\": {\"runs\": %u", o->runs);
	json_field_number(f, ", ", "seconds", o->seconds);
	fprintf(f, ", \"quick\": %s", o->quick ? "true" : "false");
	if (rep->untimed)
		fputs(", \"untimed\": true", f);
	for (unsigned i = 0; i < rep->nparams; i++) {
		fputs(", ", f);
		json_string(f, rep->params[i].key);
		fputs(": ", f);
		if (rep->params[i].number)
			fputs(rep->params[i].val, f);
		else
			json_string(f, rep->params[i].val);
	}
	fputs("},\n  \"variants\": [", f);
	for (unsigned i = 0; i < rep->nvariants; i++) {
		const struct pcb_variant *v = &rep->variants[i];

		json_field(f, i ? ",\n    {" : "\n    {", "name", v->name);
		json_field(f, ", ", "unit", v->unit);
		fprintf(f, ", \"ops_per_run\": %" PRIu64 ", \"runs\": [", v->ops);
		for (unsigned j = 0; j < v->nruns; j++) {
			if (j)
				fputs(", ", f);
			json_number(f, v->runs[j]);
		}
		fputc(']', f);
		json_field_number(f, ", ", "median", v->median);
		json_field_number(f, ", ", "min", v->min);
		json_field_number(f, ", ", "max", v->max);
		fputc('}', f);
	}
	fputs("\n  ],\n  \"ratios\": [", f);
	for (unsigned i = 0; i < rep->nratios; i++) {
		const struct pcb_ratio *r = &rep->ratios[i];

		json_field(f, i ? ",\n    {" : "\n    {", "name", r->name);
		json_field(f, ", ", "formula", r->formula);
		json_field_number(f, ", ", "value", r->value);
		if (r->goal > 0) {
			json_field_number(f, ", ", "goal", r->goal);
			fprintf(f, ", \"met\": %s}", r->value >= r->goal ? "true" : "false");
		} else {
			fputs(", \"goal\": null, \"met\": null}", f);
		}
	}
	fputs("\n  ]\n}\n", f);
	if (fclose(f))
		die("%s: %s", path, strerror(errno));
}
