/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the bounded race tests share: how long they run, their options, the
 * stamped records they write and check, a generator, and the verdict.
 *
 * A test runs until at least --ops operations and --min-seconds are done,
 * or --seconds have passed; with --expect-violations (the mutant build that
 * the test targets, tests/race/meson.build), until its first violation, and
 * it passes only if it saw one.  The environment variable
 * PC_RACE_MAX_SECONDS lowers --seconds (and --min-seconds with it), so a
 * slow build (ThreadSanitizer, run.sh) can bound the whole suite; the
 * mutant builds leave it unset.
 *
 * Two ways to run.  Each thread calls race_keep_going() once per operation;
 * it counts the operation and looks at the clock every check_every + 1
 * operations.  Or (the DAX tests, where a round or a watchdog belongs to
 * the main thread) the threads count with race_op() and loop while
 * race_running(), and the main thread polls race_over(), which ends the
 * run.  A test that sets expect_long runs its mutant build until the first
 * violation or --seconds, whatever --ops and --min-seconds say.
 */
#ifndef PC_RACE_COMMON_H
#define PC_RACE_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PS 4096u

static struct race_run {
	uint64_t max_ops;
	double min_seconds, max_seconds;
	uint64_t check_every;	/* a power of two minus 1 */
	bool expect;		/* --expect-violations: stop at the first one */
	bool expect_long;	/* with expect: only a violation or max_seconds end the run */
	struct timespec t0;
	uint64_t ops_done;	/* atomic */
	uint64_t violations;	/* atomic */
	int stop;		/* atomic */
} race;

/* One 16-byte record; a stamped page is PS / 16 of them. */
struct rec {
	uint32_t magic, obj, page, gen;
};

static inline double race_elapsed(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - race.t0.tv_sec) + (double)(t.tv_nsec - race.t0.tv_nsec) / 1e9;
}

/* The threads start now: the clock of the time limits. */
static inline void race_start(void)
{
	clock_gettime(CLOCK_MONOTONIC, &race.t0);
}

/* True if the clock (and @n operations done) end the run; see the top. */
static inline bool race_time_up(uint64_t n)
{
	double el = race_elapsed();

	if (el > race.max_seconds)
		return true;
	if (race.expect && race.expect_long)
		return false;
	return n >= race.max_ops && el >= race.min_seconds;
}

static inline bool race_keep_going(void)
{
	uint64_t n = __atomic_add_fetch(&race.ops_done, 1, __ATOMIC_RELAXED);

	if (__atomic_load_n(&race.stop, __ATOMIC_RELAXED))
		return false;
	if (race.expect && __atomic_load_n(&race.violations, __ATOMIC_RELAXED)) {
		__atomic_store_n(&race.stop, 1, __ATOMIC_RELAXED);
		return false;
	}
	if ((n & race.check_every) == 0 && race_time_up(n)) {
		__atomic_store_n(&race.stop, 1, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

/* Count one operation, for a run that the main thread ends (race_over()). */
static inline void race_op(void)
{
	__atomic_add_fetch(&race.ops_done, 1, __ATOMIC_RELAXED);
}

static inline bool race_running(void)
{
	return !__atomic_load_n(&race.stop, __ATOMIC_RELAXED);
}

/* The main thread: true, and the threads told to stop, once the run is over. */
static inline bool race_over(void)
{
	if (!race_running())
		return true;
	if ((race.expect && __atomic_load_n(&race.violations, __ATOMIC_RELAXED)) ||
	    race_time_up(__atomic_load_n(&race.ops_done, __ATOMIC_RELAXED))) {
		__atomic_store_n(&race.stop, 1, __ATOMIC_RELAXED);
		return true;
	}
	return false;
}

/* Count a violation; true for the first @n ones (the caller may describe them). */
static inline bool race_violation_first(uint64_t n)
{
	return __atomic_fetch_add(&race.violations, 1, __ATOMIC_RELAXED) < n;
}

/* Count a violation; true for the first one. */
static inline bool race_violation(void)
{
	return race_violation_first(1);
}

/* xorshift64: each thread has its own state. */
static inline uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static inline void stamp(void *buf, uint32_t magic, uint32_t obj, uint32_t page, uint32_t gen)
{
	struct rec *r = buf;

	for (unsigned i = 0; i < PS / sizeof(*r); i++)
		r[i] = (struct rec){ magic, obj, page, gen };
}

/*
 * Parse the options every race test has, from argv[*i]: true if it was
 * one of them (*i moved past its value).
 */
static inline bool race_option(int argc, char **argv, int *i)
{
	const char *a = argv[*i];

	if (!strcmp(a, "--ops") && *i + 1 < argc)
		race.max_ops = strtoull(argv[++*i], NULL, 0);
	else if (!strcmp(a, "--seconds") && *i + 1 < argc)
		race.max_seconds = strtod(argv[++*i], NULL);
	else if (!strcmp(a, "--min-seconds") && *i + 1 < argc)
		race.min_seconds = strtod(argv[++*i], NULL);
	else if (!strcmp(a, "--expect-violations"))
		race.expect = true;
	else
		return false;
	return true;
}

/* After the options: apply PC_RACE_MAX_SECONDS (see the top). */
static inline void race_options_done(void)
{
	const char *env = getenv("PC_RACE_MAX_SECONDS");
	double cap = env ? strtod(env, NULL) : 0;

	if (cap > 0 && race.max_seconds > cap) {
		race.max_seconds = cap;
		if (race.min_seconds > cap)
			race.min_seconds = cap;
		printf("PC_RACE_MAX_SECONDS: at most %.0f s\n", cap);
	}
}

/* A test's own option "name N", N from min to max. */
struct race_int_opt {
	const char *name;
	int *v;
	int min, max;
};

/*
 * A run that the main thread ends (race_over()), by default after
 * @min_seconds or, with --expect-violations, at the first violation or
 * after @max_seconds.
 */
static inline void race_watched(double min_seconds, double max_seconds)
{
	race.min_seconds = min_seconds;
	race.max_seconds = max_seconds;
	race.expect_long = true;
}

/*
 * Parse the whole command line: race_option(), then @more (another
 * header's options, such as race_backend_option(), or NULL), then the
 * test's own @ints (ended by a NULL name); then race_options_done().
 * 0, or 2 (the exit status) for an unknown option or a value out of range.
 */
static inline int race_args(int argc, char **argv, bool (*more)(int, char **, int *),
			    const struct race_int_opt *ints)
{
	for (int i = 1; i < argc; i++) {
		const struct race_int_opt *o = ints;

		if (race_option(argc, argv, &i) || (more && more(argc, argv, &i)))
			continue;
		while (o && o->name && (strcmp(argv[i], o->name) || i + 1 >= argc))
			o++;
		if (!o || !o->name)
			return 2;
		*o->v = atoi(argv[++i]);
		if (*o->v < o->min || *o->v > o->max)
			return 2;
	}
	race_options_done();
	return 0;
}

/* The verdict line, @what naming the race a mutant build must show; returns the exit status. */
static inline int race_verdict(const char *what)
{
	bool ok = race.expect ? race.violations > 0 : race.violations == 0;

	if (race.expect)
		printf("mutant build: the %s %s\n", what, ok ? "was caught" : "was MISSED");
	printf("%d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
	return ok ? 0 : 1;
}

#endif /* PC_RACE_COMMON_H */
