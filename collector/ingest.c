/* SPDX-License-Identifier: MIT */
/*
 * Ring → SQLite. The ring is at-least-once: slots are released only after
 * the transaction that stored their records committed, so a collector
 * killed at any moment re-reads what it had not committed. The store keeps,
 * in the same transaction, the position after the last stored record of
 * each shard (per ring epoch); a record re-read below that position is
 * skipped. Together: every record is applied exactly once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "dise/clock.h"
#include "ingest.h"
#include "outcome.h"
#include "publish.h"

#define CHECKPOINT_COMMITS 512
/* a batch's records held in memory at most (plus one record): then stored, whatever the gather */
#define GATHER_BYTES_MAX (4u << 20)
/* a record's place in the arena: its length, then its bytes, each 16-aligned (as malloc aligns in->buf) */
#define ARENA_HDR 16u
#define ARENA_LEN(len) (((len) + 15) & ~(size_t)15)
/* records looked at after a START for its end (the same process's next record) */
#define PAIR_WINDOW 64

struct dise_ingest {
	char *path;
	dise_store *st;
	dise_ring_reader *rd;
	uint64_t epoch;
	uint32_t nshards;
	uint64_t lap; /* slots per shard */
	uint64_t next[DISE_RING_MAX_SHARDS];   /* stored cursor */
	uint64_t staged[DISE_RING_MAX_SHARDS]; /* cursor within the open batch */
	void *buf;
	int kill_after_commit; /* test-only fault switch: DISE_TEST_KILL_AFTER_COMMIT */
	int stop_in_gather; /* test-only: DISE_TEST_STOP_IN_GATHER, a stop signal right before a gather's sleep */
	uint64_t since_checkpoint; /* commits not yet checkpointed */
	const volatile sig_atomic_t *stop; /* set: end the batch in hand early (commit what was read) */
	/* the gather (dise_ingest_set_gather): records read, not stored yet */
	uint64_t gather_ns, last_commit;
	atomic_int *urgent;
	unsigned char *arena; /* records as read: a size_t length, then the bytes, aligned */
	size_t used, cap;
	/* the batch's records decoded (they point into the arena), and which START each end is written with */
	struct dise_record *recs;
	int32_t *mate;
	size_t nrecs_cap;
	size_t recent[PAIR_WINDOW], nrecent; /* the arena offsets of the last records gathered */
};

/*
 * Opens a consumer on the ring at in->path (making the ring if no watched
 * program did yet, so the collector can start first) and loads the store's
 * cursors for it. Only on success does it replace in->rd (the caller frees
 * the one it had).
 */
static int open_reader(dise_ingest *in)
{
	struct dise_ring_stats s;
	dise_ring_reader *rd;
	uint64_t next[DISE_RING_MAX_SHARDS];
	dise_ring r;
	uint32_t k;
	int e;

	e = dise_ring_map(in->path, DISE_RING_WRITE | DISE_RING_CREATE, 0, 0, &r);
	if (e < 0)
		return e;
	dise_ring_unmap(&r);
	e = dise_ring_reader_new(in->path, 0, 0, &rd);
	if (e < 0)
		return e;
	dise_ring_reader_stats(rd, &s);
	for (k = 0; k < s.nshards; k++) {
		e = dise_store_cursor_get(in->st, s.epoch, k, &next[k]);
		if (e < 0) {
			dise_ring_reader_free(rd);
			return e;
		}
	}
	dise_ring_reader_free(in->rd);
	in->rd = rd;
	dise_ring_reader_set_stop(rd, in->stop);
	in->epoch = s.epoch;
	in->nshards = s.nshards;
	in->lap = s.nslots / s.nshards;
	for (k = 0; k < s.nshards; k++)
		in->next[k] = in->staged[k] = next[k];
	return 0;
}

int dise_ingest_new(const char *ring_path, dise_store *st, dise_ingest **ret)
{
	dise_ingest *in = calloc(1, sizeof(*in));
	int r;

	if (!in)
		return -ENOMEM;
	in->st = st;
	in->kill_after_commit = getenv("DISE_TEST_KILL_AFTER_COMMIT") != NULL;
	in->stop_in_gather = getenv("DISE_TEST_STOP_IN_GATHER") != NULL;
	in->path = strdup(ring_path);
	in->buf = malloc(DISE_RECORD_MAX);
	if (!in->path || !in->buf) {
		dise_ingest_free(in);
		return -ENOMEM;
	}
	r = open_reader(in);
	if (r < 0) {
		dise_ingest_free(in);
		return r;
	}
	*ret = in;
	return 0;
}

