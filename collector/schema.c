/* SPDX-License-Identifier: MIT */
/*
 * The schema, and how each version of it becomes the next. A database
 * records its version in schema_version; opening it for writing runs the
 * steps from there to DISE_SCHEMA_VERSION in one transaction, so a
 * database is at one version or the next, never in between. A step is
 * never edited once released: the upgrade test builds every older version
 * from these steps (dise_store_create_old) and opens it with this code.
 *
 * The columns that hold a word of names.h (outcome, health, state,
 * detector, scope, result) get a CHECK constraint made from its name table,
 * by rebuilding their tables (v8: SQLite cannot add a constraint to a
 * table in place), so every database, new or upgraded, refuses a word the
 * code does not know.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "schema.h"
#include "store-internal.h"
#include "toolpath.h"

static const char schema_v1[] =
	"CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS ingest_cursor("
	"  epoch INTEGER NOT NULL, shard INTEGER NOT NULL, next_pos INTEGER NOT NULL,"
	"  PRIMARY KEY(epoch, shard)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS runs("
	"  id INTEGER PRIMARY KEY,"
	"  epoch INTEGER NOT NULL,"    /* ring incarnation: pids and monotonic times are unique within it */
	"  pid INTEGER NOT NULL,"
	"  start_ns INTEGER NOT NULL," /* CLOCK_MONOTONIC at START */
	"  ppid INTEGER, uid INTEGER, start_wall_ns INTEGER,"
	"  execfn TEXT, exe TEXT, cwd TEXT, argv TEXT, argc INTEGER,"
	"  exe_dev INTEGER, exe_ino INTEGER, exe_size INTEGER, exe_mtime_ns INTEGER,"
	"  forked INTEGER, exec_parent INTEGER,"
	"  end_ns INTEGER,"
	"  outcome TEXT," /* NULL while running; ok, fail, crash, exec */
	"  exit_status INTEGER, signal INTEGER, exec_path TEXT,"
	"  user_ns INTEGER, sys_ns INTEGER, maxrss_kb INTEGER,"
	"  UNIQUE(epoch, pid, start_ns));"
	"CREATE TABLE IF NOT EXISTS crashes("
	"  id INTEGER PRIMARY KEY,"
	"  run_id INTEGER NOT NULL REFERENCES runs(id),"
	"  tid INTEGER, signal INTEGER, si_code INTEGER, fault_addr INTEGER, main_thread INTEGER,"
	"  signature TEXT," /* hash of the top frames as (module, offset): stable across ASLR and hosts */
	"  frames TEXT);"   /* JSON array */
	"CREATE INDEX IF NOT EXISTS crashes_signature ON crashes(signature);"
	"CREATE INDEX IF NOT EXISTS runs_open ON runs(outcome) WHERE outcome IS NULL;";

/* v2: versions. A version is one content (SHA-256) of one tool; lineage edges go from a version to its parents. */
static const char schema_v2[] =
	"ALTER TABLE runs ADD COLUMN tool TEXT;"
	"ALTER TABLE runs ADD COLUMN version_id INTEGER;"
	"CREATE TABLE IF NOT EXISTS contents(" /* hash cache: one hash per file identity */
	"  dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
	"  sha256 TEXT," /* NULL: the file changed or went away before it could be hashed */
	"  PRIMARY KEY(dev, ino, size, mtime_ns)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS versions("
	"  id INTEGER PRIMARY KEY, tool TEXT NOT NULL, sha256 TEXT NOT NULL, label TEXT, path TEXT,"
	"  size INTEGER, first_seen_wall_ns INTEGER, cas_path TEXT,"
	"  health TEXT NOT NULL DEFAULT 'healthy',"
	"  UNIQUE(tool, sha256));"
	"CREATE TABLE IF NOT EXISTS version_parents(version_id INTEGER NOT NULL, parent_id INTEGER NOT NULL,"
	"  PRIMARY KEY(version_id, parent_id)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS path_heads(path TEXT PRIMARY KEY, version_id INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS tool_paths(path TEXT PRIMARY KEY, tool TEXT NOT NULL) WITHOUT ROWID;";

