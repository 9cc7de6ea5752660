/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pckv serve: a Redis-protocol (RESP2) server over the store, on 127.0.0.1.
 *
 * Threads.  One acceptor (the thread that called pckv_serve) and T worker
 * threads, each with its own epoll set.  The acceptor waits on the
 * listening socket and on a self-pipe that a SIGINT/SIGTERM handler writes
 * (a handler, not a signalfd: the store's own threads, started before us,
 * do not block the signals, so the kernel may deliver them there); it hands each new
 * connection to the next worker in turn, and from then on that worker
 * alone reads, parses, executes and answers the connection, so a
 * connection's buffers need no lock.  Why epoll workers rather than a
 * thread per connection: a thread per connection with a bounded pool would
 * either refuse the 17th client of a 16-thread pool or queue it behind
 * others, while an epoll worker serves any number of connections with a
 * fixed number of threads, and a pipelined batch (redis-benchmark -P) is
 * read with one read() and answered with one write().  T defaults to the
 * online CPUs: store calls are short and thread-safe, so more workers than
 * CPUs only help while some block in a sync (--sync always).
 *
 * A connection's life: the acceptor creates it, links it on its worker's
 * list (under worker->lock) and adds it to the worker's epoll set; the
 * worker unlinks and frees it when the peer closes, on a protocol error
 * (after the error reply is sent), or at shutdown.
 *
 * Requests.  Bytes are read into the connection's input buffer, whose start
 * is always the start of an unparsed request; resp_parse() (resp.c) takes
 * complete requests off it, each is executed at once and its reply
 * appended to the output buffer.  Replies leave in request order, so
 * pipelining needs nothing more.  The output is written when the input
 * runs dry; if the socket cannot take it all, the connection waits for
 * EPOLLOUT and reads nothing more until the output has drained, and
 * parsing also pauses once OUT_HIGH bytes of replies are pending: a client
 * that sends without reading is held back by TCP, never by our memory.
 * Memory per connection is bounded by the parser's limits (a request of at
 * most max_request bytes plus one read) and by OUT_HIGH plus one reply.
 *
 * Durability.  A reply is appended only after the store call returned.
 * A SET's +OK under `pckv --sync always serve` means the value is on
 * stable storage: pckv.c then opens the store with sync none and turns
 * group commit (below) on, which gives exactly that guarantee without one
 * sync per write (a store opened with KV_SYNC_ALWAYS, as an embedder may
 * pass, also works: each put and del then pays its own sync).  With --sync
 * none a write is durable once a later SAVE (kv_sync) has answered +OK, or
 * after a clean shutdown.
 *
 * Group commit (serve --group-commit, meant for a store opened with --sync
 * none) gives --sync always's guarantee for one sync per batch instead of
 * one per write: a worker executes the requests of every connection that
 * one epoll_wait() reported ready, holding back the replies of any
 * connection while a write it executed is not yet synced (such connections
 * wait on worker->pending, and their further input waits too), then calls
 * kv_sync() once, which makes every write that returned before it durable,
 * and only then sends the held-back replies.  If the sync fails, those
 * connections are closed without their replies: nothing unsynced is ever
 * acknowledged.  Reads are not held back: a GET may see a value that
 * another connection wrote and that is not durable yet (Redis with
 * appendfsync always behaves the same).
 *
 * Shutdown.  On SIGINT or SIGTERM the acceptor closes the listening socket
 * and tells each worker through its eventfd.  A worker finishes the command
 * it is running (it looks at the flag only between events), then for each
 * connection reads what the client already sent, executes the complete
 * requests, sends the replies (waiting at most FLUSH_MS in all) and
 * closes it.  The acceptor joins the workers and kv_sync()s.
 *
 * Lock order: worker->lock is a leaf; no store call is made under it.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <pagecache.h>

#include "kv.h"
#include "resp.h"
#include "server.h"

#define READ_CHUNK	(16u << 10)	/* free space wanted before each read */
#define OUT_HIGH	(256u << 10)	/* pending reply bytes that pause parsing */
#define FLUSH_MS	2000		/* for a worker's replies, at shutdown */
#define MAX_THREADS	256

struct server;

struct conn {
	struct conn *prev, *next;	/* protected by worker->lock */
	struct worker *w;
	int fd;
	bool closing;		/* protocol error or QUIT: close once output is sent */
	bool want_out;		/* waiting for EPOLLOUT (input paused) */
	bool held;		/* on worker->pending: replies wait for a sync */
	struct conn *pnext;	/* worker->pending link */
	char *in;		/* unparsed input, starting at a request */
	size_t in_len, in_cap;
	struct resp_parser parser;
	struct resp_out out;
	size_t out_off;		/* bytes of out already sent */
};

struct worker {
	struct server *srv;
	pthread_t tid;
	int epfd;
	int evfd;		/* the acceptor's stop signal */
	atomic_bool stop;
	atomic_ullong commands;	/* for INFO; relaxed */
	pthread_mutex_t lock;	/* guards conns (a leaf lock) */
	struct conn *conns;	/* protected by lock */
	/* Group commit; the worker's own: */
	bool unsynced;		/* a write ran since the last kv_sync() */
	struct conn *pending;	/* connections whose replies wait for it */
};

struct server {
	struct kv *kv;
	int port;
	unsigned nthreads;
	unsigned maxclients;
	bool group_commit;
	int lfd;
	struct worker *workers;
	struct resp_limits lim;
	time_t started;
	atomic_uint clients;
	atomic_ullong connections;	/* accepted, in total */
	atomic_ullong rejected;		/* refused over maxclients */
	atomic_ullong group_syncs;	/* kv_sync() calls of group commit */
};