dise_ingest *dise_ingest_free(dise_ingest *in)
{
	if (!in)
		return NULL;
	dise_ring_reader_free(in->rd);
	free(in->path);
	free(in->buf);
	free(in->arena);
	free(in->recs);
	free(in->mate);
	free(in);
	return NULL;
}

/* After a failed batch: forget what was read, start again from the ring's durable cursor. */
static void reset(dise_ingest *in)
{
	uint32_t k;

	dise_store_rollback(in->st);
	in->rd = dise_ring_reader_free(in->rd); /* its read-ahead is void */
	for (k = 0; k < in->nshards; k++)
		in->staged[k] = in->next[k];
	open_reader(in); /* else the next batch tries again */
}

void dise_ingest_set_stop(dise_ingest *in, const volatile sig_atomic_t *stop)
{
	in->stop = stop;
	if (in->rd) /* its waits end at once while *stop is set, a stop handled just before them too */
		dise_ring_reader_set_stop(in->rd, stop);
}

static void stats_add(struct dise_ingest_stats *to, const struct dise_ingest_stats *b)
{
	to->stored += b->stored;
	to->skipped += b->skipped;
	to->bad += b->bad;
	to->may_strike += b->may_strike;
	to->merged += b->merged;
}

void dise_ingest_set_gather(dise_ingest *in, uint64_t gather_ns, atomic_int *urgent)
{
	in->gather_ns = gather_ns;
	in->urgent = urgent;
}

static uint64_t mono_ns(void)
{
	return dise_clock_ns(CLOCK_MONOTONIC);
}

/* Keeps a record read (len bytes in in->buf) until the batch stores it. -ENOMEM when there is no room. */
static int keep(dise_ingest *in, size_t len)
{
	size_t need = in->used + ARENA_HDR + ARENA_LEN(len);

	if (need > in->cap) {
		size_t cap = in->cap ? in->cap : 1 << 16;
		unsigned char *a;

		while (cap < need)
			cap *= 2;
		if (!(a = realloc(in->arena, cap)))
			return -ENOMEM;
		in->arena = a, in->cap = cap;
	}
	memcpy(in->arena + in->used, &len, sizeof(len));
	memcpy(in->arena + in->used + ARENA_HDR, in->buf, len);
	in->used = need;
	return 0;
}

/* Whether a shard holds 1/DISE_WAKE_FILL of its slots read and not released: what wakes a gather (ring.h), and ends it. */
static int gather_filling(const dise_ingest *in)
{
	uint32_t k;

	for (k = 0; k < in->nshards; k++)
		if (in->staged[k] - in->next[k] >= in->lap / DISE_WAKE_FILL)
			return 1;
	return 0;
}

/*
 * Whether the batch waits for more records before it stores what it read:
 * only under a steady stream (the batch before it committed less than a
 * gather ago: the first record after a quiet moment is stored at once),
 * until the gather's end, and never with a bad end read that may be a strike (the heal
 * latency), routes to publish (*urgent), a stop, or a full batch (n
 * records, or a shard's slots: gather_filling). The wait is the gather's
 * rest, on the ring, woken only by what ends the gather: a record that may
 * be a strike (the producer says so: dise_ring_notify_record), a shard
 * filling, routes to publish (the resolver's wake_ingest); the records that
 * came meanwhile are read when it ends, and their producers made no wake-up
 * call for them. No transaction is open meanwhile: the resolver's writes
 * never wait for a gather. A stop ends the sleep at once (the signal, or the
 * reader's look at the flag after it says it sleeps: a stop handled between
 * the look here and the sleep), and the batch stores what it gathered.
 */
static int gather_more(dise_ingest *in, uint64_t start, int bad_end, size_t n, size_t max)
{
	uint64_t now = mono_ns(), left;

	if (!in->gather_ns || bad_end || n >= max || gather_filling(in) || (in->stop && *in->stop) ||
	    (in->urgent && atomic_load(in->urgent)))
		return 0;
	if (start - in->last_commit >= in->gather_ns || now - start >= in->gather_ns)
		return 0;
	left = in->gather_ns - (now - start);
	if (in->stop_in_gather && n > 0)
		raise(SIGTERM); /* the worst moment for a stop: looked at above, not slept on yet */
	dise_ring_reader_wait_urgent(in->rd, (unsigned)((left + 999999) / 1000000), in->urgent);
	return 1;
}

