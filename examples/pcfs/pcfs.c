/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pcfs: a FUSE file system whose regular files are libpagecache mappings.
 *
 * Running it
 *	pcfs BACKING_DIR MOUNTPOINT [FUSE options] [-o pc_cache_mb=N] [-o pc_direct]
 *	... use MOUNTPOINT ...
 *	fusermount3 -u MOUNTPOINT
 * BACKING_DIR is an ordinary directory tree, and the mount shows it file for
 * file: after an unmount (or a pc_sync()) the backing files hold the data.
 * Usual FUSE options apply (-f: foreground, -s: single-threaded, -d: debug,
 * -o allow_other, ...).  pc_cache_mb sets the page cache budget (default
 * 256 MiB, shared by all open files); pc_direct opens the backing files with
 * O_DIRECT (PC_FILE_DIRECT), so data is cached once, by libpagecache, rather
 * than again in the host's page cache.  Every open runs with direct_io, so
 * each read and write reaches libpagecache and not the kernel's page cache
 * for the mount.  The FUSE loop is multi-threaded unless -s is given.
 * `fusermount3 -u` (or SIGINT/SIGTERM) ends the loop; the destroy callback
 * then pc_close()s every mapping still open, which writes everything back.
 *
 * Layout: one file backend per backing directory.
 *  The file backend stores objects as host files in one flat directory and
 *  names may not contain '/'.  pcfs keeps the tree as real directories and
 *  opens a file backend over the directory that holds a file, lazily, when
 *  the first file in that directory is opened (struct pcfs_dir).  A backend
 *  is keyed by its directory's (st_dev, st_ino), not by path, and its
 *  directory fd follows the directory, so renaming a directory (even one
 *  with open files inside) needs no work here.  The backend is deleted when
 *  its last open file closes, so a directory without open files has none,
 *  and rmdir never meets one.
 *
 * Open files: one pc_mapping per file (struct pcfs_node).
 *  The library allows one mapping per object, so every FUSE handle on one
 *  host inode shares one node, found by (st_dev, st_ino) in a hash.  The
 *  node counts opens; the last release pc_close()s the mapping.  getattr of
 *  an open file reports the size from pc_size() (the host file lags until
 *  writeback); st_blocks stays the host file's, so it lags too.  Hard
 *  links are not supported (link is not implemented), and the kernel
 *  refuses shared mmap(2) of direct_io files.
 *
 * Names of open files.  A mapping is bound to (backend, object name): the
 *  library and the file backend both track open objects by name.  So any
 *  operation that changes the host name of an open file (rename of it,
 *  rename over it, unlink of it) pc_close()s the mapping, renames the host
 *  file, and pc_open()s it again under the new (directory, name), holding
 *  the node's lock exclusive so that no I/O runs meanwhile.  This writes the
 *  file's dirty pages back, which is the price of a rename of an open file.
 *  If the reopen fails, the handles of that file answer -EIO from then on.
 *
 * Open-unlinked files.  Unlinking an open file (or renaming over one) moves
 *  its host file to the hidden directory BACKING_DIR/.pcfs-orphans (created
 *  on demand, never shown in the mount) under a unique name, and the open
 *  handles keep reading and writing it there.  The last release deletes it.
 *  Mount time clears orphans left by a crash; the last orphan's release,
 *  or unmount, removes the directory.  The name .pcfs-orphans is reserved
 *  at the top of the mount.
 *
 * HIDE: libfuse's high-level API gives most calls a path, and the kernel
 *  sends fstat(2), fchmod(2) and the like by inode, so an unlinked file
 *  must keep a path, or they fail.  libfuse provides one: instead of
 *  unlinking an open file (or letting a rename replace it) it renames it
 *  to ".fuse_hidden" + 16 hex digits in the same directory, and unlinks
 *  that name after the last release.  pcfs turns that rename into the
 *  orphaning above and remembers the name in node->hidden: calls on that
 *  path go to the orphan, the directory no longer lists it, and rmdir of
 *  the directory works at once.  Names of that exact form are therefore
 *  reserved as rename targets; elsewhere they are ordinary names.  One
 *  limit remains, libfuse's: once the directory an open file was unlinked
 *  from is removed too, libfuse has no path for it, and fstat(2) of it
 *  answers ESTALE (read, write, fsync and ftruncate still work).
 *
 * Invariants:
 *  1. A host file is open in a file backend if and only if a node exists
 *     for it, and then at (node->dir, node->name), with node->m the one
 *     mapping (or NULL after a failed reopen, which was logged).
 *  2. A node's dir holds a reference on its pcfs_dir; a pcfs_dir exists
 *     only while it has references (it and its backend are then deleted).
 *  3. A node found with @closing set is on its way out: callers that need
 *     the node (open, getattr, rename, unlink) wait for it to be gone and
 *     look again, so a name is never opened twice in one backend.
 *
 * Locking (outermost first):
 *	fs->ns_lock (mutex) -> node->lock (rwlock) -> the library's locks
 *  - ns_lock guards the namespace: the node hash, the dir list, node
 *    opens/closing/orphan, and every host operation that resolves or
 *    changes a name of a possibly open file (open, create, unlink, rename).
 *  - node->lock guards node->m, ->dir and ->name: read and write
 *    take it shared around pc_read()/pc_write() and friends; a rename or
 *    unlink of the file (holding ns_lock) or the final close (holding the
 *    node with @closing set, without ns_lock) takes it exclusive to swap
 *    the mapping.  Writers take it with ns_lock held or with @closing set,
 *    so a holder of ns_lock that finds a node not closing can take its
 *    lock without waiting for long (only I/O runs under it).  Two node
 *    locks are held together only by rename (RENAME_EXCHANGE), under
 *    ns_lock, so they cannot deadlock with each other.
 *  Data I/O never takes ns_lock.
 *
 * Errors are negative errnos, as FUSE wants: the library's own, or -errno
 * of the host call.  A writeback error at the last close is logged to
 * stderr (release has no caller to tell); fsync reports it (pc_sync()).
 */