/* ---- command table ---- */

struct cmd {
	const char *name;
	int arity;		/* argc including the name; -N: at least N */
	const char *flags;	/* for COMMAND: space-separated */
	int first_key, last_key, step;
	void (*fn)(struct conn *c, size_t argc, const struct resp_arg *argv);
};

static const struct cmd commands[];
static const size_t ncommands;

static bool arg_is(const struct resp_arg *a, const char *s)
{
	size_t n = strlen(s);
	return a->len == n && strncasecmp(a->ptr, s, n) == 0;
}

static void reply_errno(struct conn *c, int e)
{
	if (e == -E2BIG)
		resp_out_error(&c->out, "ERR key or value too large for pckv (keys up to %u bytes)",
			       KV_MAX_KEY);
	else
		resp_out_error(&c->out, "ERR store: %s", strerror(-e));
}

static void cmd_ping(struct conn *c, size_t argc, const struct resp_arg *argv)
{
	if (argc == 1)
		resp_out_simple(&c->out, "PONG");
	else
		resp_out_bulk(&c->out, argv[1].ptr, argv[1].len);
}

static void cmd_echo(struct conn *c, size_t argc, const struct resp_arg *argv)
{
	resp_out_bulk(&c->out, argv[1].ptr, argv[1].len);
}

static void cmd_quit(struct conn *c, size_t argc, const struct resp_arg *argv)
{
	resp_out_simple(&c->out, "OK");
	c->closing = true;
}

static void cmd_select(struct conn *c, size_t argc, const struct resp_arg *argv)
{
	if (arg_is(&argv[1], "0"))
		resp_out_simple(&c->out, "OK");
	else
		resp_out_error(&c->out, "ERR DB index is out of range (pckv has only db 0)");
}

/* The value goes from the pinned page straight into the reply buffer. */
static int get_cb(void *arg, const void *val, size_t vlen)
{
	resp_out_bulk(arg, val, vlen);
	return 0;
}

static void cmd_get(struct conn *c, size_t argc, const struct resp_arg *argv)
{
	int e = kv_get(c->w->srv->kv, argv[1].ptr, argv[1].len, get_cb, &c->out);
	if (e == -ENOENT)
		resp_out_null(&c->out);
	else if (e < 0)
		reply_errno(c, e);
}

static void cmd_set(struct conn *c, size_t argc, const struct resp_arg *argv)
{
	if (argc > 3) {
		resp_out_error(&c->out, "ERR SET option '%.*s' is not supported by pckv "
			       "(only SET key value)", (int)(argv[3].len > 32 ? 32 : argv[3].len),
			       argv[3].ptr);
		return;
	}
	int e = kv_put(c->w->srv->kv, argv[1].ptr, argv[1].len, argv[2].ptr, argv[2].len);
	c->w->unsynced = true;
	if (e < 0)
		reply_errno(c, e);
	else
		resp_out_simple(&c->out, "OK");
}

static void cmd_del(struct conn *c, size_t argc, const struct resp_arg *argv)
{
	long long n = 0;
	for (size_t i = 1; i < argc; i++) {
		int e = kv_del(c->w->srv->kv, argv[i].ptr, argv[i].len);
		c->w->unsynced = true;
		if (e == 0) {
			n++;
		} else if (e != -ENOENT) {
			reply_errno(c, e);
			return;
		}
	}
	resp_out_int(&c->out, n);
}

static void cmd_exists(struct conn *c, size_t argc, const struct resp_arg *argv)
{
	long long n = 0;
	for (size_t i = 1; i < argc; i++) {
		int e = kv_exists(c->w->srv->kv, argv[i].ptr, argv[i].len);
		if (e < 0) {
			reply_errno(c, e);
			return;
		}
		n += e;
	}
	resp_out_int(&c->out, n);
}

static void cmd_dbsize(struct conn *c, size_t argc, const struct resp_arg *argv)
{
	resp_out_int(&c->out, (long long)kv_count(c->w->srv->kv));
}

static void cmd_flushdb(struct conn *c, size_t argc, const struct resp_arg *argv)
{
	if (argc == 2 && !arg_is(&argv[1], "SYNC") && !arg_is(&argv[1], "ASYNC")) {
		resp_out_error(&c->out, "ERR syntax error");
		return;
	}
	int e = kv_flushdb(c->w->srv->kv);
	if (e < 0)
		reply_errno(c, e);
	else
		resp_out_simple(&c->out, "OK");
}

/* SAVE: everything acknowledged before it is durable once it answers. */
static void cmd_save(struct conn *c, size_t argc, const struct resp_arg *argv)
{
	int e = kv_sync(c->w->srv->kv);
	if (e < 0)
		reply_errno(c, e);
	else
		resp_out_simple(&c->out, "OK");
}

/*
 * DEBUG SLEEP seconds: the worker sleeps, as in Redis.  It keeps a worker
 * busy on purpose, which is how test_server.sh gets requests in flight at
 * a shutdown.  At most 10 s.
 */
static void cmd_debug(struct conn *c, size_t argc, const struct resp_arg *argv)
{
	char num[32], *end;

	if (!arg_is(&argv[1], "SLEEP") || argc != 3) {
		resp_out_error(&c->out, "ERR pckv knows only DEBUG SLEEP <seconds>");
		return;
	}
	snprintf(num, sizeof(num), "%.*s", (int)(argv[2].len > 31 ? 31 : argv[2].len), argv[2].ptr);
	double sec = strtod(num, &end);
	if (end == num || *end || !(sec >= 0 && sec <= 10)) {
		resp_out_error(&c->out, "ERR DEBUG SLEEP takes 0 to 10 seconds");
		return;
	}
	struct timespec ts = { .tv_sec = (time_t)sec,
			       .tv_nsec = (long)((sec - (double)(time_t)sec) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	resp_out_simple(&c->out, "OK");
}

/* ---- INFO ---- */

struct text {
	char *buf;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3)))
