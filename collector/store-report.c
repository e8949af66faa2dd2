/* SPDX-License-Identifier: MIT */
/*
 * What the `dise` command reads: each report one cached statement, its rows
 * returned whole as a JSON array of objects (column name -> value; a NULL
 * column is left out; text as its exact bytes, which may not be UTF-8:
 * dise_json_text_fix() before dumping), so that the command formats them with no statement
 * open and no SQL of its own. Also the version a command names.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"
#include "toolpath.h"

/* a version as people read it: its label with its id ("v2 (version 6)", as dise heal and lineage say), else v<id> */
#define DISE__VERSION_NAME(v) \
	"CASE WHEN " v ".label IS NOT NULL THEN " v ".label || ' (version ' || " v ".id || ')' ELSE 'v' || " v ".id END"

/* The journal's results that mean a healing step went wrong, for operators to see. */
#define DISE__PROBLEMS "'rejected', 'failed', 'no_ancestor'"
/* A heal request's steps that went wrong, one line ("step: detail; ..."), for the request h.id. */
#define DISE__WHY_NOT(h)                                                                                         \
	"(SELECT group_concat(j.step || ': ' || COALESCE(j.detail, j.result), '; ') FROM journal j WHERE j.request_id = " \
	h " AND j.result IN (" DISE__PROBLEMS "))"

/* Run r was sent on by the shim to a routed copy (beside the original, or the store's). */
#define DISE__REDIRECTED(r) \
	"(" r ".outcome = 'exec' AND (" r ".exec_path GLOB '*/.dise-*' OR " r ".exec_path GLOB '*/cas/run/*'))"

