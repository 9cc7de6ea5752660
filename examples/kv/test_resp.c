/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_resp: the RESP2 request parser and reply encoders, case by case,
 * then a deterministic mutational fuzz run of the parser.
 *
 * The fuzz run makes inputs from valid pipelines of requests (multibulk and
 * inline), mutates most of them (bit flips, protocol tokens spliced in,
 * deletions, duplications, truncation) and parses each twice: all at once,
 * and split at random points into calls on an exactly sized buffer that
 * moves at every call, as a connection's buffer does.  Both must give the
 * same requests and the same outcome (parser invariant 2), every argument
 * must lie inside the request that carried it, and an unmutated pipeline
 * must give back exactly the requests it was made from.  Under ASan a read
 * past the end of the exactly sized buffer is caught.  Small limits are used
 * for most inputs so that every limit is hit often.
 *
 * PCKV_FUZZ_ITERS overrides the number of inputs (default 2,000,000, about
 * 2 s; 1,000,000 under ASan, about 5 s), PCKV_FUZZ_SEED the seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "resp.h"

/* ---- helpers ---- */

/* Parse all complete requests of s (a copy); returns the last status. */
struct req {
	size_t argc;
	char *args[16];
	size_t lens[16];
};

static int parse_all(const char *s, size_t n, const struct resp_limits *lim,
		     struct req *reqs, size_t *nreqs, size_t maxreqs, const char **err)
{
	char *buf = malloc(n ? n : 1);
	struct resp_parser p;
	size_t off = 0, used;
	int r;

	memcpy(buf, s, n);
	resp_parser_init(&p, lim);
	*nreqs = 0;
	for (;;) {
		r = resp_parse(&p, buf + off, n - off, &used);
		if (r != RESP_OK)
			break;
		if (*nreqs < maxreqs) {
			struct req *q = &reqs[(*nreqs)++];
			q->argc = p.argc;
			for (size_t i = 0; i < p.argc && i < 16; i++) {
				q->args[i] = malloc(p.argv[i].len + 1);
				memcpy(q->args[i], p.argv[i].ptr, p.argv[i].len);
				q->args[i][p.argv[i].len] = 0;
				q->lens[i] = p.argv[i].len;
			}
		}
		off += used;
	}
	*err = r == RESP_ERROR ? p.err : NULL;
	resp_parser_free(&p);
	free(buf);
	return r;
}

static void free_reqs(struct req *reqs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < reqs[i].argc && j < 16; j++)
			free(reqs[i].args[j]);
}

static void expect_error(const char *in, size_t n, const struct resp_limits *lim,
			 const char *msg)
{
	struct req reqs[4];
	size_t nreqs;
	const char *err;
	int r = parse_all(in, n, lim, reqs, &nreqs, 4, &err);

	free_reqs(reqs, nreqs);
	if (r != RESP_ERROR || strcmp(err, msg) != 0)
		fail_msg("input \"%.*s\": status %d, error \"%s\", expected \"%s\"",
			 (int)n, in, r, err ? err : "", msg);
}
#define EXPECT_ERROR(s, lim, msg) expect_error(s, sizeof(s) - 1, lim, msg)

/* ---- cases ---- */

