/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pckv's Redis-protocol (RESP2) server; server.c has the design.
 */
#ifndef PCKV_SERVER_H
#define PCKV_SERVER_H

struct kv;

/*
 * Serve @kv on 127.0.0.1 until SIGINT or SIGTERM.  @argv holds the options
 * after "serve" (argv[0] is the first option):
 *	--port N	TCP port (default 6379; 0 picks a free one)
 *	--threads T	worker threads (default: the online CPUs, 1 to 256)
 *	--maxclients M	connections served at once (default 1024)
 * Prints "pckv: listening on 127.0.0.1:PORT" on stdout once it accepts.
 * On a signal it stops accepting, finishes the requests it has read,
 * sends their replies, kv_sync()s and returns 0.  The return value is the
 * exit status for pckv: 0 after a clean shutdown, 1 if the server could not
 * start or the final sync failed, 2 for bad options (and 0 after --help).
 * The caller still owns @kv and closes it.
 */
#include <stdbool.h>

/*
 * Serve @kv until SIGINT/SIGTERM.  @group_commit turns group commit on as
 * the serve option --group-commit does (pckv's `--sync always serve` opens
 * the store with sync none and asks for it: the same guarantee).
 */
int pckv_serve(struct kv *kv, bool group_commit, int argc, char **argv);

#endif /* PCKV_SERVER_H */