static const char *const reports[DISE_REPORT_MAX] = {
	/* ?1: a tool or NULL; ?2: how many, newest first */
	[DISE_REPORT_RUNS] =
		"SELECT r.id, r.pid, r.ppid, r.tool, COALESCE(r.exe, r.execfn) AS exe, r.cwd, r.argv, r.start_wall_ns, r.outcome, "
		"r.exit_status, r.signal, (r.end_ns - r.start_ns) AS wall_ns, r.user_ns, r.sys_ns, r.maxrss_kb, "
		"r.forked, r.exec_parent, r.exec_path, "
		"(SELECT signature FROM crashes c WHERE c.run_id = r.id ORDER BY c.id DESC LIMIT 1) AS crash_signature, "
		/* the arm of a canary rollout it took: the canary's file sent on to the stable copy took the stable */
		"(SELECT CASE WHEN k.canary_id = r.version_id AND NOT COALESCE(" DISE__REDIRECTED("r") ", 0) THEN 'canary' ELSE 'stable' END "
		" FROM canaries k WHERE k.tool = r.tool AND r.version_id IN (k.canary_id, k.stable_id) "
		" AND r.start_wall_ns >= k.started_wall_ns AND (k.ended_wall_ns IS NULL OR r.start_wall_ns <= k.ended_wall_ns) "
		" ORDER BY k.id DESC LIMIT 1) AS arm "
		"FROM runs r WHERE ?1 IS NULL OR r.tool = ?1 ORDER BY r.start_wall_ns DESC, r.id DESC LIMIT ?2",
	/* ?1: the tool */
	[DISE_REPORT_LINEAGE] =
		"SELECT v.id, v.sha256, v.label, v.path, v.health, v.first_seen_wall_ns, v.cas_path, "
		"(SELECT group_concat(parent_id) FROM version_parents p WHERE p.version_id = v.id) AS parents, "
		"(SELECT group_concat(COALESCE(pv.label, 'v' || pv.id), ', ') FROM version_parents p JOIN versions pv "
		" ON pv.id = p.parent_id WHERE p.version_id = v.id) AS parent_labels, "
		/* runs of its own; a run the shim sent on to a routed copy (exec to a .dise-* or cas/run copy) is
		   counted apart: it ran the other version */
		"(SELECT count(*) FROM runs r WHERE r.version_id = v.id AND NOT " DISE__REDIRECTED("r") ") AS runs, "
		"(SELECT count(*) FROM runs r WHERE r.version_id = v.id AND " DISE__REDIRECTED("r") ") AS redirected, "
		"(SELECT count(*) FROM runs r WHERE r.version_id = v.id AND dise_failed(r.outcome, r.exit_status, NULL)) "
		"AS failures, "
		"(SELECT count(*) FROM runs r WHERE r.version_id = v.id AND r.outcome = 'crash') AS crashes, "
		"(SELECT h.state FROM heal_requests h WHERE h.version_id = v.id ORDER BY h.id DESC LIMIT 1) AS heal_request, "
		"(SELECT 1 FROM routes r WHERE r.tool = v.tool AND r.version_id = v.id) AS route, "
		/* the route runs this version in place of the pruned ones' files, not at every path of the tool */
		"(SELECT group_concat(COALESCE(pv.label, 'v' || pv.id), ', ') FROM versions pv WHERE pv.tool = v.tool "
		" AND pv.health = 'pruned' AND EXISTS (SELECT 1 FROM routes r WHERE r.tool = v.tool AND r.version_id = v.id)) "
		" AS route_for, "
		/* the paths where this version is what a deploy put there last (not a routed copy's) */
		"(SELECT group_concat(h.path, ', ') FROM path_heads h WHERE h.version_id = v.id "
		" AND h.path NOT GLOB '*/.dise-*' AND h.path NOT GLOB '*/cas/run/*') AS at_paths, "
		"(SELECT x.detector || ': ' || x.description FROM heal_requests h JOIN failures x "
		" ON x.id = h.failure_id WHERE h.version_id = v.id ORDER BY h.id DESC LIMIT 1) AS detection, "
		"(SELECT " DISE__WHY_NOT("h.id") " FROM heal_requests h WHERE h.version_id = v.id "
		" ORDER BY h.id DESC LIMIT 1) AS went_wrong, "
		/* its arm in the running canary rollout of its tool */
		"(SELECT CASE WHEN k.canary_id = v.id THEN 'canary at ' || k.weight || '%' ELSE 'stable' END FROM canaries k "
		" WHERE k.state = 'running' AND k.tool = v.tool AND v.id IN (k.canary_id, k.stable_id)) AS arm, "
		/* a regenerated version: the mutation that made it (regen.c) */
		"(SELECT m.id FROM mutations m WHERE m.version_id = v.id) AS mutation "
		"FROM versions v WHERE v.tool = ?1 ORDER BY v.id",
	[DISE_REPORT_CRASHES] =
		"SELECT c.signature, count(*) AS count, min(r.start_wall_ns) AS first_seen_wall_ns, "
		"max(r.start_wall_ns) AS last_seen_wall_ns, max(c.signal) AS signal, "
		"group_concat(DISTINCT COALESCE(r.exe, r.execfn)) AS tools, "
		"(SELECT c2.frames FROM crashes c2 WHERE c2.signature = c.signature ORDER BY c2.id DESC LIMIT 1) AS frames, "
		/* strikes per version with this signature, and the versions a detection on it condemned */
		"(SELECT group_concat(s, ', ') FROM (SELECT v.tool || ' ' || " DISE__VERSION_NAME("v") " || ' x' || count(*) AS s FROM crashes c3 "
		" JOIN runs r3 ON r3.id = c3.run_id JOIN versions v ON v.id = r3.version_id WHERE c3.signature = c.signature "
		" GROUP BY v.id ORDER BY v.id)) AS strikes_by_version, "
		"(SELECT group_concat(s, ', ') FROM (SELECT DISTINCT v.tool || ' ' || " DISE__VERSION_NAME("v") " || ' (' || v.health || ')' AS s "
		" FROM failures x JOIN heal_requests h ON h.failure_id = x.id JOIN versions v ON v.id = x.version_id "
		" WHERE x.signature = c.signature)) AS condemned "
		"FROM crashes c JOIN runs r ON r.id = c.run_id GROUP BY c.signature ORDER BY max(r.start_wall_ns) DESC",
	[DISE_REPORT_PRUNED] =
		"SELECT v.tool, v.id AS version, substr(v.sha256, 1, 12) AS sha256, v.label, "
		"(SELECT group_concat(t.id) FROM versions t WHERE t.tainted_by = v.id) AS tainted, "
		"(SELECT x.detector || ': ' || x.description FROM heal_requests h JOIN failures x ON x.id = h.failure_id "
		" WHERE h.version_id = v.id ORDER BY h.id DESC LIMIT 1) AS why, "
		/* the ancestor its own heal routed to; and what its files run now (the tool's route, which a later
		   heal may have moved): two things, never one shown as the other */
		"(SELECT CAST(substr(j.detail, instr(j.detail, ' -> v') + 5) AS INTEGER) FROM journal j "
		" JOIN heal_requests h ON h.id = j.request_id WHERE h.version_id = v.id AND j.step = 'route' "
		" AND j.result = 'ok' AND instr(j.detail, ' -> v') > 0 ORDER BY j.id DESC LIMIT 1) AS healed_to, "
		"(SELECT version_id FROM routes r WHERE r.tool = v.tool) AS runs_instead, "
		"(SELECT count(*) FROM runs r WHERE r.version_id = v.id AND NOT " DISE__REDIRECTED("r") ") AS runs, "
		"(SELECT count(*) FROM runs r WHERE r.version_id = v.id AND " DISE__REDIRECTED("r") ") AS redirected "
		"FROM versions v WHERE v.health = 'pruned' ORDER BY v.id",
	[DISE_REPORT_RULES] =
		"SELECT id, tool, source_version, scope, description, signature, exit_code, signal, argv, reason, "
		"(SELECT count(*) FROM rule_checks c WHERE c.rule_id = r.id AND c.result != 'not_covered') AS covers, "
		"(SELECT count(*) FROM rule_checks c WHERE c.rule_id = r.id AND c.result = 'passed') AS replay_passed, "
		"(SELECT group_concat(c.version_id) FROM rule_checks c WHERE c.rule_id = r.id AND c.result = 'failed') "
		"AS refused_versions "
		"FROM rules r ORDER BY id",
	/* every tool: its paths, versions by health, its route (by label) */
	[DISE_REPORT_TOOLS] =
		"WITH t(tool) AS (SELECT tool FROM versions UNION SELECT tool FROM tool_paths) "
		"SELECT t.tool, "
		"(SELECT group_concat(p, ' ') FROM (SELECT path AS p FROM tool_paths WHERE tool = t.tool AND path NOT IN "
		" (SELECT target FROM route_placements WHERE target IS NOT NULL) UNION " /* a routed copy is no path of its own */
		" SELECT path FROM versions WHERE tool = t.tool AND path IS NOT NULL ORDER BY 1)) AS paths, "
		"(SELECT count(*) FROM versions v WHERE v.tool = t.tool) AS versions, "
		"(SELECT group_concat(h, ', ') FROM (SELECT count(*) || ' ' || health AS h FROM versions v "
		" WHERE v.tool = t.tool GROUP BY health ORDER BY health)) AS health, "
		"(SELECT COALESCE(v.label, 'v' || v.id) FROM routes r JOIN versions v ON v.id = r.version_id "
		" WHERE r.tool = t.tool) AS route, "
		"(SELECT COALESCE(v.label, 'v' || v.id) FROM versions v WHERE v.tool = t.tool ORDER BY v.id DESC LIMIT 1) "
		"AS newest "
		"FROM t ORDER BY t.tool",
	[DISE_REPORT_HEALTH_BY] = "SELECT health, count(*) AS count FROM versions GROUP BY health ORDER BY health",
	[DISE_REPORT_RECENT_FAILURES] =
		"SELECT f.created_wall_ns AS wall_ns, v.tool, v.id AS version, f.detector, f.description, "
		"COALESCE(h.state, 'not queued') AS healing, " DISE__WHY_NOT("h.id") " AS went_wrong, "
		"(SELECT version_id FROM routes r WHERE r.tool = v.tool) AS runs_instead, "
		"(SELECT group_concat(p.path || ': ' || p.note, '; ') FROM route_placements p "
		" WHERE p.tool = v.tool AND p.target IS NULL) AS route_not_published, "
		"(SELECT group_concat(p.path, ', ') FROM route_placements p "
		" WHERE p.tool = v.tool AND p.target IS NOT NULL AND p.beside = 0) AS routed_from_store "
		"FROM failures f JOIN versions v ON v.id = f.version_id "
		"LEFT JOIN heal_requests h ON h.failure_id = f.id ORDER BY f.id DESC LIMIT 10",
	[DISE_REPORT_ROUTE_PLACEMENTS] =
		"SELECT tool, path, version_id AS version, target, beside, error, note, wall_ns FROM route_placements "
		"ORDER BY tool, path",
	[DISE_REPORT_TOOL_PATHS] =
		"SELECT DISTINCT tool, path FROM versions WHERE path IS NOT NULL AND health != 'pruned' ORDER BY tool, path",
	[DISE_REPORT_RESTORE_FAILURES] =
		"SELECT wall_ns, tool, version_id AS version, detail FROM journal WHERE step = 'restore' AND result = 'failed' "
		"ORDER BY id DESC LIMIT 10",
	/* ?1: a tool or NULL; ?2: how many, the newest, shown oldest first */
	[DISE_REPORT_JOURNAL] =
		"SELECT * FROM (SELECT j.id, j.wall_ns, j.request_id, j.tool, j.version_id AS version, v.label, j.step, "
		"j.result, j.detail, j.duration_ns FROM journal j LEFT JOIN versions v ON v.id = j.version_id "
		"WHERE ?1 IS NULL OR j.tool = ?1 ORDER BY j.id DESC LIMIT ?2) ORDER BY id",
	[DISE_REPORT_HEAL_PROBLEMS] =
		"SELECT j.id, j.wall_ns, j.tool, j.version_id AS version, j.step, j.result, j.detail FROM journal j "
		"WHERE j.result IN (" DISE__PROBLEMS ") ORDER BY j.id DESC LIMIT 10",
	/* ?1: a tool or NULL */
	[DISE_REPORT_MUTATIONS] =
		"SELECT m.id, m.tool, m.strategy, m.verdict, COALESCE(pv.label, 'v' || m.pruned_id) AS pruned, "
		"COALESCE(av.label, 'v' || m.ancestor_id) AS ancestor, COALESCE(vv.label, 'v' || m.version_id) AS version, "
		"m.reason, m.hunks, m.reverted, m.candidates, m.fitness, m.baseline, m.validation, m.diff, m.duration_ns, "
		"m.created_wall_ns, m.model, m.prompt_sha256, m.tokens, m.confidence FROM mutations m LEFT JOIN versions pv ON pv.id = m.pruned_id "
		"LEFT JOIN versions av ON av.id = m.ancestor_id LEFT JOIN versions vv ON vv.id = m.version_id "
		"WHERE ?1 IS NULL OR m.tool = ?1 ORDER BY m.id",
	[DISE_REPORT_REGEN_STATE] =
		"SELECT m.tool, m.id AS mutation, m.verdict, m.reason, "
		"(SELECT count(*) FROM mutations p WHERE p.tool = m.tool AND p.verdict = 'proposed') AS proposals, "
		"(SELECT r.locked_until_ns FROM ratchet r WHERE r.tool = m.tool AND r.locked_until_ns > 0) AS locked_until_ns, "
		"(SELECT r.best FROM ratchet r WHERE r.tool = m.tool) AS best_fitness "
		"FROM mutations m WHERE m.id IN (SELECT max(id) FROM mutations GROUP BY tool) ORDER BY m.tool",
};

