/* SPDX-License-Identifier: MIT */
/*
 * The collector's resolver thread (dise-collectord): versions for the runs
 * ingest stored without one, the detectors' passes, the healer, the canary
 * rollouts and the routes' publication, on its own connection. What it
 * shares with the ingest loop is struct resolver_arg.
 */
#ifndef DISE_RESOLVER_LOOP_H
#define DISE_RESOLVER_LOOP_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include <dise/clock.h>
#include <dise/ring.h>

#include "config.h"
#include "known.h"

/*
 * The resolver thread: versions for new runs, on its own connection, so
 * that hashing a large binary never holds up ingest.
 */
struct resolver_arg {
	const char *db, *cas;
	const struct dise_config *cfg;
	pthread_mutex_t lock;
	pthread_cond_t more; /* ingest stored something: the file may be replaced soon, hash now */
	int pending;
	atomic_int routes_changed; /* the healer ran: publish the routes */
	atomic_int failure_seen;   /* ingest stored a run's bad end: the detectors look at once */
	atomic_int unresolved;     /* ingest stored a START without its version: the resolver's step has work */
	dise_known *given;         /* the versions the resolver gave, by path: ingest gives them (known.h) */
	dise_ring wake;            /* a mapping of the ring, to wake the ingest loop when it sleeps */
	pthread_mutex_t wake_lock; /* the main thread maps wake anew when the ring file is replaced */
	volatile sig_atomic_t *stop; /* set by SIGTERM, SIGINT: the thread returns */
};


/* The resolver thread's body (pthread_create's start routine, a struct resolver_arg). */
void *dise__resolver_main(void *p);

/* Ingest stored something: the resolver looks (thread-safe). */
void dise__resolver_kick(struct resolver_arg *a);

/* The ring file was replaced: the wake mapping follows it (the ingest reader already did). */
void dise__resolver_remap(struct resolver_arg *a, const char *ring);

static inline uint64_t mono_ns(void)
{
	return dise_clock_ns(CLOCK_MONOTONIC);
}

static inline int64_t wall_ns(void)
{
	return (int64_t)dise_clock_ns(CLOCK_REALTIME);
}

static inline void nap(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

#endif
