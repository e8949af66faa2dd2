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

#include "ingest.h"
#include "outcome.h"
#include "publish.h"

#define CHECKPOINT_COMMITS 512

struct dise_ingest {
	char *path;
	dise_store *st;
	dise_ring_reader *rd;
	uint64_t epoch;
	uint32_t nshards;
	uint64_t next[DISE_RING_MAX_SHARDS];   /* stored cursor */
	uint64_t staged[DISE_RING_MAX_SHARDS]; /* cursor within the open batch */
	void *buf;
	int kill_after_commit; /* test-only fault switch: DISE_TEST_KILL_AFTER_COMMIT */
	uint64_t since_checkpoint; /* commits not yet checkpointed */
};

static int open_reader(dise_ingest *in)
{
	struct dise_ring_stats s;
	dise_ring r;
	uint32_t k;
	int e;

	/* Make the ring if no watched program did yet, so the collector can start first. */
	e = dise_ring_map(in->path, DISE_RING_WRITE | DISE_RING_CREATE, 0, 0, &r);
	if (e < 0)
		return e;
	dise_ring_unmap(&r);
	e = dise_ring_reader_new(in->path, 0, 0, &in->rd);
	if (e < 0)
		return e;
	dise_ring_reader_stats(in->rd, &s);
	in->epoch = s.epoch;
	in->nshards = s.nshards;
	for (k = 0; k < in->nshards; k++) {
		e = dise_store_cursor_get(in->st, in->epoch, k, &in->next[k]);
		if (e < 0)
			return e;
		in->staged[k] = in->next[k];
	}
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
	free(in);
	return NULL;
}

/* After a failed batch: forget what was read, start again from the ring's durable cursor. */
static void reset(dise_ingest *in)
{
	uint32_t k;

	dise_store_rollback(in->st);
	in->rd = dise_ring_reader_free(in->rd);
	if (dise_ring_reader_new(in->path, 0, 0, &in->rd) < 0)
		in->rd = NULL;
	for (k = 0; k < in->nshards; k++)
		in->staged[k] = in->next[k];
}

int dise_ingest_batch(dise_ingest *in, size_t max, struct dise_ingest_stats *stats)
{
	size_t n = 0;
	uint32_t k;
	int r;

	if (!in->rd && (r = dise_ring_reader_new(in->path, 0, 0, &in->rd)) < 0)
		return r;
	r = dise_store_begin(in->st);
	if (r < 0)
		return r;
	while (n < max) {
		struct dise_record rec;
		size_t len;
		uint64_t id, pos;

		r = dise_ring_read(in->rd, in->buf, DISE_RECORD_MAX, &len, &id);
		if (r == -EBADMSG) { /* already counted by the reader */
			stats->bad++;
			continue;
		}
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		n++;
		k = (uint32_t)(id >> 56);
		pos = id & ((UINT64_C(1) << 56) - 1);
		if (k >= in->nshards)
			continue;
		if (pos < in->staged[k]) {
			stats->skipped++;
			continue;
		}
		in->staged[k] = pos + (len + DISE_SLOT_DATA - 1) / DISE_SLOT_DATA;
		if (dise_record_decode(in->buf, len, &rec, NULL) < 0) {
			dise_ring_count_corrupt(in->rd);
			stats->bad++;
			continue;
		}
		r = dise_store_add_record(in->st, in->epoch, &rec);
		if (r < 0)
			goto fail;
		stats->stored++;
		/* a run that may have ended badly (the tool's policy and the comparison decide): the detectors look at once */
		{
			int o = dise_outcome_of_record(&rec);

			if (o == DISE_OUTCOME_CRASH || o == DISE_OUTCOME_FAIL)
				stats->failures++;
		}
	}
	for (k = 0; k < in->nshards; k++)
		if (in->staged[k] != in->next[k] && (r = dise_store_cursor_set(in->st, in->epoch, k, in->staged[k])) < 0)
			goto fail;
	r = dise_store_commit(in->st);
	if (r < 0)
		goto fail;
	for (k = 0; k < in->nshards; k++)
		in->next[k] = in->staged[k];
	if (n > 0 && ++in->since_checkpoint >= 16 * CHECKPOINT_COMMITS && dise_store_checkpoint(in->st) == 0)
		in->since_checkpoint = 0; /* a load that never lets the ring drain must not grow the WAL forever */
	if (in->kill_after_commit && n > 0)
		raise(SIGKILL); /* the worst moment: stored, not yet released */
	/* durable: now the ring may reuse the slots */
	r = dise_ring_release(in->rd);
	return r < 0 ? r : (int)n;
fail:
	reset(in);
	return r;
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
	if (in->rd)
		dise_ring_reader_wait(in->rd, timeout_ms);
}

int dise_ingest_publish_routes(dise_ingest *in, dise_store *st, const char *cas_dir)
{
	int r;

	if (!in->rd && (r = dise_ring_reader_new(in->path, 0, 0, &in->rd)) < 0)
		return r;
	return dise_publish_routes(in->rd, in->path, st, cas_dir);
}