/* Whether rec reads or writes a run of process pid: its own records, a REAP of it. */
static int concerns(const struct dise_record *rec, uint32_t pid)
{
	return rec->hdr.pid == pid || (rec->type == DISE_REC_REAP && rec->u.reap.child_pid == pid);
}

/*
 * Whether a bad end just read (end) ends the gather at once: unless the
 * store can tell it cannot be a strike (dise_store_end_may_strike: a failing
 * exit of a version with no baseline), given its START, the record of that
 * process before it in this gather; a REAP right after the child's own EXIT
 * ends nothing (the run has its end). It is stored with the gather all the
 * same, at most a gather later.
 */
static int urgent_end(dise_ingest *in, const struct dise_record *end)
{
	uint32_t pid = end->type == DISE_REC_REAP ? end->u.reap.child_pid : end->hdr.pid;
	size_t i;

	for (i = 1; i <= in->nrecent && i <= PAIR_WINDOW; i++) {
		size_t off = in->recent[(in->nrecent - i) % PAIR_WINDOW], len;
		struct dise_record s;

		memcpy(&len, in->arena + off, sizeof(len));
		if (dise_record_decode(in->arena + off + ARENA_HDR, len, &s, NULL) < 0 || !concerns(&s, pid))
			continue;
		if (end->type == DISE_REC_REAP) /* after the child's own EXIT (which said whether it was urgent), it ends nothing */
			return !(s.type == DISE_REC_EXIT && s.hdr.pid == pid);
		return dise_store_end_may_strike(in->st, &s, end) != 0;
	}
	return 1;
}

/*
 * Reads up to max slots into the arena (the cursors staged): the records
 * to store, counted into *b. 0 or -errno. Bounded by construction: every
 * slot looked at, good or malformed, counts toward max (the reader never
 * looks past one lap before its release), and the records kept toward
 * GATHER_BYTES_MAX (a producer writing the largest records cannot make
 * the collector hold 4096 of them).
 */
static int gather(dise_ingest *in, size_t max, size_t *ret_n, struct dise_ingest_stats *b)
{
	uint64_t start = mono_ns();
	size_t n = 0;
	int r, bad_end = 0;

	in->used = in->nrecent = 0;
	while (n < max && in->used < GATHER_BYTES_MAX && !(in->stop && *in->stop)) {
		struct dise_record rec;
		size_t len;
		uint64_t id, pos;
		uint32_t k;
		size_t at;

		r = dise_ring_read(in->rd, in->buf, DISE_RECORD_MAX, &len, &id);
		if (r == -EBADMSG) { /* already counted by the reader */
			b->bad++;
			n++;
			continue;
		}
		if (r < 0)
			return r;
		if (r == 0) {
			if (gather_more(in, start, bad_end, n, max))
				continue;
			break;
		}
		n++;
		k = (uint32_t)(id >> 56);
		pos = id & ((UINT64_C(1) << 56) - 1);
		if (k >= in->nshards)
			continue;
		/*
		 * Below the cursor: read again after a restart (at most one lap
		 * below it: the slots of a batch stored but not released), so
		 * skipped. Further below, the cursor is not where this ring is
		 * (someone moved the ring's tail back): a new record, and the
		 * cursor follows it down, or every record up to the old cursor
		 * would be skipped in silence.
		 */
		if (pos < in->staged[k] && pos + in->lap >= in->staged[k]) {
			b->skipped++;
			continue;
		}
		in->staged[k] = pos + (len + DISE_SLOT_DATA - 1) / DISE_SLOT_DATA;
		if (dise_record_decode(in->buf, len, &rec, NULL) < 0) {
			dise_ring_count_corrupt(in->rd);
			b->bad++;
			continue;
		}
		/* a run that may have ended badly (the tool's policy and the comparison decide): one that may be a strike is stored and looked at once */
		{
			int o = dise_outcome_of_record(&rec);

			if (o == DISE_OUTCOME_CRASH || o == DISE_OUTCOME_FAIL) {
				int urgent = !in->gather_ns || urgent_end(in, &rec); /* no gather: nothing to decide */

				b->may_strike += (uint64_t)urgent;
				bad_end = bad_end || urgent;
			}
		}
		at = in->used;
		if ((r = keep(in, len)) < 0)
			return r;
		in->recent[in->nrecent++ % PAIR_WINDOW] = at;
	}
	*ret_n = n;
	return 0;
}