/* v3: detections. A failure record per detection; at most one queued heal request per version. */
static const char schema_v3[] =
	"CREATE INDEX IF NOT EXISTS runs_version ON runs(version_id, start_wall_ns);"
	"CREATE TABLE IF NOT EXISTS failures("
	"  id INTEGER PRIMARY KEY, version_id INTEGER NOT NULL, run_id INTEGER,"
	"  detector TEXT NOT NULL," /* three_strikes | error_rate | slowdown */
	"  description TEXT NOT NULL, stack TEXT, severity TEXT NOT NULL, signature TEXT,"
	"  created_wall_ns INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS heal_requests("
	"  id INTEGER PRIMARY KEY, version_id INTEGER NOT NULL, failure_id INTEGER NOT NULL,"
	"  state TEXT NOT NULL DEFAULT 'queued', created_wall_ns INTEGER NOT NULL);"
	"CREATE UNIQUE INDEX IF NOT EXISTS heal_open ON heal_requests(version_id) WHERE state = 'queued';";

/* v4: healing. Rules learned from pruned versions, the route of each tool, the journal of every step. */
static const char schema_v4[] =
	"ALTER TABLE versions ADD COLUMN tainted_by INTEGER;"
	"CREATE TABLE IF NOT EXISTS rules("
	"  id INTEGER PRIMARY KEY, tool TEXT NOT NULL, source_version INTEGER NOT NULL, description TEXT NOT NULL,"
	"  signature TEXT, exit_code INTEGER, signal INTEGER, argv TEXT, cwd TEXT, reason TEXT,"
	"  scope TEXT NOT NULL DEFAULT 'descendants', created_wall_ns INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS routes(tool TEXT PRIMARY KEY, version_id INTEGER NOT NULL,"
	"  updated_wall_ns INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS journal("
	"  id INTEGER PRIMARY KEY, wall_ns INTEGER NOT NULL, request_id INTEGER, tool TEXT, version_id INTEGER,"
	"  step TEXT NOT NULL, result TEXT NOT NULL, detail TEXT, duration_ns INTEGER);";

/* v5: operators' resets: strikes count only from the last reset on. */
static const char schema_v5[] = "ALTER TABLE versions ADD COLUMN reset_wall_ns INTEGER NOT NULL DEFAULT 0;";

/*
 * v6: where each rule propagated. One row per (rule, version of its tool):
 * 'not_covered' (not a descendant of the rule's source), 'covered' (not
 * replayed: the policy does not allow it, or nothing to replay), 'passed'
 * or 'failed' (replayed against the version's copy).
 */
static const char schema_v6[] =
	"CREATE TABLE IF NOT EXISTS rule_checks(rule_id INTEGER NOT NULL, version_id INTEGER NOT NULL,"
	"  result TEXT NOT NULL, detail TEXT, wall_ns INTEGER NOT NULL, PRIMARY KEY(rule_id, version_id)) WITHOUT ROWID;";

/* v7: the last journal row the webhook was told about. */
static const char schema_v7[] =
	"CREATE TABLE IF NOT EXISTS notify_cursor(id INTEGER PRIMARY KEY CHECK (id = 1), journal_id INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO notify_cursor(id, journal_id) SELECT 1, COALESCE(max(id), 0) FROM journal;";


/*
 * v12: symbolic crash signatures (the function names of the top frames,
 * crash-sig.c), on crashes and on the rules learned from them, so that a
 * rule also matches a rebuild with the same bug; indexed for the rules'
 * matching. And the versions the detectors have to look at again.
 */
static const char schema_v12[] =
	"ALTER TABLE crashes ADD COLUMN sym_signature TEXT;"
	"CREATE INDEX IF NOT EXISTS crashes_sym_signature ON crashes(sym_signature) WHERE sym_signature IS NOT NULL;"
	"ALTER TABLE rules ADD COLUMN sym_signature TEXT;"
	/*
	 * The versions whose runs ended (or got their version after they ended)
	 * since the detectors last looked at them, kept by the database itself
	 * as ingest writes: the detectors look at these, not at every version
	 * with runs in the window, so the heal time does not grow with history.
	 * (No OR IGNORE in the triggers: the conflict policy of the statement
	 * that fires them would replace it.)
	 */
	"CREATE TABLE IF NOT EXISTS detect_touched(version_id INTEGER PRIMARY KEY);"
	"CREATE TRIGGER IF NOT EXISTS runs_touched_insert AFTER INSERT ON runs "
	" WHEN NEW.version_id IS NOT NULL AND NEW.outcome IS NOT NULL "
	" BEGIN INSERT INTO detect_touched(version_id) SELECT NEW.version_id "
	" WHERE NOT EXISTS (SELECT 1 FROM detect_touched WHERE version_id = NEW.version_id); END;"
	"CREATE TRIGGER IF NOT EXISTS runs_touched_update AFTER UPDATE OF outcome, version_id ON runs "
	" WHEN NEW.version_id IS NOT NULL AND NEW.outcome IS NOT NULL "
	" BEGIN INSERT INTO detect_touched(version_id) SELECT NEW.version_id "
	" WHERE NOT EXISTS (SELECT 1 FROM detect_touched WHERE version_id = NEW.version_id); END;";

