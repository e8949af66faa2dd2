/* SPDX-License-Identifier: MIT */
/*
 * The resolver's statements (resolve.c): runs waiting for a version, the
 * hash cache per file identity, versions and their lineage edges, the
 * paths' heads and registered tools, and the content-addressed copies the
 * size cap may evict. The transactions are the resolver's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "known.h"
#include "store-internal.h"

int dise_store_runs_unversioned(dise_store *st, struct dise_unversioned *p, int max)
{
	/*
	 * Every run with an identity and no version yet, whatever its age (the
	 * runs_version index finds them): a START may arrive after later runs,
	 * its EXIT having come first from another shard. Version 0 marks a file
	 * that could not be hashed, so nothing is looked at twice.
	 */
	static const char sql[] = "SELECT id, tool, COALESCE(path, exe, execfn), cwd, exe_dev, exe_ino, exe_size, exe_mtime_ns, "
				  "start_wall_ns, dise_failed(outcome, exit_status, NULL) FROM runs "
				  "WHERE version_id IS NULL AND exe_ino IS NOT NULL ORDER BY id LIMIT ?1";
	sqlite3_stmt *q = dise__stmt(st, sql);
	int n = 0, r = 0;

	if (!q)
		return -EIO;
	dise__bind(q, "d", max);
	while (n < max && (r = dise__step(q)) > 0) {
		const char *tool = (const char *)sqlite3_column_text(q, 1), *path = (const char *)sqlite3_column_text(q, 2);
		const char *cwd = (const char *)sqlite3_column_text(q, 3);

		memset(&p[n], 0, sizeof(p[n]));
		p[n].run_id = sqlite3_column_int64(q, 0);
		snprintf(p[n].tool, sizeof(p[n].tool), "%s", tool ? tool : "");
		if (path && path[0] != '/' && cwd)
			snprintf(p[n].path, sizeof(p[n].path), "%s/%s", cwd, path);
		else
			snprintf(p[n].path, sizeof(p[n].path), "%s", path ? path : "");
		p[n].dev = sqlite3_column_int64(q, 4);
		p[n].ino = sqlite3_column_int64(q, 5);
		p[n].size = sqlite3_column_int64(q, 6);
		p[n].mtime_ns = sqlite3_column_int64(q, 7);
		p[n].wall_ns = sqlite3_column_int64(q, 8);
		p[n].failed = sqlite3_column_int(q, 9);
		n++;
	}
	dise__done(q);
	return r < 0 ? r : n;
}

int dise_store_content_hash(dise_store *st, int64_t dev, int64_t ino, int64_t size, int64_t mtime_ns, char sha[65])
{
	static const char sql[] = "SELECT sha256 FROM contents WHERE dev = ?1 AND ino = ?2 AND size = ?3 AND mtime_ns = ?4";

	return dise__text(st, sql, sha, 65, "iiii", dev, ino, size, mtime_ns);
}

int dise_store_content_add(dise_store *st, int64_t dev, int64_t ino, int64_t size, int64_t mtime_ns, const char *sha)
{
	static const char sql[] = "INSERT OR IGNORE INTO contents(dev, ino, size, mtime_ns, sha256) VALUES (?1, ?2, ?3, ?4, ?5)";

	return dise__exec(st, sql, "iiiis", dev, ino, size, mtime_ns, sha);
}

int dise_store_path_tool(dise_store *st, const char *path, char *buf, size_t size)
{
	static const char sql[] = "SELECT tool FROM tool_paths WHERE path = ?1";

	return dise__text(st, sql, buf, size, "s", path);
}

int dise_store_path_tool_set(dise_store *st, const char *path, const char *tool)
{
	static const char sql[] = "INSERT INTO tool_paths(path, tool) VALUES (?1, ?2) "
				  "ON CONFLICT(path) DO UPDATE SET tool = excluded.tool";

	return dise__exec(st, sql, "ss", path, tool);
}