static void add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		size_t room = t->cap - t->len;
		va_start(ap, fmt);
		int n = vsnprintf(t->buf ? t->buf + t->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap ? t->cap * 2 : 4096;
		while (cap - t->len <= (size_t)n)
			cap *= 2;
		char *b = realloc(t->buf, cap);
		if (!b)
			return;
		t->buf = b;
		t->cap = cap;
	}
}

static bool want_section(size_t argc, const struct resp_arg *argv, const char *name,
			 bool in_default)
{
	if (argc == 1)
		return in_default;
	for (size_t i = 1; i < argc; i++) {
		if (arg_is(&argv[i], name) || arg_is(&argv[i], "all") ||
		    arg_is(&argv[i], "everything") || (in_default && arg_is(&argv[i], "default")))
			return true;
	}
	return false;
}

static unsigned long long total_commands(struct server *s)
{
	unsigned long long n = 0;
	for (unsigned i = 0; i < s->nthreads; i++)
		n += atomic_load_explicit(&s->workers[i].commands, memory_order_relaxed);
	return n;
}

static void cmd_info(struct conn *c, size_t argc, const struct resp_arg *argv)
{
	struct server *s = c->w->srv;
	struct text t = { 0 };
	struct kv_stats ks = { 0 };
	struct pc_stats ps = { 0 };
	bool first = true;

	if (want_section(argc, argv, "server", true)) {
		add(&t, "# Server\r\n"
		    /* Redis 7.0's reply shapes, for clients that look at the version. */
		    "redis_version:7.0.0\r\n"
		    "libpagecache_version:%s\r\n"
		    "redis_mode:standalone\r\n"
		    "multiplexing_api:epoll\r\n"
		    "process_id:%ld\r\n"
		    "tcp_port:%d\r\n"
		    "uptime_in_seconds:%lld\r\n"
		    "io_threads_active:%u\r\n",
		    pc_version(), (long)getpid(), s->port,
		    (long long)(time(NULL) - s->started), s->nthreads);
		first = false;
	}
	if (want_section(argc, argv, "clients", true)) {
		add(&t, "%s# Clients\r\nconnected_clients:%u\r\nmaxclients:%u\r\n", first ? "" : "\r\n",
		    atomic_load(&s->clients), s->maxclients);
		first = false;
	}
	if (want_section(argc, argv, "stats", true)) {
		add(&t, "%s# Stats\r\n"
		    "total_connections_received:%llu\r\n"
		    "total_commands_processed:%llu\r\n"
		    "rejected_connections:%llu\r\n", first ? "" : "\r\n",
		    atomic_load(&s->connections), total_commands(s), atomic_load(&s->rejected));
		first = false;
	}
	bool need_kv = want_section(argc, argv, "keyspace", true) ||
		       want_section(argc, argv, "persistence", true) ||
		       want_section(argc, argv, "pckv", true);
	if (need_kv && kv_stats(s->kv, &ks) < 0)
		memset(&ks, 0, sizeof(ks));
	if (want_section(argc, argv, "persistence", true)) {
		add(&t, "%s# Persistence\r\nloading:0\r\naof_enabled:0\r\n"
		    "pckv_syncs:%llu\r\npckv_group_commit:%d\r\npckv_group_syncs:%llu\r\n"
		    "pckv_torn_bytes_dropped_at_open:%llu\r\n",
		    first ? "" : "\r\n", (unsigned long long)ks.syncs, s->group_commit,
		    atomic_load(&s->group_syncs), (unsigned long long)ks.torn_bytes);
		first = false;
	}
	if (want_section(argc, argv, "pckv", true)) {
		add(&t, "%s# Pckv\r\n"
		    "keys:%llu\r\nlive_bytes:%llu\r\nlog_bytes:%llu\r\ndead_bytes:%llu\r\n"
		    "alloc_bytes:%llu\r\ncompactions:%llu\r\npunched_bytes:%llu\r\n"
		    "copied_bytes:%llu\r\nget_retries:%llu\r\n"
		    "puts:%llu\r\ngets:%llu\r\ndels:%llu\r\n", first ? "" : "\r\n",
		    (unsigned long long)ks.keys, (unsigned long long)ks.live_bytes,
		    (unsigned long long)ks.log_bytes, (unsigned long long)ks.dead_bytes,
		    (unsigned long long)ks.alloc_bytes, (unsigned long long)ks.compactions,
		    (unsigned long long)ks.punched_bytes, (unsigned long long)ks.copied_bytes,
		    (unsigned long long)ks.get_retries, (unsigned long long)ks.puts,
		    (unsigned long long)ks.gets, (unsigned long long)ks.dels);
		first = false;
	}
	if (want_section(argc, argv, "pagecache", true)) {
		struct pc_cache *pc = kv_cache(s->kv);
		if (!pc || pc_stats(pc, &ps, sizeof(ps)) < 0)
			memset(&ps, 0, sizeof(ps));
		add(&t, "%s# Pagecache\r\n"
		    "pc_hits:%llu\r\npc_misses:%llu\r\npc_fills:%llu\r\npc_hole_fills:%llu\r\n"
		    "pc_pages_cached:%llu\r\npc_bytes_cached:%llu\r\npc_capacity:%llu\r\n"
		    "pc_enomem:%llu\r\npc_writebacks:%llu\r\npc_punches:%llu\r\n"
		    "pc_truncates:%llu\r\npc_pages_removed:%llu\r\npc_pin_waits:%llu\r\n"
		    "pc_retries:%llu\r\npc_meta_bytes:%llu\r\npc_write_errors:%llu\r\n"
		    "pc_evictions:%llu\r\npc_flusher_runs:%llu\r\npc_dirty_pages:%llu\r\n"
		    "pc_dax_faults:%llu\r\npc_dax_zero_faults:%llu\r\npc_dax_allocs:%llu\r\n"
		    "pc_dax_entry_waits:%llu\r\npc_dax_persists:%llu\r\npc_dax_busy_waits:%llu\r\n",
		    first ? "" : "\r\n",
		    (unsigned long long)ps.hits, (unsigned long long)ps.misses,
		    (unsigned long long)ps.fills, (unsigned long long)ps.hole_fills,
		    (unsigned long long)ps.pages_cached, (unsigned long long)ps.bytes_cached,
		    (unsigned long long)ps.capacity, (unsigned long long)ps.enomem,
		    (unsigned long long)ps.writebacks, (unsigned long long)ps.punches,
		    (unsigned long long)ps.truncates, (unsigned long long)ps.pages_removed,
		    (unsigned long long)ps.pin_waits, (unsigned long long)ps.retries,
		    (unsigned long long)ps.meta_bytes, (unsigned long long)ps.write_errors,
		    (unsigned long long)ps.evictions, (unsigned long long)ps.flusher_runs,
		    (unsigned long long)ps.dirty_pages, (unsigned long long)ps.dax_faults,
		    (unsigned long long)ps.dax_zero_faults, (unsigned long long)ps.dax_allocs,
		    (unsigned long long)ps.dax_entry_waits, (unsigned long long)ps.dax_persists,
		    (unsigned long long)ps.dax_busy_waits);
		first = false;
	}
	if (want_section(argc, argv, "keyspace", true)) {
		add(&t, "%s# Keyspace\r\n", first ? "" : "\r\n");
		if (ks.keys)
			add(&t, "db0:keys=%llu,expires=0,avg_ttl=0\r\n", (unsigned long long)ks.keys);
	}
	if (t.len == 0 && t.buf == NULL)
		resp_out_bulk(&c->out, "", 0);
	else
		resp_out_bulk(&c->out, t.buf, t.len);
	free(t.buf);
}

