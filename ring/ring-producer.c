/* SPDX-License-Identifier: MIT */
/*
 * Producer half of the ring (protocol in include/dise/ring.h).
 *
 * Everything here runs inside other people's processes, in signal handlers
 * too: no locks, no allocation, no system calls (but one, once: a windowed
 * ring's first record outside its window maps the whole file), no errno. A producer that
 * finds the ring full counts a drop and returns; a producer that loses too
 * many CAS races in a row (only possible under a hostile writer, since
 * every failed CAS means another producer made progress) drops as well, so
 * the loop is bounded.
 *
 * Lap 0 is special: a slot of a fresh ring holds seq 0, not its position,
 * so that creating a ring does not have to touch every slot.
 *
 * The shard is the current CPU's: glibc answers sched_getcpu() from the
 * rseq area the kernel keeps up to date, with no system call (when rseq is
 * off it falls back to the vDSO). A thread that migrates between choosing
 * and reserving only costs some cache-line sharing, never correctness.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stddef.h>
#if defined(__GLIBC__) && __has_include(<sys/rseq.h>)
#include <sys/rseq.h>
#endif
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dise/rawsys.h"
#include "dise/ring.h"

#define RESERVE_TRIES 1024

static inline uint64_t free_seq(const dise_ring *r, uint64_t pos)
{
	return pos < r->nslots ? 0 : pos;
}

/*
 * The current CPU, from the rseq area glibc registered (what sched_getcpu
 * reads too), without calling into libc: in a fork child before its exec,
 * sched_getcpu's page of libc is a page fault (rawsys.h). Where rseq is not
 * registered (an older glibc, glibc.pthread.rseq=0), sched_getcpu.
 */
static int cpu_here(void)
{
#if defined(__GLIBC__) && __has_include(<sys/rseq.h>) && defined(__x86_64__)
	if (__rseq_size >= offsetof(struct rseq, cpu_id) + sizeof(uint32_t)) {
		const struct rseq *rs = (const struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
		int32_t cpu = (int32_t)__atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED);

		if (cpu >= 0)
			return cpu;
	}
#endif
	return sched_getcpu();
}

uint32_t dise_ring_shard_here(const dise_ring *r)
{
	int cpu;

	if (r->nshards <= 1)
		return 0;
	cpu = cpu_here();
	return cpu > 0 ? (uint32_t)cpu % r->nshards : 0;
}

/* The shard this producer writes to: a window holds one shard's slots, a short process's records go there whatever its CPU (a shard is a hint). */
static uint32_t shard_mine(const dise_ring *r)
{
	return dise_ring_windowed(r) ? r->win_shard : dise_ring_shard_here(r);
}

/*
 * A windowed ring (ring.h: DISE_RING_WINDOW) holds only the slots
 * [win_lo, win_hi) of one shard: whether the n slots from pos are all
 * there (no wrap). Else the whole file is mapped first.
 */
static int in_window(const dise_ring *r, uint64_t pos, uint64_t n)
{
	uint64_t first = pos & r->mask;

	return first >= r->win_lo && first + n <= r->win_hi;
}

