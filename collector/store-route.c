/* SPDX-License-Identifier: MIT */
/*
 * What the collector publishes into the ring's route table: for every file
 * that ran as a pruned version, the version its tool is routed to. Read
 * whole or not at all: a read cut short (busy) returns an error, never a
 * shorter table, so a truncated route table is never published.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "canary.h"
#include "store-internal.h"

int dise_store_pruned_routes(dise_store *st, struct dise_pruned_route **ret, size_t *ret_n)
{
	/*
	 * The files that ran as a pruned version (not every file with its
	 * content: another tool may hold the same bytes under another name, and
	 * is routed by its own lineage), each with one absolute path it ran at.
	 * No limit: the route table grows.
	 */
	static const char sql[] =
		"SELECT c.exe_dev, c.exe_ino, c.exe_size, c.exe_mtime_ns, a.id, a.tool, a.sha256, a.cas_path, "
		/* the path the run's identity is at: for an interpreter's run, its script's (runs.path), never
		   the interpreter's execfn, beside which a copy of the script does not belong */
		"  min(" DISE__RUN_PATH("c") "), CASE WHEN g.id IS NULL THEN 0 ELSE k.weight END, g.id, g.sha256 "
		"FROM versions p JOIN routes rt ON rt.tool = p.tool JOIN versions a ON a.id = rt.version_id "
		"JOIN runs c ON c.version_id = p.id "
		/* a regenerated version rolled out over the route (collector/canary.c): the canary arm runs it */
		"LEFT JOIN canaries k ON k.tool = p.tool AND k.state = 'running' AND k.stable_id = a.id "
		"  AND k.weight BETWEEN 1 AND 99 AND EXISTS (SELECT 1 FROM mutations m WHERE m.version_id = k.canary_id) "
		"LEFT JOIN versions g ON g.id = k.canary_id AND g.tool = p.tool AND g.health NOT IN ('pruned', 'failed') "
		"  AND g.cas_path IS NOT NULL AND g.id != p.id "
		"WHERE p.health = 'pruned' AND a.cas_path IS NOT NULL AND a.id != p.id AND c.exe_ino IS NOT NULL "
		"  AND c.execfn IS NOT NULL "
		"GROUP BY c.exe_dev, c.exe_ino, c.exe_size, c.exe_mtime_ns, a.id";
	return dise__route_rows(st, sql, ret, ret_n);
}

int dise__route_rows(dise_store *st, const char *sql, struct dise_pruned_route **ret, size_t *ret_n)
{
	sqlite3_stmt *q = dise__stmt(st, sql);
	struct dise_pruned_route *e = NULL;
	size_t n = 0, cap = 0;
	int r;

	if (!q)
		return -EIO;
	while ((r = dise__step(q)) > 0) {
		const char *tool = (const char *)sqlite3_column_text(q, 5);
		const char *sha = (const char *)sqlite3_column_text(q, 6);
		const char *cas = (const char *)sqlite3_column_text(q, 7);
		const char *path = (const char *)sqlite3_column_text(q, 8);

		if ((r = dise__grow((void **)&e, &cap, n, sizeof(*e))) < 0)
			break;
		memset(&e[n], 0, sizeof(e[n]));
		e[n].dev = sqlite3_column_int64(q, 0);
		e[n].ino = sqlite3_column_int64(q, 1);
		e[n].size = sqlite3_column_int64(q, 2);
		e[n].mtime_ns = sqlite3_column_int64(q, 3);
		e[n].canary_pct = sqlite3_column_count(q) > 9 ? sqlite3_column_int(q, 9) : 0;
		if (sqlite3_column_count(q) > 11 && sqlite3_column_type(q, 10) != SQLITE_NULL) {
			const char *csha = (const char *)sqlite3_column_text(q, 11);

			e[n].canary_version = sqlite3_column_int64(q, 10);
			snprintf(e[n].canary_sha256, sizeof(e[n].canary_sha256), "%s", csha ? csha : "");
		}
		e[n].version = sqlite3_column_int64(q, 4);
		e[n].tool = strdup(tool ? tool : "");
		e[n].cas_path = strdup(cas ? cas : "");
		e[n].path = strdup(path ? path : "");
		snprintf(e[n].sha256, sizeof(e[n].sha256), "%s", sha ? sha : "");
		n++;
		if (!e[n - 1].tool || !e[n - 1].cas_path || !e[n - 1].path) {
			r = -ENOMEM;
			break;
		}
	}
	dise__done(q);
	if (r < 0) {
		dise_pruned_routes_free(e, n);
		return r;
	}
	*ret = e;
	*ret_n = n;
	return 0;
}

