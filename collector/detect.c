/* SPDX-License-Identifier: MIT */
/*
 * Detectors, run by the collector over what it stored (pure SQL over runs
 * and versions; the healer consumes heal_requests).
 *
 *  - three strikes: `strikes` failures of a version within `window_ns`;
 *  - error rate: more than `error_rate` of the version's last `error_runs`
 *    runs failed, once it has at least `error_min_runs`;
 *  - slowdown: the median wall time of the last `slow_recent` ok runs is
 *    more than `slow_factor` times the median of the ok runs before them,
 *    and at least `slow_min_delta_ms` more.
 *
 * A pruned or failed version is not looked at (it was healed already), nor
 * one that already has a queued heal request:
 * the partial unique index heal_open makes "at most one queued request per
 * version" hold even if two collectors raced.
 *
 * What counts as a failure is the tool's policy (dise.json: the exit codes
 * that are normal for it); the thresholds are dise.json's "detect".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "detect.h"
#include "names.h"

void dise_detect_policy_default(struct dise_detect_policy *p)
{
	p->strikes = 3;
	p->window_ns = INT64_C(3600) * 1000000000;
	p->error_rate = 0.05;
	p->error_runs = 100;
	p->error_min_runs = 10;
	p->slow_recent = 5;
	p->slow_factor = 1.30;
	p->slow_min_history = 5;
	p->slow_min_delta_ms = 10;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int64_t median(int64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_i64);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int check_version(dise_store *st, const struct dise_detect_policy *p, const struct dise_config *cfg, int64_t v,
			 const char *tool, int64_t now, int failures)
{
	int64_t fails = 0, runs = 0;
	char desc[512], nbuf[512];
	int r;
	/* what a failure is: outcome.h decides, with the exit codes the tool's policy calls normal */
	const char *normal = dise_config_normal_codes(cfg, tool, nbuf, sizeof(nbuf));

	/* three strikes (only failures can make it, or the error rate: when none arrived, only the slowdown) */
	if (!failures)
		goto slowdown;
	if ((r = dise_store_version_failures(st, v, normal, now - p->window_ns, &fails)) < 0)
		return r;
	if (fails >= p->strikes) {
		snprintf(desc, sizeof(desc), "%s v%lld failed %lld times within %lld s", tool, (long long)v,
			 (long long)fails, (long long)(p->window_ns / 1000000000));
		return dise_store_detection_add(st, v, normal, DISE_DETECT_THREE_STRIKES, "critical", desc, now);
	}

	/* error rate over the last runs */
	if ((r = dise_store_version_error_rate(st, v, normal, p->error_runs, &runs, &fails)) < 0)
		return r;
	if (runs >= p->error_min_runs && (double)fails / (double)runs > p->error_rate) {
		snprintf(desc, sizeof(desc), "%s v%lld failed %lld of its last %lld runs (%.1f%% > %.1f%%)", tool,
			 (long long)v, (long long)fails, (long long)runs, 100.0 * (double)fails / (double)runs,
			 100.0 * p->error_rate);
		return dise_store_detection_add(st, v, normal, DISE_DETECT_ERROR_RATE, "high", desc, now);
	}

slowdown:
	/* slowdown: the last few ok runs against the ones before them */
	{
		int want = p->slow_recent + 200, n; /* the median before: of the 200 ok runs before, at most */
		int64_t *d = malloc(sizeof(int64_t) * (size_t)want), recent, before;

		if (!d)
			return -ENOMEM;
		n = dise_store_version_ok_durations(st, v, d, want);
		if (n < 0) {
			free(d);
			return n;
		}
		if (n >= p->slow_recent + p->slow_min_history) {
			recent = median(d, p->slow_recent);
			before = median(d + p->slow_recent, n - p->slow_recent);
			/* both relative and absolute: a 0.06 ms tool taking 0.09 ms on a busy machine is not a regression */
			if (before > 0 && (double)recent > p->slow_factor * (double)before &&
			    recent - before >= (int64_t)p->slow_min_delta_ms * 1000000) {
				snprintf(desc, sizeof(desc),
					 "%s v%lld slowed down: median %.3f ms over its last %d runs, %.3f ms before", tool,
					 (long long)v, recent / 1e6, p->slow_recent, before / 1e6);
				free(d);
				return dise_store_detection_add(st, v, normal, DISE_DETECT_SLOWDOWN, "medium", desc, now);
			}
		}
		free(d);
	}
	return 0;
}

int dise_detect(dise_store *st, const struct dise_detect_policy *p, const struct dise_config *cfg, int64_t now)
{
	return dise_detect_since(st, p, cfg, now, -1, NULL, 1);
}

int dise_detect_since(dise_store *st, const struct dise_detect_policy *p, const struct dise_config *cfg, int64_t now,
		      int64_t after_run, int64_t *ret_last_run, int failures)
{
	struct dise_version_ref *v = NULL;
	size_t n = 0, i;
	int r = 0, added = 0;

	if (ret_last_run && (r = dise_store_last_run_id(st, ret_last_run)) < 0)
		return r;
	/*
	 * The versions to look at, with no queued heal request: every version
	 * with runs in the window, or only those of the runs stored after
	 * after_run (the rowid: new rows, short runs whose START and end came
	 * together; a long run's end updates an older row and waits for the
	 * next full pass). Read whole before the transaction.
	 */
	if ((r = dise_store_versions_to_check(st, now - p->window_ns, after_run, &v, &n)) < 0)
		return r;
	if (n) {
		r = dise_store_begin(st);
		for (i = 0; r == 0 && i < n; i++) {
			int k = check_version(st, p, cfg, v[i].id, v[i].tool, now, failures);

			if (k < 0)
				r = k;
			else
				added += k;
		}
		if (r == 0)
			r = dise_store_commit(st);
		if (r < 0)
			dise_store_rollback(st);
	}
	free(v);
	return r < 0 ? r : added;
}