int dise_ring_reserve(dise_ring *r, uint32_t len, dise_ring_resv *ret)
{
	struct dise_ring_shard *h;
	uint64_t pos, last, seq, n;
	uint32_t shard;
	int tries;

	if (!r->hdr || !r->writable)
		return -ENODEV;
	shard = shard_mine(r);
	h = &r->hdr->shards[shard];
	n = (len + DISE_SLOT_DATA - 1) / DISE_SLOT_DATA;
	if (len == 0 || len > DISE_RECORD_MAX || n > r->nslots / 2) {
		/* Cannot ever fit (a ring made tiny on purpose): a drop like any other. */
		atomic_fetch_add_explicit(&h->dropped, 1, memory_order_relaxed);
		return -EMSGSIZE;
	}

	pos = atomic_load_explicit(&h->head, memory_order_relaxed);
	for (tries = 0; tries < RESERVE_TRIES; tries++) {
		last = pos + n - 1;
		/* never a slot the window does not hold (its address would be anything's) */
		if (dise_ring_windowed(r) && !in_window(r, pos, n) && dise_ring_unwindow(r) < 0)
			break; /* the whole file could not be mapped: a drop */
		seq = atomic_load_explicit(&dise_ring_slot(r, shard, last)->seq, memory_order_acquire);
		if (seq != free_seq(r, last)) {
			uint64_t now = atomic_load_explicit(&h->head, memory_order_relaxed);

			if (now != pos) { /* someone reserved meanwhile: look again */
				pos = now;
				continue;
			}
			break; /* the slot is still in use a lap behind: full */
		}
		if (atomic_compare_exchange_weak_explicit(&h->head, &pos, pos + n, memory_order_relaxed,
							  memory_order_relaxed)) {
			atomic_fetch_add_explicit(&h->written, 1, memory_order_relaxed);
			ret->pos = pos;
			ret->nslots = (uint32_t)n;
			ret->len = len;
			ret->shard = shard;
			return 0;
		}
	}
	atomic_fetch_add_explicit(&h->dropped, 1, memory_order_relaxed);
	return -ENOSPC;
}

void dise_ring_write(dise_ring *r, const dise_ring_resv *v, uint32_t off, const void *src, uint32_t n)
{
	const uint8_t *p = src;

	if (off >= v->len)
		return;
	if (n > v->len - off)
		n = v->len - off;
	while (n) {
		uint32_t k = off / DISE_SLOT_DATA, o = off % DISE_SLOT_DATA;
		uint32_t c = DISE_SLOT_DATA - o;

		if (c > n)
			c = n;
		__builtin_memcpy(dise_ring_slot(r, v->shard, v->pos + k)->data + o, p, c);
		p += c;
		off += c;
		n -= c;
	}
}

void dise_ring_commit(dise_ring *r, const dise_ring_resv *v)
{
	uint32_t i = v->nslots;

	/* Last slot first: the first slot's commit publishes a complete record. */
	while (i-- > 0) {
		uint64_t pos = v->pos + i;
		struct dise_slot *s = dise_ring_slot(r, v->shard, pos);
		uint64_t expect = free_seq(r, pos);

		s->frag = (uint16_t)i;
		s->nfrag = (uint16_t)v->nslots;
		/* Fails only if the consumer declared the slot torn: then it is no longer ours. */
		atomic_compare_exchange_strong_explicit(&s->seq, &expect, pos + 1, memory_order_release,
							memory_order_relaxed);
	}
}

void dise_ring_discard(dise_ring *r, const dise_ring_resv *v)
{
	struct dise_rec_hdr h;

	__builtin_memset(&h, 0, sizeof(h));
	h.size = v->len;
	h.type = DISE_REC_PAD;
	h.hdr_size = sizeof(h);
	dise_ring_write(r, v, 0, &h, v->len < sizeof(h) ? v->len : (uint32_t)sizeof(h));
	dise_ring_commit(r, v);
}

int dise_ring_put(dise_ring *r, const void *rec, uint32_t len)
{
	dise_ring_resv v;
	int ret = dise_ring_reserve(r, len, &v);

	if (ret < 0)
		return ret;
	dise_ring_write(r, &v, 0, rec, len);
	dise_ring_commit(r, &v);
	return 0;
}

/*
 * Whether this producer's shard holds 1/DISE_WAKE_FILL of its slots not
 * released yet: a gathering consumer is woken then, whatever the record, so
 * that a fast stream never fills the ring while the consumer sleeps out its
 * gather (it reads and stores at once once awake). A head or tail a hostile
 * process wrote only makes a wake-up more or less.
 */
static int shard_filling(const dise_ring *r)
{
	const struct dise_ring_shard *h = &r->hdr->shards[shard_mine(r)];
	uint64_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&h->tail, memory_order_relaxed);

	return head - tail >= r->nslots / DISE_WAKE_FILL;
}

