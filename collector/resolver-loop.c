/* SPDX-License-Identifier: MIT */
/*
 * The resolver thread of dise-collectord (resolver-loop.h): at each wake, a
 * step of the resolver when ingest stored runs without their version, then
 * the detection pass a change left owed (the heal latency for a bad end),
 * the healer, the canary rollouts, and a word to ingest when the routes
 * must be published again.
 */
#define _GNU_SOURCE
#include <unistd.h>

#include "canary.h"
#include "detect.h"
#include "heal.h"
#include "resolve.h"
#include "resolver-loop.h"
#include "store.h"

/*
 * Wakes the ingest loop: idle or gathering, it sleeps on the ring's futex,
 * and dise_ring_notify wakes it whatever it waits for (DISE_WAKE_*).
 */
static void wake_ingest(struct resolver_arg *a)
{
	pthread_mutex_lock(&a->wake_lock);
	dise_ring_notify(&a->wake);
	pthread_mutex_unlock(&a->wake_lock);
}

void dise__resolver_remap(struct resolver_arg *a, const char *ring)
{
	pthread_mutex_lock(&a->wake_lock);
	dise_ring_unmap(&a->wake);
	dise_ring_map(ring, DISE_RING_WRITE, 0, 0, &a->wake);
	pthread_mutex_unlock(&a->wake_lock);
}

void dise__resolver_kick(struct resolver_arg *a)
{
	pthread_mutex_lock(&a->lock);
	a->pending = 1;
	pthread_cond_signal(&a->more);
	pthread_mutex_unlock(&a->lock);
}

/*
 * The resolver's cadence under load: a wake that comes sooner than this
 * after the last one waits for the rest of it, so that the runs stored
 * meanwhile get their versions in one step and one detection pass (each of
 * them a transaction, and every other connection's commit empties SQLite's
 * page cache: the cost is per wake, not per run). A bad end waits nothing
 * (the heal latency), nor does an idle collector's first wake.
 */
#define RESOLVE_GATHER_NS 20000000ull

/* How often a wake with no new version looks whether routes must be published again (canaries, pruned contents). */
#define RESOLVE_ROUTES_LOOK_NS 200000000ull

static void resolver_gather(struct resolver_arg *a, uint64_t last_wake)
{
	uint64_t now = mono_ns(), left;
	struct timespec ts;

	if (now - last_wake >= RESOLVE_GATHER_NS)
		return;
	left = RESOLVE_GATHER_NS - (now - last_wake);
	clock_gettime(CLOCK_REALTIME, &ts); /* the condition variable's clock */
	ts.tv_sec += (time_t)((uint64_t)ts.tv_nsec + left) / 1000000000;
	ts.tv_nsec = (long)(((uint64_t)ts.tv_nsec + left) % 1000000000);
	/* a bad end stored meanwhile (its kick) ends the wait */
	pthread_mutex_lock(&a->lock);
	while (!*a->stop && !atomic_load(&a->failure_seen) && pthread_cond_timedwait(&a->more, &a->lock, &ts) == 0)
		;
	a->pending = 0;
	pthread_mutex_unlock(&a->lock);
}

/* The detectors' pass owed is paid at most this often, but for a new version or a bad end. */
#define RESOLVE_PASS_NS 200000000ull

/*
 * ... and at most once a second while passes keep coming (a pass owed
 * again within RESOLVE_STREAM_NS of the one before it: a steady stream of
 * runs, as in a ./configure). Each pass pays a fixed cost, whatever it
 * finds: SQLite's page cache emptied by ingest's commits read again, a
 * dozen statements (routes, rules, heal requests, canaries): at five a
 * second it was most of the resolver's CPU in a configure. What a pass
 * looks at is the same (the touched runs since the last one); only the
 * slowdown's and the failure rate's verdicts come up to a second after the
 * runs that make them, not 200 ms (the pass owed stays owed until the
 * minute's pass over every version settles it: passes keep coming until
 * then). A bad end's strikes are still judged at once (the heal latency),
 * a new version still looked at at once, and a pass owed after more than
 * RESOLVE_STREAM_NS without one comes within 200 ms as before.
 */
#define RESOLVE_PASS_STREAM_NS 1000000000ull
#define RESOLVE_STREAM_NS 1200000000ull

/* The least time from the last pass to the next pass owed, given the one before it (prev_pass). */
static uint64_t pass_gap(uint64_t last_pass, uint64_t prev_pass)
{
	return prev_pass && last_pass - prev_pass < RESOLVE_STREAM_NS ? RESOLVE_PASS_STREAM_NS : RESOLVE_PASS_NS;
}

