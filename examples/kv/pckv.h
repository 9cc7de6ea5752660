/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pckv's command line: what pckv.c shares with the demo and bench commands. */
#ifndef PCKV_PCKV_H
#define PCKV_PCKV_H

#include <stdio.h>

#include "kv.h"

void pckv_die(const char *what, int err) __attribute__((noreturn));
/* kv_open() with a message on stderr saying what went wrong. */
int pckv_open(struct kv **kv, const struct kv_options *o);
void pckv_print_stats(FILE *f, struct kv *kv);
char *pckv_exe_dir(void);
/* A fresh data directory "<dir or the build directory>/<name>", its old log removed. */
char *pckv_fresh_dir(const char *dir, const char *name);

int pckv_demo(struct kv_options *o, const char *dir, int argc, char **argv);
int pckv_bench(struct kv_options *o, const char *dir, int argc, char **argv);

#endif /* PCKV_PCKV_H */
