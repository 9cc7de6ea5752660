/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Race: pins against punch, the deadlock of seeds/002 (G3).
 *
 * Thread 1 pins page A.  A punch of A and B starts in thread 2 and must wait
 * for the pin.  Thread 1 then faults page B, which it can do only if the
 * punch waits with the invalidate_lock dropped; then it puts both pins.
 * All three (the two faults and the punch) must complete, and afterwards A
 * and B read as zeros.  Repeated for --rounds rounds (default 200), some
 * with B cached and some not.
 *
 * A hang is detected by a deadline, not survived: if a round does not finish
 * within 10 seconds, the test looks at where it stands.  It is the deadlock
 * of seeds/002 only if the punch has reached its pin wait, the holder still
 * has A pinned and is inside its fault of B, and neither has moved for one
 * more second; any other stall is reported as such, and fails the test in
 * every build.  With --expect-violations (the mutant build that waits with
 * the lock held), the test passes only if it sees that deadlock: a crash,
 * a wrong result or a stall elsewhere is not a catch.  Prints "N passed,
 * N failed".
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pagecache.h>

#include "race_backend.h"

#define PS 4096u

static struct pc_cache *cache;
static struct pc_mapping *m;
static int phase;		/* atomic: 1 A pinned, 2 faulting B, 3 B faulted and both put */
static int punch_ret = 1;	/* atomic */
static int bad;

static uint64_t pin_waits(void)
{
	struct pc_stats st;

	pc_stats(cache, &st, sizeof(st));
	return st.pin_waits;
}

static void *holder(void *arg)
{
	uint64_t waits0 = (uint64_t)(uintptr_t)arg;
	struct pc_page *a, *b;

	if (pc_fault(m, 0, 0, &a))
		abort();
	__atomic_store_n(&phase, 1, __ATOMIC_RELEASE);
	/* Wait until the punch is waiting for our pin on A. */
	while (pin_waits() == waits0)
		usleep(100);
	__atomic_store_n(&phase, 2, __ATOMIC_RELEASE);
	if (pc_fault(m, PS, 0, &b) != 0)
		bad++;	/* -ENXIO or anything else is wrong: the size stays */
	else
		pc_page_put(b);
	pc_page_put(a);
	__atomic_store_n(&phase, 3, __ATOMIC_RELEASE);
	return NULL;
}

static void *puncher(void *arg)
{
	(void)arg;
	while (__atomic_load_n(&phase, __ATOMIC_ACQUIRE) < 1)
		usleep(100);
	__atomic_store_n(&punch_ret, pc_punch(m, 0, 2 * PS), __ATOMIC_RELEASE);
	return NULL;
}

static bool wait_round(void)
{
	for (int i = 0; i < 10000; i++) {
		if (__atomic_load_n(&phase, __ATOMIC_ACQUIRE) == 3 &&
		    __atomic_load_n(&punch_ret, __ATOMIC_ACQUIRE) != 1)
			return true;
		usleep(1000);
	}
	return false;
}

/*
 * After the deadline: the seeds/002 deadlock is the holder inside its fault
 * of B with A pinned, and the punch past the start of its pin wait (the
 * counter moved) and not returned, with no change for one more second.
 */
static bool is_pin_deadlock(uint64_t waits0)
{
	uint64_t w = pin_waits();

	if (__atomic_load_n(&phase, __ATOMIC_ACQUIRE) != 2 ||
	    __atomic_load_n(&punch_ret, __ATOMIC_ACQUIRE) != 1 || w == waits0)
		return false;
	sleep(1);
	return __atomic_load_n(&phase, __ATOMIC_ACQUIRE) == 2 &&
	       __atomic_load_n(&punch_ret, __ATOMIC_ACQUIRE) == 1 && pin_waits() == w;
}

int main(int argc, char **argv)
{
	struct pc_backend *dev;
	bool expect = false;
	const char *backend = "ram";
	int rounds = 200;
	uint64_t waits0;
	char buf[2 * PS];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--expect-violations"))
			expect = true;
		else if (!strcmp(argv[i], "--backend") && i + 1 < argc)
			backend = argv[++i];
		else
			return 2;
	}
	if (pc_cache_new(&cache, 0) || race_backend_new(&dev, backend, 1 << 20) ||
	    pc_open(&m, cache, dev, "obj", PC_CREAT))
		return 1;
	for (int r = 0; r < rounds; r++) {
		pthread_t t1, t2;

		memset(buf, 0x11 + r % 100, sizeof(buf));
		if (pc_write(m, buf, sizeof(buf), 0, 0) != sizeof(buf) || pc_sync(m, 0, 0))
			return 1;
		if (r % 2) {	/* B not cached: its fault must fill under the lock */
			pc_invalidate_lock(m);
			pc_invalidate_range(m, PS, PS);
			pc_invalidate_unlock(m);
		}
		phase = 0;
		punch_ret = 1;
		waits0 = pin_waits();
		pthread_create(&t1, NULL, holder, (void *)(uintptr_t)waits0);
		pthread_create(&t2, NULL, puncher, NULL);
		if (!wait_round()) {
			bool dl = is_pin_deadlock(waits0);

			if (dl)
				printf("round %d: deadlock: the holder's fault of B and the punch's "
				       "wait for A's pin have both been stuck for 11 s\n", r);
			else
				printf("round %d: stalled, but not in the pin deadlock: holder phase "
				       "%d, punch %s, pin waits %llu -> %llu\n", r,
				       __atomic_load_n(&phase, __ATOMIC_ACQUIRE),
				       __atomic_load_n(&punch_ret, __ATOMIC_ACQUIRE) == 1 ?
					       "not returned" : "returned",
				       (unsigned long long)waits0,
				       (unsigned long long)pin_waits());
			if (expect)
				printf("mutant build: the deadlock %s\n", dl ? "was caught" : "was MISSED");
			printf("%d passed, %d failed\n", expect && dl ? 1 : 0, expect && dl ? 0 : 1);
			fflush(stdout);
			_exit(expect && dl ? 0 : 1);
		}
		pthread_join(t1, NULL);
		pthread_join(t2, NULL);
		if (punch_ret != 0 || pc_read(m, buf, sizeof(buf), 0, 0) != sizeof(buf))
			bad++;
		for (unsigned i = 0; i < sizeof(buf); i++)
			if (buf[i]) {
				bad++;
				break;
			}
	}
	printf("%d rounds, %d bad, pin_waits %llu\n", rounds, bad,
	       (unsigned long long)pin_waits());
	pc_close(&m);
	race_backend_delete(&dev);
	pc_cache_delete(&cache);
	bool ok = !expect && bad == 0;
	if (expect)
		printf("mutant build: the deadlock was MISSED\n");
	printf("%d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
	return ok ? 0 : 1;
}
