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

int dise_store_rules_any(dise_store *st, int64_t *ret)
{
	static const char sql[] = "SELECT EXISTS (SELECT 1 FROM rules)";
	int r = dise__int(st, sql, ret, "");

	return r < 0 ? r : 0;
}

/*
 * The rows (argv, cwd, class) of q, bound and not yet stepped, into *ret
 * (*ret_n of them; free with dise_invocations_free). 0, or -errno with
 * nothing kept.
 */
static int invocations_read(sqlite3_stmt *q, struct dise_invocation **ret, size_t *ret_n)
{
	struct dise_invocation *v = NULL;
	size_t n = 0, cap = 0;
	int r;

	while ((r = dise__step(q)) > 0) {
		if ((r = dise__grow((void **)&v, &cap, n, sizeof(*v))) < 0)
			break;
		v[n].argv = dise__col_strdup(q, 0);
		v[n].cwd = dise__col_strdup(q, 1);
		v[n].class = sqlite3_column_int64(q, 2);
		n++;
	}
	dise__done(q);
	if (r < 0) {
		dise_invocations_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static int ref_cmp(const void *a, const void *b)
{
	int64_t x = (*(struct dise_version_ref *const *)a)->id, y = (*(struct dise_version_ref *const *)b)->id;

	return x < y ? -1 : x > y;
}

/* The one of by[0..n) (sorted by id) with this id, or NULL. */
static struct dise_version_ref *ref_find(struct dise_version_ref **by, size_t n, int64_t id)
{
	struct dise_version_ref key = { .id = id }, *k = &key, **f = bsearch(&k, by, n, sizeof(*by), ref_cmp);

	return f ? *f : NULL;
}

/*
 * Each v[i].classes: the classes of its runs touched in (seen, upto] that
 * ended ok (at most 16 a version), in one look at the touched runs for
 * every version (never a version's every run). 0 or -errno.
 */
static int touched_classes(dise_store *st, struct dise_version_ref *v, size_t n, int64_t seen, int64_t upto)
{
	static const char sql[] = "SELECT DISTINCT version_id, argv, cwd, class FROM runs INDEXED BY runs_touched "
				  "WHERE touched > ?1 AND touched <= ?2 AND outcome = 'ok' AND class IS NOT NULL "
				  "AND end_ns IS NOT NULL AND forked IS NOT 1 AND version_id IS NOT NULL";
	struct dise_version_ref **by, *ref;
	sqlite3_stmt *q;
	size_t i, *cap;
	int r = 0;

	if (!n)
		return 0;
	by = calloc(n, sizeof(*by)), cap = calloc(n, sizeof(*cap));
	if (!by || !cap) {
		free(by);
		free(cap);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		by[i] = &v[i];
	qsort(by, n, sizeof(*by), ref_cmp);
	if (!(q = dise__stmt(st, sql))) {
		free(by);
		free(cap);
		return -EIO;
	}
	dise__bind(q, "ii", seen, upto);
	while ((r = dise__step(q)) > 0) {
		if (!(ref = ref_find(by, n, sqlite3_column_int64(q, 0))) || ref->nclasses >= 16)
			continue; /* not looked at (a queued heal request, pruned), or enough */
		i = (size_t)(ref - v);
		if ((r = dise__grow((void **)&ref->classes, &cap[i], ref->nclasses, sizeof(*ref->classes))) < 0)
			break;
		ref->classes[ref->nclasses].argv = dise__col_strdup(q, 1);
		ref->classes[ref->nclasses].cwd = dise__col_strdup(q, 2);
		ref->classes[ref->nclasses++].class = sqlite3_column_int64(q, 3);
	}
	dise__done(q);
	for (i = 0; r >= 0 && i < n; i++)
		v[i].classes_known = 1;
	free(by);
	free(cap);
	return r < 0 ? r : 0;
}

/*
 * *ret_seen: the largest touched sequence number the detectors looked at
 * (detect_state, schema v21), *ret_upto: the largest there is. 0 or -errno.
 */
static int touched_range(dise_store *st, int64_t *ret_seen, int64_t *ret_upto)
{
	static const char seen[] = "SELECT touched_seen FROM detect_state WHERE id = 1";
	static const char upto[] = "SELECT COALESCE(max(touched), 0) FROM runs WHERE touched IS NOT NULL";
	int r;

	*ret_seen = 0;
	if ((r = dise__int(st, seen, ret_seen, "")) < 0 || (r = dise__int(st, upto, ret_upto, "")) < 0)
		return r;
	return 0;
}

int dise_store_touched_seen_set(dise_store *st, int64_t upto)
{
	static const char sql[] = "UPDATE detect_state SET touched_seen = ?1 WHERE id = 1 AND touched_seen < ?1";

	return upto < 0 ? 0 : dise__exec(st, sql, "i", upto);
}

void dise_version_refs_free(struct dise_version_ref *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		if (v[i].classes)
			dise_invocations_free(v[i].classes, v[i].nclasses);
	free(v);
}

int dise_store_versions_to_check(dise_store *st, int64_t since_wall_ns, int64_t after_run, int failed_only,
				 struct dise_version_ref **ret, size_t *ret_n, int64_t *ret_touched)
{
	/* every version with runs in the window, with no queued heal request */
	static const char window[] = "SELECT v.id, v.tool, 1 FROM versions v WHERE v.health NOT IN ('pruned', 'failed', 'failing') AND "
				     "EXISTS (SELECT 1 FROM runs r WHERE r.version_id = v.id "
				     "AND r.start_wall_ns >= ?1) AND NOT EXISTS (SELECT 1 FROM heal_requests h "
				     "WHERE h.version_id = v.id AND h.state = 'queued')";
	/*
	 * the versions of the runs that ended or got their version since they
	 * were last looked at (touched in (?1, ?2]: the sequence number set by
	 * the statement that wrote the second of the two, store.c and
	 * store-version.c, so a long run's end, an old row, is there; found by
	 * the partial index runs_touched; a run stored since that has not ended
	 * has nothing to look at yet), with no queued heal request: what
	 * changed, whatever the history; and whether one of those runs is a
	 * failure (crash or fail: what dise_failed can call one): a version with
	 * none new has no new strike, and no higher failure rate, to look for
	 */
	static const char since[] = "WITH changed(id, failed) AS (SELECT version_id, max(outcome IN ('crash', 'fail')) FROM "
				    "runs INDEXED BY runs_touched WHERE touched > ?1 AND touched <= ?2 AND version_id IS NOT NULL "
				    "GROUP BY version_id) "
				    "SELECT v.id, v.tool, changed.failed FROM changed CROSS JOIN versions v ON v.id = changed.id "
				    "WHERE v.health NOT IN ('pruned', 'failed', 'failing') "
				    "AND NOT EXISTS (SELECT 1 FROM heal_requests h "
				    "WHERE h.version_id = v.id AND h.state = 'queued')";
	/*
	 * the versions with a failure not judged yet (runs_unjudged): what a
	 * pass for the bad ends looks at, whatever else is new since the last
	 * full pass; with the most strikes each can have in the window (since
	 * ?1 and its reset): its strikes judged, and its failures not judged
	 * yet that can be one (an upper bound: normal exit codes included; a
	 * non-zero exit is one only against a baseline, so only when the
	 * version has a parent: STRIKE)
	 */
	static const char unjudged[] = "WITH changed(id) AS (SELECT DISTINCT version_id FROM runs INDEXED BY runs_unjudged "
				       "WHERE strike IS NULL AND outcome IN ('crash', 'fail') AND version_id IS NOT NULL) "
				       "SELECT v.id, v.tool, 1, (SELECT count(*) FROM runs s INDEXED BY runs_strike WHERE s.version_id = v.id "
				       "AND s.strike = 1 AND s.start_wall_ns >= max(?1, v.reset_wall_ns)) + "
				       "(SELECT count(*) FROM runs u INDEXED BY runs_unjudged WHERE u.version_id = v.id AND u.strike IS NULL "
				       "AND u.outcome IN ('crash', 'fail') AND u.start_wall_ns >= max(?1, v.reset_wall_ns) AND (u.outcome = 'crash' "
				       "OR EXISTS (SELECT 1 FROM version_parents p WHERE p.version_id = v.id))) "
				       "FROM changed CROSS JOIN versions v ON v.id = changed.id "
				       "WHERE v.health NOT IN ('pruned', 'failed', 'failing') "
				       "AND NOT EXISTS (SELECT 1 FROM heal_requests h "
				       "WHERE h.version_id = v.id AND h.state = 'queued')";
	/* a judged version's failures are not judged one by one */
	static const char settled[] = "UPDATE runs SET strike = 0 WHERE id IN (SELECT r.id FROM runs r INDEXED BY runs_unjudged "
				      "CROSS JOIN versions v ON v.id = r.version_id WHERE r.strike IS NULL "
				      "AND r.outcome IN ('crash', 'fail') AND v.health IN ('pruned', 'failed', 'failing'))";
	sqlite3_stmt *q = dise__stmt(st, failed_only ? unjudged : after_run < 0 ? window : since);
	struct dise_version_ref *v = NULL;
	size_t n = 0, cap = 0;
	int64_t seen = 0, upto = -1;
	int r = failed_only || after_run < 0 ? 0 : touched_range(st, &seen, &upto);

	if (r < 0)
		return r;
	if (!q)
		return -EIO;
	if (after_run >= 0 && !failed_only)
		dise__bind(q, "ii", seen, upto);
	else
		dise__bind(q, "i", since_wall_ns);
	while ((r = dise__step(q)) > 0) {
		if ((r = dise__grow((void **)&v, &cap, n, sizeof(*v))) < 0)
			break;
		v[n].id = sqlite3_column_int64(q, 0);
		snprintf(v[n].tool, sizeof(v[n].tool), "%s", (const char *)sqlite3_column_text(q, 1));
		v[n].failed = sqlite3_column_int(q, 2);
		v[n].classes = NULL, v[n].nclasses = 0, v[n].classes_known = 0;
		v[n].strikes_possible = failed_only ? sqlite3_column_int64(q, 3) : -1;
		n += !failed_only || v[n].failed;
	}
	dise__done(q);
	/*
	 * A pass for the bad ends only looks at strikes: what else the touched
	 * runs say (the failure rate, a slowdown) waits for the next pass.
	 * Otherwise, what changed: the classes of the runs that ended ok since
	 * the version was looked at (the only slowdowns that can be new). The
	 * caller records upto as looked at in the pass's transaction
	 * (dise_store_touched_seen_set): a pass rolled back is made again.
	 */
	if (r >= 0 && !failed_only && after_run >= 0)
		r = touched_classes(st, v, n, seen, upto);
	if (r >= 0 && !failed_only)
		dise__exec(st, settled, "");
	if (r < 0) {
		dise_version_refs_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	*ret_touched = upto;
	return 0;
}

/*
 * The baseline of a version (?1): its ancestors that are not pruned or
 * failed (what ran before it and was not condemned). A CTE for the
 * statements below; base(id) is empty for a first version.
 */
#define BASE                                                                                                          \
	"WITH RECURSIVE anc(id) AS (SELECT parent_id FROM version_parents WHERE version_id = ?1 "                    \
	"UNION SELECT p.parent_id FROM version_parents p JOIN anc ON p.version_id = anc.id), "                       \
	"base(id) AS (SELECT anc.id FROM anc CROSS JOIN versions b ON b.id = anc.id WHERE b.health NOT IN ('pruned', 'failed')) "

/*
 * the same invocation class as run r: the same argv (argv[0] included) in
 * the same cwd; found by the class (their hash, indexed with the version),
 * argv and cwd compared for a collision. Of runs that were invoked: a fork
 * child (a worker, not exec'd) is part of its parent's run, and its exit
 * status and wall time are the parent's business (a pool's workers
 * SIGTERMed or done early); only its crash is judged, by its signature
 * (STRIKE).
 */
#define SAME_CLASS(a, r)                                                                                              \
	a ".class = " r ".class AND " a ".argv = " r ".argv AND " a ".cwd IS " r ".cwd AND " a ".forked IS NOT 1 AND " r \
	".forked IS NOT 1"

/*
 * Whether run r of version ?1 (a failure, outcome.h) is a strike: a crash it
 * raised itself (not sent by another process, not re-raised after a child
 * died of it) whose signature no baseline version produced, neither the
 * build's nor the symbolic one (a rebuild crashing in the same functions:
 * the bug was there before; a fork child's crash included) (without a
 * signature: whose signal no baseline crash without one had); a non-zero
 * exit of an invocation class a baseline version ended ok and this version
 * never did, with an exit status no baseline version ever gave (an exit
 * status the ancestors gave too, grep's 1 or cat's 1, is one of the tool's
 * ordinary endings: the input may have changed with the upgrade, a rotated
 * log, a feed not delivered yet). Needs BASE.
 */
#define STRIKE \
	"((r.outcome = 'crash' AND NOT EXISTS (SELECT 1 FROM crashes c WHERE c.run_id = r.id AND (c.reraised OR dise_sent(c.si_code, c.fault_addr, r.pid)))" \
	"  AND NOT EXISTS (SELECT 1 FROM crashes ac JOIN runs a ON a.id = ac.run_id WHERE ac.signature = " \
	"   (SELECT c.signature FROM crashes c WHERE c.run_id = r.id ORDER BY c.id LIMIT 1) AND a.version_id IN base)" \
	"  AND NOT EXISTS (SELECT 1 FROM crashes ac JOIN runs a ON a.id = ac.run_id WHERE ac.sym_signature = " \
	"   (SELECT c.sym_signature FROM crashes c WHERE c.run_id = r.id ORDER BY c.id LIMIT 1) AND a.version_id IN base)" \
	"  AND NOT (NOT EXISTS (SELECT 1 FROM crashes c WHERE c.run_id = r.id AND c.signature IS NOT NULL)" \
	"   AND EXISTS (SELECT 1 FROM runs a WHERE a.version_id IN base AND a.outcome = 'crash' AND a.signal IS r.signal" \
	"    AND NOT EXISTS (SELECT 1 FROM crashes ac WHERE ac.run_id = a.id AND ac.signature IS NOT NULL))))" \
	" OR (r.outcome = 'fail' AND EXISTS (SELECT 1 FROM runs a WHERE a.version_id IN base AND " SAME_CLASS("a", "r") \
	"  AND a.outcome = 'ok') AND NOT EXISTS (SELECT 1 FROM runs s WHERE s.version_id = ?1 AND " SAME_CLASS("s", "r") \
	"  AND s.outcome = 'ok') AND NOT EXISTS (SELECT 1 FROM runs b WHERE b.version_id IN base AND b.outcome = 'fail'" \
	"  AND b.exit_status = r.exit_status)))"

int dise_store_version_strikes(dise_store *st, int64_t version, const char *normal, int64_t since_wall_ns,
			       int64_t *ret_strikes, int *ret_has_base)
{
	/*
	 * Since the window began or the version was last reset, whichever is
	 * later, the failures (outcome.h) that are evidence against this
	 * version: a crash it raised itself whose signature (either) no baseline
	 * version produced (without a signature: whose signal no baseline
	 * crash without one had); a non-zero exit of an invocation class a
	 * baseline version ended ok and this version never did, with an exit
	 * status no baseline version gave.
	 */
	static const char sql[] =
		BASE "SELECT (SELECT count(*) FROM runs r INDEXED BY runs_failed WHERE r.version_id = ?1 AND r.outcome IN ('crash', 'fail') "
		"AND dise_failed(r.outcome, r.exit_status, ?3) "
		"AND r.start_wall_ns >= max(?2, (SELECT reset_wall_ns FROM versions WHERE id = ?1)) AND " STRIKE "), "
		"EXISTS (SELECT 1 FROM base)";
	sqlite3_stmt *q = dise__stmt(st, sql);
	int r;

	if (!q)
		return -EIO;
	dise__bind(q, "iis", version, since_wall_ns, normal);
	if ((r = dise__step(q)) > 0) {
		*ret_strikes = sqlite3_column_int64(q, 0);
		*ret_has_base = sqlite3_column_int(q, 1);
	}
	dise__done(q);
	return r < 0 ? r : 0;
}

int dise_store_version_strikes_seen(dise_store *st, int64_t version, const char *normal, int64_t since_wall_ns,
				    int64_t *ret_strikes, int *ret_has_base)
{
	/*
	 * The failures not judged yet (runs_unjudged: the new ones) judged by
	 * the same condition, once; then the strikes among the judged ones
	 * (runs_strike), with whether there is a baseline at all.
	 */
	static const char judge[] =
		BASE "UPDATE runs AS r SET strike = (dise_failed(r.outcome, r.exit_status, ?3) AND " STRIKE ") "
		"WHERE r.id IN (SELECT id FROM runs INDEXED BY runs_unjudged WHERE version_id = ?1 AND strike IS NULL "
		"AND outcome IN ('crash', 'fail'))";
	static const char count[] =
		BASE "SELECT (SELECT count(*) FROM runs r INDEXED BY runs_strike WHERE r.version_id = ?1 AND r.strike = 1 "
		"AND r.start_wall_ns >= max(?2, (SELECT reset_wall_ns FROM versions WHERE id = ?1))), "
		"EXISTS (SELECT 1 FROM base)";
	sqlite3_stmt *q;
	int r = dise__exec(st, judge, "iis", version, since_wall_ns, normal);

	if (r < 0 || !(q = dise__stmt(st, count)))
		return r < 0 ? r : -EIO;
	dise__bind(q, "ii", version, since_wall_ns);
	if ((r = dise__step(q)) > 0) {
		*ret_strikes = sqlite3_column_int64(q, 0);
		*ret_has_base = sqlite3_column_int(q, 1);
	}
	dise__done(q);
	return r < 0 ? r : 0;
}

int dise_store_version_strikes_settle(dise_store *st, int64_t version)
{
	static const char sql[] = "UPDATE runs SET strike = 0 WHERE id IN (SELECT id FROM runs INDEXED BY runs_unjudged "
				  "WHERE version_id = ?1 AND strike IS NULL AND outcome IN ('crash', 'fail'))";

	return dise__exec(st, sql, "i", version);
}

int dise_store_version_strikes_rejudge(dise_store *st, int64_t version, const char *normal, int64_t since_wall_ns)
{
	static const char forget[] = "UPDATE runs SET strike = NULL WHERE id IN "
				     "(SELECT id FROM runs INDEXED BY runs_strike WHERE version_id = ?1 AND strike = 1)";
	int64_t strikes;
	int has_base, r = dise__exec(st, forget, "i", version);

	return r < 0 ? r : dise_store_version_strikes_seen(st, version, normal, since_wall_ns, &strikes, &has_base);
}

int dise_store_version_alternates(dise_store *st, int64_t version)
{
	/*
	 * a run of another version at the same path that started between this
	 * version's first run and its last; not a condemned one (coming back
	 * after a pruned version is the heal, or an operator's rollback)
	 */
	static const char sql[] =
		"SELECT EXISTS (SELECT 1 FROM versions w JOIN runs x ON x.version_id = w.id "
		"WHERE w.path = (SELECT path FROM versions WHERE id = ?1) AND w.id != ?1 "
		"AND w.health NOT IN ('pruned', 'failed') "
		"AND x.start_wall_ns > (SELECT min(start_wall_ns) FROM runs WHERE version_id = ?1) "
		"AND x.start_wall_ns < (SELECT max(start_wall_ns) FROM runs WHERE version_id = ?1))";
	int64_t v = 0;
	int r = dise__int(st, sql, &v, "i", version);

	return r < 0 ? r : v != 0;
}

int dise_store_version_compare_rate(dise_store *st, int64_t version, const char *normal, int last,
				    struct dise_rate_pair *ret)
{
	/*
	 * Comparable runs: the version's last `last` judged runs (ok, or a
	 * failure) of the invocation classes its baseline also ran, and the
	 * baseline's last `last` judged runs of the classes the version ran.
	 */
	static const char sql[] =
		BASE "SELECT (SELECT count(*) FROM (SELECT 1 FROM runs r WHERE r.version_id = ?1 "
		"  AND r.start_wall_ns >= (SELECT reset_wall_ns FROM versions WHERE id = ?1) "
		"  AND (r.outcome = 'ok' OR dise_failed(r.outcome, r.exit_status, ?3)) "
		"  AND EXISTS (SELECT 1 FROM runs a WHERE a.version_id IN base AND " SAME_CLASS("a", "r") ") "
		"  ORDER BY r.start_wall_ns DESC LIMIT ?2)), "
		"(SELECT total(f) FROM (SELECT dise_failed(r.outcome, r.exit_status, ?3) AS f FROM runs r WHERE r.version_id = ?1 "
		"  AND r.start_wall_ns >= (SELECT reset_wall_ns FROM versions WHERE id = ?1) "
		"  AND (r.outcome = 'ok' OR dise_failed(r.outcome, r.exit_status, ?3)) "
		"  AND EXISTS (SELECT 1 FROM runs a WHERE a.version_id IN base AND " SAME_CLASS("a", "r") ") "
		"  ORDER BY r.start_wall_ns DESC LIMIT ?2)), "
		"(SELECT count(*) FROM (SELECT 1 FROM runs a WHERE a.version_id IN base "
		"  AND (a.outcome = 'ok' OR dise_failed(a.outcome, a.exit_status, ?3)) "
		"  AND EXISTS (SELECT 1 FROM runs r WHERE r.version_id = ?1 AND " SAME_CLASS("r", "a") ") "
		"  ORDER BY a.start_wall_ns DESC LIMIT ?2)), "
		"(SELECT total(f) FROM (SELECT dise_failed(a.outcome, a.exit_status, ?3) AS f FROM runs a WHERE a.version_id IN base "
		"  AND (a.outcome = 'ok' OR dise_failed(a.outcome, a.exit_status, ?3)) "
		"  AND EXISTS (SELECT 1 FROM runs r WHERE r.version_id = ?1 AND " SAME_CLASS("r", "a") ") "
		"  ORDER BY a.start_wall_ns DESC LIMIT ?2))";
	sqlite3_stmt *q = dise__stmt(st, sql);
	int r;

	if (!q)
		return -EIO;
	dise__bind(q, "ids", version, last, normal);
	if ((r = dise__step(q)) > 0) {
		ret->runs = sqlite3_column_int64(q, 0);
		ret->fails = (int64_t)sqlite3_column_double(q, 1);
		ret->base_runs = sqlite3_column_int64(q, 2);
		ret->base_fails = (int64_t)sqlite3_column_double(q, 3);
	}
	dise__done(q);
	return r < 0 ? r : 0;
}

int dise_store_version_classes(dise_store *st, int64_t version, int min_ok, struct dise_invocation **ret, size_t *ret_n)
{
	/* the classes this version ended ok at least min_ok times since its reset, the most run first */
	static const char sql[] = "SELECT argv, cwd, class FROM runs WHERE version_id = ?1 AND class IS NOT NULL AND outcome = 'ok' "
				  "AND end_ns IS NOT NULL AND forked IS NOT 1 "
				  "AND start_wall_ns >= (SELECT reset_wall_ns FROM versions WHERE id = ?1) "
				  "GROUP BY class, argv, cwd HAVING count(*) >= ?2 ORDER BY count(*) DESC LIMIT 16";
	sqlite3_stmt *q = dise__stmt(st, sql);

	if (!q)
		return -EIO;
	dise__bind(q, "ii", version, min_ok);
	return invocations_read(q, ret, ret_n);
}

void dise_invocations_free(struct dise_invocation *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].argv);
		free(v[i].cwd);
	}
	free(v);
}

int dise_store_class_ok_durations(dise_store *st, int64_t version, int of_base, const struct dise_invocation *c,
				  struct dise_duration *out, int max)
{
	/* wall and CPU times of the ok runs of one class, newest first: of the version since its reset, or of its baseline */
	static const char own[] = "SELECT end_ns - start_ns, COALESCE(user_ns, 0) + COALESCE(sys_ns, 0), id FROM runs r "
				  "WHERE r.version_id = ?1 AND r.outcome = 'ok' "
				  "AND r.end_ns IS NOT NULL AND r.class = ?5 AND r.argv = ?2 AND r.cwd IS ?3 AND r.forked IS NOT 1 "
				  "AND r.start_wall_ns >= (SELECT reset_wall_ns FROM versions WHERE id = ?1) "
				  "ORDER BY r.start_wall_ns DESC LIMIT ?4";
	static const char base[] = BASE "SELECT end_ns - start_ns, COALESCE(user_ns, 0) + COALESCE(sys_ns, 0), id FROM runs r "
					"WHERE r.version_id IN base AND r.outcome = 'ok' "
					"AND r.end_ns IS NOT NULL AND r.class = ?5 AND r.argv = ?2 AND r.cwd IS ?3 AND r.forked IS NOT 1 "
					"ORDER BY r.start_wall_ns DESC LIMIT ?4";
	sqlite3_stmt *q = dise__stmt(st, of_base ? base : own);
	int n = 0, r = 0;

	if (!q)
		return -EIO;
	dise__bind(q, "issdi", version, c->argv, c->cwd, max, c->class);
	while (n < max && (r = dise__step(q)) > 0) {
		out[n].wall_ns = sqlite3_column_int64(q, 0);
		out[n].cpu_ns = sqlite3_column_int64(q, 1);
		out[n++].run_id = sqlite3_column_int64(q, 2);
	}
	dise__done(q);
	return r < 0 ? r : n;
}

int dise_store_run_spawned(dise_store *st, int64_t run_id)
{
	/*
	 * A child started while run_id ran: same boot epoch, its ppid run_id's
	 * pid, started between its start and end. runs has no index on ppid
	 * (one per insert would cost the ingest): children's START records come
	 * after their parent's in the ring, so their rows are the next ones,
	 * and the rowid range is bounded (a child started after 4096 other runs
	 * is not seen: the caller asks this only to rule a slowdown in).
	 */
	static const char spawned[] = "SELECT EXISTS (SELECT 1 FROM runs c, runs r WHERE r.id = ?1 AND c.id > ?1 "
				      "AND c.id <= ?1 + 4096 AND c.epoch = r.epoch AND c.ppid = r.pid "
				      "AND c.start_ns >= r.start_ns AND c.start_ns <= r.end_ns)";
	sqlite3_stmt *q = dise__stmt(st, spawned);
	int r;

	if (!q)
		return -EIO;
	dise__bind(q, "i", run_id);
	r = dise__step(q);
	if (r > 0)
		r = sqlite3_column_int(q, 0) != 0;
	dise__done(q);
	return r;
}

int dise_store_version_mark_failing(dise_store *st, int64_t version, const char *tool, const char *normal, const char *desc,
				    int64_t wall_ns)
{
	static const char mark[] = "UPDATE versions SET health = 'failing' WHERE id = ?1 AND health IN ('healthy', 'degraded')";
	int r = dise__exec(st, mark, "i", version);

	if (r < 0 || sqlite3_changes(st->db) == 0)
		return r < 0 ? r : 0;
	/* the failure row, with the latest failed run's stack and signature, as any detection; no heal request */
	r = dise_store_detection_add(st, version, normal, DISE_DETECT_NO_BASELINE, "high", desc, wall_ns);
	/* the journal: `dise health` and the webhook (step 'failing') tell the operator */
	if (r >= 0)
		r = dise_store_journal_add(st, 0, tool, version, "failing", "no_ancestor", desc, wall_ns, 0);
	return r < 0 ? r : 1;
}

int dise_store_detection_add(dise_store *st, int64_t version, const char *normal, enum dise_detector detector,
			     const char *severity, const char *desc, int64_t wall_ns)
{
	/*
	 * The latest failed run, and its crash's frames if it crashed; for
	 * three strikes, the latest strike (not a failure the ancestors shared:
	 * the rule the healer learns comes from this run).
	 */
	static const char latest[] = "SELECT r.id, c.frames, c.signature FROM runs r LEFT JOIN crashes c ON c.run_id = r.id "
				     "WHERE r.version_id = ?1 AND dise_failed(r.outcome, r.exit_status, ?2) "
				     "ORDER BY r.start_wall_ns DESC LIMIT 1";
	static const char latest_strike[] =
		BASE "SELECT r.id, (SELECT c.frames FROM crashes c WHERE c.run_id = r.id ORDER BY c.id LIMIT 1), "
		"(SELECT c.signature FROM crashes c WHERE c.run_id = r.id ORDER BY c.id LIMIT 1) FROM runs r "
		"WHERE r.version_id = ?1 AND dise_failed(r.outcome, r.exit_status, ?3) AND " STRIKE
		" ORDER BY r.start_wall_ns DESC LIMIT 1";
	static const char failure[] = "INSERT INTO failures(version_id, run_id, detector, description, stack, severity, "
				      "signature, created_wall_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
	static const char request[] = "INSERT OR IGNORE INTO heal_requests(version_id, failure_id, created_wall_ns) "
				      "VALUES (?1, ?2, ?3)";
	int strike = detector == DISE_DETECT_THREE_STRIKES;
	sqlite3_stmt *q = dise__stmt(st, strike ? latest_strike : latest);
	char *stack = NULL, *sig = NULL;
	int64_t run = -1;
	int r;

	if (!q)
		return -EIO;
	if (strike)
		dise__bind(q, "iis", version, (int64_t)0, normal);
	else
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
	if (r < 0 || detector == DISE_DETECT_NO_BASELINE) /* nothing to heal: marked failing by the caller */
		return r < 0 ? r : 0;
	r = dise__exec(st, request, "iii", version, (int64_t)sqlite3_last_insert_rowid(st->db), wall_ns);
	return r < 0 ? r : sqlite3_changes(st->db);
}
