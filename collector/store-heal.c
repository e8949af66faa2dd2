/* SPDX-License-Identifier: MIT */
/*
 * The healer's statements: versions and their DAG, health and taint, heal
 * requests and their states, failures, rules and where they propagated,
 * routes, and the journal. Each function is one step of healer/action.c's
 * cycle; the transaction around them is the healer's (dise_store_begin).
 * Reads that the healer acts on (spawning a test, copying a file, calling
 * out) are read whole and their statement reset first: nothing slow runs
 * while a statement holds a read snapshot.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"

int dise_store_journal_add(dise_store *st, int64_t request, const char *tool, int64_t version, const char *step,
			   const char *result, const char *detail, int64_t wall_ns, int64_t duration_ns)
{
	static const char sql[] = "INSERT INTO journal(wall_ns, request_id, tool, version_id, step, result, detail, duration_ns) "
				  "VALUES (?1, NULLIF(?2, 0), ?3, NULLIF(?4, 0), ?5, ?6, ?7, ?8)";

	return dise__exec(st, sql, "iisisssi", wall_ns, request, tool, version, step, result, detail, duration_ns);
}

int dise_store_version_tool(dise_store *st, int64_t version, char *buf, size_t size)
{
	static const char sql[] = "SELECT tool FROM versions WHERE id = ?1";

	return dise__text(st, sql, buf, size, "i", version);
}

int dise_store_version_copy(dise_store *st, int64_t version, char **ret_copy)
{
	static const char sql[] = "SELECT cas_path FROM versions WHERE id = ?1";
	sqlite3_stmt *q = dise__stmt(st, sql);
	char *copy = NULL;
	int r;

	if (!q)
		return -EIO;
	dise__bind(q, "i", version);
	if ((r = dise__step(q)) > 0 && sqlite3_column_text(q, 0) && !(copy = dise__col_strdup(q, 0)))
		r = -ENOMEM;
	dise__done(q);
	if (r < 0)
		return r;
	*ret_copy = copy;
	return 0;
}

int dise_store_tool_dag(dise_store *st, const char *tool, struct dise_store_node **ret_nodes, size_t *ret_n,
			struct dise_store_edge **ret_edges, size_t *ret_ne)
{
	static const char versions[] = "SELECT id, health FROM versions WHERE tool = ?1 ORDER BY id";
	/* edges grouped by version; a merge's parents in id order (the walk is breadth-first: nearest wins) */
	static const char edges[] = "SELECT p.version_id, p.parent_id FROM version_parents p JOIN versions v ON v.id = p.version_id "
				    "WHERE v.tool = ?1 ORDER BY p.version_id, p.parent_id";
	struct dise_store_node *nodes = NULL;
	struct dise_store_edge *e = NULL;
	size_t n = 0, ne = 0, cap = 0;
	sqlite3_stmt *q = dise__stmt(st, versions);
	int r;

	if (!q)
		return -EIO;
	dise__bind(q, "s", tool);
	while ((r = dise__step(q)) > 0) {
		if ((r = dise__grow((void **)&nodes, &cap, n, sizeof(*nodes))) < 0)
			break;
		nodes[n].id = sqlite3_column_int64(q, 0);
		nodes[n].health = dise_health_from_name((const char *)sqlite3_column_text(q, 1));
		if ((int)nodes[n].health < 0) /* the CHECK constraint keeps this from happening */
			nodes[n].health = DISE_FAILED;
		n++;
	}
	dise__done(q);
	if (r == 0 && !(q = dise__stmt(st, edges)))
		r = -EIO;
	if (r == 0) {
		cap = 0;
		dise__bind(q, "s", tool);
		while ((r = dise__step(q)) > 0) {
			if ((r = dise__grow((void **)&e, &cap, ne, sizeof(*e))) < 0)
				break;
			e[ne].version = sqlite3_column_int64(q, 0);
			e[ne++].parent = sqlite3_column_int64(q, 1);
		}
		dise__done(q);
	}
	if (r < 0) { /* busy: a DAG missing versions would pick the wrong ancestor */
		free(nodes);
		free(e);
		return r;
	}
	*ret_nodes = nodes;
	*ret_n = n;
	*ret_edges = e;
	*ret_ne = ne;
	return 0;
}

void dise_failed_run_free(struct dise_failed_run *f)
{
	free(f->argv);
	free(f->cwd);
	free(f->frames);
	free(f->signature);
	memset(f, 0, sizeof(*f));
}

