/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pckv serve: not in this branch; the kvserver branch replaces this file. */
#include <stdio.h>

#include "server.h"

int pckv_serve(struct kv *kv, int argc, char **argv)
{
	(void)kv;
	(void)argc;
	(void)argv;
	fprintf(stderr, "pckv: serve is not built in this branch\n");
	return 2;
}