int dise_store_version_find(dise_store *st, const char *tool, const char *sha, int64_t *ret_id)
{
	static const char sql[] = "SELECT id FROM versions WHERE tool = ?1 AND sha256 = ?2";

	return dise__int(st, sql, ret_id, "ss", tool, sha);
}

int dise_store_version_by_label(dise_store *st, const char *tool, const char *label, int64_t *ret_id)
{
	static const char sql[] = "SELECT id FROM versions WHERE tool = ?1 AND label = ?2";

	return dise__int(st, sql, ret_id, "ss", tool, label);
}

int dise_store_version_add(dise_store *st, const char *tool, const char *sha, const char *label, const char *path,
			   int64_t size, int64_t wall_ns, const char *cas_path, int64_t *ret_id)
{
	/* no label given: v1, v2, … counted within the tool (the first such name no version of it has) */
	static const char sql[] =
		"INSERT INTO versions(tool, sha256, label, path, size, first_seen_wall_ns, cas_path) "
		"VALUES (?1, ?2, COALESCE(?3, (WITH RECURSIVE n(k) AS (SELECT (SELECT count(*) FROM versions WHERE tool = ?1) + 1 "
		"  UNION ALL SELECT k + 1 FROM n WHERE EXISTS (SELECT 1 FROM versions WHERE tool = ?1 AND label = 'v' || k)) "
		"  SELECT 'v' || max(k) FROM n)), ?4, ?5, ?6, ?7)";
	int r = dise__exec(st, sql, "ssssiis", tool, sha, label, path, size, wall_ns, cas_path);

	if (r == 0)
		*ret_id = sqlite3_last_insert_rowid(st->db);
	return r;
}

int dise_store_version_set_label(dise_store *st, int64_t version, const char *label)
{
	static const char sql[] = "UPDATE versions SET label = ?1 WHERE id = ?2";

	return dise__exec(st, sql, "si", label, version);
}

int dise_store_parent_add(dise_store *st, int64_t version, int64_t parent)
{
	static const char sql[] = "INSERT OR IGNORE INTO version_parents(version_id, parent_id) VALUES (?1, ?2)";

	return dise__exec(st, sql, "ii", version, parent);
}

int dise_store_path_head(dise_store *st, const char *path, int64_t *ret_id)
{
	static const char sql[] = "SELECT version_id FROM path_heads WHERE path = ?1";

	return dise__int(st, sql, ret_id, "s", path);
}

int dise_store_tool_newest(dise_store *st, const char *tool, int64_t except, int64_t *ret_id)
{
	static const char sql[] = "SELECT max(id) FROM versions WHERE tool = ?1 AND id != ?2";
	int r;

	*ret_id = 0;
	r = dise__int(st, sql, ret_id, "si", tool, except);
	return r < 0 ? r : 0;
}

int dise_store_path_head_set(dise_store *st, const char *path, int64_t version)
{
	static const char sql[] = "INSERT INTO path_heads(path, version_id) VALUES (?1, ?2) "
				  "ON CONFLICT(path) DO UPDATE SET version_id = excluded.version_id";

	st->nheads = 0; /* the heads this connection read (ingest's, store-runs.c): PRAGMA data_version omits its own writes */
	return dise__exec(st, sql, "si", path, version);
}

int dise_store_run_set_version(dise_store *st, int64_t run, int64_t version)
{
	/*
	 * A run is its version's tool's (a registered path, a routed copy
	 * beside the original); its invocation class is set with its version
	 * (schema v13); one that ended already is touched: the detectors look
	 * at its version (store-detect.c).
	 */
	static const char sql[] = "UPDATE runs SET version_id = ?1, class = dise_class(argv, cwd), "
				  "tool = COALESCE((SELECT tool FROM versions WHERE id = ?1), tool), "
				  "touched = CASE WHEN outcome IS NULL THEN touched ELSE " DISE__TOUCH_NEXT " END WHERE id = ?2";

	return dise__exec(st, sql, "ii", version, run);
}