int dise_store_last_failed_run(dise_store *st, int64_t version, struct dise_failed_run *ret)
{
	/*
	 * The run the version's latest detection named (for three strikes: a
	 * strike, never a failure its ancestors shared), else its latest failure.
	 */
	static const char sql[] = "SELECT r.exit_status, r.signal, r.argv, r.cwd, c.frames, c.signature FROM runs r "
				  "LEFT JOIN crashes c ON c.run_id = r.id WHERE r.id = COALESCE("
				  "(SELECT x.run_id FROM failures x WHERE x.version_id = ?1 AND x.run_id IS NOT NULL "
				  "AND x.detector IN ('three_strikes', 'error_rate') ORDER BY x.id DESC LIMIT 1), "
				  "(SELECT r2.id FROM runs r2 WHERE r2.version_id = ?1 AND dise_failed(r2.outcome, r2.exit_status, NULL) "
				  "ORDER BY r2.start_wall_ns DESC LIMIT 1))";
	sqlite3_stmt *q = dise__stmt(st, sql);
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->exit_status = ret->signal = -1;
	if (!q)
		return -EIO;
	dise__bind(q, "i", version);
	if ((r = dise__step(q)) > 0) {
		if (sqlite3_column_type(q, 0) != SQLITE_NULL)
			ret->exit_status = sqlite3_column_int(q, 0);
		if (sqlite3_column_type(q, 1) != SQLITE_NULL)
			ret->signal = sqlite3_column_int(q, 1);
		ret->argv = dise__col_strdup(q, 2);
		ret->cwd = dise__col_strdup(q, 3);
		ret->frames = dise__col_strdup(q, 4);
		ret->signature = dise__col_strdup(q, 5);
	}
	dise__done(q);
	return r;
}

int dise_store_rule_add(dise_store *st, const char *tool, int64_t source, const char *desc, const char *signature,
			int exit_code, int signo, const char *argv, const char *cwd, const char *reason, enum dise_scope scope,
			int64_t wall_ns)
{
	/*
	 * No exit code or signal (-1): NULL. The symbolic signature is the one
	 * of the crashes with this build-specific signature (the same frames of
	 * the same build: the same names), so that the rule also matches a
	 * rebuild with the same bug.
	 */
	static const char sql[] = "INSERT INTO rules(tool, source_version, description, signature, exit_code, signal, argv, cwd, "
				  "reason, scope, created_wall_ns, sym_signature) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
				  "?11, (SELECT c.sym_signature FROM crashes c WHERE c.signature = ?4 "
				  "AND c.sym_signature IS NOT NULL ORDER BY c.id DESC LIMIT 1))";

	return dise__exec(st, sql, "sissnnssssi", tool, source, desc, signature, (int64_t)exit_code, (int64_t)signo, argv,
			  cwd, reason, dise_scope_name(scope), wall_ns);
}

int dise_store_version_set_health(dise_store *st, int64_t version, enum dise_health health)
{
	static const char sql[] = "UPDATE versions SET health = ?2 WHERE id = ?1";

	return dise__exec(st, sql, "is", version, dise_health_name(health));
}

int dise_store_version_taint(dise_store *st, int64_t version, int64_t by)
{
	static const char sql[] = "UPDATE versions SET health = 'degraded', tainted_by = ?2 WHERE id = ?1 AND health = 'healthy'";
	int r = dise__exec(st, sql, "ii", version, by);

	return r < 0 ? r : sqlite3_changes(st->db);
}

int dise_store_heal_set_state(dise_store *st, int64_t request, enum dise_heal_state state)
{
	static const char sql[] = "UPDATE heal_requests SET state = ?2 WHERE id = ?1";

	return dise__exec(st, sql, "is", request, dise_heal_state_name(state));
}

int dise_store_heal_state(dise_store *st, int64_t request)
{
	static const char sql[] = "SELECT state FROM heal_requests WHERE id = ?1";
	char state[32];
	int r = dise__text(st, sql, state, sizeof(state), "i", request);

	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	return dise_heal_state_from_name(state);
}