#define FUSE_USE_VERSION 31

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <linux/falloc.h>

#include <pagecache.h>

#define ORPHANS		".pcfs-orphans"
#define HIDE_PREFIX	".fuse_hidden"
#define NODE_BUCKETS	256

/* A backing directory that holds at least one open file. */
struct pcfs_dir {
	struct pcfs_dir *next;	/* fs->dirs; ns_lock */
	dev_t dev;
	ino_t ino;
	int fd;			/* the directory, for *at() calls */
	struct pc_backend *b;	/* a file backend over it */
	unsigned refs;		/* nodes in it; ns_lock */
};

/* One open host file and its mapping. */
struct pcfs_node {
	/* Protected by ns_lock. */
	struct pcfs_node *hnext;
	unsigned opens;		/* FUSE handles + temporary users */
	bool closing;		/* the last user is closing it (invariant 3) */
	bool orphan;		/* unlinked: lives in ORPHANS */
	char *hidden;		/* libfuse's name for it, if it hid it (see HIDE) */
	/* Immutable. */
	dev_t dev;
	ino_t ino;
	/* Protected by @lock (written with ns_lock held too, or while closing). */
	pthread_rwlock_t lock;
	struct pc_mapping *m;	/* NULL after a failed reopen: -EIO */
	struct pcfs_dir *dir;
	char *name;		/* object name in dir's backend */
};

struct pcfs {
	char *root;		/* absolute path of BACKING_DIR */
	int rootfd;
	unsigned file_flags;	/* pc_backend_file_new() flags */
	struct pc_cache *cache;

	pthread_mutex_t ns_lock;
	pthread_cond_t closed;	/* a closing node is gone; with ns_lock */
	/* Protected by ns_lock. */
	struct pcfs_node *nodes[NODE_BUCKETS];
	struct pcfs_dir *dirs;
	uint64_t orphan_seq;
};

static struct pcfs *get_fs(void)
{
	return fuse_get_context()->private_data;
}

static struct pcfs_node *fh_node(const struct fuse_file_info *fi)
{
	return (struct pcfs_node *)(uintptr_t)fi->fh;
}

