/* SPDX-License-Identifier: MIT */
/*
 * Consumer half of the ring (protocol in include/dise/ring.h).
 *
 * The reader keeps a private read position `rpos` that runs ahead of the
 * shared, durable `tail`: records between tail and rpos have been handed to
 * the caller but are not yet durable, and their slots stay owned by the ring
 * until dise_ring_release(). A reader that dies re-reads them.
 *
 * Everything read from the mapping is copied out first and then judged; a
 * hostile writer can make us skip records or count corruption, never index
 * out of bounds or loop forever. A truncated file (SIGBUS on access) turns
 * into -EIO through a per-thread guard instead of killing the consumer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "dise/ring.h"

/*
 * Per shard: `rpos` runs ahead over what was looked at; a record copied out
 * but not yet handed to the caller is "staged" (one per shard, so that the
 * oldest across shards can go first); `done` is where release may free up
 * to: everything before it was handed out or skipped.
 */
struct shard_state {
	uint64_t rpos;
	uint64_t done;
	uint64_t base;        /* our own copy of tail (released up to here): the lap we may look at is [base, base + nslots) */
	uint64_t seen_dropped; /* the shard's drop counter at the last look for a wedge */
	uint64_t stall_pos;   /* position we are waiting on, UINT64_MAX for none */
	uint64_t stall_since; /* monotonic ns when the wait began */
	uint64_t stall_head;  /* head when the wait began: slots below it had their chance */
	uint64_t tear_until;  /* after a tear, uncommitted slots below this are torn too */
	int staged;
	uint64_t staged_pos, staged_mono;
	size_t staged_len;
	uint8_t *buf; /* DISE_RECORD_MAX_SLOTS * DISE_SLOT_DATA */
};

struct dise_ring_reader {
	dise_ring ring;
	int fd;
	int flags;
	uint64_t torn_ns;
	int looked; /* the first dise_ring_repair looks for a wedge whatever the drop counters say */
	const volatile sig_atomic_t *stop; /* dise_ring_reader_set_stop */
	uint64_t ended, ended_said; /* the last failing EXIT read (the header's ended word), and what the header was told */
	struct shard_state sh[DISE_RING_MAX_SHARDS];
};

/*
 * The guard's jumps keep no signal mask (sigsetjmp(jb, 0)): saving it is a
 * system call at every read (rt_sigprocmask, 12% of ingest's CPU). Nothing
 * to restore: on_sigbus runs with SA_NODEFER and an empty sa_mask, so the
 * mask in the handler is the one of the code it interrupted, the mask at
 * the sigsetjmp (nothing in between changes it).
 */
static __thread sigjmp_buf *bus_guard;
static struct sigaction old_bus;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	if (bus_guard)
		siglongjmp(*bus_guard, 1);
	/* Not ours: behave as if we had never been there. */
	sigaction(sig, &old_bus, NULL);
	(void)si;
	(void)uc;
	raise(sig);
}