int dise_store_failure_reason(dise_store *st, int64_t failure, char *buf, size_t size, int *ret_is_rule)
{
	static const char sql[] = "SELECT detector || ': ' || description, detector = 'rule' FROM failures WHERE id = ?1";
	sqlite3_stmt *q = dise__stmt(st, sql);
	int r;

	if (!q)
		return -EIO;
	dise__bind(q, "i", failure);
	if ((r = dise__step(q)) > 0) {
		snprintf(buf, size, "%s", (const char *)sqlite3_column_text(q, 0));
		*ret_is_rule = sqlite3_column_int(q, 1); /* a rule's failure: that rule exists, nothing new to learn */
	}
	dise__done(q);
	return r;
}

int dise_store_route_set(dise_store *st, const char *tool, int64_t version, int64_t wall_ns)
{
	static const char sql[] = "INSERT INTO routes(tool, version_id, updated_wall_ns) VALUES (?1, ?2, ?3) "
				  "ON CONFLICT(tool) DO UPDATE SET version_id = excluded.version_id, "
				  "updated_wall_ns = excluded.updated_wall_ns";

	return dise__exec(st, sql, "sii", tool, version, wall_ns);
}

int dise_store_route_drop(dise_store *st, const char *tool)
{
	static const char sql[] = "DELETE FROM routes WHERE tool = ?1";

	return dise__exec(st, sql, "s", tool);
}

int dise_store_route_get(dise_store *st, const char *tool, int64_t *ret_version)
{
	static const char sql[] = "SELECT version_id FROM routes WHERE tool = ?1";

	return dise__int(st, sql, ret_version, "s", tool);
}

int dise_store_restore_targets(dise_store *st, int64_t pruned, int64_t ancestor, struct dise_restore_target **ret,
			       size_t *ret_n)
{
	/* every path that held the pruned version, with its content's hash and the ancestor's copy */
	static const char sql[] =
		"SELECT DISTINCT x.path, p.sha256, a.cas_path FROM versions p JOIN versions a ON a.id = ?2 "
		"JOIN (SELECT path FROM versions WHERE id = ?1 UNION SELECT path FROM path_heads WHERE version_id = ?1) x "
		"WHERE p.id = ?1 AND x.path IS NOT NULL AND a.cas_path IS NOT NULL";
	struct dise_restore_target *t = NULL;
	sqlite3_stmt *q = dise__stmt(st, sql);
	size_t n = 0, cap = 0;
	int r;

	if (!q)
		return -EIO;
	dise__bind(q, "ii", pruned, ancestor);
	while ((r = dise__step(q)) > 0) {
		if ((r = dise__grow((void **)&t, &cap, n, sizeof(*t))) < 0)
			break;
		t[n].path = dise__col_strdup(q, 0);
		t[n].sha256 = dise__col_strdup(q, 1);
		t[n].from = dise__col_strdup(q, 2);
		n++;
	}
	dise__done(q);
	if (r < 0) {
		dise_restore_targets_free(t, n);
		return r;
	}
	*ret = t;
	*ret_n = n;
	return 0;
}

void dise_restore_targets_free(struct dise_restore_target *t, size_t n)
{
	for (size_t i = 0; t && i < n; i++) {
		free(t[i].path);
		free(t[i].sha256);
		free(t[i].from);
	}
	free(t);
}

int dise_store_rule_check_set(dise_store *st, int64_t rule, int64_t version, enum dise_check result, const char *detail,
			      int64_t wall_ns)
{
	static const char sql[] = "INSERT OR REPLACE INTO rule_checks(rule_id, version_id, result, detail, wall_ns) "
				  "VALUES (?1, ?2, ?3, ?4, ?5)";

	return dise__exec(st, sql, "iissi", rule, version, dise_check_name(result), detail, wall_ns);
}

int dise_store_heal_request_add(dise_store *st, int64_t version, enum dise_detector detector, const char *desc,
				int64_t rule, int64_t wall_ns)
{
	/* a rule's failure carries the rule's crash signature */
	static const char failure[] =
		"INSERT INTO failures(version_id, detector, description, severity, signature, created_wall_ns) "
		"VALUES (?1, ?2, ?3, 'high', (SELECT signature FROM rules WHERE id = ?4), ?5)";
	/* at most one queued request per version (the partial unique index heal_open) */
	static const char request[] = "INSERT OR IGNORE INTO heal_requests(version_id, failure_id, created_wall_ns) "
				      "VALUES (?1, ?2, ?3)";
	int r = dise__exec(st, failure, "issii", version, dise_detector_name(detector), desc, rule, wall_ns);

	if (r == 0)
		r = dise__exec(st, request, "iii", version, (int64_t)sqlite3_last_insert_rowid(st->db), wall_ns);
	return r;
}

