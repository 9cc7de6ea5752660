/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A spin model of the pin wait's wake-up (lib/page.c, the comment at its
 * top): pc_page_wait_pins() against pc_page_release().  invalidate.pml
 * takes the wait as a blocking guard; this model checks that the real
 * protocol has no lost wake-up, i.e. the waiter never sleeps forever once
 * the pins are gone (pan's invalid end state check), and that a put never
 * frees the page under the waiter.
 *
 *   spin -a pinwait.pml; gcc -O2 -DSAFETY -o pan pan.c; ./pan
 *
 * The refcount word holds the count and PC_REF_PINWAIT in one location,
 * so each read-modify-write below is one atomic step (d_step):
 *
 *   waiter, pc_page_wait_pins(p, mine):
 *     W1 fetch_or(refcount, PINWAIT)
 *     W2 lock the bucket mutex
 *     W3 while (count > mine) pthread_cond_wait(): W3a unlock and sleep in
 *        one step, W3b woken, W3c lock again
 *     W4 unlock
 *   each pin holder, pc_page_release():
 *     P1 r = sub_fetch(refcount, 1)
 *     P2 if count(r) == 0: free; else if r & PINWAIT: pc_page_wake():
 *        lock the bucket mutex, broadcast, unlock
 *
 * The waiter holds a reference of its own, and the index one (mine = 2),
 * so a put never reaches 0 while it waits.
 *
 * Mutant MUTANT_WAKE_WITHOUT_BUCKET_LOCK: pc_page_wake() broadcasts without
 * the bucket mutex; the broadcast can fall between the waiter's check and
 * its sleep, and the waiter sleeps forever: pan reports an invalid end
 * state.
 */

#define MINE 2		/* the index's reference and the waiter's */
#define NPINS 2		/* pin holders */

byte count = MINE + NPINS;	/* the count bits of the refcount word */
bool pinwait;			/* PC_REF_PINWAIT */
bool mtx;			/* the bucket mutex */
bool asleep;			/* the waiter is inside pthread_cond_wait() */
bool freed;			/* ghost: pc_page_free() ran */
hidden byte page_not_freed;

proctype waiter()
{
	pinwait = true;				/* W1 */
	atomic { !mtx -> mtx = true };		/* W2 */
	do
	:: count > MINE ->			/* W3 */
		d_step { mtx = false; asleep = true };	/* W3a */
		!asleep;				/* W3b: a broadcast */
		atomic { !mtx -> mtx = true }		/* W3c */
	:: else -> break
	od;
	mtx = false;				/* W4 */
	d_step {
		page_not_freed = !freed;
		assert(page_not_freed)
	}
}

proctype holder()
{
	bool wake;

	d_step {				/* P1 */
		count--;
		freed = (count == 0);
		wake = (count != 0 && pinwait)
	};
	if
	:: wake ->				/* P2: pc_page_wake() */
#ifndef MUTANT_WAKE_WITHOUT_BUCKET_LOCK
		atomic { !mtx -> mtx = true };
		asleep = false;
		mtx = false
#else
		asleep = false
#endif
	:: else -> skip
	fi
}

init {
	atomic {
		run waiter();
		run holder();
		run holder()
	}
}