static void test_multibulk(void **state __attribute__((unused)))
{
	static const char in[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET";
	struct req reqs[4];
	size_t nreqs;
	const char *err;

	assert_int_equal(parse_all(in, sizeof(in) - 1, NULL, reqs, &nreqs, 4, &err), RESP_AGAIN);
	assert_int_equal(nreqs, 2);
	assert_int_equal(reqs[0].argc, 3);
	assert_string_equal(reqs[0].args[0], "SET");
	assert_string_equal(reqs[0].args[1], "k");
	assert_int_equal(reqs[0].lens[2], 0);
	assert_int_equal(reqs[1].argc, 1);
	assert_string_equal(reqs[1].args[0], "PING");
	free_reqs(reqs, nreqs);
}

/* Byte by byte, with the buffer growing: the same request, binary-safe. */
static void test_incremental(void **state __attribute__((unused)))
{
	static const char in[] = "*2\r\n$3\r\nGET\r\n$5\r\na\r\n\0b\r\n";
	size_t n = sizeof(in) - 1, used = 0;
	struct resp_parser p;
	int r = RESP_AGAIN;

	resp_parser_init(&p, NULL);
	for (size_t len = 0; len <= n; len++) {
		char *buf = malloc(len ? len : 1);
		memcpy(buf, in, len);
		r = resp_parse(&p, buf, len, &used);
		if (len < n) {
			assert_int_equal(r, RESP_AGAIN);
		} else {
			assert_int_equal(r, RESP_OK);
			assert_int_equal(used, n);
			assert_int_equal(p.argc, 2);
			assert_int_equal(p.argv[1].len, 5);
			assert_memory_equal(p.argv[1].ptr, "a\r\n\0b", 5);
		}
		free(buf);
	}
	resp_parser_free(&p);
}

static void test_inline(void **state __attribute__((unused)))
{
	static const char in[] = "SET \"a b\" 'c\\'d' \"\\x41\\n\\\"\" x\"y z\"\r\n  \r\nPING\n";
	struct req reqs[4];
	size_t nreqs;
	const char *err;

	assert_int_equal(parse_all(in, sizeof(in) - 1, NULL, reqs, &nreqs, 4, &err), RESP_AGAIN);
	assert_int_equal(nreqs, 3);
	assert_int_equal(reqs[0].argc, 5);
	assert_string_equal(reqs[0].args[0], "SET");
	assert_string_equal(reqs[0].args[1], "a b");
	assert_string_equal(reqs[0].args[2], "c'd");
	assert_string_equal(reqs[0].args[3], "A\n\"");
	assert_string_equal(reqs[0].args[4], "xy z");
	assert_int_equal(reqs[1].argc, 0);	/* a blank line */
	assert_int_equal(reqs[2].argc, 1);
	assert_string_equal(reqs[2].args[0], "PING");
	free_reqs(reqs, nreqs);
}

static void test_empty_multibulk(void **state __attribute__((unused)))
{
	static const char in[] = "*0\r\n*-1\r\n";
	struct req reqs[4];
	size_t nreqs;
	const char *err;

	assert_int_equal(parse_all(in, sizeof(in) - 1, NULL, reqs, &nreqs, 4, &err), RESP_AGAIN);
	assert_int_equal(nreqs, 2);
	assert_int_equal(reqs[0].argc, 0);
	assert_int_equal(reqs[1].argc, 0);
}

static void test_errors(void **state __attribute__((unused)))
{
	struct resp_limits small = { .max_args = 4, .max_bulk = 10, .max_inline = 16,
				     .max_request = 40 };

	EXPECT_ERROR("*abc\r\n", NULL, "Protocol error: invalid multibulk length");
	EXPECT_ERROR("*\r\n", NULL, "Protocol error: invalid multibulk length");
	EXPECT_ERROR("*1x\r\n", NULL, "Protocol error: invalid multibulk length");
	EXPECT_ERROR("*99999999999999999999\r\n", NULL, "Protocol error: invalid multibulk length");
	EXPECT_ERROR("*65537\r\n", NULL, "Protocol error: invalid multibulk length");
	EXPECT_ERROR("*5\r\n", &small, "Protocol error: invalid multibulk length");
	EXPECT_ERROR("*2\r\n+foo\r\n", NULL, "Protocol error: expected '$', got '+'");
	EXPECT_ERROR("*2\r\n\001foo\r\n", NULL, "Protocol error: expected '$', got byte 0x01");
	EXPECT_ERROR("*1\r\n$-5\r\n", NULL, "Protocol error: invalid bulk length");
	EXPECT_ERROR("*1\r\n$-1\r\n", NULL, "Protocol error: invalid bulk length");
	EXPECT_ERROR("*1\r\n$9999999999\r\n", NULL, "Protocol error: invalid bulk length");
	EXPECT_ERROR("*1\r\n$11\r\n", &small, "Protocol error: invalid bulk length");
	EXPECT_ERROR("*1\r\n$3\r\nabcd\r\n", NULL,
		     "Protocol error: bulk string not followed by CRLF");
	EXPECT_ERROR("*1\r\n$3\rX", NULL, "Protocol error: bulk length not ended by CRLF");
	EXPECT_ERROR("*1\rX", NULL, "Protocol error: count line not ended by CRLF");
	EXPECT_ERROR("*00000000000000001", &small, "Protocol error: too big mbulk count string");
	EXPECT_ERROR("*1\r\n$00000000000000003", &small, "Protocol error: too big bulk count string");
	/* 4 bulks of 10 bytes do not fit in 40 bytes: refused at the header. */
	EXPECT_ERROR("*4\r\n$10\r\n0123456789\r\n$10\r\n0123456789\r\n$10\r\n", &small,
		     "Protocol error: request too big");
	EXPECT_ERROR("GET \"abc\r\n", NULL, "Protocol error: unbalanced quotes in request");
	EXPECT_ERROR("GET 'abc\r\n", NULL, "Protocol error: unbalanced quotes in request");
	EXPECT_ERROR("GET \"a\"b\r\n", NULL, "Protocol error: unbalanced quotes in request");
	EXPECT_ERROR("a b c d e\r\n", &small, "Protocol error: too many arguments in inline request");
	EXPECT_ERROR("0123456789abcdefg", &small, "Protocol error: too big inline request");
	EXPECT_ERROR("0123456789abcdefg\n", &small, "Protocol error: too big inline request");
}

/* A huge declared count costs nothing until arguments arrive. */
static void test_no_eager_allocation(void **state __attribute__((unused)))
{
	static const char in[] = "*65536\r\n$1\r\na\r\n";
	struct resp_parser p;
	size_t used;
	char buf[sizeof(in)];

	memcpy(buf, in, sizeof(in));
	resp_parser_init(&p, NULL);
	assert_int_equal(resp_parse(&p, buf, sizeof(in) - 1, &used), RESP_AGAIN);
	assert_true(p.cap <= 16);
	/* A dead parser stays dead. */
	buf[0] = 'x';
	resp_parser_free(&p);
	resp_parser_init(&p, NULL);
	memcpy(buf, "*x\r\n", 4);
	assert_int_equal(resp_parse(&p, buf, 4, &used), RESP_ERROR);
	assert_int_equal(resp_parse(&p, buf, 4, &used), RESP_ERROR);
	resp_parser_free(&p);
}

static void test_encoders(void **state __attribute__((unused)))
{
	struct resp_out o = { 0 };
	static const char want[] = "+OK\r\n-ERR bad thing 7\r\n:-42\r\n$3\r\na\0b\r\n$-1\r\n*2\r\n"
				   "$0\r\n\r\n+a b\r\n";

	resp_out_simple(&o, "OK");
	resp_out_error(&o, "ERR bad %s %d", "thing", 7);
	resp_out_int(&o, -42);
	resp_out_bulk(&o, "a\0b", 3);
	resp_out_null(&o);
	resp_out_array(&o, 2);
	resp_out_bulk_str(&o, "");
	resp_out_simple(&o, "a\nb");	/* no line break may escape into the stream */
	assert_false(o.oom);
	assert_int_equal(o.len, sizeof(want) - 1);
	assert_memory_equal(o.buf, want, sizeof(want) - 1);

	/* A big bulk makes the buffer grow more than once. */
	char *big = malloc(100000);
	memset(big, 'v', 100000);
	o.len = 0;
	resp_out_bulk(&o, big, 100000);
	assert_int_equal(o.len, 100000 + 11);
	assert_memory_equal(o.buf, "$100000\r\nv", 10);
	free(big);
	resp_out_free(&o);
}

/* ---- fuzz ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static size_t below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

#define FUZZ_MAX 2048

struct gen {
	char in[FUZZ_MAX];
	size_t n;
	/* the requests, for an unmutated input */
	size_t nreq;
	struct req want[8];
	char argbuf[FUZZ_MAX];
	size_t argused;
};