/* ---- COMMAND and CONFIG ---- */

static void command_entry(struct conn *c, const struct cmd *k)
{
	char name[32];
	size_t n = strlen(k->name);
	for (size_t i = 0; i < n; i++)
		name[i] = (char)tolower((unsigned char)k->name[i]);

	/* name, arity, flags, first key, last key, step, ACL categories,
	 * tips, key specs, subcommands: Redis 7's ten fields. */
	resp_out_array(&c->out, 10);
	resp_out_bulk(&c->out, name, n);
	resp_out_int(&c->out, k->arity);
	size_t nflags = 0;
	for (const char *f = k->flags; *f;) {
		size_t l = strcspn(f, " ");
		nflags++;
		f += l;
		f += *f == ' ';
	}
	resp_out_array(&c->out, (long long)nflags);
	for (const char *f = k->flags; *f;) {
		size_t l = strcspn(f, " ");
		char st[32];
		snprintf(st, sizeof(st), "%.*s", (int)l, f);
		resp_out_simple(&c->out, st);
		f += l;
		f += *f == ' ';
	}
	resp_out_int(&c->out, k->first_key);
	resp_out_int(&c->out, k->last_key);
	resp_out_int(&c->out, k->step);
	resp_out_array(&c->out, 0);
	resp_out_array(&c->out, 0);
	resp_out_array(&c->out, 0);
	resp_out_array(&c->out, 0);
}

static const struct cmd *lookup(const struct resp_arg *a)
{
	for (size_t i = 0; i < ncommands; i++)
		if (arg_is(a, commands[i].name))
			return &commands[i];
	return NULL;
}

static void cmd_command(struct conn *c, size_t argc, const struct resp_arg *argv)
{
	if (argc == 1) {
		resp_out_array(&c->out, (long long)ncommands);
		for (size_t i = 0; i < ncommands; i++)
			command_entry(c, &commands[i]);
	} else if (arg_is(&argv[1], "COUNT") && argc == 2) {
		resp_out_int(&c->out, (long long)ncommands);
	} else if (arg_is(&argv[1], "DOCS")) {
		/* No documentation: an empty map (a flat array in RESP2). */
		resp_out_array(&c->out, 0);
	} else if (arg_is(&argv[1], "INFO")) {
		if (argc == 2) {
			resp_out_array(&c->out, (long long)ncommands);
			for (size_t i = 0; i < ncommands; i++)
				command_entry(c, &commands[i]);
		} else {
			resp_out_array(&c->out, (long long)argc - 2);
			for (size_t i = 2; i < argc; i++) {
				const struct cmd *k = lookup(&argv[i]);
				if (k)
					command_entry(c, k);
				else
					resp_out_null(&c->out);
			}
		}
	} else if (arg_is(&argv[1], "LIST") && argc == 2) {
		resp_out_array(&c->out, (long long)ncommands);
		for (size_t i = 0; i < ncommands; i++) {
			char name[32];
			size_t n = strlen(commands[i].name);
			for (size_t j = 0; j < n; j++)
				name[j] = (char)tolower((unsigned char)commands[i].name[j]);
			resp_out_bulk(&c->out, name, n);
		}
	} else {
		resp_out_error(&c->out, "ERR unknown subcommand '%.*s'. Try COMMAND, COMMAND "
			       "COUNT, COMMAND DOCS, COMMAND INFO or COMMAND LIST.",
			       (int)(argv[1].len > 64 ? 64 : argv[1].len), argv[1].ptr);
	}
}