/*
 * Whether the consumer read reaped's own failing EXIT (the header's ended
 * word, ring.h) at most DISE_ENDED_MS before at_ns, the REAP's time: both
 * are CLOCK_MONOTONIC, the EXIT's as its producer stamped it.
 */
static int end_read(const dise_ring *r, uint32_t reaped, uint64_t at_ns)
{
	uint64_t e;

	if (!reaped)
		return 0;
	e = atomic_load_explicit(&r->hdr->ended, memory_order_relaxed);
	return (uint32_t)(e >> 32) == reaped && (uint32_t)(at_ns / 1000000u) - (uint32_t)e < DISE_ENDED_MS;
}

/*
 * The consumer stores what it waits for into wake (DISE_WAKE_*), then
 * looks for records, then sleeps while wake still holds it; a producer
 * commits, then loads wake. With a full fence between each side's store and
 * load, one of them sees the other: either the consumer finds the record,
 * or the producer finds wake set and, when the consumer waits for this
 * record (any record, or an urgent one: dise_ring_urgent, or any once the
 * shard fills), takes it back to 0 and wakes it (a futex on shared memory,
 * so across processes). A record the consumer does not wait for (it
 * gathers a stream: DISE_WAKE_URGENT) leaves it asleep; it reads that
 * record when its gather's time is up, or when an urgent one wakes it. The
 * word is exchanged only by a producer that wakes: one wake-up per sleep.
 * An old producer (any nonzero wakes) can only wake too often.
 *
 * A REAP (reaped: its child's pid, at_ns its time) of a child whose failing
 * EXIT the consumer read is not urgent: the consumer stores ended before
 * it stores DISE_WAKE_URGENT, so a producer that loads that word (after
 * it) loads the ended word of that sleep or a later one. Any race leaves
 * the REAP urgent: a wake-up too many, never one too few.
 */
static void notify(dise_ring *r, int urgent, uint32_t reaped, uint64_t at_ns)
{
	_Atomic uint32_t *w;
	uint32_t want;

	if (!r->hdr)
		return;
	w = &r->hdr->wake;
	atomic_thread_fence(memory_order_seq_cst);
	want = atomic_load_explicit(w, memory_order_relaxed);
	if (want == DISE_WAKE_NONE ||
	    (want == DISE_WAKE_URGENT && (!urgent || end_read(r, reaped, at_ns)) && !shard_filling(r)))
		return;
	if (atomic_exchange_explicit(w, DISE_WAKE_NONE, memory_order_seq_cst))
		dise_sys3(SYS_futex, (long)w, FUTEX_WAKE, 1); /* inline: no libc page (dise/rawsys.h) */
}

void dise_ring_notify_record(dise_ring *r, int urgent)
{
	notify(r, urgent, 0, 0);
}

void dise_ring_notify(dise_ring *r)
{
	notify(r, 1, 0, 0);
}

int dise_ring_put_record(dise_ring *r, const void *rec, uint32_t len)
{
	const unsigned char *b = rec;
	struct dise_rec_hdr h;
	uint32_t reaped = 0;
	int32_t status = 0;
	int ret = dise_ring_put(r, rec, len);

	if (ret < 0 || len < sizeof(h))
		return ret;
	__builtin_memcpy(&h, b, sizeof(h));
	if (h.type == DISE_REC_EXIT && len >= sizeof(struct dise_rec_exit)) {
		__builtin_memcpy(&status, b + offsetof(struct dise_rec_exit, status), sizeof(status));
	} else if (h.type == DISE_REC_REAP && len >= sizeof(struct dise_rec_reap)) {
		__builtin_memcpy(&status, b + offsetof(struct dise_rec_reap, status), sizeof(status));
		__builtin_memcpy(&reaped, b + offsetof(struct dise_rec_reap, child_pid), sizeof(reaped));
	}
	notify(r, dise_ring_urgent(h.type, status), reaped, h.mono_ns);
	return 0;
}
