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
#include <sqlite3.h>
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

/* Records one detection and queues a heal request (ignored when one is queued already). */
static int record(sqlite3 *db, int64_t version, const char *normal, enum dise_detector detector, const char *severity,
		  const char *desc, int64_t now)
{
	sqlite3_stmt *q;
	int64_t run = 0, failure;
	const char *stack = NULL, *sig = NULL;
	char *stack_copy = NULL, *sig_copy = NULL;
	int rc, added;

	/* the latest failed run, and its crash's frames if it crashed */
	if (sqlite3_prepare_v2(db,
			       "SELECT r.id, c.frames, c.signature FROM runs r LEFT JOIN crashes c ON c.run_id = r.id "
			       "WHERE r.version_id = ?1 AND dise_failed(r.outcome, r.exit_status, ?2) "
			       "ORDER BY r.start_wall_ns DESC LIMIT 1",
			       -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(q, 1, version);
	if (normal)
		sqlite3_bind_text(q, 2, normal, -1, SQLITE_STATIC);
	rc = dise_sql_step(q);
	if (rc > 0) {
		run = sqlite3_column_int64(q, 0);
		stack = (const char *)sqlite3_column_text(q, 1);
		sig = (const char *)sqlite3_column_text(q, 2);
		stack_copy = stack ? strdup(stack) : NULL;
		sig_copy = sig ? strdup(sig) : NULL;
	}
	sqlite3_finalize(q);
	if (rc < 0)
		return rc;

	rc = sqlite3_prepare_v2(db,
				"INSERT INTO failures(version_id, run_id, detector, description, stack, severity, signature, "
				"created_wall_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
				-1, &q, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, version);
		if (run)
			sqlite3_bind_int64(q, 2, run);
		sqlite3_bind_text(q, 3, dise_detector_name(detector), -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 4, desc, -1, SQLITE_STATIC);
		if (stack_copy)
			sqlite3_bind_text(q, 5, stack_copy, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 6, severity, -1, SQLITE_STATIC);
		if (sig_copy)
			sqlite3_bind_text(q, 7, sig_copy, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 8, now);
		rc = sqlite3_step(q);
		sqlite3_finalize(q);
	}
	free(stack_copy);
	free(sig_copy);
	if (rc != SQLITE_DONE)
		return dise_sql_errno(rc);
	failure = sqlite3_last_insert_rowid(db);
	if (sqlite3_prepare_v2(db,
			       "INSERT OR IGNORE INTO heal_requests(version_id, failure_id, created_wall_ns) VALUES (?1, ?2, ?3)",
			       -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(q, 1, version);
	sqlite3_bind_int64(q, 2, failure);
	sqlite3_bind_int64(q, 3, now);
	rc = sqlite3_step(q);
	added = sqlite3_changes(db);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? added : dise_sql_errno(rc);
}

/* Wall times (ns) of a version's ok runs, newest first, at most max. */
static int ok_durations(sqlite3 *db, int64_t version, int64_t *out, int max)
{
	sqlite3_stmt *q;
	int n = 0, r = 0;

	if (sqlite3_prepare_v2(db,
			       "SELECT end_ns - start_ns FROM runs WHERE version_id = ?1 AND outcome = 'ok' "
			       "AND end_ns IS NOT NULL AND start_wall_ns >= (SELECT reset_wall_ns FROM versions WHERE id = ?1) "
			       "ORDER BY start_wall_ns DESC LIMIT ?2",
			       -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(q, 1, version);
	sqlite3_bind_int(q, 2, max);
	while (n < max && (r = dise_sql_step(q)) > 0)
		out[n++] = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return r < 0 ? r : n;
}

static int check_version(sqlite3 *db, const struct dise_detect_policy *p, const struct dise_config *cfg, int64_t v,
			 const char *tool, int64_t now, int failures)
{
	sqlite3_stmt *q;
	int64_t fails = 0, runs = 0;
	char desc[512], nbuf[512];
	int r;
	/* what a failure is: outcome.h decides, with the exit codes the tool's policy calls normal */
	const char *normal = dise_config_normal_codes(cfg, tool, nbuf, sizeof(nbuf));

	/* three strikes (only failures can make it, or the error rate: when none arrived, only the slowdown) */
	if (!failures)
		goto slowdown;
	if (sqlite3_prepare_v2(db,
			       "SELECT count(*) FROM runs r WHERE r.version_id = ?1 AND dise_failed(r.outcome, r.exit_status, ?3) "
			       "AND r.start_wall_ns >= max(?2, (SELECT reset_wall_ns FROM versions WHERE id = ?1))",
			       -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(q, 1, v);
	sqlite3_bind_int64(q, 2, now - p->window_ns);
	if (normal)
		sqlite3_bind_text(q, 3, normal, -1, SQLITE_STATIC);
	r = dise_sql_step(q);
	if (r > 0)
		fails = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	if (r < 0)
		return r;
	if (fails >= p->strikes) {
		snprintf(desc, sizeof(desc), "%s v%lld failed %lld times within %lld s", tool, (long long)v,
			 (long long)fails, (long long)(p->window_ns / 1000000000));
		return record(db, v, normal, DISE_DETECT_THREE_STRIKES, "critical", desc, now);
	}

	/* error rate over the last runs */
	if (sqlite3_prepare_v2(db,
			       "SELECT count(*), sum(dise_failed(r.outcome, r.exit_status, ?3)) FROM (SELECT outcome, exit_status "
			       "FROM runs WHERE version_id = ?1 AND outcome IS NOT NULL AND outcome != 'exec' "
			       "AND start_wall_ns >= (SELECT reset_wall_ns FROM versions WHERE id = ?1) "
			       "ORDER BY start_wall_ns DESC LIMIT ?2) AS r",
			       -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(q, 1, v);
	sqlite3_bind_int(q, 2, p->error_runs);
	if (normal)
		sqlite3_bind_text(q, 3, normal, -1, SQLITE_STATIC);
	r = dise_sql_step(q);
	if (r > 0) {
		runs = sqlite3_column_int64(q, 0);
		fails = sqlite3_column_int64(q, 1);
	}
	sqlite3_finalize(q);
	if (r < 0)
		return r;
	if (runs >= p->error_min_runs && (double)fails / (double)runs > p->error_rate) {
		snprintf(desc, sizeof(desc), "%s v%lld failed %lld of its last %lld runs (%.1f%% > %.1f%%)", tool,
			 (long long)v, (long long)fails, (long long)runs, 100.0 * (double)fails / (double)runs,
			 100.0 * p->error_rate);
		return record(db, v, normal, DISE_DETECT_ERROR_RATE, "high", desc, now);
	}

slowdown:
	/* slowdown: the last few ok runs against the ones before them */
	{
		int want = p->slow_recent + 200, n; /* the median before: of the 200 ok runs before, at most */
		int64_t *d = malloc(sizeof(int64_t) * (size_t)want), recent, before;

		if (!d)
			return -ENOMEM;
		n = ok_durations(db, v, d, want);
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
				return record(db, v, normal, DISE_DETECT_SLOWDOWN, "medium", desc, now);
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
	sqlite3 *db = dise_store_db(st);
	sqlite3_stmt *q;
	int64_t *ids = NULL;
	char **tools = NULL;
	size_t n = 0, cap = 0, i;
	int r = 0, added = 0;

	if (ret_last_run && (*ret_last_run = dise_sql_int(db, "SELECT COALESCE(max(id), 0) FROM runs", -1)) < 0)
		return -EIO;
	/*
	 * The versions to look at, with no queued heal request: every version
	 * with runs in the window, or only those of the runs stored after
	 * after_run (the rowid: new rows, short runs whose START and end came
	 * together; a long run's end updates an older row and waits for the
	 * next full pass).
	 */
	if (sqlite3_prepare_v2(db,
			       after_run < 0
				       ? "SELECT v.id, v.tool FROM versions v WHERE v.health NOT IN ('pruned', 'failed') AND "
					 "EXISTS (SELECT 1 FROM runs r WHERE r.version_id = v.id "
					 "AND r.start_wall_ns >= ?1) AND NOT EXISTS (SELECT 1 FROM heal_requests h "
					 "WHERE h.version_id = v.id AND h.state = 'queued')"
				       : "SELECT v.id, v.tool FROM versions v WHERE v.id IN (SELECT DISTINCT version_id FROM runs "
					 "WHERE id > ?2 AND version_id IS NOT NULL) AND v.health NOT IN ('pruned', 'failed') "
					 "AND NOT EXISTS (SELECT 1 FROM heal_requests h "
					 "WHERE h.version_id = v.id AND h.state = 'queued')",
			       -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	if (after_run < 0)
		sqlite3_bind_int64(q, 1, now - p->window_ns);
	else
		sqlite3_bind_int64(q, 2, after_run);
	while ((r = dise_sql_step(q)) > 0) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			ids = realloc(ids, cap * sizeof(*ids));
			tools = realloc(tools, cap * sizeof(*tools));
		}
		ids[n] = sqlite3_column_int64(q, 0);
		tools[n] = strdup((const char *)sqlite3_column_text(q, 1));
		n++;
	}
	sqlite3_finalize(q);
	if (r == 0 && n) {
		r = dise_store_begin(st);
		for (i = 0; r == 0 && i < n; i++) {
			int k = check_version(db, p, cfg, ids[i], tools[i], now, failures);

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
	for (i = 0; i < n; i++)
		free(tools[i]);
	free(tools);
	free(ids);
	return r < 0 ? r : added;
}