int dise_store_rule_matches(dise_store *st, int64_t since_wall_ns, int64_t (*m)[3], int max)
{
	/*
	 * (rule, version, run): only pairs already found covered, versions not
	 * failed yet, runs of the detectors' window. Crash rules start from the
	 * crashes with their signature (an index; CROSS JOIN keeps that order),
	 * build-specific or symbolic (a rebuild with the same bug: other
	 * build-id, same functions), so their cost follows the crashes that
	 * match, not the runs; exit
	 * status rules look at the failed runs of each covered version in the
	 * window (an index range per version) of the checks that found the
	 * pair covered or passed, the only ones the outer EXISTS keeps (a
	 * rule_checks row per pair: its primary key), by runs_failed (only
	 * failures: x.outcome = 'fail' is one), not every run of the window
	 * of every version looked at (the seventh pass: a rule stored made
	 * each resolver pass read every run of the window of each version
	 * checked and not covered, ~3 µs a run).
	 */
	static const char sql[] =
		"SELECT rule, version, MAX(run) FROM ("
		"SELECT ru.id AS rule, x.version_id AS version, x.id AS run FROM rules ru "
		"CROSS JOIN crashes c ON c.signature = ru.signature CROSS JOIN runs x ON x.id = c.run_id "
		"WHERE ru.signature IS NOT NULL AND x.start_wall_ns >= ?1 "
		"UNION ALL "
		"SELECT ru.id, x.version_id, x.id FROM rules ru "
		"CROSS JOIN crashes c ON c.sym_signature = ru.sym_signature CROSS JOIN runs x ON x.id = c.run_id "
		"WHERE ru.sym_signature IS NOT NULL AND x.start_wall_ns >= ?1 "
		"UNION ALL "
		"SELECT ru.id, k.version_id, x.id FROM rules ru CROSS JOIN rule_checks k ON k.rule_id = ru.id "
		"AND k.result IN ('covered', 'passed') "
		"CROSS JOIN runs x INDEXED BY runs_failed ON x.version_id = k.version_id AND x.start_wall_ns >= ?1 "
		"AND x.outcome IN ('crash', 'fail') "
		"WHERE ru.signature IS NULL AND ru.exit_code IS NOT NULL AND ru.argv IS NOT NULL "
		"AND x.outcome = 'fail' AND x.exit_status = ru.exit_code AND x.argv = ru.argv) m "
		"WHERE EXISTS (SELECT 1 FROM rule_checks k WHERE k.rule_id = m.rule AND k.version_id = m.version "
		"AND k.result IN ('covered', 'passed')) "
		"AND EXISTS (SELECT 1 FROM versions v WHERE v.id = m.version AND v.health IN ('healthy', 'degraded')) "
		"AND NOT EXISTS (SELECT 1 FROM heal_requests h WHERE h.version_id = m.version "
		"AND h.state IN ('queued', 'validating')) GROUP BY rule, version ORDER BY rule, version LIMIT ?2";
	sqlite3_stmt *q = dise__stmt(st, sql);
	int n = 0, r = 0;

	if (!q)
		return -EIO;
	dise__bind(q, "id", since_wall_ns, max);
	while (n < max && (r = dise__step(q)) > 0) {
		m[n][0] = sqlite3_column_int64(q, 0);
		m[n][1] = sqlite3_column_int64(q, 1);
		m[n][2] = sqlite3_column_int64(q, 2);
		n++;
	}
	dise__done(q);
	return r < 0 ? r : n;
}

int dise_store_rule_description(dise_store *st, int64_t rule, char *buf, size_t size)
{
	static const char sql[] = "SELECT description FROM rules WHERE id = ?1";

	return dise__text(st, sql, buf, size, "i", rule);
}