static void cmd_config(struct conn *c, size_t argc, const struct resp_arg *argv)
{
	struct server *s = c->w->srv;
	char port[16], threads[16], maxcl[16], bulk[24], query[24];

	if (!arg_is(&argv[1], "GET")) {
		resp_out_error(&c->out, "ERR CONFIG %.*s is not supported by pckv (only CONFIG GET)",
			       (int)(argv[1].len > 32 ? 32 : argv[1].len), argv[1].ptr);
		return;
	}
	if (argc < 3) {
		resp_out_error(&c->out, "ERR wrong number of arguments for 'config|get' command");
		return;
	}
	snprintf(port, sizeof(port), "%d", s->port);
	snprintf(threads, sizeof(threads), "%u", s->nthreads);
	snprintf(maxcl, sizeof(maxcl), "%u", s->maxclients);
	snprintf(bulk, sizeof(bulk), "%zu", s->lim.max_bulk);
	snprintf(query, sizeof(query), "%zu", s->lim.max_request);
	/* What redis-benchmark and redis-cli ask, and what is true of pckv. */
	const char *const params[][2] = {
		{ "save", "" },		/* no snapshots: the log is the data */
		{ "appendonly", "no" },
		{ "port", port },
		{ "bind", "127.0.0.1" },
		{ "databases", "1" },
		{ "maxclients", maxcl },
		{ "io-threads", threads },
		{ "proto-max-bulk-len", bulk },
		{ "client-query-buffer-limit", query },
		{ "maxmemory", "0" },
		{ "timeout", "0" },
	};
	size_t np = sizeof(params) / sizeof(params[0]);
	bool hit[sizeof(params) / sizeof(params[0])] = { false };
	size_t nhit = 0;

	for (size_t i = 2; i < argc; i++) {
		char pat[128];
		if (argv[i].len >= sizeof(pat))
			continue;
		memcpy(pat, argv[i].ptr, argv[i].len);
		pat[argv[i].len] = 0;
		for (size_t j = 0; j < np; j++) {
			if (!hit[j] && fnmatch(pat, params[j][0], FNM_CASEFOLD) == 0) {
				hit[j] = true;
				nhit++;
			}
		}
	}
	resp_out_array(&c->out, (long long)nhit * 2);
	for (size_t j = 0; j < np; j++) {
		if (hit[j]) {
			resp_out_bulk_str(&c->out, params[j][0]);
			resp_out_bulk_str(&c->out, params[j][1]);
		}
	}
}

static void cmd_hello(struct conn *c, size_t argc, const struct resp_arg *argv)
{
	if (argc >= 2 && !arg_is(&argv[1], "2")) {
		resp_out_error(&c->out, "NOPROTO sorry, this protocol version is not supported "
			       "(pckv speaks RESP2)");
		return;
	}
	resp_out_array(&c->out, 14);
	resp_out_bulk_str(&c->out, "server");
	resp_out_bulk_str(&c->out, "redis");
	resp_out_bulk_str(&c->out, "version");
	resp_out_bulk_str(&c->out, "7.0.0");
	resp_out_bulk_str(&c->out, "proto");
	resp_out_int(&c->out, 2);
	resp_out_bulk_str(&c->out, "id");
	resp_out_int(&c->out, c->fd);
	resp_out_bulk_str(&c->out, "mode");
	resp_out_bulk_str(&c->out, "standalone");
	resp_out_bulk_str(&c->out, "role");
	resp_out_bulk_str(&c->out, "master");
	resp_out_bulk_str(&c->out, "modules");
	resp_out_array(&c->out, 0);
}

static const struct cmd commands[] = {
	{ "PING", -1, "fast stale", 0, 0, 0, cmd_ping },
	{ "ECHO", 2, "fast", 0, 0, 0, cmd_echo },
	{ "GET", 2, "readonly fast", 1, 1, 1, cmd_get },
	{ "SET", -3, "write denyoom", 1, 1, 1, cmd_set },
	{ "DEL", -2, "write", 1, -1, 1, cmd_del },
	{ "EXISTS", -2, "readonly fast", 1, -1, 1, cmd_exists },
	{ "DBSIZE", 1, "readonly fast", 0, 0, 0, cmd_dbsize },
	{ "FLUSHDB", -1, "write", 0, 0, 0, cmd_flushdb },
	{ "FLUSHALL", -1, "write", 0, 0, 0, cmd_flushdb },
	{ "SAVE", 1, "admin noscript", 0, 0, 0, cmd_save },
	{ "DEBUG", -2, "admin noscript loading stale", 0, 0, 0, cmd_debug },
	{ "INFO", -1, "loading stale", 0, 0, 0, cmd_info },
	{ "COMMAND", -1, "loading stale", 0, 0, 0, cmd_command },
	{ "CONFIG", -2, "admin loading stale", 0, 0, 0, cmd_config },
	{ "SELECT", 2, "loading stale fast", 0, 0, 0, cmd_select },
	{ "HELLO", -1, "noscript loading stale fast", 0, 0, 0, cmd_hello },
	{ "QUIT", -1, "fast", 0, 0, 0, cmd_quit },
};
static const size_t ncommands = sizeof(commands) / sizeof(commands[0]);

