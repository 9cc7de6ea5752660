/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Long-term range pins: pc_pin_range() and pc_unpin_range(), in the spirit
 * of pinning user pages for DMA.
 *
 * A range pin is a record on the mapping (m->pin_recs, under pins_lock)
 * holding one pc_fault() pin per page of the range.  So it obeys the rules
 * of every other pin, in both modes: in DAX mode each page is a DAX pin on
 * its entry, and punch and truncate wait for it (or answer -EBUSY with
 * PC_PUNCH_NOWAIT) before they free a block (G3); in cached mode each page
 * has a reference, so reclaim never evicts it, and a mode switch answers
 * -EBUSY.  What the record adds in cached mode: truncate.c's way out after
 * PC_INVAL_MAX_RETRIES waits (removing a short-term pinned page from the
 * index, which frees no memory under its holder) is not taken while a range
 * pin overlaps the range, so a range-pinned page is never punched out from
 * under its pin.
 *
 * The pages are faulted one by one with no lock held in between, so a pin
 * holder that punches, or a punch that waits for the first pages, cannot
 * deadlock with the faults of the later ones (seeds/002).
 *
 * Records are matched on unpin by (offset, length), newest first; a
 * mapping with range pins cannot be closed (-EBUSY).
 */
#include <errno.h>
#include <stdlib.h>

#include <pagecache.h>

#include "dax.h"
#include "filemap.h"
#include "inject.h"

/* Most pages one call may pin: 1 GiB of 4 KiB pages. */
#define PC_PIN_MAX_PAGES (1u << 18)

struct pc_pin_rec {
	struct pc_pin_rec *next;
	uint64_t off, len;
	uint64_t first;			/* page index of off */
	unsigned n;			/* pages */
	struct pc_page *pages[];
};

static void pc_pins_lock(struct pc_mapping *m)
{
	pthread_mutex_lock(&m->pins_lock);
	pc_lockdep_acquire(&m->pins_lock, PC_LC_LEAF, PC_LOCK_EXCL, "pins_lock");
}

static void pc_pins_unlock(struct pc_mapping *m)
{
	pc_lockdep_release(&m->pins_lock);
	pthread_mutex_unlock(&m->pins_lock);
}

bool pc_pins_overlap(struct pc_mapping *m, uint64_t first, uint64_t last)
{
	bool hit = false;

	pc_pins_lock(m);
	for (struct pc_pin_rec *r = m->pin_recs; r && !hit; r = r->next)
		hit = r->first <= last && first <= r->first + r->n - 1;
	pc_pins_unlock(m);
	return hit;
}

bool pc_pins_any(struct pc_mapping *m)
{
	bool any;

	pc_pins_lock(m);
	any = m->pin_recs != NULL;
	pc_pins_unlock(m);
	return any;
}

/* Validate a range pin's arguments: 0 or -errno; *@n is its page count. */
static int pc_pin_check(struct pc_mapping *m, uint64_t off, uint64_t len, unsigned *n)
{
	uint64_t first, last;
	int r;

	if (!m)
		return -EINVAL;
	r = pc_check_range(off, len);
	if (r < 0)
		return r;
	first = off >> PC_PAGE_SHIFT;
	last = (off + len - 1) >> PC_PAGE_SHIFT;
	if (last - first >= PC_PIN_MAX_PAGES)
		return -EINVAL;
	*n = (unsigned)(last - first + 1);
	return 0;
}

PC_API int pc_pin_range(struct pc_mapping *m, uint64_t off, uint64_t len, unsigned flags)
{
	struct pc_pin_rec *rec;
	unsigned n;
	int r;

	if (flags & ~PC_PIN_WRITE)
		return -EINVAL;
	r = pc_pin_check(m, off, len, &n);
	if (r < 0)
		return r;
	if (off + len > pc_mapping_size(m))
		return -ENXIO;	/* as a fault past EOF; checked first so nothing is pinned */
	rec = PC_INJECT_FAIL("pin_rec_alloc") ? NULL :
	      malloc(sizeof(*rec) + (size_t)n * sizeof(rec->pages[0]));
	if (!rec)
		return -ENOMEM;
	rec->off = off;
	rec->len = len;
	rec->first = off >> PC_PAGE_SHIFT;
	rec->n = n;
	for (unsigned i = 0; i < n; i++) {
		r = pc_fault(m, (rec->first + i) << PC_PAGE_SHIFT,
			     (flags & PC_PIN_WRITE) ? PC_FAULT_WRITE : 0, &rec->pages[i]);
		if (r < 0) {
			while (i--)
				pc_page_put(rec->pages[i]);
			free(rec);
			return r;
		}
	}
	pc_pins_lock(m);
	rec->next = m->pin_recs;
	m->pin_recs = rec;
	pc_pins_unlock(m);
	return 0;
}

PC_API int pc_unpin_range(struct pc_mapping *m, uint64_t off, uint64_t len, unsigned flags)
{
	struct pc_pin_rec **pp, *rec = NULL;
	unsigned n;
	int r;

	if (flags)
		return -EINVAL;
	r = pc_pin_check(m, off, len, &n);
	if (r < 0)
		return r;
	pc_pins_lock(m);
	for (pp = &m->pin_recs; *pp; pp = &(*pp)->next) {
		if ((*pp)->off == off && (*pp)->len == len) {
			rec = *pp;
			*pp = rec->next;
			break;
		}
	}
	pc_pins_unlock(m);
	if (!rec)
		return -ENOENT;
	for (unsigned i = 0; i < rec->n; i++)
		pc_page_put(rec->pages[i]);
	free(rec);
	return 0;
}
