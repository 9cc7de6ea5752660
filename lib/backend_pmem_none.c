/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pmem backend in a build without libpmem2 (-Dpmem=disabled, or the
 * library not found): the call exists, so the ABI is the same in every
 * build, and it answers -ENOTSUP.  Tests of the pmem backend skip (77).
 */
#include <errno.h>

#include <pagecache.h>

int pc_backend_pmem_new(struct pc_backend **out, const char *dir, unsigned flags)
{
	(void)dir;
	(void)flags;
	if (!out)
		return -EINVAL;
	*out = NULL;
	return -ENOTSUP;
}