static void execute(struct conn *c, size_t argc, const struct resp_arg *argv)
{
	const struct cmd *k = lookup(&argv[0]);

	atomic_fetch_add_explicit(&c->w->commands, 1, memory_order_relaxed);
	if (!k) {
		/* Redis's wording, with the first arguments quoted. */
		char args[160];
		size_t used = 0;
		args[0] = 0;
		for (size_t i = 1; i < argc && used < sizeof(args) - 40; i++) {
			int n = snprintf(args + used, sizeof(args) - used, "'%.*s' ",
					 (int)(argv[i].len > 32 ? 32 : argv[i].len), argv[i].ptr);
			if (n < 0)
				break;
			used += (size_t)n;
		}
		resp_out_error(&c->out, "ERR unknown command '%.*s', with args beginning with: %s",
			       (int)(argv[0].len > 64 ? 64 : argv[0].len), argv[0].ptr, args);
		return;
	}
	if ((k->arity > 0 && argc != (size_t)k->arity) ||
	    (k->arity < 0 && argc < (size_t)-k->arity)) {
		char name[32];
		size_t n = strlen(k->name);
		for (size_t i = 0; i <= n; i++)
			name[i] = (char)tolower((unsigned char)k->name[i]);
		resp_out_error(&c->out, "ERR wrong number of arguments for '%s' command", name);
		return;
	}
	k->fn(c, argc, argv);
}

/* ---- connections ---- */

static void conn_free(struct conn *c)
{
	struct worker *w = c->w;

	if (c->held) {
		struct conn **pp = &w->pending;
		while (*pp != c)
			pp = &(*pp)->pnext;
		*pp = c->pnext;
	}
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	pthread_mutex_lock(&w->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&w->lock);
	resp_parser_free(&c->parser);
	resp_out_free(&c->out);
	free(c->in);
	free(c);
	atomic_fetch_sub(&w->srv->clients, 1);
}

/* Parse and execute the complete requests in the input buffer. */
static void conn_process(struct conn *c)
{
	size_t start = 0, used;

	if (c->in_len == 0)
		return;		/* (c->in may be NULL) */
	while (!c->closing && c->out.len - c->out_off < OUT_HIGH) {
		int r = resp_parse(&c->parser, c->in + start, c->in_len - start, &used);
		if (r == RESP_AGAIN)
			break;
		if (r == RESP_ERROR) {
			resp_out_error(&c->out, "ERR %s", c->parser.err);
			c->closing = true;
			break;
		}
		if (c->parser.argc)
			execute(c, c->parser.argc, c->parser.argv);
		start += used;
	}
	if (c->out.oom) {
		/* A reply could not be built: the stream is broken, close. */
		c->closing = true;
		c->out.len = c->out_off;
	}
	if (start) {
		memmove(c->in, c->in + start, c->in_len - start);
		c->in_len -= start;
	}
	/* Give back a big input buffer once the big request is gone. */
	if (c->in_len == 0 && c->in_cap > 16 * READ_CHUNK) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
}

/* Read once: 1 if bytes came, 0 on EAGAIN, -1 if the connection is done. */
static int conn_read(struct conn *c)
{
	if (c->in_cap - c->in_len < READ_CHUNK) {
		/* The parser refuses a request past max_request bytes, and a line
		 * past max_inline, so one unparsed request never needs more. */
		const struct resp_limits *lim = &c->w->srv->lim;
		size_t cap = c->in_cap ? c->in_cap * 2 : 2 * READ_CHUNK;
		size_t max = lim->max_request + lim->max_inline + 2 * READ_CHUNK;
		if (cap > max)
			cap = max;
		if (cap > c->in_cap) {
			char *b = realloc(c->in, cap);
			if (!b)
				return -1;
			c->in = b;
			c->in_cap = cap;
		}
	}
	if (c->in_cap == c->in_len)
		return -1;	/* cannot happen (see above); never spin on it */
	ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
	if (n > 0) {
		c->in_len += (size_t)n;
		return 1;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return -1;
}

/* Write what is pending: 1 if all is sent, 0 if the socket is full, -1 on error. */
static int conn_write(struct conn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.buf + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL);
		if (n > 0) {
			c->out_off += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			return 0;
		} else {
			return -1;
		}
	}
	c->out.len = c->out_off = 0;
	/* Give back a big buffer once a large reply is gone. */
	if (c->out.cap > 4 * OUT_HIGH)
		resp_out_free(&c->out);
	return 1;
}

static void set_interest(struct conn *c, bool out)
{
	if (c->want_out == out)
		return;
	struct epoll_event ev = { .events = out ? EPOLLOUT : EPOLLIN, .data.ptr = c };
	epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	c->want_out = out;
}

/* Process input and send replies until the input or the socket is exhausted. */
static void conn_service(struct conn *c, bool readable)
{
	struct worker *w = c->w;

	if (c->held)
		return;		/* group_commit() serves it after the sync */
	for (;;) {
		if (w->srv->group_commit && w->unsynced && c->out.len > c->out_off) {
			c->held = true;
			c->pnext = w->pending;
			w->pending = c;
			return;
		}
		if (c->want_out || c->out.len > c->out_off) {
			int r = conn_write(c);
			if (r < 0) {
				conn_free(c);
				return;
			}
			if (r == 0) {
				set_interest(c, true);
				return;
			}
			set_interest(c, false);
		}
		if (c->closing) {
			conn_free(c);
			return;
		}
		/* Requests left over from a paused pass go first. */
		conn_process(c);
		if (c->out.len > c->out_off)
			continue;
		if (!readable)
			return;
		int r = conn_read(c);
		if (r < 0) {
			conn_free(c);
			return;
		}
		if (r == 0)
			return;
		/* Processing and writing follow; level-triggered epoll calls
		 * again if more is waiting, so one read per wake-up is fair. */
		readable = false;
		conn_process(c);
	}
}