/* (Re)installs the guard unless it is in place: a host (a test framework) may have replaced it. */
static void install_bus_guard(void)
{
	struct sigaction sa, cur;

	if (sigaction(SIGBUS, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigbus)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER; /* and an empty sa_mask: the jumps out of it restore no mask */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old_bus);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t free_seq(const dise_ring *r, uint64_t pos)
{
	return pos < r->nslots ? 0 : pos;
}

int dise_ring_reader_new(const char *path, int flags, unsigned torn_timeout_ms, dise_ring_reader **ret)
{
	dise_ring_reader *rd;
	uint32_t i;
	int r;

	rd = calloc(1, sizeof(*rd));
	if (!rd)
		return -ENOMEM;
	rd->fd = -1;
	rd->flags = flags;
	rd->torn_ns = (uint64_t)(torn_timeout_ms ? torn_timeout_ms : 1000) * 1000000u;
	r = dise_ring_map(path, (flags & DISE_READER_PEEK) ? 0 : DISE_RING_WRITE, 0, 0, &rd->ring);
	if (r < 0)
		goto fail;
	for (i = 0; i < rd->ring.nshards; i++) {
		rd->sh[i].stall_pos = UINT64_MAX;
		rd->sh[i].buf = malloc((size_t)DISE_RECORD_MAX_SLOTS * DISE_SLOT_DATA);
		if (!rd->sh[i].buf) {
			r = -ENOMEM;
			goto fail;
		}
	}
	if (!(flags & DISE_READER_PEEK)) {
		rd->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (rd->fd < 0) {
			r = -errno;
			goto fail;
		}
		if (flock(rd->fd, LOCK_EX | LOCK_NB) < 0) {
			r = errno == EWOULDBLOCK ? -EBUSY : -errno;
			goto fail;
		}
	}
	install_bus_guard();
	{
		sigjmp_buf jb;

		if (sigsetjmp(jb, 0)) {
			bus_guard = NULL;
			r = -EIO;
			goto fail;
		}
		bus_guard = &jb;
		for (i = 0; i < rd->ring.nshards; i++)
			rd->sh[i].rpos = rd->sh[i].done = rd->sh[i].base =
				atomic_load_explicit(&rd->ring.hdr->shards[i].tail, memory_order_acquire);
		if (!(flags & DISE_READER_PEEK))
			atomic_store_explicit(&rd->ring.hdr->consumer_pid, (uint32_t)getpid(), memory_order_relaxed);
		bus_guard = NULL;
	}
	*ret = rd;
	return 0;
fail:
	dise_ring_reader_free(rd);
	return r;
}

dise_ring_reader *dise_ring_reader_free(dise_ring_reader *rd)
{
	if (!rd)
		return NULL;
	for (uint32_t i = 0; i < DISE_RING_MAX_SHARDS; i++)
		free(rd->sh[i].buf);
	dise_ring_unmap(&rd->ring);
	if (rd->fd >= 0)
		close(rd->fd);
	free(rd);
	return NULL;
}

int dise_ring_reader_replaced(const dise_ring_reader *rd, const char *path)
{
	struct stat ours, now;

	if (rd->fd < 0 || fstat(rd->fd, &ours) < 0)
		return 0;
	if (lstat(path, &now) < 0)
		return errno == ENOENT;
	return ours.st_dev != now.st_dev || ours.st_ino != now.st_ino;
}

uint64_t dise_ring_reader_epoch(const dise_ring_reader *rd)
{
	return rd->ring.epoch;
}

static void count(_Atomic uint64_t *c, const dise_ring_reader *rd)
{
	if (!(rd->flags & DISE_READER_PEEK))
		atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

void dise_ring_count_corrupt(dise_ring_reader *rd)
{
	count(&rd->ring.hdr->corrupt, rd);
}

/*
 * One step in shard k at its rpos. Returns 1 when a record was staged, 0
 * when nothing is ready, 2 when it skipped something and the caller should
 * look again, -EBADMSG for a malformed slot sequence (counted, skipped).
 */
static int step(dise_ring_reader *rd, uint32_t k)
{
	dise_ring *r = &rd->ring;
	struct dise_ring_shard *h = &r->hdr->shards[k];
	struct shard_state *st = &rd->sh[k];
	uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
	uint64_t pos = st->rpos, seq, i, nf;
	struct dise_slot *s;
	struct dise_rec_hdr rh;
	int peek = rd->flags & DISE_READER_PEEK;

	/*
	 * No honest producer reserves beyond base + nslots (the slot it needs
	 * is freed by our release of base). A head outside [base, base + nslots]
	 * is someone's store: look at our lap only, and never past it before we
	 * released it (slots beyond it still hold the lap we read), so that a
	 * wild head costs one lap at most, never an endless walk.
	 */
	if (head > st->base + r->nslots || head < st->base)
		head = st->base + r->nslots;
	if (head <= pos)
		return 0;
	s = dise_ring_slot(r, k, pos);
	seq = atomic_load_explicit(&s->seq, memory_order_acquire);

	if (seq == free_seq(r, pos)) {
		/* Reserved, not committed: in flight, or its producer died. */
		uint64_t t = now_ns();

		if (peek) {
			st->rpos++;
			return 2;
		}
		if (pos < st->tear_until)
			goto tear;
		if (st->stall_pos != pos) {
			st->stall_pos = pos;
			st->stall_since = t;
			st->stall_head = head;
			return 0;
		}
		if (t - st->stall_since < rd->torn_ns)
			return 0;
		atomic_fetch_add_explicit(&h->torn, 1, memory_order_relaxed);
		st->tear_until = st->stall_head;
	tear:
		if (!atomic_compare_exchange_strong_explicit(&s->seq, &seq, pos | DISE_SEQ_TORN,
							     memory_order_acq_rel, memory_order_acquire))
			return 2; /* committed at the last moment: read it next time */
		st->stall_pos = UINT64_MAX;
		st->rpos++;
		return 2;
	}
	if (seq == (pos | DISE_SEQ_TORN)) {
		st->rpos++;
		return 2;
	}
	if (seq != pos + 1) {
		/* Neither free, committed nor torn for this lap: not our protocol. */
		count(&r->hdr->corrupt, rd);
		st->rpos++;
		return -EBADMSG;
	}

	st->stall_pos = UINT64_MAX;
	nf = s->nfrag;
	if (s->frag != 0) {
		/* The tail of a record whose head was torn or skipped. */
		st->rpos++;
		return 2;
	}
	if (nf == 0 || nf > DISE_RECORD_MAX_SLOTS || nf > r->nslots / 2 || pos + nf > head) {
		count(&r->hdr->corrupt, rd);
		st->rpos++;
		return -EBADMSG;
	}
	for (i = 1; i < nf; i++) {
		struct dise_slot *t = dise_ring_slot(r, k, pos + i);

		if (atomic_load_explicit(&t->seq, memory_order_acquire) != pos + i + 1 || t->frag != i ||
		    t->nfrag != nf) {
			count(&r->hdr->corrupt, rd);
			st->rpos++;
			return -EBADMSG;
		}
	}
	for (i = 0; i < nf; i++)
		memcpy(st->buf + i * DISE_SLOT_DATA, dise_ring_slot(r, k, pos + i)->data, DISE_SLOT_DATA);
	memcpy(&rh, st->buf, sizeof(rh));
	if (rh.size < sizeof(struct dise_rec_hdr) || rh.size > nf * DISE_SLOT_DATA ||
	    rh.size <= (nf - 1) * DISE_SLOT_DATA) {
		count(&r->hdr->corrupt, rd);
		st->rpos += nf;
		return -EBADMSG;
	}
	st->rpos += nf;
	if (rh.type == DISE_REC_PAD)
		return 2;
	st->staged = 1;
	st->staged_pos = pos;
	st->staged_mono = rh.mono_ns;
	st->staged_len = rh.size;
	return 1;
}

/* Fills shard k's stage if it can. Returns as step(), never 2. */
static int fill(dise_ring_reader *rd, uint32_t k)
{
	struct shard_state *st = &rd->sh[k];
	int r, budget = (int)rd->ring.nslots + 1;

	if (st->staged)
		return 1;
	do {
		r = step(rd, k);
		if (!st->staged)
			st->done = st->rpos; /* what was skipped needs no hand-out */
	} while (r == 2 && --budget > 0);
	return r == 2 ? 0 : r;
}

/*
 * A failing EXIT handed out: its pid and time, for the header's ended word
 * (ring.h, DISE_ENDED_MS), stored when we next sleep (sleep_on). The bytes
 * are the producer's: a forged EXIT only makes a REAP of that pid wait for
 * the gather's end.
 */
static void note_end(dise_ring_reader *rd, const void *rec, size_t len)
{
	struct dise_rec_exit e;

	if (len < sizeof(e))
		return;
	memcpy(&e, rec, sizeof(e));
	if (e.h.type == DISE_REC_EXIT && dise_ring_urgent(DISE_REC_EXIT, e.status))
		rd->ended = (uint64_t)e.h.pid << 32 | (uint32_t)(e.h.mono_ns / 1000000u);
}

int dise_ring_read(dise_ring_reader *rd, void *buf, size_t size, size_t *ret_len, uint64_t *ret_id)
{
	sigjmp_buf jb;
	struct shard_state *st;
	int best = -1, r;
	uint32_t k;

	if (sigsetjmp(jb, 0)) {
		bus_guard = NULL;
		return -EIO;
	}
	bus_guard = &jb;
	for (k = 0; k < rd->ring.nshards; k++) {
		r = fill(rd, k);
		if (r < 0) {
			bus_guard = NULL;
			return r;
		}
		if (r == 1 && (best < 0 || rd->sh[k].staged_mono < rd->sh[best].staged_mono))
			best = (int)k;
	}
	bus_guard = NULL;
	if (best < 0)
		return 0;
	st = &rd->sh[best];
	if (st->staged_len > size)
		return -ENOBUFS;
	memcpy(buf, st->buf, st->staged_len);
	note_end(rd, buf, st->staged_len);
	*ret_len = st->staged_len;
	*ret_id = dise_ring_id((uint32_t)best, st->staged_pos);
	st->staged = 0;
	st->done = st->rpos;
	return 1;
}

int dise_ring_release(dise_ring_reader *rd)
{
	dise_ring *r = &rd->ring;
	sigjmp_buf jb;
	uint64_t p;
	uint32_t k;

	if (rd->flags & DISE_READER_PEEK)
		return 0;
	if (sigsetjmp(jb, 0)) {
		bus_guard = NULL;
		return -EIO;
	}
	bus_guard = &jb;
	for (k = 0; k < r->nshards; k++) {
		struct shard_state *st = &rd->sh[k];

		/* nothing handed out since the last release, and the shared tail where it was: nothing to write */
		if (st->done == st->base &&
		    atomic_load_explicit(&r->hdr->shards[k].tail, memory_order_relaxed) == st->base)
			continue;
		/* from our own copy of tail: the shared one is anybody's to scribble on */
		for (p = st->base; p < st->done; p++)
			atomic_store_explicit(&dise_ring_slot(r, k, p)->seq, p + r->nslots, memory_order_release);
		atomic_store_explicit(&r->hdr->shards[k].tail, st->done, memory_order_release);
		st->base = st->done;
	}
	bus_guard = NULL;
	return 0;
}

void dise_ring_reader_stats(const dise_ring_reader *rd, struct dise_ring_stats *ret)
{
	sigjmp_buf jb;

	memset(ret, 0, sizeof(*ret));
	if (sigsetjmp(jb, 0)) {
		bus_guard = NULL;
		return;
	}
	bus_guard = &jb;
	dise_ring_stats(&rd->ring, ret);
	bus_guard = NULL;
}

/*
 * Anything to read beyond what this reader looked at? Returns 1 when
 * something is, else 0 with *ret_ms lowered to when a slot we wait on
 * (reserved, not committed yet) is worth another look: soon while the wait
 * is young (a producer between reserve and commit), then at the torn
 * deadline. A slot a hostile process reserved and never commits costs a few
 * wakeups, not a spinning consumer; a head nobody could have set is nothing
 * to read (dise_ring_repair puts it back).
 */
static int pending(dise_ring_reader *rd, unsigned *ret_ms)
{
	dise_ring *r = &rd->ring;
	uint64_t now = now_ns();
	uint32_t k;

	for (k = 0; k < r->nshards; k++) {
		struct shard_state *st = &rd->sh[k];
		uint64_t head = atomic_load_explicit(&r->hdr->shards[k].head, memory_order_seq_cst), age, left;

		if (st->staged)
			return 1;
		if (head <= st->rpos || head < st->base || head > st->base + r->nslots)
			continue;
		if (st->stall_pos != st->rpos ||
		    atomic_load_explicit(&dise_ring_slot(r, k, st->rpos)->seq, memory_order_acquire) != free_seq(r, st->rpos))
			return 1; /* committed (or garbage to count): read it now */
		age = now - st->stall_since;
		left = age >= rd->torn_ns ? 0 : rd->torn_ns - age;
		if (age < left)
			left = age;
		left = left / 1000000u + 1;
		if (left < *ret_ms)
			*ret_ms = (unsigned)left;
	}
	return 0;
}

/*
 * Says we sleep and what for (want: DISE_WAKE_ANY or DISE_WAKE_URGENT),
 * then sleeps unless something is to read or *unless is set. 0 or -errno.
 * What is to read is looked at after wake is stored, with a full fence
 * between (ring-producer.c: a producer that committed before it loaded
 * wake, and saw no sleeper, left a record we find here, whatever it is).
 * The flag likewise: a thread that sets it, then calls dise_ring_notify,
 * either finds wake set and wakes us, or we find its flag. Looked at before
 * the store, the flag could be set and notified in between: a lost wakeup
 * (up to the whole timeout, a second in the collector: the heal latency's
 * rare 1 s). The stop flag likewise (dise_ring_reader_set_stop): a stop
 * signal handled between the caller's last look and the store is seen
 * here, not slept through (a whole gather, or the idle second).
 */
static int sleep_on(dise_ring_reader *rd, unsigned timeout_ms, atomic_int *unless, uint32_t want)
{
	_Atomic uint32_t *w = &rd->ring.hdr->wake;
	struct timespec ts;
	int r = 0;

	if (rd->ended != rd->ended_said) /* before the word: a producer that sees the word sees this too */
		atomic_store_explicit(&rd->ring.hdr->ended, rd->ended_said = rd->ended, memory_order_relaxed);
	atomic_store_explicit(w, want, memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
	if (!(unless && atomic_load_explicit(unless, memory_order_seq_cst)) && !(rd->stop && *rd->stop) &&
	    !pending(rd, &timeout_ms)) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
		if (syscall(SYS_futex, w, FUTEX_WAIT, want, &ts, NULL, 0) != 0 && errno != EAGAIN &&
		    errno != ETIMEDOUT && errno != EINTR)
			r = -errno;
	}
	atomic_store_explicit(w, DISE_WAKE_NONE, memory_order_relaxed);
	return r;
}

static int wait_for_word(dise_ring_reader *rd, unsigned timeout_ms, atomic_int *unless, uint32_t want)
{
	volatile unsigned ms = timeout_ms; /* across sigsetjmp */
	sigjmp_buf jb;
	int r;

	if (rd->flags & DISE_READER_PEEK)
		return -EINVAL;
	if (sigsetjmp(jb, 0)) {
		bus_guard = NULL;
		return -EIO;
	}
	bus_guard = &jb;
	r = sleep_on(rd, ms, unless, want);
	bus_guard = NULL;
	return r;
}

void dise_ring_reader_set_stop(dise_ring_reader *rd, const volatile sig_atomic_t *stop)
{
	rd->stop = stop;
}

int dise_ring_reader_wait(dise_ring_reader *rd, unsigned timeout_ms)
{
	return wait_for_word(rd, timeout_ms, NULL, DISE_WAKE_ANY);
}

int dise_ring_reader_wait_unless(dise_ring_reader *rd, unsigned timeout_ms, atomic_int *unless)
{
	return wait_for_word(rd, timeout_ms, unless, DISE_WAKE_ANY);
}

int dise_ring_reader_wait_urgent(dise_ring_reader *rd, unsigned timeout_ms, atomic_int *unless)
{
	return wait_for_word(rd, timeout_ms, unless, DISE_WAKE_URGENT);
}

/* Shard k's head, if it lies outside the only lap a producer can reserve in: moved to its end. */
static int repair_head(dise_ring_reader *rd, uint32_t k, struct dise_ring_repair *rep)
{
	dise_ring *r = &rd->ring;
	struct dise_ring_shard *h = &r->hdr->shards[k];
	struct shard_state *st = &rd->sh[k];
	uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);

	if (atomic_load_explicit(&h->tail, memory_order_relaxed) != st->base) {
		atomic_store_explicit(&h->tail, st->base, memory_order_release);
		rep->tails++;
	}
	if (head >= st->base && head <= st->base + r->nslots)
		return 0;
	/*
	 * Not to base: producers that reserved before the store may still be
	 * writing in [base, their head), and a new one must not reserve the
	 * same slots. The end of the lap is always safe: we read (or tear)
	 * what the lap holds, release it, and the producers go on from there.
	 */
	if (atomic_compare_exchange_strong_explicit(&h->head, &head, st->base + r->nslots, memory_order_acq_rel,
						    memory_order_acquire))
		rep->heads++;
	return 1;
}

/*
 * Slots ahead of shard k's head (nobody reserved them) that do not say
 * "free": a stray store, and every producer that needs one of them sees a
 * full shard for good. Freed again, unless a producer reserved meanwhile.
 */
static void repair_slots(dise_ring_reader *rd, uint32_t k, struct dise_ring_repair *rep)
{
	dise_ring *r = &rd->ring;
	struct dise_ring_shard *h = &r->hdr->shards[k];
	uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire), p, seq;

	for (p = head; p < rd->sh[k].base + r->nslots; p++) {
		struct dise_slot *s = dise_ring_slot(r, k, p);

		seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		if (seq == free_seq(r, p))
			continue;
		if (atomic_load_explicit(&h->head, memory_order_acquire) != head)
			return; /* a producer reserved: the next look goes on */
		if (atomic_compare_exchange_strong_explicit(&s->seq, &seq, free_seq(r, p), memory_order_acq_rel,
							    memory_order_acquire))
			rep->slots++;
	}
}