int dise_store_report(dise_store *st, enum dise_report what, const char *arg, int64_t limit, json_t **ret)
{
	sqlite3_stmt *q;
	json_t *arr;
	int r, i, np;

	if ((unsigned)what >= DISE_REPORT_MAX)
		return -EINVAL;
	if (!(q = dise__stmt(st, reports[what])))
		return -EIO;
	np = sqlite3_bind_parameter_count(q);
	if (np >= 1 && arg)
		sqlite3_bind_text(q, 1, arg, -1, SQLITE_TRANSIENT);
	if (np >= 2)
		sqlite3_bind_int64(q, 2, limit < 0 ? 0 : limit);
	arr = json_array();
	while ((r = dise__step(q)) > 0) {
		json_t *o = json_object();

		for (i = 0; i < sqlite3_column_count(q); i++) {
			const char *name = sqlite3_column_name(q, i);

			switch (sqlite3_column_type(q, i)) {
			case SQLITE_INTEGER: json_object_set_new(o, name, json_integer(sqlite3_column_int64(q, i))); break;
			case SQLITE_NULL: break;
			case SQLITE_FLOAT: json_object_set_new(o, name, json_real(sqlite3_column_double(q, i))); break;
			/* the exact bytes, UTF-8 or not: the command escapes them for a terminal, encodes them for JSON */
			default:
				json_object_set_new(o, name, json_stringn_nocheck((const char *)sqlite3_column_text(q, i),
										  (size_t)sqlite3_column_bytes(q, i)));
			}
		}
		json_array_append_new(arr, o);
	}
	dise__done(q);
	if (r < 0) { /* busy: a partial report is no answer */
		json_decref(arr);
		return r;
	}
	*ret = arr;
	return 0;
}

