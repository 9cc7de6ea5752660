/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * struct pc_backend: the library's side of an extent backend: the ops table
 * and private data, and the set of objects open through it, so that one
 * object has at most one mapping (two would hold incoherent caches).
 */
#ifndef PC_BACKEND_INT_H
#define PC_BACKEND_INT_H

#include <pthread.h>

#include <pagecache/backend.h>

struct pc_mapping;

struct pc_backend {
	struct pc_backend_ops ops;	/* copy, zero-filled past the backend's size */
	void *priv;
	pthread_mutex_t lock;		/* guards @open; taken by pc_open/pc_close only */
	struct pc_mapping *open;	/* mappings open on this backend */
};

/*
 * Object names, the same for every backend: 1 to PC_NAME_MAX bytes, no '/',
 * not "." or "..".  pc_open() and pc_backend_unlink() check them, so the
 * open and unlink ops only ever see valid names.  0 or -EINVAL.
 */
#define PC_NAME_MAX 255
int pc_backend_check_name(const char *name);

/* Register @m under @name; -EBUSY if an object of that name is open. */
int pc_backend_attach(struct pc_backend *b, struct pc_mapping *m, unsigned flags);
void pc_backend_detach(struct pc_backend *b, struct pc_mapping *m);

#endif /* PC_BACKEND_INT_H */
