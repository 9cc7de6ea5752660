/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz_resp: a libFuzzer target for the RESP2 parser (built only with
 * clang; not run in CI, where test_resp's deterministic fuzz runs).  The
 * input is parsed twice, whole and in chunks whose sizes its first byte
 * picks, on exactly sized heap buffers; the two parses must agree.
 *	CC=clang meson setup build-fuzz -Db_sanitize=address,undefined
 *	ninja -C build-fuzz examples/kv/fuzz_resp && build-fuzz/examples/kv/fuzz_resp
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

static const struct resp_limits small = { .max_args = 5, .max_bulk = 40,
					  .max_inline = 60, .max_request = 200 };

/* Parse all requests; returns a digest of them and the outcome. */
static uint64_t run(const uint8_t *in, size_t n, size_t chunk)
{
	struct resp_parser p;
	uint64_t h = 0xcbf29ce484222325ull;
	size_t start = 0, avail = 0, used;
	char *buf = NULL;
	int r = RESP_AGAIN;

	resp_parser_init(&p, &small);
	while (r != RESP_ERROR && avail < n) {
		avail = avail + chunk < n ? avail + chunk : n;
		for (;;) {
			free(buf);
			buf = malloc(avail - start + 1);
			memcpy(buf, in + start, avail - start);
			r = resp_parse(&p, buf, avail - start, &used);
			if (r != RESP_OK)
				break;
			for (size_t i = 0; i < p.argc; i++) {
				if (p.argv[i].ptr < buf || p.argv[i].ptr + p.argv[i].len > buf + used)
					abort();
				for (size_t j = 0; j < p.argv[i].len; j++)
					h = (h ^ (uint8_t)p.argv[i].ptr[j]) * 0x100000001b3ull;
				h = (h ^ p.argv[i].len) * 0x100000001b3ull;
			}
			h = (h ^ p.argc ^ 0x55) * 0x100000001b3ull;
			start += used;
		}
	}
	h ^= (uint64_t)(r + 1) << 62 ^ start;
	if (r == RESP_ERROR)
		for (const char *e = p.err; *e; e++)
			h = (h ^ (uint8_t)*e) * 0x100000001b3ull;
	resp_parser_free(&p);
	free(buf);
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t chunk = 1 + data[0] % 16;
	if (run(data + 1, size - 1, size) != run(data + 1, size - 1, chunk))
		abort();
	return 0;
}