int dise_store_health_counts(dise_store *st, struct dise_health_counts *ret)
{
	static const char sql[] =
		"SELECT (SELECT count(*) FROM runs), "
		"(SELECT count(*) FROM heal_requests WHERE state = 'queued'), "
		"(SELECT count(*) FROM heal_requests WHERE state = 'done'), "
		"(SELECT count(*) FROM heal_requests WHERE state = 'no_ancestor'), "
		"(SELECT count(*) FROM heal_requests WHERE state = 'frozen'), "
		/* from the record of the run that made the detection (its end), else the detection */
		"(SELECT COALESCE(avg(j.wall_ns - COALESCE(x.start_wall_ns + (x.end_ns - x.start_ns), x.start_wall_ns, "
		" h.created_wall_ns)), 0) FROM heal_requests h JOIN failures f ON f.id = h.failure_id "
		" LEFT JOIN runs x ON x.id = f.run_id "
		" JOIN journal j ON j.request_id = h.id AND j.step = 'route' AND j.result = 'ok' WHERE h.state = 'done'), "
		"(SELECT count(*) FROM journal WHERE step = 'restore' AND result = 'failed')";
	sqlite3_stmt *q = dise__stmt(st, sql);
	int r;

	if (!q)
		return -EIO;
	if ((r = dise__step(q)) > 0) {
		ret->runs = sqlite3_column_int64(q, 0);
		ret->queued = sqlite3_column_int64(q, 1);
		ret->routed = sqlite3_column_int64(q, 2);
		ret->no_ancestor = sqlite3_column_int64(q, 3);
		ret->frozen = sqlite3_column_int64(q, 4);
		ret->mean_detection_to_route_ns = sqlite3_column_int64(q, 5);
		ret->restore_failed = sqlite3_column_int64(q, 6);
	}
	dise__done(q);
	return r < 0 ? r : 0;
}

