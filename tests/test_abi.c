/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ABI checks on the shared library: exported symbols, version, public struct sizes. */
#include <stdbool.h>

#include <pagecache/backend.h>

#include "helpers.h"

/* Every dynamic symbol the library defines is ours: pc_*, or a version node. */
static void test_exports_only_pc(void **state)
{
	char cmd[4096], line[512];
	int ours = 0;
	FILE *p;

	(void)state;
	snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s'", PC_SHARED_LIB);
	p = popen(cmd, "r");
	if (!p)
		skip();
	while (fgets(line, sizeof(line), p)) {
		char addr[64], type[8], name[256];

		if (sscanf(line, "%63s %7s %255s", addr, type, name) != 3)
			continue;
		if (strncmp(name, "LIBPAGECACHE_", 13) == 0)
			continue;
		if (strncmp(name, "pc_", 3) != 0)
			fail_msg("unexpected export: %s", name);
		ours++;
	}
	if (pclose(p) != 0 && ours == 0)
		skip();	/* no nm */
	assert_int_equal(ours, 38);	/* the symbols in lib/libpagecache.map */
}

static void test_sizes(void **state)
{
	(void)state;
	/* Public structs only grow at the end; these sizes are the ABI of 0.1. */
	assert_int_equal(sizeof(struct pc_stats), 28 * sizeof(uint64_t));
	assert_int_equal(offsetof(struct pc_backend_ops, open), 24);
	assert_int_equal(sizeof(struct pc_extent), 32);
	assert_string_equal(pc_version(), "0.1.0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exports_only_pc),
		cmocka_unit_test(test_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