/*
 * Decodes the records gathered (in place: they point into the arena) into
 * in->recs, *ret_n of them, and pairs each START with its end when that is
 * the next record of its process, within PAIR_WINDOW: in->mate[i] = j (> i)
 * for the START, i (< j) for its end, -1 for the others. No record between
 * the two reads or writes a run of that process (the exec parent, a reap,
 * a stand-in's look for the shim's own run all look by pid), so the row
 * written once at the START's place is the row the two statements made.
 */
static int decode_and_pair(dise_ingest *in, size_t *ret_n)
{
	size_t n = 0, off = 0, i, j;

	while (off < in->used) {
		size_t len;

		if (n == in->nrecs_cap) {
			size_t cap = in->nrecs_cap ? 2 * in->nrecs_cap : 256;
			struct dise_record *r = realloc(in->recs, cap * sizeof(*r));
			int32_t *m = r ? realloc(in->mate, cap * sizeof(*m)) : NULL;

			if (r)
				in->recs = r;
			if (!r || !m)
				return -ENOMEM;
			in->mate = m, in->nrecs_cap = cap;
		}
		memcpy(&len, in->arena + off, sizeof(len));
		if (dise_record_decode(in->arena + off + ARENA_HDR, len, &in->recs[n], NULL) < 0)
			return -EIO; /* it decoded when it was read */
		in->mate[n++] = -1;
		off += ARENA_HDR + ARENA_LEN(len);
	}
	for (i = 0; i < n; i++) {
		if (in->mate[i] != -1 || in->recs[i].type != DISE_REC_START)
			continue;
		for (j = i + 1; j < n && j <= i + PAIR_WINDOW; j++) {
			if (!concerns(&in->recs[j], in->recs[i].hdr.pid))
				continue;
			if (in->mate[j] == -1 && dise_store_run_mergeable(&in->recs[i], &in->recs[j]))
				in->mate[i] = (int32_t)j, in->mate[j] = (int32_t)i;
			break;
		}
	}
	*ret_n = n;
	return 0;
}

/*
 * Whether the REAP at in->recs[i] changes nothing: the record before it
 * about the reaped pid (within PAIR_WINDOW) is that child's own EXIT, stored
 * before it in this transaction. A REAP ends only the latest run of the
 * pid when that has no ending (store-reap.c); an EXIT gives its run one
 * (ok or fail, or leaves a crash), no run of the pid can begin after it
 * before the reap (the zombie keeps its pid), and an exec'd image ends by
 * EXEC, not EXIT. (urgent_end() reads a REAP so too.)
 */
static int reap_after_own_exit(const dise_ingest *in, size_t i)
{
	uint32_t pid = in->recs[i].u.reap.child_pid;

	for (size_t j = i; j-- > 0 && i - j <= PAIR_WINDOW;) {
		const struct dise_record *e = &in->recs[j];

		if (!concerns(e, pid))
			continue;
		return e->type == DISE_REC_EXIT && e->hdr.pid == pid && e->u.exit.how != DISE_EXIT_TRACED &&
		       e->u.exit.how != DISE_EXIT_DETACHED;
	}
	return 0;
}

/* Stores the records gathered and the cursors, in one transaction (none when nothing changed). */
static int store_gathered(dise_ingest *in, struct dise_ingest_stats *b)
{
	size_t n, i;
	uint32_t k;
	int r, tx = 0;

	if ((r = decode_and_pair(in, &n)) < 0)
		return r;
	/*
	 * The transaction begins with the first record to store: a look at a
	 * ring with nothing new (after every batch that drained it) takes no
	 * write lock, writes no WAL frame.
	 */
	for (i = 0; i < n; i++) {
		int32_t m = in->mate[i];

		if (m >= 0 && (size_t)m < i)
			continue; /* written with its START */
		if (!tx && (r = dise_store_begin(in->st)) < 0)
			return r;
		tx = 1;
		if (m < 0) {
			/* a shell's REAP of a child that wrote its own EXIT: an UPDATE of no row, not run */
			if (!(in->recs[i].type == DISE_REC_REAP && reap_after_own_exit(in, i)) &&
			    (r = dise_store_add_record(in->st, in->epoch, &in->recs[i])) < 0)
				return r;
			b->stored++;
			continue;
		}
		if ((r = dise_store_add_run(in->st, in->epoch, &in->recs[i], &in->recs[m])) < 0)
			return r;
		b->stored += 2;
		b->merged += (uint64_t)r;
	}
	for (k = 0; k < in->nshards; k++) {
		if (in->staged[k] == in->next[k])
			continue;
		if (!tx && (r = dise_store_begin(in->st)) < 0)
			return r;
		tx = 1;
		if ((r = dise_store_cursor_set(in->st, in->epoch, k, in->staged[k])) < 0)
			return r;
	}
	if (tx && (r = dise_store_commit(in->st)) < 0)
		return r;
	return tx;
}

