/* SPDX-License-Identifier: MIT */
/* Draining the ring into the store, exactly once in effect. */
#ifndef DISE_INGEST_H
#define DISE_INGEST_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "dise/ring.h"
#include "store.h"

struct dise_ingest_stats {
	uint64_t stored;  /* records applied to the store */
	uint64_t skipped; /* records read again after a restart, already stored */
	uint64_t bad;     /* records that failed to decode (counted in the ring too) */
	uint64_t vanished; /* runs marked vanished */
	uint64_t may_strike; /* records that end a run badly and may be strikes (urgent_end): the detectors look at once */
	uint64_t merged;   /* runs whose START and end were written as one row (dise_store_add_run) */
};

typedef struct dise_ingest dise_ingest;

/* Opens the ring (creating it if there is none yet) as its consumer, and loads the store's cursor. */
int dise_ingest_new(const char *ring_path, dise_store *st, dise_ingest **ret);
dise_ingest *dise_ingest_free(dise_ingest *in);

/*
 * One batch: reads up to max records, applies them and the new cursor in one
 * transaction, commits, and only then frees their slots in the ring.
 * Returns the number of records read (0: the ring was empty), or -errno;
 * after an error nothing of the batch is stored or released, and the next
 * call reads the same records again.
 */
int dise_ingest_batch(dise_ingest *in, size_t max, struct dise_ingest_stats *stats);

/* Ends a batch early (what was read commits) once *stop is set (a signal handler's flag). */
void dise_ingest_set_stop(dise_ingest *in, const volatile sig_atomic_t *stop);

/*
 * Under a steady stream (the batch before committed less than gather_ns
 * ago), a batch reads for up to gather_ns before it stores what it read,
 * in one transaction, asleep on the ring meanwhile until a record that may
 * be a strike comes (dise_ring_reader_wait_urgent); a bad end read that may be a strike (dise_store_end_may_strike),
 * *urgent set (then dise_ring_notify on the ring: it ends the wait), a stop
 * or a full batch store at once. 0: every batch stores what the ring holds
 * now (the default).
 */
void dise_ingest_set_gather(dise_ingest *in, uint64_t gather_ns, atomic_int *urgent);

enum { DISE_INGEST_REOPENED = 1, DISE_INGEST_REPAIRED = 2 };

/*
 * Call when drained: is the ring still the file at its path (else the new
 * one is opened: DISE_INGEST_REOPENED), and is it sound (else repaired:
 * DISE_INGEST_REPAIRED, see dise_ring_repair)? what gets a one-line
 * account of anything done, for the journal. Returns 0 (nothing to say),
 * one of those, or -errno (what says why).
 */
int dise_ingest_check(dise_ingest *in, char *what, size_t size);

/* Publishes the routes (publish.c: dise_publish_routes) through this ingest's ring consumer. */
int dise_ingest_publish_routes(dise_ingest *in, dise_store *st, const char *cas_dir);

/* Checkpoints the store if commits happened since the last time, then sleeps until producers commit more (or timeout_ms). */
void dise_ingest_wait(dise_ingest *in, unsigned timeout_ms);

#endif
