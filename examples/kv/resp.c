/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * RESP2 request parsing and reply encoding for pckv's server.
 *
 * A request is either a multibulk array of bulk strings, as every client
 * library, redis-cli and redis-benchmark send:
 *	*<n>\r\n  then n times  $<len>\r\n<len bytes>\r\n
 * or an inline command, one line of words split on blanks with Redis's
 * quoting rules (a telnet user, or redis-benchmark's inline mode):
 *	SET "a key" 'x\'y' "\x00\n"\r\n
 * The first byte decides which: '*' starts a multibulk request.
 *
 * The parser is incremental and copies nothing.  It works on the
 * connection's input buffer, whose start is the start of the current
 * request, and remembers its progress as offsets from that start, so the
 * buffer may grow or move between calls.  Each byte is looked at once:
 * state says what is expected next (count line, bulk header, bulk data,
 * inline line), pos is where it starts, and scan is how far a search for
 * a line end already went.  Arguments are recorded as offsets and turned
 * into pointers only once the whole request is in.
 *
 * Invariants:
 *  1. The parser never reads at or past len, and never writes outside
 *     [0, len) (inline splitting rewrites the line in place, shrinking it).
 *  2. The outcome does not depend on how the input was split into calls:
 *     every limit is checked on a quantity that is the same whichever call
 *     finds it (a line's length, a declared count), not on len.
 *  3. Memory is bounded by the limits: the argument table grows with the
 *     arguments actually received, never past lim.max_args, and a request
 *     that would be longer than lim.max_request is refused at the bulk
 *     header that announces it, before its bytes are awaited, so the
 *     caller's buffer never has to hold more than max_request bytes plus
 *     one read.
 *  4. After RESP_ERROR nothing more is parsed: the input's framing is
 *     lost, and the connection is closed after the error reply, as Redis
 *     does.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

const struct resp_limits resp_default_limits = {
	.max_args = 64 * 1024,
	.max_bulk = 8u << 20,
	.max_inline = 64 * 1024,
	.max_request = 64u << 20,
};

enum {
	ST_START,	/* nothing of the request seen yet */
	ST_COUNT,	/* in "*<n>\r\n" */
	ST_BULKHDR,	/* at or in "$<len>\r\n" */
	ST_BULKDATA,	/* awaiting <len bytes>\r\n */
	ST_INLINE,	/* in an inline line */
	ST_DEAD,	/* after an error */
};

void resp_parser_init(struct resp_parser *p, const struct resp_limits *lim)
{
	memset(p, 0, sizeof(*p));
	p->lim = lim ? *lim : resp_default_limits;
	p->state = ST_START;
}

void resp_parser_free(struct resp_parser *p)
{
	free(p->argv);
	free(p->offs);
	p->argv = NULL;
	p->offs = NULL;
	p->cap = 0;
}

static int fail(struct resp_parser *p, const char *msg)
{
	p->err = msg;
	p->state = ST_DEAD;
	return RESP_ERROR;
}

static void reset(struct resp_parser *p)
{
	p->state = ST_START;
	p->pos = p->scan = p->nargs = p->bulklen = 0;
}

/* Room for argument i; the table doubles, capped at max_args. */
static int grow(struct resp_parser *p, size_t i)
{
	if (i < p->cap)
		return 0;
	size_t cap = p->cap ? p->cap * 2 : 16;
	if (cap > p->lim.max_args)
		cap = p->lim.max_args;
	if (cap <= i)
		return -EINVAL;
	struct resp_arg *a = realloc(p->argv, cap * sizeof(*a));
	if (!a)
		return -ENOMEM;
	p->argv = a;
	size_t *o = realloc(p->offs, cap * sizeof(*o));
	if (!o)
		return -ENOMEM;
	p->offs = o;
	p->cap = cap;
	return 0;
}

/*
 * The line that starts at p->pos and ends at "\r\n": 1 with *eol at its
 * '\r', 0 if more bytes are needed, -1 if it is longer than max_inline,
 * -2 if its '\r' is not followed by '\n'.
 */
static int find_crlf(struct resp_parser *p, const char *buf, size_t len, size_t *eol)
{
	size_t from = p->scan > p->pos ? p->scan : p->pos;
	const char *cr = from < len ? memchr(buf + from, '\r', len - from) : NULL;

	if (!cr) {
		p->scan = len;
		return len - p->pos > p->lim.max_inline ? -1 : 0;
	}
	size_t i = (size_t)(cr - buf);
	p->scan = i;
	if (i - p->pos > p->lim.max_inline)
		return -1;
	if (i + 1 >= len)
		return 0;
	if (buf[i + 1] != '\n')
		return -2;
	*eol = i;
	return 1;
}

/* A count: optional '-', then 1 to 18 digits.  0 or -1. */
static int parse_count(const char *s, size_t n, long long *out)
{
	bool neg = false;
	long long v = 0;

	if (n && *s == '-') {
		neg = true;
		s++;
		n--;
	}
	if (n == 0 || n > 18)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = neg ? -v : v;
	return 0;
}

static int finish(struct resp_parser *p, char *buf, size_t *used)
{
	for (size_t i = 0; i < p->nargs; i++)
		p->argv[i].ptr = buf + p->offs[i];
	p->argc = p->nargs;
	*used = p->pos;
	reset(p);
	return RESP_OK;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Split the inline line buf[0, n) into words in place, with the quoting of
 * redis-cli and Redis's inline parser: "..." knows \xHH, \n, \r, \t, \b, \a
 * and \<c>; '...' knows \'; a closing quote must end the word.  Each output
 * byte consumes at least one input byte, so the write index w never passes
 * the read index r and words are written over the text already read.
 */
static int split_inline(struct resp_parser *p, char *buf, size_t n)
{
	size_t r = 0, w = 0;

	p->nargs = 0;
	for (;;) {
		while (r < n && blank(buf[r]))
			r++;
		if (r == n)
			return 0;
		size_t start = w;
		int quote = 0;	/* 0, '"' or '\'' */
		bool done = false;
		while (!done) {
			if (r == n) {
				if (quote)
					return fail(p, "Protocol error: unbalanced quotes in request");
				break;
			}
			char c = buf[r];
			if (quote == '"') {
				if (c == '\\' && r + 3 < n && buf[r + 1] == 'x' &&
				    hexval(buf[r + 2]) >= 0 && hexval(buf[r + 3]) >= 0) {
					buf[w++] = (char)(hexval(buf[r + 2]) * 16 + hexval(buf[r + 3]));
					r += 4;
				} else if (c == '\\' && r + 1 < n) {
					char e = buf[r + 1];
					buf[w++] = e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' :
						   e == 'b' ? '\b' : e == 'a' ? '\a' : e;
					r += 2;
				} else if (c == '"') {
					r++;
					if (r < n && !blank(buf[r]))
						return fail(p, "Protocol error: unbalanced quotes in request");
					done = true;
				} else {
					buf[w++] = c;
					r++;
				}
			} else if (quote == '\'') {
				if (c == '\\' && r + 1 < n && buf[r + 1] == '\'') {
					buf[w++] = '\'';
					r += 2;
				} else if (c == '\'') {
					r++;
					if (r < n && !blank(buf[r]))
						return fail(p, "Protocol error: unbalanced quotes in request");
					done = true;
				} else {
					buf[w++] = c;
					r++;
				}
			} else if (blank(c)) {
				done = true;
			} else if (c == '"' || c == '\'') {
				quote = c;
				r++;
			} else {
				buf[w++] = c;
				r++;
			}
		}
		if (p->nargs >= p->lim.max_args)
			return fail(p, "Protocol error: too many arguments in inline request");
		int e = grow(p, p->nargs);
		if (e)
			return fail(p, e == -ENOMEM ? "Protocol error: out of memory" :
					    "Protocol error: too many arguments in inline request");
		p->offs[p->nargs] = start;
		p->argv[p->nargs].len = w - start;
		p->nargs++;
	}
}

static int parse_inline(struct resp_parser *p, char *buf, size_t len, size_t *used)
{
	size_t from = p->scan;
	const char *nl = from < len ? memchr(buf + from, '\n', len - from) : NULL;

	if (!nl) {
		p->scan = len;
		if (len > p->lim.max_inline)
			return fail(p, "Protocol error: too big inline request");
		return RESP_AGAIN;
	}
	size_t i = (size_t)(nl - buf);
	if (i > p->lim.max_inline)
		return fail(p, "Protocol error: too big inline request");
	size_t n = i;
	if (n && buf[n - 1] == '\r')
		n--;
	if (split_inline(p, buf, n) < 0)
		return RESP_ERROR;
	p->pos = i + 1;
	return finish(p, buf, used);
}

int resp_parse(struct resp_parser *p, char *buf, size_t len, size_t *used)
{
	long long v;
	size_t eol;
	int r;

	for (;;) {
		switch (p->state) {
		case ST_DEAD:
			return RESP_ERROR;
		case ST_START:
			if (len == 0)
				return RESP_AGAIN;
			p->pos = p->scan = 0;
			p->state = buf[0] == '*' ? ST_COUNT : ST_INLINE;
			break;
		case ST_INLINE:
			return parse_inline(p, buf, len, used);
		case ST_COUNT:
			r = find_crlf(p, buf, len, &eol);
			if (r < 0)
				return fail(p, r == -1 ? "Protocol error: too big mbulk count string" :
						    "Protocol error: count line not ended by CRLF");
			if (r == 0)
				return RESP_AGAIN;
			if (parse_count(buf + 1, eol - 1, &v) < 0 || v > (long long)p->lim.max_args)
				return fail(p, "Protocol error: invalid multibulk length");
			p->pos = eol + 2;
			if (v <= 0) {
				/* "*0" and "*-1" are empty requests: Redis skips them. */
				p->nargs = 0;
				return finish(p, buf, used);
			}
			p->nargs = (size_t)v;
			p->state = ST_BULKHDR;
			p->argc = 0;	/* arguments read so far, while in the request */
			break;
		case ST_BULKHDR:
			if (p->pos >= len)
				return RESP_AGAIN;
			if (buf[p->pos] != '$') {
				unsigned char c = (unsigned char)buf[p->pos];
				if (c >= 0x20 && c < 0x7f)
					snprintf(p->errbuf, sizeof(p->errbuf),
						 "Protocol error: expected '$', got '%c'", c);
				else
					snprintf(p->errbuf, sizeof(p->errbuf),
						 "Protocol error: expected '$', got byte 0x%02x", c);
				return fail(p, p->errbuf);
			}
			r = find_crlf(p, buf, len, &eol);
			if (r < 0)
				return fail(p, r == -1 ? "Protocol error: too big bulk count string" :
						    "Protocol error: bulk length not ended by CRLF");
			if (r == 0)
				return RESP_AGAIN;
			if (parse_count(buf + p->pos + 1, eol - p->pos - 1, &v) < 0 || v < 0 ||
			    (unsigned long long)v > p->lim.max_bulk)
				return fail(p, "Protocol error: invalid bulk length");
			p->pos = eol + 2;
			if (p->pos > p->lim.max_request ||
			    (size_t)v + 2 > p->lim.max_request - p->pos)
				return fail(p, "Protocol error: request too big");
			p->bulklen = (size_t)v;
			p->state = ST_BULKDATA;
			break;
		case ST_BULKDATA:
			if (len - p->pos < p->bulklen + 2)
				return RESP_AGAIN;
			if (buf[p->pos + p->bulklen] != '\r' || buf[p->pos + p->bulklen + 1] != '\n')
				return fail(p, "Protocol error: bulk string not followed by CRLF");
			if (grow(p, p->argc) < 0)
				return fail(p, "Protocol error: out of memory");
			p->offs[p->argc] = p->pos;
			p->argv[p->argc].len = p->bulklen;
			p->argc++;
			p->pos += p->bulklen + 2;
			p->scan = p->pos;
			if (p->argc == p->nargs)
				return finish(p, buf, used);
			p->state = ST_BULKHDR;
			break;
		}
	}
}

/* ---- reply encoders ---- */

void resp_out_free(struct resp_out *o)
{
	free(o->buf);
	memset(o, 0, sizeof(*o));
}

char *resp_out_reserve(struct resp_out *o, size_t n)
{
	if (o->oom)
		return NULL;
	if (o->cap - o->len < n) {
		size_t cap = o->cap ? o->cap : 256;
		while (cap - o->len < n) {
			if (cap > SIZE_MAX / 2) {
				o->oom = true;
				return NULL;
			}
			cap *= 2;
		}
		char *b = realloc(o->buf, cap);
		if (!b) {
			o->oom = true;
			return NULL;
		}
		o->buf = b;
		o->cap = cap;
	}
	return o->buf + o->len;
}

void resp_out_commit(struct resp_out *o, size_t n)
{
	o->len += n;
}

void resp_out_raw(struct resp_out *o, const void *s, size_t n)
{
	char *d = resp_out_reserve(o, n);
	if (!d)
		return;
	memcpy(d, s, n);
	o->len += n;
}

/* Simple strings and errors are one line: CR and LF would break framing. */
static void out_line(struct resp_out *o, char type, const char *s, size_t n)
{
	char *d = resp_out_reserve(o, n + 3);
	if (!d)
		return;
	d[0] = type;
	for (size_t i = 0; i < n; i++)
		d[i + 1] = s[i] == '\r' || s[i] == '\n' ? ' ' : s[i];
	d[n + 1] = '\r';
	d[n + 2] = '\n';
	o->len += n + 3;
}

void resp_out_simple(struct resp_out *o, const char *s)
{
	out_line(o, '+', s, strlen(s));
}

void resp_out_error(struct resp_out *o, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	out_line(o, '-', msg, (size_t)n);
}

static void out_num(struct resp_out *o, char type, long long v)
{
	char *d = resp_out_reserve(o, 24);
	if (!d)
		return;
	o->len += (size_t)snprintf(d, 24, "%c%lld\r\n", type, v);
}

void resp_out_int(struct resp_out *o, long long v)
{
	out_num(o, ':', v);
}

void resp_out_array(struct resp_out *o, long long n)
{
	out_num(o, '*', n);
}

void resp_out_null(struct resp_out *o)
{
	resp_out_raw(o, "$-1\r\n", 5);
}

void resp_out_bulk(struct resp_out *o, const void *s, size_t n)
{
	char *d = resp_out_reserve(o, n + 26);
	if (!d)
		return;
	size_t h = (size_t)snprintf(d, 24, "$%zu\r\n", n);
	memcpy(d + h, s, n);
	d[h + n] = '\r';
	d[h + n + 1] = '\n';
	o->len += h + n + 2;
}

void resp_out_bulk_str(struct resp_out *o, const char *s)
{
	resp_out_bulk(o, s, strlen(s));
}