/*
 * v8: CHECK constraints on the columns of names.h, by the rebuild SQLite
 * documents (ALTER TABLE cannot add one): a new table with the same
 * columns in the same order and the constraint, the rows copied, the old
 * table dropped, the new one renamed, its indexes made again. Foreign keys
 * are off meanwhile (crashes refer to runs). %s: the column's condition.
 */
static const struct rebuild {
	const char *table, *column, *columns, *def, *options, *indexes;
	const char *const *names;
	int nnames;
} schema_v8[] = {
	{ "runs", "outcome",
	  "id, epoch, pid, start_ns, ppid, uid, start_wall_ns, execfn, exe, cwd, argv, argc, exe_dev, exe_ino, exe_size, "
	  "exe_mtime_ns, forked, exec_parent, end_ns, outcome, exit_status, signal, exec_path, user_ns, sys_ns, maxrss_kb, "
	  "tool, version_id",
	  "id INTEGER PRIMARY KEY, epoch INTEGER NOT NULL, pid INTEGER NOT NULL, start_ns INTEGER NOT NULL,"
	  "  ppid INTEGER, uid INTEGER, start_wall_ns INTEGER,"
	  "  execfn TEXT, exe TEXT, cwd TEXT, argv TEXT, argc INTEGER,"
	  "  exe_dev INTEGER, exe_ino INTEGER, exe_size INTEGER, exe_mtime_ns INTEGER,"
	  "  forked INTEGER, exec_parent INTEGER, end_ns INTEGER,"
	  "  outcome TEXT CHECK (%s)," /* NULL while running */
	  "  exit_status INTEGER, signal INTEGER, exec_path TEXT, user_ns INTEGER, sys_ns INTEGER, maxrss_kb INTEGER,"
	  "  tool TEXT, version_id INTEGER, UNIQUE(epoch, pid, start_ns)",
	  "",
	  "CREATE INDEX runs_open ON runs(outcome) WHERE outcome IS NULL;"
	  "CREATE INDEX runs_version ON runs(version_id, start_wall_ns);",
	  dise_outcome_names, DISE_OUTCOME_MAX },
	{ "versions", "health", "id, tool, sha256, label, path, size, first_seen_wall_ns, cas_path, health, tainted_by, reset_wall_ns",
	  "id INTEGER PRIMARY KEY, tool TEXT NOT NULL, sha256 TEXT NOT NULL, label TEXT, path TEXT,"
	  "  size INTEGER, first_seen_wall_ns INTEGER, cas_path TEXT,"
	  "  health TEXT NOT NULL DEFAULT 'healthy' CHECK (%s),"
	  "  tainted_by INTEGER, reset_wall_ns INTEGER NOT NULL DEFAULT 0, UNIQUE(tool, sha256)",
	  "", "", dise_health_names, DISE_HEALTH_MAX },
	{ "failures", "detector", "id, version_id, run_id, detector, description, stack, severity, signature, created_wall_ns",
	  "id INTEGER PRIMARY KEY, version_id INTEGER NOT NULL, run_id INTEGER,"
	  "  detector TEXT NOT NULL CHECK (%s),"
	  "  description TEXT NOT NULL, stack TEXT, severity TEXT NOT NULL, signature TEXT, created_wall_ns INTEGER NOT NULL",
	  "", "", dise_detector_names, DISE_DETECTOR_MAX },
	{ "heal_requests", "state", "id, version_id, failure_id, state, created_wall_ns",
	  "id INTEGER PRIMARY KEY, version_id INTEGER NOT NULL, failure_id INTEGER NOT NULL,"
	  "  state TEXT NOT NULL DEFAULT 'queued' CHECK (%s), created_wall_ns INTEGER NOT NULL",
	  "",
	  "CREATE UNIQUE INDEX heal_open ON heal_requests(version_id) WHERE state = 'queued';",
	  dise_heal_state_names, DISE_HEAL_STATE_MAX },
	{ "rules", "scope", "id, tool, source_version, description, signature, exit_code, signal, argv, cwd, reason, scope, created_wall_ns",
	  "id INTEGER PRIMARY KEY, tool TEXT NOT NULL, source_version INTEGER NOT NULL, description TEXT NOT NULL,"
	  "  signature TEXT, exit_code INTEGER, signal INTEGER, argv TEXT, cwd TEXT, reason TEXT,"
	  "  scope TEXT NOT NULL DEFAULT 'descendants' CHECK (%s), created_wall_ns INTEGER NOT NULL",
	  "", "", dise_scope_names, DISE_SCOPE_MAX },
	{ "rule_checks", "result", "rule_id, version_id, result, detail, wall_ns",
	  "rule_id INTEGER NOT NULL, version_id INTEGER NOT NULL, result TEXT NOT NULL CHECK (%s),"
	  "  detail TEXT, wall_ns INTEGER NOT NULL, PRIMARY KEY(rule_id, version_id)",
	  " WITHOUT ROWID", "", dise_check_names, DISE_CHECK_MAX },
};

