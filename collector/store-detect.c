/* SPDX-License-Identifier: MIT */
/*
 * The detectors' statements: which versions to look at, their failures in
 * the window (outcome.h's decision through the SQL function dise_failed(),
 * with the tool's normal exit codes bound), their recent wall times, and a
 * detection recorded as a failure plus at most one queued heal request per
 * version (the partial unique index heal_open makes that hold even if two
 * collectors race). The transaction is the caller's (detect.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"

int dise_store_last_run_id(dise_store *st, int64_t *ret)
{
	static const char sql[] = "SELECT COALESCE(max(id), 0) FROM runs";
	int r = dise__int(st, sql, ret, "");

	return r < 0 ? r : 0;
}

int dise_store_versions_to_check(dise_store *st, int64_t since_wall_ns, int64_t after_run, struct dise_version_ref **ret,
				 size_t *ret_n)
{
	/* every version with runs in the window, with no queued heal request */
	static const char window[] = "SELECT v.id, v.tool FROM versions v WHERE v.health NOT IN ('pruned', 'failed') AND "
				     "EXISTS (SELECT 1 FROM runs r WHERE r.version_id = v.id "
				     "AND r.start_wall_ns >= ?1) AND NOT EXISTS (SELECT 1 FROM heal_requests h "
				     "WHERE h.version_id = v.id AND h.state = 'queued')";
	/*
	 * the versions of the runs stored after a run id, or whose runs ended
	 * since they were last looked at (detect_touched: kept by triggers on
	 * runs, so a long run's end, an old row, is in it), with no queued heal
	 * request: what changed, whatever the history
	 */
	static const char since[] = "SELECT v.id, v.tool FROM versions v WHERE (v.id IN (SELECT DISTINCT version_id FROM runs "
				    "WHERE id > ?1 AND version_id IS NOT NULL) OR v.id IN (SELECT version_id FROM detect_touched)) "
				    "AND v.health NOT IN ('pruned', 'failed') "
				    "AND NOT EXISTS (SELECT 1 FROM heal_requests h "
				    "WHERE h.version_id = v.id AND h.state = 'queued')";
	static const char seen[] = "DELETE FROM detect_touched WHERE version_id = ?1";
	sqlite3_stmt *q = dise__stmt(st, after_run < 0 ? window : since);
	struct dise_version_ref *v = NULL;
	size_t n = 0, cap = 0;
	int r;

	if (!q)
		return -EIO;
	dise__bind(q, "i", after_run < 0 ? since_wall_ns : after_run);
	while ((r = dise__step(q)) > 0) {
		if (n == cap) {
			void *p = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));

			if (!p) {
				r = -ENOMEM;
				break;
			}
			v = p;
		}
		v[n].id = sqlite3_column_int64(q, 0);
		snprintf(v[n].tool, sizeof(v[n].tool), "%s", (const char *)sqlite3_column_text(q, 1));
		n++;
	}
	dise__done(q);
	/*
	 * Looked at from now: no longer touched (a run ending meanwhile touches
	 * it again). A failure here only means they are looked at once more.
	 */
	for (size_t i = 0; r >= 0 && i < n; i++)
		dise__exec(st, seen, "i", v[i].id);
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int dise_store_version_failures(dise_store *st, int64_t version, const char *normal, int64_t since_wall_ns,
				int64_t *ret_count)
{
	/* since the window began or the version was last reset, whichever is later */
	static const char sql[] = "SELECT count(*) FROM runs r WHERE r.version_id = ?1 AND dise_failed(r.outcome, r.exit_status, ?3) "
				  "AND r.start_wall_ns >= max(?2, (SELECT reset_wall_ns FROM versions WHERE id = ?1))";
	int r = dise__int(st, sql, ret_count, "iis", version, since_wall_ns, normal);

	return r < 0 ? r : 0;
}

int dise_store_version_error_rate(dise_store *st, int64_t version, const char *normal, int last, int64_t *ret_runs,
				  int64_t *ret_fails)
{
	/* the last runs that ended (not by exec) since the version was last reset */
	static const char sql[] = "SELECT count(*), sum(dise_failed(r.outcome, r.exit_status, ?3)) FROM (SELECT outcome, exit_status "
				  "FROM runs WHERE version_id = ?1 AND outcome IS NOT NULL AND outcome != 'exec' "
				  "AND start_wall_ns >= (SELECT reset_wall_ns FROM versions WHERE id = ?1) "
				  "ORDER BY start_wall_ns DESC LIMIT ?2) AS r";
	sqlite3_stmt *q = dise__stmt(st, sql);
	int r;

	if (!q)
		return -EIO;
	dise__bind(q, "ids", version, last, normal);
	if ((r = dise__step(q)) > 0) {
		*ret_runs = sqlite3_column_int64(q, 0);
		*ret_fails = sqlite3_column_int64(q, 1);
	}
	dise__done(q);
	return r < 0 ? r : 0;
}

int dise_store_version_ok_durations(dise_store *st, int64_t version, int64_t *out, int max)
{
	static const char sql[] = "SELECT end_ns - start_ns FROM runs WHERE version_id = ?1 AND outcome = 'ok' "
				  "AND end_ns IS NOT NULL AND start_wall_ns >= (SELECT reset_wall_ns FROM versions WHERE id = ?1) "
				  "ORDER BY start_wall_ns DESC LIMIT ?2";
	sqlite3_stmt *q = dise__stmt(st, sql);
	int n = 0, r = 0;

	if (!q)
		return -EIO;
	dise__bind(q, "id", version, max);
	while (n < max && (r = dise__step(q)) > 0)
		out[n++] = sqlite3_column_int64(q, 0);
	dise__done(q);
	return r < 0 ? r : n;
}

int dise_store_detection_add(dise_store *st, int64_t version, const char *normal, enum dise_detector detector,
			     const char *severity, const char *desc, int64_t wall_ns)
{
	/* the latest failed run, and its crash's frames if it crashed */
	static const char latest[] = "SELECT r.id, c.frames, c.signature FROM runs r LEFT JOIN crashes c ON c.run_id = r.id "
				     "WHERE r.version_id = ?1 AND dise_failed(r.outcome, r.exit_status, ?2) "
				     "ORDER BY r.start_wall_ns DESC LIMIT 1";
	static const char failure[] = "INSERT INTO failures(version_id, run_id, detector, description, stack, severity, "
				      "signature, created_wall_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
	static const char request[] = "INSERT OR IGNORE INTO heal_requests(version_id, failure_id, created_wall_ns) "
				      "VALUES (?1, ?2, ?3)";
	sqlite3_stmt *q = dise__stmt(st, latest);
	char *stack = NULL, *sig = NULL;
	int64_t run = -1;
	int r;

	if (!q)
		return -EIO;
	dise__bind(q, "is", version, normal);
	if ((r = dise__step(q)) > 0) {
		run = sqlite3_column_int64(q, 0);
		stack = dise__col_strdup(q, 1);
		sig = dise__col_strdup(q, 2);
	}
	dise__done(q);
	if (r >= 0)
		r = dise__exec(st, failure, "insssssi", version, run, dise_detector_name(detector), desc, stack, severity,
			       sig, wall_ns);
	free(stack);
	free(sig);
	if (r < 0)
		return r;
	r = dise__exec(st, request, "iii", version, (int64_t)sqlite3_last_insert_rowid(st->db), wall_ns);
	return r < 0 ? r : sqlite3_changes(st->db);
}