/*
 * Sleeps until due (CLOCK_MONOTONIC), or until ingest stores something
 * urgent: a START without its version (hashed now, before the file can be
 * replaced) or a bad end (the heal latency). Anything else it stored only
 * owes a pass, which waits for its time (next_pass: pass_gap()):
 * a wake per ingest commit, each paying for SQLite's page cache emptied by
 * that commit, was a third of the resolver's CPU with no failures.
 */
static void resolver_wait(struct resolver_arg *a, uint64_t due, uint64_t next_pass)
{
	struct timespec ts;
	uint64_t now;

	pthread_mutex_lock(&a->lock);
	while (!*a->stop && (now = mono_ns()) < due) {
		clock_gettime(CLOCK_REALTIME, &ts); /* the condition variable's clock */
		ts.tv_sec += (time_t)(((uint64_t)ts.tv_nsec + (due - now)) / 1000000000);
		ts.tv_nsec = (long)(((uint64_t)ts.tv_nsec + (due - now)) % 1000000000);
		while (!a->pending && !*a->stop && pthread_cond_timedwait(&a->more, &a->lock, &ts) == 0)
			;
		if (!a->pending)
			break; /* due */
		a->pending = 0;
		if (atomic_load(&a->unresolved) || atomic_load(&a->failure_seen))
			break;
		due = next_pass; /* something stored: the pass owed, at its time */
	}
	a->pending = 0;
	pthread_mutex_unlock(&a->lock);
}