int dise_store_run_set_tool(dise_store *st, int64_t run, const char *tool)
{
	static const char sql[] = "UPDATE runs SET tool = ?1 WHERE id = ?2";

	return dise__exec(st, sql, "si", tool, run);
}

int dise_store_cas_total(dise_store *st, int64_t *ret_bytes)
{
	static const char sql[] = "SELECT COALESCE(sum(size), 0) FROM (SELECT DISTINCT cas_path, size FROM versions "
				  "WHERE cas_path IS NOT NULL)";
	int r;

	*ret_bytes = 0;
	r = dise__int(st, sql, ret_bytes, "");
	return r < 0 ? r : 0;
}

int dise_store_cas_evictable(dise_store *st, struct dise_cas_copy **ret, size_t *ret_n)
{
	/* copies by last use, oldest first; never the copy of a tool's newest healthy version */
	static const char sql[] = "SELECT v.cas_path, max(v.size), max(COALESCE((SELECT max(start_wall_ns) FROM runs r "
				  "WHERE r.version_id = v.id), v.first_seen_wall_ns, 0)) AS used FROM versions v "
				  "WHERE v.cas_path IS NOT NULL GROUP BY v.cas_path HAVING sum(v.id IN (SELECT max(id) FROM "
				  "versions WHERE health = 'healthy' GROUP BY tool)) = 0 ORDER BY used ASC";
	struct dise_cas_copy *c = NULL;
	sqlite3_stmt *q = dise__stmt(st, sql);
	size_t n = 0, cap = 0;
	int r;

	if (!q)
		return -EIO;
	while ((r = dise__step(q)) > 0) {
		if ((r = dise__grow((void **)&c, &cap, n, sizeof(*c))) < 0)
			break;
		if (!(c[n].path = dise__col_strdup(q, 0))) {
			r = -ENOMEM;
			break;
		}
		c[n++].size = sqlite3_column_int64(q, 1);
	}
	dise__done(q);
	if (r < 0) {
		dise_cas_copies_free(c, n);
		return r;
	}
	*ret = c;
	*ret_n = n;
	return 0;
}

void dise_cas_copies_free(struct dise_cas_copy *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++)
		free(c[i].path);
	free(c);
}

int dise_store_cas_forget(dise_store *st, const char *cas_path)
{
	static const char sql[] = "UPDATE versions SET cas_path = NULL WHERE cas_path = ?1";

	return dise__exec(st, sql, "s", cas_path);
}

int dise_store_version_label(dise_store *st, int64_t version, char *buf, size_t size)
{
	static const char sql[] = "SELECT COALESCE(label, 'v' || id) FROM versions WHERE id = ?1";
	int r = dise__text(st, sql, buf, size, "i", version);

	if (r <= 0 || !buf[0])
		snprintf(buf, size, "v%lld", (long long)version);
	return r < 0 ? r : 0;
}

void dise_store_set_known(dise_store *st, struct dise_known *k)
{
	st->known = k;
}

uint64_t dise_store_unresolved_starts(const dise_store *st)
{
	return st->unresolved;
}

uint64_t dise_store_head_reads(const dise_store *st)
{
	return st->head_reads;
}

uint64_t dise_store_script_reads(const dise_store *st)
{
	return st->script_reads;
}

uint64_t dise_store_exec_parent_reads(const dise_store *st)
{
	return st->exec_parent_reads;
}

int dise__start_version(dise_store *st, const char *path, const struct dise_known_id *id, int64_t *version,
			char *tool, size_t size)
{
	/* the path's head is read in the transaction storing the run: what the resolver would find now */
	static const char sql[] = "SELECT 1 FROM path_heads WHERE path = ?1 AND version_id = ?2";
	int64_t v = 0, head = 0;
	int r;

	if (!st->known || !dise_known_get(st->known, path, id, &v, tool, size))
		return 0;
	st->head_reads++;
	r = dise__int(st, sql, &head, "si", path, v);
	if (r < 0)
		return r;
	if (!head)
		return 0;
	*version = v;
	return 1;
}