static void put(struct gen *g, const void *s, size_t n)
{
	if (g->n + n > FUZZ_MAX)
		n = FUZZ_MAX - g->n;
	memcpy(g->in + g->n, s, n);
	g->n += n;
}

static void putf(struct gen *g, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	put(g, tmp, (size_t)n);
}

static const struct { const char *s; size_t n; } words[] = {
	{ "GET", 3 }, { "SET", 3 }, { "PING", 4 }, { "DEL", 3 }, { "k", 1 }, { "key:1", 5 },
	{ "", 0 }, { "x y", 3 }, { "\"", 1 }, { "'", 1 }, { "\\", 1 }, { "\r\n", 2 },
	{ "*1", 2 }, { "$3", 2 }, { "\0\xff", 2 },
};

/* An argument: a word, or random bytes (binary, for multibulk). */
static size_t gen_arg(char *dst, size_t max, bool binary)
{
	size_t n;
	if (rnd() & 1) {
		size_t k = below(sizeof(words) / sizeof(words[0]));
		n = words[k].n;
		if (n > max)
			n = max;
		memcpy(dst, words[k].s, n);
	} else {
		n = below(rnd() & 7 ? 12 : 80);
		if (n > max)
			n = max;
		for (size_t i = 0; i < n; i++)
			dst[i] = binary ? (char)rnd() : (char)(' ' + below(95));
	}
	return n;
}

