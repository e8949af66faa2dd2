/* SPDX-License-Identifier: MIT */
/* Detectors: when a version has failed enough to be healed. */
#ifndef DISE_DETECT_H
#define DISE_DETECT_H

#include <stdint.h>

#include "store.h"

struct dise_detect_policy {
	int strikes;             /* three strikes: this many failures ... */
	int64_t window_ns;       /* ... within this window (wall clock) */
	double error_rate;       /* unused since blame by comparison (kept: dise.json may still set it) */
	double error_alpha;      /* failure rate: one-sided Fisher p below this, version vs baseline ... */
	int error_runs;          /* ... over the last this many comparable runs of each ... */
	int error_min_runs;      /* ... once each side has at least this many */
	int slow_recent;         /* slowdown: the median wall time of at least slow_recent ok runs of one invocation ... */
	double slow_factor;      /* ... above this factor of the baseline's median on the same invocation */
	int slow_min_history;    /* ... with at least this many ok runs of the baseline on it */
	int slow_min_delta_ms;   /* ... and at least this much slower in absolute terms (jitter of short runs); the
				    same factor and delta on the CPU time, unless its waits explain it (detect.c) */
};

/*
 * The defaults: 3 strikes in 1 hour; Fisher p < 0.01 over the last 100
 * comparable runs once 20 on each side; 5 ok runs of an invocation 30%
 * slower than the baseline's (5 of them) and at least 10 ms slower, in wall
 * time and in CPU time (or in waits: 5 times its CPU time more, no child).
 */
void dise_detect_policy_default(struct dise_detect_policy *p);

struct dise_config;

/*
 * Looks at every version with runs that ended in the window and records
 * detections: a row in failures (detector, description, the latest crash's
 * stack, severity) and a queued heal request, at most one queued request
 * per version, whatever the number of detections or collectors racing.
 * A failure is a run that ended `crash` or `vanished`, or `fail` with an
 * exit code the tool's policy (cfg, may be NULL) does not call normal.
 * Returns the number of new heal requests, or -errno.
 */
/* One-sided Fisher exact test: P(X >= a) for a failures in n1 runs against b in n2, under no difference. */
double dise_fisher_greater(int64_t a, int64_t n1, int64_t b, int64_t n2);

int dise_detect(dise_store *st, const struct dise_detect_policy *p, const struct dise_config *cfg, int64_t now_wall_ns);

/*
 * The same for the versions of the runs stored after run id after_run
 * (after_run < 0: every version, as dise_detect). *ret_last_run (may be
 * NULL) gets the last run id there was when the versions were chosen: the
 * after_run of the next call. failures: 0 when no run ended badly since
 * the last call with 1 (then three strikes and the error rate cannot have
 * changed, and only the slowdown is looked at); DISE_DETECT_BAD_ENDS_ONLY:
 * only the versions with a new bad end (the heal latency), the others left
 * as they were for the next call (*ret_last_run is not set, their touched
 * runs stay touched).
 */
#define DISE_DETECT_BAD_ENDS_ONLY 2
int dise_detect_since(dise_store *st, const struct dise_detect_policy *p, const struct dise_config *cfg,
		      int64_t now_wall_ns, int64_t after_run, int64_t *ret_last_run, int failures);

#endif
