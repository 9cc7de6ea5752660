/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * RESP2, the Redis protocol: an incremental request parser and the reply
 * encoders that pckv's server speaks.  See resp.c for the design.
 */
#ifndef PCKV_RESP_H
#define PCKV_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hard limits: input past any of them is a protocol error, never an allocation. */
struct resp_limits {
	size_t max_args;	/* arguments in one request */
	size_t max_bulk;	/* bytes in one bulk string */
	size_t max_inline;	/* bytes in one inline request line or count line */
	size_t max_request;	/* bytes in one whole request, headers included */
};
/* 64 Ki arguments, 8 MiB bulks, 64 KiB inline lines, 64 MiB requests. */
extern const struct resp_limits resp_default_limits;

struct resp_arg {
	const char *ptr;	/* into the caller's buffer; not NUL-terminated */
	size_t len;
};

enum resp_status {
	RESP_AGAIN = 0,		/* incomplete: call again once more bytes are in */
	RESP_OK = 1,		/* one request parsed (argc may be 0: skip it) */
	RESP_ERROR = -1,	/* protocol error: reply p->err, then close */
};

struct resp_parser {
	struct resp_limits lim;
	/* Parsed request: valid after RESP_OK until the buffer changes. */
	size_t argc;
	struct resp_arg *argv;
	const char *err;	/* after RESP_ERROR: "Protocol error: ..." */

	/* private: */
	int state;
	size_t pos;		/* bytes of the request already parsed */
	size_t scan;		/* where the search for the line end resumes */
	size_t nargs;		/* multibulk: arguments announced */
	size_t bulklen;		/* multibulk: length of the bulk being read */
	size_t *offs;		/* multibulk: offset of each argument so far */
	size_t cap;		/* slots in argv and offs */
	char errbuf[64];
};

void resp_parser_init(struct resp_parser *p, const struct resp_limits *lim);
void resp_parser_free(struct resp_parser *p);
/*
 * Parse the request at the start of buf[0, len).  On RESP_AGAIN the parser
 * keeps its progress as offsets from buf: the caller may move or grow the
 * buffer, and calls again with the same request at its start and more
 * bytes after.  On RESP_OK, p->argc/argv hold the request and *used the
 * bytes it took; the next call starts a new request.  On RESP_ERROR the
 * parser must not be used again (the connection is to be closed).
 * Inline requests are split in place: buf is modified.  Returns -ENOMEM
 * (a RESP_ERROR with err set) if the argument table cannot grow.
 */
int resp_parse(struct resp_parser *p, char *buf, size_t len, size_t *used);

/*
 * Reply encoders: append to a growable output buffer.  On allocation
 * failure the buffer keeps what it had, sets oom and ignores what follows.
 */
struct resp_out {
	char *buf;
	size_t len, cap;
	bool oom;
};
void resp_out_free(struct resp_out *o);
void resp_out_raw(struct resp_out *o, const void *s, size_t n);
void resp_out_simple(struct resp_out *o, const char *s);		/* +s */
void resp_out_error(struct resp_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));				/* -fmt */
void resp_out_int(struct resp_out *o, long long v);			/* :v */
void resp_out_bulk(struct resp_out *o, const void *s, size_t n);	/* $n s */
void resp_out_bulk_str(struct resp_out *o, const char *s);
void resp_out_null(struct resp_out *o);					/* $-1 */
void resp_out_array(struct resp_out *o, long long n);			/* *n */
/* Reserve n bytes at the end, returns where to write them (NULL on oom);
 * resp_out_commit(o, n) then counts them. */
char *resp_out_reserve(struct resp_out *o, size_t n);
void resp_out_commit(struct resp_out *o, size_t n);

#endif /* PCKV_RESP_H */