static long ms_until(const struct timespec *deadline)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (deadline->tv_sec - t.tv_sec) * 1000 + (deadline->tv_nsec - t.tv_nsec) / 1000000;
}

/* At shutdown: take in what was sent and execute it. */
static void conn_drain_input(struct conn *c)
{
	conn_process(c);
	while (!c->closing) {
		int r = conn_read(c);
		if (r <= 0)
			break;
		conn_process(c);
		if (c->out.len - c->out_off >= OUT_HIGH)
			break;
	}
}

/* Then send the replies and close.  A client that does not read its
 * replies by @deadline loses them. */
static void conn_drain_output(struct conn *c, const struct timespec *deadline)
{
	while (c->out_off < c->out.len) {
		if (conn_write(c) != 0)
			break;
		long ms = ms_until(deadline);
		if (ms <= 0)
			break;
		struct pollfd p = { .fd = c->fd, .events = POLLOUT };
		poll(&p, 1, (int)ms);
	}
	conn_free(c);
}

/*
 * One sync for the writes of every held connection, then their replies.
 * A connection that runs more writes while it is served is held again,
 * for the next round.
 */
static void group_commit(struct worker *w)
{
	struct conn *list = w->pending;
	int e = 0;

	w->pending = NULL;
	if (w->unsynced) {
		w->unsynced = false;
		e = kv_sync(w->srv->kv);
		atomic_fetch_add_explicit(&w->srv->group_syncs, 1, memory_order_relaxed);
		if (e < 0)
			fprintf(stderr, "pckv: group commit: sync failed (%s); closing the "
				"connections that wait for it\n", strerror(-e));
	}
	while (list) {
		struct conn *c = list;
		list = c->pnext;
		c->held = false;
		if (e < 0)
			conn_free(c);
		else
			conn_service(c, false);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event ev[64];

	while (!atomic_load(&w->stop)) {
		/* Held connections are served at once after the sync: don't sleep. */
		int n = epoll_wait(w->epfd, ev, 64, w->pending ? 0 : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("pckv: epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++) {
			if (ev[i].data.ptr == NULL)
				continue;	/* the eventfd: the loop condition sees stop */
			struct conn *c = ev[i].data.ptr;
			bool readable = ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR);
			conn_service(c, readable);
		}
		if (w->pending)
			group_commit(w);
	}
	/*
	 * Stop: no new connections arrive (the acceptor closed its socket and
	 * linked its last one before it did), so only this thread changes the
	 * list now.  Execute what every client sent, sync if group commit holds
	 * replies, then answer and close.
	 */
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += FLUSH_MS / 1000;
	pthread_mutex_lock(&w->lock);
	struct conn *list = w->conns;
	pthread_mutex_unlock(&w->lock);
	for (struct conn *c = list; c; c = c->next)
		conn_drain_input(c);
	int e = 0;
	if (w->srv->group_commit && w->unsynced) {
		e = kv_sync(w->srv->kv);
		w->unsynced = false;
	}
	for (;;) {
		pthread_mutex_lock(&w->lock);
		struct conn *c = w->conns;
		pthread_mutex_unlock(&w->lock);
		if (!c)
			break;
		if (e < 0)
			conn_free(c);
		else
			conn_drain_output(c, &deadline);
	}
	return NULL;
}

/* ---- setup, accept loop, shutdown ---- */

static int sig_pipe[2] = { -1, -1 };

static void on_signal(int signo)
{
	int saved = errno;
	unsigned char b = (unsigned char)signo;
	ssize_t ignored = write(sig_pipe[1], &b, 1);
	(void)ignored;
	errno = saved;
}

static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max || *s == '-')
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_args(struct server *s, int argc, char **argv)
{
	unsigned long v;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	s->port = 6379;
	s->nthreads = cpus < 1 ? 1 : cpus > MAX_THREADS ? MAX_THREADS : (unsigned)cpus;
	s->maxclients = 1024;
	for (int i = 0; i < argc; i++) {
		const char *o = argv[i];
		if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			printf("usage: pckv [--dir D] [--dax] [--sync always|none] serve [--port N] "
			       "[--threads T] [--maxclients M] [--group-commit]\n"
			       "  --port N        TCP port on 127.0.0.1 (default 6379; 0: any free one)\n"
			       "  --threads T     worker threads (default: online CPUs)\n"
			       "  --maxclients M  connections at once (default 1024)\n"
			       "  --group-commit  acknowledge writes only after a kv_sync shared by\n"
			       "                  the batch (use with --sync none; --sync always\n"
			       "                  serve turns it on, with the store on sync none)\n");
			return 1;
		}
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!val && strcmp(o, "--group-commit")) {
			fprintf(stderr, "pckv serve: %s needs a value\n", o);
			return -EINVAL;
		}
		if (!strcmp(o, "--port") && parse_uint(val, 0, 65535, &v) == 0)
			s->port = (int)v;
		else if (!strcmp(o, "--threads") && parse_uint(val, 1, MAX_THREADS, &v) == 0)
			s->nthreads = (unsigned)v;
		else if (!strcmp(o, "--maxclients") && parse_uint(val, 1, 1u << 20, &v) == 0)
			s->maxclients = (unsigned)v;
		else if (!strcmp(o, "--group-commit")) {
			s->group_commit = true;
			i--;	/* takes no value */
		} else {
			fprintf(stderr, "pckv serve: bad option '%s %s' (--port 0-65535, "
				"--threads 1-%d, --maxclients N, --group-commit)\n", o,
				val ? val : "", MAX_THREADS);
			return -EINVAL;
		}
		i++;
	}
	return 0;
}