void *dise__resolver_main(void *p)
{
	struct resolver_arg *a = p;
	dise_store *st;
	dise_resolver *rs;
	int64_t seen_dv = -1, last_run = -1, pruned_ids = -1, canary_fp = 0;
	uint64_t last_pass = 0, prev_pass = 0, last_all = 0, seen_made = 0, seen_bad = 0, last_wake = 0, last_canary = 0, last_routes_look = 0;
	int r, owed = 1;

	pthread_setname_np(pthread_self(), "dise-resolver"); /* what top -H and /proc/PID/task show */
	if (dise_store_open(a->db, 0, &st) < 0)
		return NULL;
	if (dise_resolver_new(st, a->cas, &rs) < 0) {
		dise_store_free(st);
		return NULL;
	}
	dise_resolver_set_cas_cap(rs, a->cfg->cas_max_bytes);
	dise_resolver_set_config(rs, a->cfg);
	dise_resolver_set_known(rs, a->given);
	dise_store_pruned_identities(st, &pruned_ids); /* what the publication at start covered */
	r = 1; /* the runs an earlier collector left without a version */
	while (!*a->stop) {
		/*
		 * A step only when a run waits for its version: after one that did
		 * work (256 at a time), one that failed, or ingest's word. The runs
		 * of known contents got theirs at ingest (known.h).
		 */
		int stepped = r != 0 || atomic_exchange(&a->unresolved, 0);

		if (stepped)
			r = dise_resolver_step(rs, 256);
		/*
		 * After a step that gave versions (new identities), and otherwise
		 * at most every 200 ms (`dise canary start`, `dise heal` by hand:
		 * an idle collector wakes no more often than that anyway; under a
		 * stream of bad ends, a look at each wake was a tenth of the
		 * resolver's CPU).
		 */
		if (r > 0 || (!stepped && mono_ns() - last_routes_look >= RESOLVE_ROUTES_LOOK_NS)) {
			/*
			 * Routes follow content: a pruned version's bytes at a new
			 * identity (touch, a re-push with mv) get their route now, not
			 * at the next heal.
			 */
			int64_t ids = -1, cfp = 0;

			last_routes_look = mono_ns();

			/* a rollout started, or its canary at a new identity: its weighted route now */
			if (dise_store_canary_fingerprint(st, &cfp) == 0 && cfp != canary_fp) {
				canary_fp = cfp;
				atomic_store(&a->routes_changed, 1);
				wake_ingest(a);
			}
			if (dise_store_pruned_identities(st, &ids) == 0 && ids != pruned_ids) {
				if (ids > pruned_ids) {
					atomic_store(&a->routes_changed, 1);
					wake_ingest(a);
				}
				pruned_ids = ids;
			}
		}
		if (r < 0) {
			nap(200);
		} else if (r == 0) {
			/*
			 * All runs have versions. A detection can only follow a change:
			 * new outcomes or `dise heal|reset|tool add` (other connections:
			 * PRAGMA data_version), new versions (ours). Time alone only ages
			 * failures out of the window. So a change leaves a pass owed:
			 *  - at once, every detector over the versions that changed (the
			 *    versions of the runs stored since, and those whose runs
			 *    ended or got their version since they were looked at:
			 *    runs marked touched by the statements writing them, so a long run's
			 *    end, an old row, is there too), when a version appeared;
			 *    when ingest stored a run's bad end, or a run got its
			 *    version after its bad end (the records of a run may cross
			 *    shards), at once the strikes of the versions with a new bad
			 *    end only - the heal latency, whatever the history;
			 *  - otherwise the same every 200 ms (every second under a
			 *    steady stream: pass_gap), and once a minute every
			 *    detector over every version, as a net for what nothing
			 *    announced (not in the pass a bad end asked for: over a
			 *    large history it holds the write lock for a while).
			 * The debt is settled by that last kind of pass when it changed
			 * nothing (rules are checked 256 pairs at a time: again until
			 * then). An idle collector over a large history costs nothing, a
			 * busy one what its new runs' versions cost.
			 */
			/* PRAGMA data_version changes when another connection commits */
			int64_t dv = -1;
			uint64_t made, now;
			int urgent, bad_end;

			dise_store_data_version(st, &dv);
			/*
			 * A run that got its version after its bad end is a bad end
			 * like any other (strikes at once, the rest at the pass owed);
			 * a new version is looked at whole at once.
			 */
			made = dise_resolver_versions_made(rs);
			now = mono_ns();
			bad_end = atomic_exchange(&a->failure_seen, 0) | (dise_resolver_bad_resolved(rs) != seen_bad);
			seen_bad = dise_resolver_bad_resolved(rs);
			urgent = made != seen_made || !last_all;

			if (dv != seen_dv || urgent || bad_end)
				owed = 1;
			seen_dv = dv;
			seen_made = made;
			if (owed && (urgent || now - last_pass >= pass_gap(last_pass, prev_pass))) {
				/*
				 * A bad end is looked at at once, over the versions that
				 * changed only (touched runs, new runs): its cost does not
				 * grow with history. The pass over every version is the net.
				 */
				int all = !last_all || (!urgent && now - last_all >= 60000000000ull);
				int64_t tc = dise_store_total_changes(st);

				if (dise_detect_since(st, &a->cfg->detect, a->cfg, wall_ns(), all ? -1 : last_run,
						      &last_run, 1) >= 0 &&
				    dise_heal_pending(st, a->cfg) > 0) {
					/* the healer consumed what the detectors queued: publish the routes now */
					atomic_store(&a->routes_changed, 1);
					wake_ingest(a);
				}
				/*
				 * then what the rules say about versions new and old (replays
				 * may take a while); with no rule stored there is nothing to
				 * check (its 2 MiB work space was an mmap and munmap at every
				 * pass: a sixth of the resolver's CPU in a configure)
				 */
				int64_t rules = 1;

				if ((dise_store_rules_any(st, &rules) < 0 || rules) && dise_heal_check_rules(st, a->cfg) > 0) {
					dise_heal_pending(st, a->cfg); /* what a rule matched is healed now */
					atomic_store(&a->routes_changed, 1);
					wake_ingest(a);
				}
				prev_pass = last_pass;
				last_pass = now;
				if (all) {
					last_all = now;
					owed = dise_store_total_changes(st) != tc;
				}
			} else if (bad_end) {
				/*
				 * A bad end between passes: at once, the versions that had
				 * one (strikes, failure rate; what a heal needs), not every
				 * version with new runs (the pass owed does those): under a
				 * load that fails often, a pass per bad end over all of
				 * them was most of the collector's CPU.
				 */
				/* the healer when this pass queued a request (the pass owed looks for any other) */
				if (dise_detect_since(st, &a->cfg->detect, a->cfg, wall_ns(), last_run, NULL,
						      DISE_DETECT_BAD_ENDS_ONLY) > 0 &&
				    dise_heal_pending(st, a->cfg) > 0) {
					atomic_store(&a->routes_changed, 1);
					wake_ingest(a);
				}
			}
			/*
			 * The canary rollouts, at every wake (at least once a second:
			 * a step may be due by time alone): an abort at once, a step
			 * (its analysis counts the runs at the step) at most once a
			 * second; an abort's heal request is healed now.
			 */
			int analyse = mono_ns() - last_canary >= 1000000000ull;

			if (analyse)
				last_canary = mono_ns();
			if (dise_canary_pass(st, a->cfg, wall_ns(), analyse) > 0) {
				dise_heal_pending(st, a->cfg);
				atomic_store(&a->routes_changed, 1);
				wake_ingest(a);
			}
			resolver_wait(a, owed ? last_pass + pass_gap(last_pass, prev_pass) : mono_ns() + 1000000000ull,
				      last_pass + pass_gap(last_pass, prev_pass));
			resolver_gather(a, last_wake);
			last_wake = mono_ns();
		}
	}
	dise_resolver_free(rs);
	dise_store_free(st);
	return NULL;
}
