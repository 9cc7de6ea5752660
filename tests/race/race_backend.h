/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The backend a race test runs on, chosen with --backend ram|file|pmem: the
 * RAM backend (one device, freed blocks reused at once by other objects), or
 * the file or pmem backend in a fresh directory under race_base_dir (/tmp,
 * or the build-tree directory the DAX tests pass with --dir), removed at the
 * end.  A build without libpmem2 has no pmem backend: the test exits 77.
 * race_backend_option() parses --backend and --dir for the test.
 */
#ifndef PC_RACE_BACKEND_H
#define PC_RACE_BACKEND_H

#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pagecache.h>

static char race_dir[4096];
static const char *race_base_dir = "/tmp";
static const char *race_backend_kind = "ram";	/* --backend */

/* --backend KIND or --dir DIR at argv[*i]: true if it was one (*i moved on). */
static inline bool race_backend_option(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc)
		return false;
	if (!strcmp(argv[*i], "--backend"))
		race_backend_kind = argv[++*i];
	else if (!strcmp(argv[*i], "--dir"))
		race_base_dir = argv[++*i];
	else
		return false;
	return true;
}

static inline int race_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* 0, or -1 after printing why. */
static inline int race_backend_new(struct pc_backend **b, const char *kind, uint64_t ram_bytes)
{
	int r;

	if (!strcmp(kind, "ram")) {
		r = pc_backend_ram_new(b, ram_bytes);
	} else if (!strcmp(kind, "file") || !strcmp(kind, "pmem")) {
		snprintf(race_dir, sizeof(race_dir), "%s/pc-race-XXXXXX", race_base_dir);
		if (!mkdtemp(race_dir)) {
			perror("mkdtemp");
			return -1;
		}
		if (!strcmp(kind, "file"))
			r = pc_backend_file_new(b, race_dir, 0);
		else
			r = pc_backend_pmem_new(b, race_dir, 0);
		if (r == -ENOTSUP) {
			printf("no pmem backend in this build (no libpmem2): skipped\n");
			rmdir(race_dir);
			exit(77);
		}
	} else {
		fprintf(stderr, "unknown backend %s (ram, file or pmem)\n", kind);
		return -1;
	}
	if (r < 0) {
		fprintf(stderr, "backend %s: %s\n", kind, strerror(-r));
		return -1;
	}
	return 0;
}

static inline void race_backend_delete(struct pc_backend **b)
{
	pc_backend_delete(b);
	if (race_dir[0])
		nftw(race_dir, race_rm, 8, FTW_DEPTH | FTW_PHYS);
}

#endif /* PC_RACE_BACKEND_H */