int dise_store_rule_pairs(dise_store *st, struct dise_rule_pair **ret, size_t *cap, int max)
{
	/*
	 * the pairs (rule, version it may cover) not looked at yet; versions
	 * already failed or pruned wait. A rule of one tool with that tool's
	 * versions (versions_tool), a global rule with every version: two
	 * branches (scope is never NULL), each from the rules (CROSS JOIN), so
	 * no global rule reads no version (one OR joined every version with
	 * each rule, every pass: 6 113 VM steps with 1 000 versions, 115 now)
	 */
#define RULE_PAIR                                                                             \
	"SELECT r.id, v.id, r.source_version, r.tool, v.tool, r.scope, "                          \
	"r.argv IS NOT NULL AND (r.signal IS NOT NULL OR r.exit_code IS NOT NULL) FROM rules r "  \
	"CROSS JOIN versions v ON v.id != r.source_version AND v.health IN ('healthy', 'degraded') "
#define RULE_UNCHECKED "WHERE NOT EXISTS (SELECT 1 FROM rule_checks c WHERE c.rule_id = r.id AND c.version_id = v.id) "
	static const char sql[] =
		"SELECT * FROM (" RULE_PAIR "AND v.tool = r.tool AND r.scope != 'global' " RULE_UNCHECKED
		"UNION ALL " RULE_PAIR "AND r.scope = 'global' " RULE_UNCHECKED ") ORDER BY 1, 2 LIMIT ?1";
#undef RULE_PAIR
#undef RULE_UNCHECKED
	sqlite3_stmt *q = dise__stmt(st, sql);
	int n = 0, r = 0;

	if (!q)
		return -EIO;
	dise__bind(q, "d", max);
	while (n < max && (r = dise__step(q)) > 0) {
		struct dise_rule_pair *t;

		if ((r = dise__grow((void **)ret, cap, (size_t)n, sizeof(**ret))) < 0)
			break;
		t = *ret;
		t[n].rule = sqlite3_column_int64(q, 0);
		t[n].version = sqlite3_column_int64(q, 1);
		t[n].source = sqlite3_column_int64(q, 2);
		snprintf(t[n].tool, sizeof(t[n].tool), "%s", (const char *)sqlite3_column_text(q, 3));
		snprintf(t[n].vtool, sizeof(t[n].vtool), "%s", (const char *)sqlite3_column_text(q, 4));
		t[n].scope = dise_scope_from_name((const char *)sqlite3_column_text(q, 5));
		t[n].replayable = sqlite3_column_int(q, 6);
		n++;
	}
	dise__done(q);
	return r < 0 ? r : n;
}

int dise_store_heal_requests_open(dise_store *st, struct dise_heal_request *req, int max)
{
	/* 'validating', 'restoring': a collector stopped between the halves; the healer goes on where it stood */
	static const char sql[] = "SELECT id, version_id, failure_id, state FROM heal_requests "
				  "WHERE state IN ('queued', 'validating', 'restoring') ORDER BY id LIMIT ?1";
	sqlite3_stmt *q = dise__stmt(st, sql);
	int n = 0, r = 0;

	if (!q)
		return -EIO;
	dise__bind(q, "d", max);
	while (n < max && (r = dise__step(q)) > 0) {
		req[n].id = sqlite3_column_int64(q, 0);
		req[n].version = sqlite3_column_int64(q, 1);
		req[n].failure = sqlite3_column_int64(q, 2);
		req[n].state = dise_heal_state_from_name((const char *)sqlite3_column_text(q, 3));
		n++;
	}
	dise__done(q);
	return r < 0 ? r : n;
}

int dise_store_version_reset(dise_store *st, int64_t version, const char *tool, int64_t wall_ns)
{
	static const char health[] = "UPDATE versions SET health = 'healthy', reset_wall_ns = ?2 WHERE id = ?1";
	static const char untaint[] = "UPDATE versions SET health = 'healthy', tainted_by = NULL WHERE tainted_by = ?1";
	static const char close[] = "UPDATE heal_requests SET state = 'reset' WHERE version_id = ?1 AND state = 'queued'";
	static const char pruned[] = "SELECT count(*) FROM versions WHERE tool = ?1 AND health = 'pruned'";
	int64_t left = 0;
	int r = dise__exec(st, health, "ii", version, wall_ns);

	if (r == 0)
		r = dise__exec(st, untaint, "i", version);
	if (r == 0)
		r = dise__exec(st, close, "i", version);
	/*
	 * The tool's route goes only with its last pruned version: the others
	 * stay condemned, and a pruned version runs again only when an operator
	 * resets it (this version's files leave the published table by
	 * themselves: it is no longer pruned).
	 */
	if (r == 0 && (r = dise__int(st, pruned, &left, "s", tool)) >= 0)
		r = left ? 0 : dise_store_route_drop(st, tool);
	return r < 0 ? r : 0;
}