int dise_ingest_batch(dise_ingest *in, size_t max, struct dise_ingest_stats *stats)
{
	/* what this batch did: counted in *stats only once it committed (a rolled-back batch is read again) */
	struct dise_ingest_stats b = { 0 };
	size_t n = 0;
	uint32_t k;
	int r, tx;

	if (!in->rd && (r = open_reader(in)) < 0)
		return r;
	/* read first, then stored: a crash meanwhile loses nothing, the ring's slots are released after the commit */
	if ((r = gather(in, max, &n, &b)) < 0 || (r = store_gathered(in, &b)) < 0)
		goto fail;
	tx = r;
	for (k = 0; k < in->nshards; k++)
		in->next[k] = in->staged[k];
	stats_add(stats, &b);
	if (tx) {
		in->last_commit = mono_ns();
		if (++in->since_checkpoint >= 16 * CHECKPOINT_COMMITS && dise_store_checkpoint(in->st) == 0)
			in->since_checkpoint = 0; /* a load that never lets the ring drain must not grow the WAL forever */
	}
	if (in->kill_after_commit && n > 0)
		raise(SIGKILL); /* the worst moment: stored, not yet released */
	/* durable: now the ring may reuse the slots */
	r = dise_ring_release(in->rd);
	return r < 0 ? r : (int)n;
fail:
	reset(in);
	return r;
}

int dise_ingest_check(dise_ingest *in, char *what, size_t size)
{
	struct dise_ring_repair rep;
	int r;

	what[0] = '\0';
	if (!in->rd)
		return 0;
	if (dise_ring_reader_replaced(in->rd, in->path)) {
		/* the old file's records were drained a moment ago: what it still gets is lost with it */
		r = open_reader(in);
		if (r < 0) {
			snprintf(what, size, "the ring '%s' was replaced, and the new one cannot be read: %s", in->path,
				 strerror(-r));
			return r;
		}
		snprintf(what, size, "the ring '%s' was replaced (dise ring reset?): reading the new one, epoch %016llx",
			 in->path, (unsigned long long)in->epoch);
		return DISE_INGEST_REOPENED;
	}
	r = dise_ring_repair(in->rd, &rep);
	if (r <= 0)
		return r;
	snprintf(what, size,
		 "repaired the ring '%s' (stores no producer makes): %u shard head%s put back into the lap, %u tail%s "
		 "restored, %llu stray slot%s ahead of a head freed",
		 in->path, rep.heads, rep.heads == 1 ? "" : "s", rep.tails, rep.tails == 1 ? "" : "s",
		 (unsigned long long)rep.slots, rep.slots == 1 ? "" : "s");
	return DISE_INGEST_REPAIRED;
}

void dise_ingest_wait(dise_ingest *in, unsigned timeout_ms)
{
	/*
	 * The ring is drained: a good moment to fold the WAL back, off the
	 * ingest path. Not after every commit (a checkpoint syncs the disk):
	 * after CHECKPOINT_COMMITS of them.
	 */
	if (in->since_checkpoint >= CHECKPOINT_COMMITS && dise_store_checkpoint(in->st) == 0)
		in->since_checkpoint = 0;
	if (in->rd) /* routes to publish (*urgent, set before the resolver's notify) end the sleep too */
		dise_ring_reader_wait_unless(in->rd, timeout_ms, in->urgent);
}

int dise_ingest_publish_routes(dise_ingest *in, dise_store *st, const char *cas_dir)
{
	int r;

	if (!in->rd && (r = open_reader(in)) < 0)
		return r;
	return dise_publish_routes(in->rd, in->path, st, cas_dir);
}