static int exec_sql(sqlite3 *db, const char *sql)
{
	return dise__errno(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

/*
 * v10: a tool is the path it was invoked at, not its basename (toolpath.h).
 * Each run gets `path` (what it was invoked at, made absolute); each
 * version the path of its first run as its tool (a version of a tool
 * `dise tool add` named keeps that name); routes, rules and journal rows
 * follow their version; labels count per tool (v1, v2, … by age) where
 * none was given. A content an old database knew under one basename at two
 * paths stays with the path it first ran at: the other path's next run
 * makes it a version of that path's tool.
 */
static const char schema_v10[] =
	"ALTER TABLE runs ADD COLUMN path TEXT;"
	"UPDATE runs SET path = COALESCE(dise_abs_path(COALESCE(exe, execfn), cwd), COALESCE(exe, execfn));"
	"UPDATE OR IGNORE versions SET tool = COALESCE((SELECT r.path FROM runs r WHERE r.version_id = versions.id "
	"  ORDER BY r.id LIMIT 1), dise_abs_path(path, NULL), tool) WHERE tool NOT IN (SELECT tool FROM tool_paths);"
	"UPDATE runs SET tool = COALESCE((SELECT v.tool FROM versions v WHERE v.id = runs.version_id), path, tool);"
	"UPDATE OR IGNORE routes SET tool = (SELECT v.tool FROM versions v WHERE v.id = routes.version_id) "
	"  WHERE EXISTS (SELECT 1 FROM versions v WHERE v.id = routes.version_id);"
	"UPDATE rules SET tool = (SELECT v.tool FROM versions v WHERE v.id = rules.source_version) "
	"  WHERE EXISTS (SELECT 1 FROM versions v WHERE v.id = rules.source_version);"
	"UPDATE journal SET tool = (SELECT v.tool FROM versions v WHERE v.id = journal.version_id) "
	"  WHERE EXISTS (SELECT 1 FROM versions v WHERE v.id = journal.version_id);"
	"UPDATE OR REPLACE path_heads SET path = COALESCE(dise_abs_path(path, NULL), path);"
	"UPDATE versions SET label = 'v' || (SELECT count(*) FROM versions w WHERE w.tool = versions.tool AND w.id <= versions.id) "
	"  WHERE label IS NULL;"
	"CREATE INDEX IF NOT EXISTS versions_tool ON versions(tool, id);";

/* dise_abs_path(path, cwd): path made absolute and normal (toolpath.h), NULL when it cannot be. */
static void sql_abs_path(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *path = (const char *)sqlite3_value_text(argv[0]);
	const char *cwd = argc > 1 ? (const char *)sqlite3_value_text(argv[1]) : NULL;
	char out[4096];

	if (path && dise_path_absolute(path, cwd, out, sizeof(out)) == 0)
		sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
	else
		sqlite3_result_null(ctx);
}

static int step_v10(sqlite3 *db)
{
	int r = dise__errno(sqlite3_create_function(db, "dise_abs_path", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
						    sql_abs_path, NULL, NULL));

	return r < 0 ? r : exec_sql(db, schema_v10);
}

static int rebuild(sqlite3 *db, const struct rebuild *t)
{
	char list[512], def[2048], *sql = NULL;
	int r = dise_names_sql_check(t->column, t->names, t->nnames, list, sizeof(list));

	if (r < 0)
		return r;
	/* t->def is one of this file's literal templates, with one %s for the CHECK list */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	if (snprintf(def, sizeof(def), t->def, list) >= (int)sizeof(def))
		return -ENOSPC;
#pragma GCC diagnostic pop
	/* the rows are copied as they are: a word outside the table fails the step, and the database stays at v7 */
	if (asprintf(&sql,
		     "CREATE TABLE dise_new_%s(%s)%s;"
		     "INSERT INTO dise_new_%s(%s) SELECT %s FROM %s;"
		     "DROP TABLE %s;"
		     "ALTER TABLE dise_new_%s RENAME TO %s;%s",
		     t->table, def, t->options, t->table,
		     t->columns, t->columns, t->table, t->table, t->table, t->table, t->indexes) < 0)
		return -ENOMEM;
	r = exec_sql(db, sql);
	free(sql);
	return r;
}

static int step_v8(sqlite3 *db)
{
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < sizeof(schema_v8) / sizeof(schema_v8[0]); i++)
		r = rebuild(db, &schema_v8[i]);
	return r;
}

/*
 * v9: blame by comparison. A version's health may be 'failing' (bad with
 * no ancestor to compare to: still run, never routed away from) and a
 * detection 'no_baseline': versions and failures are rebuilt with those
 * names in their CHECK constraints (v8's definitions, today's names). An
 * index finds the runs of one invocation class (argv, cwd) of a version:
 * a failure is compared with the same invocation on the ancestors.
 */
static int step_v9(sqlite3 *db)
{
	int r = rebuild(db, &schema_v8[1]);

	if (r == 0)
		r = rebuild(db, &schema_v8[2]);
	if (r == 0)
		r = exec_sql(db, "CREATE INDEX IF NOT EXISTS runs_class ON runs(version_id, argv, cwd);");
	return r;
}

/*
 * v11: where each route runs from, as the collector last published it: one
 * row per (original path, routed version): the target (NULL: not
 * published), beside = 1 when it is the copy beside the original, the
 * error (0 or an errno) and a note for people.
 */
static const char schema_v11[] =
	"CREATE TABLE IF NOT EXISTS route_placements(path TEXT NOT NULL, version_id INTEGER NOT NULL,"
	"  tool TEXT NOT NULL, target TEXT, beside INTEGER NOT NULL, error INTEGER NOT NULL, note TEXT,"
	"  wall_ns INTEGER NOT NULL, PRIMARY KEY(path, version_id)) WITHOUT ROWID;";

/*
 * v13: how a run really ended. A crash its process re-raised after a child
 * died of the same signal (GNU timeout) is the child's, not its own
 * (crashes.reraised); a run whose end came from its parent's wait status
 * (a REAP record) says so (runs.reaped = 1).
 */
static const char schema_v13[] =
	"ALTER TABLE crashes ADD COLUMN reraised INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE runs ADD COLUMN reaped INTEGER;";

/*
 * v14: the invocation class of a run as an integer (dise_store_run_class():
 * a hash of argv and cwd), indexed with the version and the start instead
 * of the argv text (v9's runs_class made every run's START write its whole
 * argv into a second b-tree). It is set with the version (the resolver,
 * store-version.c), and the index holds only the runs with a class: ingest
 * does not write it at all (v9's index, and one over a hash set at ingest,
 * took a random place in it for every START). Partial on the class, not on
 * the version: the queries that find runs by version alone keep
 * runs_version (a partial index on version_id IS NOT NULL made the planner
 * scan it whole for a join on the version). The queries compare argv and
 * cwd too, so a collision never merges two classes. runs_tool, which
 * databases made before v9 lost it still have, is dropped. And detect_touched is no longer kept by triggers (an
 * OP_Program per stored record): a run whose end or version arrives when
 * it already has the other is marked touched by the statement that writes
 * it. One partial index, runs_pending, holds the open runs (v1's runs_open)
 * and the touched ones: an end moves a run out of it or keeps it there, and
 * ingest writes no more index entries than before.
 */
static const char schema_v14[] =
	"ALTER TABLE runs ADD COLUMN class INTEGER;"
	"UPDATE runs SET class = dise_class(argv, cwd) WHERE version_id IS NOT NULL;"
	"DROP INDEX IF EXISTS runs_class;"
	"DROP INDEX IF EXISTS runs_tool;"
	"CREATE INDEX IF NOT EXISTS runs_version_class ON runs(version_id, class, start_wall_ns) WHERE class IS NOT NULL;"
	"DROP TRIGGER IF EXISTS runs_touched_insert;"
	"DROP TRIGGER IF EXISTS runs_touched_update;"
	"ALTER TABLE runs ADD COLUMN touched INTEGER;"
	"DROP INDEX IF EXISTS runs_open;"
	"CREATE INDEX IF NOT EXISTS runs_pending ON runs(outcome, version_id) WHERE outcome IS NULL OR touched = 1;"
	/* what was touched and not yet looked at: its version's latest ended run */
	"UPDATE runs SET touched = 1 WHERE id IN (SELECT (SELECT max(r.id) FROM runs r WHERE r.version_id = t.version_id "
	"  AND r.outcome IS NOT NULL) FROM detect_touched t);"
	"DROP TABLE IF EXISTS detect_touched;";

static int step_v14(sqlite3 *db)
{
	int r = dise__register_class(db);

	return r < 0 ? r : exec_sql(db, schema_v14);
}

/*
 * v15: runs_failed, the failures of each version by start: the strike
 * count of a version (store-detect.c, after every stored bad end) walks its
 * failures in the window, not every run it had (reading each row to learn
 * its outcome was three quarters of the collector's CPU at 1,000 runs/s).
 * Partial: ok runs, the most, add no entry.
 */
static const char schema_v15[] =
	"CREATE INDEX IF NOT EXISTS runs_failed ON runs(version_id, start_wall_ns) WHERE outcome IN ('crash', 'fail');";

/*
 * v16: the strike count without reading every failure again.
 *  - runs.strike: whether a failure is evidence against its version (the
 *    STRIKE condition of store-detect.c), judged once when it is first
 *    looked at (NULL: not yet); runs_unjudged finds those, runs_strike
 *    counts the strikes in the window. Never acted on alone: a count that
 *    reaches the threshold is checked again with every failure read anew.
 *  - contents_sha256, versions_pruned: which identities hold a pruned
 *    content, asked after every resolver step, from the pruned versions
 *    rather than every identity and every version.
 *  - crashes_run: a run's crash, asked for each failure judged (a scan of
 *    every crash before).
 *  - runs_pending (outcome, version_id) split in two: runs_open for the
 *    runs not ended, runs_touched (version_id) for the touched ones. The
 *    detectors ask for one version's touched runs, which runs_pending
 *    could only give by walking every open and touched run.
 */
static const char schema_v16[] =
	"DROP INDEX IF EXISTS runs_pending;"
	"CREATE INDEX IF NOT EXISTS runs_open ON runs(outcome) WHERE outcome IS NULL;"
	"CREATE INDEX IF NOT EXISTS runs_touched ON runs(version_id) WHERE touched = 1;"
	"ALTER TABLE runs ADD COLUMN strike INTEGER;"
	"CREATE INDEX IF NOT EXISTS runs_unjudged ON runs(version_id) WHERE strike IS NULL AND outcome IN ('crash', 'fail');"
	"CREATE INDEX IF NOT EXISTS runs_strike ON runs(version_id, start_wall_ns) WHERE strike = 1;"
	"CREATE INDEX IF NOT EXISTS contents_sha256 ON contents(sha256);"
	"CREATE INDEX IF NOT EXISTS versions_pruned ON versions(sha256) WHERE health = 'pruned';"
	"CREATE INDEX IF NOT EXISTS crashes_run ON crashes(run_id);";

/*
 * v17: canary rollouts (collector/canary.c). One row per rollout of a
 * tool: its stable and canary versions, the step it is at (index into the
 * policy's steps) and the weight in effect, its state, and its verdict
 * (the evidence of a promotion or an abort). At most one running per tool.
 * failures is rebuilt with the detector 'canary' in its CHECK.
 */
static const char schema_v17[] =
	"CREATE TABLE IF NOT EXISTS canaries("
	"  id INTEGER PRIMARY KEY, tool TEXT NOT NULL, stable_id INTEGER NOT NULL, canary_id INTEGER NOT NULL,"
	"  step INTEGER NOT NULL DEFAULT 0, weight INTEGER NOT NULL,"
	"  state TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'promoted', 'aborted', 'superseded')),"
	"  started_wall_ns INTEGER NOT NULL, step_wall_ns INTEGER NOT NULL, ended_wall_ns INTEGER, verdict TEXT);"
	"CREATE UNIQUE INDEX IF NOT EXISTS canaries_running ON canaries(tool) WHERE state = 'running';";

static int step_v17(sqlite3 *db)
{
	size_t i;
	int r = exec_sql(db, schema_v17);

	for (i = 0; r == 0 && i < sizeof(schema_v8) / sizeof(schema_v8[0]); i++)
		if (!strcmp(schema_v8[i].table, "failures"))
			r = rebuild(db, &schema_v8[i]);
	return r;
}

/*
 * v18: regeneration (healer/regen.c). A mutation is one attempt to heal a
 * pruned version forward from its healthy ancestor: its strategy, the diff
 * it kept, the candidates it tried, its validation and fitness, and its
 * verdict (routed, proposed, approved, rejected, failed, ratchet, locked);
 * version_id is the regenerated version it made, if any. The ratchet is
 * per tool: the best fitness ever accepted (only moves up), the
 * consecutive rejections, the end of the lock they led to.
 */
static const char schema_v18[] =
	"CREATE TABLE IF NOT EXISTS mutations(id INTEGER PRIMARY KEY, tool TEXT NOT NULL, pruned_id INTEGER NOT NULL,"
	"  ancestor_id INTEGER NOT NULL, version_id INTEGER, strategy TEXT NOT NULL, verdict TEXT NOT NULL, reason TEXT,"
	"  diff TEXT, diff_sha256 TEXT, hunks INTEGER, reverted INTEGER, candidates INTEGER, fitness REAL, baseline REAL,"
	"  validation TEXT, cas_path TEXT, duration_ns INTEGER, created_wall_ns INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS mutations_tool ON mutations(tool, id);"
	"CREATE TABLE IF NOT EXISTS ratchet(tool TEXT PRIMARY KEY, best REAL NOT NULL DEFAULT 0,"
	"  rejections INTEGER NOT NULL DEFAULT 0, locked_until_ns INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;";

/*
 * v19: what an llm or command regeneration adds to its mutation: the
 * model, the sha256 of the prompt (never the key, never the prompt), the
 * tokens the endpoint said it used, and the candidate's confidence (mode
 * confidence routes at once above its threshold).
 */
static const char schema_v19[] = "ALTER TABLE mutations ADD COLUMN model TEXT;"
				 "ALTER TABLE mutations ADD COLUMN prompt_sha256 TEXT;"
				 "ALTER TABLE mutations ADD COLUMN tokens INTEGER;"
				 "ALTER TABLE mutations ADD COLUMN confidence REAL;";

/*
 * v20: the source revision of a version of a compiled tool
 * (healer/regen-source.c): given by `dise tool add --rev`, or printed by
 * the tool's source.rev_command (origin says which); regeneration builds
 * candidates from the diff between the ancestor's and the pruned version's.
 */
static const char schema_v20[] =
	"CREATE TABLE IF NOT EXISTS version_revs(version_id INTEGER PRIMARY KEY, rev TEXT NOT NULL,"
	"  origin TEXT NOT NULL, created_wall_ns INTEGER NOT NULL);";

/*
 * v21: runs.touched is no longer a mark set at a run's end and cleared by
 * the detectors' next pass (a second rewrite of every row, and of its index
 * entry): it is the end's sequence number, the largest there is plus one
 * (TOUCH in store-internal.h), never cleared; detect_state.touched_seen is
 * the largest the detectors' passes have looked at (written in the pass's
 * transaction, so a restart goes on from there and a pass rolled back
 * leaves it). runs_touched indexes the sequence. A run touched before is
 * 1: above the 0 the detectors start from, looked at by the next pass.
 */
static const char schema_v21[] =
	"CREATE TABLE IF NOT EXISTS detect_state(id INTEGER PRIMARY KEY CHECK (id = 1), touched_seen INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO detect_state(id, touched_seen) VALUES (1, 0);"
	"DROP INDEX IF EXISTS runs_touched;"
	"CREATE INDEX IF NOT EXISTS runs_touched ON runs(touched) WHERE touched IS NOT NULL;";

static int step_sql(sqlite3 *db, int from)
{
	static const char *const step[] = { schema_v2, schema_v3, schema_v4, schema_v5, schema_v6, schema_v7 };

	_Static_assert(sizeof(step) / sizeof(step[0]) == 6, "a step per schema version up to 7");
	if (from == 20)
		return exec_sql(db, schema_v21);
	if (from == 19)
		return exec_sql(db, schema_v20);
	if (from == 18)
		return exec_sql(db, schema_v19);
	if (from == 17)
		return exec_sql(db, schema_v18);
	if (from == 16)
		return step_v17(db);
	if (from == 15)
		return exec_sql(db, schema_v16);
	if (from == 14)
		return exec_sql(db, schema_v15);
	if (from == 13)
		return step_v14(db);
	if (from == 12)
		return exec_sql(db, schema_v13);
	if (from == 11)
		return exec_sql(db, schema_v12);
	if (from == 10)
		return exec_sql(db, schema_v11);
	if (from == 9)
		return step_v10(db);
	if (from == 8)
		return step_v9(db);
	return from == 7 ? step_v8(db) : exec_sql(db, step[from - 1]);
}

/* The version db records (0: none), or -errno. */
/*
 * Why schema_version could not be read: -ENODATA when the schema is there
 * to read and has no such table (nothing made yet), -EUCLEAN when the file
 * has no readable schema (a damaged header: "unsupported file format").
 */
static int no_schema(sqlite3 *db)
{
	sqlite3_stmt *q;
	int r = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE name = 'schema_version'", -1, &q, NULL);

	if (r != SQLITE_OK)
		return (r & 0xff) == SQLITE_ERROR ? -EUCLEAN : dise__errno(r);
	r = dise__step(q);
	if (r > 0)
		r = sqlite3_column_int(q, 0) ? -EUCLEAN : -ENODATA; /* there, yet unreadable */
	sqlite3_finalize(q);
	return r < 0 ? r : -EUCLEAN;
}

static int read_version(sqlite3 *db)
{
	sqlite3_stmt *q;
	int r, version = 0;

	r = sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &q, NULL);
	if (r != SQLITE_OK) /* no such table: no schema yet; busy (the schema could not be read): an error */
		return (r & 0xff) == SQLITE_ERROR ? no_schema(db) : dise__errno(r);
	r = dise__step(q);
	if (r > 0)
		version = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return r < 0 ? r : version;
}