int dise_store_version_pick(dise_store *st, const char *tool, const char *ver, enum dise_pick pick, int64_t *ret)
{
	/* by label, or by id (v12 or 12) */
	static const char named[] = "SELECT id FROM versions WHERE tool = ?1 AND (label = ?2 OR id = CAST(ltrim(?2, 'v') AS INTEGER)) "
				    "ORDER BY label = ?2 DESC LIMIT 1"; /* a label before an id that reads the same */
	static const char healable[] = "SELECT max(id) FROM versions WHERE tool = ?1 AND health != 'pruned'";
	static const char resettable[] = "SELECT max(id) FROM versions WHERE tool = ?1 AND health IN ('pruned', 'failed')";
	int64_t id = 0;
	int r;

	if (ver)
		r = dise__int(st, named, &id, "ss", tool, ver);
	else
		r = dise__int(st, pick == DISE_PICK_RESETTABLE ? resettable : healable, &id, "s", tool);
	if (r < 0)
		return r;
	*ret = id;
	return id != 0;
}

int dise_store_tool_lookup(dise_store *st, const char *name, const char *cwd, char *buf, size_t size, char **ret_candidates)
{
	/* the tools: of versions and of registered paths (runs are not indexed by tool: ingest stays as fast) */
	static const char exact[] = "SELECT ?1 WHERE EXISTS (SELECT 1 FROM versions WHERE tool = ?1) "
				    "OR EXISTS (SELECT 1 FROM tool_paths WHERE tool = ?1)";
	/* a path of a group: registered, or the path a version of it was seen at */
	static const char by_path[] = "SELECT tool FROM tool_paths WHERE path = ?1 UNION SELECT tool FROM versions WHERE path = ?1 "
				      "LIMIT 1";
	/* a file name: the tools whose path ends in it */
	static const char by_base[] = "SELECT tool FROM (SELECT tool FROM versions UNION SELECT tool FROM tool_paths "
				      "UNION SELECT path FROM tool_paths) "
				      "WHERE substr(tool, -length(?1) - 1) = '/' || ?1 ORDER BY tool";
	char abs[4096];
	sqlite3_stmt *q;
	char *cand = NULL;
	size_t len = 0;
	int r, n = 0;

	*ret_candidates = NULL;
	if ((r = dise__text(st, exact, buf, size, "s", name)) != 0)
		return r;
	if (strchr(name, '/')) {
		if (dise_path_absolute(name, cwd, abs, sizeof(abs)) < 0)
			return 0;
		if ((r = dise__text(st, exact, buf, size, "s", abs)) != 0)
			return r;
		return dise__text(st, by_path, buf, size, "s", abs);
	}
	if (!(q = dise__stmt(st, by_base)))
		return -EIO;
	dise__bind(q, "s", name);
	while ((r = dise__step(q)) > 0) {
		const char *t = (const char *)sqlite3_column_text(q, 0);
		char tool[4096];
		size_t tl;

		/* a registered path stands for its tool */
		if (dise__text(st, "SELECT tool FROM tool_paths WHERE path = ?1", tool, sizeof(tool), "s", t) <= 0)
			snprintf(tool, sizeof(tool), "%s", t);
		tl = strlen(tool);
		if (cand) { /* each tool once */
			const char *c = cand;

			while ((c = strstr(c, tool)) && !((c == cand || c[-1] == ' ') && (c[tl] == ',' || !c[tl])))
				c++;
			if (c)
				continue;
		}
		if (n == 0)
			snprintf(buf, size, "%s", tool);
		{
			char *p = realloc(cand, len + tl + 3);

			if (!p) {
				r = -ENOMEM;
				break;
			}
			cand = p;
			len += (size_t)sprintf(cand + len, "%s%s", n ? ", " : "", tool);
		}
		n++;
	}
	dise__done(q);
	if (r < 0 || n < 2) {
		free(cand);
		return r < 0 ? r : n;
	}
	*ret_candidates = cand;
	return -EEXIST;
}
