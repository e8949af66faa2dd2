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
#include <string.h>

#include "store-internal.h"

int dise_store_pruned_routes(dise_store *st, struct dise_pruned_route *e, int max, int *ret_more)
{
	/*
	 * The files that ran as a pruned version (not every file with its
	 * content: another tool may hold the same bytes under another name, and
	 * is routed by its own lineage). One row more than max: whether some
	 * are left out.
	 */
	static const char sql[] =
		"SELECT DISTINCT c.exe_dev, c.exe_ino, c.exe_size, c.exe_mtime_ns, a.id, a.tool, a.sha256 "
		"FROM versions p JOIN routes rt ON rt.tool = p.tool JOIN versions a ON a.id = rt.version_id "
		"JOIN runs c ON c.version_id = p.id "
		"WHERE p.health = 'pruned' AND a.cas_path IS NOT NULL AND a.id != p.id AND c.exe_ino IS NOT NULL LIMIT ?1";
	sqlite3_stmt *q = dise__stmt(st, sql);
	int n = 0, r;

	if (!q)
		return -EIO;
	*ret_more = 0;
	dise__bind(q, "i", (int64_t)max + 1);
	while ((r = dise__step(q)) > 0) {
		if (n == max) {
			*ret_more = 1;
			break;
		}
		e[n].dev = sqlite3_column_int64(q, 0);
		e[n].ino = sqlite3_column_int64(q, 1);
		e[n].size = sqlite3_column_int64(q, 2);
		e[n].mtime_ns = sqlite3_column_int64(q, 3);
		e[n].version = sqlite3_column_int64(q, 4);
		snprintf(e[n].tool, sizeof(e[n].tool), "%s", (const char *)sqlite3_column_text(q, 5));
		snprintf(e[n].sha256, sizeof(e[n].sha256), "%s", (const char *)sqlite3_column_text(q, 6));
		n++;
	}
	dise__done(q);
	return r < 0 ? r : n;
}

int dise_store_routes_fingerprint(dise_store *st, int64_t *ret)
{
	/* changes whenever a route or a version's health changes */
	static const char sql[] = "SELECT (SELECT COALESCE(sum(version_id * 7 + updated_wall_ns % 1000003), 0) FROM routes) + "
				  "(SELECT count(*) FROM versions WHERE health = 'pruned')";
	int r = dise__int(st, sql, ret, "");

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