int dise_ring_repair(dise_ring_reader *rd, struct dise_ring_repair *ret)
{
	dise_ring *r = &rd->ring;
	sigjmp_buf jb;
	uint32_t k;

	memset(ret, 0, sizeof(*ret));
	if (rd->flags & DISE_READER_PEEK)
		return -EINVAL;
	if (sigsetjmp(jb, 0)) {
		bus_guard = NULL;
		return -EIO;
	}
	bus_guard = &jb;
	for (k = 0; k < r->nshards; k++) {
		struct shard_state *st = &rd->sh[k];
		uint64_t dropped = atomic_load_explicit(&r->hdr->shards[k].dropped, memory_order_relaxed);

		if (repair_head(rd, k, ret))
			continue; /* the lap is read (or torn) first; the next look finds the slots */
		/* a wedge shows as drops with nothing left to read: look only then, the scan costs a lap */
		if (st->staged || st->rpos != st->base ||
		    atomic_load_explicit(&r->hdr->shards[k].head, memory_order_acquire) != st->rpos)
			continue;
		if (rd->looked && dropped == st->seen_dropped)
			continue;
		st->seen_dropped = dropped;
		repair_slots(rd, k, ret);
	}
	rd->looked = 1;
	bus_guard = NULL;
	return (int)(ret->heads + ret->tails + (ret->slots > 0));
}

int dise_ring_routes_announce(dise_ring_reader *rd, uint32_t n)
{
	if (rd->flags & DISE_READER_PEEK)
		return -EINVAL;
	atomic_store_explicit(&rd->ring.hdr->nroutes, n, memory_order_release);
	return 0;
}
