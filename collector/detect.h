/* SPDX-License-Identifier: MIT */
/* Detectors: when a version has failed enough to be healed. */
#ifndef DISE_DETECT_H
#define DISE_DETECT_H

#include <stdint.h>

#include "store.h"

struct dise_detect_policy {
	int strikes;             /* three strikes: this many failures ... */
	int64_t window_ns;       /* ... within this window (wall clock) */
	double error_rate;       /* error rate above this over the last error_runs runs ... */
	int error_runs;          /* ... */
	int error_min_runs;      /* ... once there are at least this many */
	int slow_recent;         /* slowdown: the median wall time of the last slow_recent ok runs ... */
	double slow_factor;      /* ... above this factor of the median of the version's history */
	int slow_min_history;    /* ... with at least this many earlier ok runs */
	int slow_min_delta_ms;   /* ... and at least this much slower in absolute terms (jitter of short runs) */
};

/*
 * The defaults: 3 in 1 hour; 5% of the last 100 runs once 10; last 5 runs
 * 30% slower than before (5 before) and at least 10 ms slower.
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
int dise_detect(dise_store *st, const struct dise_detect_policy *p, const struct dise_config *cfg, int64_t now_wall_ns);

/*
 * The same for the versions of the runs stored after run id after_run
 * (after_run < 0: every version, as dise_detect). *ret_last_run (may be
 * NULL) gets the last run id there was when the versions were chosen: the
 * after_run of the next call. failures: 0 when no run ended badly since
 * the last call with 1 (then three strikes and the error rate cannot have
 * changed, and only the slowdown is looked at).
 */
int dise_detect_since(dise_store *st, const struct dise_detect_policy *p, const struct dise_config *cfg,
		      int64_t now_wall_ns, int64_t after_run, int64_t *ret_last_run, int failures);

#endif
