/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Stamped values for pckv's demo, bench and tests: the value of key @id at
 * @version has a length and every byte derived from (id, version), so a
 * reader can tell a right value from a stale, torn or zeroed one.
 */
#ifndef PCKV_STAMP_H
#define PCKV_STAMP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Mostly 64..1023 bytes (zero-copy gets); every 16th value 5000..6023 (copied gets). */
static inline size_t stamp_len(uint64_t id, uint64_t version)
{
	size_t n = 64 + (size_t)((id * 7919 + version * 104729) % 960);

	return (id + version) % 16 == 0 ? n + 4936 : n;
}

static inline unsigned char stamp_byte(uint64_t id, uint64_t version, size_t i)
{
	return (unsigned char)(id * 31 + version * 7 + i * 13 + 1);
}

/* Fill @buf (stamp_len bytes) with the value. */
static inline void stamp_fill(void *buf, uint64_t id, uint64_t version)
{
	unsigned char *b = buf;
	size_t n = stamp_len(id, version);

	memcpy(b, &id, 8);
	memcpy(b + 8, &version, 8);
	for (size_t i = 16; i < n; i++)
		b[i] = stamp_byte(id, version, i);
}

/* Is @val a whole value of key @id (any version)?  Returns its version, or -1. */
static inline int64_t stamp_check(const void *val, size_t len, uint64_t id)
{
	const unsigned char *b = val;
	uint64_t vid, ver;

	if (len < 16)
		return -1;
	memcpy(&vid, b, 8);
	memcpy(&ver, b + 8, 8);
	if (vid != id || ver > INT64_MAX || len != stamp_len(id, ver))
		return -1;
	for (size_t i = 16; i < len; i++)
		if (b[i] != stamp_byte(id, ver, i))
			return -1;
	return (int64_t)ver;
}

static inline int stamp_key(char *buf, size_t cap, uint64_t id)
{
	return snprintf(buf, cap, "key:%08llu", (unsigned long long)id);
}

#endif /* PCKV_STAMP_H */
