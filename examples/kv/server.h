/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pckv serve: the Redis-protocol (RESP2) front of the store (server.c). */
#ifndef PCKV_SERVER_H
#define PCKV_SERVER_H

struct kv;

/* Serve @kv until SIGINT/SIGTERM; argv holds the options after "serve". Exit status. */
int pckv_serve(struct kv *kv, int argc, char **argv);

#endif /* PCKV_SERVER_H */