/* "/a/b" -> "a/b"; "/" -> ".". */
static const char *rel(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

/* Is @r (relative) the reserved orphan directory or inside it? */
static bool hidden(const char *r)
{
	size_t n = strlen(ORPHANS);

	return !strncmp(r, ORPHANS, n) && (r[n] == '\0' || r[n] == '/');
}

/* The last component of relative path @r. */
static const char *basename_of(const char *r)
{
	const char *slash = strrchr(r, '/');

	return slash ? slash + 1 : r;
}

/*
 * Is @base a name libfuse makes up to hide an open file that is unlinked
 * or renamed over: ".fuse_hidden" and 16 hex digits (see HIDE above)?
 */
static bool fuse_hide_name(const char *base)
{
	size_t n = strlen(HIDE_PREFIX);

	if (strncmp(base, HIDE_PREFIX, n) || strlen(base) != n + 16)
		return false;
	for (base += n; *base; base++)
		if (!strchr("0123456789abcdef", *base))
			return false;
	return true;
}

/*
 * Split relative path @r into its parent (a fresh string, "." at the top)
 * and a pointer to its last component inside @r.
 */
static int split(const char *r, char **parent, const char **base)
{
	const char *slash = strrchr(r, '/');

	*parent = slash ? strndup(r, (size_t)(slash - r)) : strdup(".");
	*base = slash ? slash + 1 : r;
	return *parent ? 0 : -ENOMEM;
}

/* ---- directories (ns_lock held) -------------------------------------- */

/* A reference on the pcfs_dir of backing directory @r, made on first use. */
static int __dir_get(struct pcfs *fs, const char *r, struct pcfs_dir **out)
{
	struct pcfs_dir *d;
	struct stat st;
	char *path;
	int fd, err;

	fd = openat(fs->rootfd, r, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	for (d = fs->dirs; d; d = d->next) {
		if (d->dev == st.st_dev && d->ino == st.st_ino) {
			close(fd);
			d->refs++;
			*out = d;
			return 0;
		}
	}
	d = calloc(1, sizeof(*d));
	if (asprintf(&path, "%s/%s", fs->root, r) < 0)
		path = NULL;
	if (!d || !path) {
		err = -ENOMEM;
		goto fail;
	}
	err = pc_backend_file_new(&d->b, path, fs->file_flags);
	if (err)
		goto fail;
	free(path);
	d->dev = st.st_dev;
	d->ino = st.st_ino;
	d->fd = fd;
	d->refs = 1;
	d->next = fs->dirs;
	fs->dirs = d;
	*out = d;
	return 0;
fail:
	free(path);
	free(d);
	close(fd);
	return err;
}

static void __dir_put(struct pcfs *fs, struct pcfs_dir *d)
{
	struct pcfs_dir **pp;

	if (--d->refs)
		return;
	for (pp = &fs->dirs; *pp != d; pp = &(*pp)->next)
		;
	*pp = d->next;
	pc_backend_delete(&d->b);	/* no open mappings: invariant 2 */
	close(d->fd);
	free(d);
}

/* ---- nodes ------------------------------------------------------------ */

static unsigned bucket(dev_t dev, ino_t ino)
{
	return (unsigned)((ino ^ (ino >> 17) ^ dev) % NODE_BUCKETS);
}

/* The live (not orphaned) node of host inode @st, or NULL.  ns_lock held. */
static struct pcfs_node *__node_find(struct pcfs *fs, const struct stat *st)
{
	struct pcfs_node *n;

	for (n = fs->nodes[bucket(st->st_dev, st->st_ino)]; n; n = n->hnext)
		if (n->dev == st->st_dev && n->ino == st->st_ino && !n->orphan)
			return n;
	return NULL;
}

/*
 * The orphan that libfuse knows by the hide name @base, or NULL, waiting
 * out a closing one.  ns_lock held; it is dropped while waiting.
 */
static struct pcfs_node *__hidden_find(struct pcfs *fs, const char *base)
{
	struct pcfs_node *n;
	unsigned i;

	if (!fuse_hide_name(base))
		return NULL;
again:
	for (i = 0; i < NODE_BUCKETS; i++) {
		for (n = fs->nodes[i]; n; n = n->hnext) {
			if (n->hidden && !strcmp(n->hidden, base)) {
				if (!n->closing)
					return n;
				pthread_cond_wait(&fs->closed, &fs->ns_lock);
				goto again;
			}
		}
	}
	return NULL;
}

/*
 * Stat relative path @r and find its node, waiting out a closing one
 * (invariant 3).  ns_lock held; it is dropped while waiting.
 */
static int __lookup(struct pcfs *fs, const char *r, struct stat *st, struct pcfs_node **np)
{
	struct pcfs_node *n;

	for (;;) {
		if (fstatat(fs->rootfd, r, st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		n = S_ISREG(st->st_mode) ? __node_find(fs, st) : NULL;
		if (!n || !n->closing)
			break;
		pthread_cond_wait(&fs->closed, &fs->ns_lock);
	}
	*np = n;
	return 0;
}

/*
 * Take a use of the regular file at @r: its node, opened (pc_open) if no
 * one has it open.  ns_lock held.  Balanced by node_release().
 */
static int __node_acquire(struct pcfs *fs, const char *r, struct pcfs_node **out)
{
	pthread_rwlockattr_t attr;
	struct pcfs_node *n;
	struct stat st;
	const char *base;
	char *parent;
	unsigned h;
	int err;

	n = __hidden_find(fs, basename_of(r));
	if (n) {
		n->opens++;	/* reopened through libfuse's hidden name */
		*out = n;
		return 0;
	}
	err = __lookup(fs, r, &st, &n);
	if (err)
		return err;
	if (!S_ISREG(st.st_mode))
		return S_ISDIR(st.st_mode) ? -EISDIR : -EOPNOTSUPP;
	if (n) {
		n->opens++;
		*out = n;
		return 0;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	err = split(r, &parent, &base);
	if (err)
		goto fail_free;
	n->name = strdup(base);
	err = n->name ? __dir_get(fs, parent, &n->dir) : -ENOMEM;
	free(parent);
	if (err)
		goto fail_free;
	err = pc_open(&n->m, fs->cache, n->dir->b, n->name, 0);
	if (err) {
		__dir_put(fs, n->dir);
		goto fail_free;
	}
	/* Writers (rename, close) must not starve behind a stream of reads. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&n->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	n->dev = st.st_dev;
	n->ino = st.st_ino;
	n->opens = 1;
	h = bucket(n->dev, n->ino);
	n->hnext = fs->nodes[h];
	fs->nodes[h] = n;
	*out = n;
	return 0;
fail_free:
	free(n->name);
	free(n);
	return err;
}

static void __node_unhash(struct pcfs *fs, struct pcfs_node *n)
{
	struct pcfs_node **pp = &fs->nodes[bucket(n->dev, n->ino)];

	while (*pp != n)
		pp = &(*pp)->hnext;
	*pp = n->hnext;
}

/* Close the mapping and free the node: its last use is over. */
static int node_close(struct pcfs *fs, struct pcfs_node *n)
{
	int err = 0;

	pthread_rwlock_wrlock(&n->lock);
	if (n->m)
		err = pc_close(&n->m);
	if (err)
		fprintf(stderr, "pcfs: writing back %s at close: %s\n", n->name,
			strerror(-err));
	if (n->orphan)
		(void)pc_backend_unlink(n->dir->b, n->name);
	pthread_rwlock_unlock(&n->lock);
	return err;
}

/* Drop a use of @n; the last one closes it.  ns_lock not held. */
static int node_release(struct pcfs *fs, struct pcfs_node *n)
{
	int err;

	pthread_mutex_lock(&fs->ns_lock);
	if (--n->opens) {
		pthread_mutex_unlock(&fs->ns_lock);
		return 0;
	}
	n->closing = true;
	pthread_mutex_unlock(&fs->ns_lock);

	/* Writeback may be long: do it without ns_lock (invariant 3 covers us). */
	err = node_close(fs, n);

	pthread_mutex_lock(&fs->ns_lock);
	__node_unhash(fs, n);
	__dir_put(fs, n->dir);
	if (n->orphan)	/* the last orphan takes the directory along */
		(void)unlinkat(fs->rootfd, ORPHANS, AT_REMOVEDIR);
	pthread_cond_broadcast(&fs->closed);
	pthread_mutex_unlock(&fs->ns_lock);
	pthread_rwlock_destroy(&n->lock);
	free(n->hidden);
	free(n->name);
	free(n);
	return err;
}

/*
 * Rebinding a node to a new host name, in two halves with its lock held
 * exclusive between them: __node_detach() writes back and closes the
 * mapping; the caller renames the host file; __node_attach() reopens it at
 * (@d, @name), taking over the caller's reference on @d and @name.
 * ns_lock held throughout.
 */
static void __node_detach(struct pcfs_node *n)
{
	int err;

	pthread_rwlock_wrlock(&n->lock);
	if (n->m) {
		err = pc_close(&n->m);
		if (err)
			fprintf(stderr, "pcfs: writing back %s before rename: %s\n", n->name,
				strerror(-err));
	}
}

static void __node_attach(struct pcfs *fs, struct pcfs_node *n, struct pcfs_dir *d,
			  char *name)
{
	int err;

	if (d != n->dir) {
		__dir_put(fs, n->dir);
		n->dir = d;
	} else {
		__dir_put(fs, d);	/* the caller's extra reference */
	}
	if (name != n->name) {
		free(n->name);
		n->name = name;
	}
	err = pc_open(&n->m, fs->cache, n->dir->b, n->name, 0);
	if (err)
		fprintf(stderr, "pcfs: reopening %s: %s\n", n->name, strerror(-err));
	pthread_rwlock_unlock(&n->lock);
}

/* A reference on the orphan directory, made if missing.  ns_lock held. */
static int __orphan_dir(struct pcfs *fs, struct pcfs_dir **out)
{
	if (mkdirat(fs->rootfd, ORPHANS, 0700) < 0 && errno != EEXIST)
		return -errno;
	return __dir_get(fs, ORPHANS, out);
}

/*
 * Move the open file @n to the orphan directory: its name in the tree is
 * gone, its handles keep working.  ns_lock held.
 */
static int __node_orphan(struct pcfs *fs, struct pcfs_node *n)
{
	struct pcfs_dir *od;
	char *oname;
	int err;

	err = __orphan_dir(fs, &od);
	if (err)
		return err;
	if (asprintf(&oname, "%ju.%" PRIu64, (uintmax_t)n->ino, ++fs->orphan_seq) < 0) {
		__dir_put(fs, od);
		return -ENOMEM;
	}
	__node_detach(n);
	if (renameat(n->dir->fd, n->name, od->fd, oname) < 0) {
		err = -errno;
		free(oname);
		__dir_put(fs, od);
		n->dir->refs++;		/* __node_attach() takes one over */
		__node_attach(fs, n, n->dir, n->name);
		return err;
	}
	n->orphan = true;
	__node_attach(fs, n, od, oname);
	return 0;
}

/* ---- FUSE operations: names ------------------------------------------ */

static void chown_to_caller(int dirfd, const char *r)
{
	struct fuse_context *ctx = fuse_get_context();

	/* Only root can give files away; as a user, files are simply ours. */
	if (geteuid() == 0)
		(void)fchownat(dirfd, r, ctx->uid, ctx->gid, AT_SYMLINK_NOFOLLOW);
}

/* stat(2) of an open file: the host file's, with the mapping's size. */
static int node_stat(struct pcfs_node *n, struct stat *st)
{
	uint64_t size;
	int err = 0;

	pthread_rwlock_rdlock(&n->lock);
	if (fstatat(n->dir->fd, n->name, st, AT_SYMLINK_NOFOLLOW) < 0)
		err = -errno;
	else if (n->m && pc_size(n->m, &size) == 0)
		st->st_size = (off_t)size;
	/* libfuse itself takes one link off the files it hid. */
	if (n->orphan && !n->hidden)
		st->st_nlink = 0;
	pthread_rwlock_unlock(&n->lock);
	return err;
}

static int pcfs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct pcfs *fs = get_fs();
	struct pcfs_node *n;
	const char *r;
	int err;

	if (fi && fi->fh)
		return node_stat(fh_node(fi), st);
	r = rel(path);
	if (hidden(r))
		return -ENOENT;
	pthread_mutex_lock(&fs->ns_lock);
	/* Found not closing, under ns_lock: only I/O can hold n->lock now. */
	n = __hidden_find(fs, basename_of(r));
	if (n) {
		err = node_stat(n, st);
	} else {
		err = __lookup(fs, r, st, &n);
		if (err == 0 && n)
			err = node_stat(n, st);
	}
	pthread_mutex_unlock(&fs->ns_lock);
	return err;
}

/*
 * Where a metadata call on path @r goes: (rootfd, r), or the host file of
 * the orphan libfuse calls @r.  Returns with ns_lock held, and the node's
 * lock shared if *np; resolve_done() drops them.
 */
static void resolve(struct pcfs *fs, const char *r, int *dfd, const char **name,
		    struct pcfs_node **np)
{
	struct pcfs_node *n;

	pthread_mutex_lock(&fs->ns_lock);
	n = __hidden_find(fs, basename_of(r));
	if (n) {
		pthread_rwlock_rdlock(&n->lock);
		*dfd = n->dir->fd;
		*name = n->name;
	} else {
		*dfd = fs->rootfd;
		*name = r;
	}
	*np = n;
}

static void resolve_done(struct pcfs *fs, struct pcfs_node *n)
{
	if (n)
		pthread_rwlock_unlock(&n->lock);
	pthread_mutex_unlock(&fs->ns_lock);
}

static int pcfs_mkdir(const char *path, mode_t mode)
{
	struct pcfs *fs = get_fs();
	const char *r = rel(path);

	if (hidden(r))
		return -EPERM;
	if (mkdirat(fs->rootfd, r, mode & 07777) < 0)
		return -errno;
	chown_to_caller(fs->rootfd, r);
	return 0;
}

static int pcfs_rmdir(const char *path)
{
	struct pcfs *fs = get_fs();
	const char *r = rel(path);

	if (hidden(r))
		return -ENOENT;
	/* A directory with open files is not empty, so it has no pcfs_dir. */
	return unlinkat(fs->rootfd, r, AT_REMOVEDIR) < 0 ? -errno : 0;
}

static int pcfs_symlink(const char *target, const char *path)
{
	struct pcfs *fs = get_fs();
	const char *r = rel(path);

	if (hidden(r))
		return -EPERM;
	if (symlinkat(target, fs->rootfd, r) < 0)
		return -errno;
	chown_to_caller(fs->rootfd, r);
	return 0;
}

static int pcfs_readlink(const char *path, char *buf, size_t size)
{
	struct pcfs *fs = get_fs();
	const char *r = rel(path);
	ssize_t len;

	if (hidden(r))
		return -ENOENT;
	if (size == 0)
		return -EINVAL;
	len = readlinkat(fs->rootfd, r, buf, size - 1);
	if (len < 0)
		return -errno;
	buf[len] = '\0';
	return 0;
}

static int pcfs_unlink(const char *path)
{
	struct pcfs *fs = get_fs();
	const char *r = rel(path);
	struct pcfs_node *n;
	struct stat st;
	int err;

	if (hidden(r))
		return -ENOENT;
	pthread_mutex_lock(&fs->ns_lock);
	if (__hidden_find(fs, basename_of(r))) {
		/* libfuse's unlink of a file it hid: it dies with its last handle. */
		pthread_mutex_unlock(&fs->ns_lock);
		return 0;
	}
	err = __lookup(fs, r, &st, &n);
	if (err == 0) {
		if (n)
			err = __node_orphan(fs, n);	/* open: its handles live on */
		else if (unlinkat(fs->rootfd, r, 0) < 0)
			err = -errno;
	}
	pthread_mutex_unlock(&fs->ns_lock);
	return err;
}

/*
 * rename(2), with RENAME_NOREPLACE and RENAME_EXCHANGE.  Open files whose
 * host name changes are detached, renamed, and reattached; an open file
 * that is replaced is orphaned first (and put back if the rename fails).
 */
static int pcfs_rename(const char *from, const char *to, unsigned int flags)
{
	struct pcfs *fs = get_fs();
	const char *rf = rel(from), *rt = rel(to), *bf, *bt;
	struct pcfs_dir *df = NULL, *dt = NULL;
	char *pf = NULL, *pt = NULL, *nf = NULL, *nt = NULL;
	struct pcfs_node *n1, *n2;
	bool exchange = flags & RENAME_EXCHANGE, orphaned = false;
	struct stat s, t;
	int err;

	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if (hidden(rf))
		return -ENOENT;
	if (hidden(rt))
		return -EPERM;
	err = split(rf, &pf, &bf);
	if (err == 0)
		err = split(rt, &pt, &bt);
	if (err)
		goto out_free;

	pthread_mutex_lock(&fs->ns_lock);
	if (flags == 0 && fuse_hide_name(bt) && !strcmp(pf, pt)) {
		/* libfuse hiding an open file: make it an orphan (HIDE). */
		nt = strdup(bt);
		if (!nt) {
			err = -ENOMEM;
			goto out;
		}
		err = __lookup(fs, rf, &s, &n1);
		if (err == 0 && n1) {
			err = __node_orphan(fs, n1);
			if (err == 0) {
				n1->hidden = nt;
				nt = NULL;
			}
		} else if (err == 0 && unlinkat(fs->rootfd, rf, 0) < 0) {
			err = -errno;	/* closed meanwhile: simply gone */
		}
		goto out;
	}
retry:
	err = __lookup(fs, rf, &s, &n1);
	if (err)
		goto out;
	n2 = NULL;
	if (fstatat(fs->rootfd, rt, &t, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISREG(t.st_mode) && (t.st_dev != s.st_dev || t.st_ino != s.st_ino)) {
			n2 = __node_find(fs, &t);
			if (n2 && n2->closing) {
				pthread_cond_wait(&fs->closed, &fs->ns_lock);
				goto retry;
			}
		}
	} else if (errno != ENOENT) {
		err = -errno;
		goto out;
	}
	if (!n1 && !n2) {
		if (renameat2(fs->rootfd, rf, fs->rootfd, rt, flags) < 0)
			err = -errno;
		goto out;
	}

	/* What can fail for want of resources comes before any change. */
	if (n1) {
		nt = strdup(bt);
		err = nt ? __dir_get(fs, pt, &dt) : -ENOMEM;
		if (err)
			goto out;
	}
	if (n2 && exchange) {
		nf = strdup(bf);
		err = nf ? __dir_get(fs, pf, &df) : -ENOMEM;
		if (err)
			goto out;
	}
	if (n2 && !exchange) {
		/* Replacing an open file: it becomes an orphan.  Refuse first
		 * what rename(2) would refuse, so that we rarely undo. */
		if (flags & RENAME_NOREPLACE) {
			err = -EEXIST;
			goto out;
		}
		if (S_ISDIR(s.st_mode)) {
			err = -ENOTDIR;
			goto out;
		}
		if (!dt) {
			err = __dir_get(fs, pt, &dt);	/* to put it back, if need be */
			if (err)
				goto out;
		}
		err = __node_orphan(fs, n2);
		if (err)
			goto out;
		orphaned = true;
	}

	if (n1)
		__node_detach(n1);
	if (n2 && exchange)
		__node_detach(n2);
	err = renameat2(fs->rootfd, rf, fs->rootfd, rt, flags) < 0 ? -errno : 0;
	if (n1) {
		if (err == 0) {
			__node_attach(fs, n1, dt, nt);
			dt = NULL;
			nt = NULL;
		} else {
			n1->dir->refs++;
			__node_attach(fs, n1, n1->dir, n1->name);
		}
	}
	if (n2 && exchange) {
		if (err == 0) {
			__node_attach(fs, n2, df, nf);
			df = NULL;
			nf = NULL;
		} else {
			n2->dir->refs++;
			__node_attach(fs, n2, n2->dir, n2->name);
		}
	}
	if (err && orphaned) {
		/* Undo the orphaning: the replaced file keeps its name. */
		if (!nt)
			nt = strdup(bt);
		__node_detach(n2);
		if (nt && renameat(n2->dir->fd, n2->name, dt->fd, nt) == 0) {
			n2->orphan = false;
			__node_attach(fs, n2, dt, nt);
			dt = NULL;
			nt = NULL;
		} else {
			fprintf(stderr, "pcfs: %s stays unlinked after a failed rename\n", rt);
			n2->dir->refs++;
			__node_attach(fs, n2, n2->dir, n2->name);
		}
	}
out:
	if (dt)
		__dir_put(fs, dt);
	if (df)
		__dir_put(fs, df);
	pthread_mutex_unlock(&fs->ns_lock);
out_free:
	free(nt);
	free(nf);
	free(pf);
	free(pt);
	return err;
}

static int pcfs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct pcfs *fs = get_fs();
	struct pcfs_node *n;
	const char *name;
	int dfd, err = 0;

	if (fi && fi->fh) {
		n = fh_node(fi);
		pthread_rwlock_rdlock(&n->lock);
		if (fchmodat(n->dir->fd, n->name, mode & 07777, 0) < 0)
			err = -errno;
		pthread_rwlock_unlock(&n->lock);
		return err;
	}
	if (hidden(rel(path)))
		return -ENOENT;
	resolve(fs, rel(path), &dfd, &name, &n);
	if (fchmodat(dfd, name, mode & 07777, 0) < 0)
		err = -errno;
	resolve_done(fs, n);
	return err;
}

static int pcfs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	struct pcfs *fs = get_fs();
	struct pcfs_node *n;
	const char *name;
	int dfd, err = 0;

	if (fi && fi->fh) {
		n = fh_node(fi);
		pthread_rwlock_rdlock(&n->lock);
		if (fchownat(n->dir->fd, n->name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			err = -errno;
		pthread_rwlock_unlock(&n->lock);
		return err;
	}
	if (hidden(rel(path)))
		return -ENOENT;
	resolve(fs, rel(path), &dfd, &name, &n);
	if (fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		err = -errno;
	resolve_done(fs, n);
	return err;
}

static int pcfs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	struct pcfs *fs = get_fs();
	struct pcfs_node *n;
	const char *name;
	int dfd, err = 0;

	if (fi && fi->fh) {
		n = fh_node(fi);
		pthread_rwlock_rdlock(&n->lock);
		if (utimensat(n->dir->fd, n->name, tv, AT_SYMLINK_NOFOLLOW) < 0)
			err = -errno;
		pthread_rwlock_unlock(&n->lock);
		return err;
	}
	if (hidden(rel(path)))
		return -ENOENT;
	resolve(fs, rel(path), &dfd, &name, &n);
	if (utimensat(dfd, name, tv, AT_SYMLINK_NOFOLLOW) < 0)
		err = -errno;
	resolve_done(fs, n);
	return err;
}

static int pcfs_statfs(const char *path, struct statvfs *sv)
{
	return fstatvfs(get_fs()->rootfd, sv) < 0 ? -errno : 0;
}

/* ---- FUSE operations: open files ------------------------------------- */

/* Run @what on the node's mapping, under its lock shared. */
#define WITH_MAPPING(n, r, what)				\
	do {							\
		pthread_rwlock_rdlock(&(n)->lock);		\
		if ((n)->m) {					\
			struct pc_mapping *m_ = (n)->m;		\
			(r) = (what);				\
		} else {					\
			(r) = -EIO;				\
		}						\
		pthread_rwlock_unlock(&(n)->lock);		\
	} while (0)

static int finish_open(struct pcfs *fs, struct pcfs_node *n, struct fuse_file_info *fi, bool trunc)
{
	int err = 0;

	if (trunc) {
		WITH_MAPPING(n, err, pc_truncate(m_, 0));
		if (err) {
			node_release(fs, n);
			return err;
		}
	}
	fi->fh = (uintptr_t)n;
	fi->direct_io = 1;	/* every read and write comes to us */
	fi->keep_cache = 0;
	return 0;
}

static int pcfs_open(const char *path, struct fuse_file_info *fi)
{
	struct pcfs *fs = get_fs();
	const char *r = rel(path);
	struct pcfs_node *n;
	int err;

	if (hidden(r))
		return -ENOENT;
	pthread_mutex_lock(&fs->ns_lock);
	err = __node_acquire(fs, r, &n);
	pthread_mutex_unlock(&fs->ns_lock);
	if (err)
		return err;
	return finish_open(fs, n, fi, fi->flags & O_TRUNC);
}

static int pcfs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct pcfs *fs = get_fs();
	const char *r = rel(path);
	struct pcfs_node *n;
	bool created;
	int fd, err;

	if (hidden(r))
		return -EPERM;
	pthread_mutex_lock(&fs->ns_lock);
	fd = openat(fs->rootfd, r, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	created = fd >= 0;
	if (!created && (errno != EEXIST || (fi->flags & O_EXCL))) {
		err = -errno;
		pthread_mutex_unlock(&fs->ns_lock);
		return err;
	}
	if (created) {
		(void)fchmod(fd, mode & 07777);
		close(fd);
		chown_to_caller(fs->rootfd, r);
	}
	err = __node_acquire(fs, r, &n);
	if (err && created)
		(void)unlinkat(fs->rootfd, r, 0);	/* leave nothing half-made */
	pthread_mutex_unlock(&fs->ns_lock);
	if (err)
		return err;
	return finish_open(fs, n, fi, !created && (fi->flags & O_TRUNC));
}

static int pcfs_read(const char *path, char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct pcfs_node *n = fh_node(fi);
	ssize_t r;

	if (off < 0)
		return -EINVAL;
	WITH_MAPPING(n, r, pc_read(m_, buf, size, (uint64_t)off, 0));
	return (int)r;
}

static int pcfs_write(const char *path, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct pcfs_node *n = fh_node(fi);
	ssize_t r;

	if (off < 0)
		return -EINVAL;
	WITH_MAPPING(n, r, pc_write(m_, buf, size, (uint64_t)off, 0));
	return (int)r;
}

static int pcfs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct pcfs *fs = get_fs();
	struct pcfs_node *n;
	const char *r;
	int err;

	if (size < 0)
		return -EINVAL;
	if (fi && fi->fh) {
		n = fh_node(fi);
		WITH_MAPPING(n, err, pc_truncate(m_, (uint64_t)size));
		return err;
	}
	/* truncate(2) of a path: open it for the call (shares a mapping if open). */
	r = rel(path);
	if (hidden(r))
		return -ENOENT;
	pthread_mutex_lock(&fs->ns_lock);
	err = __node_acquire(fs, r, &n);
	pthread_mutex_unlock(&fs->ns_lock);
	if (err)
		return err;
	WITH_MAPPING(n, err, pc_truncate(m_, (uint64_t)size));
	node_release(fs, n);
	return err;
}

/*
 * Reserve host blocks for [off, off + len) of @n, without changing the host
 * file's size (the file backend owns that) or its contents (unwritten
 * blocks read as zeros, as the hole did), so the mapping stays coherent.
 * n->lock held shared.
 */
static int reserve_blocks(struct pcfs_node *n, uint64_t off, uint64_t len)
{
	int fd, err = 0;

	fd = openat(n->dir->fd, n->name, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0)
		err = -errno;
	close(fd);
	return err;
}

/*
 * fallocate(2): PUNCH_HOLE (with KEEP_SIZE) -> pc_punch(); ZERO_RANGE ->
 * pc_zero_range(), which grows the size unless KEEP_SIZE; mode 0 grows the
 * size with pc_truncate() and reserves the host blocks.  The library takes
 * ranges past EOF literally, so KEEP_SIZE calls are clipped at the size.
 */
static int pcfs_fallocate(const char *path, int mode, off_t off, off_t len,
			  struct fuse_file_info *fi)
{
	struct pcfs_node *n;
	uint64_t size, o = (uint64_t)off, l = (uint64_t)len;
	int err;

	if (!fi || !fi->fh)
		return -EBADF;
	if (off < 0 || len <= 0)
		return -EINVAL;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
		return -EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE) &&
	    ((mode & FALLOC_FL_ZERO_RANGE) || !(mode & FALLOC_FL_KEEP_SIZE)))
		return -EINVAL;
	n = fh_node(fi);
	pthread_rwlock_rdlock(&n->lock);
	if (!n->m) {
		err = -EIO;
		goto out;
	}
	err = pc_size(n->m, &size);
	if (err)
		goto out;
	if (mode & FALLOC_FL_KEEP_SIZE) {
		if (o >= size)
			goto out;	/* nothing inside the file */
		if (l > size - o)
			l = size - o;
	}
	if (mode & FALLOC_FL_PUNCH_HOLE)
		err = pc_punch(n->m, o, l);
	else if (mode & FALLOC_FL_ZERO_RANGE)
		err = pc_zero_range(n->m, o, l);
	else {
		if (o + l > size)
			err = pc_truncate(n->m, o + l);
		if (err == 0)
			err = reserve_blocks(n, o, l);
	}
out:
	pthread_rwlock_unlock(&n->lock);
	return err;
}

static int pcfs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct pcfs_node *n = fh_node(fi);
	int err;

	WITH_MAPPING(n, err, pc_sync(m_, 0, 0));
	return err;
}

static int pcfs_flush(const char *path, struct fuse_file_info *fi)
{
	/*
	 * close(2): nothing to do.  Writes are in the shared page cache and
	 * other handles see them; fsync makes them durable, release of the
	 * last handle writes them back.
	 */
	return 0;
}

static int pcfs_release(const char *path, struct fuse_file_info *fi)
{
	return node_release(get_fs(), fh_node(fi));
}

/* ---- FUSE operations: directories ------------------------------------ */

static int pcfs_opendir(const char *path, struct fuse_file_info *fi)
{
	struct pcfs *fs = get_fs();
	const char *r = rel(path);
	DIR *d;
	int fd;

	if (hidden(r))
		return -ENOENT;
	fd = openat(fs->rootfd, r, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	fi->fh = (uintptr_t)d;
	return 0;
}

static int pcfs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
			struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	DIR *d = (DIR *)(uintptr_t)fi->fh;
	bool top = path && !strcmp(rel(path), ".");
	struct dirent *de;
	struct stat st;

	/* Offsets are not used: the whole directory goes in one call. */
	rewinddir(d);
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de)
			return errno ? -errno : 0;
		if (top && !strcmp(de->d_name, ORPHANS))
			continue;
		memset(&st, 0, sizeof(st));
		st.st_ino = de->d_ino;
		st.st_mode = DTTOIF(de->d_type);
		if (filler(buf, de->d_name, &st, 0, 0))
			return 0;
	}
}