void dise_pruned_routes_free(struct dise_pruned_route *e, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(e[i].tool);
		free(e[i].cas_path);
		free(e[i].path);
	}
	free(e);
}

int dise_store_pruned_identities(dise_store *st, int64_t *ret)
{
	/*
	 * How many file identities hold a pruned version's content: grows when
	 * pruned content appears at a new identity. Over the identities (one row
	 * each), not the runs: routed runs, however many, cost nothing here.
	 */
	static const char sql[] = "SELECT count(*) FROM contents c WHERE c.sha256 IN "
				  "(SELECT sha256 FROM versions WHERE health = 'pruned')";
	int r = dise__int(st, sql, ret, "");

	return r < 0 ? r : 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int dise_store_route_unpublished(dise_store *st, const char *tool, int64_t version, const char *path, const char *why)
{
	/* once per (version, path, reason): the journal (and so the webhook) hears of it, not every publication */
	static const char known[] = "SELECT count(*) FROM journal WHERE step = 'route_publish' AND result = 'failed' "
				    "AND version_id = ?1 AND detail = ?2";
	char *detail;
	int64_t n = 0;
	int r;

	if (asprintf(&detail, "%s: %s", path, why) < 0)
		return -ENOMEM;
	r = dise__int(st, known, &n, "is", version, detail);
	if (r >= 0 && n == 0)
		r = dise_store_journal_add(st, 0, tool, version, "route_publish", "failed", detail, now_ns(), 0);
	free(detail);
	return r < 0 ? r : 0;
}

int dise_store_route_copies(dise_store *st, struct dise_route_copy **ret, size_t *ret_n)
{
	static const char sql[] = "SELECT DISTINCT p.target, v.sha256 FROM route_placements p "
				  "JOIN versions v ON v.id = p.version_id WHERE p.beside = 1 AND p.target IS NOT NULL";
	sqlite3_stmt *q = dise__stmt(st, sql);
	struct dise_route_copy *c = NULL;
	size_t n = 0, cap = 0;
	int r;

	if (!q)
		return -EIO;
	while ((r = dise__step(q)) > 0) {
		const char *sha = (const char *)sqlite3_column_text(q, 1);

		if ((r = dise__grow((void **)&c, &cap, n, sizeof(*c))) < 0)
			break;
		snprintf(c[n].sha256, sizeof(c[n].sha256), "%s", sha ? sha : "");
		if (!(c[n++].path = dise__col_strdup(q, 0))) {
			r = -ENOMEM;
			break;
		}
	}
	dise__done(q);
	if (r < 0) {
		dise_route_copies_free(c, n);
		return r;
	}
	*ret = c;
	*ret_n = n;
	return 0;
}

void dise_route_copies_free(struct dise_route_copy *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(c[i].path);
	free(c);
}

int dise_store_route_placements_clear(dise_store *st)
{
	static const char sql[] = "DELETE FROM route_placements";

	return dise__exec(st, sql, "");
}

int dise_store_route_published(dise_store *st, const char *tool, int64_t version, const char *path,
			       const char *target, int error, const char *note)
{
	static const char sql[] =
		"INSERT OR REPLACE INTO route_placements(path, version_id, tool, target, beside, error, note, wall_ns) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return dise__exec(st, sql, "sissiisi", path, version, tool, target, (int64_t)(target && error == 0),
			  (int64_t)(error < 0 ? -error : error), note, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

int dise_store_routes_fingerprint(dise_store *st, int64_t *ret)
{
	/* changes whenever a route or a version's health changes */
	static const char sql[] = "SELECT (SELECT COALESCE(sum(version_id * 7 + updated_wall_ns % 1000003), 0) FROM routes) + "
				  "(SELECT count(*) FROM versions WHERE health = 'pruned')";
	int64_t canary = 0;
	int r = dise__int(st, sql, ret, "");

	if (r >= 0 && (r = dise_store_canary_fingerprint(st, &canary)) >= 0)
		*ret += canary; /* and whenever a rollout's weights change */
	return r < 0 ? r : 0;
}

int dise_store_data_version(dise_store *st, int64_t *ret)
{
	static const char sql[] = "PRAGMA data_version";
	int r = dise__int(st, sql, ret, "");

	return r < 0 ? r : 0;
}

int64_t dise_store_total_changes(dise_store *st)
{
	return sqlite3_total_changes64(st->db);
}