/* Encode an argument for an inline line with double quotes and escapes. */
static void put_inline_arg(struct gen *g, const char *a, size_t n)
{
	put(g, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];
		if (c == '"' || c == '\\')
			putf(g, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			putf(g, "\\x%02x", c);
		else
			put(g, &a[i], 1);
	}
	put(g, "\"", 1);
}

static void generate(struct gen *g)
{
	g->n = 0;
	g->argused = 0;
	g->nreq = 1 + below(4);
	for (size_t r = 0; r < g->nreq; r++) {
		struct req *q = &g->want[r];
		bool inl = below(4) == 0;
		q->argc = below(6) == 0 ? 0 : 1 + below(5);
		if (inl && q->argc == 0) {
			if (below(2))
				put(g, "\r\n", 2);
			else
				put(g, " \t\n", 3);
			continue;
		}
		if (!inl)
			putf(g, "*%zu\r\n", q->argc);
		for (size_t i = 0; i < q->argc; i++) {
			char *a = g->argbuf + g->argused;
			size_t n = gen_arg(a, (FUZZ_MAX - g->argused) / 2, !inl);
			g->argused += n;
			q->args[i] = a;
			q->lens[i] = n;
			if (inl) {
				if (i)
					put(g, " ", 1);
				put_inline_arg(g, a, n);
			} else {
				putf(g, "$%zu\r\n", n);
				put(g, a, n);
				put(g, "\r\n", 2);
			}
		}
		if (inl)
			put(g, "\r\n", 2);
	}
}

static const char *const tokens[] = { "*", "$", "\r\n", "\r", "\n", "-1", "0", "99999999999",
				      "65536", "\"", "'", "\\", "\\x4", " ", "*2\r\n", "$0\r\n\r\n",
				      "$-1\r\n", "*-1\r\n", "\0" };

static void mutate(struct gen *g)
{
	size_t rounds = 1 + below(4);
	for (size_t k = 0; k < rounds; k++) {
		size_t at = below(g->n + 1);
		switch (below(6)) {
		case 0:	/* flip bits */
			if (g->n)
				g->in[below(g->n)] ^= (char)(1u << below(8));
			break;
		case 1: { /* splice in a token */
			const char *t = tokens[below(sizeof(tokens) / sizeof(tokens[0]))];
			size_t tn = t[0] ? strlen(t) : 1;
			if (g->n + tn > FUZZ_MAX)
				break;
			memmove(g->in + at + tn, g->in + at, g->n - at);
			memcpy(g->in + at, t, tn);
			g->n += tn;
			break;
		}
		case 2: { /* delete a range */
			size_t len = below(g->n - at + 1);
			memmove(g->in + at, g->in + at + len, g->n - at - len);
			g->n -= len;
			break;
		}
		case 3: { /* duplicate a range */
			size_t len = below(g->n - at + 1);
			if (g->n + len > FUZZ_MAX)
				break;
			memmove(g->in + at + len, g->in + at, g->n - at);
			g->n += len;
			break;
		}
		case 4:	/* truncate */
			g->n = at;
			break;
		case 5:	/* a random byte */
			if (g->n)
				g->in[below(g->n)] = (char)rnd();
			break;
		}
	}
}