static int pcfs_releasedir(const char *path, struct fuse_file_info *fi)
{
	closedir((DIR *)(uintptr_t)fi->fh);
	return 0;
}

static int pcfs_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
	DIR *d = (DIR *)(uintptr_t)fi->fh;

	return fsync(dirfd(d)) < 0 ? -errno : 0;
}

/* ---- mount and unmount ------------------------------------------------ */

static void *pcfs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	cfg->use_ino = 1;
	cfg->nullpath_ok = 1;		/* fh-based ops of unlinked files */
	cfg->hard_remove = 0;		/* libfuse hides open files; we orphan them (HIDE) */
	cfg->direct_io = 1;
	cfg->kernel_cache = 0;
	/* Sizes of open files change in the cache; ask us each time. */
	cfg->attr_timeout = 0;
	cfg->entry_timeout = 0;
	cfg->negative_timeout = 0;
	return fuse_get_context()->private_data;
}

/* The loop is over and no request runs: write back and close everything. */
static void pcfs_destroy(void *priv)
{
	struct pcfs *fs = priv;
	struct pcfs_node *n;
	unsigned i;

	pthread_mutex_lock(&fs->ns_lock);
	for (i = 0; i < NODE_BUCKETS; i++) {
		while ((n = fs->nodes[i])) {
			fs->nodes[i] = n->hnext;
			node_close(fs, n);
			__dir_put(fs, n->dir);
			pthread_rwlock_destroy(&n->lock);
			free(n->hidden);
			free(n->name);
			free(n);
		}
	}
	pthread_mutex_unlock(&fs->ns_lock);
	(void)unlinkat(fs->rootfd, ORPHANS, AT_REMOVEDIR);	/* if empty */
}

