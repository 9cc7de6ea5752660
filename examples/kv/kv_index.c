/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pckv's in-memory hash index: key -> offset of the key's newest record.
 *
 * 64 shards, chosen by the top 6 bits of a 64-bit hash, each a chained hash
 * table under its own rwlock, so gets of different keys rarely share a lock
 * and never share one with a put of another shard.  Each entry holds a copy
 * of the key (compared on lookup without touching the log), the record's
 * offset and the value's length.
 *
 * Invariants:
 *  1. An entry is in exactly one chain, the one of its hash, in the shard of
 *     its hash; a key has at most one entry.
 *  2. Entries are created and freed only under kv->append_mu and the shard's
 *     lock exclusive, so whoever holds append_mu may use an entry it found
 *     after dropping the shard lock (kv_compact.c does).
 *  3. A table grows (doubling) when it holds more entries than buckets; a
 *     failed allocation only skips the growth, so inserting never fails.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_int.h"

/* A 64-bit multiply-mix hash over 8-byte words (wyhash-like mixing). */
static inline uint64_t mix(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;

	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

uint64_t kv_hash(const void *key, size_t klen)
{
	const unsigned char *p = key;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ klen;
	size_t i = 0;

	for (; i + 8 <= klen; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h = mix(h ^ w, 0xa0761d6478bd642full);
	}
	if (i < klen) {
		uint64_t w = 0;

		memcpy(&w, p + i, klen - i);
		h = mix(h ^ w, 0xe7037ed1a0b428dbull);
	}
	return mix(h, 0x8ebc6af09c88c6e3ull);
}

int kv_index_init(struct kv_index *ix)
{
	for (unsigned i = 0; i < KV_SHARDS; i++) {
		struct kv_shard *s = &ix->shards[i];

		s->nbuckets = 16;
		s->count = 0;
		s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
		if (!s->buckets || pthread_rwlock_init(&s->lock, NULL) != 0) {
			free(s->buckets);
			while (i-- > 0) {
				pthread_rwlock_destroy(&ix->shards[i].lock);
				free(ix->shards[i].buckets);
			}
			return -ENOMEM;
		}
	}
	return 0;
}

void kv_index_destroy(struct kv_index *ix)
{
	for (unsigned i = 0; i < KV_SHARDS; i++) {
		struct kv_shard *s = &ix->shards[i];

		__kv_index_clear(s);
		free(s->buckets);
		pthread_rwlock_destroy(&s->lock);
	}
}

struct kv_ent *kv_ent_new(const void *key, size_t klen, uint64_t hash)
{
	struct kv_ent *e = malloc(sizeof(*e) + klen);

	if (!e)
		return NULL;
	e->next = NULL;
	e->hash = hash;
	e->off = 0;
	e->vlen = 0;
	e->klen = (uint32_t)klen;
	if (klen)
		memcpy(e->key, key, klen);
	return e;
}

static inline uint64_t bucket_of(const struct kv_shard *s, uint64_t hash)
{
	return hash & (s->nbuckets - 1);
}

struct kv_ent *__kv_index_find(struct kv_shard *s, uint64_t hash, const void *key,
			       size_t klen)
{
	for (struct kv_ent *e = s->buckets[bucket_of(s, hash)]; e; e = e->next)
		if (e->hash == hash && e->klen == klen && (!klen || !memcmp(e->key, key, klen)))
			return e;
	return NULL;
}

static void grow(struct kv_shard *s)
{
	uint64_t n = s->nbuckets * 2;
	struct kv_ent **b = calloc(n, sizeof(*b));

	if (!b)
		return;		/* invariant 3: chains just get longer */
	for (uint64_t i = 0; i < s->nbuckets; i++) {
		struct kv_ent *e = s->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = n;
}

void __kv_index_insert(struct kv_shard *s, struct kv_ent *e)
{
	uint64_t b;

	if (s->count >= s->nbuckets)
		grow(s);
	b = bucket_of(s, e->hash);
	e->next = s->buckets[b];
	s->buckets[b] = e;
	s->count++;
}

void __kv_index_remove(struct kv_shard *s, struct kv_ent *e)
{
	struct kv_ent **pp = &s->buckets[bucket_of(s, e->hash)];

	for (; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			s->count--;
			return;
		}
}

void __kv_index_clear(struct kv_shard *s)
{
	for (uint64_t i = 0; i < s->nbuckets; i++) {
		struct kv_ent *e = s->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
		s->buckets[i] = NULL;
	}
	s->count = 0;
}