/* A digest of the requests parsed and the outcome. */
struct outcome {
	uint64_t hash;
	size_t nreq;
	int status;
	char err[64];		/* empty unless status is RESP_ERROR */
	size_t consumed;
};

static void mix(uint64_t *h, const void *s, size_t n)
{
	const unsigned char *b = s;
	for (size_t i = 0; i < n; i++)
		*h = (*h ^ b[i]) * 0x100000001b3ull;
	*h = (*h ^ n) * 0x100000001b3ull;
}

static void check_request(const struct resp_parser *p, const char *buf, size_t used,
			  struct outcome *o)
{
	mix(&o->hash, &p->argc, sizeof(p->argc));
	for (size_t i = 0; i < p->argc; i++) {
		const char *a = p->argv[i].ptr;
		if (a < buf || a + p->argv[i].len > buf + used) {
			fprintf(stderr, "argument %zu outside its request\n", i);
			fail();
		}
		mix(&o->hash, a, p->argv[i].len);
	}
	o->nreq++;
}

static void run_whole(const char *in, size_t n, const struct resp_limits *lim,
		      struct outcome *o, const struct gen *g)
{
	char *buf = malloc(n ? n : 1);
	struct resp_parser p;
	size_t off = 0, used;

	memcpy(buf, in, n);
	memset(o, 0, sizeof(*o));
	o->hash = 0xcbf29ce484222325ull;
	resp_parser_init(&p, lim);
	for (;;) {
		o->status = resp_parse(&p, buf + off, n - off, &used);
		if (o->status != RESP_OK)
			break;
		assert_true(used > 0 && used <= n - off);
		if (g) {
			/* Round trip: exactly the requests that were encoded. */
			const struct req *q = &g->want[o->nreq];
			assert_true(o->nreq < g->nreq);
			assert_int_equal(p.argc, q->argc);
			for (size_t i = 0; i < p.argc; i++) {
				assert_int_equal(p.argv[i].len, q->lens[i]);
				assert_memory_equal(p.argv[i].ptr, q->args[i], q->lens[i]);
			}
		}
		check_request(&p, buf + off, used, o);
		off += used;
	}
	if (o->status == RESP_ERROR)
		snprintf(o->err, sizeof(o->err), "%s", p.err);
	o->consumed = off;
	resp_parser_free(&p);
	free(buf);
}

/*
 * Chunked: the unconsumed bytes live in an exactly sized buffer that is
 * reallocated (and so moved) before every call, with 1 to 64 more bytes.
 */
static void run_chunked(const char *in, size_t n, const struct resp_limits *lim,
			struct outcome *o)
{
	struct resp_parser p;
	size_t start = 0, avail = 0, used;
	char *buf = NULL;

	memset(o, 0, sizeof(*o));
	o->hash = 0xcbf29ce484222325ull;
	resp_parser_init(&p, lim);
	for (;;) {
		if (avail < n)
			avail += 1 + below(below(4) ? 8 : 64);
		if (avail > n)
			avail = n;
		/* The buffer holds in[start, avail); earlier inline splits wrote
		 * only into consumed bytes, so the rest equals the input. */
		char *nb = malloc(avail - start ? avail - start : 1);
		memcpy(nb, in + start, avail - start);
		free(buf);
		buf = nb;
		for (;;) {
			o->status = resp_parse(&p, buf, avail - start, &used);
			if (o->status != RESP_OK)
				break;
			check_request(&p, buf, used, o);
			start += used;
			nb = malloc(avail - start ? avail - start : 1);
			memcpy(nb, in + start, avail - start);
			free(buf);
			buf = nb;
		}
		if (o->status == RESP_ERROR || avail == n)
			break;
	}
	if (o->status == RESP_ERROR)
		snprintf(o->err, sizeof(o->err), "%s", p.err);
	o->consumed = start;
	resp_parser_free(&p);
	free(buf);
}