int dise_store_rules_replayable(dise_store *st, const char *tool, int64_t only_rule, struct dise_replay **ret,
				size_t *ret_n)
{
	static const char sql[] = "SELECT id, argv, cwd, signal, exit_code, description FROM rules "
				  "WHERE tool = ?1 AND argv IS NOT NULL AND (signal IS NOT NULL OR exit_code IS NOT NULL) "
				  "AND (?2 = 0 OR id = ?2) ORDER BY id";
	struct dise_replay *t = NULL;
	sqlite3_stmt *q = dise__stmt(st, sql);
	size_t n = 0, cap = 0;
	int r;

	if (!q)
		return -EIO;
	dise__bind(q, "si", tool, only_rule);
	while ((r = dise__step(q)) > 0) {
		if ((r = dise__grow((void **)&t, &cap, n, sizeof(*t))) < 0)
			break;
		t[n].rule = sqlite3_column_int64(q, 0);
		t[n].argv = dise__col_strdup(q, 1);
		t[n].cwd = dise__col_strdup(q, 2);
		t[n].signal = sqlite3_column_type(q, 3) == SQLITE_NULL ? 0 : sqlite3_column_int(q, 3);
		t[n].exit_code = sqlite3_column_type(q, 4) == SQLITE_NULL ? -1 : sqlite3_column_int(q, 4);
		t[n].description = dise__col_strdup(q, 5);
		n++;
	}
	dise__done(q);
	if (r < 0) {
		dise_replays_free(t, n);
		return r;
	}
	*ret = t;
	*ret_n = n;
	return 0;
}

void dise_replays_free(struct dise_replay *t, size_t n)
{
	for (size_t i = 0; t && i < n; i++) {
		free(t[i].argv);
		free(t[i].cwd);
		free(t[i].description);
	}
	free(t);
}

int dise_store_notify_cursor(dise_store *st, int64_t *ret_journal_id)
{
	static const char sql[] = "SELECT journal_id FROM notify_cursor WHERE id = 1";
	int r = dise__int(st, sql, ret_journal_id, "");

	return r < 0 ? r : 0;
}

int dise_store_notify_cursor_set(dise_store *st, int64_t journal_id)
{
	static const char sql[] = "INSERT OR REPLACE INTO notify_cursor(id, journal_id) VALUES (1, ?1)";

	return dise__exec(st, sql, "i", journal_id);
}

int dise_store_notify_events(dise_store *st, int64_t after, struct dise_event *ev, int max)
{
	static const char sql[] =
		"SELECT j.id, j.step, j.result, j.tool, j.version_id, j.detail, j.wall_ns, "
		"(SELECT s.detail FROM journal s WHERE s.request_id = j.request_id AND s.step = 'start' ORDER BY s.id LIMIT 1) "
		"FROM journal j WHERE j.id > ?1 AND (j.step IN ('route', 'freeze', 'rule_refused', 'rule_matched', 'failing', "
		"  'canary_start', 'canary_step', 'canary_promote', 'canary_abort') "
		"  OR (j.step IN ('route_publish', 'restore') AND j.result = 'failed') "
		"  OR (j.step = 'regenerate' AND j.result IN ('proposed', 'routed'))) "
		"ORDER BY j.id LIMIT ?2";
	sqlite3_stmt *q = dise__stmt(st, sql);
	int n = 0, r = 0;

	if (!q)
		return -EIO;
	dise__bind(q, "id", after, max);
	while (n < max && (r = dise__step(q)) > 0) {
		memset(&ev[n], 0, sizeof(ev[n]));
		ev[n].journal_id = sqlite3_column_int64(q, 0);
		snprintf(ev[n].step, sizeof(ev[n].step), "%s", (const char *)sqlite3_column_text(q, 1));
		snprintf(ev[n].result, sizeof(ev[n].result), "%s", (const char *)sqlite3_column_text(q, 2));
		ev[n].tool = dise__col_strdup(q, 3);
		ev[n].version = sqlite3_column_int64(q, 4);
		ev[n].detail = dise__col_strdup(q, 5);
		ev[n].wall_ns = sqlite3_column_int64(q, 6);
		ev[n].reason = dise__col_strdup(q, 7);
		n++;
	}
	dise__done(q);
	if (r < 0) {
		dise_events_free(ev, n);
		return r;
	}
	return n;
}

void dise_events_free(struct dise_event *ev, int n)
{
	for (int i = 0; i < n; i++) {
		free(ev[i].tool);
		free(ev[i].detail);
		free(ev[i].reason);
	}
}