static const struct fuse_operations pcfs_ops = {
	.getattr = pcfs_getattr,
	.readlink = pcfs_readlink,
	.mkdir = pcfs_mkdir,
	.unlink = pcfs_unlink,
	.rmdir = pcfs_rmdir,
	.symlink = pcfs_symlink,
	.rename = pcfs_rename,
	.chmod = pcfs_chmod,
	.chown = pcfs_chown,
	.truncate = pcfs_truncate,
	.open = pcfs_open,
	.read = pcfs_read,
	.write = pcfs_write,
	.statfs = pcfs_statfs,
	.flush = pcfs_flush,
	.release = pcfs_release,
	.fsync = pcfs_fsync,
	.opendir = pcfs_opendir,
	.readdir = pcfs_readdir,
	.releasedir = pcfs_releasedir,
	.fsyncdir = pcfs_fsyncdir,
	.init = pcfs_init,
	.destroy = pcfs_destroy,
	.create = pcfs_create,
	.utimens = pcfs_utimens,
	.fallocate = pcfs_fallocate,
};

/* Remove orphans a crash left behind: no handle can refer to them now. */
static void clear_orphans(int rootfd)
{
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(rootfd, ORPHANS, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			(void)unlinkat(fd, de->d_name, 0);
	closedir(d);
	(void)unlinkat(rootfd, ORPHANS, AT_REMOVEDIR);
}

struct pcfs_opts {
	unsigned long cache_mb;
	int direct;
	int help;
};

static const struct fuse_opt pcfs_opt_spec[] = {
	{ "pc_cache_mb=%lu", offsetof(struct pcfs_opts, cache_mb), 0 },
	{ "pc_direct", offsetof(struct pcfs_opts, direct), 1 },
	{ "-h", offsetof(struct pcfs_opts, help), 1 },
	{ "--help", offsetof(struct pcfs_opts, help), 1 },
	FUSE_OPT_END
};

static void usage(const char *prog)
{
	printf("usage: %s BACKING_DIR MOUNTPOINT [options]\n"
	       "Regular files of BACKING_DIR, served through libpagecache.\n"
	       "  -o pc_cache_mb=N   page cache budget in MiB (default %llu)\n"
	       "  -o pc_direct       open backing files with O_DIRECT\n"
	       "Unmount with: fusermount3 -u MOUNTPOINT\n\n",
	       prog, PC_CACHE_DEFAULT_CAPACITY >> 20);
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct pcfs_opts opts = { 0 };
	struct pcfs fs = { .rootfd = -1 };
	int i, r, err;

	if (argc < 3 || argv[1][0] == '-') {
		usage(argv[0]);
		if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
			/* FUSE's own options, too. */
			char *hargv[] = { argv[0], "--help", NULL };

			return fuse_main(2, hargv, &pcfs_ops, NULL);
		}
		return 2;
	}
	/* argv without BACKING_DIR, for FUSE; our -o options are taken out. */
	if (fuse_opt_add_arg(&args, argv[0]) ||
	    fuse_opt_add_arg(&args, "-omax_idle_threads=16"))	/* 3.14 warns about its default */
		return 1;
	for (i = 2; i < argc; i++)
		if (fuse_opt_add_arg(&args, argv[i]))
			return 1;
	if (fuse_opt_parse(&args, &opts, pcfs_opt_spec, NULL) < 0)
		return 2;
	if (opts.help) {
		usage(argv[0]);
		fuse_opt_add_arg(&args, "--help");
		r = fuse_main(args.argc, args.argv, &pcfs_ops, NULL);
		fuse_opt_free_args(&args);
		return r;
	}
	if (fuse_opt_add_arg(&args, "-osubtype=pcfs"))
		return 1;

	fs.root = realpath(argv[1], NULL);
	if (!fs.root) {
		fprintf(stderr, "pcfs: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	fs.rootfd = open(fs.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs.rootfd < 0) {
		fprintf(stderr, "pcfs: %s: %s\n", fs.root, strerror(errno));
		return 1;
	}
	clear_orphans(fs.rootfd);
	fs.file_flags = opts.direct ? PC_FILE_DIRECT : 0;
	/* The cache starts no thread until the first pc_open(), after FUSE forks. */
	err = pc_cache_new(&fs.cache, (uint64_t)opts.cache_mb << 20);
	if (err) {
		fprintf(stderr, "pcfs: cache of %lu MiB: %s\n", opts.cache_mb, strerror(-err));
		return 1;
	}
	pthread_mutex_init(&fs.ns_lock, NULL);
	pthread_cond_init(&fs.closed, NULL);
	/* Modes come from the kernel with the caller's umask applied already. */
	umask(0);

	r = fuse_main(args.argc, args.argv, &pcfs_ops, &fs);

	pc_cache_delete(&fs.cache);
	pthread_cond_destroy(&fs.closed);
	pthread_mutex_destroy(&fs.ns_lock);
	close(fs.rootfd);
	free(fs.root);
	fuse_opt_free_args(&args);
	return r;
}