static void test_fuzz(void **state __attribute__((unused)))
{
	static const struct resp_limits small = { .max_args = 5, .max_bulk = 40,
						  .max_inline = 60, .max_request = 200 };
	const char *e = getenv("PCKV_FUZZ_ITERS");
	unsigned long long iters = 2000000;
#if defined(__SANITIZE_ADDRESS__)
	iters = 1000000;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	iters = 1000000;
#endif
#endif
	if (e)
		iters = strtoull(e, NULL, 0);
	e = getenv("PCKV_FUZZ_SEED");
	rng_state = e ? strtoull(e, NULL, 0) : 20261121;

	static struct gen g;
	unsigned long long errors = 0, oks = 0, agains = 0, reqs = 0;
	clock_t t0 = clock();

	for (unsigned long long it = 0; it < iters; it++) {
		const struct resp_limits *lim = below(4) ? &small : NULL;
		generate(&g);
		bool pristine = below(8) == 0;
		if (!pristine)
			mutate(&g);

		struct outcome a, b;
		run_whole(g.in, g.n, lim, &a, pristine && lim == NULL ? &g : NULL);
		run_chunked(g.in, g.n, lim, &b);
		if (pristine && lim == NULL) {
			if (a.consumed != g.n) {
				fprintf(stderr, "input (%zu bytes) %d %s:", g.n, a.status, a.err);
				for (size_t i = 0; i < g.n; i++)
					fprintf(stderr, " %02x", (unsigned char)g.in[i]);
				fprintf(stderr, "\n");
			}
			assert_int_equal(a.status, RESP_AGAIN);
			assert_int_equal(a.consumed, g.n);
			assert_int_equal(a.nreq, g.nreq);
		}
		if (a.status != b.status || a.hash != b.hash || a.nreq != b.nreq ||
		    a.consumed != b.consumed || strcmp(a.err, b.err) != 0) {
			fprintf(stderr, "iteration %llu: whole and chunked parses differ: "
				"status %d/%d, requests %zu/%zu, consumed %zu/%zu, err %s/%s\n",
				it, a.status, b.status, a.nreq, b.nreq, a.consumed, b.consumed,
				a.err, b.err);
			fprintf(stderr, "input (%zu bytes):", g.n);
			for (size_t i = 0; i < g.n; i++)
				fprintf(stderr, " %02x", (unsigned char)g.in[i]);
			fprintf(stderr, "\n");
			fail();
		}
		if (a.status == RESP_ERROR && strncmp(a.err, "Protocol error: ", 16) != 0)
			fail_msg("error without the protocol prefix: %s", a.err);
		errors += a.status == RESP_ERROR;
		agains += a.status == RESP_AGAIN;
		oks += a.nreq != 0;
		reqs += a.nreq;
	}
	printf("fuzz: %llu inputs in %.1f s CPU: %llu ended in a protocol error, %llu "
	       "incomplete; %llu gave requests (%llu requests)\n",
	       iters, (double)(clock() - t0) / CLOCKS_PER_SEC, errors, agains, oks, reqs);
	/* The generator must reach both outcomes often, or the run proves little. */
	assert_true(errors > iters / 10);
	assert_true(agains > iters / 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_multibulk),
		cmocka_unit_test(test_incremental),
		cmocka_unit_test(test_inline),
		cmocka_unit_test(test_empty_multibulk),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_no_eager_allocation),
		cmocka_unit_test(test_encoders),
		cmocka_unit_test(test_fuzz),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
