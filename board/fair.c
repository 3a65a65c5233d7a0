/* Fair share per source address: the bounded source table and its token buckets
 * (board/fair.h). */
#include "board/fair.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

void fair_table_init(struct fair_table *t, const struct fair_limits *lim)
{
	memset(t, 0, sizeof *t);
	t->lim = *lim;
}

bool fair_key_of(const struct sockaddr *sa, struct fair_key *out)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	memset(out, 0, sizeof *out);
	if (sa->sa_family == AF_INET) {
		memcpy(out->b, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		out->b[16] = 4;
		return true;
	}
	if (sa->sa_family != AF_INET6)
		return false;
	const uint8_t *a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
	if (memcmp(a, mapped, sizeof mapped) == 0) {
		memcpy(out->b, a + 12, 4);
		out->b[16] = 4;
	} else {
		memcpy(out->b, a, 8); /* the /64 */
		out->b[16] = 6;
	}
	return true;
}

/* FNV-1a over the key: spreads the sources over the sets (not keyed: a source picks its set,
 * which only lets it crowd its own set; see fair_admit's full-set case). */
static size_t set_of(const struct fair_key *k)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < sizeof k->b; i++)
		h = (h ^ k->b[i]) * 16777619u;
	return h % FAIR_SETS;
}

static struct fair_src *find(struct fair_table *t, const struct fair_key *k)
{
	struct fair_src *set = t->s[set_of(k)];
	for (unsigned i = 0; i < FAIR_WAYS; i++)
		if (set[i].used && memcmp(set[i].key.b, k->b, sizeof k->b) == 0)
			return &set[i];
	return NULL;
}

/* A free way, else the least recently used idle one (forgotten); NULL if all are busy. */
static struct fair_src *make_room(struct fair_table *t, const struct fair_key *k)
{
	struct fair_src *set = t->s[set_of(k)], *v = NULL;
	for (unsigned i = 0; i < FAIR_WAYS; i++) {
		if (!set[i].used)
			return &set[i];
		if (set[i].conns == 0 && (v == NULL || set[i].touched < v->touched))
			v = &set[i];
	}
	if (v != NULL)
		t->evicted++;
	return v;
}

static void refill(const struct fair_table *t, struct fair_src *e, uint64_t now_ms)
{
	int64_t cap = (int64_t)t->lim.burst * 1000;
	if (now_ms > e->last_ms) {
		uint64_t add = (now_ms - e->last_ms) * (uint64_t)t->lim.rate;
		e->milli = add >= (uint64_t)(cap - e->milli) ? cap : e->milli + (int64_t)add;
	}
	e->last_ms = now_ms;
}

enum fair_verdict fair_admit(struct fair_table *t, const struct fair_key *key, uint64_t now_ms)
{
	struct fair_src *e = find(t, key);
	if (e == NULL) {
		e = make_room(t, key);
		if (e == NULL) {
			t->untracked++;
			return FAIR_UNTRACKED;
		}
		memset(e, 0, sizeof *e);
		e->used = true;
		e->key = *key;
		e->milli = (int64_t)t->lim.burst * 1000;
		e->last_ms = now_ms;
	}
	e->touched = ++t->clock;
	if (e->conns >= t->lim.max_conns)
		return FAIR_BUSY;
	if (t->lim.max_handshaking != 0 && e->hs >= t->lim.max_handshaking)
		return FAIR_HANDSHAKING;
	refill(t, e, now_ms);
	if (e->milli < 1000)
		return FAIR_RATE;
	e->milli -= 1000;
	e->conns++;
	e->hs++;
	return FAIR_OK;
}

void fair_handshake_done(struct fair_table *t, const struct fair_key *key)
{
	struct fair_src *e = find(t, key);
	if (e != NULL && e->hs > 0)
		e->hs--;
}

void fair_penalize(struct fair_table *t, const struct fair_key *key, unsigned tokens)
{
	struct fair_src *e = find(t, key);
	int64_t floor = -(int64_t)t->lim.burst * 1000, m = (int64_t)tokens * 1000;
	if (e != NULL)
		e->milli = e->milli - floor > m ? e->milli - m : floor;
}

void fair_refund(struct fair_table *t, const struct fair_key *key)
{
	struct fair_src *e = find(t, key);
	int64_t cap = (int64_t)t->lim.burst * 1000;
	if (e != NULL)
		e->milli = e->milli + 1000 < cap ? e->milli + 1000 : cap;
}

void fair_release(struct fair_table *t, const struct fair_key *key)
{
	struct fair_src *e = find(t, key);
	if (e != NULL && e->conns > 0)
		e->conns--;
	if (e != NULL && e->hs > e->conns)
		e->hs = e->conns;
}

static const struct fair_src *find_c(const struct fair_table *t, const struct fair_key *k)
{
	const struct fair_src *set = t->s[set_of(k)];
	for (unsigned i = 0; i < FAIR_WAYS; i++)
		if (set[i].used && memcmp(set[i].key.b, k->b, sizeof k->b) == 0)
			return &set[i];
	return NULL;
}

unsigned fair_conns(const struct fair_table *t, const struct fair_key *key)
{
	const struct fair_src *e = find_c(t, key);
	return e != NULL ? e->conns : 0;
}

unsigned fair_handshaking(const struct fair_table *t, const struct fair_key *key)
{
	const struct fair_src *e = find_c(t, key);
	return e != NULL ? e->hs : 0;
}
