/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small compiler helpers shared by every file in lib/. */
#ifndef PC_COMPILER_H
#define PC_COMPILER_H

#include <stddef.h>

#define pc_likely(x) __builtin_expect(!!(x), 1)
#define pc_unlikely(x) __builtin_expect(!!(x), 0)

#define PC_CACHELINE 64
#define pc_cacheline_aligned __attribute__((aligned(PC_CACHELINE)))

#define pc_container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define PC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define PC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PC_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif /* PC_COMPILER_H */