int dise__schema_migrate(sqlite3 *db, int target)
{
	sqlite3_stmt *q;
	int r, version, created = 0;

	_Static_assert(DISE_SCHEMA_VERSION == 21, "a step per schema version");
	r = exec_sql(db, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	/*
	 * v1's statements only where there is no schema yet: run on a later
	 * one, they would make again what a later step dropped (runs_open, at
	 * the cost of a scan of every run at each open and an index entry per
	 * stored run ever after).
	 */
	version = r = read_version(db);
	if (r == -ENODATA) {
		r = exec_sql(db, schema_v1);
		if (r == 0)
			version = r = read_version(db);
	}
	if (r < 0)
		goto fail;
	r = 0;
	if (version > DISE_SCHEMA_VERSION) {
		r = -EPROTO; /* made by a newer dise */
		goto fail;
	}
	if (version == 0) {
		r = exec_sql(db, "INSERT INTO schema_version(version) VALUES (1)");
		version = 1;
		created = 1;
	}
	/* each step takes version v to v + 1 */
	for (; r == 0 && version < target; version++) {
		r = step_sql(db, version);
		if (r == 0 && sqlite3_prepare_v2(db, "UPDATE schema_version SET version = ?1", -1, &q, NULL) != SQLITE_OK)
			r = -EIO;
		if (r == 0) {
			sqlite3_bind_int(q, 1, version + 1);
			r = dise__step(q);
			sqlite3_finalize(q);
		}
	}
	if (r < 0)
		goto fail;
	r = exec_sql(db, "COMMIT");
	/*
	 * A new database went through v8's rebuilds: give their empty pages
	 * back, so that it starts as small as its schema (an upgraded one keeps
	 * them: it reuses them as it grows, and VACUUM would copy it all again).
	 */
	if (r == 0 && created && target >= 8)
		r = exec_sql(db, "VACUUM");
	return r;
fail:
	exec_sql(db, "ROLLBACK");
	return r;
}

int dise__schema_check(sqlite3 *db)
{
	int version = read_version(db);

	if (version == -ENODATA || version == 0)
		return -ENODATA;
	if (version < 0)
		return version;
	return version < DISE_SCHEMA_VERSION ? -ESTALE : 0;
}

int dise_store_create_old(const char *path, int version)
{
	sqlite3 *db = NULL;
	int r;

	if (version < 1 || version > DISE_SCHEMA_VERSION)
		return -EINVAL;
	r = dise__errno(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL));
	if (r == 0)
		r = dise__schema_migrate(db, version);
	sqlite3_close(db);
	return r;
}