static int listen_on(struct server *s)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)s->port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 511) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	socklen_t len = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &len);
	s->port = ntohs(a.sin_port);
	s->lfd = fd;
	return 0;
}

static void accept_all(struct server *s, unsigned *next)
{
	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				perror("pckv: accept");
			return;
		}
		if (atomic_fetch_add(&s->clients, 1) >= s->maxclients) {
			atomic_fetch_sub(&s->clients, 1);
			atomic_fetch_add(&s->rejected, 1);
			static const char msg[] = "-ERR max number of clients reached\r\n";
			ssize_t ignored = send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			(void)ignored;
			close(fd);
			continue;
		}
		atomic_fetch_add(&s->connections, 1);
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			atomic_fetch_sub(&s->clients, 1);
			close(fd);
			continue;
		}
		struct worker *w = &s->workers[(*next)++ % s->nthreads];
		c->fd = fd;
		c->w = w;
		resp_parser_init(&c->parser, &s->lim);
		pthread_mutex_lock(&w->lock);
		c->next = w->conns;
		if (w->conns)
			w->conns->prev = c;
		w->conns = c;
		pthread_mutex_unlock(&w->lock);
		/* From here on, the worker owns c (and may already be serving it). */
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			perror("pckv: epoll_ctl");
			/* Not in the set: the worker never sees it, free it here. */
			conn_free(c);
		}
	}
}

static void workers_stop(struct server *s, unsigned started)
{
	for (unsigned i = 0; i < started; i++) {
		struct worker *w = &s->workers[i];
		uint64_t one = 1;
		atomic_store(&w->stop, true);
		ssize_t ignored = write(w->evfd, &one, sizeof(one));
		(void)ignored;
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(s->workers[i].tid, NULL);
}

int pckv_serve(struct kv *kv, bool group_commit, int argc, char **argv)
{
	struct server s = { .kv = kv, .lfd = -1, .lim = resp_default_limits,
			    .group_commit = group_commit };
	sigset_t set, old;
	int e, sfd = -1, epfd = -1;
	unsigned started = 0;

	if (!kv)
		return 2;
	e = parse_args(&s, argc, argv);
	if (e)
		return e < 0 ? 2 : 0;
	s.started = time(NULL);
	s.workers = calloc(s.nthreads, sizeof(*s.workers));
	if (!s.workers)
		return 1;

	/* The workers block the signals, so the handler runs in the acceptor
	 * or in a store thread, never interrupting a worker. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		perror("pckv serve: pipe");
		free(s.workers);
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART }, old_int, old_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	e = listen_on(&s);
	if (e) {
		fprintf(stderr, "pckv serve: cannot listen on 127.0.0.1:%d: %s\n", s.port,
			strerror(-e));
		goto out;
	}
	sfd = sig_pipe[0];
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		e = -errno;
		perror("pckv serve");
		goto out;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = s.lfd };
	epoll_ctl(epfd, EPOLL_CTL_ADD, s.lfd, &ev);
	ev.data.fd = sfd;
	epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);

	for (unsigned i = 0; i < s.nthreads; i++)
		s.workers[i].epfd = s.workers[i].evfd = -1;
	for (; started < s.nthreads; started++) {
		struct worker *w = &s.workers[started];
		w->srv = &s;
		pthread_mutex_init(&w->lock, NULL);
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->epfd < 0 || w->evfd < 0) {
			e = -errno;
			goto fail;
		}
		struct epoll_event wev = { .events = EPOLLIN, .data.ptr = NULL };
		epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &wev);
		pthread_sigmask(SIG_BLOCK, &set, &old);
		e = -pthread_create(&w->tid, NULL, worker_main, w);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (e) {
			fprintf(stderr, "pckv serve: cannot start a worker: %s\n", strerror(-e));
			goto fail;
		}
	}

	printf("pckv: listening on 127.0.0.1:%d (%u threads%s)\n", s.port, s.nthreads,
	       s.group_commit ? ", group commit: writes acknowledged once durable" : "");
	fflush(stdout);

	unsigned next = 0;
	int signo = 0;
	while (!signo) {
		struct epoll_event evs[2];
		int n = epoll_wait(epfd, evs, 2, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			e = -errno;
			perror("pckv: epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == sfd) {
				unsigned char b;
				if (read(sfd, &b, 1) == 1)
					signo = b;
			} else {
				accept_all(&s, &next);
			}
		}
	}
	if (signo)
		fprintf(stderr, "pckv: %s: stopping\n", strsignal(signo));
	/* Stop accepting first, then let the workers finish what they read. */
	close(s.lfd);
	s.lfd = -1;
	workers_stop(&s, started);
	int se = kv_sync(kv);
	if (se < 0)
		fprintf(stderr, "pckv: sync at shutdown failed: %s\n", strerror(-se));
	else
		fprintf(stderr, "pckv: synced, bye\n");
	if (!e)
		e = se;
	goto out;

fail:
	workers_stop(&s, started);
out:
	for (unsigned i = 0; i < s.nthreads; i++) {
		struct worker *w = &s.workers[i];
		if (!w->srv)
			break;
		if (w->epfd >= 0)
			close(w->epfd);
		if (w->evfd >= 0)
			close(w->evfd);
		pthread_mutex_destroy(&w->lock);
	}
	if (s.lfd >= 0)
		close(s.lfd);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	close(sig_pipe[0]);
	close(sig_pipe[1]);
	sig_pipe[0] = sig_pipe[1] = -1;
	if (epfd >= 0)
		close(epfd);
	free(s.workers);
	return e ? 1 : 0;
}
