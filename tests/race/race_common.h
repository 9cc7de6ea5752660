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
 * Each thread calls race_keep_going() once per operation; it counts the
 * operation and looks at the clock every check_every + 1 operations.
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
	struct timespec t0;
	uint64_t ops_done;	/* atomic */
	uint64_t violations;	/* atomic */
	int stop;		/* atomic */
} race;

/* One 16-byte record; a stamped page is PS / 16 of them. */
struct rec {
	uint32_t magic, obj, page, gen;
};

static double race_elapsed(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - race.t0.tv_sec) + (double)(t.tv_nsec - race.t0.tv_nsec) / 1e9;
}

/* The threads start now: the clock of the time limits. */
static void race_start(void)
{
	clock_gettime(CLOCK_MONOTONIC, &race.t0);
}

static bool race_keep_going(void)
{
	uint64_t n = __atomic_add_fetch(&race.ops_done, 1, __ATOMIC_RELAXED);

	if (__atomic_load_n(&race.stop, __ATOMIC_RELAXED))
		return false;
	if (race.expect && __atomic_load_n(&race.violations, __ATOMIC_RELAXED)) {
		__atomic_store_n(&race.stop, 1, __ATOMIC_RELAXED);
		return false;
	}
	if ((n & race.check_every) == 0 &&
	    ((n >= race.max_ops && race_elapsed() >= race.min_seconds) ||
	     race_elapsed() > race.max_seconds)) {
		__atomic_store_n(&race.stop, 1, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

/* Count a violation; true for the first one (the caller may describe it). */
static bool race_violation(void)
{
	return __atomic_fetch_add(&race.violations, 1, __ATOMIC_RELAXED) == 0;
}

/* xorshift64: each thread has its own state. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void stamp(void *buf, uint32_t magic, uint32_t obj, uint32_t page, uint32_t gen)
{
	struct rec *r = buf;

	for (unsigned i = 0; i < PS / sizeof(*r); i++)
		r[i] = (struct rec){ magic, obj, page, gen };
}

/*
 * Parse the options every race test has, from argv[*i]: true if it was
 * one of them (*i moved past its value).
 */
static bool race_option(int argc, char **argv, int *i)
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
static void race_options_done(void)
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

/* The verdict line; returns the exit status. */
static int race_verdict(void)
{
	bool ok = race.expect ? race.violations > 0 : race.violations == 0;

	if (race.expect)
		printf("mutant build: the race %s\n", ok ? "was caught" : "was MISSED");
	printf("%d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
	return ok ? 0 : 1;
}

#endif /* PC_RACE_COMMON_H */
