/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Backend handles: wrapping an ops table, and the set of open objects.
 *
 * The ops table a backend passes in may be older (smaller) than the one this
 * library knows; it is copied into a zeroed struct of the current size, so
 * ops the backend does not have read as NULL.
 *
 * @lock guards the list of open mappings and is held across the backend's
 * open and close ops, so that two pc_open() calls of one name cannot both
 * succeed.  It is taken by pc_open(), pc_close() and pc_backend_unlink()
 * only, never under another library lock.
 *
 * Object names are checked here, once, for every backend
 * (pc_backend_check_name(), called by pc_open() and pc_backend_unlink()),
 * so that a backend can use a name as a host file name as it is.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "mapping.h"

/* The smallest table of version 1: up to and including destroy. */
#define PC_BACKEND_OPS_V1_SIZE \
	(offsetof(struct pc_backend_ops, destroy) + sizeof(((struct pc_backend_ops *)0)->destroy))

PC_API int pc_backend_new(struct pc_backend **out, const struct pc_backend_ops *ops, void *priv)
{
	struct pc_backend_ops o = { 0 };
	struct pc_backend *b;

	/* Version 1 ends, at the least, with destroy; read nothing past @size. */
	if (!out || !ops || ops->version != PC_BACKEND_OPS_VERSION ||
	    ops->size < PC_BACKEND_OPS_V1_SIZE)
		return -EINVAL;
	memcpy(&o, ops, PC_MIN((size_t)ops->size, sizeof(o)));
	if (!o.open || !o.close || !o.unlink || !o.get_size || !o.set_size || !o.map ||
	    !o.alloc || !o.free || !o.read || !o.write || !o.destroy)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ops = o;
	b->priv = priv;
	pthread_mutex_init(&b->lock, NULL);
	*out = b;
	return 0;
}

PC_API void pc_backend_delete(struct pc_backend **bp)
{
	struct pc_backend *b;

	if (!bp || !*bp)
		return;
	b = *bp;
	/* Deleting a backend with open mappings is a caller bug (pagecache.h). */
	if (b->open)
		abort();
	b->ops.destroy(b->priv);
	pthread_mutex_destroy(&b->lock);
	free(b);
	*bp = NULL;
}

int pc_backend_check_name(const char *name)
{
	size_t len;

	if (!name)
		return -EINVAL;
	len = strnlen(name, PC_NAME_MAX + 1);
	if (len == 0 || len > PC_NAME_MAX || memchr(name, '/', len))
		return -EINVAL;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	return 0;
}

static struct pc_mapping *__pc_backend_find(struct pc_backend *b, const char *name)
{
	for (struct pc_mapping *m = b->open; m; m = m->next_open)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

int pc_backend_attach(struct pc_backend *b, struct pc_mapping *m, unsigned flags)
{
	int r = -EBUSY;

	pthread_mutex_lock(&b->lock);
	if (!__pc_backend_find(b, m->name)) {
		r = b->ops.open(b->priv, m->name, flags, &m->obj);
		if (r == 0) {
			m->next_open = b->open;
			b->open = m;
		}
	}
	pthread_mutex_unlock(&b->lock);
	return r;
}

void pc_backend_detach(struct pc_backend *b, struct pc_mapping *m)
{
	pthread_mutex_lock(&b->lock);
	for (struct pc_mapping **pp = &b->open; *pp; pp = &(*pp)->next_open) {
		if (*pp == m) {
			*pp = m->next_open;
			break;
		}
	}
	b->ops.close(b->priv, m->obj);
	pthread_mutex_unlock(&b->lock);
}

PC_API int pc_backend_unlink(struct pc_backend *b, const char *name)
{
	int r = -EBUSY;

	if (!b || pc_backend_check_name(name))
		return -EINVAL;
	pthread_mutex_lock(&b->lock);
	if (!__pc_backend_find(b, name))
		r = b->ops.unlink(b->priv, name);
	pthread_mutex_unlock(&b->lock);
	return r;
}
